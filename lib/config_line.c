/* Line-level helpers for reading and rewriting config files. */
#include "lib/config_line.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

int
kr_config_line_sys_err(struct kr_err *err_r, enum kr_err_kind kind,
		       const char *path, const char *at, const char *what)
{
	char buf[128];
	int e = errno;

	/* GNU strerror_r (the Makefile defines _GNU_SOURCE). */
	return kr_err_set(err_r, kind, "%s%s: %s: %s", path, at, what,
			  strerror_r(e, buf, sizeof(buf)));
}

/* Copies s into out as printable ASCII (\xNN for the rest), cut to
 * KR_CONFIG_ECHO_MAX bytes with "..." when longer. */
const char *
kr_config_line_escape(const char *s, char *out, size_t size)
{
	size_t n = 0, limit = size - 4 < KR_CONFIG_ECHO_MAX
				      ? size - 4
				      : KR_CONFIG_ECHO_MAX;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = c >= 0x20 && c < 0x7f && c != '\\' && c != '\'';

		if (n + (plain ? 1 : 4) > limit) {
			memcpy(out + n, "...", 4);
			return out;
		}
		if (plain)
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
	}
	out[n] = '\0';
	return out;
}

/* Reads one line with its '\n' into buf (NUL-terminated); returns its
 * length, 0 at EOF. A line longer than size - 1 comes in pieces. */
size_t
kr_config_line_get(FILE *fp, char *buf, size_t size)
{
	size_t n = 0;
	int c;

	while (n + 1 < size && (c = getc(fp)) != EOF) {
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	return n;
}

char *
kr_config_line_lskip(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

void
kr_config_line_rstrip(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* inih's rule: ';' starts a comment only after whitespace. */
char *
kr_config_line_find_sep(char *s, const char *seps)
{
	bool was_space = false;

	while (*s != '\0' && strchr(seps, *s) == NULL &&
	       !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}
