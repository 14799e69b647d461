#!/usr/bin/env bash
# ops/bench_antispam.sh BUILD_DIR: the antispam comparison of issue 10,
# run by `make bench` after the other benchmarks (ops/bench.sh); it can
# also run alone (about 2 minutes with the defaults).
#
# Messages per second per core over the same corpus, DNS excluded:
#  (K) kurier's rule engine with the stock SpamAssassin rules:
#      build/<mode>/bench/rules --seconds S --rules
#      '/usr/share/spamassassin/*.cf' --dir CORPUS (ops/bench_rules.c:
#      the rules module's compiled rules over the corpus in a loop on one
#      thread; it prints "rules: N msgs/s"), pinned to one core.
#  (P) what K leaves out and the others include: kurier's MIME parse
#      with the antispam view (build/<mode>/bench/mime, ops/bench_mime.c:
#      kr_mime_parse with limits.spam_text over the corpus, one thread),
#      and K+P = 1 / (1/K + 1/P), parse and rules one after the other on
#      one core: the figure to hold against R and D.
#  (R) rspamd 3.4 (Debian's): a private instance from the stock
#      /etc/rspamd/rspamd.conf with LOCAL_CONFDIR, RUNDIR, DBDIR and
#      LOGDIR of our own (`--var`), one normal worker on 127.0.0.1:32450
#      and the controller on :32451 (the proxy off), run as _rspamd,
#      every process pinned to one core. Network checks off: rbl, surbl,
#      spf, dkim, dmarc, arc, fuzzy_check, neural, ratelimit, greylist,
#      replies, reputation, asn, emails, mx_check, dcc, phishing, hfilter
#      and the other redis or network modules disabled; its resolver is
#      127.0.0.1:32459 where nothing listens (0.1 s timeout); no redis,
#      so no Bayes. The hyperscan cache is kept in BUILD_DIR/bench/
#      rspamd-db between runs. Load: `rspamc -h 127.0.0.1:32450 -n 8`
#      over the whole corpus, again and again for S seconds, on another
#      core. Rate = messages answered / wall time.
#  (A) `spamassassin -L` (local tests only), as the issue names it: one
#      process per message (rules parsed at every start), SA_MSGS
#      messages a round, pinned to one core; rate = count / wall time.
#  (D) the fair form of SpamAssassin: spamd -L with one child
#      (--max-children 1, rules parsed once) on 127.0.0.1:32453, pinned
#      to one core, fed by 2 `spamc -x -c` loops on another core for S
#      seconds.
# SpamAssassin runs with the rules of /usr/share/spamassassin (no
# sa-update), use_bayes 0, no auto-whitelist, a HOME of its own.
#
# The corpus: N messages of exactly 4096 bytes written by this script
# (deterministic: the same bytes every run), a fifth each plain ham,
# plain spam, HTML spam, multipart/alternative (ham and spam), and
# quoted-printable text with a base64 attachment; spam uses the
# vocabulary of the stock rules, and every message has URIs in its text
# (and in href attributes where it has HTML).
#
# After starting rspamd and spamd (not timed) and one warm-up pass of
# each, ROUNDS rounds of K, P, R, A, D in turn. Reported: median with min
# and max for each, the ratios K/R and K/D of the medians against the
# target (kurier ahead of both: > 1) and K against 20 000 msg/s. Output
# of each run in BUILD_DIR/bench/logs-antispam/, the report in
# BUILD_DIR/bench/results-antispam.txt. Every listener is on loopback,
# ports 32450-32459 (kurier's `make run` uses others).
set -euo pipefail
shopt -s inherit_errexit

readonly N=${ANTISPAM_N:-200} S=${ANTISPAM_SECONDS:-5}
readonly ROUNDS=${ANTISPAM_ROUNDS:-3} SA_MSGS=${ANTISPAM_SA_MSGS:-3}
readonly RSPAMD_PORT=32450 CONTROLLER_PORT=32451 PROXY_PORT=32452
readonly SPAMD_PORT=32453 DEAD_DNS_PORT=32459
readonly RULES_GLOB='/usr/share/spamassassin/*.cf'
readonly TARGET=20000 SIZE=4096 RSPAMC_PARALLEL=8 SPAMC_LOOPS=2
readonly READY_S=120

