/* Dropping root in workers. */
#include "server/privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* getpwnam_r's buffer: names, gecos, home and shell of one entry. */
#define PRIVDROP_PWBUF 4096

/* "file:line: [server] user: " or "file: [server] user (default): ". */
static void
privdrop_where(const struct kr_config *cfg, char *buf, size_t size)
{
	unsigned line = kr_config_key_line(cfg, "server", "user");

	if (line != 0)
		snprintf(buf, size, "%s:%u: [server] user", cfg->path, line);
	else
		snprintf(buf, size, "%s: [server] user (default)", cfg->path);
}

int
kr_privdrop_init(struct kr_privdrop *p, const struct kr_config *cfg,
		 struct kr_err *err_r)
{
	char where[KR_ERR_MSG_MAX / 2], buf[PRIVDROP_PWBUF];
	struct passwd pw, *found = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	if (geteuid() != 0)
		return 0;
	privdrop_where(cfg, where, sizeof(where));
	rc = getpwnam_r(cfg->server.user, &pw, buf, sizeof(buf), &found);
	if (found == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: no such user '%s'%s%s; create it with "
				  "`useradd --system --no-create-home --shell "
				  "/usr/sbin/nologin %s` (make run does)",
				  where, cfg->server.user, rc != 0 ? ": " : "",
				  rc != 0 ? strerror(rc) : "",
				  cfg->server.user);
	if (pw.pw_uid == 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: '%s' is root; workers must run as an "
				  "unprivileged user",
				  where, cfg->server.user);
	if (strlen(pw.pw_name) >= sizeof(p->user))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: user name too long", where);
	p->active = true;
	p->uid = pw.pw_uid;
	p->gid = pw.pw_gid;
	memcpy(p->user, pw.pw_name, strlen(pw.pw_name) + 1);
	if (strlen(pw.pw_dir) < sizeof(p->home))
		memcpy(p->home, pw.pw_dir, strlen(pw.pw_dir) + 1);
	return 0;
}

/* The ids now in force are the user's, all three of each. */
static bool
privdrop_ids_are(const struct kr_privdrop *p)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return false;
	return ru == p->uid && eu == p->uid && su == p->uid && rg == p->gid &&
	       eg == p->gid && sg == p->gid;
}

int
kr_privdrop_apply(const struct kr_privdrop *p, struct kr_err *err_r)
{
	if (!p->active)
		return 0;
	/* Groups first: only root may set them. */
	if (initgroups(p->user, p->gid) < 0 ||
	    setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "cannot drop root to user %s: %s", p->user,
				  strerror(errno));
	if (!privdrop_ids_are(p))
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "dropped to user %s but the ids differ",
				  p->user);
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "dropped to user %s but root came back",
				  p->user);
	/* libpq looks for ~/.pgpass and ~/.postgresql certificates under
	 * HOME: root's would be unreadable now, and a certificate file
	 * it cannot read fails the connection. */
	if (p->home[0] != '\0' && setenv("HOME", p->home, 1) < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "setenv HOME: %s",
				  strerror(errno));
	return 0;
}

int
kr_privdrop_check_readable(const struct kr_privdrop *p, const char *path,
			   struct kr_err *err_r)
{
	int status = 0;
	pid_t pid;

	if (!p->active)
		return 0;
	pid = fork();
	if (pid < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "fork: %s",
				  strerror(errno));
	if (pid == 0) {
		int fd;

		if (kr_privdrop_apply(p, NULL) < 0)
			_exit(2);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		_exit(fd >= 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return kr_err_set(err_r, KR_ERR_INTERNAL, "waitpid: %s",
					  strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: user %s ([server] user) cannot read "
				  "it, and workers re-read it on SIGHUP; fix: "
				  "chgrp %s FILE; chmod g+r FILE (and o+x on "
				  "its directories)",
				  path, p->user, p->user);
	return kr_err_set(err_r, KR_ERR_INTERNAL,
			  "cannot drop root to user %s (probe failed)",
			  p->user);
}
