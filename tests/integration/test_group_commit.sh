#!/usr/bin/env bash
# Group commit's bounded wait (issue 12; storage.group_commit_wait,
# storage/store_batch.c) on a running kurierd with a 1-node cluster, so
# every user is on one shard. /metrics shows kurier_store_commit_messages
# (a histogram: _count the kr_deliver_batch calls, _sum their messages)
# and kurier_store_commit_wait_seconds (queued -> sent). Asserted:
# - wait 0 (the fallback): one LMTP session delivering one message after
#   another is one message per call; 16 sessions are grouped only by
#   the in-flight limit;
# - wait 20 ms: the one session still pays no wait (nothing else is at
#   the shard: one message per call, queue wait ~0); 16 sessions share
#   calls: more messages per call than with wait 0, and over 2 (one
#   worker: with two, sessions split unevenly between the workers'
#   queues and the figure says more about the split than the wait).
# Every message of both runs stored (rows in messages); kurierd stops
# with no sanitizer report (an ASan build checks leaks at exit).
# kr-test: serial
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

USERS=16
KR_CONF_EXTRA=$'[storage]\ngroup_commit_wait = 0'
KR_WORKERS=1 # one store: all 16 sessions meet in its shard queue
kr_stack_start gc 15000 1
hash=$(openssl passwd -6 pw) # never used: the users only receive
for ((i = 0; i < USERS; i++)); do
	printf 'u%d@gc.test:{SHA512-CRYPT}%s:::::\n' "$i" "$hash"
done >"$KR_WORK/passwd"
kr_cli user import "$KR_WORK/passwd" >/dev/null

metric() { kr_admin /metrics | awk -v m="$1" '$1 == m { print $2 }'; }
# snap: "calls messages wait_seconds" now.
snap() {
	echo "$(metric kurier_store_commit_messages_count)" \
		"$(metric kurier_store_commit_messages_sum)" \
		"$(metric kurier_store_commit_wait_seconds_sum)"
}
# load SESSIONS MESSAGES SEED: prints the bench line; every one delivered.
load() {
	local out
	out=$("$KR_BUILD/bench/lmtp" -p "$KR_LMTP" -s "$1" -n "$2" -t 30 \
		-m 2048 -u "$USERS" -r 'u%d@gc.test' -S "$3" | tail -1)
	[[ $out == *"messages=$2 "*"failures=0 "* ]] || fail "load $*: $out"
	echo "$out"
}
# per_call BEFORE AFTER: messages per call between two snaps.
per_call() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
		printf "%.2f", (y[2] - x[2]) / (y[1] - x[1]) }'
}
wait_s() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
		printf "%.4f", y[3] - x[3] }'
}
run() { # WAIT: prints "serial_per_call serial_wait_s conc_per_call"
	local s0 s1 s2 out
	s0=$(snap)
	load 1 20 "$1" >/dev/null
	s1=$(snap)
	out=$(load 16 320 "$((1 + $1))")
	s2=$(snap)
	echo "wait $1 us: 1 session: $(per_call "$s0" "$s1") msg/call," \
		"queue wait $(wait_s "$s0" "$s1") s; 16 sessions:" \
		"$(per_call "$s1" "$s2") msg/call; $out" >&2
	echo "$(per_call "$s0" "$s1") $(wait_s "$s0" "$s1") $(per_call "$s1" "$s2")"
}
restart() {
	kill -TERM "$KR_PID"
	wait_for 20 "kurierd to stop" bash -c "! kill -0 $KR_PID 2>/dev/null"
	wait "$KR_PID" 2>/dev/null || true
	KR_CONF_EXTRA=$'[storage]\ngroup_commit_wait = '"$1"
	kr_stack_conf
	kr_stack_run
}

[[ -n $(metric kurier_store_commit_messages_count) ]] ||
	fail "no kurier_store_commit_messages on /metrics"
read -r off_serial _ off_conc < <(run 0)
[[ $off_serial == 1.00 ]] || fail "wait 0, 1 session: $off_serial messages per call"
ok "wait 0: one session one message per call, 16 sessions $off_conc per call"

restart 20000
read -r on_serial on_wait on_conc < <(run 20000)
[[ $on_serial == 1.00 ]] || fail "wait 20 ms, 1 session: $on_serial messages per call"
awk -v w="$on_wait" 'BEGIN { exit !(w < 0.02) }' ||
	fail "wait 20 ms, 1 session: held $on_wait s in all (a lone delivery must not wait)"
ok "wait 20 ms: one session still one message per call, queue wait $on_wait s for 20"
awk -v on="$on_conc" -v off="$off_conc" 'BEGIN { exit !(on > off && on > 2) }' ||
	fail "wait 20 ms, 16 sessions: $on_conc messages per call (wait 0: $off_conc)"
ok "wait 20 ms: 16 sessions on one shard $on_conc messages per call (wait 0: $off_conc)"

# Every message of both runs stored: 2 x (20 + 320) over the users.
total=$(psql -X -qtA "host=$PWD/$KR_STACK_DIR/pg/run port=$KR_PORT dbname=kurier user=kurier" \
	-c "SELECT count(*) FROM messages")
[[ $total -eq 680 ]] || fail "stored $total messages, expected 680"
ok "all 680 messages stored"

# Stopped with deliveries just answered (timers may be armed): under
# ASan, no report from the workers' exit (leak check included).
load 16 160 7 >/dev/null
kill -TERM "$KR_PID"
wait_for 20 "kurierd to stop" bash -c "! kill -0 $KR_PID 2>/dev/null"
if grep -q 'Sanitizer' "$KR_WORK/kurierd.log"; then
	grep -A20 'Sanitizer' "$KR_WORK/kurierd.log" | head -40
	fail "sanitizer report in kurierd.log"
fi
ok "kurierd stopped cleanly"
