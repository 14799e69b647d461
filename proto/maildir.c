/* Maildir++ file and folder names (maildir.h). */
#include "proto/maildir.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* In bit order; the letters are alphabetical, so bit order is also
 * Dovecot's order in file names. */
static const struct {
	char letter;
	const char *imap;
} maildir_flags[KR_MAILDIR_SYSTEM_FLAGS] = {
	{ 'D', "\\Draft" }, { 'F', "\\Flagged" }, { 'R', "\\Answered" },
	{ 'S', "\\Seen" },  { 'T', "\\Deleted" },
};

void
kr_maildir_name_parse(const char *name, struct kr_maildir_info *r)
{
	const char *info = strstr(name, ":2,");
	const char *s = strstr(name, ",S=");

	memset(r, 0, sizeof(*r));
	/* ",S=" belongs to the base name, before the info part. */
	if (s != NULL && (info == NULL || s < info) && s[3] >= '0' &&
	    s[3] <= '9') {
		uint64_t n = 0;

		for (s += 3; *s >= '0' && *s <= '9'; s++) {
			if (n > (UINT64_MAX - 9) / 10)
				break;
			n = n * 10 + (uint64_t)(*s - '0');
		}
		r->has_size = true;
		r->size = n;
	}
	if (info == NULL)
		return;
	for (info += 3; *info != '\0' && *info != ','; info++) {
		if (*info >= 'a' && *info <= 'z') {
			r->keywords |= 1u << (*info - 'a');
			continue;
		}
		for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++)
			if (maildir_flags[i].letter == *info)
				r->flags |= 1u << i;
	}
}

const char *
kr_maildir_flag_imap(unsigned i)
{
	return i < KR_MAILDIR_SYSTEM_FLAGS ? maildir_flags[i].imap : NULL;
}

unsigned
kr_maildir_flag_bit(const char *imap_flag)
{
	for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++)
		if (strcasecmp(imap_flag, maildir_flags[i].imap) == 0)
			return 1u << i;
	return 0;
}

int
kr_maildir_info_suffix(unsigned flags, uint32_t keywords, char *buf,
		       size_t size)
{
	size_t n = 0;

	if (size < 4)
		return -1;
	memcpy(buf, ":2,", 3);
	n = 3;
	for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++) {
		if ((flags & (1u << i)) == 0)
			continue;
		if (n + 1 >= size)
			return -1;
		buf[n++] = maildir_flags[i].letter;
	}
	for (unsigned i = 0; i < KR_MAILDIR_KEYWORDS; i++) {
		if ((keywords & (1u << i)) == 0)
			continue;
		if (n + 1 >= size)
			return -1;
		buf[n++] = (char)('a' + i);
	}
	buf[n] = '\0';
	return 0;
}

/* ---- folder names: '.' levels, modified UTF-7 (RFC 3501 5.1.3) ---- */

static const char maildir_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Appends c to buf[*n]; false when it does not fit with a NUL after. */
static bool
maildir_put(char *buf, size_t size, size_t *n, char c)
{
	if (*n + 1 >= size)
		return false;
	buf[(*n)++] = c;
	return true;
}

/* Code point cp (valid, not a surrogate) as UTF-8. */
static bool
maildir_put_utf8(char *buf, size_t size, size_t *n, uint32_t cp)
{
	if (cp < 0x80)
		return maildir_put(buf, size, n, (char)cp);
	if (cp < 0x800)
		return maildir_put(buf, size, n, (char)(0xc0 | (cp >> 6))) &&
		       maildir_put(buf, size, n, (char)(0x80 | (cp & 0x3f)));
	if (cp < 0x10000)
		return maildir_put(buf, size, n, (char)(0xe0 | (cp >> 12))) &&
		       maildir_put(buf, size, n,
				   (char)(0x80 | ((cp >> 6) & 0x3f))) &&
		       maildir_put(buf, size, n, (char)(0x80 | (cp & 0x3f)));
	return maildir_put(buf, size, n, (char)(0xf0 | (cp >> 18))) &&
	       maildir_put(buf, size, n, (char)(0x80 | ((cp >> 12) & 0x3f))) &&
	       maildir_put(buf, size, n, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
	       maildir_put(buf, size, n, (char)(0x80 | (cp & 0x3f)));
}

/* The base64 run after '&' up to its '-' (at *p on entry, past the
 * '-' on return) as UTF-8; -1 for a bad run. */
static int
maildir_utf7_run(const char **p, char *buf, size_t size, size_t *n)
{
	uint32_t bits = 0, hi = 0;
	unsigned nbits = 0, units = 0;
	const char *s = *p;

	for (; *s != '-'; s++) {
		const char *at = *s != '\0' ? strchr(maildir_b64, *s) : NULL;

		if (at == NULL)
			return -1;
		bits = (bits << 6) | (uint32_t)(at - maildir_b64);
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;

		units++;
		if (hi != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			u = 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00);
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
			continue;
		} else if ((u >= 0xdc00 && u <= 0xdfff) || u <= 0x7e) {
			/* A lone low surrogate; ASCII: printable must be
			 * written as itself, control is no name. */
			return -1;
		}
		if (!maildir_put_utf8(buf, size, n, u))
			return -1;
	}
	/* Leftover bits are padding: fewer than 6 and all zero. */
	if (units == 0 || hi != 0 || nbits >= 6 ||
	    (bits & ((1u << nbits) - 1)) != 0)
		return -1;
	*p = s + 1;
	return 0;
}

