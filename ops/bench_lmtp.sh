#!/usr/bin/env bash
# ops/bench_lmtp.sh BUILD_DIR: the LMTP delivery and idle-memory targets
# of SPEC.md §7, run by `make bench` after the store benchmark
# (ops/bench.sh); it can also run alone.
#
# Deliveries per second, kurierd against Dovecot's LMTP on this machine:
# 4096-byte messages, one recipient each, 16 sessions, 1000 users,
# durable settings on both sides. The load is build/<mode>/bench/lmtp
# (ops/bench_lmtp.c): every message different text, MAIL/RCPT/DATA
# pipelined, the same seed, so the same messages, for both servers.
#  (A) kurierd, 2 workers, its own config on free ports, 20 shards on a
#      fresh cluster (ops/pgcluster start -n 20 -d var/bench-lmtp -p
#      30200: fsync=on, synchronous_commit=on, checked), the 1000 users
#      u<i>@bench.test imported with `kurier user import` from a
#      passwd-file of {SHA512-CRYPT} hashes made by `openssl passwd -6`.
#  (B) a private Dovecot (dovecot-core, dovecot-lmtpd) started with
#      `dovecot -c CONF`: its own base_dir, protocols = lmtp on a free
#      port, the same passwd-file as passdb and userdb, mail_location =
#      maildir under var/bench-lmtp/dovecot/mail as the system user
#      kurier-bench (created when missing), default fsync behaviour,
#      ssl = no, log to a file. A system dovecot that is running is
#      stopped first (doveadm stop).
# After a 2-second warm-up of each, REPS rounds of one run of DURATION
# seconds per side, alternating (A, B in odd rounds, B, A in even ones,
# so that neither side always goes first), each round with its own
# seed (the same for A and B of one round, so that no body repeats on
# kurier's shards across rounds). Before each run the side is started
# fresh (FRESH=1): kurierd stopped and started again; Dovecot stopped,
# its maildirs (indexes included) removed and started again; then
# warmed up at the same point for WARMUP_S [2] seconds (another seed),
# and, the same for both sides, CHECKPOINT on every node, `sync` and
# QUIET_S seconds of quiet disk, so that no run pays for the previous
# one's dirty pages or for starting processes and connections.
# (kurier's shards keep the rows of earlier runs: emptying 20 clusters
# per run would take longer than the run.) After each run the messages
# stored by the run are counted (rows on the shards, files in the
# maildirs, against the count before it) and must match the 250s.
# Reported: median with min and max, the ratio kurier/Dovecot of the
# medians against the target (at least 1; the aim is 2).
#
# CPU per delivery, per run: utime and stime (clock ticks of
# /proc/PID/stat) of every process of a tree, the reaped children's
# (cutime, cstime) included, read just before and just after the run:
# the kurierd tree (master, workers), the postgres trees (each node's
# postmaster from its postmaster.pid, its children), the Dovecot tree
# (its master from run/master.pid, its children). Reported in ms per
# delivery: "server" = user CPU of kurierd (or of Dovecot), "pg" = user
# CPU of PostgreSQL (0 for Dovecot), "kernel" = system CPU of all of
# them; the three add up to "total". The load tool's own CPU is not
# counted; the pg figure of the kurier side includes the background
# processes (checkpointer, WAL writer, autovacuum) of all 20 nodes.
#
# The point measured comes from the environment, defaults in brackets:
# SESSIONS [16], SIZE [4096] bytes, RCPTS [1] recipients per message
# (distinct users; `lmtp -R`), REPS [3], DURATION [10] s, QUIET_S [2] s,
# FRESH [1]. POINTS="S:SIZE:R ..." measures several points in one set-up
# (ops/bench_matrix.sh); LMTP_ONLY=1 leaves out the antispam and
# idle-memory parts and the full report; TSV=FILE appends one line per
# run (see ops/bench_matrix.sh for the columns).
#
# Idle memory: kurierd again with 1 worker; a short delivery warm-up,
# the worker's VmRSS, then IDLE sessions opened by `lmtp -i` (greeted,
# past LHLO, held), VmRSS again: bytes per idle session = delta / IDLE,
# target <= 16 KiB.
#
# The report is appended to BUILD_DIR/bench/results-lmtp.txt, the
# output of each run goes to BUILD_DIR/bench/logs-lmtp/. Everything is
# removed at the end unless something failed.
set -euo pipefail
shopt -s inherit_errexit

