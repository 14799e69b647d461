/* Error values, panics and allocation wrappers. */
#include "lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
kr_err_setv(struct kr_err *err_r, enum kr_err_kind kind, const char *fmt,
	    va_list ap)
{
	if (err_r == NULL)
		return -1;
	err_r->kind = kind;
	vsnprintf(err_r->msg, sizeof(err_r->msg), fmt, ap);
	return -1;
}

int
kr_err_set(struct kr_err *err_r, enum kr_err_kind kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kr_err_setv(err_r, kind, fmt, ap);
	va_end(ap);
	return -1;
}

void
kr_err_clear(struct kr_err *err_r)
{
	if (err_r == NULL)
		return;
	err_r->kind = KR_ERR_NONE;
	err_r->msg[0] = '\0';
}

const char *
kr_err_kind_name(enum kr_err_kind kind)
{
	static const char *const names[] = {
		[KR_ERR_NONE] = "none",
		[KR_ERR_TEMPORARY] = "temporary",
		[KR_ERR_PERMANENT] = "permanent",
		[KR_ERR_LIMIT] = "limit",
		[KR_ERR_NOT_FOUND] = "not-found",
		[KR_ERR_TIMEOUT] = "timeout",
		[KR_ERR_OVERLOAD] = "overload",
		[KR_ERR_CONFLICT] = "conflict",
		[KR_ERR_INTERNAL] = "internal",
		[KR_ERR_QUOTA] = "over-quota",
		[KR_ERR_TOO_LARGE] = "too-large",
	};

	if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[kind];
}

static void __attribute__((format(printf, 2, 0)))
err_vprint(const char *what, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "kurier %s: ", what);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

void
kr_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vprint("panic", fmt, ap);
	va_end(ap);
	abort();
}

void
kr_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vprint("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

void *
kr_xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		kr_panic("out of memory (%zu bytes)", size);
	return p;
}

void *
kr_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		kr_panic("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *
kr_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);

	if (p == NULL)
		kr_panic("out of memory (%zu bytes)", size);
	return p;
}

char *
kr_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		kr_panic("out of memory (strdup)");
	return p;
}
