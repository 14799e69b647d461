/* The summary's header fields, from the message's top-level header
 * block. GMime decodes them (RFC 2047 words in any charset iconv
 * knows, address lists and groups, dates, message ids) from raw values
 * first cut to what the limits can use, so a huge field costs no more
 * than a normal one. */
#include "proto/mime_priv.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"

/* Raw bytes kept per byte of decoded text: Q-encoded UTF-8 needs about
 * 3.3, and an encoded word's framing a little more. */
#define HEADER_RAW_FACTOR 4
#define HEADER_RAW_SLACK 256
/* Raw bytes kept per address (an encoded name and an address). */
#define HEADER_ADDR_RAW 512
/* Raw bytes kept per message id of References. */
#define HEADER_REF_RAW 1024
#define HEADER_DATE_RAW 256

struct header_ctx {
	struct kr_mime_doc *doc;
	struct kr_arena *arena;
	struct kr_err *err_r;
};

static const char *
header_raw(struct kr_mime_doc *doc, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(doc->top);
	GMimeHeader *h =
		hl != NULL ? g_mime_header_list_get_header(hl, name) : NULL;

	return h != NULL ? g_mime_header_get_raw_value(h) : NULL;
}

static size_t
header_raw_cap(size_t max)
{
	if (max > (SIZE_MAX - HEADER_RAW_SLACK) / HEADER_RAW_FACTOR)
		return SIZE_MAX - 1;
	return max * HEADER_RAW_FACTOR + HEADER_RAW_SLACK;
}

/* The first max bytes of raw, g_malloc'd. */
static char *
header_dup(const char *raw, size_t max)
{
	return g_strndup(raw, strnlen(raw, max));
}

/* header_dup() with encoded words GMime can decode (mime_priv.h). */
static char *
header_dup_words(const char *raw, size_t max)
{
	char *cut = header_dup(raw, max);
	char *fixed = kr_mime_doc_fix_words(cut);

	if (fixed == NULL)
		return cut;
	g_free(cut);
	return fixed;
}

/* s cleaned and folded into the arena, cut at max bytes; *out NULL
 * when s is NULL, or empty after cleaning unless keep_empty. */
static int
header_str(struct header_ctx *h, const char *s, size_t max, bool keep_empty,
	   const char **out)
{
	char *r;

	*out = NULL;
	if (s == NULL)
		return 0;
	r = kr_mime_text_dup(h->arena, s, strlen(s), max, KR_MIME_TEXT_FOLD,
			     h->err_r);
	if (r == NULL)
		return -1;
	if (r[0] != '\0' || keep_empty)
		*out = r;
	return 0;
}

static int
header_subject(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const char *raw = header_raw(h->doc, "Subject");
	size_t max = h->doc->lim.header_text_max;
	char *cut, *unfolded, *text;
	int rc;

	if (raw == NULL)
		return 0;
	cut = header_dup_words(raw, header_raw_cap(max));
	unfolded = g_mime_utils_header_unfold(cut);
	text = g_mime_utils_header_decode_text(h->doc->opts, unfolded);
	rc = header_str(h, text, max, true, &sum->subject);
	g_free(text);
	g_free(unfolded);
	g_free(cut);
	return rc;
}

/* Collects mailboxes into out[0..cap) (out NULL: counts them). */
struct header_addrs {
	struct header_ctx *h;
	struct kr_mime_addr *out;
	unsigned n, cap;
	bool over;
};

static int
header_addr_put(struct header_addrs *s, InternetAddress *ia)
{
	size_t max = s->h->doc->lim.header_text_max;
	struct kr_mime_addr *a;

	if (s->n == s->cap) {
		s->over = true;
		return 0;
	}
	if (s->out != NULL) {
		a = &s->out[s->n];
		if (header_str(s->h, internet_address_get_name(ia), max, false,
			       &a->name) < 0 ||
		    header_str(s->h,
			       internet_address_mailbox_get_addr(
				       INTERNET_ADDRESS_MAILBOX(ia)),
			       max, false, &a->email) < 0)
			return -1;
		if (a->name == NULL && a->email == NULL)
			return 0;
	}
	s->n++;
	return 0;
}

/* Mailboxes of l in order, group members in place of their group (one
 * level: RFC 5322 §3.4 groups do not nest). */
static int
header_addr_walk(struct header_addrs *s, InternetAddressList *l, bool in_group)
{
	int n = internet_address_list_length(l);

	for (int i = 0; i < n && !s->over; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		InternetAddressList *members;

		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			if (header_addr_put(s, ia) < 0)
				return -1;
		} else if (INTERNET_ADDRESS_IS_GROUP(ia) && !in_group) {
			members = internet_address_group_get_members(
				INTERNET_ADDRESS_GROUP(ia));
			if (members != NULL &&
			    header_addr_walk(s, members, true) < 0)
				return -1;
		}
	}
	return 0;
}

/* At most max mailboxes of the address field name; more set limited
 * when mark. */
static int
header_addrs(struct header_ctx *h, const char *name, unsigned max, bool mark,
	     const struct kr_mime_addr **list_r, unsigned *n_r)
{
	const char *raw = header_raw(h->doc, name);
	size_t cap = (size_t)max * HEADER_ADDR_RAW + HEADER_RAW_SLACK;
	struct header_addrs s = { .h = h, .cap = max };
	InternetAddressList *l;
	char *cut;
	int rc = 0;

	*list_r = NULL;
	*n_r = 0;
	if (raw == NULL)
		return 0;
	if (mark && strnlen(raw, cap + 1) > cap)
		h->doc->limited = true;
	cut = header_dup_words(raw, cap);
	l = internet_address_list_parse(h->doc->opts, cut);
	g_free(cut);
	if (l == NULL)
		return 0;
	(void)header_addr_walk(&s, l, false); /* counts, cannot fail */
	if (mark && s.over)
		h->doc->limited = true;
	if (s.n > 0) {
		s.out = kr_arena_zalloc(h->arena, s.n * sizeof(*s.out),
					h->err_r);
		s.cap = s.n;
		s.n = 0;
		s.over = false;
		rc = s.out != NULL ? header_addr_walk(&s, l, false) : -1;
	}
	g_object_unref(l);
	*list_r = s.out;
	*n_r = rc == 0 ? s.n : 0;
	return rc;
}

