#!/usr/bin/env bash
# Two hosts, one cluster (issue 14 item 5): kurierd A and B on the same
# cluster with the same [auth] secret and [admin] token, each its own
# ports, serve the same users.
# (a) a session from auth.login on A works on B;
# (b) mail delivered through A's LMTP is listed and read through B's
#     JSON-RPC, after B had cached the empty listing; deliveries through
#     A and B at once get distinct UIDs;
# (c) a flag change through B is seen through A, after A had cached the
#     listing, the message and the mailbox counters;
# (d) a logout through B is honoured by A.
# A host learns of a write made on the other only when its cached entry
# ages out ([cache] ttl, and the session-check cache, both 1 s): each
# step polls the other host for at most STALE_MS and prints how long
# the stale window really was.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

STALE_MS=2500 # 1 s ttl, plus slack for a loaded 2-core machine

kr_stack_start twohosts 19850 2
a_http=$KR_HTTP a_lmtp=$KR_LMTP
b_conf=$KR_WORK/kurier-b.conf
b_ports=$(kr_second_host "$b_conf")
read -r b_admin b_lmtp b_http <<<"$b_ports"
trap 'kr_second_stop TERM; kr_stack_cleanup' EXIT
kr_second_start "$b_conf" "$b_lmtp" "$b_http"
echo pw-alice | kr_cli user add alice@two.test >/dev/null
ok "A (rpc $a_http, lmtp $a_lmtp) and B (rpc $b_http, lmtp $b_lmtp, admin $b_admin) on one cluster"

# call HOST_PORT TOKEN METHOD PARAMS: the response object.
call() {
	curl -sS --max-time 10 -H 'Content-Type: application/json' \
		${2:+-H "Authorization: Bearer $2"} \
		--data-binary "{\"jsonrpc\":\"2.0\",\"method\":\"$3\",\"params\":$4,\"id\":1}" \
		"http://127.0.0.1:$1/rpc"
}
# result HOST_PORT TOKEN METHOD PARAMS: .result, fails on an error.
result() {
	local r
	r=$(call "$@")
	jq -e 'has("result")' <<<"$r" >/dev/null || fail "$3 $4 on port $1: $r"
	jq -c .result <<<"$r"
}
# lmtp_send PORT SUBJECT: one message to alice through that LMTP port.
lmtp_send() {
	local out=$KR_WORK/swaks-$1-$RANDOM.out
	swaks --server 127.0.0.1 --port "$1" --protocol LMTP --from s@ext.test \
		--to alice@two.test --header "Subject: $2" --body "body of $2" >"$out" 2>&1 || true
	grep -q '^<- *250 2.0.0' "$out" || grep -q '250 2.0.0' "$out" ||
		fail "LMTP delivery through $1: $(tail -5 "$out")"
}
# until_ok WHAT COMMAND...: runs COMMAND until it succeeds, at most
# STALE_MS; prints the milliseconds that took (0: true at once).
until_ok() {
	local what=$1 start_ms now
	shift
	start_ms=$(date +%s%3N)
	while ! "$@" >/dev/null 2>&1; do
		now=$(date +%s%3N)
		((now - start_ms < STALE_MS)) || fail "$what: still not seen after $((now - start_ms)) ms"
		sleep 0.05
	done
	echo $(($(date +%s%3N) - start_ms))
}

# (a) A's session on B, both ways round.
tok=$(result "$a_http" "" auth.login '{"user":"alice@two.test","password":"pw-alice"}' | jq -r .session)
[[ -n $tok && $tok != null ]] || fail "no session from A"
inbox=$(result "$b_http" "$tok" mailbox.list '{}' | jq '.[] | select(.role == "inbox") | .id')
[[ -n $inbox ]] || fail "no INBOX through B"
result "$a_http" "$tok" quota.get '{}' >/dev/null
ok "session made on A works on B (INBOX $inbox) and on A"

# (b) B caches the empty listing (each of its workers, a few calls),
# then the message comes through A's LMTP.
for _ in 1 2 3 4; do
	[[ $(result "$b_http" "$tok" message.list "{\"mailbox\":$inbox}" | jq '.messages | length') == 0 ]] ||
		fail "INBOX not empty at first"
done
lmtp_send "$a_lmtp" "via A"
listed_on() { # listed_on PORT SUBJECT
	result "$1" "$tok" message.list "{\"mailbox\":$inbox}" |
		jq -e --arg s "$2" '[.messages[] | select(.subject == $s)] | length == 1'
}
ms=$(until_ok "A's delivery in B's message.list" listed_on "$b_http" "via A")
# B's other worker may still answer from its cache for up to its ttl.
uid=
for _ in $(seq 50); do
	uid=$(result "$b_http" "$tok" message.list "{\"mailbox\":$inbox}" |
		jq '.messages[] | select(.subject == "via A") | .uid')
	[[ -z $uid ]] || break
	sleep 0.1
