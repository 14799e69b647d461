/* Maildir++ names as Dovecot writes them (its default layout and '.'
 * hierarchy separator): the flags in a message file's name
 * ("<base>:2,<flags>", flags D F R S T then keyword letters a-z, each
 * at most once) and its ",S=<size>" field, and folder directory names
 * (".A.B") against kurier mailbox names ("A/B"). Pure functions, any
 * thread; nothing allocated. */
#ifndef KR_MAILDIR_H
#define KR_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The system flags a Maildir file name carries. */
enum kr_maildir_flag {
	KR_MAILDIR_DRAFT = 1 << 0,    /* D \Draft */
	KR_MAILDIR_FLAGGED = 1 << 1,  /* F \Flagged */
	KR_MAILDIR_ANSWERED = 1 << 2, /* R \Answered */
	KR_MAILDIR_SEEN = 1 << 3,     /* S \Seen */
	KR_MAILDIR_DELETED = 1 << 4,  /* T \Deleted */
};
#define KR_MAILDIR_SYSTEM_FLAGS 5
#define KR_MAILDIR_KEYWORDS 26 /* letters a..z (dovecot-keywords) */

struct kr_maildir_info {
	unsigned flags;	   /* enum kr_maildir_flag bits */
	uint32_t keywords; /* bit i: letter 'a' + i */
	bool has_size;	   /* ",S=<size>" was in the name */
	uint64_t size;
};

/* Reads a message file's name. Unknown flag letters (other info
 * versions, upper-case letters Dovecot does not define) are ignored,
 * as Dovecot does. Never fails: a name without ":2," has no flags. */
void kr_maildir_name_parse(const char *name, struct kr_maildir_info *r);

/* The IMAP name ("\\Seen") of system flag i (0..KR_MAILDIR_SYSTEM_FLAGS
 * - 1, in bit order), and back: the bit of an IMAP system flag (any
 * case), 0 when flag is not one of the five. */
const char *kr_maildir_flag_imap(unsigned i);
unsigned kr_maildir_flag_bit(const char *imap_flag);

/* ":2,<letters>" for flags and keywords into buf, letters in Dovecot's
 * order (system flags alphabetical, then a..z). -1 when buf (at least
 * 4 + 5 + 26 bytes suffices) is too small. */
int kr_maildir_info_suffix(unsigned flags, uint32_t keywords, char *buf,
			   size_t size);

/* A folder's directory name (".A.B", the leading dot included) as a
 * mailbox name ("A/B", modified UTF-7 decoded to UTF-8) into buf; -1
 * when it is not a folder name (no leading dot, "." or "..", an empty
 * level, a '/', bytes outside printable ASCII, bad modified UTF-7) or
 * buf is too small. */
int kr_maildir_folder_to_mailbox(const char *dir, char *buf, size_t size);
/* A mailbox name ("A/B", UTF-8) as a folder directory name (".A.B",
 * modified UTF-7); -1 when it cannot be one (empty level, a '.' in a
 * level, an empty name, invalid UTF-8) or buf is too small. */
int kr_maildir_mailbox_to_folder(const char *name, char *buf, size_t size);

#endif
