/* Search terms (proto/fts_terms.h): one pass over the text, a term built
 * in a small buffer, kept when it is new (an open-addressing set of
 * offsets into the output) and fits. */
#include "proto/fts_terms.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/hash.h"

/* A slot: where a kept term starts in the output, and its length. */
struct terms_slot {
	uint32_t off;
	uint32_t len; /* 0: empty slot */
};

struct terms {
	struct kr_arena *arena;
	char *out;
	size_t len, max;
	struct terms_slot *slots;
	size_t nslots, used;
	struct kr_err *err_r;
};

/* The slot of term p, or the empty slot where it would go. */
static struct terms_slot *
terms_find(const struct terms *t, const char *p, size_t len)
{
	size_t mask = t->nslots - 1;

	for (size_t i = kr_hash_fnv1a64(p, len) & mask;; i = (i + 1) & mask) {
		struct terms_slot *s = &t->slots[i];

		if (s->len == 0 ||
		    (s->len == len && memcmp(t->out + s->off, p, len) == 0))
			return s;
	}
}

/* Keeps the table at most half full: probes stay short. */
static int
terms_grow(struct terms *t)
{
	struct terms_slot *old = t->slots;
	size_t n = t->nslots;

	t->nslots = n == 0 ? 256 : 2 * n;
	t->slots = kr_arena_zalloc(t->arena, t->nslots * sizeof(*t->slots),
				   t->err_r);
	if (t->slots == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (old[i].len != 0)
			*terms_find(t, t->out + old[i].off, old[i].len) =
				old[i];
	}
	return 0;
}

static int
terms_keep(struct terms *t, const char *p, size_t len)
{
	struct terms_slot *s;
	size_t need = len + (t->len > 0);

	if (len == 0 || len > KR_FTS_TERM_MAX || need > t->max - t->len)
		return 0;
	if (2 * (t->used + 1) > t->nslots && terms_grow(t) < 0)
		return -1;
	s = terms_find(t, p, len);
	if (s->len != 0)
		return 0;
	if (t->len > 0)
		t->out[t->len++] = ' ';
	memcpy(t->out + t->len, p, len);
	*s = (struct terms_slot){ .off = (uint32_t)t->len,
				  .len = (uint32_t)len };
	t->len += len;
	t->used++;
	return 0;
}

/* The character at text + i ((gunichar)-1: invalid UTF-8, or the end)
 * and its length in *step_r. ASCII, most of mail, skips GLib. */
static gunichar
terms_char(const char *text, size_t len, size_t i, size_t *step_r)
{
	gunichar c;

	*step_r = 1;
	if (i >= len)
		return (gunichar)-1;
	if ((unsigned char)text[i] < 0x80)
		return (unsigned char)text[i];
	c = g_utf8_get_char_validated(text + i, (gssize)(len - i));
	if (c < 0x110000)
		*step_r = (size_t)(g_utf8_next_char(text + i) - (text + i));
	return c;
}

/* GLib's letters and digits, ASCII answered without it. */
static bool
terms_alnum(gunichar c)
{
	if (c < 0x80)
		return (c | 0x20) - 'a' < 26u || c - '0' < 10u;
	return c < 0x110000 && g_unichar_isalnum(c);
}

/* Writes c lower-cased as UTF-8 at out; its length. */
static size_t
terms_lower(gunichar c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)(c - 'A' < 26u ? c | 0x20 : c);
		return 1;
	}
	return (size_t)g_unichar_to_utf8(g_unichar_tolower(c), out);
}

const char *
kr_fts_terms(struct kr_arena *arena, const char *text, size_t len,
	     size_t max_bytes, size_t *len_r, struct kr_err *err_r)
{
	struct terms t = { .arena = arena, .max = max_bytes, .err_r = err_r };
	/* A term, and room for one more character before the check. */
	char term[KR_FTS_TERM_MAX + 8];
	size_t tl = 0;

	kr_assert(max_bytes < UINT32_MAX);
	t.out = kr_arena_alloc(arena, max_bytes + 1, err_r);
	if (t.out == NULL || terms_grow(&t) < 0)
		return NULL;
	for (size_t i = 0; i <= len;) {
		size_t step;
		gunichar c = terms_char(text, len, i, &step);

		if (terms_alnum(c)) {
			/* Past the maximum it stops growing: left out. */
			if (tl <= KR_FTS_TERM_MAX)
				tl += terms_lower(c, term + tl);
		} else {
			if (terms_keep(&t, term, tl) < 0)
				return NULL;
			tl = 0;
		}
		i += step;
	}
	t.out[t.len] = '\0';
	if (len_r != NULL)
		*len_r = t.len;
	return t.out;
}
