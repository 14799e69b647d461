#!/usr/bin/env bash
# Issue 13, the store's part, against a running kurierd on a real
# 5-node cluster:
#  - a replica's "not found" is never the answer (SPEC.md §4): shard 1
#    lists as its replica a database that lacks its users (node 4,
#    migrated but no shard): RCPT still gets 250, a user that exists
#    nowhere still 550 5.1.1, login works, the session stays valid;
#  - a message whose metadata is over 1 MiB (600 parts with long
#    encoded-word filenames) is stored with its metadata cut: 250, and
#    message.get answers;
#  - kurierd refuses a config whose limits the store cannot honour,
#    naming file:line and key;
#  - mailboxes are capped per user (-32004 past it, exact when creates
#    race), search bounds give -32602;
#  - a statement PostgreSQL refuses is -32603, not -32602;
#  - no worker restarted, worker RSS bounded.
# The unit tests of the same bounds (tests/unit/test_store_bounds.c)
# run first against the same cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

kr_stack_start harden-storage 14400 5
kill -9 "$KR_PID" 2>/dev/null || true
wait "$KR_PID" 2>/dev/null || true
KR_PID=

# ---- 1. the unit tests of the store's bounds on this cluster ----------
out=$KR_BUILD/test-logs/store_bounds.out
mkdir -p "$(dirname "$out")"
KR_TEST_PG_CONF=$PWD/$KR_STACK_DIR/kurier.conf "$KR_BUILD/tests/test_store_bounds" >"$out" 2>&1 ||
	{ cat "$out" >&2; fail "test_store_bounds"; }
n=$(grep -c '^\[       OK \]' "$out" || true)
grep -q SKIPPED "$out" && fail "test_store_bounds skipped tests: $(grep SKIPPED "$out" | head -3)"
[[ $n -ge 11 ]] || fail "test_store_bounds: only $n tests passed"
ok "store bounds unit tests against the cluster ($n tests)"

# ---- kurierd: shards 0-3, shard 1's replica is node 4 ----------------
node4=$(awk '/^\[shard\.4\]/ { s = 1; next } s && /^primary = / { sub(/^primary = /, ""); print; exit }' \
	"$KR_STACK_DIR/kurier.conf")
shard1=$(awk '/^\[shard\.1\]/ { s = 1; next } s && /^primary = / { sub(/^primary = /, ""); print; exit }' \
	"$KR_STACK_DIR/kurier.conf")
[[ -n $node4 && -n $shard1 ]] || fail "no conninfo for nodes 1 and 4"
awk '/^\[shard\.4\]/ { skip = 1 } /^\[/ && !/^\[shard\.4\]/ { skip = 0 } !skip' \
	"$KR_STACK_DIR/kurier.conf" >"$KR_WORK/shards.conf"
cp "$KR_WORK/shards.conf" "$KR_STACK_DIR/kurier.conf"
KR_CONF_EXTRA=$(printf '[shard.1]\nreplica = %s\n' "$node4")
kr_stack_conf
kr_stack_run
ok "kurierd on 4 shards, shard 1 reading from a replica without its users"

psql1() { psql -Atq -v ON_ERROR_STOP=1 "$shard1" "$@"; }
user_on_shard1() { # user_on_shard1 PREFIX: prints an address on shard 1
	local a s
	for i in $(seq 200); do
		a=$1$i@store.test
		s=$(echo "pw-$a" | kr_cli user add "$a" | sed -n 's/.*(shard \([0-9]*\)).*/\1/p')
		[[ $s == 1 ]] && { echo "$a"; return 0; }
		kr_cli user del "$a" >/dev/null
	done
	fail "no address on shard 1"
}
alice=$(user_on_shard1 alice)
# An address of shard 1 that exists nowhere: created (to learn its
# shard) and deleted again.
nobody=$(user_on_shard1 nobody)
kr_cli user del "$nobody" >/dev/null

# LMTP from Python's smtplib: lmtp_rcpt ADDR prints RCPT's code and
# text; lmtp_send ADDR FILE delivers FILE and prints the reply.
lmtp_rcpt() {
	python3 - "$KR_LMTP" "$1" <<'EOF'
import smtplib, sys
c = smtplib.LMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
c.ehlo_or_helo_if_needed()
c.mail("s@ext.test")
code, text = c.rcpt(sys.argv[2])
print(code, text.decode())
c.quit()
EOF
}
lmtp_send() {
	python3 - "$KR_LMTP" "$1" "$2" <<'EOF'
import smtplib, sys
c = smtplib.LMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
refused = c.sendmail("s@ext.test", [sys.argv[2]], open(sys.argv[3], "rb").read())
print("refused" if refused else "250")
c.quit()
EOF
}
replica_queries() {
	kr_admin /metrics | awk '$1 == "kurier_db_queries_total{shard=\"1\",node=\"replica0\"}" { n += $2 } END { print n + 0 }'
}

