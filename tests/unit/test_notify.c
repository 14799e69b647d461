/* cmocka tests for server/notify: the sd_notify datagram reaches a
 * socket named by $NOTIFY_SOCKET (a path, or "@" abstract), the
 * variable is gone afterwards, and without it nothing is sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/notify.h"

/* A datagram socket bound to name (a path, or "@x" abstract). */
static int
listener(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memcpy(a.sun_path, name, n);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	assert_int_equal(
		bind(fd, (struct sockaddr *)&a,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				 (name[0] == '/'))),
		0);
	return fd;
}

static void
expect_datagram(int fd, const char *want)
{
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	assert_int_equal(n, (ssize_t)strlen(want));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void
test_notify_path(void **state)
{
	char dir[] = "/tmp/kr-notify.XXXXXX";
	char path[64];
	struct kr_err err = { 0 };
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(kr_notify_init(&err), 0);
	/* Children forked later must not find it. */
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_int_equal(kr_notify("READY=1", &err), 0);
	expect_datagram(fd, "READY=1");
	assert_int_equal(kr_notify("STOPPING=1", &err), 0);
	expect_datagram(fd, "STOPPING=1");
	close(fd);
	unlink(path);
	rmdir(dir);
	/* The listener gone: an error to log, never a crash. */
	assert_int_equal(kr_notify("READY=1", &err), -1);
	kr_notify_reset();
}

static void
test_notify_abstract(void **state)
{
	char name[64];
	struct kr_err err = { 0 };
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@kr-notify-test-%ld", (long)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(kr_notify_init(&err), 0);
	assert_int_equal(kr_notify("READY=1", &err), 0);
	expect_datagram(fd, "READY=1");
	close(fd);
	kr_notify_reset();
}

static void
test_notify_unset_is_a_noop(void **state)
{
	struct kr_err err = { 0 };

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(kr_notify_init(&err), 0);
	assert_int_equal(kr_notify("READY=1", &err), 0);
}

static void
test_notify_bad_address(void **state)
{
	struct kr_err err = { 0 };

	(void)state;
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(kr_notify_init(&err), -1);
	assert_null(getenv("NOTIFY_SOCKET"));
	/* Ignored afterwards. */
	assert_int_equal(kr_notify("READY=1", &err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_path),
		cmocka_unit_test(test_notify_abstract),
		cmocka_unit_test(test_notify_unset_is_a_noop),
		cmocka_unit_test(test_notify_bad_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
