/* cmocka tests for proto/maildir: Dovecot's Maildir++ file names
 * (flags, keywords, ",S=") and folder names both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto/maildir.h"

static void
test_maildir_name_parse(void **state)
{
	struct kr_maildir_info i;

	(void)state;
	kr_maildir_name_parse("1700000000.M1P2.host,S=294,W=307:2,FSa", &i);
	assert_int_equal(i.flags, KR_MAILDIR_FLAGGED | KR_MAILDIR_SEEN);
	assert_int_equal(i.keywords, 1);
	assert_true(i.has_size);
	assert_int_equal(i.size, 294);
	/* Every letter once, in any order; unknown ones ignored. */
	kr_maildir_name_parse("x:2,zTSRFDQa", &i);
	assert_int_equal(i.flags, (1u << KR_MAILDIR_SYSTEM_FLAGS) - 1);
	assert_int_equal(i.keywords, (1u << 25) | 1u);
	assert_false(i.has_size);
	/* In new/, no info part: no flags. */
	kr_maildir_name_parse("1700000000.M1P2.host,S=42", &i);
	assert_int_equal(i.flags, 0);
	assert_int_equal(i.size, 42);
	/* Info version 1 is not flags; ",S=" after the info is not the
	 * size; a size that overflows stops where it would. */
	kr_maildir_name_parse("x:1,S", &i);
	assert_int_equal(i.flags, 0);
	kr_maildir_name_parse("x:2,S,S=5", &i);
	assert_int_equal(i.flags, KR_MAILDIR_SEEN);
	assert_false(i.has_size);
	kr_maildir_name_parse("x,S=99999999999999999999999:2,", &i);
	assert_true(i.has_size);
	assert_true(i.size < UINT64_MAX);
	kr_maildir_name_parse("x,S=:2,", &i);
	assert_false(i.has_size);
}

static void
test_maildir_flags(void **state)
{
	char buf[64];

	(void)state;
	for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++)
		assert_int_equal(kr_maildir_flag_bit(kr_maildir_flag_imap(i)),
				 1u << i);
	assert_null(kr_maildir_flag_imap(KR_MAILDIR_SYSTEM_FLAGS));
	assert_int_equal(kr_maildir_flag_bit("\\SEEN"), KR_MAILDIR_SEEN);
	assert_int_equal(kr_maildir_flag_bit("\\Recent"), 0);
	assert_int_equal(kr_maildir_flag_bit("$Label1"), 0);
	assert_int_equal(
		kr_maildir_info_suffix(KR_MAILDIR_SEEN | KR_MAILDIR_DRAFT,
				       (1u << 2) | 1u, buf, sizeof(buf)),
		0);
	assert_string_equal(buf, ":2,DSac");
	assert_int_equal(kr_maildir_info_suffix(0, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, ":2,");
	/* Exactly enough room, and one byte less. */
	assert_int_equal(kr_maildir_info_suffix(KR_MAILDIR_SEEN, 1, buf, 6), 0);
	assert_string_equal(buf, ":2,Sa");
	assert_int_equal(kr_maildir_info_suffix(KR_MAILDIR_SEEN, 1, buf, 5),
			 -1);
	assert_int_equal(kr_maildir_info_suffix(0, 0, buf, 3), -1);
}

