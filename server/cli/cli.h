/* The `kurier` CLI's shared state and helpers: the loaded config, the
 * shard map and the store's blocking admin part (storage/store_admin.h),
 * through which every command reaches PostgreSQL; number parsing. A
 * command-line tool, so blocking is fine; main thread only. Commands
 * live in cli_user.c, cli_import.c and cli_shard.c and return an exit
 * status (enum kr_cli_exit). */
#ifndef KR_CLI_H
#define KR_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/err.h"
#include "storage/shardmap.h"
#include "storage/store_admin.h"

enum kr_cli_exit {
	KR_CLI_OK = 0,
	KR_CLI_FAIL = 1,  /* the command was understood but failed */
	KR_CLI_USAGE = 2, /* bad arguments: nothing was done */
};

struct kr_cli {
	struct kr_config *cfg;
	struct kr_shardmap *map;
	struct kr_store_admin *admin;
};

/* Loads the config and builds the shard map and the admin part, whose
 * statements get [storage] query_timeout, or 10 minutes with
 * long_statements (an import's big batches). Connects to nothing yet. */
int kr_cli_init(struct kr_cli *cli, const char *config_path,
		bool long_statements, struct kr_err *err_r);
void kr_cli_deinit(struct kr_cli *cli);

/* Decimal bytes with an optional K, M, G or T suffix (1024-based),
 * at most INT64_MAX. -1 when s is not one. */
int kr_cli_parse_bytes(const char *s, uint64_t *n_r);
/* Decimal 1..max. */
int kr_cli_parse_count(const char *s, uint64_t max, uint64_t *n_r);

#endif
