/* libFuzzer target for proto/lmtp: feeds the input in pieces whose
 * sizes come from the input's first byte, answers every event with OK
 * (STARTTLS: handshake done) and checks the output stays bounded and
 * the machine never stalls. Small limits so that fuzzing reaches them.
 *
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -I. \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_lmtp.c \
 *     proto/lmtp.c proto/lmtp_cmd.c lib/arena.c lib/err.c -o fuzz_lmtp
 *   ./fuzz_lmtp tests/fuzz/corpus/lmtp
 *
 * tests/unit/test_lmtp.c replays the corpus in the normal test run. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/err.h"
#include "proto/lmtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
fuzz_drain(struct kr_lmtp *s)
{
	const void *out;
	size_t len, total = 0;

	while (kr_lmtp_output(s, &out, &len)) {
		total += len;
		kr_lmtp_output_consume(s, len);
	}
	return total;
}

/* Answers the pending event; false once the session is over. */
static bool
fuzz_answer(struct kr_lmtp *s)
{
	const struct kr_lmtp_event *ev = kr_lmtp_event(s);
	enum kr_lmtp_deliver_result *res;

	switch (ev->kind) {
	case KR_LMTP_EV_RCPT:
		kr_lmtp_answer_rcpt(s, KR_LMTP_RCPT_OK);
		return true;
	case KR_LMTP_EV_MESSAGE:
		if (ev->message.size > 0 && ev->message.data == NULL)
			abort();
		res = kr_xcalloc(ev->message.rcpt_count, sizeof(*res));
		kr_lmtp_answer_message(s, res, ev->message.rcpt_count);
		free(res);
		return true;
	case KR_LMTP_EV_STARTTLS:
		kr_lmtp_tls_started(s);
		return true;
	case KR_LMTP_EV_QUIT:
		return false;
	}
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kr_lmtp_settings set;
	struct kr_lmtp *s;
	size_t pos = 0, piece, out = 0;

	kr_lmtp_settings_init(&set);
	set.hostname = "fuzz.test";
	set.message_max = 1024;
	set.data_line_max = 1000;
	set.line_max = 512;
	set.rcpt_max = 3;
	set.header_max = 10;
	set.starttls = true;
	/* Odd first bytes run with XFORWARD refused, even ones allowed. */
	set.xforward = size == 0 || data[0] % 2 == 0;
	s = kr_lmtp_create(&set);
	piece = size > 0 ? 1 + data[0] % 64 : 1;
	while (pos < size) {
		size_t end = piece >= size - pos ? size : pos + piece;
		size_t used;
		int r = kr_lmtp_feed(s, data + pos, end - pos, &used);

		if (used > end - pos)
			abort();
		pos += used;
		out += fuzz_drain(s);
		if (kr_lmtp_event(s) != NULL) {
			if (!fuzz_answer(s))
				break;
		} else if (r < 0) {
			break;
		} else if (used == 0) {
			abort(); /* no event, output drained: must progress */
		}
	}
	out += fuzz_drain(s);
	/* Every reply answers some input bytes. */
	if (out > 256 * (size + 16))
		abort();
	kr_lmtp_destroy(&s);
	return 0;
}
