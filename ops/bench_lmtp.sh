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
# After a 2-second warm-up of each, REPS runs of DURATION seconds each,
# interleaved A, B, A, B, ..., each with its own seed (the same for A
# and B of one round, so that no body repeats on kurier's shards across
# rounds). Before each run: CHECKPOINT on every node, Dovecot's
# maildirs removed, sync and a pause, so that no run pays for the
# previous one's dirty pages. After each run the messages stored are
# counted (rows on the shards, files in the maildirs) and must match
# the 250s. Reported: median with min and max, the ratio kurier/Dovecot
# of the medians against the target (at least 1; the aim is 2).
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
readonly NODES=20 PORT=30200 SESSIONS=16 USERS=1000 SIZE=4096
readonly REPS=3 DURATION=10 WARMUP_S=2 SETTLE_S=2 MESSAGES=1000000 AS_REPS=2
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
			settle
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
	DPORT=$(free_port)
	dovecot_conf >"$DV/dovecot.conf"
	dovecot -c "$DV/dovecot.conf" || die "dovecot did not start (log: $DV/dovecot.log)"
	wait_port "$DPORT" 30
	DOVECOT_VERSION=$(dovecot --version | awk '{ print $1 }')
}

# ------------------------------------------------------------------ runs

# Clean buffers and a quiet disk for every run, and no mail left from
# the last one in Dovecot's maildirs.
settle() {
	local k
	local -a pids=()
	for ((k = 0; k < NODES; k++)); do
		psql_node "$k" -c CHECKPOINT >/dev/null &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k"; done
	find "$DV/mail" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
	sync
	sleep "$SETTLE_S"
}

# lmtp_argv ARRAY PORT SEED SECONDS [MESSAGES]
lmtp_argv() {
	local -n l_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	l_argv=("$LMTP" -p "$2" -s "$SESSIONS" -n "${5:-$MESSAGES}" -t "$4"
		-m "$SIZE" -r 'u%d@bench.test' -u "$USERS" -S "$3")
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

# The deliveries: warm-up, then A, B interleaved REPS times.
compare() {
	local rep line stored k_total=0
	run_lmtp warmup-a "$KPORT" 100 "$WARMUP_S" >/dev/null
	run_lmtp warmup-b "$DPORT" 100 "$WARMUP_S" >/dev/null
	k_total=$(kurier_stored)
	echo "bench_lmtp: $REPS x (kurierd, dovecot), ${DURATION}s each"
	for ((rep = 1; rep <= REPS; rep++)); do
		settle
		line=$(run_lmtp "kurier$rep" "$KPORT" "$rep" "$DURATION")
		RA+=("$(field rate "$line")")
		AP50+=("$(field p50_ms "$line")")
		AP99+=("$(field p99_ms "$line")")
		k_total=$((k_total + $(field messages "$line")))
		stored=$(kurier_stored)
		((stored == k_total)) ||
			die "kurier: $k_total messages answered 250 in all, $stored stored"
		settle
		line=$(run_lmtp "dovecot$rep" "$DPORT" "$rep" "$DURATION")
		RB+=("$(field rate "$line")")
		BP50+=("$(field p50_ms "$line")")
		BP99+=("$(field p99_ms "$line")")
		stored=$(dovecot_stored)
		(($(field messages "$line") == stored)) ||
			die "dovecot: $(field messages "$line") answered 250, $stored files in the maildirs"
		printf 'bench_lmtp: run %d: kurierd %s  dovecot %s msg/s\n' "$rep" \
			"${RA[-1]}" "${RB[-1]}"
	done
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
	printf '\nLMTP delivery (SPEC.md §7): %d-byte messages, one recipient, %d sessions, %d users,\n' \
		"$SIZE" "$SESSIONS" "$USERS"
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
	printf '(B) the same with -p $DOVECOT_LMTP_PORT; SEED = run number (1..%d), both sides\n' "$REPS"
	printf '    rate = messages answered 250 / seconds to the last answer\n'
	printf 'idle: %s   ([workers] count = 1, after a warm-up delivery run)\n' \
		"${IDLE_CMD[*]}"
}

main() {
	local t0=$EPOCHSECONDS
	declare -ga RA=() RB=() AP50=() AP99=() BP50=() BP99=() IDLE_CMD=()
	declare -ga ROFF=() RON=()
	AS_READY=2
	setup_cluster
	make_passwd
	setup_kurier
	setup_dovecot
	compare
	dovecot_stop
	compare_antispam
	idle_memory
	kurierd_stop
	report | tee -a -- "$RESULTS"
	DONE=1
	echo "bench_lmtp: done in $((EPOCHSECONDS - t0))s; results appended to $RESULTS"
}

main
