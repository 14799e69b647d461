#!/usr/bin/env bash
# LMTP over real sockets against a real 20-node cluster: one message to
# recipients on several shards with mixed per-recipient answers, user+
# detail folders, metadata stored, STARTTLS with a certificate made
# here, limits answered with the right codes. Client: swaks. Then the
# delivery pipeline's own tests (tests/unit/test_deliver) on the cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-lmtp
work=$(mktemp -d /tmp/kr-lmtp.XXXXXX)
chmod 0755 "$work" # kurierd workers run as user kurier and re-read the config
pid=
cleanup() {
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$work" "$dir"
}
trap cleanup EXIT
ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"
KR_DIAG=("$work/kurierd.log")

ops/pgcluster start -n 20 -d "$dir" -p 31400 >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
lmtp=$(free_port)
admin=$(free_port "$lmtp")
{
	printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$(free_port "$lmtp" "$admin")"
	printf '[workers]\ncount = 2\n[admin]\nlisten = 127.0.0.1:%s\n' "$admin"
	printf 'token = %s\n' "$(printf 't%.0s' $(seq 40))"
	printf '[lmtp]\nlisten = 127.0.0.1:%s\nhostname = mx.test\n' "$lmtp"
	printf 'tls_cert = %s\ntls_key = %s\nrcpt_max = 12\nmessage_max = 64K\n' \
		"$work/cert.pem" "$work/key.pem"
	grep -v '^#' "$dir/kurier.conf"
} >"$work/kurier.conf"
cli() { "$KR_BUILD/kurier" -c "$work/kurier.conf" "$@"; }
for i in $(seq 0 9); do echo pw | cli user add "u$i@lmtp.test" >/dev/null; done
echo pw | cli user add full@lmtp.test --quota 100 >/dev/null
"$KURIERD" -c "$work/kurier.conf" >/dev/null 2>"$work/kurierd.log" &
pid=$!
wait_for 15 "LMTP port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$lmtp"

sql_all() { # runs SQL on every node, prints all rows
	for n in $(seq 0 19); do
		psql -Atq "host=$PWD/$dir/pg/run port=$((31400 + n)) dbname=kurier user=kurier" -c "$1"
	done
}
swaks_lmtp() {
	swaks --server 127.0.0.1 --port "$lmtp" --protocol LMTP \
		"$@" 2>&1 || true
}

# 1. One message, 10 known users (several shards), one unknown, one
# over quota: one answer per recipient, in RCPT order.
rcpts=$(printf 'u%d@lmtp.test,' $(seq 0 9))nobody@lmtp.test,full@lmtp.test
swaks_lmtp --from sender@ext.test --to "$rcpts" \
	--header 'Subject: =?ISO-8859-2?Q?Za=BF=F3=B3=E6_g=EA=B6l=B1_ja=BC=F1?=' \
	--body "$(printf 'line %d of a test message\n' $(seq 40))" >"$work/t1"
grep -q '^<\*\* *550 5.1.1' "$work/t1" || grep -q '550 5.1.1' "$work/t1" ||
	fail "no 550 5.1.1 for the unknown user: $(cat "$work/t1")"
[[ $(grep -c '250 2.0.0' "$work/t1") == 10 ]] || fail "want 10 x 250 2.0.0: $(cat "$work/t1")"
grep -q '452 4.2.2' "$work/t1" || fail "no 452 4.2.2 for the full mailbox: $(cat "$work/t1")"
shards=$(sql_all "SELECT count(*) FROM messages" | grep -c '^[1-9]')
[[ $shards -ge 2 ]] || fail "the 10 deliveries landed on $shards shard(s)"
subject=$(sql_all "SELECT DISTINCT subject FROM messages" | sort -u)
[[ $subject == "Zażółć gęślą jaźń" ]] || fail "subject stored as [$subject]"
ok "10 recipients on $shards shards, 550 5.1.1 unknown, 452 4.2.2 over quota; subject decoded"

# 2. user+detail delivers into that folder when it exists, else INBOX.
sql_all "SELECT 1" >/dev/null
swaks_lmtp --from s@ext.test --to u1+Junk@lmtp.test,u1+nosuch@lmtp.test \
	--header 'Subject: detail' --body x >"$work/t2"
[[ $(grep -c '250 2.0.0' "$work/t2") == 2 ]] || fail "detail delivery: $(cat "$work/t2")"
folders=$(sql_all "SELECT b.name FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE m.subject = 'detail' ORDER BY 1")
[[ $(echo $folders) == "INBOX Junk" ]] || fail "detail folders: [$folders]"
ok "user+detail: Junk when it exists, INBOX otherwise"

# 3. Return-Path and Delivered-To are prepended per recipient.
prefix=$(sql_all "SELECT convert_from(prefix, 'UTF8') FROM messages m JOIN users u ON u.id = m.user_id WHERE u.address = 'u3@lmtp.test' LIMIT 1")
grep -q '^Return-Path: <sender@ext.test>' <<<"$prefix" || fail "no Return-Path: [$prefix]"
grep -q '^Delivered-To: u3@lmtp.test' <<<"$prefix" || fail "no Delivered-To: [$prefix]"
ok "Return-Path and Delivered-To prepended"

# 4. STARTTLS with the certificate generated above.
swaks_lmtp --from s@ext.test --to u2@lmtp.test -tls --header 'Subject: tls' \
	--body x >"$work/t4"
grep -q '220 2.0.0' "$work/t4" && grep -q '250 2.0.0' "$work/t4" ||
	fail "STARTTLS delivery: $(cat "$work/t4")"
grep -qi 'TLS started' "$work/t4" || fail "TLS not negotiated: $(cat "$work/t4")"
ok "STARTTLS with a generated certificate, then delivery"

