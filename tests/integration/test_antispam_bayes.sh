#!/usr/bin/env bash
# Bayes training changes a verdict (issue 10 item 6; SPEC.md §5)
# through a running kurierd with the bayes module and the rules module
# on a small rules file of our own (the stock set takes too long to
# compile for a test): the spam template hits KR_T_PILLS (2.0), under
# spam_score 5, so before training a message of it lands in INBOX.
# The user then moves 8 such messages into Junk (trains spam) and 8
# ham-like ones into Junk and back out (trains spam, then relearns them
# as ham) with JSON-RPC message.move; training is asynchronous, so we
# wait (bounded) for kurier_rpc_train_total after each move. The
# module scores only once a user has >= 5 spam and >= 5 ham
# (KR_BAYES_MIN_TRAINED). Then a new, unseen message of the spam
# template lands in Junk with X-Spam-Flag: YES and BAYES_99 (2.0 + 3.5
# + 0.2 for BAYES_999), and a new ham-like one stays in INBOX with
# BAYES_00. No worker restarts.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

N=8
client() { perl tests/integration/lmtp_client.pl "$@"; }
aux=$(mktemp -d /tmp/kr-antispam-bayes.XXXXXX)
chmod 0755 "$aux"
trap 'rm -rf "$aux"' EXIT

mkdir "$aux/modules" "$aux/rules"
cp "$KR_BUILD/modules/kr_bayes.so" "$KR_BUILD/modules/kr_rules.so" "$aux/modules/"
cat >"$aux/rules/test.cf" <<'EOF'
body KR_T_PILLS /\bcheap pills\b/i
describe KR_T_PILLS Offers cheap pills
score KR_T_PILLS 2.0
EOF
chmod -R a+rX "$aux"
KR_CONF_EXTRA=$(printf '[antispam]\nenabled = true\nmodules = %s\nrules = %s/*.cf\nspam_score = 5\ncheck_timeout = 10s' \
	"$aux/modules" "$aux/rules")
