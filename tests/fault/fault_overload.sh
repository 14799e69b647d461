#!/usr/bin/env bash
# Ten times the load on both protocols at once (SPEC.md §6): excess
# work is shed early with temporary answers (LMTP 421/451/452, JSON-RPC
# -32011) instead of queueing, the workers' memory stays flat, and the
# service recovers by itself when the load drops: afterwards normal
# traffic is served without errors at close to its old rate. Every
# acknowledged message is stored.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
. tests/fault/lib.sh

users=200
# Small pools and queues, so the overload reaches them on 2 cores; the
# cache off, so every API call reaches the database.
KR_CONF_EXTRA=$'[storage]\npool_high = 4\npool_queue = 16\npool_queue_timeout = 500ms\n[cache]\nmax_bytes = 0'
kr_stack_start fault-over 17600 20
fault_users $users
tok=$(kr_login u0@bench.test pw0)
inbox=$(kr_rpc "$tok" '{"jsonrpc":"2.0","method":"mailbox.list","id":1}' |
	jq -r '.result[] | select(.name == "INBOX") | .id')

# load NAME SESSIONS CONNS SECONDS SEED: LMTP and JSON-RPC side by side.
load() {
	"$KR_BUILD/bench/lmtp" -p "$KR_LMTP" -s "$2" -n 1000000 -t "$4" \
		-u $users -S "$5" -k -o "$KR_WORK/acked" -O "$KR_WORK/$1.lmtp" \
		>"$KR_WORK/$1.lmtp.out" 2>&1 &
	local l=$!
	"$KR_BUILD/bench/rpc" -p "$KR_HTTP" -a "$tok" -m "$inbox" -c "$3" \
		-t "$4" -O "$KR_WORK/$1.rpc" >"$KR_WORK/$1.rpc.out" 2>&1 || true
	wait "$l" || true
	grep -h '^lmtp messages=\|^rpc requests=' "$KR_WORK/$1.lmtp.out" "$KR_WORK/$1.rpc.out" | sed 's/^/  /'
}
rate() { sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$KR_WORK/$1.out"; }

load base 8 4 8 11
hwm_base=$(fault_workers_hwm)
ok "normal load: LMTP $(rate base.lmtp)/s, JSON-RPC $(rate base.rpc)/s, worker peak RSS ${hwm_base} KiB"

load over 80 40 12 12
hwm_over=$(fault_workers_hwm)
codes_l=$(awk '{ print $3 }' "$KR_WORK/over.lmtp" | sort | uniq -c | tr '\n' ' ')
codes_r=$(awk '{ print $2 }' "$KR_WORK/over.rpc" | sort | uniq -c | tr '\n' ' ')
ok "10x load: LMTP answers [$codes_l], JSON-RPC answers [$codes_r]"
bad=$(awk '$3 != 250 && $3 != 421 && $3 != 451 && $3 != 452 { print; if (++n == 3) exit }' "$KR_WORK/over.lmtp")
[[ -z $bad ]] || fail "LMTP answered other than 250/421/451/452 under overload: $bad"
bad=$(awk '$2 != 0 && $2 != -32011 { print; if (++n == 3) exit }' "$KR_WORK/over.rpc")
[[ -z $bad ]] || fail "JSON-RPC answered other than a result or -32011 under overload: $bad"
# Shed early: a refusal comes fast, not after a queue's worth of waiting.
slow_no=$(awk '$3 != 250 && $4 > 2000' "$KR_WORK/over.lmtp" | wc -l)
((slow_no == 0)) || fail "$slow_no LMTP refusals took over 2 s"
slow_no=$(awk '$2 != 0 && $3 > 1000' "$KR_WORK/over.rpc" | wc -l)
((slow_no == 0)) || fail "$slow_no JSON-RPC refusals took over 1 s"
# Flat memory: the peak under 10x stays within 64 MiB of the normal one.
((hwm_over <= hwm_base + 65536)) ||
	fail "worker peak RSS grew from $hwm_base to $hwm_over KiB under overload"
ok "refusals fast; worker peak RSS $hwm_base -> $hwm_over KiB"

sleep 2
load after 8 4 8 13
codes_l=$(awk '$3 != 250' "$KR_WORK/after.lmtp" | wc -l)
codes_r=$(awk '$2 != 0' "$KR_WORK/after.rpc" | wc -l)
((codes_l == 0 && codes_r == 0)) || fail "errors after the overload: LMTP $codes_l, JSON-RPC $codes_r"
awk -v a="$(rate base.lmtp)" -v b="$(rate after.lmtp)" 'BEGIN { exit !(b >= a / 2) }' ||
	fail "LMTP did not recover: $(rate base.lmtp)/s before, $(rate after.lmtp)/s after"
ok "recovered by itself: LMTP $(rate after.lmtp)/s, JSON-RPC $(rate after.rpc)/s, no errors"

fault_check_acked "$KR_WORK/acked" "$(cat "$KR_WORK"/*.lmtp | grep -c .)" 10
[[ $(kr_crashes) == 0 ]] || fail "a worker crashed"
ok "no worker crashed"