readonly PGBIN=/usr/lib/postgresql/15/bin
readonly NODES=20 PORT=30200 USERS=1000
readonly MESSAGES=1000000 AS_REPS=2
SESSIONS=${SESSIONS:-16} SIZE=${SIZE:-4096} RCPTS=${RCPTS:-1}
readonly REPS=${REPS:-3} DURATION=${DURATION:-10} QUIET_S=${QUIET_S:-2}
readonly FRESH=${FRESH:-1} LMTP_ONLY=${LMTP_ONLY:-0} WARMUP_S=${WARMUP_S:-2}
POINTS=${POINTS:-$SESSIONS:$SIZE:$RCPTS}
HZ=$(getconf CLK_TCK)
readonly HZ
readonly IDLE=5000 IDLE_TARGET=16384 IDLE_WARMUP=500
readonly MAILUSER=kurier-bench TOKEN_CHARS=48

[[ $# -eq 1 ]] || {
	echo "usage: ops/bench_lmtp.sh BUILD_DIR" >&2
	exit 2
}
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
BENCH_NAME=bench_lmtp
# shellcheck source=ops/bench_lib.sh
. ops/bench_lib.sh
BUILD=${1%/}
LMTP=$BUILD/bench/lmtp
KURIERD=$BUILD/kurierd
CLI=$BUILD/kurier
DIR=var/bench-lmtp
DV=$PWD/$DIR/dovecot
RESULTS=$BUILD/bench/results-lmtp.txt
LOGS=$BUILD/bench/logs-lmtp
for f in "$LMTP" "$KURIERD" "$CLI"; do
	[[ -x $f ]] || die "$f is missing (make $f)"
done
command -v dovecot >/dev/null || die "no dovecot (make deps installs dovecot-core, dovecot-lmtpd)"
[[ -x /usr/lib/dovecot/lmtp ]] || die "no Dovecot LMTP server (dovecot-lmtpd)"
for v in REPS DURATION QUIET_S FRESH LMTP_ONLY WARMUP_S; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, not '${!v}'"
done
((REPS >= 1 && DURATION >= 1 && WARMUP_S >= 1)) ||
	die "REPS, DURATION and WARMUP_S must be at least 1"
for p in $POINTS; do
	[[ $p =~ ^[0-9]+:[0-9]+:[0-9]+$ ]] ||
		die "POINTS: '$p' is not SESSIONS:SIZE:RCPTS"
done
[[ $(id -u) -eq 0 ]] || die "Dovecot's master and its mail user need root"
# 5 000 idle sessions need as many descriptors on both sides.
(($(ulimit -Hn) > IDLE + 1000)) || die "ulimit -Hn is $(ulimit -Hn); need more than $((IDLE + 1000))"
ulimit -n "$(ulimit -Hn)"
mkdir -p -- "$LOGS"
rm -f -- "$LOGS"/*.log

KPID=
DONE=0
dovecot_stop() {
	local pid
	[[ -f $DV/run/master.pid ]] || return 0
	pid=$(cat -- "$DV/run/master.pid")
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
kurierd_stop() {
	[[ -n $KPID ]] || return 0
	kill -TERM "$KPID" 2>/dev/null || true
	wait "$KPID" 2>/dev/null || true
	KPID=
}
cleanup() {
	kurierd_stop
	dovecot_stop
	if ops/pgcluster stop -d "$DIR" >/dev/null 2>&1 && ((DONE)); then
		rm -rf -- "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port PORT SECONDS
wait_port() {
	local end=$((SECONDS + $2))
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		((SECONDS < end)) || die "nothing listens on port $1 after $2 s"
		sleep 0.1
	done
}

# ---------------------------------------------------------------- set-up

# Users u0..u999@bench.test, one hash each, in Dovecot's passwd-file
# format (user:password:uid:gid:gecos:home:shell), which is also what
# `kurier user import` reads.
make_passwd() {
	local i
	for ((i = 0; i < USERS; i++)); do
		printf 'bench-%d-%s\n' "$i" "$RANDOM"
	done | openssl passwd -6 -stdin |
		awk '{ printf "u%d@bench.test:{SHA512-CRYPT}%s:::::\n", NR - 1, $0 }' \
			>"$PWD/$DIR/passwd"
	(($(wc -l <"$PWD/$DIR/passwd") == USERS)) || die "passwd-file incomplete"
}

setup_cluster() {
	dovecot_stop
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

# kurier_conf WORKERS: the config of the cluster plus our listeners.
kurier_conf() {
	{
		printf '[workers]\ncount = %d\n' "$1"
		printf '[admin]\nlisten = 127.0.0.1:%s\ntoken = %s\n' \
			"$KADMIN" "$TOKEN"
		printf '[lmtp]\nlisten = 127.0.0.1:%s\nhostname = bench.test\n' \
			"$KPORT"
		printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$KRPC"
		grep -v '^#' "$DIR/kurier.conf"
		[[ ${ANTISPAM:-off} == off ]] ||
			printf '[antispam]\nenabled = true\nmodules = %s\n' \
				"$PWD/$DIR/antispam-modules"
	} >"$PWD/$DIR/kurier-bench.conf"
}

# The filters that need no network (issue 10: the comparison excludes
# DNS): the stock SpamAssassin rules, Bayes, rate limits (off by
# default, so counted but never deferring).
antispam_modules() {
	local m
	rm -rf -- "$DIR/antispam-modules"
	mkdir -p -- "$DIR/antispam-modules"
	for m in ${ANTISPAM_MODULES:-rules bayes rate}; do
		install -m 0644 "$BUILD/modules/kr_$m.so" "$DIR/antispam-modules/"
	done
	chmod 0755 -- "$DIR/antispam-modules"
}

# Both workers built their first generation (the rules' matcher comes
# from its cache, or is compiled: up to half a minute the first time).
antispam_ready() {
	local end=$((SECONDS + 120))
	until (($(grep -c 'event=antispam.ready generation=1' "$LOGS/kurierd.log") >= AS_READY)); do
		((SECONDS < end)) || die "antispam not ready in 120 s: $(grep antispam "$LOGS/kurierd.log" | tail -3)"
		sleep 0.2
	done
	AS_READY=$((AS_READY + 2))
}

# Antispam off and on, alternating, kurierd restarted for each (the
# rules are built at the start: not in the timed run).
compare_antispam() {
	local rep mode line
	antispam_modules
	echo "bench_lmtp: antispam off/on, $AS_REPS x ${DURATION}s each"
	for ((rep = 1; rep <= AS_REPS; rep++)); do
		for mode in off on; do
			kurierd_stop
			ANTISPAM=$mode kurierd_start 2
			[[ $mode == off ]] || antispam_ready
			run_lmtp "as-$mode-warmup$rep" "$KPORT" $((200 + rep)) "$WARMUP_S" >/dev/null
			settle antispam
			line=$(run_lmtp "as-$mode$rep" "$KPORT" $((300 + rep)) "$DURATION")
			if [[ $mode == off ]]; then
				ROFF+=("$(field rate "$line")")
			else
				RON+=("$(field rate "$line")")
			fi
		done
		printf 'bench_lmtp: antispam run %d: off %s  on %s msg/s\n' "$rep" \
			"${ROFF[-1]}" "${RON[-1]}"
	done
	kurierd_stop
	kurierd_start 2
}

kurierd_start() {
	kurier_conf "$1"
	"$KURIERD" -c "$DIR/kurier-bench.conf" >/dev/null \
		2>>"$LOGS/kurierd.log" &
	KPID=$!
	wait_port "$KPORT" 30
}

setup_kurier() {
	KPORT=$(free_port)
	KADMIN=$(free_port "$KPORT")
	# Off 8080, so that `make bench` runs while `make run` is up.
	KRPC=$(free_port "$KPORT" "$KADMIN")
	TOKEN=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' |
		head -c "$TOKEN_CHARS")
	kurier_conf 2
	"$CLI" -c "$DIR/kurier-bench.conf" user import "$DIR/passwd" \
		>"$LOGS/import.log" 2>&1 || {
		cat -- "$LOGS/import.log" >&2
		die "kurier user import failed"
	}
	kurierd_start 2
}

dovecot_conf() {
	cat <<EOF
# Private instance of ops/bench_lmtp.sh (Dovecot's defaults otherwise,
# fsync included).
base_dir = $DV/run
state_dir = $DV/state
instance_name = kurier-bench-$DPORT
protocols = lmtp
listen = 127.0.0.1
ssl = no
log_path = $DV/dovecot.log
mail_location = maildir:$DV/mail/%d/%n
mail_uid = $MAILUSER
mail_gid = $MAILUSER
first_valid_uid = $(id -u "$MAILUSER")
last_valid_uid = $(id -u "$MAILUSER")
first_valid_gid = $(id -g "$MAILUSER")
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT $PWD/$DIR/passwd
}
userdb {
  driver = passwd-file
  args = $PWD/$DIR/passwd
  default_fields = uid=$MAILUSER gid=$MAILUSER home=$DV/mail/%d/%n
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DPORT
  }
}
EOF
}

setup_dovecot() {
	# One Dovecot on the machine is enough: a system instance the
	# package may have started goes.
	if [[ -f /run/dovecot/master.pid ]] &&
		kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
		echo "bench_lmtp: stopping the system dovecot (doveadm stop)"
		doveadm stop || die "cannot stop the system dovecot"
	fi
	id "$MAILUSER" >/dev/null 2>&1 ||
		useradd --system --user-group --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin \
			"$MAILUSER" || die "cannot create the user $MAILUSER"
	mkdir -p -- "$DV/run" "$DV/state" "$DV/mail"
	chown "$MAILUSER:$MAILUSER" "$DV/mail"
	DPORT=$(free_port "$KPORT" "$KADMIN" "$KRPC")
	dovecot_conf >"$DV/dovecot.conf"
	dovecot_start
	DOVECOT_VERSION=$(dovecot --version | awk '{ print $1 }')
}

dovecot_start() {
	dovecot -c "$DV/dovecot.conf" || die "dovecot did not start (log: $DV/dovecot.log)"
	wait_port "$DPORT" 30
}

# Dovecot as on a new machine: stopped, no mail and no index left (the
# indexes live in the maildirs), started again.
dovecot_fresh() {
	dovecot_stop
	find "$DV/mail" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
	dovecot_start
}

# ------------------------------------------------------------------ runs

# settle SIDE [SEED]: the side started fresh (FRESH=1; Dovecot's
# maildirs are emptied in any case) and, with a SEED, warmed up at the
# current point for WARMUP_S seconds (its first processes, connections
# and plans are not timed); then the same for both sides: clean buffers
# and QUIET_S seconds of quiet disk.
settle() {
	local k
	local -a pids=()
	if [[ $1 == kurier ]] && ((FRESH)); then
		kurierd_stop
		kurierd_start 2
	elif [[ $1 == dovecot ]] && ((FRESH)); then
		dovecot_fresh
	elif [[ $1 == dovecot ]]; then
		find "$DV/mail" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
	fi
	if [[ -n ${2:-} ]]; then
		[[ $1 == kurier ]] && k=$KPORT || k=$DPORT
		run_lmtp "$1-warmup-$2" "$k" $((500000 + $2)) "$WARMUP_S" >/dev/null
	fi
	for ((k = 0; k < NODES; k++)); do
		psql_node "$k" -c CHECKPOINT >/dev/null &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k"; done
	sync
	sleep "$QUIET_S"
}

# cpu_ticks PID...: "utime stime" in clock ticks of the process trees
# under the PIDs: every live process's own time plus what it collected
# from its reaped children (cutime, cstime), so that processes ending
# during a run still count. Fields after "(comm) ": state 1, ppid 2,
# utime 12, stime 13, cutime 14, cstime 15 (proc(5)).
cpu_ticks() {
	# A process may end between the glob and its read: not an error.
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$*" '
		{
			i = 0
			while ((j = index(substr($0, i + 1), ")")) > 0)
				i += j
			pid = $1
			n = split(substr($0, i + 2), f, " ")
			if (n < 15)
				next
			ppid[pid] = f[2]
			u[pid] = f[12] + f[14]
			s[pid] = f[13] + f[15]
		}
		END {
			n = split(roots, r, " ")
			for (k = 1; k <= n; k++)
				in_tree[r[k]] = 1
			# Descendants: a few passes reach any depth we have.
			for (pass = 0; pass < 4; pass++)
				for (p in ppid)
					if (ppid[p] in in_tree)
						in_tree[p] = 1
			for (p in in_tree)
				if (p in u) {
					ut += u[p]
					st += s[p]
				}
			printf "%d %d\n", ut, st
		}'
}

# The postmasters of the nodes (first line of postmaster.pid).
pg_pids() {
	local f
	for f in "$DIR"/pg/node*/postmaster.pid; do
		head -n 1 -- "$f"
	done
}

