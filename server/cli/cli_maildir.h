/* `kurier import maildir ADDRESS DIR` and `kurier export maildir
 * ADDRESS DIR` (SPEC.md §3.4): a user's mail from and to a Maildir++
 * tree in Dovecot's layout (INBOX in DIR, folders in DIR/.A.B, flags
 * in file names, internal dates as mtimes, keywords in each folder's
 * dovecot-keywords), through the store's blocking admin part
 * (storage/store_admin.h), one message in memory at a time. Main
 * thread of the CLI only. */
#ifndef KR_CLI_MAILDIR_H
#define KR_CLI_MAILDIR_H

/* argv = { "maildir", ADDRESS, DIR }. Messages go in in Dovecot's uid
 * order (each folder's dovecot-uidlist), files it does not list after
 * them by name (arrival time first). A progress line "imported N/M
 * messages" goes to stderr at most once a second, the summary to
 * stdout. A message that cannot be imported (over the message size
 * limit, unreadable) is reported and skipped; the exit is then
 * KR_CLI_FAIL after the rest was imported. Stops at the first store
 * error (over quota, a shard down): the messages before stay. */
int kr_cli_maildir_import_run(const char *config_path, int argc, char **argv);
/* argv = { "maildir", ADDRESS, DIR }. DIR must not exist or be
 * empty. Files are written in DIR's tmp/ and renamed into cur/ with
 * their mtime set, so a reader never sees half a message. */
int kr_cli_maildir_export_run(const char *config_path, int argc, char **argv);

#endif
