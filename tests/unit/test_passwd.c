/* cmocka tests for server/passwd: Dovecot passwd-file lines (hashes
 * made by `doveadm pw` of Dovecot 2.3), table-driven; the line, address
 * and hash limits as "at the limit passes, one over fails" pairs; the
 * reader's line ends, NUL bytes and overlong lines, after which it goes
 * on with the next line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "server/cli/passwd.h"

/* doveadm pw -s SHA512-CRYPT -p secret */
#define SHA512                                                               \
	"{SHA512-CRYPT}$6$vxpApfb7vuoqEKnH$v5aGOBjNziaDwpgaXDPUe0A2GsFWjEy2" \
	"RiuIz8lozNyyl.Zik.rf8.KjnWv0B8eNqhDL8zPn/UutafLacTqfT/"
/* doveadm pw -s SHA512-CRYPT -r 10000 -p secret */
#define SHA512_ROUNDS                                                        \
	"{SHA512-CRYPT}$6$rounds=10000$1VInUUUyXcfQuOxd$hZby51/qWItL.hiGGtg" \
	"SVLhKpxf.izkV21ev84VJ3.ZT7D5PjQzr.scs4y48xFe31DhGmu3Ij4aI4vGyfHQwq0"
/* doveadm pw -s BLF-CRYPT -r 5 -p secret */
#define BLF                                                      \
	"{BLF-CRYPT}$2y$05$0VxGZ.Wc3.NaSYJkhbM12OgDDN99NkdyyNDw" \
	"FR0vK7a46fAG1y.Qq"
/* doveadm pw -s ARGON2ID -p secret */
#define ARGON2ID                                                           \
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$+jXv0YBsP1nSRDfk3mdW5A$" \
	"CZH3XTmYw22mpkX/UeQxhrmJG1K7KNglqz8g91yTxd4"

struct line_case {
	const char *line;
	int ret;	  /* of kr_passwd_parse_line */
	const char *addr; /* ret 1: the address it yields */
	const char *hash; /* ret 1: the hash it yields (NULL: as in line) */
	const char *err;  /* ret -1: a part of the message */
};

static const struct line_case line_cases[] = {
	/* Users as Dovecot writes them, with the optional fields. */
	{ "alice@example.com:" SHA512 ":1000:1000::/home/alice::", 1,
	  "alice@example.com", SHA512, NULL },
	{ "Bob@Example.COM:" BLF "::::::userdb_quota_rule=*:storage=1G", 1,
	  "bob@example.com", BLF, NULL },
	{ "carol@example.org:" ARGON2ID ":5000:5000::/var/vmail/carol::"
	  "userdb_mail=maildir:~/Maildir allow_nets=192.168.0.0/24",
	  1, "carol@example.org", ARGON2ID, NULL },
	{ "dave@example.net:" SHA512_ROUNDS, 1, "dave@example.net",
	  SHA512_ROUNDS, NULL },
	/* Scheme names in any case; the hash is kept as written. */
	{ "erin@example.com:{blf-crypt}$2y$05$0VxGZ.Wc3.NaSYJkhbM12OgDDN99"
	  "NkdyyNDwFR0vK7a46fAG1y.Qq",
	  1, "erin@example.com", NULL, NULL },
	/* Nothing to import. */
	{ "", 0, NULL, NULL, NULL },
	{ " \t ", 0, NULL, NULL, NULL },
	{ "# exported from dovecot", 0, NULL, NULL, NULL },
	{ "\t  #alice@example.com:" SHA512, 0, NULL, NULL, NULL },
	/* Refused, each with its reason. */
	{ "no colon here", -1, NULL, NULL, "no ':' after the address" },
	{ "plain@example.com:secret", -1, NULL, NULL,
	  "password without {SCHEME}: refused" },
	{ "empty@example.com:", -1, NULL, NULL,
	  "password without {SCHEME}: refused" },
	{ "empty@example.com::1000:1000", -1, NULL, NULL,
	  "password without {SCHEME}: refused" },
	{ "bare@example.com:$argon2id$v=19$m=65536,t=3,p=1$+jXv0YBsP1nSRDfk3"
	  "mdW5A$CZH3XTmYw22mpkX/UeQxhrmJG1K7KNglqz8g91yTxd4",
	  -1, NULL, NULL, "password without {SCHEME}: refused" },
	{ "md5@example.com:{MD5-CRYPT}$1$abc$def", -1, NULL, NULL,
	  "unknown password scheme {MD5-CRYPT}" },
	{ "plain@example.com:{PLAIN}secret", -1, NULL, NULL,
	  "unknown password scheme {PLAIN}" },
	{ "open@example.com:{SHA512-CRYPT$6$abc$def", -1, NULL, NULL,
	  "unknown password scheme" },
	{ " alice@example.com:" SHA512, -1, NULL, NULL, "bad address: " },
	{ "bad address@example.com:" SHA512, -1, NULL, NULL,
	  "bad address: address has a byte 0x20" },
	{ "noat.example.com:" SHA512, -1, NULL, NULL,
	  "bad address: address is not local@domain" },
	{ "two@at@example.com:" SHA512, -1, NULL, NULL,
	  "bad address: address is not local@domain" },
	{ ":" SHA512, -1, NULL, NULL, "bad address: empty address" },
	{ "sp@example.com:{SHA512-CRYPT}$6$a b$c", -1, NULL, NULL,
	  "password hash is not printable ASCII" },
	{ "hi@example.com:{SHA512-CRYPT}$6$\xc3\xa9$c", -1, NULL, NULL,
	  "password hash is not printable ASCII" },
	{ "costly@example.com:{BLF-CRYPT}$2y$31$ABCDEFGHIJKLMNOPQRSTUuoRzM"
	  "fTz14Et2G0HCoDlm3q91eDCVDS2",
	  -1, NULL, NULL, "malformed or too costly BLF-CRYPT" },
	/* The cost caps of server/auth/password.c, at and one over. */
	{ "r@example.com:{SHA512-CRYPT}$6$rounds=1000000$salt$hash", 1,
	  "r@example.com", NULL, NULL },
	{ "r@example.com:{SHA512-CRYPT}$6$rounds=1000001$salt$hash", -1, NULL,
	  NULL, "malformed or too costly SHA512-CRYPT" },
	{ "m@example.com:{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$c2FsdA$"
	  "aGFzaA",
	  -1, NULL, NULL, "malformed or too costly ARGON2ID" },
};

