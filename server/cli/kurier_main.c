/* kurier: the operator's command-line tool (SPEC.md §3.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "server/cli/cli_maildir.h"
#include "server/cli/cli_reload.h"
#include "server/cli/cli_rules.h"
#include "server/cli/cli_shard.h"
#include "server/cli/cli_stats.h"
#include "server/cli/cli_user.h"

static int
usage(FILE *fp, int code)
{
	fprintf(fp,
		"usage: kurier [-c CONFIG] COMMAND\n"
		"  -c CONFIG  config file (default var/kurier.conf)\n"
		"commands:\n"
		"  user add ADDRESS [--quota BYTES]  create a user; password "
		"from stdin\n"
		"  user del ADDRESS                  delete a user and their "
		"mail\n"
		"  user passwd ADDRESS               set a new password from "
		"stdin\n"
		"  user quota ADDRESS BYTES          set the quota (0 = "
		"unlimited)\n"
		"  user list [--limit N]             users of all shards: "
		"address,\n"
		"                                    quota, used bytes, "
		"messages (tab-separated)\n"
		"  user show ADDRESS                 shard, bucket, quota, "
		"used bytes, messages\n"
		"                                    and mailboxes of a user\n"
		"  user import FILE                  users of a Dovecot "
		"passwd-file\n"
		"                                    "
		"(user@domain:{SCHEME}hash[:...])\n"
		"  import maildir ADDRESS DIR        a Dovecot Maildir++ tree "
		"(DIR/cur, DIR/.Folder)\n"
		"                                    into the user's "
		"mailboxes\n"
		"  export maildir ADDRESS DIR        the user's mail as a "
		"Maildir++ tree\n"
		"                                    Dovecot reads (DIR new or "
		"empty)\n"
		"  shard map                         bucket ranges and primary "
		"of each shard\n"
		"  shard status                      reachability, role, "
		"latency, users per node\n"
		"  shard move BUCKETS SHARD          move buckets (N or N-M) "
		"online; run again to resume\n"
		"  reload                            reload the config and "
		"the filter\n"
		"                                    modules of the running "
		"kurierd\n"
		"  stats [--json] [--watch[=SECONDS]]\n"
		"                                    overview, DB nodes and "
		"workers of the\n"
		"                                    running kurierd (admin "
		"port)\n"
		"  dashboard                         the admin dashboard's "
		"login URL\n"
		"  rules check [FILE...]             SpamAssassin rule files: "
		"rules loaded\n"
		"                                    and skipped (default: the "
		"stock set)\n"
		"BYTES takes a K, M, G or T suffix (1024-based). Passwords are "
		"read from\n"
		"stdin (one line), or typed twice when stdin is a terminal.\n"
		"Exit status: 0 done, 1 failed, 2 bad usage.\n");
	return code;
}

int
main(int argc, char **argv)
{
	const char *cfg_path = "var/kurier.conf";
	int i = 1;

	/* Options stop at the command: what follows belongs to it. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			return usage(stdout, KR_CLI_OK);
		if (strcmp(argv[i], "-c") != 0 || i + 1 >= argc)
			return usage(stderr, KR_CLI_USAGE);
		cfg_path = argv[++i];
	}
	if (i < argc && strcmp(argv[i], "reload") == 0)
		return kr_cli_reload_run(cfg_path, argc - i - 1, argv + i + 1);
	if (i < argc && strcmp(argv[i], "stats") == 0)
		return kr_cli_stats_run(cfg_path, argc - i - 1, argv + i + 1);
	if (i < argc && strcmp(argv[i], "dashboard") == 0)
		return kr_cli_dashboard_run(cfg_path, argc - i - 1,
					    argv + i + 1);
	if (i + 1 >= argc)
		return usage(stderr, KR_CLI_USAGE);
	if (strcmp(argv[i], "rules") == 0)
		return kr_cli_rules_run(argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "user") == 0)
		return kr_cli_user_run(cfg_path, argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "import") == 0)
		return kr_cli_maildir_import_run(cfg_path, argc - i - 1,
						 argv + i + 1);
	if (strcmp(argv[i], "export") == 0)
		return kr_cli_maildir_export_run(cfg_path, argc - i - 1,
						 argv + i + 1);
	if (strcmp(argv[i], "shard") == 0)
		return kr_cli_shard_run(cfg_path, argc - i - 1, argv + i + 1);
	return usage(stderr, KR_CLI_USAGE);
}