# cpu_sample SIDE: "server_utime server_stime pg_utime pg_stime".
cpu_sample() {
	local srv pg
	if [[ $1 == kurier ]]; then
		srv=$(cpu_ticks "$KPID")
	else
		srv=$(cpu_ticks "$(cat -- "$DV/run/master.pid")")
	fi
	if [[ $1 == kurier ]]; then
		# shellcheck disable=SC2046 # one pid per word
		pg=$(cpu_ticks $(pg_pids))
	else
		pg="0 0"
	fi
	echo "$srv $pg"
}

# cpu_split BEFORE AFTER DELIVERIES: "server pg kernel total", ms of
# CPU per delivery (see the top of this file).
cpu_split() {
	awk -v b="$1" -v a="$2" -v n="$3" -v hz="$HZ" 'BEGIN {
		split(b, x, " ")
		split(a, y, " ")
		f = n > 0 ? 1000 / hz / n : 0
		srv = (y[1] - x[1]) * f
		pg = (y[3] - x[3]) * f
		krn = (y[2] - x[2] + y[4] - x[4]) * f
		printf "%.3f %.3f %.3f %.3f\n", srv, pg, krn, srv + pg + krn }'
}

# lmtp_argv ARRAY PORT SEED SECONDS [MESSAGES]
lmtp_argv() {
	local -n l_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	l_argv=("$LMTP" -p "$2" -s "$SESSIONS" -n "${5:-$MESSAGES}" -t "$4"
		-m "$SIZE" -r 'u%d@bench.test' -u "$USERS" -S "$3")
	((RCPTS == 1)) || l_argv+=(-R "$RCPTS")
}

