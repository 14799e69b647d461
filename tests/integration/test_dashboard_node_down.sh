#!/usr/bin/env bash
# The dashboard's "node down" (issue 11): a PostgreSQL node stopped with
# `pg_ctl stop -m fast` while NO traffic goes to its shard shows as
# kurier_db_circuit_open{shard,node="primary"} > 0 (summed over the
# workers) within 3 s, through the idle connections the pools keep, and
# back to 0 within 5 s after it is started again; and stays > 0 while it
# is down, in the gaps between failed probes too (a probe interval that
# is no multiple of the pools' tick showed them as 0). Prints the times.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

# The defaults first (pool_low 2, circuit_failures 3, circuit_probe 1s).
kr_stack_start storage 18000 3
shard=2
node=$(printf '%s/pg/node%02d' "$KR_STACK_DIR" "$shard")

# The gauge of shard $shard's primary in /metrics (the sum over slots).
circuit() {
	kr_admin /metrics |
		awk -v k="kurier_db_circuit_open{shard=\"$shard\",node=\"primary\"}" \
			'$1 == k { print $2; f = 1 } END { if (!f) print "none" }'
}
idle() {
	kr_admin /metrics |
		awk -v k="kurier_db_pool_idle{shard=\"$shard\",node=\"primary\"}" \
			'$1 == k { print $2 }'
}
node_abs=$PWD/$node
pg_ctl_node() {
	(cd / && setpriv --reuid=postgres --regid=postgres --init-groups -- \
		/usr/lib/postgresql/15/bin/pg_ctl -D "$node_abs" -w "$@") \
		>"$KR_WORK/pg_ctl.out" 2>&1 || fail "pg_ctl $*: $(cat "$KR_WORK/pg_ctl.out")"
}
# Polls every 200 ms for up to $1 s until the gauge satisfies $2 (an
# awk condition on v); prints the milliseconds it took.
poll_ms() {
	local limit_ms=$1 cond=$2 t0 now v
	t0=$(date +%s%N)
	while :; do
		v=$(circuit)
		now=$(date +%s%N)
		if [[ $v != none ]] && awk -v v="$v" "BEGIN { exit !($cond) }"; then
			echo $(((now - t0) / 1000000))
			return 0
		fi
		(((now - t0) / 1000000 < limit_ms)) || {
			echo "timeout (last value $v)"
			return 1
		}
		sleep 0.2
	done
}

four_idle() { [[ $(idle) == 4 ]]; }
# cycle LABEL: stop the node, time "down", start it, time "up".
cycle() {
	# Both workers' low watermarks are open: 2 x pool_low idle.
	wait_for 15 "4 idle connections to shard $shard" four_idle
	[[ $(circuit) == 0 ]] || fail "circuit open before the stop: $(circuit)"
	ok "shard $shard: circuit closed, 4 idle connections, no traffic"

	local t_stop stop_ms down_ms up_ms v
	t_stop=$(date +%s%N)
	pg_ctl_node stop -m fast
	stop_ms=$((($(date +%s%N) - t_stop) / 1000000))
	down_ms=$(poll_ms 10000 'v > 0') || fail "circuit not open 10 s after the stop: $down_ms"
	((down_ms < 3000)) || fail "node shown down after ${down_ms} ms (> 3 s)"
	ok "stopped node shown down ${down_ms} ms after pg_ctl returned (stop took ${stop_ms} ms)"

	# It stays down while stopped (no flapping between probes).
	for _ in $(seq 25); do
		v=$(circuit)
		[[ $v -gt 0 ]] || fail "gauge went back to $v while the node is still down"
		sleep 0.2
	done
	ok "stays down for 5 s of polls while stopped"

	pg_ctl_node start -l "$PWD/$KR_STACK_DIR/pg/log/node0$shard.log"
	up_ms=$(poll_ms 15000 'v == 0') || fail "circuit still open 15 s after the start: $up_ms"
	((up_ms < 5000)) || fail "node shown up after ${up_ms} ms (> 5 s)"
	ok "restarted node shown up ${up_ms} ms after pg_ctl start returned"
	wait_for 10 "4 idle connections again" four_idle
	ok "$1: node down in ${down_ms} ms, up again in ${up_ms} ms"
}

cycle "defaults"
kill -TERM "$KR_PID"
wait "$KR_PID" || fail "kurierd exit status $?"
KR_PID=
KR_CONF_EXTRA=$'[storage]\ncircuit_probe = 700ms'
kr_stack_conf
kr_stack_run
cycle "circuit_probe = 700ms"
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$KR_WORK/kurierd.log" ||
	fail "sanitizer report in kurierd's log"
