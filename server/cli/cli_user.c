/* kurier user add|del|passwd|quota|list. */
#include "server/cli/cli_user.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "server/cli/cli.h"
#include "server/cli/cli_import.h"
#include "server/auth/password.h"

/* kr_user_list pages per shard; memory is shards x page rows. */
#define USER_LIST_PAGE 1000

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
			if (kr_cli_address(arg, strlen(arg), a->address,
					   sizeof(a->address), &err) < 0) {
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

/* Runs `SELECT * FROM fn(...)` on the address's shard; the first
 * column is the status. NULL + message on stderr. */
static PGresult *
user_call(struct kr_cli *cli, const char *sql, const char *const *params,
	  int n_params, int *shard_r)
{
	struct kr_err err;
	const char *addr = params[0];
	PGresult *res = NULL;
	PGconn *conn;

	*shard_r = kr_shardmap_shard(cli->map, addr, strlen(addr));
	if (*shard_r < 0) {
		fprintf(stderr, "kurier: no [shard.N] in %s\n", cli->cfg->path);
		return NULL;
	}
	conn = kr_cli_conn(cli, (unsigned)*shard_r, false, &err);
	if (conn != NULL)
		res = kr_cli_exec(conn, sql, n_params, params, 1, &err);
	if (res != NULL && PQntuples(res) == 1)
		return res;
	if (res != NULL)
		kr_err_set(&err, KR_ERR_INTERNAL, "unexpected answer");
	fprintf(stderr, "kurier: %s: %s\n", addr, err.msg);
	PQclear(res);
	return NULL;
}

/* Prints the outcome of a one-row status call; returns the exit. */
static int
user_report(PGresult *res, const char *addr, int shard, const char *done)
{
	const char *status;
	int ret = KR_CLI_FAIL;

	if (res == NULL)
		return KR_CLI_FAIL;
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") == 0) {
		printf("%s (shard %d)\n", done, shard);
		ret = KR_CLI_OK;
	} else if (strcmp(status, "exists") == 0) {
		fprintf(stderr, "kurier: user %s already exists (shard %d)\n",
			addr, shard);
	} else if (strcmp(status, "not_found") == 0) {
		fprintf(stderr, "kurier: no such user %s (shard %d)\n", addr,
			shard);
	} else {
		fprintf(stderr, "kurier: %s: unexpected status '%s'\n", addr,
			status);
	}
	PQclear(res);
	return ret;
}