# run_lmtp TAG PORT SEED SECONDS [MESSAGES]: prints the result line.
run_lmtp() {
	local tag=$1
	local -a cmd=()
	lmtp_argv cmd "$2" "$3" "$4" "${5:-}"
	if ! "${cmd[@]}" >"$LOGS/$tag.log" 2>&1; then
		tail -n 20 -- "$LOGS/$tag.log" >&2
		die "the LMTP run $tag failed (log: $LOGS/$tag.log)"
	fi
	grep '^lmtp messages=' -- "$LOGS/$tag.log" ||
		die "no result line in $LOGS/$tag.log"
}

kurier_stored() {
	local k n=0
	for ((k = 0; k < NODES; k++)); do
		n=$((n + $(psql_node "$k" -Atc 'SELECT count(*) FROM messages')))
	done
	echo "$n"
}

dovecot_stored() {
	find "$DV/mail" -path '*/new/*' -type f | wc -l
}

# run_side SIDE TAG SEED: one timed run of SIDE (kurier or dovecot) at
# the current point, checked against what was stored; appends to the
# side's arrays, prints the per-run line and the TSV line.
run_side() {
	local side=$1 tag=$2 seed=$3 port line stored n before after
	local -a cpu
	settle "$side" "$seed"
	[[ $side == kurier ]] && port=$KPORT || port=$DPORT
	[[ $side == kurier ]] && stored=$(kurier_stored) || stored=$(dovecot_stored)
	before=$(cpu_sample "$side")
	line=$(run_lmtp "$tag" "$port" "$seed" "$DURATION")
	after=$(cpu_sample "$side")
	n=$(field messages "$line")
	read -ra cpu <<<"$(cpu_split "$before" "$after" "$n")"
	if [[ $side == kurier ]]; then
		stored=$(($(kurier_stored) - stored))
		((stored == n)) ||
			die "kurier: $n messages answered 250, $stored stored"
		RA+=("$(field rate "$line")")
		AP50+=("$(field p50_ms "$line")")
		AP99+=("$(field p99_ms "$line")")
		ACPU+=("${cpu[*]}")
	else
		stored=$(($(dovecot_stored) - stored))
		((n == stored)) ||
			die "dovecot: $n answered 250, $stored files in the maildirs"
		RB+=("$(field rate "$line")")
		BP50+=("$(field p50_ms "$line")")
		BP99+=("$(field p99_ms "$line")")
		BCPU+=("${cpu[*]}")
	fi
	printf 'bench_lmtp: %-7s s=%d size=%d rcpts=%d round %d: %s msg/s, p50 %s p90 %s p99 %s ms; cpu ms/delivery: %s %s + pg %s + kernel %s = %s\n' \
		"$side" "$SESSIONS" "$SIZE" "$RCPTS" "$ROUND" "$(field rate "$line")" \
		"$(field p50_ms "$line")" "$(field p90_ms "$line")" \
		"$(field p99_ms "$line")" \
		"$([[ $side == kurier ]] && echo kurierd || echo dovecot)" "${cpu[@]}"
	[[ -z ${TSV:-} ]] ||
		printf '%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n' \
			"$side" "$SESSIONS" "$SIZE" "$RCPTS" "$ROUND" \
			"$(field rate "$line")" "$(field p50_ms "$line")" \
			"$(field p90_ms "$line")" "$(field p99_ms "$line")" \
			"${cpu[@]}" "$n" "$(field seconds "$line")" >>"$TSV"
}

