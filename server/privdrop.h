/* Workers drop root (SPEC.md §6). While still root, the master resolves
 * [server] user at start-up; each worker drops to that user (and its
 * groups) right after fork, before it serves anything. The master keeps
 * root: it binds, re-reads the config and forks. When kurierd does not
 * start as root nothing changes. Start-up (master) and the first thing
 * a worker does; one thread. */
#ifndef KR_PRIVDROP_H
#define KR_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/err.h"

#define KR_PRIVDROP_NAME_MAX 64
#define KR_PRIVDROP_HOME_MAX 256

struct kr_privdrop {
	bool active; /* started as root: workers drop to uid/gid */
	uid_t uid;
	gid_t gid;
	char user[KR_PRIVDROP_NAME_MAX];
	char home[KR_PRIVDROP_HOME_MAX]; /* "" when too long */
};

/* Looks [server] user up when running as root (else p->active is false
 * and this cannot fail). A missing user, or one that is root itself, is
 * -1 + err_r naming the config file, line and key, and how to create
 * the user. */
int kr_privdrop_init(struct kr_privdrop *p, const struct kr_config *cfg,
		     struct kr_err *err_r);

/* In a worker, before anything is served: supplementary groups, gid,
 * uid (real, effective and saved), HOME; then checks that the ids are
 * the user's and that root cannot be regained. A no-op when inactive.
 * -1 + err_r when any step fails: the caller must not serve. */
int kr_privdrop_apply(const struct kr_privdrop *p, struct kr_err *err_r);

/* Start-up check that the user can read path (workers re-read the
 * config on SIGHUP): a forked probe drops and opens it. Blocks until
 * the probe exits. 0 when inactive or readable; else -1 + err_r saying
 * how to fix it. */
int kr_privdrop_check_readable(const struct kr_privdrop *p, const char *path,
			       struct kr_err *err_r);

#endif
