#!/usr/bin/env bash
# The antispam verdict through a running kurierd (issue 10, SPEC.md §5):
# GTUBE is refused with 550 5.7.1 and nothing is stored; a message
# scoring at spam_score lands in Junk with X-Spam-Flag: YES; a clean
# one in INBOX with X-Spam-Status: No; verdict, score, tests and
# generation in the delivery log line and the verdict metrics. Then the
# hot swap under load: three messages held in flight (the test module
# hold, KR_TEST_HOLD_MS) across two reloads finish on generations 1, 2
# and 3, the old generations' modules are unloaded (dlclose logged,
# the private copies gone from the worker's maps), and a module with the
# wrong ABI is refused while deliveries go on. One worker, so that the
# in-flight messages and the reloads meet in one process.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

client() { perl tests/integration/lmtp_client.pl "$@"; }
aux=$(mktemp -d /tmp/kr-antispam.XXXXXX)
chmod 0755 "$aux"
cleanup() {
	rm -rf "$aux"
	kr_stack_cleanup
}
trap cleanup EXIT

mkdir "$aux/modules"
cp "$KR_BUILD/modules/kr_rules.so" "$KR_BUILD/test-modules/kr_hold.so" "$aux/modules/"
cat >"$aux/local.cf" <<'EOF'
body KR_TEST_CHEAP /\bcheap pills\b/i
score KR_TEST_CHEAP 5.5
describe KR_TEST_CHEAP Offers cheap pills
header KR_TEST_SUBJ Subject =~ /\bwinner\b/i
score KR_TEST_SUBJ 1.0
EOF
chmod 0644 "$aux/local.cf"
export KR_TEST_HOLD_MS=3000
KR_WORKERS=1
KR_CONF_EXTRA=$(printf '[antispam]\nenabled = true\nmodules = %s\nrules = %s\nspam_score = 5.0\nreject_score = 15.0\ncheck_timeout = 10s\nreloadable = hold rules' \
	"$aux/modules" "$aux/local.cf")
kr_stack_start antispam 31700 2
trap cleanup EXIT
log=$KR_WORK/kurierd.log
echo pw | kr_cli user add u1@as.test >/dev/null
KR_TOK=$(kr_login u1@as.test pw)
count() { kr_call message.list "{\"mailbox\":$1,\"limit\":200}" | jq "[.result.messages[] | select(.subject == \"$2\")] | length"; }
msg() {
	printf 'From: a@ext.test\r\nTo: u1@as.test\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <%s.%s@ext.test>\r\nSubject: %s\r\n\r\n%s\r\n' \
		"$1" "$RANDOM" "$1" "$2" >"$aux/$1"
	echo "$aux/$1"
}
metric() { kr_admin /metrics | awk -v m="$1" '$1 == m { print $2 }'; }
pid=$(kr_worker_pids)

# ---- 1. the three verdicts ------------------------------------------------
gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
r=$(client deliver "$KR_LMTP" u1@as.test "$(msg gtube "$gtube")")
[[ ${r%%|*} == "550 5.7.1 Message rejected" ]] || fail "GTUBE: [$r]"
r=$(client deliver "$KR_LMTP" u1@as.test "$(msg pills 'buy cheap pills now')")
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "spam: [$r]"
r=$(client deliver "$KR_LMTP" u1@as.test "$(msg hello 'see you at lunch')")
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "ham: [$r]"
junk=$(kr_mailbox junk) || fail "no Junk"
inbox=$(kr_mailbox inbox) || fail "no INBOX"
[[ $(count "$inbox" gtube) == 0 && $(count "$junk" gtube) == 0 ]] || fail "GTUBE was stored"
kr_raw "$junk" pills >"$aux/pills.raw"
grep -q $'^X-Spam-Flag: YES\r$' "$aux/pills.raw" || fail "spam flag: $(grep '^X-Spam' "$aux/pills.raw")"
grep -q $'^X-Spam-Score: 5.5\r$' "$aux/pills.raw" || fail "spam score: $(grep '^X-Spam' "$aux/pills.raw")"
grep -q '^X-Spam-Status: Yes, score=5.5 required=5.0 tests=.*KR_TEST_CHEAP' "$aux/pills.raw" ||
	fail "spam status: $(grep '^X-Spam' "$aux/pills.raw")"
kr_raw "$inbox" hello >"$aux/hello.raw"
grep -q '^X-Spam-Flag' "$aux/hello.raw" && fail "ham flagged"
grep -q $'^X-Spam-Status: No, score=0.0 required=5.0 tests=HOLD\r$' "$aux/hello.raw" ||
	fail "ham status: $(grep '^X-Spam' "$aux/hello.raw")"
grep -q 'event=lmtp.deliver .*status=rejected .*verdict=reject score=1000.0 tests=GTUBE,HOLD generation=1' "$log" ||
	fail "no reject line: $(grep 'event=lmtp.deliver' "$log" | head -3)"
grep -q 'event=lmtp.deliver .*status=delivered .*verdict=spam score=5.5' "$log" ||
	fail "no spam line"
