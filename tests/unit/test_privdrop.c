/* cmocka tests for server/privdrop: resolving [server] user, dropping
 * root for good in a forked child, the readability probe. Run as root
 * (as `make test` is); without root only the no-op path is testable and
 * the rest is skipped. The user is `nobody`, present on every Debian. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/privdrop.h"

struct env {
	char dir[64];
	char path[96];
	struct kr_config *cfg;
};

static struct kr_config *
load(struct env *e, const char *text)
{
	struct kr_err err = { 0 };
	FILE *f = fopen(e->path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	kr_config_destroy(&e->cfg);
	if (kr_config_load(e->path, &e->cfg, &err) < 0)
		fail_msg("config: %s", err.msg);
	return e->cfg;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/kr-privdrop.XXXXXX");
	if (mkdtemp(e->dir) == NULL || chmod(e->dir, 0755) < 0) {
		free(e);
		return -1;
	}
	snprintf(e->path, sizeof(e->path), "%s/k.conf", e->dir);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	kr_config_destroy(&e->cfg);
	unlink(e->path);
	rmdir(e->dir);
	free(e);
	return 0;
}

static void
need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static void
test_privdrop_unknown_user_names_file_line_key(void **state)
{
	struct env *e = *state;
	struct kr_privdrop p;
	struct kr_err err = { 0 };
	char want[160];

	need_root();
	load(e, "[workers]\ncount = 1\n[server]\nuser = kr-no-such-user\n");
	assert_int_equal(kr_privdrop_init(&p, e->cfg, &err), -1);
	snprintf(want, sizeof(want),
		 "%s:4: [server] user: no such user 'kr-no-such-user'",
		 e->path);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, "useradd --system"));
	assert_false(p.active);
}

static void
test_privdrop_root_user_refused(void **state)
{
	struct env *e = *state;
	struct kr_privdrop p;
	struct kr_err err = { 0 };

	need_root();
	load(e, "[server]\nuser = root\n");
	assert_int_equal(kr_privdrop_init(&p, e->cfg, &err), -1);
	assert_non_null(strstr(err.msg, ":2: [server] user: 'root' is root"));
}

/* In a child: drop, then report through the exit status what holds. */
static int
drop_in_child(const struct kr_privdrop *p, const struct passwd *pw)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (kr_privdrop_apply(p, NULL) < 0)
		return 10;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return 11;
	if (ru != pw->pw_uid || eu != pw->pw_uid || su != pw->pw_uid ||
	    rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid)
		return 12;
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 ||
	    setgroups(0, NULL) == 0)
		return 13;
	if (getenv("HOME") == NULL || strcmp(getenv("HOME"), pw->pw_dir) != 0)
		return 14;
	return 0;
}

static void
test_privdrop_apply_drops_for_good(void **state)
{
	struct env *e = *state;
	struct kr_privdrop p;
	struct kr_err err = { 0 };
	struct passwd *pw;
	int status = -1;
	pid_t pid;

	need_root();
	pw = getpwnam("nobody");
	assert_non_null(pw);
	load(e, "[server]\nuser = nobody\n");
	assert_int_equal(kr_privdrop_init(&p, e->cfg, &err), 0);
	assert_true(p.active);
	assert_int_equal(p.uid, pw->pw_uid);
	assert_int_equal(p.gid, pw->pw_gid);
	assert_string_equal(p.user, "nobody");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(drop_in_child(&p, pw));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* This process is untouched. */
	assert_int_equal(geteuid(), 0);
}

static void
test_privdrop_readable_probe(void **state)
{
	struct env *e = *state;
	struct kr_privdrop p;
	struct kr_err err = { 0 };

	need_root();
	load(e, "[server]\nuser = nobody\n");
	assert_int_equal(kr_privdrop_init(&p, e->cfg, &err), 0);
	assert_int_equal(chmod(e->path, 0644), 0);
	assert_int_equal(kr_privdrop_check_readable(&p, e->path, &err), 0);
	assert_int_equal(chmod(e->path, 0600), 0);
	assert_int_equal(kr_privdrop_check_readable(&p, e->path, &err), -1);
	assert_non_null(strstr(err.msg, "user nobody ([server] user) cannot "
					"read it"));
	/* Reachable only through a directory it may not enter. */
	assert_int_equal(chmod(e->path, 0644), 0);
	assert_int_equal(chmod(e->dir, 0700), 0);
	assert_int_equal(kr_privdrop_check_readable(&p, e->path, &err), -1);
	assert_int_equal(chmod(e->dir, 0755), 0);
}

static void
test_privdrop_inactive_without_root(void **state)
{
	struct env *e = *state;
	int status = -1;
	pid_t pid;

	load(e, "[server]\nuser = kr-no-such-user\n");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kr_privdrop p;
		struct passwd *pw = getpwnam("nobody");

		/* Not root (any more): nothing to drop, nothing looked up. */
		if (geteuid() == 0 &&
		    (pw == NULL || setgroups(0, NULL) < 0 ||
		     setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0))
			_exit(20);
		if (kr_privdrop_init(&p, e->cfg, NULL) < 0 || p.active)
			_exit(21);
		if (kr_privdrop_apply(&p, NULL) < 0 ||
		    kr_privdrop_check_readable(&p, "/nonexistent", NULL) < 0)
			_exit(22);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_privdrop_unknown_user_names_file_line_key, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_privdrop_root_user_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_privdrop_apply_drops_for_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_privdrop_readable_probe,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_privdrop_inactive_without_root, setup, teardown),
	};

	return cmocka_run_group_tests_name("privdrop", tests, NULL, NULL);
}