[[ $# -eq 1 ]] || {
	echo "usage: ops/bench_antispam.sh BUILD_DIR" >&2
	exit 2
}
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
BENCH_NAME=bench_antispam
# shellcheck source=ops/bench_lib.sh
. ops/bench_lib.sh
BUILD=${1%/}
RULES_BIN=${ANTISPAM_RULES_BIN:-$BUILD/bench/rules}
MIME_BIN=$BUILD/bench/mime
RESULTS=$BUILD/bench/results-antispam.txt
LOGS=$BUILD/bench/logs-antispam
mkdir -p -- "$LOGS" "$BUILD/bench/rspamd-db"
RSPAMD_DB=$(realpath -- "$BUILD/bench/rspamd-db")
rm -f -- "$LOGS"/*.log
WORK=$(mktemp -d /tmp/kr-bench-antispam.XXXXXX)
CORPUS=$WORK/corpus

# The servers run on the last core, their clients on the first; on one
# core everything shares it.
NCPU=$(nproc)
SERVER_CPU=$((NCPU - 1))
CLIENT_CPU=0

RSPAMD_PID='' SPAMD_PID=''
cleanup() {
	local p
	for p in $RSPAMD_PID $SPAMD_PID; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $RSPAMD_PID $SPAMD_PID; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { printf '%s\n' "$EPOCHREALTIME"; }
# rate COUNT T0 T1: messages per second, one decimal.
rate() {
	awk -v n="$1" -v a="$2" -v b="$3" \
		'BEGIN { printf "%.1f\n", (b > a ? n / (b - a) : 0) }'
}

# ---------------------------------------------------------------- corpus

# N messages of SIZE bytes, CRLF lines, into $CORPUS/msg-NNN.eml. The
# random numbers are Park-Miller's (exact in awk's doubles), seed 42.
make_corpus() {
	mkdir -p -- "$CORPUS"
	LC_ALL=C awk -v n="$N" -v size="$SIZE" -v dir="$CORPUS" '
	function rnd(k) { seed = (seed * 16807) % 2147483647; return seed % k }
	function pick(list,   a, c) { c = split(list, a, " "); return a[1 + rnd(c)] }
	function word(spam) {
		if (spam && rnd(100) < 30)
			return pick(SPAMW)
		return pick(HAMW)
	}
	function uri(spam, k) {
		k = rnd(6)
		if (spam) {
			if (k == 0) return "http://192.0.2." (1 + rnd(250)) "/buy.php?id=" rnd(100000)
			if (k == 1) return "www.cheap-pills" rnd(50) ".example.biz/order"
			if (k == 2) return "https://bit.example/" rnd(1000000)
			return "http://" pick("best-deals casino-royal lucky-winner free-prize rx-store") rnd(90) ".example.info/" pick("click offer win claim") "?u=" rnd(10000)
		}
		if (k == 0) return "www.example" rnd(20) ".org"
		if (k == 1) return "mailto:" pick("alice bob carol dave") "@example.com"
		return "https://" pick("intranet wiki docs git calendar") ".example.com/" pick("project meeting report page") "/" rnd(5000)
	}
	# One line of text, at most about 72 bytes; html: with markup.
	function line(spam, html,   s, w, k) {
		s = ""
		while (length(s) < 60) {
			k = rnd(100)
			if (k < 4) w = uri(spam)
			else if (spam && k < 7) w = pick("FREE!!! $$$ 100% ACT-NOW!")
			else w = word(spam)
			if (html && k < 4 && substr(w, 1, 1) != "w" && substr(w, 1, 1) != "m")
				w = "<a href=\"" w "\">" word(spam) "</a>"
			else if (html && k < 10)
				w = "<b>" w "</b>"
			s = s (s == "" ? "" : " ") w
		}
		if (!spam)
			s = s (rnd(3) == 0 ? "," : ".")
		if (html)
			s = (rnd(3) == 0 ? "<p>" : "") s (rnd(4) == 0 ? "<br>" : "")
		return s
	}
	# Text of exactly len bytes in CRLF lines (len >= 2).
	function fill(len, spam, html, qp,   out, l) {
		out = ""
		for (;;) {
			l = line(spam, html)
			if (qp && rnd(5) == 0) l = l " =3D"
			if (qp && rnd(5) == 0) l = l "=\r\n" word(spam)
			if (length(out) + length(l) + 4 > len)
				break
			out = out l "\r\n"
		}
		l = len - length(out) - 2
		while (l > 0) {
			out = out (l > 1 ? substr(word(spam) "xxxxxxxxxxxx", 1, l - 1) : "") (l > 1 ? " " : ".")
			l = len - length(out) - 2
		}
		return out "\r\n"
	}
	function b64(len,   s, i, a) {
		a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		s = ""
		for (i = 0; i < len; i++) s = s substr(a, 1 + rnd(64), 1)
		return s
	}
	function headers(i, spam, ctype,   h, d, fromd, name, subj) {
		fromd = spam ? pick("promo-mail.example.biz offers.example.info winner.example.net") : pick("example.com example.org partner.example.net")
		name = spam ? pick("Best-Offers Pharmacy Lottery-Team Support") : pick("Alice Bob Carol Dave Erin")
		if (spam)
			subj = pick("Cheap|meds|online Youre|a|WINNER!!! 100%|FREE|offer Lose|weight|fast Limited|time|offer =?UTF-8?Q?Gr=C3=BC=C3=9Fe_=E2=82=AC_free?=")
		else
			subj = pick("Meeting|notes Project|report Re:|budget|review Lunch|tomorrow? =?ISO-8859-1?Q?K=F6ln_schedule?=")
		gsub(/\|/, " ", subj)
		d = sprintf("Mon, 01 Jan 2024 %02d:%02d:%02d +0000", rnd(24), rnd(60), rnd(60))
		h = "Return-Path: <" tolower(name) "@" fromd ">\r\n"
		h = h "Received: from mail" rnd(9) "." fromd " (mail." fromd " [198.51.100." (1 + rnd(250)) "])\r\n\tby mx.kurier.test (Postfix) with ESMTP id 4T" (100000 + i) "\r\n\tfor <u" (i % 50) "@kurier.test>; " d "\r\n"
		h = h "Received: from [10.0." rnd(255) "." rnd(255) "] by mail." fromd " with ESMTPSA; " d "\r\n"
		h = h "From: \"" name "\" <" tolower(name) "@" fromd ">\r\n"
		h = h "To: <u" (i % 50) "@kurier.test>\r\n"
		h = h "Subject: " subj "\r\n"
		h = h "Date: " d "\r\n"
		h = h "Message-ID: <" (1000000 + i) "." rnd(1000000) "@" fromd ">\r\n"
		h = h "MIME-Version: 1.0\r\n"
		h = h "X-Mailer: " pick("Thunderbird MassMailer-Pro Outlook") "\r\n"
		return h ctype "\r\n"
	}
	BEGIN {
		seed = 42
		HAMW = "the project meeting report schedule tomorrow please review attached budget thanks regards team update notes draft agenda call week office plan question answer customer release version build test results discuss summary invoice order delivery shipment"
		SPAMW = "viagra cialis pills cheap free winner prize click offer discount mortgage casino guaranteed unsubscribe limited bonus cash money credit rolex replica pharmacy weight loss lottery urgent million dollars investment"
		for (i = 0; i < n; i++) {
			kind = i % 5
			spam = kind == 1 || kind == 2 || (kind == 3 && i % 2 == 0) || (kind == 4 && i % 3 == 0)
			if (kind == 0 || kind == 1) {
				h = headers(i, spam, "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n")
				msg = h fill(size - length(h), spam, 0, 0)
			} else if (kind == 2) {
				h = headers(i, spam, "Content-Type: text/html; charset=utf-8\r\n")
				pre = "<html><head><style>p { color: red }</style></head><body>\r\n"
				post = "</body></html>\r\n"
				msg = h pre fill(size - length(h) - length(pre) - length(post), spam, 1, 0) post
			} else if (kind == 3) {
				bd = "=_alt_" i
				h = headers(i, spam, "Content-Type: multipart/alternative; boundary=\"" bd "\"\r\n")
				p1 = "--" bd "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
				p2 = "--" bd "\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<html><body>\r\n"
				end = "</body></html>\r\n--" bd "--\r\n"
				room = size - length(h) - length(p1) - length(p2) - length(end)
				msg = h p1 fill(int(room / 2), spam, 0, 0) p2 fill(room - int(room / 2), spam, 1, 0) end
			} else {
				bd = "=_mix_" i
				h = headers(i, spam, "Content-Type: multipart/mixed; boundary=\"" bd "\"\r\n")
				p1 = "--" bd "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
				p2 = "--" bd "\r\nContent-Type: application/pdf; name=\"doc" i ".pdf\"\r\nContent-Disposition: attachment; filename=\"doc" i ".pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
				end = "--" bd "--\r\n"
				att = ""
				for (k = 0; k < 12; k++) att = att b64(76) "\r\n"
				room = size - length(h) - length(p1) - length(p2) - length(att) - length(end)
				msg = h p1 fill(room, spam, 0, 1) p2 att end
			}
			if (length(msg) != size) {
				printf "message %d is %d bytes\n", i, length(msg) > "/dev/stderr"
				exit 1
			}
			f = sprintf("%s/msg-%03d.eml", dir, i)
			printf "%s", msg > f
			close(f)
		}
	}' || die "the corpus could not be written"
	FILES=("$CORPUS"/msg-*.eml)
	((${#FILES[@]} == N)) || die "the corpus has ${#FILES[@]} messages, not $N"
}

# ------------------------------------------------------------ (K) kurier

kurier_argv() {
	local -n k_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	k_argv=(taskset -c "$SERVER_CPU" "$RULES_BIN" --seconds "$S"
		--rules "$RULES_GLOB" --dir "$CORPUS")
}

# Prints the messages/s of one run.
run_kurier() {
	local tag=$1 r
	local -a cmd=()
	kurier_argv cmd
	"${cmd[@]}" >"$LOGS/$tag.log" 2>&1 ||
		die "kurier's rules bench failed (log: $LOGS/$tag.log)"
	r=$(sed -n 's/^rules: *\([0-9.]*\) *msgs\/s.*/\1/p' "$LOGS/$tag.log" |
		head -n 1)
	[[ -n $r ]] || die "no \"rules: N msgs/s\" line in $LOGS/$tag.log"
	echo "$r"
}

