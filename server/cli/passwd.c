/* Dovecot passwd-file lines: the bounded reader and the line parser
 * behind `kurier user import` (server/cli/cli_import.c). */
#include "server/cli/passwd.h"

#include <stdbool.h>
#include <string.h>

#include "lib/address.h"
#include "server/auth/password.h"

void
kr_passwd_reader_init(struct kr_passwd_reader *r, FILE *fp)
{
	memset(r, 0, sizeof(*r));
	r->fp = fp;
}

int
kr_passwd_read(struct kr_passwd_reader *r, struct kr_err *err_r)
{
	size_t n = 0;
	bool nul = false, long_line = false;
	int c;

	/* One byte past the limit is kept, so that a line of exactly
	 * KR_PASSWD_LINE_MAX bytes may still end in CRLF. */
	while ((c = getc_unlocked(r->fp)) != EOF && c != '\n') {
		if (c == '\0')
			nul = true;
		else if (n == KR_PASSWD_LINE_MAX + 1)
			long_line = true;
		else
			r->line[n++] = (char)c;
	}
	if (c == EOF && n == 0 && !nul && !long_line)
		return 0;
	r->lineno++;
	if (n > 0 && r->line[n - 1] == '\r')
		n--;
	r->line[n] = '\0';
	r->len = n;
	if (long_line || n > KR_PASSWD_LINE_MAX) {
		r->line[0] = '\0';
		r->len = 0;
		return kr_err_set(err_r, KR_ERR_TOO_LARGE,
				  "line longer than %d bytes",
				  KR_PASSWD_LINE_MAX);
	}
	if (nul)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "NUL byte in line");
	return 1;
}

/* The "{SCHEME}hash" field (len bytes at hash) checked and copied. */
static int
passwd_hash(const char *hash, size_t len, struct kr_passwd_entry *e_r,
	    struct kr_err *err_r)
{
	if (len == 0 || hash[0] != '{')
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "password without {SCHEME}: refused");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)hash[i];

		if (c <= 0x20 || c >= 0x7f)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "password hash is not printable "
					  "ASCII");
	}
	if (len > KR_PASSWORD_HASH_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "password hash too long (max %d bytes)",
				  KR_PASSWORD_HASH_MAX);
	memcpy(e_r->hash, hash, len);
	e_r->hash[len] = '\0';
	return kr_password_stored_ok(e_r->hash, err_r) ? 0 : -1;
}

int
kr_passwd_parse_line(const char *line, size_t len, struct kr_passwd_entry *e_r,
		     struct kr_err *err_r)
{
	const char *colon, *hash, *end;
	struct kr_err err;
	size_t blanks = 0;

	if (memchr(line, '\0', len) != NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "NUL byte in line");
	while (blanks < len && (line[blanks] == ' ' || line[blanks] == '\t'))
		blanks++;
	if (blanks == len || line[blanks] == '#')
		return 0;
	colon = memchr(line, ':', len);
	if (colon == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "no ':' after the address");
	if (kr_address_normalize(line, (size_t)(colon - line), e_r->addr,
				 sizeof(e_r->addr), &err) < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "bad address: %s",
				  err.msg);
	hash = colon + 1;
	end = memchr(hash, ':', len - (size_t)(hash - line));
	if (end == NULL)
		end = line + len;
	if (passwd_hash(hash, (size_t)(end - hash), e_r, err_r) < 0)
		return -1;
	return 1;
}
