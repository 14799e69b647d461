#!/usr/bin/env bash
# The operator's whole path (ops/README.md, "From a fresh Debian machine
# to Postfix, two hosts and a replicated cluster"), on one machine:
# 2 primaries with one synchronous streaming replica each (ops/pgcluster
# --replicas 1), kurierd hosts A and B on that cluster (same [auth]
# secret and [admin] token, B lists A in [admin] peers), and a private
# Postfix whose lmtp transport lists both hosts' LMTP ports.
# 1. Mail into Postfix's smtpd goes out through A (first in the list),
#    is stored, and is read through B's JSON-RPC with a session made on A;
#    B's hosts table lists A up.
# 2. A stopped: Postfix delivers through B; B lists A down.
# 3. The shard's primary stopped (-m immediate): the recipient on it is
#    deferred (451), the other shard's one delivered; its replica
#    promoted: the deferred mail and a new one arrive. Every message
#    Postfix was told 250 for is stored exactly once (counted by
#    subject), the same B pids serve, no worker crashed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

NODES=2 PORT=16200 RBASE=16220 dom=walk.test
KR_PGCLUSTER_ARGS="--replicas 1 -P $RBASE"
# Probe a failed node every 200 ms, so the promoted one is found soon.
KR_CONF_EXTRA=$'[storage]\ncircuit_probe = 200ms'
t0=$SECONDS
kr_stack_start walk "$PORT" "$NODES"
a_pid=$KR_PID a_lmtp=$KR_LMTP a_http=$KR_HTTP a_admin=$KR_ADMIN
trap 'kr_postfix_stop; kr_second_stop; kr_stack_cleanup' EXIT
run=$PWD/$KR_STACK_DIR/pg/run
psql_at() { # PORT SQL: the rows, unaligned
	psql -X -Atq "host=$run port=$1 dbname=kurier user=kurier connect_timeout=3" -c "$2"
}
as_pg() { if [[ $(id -u) -eq 0 ]]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }

# ---- the cluster: primaries, replicas, [shard.N] lines ----------------
[[ $(grep -c '^replica = ' "$KR_CONF") == "$NODES" &&
	$(grep -c '^primary = .*target_session_attrs=read-write' "$KR_CONF") == "$NODES" ]] ||
	fail "[shard.N] lines: $(grep -A2 '^\[shard' "$KR_CONF")"
for ((i = 0; i < NODES; i++)); do
	[[ $(psql_at $((RBASE + i)) 'SELECT pg_is_in_recovery()') == t ]] || fail "replica $i is not in recovery"
	[[ $(psql_at $((PORT + i)) 'SELECT sync_state FROM pg_stat_replication') =~ ^(sync|quorum)$ ]] ||
		fail "node $i has no synchronous replica"
done
kr_cli shard status >"$KR_WORK/status" || fail "shard status: $(cat "$KR_WORK/status")"
[[ $(grep -c ' replica .*role replica.*, lag [0-9]* bytes' "$KR_WORK/status") == "$NODES" ]] ||
	fail "shard status lacks the replicas' lag: $(cat "$KR_WORK/status")"
ok "cluster: $NODES primaries, $NODES synchronous hot standbys; shard status shows their lag"

# Users until each shard has one: ua on shard 0 (the one that fails
# over), ub on shard 1.
ua='' ub=''
for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
	echo pw | kr_cli user add "u$n@$dom" >/dev/null
	[[ -z $ua && -n $(psql_at "$PORT" "SELECT 1 FROM users WHERE address = 'u$n@$dom'") ]] && ua=u$n@$dom
	[[ -z $ub && -n $(psql_at $((PORT + 1)) "SELECT 1 FROM users WHERE address = 'u$n@$dom'") ]] && ub=u$n@$dom
	[[ -n $ua && -n $ub ]] && break
done
[[ -n $ua && -n $ub ]] || fail "12 users and no one on each shard ($ua, $ub)"

