#!/usr/bin/env bash
# More than one host on the dashboard (issue 11, SPEC.md §3.3 "/api/hosts
# (every kurierd listed in [admin] peers, each up or down)"): two kurierd
# on ONE cluster, A and B, the same cluster conninfo, [auth] secret and
# [admin] token, their own LMTP, JSON-RPC and admin ports, each with the
# other in [admin] peers.
# (a) A's /api/hosts lists itself first, then B up with B's rates,
#     workers and nodes; B's lists A up;
# (b) B hung (SIGSTOP: its admin port accepts, nothing answers): within
#     5 s A lists B down with "timeout"; B let go: up again;
# (c) B stopped: within 5 s A lists B down with an error; in (b) and (c)
#     A's /api/hosts answers 200 within 1 s all along;
# (d) B started again: A lists B up again.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

kr_stack_start peers 18400 2
a_admin=$KR_ADMIN

# B's config is A's with B's ports; A is restarted with B as its peer.
b_conf=$KR_WORK/kurier-b.conf
b_ports=$(kr_second_host "$b_conf")
read -r b_admin b_lmtp b_http <<<"$b_ports"
trap 'kr_second_stop; kr_stack_cleanup' EXIT
printf '[admin]\npeers = 127.0.0.1:%s\n' "$a_admin" >>"$b_conf"
kill -TERM "$KR_PID"
wait "$KR_PID" 2>/dev/null || true
printf '[admin]\npeers = 127.0.0.1:%s\n' "$b_admin" >>"$KR_CONF"
kr_stack_run
kr_second_start "$b_conf" "$b_http" "$b_admin"
ok "A (admin $a_admin) and B (admin $b_admin) on one cluster"

# hosts ADMIN_PORT: the /api/hosts document of that host.
hosts() {
	curl -sS --max-time 5 -H "Authorization: Bearer $KR_TOKEN" \
		"http://127.0.0.1:$1/api/hosts"
}
# peer_is ADMIN_PORT PEER_PORT up|down: that host lists the peer so.
peer_is() {
	local want=$3
	hosts "$1" | jq -e --arg n "127.0.0.1:$2" --arg w "$want" '
		.hosts | (.[0].self == true) and
		(map(select(.name == $n and .self == false)) | length == 1 and
		 (.[0] | if $w == "up" then
			.up == true and .error == null and
			(.rates | type == "object" and has("lmtp_msgs")) and
			(.workers.total | type == "number") and
			(.nodes.total | type == "number") and
			(.health | type == "string") and
			(.checked_ms | type == "number")
		 else
			.up == false and (.error | type == "string") and
			.rates == null and (.checked_ms | type == "number")
		 end))'
}

# (a) Each lists the other up, with the other's overview parts.
wait_for 10 "A lists B up with rates" peer_is "$a_admin" "$b_admin" up
wait_for 10 "B lists A up with rates" peer_is "$b_admin" "$a_admin" up
hosts "$a_admin" | jq -e '.hosts | length == 2 and .[0].name == "self" and .[0].up == true' >/dev/null ||
	fail "A's hosts: $(hosts "$a_admin")"
ok "A lists self then B up: $(hosts "$a_admin" | jq -c '.hosts[1] | {name, up, health, rates: (.rates | keys | length)}')"

# hosts_while_down WHAT WANT_ERROR: polls A's /api/hosts (each answer
# 200 within 1 s) until it lists B down with WANT_ERROR (any error when
# empty), at most 5 s; prints the milliseconds it took.
hosts_while_down() {
	local what=$1 want=$2 start_ms code doc
	start_ms=$(date +%s%3N)
	while (($(date +%s%3N) - start_ms < 5000)); do
		code=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 \
			-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$a_admin/api/hosts")
		[[ ${code%% *} == 200 ]] || fail "A's /api/hosts answered $code while B was $what"
		awk -v t="${code#* }" 'BEGIN { exit !(t < 1.0) }' ||
			fail "A's /api/hosts took ${code#* }s while B was $what"
		if peer_is "$a_admin" "$b_admin" down >/dev/null; then
			doc=$(hosts "$a_admin")
			[[ -z $want || $(jq -r '.hosts[1].error' <<<"$doc") == "$want" ]] ||
				fail "B $what: want error '$want': $doc"
			echo $(($(date +%s%3N) - start_ms))
			return 0
		fi
		sleep 0.1
	done
	fail "A still lists B up 5 s after B was $what: $(hosts "$a_admin")"
}

# (b) B hangs: its admin accepts (the kernel does) and never answers.
kill -STOP "$KR_B_PID"
took=$(hosts_while_down hung timeout)
ok "B hung: A lists it down (timeout) after ${took} ms, /api/hosts 200 within 1 s throughout"
kill -CONT "$KR_B_PID"
wait_for 10 "A lists B up after SIGCONT" peer_is "$a_admin" "$b_admin" up
ok "B let go: up again"

# (c) B stops: A says so within 5 s, and keeps answering meanwhile.
kr_second_stop TERM
took=$(hosts_while_down stopped "")
ok "B stopped: A lists it down after ${took} ms ($(hosts "$a_admin" | jq -c '.hosts[1].error')), /api/hosts 200 within 1 s throughout"

# (d) B back: up again.
kr_second_start "$b_conf" "$b_http" "$b_admin"
start_ms=$(date +%s%3N)
wait_for 10 "A lists B up again" peer_is "$a_admin" "$b_admin" up
ok "B restarted: A lists it up again after $(($(date +%s%3N) - start_ms)) ms"
[[ $(kr_crashes) == 0 ]] || fail "A's workers restarted: $(kr_crashes)"
ok "no worker restarts on A"

# Both stopped gracefully (A while its poll of B may be in flight): no
# sanitizer report in either log (asan builds; the master frees its
# peer connections on the way out).
kr_second_stop TERM
kill -TERM "$KR_PID"
for _ in $(seq 100); do
	kill -0 "$KR_PID" 2>/dev/null || break
	sleep 0.1
done
! kill -0 "$KR_PID" 2>/dev/null || fail "A did not stop on SIGTERM within 10 s"
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$KR_WORK/kurierd.log" "$KR_WORK/kurierd-b.log" ||
	fail "sanitizer report in a kurierd log"
ok "A and B stopped cleanly, no sanitizer report"