# 5. Limits: a message over message_max gets 552, too many recipients
# 452 4.5.3, and the session stays usable.
big=$(head -c 70000 /dev/zero | tr '\0' 'a' | fold -w 70)
swaks_lmtp --from s@ext.test --to u4@lmtp.test --body "$big" >"$work/t5"
grep -q '552 5.3.4' "$work/t5" || fail "oversized message: $(tail -5 "$work/t5")"
many=$(printf 'u%d@lmtp.test,' 0 1 2 3 4 5 6 7 8 9 0 1)u2@lmtp.test
swaks_lmtp --from s@ext.test --to "$many" --body x >"$work/t6"
grep -q '452 4.5.3' "$work/t6" || fail "13th recipient: $(cat "$work/t6")"
[[ $(grep -c '250 2.0.0' "$work/t6") == 12 ]] || fail "12 recipients at the limit: $(cat "$work/t6")"
ok "552 5.3.4 over message_max, 452 4.5.3 past rcpt_max, the rest delivered"

# 6. Metrics: deliveries counted and the latency histogram filled.
metrics=$(curl -sf -H "Authorization: Bearer $(printf 't%.0s' $(seq 40))" "http://127.0.0.1:$admin/metrics")
grep -q '^kurier_lmtp_recipients_total{result="delivered"} 2[4-9]' <<<"$metrics" ||
	fail "recipient metrics: $(grep lmtp_recipients <<<"$metrics")"
grep -q '^kurier_lmtp_delivery_seconds_count [1-9]' <<<"$metrics" || fail "no latency histogram"
grep -q 'event=lmtp.deliver .*rcpt=u3@lmtp.test status=delivered' "$work/kurierd.log" ||
	fail "no per-recipient log line"
grep -q 'event=lmtp.rcpt rcpt=nobody@lmtp.test status=unknown' "$work/kurierd.log" ||
	fail "RCPT refusal not logged"
grep -q '^kurier_lmtp_recipients_total{result="unknown"} [1-9]' <<<"$metrics" ||
	fail "RCPT refusal not counted"
ok "metrics and one log line per recipient"

# 6b. The recipient cache ([lmtp] rcpt_cache_ttl, 10 s by default): a
# recipient delivered to again is answered from it (six sessions over
# two workers: one worker sees u7 twice); a user deleted, or over quota,
# while remembered is refused after DATA instead of at RCPT, with the
# same reply, and nothing is stored.
for i in 1 2 3 4 5 6; do
	swaks_lmtp --from s@ext.test --to u7@lmtp.test,u8@lmtp.test \
		--body "cached $i" >"$work/t7"
	[[ $(grep -c '250 2.0.0' "$work/t7") == 2 ]] || fail "u7, u8 round $i: $(cat "$work/t7")"
done
metrics=$(curl -sf -H "Authorization: Bearer $(printf 't%.0s' $(seq 40))" "http://127.0.0.1:$admin/metrics")
grep -q '^kurier_lmtp_rcpt_cache_total{result="hit"} [1-9]' <<<"$metrics" ||
	fail "no RCPT answered from the cache: $(grep rcpt_cache <<<"$metrics")"
u7=$(sql_all "SELECT id FROM users WHERE address = 'u7@lmtp.test'")
n8=$(sql_all "SELECT messages FROM users WHERE address = 'u8@lmtp.test'")
cli user del u7@lmtp.test >/dev/null
cli user quota u8@lmtp.test 100 >/dev/null
for i in 1 2 3 4; do
	swaks_lmtp --from s@ext.test --to u7@lmtp.test,u8@lmtp.test,u9@lmtp.test \
		--body "after $i" >"$work/t7"
	grep -q '550 5.1.1' "$work/t7" && grep -q '452 4.2.2' "$work/t7" &&
		[[ $(grep -c '250 2.0.0' "$work/t7") == 1 ]] ||
		fail "deleted u7, full u8, u9 round $i: $(cat "$work/t7")"
done
# A worker that remembered u7 refuses it after DATA once, then forgets
# it: the later sessions are refused at RCPT.
late=$(grep -c 'event=lmtp.deliver .*rcpt=u7@lmtp.test status=unknown' "$work/kurierd.log" || true)
early=$(grep -c 'event=lmtp.rcpt rcpt=u7@lmtp.test status=unknown' "$work/kurierd.log" || true)
((late >= 1 && late <= 2 && late + early == 4)) ||
	fail "u7 refused $late times after DATA and $early at RCPT"
[[ $(sql_all "SELECT count(*) FROM messages WHERE user_id = $u7" | paste -sd+ | bc) == 0 ]] ||
	fail "mail stored for the deleted user $u7"
[[ $(sql_all "SELECT messages FROM users WHERE address = 'u8@lmtp.test'") == "$n8" ]] ||
	fail "mail stored for u8 over quota"
ok "recipient cache: hits counted; deleted and over-quota users refused (550 5.1.1, 452 4.2.2), nothing stored"

# 7. The delivery pipeline without LMTP (server/deliver): its cmocka
# tests on the same cluster, none skipped.
out=$work/test_deliver.out
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf "$KR_BUILD/tests/test_deliver" >"$out" 2>&1 ||
	fail "test_deliver: $(tail -n 20 "$out")"
n=$(grep -c '^\[ RUN      \]' "$out" || true)
grep -q "^\[  PASSED  \] $n test(s)\.$" "$out" ||
	fail "test_deliver: not all $n passed (none may be skipped here)"
ok "delivery pipeline without LMTP: $n tests against the cluster"

kill -TERM "$pid"
wait "$pid" || fail "kurierd exit status $?"
pid=
ok "kurierd drains and exits 0"