# Prints the messages/s of one run of bench/mime.
run_mime() {
	local tag=$1 r
	local -a cmd=()
	mime_argv cmd
	"${cmd[@]}" >"$LOGS/$tag.log" 2>&1 ||
		die "bench/mime failed (log: $LOGS/$tag.log)"
	r=$(sed -n 's/^mime: *\([0-9.]*\) *msgs\/s.*/\1/p' "$LOGS/$tag.log" |
		head -n 1)
	[[ -n $r ]] || die "no \"mime: N msgs/s\" line in $LOGS/$tag.log"
	echo "$r"
}

mime_argv() {
	local -n p_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	p_argv=(taskset -c "$SERVER_CPU" "$MIME_BIN" --seconds "$S" --dir "$CORPUS")
}

# ------------------------------------------------------------ (R) rspamd

RSPAMD_CONF=''
rspamd_config() {
	local m
	RSPAMD_CONF=$WORK/rspamd
	mkdir -p -- "$RSPAMD_CONF"/{local.d,override.d,run,log}
	for m in rbl surbl spf dkim dmarc arc dkim_signing fuzzy_check neural \
		ratelimit greylist replies url_redirector asn emails mx_check \
		dcc history_redis reputation bimi p0f phishing hfilter \
		clickhouse elastic metric_exporter external_services antivirus \
		spamtrap rspamd_update aws_s3 metadata_exporter; do
		echo 'enabled = false;' >"$RSPAMD_CONF/local.d/$m.conf"
	done
	cat >"$RSPAMD_CONF/override.d/worker-normal.inc" <<EOF
bind_socket = "127.0.0.1:$RSPAMD_PORT";
count = 1;
EOF
	cat >"$RSPAMD_CONF/override.d/worker-controller.inc" <<EOF
bind_socket = "127.0.0.1:$CONTROLLER_PORT";
count = 1;
EOF
	cat >"$RSPAMD_CONF/override.d/worker-proxy.inc" <<EOF
bind_socket = "127.0.0.1:$PROXY_PORT";
enabled = false;
EOF
	cat >"$RSPAMD_CONF/override.d/options.inc" <<EOF
dns {
  nameserver = ["127.0.0.1:$DEAD_DNS_PORT"];
  timeout = 0.1s;
  retransmits = 1;
  sockets = 1;
}
EOF
	echo 'level = "notice";' >"$RSPAMD_CONF/override.d/logging.inc"
}