kr_stack_start antispam-bayes 32730 2
trap 'kr_stack_cleanup; rm -rf "$aux"' EXIT
echo pw | kr_cli user add u1@bayes.test >/dev/null
KR_TOK=$(kr_login u1@bayes.test pw)
rpc() { kr_call "$@"; }
inbox=$(kr_mailbox inbox) || fail "no INBOX"
junk=$(kr_mailbox junk) || fail "no Junk mailbox"
# uid MAILBOX SUBJECT: the uid of the message with that subject.
uid() {
	rpc message.list "{\"mailbox\":$1,\"limit\":100}" |
		jq -e ".result.messages[] | select(.subject == \"$2\") | .uid"
}
raw() { kr_raw "$1" "$2" | tr -d '\r'; }
# The X-Spam-Status field, unfolded.
status() { awk '/^X-Spam-Status:/ { s = $0; f = 1; next } f && /^[ \t]/ { s = s $0; next } { f = 0 } END { print s }'; }
words=(alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima)
# spam NAME I / ham NAME I: a message of the template (I varies its words).
spam() {
	printf 'From: deals%s@pills.example\r\nTo: u1@bayes.test\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <%s@pills.example>\r\nSubject: %s\r\n\r\nBuy cheap pills online today, %s. Discount pharmacy offer:\r\nviagra cialis prescription free, limited offer, order now\r\nand save money. Click https://pills.example/%s for the %s deal.\r\n' \
		"$2" "$1" "$1" "${words[$2]}" "${words[$2]}" "${words[$((($2 + 3) % 12))]}" >"$aux/$1"
	echo "$aux/$1"
}
ham() {
	printf 'From: colleague%s@work.example\r\nTo: u1@bayes.test\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <%s@work.example>\r\nSubject: %s\r\n\r\nHi, the minutes of the quarterly project meeting (%s) are\r\nattached; the agenda for Thursday covers the budget review, the\r\nrelease schedule and the %s milestone. Regards, Anna\r\n' \
		"$2" "$1" "$1" "${words[$2]}" "${words[$((($2 + 5) % 12))]}" >"$aux/$1"
	echo "$aux/$1"
}
deliver() {
	local r
	r=$(client deliver "$KR_LMTP" u1@bayes.test "$1")
	[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "deliver $1: [$r]"
}
trained() {
	kr_admin /metrics | awk '$1 == "kurier_rpc_train_total" { n += $2 } END { print n + 0 }'
}
# move FROM TO UIDS-JSON: prints the new uids (JSON array).
move() {
	rpc message.move "{\"mailbox\":$1,\"uids\":$3,\"to\":$2}" |
		jq -ce '[.result.uids[]]' || fail "message.move $1 -> $2 $3"
}
# wait_trained N: until N messages are learned (30 s at most).
wait_trained() {
	local deadline=$((SECONDS + 30))
	while [[ $(trained) -lt $1 ]]; do
		[[ $SECONDS -lt $deadline ]] ||
			fail "$1 messages not trained in 30 s: $(kr_admin /metrics | grep -E '^kurier_(rpc_train|tpool|cpu)' | tr '\n' ' ')"
		sleep 0.1
	done
}

# ---- before training: the spam template is not spam ---------------------
deliver "$(spam probe0 11)"
raw "$inbox" probe0 >"$aux/probe0.raw"
grep -q '^X-Spam-Flag' "$aux/probe0.raw" && fail "untrained probe flagged"
s=$(status <"$aux/probe0.raw")
[[ $s == 'X-Spam-Status: No,'*KR_T_PILLS* && $s != *BAYES_* ]] || fail "untrained probe: $s"
ok "untrained: the spam template scores KR_T_PILLS only, INBOX ($s)"

# ---- training -----------------------------------------------------------
for i in $(seq 0 $((N - 1))); do deliver "$(spam "spam$i" "$i")"; done
uids=$(for i in $(seq 0 $((N - 1))); do uid "$inbox" "spam$i"; done | jq -sc .)
[[ $(jq length <<<"$uids") == "$N" ]] || fail "not all $N spam in INBOX: $uids"
t0=$(trained)
move "$inbox" "$junk" "$uids" >/dev/null
wait_trained $((t0 + N))
ok "$N spam moved into Junk, trained"
for i in $(seq 0 $((N - 1))); do deliver "$(ham "ham$i" "$i")"; done
uids=$(for i in $(seq 0 $((N - 1))); do uid "$inbox" "ham$i"; done | jq -sc .)
[[ $(jq length <<<"$uids") == "$N" ]] || fail "not all $N ham in INBOX: $uids"
juids=$(move "$inbox" "$junk" "$uids")
wait_trained $((t0 + 2 * N))
move "$junk" "$inbox" "$juids" >/dev/null
wait_trained $((t0 + 3 * N))
ok "$N ham moved into Junk and back out, relearned as ham ($(trained) trainings)"
[[ $(rpc message.list "{\"mailbox\":$junk,\"limit\":100}" | jq '.result.messages | length') == "$N" ]] ||
	fail "Junk should hold the $N spam"

# ---- after training: unseen messages ------------------------------------
deliver "$(spam probe1 10)"
uid "$inbox" probe1 >/dev/null && fail "trained spam probe in INBOX"
raw "$junk" probe1 >"$aux/probe1.raw"
grep -q '^X-Spam-Flag: YES$' "$aux/probe1.raw" || fail "no X-Spam-Flag: $(grep '^X-Spam' "$aux/probe1.raw")"
s=$(status <"$aux/probe1.raw")
[[ $s == 'X-Spam-Status: Yes,'*BAYES_99* ]] || fail "trained spam probe: $s"
ok "trained: an unseen spam-template message -> Junk with X-Spam-Flag: YES ($s)"
deliver "$(ham hprobe 11)"
raw "$inbox" hprobe >"$aux/hprobe.raw"
grep -q '^X-Spam-Flag' "$aux/hprobe.raw" && fail "ham probe flagged"
s=$(status <"$aux/hprobe.raw")
[[ $s == 'X-Spam-Status: No,'*BAYES_00* ]] || fail "trained ham probe: $s"
ok "trained: an unseen ham-like message -> INBOX ($s)"

[[ $(kr_crashes) == 0 ]] || fail "a worker crashed"
[[ $(kr_admin /metrics | awk '$1 == "kurier_rpc_train_failed_total" { n += $2 } END { print n + 0 }') == 0 ]] ||
	fail "a training failed"
ok "no worker restarted, no training failed"
