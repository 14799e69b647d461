# Shared helpers for integration test scripts (sourced, not run).
# Every wait is bounded; every failure says what was expected.

KR_BUILD=${KR_BUILD:-build/release}
KURIERD=$KR_BUILD/kurierd

# Started as root, kurierd's workers drop to the system user kurier
# ([server] user) and re-read the config on SIGHUP: the user must exist
# (`make test` creates it through ops/deps.sh; this covers running
# tests/run.sh alone) and the configs the tests write readable by it.
umask 022
if [[ $(id -u) -eq 0 ]]; then ops/kurier-user.sh >/dev/null; fi

ok() { echo "ok - $*"; }
# Scripts point KR_DIAG at files worth showing when they fail.
KR_DIAG=()
fail() {
	echo "FAIL - $*" >&2
	local f
	for f in "${KR_DIAG[@]}"; do
		[[ -f $f ]] || continue
		echo "--- last lines of $f" >&2
		tail -n 30 "$f" >&2
	done
	exit 1
}

# A TCP port on 127.0.0.1 that nothing listens on now. Drawn from
# 20000-27999: below the kernel's ephemeral range (32768+), where a
# client socket could hold it by the time the server binds, and below
# the test clusters' ports (28400+). Usage: free_port [TAKEN...]
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 8000))
		[[ " $* " != *" $p "* ]] || continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.1 s.
wait_for() {
	local limit=$1 what=$2
	shift 2
	local deadline=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		[[ $SECONDS -lt $deadline ]] || fail "timed out after ${limit}s waiting for: $what"
		sleep 0.1
	done
}