rspamd_argv() {
	local -n r_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	r_argv=(taskset -c "$SERVER_CPU" rspamd -f -c /etc/rspamd/rspamd.conf
		--var "LOCAL_CONFDIR=$RSPAMD_CONF" --var "RUNDIR=$RSPAMD_CONF/run"
		--var "DBDIR=$RSPAMD_DB" --var "LOGDIR=$RSPAMD_CONF/log")
	if ((EUID == 0)); then
		r_argv+=(-u _rspamd -g _rspamd)
	fi
}

rspamd_start() {
	local t0=$EPOCHSECONDS
	local -a cmd=()
	rspamd_config
	((EUID != 0)) || chown -R _rspamd:_rspamd -- "$RSPAMD_CONF" "$RSPAMD_DB"
	rspamd_argv cmd
	"${cmd[@]}" >"$LOGS/rspamd-stdout.log" 2>&1 &
	RSPAMD_PID=$!
	# Ready when a message gets an answer (hyperscan compiles the
	# first time; the cache then stays in RSPAMD_DB).
	until rspamc -h "127.0.0.1:$RSPAMD_PORT" -t 5 -- "${FILES[0]}" 2>/dev/null |
		grep -q '^Action:'; do
		kill -0 "$RSPAMD_PID" 2>/dev/null || {
			tail -n 20 -- "$RSPAMD_CONF/log/rspamd.log" >&2 || true
			die "rspamd did not start (log: $LOGS/rspamd.log)"
		}
		((EPOCHSECONDS - t0 < READY_S)) || die "rspamd not ready in ${READY_S}s"
		sleep 1
	done
}

