/* kurier user add|del|passwd|quota|list|show. */
#include "server/cli/cli_user.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "lib/address.h"
#include "server/cli/cli.h"
#include "server/cli/cli_import.h"
#include "server/auth/password.h"

struct user_args {
	char address[KR_ADDRESS_MAX + 1];
	bool have_address;
	uint64_t number; /* quota bytes, or the list limit (0 = all) */
	bool have_number;
};

static int __attribute__((format(printf, 1, 2)))
user_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("kurier: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (kurier -h for usage)\n", stderr);
	return KR_CLI_USAGE;
}

/* ADDRESS plus, where allowed, `--quota BYTES` / `--limit N` (opt) or
 * a positional BYTES (positional_number), in any order. */
static int
user_parse(int argc, char **argv, bool want_address, const char *opt,
	   bool positional_number, struct user_args *a)
{
	struct kr_err err;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (opt != NULL && strcmp(arg, opt) == 0 && i + 1 < argc &&
		    !a->have_number) {
			arg = argv[++i];
			if (strcmp(opt, "--limit") == 0
				    ? kr_cli_parse_count(arg, INT32_MAX,
							 &a->number) < 0
				    : kr_cli_parse_bytes(arg, &a->number) < 0)
				return user_usage("bad number '%s'", arg);
			a->have_number = true;
		} else if (want_address && !a->have_address && arg[0] != '-') {
			if (kr_address_normalize(arg, strlen(arg), a->address,
						 sizeof(a->address),
						 &err) < 0) {
				fprintf(stderr, "kurier: %s\n", err.msg);
				return KR_CLI_USAGE;
			}
			a->have_address = true;
		} else if (positional_number && !a->have_number &&
			   kr_cli_parse_bytes(arg, &a->number) == 0) {
			a->have_number = true;
		} else {
			return user_usage("unexpected argument '%s'", arg);
		}
	}
	if (want_address && !a->have_address)
		return user_usage("user %s: missing ADDRESS", argv[0]);
	if (positional_number && !a->have_number)
		return user_usage("user %s: missing BYTES", argv[0]);
	return KR_CLI_OK;
}

/* One line from fp into buf without its newline; -1 when too long or
 * nothing could be read. */