static int
user_add(struct kr_cli *cli, const struct user_args *a)
{
	char hash[KR_PASSWORD_HASH_SIZE], quota[24], done[KR_ADDRESS_MAX + 64],
		qtext[32];
	const char *params[] = { a->address, hash, quota };
	struct kr_err err;
	PGresult *res;
	int shard;

	if (user_new_hash(hash, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	snprintf(quota, sizeof(quota), "%" PRIu64, a->number);
	res = user_call(cli,
			"SELECT status, user_id FROM kr_user_create($1, $2, "
			"$3::bigint)",
			params, 3, &shard);
	snprintf(done, sizeof(done), "created user %s, quota %s", a->address,
		 user_quota_text(a->number, qtext, sizeof(qtext)));
	return user_report(res, a->address, shard, done);
}

static int
user_del(struct kr_cli *cli, const struct user_args *a)
{
	const char *params[] = { a->address };
	char done[KR_ADDRESS_MAX + 32];
	PGresult *res;
	int shard;

	res = user_call(cli, "SELECT status FROM kr_user_delete($1)", params, 1,
			&shard);
	snprintf(done, sizeof(done), "deleted user %s", a->address);
	return user_report(res, a->address, shard, done);
}

/* The new hash bumps the user's password version (a trigger of
 * storage/sql/005_password_version.sql), which ends every API session
 * issued before: kurierd refuses them within its session-check cache
 * time (1 s). */
static int
user_passwd(struct kr_cli *cli, const struct user_args *a)
{
	char hash[KR_PASSWORD_HASH_SIZE], done[KR_ADDRESS_MAX + 64];
	const char *params[] = { a->address, hash };
	struct kr_err err;
	PGresult *res;
	int shard;

	if (user_new_hash(hash, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	res = user_call(cli, "SELECT status FROM kr_user_set_password($1, $2)",
			params, 2, &shard);
	snprintf(done, sizeof(done),
		 "changed the password of %s; its sessions are ended",
		 a->address);
	return user_report(res, a->address, shard, done);
}

static int
user_quota(struct kr_cli *cli, const struct user_args *a)
{
	char quota[24], done[KR_ADDRESS_MAX + 64], qtext[32];
	const char *params[] = { a->address, quota };
	PGresult *res;
	int shard;

	snprintf(quota, sizeof(quota), "%" PRIu64, a->number);
	res = user_call(cli,
			"SELECT status FROM kr_user_set_quota($1, "
			"$2::bigint)",
			params, 2, &shard);
	snprintf(done, sizeof(done), "set the quota of %s to %s", a->address,
		 user_quota_text(a->number, qtext, sizeof(qtext)));
	return user_report(res, a->address, shard, done);
}

/* One shard's stream of users in address order, a page at a time. */
struct user_src {
	PGconn *conn;
	PGresult *res;
	int row, n;
	bool last_page;
};

static int
user_src_fetch(struct user_src *s, const char *after, int page,
	       struct kr_err *err_r)
{
	char lim[16];
	const char *params[] = { after, lim };

	snprintf(lim, sizeof(lim), "%d", page);
	s->res = kr_cli_exec(s->conn,
			     "SELECT address, quota_bytes, used_bytes, "
			     "messages FROM kr_user_list($1, $2::int)",
			     2, params, 4, err_r);
	if (s->res == NULL)
		return -1;
	s->row = 0;
	s->n = PQntuples(s->res);
	s->last_page = s->n < page;
	return 0;
}

/* Moves s past its current row, fetching the next page when needed. */
static int
user_src_next(struct user_src *s, int page, struct kr_err *err_r)
{
	char after[KR_ADDRESS_MAX + 1];

	if (++s->row < s->n || s->last_page)
		return 0;
	snprintf(after, sizeof(after), "%s", PQgetvalue(s->res, s->n - 1, 0));
	PQclear(s->res);
	s->res = NULL;
	return user_src_fetch(s, after, page, err_r);
}

/* k-way merge of the shards' address-ordered streams; addresses are
 * COLLATE "C" in the schema, so strcmp is the database's order. */
static int
user_merge(struct user_src *src, unsigned n, uint64_t limit, int page,
	   struct kr_err *err_r)
{
	for (uint64_t printed = 0; limit == 0 || printed < limit; printed++) {
		struct user_src *best = NULL;

		for (unsigned i = 0; i < n; i++) {
			if (src[i].row < src[i].n &&
			    (best == NULL ||
			     strcmp(PQgetvalue(src[i].res, src[i].row, 0),
				    PQgetvalue(best->res, best->row, 0)) < 0))
				best = &src[i];
		}
		if (best == NULL)
			break;
		printf("%s\t%s\t%s\t%s\n", PQgetvalue(best->res, best->row, 0),
		       PQgetvalue(best->res, best->row, 1),
		       PQgetvalue(best->res, best->row, 2),
		       PQgetvalue(best->res, best->row, 3));
		if (user_src_next(best, page, err_r) < 0)
			return -1;
	}
	return 0;
}

static int
user_list(struct kr_cli *cli, const struct user_args *a)
{
	unsigned n = cli->cfg->n_shards, i;
	struct user_src *src = kr_xcalloc(n + 1, sizeof(*src));
	int page = a->number != 0 && a->number < USER_LIST_PAGE
			   ? (int)a->number
			   : USER_LIST_PAGE;
	struct kr_err err;
	int ret = 0;

	for (i = 0; i < n && ret == 0; i++) {
		src[i].conn = kr_cli_conn(cli, i, false, &err);
		if (src[i].conn == NULL ||
		    user_src_fetch(&src[i], "", page, &err) < 0)
			ret = -1;
	}
	if (ret == 0)
		ret = user_merge(src, n, a->number, page, &err);
	for (i = 0; i < n; i++)
		PQclear(src[i].res);
	free(src);
	if (ret < 0) {
		fprintf(stderr, "kurier: user list: %s\n", err.msg);
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
		if (kr_cli_init(&cli, config_path, &err) < 0) {
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
