#!/usr/bin/env bash
# One of 20 database nodes stops under load (SPEC.md §6): only its users
# get temporary answers (LMTP 4xx, JSON-RPC -32010), the other users'
# p99 stays within 2x of what it was before the stop, the node's users
# are served again within 5 s of its return, and every acknowledged
# message is in the store, once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
. tests/fault/lib.sh

users=200 seconds=30 stop_at=9 start_at=18
KR_CONF_EXTRA=$'[storage]\ncircuit_probe = 500ms'
kr_stack_start fault-node 17400 20
fault_users $users
victim=$(awk '{ print $2 }' "$KR_WORK/shards" | sort -n | uniq -c | sort -rn | awk 'NR == 1 { print $2 }')
ok "$users users on 20 shards; node $victim (the fullest) will stop"

# Two webmail users: one on the victim's shard, one elsewhere.
in_user=$(fault_shard_users "$victim" | head -1)
out_user=$(awk -v s="$victim" '$2 != s { print $1; exit }' "$KR_WORK/shards")
rpc_load() { # rpc_load USER TRACE: message.list of its INBOX for $seconds
	local u=$1 n=${1#u} tok inbox
	n=${n%%@*}
	tok=$(kr_login "$u" "pw$n")
	inbox=$(kr_rpc "$tok" '{"jsonrpc":"2.0","method":"mailbox.list","id":1}' |
		jq -r '.result[] | select(.name == "INBOX") | .id')
	"$KR_BUILD/bench/rpc" -p "$KR_HTTP" -a "$tok" -m "$inbox" -c 2 \
		-t "$seconds" -O "$2" >"$2.out" 2>&1 || true
}
rpc_load "$in_user" "$KR_WORK/rpc-in" &
rpc_in=$!
rpc_load "$out_user" "$KR_WORK/rpc-out" &
rpc_out=$!
"$KR_BUILD/bench/lmtp" -p "$KR_LMTP" -s 16 -n 1000000 -t "$seconds" \
	-u $users -S 7 -k -o "$KR_WORK/acked" -O "$KR_WORK/trace" \
	>"$KR_WORK/bench.out" 2>&1 &
bench=$!
t0=$(date +%s%N)
at() { # at SECONDS: sleep until that long after the load started
	local ns=$(($1 * 1000000000 - ($(date +%s%N) - t0)))
	((ns > 0)) && sleep "$((ns / 1000000000)).$(printf '%09d' $((ns % 1000000000)))"
	return 0
}
at $stop_at
fault_node_ctl stop "$victim"
t_stop=$((($(date +%s%N) - t0) / 1000000))
at $start_at
fault_node_ctl start "$victim"
t_start=$((($(date +%s%N) - t0) / 1000000))
ok "node $victim down from ${t_stop} ms to ${t_start} ms of the load"
wait "$bench" || true
wait "$rpc_in" "$rpc_out" || true
grep '^lmtp messages=' "$KR_WORK/bench.out" | sed 's/^/  /'

# The trace: "<ms>\t<rcpt>\t<code>\t<latency ms>". Offsets are the
# tool's own (its clock starts a moment after t0): 1 s of slack.
awk 'NR == FNR { shard[$1] = $2; next }
	{ print $0 "\t" shard[$2] }' "$KR_WORK/shards" "$KR_WORK/trace" >"$KR_WORK/trace.s"
bad=$(awk -F'\t' -v v="$victim" '$5 != v && $3 != 250 { print; if (++n == 5) exit }' "$KR_WORK/trace.s")
[[ -z $bad ]] || fail "other users got failures: $bad"
bad=$(awk -F'\t' -v v="$victim" '$5 == v && $3 != 250 && ($3 < 400 || $3 >= 500) { print; if (++n == 5) exit }' "$KR_WORK/trace.s")
[[ -z $bad ]] || fail "the node's users got other than 4xx: $bad"
n_tmp=$(awk -F'\t' -v v="$victim" '$5 == v && $3 >= 400 && $3 < 500' "$KR_WORK/trace.s" | wc -l)
((n_tmp > 0)) || fail "no temporary failure while node $victim was down"
ok "only node $victim's users got temporary failures ($n_tmp, all 4xx)"

# p99 of the other users before the stop and while the node was down.
awk -F'\t' -v v="$victim" -v a=1000 -v b="$t_stop" '$5 != v && $1 >= a && $1 < b { print $4 }' "$KR_WORK/trace.s" >"$KR_WORK/before"
awk -F'\t' -v v="$victim" -v a="$t_stop" -v b="$t_start" '$5 != v && $1 >= a && $1 < b { print $4 }' "$KR_WORK/trace.s" >"$KR_WORK/during"
p_before=$(fault_p99 "$KR_WORK/before")
p_during=$(fault_p99 "$KR_WORK/during")
# Within 2x, with a 5 ms floor for the noise of a shared machine.
awk -v a="$p_before" -v b="$p_during" 'BEGIN { exit !(b <= 2 * a || b <= a + 5) }' ||
	fail "other users' p99 went from $p_before ms to $p_during ms"
ok "other users' p99: $p_before ms before, $p_during ms while the node was down ($(wc -l <"$KR_WORK/during") deliveries)"

# Recovery: the node's users get 250 again within 5 s of its return.
first_ok=$(awk -F'\t' -v v="$victim" -v s="$t_start" '$5 == v && $1 >= s && $3 == 250 { print $1; exit }' "$KR_WORK/trace.s")
[[ -n $first_ok ]] || fail "node $victim's users never served again"
late_fail=$(awk -F'\t' -v v="$victim" -v s="$((t_start + 5000))" '$5 == v && $1 >= s && $3 != 250 { print; if (++n == 3) exit }' "$KR_WORK/trace.s")
[[ -z $late_fail ]] || fail "failures more than 5 s after the node returned: $late_fail"
ok "node $victim's users served again $((first_ok - t_start)) ms after its return"

# JSON-RPC: -32010 for the node's user only, quick, and back after.
codes_in=$(awk '{ print $2 }' "$KR_WORK/rpc-in" | sort | uniq -c | tr '\n' ' ')
codes_out=$(awk '{ print $2 }' "$KR_WORK/rpc-out" | sort | uniq -c | tr '\n' ' ')
# (Each a single awk that stops at the first match: `awk | head -1`
# under pipefail fails when head leaves first and awk gets SIGPIPE.)
has() { awk "$1 { found = 1; exit } END { exit !found }" "$2"; }
has '$2 != 0 && $2 != -32010' "$KR_WORK/rpc-in" &&
	fail "node's webmail user got other errors: $codes_in"
has '$2 == -32010' "$KR_WORK/rpc-in" ||
	fail "node's webmail user never got -32010: $codes_in"
has '$2 != 0' "$KR_WORK/rpc-out" &&
	fail "other webmail user got errors: $codes_out"
slow=$(awk '$2 == -32010 && $3 > 1000 { print; exit }' "$KR_WORK/rpc-in")
[[ -z $slow ]] || fail "-32010 took over a second: $slow"
ok "JSON-RPC: node's user [$codes_in], other user [$codes_out]"

fault_check_acked "$KR_WORK/acked" "$(grep -c . "$KR_WORK/trace")" 80
[[ $(kr_crashes) == 0 ]] || fail "a worker crashed"
ok "no worker crashed"