# One pass over the corpus: prints the messages answered.
rspamd_pass() {
	taskset -c "$CLIENT_CPU" rspamc -h "127.0.0.1:$RSPAMD_PORT" \
		-n "$RSPAMC_PARALLEL" -t 10 -- "${FILES[@]}" 2>>"$LOGS/$1.log" |
		grep -c '^Action:' || true
}

# Passes over the corpus for S seconds; prints messages/s.
run_rspamd() {
	local tag=$1 t0 t1 count=0 got deadline
	t0=$(now)
	deadline=$(awk -v a="$t0" -v s="$S" 'BEGIN { printf "%.6f", a + s }')
	while :; do
		got=$(rspamd_pass "$tag")
		((got == N)) || die "rspamd answered $got of $N (log: $LOGS/$tag.log)"
		count=$((count + got))
		t1=$(now)
		awk -v a="$t1" -v b="$deadline" 'BEGIN { exit !(a < b) }' || break
	done
	echo "rspamd $tag: $count messages" >>"$LOGS/$tag.log"
	rate "$count" "$t0" "$t1"
}

# -------------------------------------------------------- SpamAssassin

SA_HOME=''
SA_CF=(--cf='use_bayes 0' --cf='bayes_auto_learn 0' --cf='use_auto_whitelist 0')

