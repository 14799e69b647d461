/* Line-level helpers shared by the config reader (config.c) and the
 * config rewriter (config_write.c): reading lines in bounded pieces,
 * inih's whitespace and comment rules, and echoing bad input safely.
 * Internal to lib/config*; any thread. */
#ifndef KR_CONFIG_LINE_H
#define KR_CONFIG_LINE_H

#include <stddef.h>
#include <stdio.h>

#include "lib/err.h"
#include "lib/limits.h"

/* Room for a key, its separator, whitespace and a short comment around
 * the longest allowed value; longer lines are refused outright. */
#define KR_CONFIG_LINE_MAX (KR_CONFIG_VALUE_MAX + 256)
/* Bad values are echoed at most this long, so a stray binary blob in
 * the file cannot fill the whole error message. */
#define KR_CONFIG_ECHO_MAX 64

/* "<path><at>: <what>: <strerror(errno)>"; returns -1. */
int kr_config_line_sys_err(struct kr_err *err_r, enum kr_err_kind kind,
			   const char *path, const char *at, const char *what);
/* Copies s into out (size >= 8) as printable ASCII, \xNN for the rest,
 * cut to KR_CONFIG_ECHO_MAX bytes with "..."; returns out. */
const char *kr_config_line_escape(const char *s, char *out, size_t size);
/* Reads one line with its newline into buf (NUL-terminated); returns
 * its length, 0 at EOF. A longer line comes in pieces. */
size_t kr_config_line_get(FILE *fp, char *buf, size_t size);
char *kr_config_line_lskip(char *s);
void kr_config_line_rstrip(char *s);
/* First of `seps` in s, or where a ';' comment starts (inih's rule:
 * only after whitespace), or the terminating NUL. */
char *kr_config_line_find_sep(char *s, const char *seps);

#endif