static void
test_passwd_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]);
	     i++) {
		const struct line_case *c = &line_cases[i];
		struct kr_passwd_entry e;
		struct kr_err err;
		int r;

		kr_err_clear(&err);
		r = kr_passwd_parse_line(c->line, strlen(c->line), &e, &err);
		if (r != c->ret)
			fail_msg("line %zu '%s': %d, want %d (%s)", i, c->line,
				 r, c->ret, err.msg);
		if (r == 1) {
			size_t hash_off = strlen(c->addr) + 1;

			assert_string_equal(e.addr, c->addr);
			if (c->hash != NULL)
				assert_string_equal(e.hash, c->hash);
			else
				assert_memory_equal(e.hash, c->line + hash_off,
						    strlen(e.hash));
		} else if (r < 0) {
			assert_int_equal(err.kind, KR_ERR_PERMANENT);
			if (strstr(err.msg, c->err) == NULL)
				fail_msg("line %zu: '%s' lacks '%s'", i,
					 err.msg, c->err);
		}
	}
}

/* The line is given with its length: bytes after it are not read, and
 * a NUL inside it is refused. */
static void
test_passwd_line_length(void **state)
{
	static const char line[] = "alice@example.com:" SHA512 ":1000";
	struct kr_passwd_entry e;
	struct kr_err err;

	(void)state;
	assert_int_equal(
		kr_passwd_parse_line(line, strlen("alice@example.com:" SHA512),
				     &e, &err),
		1);
	assert_string_equal(e.hash, SHA512);
	/* Cut inside the hash: what is left is a malformed hash. */
	assert_int_equal(kr_passwd_parse_line(line, 22, &e, &err), -1);
	assert_int_equal(
		kr_passwd_parse_line("a@b.c:{ARGON2ID}\0x", 18, &e, &err), -1);
	assert_string_equal(err.msg, "NUL byte in line");
}

/* An address of KR_ADDRESS_MAX bytes passes, one more fails; the same
 * for a hash of KR_PASSWORD_HASH_MAX bytes. */
static void
test_passwd_field_limits(void **state)
{
	char line[1024], hash[KR_PASSWORD_HASH_MAX + 2];
	struct kr_passwd_entry e;
	struct kr_err err;
	int n;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		size_t local = KR_ADDRESS_MAX - strlen("@example.com") + extra;

		memset(line, 'a', local);
		n = snprintf(line + local, sizeof(line) - local,
			     "@example.com:%s", SHA512);
		assert_int_equal(
			kr_passwd_parse_line(line, local + (size_t)n, &e, &err),
			extra ? -1 : 1);
		if (extra)
			assert_non_null(strstr(err.msg, "longer than 254"));
		else
			assert_int_equal(strlen(e.addr), KR_ADDRESS_MAX);
	}
	for (int extra = 0; extra <= 1; extra++) {
		size_t len = KR_PASSWORD_HASH_MAX + (size_t)extra;

		/* SHA512-CRYPT takes any salt and hash text after "$6$". */
		memcpy(hash, "{SHA512-CRYPT}$6$", 17);
		memset(hash + 17, 'x', len - 17);
		hash[len] = '\0';
		n = snprintf(line, sizeof(line), "h@example.com:%s:1000", hash);
		assert_int_equal(
			kr_passwd_parse_line(line, (size_t)n, &e, &err),
			extra ? -1 : 1);
		if (extra)
			assert_string_equal(err.msg, "password hash too long "
						     "(max 256 bytes)");
		else
			assert_string_equal(e.hash, hash);
	}
}

