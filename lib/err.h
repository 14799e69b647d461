/* Error values that map straight onto protocol replies, and the two
 * ways a process dies on purpose (kr_panic for bugs, kr_fatal for
 * start-up problems). Any thread; struct kr_err lives in the caller. */
#ifndef KR_ERR_H
#define KR_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* The kind decides the reply, so no protocol parses message text:
 * temporary -> LMTP 4xx / -32010, permanent -> 5xx / -32602, quota ->
 * 452 4.2.2 (or 552 5.2.2) / -32004, too large -> 552 5.3.4 / -32602,
 * limit (a resource of ours ran out: an arena, a budget) -> 451 /
 * -32603, overload -> shed, conflict -> -32003 (a name that exists
 * already). */
enum kr_err_kind {
	KR_ERR_NONE = 0,
	KR_ERR_TEMPORARY,
	KR_ERR_PERMANENT,
	KR_ERR_LIMIT,
	KR_ERR_NOT_FOUND,
	KR_ERR_TIMEOUT,
	KR_ERR_OVERLOAD,
	KR_ERR_CONFLICT,
	KR_ERR_INTERNAL,
	KR_ERR_QUOTA,	  /* the user's quota is used up */
	KR_ERR_TOO_LARGE, /* the input is over a size limit */
};

#define KR_ERR_MSG_MAX 256

struct kr_err {
	enum kr_err_kind kind;
	char msg[KR_ERR_MSG_MAX];
};

/* Fills err_r (may be NULL) and returns -1, so callers can write
 * `return kr_err_set(err_r, KR_ERR_LIMIT, "...")`. Truncates the
 * message to KR_ERR_MSG_MAX - 1 bytes. */
int kr_err_set(struct kr_err *err_r, enum kr_err_kind kind, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));
int kr_err_setv(struct kr_err *err_r, enum kr_err_kind kind, const char *fmt,
		va_list ap) __attribute__((format(printf, 3, 0)));
void kr_err_clear(struct kr_err *err_r);
const char *kr_err_kind_name(enum kr_err_kind kind);

/* Both write one line to stderr and never return: kr_panic aborts (a
 * bug: core dump, supervisor restarts the worker), kr_fatal exits 1. */
void kr_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn, cold));
void kr_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn, cold));

/* Always compiled in: a failed assertion is a bug, never client input. */
#define kr_assert(expr)                                                     \
	((expr) ? (void)0                                                   \
		: kr_panic("assertion failed: %s (%s:%d)", #expr, __FILE__, \
			   __LINE__))

/* Allocation failure aborts the worker; limits keep memory bounded. */
void *kr_xmalloc(size_t size);
void *kr_xcalloc(size_t n, size_t size);
void *kr_xrealloc(void *ptr, size_t size);
char *kr_xstrdup(const char *s);

#endif