# The deliveries at the point SESSIONS:SIZE:RCPTS: REPS rounds, the
# order of the sides alternating. SEED0 keeps the bodies of different
# points apart. Usage: compare SEED0
compare() {
	local seed0=$1
	RA=() RB=() AP50=() AP99=() BP50=() BP99=() ACPU=() BCPU=()
	echo "bench_lmtp: $REPS x (kurierd, dovecot), ${DURATION}s each," \
		"$SESSIONS sessions, $SIZE bytes, $RCPTS recipient(s)"
	for ((ROUND = 1; ROUND <= REPS; ROUND++)); do
		if ((ROUND % 2)); then
			run_side kurier "kurier-$seed0-$ROUND" $((seed0 + ROUND))
			run_side dovecot "dovecot-$seed0-$ROUND" $((seed0 + ROUND))
		else
			run_side dovecot "dovecot-$seed0-$ROUND" $((seed0 + ROUND))
			run_side kurier "kurier-$seed0-$ROUND" $((seed0 + ROUND))
		fi
		printf 'bench_lmtp: run %d: kurierd %s  dovecot %s msg/s\n' "$ROUND" \
			"${RA[-1]}" "${RB[-1]}"
	done
}

# cpu_stats LINE...: medians of the columns of "server pg kernel total".
cpu_stats() {
	local c
	for c in 1 2 3 4; do
		stats 3 "$(printf '%s\n' "$@" | awk -v c="$c" '{ print $c }')" |
			awk '{ printf "%s ", $1 }'
	done
	echo
}

