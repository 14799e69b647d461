#!/usr/bin/env bash
# kurierd supervisor over real sockets: workers listed and replaced after
# SIGKILL, counters keep counting, reload, cycling, restart intensity
# (never exits), clean SIGTERM. Uses its own config and free ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=$(mktemp -d /tmp/kr-kurierd.XXXXXX)
chmod 0755 "$dir" # workers run as user kurier and re-read the config
pid=
cleanup() {
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
	pkill -9 -P "${pid:-0}" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
KR_DIAG=("$dir/log" "$dir/out")

port=$(free_port)
lmtp_port=$(free_port "$port")
rpc_port=$(free_port "$port" "$lmtp_port")
base="http://127.0.0.1:$port"

write_conf() { # extra [workers] lines as arguments
	{
		echo "[workers]"
		echo "count = 2"
		for l in "$@"; do echo "$l"; done
		echo "[admin]"
		echo "listen = 127.0.0.1:$port"
		echo "[lmtp]"
		echo "listen = 127.0.0.1:$lmtp_port"
		echo "[jsonrpc]"
		echo "listen = 127.0.0.1:$rpc_port"
		echo "[log]"
		echo "level = info"
	} >"$dir/kurier.conf"
}

start() {
	"$KURIERD" -c "$dir/kurier.conf" >"$dir/out" 2>"$dir/log" &
	pid=$!
	wait_for 10 "admin endpoint" api /api/workers
}

token() { sed -n 's/^token *= *//p' "$dir/kurier.conf"; }
api() { curl -sf -H "Authorization: Bearer $(token)" "$base$1"; }
metric() { # sum of a metric's samples whose line starts with $1
	api /metrics | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'
}
serving() { api /api/workers | jq '[.workers[] | select(.state == "serving")] | length'; }
pid_of() { api /api/workers | jq -r ".workers[] | select(.index == $1 and .state == \"serving\") | .pid"; }
two_serving() { [[ $(serving) == 2 ]]; }
metric_ge() { [[ $(metric "$1") -ge $2 ]]; }
metric_gt() { [[ $(metric "$1") -gt $2 ]]; }
restarts_of_0() { [[ $(api /api/workers | jq '[.workers[] | select(.index == 0)][0].restarts') == "$1" ]]; }
has_pid_0() { [[ -n $(pid_of 0) ]]; }

# 1. A bad config stops start-up naming file, line and key.
printf '[workers]\ncount = 2\nbogus = 1\n' >"$dir/bad.conf"
if "$KURIERD" -c "$dir/bad.conf" 2>"$dir/bad.err"; then fail "bad config accepted"; fi
grep -q "bad.conf:3" "$dir/bad.err" && grep -q "bogus" "$dir/bad.err" ||
	fail "bad config message: $(cat "$dir/bad.err")"
ok "bad config names file:line and key"

# 2. First start generates and saves the admin token.
write_conf
start
[[ $(token) =~ ^[0-9a-f]{64}$ ]] || fail "no token saved in config"
grep -q "$(token)" "$dir/out" || fail "generated token not printed"
ok "admin token generated, saved and printed"

code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/workers")
[[ $code == 401 ]] || fail "no token: HTTP $code, want 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x$(token)" "$base/metrics")
[[ $code == 401 ]] || fail "wrong token: HTTP $code, want 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token)" "$base/nope")
[[ $code == 404 ]] || fail "unknown path: HTTP $code, want 404"
ok "admin refuses missing/wrong tokens, 404 for unknown paths"

wait_for 10 "2 serving workers" two_serving
api /api/workers | jq -e '.workers | length == 2 and all(.[]; .pid > 0 and .rss_bytes >= 0 and .restarts == 0 and has("uptime_s") and has("requests"))' >/dev/null ||
	fail "workers: $(api /api/workers)"
ok "/api/workers lists 2 serving workers"

wait_for 5 "heartbeats" metric_ge kurier_worker_heartbeats_total 2
# Whole bodies into grep: grep -q would stop reading early, and curl's
# SIGPIPE fail the pipeline under pipefail.
metrics=$(api /metrics)
grep -q '^# TYPE kurier_worker_loop_lag_seconds histogram' <<<"$metrics" || fail "no lag histogram"
grep -q '^kurier_worker_loop_lag_seconds_bucket{le="+Inf"}' <<<"$metrics" || fail "no +Inf bucket"
ok "/metrics exposes counters and histograms"

# 3. SIGKILL a worker: replaced, counters keep counting.
victim=$(pid_of 0)
before=$(metric kurier_worker_heartbeats_total)
kill -9 "$victim"
replaced() { local p; p=$(pid_of 0); [[ -n $p && $p != "$victim" ]]; }
wait_for 5 "worker 0 replaced" replaced
wait_for 5 "2 serving after restart" two_serving
api /api/workers | jq -e '[.workers[] | select(.index == 0)][0].restarts == 1' >/dev/null ||
	fail "restarts not counted: $(api /api/workers)"
