/* Maildir++ file and folder names (maildir.h). */
#include "proto/maildir.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* In bit order; the letters are alphabetical, so bit order is also
 * Dovecot's order in file names. */
static const struct {
	char letter;
	const char *imap;
} maildir_flags[KR_MAILDIR_SYSTEM_FLAGS] = {
	{ 'D', "\\Draft" }, { 'F', "\\Flagged" }, { 'R', "\\Answered" },
	{ 'S', "\\Seen" },  { 'T', "\\Deleted" },
};

void
kr_maildir_name_parse(const char *name, struct kr_maildir_info *r)
{
	const char *info = strstr(name, ":2,");
	const char *s = strstr(name, ",S=");

	memset(r, 0, sizeof(*r));
	/* ",S=" belongs to the base name, before the info part. */
	if (s != NULL && (info == NULL || s < info) && s[3] >= '0' &&
	    s[3] <= '9') {
		uint64_t n = 0;

		for (s += 3; *s >= '0' && *s <= '9'; s++) {
			if (n > (UINT64_MAX - 9) / 10)
				break;
			n = n * 10 + (uint64_t)(*s - '0');
		}
		r->has_size = true;
		r->size = n;
	}
	if (info == NULL)
		return;
	for (info += 3; *info != '\0' && *info != ','; info++) {
		if (*info >= 'a' && *info <= 'z') {
			r->keywords |= 1u << (*info - 'a');
			continue;
		}
		for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++)
			if (maildir_flags[i].letter == *info)
				r->flags |= 1u << i;
	}
}

const char *
kr_maildir_flag_imap(unsigned i)
{
	return i < KR_MAILDIR_SYSTEM_FLAGS ? maildir_flags[i].imap : NULL;
}

unsigned
kr_maildir_flag_bit(const char *imap_flag)
{
	for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++)
		if (strcasecmp(imap_flag, maildir_flags[i].imap) == 0)
			return 1u << i;
	return 0;
}

int
kr_maildir_info_suffix(unsigned flags, uint32_t keywords, char *buf,
		       size_t size)
{
	size_t n = 0;

	if (size < 4)
		return -1;
	memcpy(buf, ":2,", 3);
	n = 3;
	for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++) {
		if ((flags & (1u << i)) == 0)
			continue;
		if (n + 1 >= size)
			return -1;
		buf[n++] = maildir_flags[i].letter;
	}
	for (unsigned i = 0; i < KR_MAILDIR_KEYWORDS; i++) {
		if ((keywords & (1u << i)) == 0)
			continue;
		if (n + 1 >= size)
			return -1;
		buf[n++] = (char)('a' + i);
	}
	buf[n] = '\0';
	return 0;
}

int
kr_maildir_folder_to_mailbox(const char *dir, char *buf, size_t size)
{
	size_t len = strlen(dir);

	/* ".", "..", "" and names with an empty level (".A..B", ".A.")
	 * are not folders; '/' cannot occur in a directory entry. */
	if (len < 2 || dir[0] != '.' || dir[1] == '.' || dir[len - 1] == '.' ||
	    strstr(dir, "..") != NULL || strchr(dir, '/') != NULL || len > size)
		return -1;
	for (size_t i = 1; i < len; i++)
		buf[i - 1] = dir[i] == '.' ? '/' : dir[i];
	buf[len - 1] = '\0';
	return 0;
}

int
kr_maildir_mailbox_to_folder(const char *name, char *buf, size_t size)
{
	size_t len = strlen(name);

	if (len == 0 || name[0] == '/' || name[len - 1] == '/' ||
	    strstr(name, "//") != NULL || strchr(name, '.') != NULL ||
	    len + 2 > size)
		return -1;
	buf[0] = '.';
	for (size_t i = 0; i < len; i++)
		buf[i + 1] = name[i] == '/' ? '.' : name[i];
	buf[len + 1] = '\0';
	return 0;
}