# ---- a DNS server on loopback (SPF, DNSBL) ----------------------------
# kr_dns_start PORT [DNSMASQ-ARGS...]: Debian's dnsmasq on 127.0.0.1:PORT
# (UDP and TCP) answering only from its command line: no upstream, no
# /etc/hosts, no config file; every name under .test that no argument
# defines answers NXDOMAIN (--local=/test/), any other name REFUSED.
# Records as arguments, e.g.
#   --txt-record=example.test,"v=spf1 -all"   (TXT)
#   --host-record=mx.example.test,192.0.2.1   (A, and its PTR)
#   --address=/2.0.0.127.zen.test/127.0.0.2   (A for the name and below)
# Its pid in $KR_DNS_PID, its query log in $KR_BUILD/test-logs/dns-PORT.log
# (in KR_DIAG). The exit traps of kr_stack_start and kr_cluster_start
# stop it (start it after them), or call kr_dns_stop. The resolver for
# kurierd: [antispam] resolver = 127.0.0.1:PORT.
KR_DNS_PID=
kr_dns_start() {
	local port=$1 log=$KR_BUILD/test-logs/dns-$1.log
	[[ $log == /* ]] || log=$PWD/$log # dnsmasq runs in /
	shift
	mkdir -p "$KR_BUILD/test-logs"
	/usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
		--port="$port" --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts --local=/test/ --log-queries \
		--log-facility="$log" "$@" >>"$log" 2>&1 &
	KR_DNS_PID=$!
	KR_DIAG+=("$log")
	wait_for 10 "dnsmasq on port $port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
	kill -0 "$KR_DNS_PID" 2>/dev/null || fail "dnsmasq did not start: $(tail -n 5 "$log")"
}
kr_dns_stop() {
	[[ -n $KR_DNS_PID ]] || return 0
	kill "$KR_DNS_PID" 2>/dev/null || true
	wait "$KR_DNS_PID" 2>/dev/null || true
	KR_DNS_PID=
}

# ---- a cluster alone ---------------------------------------------------
# kr_cluster_start NAME PORT NODES: a private cluster of NODES in
# var/test-NAME ($KR_CLUSTER_DIR, its config $KR_CLUSTER_DIR/kurier.conf)
# on ports PORT.., for scripts that run a test binary against it; its
# start-up output in $KR_BUILD/test-logs/NAME, its first node's log in
# KR_DIAG. Everything is removed on exit.
KR_CLUSTER_DIR=
kr_cluster_cleanup() {
	kr_dns_stop
	[[ -n $KR_CLUSTER_DIR ]] || return 0
	ops/pgcluster stop -d "$KR_CLUSTER_DIR" >/dev/null 2>&1 || true
	rm -rf "$KR_CLUSTER_DIR"
}
kr_cluster_start() {
	local name=$1 port=$2 nodes=$3 out=$KR_BUILD/test-logs/$1
	KR_CLUSTER_DIR=var/test-$name
	trap kr_cluster_cleanup EXIT
	kr_cluster_cleanup
	mkdir -p "$out"
	ops/pgcluster start -n "$nodes" -d "$KR_CLUSTER_DIR" -p "$port" >"$out/pgcluster.out" 2>&1 ||
		fail "ops/pgcluster start: $(cat "$out/pgcluster.out")"
	KR_DIAG+=("$KR_CLUSTER_DIR/pg/log/node00.log")
}

# ---- a whole stack for one script ------------------------------------
# kr_stack_start NAME PORT [NODES]: a cluster of NODES (default 20) in
# var/test-NAME on ports PORT.., a work dir $KR_WORK, a config $KR_CONF
# (2 workers, admin token $KR_TOKEN and session secret $KR_SECRET, fixed
# unless set before; $KR_CONNINFO_EXTRA appended to every shard's
# conninfo; $KR_CONF_EXTRA appended: it may repeat a section, not a
# key; $KR_PGCLUSTER_ARGS added to ops/pgcluster start), kurierd started in the background ($KR_PID, log
# $KR_WORK/kurierd.log, stdout $KR_WORK/kurierd.out) and its ports
# $KR_LMTP, $KR_HTTP, $KR_ADMIN. Everything is removed on exit. Users:
# kr_cli user add ... $KR_WORKERS sets [workers] count (default 2).
KR_PID=
KR_STACK_DIR=
kr_stack_cleanup() {
	kr_dns_stop
	[[ -n $KR_PID ]] && kill -9 "$KR_PID" 2>/dev/null || true
	pkill -9 -f "kurierd -c $KR_CONF" 2>/dev/null || true
	if [[ -n $KR_STACK_DIR ]]; then
		ops/pgcluster stop -d "$KR_STACK_DIR" >/dev/null 2>&1 || true
		rm -rf "$KR_STACK_DIR"
	fi
	[[ -n ${KR_WORK:-} ]] && rm -rf "$KR_WORK"
	return 0
}
kr_stack_start() {
	local name=$1 port=$2 nodes=${3:-20}
	KR_STACK_DIR=var/test-$name
	KR_PORT=$port KR_NODES=$nodes
	KR_WORK=$(mktemp -d "/tmp/kr-$name.XXXXXX")
	chmod 0755 "$KR_WORK"
	KR_CONF=$KR_WORK/kurier.conf
	KR_TOKEN=${KR_TOKEN:-$(printf 't%.0s' $(seq 40))}
	KR_SECRET=${KR_SECRET:-$(printf 's%.0s' $(seq 40))}
	trap kr_stack_cleanup EXIT
	ops/pgcluster stop -d "$KR_STACK_DIR" >/dev/null 2>&1 || true
	rm -rf "$KR_STACK_DIR"
	KR_DIAG+=("$KR_WORK/kurierd.log")
	# shellcheck disable=SC2086 # extra pgcluster options, e.g. --replicas 1
	ops/pgcluster start -n "$nodes" -d "$KR_STACK_DIR" -p "$port" ${KR_PGCLUSTER_ARGS:-} >/dev/null
	KR_LMTP=$(free_port)
	KR_ADMIN=$(free_port "$KR_LMTP")
	KR_HTTP=$(free_port "$KR_LMTP" "$KR_ADMIN")
	kr_stack_conf
	kr_stack_run
}
# Rewrites $KR_CONF from the ports and $KR_CONF_EXTRA.
kr_stack_conf() {
	{
		printf '[workers]\ncount = %s\n' "${KR_WORKERS:-2}"
		# An instrumented worker's RSS holds ASan's shadow and its 256 MiB
		# quarantine: the 512 MiB default would cycle it for that alone.
		[[ $KR_BUILD != *asan* ]] || printf 'max_rss = 2G\n'
		printf '[admin]\nlisten = 127.0.0.1:%s\ntoken = %s\n' "$KR_ADMIN" "$KR_TOKEN"
		printf '[lmtp]\nlisten = 127.0.0.1:%s\nhostname = mx.test\n' "$KR_LMTP"
		printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$KR_HTTP"
		printf '[auth]\nsecret = %s\n' "$KR_SECRET"
		grep -v '^#' "$KR_STACK_DIR/kurier.conf" |
			awk -v x="${KR_CONNINFO_EXTRA:-}" '/^primary = / && x != "" { $0 = $0 " " x } { print }' |
			kr_stack_shards
		printf '%s\n' "${KR_CONF_EXTRA:-}"
	} >"$KR_CONF"
	chmod 0644 "$KR_CONF"
}
# The cluster's [shard.N] sections as the config lists them: all of
# them, or with $KR_SHARDS set only shards 0..KR_SHARDS-1 (the other
# nodes run, unlisted: shards to add later); with $KR_SHARDS_BUCKETS=M
# too, shards 0..M-1 get explicit ranges (the even split over M) and
# the others none (empty shards, waiting for bucket moves).
kr_stack_shards() {
	awk -v max="${KR_SHARDS:-}" -v m="${KR_SHARDS_BUCKETS:-}" '
		/^[ \t]*\[/ {
			skip = 0
			if (match($0, /^\[shard\.[0-9]+\]/)) {
				n = substr($0, 8, RLENGTH - 8) + 0
				skip = max != "" && n >= max + 0
				if (!skip) print
				if (!skip && m != "" && n < m + 0)
					printf "buckets = %d-%d\n", int(n * 4096 / m), int((n + 1) * 4096 / m) - 1
				next
			}
		}
		!skip { print }'
}
# Starts kurierd on $KR_CONF and waits for both ports.
kr_stack_run() {
	"$KURIERD" -c "$KR_CONF" >>"$KR_WORK/kurierd.out" 2>>"$KR_WORK/kurierd.log" &
	KR_PID=$!
	wait_for 15 "LMTP port $KR_LMTP" bash -c "exec 3<>/dev/tcp/127.0.0.1/$KR_LMTP"
	wait_for 15 "JSON-RPC port $KR_HTTP" bash -c "exec 3<>/dev/tcp/127.0.0.1/$KR_HTTP"
	# The ports answer once one worker serves; give the others (each
	# reads the shard map first) up to 10 s, so that tests that note
	# the worker pids see them all. Not an error when they do not come:
	# some tests start workers that cannot serve.
	local _
	for _ in $(seq 100); do
		[[ $(kr_admin /api/workers 2>/dev/null |
			jq '[.workers[] | select(.state == "serving")] | length' 2>/dev/null) == "${KR_WORKERS:-2}" ]] && break
		sleep 0.1
	done
}
kr_cli() { "$KR_BUILD/kurier" -c "$KR_CONF" "$@"; }
# kr_second_host CONF: writes CONF, $KR_CONF with free ports of its own
# for admin, LMTP and JSON-RPC (a second kurierd on the same cluster,
# with the same [auth] secret and [admin] token), and prints those
# ports: "ADMIN LMTP HTTP". Its caller starts and stops it.
kr_second_host() {
	local conf=$1 admin lmtp http p
	admin=$(free_port "$KR_ADMIN" "$KR_LMTP" "$KR_HTTP")
	lmtp=$(free_port "$KR_ADMIN" "$KR_LMTP" "$KR_HTTP" "$admin")
	http=$(free_port "$KR_ADMIN" "$KR_LMTP" "$KR_HTTP" "$admin" "$lmtp")
	sed -e "s/^listen = 127.0.0.1:$KR_ADMIN\$/listen = 127.0.0.1:$admin/" \
		-e "s/^listen = 127.0.0.1:$KR_LMTP\$/listen = 127.0.0.1:$lmtp/" \
		-e "s/^listen = 127.0.0.1:$KR_HTTP\$/listen = 127.0.0.1:$http/" \
		"$KR_CONF" >"$conf"
	chmod 0644 "$conf"
	for p in "$admin" "$lmtp" "$http"; do
		grep -q "^listen = 127.0.0.1:$p\$" "$conf" || fail "$conf lacks port $p"
	done
	echo "$admin $lmtp $http"
}
# kr_second_start CONF PORT...: the second kurierd on CONF started in
# the background ($KR_B_PID, log $KR_WORK/kurierd-b.log), then waits for
# each PORT. kr_second_stop [SIGNAL]: its master and workers ended
# (default KILL; TERM to stop gracefully); the caller's EXIT trap runs it.
KR_B_PID=
kr_second_start() {
	local conf=$1 p
	shift
	[[ " ${KR_DIAG[*]} " == *" $KR_WORK/kurierd-b.log "* ]] || KR_DIAG+=("$KR_WORK/kurierd-b.log")
	"$KURIERD" -c "$conf" >>"$KR_WORK/kurierd-b.out" 2>>"$KR_WORK/kurierd-b.log" &
	KR_B_PID=$!
	for p in "$@"; do
		wait_for 15 "the second kurierd's port $p" bash -c "exec 3<>/dev/tcp/127.0.0.1/$p"
	done
}
kr_second_stop() {
	[[ -n $KR_B_PID ]] || return 0
	local sig=${1:-KILL}
	kill -CONT "$KR_B_PID" $(pgrep -P "$KR_B_PID") 2>/dev/null || true
	kill -"$sig" "$KR_B_PID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$KR_B_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$KR_B_PID" 2>/dev/null || true
	pkill -9 -P "$KR_B_PID" 2>/dev/null || true
	{ wait "$KR_B_PID" || true; } 2>/dev/null
	KR_B_PID=
}
# kr_admin PATH: GET on the admin port with the token.
kr_admin() {
	curl -sS --max-time 10 -H "Authorization: Bearer $KR_TOKEN" \
		"http://127.0.0.1:$KR_ADMIN$1"
}
# kr_admin_post PATH: POST to the admin API, prints the HTTP status.
kr_admin_post() {
	curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
		-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$KR_ADMIN$1"
}
# kr_rpc [TOKEN] BODY: POST /rpc, prints the response body.
kr_rpc() {
	curl -sS --max-time 30 -H 'Content-Type: application/json' \
		${1:+-H "Authorization: Bearer $1"} --data-binary "$2" \
		"http://127.0.0.1:$KR_HTTP/rpc"
}
# As the user whose session token is in $KR_TOK: kr_call METHOD PARAMS
# (one JSON-RPC call), kr_mailbox ROLE (the id of the mailbox with that
# role), kr_raw MAILBOX SUBJECT (the first stored message with that
# subject, as stored; fails the test when there is none).
kr_call() { kr_rpc "$KR_TOK" "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1}"; }
kr_mailbox() { kr_call mailbox.list '{}' | jq -e ".result[] | select(.role == \"$1\") | .id"; }
kr_raw() {
	local uid
	uid=$(kr_call message.list "{\"mailbox\":$1,\"limit\":200}" |
		jq -e "[.result.messages[] | select(.subject == \"$2\")][0].uid") ||
		fail "no message \"$2\" in mailbox $1"
	kr_call message.raw "{\"mailbox\":$1,\"uid\":$uid}" | jq -r .result.raw | base64 -d
}
# kr_login USER PASSWORD: prints the session token.
kr_login() {
	kr_rpc "" "{\"jsonrpc\":\"2.0\",\"method\":\"auth.login\",\"params\":{\"user\":\"$1\",\"password\":\"$2\"},\"id\":1}" |
		jq -er .result.session
}
# Worker pids, one per line, from /api/workers.
kr_worker_pids() { kr_admin /api/workers | jq -r '.workers[].pid'; }
# Crashed worker exits so far (the master's counter).
kr_crashes() {
	local m
	m=$(kr_admin /metrics)
	awk '$1 == "kurier_worker_exits_total{reason=\"crash\"}" { print $2; f = 1 } END { if (!f) print 0 }' <<<"$m"
}
# Peak resident set of a process in KiB (VmHWM).
kr_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# ---- a private Postfix ------------------------------------------------
# kr_postfix_start DIR TRANSPORT [DOMAINS]: a private Postfix instance
# (root only: its master starts as root) that never touches the
# system's mail: config in DIR/etc ($KR_PF_CONF), queue DIR/queue, data
# DIR/data, log DIR/maillog (in KR_DIAG); smtpd on 127.0.0.1:$KR_PF_SMTP
# the one listener; mail for DOMAINS (default kurier.test) goes to
# virtual_transport = TRANSPORT (e.g. lmtp:inet:127.0.0.1:PORT, or a
# nexthop list), anything else is refused; retries every 1-2 s. DIR must
# be reachable by user postfix (mode 0755 up the path). The master's pid
# in $KR_PF_PID. kr_postfix_stop (the caller's EXIT trap runs it) stops
# it, killing its process group if `postfix stop` could not.
KR_PF_DIR='' KR_PF_CONF='' KR_PF_SMTP='' KR_PF_PID='' KR_PF_QID=''
kr_postfix_start() {
	local dir=$1 transport=$2 domains=${3:-kurier.test} try listening
	command -v postfix >/dev/null || fail "postfix not installed (make deps)"
	[[ $(id -u) == 0 ]] || fail "needs root: Postfix's master starts as root"
	KR_PF_DIR=$dir KR_PF_CONF=$dir/etc
	KR_DIAG+=("$dir/maillog")
	# Postfix wants its config tree root-owned and the queue and data
	# directories partly postfix-owned: three sibling directories.
	mkdir -p "$KR_PF_CONF" "$dir/queue"
	: >"$KR_PF_CONF/main.cf"
	postconf -c "$KR_PF_CONF" -e \
		"compatibility_level = 3.6" \
		"config_directory = $KR_PF_CONF" \
		"queue_directory = $dir/queue" \
		"data_directory = $dir/data" \
		"import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME" \
		"mail_owner = postfix" \
		"setgid_group = postdrop" \
		"myhostname = mx.postfix.test" \
		"mydestination =" \
		"local_recipient_maps =" \
		"inet_interfaces = loopback-only" \
		"inet_protocols = ipv4" \
		"mynetworks = 127.0.0.0/8" \
		"smtpd_recipient_restrictions = permit_mynetworks, reject" \
		"virtual_mailbox_domains = $domains" \
		"virtual_transport = $transport" \
		"lmtp_send_xforward_command = yes" \
		"default_transport = error:5.7.1 outbound mail is off in this test instance" \
		"relay_transport = error:5.7.1 outbound mail is off in this test instance" \
		"queue_run_delay = 1s" \
		"minimal_backoff_time = 1s" \
		"maximal_backoff_time = 2s" \
		"biff = no" \
		"maillog_file_prefixes = $dir" \
		"maillog_file = $dir/maillog"
	kr_postfix_master_cf
	# check creates the queue and data directories with the owners and
	# modes Postfix insists on (post-install create-missing); with
	# maillog_file set its warnings go to that file.
	postfix -c "$KR_PF_CONF" check >"$dir/check.out" 2>&1 ||
		fail "postfix check: $(cat "$dir/check.out")"
	! grep -E 'warning|fatal|error' "$dir/check.out" "$dir/maillog" 2>/dev/null ||
		fail "postfix check complains"
	# free_port races with everything else on the machine: a port taken
	# between the probe and the master's bind gets another try.
	for try in 1 2 3; do
		postfix -c "$KR_PF_CONF" start >"$dir/start.out" 2>&1 && break
		if ! grep -q 'Address already in use' "$dir/maillog" || ((try == 3)); then
			fail "postfix start: $(cat "$dir/start.out")"
		fi
		kr_postfix_master_cf
	done
	wait_for 15 "Postfix smtpd port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$KR_PF_SMTP"
	KR_PF_PID=$(sed -n '1s/ //gp' "$dir/queue/pid/master.pid")
	listening=$(ss -Hltnp | grep "pid=$KR_PF_PID," || true)
	[[ $(wc -l <<<"$listening") == 1 && $listening == *"127.0.0.1:$KR_PF_SMTP "* ]] ||
		fail "the private master should listen on 127.0.0.1:$KR_PF_SMTP only: $listening"
}
# master.cf with only the services the flow uses; smtpd on a new free
# port ($KR_PF_SMTP) is the one listener.
kr_postfix_master_cf() {
	KR_PF_SMTP=$(free_port)
	cat >"$KR_PF_CONF/master.cf" <<EOT
127.0.0.1:$KR_PF_SMTP inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOT
}
kr_postfix_stop() {
	[[ -n $KR_PF_CONF && -f $KR_PF_CONF/main.cf ]] || return 0
	postfix -c "$KR_PF_CONF" stop >/dev/null 2>&1 || true
	# postfix stop waits for the master; a master it could not stop is
	# killed with its process group.
	local mpid
	mpid=$(sed -n '1s/ //gp' "$KR_PF_DIR/queue/pid/master.pid" 2>/dev/null || true)
	if [[ $mpid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$mpid/comm" 2>/dev/null) == master ]]; then
		kill -9 -- "-$mpid" 2>/dev/null || true
	fi
	KR_PF_CONF=
}
# kr_postfix_logged REGEX: the Postfix log has a matching line.
kr_postfix_logged() { grep -qE "$1" "$KR_PF_DIR/maillog" 2>/dev/null; }
kr_postfix_queue_empty() { postqueue -c "$KR_PF_CONF" -p 2>&1 | grep -q 'Mail queue is empty'; }
# kr_postfix_submit FROM TO SUBJECT MESSAGE-ID: one message into the
# private Postfix's smtpd (TO may be a comma-separated list); fails the
# test unless Postfix accepts it. Its queue id in $KR_PF_QID.
kr_postfix_submit() {
	swaks --server 127.0.0.1 --port "$KR_PF_SMTP" --from "$1" --to "$2" \
		--header "Subject: $3" --header "Message-Id: <$4>" \
		--body "sent through Postfix at $(date -u +%T)" >"$KR_PF_DIR/swaks.out" 2>&1 ||
		fail "Postfix did not accept the message: $(tail -n 20 "$KR_PF_DIR/swaks.out")"
	KR_PF_QID=$(sed -n 's/.*250 2\.0\.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' "$KR_PF_DIR/swaks.out")
	[[ -n $KR_PF_QID ]] || fail "no queue id in swaks' output: $(tail -n 5 "$KR_PF_DIR/swaks.out")"
}