# (A): SA_MSGS messages, one `spamassassin -L` process each.
sa_argv() {
	local -n a_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	a_argv=(taskset -c "$SERVER_CPU" spamassassin -L -x
		--configpath=/usr/share/spamassassin "${SA_CF[@]}")
}

run_sa() {
	local tag=$1 i t0 t1
	local -a cmd=()
	sa_argv cmd
	t0=$(now)
	for ((i = 0; i < SA_MSGS; i++)); do
		HOME=$SA_HOME "${cmd[@]}" <"${FILES[i * 37 % N]}" \
			>/dev/null 2>>"$LOGS/$tag.log" ||
			die "spamassassin failed (log: $LOGS/$tag.log)"
	done
	t1=$(now)
	rate "$SA_MSGS" "$t0" "$t1"
}

spamd_argv() {
	local -n d_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	d_argv=(taskset -c "$SERVER_CPU" spamd -L -x --max-children 1
		--min-children 1 --min-spare 1 --max-spare 1
		-i "127.0.0.1:$SPAMD_PORT" -A 127.0.0.1
		--configpath=/usr/share/spamassassin "${SA_CF[@]}"
		-H "$SA_HOME" -s stderr)
	if ((EUID == 0)); then
		d_argv+=(-u "$(id -un debian-spamd 2>/dev/null || echo nobody)")
	fi
}

# One message through spamd: 0 ham, 1 spam; anything else is a failure.
spamc_check() {
	local rc=0
	taskset -c "$CLIENT_CPU" spamc -x -c -d 127.0.0.1 -p "$SPAMD_PORT" \
		<"$1" >/dev/null 2>&1 || rc=$?
	((rc <= 1))
}

spamd_start() {
	local t0=$EPOCHSECONDS
	local -a cmd=()
	spamd_argv cmd
	"${cmd[@]}" >"$LOGS/spamd.log" 2>&1 &
	SPAMD_PID=$!
	until spamc_check "${FILES[0]}"; do
		kill -0 "$SPAMD_PID" 2>/dev/null || {
			tail -n 20 -- "$LOGS/spamd.log" >&2
			die "spamd did not start (log: $LOGS/spamd.log)"
		}
		((EPOCHSECONDS - t0 < READY_S)) || die "spamd not ready in ${READY_S}s"
		sleep 1
	done
}

# One spamc loop from message $2 on, every SPAMC_LOOPS-th, until the
# deadline $3; prints its count.
spamc_loop() {
	local tag=$1 i=$2 deadline=$3 count=0
	while awk -v a="$(now)" -v b="$deadline" 'BEGIN { exit !(a < b) }'; do
		spamc_check "${FILES[i % N]}" || {
			echo "spamc failed on ${FILES[i % N]}" >>"$LOGS/$tag.log"
			echo -1
			return
		}
		count=$((count + 1))
		i=$((i + SPAMC_LOOPS))
	done
	echo "$count"
}

run_spamd() {
	local tag=$1 t0 t1 deadline k c total=0
	local -a out=()
	t0=$(now)
	deadline=$(awk -v a="$t0" -v s="$S" 'BEGIN { printf "%.6f", a + s }')
	for ((k = 0; k < SPAMC_LOOPS; k++)); do
		spamc_loop "$tag" "$k" "$deadline" >"$WORK/spamc-$k" &
		out+=($!)
	done
	for k in "${out[@]}"; do wait "$k"; done
	t1=$(now)
	for ((k = 0; k < SPAMC_LOOPS; k++)); do
		c=$(cat -- "$WORK/spamc-$k")
		((c >= 0)) || die "spamc failed (log: $LOGS/$tag.log)"
		total=$((total + c))
	done
	echo "spamd $tag: $total messages" >>"$LOGS/$tag.log"
	rate "$total" "$t0" "$t1"
}

