#!/usr/bin/env bash
# ops/bench_rpc.sh BUILD_DIR: the JSON-RPC message.list target of
# SPEC.md §7, run by `make bench` after ops/bench_lmtp.sh; it can also
# run alone.
#
# One user, u0@rpc.bench, with 10 000 messages of 4096 bytes in INBOX
# (every one different text: build/<mode>/bench/lmtp delivers them over
# LMTP, so subjects, senders and previews are what kurier's own parser
# made of real messages). The request: message.list of INBOX, limit 50
# (the 50 newest, about 23 KiB of JSON), the same every time.
#  (A) kurier, cold: kurierd with 2 workers and [cache] max_bytes = 0,
#      so every message.list goes to PostgreSQL (the session check
#      keeps its own small cache).
#  (B) kurier, warm: the same with the default cache ([cache] ttl = 1s:
#      each worker refills a key once a second).
#      Load for both: build/<mode>/bench/rpc (ops/bench_rpc.c), 32
#      keep-alive HTTP/1.1 connections with one request in flight each,
#      a WARMUP_S warm-up on the same connections, then DURATION
#      seconds measured. Every response must be HTTP 200 with a JSON-RPC
#      result; the first of each connection and every 16th after it is
#      read whole: total 10000 and exactly 50 messages.
#  (C) pgbench, the same SQL straight at the user's shard:
#      ops/bench/rpc_list.sql, kr_msg_list(user, mailbox, 50, NULL) as
#      storage/store_message.c sends it, -M extended (kurier's protocol:
#      unnamed statement, text parameters), 32 clients, 2 threads,
#      DURATION seconds; latency p50/p99 from its per-transaction log.
# The cluster is our own (ops/pgcluster start -n 20 -d var/bench-rpc -p
# 30600, fresh each run, durable: checked). kurierd runs only during
# its own runs (started for each, stopped after), so pgbench and
# kurierd never share the machine. After a warm-up of pgbench, REPS
# rounds of A, B, C; reported: median with min and max, the ratio A/C
# against ">= 0.70" (the median of each round's A/C: a round's A and C
# run half a minute apart, while this shared machine's speed drifts over
# minutes) and B against 20 000 requests/s, the exact
# commands, and any warning or error kurierd logged. Also per run: how
# the 32 connections spread over the two workers (they share one
# listening socket), and the CPU that processes outside the benchmark
# took meanwhile (the machine may be shared: a run with more than
# FOREIGN_MAX cores of it is flagged).
#
# The report goes to BUILD_DIR/bench/results-rpc.txt, the output of
# each run to BUILD_DIR/bench/logs-rpc/ (kurierd's log: kurierd.log).
# Everything is removed at the end unless something failed.
set -eEuo pipefail
shopt -s inherit_errexit
# set -e stops the script on any failed command: say which one.
trap 'echo "bench_rpc: failed: line $LINENO: $BASH_COMMAND" >&2' ERR

readonly PGBIN=/usr/lib/postgresql/15/bin
readonly NODES=20 PORT=30600 CONNS=32 MESSAGES=10000 SIZE=4096 LIMIT=50
readonly REPS=5 DURATION=10 WARMUP_S=2 SETTLE_S=1
readonly COLD_TARGET=0.70 WARM_TARGET=20000
# Other processes using more CPU than this during a run mark it.
readonly FOREIGN_MAX=0.10
readonly ADDR=u0@rpc.bench PASSWORD=bench-rpc-password
readonly FILL_SESSIONS=32 FILL_BOUND_S=90 STOP_BOUND_S=20 TOKEN_CHARS=48

