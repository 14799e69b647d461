#!/usr/bin/env bash
# A real Postfix delivering to kurierd over LMTP, against a real 20-node
# cluster. Postfix runs as a private instance (its own config, queue and
# data directories under a temp dir, smtpd on one loopback port, nothing
# else listening) and never touches the system's mail. Checks: SMTP in,
# LMTP out, stored for two users; an unknown user bounces and nothing is
# stored; with the recipient's shard down Postfix keeps the mail deferred
# on kurier's 451 4.3.0 and, once the node is back and the queue flushed,
# delivers it exactly once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-postfix
base_port=30400
work=$(mktemp -d /tmp/kr-postfix.XXXXXX)
# kurierd workers (user kurier) re-read the config; Postfix daemons
# drop to the postfix user: both must reach this directory.
chmod 0755 "$work"
kpid=
cleanup() {
	kr_postfix_stop
	[[ -n $kpid ]] && kill -9 "$kpid" 2>/dev/null || true
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$work" "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"
KR_DIAG=("$work/kurierd.log")
t0=$SECONDS

ops/pgcluster start -n 20 -d "$dir" -p "$base_port" >/dev/null
lmtp=$(free_port)
admin=$(free_port "$lmtp")
{
	printf '[workers]\ncount = 2\n[admin]\nlisten = 127.0.0.1:%s\n' "$admin"
	printf 'token = %s\n' "$(printf 't%.0s' $(seq 40))"
	printf '[lmtp]\nlisten = 127.0.0.1:%s\nhostname = lmtp.kurier.test\n' "$lmtp"
	printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$(free_port "$lmtp" "$admin")"
	grep -v '^#' "$dir/kurier.conf"
} >"$work/kurier.conf"
cli() { "$KR_BUILD/kurier" -c "$work/kurier.conf" "$@"; }
for u in alice bob carol; do echo pw | cli user add "$u@kurier.test" >/dev/null; done
"$KURIERD" -c "$work/kurier.conf" >/dev/null 2>"$work/kurierd.log" &
kpid=$!
wait_for 15 "kurierd LMTP port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$lmtp"

# ---------------------------------------------------- the private Postfix
kr_postfix_start "$work" "lmtp:inet:127.0.0.1:$lmtp"
pf=$KR_PF_CONF smtp=$KR_PF_SMTP mpid=$KR_PF_PID
ok "private Postfix $(postconf -h -c "$pf" mail_version) up, smtpd on 127.0.0.1:$smtp only ($((SECONDS - t0))s)"

node_conn() { echo "host=$PWD/$dir/pg/run port=$((base_port + $1)) dbname=kurier user=kurier"; }
sql_all() { # runs SQL on every node, prints all rows
	local n
	for n in $(seq 0 19); do psql -Atq "$(node_conn "$n")" -c "$1"; done
}
submit() { kr_postfix_submit "$@"; }
stored() { # stored SUBJECT N: exactly N messages rows with that subject
	[[ $(sql_all "SELECT count(*) FROM messages WHERE subject = '$1'" |
		awk '{ s += $1 } END { print s + 0 }') == "$2" ]]
}
logged() { kr_postfix_logged "$@"; }
queue_empty() { kr_postfix_queue_empty; }

# (a) SMTP into Postfix, LMTP out to kurier, stored for both users.
id_a=pfx-a-$$@postfix.test
submit sender@ext.test alice@kurier.test,bob@kurier.test "through postfix $$" "$id_a"
wait_for 20 "two stored copies of the message from Postfix" stored "through postfix $$" 2
rows=$(sql_all "SELECT u.address || ' ' || m.from_email || ' ' || m.message_id FROM messages m
	JOIN users u ON u.id = m.user_id WHERE m.subject = 'through postfix $$'" | sort)
[[ $(grep -c "sender@ext.test .*pfx-a-$$@postfix.test" <<<"$rows") == 2 &&
	$rows == alice@kurier.test*bob@kurier.test* ]] || fail "stored rows: [$rows]"
sent_both() {
	[[ $(grep -cE "to=<(alice|bob)@kurier.test>.*relay=127.0.0.1\[127.0.0.1\]:$lmtp.*status=sent \(250 2.0.0" "$work/maillog") == 2 ]]
}
wait_for 5 "status=sent for alice and bob in the Postfix log" sent_both
ok "(a) SMTP -> Postfix -> LMTP -> kurier: stored for alice and bob, subject and sender filled"

# (b) An unknown user: kurier's 550 5.1.1 makes Postfix bounce it. The
# bounce to sender@ext.test meets the error transport and, having a
# null sender, is dropped: the queue drains.
submit sender@ext.test nobody@kurier.test "to nobody $$" "pfx-b-$$@postfix.test"
wait_for 20 "status=bounced for nobody" logged "to=<nobody@kurier.test>.*status=bounced .*550 5\.1\.1"
stored "to nobody $$" 0 || fail "a message for an unknown user was stored"
wait_for 10 "an empty queue after the bounce" queue_empty
ok "(b) unknown user: kurier 550 5.1.1, Postfix status=bounced, nothing stored"

# (c) Carol's shard down: 451 4.3.0, Postfix keeps the mail deferred.
node=
for n in $(seq 0 19); do
	if [[ -n $(psql -Atq "$(node_conn "$n")" -c "SELECT 1 FROM users WHERE address = 'carol@kurier.test'") ]]; then
		node=$n
	fi
done
[[ -n $node ]] || fail "carol@kurier.test is on no node"
nodedir=$(realpath "$dir/pg/$(printf 'node%02d' "$node")")
(cd / && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$nodedir" \
	stop -m immediate -w) >"$work/pg_ctl.out" 2>&1 || fail "stopping node $node: $(cat "$work/pg_ctl.out")"
id_c=pfx-c-$$@postfix.test
submit sender@ext.test carol@kurier.test "shard down $$" "$id_c"
wait_for 20 "status=deferred with 451 4.3.0 for carol" \
	logged "to=<carol@kurier.test>.*status=deferred .*451 4\.3\.0"
queue=$(postqueue -c "$pf" -p 2>&1)
grep -q 'carol@kurier.test' <<<"$queue" || fail "carol's mail not in the queue: $queue"
ok "(c) shard $node down: kurier 451 4.3.0, Postfix status=deferred, mail queued"

# Restarts just the stopped node (same ports: -p as at first start).
ops/pgcluster start -n 20 -d "$dir" -p "$base_port" >/dev/null
count_c() {
	psql -Atq "$(node_conn "$node")" -c "SELECT count(*) FROM messages WHERE message_id LIKE '%$id_c%'"
}
# Flushed again every 2 s until delivered: a flush that lands while
# kurier's circuit to the node is still open (it probes once a second)
# is deferred again, and Postfix would then wait out its back-off.
next_flush=0
delivered_c() {
	(($(count_c) >= 1)) && return 0
	if ((SECONDS >= next_flush)); then
		postqueue -c "$pf" -f
		next_flush=$((SECONDS + 2))
	fi
	return 1
}
wait_for 20 "carol's deferred mail delivered" delivered_c
wait_for 10 "an empty queue after the retry" queue_empty
logged "to=<carol@kurier.test>.*status=sent \(250 2.0.0" || fail "no status=sent for carol"
# Give a duplicate delivery a chance to show up before counting.
sleep 1
[[ $(count_c) == 1 ]] || fail "carol's message stored $(count_c) times"
[[ $(sql_all "SELECT count(*) FROM messages WHERE message_id LIKE '%$id_c%'" |
	awk '{ s += $1 } END { print s + 0 }') == 1 ]] || fail "carol's message stored on other nodes too"
ok "(c) node back, queue flushed: delivered exactly once, queue empty"

postfix -c "$pf" stop >/dev/null 2>&1 || fail "postfix stop"
wait_for 10 "the private master to exit" bash -c "! kill -0 $mpid"
kill -TERM "$kpid"
wait "$kpid" || fail "kurierd exit status $?"
kpid=
ok "Postfix and kurierd stopped ($((SECONDS - t0))s in all)"