# Each point of POINTS, then a short summary line per point.
compare_points() {
	local p i=0 a b
	local -a v
	SUMMARY=()
	run_lmtp warmup-a "$KPORT" 100 "$WARMUP_S" >/dev/null
	run_lmtp warmup-b "$DPORT" 100 "$WARMUP_S" >/dev/null
	for p in $POINTS; do
		IFS=: read -r SESSIONS SIZE RCPTS <<<"$p"
		((SESSIONS >= 1 && SIZE >= 1024 && RCPTS >= 1 && RCPTS <= 50)) ||
			die "POINTS: '$p' out of range"
		i=$((i + 1))
		compare $((i * 1000))
		read -ra v <<<"$(stats 1 "${RA[@]}")"
		a=${v[0]}
		read -ra v <<<"$(stats 1 "${RB[@]}")"
		b=${v[0]}
		SUMMARY+=("$(printf 's=%-3d size=%-6d rcpts=%d  kurierd %8s  dovecot %8s msg/s  ratio %s  cpu ms/delivery kurier [kurierd pg kernel total] %s dovecot [dovecot - kernel total] %s' \
			"$SESSIONS" "$SIZE" "$RCPTS" "$a" "$b" \
			"$(awk -v x="$a" -v y="$b" 'BEGIN { printf "%.2f", (y > 0 ? x / y : 0) }')" \
			"$(cpu_stats "${ACPU[@]}")" "$(cpu_stats "${BCPU[@]}")")")
	done
	printf '\nbench_lmtp: medians of %d rounds per point\n' "$REPS"
	printf '  %s\n' "${SUMMARY[@]}"
}