/* Reads all of text (len bytes) and writes "n:LEN" for each line or
 * "n:E<kind>" for each refused one into out. */
static void
read_all(const char *text, size_t len, char *out, size_t out_size)
{
	struct kr_passwd_reader *r = malloc(sizeof(*r));
	struct kr_err err;
	size_t used = 0;
	FILE *fp;
	int n;

	assert_non_null(r);
	fp = fmemopen((void *)(uintptr_t)text, len, "r");
	assert_non_null(fp);
	kr_passwd_reader_init(r, fp);
	out[0] = '\0';
	while ((n = kr_passwd_read(r, &err)) != 0) {
		if (n > 0)
			used += (size_t)snprintf(out + used, out_size - used,
						 "%llu:%zu ", r->lineno,
						 r->len);
		else
			used += (size_t)snprintf(out + used, out_size - used,
						 "%llu:E%d ", r->lineno,
						 (int)err.kind);
		assert_true(used < out_size);
		if (n > 0)
			assert_int_equal(strlen(r->line), r->len);
	}
	assert_false(ferror(fp));
	fclose(fp);
	free(r);
}

static void
test_passwd_reader_line_ends(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "a\nbb\n", "1:1 2:2 " },
		{ "a\r\nbb\r\n", "1:1 2:2 " },
		{ "a\nbb", "1:1 2:2 " },     /* last line unended */
		{ "a\r\nbb\r", "1:1 2:2 " }, /* ... or with a bare CR */
		{ "\n\n", "1:0 2:0 " },
		{ "\r\n", "1:0 " },
		{ "a\rb\n", "1:3 " }, /* a CR inside stays, for the parser */
		{ "", "" },
	};
	char out[256], want[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		read_all(cases[i].text, strlen(cases[i].text), out,
			 sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, out,
				 cases[i].want);
	}
	/* A NUL byte: the line is refused, the next one read. */
	read_all("a\0b\nc\n", 6, out, sizeof(out));
	snprintf(want, sizeof(want), "1:E%d 2:1 ", KR_ERR_PERMANENT);
	assert_string_equal(out, want);
}

/* A line of KR_PASSWD_LINE_MAX bytes is read, with LF or CRLF; one
 * byte more is refused, and the reader goes on after it. */
static void
test_passwd_reader_line_max(void **state)
{
	const size_t max = KR_PASSWD_LINE_MAX;
	static const char *const ends[] = { "\n", "\r\n", "" };
	char *text = malloc(max + 16), out[256], want[64];

	(void)state;
	assert_non_null(text);
	for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++) {
		for (size_t extra = 0; extra <= 1; extra++) {
			size_t len = max + extra, end = strlen(ends[e]);

			memset(text, 'x', len);
			memcpy(text + len, ends[e], end);
			len += end;
			if (end > 0)
				text[len++] = 'y';
			read_all(text, len, out, sizeof(out));
			if (extra == 0)
				snprintf(want, sizeof(want), "1:%zu %s", max,
					 end > 0 ? "2:1 " : "");
			else
				snprintf(want, sizeof(want), "1:E%d %s",
					 KR_ERR_TOO_LARGE,
					 end > 0 ? "2:1 " : "");
			if (strcmp(out, want) != 0)
				fail_msg("end %zu extra %zu: '%s', want '%s'",
					 e, extra, out, want);
		}
	}
	/* Far longer lines take no more memory: the rest is skipped. */
	free(text);
	text = malloc(10 * max + 4);
	assert_non_null(text);
	memset(text, 'x', 10 * max);
	memcpy(text + 10 * max, "\nab", 3);
	read_all(text, 10 * max + 3, out, sizeof(out));
	snprintf(want, sizeof(want), "1:E%d 2:2 ", KR_ERR_TOO_LARGE);
	assert_string_equal(out, want);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passwd_lines),
		cmocka_unit_test(test_passwd_line_length),
		cmocka_unit_test(test_passwd_field_limits),
		cmocka_unit_test(test_passwd_reader_line_ends),
		cmocka_unit_test(test_passwd_reader_line_max),
	};

	return cmocka_run_group_tests_name("passwd", tests, NULL, NULL);
}
