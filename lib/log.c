/* Structured logging: key=value lines, one write(2) each. */
#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/logring.h"

#define LOG_PROC_MAX 32
/* Room kept free for " truncated=1\n" so a cut line still says so. */
#define LOG_TAIL_RESERVE 16

struct kr_log {
	int fd;
	enum kr_log_level min_level;
	struct kr_logring *ring; /* NULL: none */
	char proc[LOG_PROC_MAX];
};

static const char *const log_level_names[] = {
	[KR_LOG_DEBUG] = "debug",
	[KR_LOG_INFO] = "info",
	[KR_LOG_WARN] = "warn",
	[KR_LOG_ERROR] = "error",
};

struct kr_log *
kr_log_create(int fd, enum kr_log_level min_level, const char *proc)
{
	struct kr_log *log = kr_xcalloc(1, sizeof(*log));

	log->fd = fd;
	log->min_level = min_level;
	kr_log_set_proc(log, proc);
	return log;
}

void
kr_log_destroy(struct kr_log **log)
{
	free(*log);
	*log = NULL;
}

void
kr_log_set_level(struct kr_log *log, enum kr_log_level min_level)
{
	log->min_level = min_level;
}

void
kr_log_set_proc(struct kr_log *log, const char *proc)
{
	snprintf(log->proc, sizeof(log->proc), "%s", proc);
}

void
kr_log_set_ring(struct kr_log *log, struct kr_logring *ring)
{
	log->ring = ring;
}

bool
kr_log_enabled(const struct kr_log *log, enum kr_log_level level)
{
	return level >= log->min_level;
}

int
kr_log_level_parse(const char *name, enum kr_log_level *level_r)
{
	for (size_t i = 0;
	     i < sizeof(log_level_names) / sizeof(*log_level_names); i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*level_r = (enum kr_log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
kr_log_level_name(enum kr_log_level level)
{
	if ((unsigned)level > KR_LOG_ERROR)
		return "unknown";
	return log_level_names[level];
}

static void
log_append(struct kr_log_line *line, const char *s, size_t n)
{
	size_t room = sizeof(line->buf) - LOG_TAIL_RESERVE - line->len;

	if (n > room) {
		n = room;
		line->truncated = true;
	}
	memcpy(line->buf + line->len, s, n);
	line->len += n;
}

static bool
log_needs_quotes(const char *s, size_t len)
{
	if (len == 0)
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			return true;
	}
	return false;
}

/* Quotes and backslashes are escaped, control and non-ASCII bytes
 * become \xNN: a log line stays one line of printable text whatever a
 * client sent. */
static void
log_append_escaped(struct kr_log_line *line, const char *s, size_t len)
{
	char esc[5];

	if (!log_needs_quotes(s, len)) {
		log_append(line, s, len);
		return;
	}
	log_append(line, "\"", 1);
	for (size_t i = 0; i < len && !line->truncated; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			log_append(line, esc, 2);
		} else if (c < ' ' || c >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			log_append(line, esc, 4);
		} else {
			log_append(line, (const char *)&s[i], 1);
		}
	}
	log_append(line, "\"", 1);
}

static void
log_key(struct kr_log_line *line, const char *key)
{
	log_append(line, " ", 1);
	log_append(line, key, strlen(key));
	log_append(line, "=", 1);
}

static void
log_stamp(struct kr_log_line *line)
{
	int64_t ms = kr_clock_wall_ms();
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char ts[40];
	int n;

	gmtime_r(&secs, &tm);
	n = snprintf(ts, sizeof(ts), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	log_append(line, ts, (size_t)n);
	line->ts_ms = ms;
}

bool
kr_log_begin(struct kr_log_line *line, struct kr_log *log,
	     enum kr_log_level level, const char *req, const char *event)
{
	line->len = 0;
	line->truncated = false;
	if (!kr_log_enabled(log, level)) {
		line->log = NULL;
		return false;
	}
	line->log = log;
	line->level = level;
	log_stamp(line);
	kr_log_str(line, "level", kr_log_level_name(level));
	kr_log_str(line, "proc", log->proc);
	kr_log_int(line, "pid", (int64_t)getpid());
	kr_log_str(line, "req", req != NULL ? req : "-");
	line->event_off = line->len + sizeof(" event=") - 1;
	kr_log_str(line, "event", event);
	line->event_len =
		line->len > line->event_off ? line->len - line->event_off : 0;
	return true;
}

void
kr_log_strn(struct kr_log_line *line, const char *key, const char *value,
	    size_t len)
{
	if (line->log == NULL)
		return;
	log_key(line, key);
	log_append_escaped(line, value, len);
}

void
kr_log_str(struct kr_log_line *line, const char *key, const char *value)
{
	if (value == NULL)
		value = "";
	kr_log_strn(line, key, value, strlen(value));
}

void
kr_log_int(struct kr_log_line *line, const char *key, int64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, value);

	if (line->log == NULL)
		return;
	log_key(line, key);
	log_append(line, num, (size_t)n);
}

void
kr_log_uint(struct kr_log_line *line, const char *key, uint64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, value);

	if (line->log == NULL)
		return;
	log_key(line, key);
	log_append(line, num, (size_t)n);
}

void
kr_log_fmt(struct kr_log_line *line, const char *key, const char *fmt, ...)
{
	char value[KR_LOG_LINE_MAX];
	va_list ap;
	int n;

	if (line->log == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(value))
		n = sizeof(value) - 1;
	kr_log_strn(line, key, value, (size_t)n);
}

/* The line (as written, newline dropped by the ring) into the ring of
 * recent errors: memory only, no system call. */
static void
log_to_ring(const struct kr_log_line *line)
{
	char event[KR_LOGRING_EVENT_MAX];
	size_t n = line->event_len;

	if (line->log->ring == NULL || line->level < KR_LOG_WARN)
		return;
	if (n > sizeof(event) - 1)
		n = sizeof(event) - 1;
	memcpy(event, line->buf + line->event_off, n);
	event[n] = '\0';
	kr_logring_add(line->log->ring, line->ts_ms, line->level,
		       line->log->proc, event, line->buf, line->len);
}

void
kr_log_end(struct kr_log_line *line)
{
	static const char cut[] = " truncated=1";
	size_t off = 0;

	if (line->log == NULL)
		return;
	if (line->truncated) {
		memcpy(line->buf + line->len, cut, sizeof(cut) - 1);
		line->len += sizeof(cut) - 1;
	}
	line->buf[line->len++] = '\n';
	while (off < line->len) {
		ssize_t n =
			write(line->log->fd, line->buf + off, line->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere left to report a logging failure */
		off += (size_t)n;
	}
	log_to_ring(line);
	line->log = NULL;
}

void
kr_log_msg(struct kr_log *log, enum kr_log_level level, const char *req,
	   const char *event, const char *msg)
{
	struct kr_log_line line;

	if (!kr_log_begin(&line, log, level, req, event))
		return;
	kr_log_str(&line, "msg", msg);
	kr_log_end(&line);
}