[[ $# -eq 1 ]] || {
	echo "usage: ops/bench_rpc.sh BUILD_DIR" >&2
	exit 2
}
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
BENCH_NAME=bench_rpc
# shellcheck source=ops/bench_lib.sh
. ops/bench_lib.sh
BUILD=${1%/}
KURIERD=$BUILD/kurierd
CLI=$BUILD/kurier
LMTP=$BUILD/bench/lmtp
LOAD=$BUILD/bench/rpc
SCRIPT=ops/bench/rpc_list.sql
DIR=var/bench-rpc
CONF=$DIR/kurier-bench.conf
RESULTS=$BUILD/bench/results-rpc.txt
LOGS=$BUILD/bench/logs-rpc
for f in "$KURIERD" "$CLI" "$LMTP" "$LOAD" "$PGBIN/pgbench"; do
	[[ -x $f ]] || die "$f is missing (make $f)"
done
for t in curl jq; do
	command -v "$t" >/dev/null || die "no $t (make deps installs it)"
done
mkdir -p -- "$LOGS"
rm -f -- "$LOGS"/*.log "$LOGS"/pgbench.*

KPID=
DONE=0
# TERM, then KILL (the master and its workers, by pid) if the drain
# takes longer than STOP_BOUND_S. Returns kurierd's exit status.
kurierd_stop() {
	local rc=0 end
	[[ -n $KPID ]] || return 0
	kill -TERM "$KPID" 2>/dev/null || true
	end=$((SECONDS + STOP_BOUND_S))
	while kill -0 "$KPID" 2>/dev/null && ((SECONDS < end)); do
		sleep 0.1
	done
	if kill -0 "$KPID" 2>/dev/null; then
		echo "bench_rpc: kurierd did not stop in ${STOP_BOUND_S}s; killing it" >&2
		pkill -KILL -P "$KPID" 2>/dev/null || true
		kill -KILL "$KPID" 2>/dev/null || true
	fi
	wait "$KPID" 2>/dev/null || rc=$?
	KPID=
	return "$rc"
}
cleanup() {
	kurierd_stop || true
	if ops/pgcluster stop -d "$DIR" >/dev/null 2>&1 && ((DONE)); then
		rm -rf -- "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port PORT SECONDS: also gives up when kurierd died.
wait_port() {
	local end=$((SECONDS + $2))
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		((SECONDS < end)) || die "nothing listens on port $1 after $2 s"
		[[ -z $KPID ]] || kill -0 "$KPID" 2>/dev/null ||
			die "kurierd exited at start (log: $LOGS/kurierd.log)"
		sleep 0.1
	done
}

# ---------------------------------------------------------------- set-up

setup_cluster() {
	ops/pgcluster stop -d "$DIR" >/dev/null 2>&1 || true
	rm -rf -- "$DIR"
	ops/pgcluster start -n "$NODES" -d "$DIR" -p "$PORT" >"$LOGS/pgcluster.log"
	RUN=$(realpath -- "$DIR/pg/run")
	DURABLE=$(psql_node 0 -Atc "SELECT 'fsync=' || current_setting('fsync')
		|| ' synchronous_commit=' || current_setting('synchronous_commit')
		|| ' full_page_writes=' || current_setting('full_page_writes')")
	[[ $DURABLE == 'fsync=on synchronous_commit=on full_page_writes=on' ]] ||
		die "the cluster is not durable: $DURABLE"
}

random_word() {
	head -c 96 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$1"
}

# kurier_conf CACHE_MAX_BYTES: the cluster's shards plus our listeners;
# the [auth] secret is fixed for the run, so every start accepts the
# same sessions.
kurier_conf() {
	{
		printf '[workers]\ncount = 2\n'
		printf '[admin]\nlisten = 127.0.0.1:%s\ntoken = %s\n' \
			"$KADMIN" "$TOKEN"
		printf '[lmtp]\nlisten = 127.0.0.1:%s\nhostname = bench.test\n' \
			"$KLMTP"
		printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$KRPC"
		printf '[auth]\nsecret = %s\n' "$SECRET"
		printf '[cache]\nmax_bytes = %s\n' "$1"
		grep -v '^#' "$DIR/kurier.conf"
	} >"$CONF"
}

# kurierd_start cold|warm
kurierd_start() {
	local cache=64M
	[[ $1 == cold ]] && cache=0
	kurier_conf "$cache"
	echo "--- kurierd start ($1 cache, [cache] max_bytes = $cache)" \
		>>"$LOGS/kurierd.log"
	"$KURIERD" -c "$CONF" >/dev/null 2>>"$LOGS/kurierd.log" &
	KPID=$!
	wait_port "$KRPC" 30
}

# rpc METHOD PARAMS [SESSION]: the response body.
rpc() {
	local -a auth=()
	[[ -z ${3:-} ]] || auth=(-H "Authorization: Bearer $3")
	curl -sS --max-time 10 -H 'Content-Type: application/json' "${auth[@]}" \
		-d "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1}" \
		"http://127.0.0.1:$KRPC/rpc"
}

login() {
	local r
	r=$(rpc auth.login "{\"user\":\"$ADDR\",\"password\":\"$PASSWORD\"}")
	SESSION=$(jq -er '.result.session' <<<"$r") || die "auth.login: $r"
}

setup_kurier() {
	local out
	KRPC=$(free_port)
	KLMTP=$(free_port "$KRPC")
	KADMIN=$(free_port "$KRPC" "$KLMTP")
	TOKEN=$(random_word "$TOKEN_CHARS")
	SECRET=$(random_word "$TOKEN_CHARS")
	kurier_conf 0
	out=$(printf '%s\n' "$PASSWORD" | "$CLI" -c "$CONF" user add "$ADDR" 2>&1) ||
		die "kurier user add: $out"
	SHARD=$(sed -n 's/.*(shard \([0-9]*\)).*/\1/p' <<<"$out")
	[[ -n $SHARD ]] || die "no shard in: $out"
	USER_ID=$(psql_node "$SHARD" -Atc "SELECT id FROM users WHERE address = '$ADDR'")
	[[ -n $USER_ID ]] || die "$ADDR is not on shard $SHARD"
}