# ---- host B: A's config with its own ports, A as its peer -------------
b_conf=$KR_WORK/kurier-b.conf
read -r b_admin b_lmtp b_http <<<"$(kr_second_host "$b_conf")"
printf '[admin]\npeers = 127.0.0.1:%s\n' "$a_admin" >>"$b_conf"
kr_second_start "$b_conf" "$b_lmtp" "$b_http" "$b_admin"
b_pid=$KR_B_PID
b_get() { curl -sS --max-time 5 -H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$b_admin$1"; }
b_workers() { b_get /api/workers | jq -r '[.workers[].pid] | sort | join(" ")'; }
b_workers_up() { [[ $(b_get /api/workers | jq '.workers | length') == 2 ]]; }
wait_for 10 "B's workers listed" b_workers_up
b_w0=$(b_workers)
ok "A (lmtp $a_lmtp, rpc $a_http) and B (lmtp $b_lmtp, rpc $b_http, workers $b_w0) on one cluster"

# ---- Postfix: the lmtp nexthop lists both hosts -----------------------
pfdir=$KR_WORK/postfix
mkdir -p "$pfdir"
chmod 0755 "$pfdir"
# Postfix strips "inet:" from the whole nexthop only: later elements
# are bare [address]:port ("inet:" there is taken for a host name).
kr_postfix_start "$pfdir" "lmtp:inet:[127.0.0.1]:$a_lmtp, [127.0.0.1]:$b_lmtp" "$dom"
ok "private Postfix on 127.0.0.1:$KR_PF_SMTP, virtual_transport = $(postconf -h -c "$KR_PF_CONF" virtual_transport) ($((SECONDS - t0))s)"

# sent_via QID RCPT LMTP_PORT: Postfix logged that recipient of that
# queue file as delivered with a 250 from kurier through that port.
sent_via() {
	kr_postfix_logged "$1: to=<$2>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$3, .*status=sent \(250 2\.0\.0"
}
# Flushes the queue every 2 s while waiting (as test_postfix.sh does): a
# retry that meets kurier's circuit still open is deferred again.
next_flush=0
sent_flushing() {
	sent_via "$@" && return 0
	if ((SECONDS >= next_flush)); then
		postqueue -c "$KR_PF_CONF" -f
		next_flush=$((SECONDS + 2))
	fi
	return 1
}
# JSON-RPC on one host: result PORT TOKEN METHOD PARAMS prints .result.
result() {
	local r
	r=$(curl -sS --max-time 10 -H 'Content-Type: application/json' ${2:+-H "Authorization: Bearer $2"} \
		--data-binary "{\"jsonrpc\":\"2.0\",\"method\":\"$3\",\"params\":$4,\"id\":1}" \
		"http://127.0.0.1:$1/rpc")
	jq -e 'has("result")' <<<"$r" >/dev/null || fail "$3 $4 on port $1: $r"
	jq -c .result <<<"$r"
}
# subjects_on_b WANT: ua's INBOX through B lists exactly these subjects
# (sorted, comma-separated); no test failure on an error (it is polled).
subjects_on_b() {
	[[ $(curl -sS --max-time 5 -H 'Content-Type: application/json' -H "Authorization: Bearer $tok" \
		--data-binary "{\"jsonrpc\":\"2.0\",\"method\":\"message.list\",\"params\":{\"mailbox\":$inbox,\"limit\":50},\"id\":1}" \
		"http://127.0.0.1:$b_http/rpc" | jq -r '[.result.messages[].subject] | sort | join(",")') == "$1" ]]
}
peer_a() { # B's hosts table lists A up|down
	b_get /api/hosts | jq -e --arg n "127.0.0.1:$a_admin" --arg w "$1" \
		'.hosts | map(select(.name == $n and .self == false and .up == ($w == "up"))) | length == 1'
}

# ---- 1. through A, read on B ------------------------------------------
kr_postfix_submit sender@ext.test "$ua,$ub" "walk 1" "walk-1-$$@postfix.test"
q1=$KR_PF_QID
wait_for 20 "mail 1 sent to $ua through A" sent_via "$q1" "$ua" "$a_lmtp"
wait_for 5 "mail 1 sent to $ub through A" sent_via "$q1" "$ub" "$a_lmtp"
tok=$(result "$a_http" "" auth.login "{\"user\":\"$ua\",\"password\":\"pw\"}" | jq -r .session)
[[ -n $tok && $tok != null ]] || fail "no session from A"
inbox=$(result "$b_http" "$tok" mailbox.list '{}' | jq '.[] | select(.role == "inbox") | .id')
[[ -n $inbox ]] || fail "no INBOX through B"
wait_for 5 "mail 1 listed through B" subjects_on_b "walk 1"
uid=$(result "$b_http" "$tok" message.list "{\"mailbox\":$inbox}" | jq '.messages[0].uid')
msg=$(result "$b_http" "$tok" message.get "{\"mailbox\":$inbox,\"uid\":$uid}")
[[ $(jq -c '[.subject, .from.email, (.text | test("sent through Postfix"))]' <<<"$msg") == \
	'["walk 1","sender@ext.test",true]' ]] || fail "message.get on B: $msg"
wait_for 10 "B's hosts table listing A up" peer_a up
ok "1. smtpd -> Postfix -> A's LMTP -> shards; session from A reads it through B; B lists A up"

# ---- 2. A stopped: Postfix goes on through B --------------------------
[[ $(kr_crashes) == 0 ]] || fail "A's workers crashed: $(kr_crashes)"
kill -TERM "$a_pid"
a_gone() { [[ ! -e /proc/$a_pid || $(awk '{ print $3 }' "/proc/$a_pid/stat" 2>/dev/null) == Z ]]; }
wait_for 30 "A to exit after SIGTERM" a_gone
rc=0
wait "$a_pid" || rc=$?
KR_PID=
((rc == 0)) || fail "A exited with status $rc"
kr_postfix_submit sender@ext.test "$ua" "walk 2" "walk-2-$$@postfix.test"
q2=$KR_PF_QID
wait_for 20 "mail 2 sent through B" sent_flushing "$q2" "$ua" "$b_lmtp"
wait_for 5 "mail 2 listed through B" subjects_on_b "walk 1,walk 2"
wait_for 10 "B's hosts table listing A down" peer_a down
ok "2. A stopped (exit 0): Postfix delivered through B ($(grep -c "connect to 127.0.0.1\[127.0.0.1\]:$a_lmtp: Connection refused" "$KR_PF_DIR/maillog" || true) refused connects to A logged); B lists A down"

# ---- 3. shard 0's primary lost, its replica promoted ------------------
as_pg /usr/lib/postgresql/15/bin/pg_ctl stop -m immediate -D "$PWD/$KR_STACK_DIR/pg/node00" >/dev/null ||
	fail "stopping node00"
kr_postfix_submit sender@ext.test "$ua,$ub" "walk 3" "walk-3-$$@postfix.test"
q3=$KR_PF_QID
wait_for 20 "mail 3 sent to $ub (shard 1 is up)" sent_via "$q3" "$ub" "$b_lmtp"
wait_for 20 "mail 3 deferred for $ua (451 4.3.0)" \
	kr_postfix_logged "$q3: to=<$ua>, .*status=deferred .*451 4\.3\.0"
ok "3. node00 stopped: mail 3 delivered to $ub, deferred for $ua with 451 4.3.0"
as_pg /usr/lib/postgresql/15/bin/pg_ctl promote -w -t 30 -D "$PWD/$KR_STACK_DIR/pg/rep00-0" >/dev/null ||
	fail "promoting rep00-0"
[[ $(psql_at "$RBASE" 'SELECT pg_is_in_recovery()') == f ]] || fail "rep00-0 not promoted"
wait_for 30 "mail 3 delivered to $ua on the promoted node" sent_flushing "$q3" "$ua" "$b_lmtp"
kr_postfix_submit sender@ext.test "$ua" "walk 4" "walk-4-$$@postfix.test"
q4=$KR_PF_QID
wait_for 20 "mail 4 delivered to $ua" sent_flushing "$q4" "$ua" "$b_lmtp"
wait_for 10 "an empty Postfix queue" kr_postfix_queue_empty
ok "3. rep00-0 promoted: the deferred mail 3 and a new mail 4 delivered through B"

# Every 250 Postfix logged is one stored message, counted by subject on
# the nodes that now hold each user (the promoted one for ua).
count() { # PORT USER SUBJECT
	psql_at "$1" "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
		WHERE u.address = '$2' AND m.subject = '$3'"
}
[[ $(grep -c 'status=sent (250 2\.0\.0' "$KR_PF_DIR/maillog") == 6 ]] ||
	fail "Postfix logged $(grep -c 'status=sent (250 2\.0\.0' "$KR_PF_DIR/maillog") deliveries, want 6"
for s in "walk 1" "walk 2" "walk 3" "walk 4"; do
	[[ $(count "$RBASE" "$ua" "$s") == 1 ]] || fail "$ua has '$s' $(count "$RBASE" "$ua" "$s") times on the promoted node"
done
for s in "walk 1" "walk 3"; do
	[[ $(count $((PORT + 1)) "$ub" "$s") == 1 ]] || fail "$ub has '$s' $(count $((PORT + 1)) "$ub" "$s") times"
done
[[ $(count $((PORT + 1)) "$ub" "walk 2") == 0 ]] || fail "$ub got mail 2"
wait_for 10 "all four listed through B" subjects_on_b "walk 1,walk 2,walk 3,walk 4"
ok "all 6 acknowledged deliveries stored exactly once; B lists $ua's four"

[[ -e /proc/$b_pid && $KR_B_PID == "$b_pid" ]] || fail "B's master is gone"
[[ $(b_workers) == "$b_w0" ]] || fail "B's workers changed: $b_w0 -> $(b_workers)"
[[ $(b_get /metrics | awk '$1 == "kurier_worker_exits_total{reason=\"crash\"}" { print $2; f = 1 } END { if (!f) print 0 }') == 0 ]] ||
	fail "B's workers crashed"
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$KR_WORK/kurierd.log" "$KR_WORK/kurierd-b.log" ||
	fail "sanitizer report in a kurierd log"
ok "same B master and workers ($b_w0) throughout, no crash, no sanitizer report ($((SECONDS - t0))s in all)"
kr_postfix_stop
kr_second_stop TERM
