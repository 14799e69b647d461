/* Structured logging: one line per event, written with a single
 * write(2) so lines from many processes never interleave:
 *   ts=2026-11-22T03:19:36.123Z level=info proc=worker.1 pid=42 req=- \
 *     event=worker.start key=value key2="quoted value"
 * A struct kr_log belongs to one process; a kr_log_line to one thread.
 * Values are escaped (quotes, backslashes, control bytes as \xNN), so
 * client text cannot forge fields or lines. */
#ifndef KR_LOG_H
#define KR_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

enum kr_log_level {
	KR_LOG_DEBUG,
	KR_LOG_INFO,
	KR_LOG_WARN,
	KR_LOG_ERROR,
};

struct kr_log;
struct kr_logring; /* lib/logring.h */

/* Writes to fd (not owned). `proc` names the process ("master",
 * "worker.3"); it is copied. */
struct kr_log *kr_log_create(int fd, enum kr_log_level min_level,
			     const char *proc);
void kr_log_destroy(struct kr_log **log);
void kr_log_set_level(struct kr_log *log, enum kr_log_level min_level);
void kr_log_set_proc(struct kr_log *log, const char *proc);
bool kr_log_enabled(const struct kr_log *log, enum kr_log_level level);
/* Every line at KR_LOG_WARN or above that kr_log_end writes is also
 * added to ring (borrowed, outlives the log; NULL: none). A child
 * forked after this keeps adding to the same shared ring. */
void kr_log_set_ring(struct kr_log *log, struct kr_logring *ring);

/* 0 and *level_r on success, -1 for an unknown name. */
int kr_log_level_parse(const char *name, enum kr_log_level *level_r);
const char *kr_log_level_name(enum kr_log_level level);

/* A line being built on the caller's stack. Over-long lines are cut
 * and end in `truncated=1`. */
struct kr_log_line {
	struct kr_log *log; /* NULL when the level is filtered out */
	size_t len;
	bool truncated;
	/* What the ring of recent errors files the line under. */
	enum kr_log_level level;
	int64_t ts_ms;
	size_t event_off, event_len; /* the event's value in buf */
	char buf[KR_LOG_LINE_MAX];
};

/* Starts a line; `req` is the request id or NULL. Returns false (and
 * makes the other calls no-ops) when the level is filtered out. */
bool kr_log_begin(struct kr_log_line *line, struct kr_log *log,
		  enum kr_log_level level, const char *req, const char *event);
void kr_log_str(struct kr_log_line *line, const char *key, const char *value);
void kr_log_strn(struct kr_log_line *line, const char *key, const char *value,
		 size_t len);
void kr_log_int(struct kr_log_line *line, const char *key, int64_t value);
void kr_log_uint(struct kr_log_line *line, const char *key, uint64_t value);
void kr_log_fmt(struct kr_log_line *line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes the line and newline. */
void kr_log_end(struct kr_log_line *line);

/* One event with one `msg` field: the common case in one call. */
void kr_log_msg(struct kr_log *log, enum kr_log_level level, const char *req,
		const char *event, const char *msg);

#endif
