/* `kurier rules check [FILE...]`: reads SpamAssassin rule files with
 * the rules module's parser and tells what would run. Needs no config
 * and no database; main thread of the CLI. */
#ifndef KR_CLI_RULES_H
#define KR_CLI_RULES_H

/* argv[0] is "check"; the rest are files or globs (none: the default
 * glob). Prints per file the rules loaded and every rule skipped with
 * its reason, then totals. Returns an enum kr_cli_exit: 0 when every
 * file parsed (skipped rules are no failure). */
int kr_cli_rules_run(int argc, char **argv);

#endif