# ---------------------------------------------------------------- report

# show WORD...: a command as one would type it (words with spaces or
# glob characters in single quotes; none holds a quote).
show() {
	local w text=''
	for w; do
		if [[ $w =~ [[:space:]*?] ]]; then
			w="'$w'"
		fi
		text+="${text:+ }$w"
	done
	printf '%s' "$text"
}

# ratio X Y: X/Y, two decimals (0 when Y is not a number > 0).
ratio() {
	awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", (y + 0 > 0 ? x / y : 0) }'
}

report() {
	local -a k r a d p kp kc rc ac dc pc
	read -ra k <<<"$1"
	read -ra r <<<"$2"
	read -ra a <<<"$3"
	read -ra d <<<"$4"
	read -ra p <<<"$9"
	read -ra kp <<<"${10}"
	printf '\nantispam, messages/s per core (issue 10): %d messages of %d bytes,\n' "$N" "$SIZE"
	printf 'DNS excluded, %s cores (servers on cpu %d, clients on cpu %d), %s\n' \
		"$NCPU" "$SERVER_CPU" "$CLIENT_CPU" "$(date -u +%Y-%m-%dT%H:%MZ)"
	printf '%s; %s; %s\n' "$(rspamd --version 2>&1 | head -n 1)" \
		"$(spamassassin --version | head -n 1)" \
		"rules: $(compgen -G "$RULES_GLOB" | wc -l) files $RULES_GLOB"
	printf '\n%-46s %10s %10s %10s\n' "messages/s ($ROUNDS rounds)" median min max
	printf '%-46s %10s %10s %10s\n' "(K) kurier rule engine, 1 thread" "${k[@]}"
	printf '%-46s %10s %10s %10s\n' "(P) kurier MIME parse + antispam view" "${p[@]}"
	printf '%-46s %10s %10s %10s\n' "(K+P) rules after the parse, one core" "${kp[@]}"
	printf '%-46s %10s %10s %10s\n' "(R) rspamd 3.4, 1 worker, rspamc -n $RSPAMC_PARALLEL" "${r[@]}"
	printf '%-46s %10s %10s %10s\n' "(A) spamassassin -L, a process per message" "${a[@]}"
	printf '%-46s %10s %10s %10s\n' "(D) spamd -L, 1 child, $SPAMC_LOOPS spamc loops" "${d[@]}"
	if [[ ${k[0]} == n/a ]]; then
		printf '\nK/R, K/D, K/A: n/a (%s is missing: no kurier figure)\n' "$RULES_BIN"
	else
		printf '\nK/R = %s   K/D = %s   K/A = %s   target: kurier ahead of both (> 1): %s\n' \
			"$(ratio "${k[0]}" "${r[0]}")" "$(ratio "${k[0]}" "${d[0]}")" \
			"$(ratio "${k[0]}" "${a[0]}")" \
			"$(awk -v k="${k[0]}" -v r="${r[0]}" -v d="${d[0]}" \
				'BEGIN { print (k > r && k > d ? "PASS" : "BELOW") }')"
		printf 'K = %s msg/s against >= %d msg/s: %s\n' "${k[0]}" "$TARGET" \
			"$(awk -v k="${k[0]}" -v t="$TARGET" \
				'BEGIN { print (k >= t ? "PASS" : "BELOW") }')"
		printf 'with the parse: (K+P)/R = %s   (K+P)/D = %s\n' \
			"$(ratio "${kp[0]}" "${r[0]}")" "$(ratio "${kp[0]}" "${d[0]}")"
	fi
	printf '\nper round: K %s | P %s | R %s | A %s | D %s\n' "$5" "${11}" "$6" "$7" "$8"
	kurier_argv kc
	rspamd_argv rc
	sa_argv ac
	spamd_argv dc
	mime_argv pc
	printf '\ncommands (from %s; CORPUS = %d messages written by this script):\n' "$PWD" "$N"
	printf '(K) %s\n' "$(show "${kc[@]}")"
	printf '(P) %s\n' "$(show "${pc[@]}")"
	printf '(R) %s\n    with LOCAL_CONFDIR holding local.d/<module>.conf "enabled = false;" and\n' "$(show "${rc[@]}")"
	printf '    override.d/{worker-normal,worker-controller,worker-proxy,options,logging}.inc as above;\n'
	printf '    load: taskset -c %d rspamc -h 127.0.0.1:%d -n %d CORPUS/* repeated for %ss\n' \
		"$CLIENT_CPU" "$RSPAMD_PORT" "$RSPAMC_PARALLEL" "$S"
	printf '(A) %s < MESSAGE   (%d messages a round)\n' "$(show "${ac[@]}")" "$SA_MSGS"
	printf '(D) %s\n    load: %d loops of taskset -c %d spamc -x -c -d 127.0.0.1 -p %d < MESSAGE for %ss\n' \
		"$(show "${dc[@]}")" "$SPAMC_LOOPS" "$CLIENT_CPU" "$SPAMD_PORT" "$S"
}