# ---- 2. RCPT, login and sessions never decided by a replica alone ------
r=$(lmtp_rcpt "$alice")
[[ $r == "250 "* ]] || fail "RCPT $alice through a replica without the user: $r"
r=$(lmtp_rcpt "$nobody")
[[ $r == "550 5.1.1"* ]] || fail "RCPT of a user that exists nowhere: $r"
q=$(replica_queries)
[[ $q -ge 2 ]] || fail "the replica was not asked ($q queries)"
ok "RCPT: 250 for a user the replica lacks, 550 5.1.1 for one that exists nowhere ($q replica reads)"
printf 'From: s@ext.test\r\nTo: %s\r\nSubject: hello\r\n\r\nhi\r\n' "$alice" >"$KR_WORK/small.eml"
[[ $(lmtp_send "$alice" "$KR_WORK/small.eml") == 250 ]] || fail "small delivery"
tok=$(kr_login "$alice" "pw-$alice") || fail "login through a replica without the user"
call() { kr_rpc "$tok" "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1}"; }
result() {
	local r
	r=$(call "$@")
	jq -e 'has("result")' <<<"$r" >/dev/null || fail "$1 $2: $r"
	jq -c .result <<<"$r"
}
code() { call "$@" | jq -r '.error.code // "ok"'; }
inbox=$(result mailbox.list '{}' | jq '.[] | select(.role == "inbox") | .id')
for i in 1 2 3; do
	[[ $(result message.list "{\"mailbox\":$inbox}" | jq '.messages | length') == 1 ]] ||
		fail "message.list $i"
done
ok "login and a session that stays valid over replica reads"

# ---- 3. metadata over 1 MiB: stored cut, never 451 -------------------
# Metadata over 1 MiB, as far as the parser's own bounds allow (1 MiB
# of Content-* fields, 100 addresses a header, 64 KiB of search text):
# 600 parts whose filenames (quoted, RFC 2047 encoded words, RFC 2231)
# are long runs of backslashes, two bytes each in JSON, long To and Cc
# lists of such names, and 64 KiB of search terms (distinct words: the
# terms keep each word once, and backslashes are none).
python3 - "$alice" >"$KR_WORK/parts.eml" <<'EOF'
import base64, sys
out = sys.stdout
def names(tag):
    return ",\r\n ".join('"%s%s%03d" <%s%d@ext.test>' % ("\\\\" * 450, tag, i, tag, i) for i in range(100))
out.write("From: s@ext.test\r\nTo: %s,\r\n %s\r\nCc: %s\r\nSubject: 600 parts\r\n"
          % (sys.argv[1], names("t"), names("c")))
out.write("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")
out.write("--B\r\nContent-Type: text/plain\r\n\r\n")
for i in range(1000):
    out.write(" ".join("w%06d" % (10 * i + k) for k in range(10)) + "\r\n")
for i in range(600):
    if i % 10 == 9:
        disp = "attachment; filename*=UTF-8''" + "%5C" * 150 + "%C3%A9" + "%04d" % i
    elif i % 10 == 4:
        enc = base64.b64encode(("\\\\" * 200 + "%04d" % i).encode()).decode()
        disp = 'attachment; filename="=?UTF-8?B?%s?="' % enc
    else:
        disp = 'attachment; filename="%s%04d"' % ("\\\\" * 800, i)
    out.write("--B\r\nContent-Type: application/x-" + "k" * 230 + "\r\n")
    out.write("Content-Disposition: %s\r\n\r\nABC\r\n" % disp)
out.write("--B--\r\n")
EOF
r=$(lmtp_send "$alice" "$KR_WORK/parts.eml")
[[ $r == 250 ]] || fail "600-part message: $r"
uid=$(result message.list "{\"mailbox\":$inbox}" | jq '.messages[0].uid')
got=$(result message.get "{\"mailbox\":$inbox,\"uid\":$uid}")
[[ $(jq -r .subject <<<"$got") == "600 parts" ]] || fail "message.get subject: $(head -c 300 <<<"$got")"
natt=$(jq '.attachments | length' <<<"$got")
[[ $natt -gt 100 && $natt -lt 600 ]] || fail "attachments listed: $natt (want cut metadata: 100 < n < 600)"
jq -e '.attachments[0].filename | test("^\\\\{800}0000$")' <<<"$got" >/dev/null ||
	fail "first filename: $(jq -c '.attachments[0]' <<<"$got" | head -c 200)"
raw=$(result message.raw "{\"mailbox\":$inbox,\"uid\":$uid}" | jq -r .raw | base64 -d | wc -c)
want=$(wc -c <"$KR_WORK/parts.eml")
[[ $raw -gt $want ]] || fail "message.raw: $raw bytes for a $want-byte message"
grep -q 'lmtp.deliver_failed' "$KR_WORK/kurierd.log" && fail "a delivery failed"
ok "600 parts, metadata over 1 MiB: 250, message.get lists the first $natt attachments, raw whole"

