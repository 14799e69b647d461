#!/usr/bin/env bash
# Integration test of ops/pgcluster: a 20-node cluster in its own DIR and
# port range (var/test-pgcluster, 11000..11019), so a dev cluster on the
# default ports is never touched. Prints `ok - ...` per check and stops at
# the first failure.
# kr-test: release-only
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.."
REPO=$(pwd -P)
PGC=$REPO/ops/pgcluster
DIR=$REPO/var/test-pgcluster
BASE=11000
N=20
RUN=$DIR/pg/run
PSQL=/usr/lib/postgresql/15/bin/psql
CONF=$DIR/kurier.conf
OUT=$(mktemp)
FAKE_PID=
PASSED=0

cleanup() {
	local rc=$?
	[[ -n $FAKE_PID ]] && kill "$FAKE_PID" 2>/dev/null || true
	"$PGC" stop -d "$DIR" >/dev/null 2>&1 || true
	rm -f -- "$OUT"
	if ((PASSED)); then
		rm -rf -- "$DIR"
	elif ((rc != 0)); then
		echo "# cluster stopped; logs kept in $DIR/pg/log" >&2
	fi
}
trap cleanup EXIT

fail() {
	printf 'not ok - %s\n' "$*"
	if [[ -s $OUT ]]; then
		sed 's/^/# /' "$OUT"
	fi
	exit 1
}

ok() {
	printf 'ok - %s\n' "$*"
}

pgc() {
	"$PGC" "$@" -d "$DIR" -p "$BASE" >"$OUT" 2>&1
}

elapsed() {
	awk -v a="$1" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'
}

node() {
	printf 'node%02d' "$1"
}

pid_of() {
	head -n1 "$DIR/pg/$(node "$1")/postmaster.pid"
}

all_pids() {
	local i
	for ((i = 0; i < N; i++)); do
		pid_of "$i"
	done
}

# Runs one query on node $1; $2 = tcp|unix.
query() {
	local host=127.0.0.1
	[[ $2 == unix ]] && host=$RUN
	"$PSQL" -h "$host" -p "$((BASE + $1))" -U kurier -d kurier -XAtq \
		-v ON_ERROR_STOP=1 -c "$3"
}

# status must exit $1 with $2 nodes reported up and $3 down.
expect_status() {
	local rc=0 up down
	"$PGC" status -d "$DIR" >"$OUT" 2>&1 || rc=$?
	((rc == $1)) || fail "status exited $rc, want $1"
	up=$(grep -c ' up$' "$OUT" || true)
	down=$(grep -c ' down$' "$OUT" || true)
	((up == $2 && down == $3)) || fail "status: $up up, $down down; want $2 up, $3 down"
}

shard_count() {
	grep -cE '^\[shard\.[0-9]+\]$' "$CONF" || true
}

# Leftovers of an interrupted earlier run.
"$PGC" stop -d "$DIR" >/dev/null 2>&1 || true
rm -rf -- "$DIR"

# --- usage
for args in "" "bogus" "start -n" "start -n 0" "start -n x" "status -p 80" \
	"start extra" "stop -q"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting wanted
	"$PGC" $args >"$OUT" 2>&1 || rc=$?
	((rc == 2)) || fail "'pgcluster $args' exited $rc, want 2"
	grep -q '^usage:' "$OUT" || fail "'pgcluster $args' printed no usage"
done
ok "bad usage exits 2 with a usage message"

rc=0
"$PGC" status -d "$DIR" >"$OUT" 2>&1 || rc=$?
((rc == 1)) || fail "status without a cluster exited $rc, want 1"
ok "status without a cluster exits 1"

# --- fresh start
t0=${EPOCHREALTIME/,/.}
pgc start -n "$N" || fail "fresh start failed"
FRESH=$(elapsed "$t0")
grep -q "^pgcluster: $N nodes up on 127.0.0.1:$BASE-$((BASE + N - 1)) (sockets in $RUN) in " "$OUT" ||
	fail "unexpected start summary: $(cat "$OUT")"
ok "fresh start of $N nodes in ${FRESH}s"
expect_status 0 "$N" 0
ok "status reports $N nodes up, exit 0"

# --- every node answers and is durable
for ((i = 0; i < N; i++)); do
	got=$(query "$i" tcp "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')") ||
		fail "psql over TCP to $(node "$i") failed"
	[[ $got == "on|on|on" ]] || fail "$(node "$i"): fsync|synchronous_commit|full_page_writes = $got"
done
ok "all $N nodes answer over TCP with fsync, synchronous_commit, full_page_writes on"
for i in 0 $((N - 1)); do
	got=$(query "$i" unix "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('port')") ||
		fail "psql over the unix socket to $(node "$i") failed"
	[[ $got == "on|on|$((BASE + i))" ]] || fail "$(node "$i") over unix socket: $got"
done
ok "nodes answer over the unix socket in $RUN"
got=$(query 3 tcp "SELECT current_user || ' ' || current_setting('listen_addresses') || ' ' || current_setting('shared_buffers')")
[[ $got == "kurier 127.0.0.1 16MB" ]] || fail "node03 user/listen/shared_buffers: $got"
ok "superuser kurier, listen 127.0.0.1, shared_buffers 16MB"

# --- kurier.conf
[[ -f $CONF ]] || fail "$CONF not written"
(($(shard_count) == N)) || fail "kurier.conf has $(shard_count) [shard.N] sections, want $N"
for ((i = 0; i < N; i++)); do
	grep -qxF "primary = host=$RUN port=$((BASE + i)) dbname=kurier user=kurier connect_timeout=2" "$CONF" ||
		fail "kurier.conf lacks the primary of shard.$i"