static void
test_maildir_folders(void **state)
{
	static const char *const bad_dirs[] = { ".",   "..",	"...",
						"x",   ".A..B", ".A.",
						"cur", "",	"..A" };
	static const char *const bad_names[] = { "", "/A", "A/", "A//B",
						 "A.B" };
	char buf[16];

	(void)state;
	assert_int_equal(
		kr_maildir_folder_to_mailbox(".Work.Sub", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Work/Sub");
	assert_int_equal(
		kr_maildir_mailbox_to_folder("Work/Sub", buf, sizeof(buf)), 0);
	assert_string_equal(buf, ".Work.Sub");
	for (size_t i = 0; i < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++)
		assert_int_equal(kr_maildir_folder_to_mailbox(bad_dirs[i], buf,
							      sizeof(buf)),
				 -1);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		assert_int_equal(kr_maildir_mailbox_to_folder(bad_names[i], buf,
							      sizeof(buf)),
				 -1);
	/* At the buffer's size, and one over. */
	assert_int_equal(kr_maildir_folder_to_mailbox(".abc", buf, 4), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(kr_maildir_folder_to_mailbox(".abcd", buf, 4), -1);
	assert_int_equal(kr_maildir_mailbox_to_folder("ab", buf, 4), 0);
	assert_string_equal(buf, ".ab");
	assert_int_equal(kr_maildir_mailbox_to_folder("abc", buf, 4), -1);
	/* Bytes outside printable ASCII are not Dovecot's on disk. */
	assert_int_equal(
		kr_maildir_folder_to_mailbox(".K\xc3\xb6ln", buf, sizeof(buf)),
		-1);
}

/* Modified UTF-7 (RFC 3501 5.1.3) both ways, as Dovecot writes it. */
static void
test_maildir_utf7(void **state)
{
	static const struct {
		const char *dir, *name;
	} cases[] = {
		{ ".K&APY-ln", "K\xc3\xb6ln" },
		{ ".A&-B", "A&B" },
		{ ".&-", "&" },
		{ ".&ZeVnLIqe-.Sub",
		  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/Sub" },
		/* U+1F4E8: a surrogate pair */
		{ ".&2D3c6A-", "\xf0\x9f\x93\xa8" },
		{ ".Gr&APwA3w-e", "Gr\xc3\xbc\xc3\x9f"
				  "e" },
	};
	static const char *const bad_dirs[] = {
		".&APY",   /* no '-' */
		".&AP*-",  /* not modified base64 */
		".&-&",	   /* a lone '&' at the end */
		".&AGE-",  /* printable ASCII encoded */
		".&2D0-",  /* a high surrogate alone */
		".&3OgA-", /* a low surrogate alone */
		".&APZ-",  /* leftover bits not zero */
		".&-",	   /* empty run: fine, see below */
	};
	static const char *const bad_names[] = {
		"\xc3",		/* cut short */
		"\xc0\xaf",	/* overlong */
		"\xed\xa0\x80", /* a surrogate */
		"\xff",
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(kr_maildir_folder_to_mailbox(cases[i].dir, buf,
							      sizeof(buf)),
				 0);
		assert_string_equal(buf, cases[i].name);
		assert_int_equal(kr_maildir_mailbox_to_folder(cases[i].name,
							      buf, sizeof(buf)),
				 0);
		assert_string_equal(buf, cases[i].dir);
	}
	for (size_t i = 0; i + 1 < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++)
		assert_int_equal(kr_maildir_folder_to_mailbox(bad_dirs[i], buf,
							      sizeof(buf)),
				 -1);
	assert_int_equal(
		kr_maildir_folder_to_mailbox(".&-a&-", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "&a&");
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		assert_int_equal(kr_maildir_mailbox_to_folder(bad_names[i], buf,
							      sizeof(buf)),
				 -1);
	/* "&" takes two bytes on disk: ".&-" and its NUL need 4. */
	assert_int_equal(kr_maildir_mailbox_to_folder("&", buf, 4), 0);
	assert_int_equal(kr_maildir_mailbox_to_folder("&", buf, 3), -1);
	/* U+00F6 is ".&APY-": 7 bytes with the NUL. */
	assert_int_equal(kr_maildir_mailbox_to_folder("\xc3\xb6", buf, 7), 0);
	assert_int_equal(kr_maildir_mailbox_to_folder("\xc3\xb6", buf, 6), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maildir_name_parse),
		cmocka_unit_test(test_maildir_flags),
		cmocka_unit_test(test_maildir_folders),
		cmocka_unit_test(test_maildir_utf7),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