# ---- 4. mailboxes capped per user ---------------------------------------
uid_db=$(psql1 -c "SELECT id FROM users WHERE address = '$alice'")
have=$(psql1 -c "SELECT count(*) FROM mailboxes WHERE user_id = $uid_db")
psql1 -c "INSERT INTO mailboxes (user_id, name, uidvalidity, modseq)
	SELECT $uid_db, 'bulk ' || g, 1, 1 FROM generate_series(1, 10000 - 1 - $have) g"
[[ $(code mailbox.create '{"name":"the last"}') == ok ]] || fail "mailbox 10000"
[[ $(code mailbox.create '{"name":"one too many"}') == -32004 ]] ||
	fail "mailbox 10001: $(call mailbox.create '{"name":"one too many"}')"
psql1 -c "DELETE FROM mailboxes WHERE user_id = $uid_db AND name IN ('bulk 1', 'bulk 2')"
racers=()
for i in 1 2 3 4 5 6; do
	call mailbox.create "{\"name\":\"racer $i\"}" >"$KR_WORK/race.$i" &
	racers+=($!)
done
wait "${racers[@]}" # not kurierd's
oks=$(cat "$KR_WORK"/race.* | jq -r '.error.code // "ok"' | grep -c '^ok$' || true)
quota=$(cat "$KR_WORK"/race.* | jq -r '.error.code // "ok"' | grep -c '^-32004$' || true)
[[ $oks == 2 && $quota == 4 ]] || fail "6 racing creates with room for 2: $oks created, $quota over"
[[ $(psql1 -c "SELECT count(*) FROM mailboxes WHERE user_id = $uid_db") == 10000 ]] ||
	fail "mailbox count after the race"
ok "mailboxes: the 10000th created, the next -32004; 6 racing creates, exactly 2 made it"

# ---- 5. search bounds -----------------------------------------------------
s1000=$(printf 'a%.0s' $(seq 1000))
words32=$(printf 'w%d ' $(seq 32))
[[ $(code message.search "{\"query\":{\"subject\":\"$s1000\"}}") == ok ]] || fail "search subject of 1000 bytes"
[[ $(code message.search "{\"query\":{\"subject\":\"${s1000}a\"}}") == -32602 ]] ||
	fail "search subject of 1001 bytes"
[[ $(code message.search "{\"query\":{\"text\":\"$words32\"}}") == ok ]] || fail "search of 32 words"
[[ $(code message.search "{\"query\":{\"text\":\"$words32 x\"}}") == -32602 ]] || fail "search of 33 words"
ok "search: 1000 bytes and 32 words pass, one more is -32602"

# ---- 6. a statement PostgreSQL refuses is ours: -32603 -----------------
psql1 -c "CREATE OR REPLACE FUNCTION kr_quota(p_user_id bigint)
	RETURNS TABLE (used bigint, quota bigint, messages bigint)
	LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'secret-db-detail'; END \$\$"
r=$(call quota.get '{}')
[[ $(jq .error.code <<<"$r") == -32603 ]] || fail "refused statement: $r"
ok "a statement PostgreSQL refuses answers -32603 (internal), not -32602"

# ---- 7. nothing restarted, memory bounded -------------------------------
[[ $(kr_crashes) == 0 ]] || fail "$(kr_crashes) worker crashes"
peaks=
for p in $(kr_worker_pids); do
	kb=$(kr_hwm_kb "$p")
	[[ $kb -lt 300000 ]] || fail "worker $p peaked at $kb KiB (bound 300000)"
	peaks+=" $kb"
done
ok "no worker restarted; worker peak RSS (KiB):$peaks, bound 300000"

# ---- 8. config limits the store cannot honour: kurierd refuses ---------
kill -TERM "$KR_PID"
wait "$KR_PID" || true
KR_PID=
bad=$KR_WORK/bad.conf
{ cat "$KR_CONF"; printf '[lmtp]\nrcpt_max = 5000\n'; } >"$bad"
line=$(grep -n '^rcpt_max = 5000$' "$bad" | cut -d: -f1)
rc=0
timeout 20 "$KURIERD" -c "$bad" >/dev/null 2>"$KR_WORK/bad.err" || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "kurierd with rcpt_max = 5000: exit $rc"
grep -q "^kurierd: $bad:$line: \[lmtp\] rcpt_max: 5000 is more than" "$KR_WORK/bad.err" ||
	fail "refusal message: $(cat "$KR_WORK/bad.err")"
ok "kurierd refuses rcpt_max = 5000: $(cat "$KR_WORK/bad.err")"
