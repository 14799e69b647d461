#!/usr/bin/env bash
# Pipelined RCPTs (RFC 2920) on a 4-node cluster: kurierd looks the
# recipients up in parallel (server/lmtp/lmtp_rcpts.c) and must still
# answer in command order with each recipient's own code: 5 users on
# every shard, an unknown one (550 5.1.1) in the middle, one past
# [lmtp] rcpt_max (452 4.5.3); DATA in the same write; each user gets
# the message once. Then one shard stopped: 451 4.3.0 for its user
# only, the others delivered. Then sessions that close with look-ups
# in flight: no worker crash (the asan build checks the leaks).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

# The look-ups themselves are under test: no recipient cache (with it,
# a user remembered from the first pipe would be answered 250 at RCPT
# and 451 after DATA once its shard is down; test_lmtp.sh tests the
# cache).
KR_CONF_EXTRA=$'[lmtp]\nrcpt_max = 5\nrcpt_cache_ttl = 0'
kr_stack_start lmtp-rcpt 15400 4

# pipe LINES...: one connection; the greeting, then LHLO, MAIL, the
# given RCPT addresses and DATA in ONE write; then the body and QUIT.
# Prints every final reply line, one per line, in order.
pipe() {
	python3 - "$KR_LMTP" "$@" <<'EOF'
import socket, sys, time
port, subject, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
buf = b""
def finals(n):
    global buf
    out = []
    end = time.time() + 20
    while len(out) < n:
        while b"\n" in buf and len(out) < n:
            line, buf = buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode()
            if len(line) < 4 or line[3] != "-":
                out.append(line)
        if len(out) < n:
            if time.time() > end:
                sys.exit("timeout after %r" % out)
            data = s.recv(65536)
            if not data:
                sys.exit("EOF after %r" % out)
            buf += data
    return out
finals(1)
cmds = "LHLO client.test\r\nMAIL FROM:<s@ext.test>\r\n"
cmds += "".join("RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n"
s.sendall(cmds.encode())
got = finals(3 + len(rcpts))
for l in got[2:]:
    print(l)
if got[-1].startswith("354"):
    body = "Subject: %s\r\n\r\npipelined\r\n.\r\n" % subject
    s.sendall(body.encode())
    for l in finals(sum(1 for l in got[2:-1] if l.startswith("250"))):
        print(l)
s.sendall(b"QUIT\r\n")
finals(1)
EOF
}

# Users until every shard has one; the first user of each shard, then
# a second one, are the 5 recipients (all 4 shards).
declare -A shard_of first
users=()
for i in $(seq 0 40); do
	u="p$i@pipe.test"
	out=$(echo pw | kr_cli user add "$u")
	sh=$(sed -n 's/.*(shard \([0-9]\+\)).*/\1/p' <<<"$out")
	[[ -n $sh ]] || fail "no shard in: $out"
	shard_of[$u]=$sh
	if [[ -z ${first[$sh]:-} ]]; then
		first[$sh]=$u
		users+=("$u")
	elif ((${#users[@]} < 5 && ${#first[@]} == 4)); then
		users+=("$u")
	fi
	((${#first[@]} == 4 && ${#users[@]} >= 5)) && break
done
((${#users[@]} == 5)) || fail "5 users over 4 shards: got ${users[*]}"
out=$(echo pw | kr_cli user add extra@pipe.test)
shard_of[extra@pipe.test]=$(sed -n 's/.*(shard \([0-9]\+\)).*/\1/p' <<<"$out")

count() { # messages of user $1 with subject $2
	local sh=${shard_of[$1]}
	psql -Atq "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + sh)) dbname=kurier user=kurier" \
		-c "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
		    WHERE u.address = '$1' AND m.subject = '$2'"
}

# 1. u0 u1 nobody u2 u3 u4 extra, rcpt_max 5.
got=$(pipe pipe1 "${users[0]}" "${users[1]}" nobody@pipe.test "${users[2]}" \
	"${users[3]}" "${users[4]}" extra@pipe.test) || fail "pipe: $got"
want="250 2.1.5 Ok
250 2.1.5 Ok
550 5.1.1 User unknown
250 2.1.5 Ok
250 2.1.5 Ok
250 2.1.5 Ok
452 4.5.3 Too many recipients
354 Start mail input; end with <CRLF>.<CRLF>
250 2.0.0 Ok
250 2.0.0 Ok
250 2.0.0 Ok
250 2.0.0 Ok
250 2.0.0 Ok"
[[ $got == "$want" ]] || fail "replies out of order or wrong:
$got"
for u in "${users[@]}"; do
	[[ $(count "$u" pipe1) == 1 ]] || fail "$u has $(count "$u" pipe1) pipe1 messages"
done
[[ $(count extra@pipe.test pipe1) == 0 ]] || fail "extra@ got the message past rcpt_max"
ok "7 pipelined RCPTs over 4 shards: replies in order (550 unknown, 452 past rcpt_max), 5 deliveries"

# 2. The shard of users[2] stopped: 451 for that user only.
down=${shard_of[${users[2]}]}
node=$(printf '%s/pg/node%02d' "$PWD/$KR_STACK_DIR" "$down")
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D "$node" -m immediate >/dev/null 2>&1 ||
	/usr/lib/postgresql/15/bin/pg_ctl stop -D "$node" -m immediate >/dev/null
rest=()
for u in "${users[@]}"; do
	[[ ${shard_of[$u]} == "$down" ]] || rest+=("$u")
done
got=$(pipe pipe2 "${rest[0]}" "${users[2]}" "${rest[@]:1}") || fail "pipe: $got"
n=${#rest[@]}
want="250 2.1.5 Ok
451 4.3.0 Mailbox unavailable$(printf '\n250 2.1.5 Ok%.0s' $(seq 2 "$n"))
354 Start mail input; end with <CRLF>.<CRLF>$(printf '\n250 2.0.0 Ok%.0s' $(seq "$n"))"
[[ $got == "$want" ]] || fail "with shard $down down:
$got
want:
$want"
for u in "${rest[@]}"; do
	[[ $(count "$u" pipe2) == 1 ]] || fail "$u has $(count "$u" pipe2) pipe2 messages"
done
ok "shard $down stopped: 451 4.3.0 for ${users[2]} only, $n others delivered"

# 3. Sessions that close with look-ups in flight (some on the stopped
# shard), 20 times: nothing crashes, LMTP still answers.
python3 - "$KR_LMTP" "${users[@]}" <<'EOF'
import socket, sys
port, rcpts = int(sys.argv[1]), sys.argv[2:]
cmds = "LHLO c\r\nMAIL FROM:<s@ext.test>\r\n"
cmds += "".join("RCPT TO:<%s>\r\n" % r for r in rcpts * 2)
for i in range(20):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.recv(512)
    s.sendall(cmds.encode())
    s.close()
EOF
sleep 0.5
got=$(pipe pipe3 "${rest[0]}") || fail "pipe after aborts: $got"
[[ $(tail -1 <<<"$got") == "250 2.0.0 Ok" ]] || fail "after aborted sessions: $got"
[[ $(kr_crashes) == 0 ]] || fail "$(kr_crashes) worker crashes"
ok "20 sessions closed with look-ups in flight: no crash, still delivering"