rss_of() {
	awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}

# Worker RSS before and after IDLE idle sessions, one worker.
idle_memory() {
	local worker bench_pid end line
	kurierd_stop
	kurierd_start 1
	run_lmtp idle-warmup "$KPORT" 99 30 "$IDLE_WARMUP" >/dev/null
	worker=$(pgrep -P "$KPID" | head -n 1)
	[[ -n $worker ]] || die "no kurierd worker found"
	sleep 1
	RSS0=$(rss_of "$worker")
	IDLE_CMD=("$LMTP" -p "$KPORT" -i "$IDLE" -t 120)
	"${IDLE_CMD[@]}" >"$LOGS/idle.log" 2>&1 &
	bench_pid=$!
	end=$((SECONDS + 60))
	until line=$(grep "^lmtp idle=.* ready=" "$LOGS/idle.log" 2>/dev/null); do
		((SECONDS < end)) || die "the idle sessions were not ready in 60 s"
		kill -0 "$bench_pid" 2>/dev/null || die "lmtp -i ended: $(cat "$LOGS/idle.log")"
		sleep 0.2
	done
	(($(field ready "$line") == IDLE)) || die "only $line"
	sleep 1
	RSS1=$(rss_of "$worker")
	kill -TERM "$bench_pid"
	wait "$bench_pid" || die "lmtp -i: $(cat "$LOGS/idle.log")"
	grep -q "^lmtp idle=$IDLE held=$IDLE failures=0" "$LOGS/idle.log" ||
		die "idle sessions lost: $(cat "$LOGS/idle.log")"
	PER_IDLE=$(((RSS1 - RSS0) / IDLE))
}

# verdict X Y T TARGET: the ratio X/Y against "ratio >= T".
verdict() {
	awk -v x="$1" -v y="$2" -v t="$3" -v what="$4" 'BEGIN {
		r = y > 0 ? x / y : 0
		printf "%.2f   target: %s (ratio >= %.1f)   %s\n", r, what, t,
			(r >= t ? "PASS" : "BELOW") }'
}