done
[[ -n $uid ]] || fail "B's workers do not all list A's delivery 5 s after the first did"
msg=$(result "$b_http" "$tok" message.get "{\"mailbox\":$inbox,\"uid\":$uid}")
[[ $(jq -c '[.subject, .from.email, (.text | test("body of via A")), .flags]' <<<"$msg") == \
	'["via A","s@ext.test",true,[]]' ]] || fail "message.get on B: $msg"
ok "delivered through A's LMTP, listed through B after ${ms} ms (B had it cached empty), message.get on B"

# Deliveries through both hosts at once: distinct UIDs, both seen on both.
lmtp_send "$a_lmtp" "both A" &
pa=$!
lmtp_send "$b_lmtp" "both B" &
pb=$!
wait "$pa" || fail "delivery through A"
wait "$pb" || fail "delivery through B"
for h in "$a_http" "$b_http"; do
	until_ok "both deliveries on $h" listed_on "$h" "both B" >/dev/null
	until_ok "both deliveries on $h" listed_on "$h" "both A" >/dev/null
done
uids=$(result "$a_http" "$tok" message.list "{\"mailbox\":$inbox}" | jq -c '[.messages[].uid] | sort')
[[ $(jq 'length == 3 and (unique | length == 3)' <<<"$uids") == true ]] || fail "UIDs: $uids"
ok "deliveries through A and B at once: UIDs $uids, all three on both hosts"

# (c) A caches the listing, the message and the counters; \Seen on B.
unseen() { result "$1" "$tok" mailbox.list '{}' | jq ".[] | select(.id == $inbox) | .unseen"; }
for _ in 1 2 3 4; do
	result "$a_http" "$tok" message.get "{\"mailbox\":$inbox,\"uid\":$uid}" >/dev/null
	[[ $(unseen "$a_http") == 3 ]] || fail "unseen on A before: $(unseen "$a_http")"
done
f=$(result "$b_http" "$tok" message.flags "{\"mailbox\":$inbox,\"uids\":[$uid],\"add\":[\"\\\\Seen\",\"\$two\"]}")
[[ $(unseen "$b_http") == 2 ]] || fail "unseen on B right after its own change: $(unseen "$b_http") ($f)"
flags_on_a() {
	result "$a_http" "$tok" message.list "{\"mailbox\":$inbox}" |
		jq -e ".messages[] | select(.uid == $uid) | .flags | sort == [\"\$two\", \"\\\\Seen\"]"
}
get_on_a() {
	result "$a_http" "$tok" message.get "{\"mailbox\":$inbox,\"uid\":$uid}" |
		jq -e '.flags | sort == ["$two", "\\Seen"]'
}
unseen_on_a() { [[ $(unseen "$a_http") == 2 ]]; }
ms_list=$(until_ok "B's flags in A's message.list" flags_on_a)
ms_get=$(until_ok "B's flags in A's message.get" get_on_a)
ms_mb=$(until_ok "B's flags in A's mailbox counters" unseen_on_a)
ok "flags set through B seen through A: message.list after ${ms_list} ms, message.get +${ms_get} ms, mailbox.list unseen +${ms_mb} ms"

# (d) Logout through B: A refuses the token soon after (the
# session-check cache), B at once.
tok2=$(result "$a_http" "" auth.login '{"user":"alice@two.test","password":"pw-alice"}' | jq -r .session)
for _ in 1 2 3 4; do result "$a_http" "$tok2" quota.get '{}' >/dev/null; done
[[ $(result "$b_http" "$tok2" auth.logout '{}') == true ]] || fail "logout through B"
[[ $(call "$b_http" "$tok2" quota.get '{}' | jq .error.code) == -32001 ]] || fail "B still takes the session"
refused_on_a() {
	local i
	for i in 1 2 3 4; do
		[[ $(call "$a_http" "$tok2" quota.get '{}' | jq .error.code) == -32001 ]] || return 1
	done
}
ms=$(until_ok "logout through B honoured by A" refused_on_a)
result "$a_http" "$tok" quota.get '{}' >/dev/null
ok "logout through B: B refuses at once, A after ${ms} ms; the other session still works"

[[ $(kr_crashes) == 0 ]] || fail "A's workers restarted: $(kr_crashes)"
[[ $(curl -sS --max-time 5 -H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$b_admin/metrics" |
	awk '$1 == "kurier_worker_exits_total{reason=\"crash\"}" { print $2; f = 1 } END { if (!f) print 0 }') == 0 ]] ||
	fail "B's workers restarted"
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$KR_WORK/kurierd.log" "$KR_WORK/kurierd-b.log" ||
	fail "sanitizer report in a kurierd log"
ok "no worker restarts on A or B, no sanitizer report"