done
ok "kurier.conf has $N [shard.N] sections with socket conninfo"
conninfo=$(awk '/^\[shard\.7\]$/ { s = 1; next } s && /^primary = / { sub(/^primary = /, ""); print; exit }' "$CONF")
got=$("$PSQL" "$conninfo" -XAtqc "SELECT current_setting('port')") ||
	fail "psql with the conninfo of shard.7 failed"
[[ $got == $((BASE + 7)) ]] || fail "shard.7 conninfo reached port $got"
ok "the conninfo of [shard.7] connects to node07"

# --- start again is a no-op
before=$(all_pids)
pgc start -n "$N" || fail "second start failed"
[[ $(all_pids) == "$before" ]] || fail "second start changed postmaster pids"
expect_status 0 "$N" 0
ok "start on a running cluster is a no-op (same postmaster pids)"

# --- foreign lines in kurier.conf survive
{
	printf '; admin note: keep me\n'
	cat "$CONF"
	printf '\n[admin]\ntoken = test-token-3f9a\n'
} >"$CONF.new"
mv "$CONF.new" "$CONF"
pgc start -n "$N" || fail "start after editing kurier.conf failed"
first=$(cat "$CONF")
pgc start -n "$N" || fail "start after editing kurier.conf failed"
[[ $(cat "$CONF") == "$first" ]] || fail "rewriting kurier.conf is not idempotent"
(($(shard_count) == N)) || fail "kurier.conf has $(shard_count) [shard.N] sections after rewrite"
grep -qx '; admin note: keep me' "$CONF" || fail "foreign comment lost"
grep -qx 'token = test-token-3f9a' "$CONF" || fail "admin token lost"
grep -qx '\[admin\]' "$CONF" || fail "[admin] section lost"
ok "kurier.conf rewrite keeps foreign lines and is idempotent"

# --- stop
pgc stop || fail "stop failed"
expect_status 3 0 "$N"
ok "stop; status reports all down, exit 3"
[[ -z $(find "$DIR/pg" -maxdepth 2 -name postmaster.pid) ]] || fail "postmaster.pid left after stop"
pgc stop || fail "stop of a stopped cluster failed"
ok "stop of a stopped cluster exits 0"

# --- warm start keeps data and config
t0=${EPOCHREALTIME/,/.}
pgc start -n "$N" || fail "warm start failed"
WARM=$(elapsed "$t0")
expect_status 0 "$N" 0
grep -qx 'token = test-token-3f9a' "$CONF" || fail "admin token lost over restart"
(($(shard_count) == N)) || fail "kurier.conf has $(shard_count) [shard.N] sections after restart"
ok "warm start of $N nodes in ${WARM}s; foreign kurier.conf lines survive a restart"

# --- kill -9 one postmaster: committed data survives, start recovers it
query 5 tcp "CREATE TABLE t(v text); INSERT INTO t VALUES ('kept')" >/dev/null ||
	fail "write to node05 failed"
before=$(all_pids)
victim=$(pid_of 5)
kill -9 "$victim"
# Dead once a zombie: init may reap it late, which start must cope with.
for ((k = 0; k < 50; k++)); do
	state=$(awk '{ print $3 }' "/proc/$victim/stat" 2>/dev/null || true)
	[[ -z $state || $state == Z ]] && break
	sleep 0.05
done
expect_status 3 $((N - 1)) 1
grep -qx 'node05 port 11005 down' "$OUT" || fail "status does not report node05 down"
ok "kill -9 of node05's postmaster; status reports it down, exit 3"
pgc start -n "$N" || fail "start after kill -9 failed"
grep -q 'node05: removing stale postmaster.pid' "$OUT" || fail "no stale pid removed for node05"
expect_status 0 "$N" 0
after=$(all_pids)
[[ $(pid_of 5) != "$victim" ]] || fail "node05 has its old pid"
diff <(sed 6d <<<"$before") <(sed 6d <<<"$after") >/dev/null ||
	fail "start after kill -9 restarted other nodes"
got=$(query 5 tcp "SELECT v FROM t") || fail "node05 query after recovery failed"
[[ $got == kept ]] || fail "node05 lost a committed row: '$got'"
ok "start recovers the killed node (stale pid) and keeps its committed data"

# --- a postmaster.pid naming a live non-postgres process
pgc stop || fail "stop failed"
sleep 60 &
FAKE_PID=$!
printf '%s\n%s\n' "$FAKE_PID" "$DIR/pg/node03" >"$DIR/pg/node03/postmaster.pid"
expect_status 3 0 "$N"
pgc start -n "$N" || fail "start with a recycled pid in node03/postmaster.pid failed"
expect_status 0 "$N" 0
[[ $(pid_of 3) != "$FAKE_PID" ]] || fail "node03 still names the fake pid"
kill "$FAKE_PID"
FAKE_PID=
ok "start replaces a postmaster.pid whose pid belongs to another process"

# --- final stop and removal
pgc stop || fail "final stop failed"
expect_status 3 0 "$N"
rm -rf -- "$DIR"
rc=0
"$PGC" status -d "$DIR" >"$OUT" 2>&1 || rc=$?
((rc == 1)) || fail "status after removal exited $rc, want 1"
ok "stopped and removed $DIR"
PASSED=1
echo "# start times: fresh ${FRESH}s, warm ${WARM}s"
