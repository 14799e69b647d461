/* Dovecot passwd-file input for `kurier user import`: a bounded line
 * reader over a FILE and a pure parser of one line, with no database,
 * so both are unit-tested and fuzzed (tests/fuzz/fuzz_passwd.c) on
 * their own. The reader is blocking (CLI main thread); the parser is
 * thread-safe and keeps no state. */
#ifndef KR_PASSWD_H
#define KR_PASSWD_H

#include <stddef.h>
#include <stdio.h>

#include "lib/err.h"
#include "lib/limits.h"

/* The longest line the reader takes, line end excluded: address, hash
 * and Dovecot's optional uid, gid, gecos, home, shell and extra fields
 * leave ample room. Longer lines are reported, not read. */
#define KR_PASSWD_LINE_MAX 8192

struct kr_passwd_reader {
	FILE *fp;			   /* borrowed */
	unsigned long long lineno;	   /* of the line last returned */
	size_t len;			   /* of line, without its line end */
	char line[KR_PASSWD_LINE_MAX + 2]; /* room for a CR, then a NUL */
};

/* An imported user: its address lower-cased, its stored hash as
 * "{SCHEME}hash" (a scheme kr_password_verify() accepts). */
struct kr_passwd_entry {
	char addr[KR_ADDRESS_MAX + 1];
	char hash[KR_PASSWORD_HASH_MAX + 1];
};

void kr_passwd_reader_init(struct kr_passwd_reader *r, FILE *fp);

/* Reads the next line (LF or CRLF ended, or the last one without).
 * 1: r->line holds it (r->len bytes, NUL-terminated); 0: end of file
 * or a read error (the caller tells them apart with ferror()); -1 +
 * err_r (KR_ERR_TOO_LARGE for a line over KR_PASSWD_LINE_MAX bytes,
 * KR_ERR_PERMANENT for a NUL byte): the line was read to its end and
 * dropped, r->lineno counts it and the next call goes on after it.
 * Memory stays bounded whatever the file holds. */
int kr_passwd_read(struct kr_passwd_reader *r, struct kr_err *err_r);

/* Parses line (len bytes, need not be NUL-terminated):
 * "user@domain:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]".
 * 1: *e_r holds the user; 0: a blank or "#" comment line (leading
 * blanks allowed), nothing to import; -1 + err_r (KR_ERR_PERMANENT,
 * the reason, no line text in it beyond a short scheme name): a line
 * that cannot be imported. */
int kr_passwd_parse_line(const char *line, size_t len,
			 struct kr_passwd_entry *e_r, struct kr_err *err_r);

#endif