[[ $(metric 'kurier_worker_exits_total{reason="crash"}') == 1 ]] || fail "crash not counted"
after=$(metric kurier_worker_heartbeats_total)
[[ $after -ge $before ]] || fail "heartbeats went back from $before to $after"
wait_for 5 "heartbeats still counting" metric_gt kurier_worker_heartbeats_total "$after"
grep -q 'event=worker.crash.*killed by signal 9' "$dir/log" || fail "crash not logged"
ok "killed worker replaced; counters monotonic ($before -> $after)"

# 4. SIGHUP reloads; a broken file keeps the running config.
sed -i 's/^level = info/level = debug/' "$dir/kurier.conf"
kill -HUP "$pid"
wait_for 5 "reload logged" grep -q 'proc=master .*event=config.reload ' "$dir/log"
workers_reloaded() { [[ $(grep -c 'proc=worker.*event=config.reload ' "$dir/log") -ge 2 ]]; }
wait_for 5 "workers reloaded" workers_reloaded
[[ $(metric kurier_config_reloads_total) -ge 3 ]] || fail "reloads not counted"
echo "oops = 1" >>"$dir/kurier.conf"
kill -HUP "$pid"
wait_for 5 "reload refusal logged" grep -q 'event=config.reload_failed.*kurier.conf:' "$dir/log"
two_serving || fail "workers lost after bad reload"
sed -i '/^oops = 1$/d' "$dir/kurier.conf"
ok "SIGHUP reloads master and workers; a bad file is refused"

# 5. Ctrl-C: SIGINT reaches master and workers at once; exit 0 within
# 5 s, no worker left, none killed half-way through its drain.
workers=$(api /api/workers | jq -r '.workers[].pid')
t0=$SECONDS
# shellcheck disable=SC2086
kill -INT "$pid" $workers
rc=0
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "still running 5 s after SIGTERM"
wait "$pid" || rc=$?
pid=
[[ $rc == 0 ]] || fail "SIGTERM exit status $rc"
for w in $workers; do kill -0 "$w" 2>/dev/null && fail "worker $w survived"; done
grep -q 'killed by signal [^9]' "$dir/log" && fail "a draining worker was killed: $(grep 'killed by' "$dir/log")"
ok "Ctrl-C drains and exits 0 in $((SECONDS - t0)) s"

# 6. Cycling: over max_rss, a replacement starts first, then the old
# one drains; no crash is counted.
write_conf "max_rss = 1K"
start
wait_for 15 "a cycled worker" metric_ge 'kurier_worker_exits_total{reason="cycle"}' 1
[[ $(metric 'kurier_worker_exits_total{reason="crash"}') == 0 ]] || fail "cycling counted as crash"
grep -q 'event=worker.cycle' "$dir/log" || fail "cycle not logged"
# The replacement's spawn is logged before the old one drains.
awk '/event=worker.cycle/ { c = 1 } c && /event=worker.spawn/ { s = 1 } c && /proc=worker.*event=worker.drain/ { if (!s) bad = 1; exit } END { exit bad }' "$dir/log" ||
	fail "old worker drained before its replacement started"
kill -TERM "$pid"
wait "$pid" || fail "exit status after cycling"
pid=
ok "workers over max_rss are cycled, replacement first"

# 7. Restart intensity: more than 2 restarts in 60 s never stop the
# master (SPEC.md §2): it says so loudly, reports unhealthy and backs
# off. tests/integration/test_supervisor.sh covers the whole cycle.
write_conf "restart_intensity = 2" "restart_period = 60s" "restart_backoff_max = 1s"
start
for i in 1 2 3; do
	wait_for 5 "worker 0 serving" has_pid_0
	kill -9 "$(pid_of 0)"
	[[ $i -lt 3 ]] && wait_for 5 "restart $i" restarts_of_0 "$i"
done
unhealthy() { [[ $(api /api/workers | jq -r .health) == unhealthy ]]; }
wait_for 5 "health unhealthy" unhealthy
grep -q 'level=error.*event=master.unhealthy' "$dir/log" ||
	fail "no clear log line: $(tail -5 "$dir/log")"
wait_for 5 "worker 0 back after its 1 s back-off" has_pid_0
kill -0 "$pid" 2>/dev/null || fail "master exited"
kill -TERM "$pid"
wait "$pid" || fail "exit status $? after SIGTERM"
pid=
ok "restart intensity exceeded: master stays up, unhealthy, backs off"