# The mailbox, over LMTP: FILL_SESSIONS sessions to the one user.
fill() {
	local line total t0=$EPOCHSECONDS
	FILL_CMD=("$LMTP" -p "$KLMTP" -s "$FILL_SESSIONS" -n "$MESSAGES"
		-t "$FILL_BOUND_S" -m "$SIZE" -r 'u%d@rpc.bench' -u 1 -S 1)
	"${FILL_CMD[@]}" >"$LOGS/fill.log" 2>&1 ||
		die "filling the mailbox failed: $(tail -n 5 "$LOGS/fill.log")"
	line=$(grep '^lmtp messages=' "$LOGS/fill.log") || die "no result in $LOGS/fill.log"
	(($(field messages "$line") == MESSAGES)) || die "fill: $line"
	total=$(psql_node "$SHARD" -Atc "SELECT total FROM mailboxes
		WHERE user_id = $USER_ID AND role = 'inbox'")
	((total == MESSAGES)) || die "INBOX holds $total messages, not $MESSAGES"
	echo "bench_rpc: $MESSAGES messages delivered in $((EPOCHSECONDS - t0))s ($line)"
	# Hint bits set, statistics fresh, dirty pages written: the runs
	# below only read.
	psql_node "$SHARD" -c 'VACUUM (ANALYZE)' -c CHECKPOINT >/dev/null
}

# INBOX's id, and one list checked field by field.
check_list() {
	local r
	r=$(rpc mailbox.list '{}' "$SESSION")
	MAILBOX=$(jq -er '.result[] | select(.role == "inbox") | .id' <<<"$r") ||
		die "mailbox.list: $r"
	r=$(rpc message.list "{\"mailbox\":$MAILBOX,\"limit\":$LIMIT}" "$SESSION")
	jq -e --argjson n "$MESSAGES" --argjson l "$LIMIT" '.result.total == $n
		and (.result.messages | length) == $l
		and .result.messages[0].uid == $n
		and .result.messages[-1].uid == $n - $l + 1
		and all(.result.messages[]; (.subject | length) > 0
			and (.preview | length) > 0 and .size > 0)' \
		<<<"$r" >/dev/null || die "message.list: $(head -c 600 <<<"$r")"
	RESPONSE_BYTES=$(printf '%s' "$r" | wc -c)
}

# ------------------------------------------------------------------ runs

settle() {
	psql_node "$SHARD" -c CHECKPOINT >/dev/null
	sleep "$SETTLE_S"
}

# load_argv ARRAY SESSION
load_argv() {
	local -n l_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	l_argv=("$LOAD" -p "$KRPC" -a "$2" -m "$MAILBOX" -l "$LIMIT"
		-c "$CONNS" -w "$WARMUP_S" -t "$DURATION" -n 5000000
		-e "\"total\":$MESSAGES," -u "$LIMIT")
}

# Warnings and errors kurierd logged since line $1 of its log.
server_trouble() {
	tail -n +"$(($1 + 1))" -- "$LOGS/kurierd.log" |
		grep -E 'level=(warn|error)|panic|assert|signal|exited' || true
}

# The machine is shared: CPU that other processes take during a run
# lowers its figure. cpu_snapshot prints "pid:starttime ppid ticks" for
# every process, ticks counting its own CPU and that of its reaped
# children (a make's compilers show up in the make).
cpu_snapshot() {
	# Processes come and go while cat reads: its complaints are moot.
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{
		i = length($0); while (i > 0 && substr($0, i, 1) != ")") i--
		n = split(substr($0, i + 2), f, " ")
		if (n >= 20) print $1 ":" f[20], f[2], f[12] + f[13] + f[14] + f[15] }'
}

# foreign_cores BEFORE AFTER SECONDS: the cores that processes outside
# this run (neither descendants of this script nor of our cluster's
# postmasters) used between the two snapshots. A process that ended in
# between hands its whole CPU time to the parent that reaped it: what
# it had used before the window is taken off again; one that started
# in between counts whole.
foreign_cores() {
	local roots
	roots="$$ $(head -qn 1 -- "$DIR"/pg/node*/postmaster.pid | paste -sd ' ' -)"
	awk -v roots="$roots" -v secs="$3" -v hz="$(getconf CLK_TCK)" '
		function ours(p, d) {
			for (d = 0; p > 1 && d < 64; d++) {
				if (p in root) return 1
				p = parent[p]
			}
			return 0
		}
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) root[r[i]] = 1 }
		FNR == NR { split($1, k, ":"); parent[k[1]] = $2; before[$1] = $3; next }
		{ split($1, k, ":"); parent[k[1]] = $2; after[$1] = $3 }
		END {
			for (key in before) {
				split(key, k, ":")
				if (ours(k[1])) continue
				sum += (key in after) ? after[key] - before[key] : -before[key]
			}
			for (key in after) {
				split(key, k, ":")
				if (!(key in before) && !ours(k[1])) sum += after[key]
			}
			printf "%.2f\n", (secs > 0 && sum > 0 ? sum / hz / secs : 0)
		}' "$1" "$2"
}

