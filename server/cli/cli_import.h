/* `kurier user import FILE`: moves a Dovecot passwd-file's users over,
 * keeping their password hashes ({ARGON2ID}, {SHA512-CRYPT} and
 * {BLF-CRYPT}), in set-based batches per shard. Blocking; main thread
 * of the CLI only. */
#ifndef KR_CLI_IMPORT_H
#define KR_CLI_IMPORT_H

/* argv = { "import", FILE } ("-" reads stdin). Each bad line is
 * reported on stderr as "FILE:LINE: reason" and skipped; the summary
 * line goes to stdout. Returns an enum kr_cli_exit: KR_CLI_FAIL when a
 * line was bad or a shard failed (users sent before stay imported). */
int kr_cli_import_run(const char *config_path, int argc, char **argv);

#endif
