#!/usr/bin/env bash
# Streaming replicas behind kurierd (SPEC.md §4, issue 14 item 1): a
# cluster of 4 nodes with one replica each (ops/pgcluster --replicas 1).
# 1. JSON-RPC reads are served by the replicas (their per-node query
#    counters grow, kurierd sessions show in their pg_stat_activity).
# 2. With replay paused on every replica: a delivery is seen by the
#    next message.list (read-your-writes), and a user added on the
#    primary is accepted at RCPT although the replica does not know it
#    (a replica alone never decides a 550). `shard status` shows the lag.
# 3. Failover under load: node00 stopped (-m immediate), its replica
#    promoted; kurierd (not restarted) delivers to that shard again, and
#    every acknowledged message exists exactly once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

NODES=4 RBASE=15620 users=20 sent=600 seed=1414
KR_PGCLUSTER_ARGS="--replicas 1 -P $RBASE"
# A short read-your-writes window, so that part 2 also sees it end; no
# API result cache, so that every read reaches a database node.
KR_CONF_EXTRA=$'[storage]\nread_your_writes = 1s\ncircuit_probe = 200ms\n[cache]\nmax_bytes = 0'
kr_stack_start replicas 15600 "$NODES"
run=$PWD/$KR_STACK_DIR/pg/run
bench=
trap 'if [[ -n $bench ]]; then kill -9 "$bench" 2>/dev/null || true; fi; kr_stack_cleanup' EXIT
psql_at() { # PORT SQL: one value
	psql -X -Atq "host=$run port=$1 dbname=kurier user=kurier connect_timeout=3" -c "$2"
}
as_pg() { if [[ $(id -u) -eq 0 ]]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }
metric_sum() { # NAME NODE: summed over the shards
	kr_admin /metrics | awk -v n="$1" -v node="$2" \
		'index($1, n "{") == 1 && index($1, "node=\"" node "\"") { s += $2 } END { print s + 0 }'
}

grep -c '^replica = ' "$KR_CONF" | grep -qx "$NODES" || fail "config lacks replicas: $(grep shard -A3 "$KR_CONF")"
for ((i = 0; i < NODES; i++)); do
	[[ $(psql_at $((RBASE + i)) 'SELECT pg_is_in_recovery()') == t ]] || fail "replica $i is not in recovery"
	[[ $(psql_at $((15600 + i)) "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'node0${i}_r0'") =~ ^(sync|quorum)$ ]] ||
		fail "node $i has no synchronous replica"
done
ok "pgcluster --replicas 1: $NODES primaries, $NODES hot standbys streaming synchronously"

for i in $(seq 0 $((users - 1))); do echo "pw$i"; done | openssl passwd -6 -stdin |
	awk '{ printf "u%d@bench.test:{SHA512-CRYPT}%s\n", NR - 1, $0 }' >"$KR_WORK/passwd"
kr_cli user import "$KR_WORK/passwd" >/dev/null || fail "user import"
printf 'Subject: hello\r\n\r\nfirst\r\n' >"$KR_WORK/m1"
r=$(perl tests/integration/lmtp_client.pl deliver "$KR_LMTP" u1@bench.test "$KR_WORK/m1") || fail "deliver: $r"
[[ $r == 250* ]] || fail "first delivery: $r"

# ---- 1. reads go to the replicas ---------------------------------------
KR_TOK=$(kr_login u1@bench.test pw1) || fail "login"
inbox=$(kr_mailbox inbox) || fail "no inbox"
# The delivery's read-your-writes window ends first.
sleep 1.2
before=$(metric_sum kurier_db_queries_total replica0)
for _ in $(seq 20); do
	kr_call message.list "{\"mailbox\":$inbox,\"limit\":10}" | jq -e '.result.messages | length == 1' >/dev/null ||
		fail "message.list: $(kr_call message.list "{\"mailbox\":$inbox}")"
done
after=$(metric_sum kurier_db_queries_total replica0)
((after - before >= 20)) || fail "20 message.list calls sent $((after - before)) queries to replicas"
n=0
for ((i = 0; i < NODES; i++)); do
	n=$((n + $(psql_at $((RBASE + i)) "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kurierd'")))
done
((n > 0)) || fail "no kurierd session on any replica"
ok "JSON-RPC reads served by replicas ($((after - before)) queries, $n kurierd sessions on them)"

# ---- 2. lagging replicas ----------------------------------------------
for ((i = 0; i < NODES; i++)); do psql_at $((RBASE + i)) 'SELECT pg_wal_replay_pause()' >/dev/null; done
printf 'Subject: second\r\n\r\nsecond\r\n' >"$KR_WORK/m2"
r=$(perl tests/integration/lmtp_client.pl deliver "$KR_LMTP" u1@bench.test "$KR_WORK/m2") || fail "deliver: $r"
[[ $r == 250* ]] || fail "second delivery: $r"
kr_call message.list "{\"mailbox\":$inbox,\"limit\":10}" |
	jq -e '[.result.messages[].subject] | index("second") != null' >/dev/null ||
	fail "read-your-writes: the delivery is not in the next message.list: $(kr_call message.list "{\"mailbox\":$inbox}")"
