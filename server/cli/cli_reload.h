/* `kurier reload`: POST /api/reload on the admin port of the running
 * kurierd (address and bearer token from the config), which reloads
 * the config and every worker's filter modules and answers when each
 * worker has reported. Blocking; main thread of the CLI only. */
#ifndef KR_CLI_RELOAD_H
#define KR_CLI_RELOAD_H

/* Prints "reloaded: generation N on K workers", or the error on stderr
 * (exit 1). Returns an enum kr_cli_exit. */
int kr_cli_reload_run(const char *config_path, int argc, char **argv);

#endif
