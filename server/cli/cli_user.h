/* `kurier user add|del|passwd|quota|list`: one user's row on the shard
 * kr_shardmap places it on, or every shard's users merged in address
 * order. Blocking; main thread of the CLI only. */
#ifndef KR_CLI_USER_H
#define KR_CLI_USER_H

/* argv[0] is the subcommand ("add", ...). Loads config_path only once
 * the arguments are known to be good. Returns an enum kr_cli_exit;
 * errors go to stderr as one line, results to stdout. Passwords are
 * read from stdin (prompted twice without echo when it is a tty). */
int kr_cli_user_run(const char *config_path, int argc, char **argv);

#endif