ok "read-your-writes: a delivery is in the next message.list while replicas are paused"
# Past the window the (paused) replica answers again: it does not
# have the message, which shows who answered the read above.
sleep 1.5
kr_call message.list "{\"mailbox\":$inbox,\"limit\":10}" |
	jq -e '[.result.messages[].subject] | index("second") == null' >/dev/null ||
	fail "after the read-your-writes window the read did not go to the paused replica"
ok "after the window reads go to the paused replica again (it lacks the message)"

echo pw-late | kr_cli user add late@bench.test >/dev/null || fail "user add late"
on_primary=0 on_replica=0
for ((i = 0; i < NODES; i++)); do
	on_primary=$((on_primary + $(psql_at $((15600 + i)) "SELECT count(*) FROM users WHERE address = 'late@bench.test'")))
	on_replica=$((on_replica + $(psql_at $((RBASE + i)) "SELECT count(*) FROM users WHERE address = 'late@bench.test'")))
done
[[ $on_primary == 1 && $on_replica == 0 ]] || fail "late@: $on_primary on primaries, $on_replica on replicas"
r=$(LMTP_RCPT_ANY=1 perl tests/integration/lmtp_client.pl deliver "$KR_LMTP" late@bench.test "$KR_WORK/m1") || fail "deliver late: $r"
[[ $r == 250* ]] || fail "RCPT of a user the lagging replica does not know: $r (wanted 250, never a 550 from a replica)"
ok "a user only the primary knows is accepted at RCPT (replicas paused): $r"

out=$KR_WORK/status
kr_cli shard status >"$out" || fail "shard status: $(cat "$out")"
[[ $(grep -c ' replica .*role replica.*, lag [0-9]* bytes, replay paused$' "$out") == "$NODES" ]] ||
	fail "shard status does not show $NODES paused replicas with their lag: $(cat "$out")"
grep -q 'lag [1-9][0-9]* bytes' "$out" || fail "no replica lags while paused: $(cat "$out")"
ok "shard status shows the replicas' lag ($(grep -o 'lag [0-9]* bytes' "$out" | sort -u | tr '\n' ' '))"
for ((i = 0; i < NODES; i++)); do psql_at $((RBASE + i)) 'SELECT pg_wal_replay_resume()' >/dev/null; done
caught_up() { kr_cli shard status >"$out" && [[ $(grep -c ', lag 0 bytes$' "$out") == "$NODES" ]]; }
wait_for 15 "replicas caught up (shard status lag 0)" caught_up
ok "after resume shard status shows lag 0 bytes for every replica"

# ---- 3. failover under load -------------------------------------------
pid0=$KR_PID
# The load: ROUNDS bench_lmtp runs of $per messages one after the other
# (distinct seeds, so distinct messages), a short pause between them so
# that the load spans the switch; -k: a session that got a 451 opens
# again and goes on (the message is not retried: only 250s are acked).
rounds=8 per=$((sent / 8))
load() {
	local r
	for ((r = 1; r <= rounds; r++)); do
		"$KR_BUILD/bench/lmtp" -p "$KR_LMTP" -s 4 -n "$per" -t 10 -u "$users" \
			-S $((seed + r)) -k -o "$KR_WORK/acked" || true
		sleep 0.3
	done
}
load >"$KR_WORK/bench.out" 2>&1 &
bench=$!
KR_DIAG+=("$KR_WORK/bench.out" "$KR_STACK_DIR/pg/log/rep00-0.log")
acked() { [[ -f $KR_WORK/acked ]] && wc -l <"$KR_WORK/acked" || echo 0; }
wait_for 30 "100 messages acknowledged" bash -c "[[ -f $KR_WORK/acked && \$(wc -l <$KR_WORK/acked) -ge 100 ]]"
kill -0 "$bench" 2>/dev/null || fail "the load was over before the failover"
as_pg /usr/lib/postgresql/15/bin/pg_ctl stop -m immediate -D "$PWD/$KR_STACK_DIR/pg/node00" >/dev/null ||
	fail "stopping node00"
at_stop=$(acked)
as_pg /usr/lib/postgresql/15/bin/pg_ctl promote -w -t 30 -D "$PWD/$KR_STACK_DIR/pg/rep00-0" >/dev/null ||
	fail "promoting rep00-0"