main() {
	local t0=$EPOCHSECONDS round have_k=1 kp_stats='n/a n/a n/a'
	local -a rk=() rr=() ra=() rd=() rp=() rkp=()
	make_corpus
	SA_HOME=$WORK/sa-home
	mkdir -p -- "$SA_HOME"
	((EUID != 0)) || chown "$(id -un debian-spamd 2>/dev/null || echo nobody)" -- "$SA_HOME"
	chmod 755 -- "$WORK"
	[[ -x $MIME_BIN ]] || die "$MIME_BIN is missing (make $MIME_BIN)"
	[[ -x $RULES_BIN ]] || {
		have_k=0
		echo "$BENCH_NAME: $RULES_BIN is missing: no kurier figure" >&2
	}
	echo "$BENCH_NAME: starting rspamd and spamd (not timed)"
	rspamd_start
	spamd_start
	# Warm-up of rspamd (spamd had one message; bench/rules and
	# bench/mime go over every message before they measure).
	rspamd_pass warmup-rspamd >/dev/null
	echo "$BENCH_NAME: $ROUNDS rounds of K, P, R, A, D, ${S}s each (A: $SA_MSGS messages)"
	for ((round = 1; round <= ROUNDS; round++)); do
		if ((have_k)); then
			rk+=("$(run_kurier "kurier$round")")
		else
			rk+=(n/a)
		fi
		rp+=("$(run_mime "mime$round")")
		rr+=("$(run_rspamd "rspamd$round")")
		ra+=("$(run_sa "sa$round")")
		rd+=("$(run_spamd "spamd$round")")
		printf '%s: round %d: K %s  P %s  R %s  A %s  D %s msg/s\n' \
			"$BENCH_NAME" "$round" "${rk[-1]}" "${rp[-1]}" "${rr[-1]}" \
			"${ra[-1]}" "${rd[-1]}"
	done
	if ((have_k)); then
		for ((round = 0; round < ROUNDS; round++)); do
			rkp+=("$(awk -v k="${rk[round]}" -v p="${rp[round]}" \
				'BEGIN { printf "%.1f", 1 / (1 / k + 1 / p) }')")
		done
		kp_stats=$(stats 1 "${rkp[@]}")
	fi
	report "$( ((have_k)) && stats 1 "${rk[@]}" || echo 'n/a n/a n/a')" \
		"$(stats 1 "${rr[@]}")" "$(stats 2 "${ra[@]}")" \
		"$(stats 1 "${rd[@]}")" "${rk[*]}" "${rr[*]}" "${ra[*]}" \
		"${rd[*]}" "$(stats 1 "${rp[@]}")" "$kp_stats" "${rp[*]}" |
		tee -- "$RESULTS"
	echo "$BENCH_NAME: done in $((EPOCHSECONDS - t0))s; results in $RESULTS"
}

main