static int
header_from(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const struct kr_mime_addr *from;
	unsigned n;

	/* More than one From mailbox is legal (with Sender): the first is
	 * the one to show, nothing is limited. */
	if (header_addrs(h, "From", 1, false, &from, &n) < 0)
		return -1;
	if (n > 0)
		sum->from = from[0];
	return 0;
}

static int
header_date(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const char *raw = header_raw(h->doc, "Date");
	char buf[80];
	struct tm tm;
	GDateTime *dt;
	char *cut;
	time_t t;

	if (raw == NULL)
		return 0;
	cut = header_dup(raw, HEADER_DATE_RAW);
	dt = g_mime_utils_header_decode_date(cut);
	g_free(cut);
	if (dt == NULL)
		return 0;
	t = (time_t)g_date_time_to_unix(dt);
	sum->date_tz =
		(int)(g_date_time_get_utc_offset(dt) / G_TIME_SPAN_MINUTE);
	g_date_time_unref(dt);
	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	(void)snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
		       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		       tm.tm_min, tm.tm_sec);
	sum->date_utc = kr_arena_strdup(h->arena, buf, h->err_r);
	if (sum->date_utc == NULL)
		return -1;
	sum->has_date = true;
	sum->date = t;
	return 0;
}

static int
header_ids(struct header_ctx *h, struct kr_mime_summary *sum)
{
	size_t max = h->doc->lim.header_text_max;
	const char *raw = header_raw(h->doc, "Message-Id");
	char *cut;
	int rc = 0;

	if (raw != NULL) {
		char *id;

		cut = header_dup(raw, header_raw_cap(max));
		id = g_mime_utils_decode_message_id(cut);
		rc = header_str(h, id, max, false, &sum->message_id);
		g_free(id);
		g_free(cut);
	}
	raw = header_raw(h->doc, "In-Reply-To");
	if (rc == 0 && raw != NULL) {
		GMimeReferences *refs;

		cut = header_dup(raw, header_raw_cap(max));
		refs = g_mime_references_parse(h->doc->opts, cut);
		if (refs != NULL && g_mime_references_length(refs) > 0)
			rc = header_str(
				h, g_mime_references_get_message_id(refs, 0),
				max, false, &sum->in_reply_to);
		if (refs != NULL)
			g_mime_references_free(refs);
		g_free(cut);
	}
	return rc;
}

/* The ids of refs from first on, joined by spaces (kr_xmalloc'd). */
static char *
header_join(GMimeReferences *refs, int first, size_t *len_r)
{
	int n = g_mime_references_length(refs);
	size_t total = 0, len = 0;
	char *buf;

	for (int i = first; i < n; i++)
		total += strlen(g_mime_references_get_message_id(refs, i)) + 1;
	buf = kr_xmalloc(total + 1);
	for (int i = first; i < n; i++) {
		const char *id = g_mime_references_get_message_id(refs, i);
		size_t k = strlen(id);

		memcpy(buf + len, id, k);
		len += k;
		buf[len++] = ' ';
	}
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

static int
header_references(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const char *raw = header_raw(h->doc, "References");
	unsigned max = h->doc->lim.refs_max;
	size_t cap = (size_t)max * HEADER_REF_RAW + HEADER_RAW_SLACK;
	size_t len, n;
	GMimeReferences *refs;
	int count, first;
	char *joined, *r;

	if (raw == NULL || max == 0)
		return 0;
	/* The newest ids are last, and the parent matters most: keep the
	 * tail, from an id's start on. */
	len = strlen(raw);
	if (len > cap) {
		const char *lt = strchr(raw + len - cap, '<');

		raw = lt != NULL ? lt : raw + len - cap;
		h->doc->limited = true;
	}
	refs = g_mime_references_parse(h->doc->opts, raw);
	count = refs != NULL ? g_mime_references_length(refs) : 0;
	if (count == 0) {
		if (refs != NULL)
			g_mime_references_free(refs);
		return 0;
	}
	first = (unsigned)count > max ? count - (int)max : 0;
	if (first > 0)
		h->doc->limited = true;
	joined = header_join(refs, first, &n);
	g_mime_references_free(refs);
	r = kr_mime_text_dup(h->arena, joined, n, n, KR_MIME_TEXT_FOLD,
			     h->err_r);
	free(joined);
	if (r == NULL)
		return -1;
	sum->references = r[0] != '\0' ? r : NULL;
	return 0;
}

int
kr_mime_header_summary(struct kr_mime_doc *doc, struct kr_arena *arena,
		       struct kr_mime_summary *sum, struct kr_err *err_r)
{
	struct header_ctx h = { .doc = doc, .arena = arena, .err_r = err_r };
	unsigned max = doc->lim.addrs_max;

	if (doc->top == NULL)
		return 0;
	if (header_subject(&h, sum) < 0 || header_from(&h, sum) < 0 ||
	    header_addrs(&h, "To", max, true, &sum->to, &sum->n_to) < 0 ||
	    header_addrs(&h, "Cc", max, true, &sum->cc, &sum->n_cc) < 0 ||
	    header_date(&h, sum) < 0 || header_ids(&h, sum) < 0 ||
	    header_references(&h, sum) < 0)
		return -1;
	return 0;
}
