/* libFuzzer target for server/passwd (the Dovecot passwd-file input of
 * `kurier user import`): the input as a whole file through the bounded
 * reader, every line through the parser, and the input once more as
 * one line. Checks: lines stay within KR_PASSWD_LINE_MAX and one per
 * line end; an accepted entry is a lower-cased local@domain and a
 * "{SCHEME}hash" kr_password_stored_ok() takes, and parses again to
 * itself; no error message carries a byte that is not printable
 * ASCII (they go to the terminal). Built by `make fuzz`; the corpus in
 * tests/fuzz/corpus/passwd/ is replayed by `make test`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth/password.h"
#include "server/cli/passwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_msg(const struct kr_err *err)
{
	if (err->msg[0] == '\0')
		abort();
	for (const char *p = err->msg; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
}

static void
fuzz_entry(const struct kr_passwd_entry *e)
{
	struct kr_passwd_entry again;
	char line[sizeof(e->addr) + sizeof(e->hash) + 1];
	const char *at = strchr(e->addr, '@');
	size_t n;

	if (at == NULL || at == e->addr || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strlen(e->addr) > KR_ADDRESS_MAX ||
	    e->hash[0] != '{' || strlen(e->hash) > KR_PASSWORD_HASH_MAX ||
	    !kr_password_stored_ok(e->hash, NULL))
		abort();
	for (const char *p = e->addr; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || (*p >= 'A' && *p <= 'Z'))
			abort();
	n = (size_t)snprintf(line, sizeof(line), "%s:%s", e->addr, e->hash);
	if (kr_passwd_parse_line(line, n, &again, NULL) != 1 ||
	    strcmp(again.addr, e->addr) != 0 ||
	    strcmp(again.hash, e->hash) != 0)
		abort();
}

static void
fuzz_line(const char *line, size_t len)
{
	struct kr_passwd_entry e;
	struct kr_err err;
	int r = kr_passwd_parse_line(line, len, &e, &err);

	if (r == 1)
		fuzz_entry(&e);
	else if (r < 0)
		fuzz_msg(&err);
	else if (r != 0)
		abort();
}

/* The input as a file: as many lines as line ends (plus an unended
 * last one), each within the limit and without NUL or LF. */
static void
fuzz_file(const uint8_t *data, size_t size)
{
	struct kr_passwd_reader *r = malloc(sizeof(*r));
	unsigned long long want = 0;
	struct kr_err err;
	FILE *fp;
	int n;

	if (r == NULL)
		abort();
	for (size_t i = 0; i < size; i++)
		want += data[i] == '\n';
	want += size > 0 && data[size - 1] != '\n';
	/* Read-only stream: the cast does not lead to a write. */
	fp = fmemopen((void *)(uintptr_t)data, size, "r");
	if (fp == NULL)
		abort();
	kr_passwd_reader_init(r, fp);
	while ((n = kr_passwd_read(r, &err)) != 0) {
		if (n < 0) {
			fuzz_msg(&err);
			continue;
		}
		if (r->len > KR_PASSWD_LINE_MAX || r->line[r->len] != '\0' ||
		    memchr(r->line, '\0', r->len) != NULL ||
		    memchr(r->line, '\n', r->len) != NULL)
			abort();
		fuzz_line(r->line, r->len);
	}
	if (ferror(fp) || r->lineno != want)
		abort();
	fclose(fp);
	free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* fmemopen() refuses an empty buffer. */
	if (size > 0)
		fuzz_file(data, size);
	fuzz_line((const char *)data, size);
	return 0;
}
