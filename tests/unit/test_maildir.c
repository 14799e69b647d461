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
	/* UTF-8 passes through as bytes. */
	assert_int_equal(
		kr_maildir_folder_to_mailbox(".K\xc3\xb6ln", buf, sizeof(buf)),
		0);
	assert_string_equal(buf, "K\xc3\xb6ln");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maildir_name_parse),
		cmocka_unit_test(test_maildir_flags),
		cmocka_unit_test(test_maildir_folders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
