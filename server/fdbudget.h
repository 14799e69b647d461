/* Descriptor budget of a kurierd (SPEC.md §6): RLIMIT_NOFILE raised at
 * start, and the connection caps of the two protocols chosen so that
 * the database pools always have their descriptors and one protocol's
 * flood cannot take the other's. Pure computation plus one setrlimit;
 * the master runs it before forking, workers inherit the result. */
#ifndef KR_FDBUDGET_H
#define KR_FDBUDGET_H

#include "lib/config.h"
#include "lib/err.h"

/* Descriptors kept aside besides the pools: listeners, signal and
 * event pipes, the log, the metrics region, a config re-read. */
#define KR_FDBUDGET_BASE_RESERVE 64

struct kr_fdbudget {
	unsigned nofile;    /* the soft RLIMIT_NOFILE in force */
	unsigned reserve;   /* for everything but client connections */
	unsigned lmtp_max;  /* LMTP sessions one worker may hold */
	unsigned http_max;  /* JSON-RPC connections one worker may hold */
	unsigned admin_max; /* admin connections the master may hold */
	bool clamped;	    /* a configured maximum was lowered to fit */
};

/* Raises the soft RLIMIT_NOFILE to want (and the hard one when running
 * as root), or as far as the hard limit allows. Returns the soft limit
 * now in force; never fails (the old limit stays in force). */
unsigned kr_fdbudget_raise(unsigned want);

/* Splits nofile: the reserve (KR_FDBUDGET_BASE_RESERVE plus every
 * connection the storage pools may open), and of the rest at most half
 * to each protocol, never more than [lmtp] max_sessions and [jsonrpc]
 * max_connections, never less than 1. The master opens no pool
 * connections: the admin port gets what is left beside the base
 * reserve, never more than [admin] max_connections. */
void kr_fdbudget_plan(const struct kr_config *cfg, unsigned nofile,
		      struct kr_fdbudget *b);

#endif