report() {
	local -a a b ap50 ap99 bp50 bp99 cmd off on
	read -ra a <<<"$(stats 1 "${RA[@]}")"
	read -ra b <<<"$(stats 1 "${RB[@]}")"
	read -ra ap50 <<<"$(stats 2 "${AP50[@]}")"
	read -ra ap99 <<<"$(stats 2 "${AP99[@]}")"
	read -ra bp50 <<<"$(stats 2 "${BP50[@]}")"
	read -ra bp99 <<<"$(stats 2 "${BP99[@]}")"
	local -a acpu bcpu
	read -ra acpu <<<"$(cpu_stats "${ACPU[@]}")"
	read -ra bcpu <<<"$(cpu_stats "${BCPU[@]}")"
	printf '\nLMTP delivery (SPEC.md §7): %d-byte messages, %s, %d sessions, %d users,\n' \
		"$SIZE" "$( ((RCPTS == 1)) && echo one recipient || echo "$RCPTS recipients")" \
		"$SESSIONS" "$USERS"
	printf 'kurierd 2 workers on %d shards (%s, %s) vs Dovecot %s LMTP into maildir,\n' \
		"$NODES" "$DURABLE" \
		"$("$PGBIN/postgres" --version | awk '{ print "PostgreSQL " $3 }')" \
		"$DOVECOT_VERSION"
	printf '%s cores, %s\n' "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)"
	printf '\n%-44s %10s %10s %10s\n' "messages/s ($REPS runs)" median min max
	printf '%-44s %10s %10s %10s\n' "(A) kurierd" "${a[@]}"
	printf '%-44s %10s %10s %10s\n' "    latency p50, ms" "${ap50[@]}"
	printf '%-44s %10s %10s %10s\n' "    latency p99, ms" "${ap99[@]}"
	printf '%-44s %10s %10s %10s\n' "(B) Dovecot LMTP, maildir" "${b[@]}"
	printf '%-44s %10s %10s %10s\n' "    latency p50, ms" "${bp50[@]}"
	printf '%-44s %10s %10s %10s\n' "    latency p99, ms" "${bp99[@]}"
	printf '\nCPU ms per delivery (medians; user/user/system): %-12s %8s %8s %8s %8s\n' \
		'' server pg kernel total
	printf '%-60s %8s %8s %8s %8s\n' "(A) kurierd / PostgreSQL / kernel" "${acpu[@]}"
	printf '%-60s %8s %8s %8s %8s\n' "(B) Dovecot / - / kernel" "${bcpu[@]}"
	printf '\nkurier/Dovecot = %s' "$(verdict "${a[0]}" "${b[0]}" 1 \
		'kurier at least as fast as Dovecot; the aim is 2.0')"
	printf '\nper run, messages/s: kurierd %s | Dovecot %s\n' "${RA[*]}" "${RB[*]}"
	read -ra off <<<"$(stats 1 "${ROFF[@]}")"
	read -ra on <<<"$(stats 1 "${RON[@]}")"
	printf '\nantispam (rules with the stock SpamAssassin set, bayes, rate; no DNS), kurierd 2 workers:\n'
	printf '%-44s %10s %10s %10s\n' "messages/s ($AS_REPS runs)" median min max
	printf '%-44s %10s %10s %10s\n' "antispam off" "${off[@]}"
	printf '%-44s %10s %10s %10s\n' "antispam on" "${on[@]}"
	printf 'on/off = %s\n' "$(verdict "${on[0]}" "${off[0]}" 0.9 \
		'at most 10 percent slower with antispam')"
	printf 'per run, messages/s: off %s | on %s\n' "${ROFF[*]}" "${RON[*]}"
	printf '\nidle memory: kurierd 1 worker, VmRSS %d -> %d bytes with %d idle LMTP sessions\n' \
		"$RSS0" "$RSS1" "$IDLE"
	printf 'bytes per idle session = %d   target: <= %d   %s\n' "$PER_IDLE" \
		"$IDLE_TARGET" "$( ((PER_IDLE <= IDLE_TARGET)) && echo PASS || echo BELOW)"
	# shellcheck disable=SC2016 # placeholders, printed as they are
	lmtp_argv cmd '$KURIER_LMTP_PORT' '$SEED' "$DURATION"
	printf '\ncommands (from %s, after ops/pgcluster start -n %d -d %s -p %d):\n' \
		"$PWD" "$NODES" "$DIR" "$PORT"
	printf '  %s user import %s/passwd\n' "$CLI -c $DIR/kurier-bench.conf" "$DIR"
	printf '  %s -c %s/kurier-bench.conf   ([workers] count = 2)\n' "$KURIERD" "$DIR"
	printf '  dovecot -c %s/dovecot.conf\n' "$DV"
	printf '(A) %s\n' "${cmd[*]}"
	# shellcheck disable=SC2016 # a placeholder
	printf '(B) the same with -p $DOVECOT_LMTP_PORT; SEED = 1000 + round (1..%d), both sides\n' "$REPS"
	printf '    rate = messages answered 250 / seconds to the last answer\n'
	printf 'idle: %s   ([workers] count = 1, after a warm-up delivery run)\n' \
		"${IDLE_CMD[*]}"
}

main() {
	local t0=$EPOCHSECONDS
	declare -ga RA=() RB=() AP50=() AP99=() BP50=() BP99=() IDLE_CMD=()
	declare -ga ROFF=() RON=() ACPU=() BCPU=() SUMMARY=()
	AS_READY=2
	setup_cluster
	make_passwd
	setup_kurier
	setup_dovecot
	compare_points
	dovecot_stop
	if ((LMTP_ONLY)); then
		kurierd_stop
		DONE=1
		echo "bench_lmtp: done in $((EPOCHSECONDS - t0))s"
		return
	fi
	compare_antispam
	idle_memory
	kurierd_stop
	report | tee -a -- "$RESULTS"
	DONE=1
	echo "bench_lmtp: done in $((EPOCHSECONDS - t0))s; results appended to $RESULTS"
}

main