static int
user_read_line(FILE *fp, char *buf, size_t size)
{
	size_t n;

	if (fgets(buf, (int)size, fp) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == size - 1)
		return -1;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

static int
user_prompt(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	int ret;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
		return -1;
	ret = user_read_line(stdin, buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return ret;
}

/* The new password: one line of stdin, or typed twice at a tty. */
static int
user_read_password(char *pw, size_t size, struct kr_err *err_r)
{
	char again[KR_PASSWORD_MAX + 2];
	int ret = 0;

	if (!isatty(STDIN_FILENO)) {
		if (user_read_line(stdin, pw, size) < 0)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "no password on stdin (one line, "
					  "at most %d bytes)",
					  KR_PASSWORD_MAX);
	} else if (user_prompt("New password: ", pw, size) < 0 ||
		   user_prompt("Retype new password: ", again, sizeof(again)) <
			   0) {
		ret = kr_err_set(err_r, KR_ERR_PERMANENT,
				 "cannot read the password (at most %d bytes)",
				 KR_PASSWORD_MAX);
	} else if (strcmp(pw, again) != 0) {
		ret = kr_err_set(err_r, KR_ERR_PERMANENT,
				 "the passwords do not match");
	}
	explicit_bzero(again, sizeof(again));
	if (ret == 0 && pw[0] == '\0')
		ret = kr_err_set(err_r, KR_ERR_PERMANENT, "empty password");
	return ret;
}

/* The new password's hash into hash (KR_PASSWORD_HASH_SIZE). */
static int
user_new_hash(char *hash, struct kr_err *err_r)
{
	char pw[KR_PASSWORD_MAX + 2];
	int ret;

	ret = user_read_password(pw, sizeof(pw), err_r);
	if (ret == 0)
		ret = kr_password_hash(pw, hash, KR_PASSWORD_HASH_SIZE, err_r);
	explicit_bzero(pw, sizeof(pw));
	return ret;
}

static const char *
user_quota_text(uint64_t quota, char *buf, size_t size)
{
	if (quota == 0)
		return "unlimited";
	snprintf(buf, size, "%" PRIu64 " bytes", quota);
	return buf;
}

/* Prints the outcome of a user call (rc, err) on the address placed
 * on shard (-1: not placed); returns the exit. */
static int
user_report(int rc, const struct kr_err *err, const char *addr, int shard,
	    const char *done)
{
	if (rc == 0) {
		printf("%s (shard %d)\n", done, shard);
		return KR_CLI_OK;
	}
	if (shard < 0)
		fprintf(stderr, "kurier: %s\n", err->msg);
	else if (err->kind == KR_ERR_CONFLICT)
		fprintf(stderr, "kurier: user %s already exists (shard %d)\n",
			addr, shard);
	else if (err->kind == KR_ERR_NOT_FOUND)
		fprintf(stderr, "kurier: no such user %s (shard %d)\n", addr,
			shard);
	else
		fprintf(stderr, "kurier: %s: %s\n", addr, err->msg);
	return KR_CLI_FAIL;
}

static int
user_add(struct kr_cli *cli, const struct user_args *a)
{
	char hash[KR_PASSWORD_HASH_SIZE], done[KR_ADDRESS_MAX + 64], qtext[32];
	struct kr_err err;
	int shard, rc;

	if (user_new_hash(hash, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	rc = kr_store_admin_user_create(cli->admin, a->address, hash,
					(int64_t)a->number, &shard, &err);
	snprintf(done, sizeof(done), "created user %s, quota %s", a->address,
		 user_quota_text(a->number, qtext, sizeof(qtext)));
	return user_report(rc, &err, a->address, shard, done);
}

static int
user_del(struct kr_cli *cli, const struct user_args *a)
{
	char done[KR_ADDRESS_MAX + 32];
	struct kr_err err;
	int shard, rc;

	rc = kr_store_admin_user_delete(cli->admin, a->address, &shard, &err);
	snprintf(done, sizeof(done), "deleted user %s", a->address);
	return user_report(rc, &err, a->address, shard, done);
}

/* The new hash ends every API session issued before: kurierd refuses
 * them within its session-check cache time (1 s). */
static int
user_passwd(struct kr_cli *cli, const struct user_args *a)
{
	char hash[KR_PASSWORD_HASH_SIZE], done[KR_ADDRESS_MAX + 64];
	struct kr_err err;
	int shard, rc;

	if (user_new_hash(hash, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	rc = kr_store_admin_user_set_password(cli->admin, a->address, hash,
					      &shard, &err);
	snprintf(done, sizeof(done),
		 "changed the password of %s; its sessions are ended",
		 a->address);
	return user_report(rc, &err, a->address, shard, done);
}

static int
user_quota(struct kr_cli *cli, const struct user_args *a)
{
	char done[KR_ADDRESS_MAX + 64], qtext[32];
	struct kr_err err;
	int shard, rc;

	rc = kr_store_admin_user_set_quota(cli->admin, a->address,
					   (int64_t)a->number, &shard, &err);
	snprintf(done, sizeof(done), "set the quota of %s to %s", a->address,
		 user_quota_text(a->number, qtext, sizeof(qtext)));
	return user_report(rc, &err, a->address, shard, done);
}

/* One line per user: address, quota, used bytes, messages. */
static void
user_print(void *ctx, const struct kr_store_admin_user *u)
{
	(void)ctx;
	printf("%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", u->address,
	       u->quota_bytes, u->used_bytes, u->messages);
}

static int
user_list(struct kr_cli *cli, const struct user_args *a)
{
	struct kr_err err;

	if (kr_store_admin_user_list(cli->admin, a->number, user_print, NULL,
				     &err) < 0) {
		fprintf(stderr, "kurier: user list: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	return fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

static void
user_show_mailbox(void *ctx, const struct kr_store_admin_mailbox *mb)
{
	(void)ctx;
	printf("mailbox\t%s\t%" PRId64 " messages\t%" PRId64 " unseen\t%" PRId64
	       " bytes\n",
	       mb->name, mb->total, mb->unseen, mb->size);
}

/* The account as "key<TAB>value" lines, then one line per mailbox. */
static int
user_show(struct kr_cli *cli, const struct user_args *a)
{
	struct kr_store_admin_account acct;
	char qtext[32];
	struct kr_err err;

	if (kr_store_admin_account_get(cli->admin, a->address, &acct, &err) < 0)
		return user_report(
			-1, &err, a->address,
			err.kind == KR_ERR_NOT_FOUND ? (int)acct.shard : -1,
			NULL);
	printf("address\t%s\nshard\t%u\nbucket\t%u\nquota\t%s\n"
	       "used\t%" PRId64 " bytes\nmessages\t%" PRId64 "\n",
	       acct.address, acct.shard, acct.bucket,
	       user_quota_text((uint64_t)acct.quota_bytes, qtext,
			       sizeof(qtext)),
	       acct.used_bytes, acct.messages);
	if (kr_store_admin_mailbox_list(cli->admin, &acct, user_show_mailbox,
					NULL, &err) < 0) {
		fprintf(stderr, "kurier: %s: %s\n", a->address, err.msg);
		return KR_CLI_FAIL;
	}
	return fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

int
kr_cli_user_run(const char *config_path, int argc, char **argv)
{
	static const struct {
		const char *name;
		const char *opt;
		bool address, positional;
		int (*fn)(struct kr_cli *, const struct user_args *);
	} cmds[] = {
		{ "add", "--quota", true, false, user_add },
		{ "del", NULL, true, false, user_del },
		{ "passwd", NULL, true, false, user_passwd },
		{ "quota", NULL, true, true, user_quota },
		{ "list", "--limit", false, false, user_list },
		{ "show", NULL, true, false, user_show },
	};
	struct user_args a;
	struct kr_cli cli;
	struct kr_err err;
	int ret;

	if (argc >= 1 && strcmp(argv[0], "import") == 0)
		return kr_cli_import_run(config_path, argc, argv);
	for (size_t i = 0; argc >= 1 && i < sizeof(cmds) / sizeof(cmds[0]);
	     i++) {
		if (strcmp(argv[0], cmds[i].name) != 0)
			continue;
		ret = user_parse(argc, argv, cmds[i].address, cmds[i].opt,
				 cmds[i].positional, &a);
		if (ret != KR_CLI_OK)
			return ret;
		if (kr_cli_init(&cli, config_path, false, &err) < 0) {
			fprintf(stderr, "kurier: %s\n", err.msg);
			return KR_CLI_FAIL;
		}
		ret = cmds[i].fn(&cli, &a);
		kr_cli_deinit(&cli);
		return ret;
	}
	return user_usage("unknown user command '%s'",
			  argc >= 1 ? argv[0] : "");
}