# Established connections per kurierd process on the JSON-RPC port, as
# "n+m" (the listener is shared: whichever worker accepts first wins).
conn_spread() {
	ss -tnpH state established "( sport = :$KRPC )" |
		grep -o 'pid=[0-9]*' | sort | uniq -c | sort -rn |
		awk '{ s = s (NR > 1 ? "+" : "") $1 } END { print (s == "" ? "0" : s) }'
}

# run_kurier cold|warm TAG: the load tool's result line in LINE, the
# connection spread in SPREAD, other processes' cores in FOREIGN. Runs
# in the main shell (not in $(...)), so that a failure still finds
# kurierd to stop.
run_kurier() {
	local mode=$1 tag=$2 mark rc=0 trouble pid t0
	local -a cmd=()
	mark=$(wc -l <"$LOGS/kurierd.log")
	kurierd_start "$mode"
	login
	load_argv cmd "$SESSION"
	"${cmd[@]}" >"$LOGS/$tag.log" 2>&1 &
	pid=$!
	# The measured window starts after the warm-up: look then.
	sleep "$WARMUP_S.5"
	SPREAD=$(conn_spread)
	cpu_snapshot >"$LOGS/cpu0"
	t0=$EPOCHREALTIME
	wait "$pid" || rc=$?
	cpu_snapshot >"$LOGS/cpu1"
	FOREIGN=$(foreign_cores "$LOGS/cpu0" "$LOGS/cpu1" \
		"$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')")
	kurierd_stop || die "kurierd exited with status $? after $tag (log: $LOGS/kurierd.log)"
	trouble=$(server_trouble "$mark")
	if [[ -n $trouble ]]; then
		printf '%s\n' "$trouble" >>"$LOGS/server-trouble.log"
		printf 'bench_rpc: kurierd logged during %s:\n%s\n' "$tag" \
			"$(head -n 5 <<<"$trouble")" >&2
	fi
	((rc == 0)) || die "the $tag run failed (log: $LOGS/$tag.log): $(tail -n 7 "$LOGS/$tag.log")"
	LINE=$(grep '^rpc requests=' -- "$LOGS/$tag.log") ||
		die "no result line in $LOGS/$tag.log"
}

