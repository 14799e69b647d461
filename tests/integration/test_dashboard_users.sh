#!/usr/bin/env bash
# kurier_db_users{shard="N"} (issue 11): worker 0 counts each shard's
# users every [storage] census_interval (15 s; 1 s here) through the
# connection manager; /metrics shows the sum over the workers' slots,
# which must equal what each node's users table holds after `kurier
# user add`, and follow a deletion.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

KR_CONF_EXTRA=$(printf '[storage]\ncensus_interval = 1s')
kr_stack_start dashusers 18100 3

metric_users() {
	kr_admin /metrics | awk -v k="kurier_db_users{shard=\"$1\"}" '$1 == k { print $2 }'
}
# What node i's users table holds.
node_users() {
	psql -Atq "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + $1)) dbname=kurier user=kurier" \
		-c 'SELECT count(*) FROM users'
}
all_match() {
	local i m
	for i in $(seq 0 $((KR_NODES - 1))); do
		m=$(metric_users "$i")
		[[ -n $m && $m == "$(node_users "$i")" ]] || return 1
	done
}
shown() {
	local i
	for i in $(seq 0 $((KR_NODES - 1))); do
		printf 'shard %s: %s/%s ' "$i" "$(metric_users "$i")" "$(node_users "$i")"
	done
}

[[ $(metric_users 0) == 0 ]] || fail "kurier_db_users{shard=\"0\"} missing or not 0 at start: $(metric_users 0)"
for i in $(seq 9); do echo pw | kr_cli user add "u$i@users.test" >/dev/null; done
total=0
for i in $(seq 0 $((KR_NODES - 1))); do total=$((total + $(node_users "$i"))); done
((total == 9)) || fail "9 users added, the nodes hold $total"
t0=$SECONDS
wait_for 10 "kurier_db_users equal to every node's count ($(shown))" all_match
ok "kurier_db_users matches the nodes after 9 user adds within $((SECONDS - t0)) s: $(shown)"

kr_cli user del u1@users.test >/dev/null
kr_cli user del u2@users.test >/dev/null
t0=$SECONDS
wait_for 10 "kurier_db_users after 2 deletions ($(shown))" all_match
ok "and follows 2 deletions within $((SECONDS - t0)) s: $(shown)"
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$KR_WORK/kurierd.log" ||
	fail "sanitizer report in kurierd's log"
