/* Shared helpers of the kurier CLI: config, shard map, the store's
 * admin part, argument parsing. */
#include "server/cli/cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "storage/shardmove.h"

/* Long enough for a 1000-user import chunk on a slow disk; the CLI's
 * other statements get [storage] query_timeout. */
#define CLI_LONG_STATEMENT_MS 600000

int
kr_cli_init(struct kr_cli *cli, const char *config_path, bool long_statements,
	    struct kr_err *err_r)
{
	struct kr_err ignored;

	memset(cli, 0, sizeof(*cli));
	if (kr_config_load(config_path, &cli->cfg, err_r) < 0)
		return -1;
	cli->map = kr_shardmap_create(cli->cfg);
	/* The buckets moved by `kurier shard move` (shard 0's shard_map);
	 * best effort: a CLI that cannot reach shard 0 (or a cluster not
	 * migrated yet) still works with the config's ranges. */
	(void)kr_shardmove_load_map(cli->cfg, cli->map, &ignored);
	cli->admin = kr_store_admin_create(
		cli->cfg, cli->map,
		long_statements ? CLI_LONG_STATEMENT_MS
				: cli->cfg->storage.query_timeout_ms);
	return 0;
}

void
kr_cli_deinit(struct kr_cli *cli)
{
	if (cli->cfg == NULL)
		return;
	kr_store_admin_destroy(&cli->admin);
	kr_shardmap_destroy(&cli->map);
	kr_config_destroy(&cli->cfg);
}

int
kr_cli_parse_bytes(const char *s, uint64_t *n_r)
{
	static const char suffixes[] = "KMGT";
	uint64_t n = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > INT64_MAX)
			return -1;
	}
	if (*p != '\0') {
		const char *suf = strchr(suffixes, toupper((unsigned char)*p));

		if (suf == NULL || p[1] != '\0')
			return -1;
		mult = 1ULL << (10 * (suf - suffixes + 1));
	}
	if (n > INT64_MAX / mult)
		return -1;
	*n_r = n * mult;
	return 0;
}

int
kr_cli_parse_count(const char *s, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > max)
			return -1;
	}
	if (n == 0)
		return -1;
	*n_r = n;
	return 0;
}
