/* `kurier shard map|status`: the bucket ranges of the shards and the
 * health of their database nodes. Blocking; `status` asks the nodes
 * from a few threads at once. Main thread of the CLI only. */
#ifndef KR_CLI_SHARD_H
#define KR_CLI_SHARD_H

/* argv[0] is "map" or "status". Returns an enum kr_cli_exit; status
 * fails when a node is unreachable. Never applies migrations: a
 * diagnosis must not change the nodes it looks at. */
int kr_cli_shard_run(const char *config_path, int argc, char **argv);

#endif