[[ $(psql_at "$RBASE" 'SELECT pg_is_in_recovery()') == f ]] || fail "rep00-0 not promoted"
kill -0 "$bench" 2>/dev/null || fail "the load was over before the promotion"
at_promote=$(psql_at "$RBASE" 'SELECT count(*) FROM messages')
ok "node00 stopped (immediate) after $at_stop acknowledged messages, rep00-0 promoted"
wait "$bench" || true
bench=
n=0 failures=0 runs=0
while read -r line; do
	runs=$((runs + 1))
	n=$((n + $(sed -n 's/.* messages=\([0-9]*\).*/\1/p' <<<"$line")))
	failures=$((failures + $(sed -n 's/.* failures=\([0-9]*\).*/\1/p' <<<"$line")))
done < <(grep '^lmtp messages=' "$KR_WORK/bench.out")
((runs == rounds)) || fail "$runs of $rounds load rounds reported"
[[ $(acked) == "$n" ]] || fail "$n acknowledged but $(acked) lines in the acked file"
at_end=$(psql_at "$RBASE" 'SELECT count(*) FROM messages')
((at_end > at_promote)) || fail "no delivery reached the promoted node during the load ($at_promote -> $at_end)"
ok "load went on across the failover: $n acknowledged, $failures failed (retried by Postfix), $((at_end - at_promote)) stored on the promoted node after the promotion"

# The promoted node takes deliveries for shard 0 (Postfix would retry
# a 451 during the switch; this retries the same way, bounded).
u0=$(psql_at "$RBASE" "SELECT address FROM users WHERE address LIKE 'u%@bench.test' ORDER BY id LIMIT 1")
[[ -n $u0 ]] || fail "no bench user on shard 0"
before=$(psql_at "$RBASE" "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id WHERE u.address = '$u0'")
r=
for _ in $(seq 30); do
	r=$(perl tests/integration/lmtp_client.pl deliver "$KR_LMTP" "$u0" "$KR_WORK/m1" 2>&1) || true
	[[ $r == 250* ]] && break
	sleep 0.5
done
[[ $r == 250* ]] || fail "no delivery to $u0 (shard 0) after the failover: $r"
after=$(psql_at "$RBASE" "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id WHERE u.address = '$u0'")
((after == before + 1)) || fail "the delivery to $u0 is not on the promoted node ($before -> $after)"
[[ $KR_PID == "$pid0" ]] && kill -0 "$KR_PID" || fail "kurierd is not the one started before the failover"
[[ $(kr_crashes) == 0 ]] || fail "workers crashed"
closed() {
	kr_admin /metrics | awk '$1 == "kurier_db_circuit_open{shard=\"0\",node=\"primary\"}" { f = 1; v = $2 } END { exit !(f && v == 0) }'
}
wait_for 10 "shard 0's primary circuit closed" closed
ok "kurierd (no restart) writes to the promoted primary; its circuit closed again"

# Every acknowledged message exactly once, read from the primaries
# (the checker's config without the replica lines).
grep -v '^replica = ' "$KR_CONF" >"$KR_WORK/primaries.conf"
chk=$KR_BUILD/test-logs/replicas-durability.out
mkdir -p "$(dirname "$chk")"
KR_TEST_PG_CONF=$KR_WORK/primaries.conf KR_TEST_ACKED=$KR_WORK/acked KR_TEST_SENT=$sent \
	KR_TEST_MIN_ACKED_PCT=10 "$KR_BUILD/tests/test_lmtp_durability" >"$chk" 2>&1 || true
t=$(grep -c '^\[ RUN      \]' "$chk" || true)
[[ $t -gt 0 ]] || fail "test_lmtp_durability ran no tests: $(tail -5 "$chk")"
grep -q "^\[  PASSED  \] $t test(s)." "$chk" ||
	fail "durability across the failover: $(grep -E 'FAIL|ERROR|mismatch|missing|twice' "$chk" | head -20)"
ok "every one of the $n acknowledged messages stored exactly once, byte for byte"

st=$(ops/pgcluster status -d "$KR_STACK_DIR" 2>&1 || true)
grep -qx "rep00-0 port $RBASE up (replica of node00, promoted)" <<<"$st" || fail "pgcluster status: $st"
grep -qx 'node00 port 15600 down' <<<"$st" || fail "pgcluster status: $st"
if ops/pgcluster start -n "$NODES" -d "$KR_STACK_DIR" -p 15600 $KR_PGCLUSTER_ARGS >"$KR_WORK/restart.out" 2>&1; then
	fail "pgcluster start brought node00 back next to its promoted replica"
fi
grep -q 'rep00-0 was promoted' "$KR_WORK/restart.out" || fail "pgcluster start: $(cat "$KR_WORK/restart.out")"
ok "pgcluster status shows the promoted replica; start refuses to bring the old primary back"