# pgbench_argv ARRAY SECONDS [LOG_PREFIX]
pgbench_argv() {
	local -n p_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	p_argv=("$PGBIN/pgbench" -n -M extended -c "$CONNS" -j 2 -T "$2"
		-f "$SCRIPT" -D "user_id=$USER_ID" -D "mailbox_id=$MAILBOX"
		-D "lim=$LIMIT" -h "$RUN" -p $((PORT + SHARD)) -U kurier)
	if [[ -n ${3:-} ]]; then
		p_argv+=(--log "--log-prefix=$3")
	fi
	p_argv+=(kurier)
}

# run_pgbench TAG: "tps avg_ms p50_ms p99_ms" in LINE.
run_pgbench() {
	local tag=$1 tps avg failed pct t0
	local -a cmd=()
	pgbench_argv cmd "$DURATION" "$LOGS/pgbench.$tag"
	cpu_snapshot >"$LOGS/cpu0"
	t0=$EPOCHREALTIME
	"${cmd[@]}" >"$LOGS/$tag.log" 2>&1 ||
		die "pgbench $tag failed (log: $LOGS/$tag.log): $(tail -n 5 "$LOGS/$tag.log")"
	cpu_snapshot >"$LOGS/cpu1"
	FOREIGN=$(foreign_cores "$LOGS/cpu0" "$LOGS/cpu1" \
		"$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' \
		"$LOGS/$tag.log")
	avg=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$LOGS/$tag.log")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' \
		"$LOGS/$tag.log")
	[[ -n $tps && -n $avg && ${failed:-0} == 0 ]] ||
		die "pgbench $tag: $(tail -n 8 "$LOGS/$tag.log")"
	# The per-transaction log (one file per thread): the third column
	# is the latency in microseconds. Nearest rank, as the load tool.
	pct=$(cat -- "$LOGS/pgbench.$tag".* | awk '{ print $3 }' | sort -n |
		awk '{ v[NR] = $1 }
		END { if (NR == 0) exit 1
		      k50 = int((NR * 50 + 99) / 100); k99 = int((NR * 99 + 99) / 100)
		      printf "%.3f %.3f", v[k50 ? k50 : 1] / 1000, v[k99 ? k99 : 1] / 1000 }') ||
		die "pgbench $tag: no per-transaction log"
	rm -f -- "$LOGS/pgbench.$tag".*
	LINE="$tps $avg $pct"
}

compare() {
	local rep
	local -a cmd=() pg=()
	# The first pgbench run pays for cold backends and buffers; the
	# kurier runs have their own warm-up on open connections.
	pgbench_argv cmd "$WARMUP_S"
	"${cmd[@]}" >"$LOGS/pgbench-warmup.log" 2>&1 ||
		die "pgbench warm-up failed: $(tail -n 5 "$LOGS/pgbench-warmup.log")"
	echo "bench_rpc: $REPS x (kurier cold, kurier warm, pgbench), ${DURATION}s each"
	for ((rep = 1; rep <= REPS; rep++)); do
		settle
		run_kurier cold "cold$rep"
		CR+=("$(field rate "$LINE")")
		CP50+=("$(field p50_ms "$LINE")")
		CP99+=("$(field p99_ms "$LINE")")
		CHECKED=$((CHECKED + $(field checked "$LINE")))
		CSPREAD+=("$SPREAD")
		CFOREIGN+=("$FOREIGN")
		settle
		run_kurier warm "warm$rep"
		WR+=("$(field rate "$LINE")")
		WP50+=("$(field p50_ms "$LINE")")
		WP99+=("$(field p99_ms "$LINE")")
		CHECKED=$((CHECKED + $(field checked "$LINE")))
		WSPREAD+=("$SPREAD")
		WFOREIGN+=("$FOREIGN")
		settle
		run_pgbench "pgbench$rep"
		read -r -a pg <<<"$LINE"
		PR+=("$(printf '%.1f' "${pg[0]}")")
		PAVG+=("${pg[1]}")
		PP50+=("${pg[2]}")
		PP99+=("${pg[3]}")
		PFOREIGN+=("$FOREIGN")
		RATIO+=("$(awk -v a="${CR[-1]}" -v c="${PR[-1]}" 'BEGIN { printf "%.3f", a / c }')")
		printf 'bench_rpc: run %d: kurier cold %s  warm %s  pgbench %s requests/s\n' \
			"$rep" "${CR[-1]}" "${WR[-1]}" "${PR[-1]}"
	done
}

# ---------------------------------------------------------------- report

# A command line to paste into a shell: words quoted where needed, a
# lone $NAME left as the placeholder it is.
show_cmd() {
	local w out=
	for w in "$@"; do
		if [[ $w =~ ^[A-Za-z0-9_./:=,@%+-]+$ || $w =~ ^\$[A-Z_]+$ ]]; then
			out+=" $w"
		else
			out+=" '${w//\'/\'\\\'\'}'"
		fi
	done
	printf '%s\n' "${out# }"
}

# row LABEL DECIMALS VALUE...
row() {
	local label=$1 s
	shift
	s=$(stats "$@")
	# shellcheck disable=SC2086 # "median min max", split on purpose
	printf '%-46s %10s %10s %10s\n' "$label" $s
}

median() {
	stats 3 "$@" | awk '{ print $1 }'
}

report() {
	local cold warm pg trouble
	local -a load=() pgb=()
	cold=$(median "${CR[@]}")
	warm=$(median "${WR[@]}")
	pg=$(median "${PR[@]}")
	printf '\nJSON-RPC message.list (SPEC.md §7): limit %d of a %d-message INBOX (%d-byte messages),\n' \
		"$LIMIT" "$MESSAGES" "$SIZE"
	printf '%d keep-alive clients; kurierd 2 workers on %d shards (%s, %s),\n' \
		"$CONNS" "$NODES" "$DURABLE" \
		"$("$PGBIN/postgres" --version | awk '{ print "PostgreSQL " $3 }')"
	printf '%s cores, %s; response %d bytes of JSON\n' "$(nproc)" \
		"$(date -u +%Y-%m-%dT%H:%MZ)" "$RESPONSE_BYTES"
	printf '\n%-46s %10s %10s %10s\n' "requests/s ($REPS runs of ${DURATION}s)" median min max
	row "(A) kurier, cache off (cold)" 1 "${CR[@]}"
	row "    latency p50, ms" 2 "${CP50[@]}"
	row "    latency p99, ms" 2 "${CP99[@]}"
	row "(B) kurier, cache on (warm)" 1 "${WR[@]}"
	row "    latency p50, ms" 2 "${WP50[@]}"
	row "    latency p99, ms" 2 "${WP99[@]}"
	row "(C) pgbench, the same SQL (-M extended)" 1 "${PR[@]}"
	row "    latency average, ms (pgbench)" 2 "${PAVG[@]}"
	row "    latency p50, ms (--log)" 2 "${PP50[@]}"
	row "    latency p99, ms (--log)" 2 "${PP99[@]}"
	row "cold/pgbench, each round's own pair" 3 "${RATIO[@]}"
	awk -v r="$(median "${RATIO[@]}")" -v a="$cold" -v c="$pg" -v t="$COLD_TARGET" 'BEGIN {
		printf "\ncold/pgbench = %.2f (median of the rounds; of the medians: %.2f)   target: >= %.2f   %s\n",
			r, (c > 0 ? a / c : 0), t, (r >= t ? "PASS" : "BELOW") }'
	awk -v b="$warm" -v c="$pg" -v t="$WARM_TARGET" 'BEGIN {
		printf "warm = %.0f requests/s   target: >= %d   %s   (warm/pgbench = %.2f)\n",
			b, t, (b >= t ? "PASS" : "BELOW"), (c > 0 ? b / c : 0) }'
	printf '\nper run, requests/s: cold %s | warm %s | pgbench %s\n' \
		"${CR[*]}" "${WR[*]}" "${PR[*]}"
	printf 'connections per kurierd worker: cold %s | warm %s\n' \
		"${CSPREAD[*]}" "${WSPREAD[*]}"
	printf 'cores used by other processes: cold %s | warm %s | pgbench %s\n' \
		"${CFOREIGN[*]}" "${WFOREIGN[*]}" "${PFOREIGN[*]}"
	printf '%s\n' "${CFOREIGN[@]}" "${WFOREIGN[@]}" "${PFOREIGN[@]}" |
		awk -v t="$FOREIGN_MAX" '$1 > m { m = $1 } END { if (m > t)
		printf "WARNING: other processes took up to %.2f cores during a run: those figures are low\n", m }'
	printf 'every kurier answer checked: HTTP 200 and a JSON-RPC result; %d read whole\n' \
		"$CHECKED"
	printf '(total %d, %d messages); no failures\n' "$MESSAGES" "$LIMIT"
	trouble=$(cat -- "$LOGS/server-trouble.log" 2>/dev/null || true)
	if [[ -n $trouble ]]; then
		printf 'kurierd logged %d warning/error lines (%s/server-trouble.log)\n' \
			"$(wc -l <<<"$trouble")" "$LOGS"
	else
		printf 'kurierd logged no warning or error\n'
	fi
	# shellcheck disable=SC2016 # placeholders, printed as they are
	load_argv load '$SESSION'
	pgbench_argv pgb "$DURATION" "$LOGS/pgbench.RUN"
	printf '\ncommands (from %s, after ops/pgcluster start -n %d -d %s -p %d):\n' \
		"$PWD" "$NODES" "$DIR" "$PORT"
	printf '  echo PASSWORD | %s -c %s user add %s   (shard %d)\n' \
		"$CLI" "$CONF" "$ADDR" "$SHARD"
	printf '  %s -c %s   ([workers] count = 2; [cache] max_bytes = 0 for A, 64M for B)\n' \
		"$KURIERD" "$CONF"
	printf '  fill: %s\n' "$(show_cmd "${FILL_CMD[@]}")"
	printf '  SESSION = result.session of auth.login; mailbox %d = INBOX (mailbox.list)\n' \
		"$MAILBOX"
	printf '(A), (B) %s\n' "$(show_cmd "${load[@]}")"
	printf '(C) %s\n' "$(show_cmd "${pgb[@]}")"
	printf '    p50/p99 = nearest rank of the third column of its --log files\n'
}

main() {
	local t0=$EPOCHSECONDS
	declare -ga CR=() CP50=() CP99=() WR=() WP50=() WP99=() PR=() PAVG=() \
		PP50=() PP99=() RATIO=() FILL_CMD=() CSPREAD=() WSPREAD=() CFOREIGN=() \
		WFOREIGN=() PFOREIGN=()
	CHECKED=0
	setup_cluster
	setup_kurier
	kurierd_start warm
	fill
	login
	check_list
	kurierd_stop || die "kurierd exited with status $? (log: $LOGS/kurierd.log)"
	compare
	report | tee -- "$RESULTS"
	DONE=1
	echo "bench_rpc: done in $((EPOCHSECONDS - t0))s; results in $RESULTS"
}

main
