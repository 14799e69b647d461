/* Descriptor budget. */
#include "server/fdbudget.h"

#include <sys/resource.h>
#include <unistd.h>

unsigned
kr_fdbudget_raise(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur >= want)
		return rl.rlim_cur > UINT32_MAX ? UINT32_MAX
						: (unsigned)rl.rlim_cur;
	if (rl.rlim_max < want && geteuid() == 0) {
		struct rlimit up = { .rlim_cur = want, .rlim_max = want };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 &&
	    getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	return rl.rlim_cur > UINT32_MAX ? UINT32_MAX : (unsigned)rl.rlim_cur;
}

static unsigned
fdbudget_cap(unsigned configured, unsigned share, bool *clamped)
{
	if (share < 1)
		share = 1;
	if (configured <= share)
		return configured;
	*clamped = true;
	return share;
}

void
kr_fdbudget_plan(const struct kr_config *cfg, unsigned nofile,
		 struct kr_fdbudget *b)
{
	unsigned long long reserve = KR_FDBUDGET_BASE_RESERVE;
	unsigned share;

	/* Every node of every shard may open pool_high connections. */
	for (unsigned i = 0; i < cfg->n_shards; i++)
		reserve += (unsigned long long)cfg->shards[i].pool_high *
			   (1 + cfg->shards[i].n_replicas);
	*b = (struct kr_fdbudget){ .nofile = nofile };
	b->reserve = reserve > nofile ? nofile : (unsigned)reserve;
	share = (nofile - b->reserve) / 2;
	b->lmtp_max = fdbudget_cap(cfg->lmtp.max_sessions, share, &b->clamped);
	b->http_max =
		fdbudget_cap(cfg->jsonrpc.max_connections, share, &b->clamped);
	b->admin_max = fdbudget_cap(cfg->admin.max_connections,
				    nofile > KR_FDBUDGET_BASE_RESERVE
					    ? nofile - KR_FDBUDGET_BASE_RESERVE
					    : 1,
				    &b->clamped);
}