[[ $(metric 'kurier_antispam_verdicts_total{verdict="reject"}') == 1 &&
	$(metric 'kurier_antispam_verdicts_total{verdict="spam"}') == 1 &&
	$(metric 'kurier_antispam_verdicts_total{verdict="ham"}') == 1 ]] ||
	fail "verdict metrics: $(kr_admin /metrics | grep antispam_verdicts)"
kr_admin /metrics >"$aux/metrics"
grep -q '^kurier_antispam_rule_hits_total{rule="GTUBE"} 1$' "$aux/metrics" &&
	grep -q '^kurier_antispam_rule_hits_total{rule="KR_TEST_CHEAP"} 1$' "$aux/metrics" ||
	fail "rule hit metrics: $(kr_admin /metrics | grep rule_hits)"
ok "GTUBE -> 550 5.7.1 (nothing stored, score 1000), cheap pills -> Junk (X-Spam-Flag, 5.5), clean -> INBOX; log and metrics"

# ---- 2. hot swap under load -------------------------------------------------
# Messages marked X-Kr-Hold are held 3 s by the hold module; a
# background load (bounded: 40 messages) keeps delivering meanwhile.
wait_log() { # PATTERN: up to 15 s for a log line after $mark
	for _ in $(seq 150); do
		tail -n "+$((mark + 1))" "$log" | grep -c -- "$1" >/dev/null && return 0
		sleep 0.1
	done
	fail "no log line /$1/"
}
for g in 1 2 3; do echo pw | kr_cli user add "h$g@as.test" >/dev/null; done
load() {
	for i in $(seq 1 40); do
		client deliver "$KR_LMTP" u1@as.test "$(msg "load$i" "load $i")" >>"$aux/load.out" || true
		sleep 0.1
	done
}
mark=$(wc -l <"$log")
load &
load_pid=$!
held=()
for g in 1 2 3; do
	printf 'X-Kr-Hold: yes\r\nSubject: held %s\r\n\r\nheld\r\n' "$g" >"$aux/held$g.eml"
	client deliver "$KR_LMTP" "h$g@as.test" "$aux/held$g.eml" >"$aux/held$g" &
	held+=($!)
	wait_log "event=lmtp.deliver .*rcpt=u1@as.test .*generation=$g "
	sleep 0.3
	if [[ $g -lt 3 ]]; then
		kill -HUP "$KR_PID"
		wait_log "event=antispam.ready generation=$((g + 1))"
	fi
done
[[ $(kr_admin /metrics | awk '$1 == "kurier_antispam_generations_open" { print $2 }') == 3 ]] ||
	fail "three generations should be open: $(kr_admin /metrics | grep generations_open)"
wait "${held[@]}"
for g in 1 2 3; do
	r=$(cat "$aux/held$g")
	[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "held $g: [$r]"
	grep -q "event=lmtp.deliver .*rcpt=h$g@as.test .*generation=$g " "$log" ||
		fail "held $g not on generation $g: $(grep "rcpt=h$g@" "$log")"
done
wait_log 'event=antispam.generation_closed generation=2'
wait_log 'event=antispam.module_unloaded module=hold generation=1'
wait_log 'event=antispam.module_unloaded module=rules generation=2'
maps=$(grep -c 'memfd:hold' "/proc/$(kr_worker_pids)/maps" | head -1 || true)
ino=$(awk '/memfd:hold/ { print $5 }' "/proc/$(kr_worker_pids)/maps" | sort -u | wc -l)
[[ $ino == 1 ]] || fail "old module copies still mapped: $ino ($maps mappings)"
ok "3 held messages finished on generations 1, 2, 3 across two reloads under load; old generations closed, their modules unloaded (one copy mapped)"

# ---- 3. a module with the wrong ABI is refused, deliveries go on -----------
cp "$KR_BUILD/test-modules/kr_badabi.so" "$aux/modules/"
mark=$(wc -l <"$log")
kill -HUP "$KR_PID"
wait_log 'event=antispam.failed generation=3 error=.*filter ABI 2, the host speaks 1'
r=$(client deliver "$KR_LMTP" u1@as.test "$(msg after 'buy cheap pills')")
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "after a refused reload: [$r]"
kr_raw "$junk" after | grep -c '^X-Spam-Flag: YES' >/dev/null || fail "not judged after a refused reload"
[[ $(kr_admin /metrics | awk '$1 == "kurier_antispam_reload_failures_total" { print $2 }') == 1 ]] ||
	fail "reload failure not counted"
rm "$aux/modules/kr_badabi.so"
printf 'not a module\n' >"$aux/modules/kr_broken.so"
kill -HUP "$KR_PID"
wait_log 'event=antispam.failed generation=3 error=.*kr_broken.so'
rm "$aux/modules/kr_broken.so"
kill -HUP "$KR_PID"
wait_log 'event=antispam.ready generation=4'
wait "$load_pid"
loaded=$(grep -c '^250 ' "$aux/load.out" || true)
[[ $loaded == 40 ]] || fail "load: $loaded of 40 delivered: $(sort "$aux/load.out" | uniq -c)"
ok "wrong ABI and a broken file refused (generation 3 stays, error logged and counted); load: 40 of 40 delivered through all reloads"

[[ $(kr_crashes) == 0 && $(kr_worker_pids) == "$pid" ]] || fail "the worker restarted"
ok "no worker restarted"