int
kr_maildir_folder_to_mailbox(const char *dir, char *buf, size_t size)
{
	size_t len = strlen(dir), n = 0;

	/* ".", "..", "" and names with an empty level (".A..B", ".A.")
	 * are not folders; '/' cannot occur in a directory entry. */
	if (len < 2 || dir[0] != '.' || dir[1] == '.' || dir[len - 1] == '.' ||
	    strstr(dir, "..") != NULL || strchr(dir, '/') != NULL)
		return -1;
	for (const char *p = dir + 1; *p != '\0';) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			return -1; /* names on disk are 7-bit */
		if (c != '&') {
			if (!maildir_put(buf, size, &n,
					 c == '.' ? '/' : (char)c))
				return -1;
			p++;
		} else if (p[1] == '-') {
			if (!maildir_put(buf, size, &n, '&'))
				return -1;
			p += 2;
		} else {
			p++;
			if (maildir_utf7_run(&p, buf, size, &n) < 0)
				return -1;
		}
	}
	buf[n] = '\0';
	return 0;
}

/* One UTF-8 character at *p (advanced past it) as a code point; -1 for
 * invalid UTF-8 (overlong, surrogates, past U+10FFFF, cut short). */
static int
maildir_utf8_next(const unsigned char **p, uint32_t *cp_r)
{
	const unsigned char *s = *p;
	unsigned extra;
	uint32_t cp, min;

	if (s[0] < 0x80) {
		extra = 0, cp = s[0], min = 0;
	} else if ((s[0] & 0xe0) == 0xc0) {
		extra = 1, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		extra = 2, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		extra = 3, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	for (unsigned i = 1; i <= extra; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*p = s + 1 + extra;
	*cp_r = cp;
	return 0;
}

/* The run of non-printable-ASCII characters at *p as "&<base64>-". */
static int
maildir_utf7_encode(const unsigned char **p, char *buf, size_t size, size_t *n)
{
	uint32_t bits = 0, cp;
	unsigned nbits = 0;

	if (!maildir_put(buf, size, n, '&'))
		return -1;
	while (**p != '\0' && (**p < 0x20 || **p > 0x7e)) {
		uint32_t units[2];
		unsigned k = 0;

		if (maildir_utf8_next(p, &cp) < 0)
			return -1;
		if (cp >= 0x10000) {
			units[k++] = 0xd800 + ((cp - 0x10000) >> 10);
			units[k++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
		} else {
			units[k++] = cp;
		}
		for (unsigned i = 0; i < k; i++) {
			bits = (bits << 16) | units[i];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				if (!maildir_put(buf, size, n,
						 maildir_b64[(bits >> nbits) &
							     0x3f]))
					return -1;
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (nbits > 0 &&
	    !maildir_put(buf, size, n,
			 maildir_b64[(bits << (6 - nbits)) & 0x3f]))
		return -1;
	return maildir_put(buf, size, n, '-') ? 0 : -1;
}

int
kr_maildir_mailbox_to_folder(const char *name, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), n = 0;

	if (len == 0 || name[0] == '/' || name[len - 1] == '/' ||
	    strstr(name, "//") != NULL || strchr(name, '.') != NULL ||
	    !maildir_put(buf, size, &n, '.'))
		return -1;
	while (*p != '\0') {
		if (*p >= 0x20 && *p <= 0x7e) {
			char c = *p == '/' ? '.' : (char)*p;

			if (!maildir_put(buf, size, &n, c) ||
			    (c == '&' && !maildir_put(buf, size, &n, '-')))
				return -1;
			p++;
		} else if (maildir_utf7_encode(&p, buf, size, &n) < 0) {
			return -1;
		}
	}
	buf[n] = '\0';
	return 0;
}
