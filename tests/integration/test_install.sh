#!/usr/bin/env bash
# The Debian package (issue 14 item 4): `make deb`, `dpkg -i` into this
# machine, the files, the system user, the config (root:kurier 0640,
# admin token and session secret made by the postinst); kurierd started
# the way ops/systemd/kurierd.service starts it (Type=notify: READY=1 on
# $NOTIFY_SOCKET), one LMTP delivery, the unit's ExecReload, the unit's
# KillSignal and exit 0; then `dpkg --purge` and the machine as it was.
# Where systemd is not PID 1 (a container) the unit's ExecStart,
# ExecReload and KillSignal lines run by hand against a copy of the
# installed config pointed at a 2-node test cluster (ports 19600..), and
# the output says so. Needs root.
# kr-test: release-only
set -euo pipefail
cd "$(dirname "$0")/../.."

[[ $(id -u) -eq 0 ]] || {
	echo "FAIL - test_install needs root (dpkg -i)" >&2
	exit 1
}
# Record the machine before lib.sh (it creates the user kurier).
user_before=no
getent passwd kurier >/dev/null && user_before=yes
if dpkg-query -W -f '${Status}' kurier 2>/dev/null | grep -q ' installed'; then
	echo "FAIL - a package kurier is installed already; not touching it" >&2
	exit 1
fi
[[ ! -e /etc/kurier ]] || {
	echo "FAIL - /etc/kurier exists; not touching it" >&2
	exit 1
}

# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
if [[ $user_before == no ]]; then
	# lib.sh has just made it: the postinst should.
	userdel kurier 2>/dev/null || true
	groupdel kurier 2>/dev/null || true
fi

UNIT=/usr/lib/systemd/system/kurierd.service
WORK=$(mktemp -d /tmp/kr-install.XXXXXX)
chmod 0755 "$WORK"
PID=
NOTIFY_PID=
installed=0

kr_cluster_start install 19600 2
install_cleanup() {
	if [[ -n $PID ]]; then kill -9 "$PID" 2>/dev/null || true; fi
	if [[ -n $NOTIFY_PID ]]; then kill "$NOTIFY_PID" 2>/dev/null || true; fi
	if ((installed)); then dpkg --purge kurier >/dev/null 2>&1 || true; fi
	if [[ $user_before == no ]]; then
		userdel kurier 2>/dev/null || true
		groupdel kurier 2>/dev/null || true
	fi
	rm -rf "$WORK"
	kr_cluster_cleanup
}
trap install_cleanup EXIT

# ---- build and install ---------------------------------------------------
t0=$SECONDS
make --no-print-directory -s deb >"$WORK/make-deb.out" 2>&1 ||
	fail "make deb: $(tail -n 20 "$WORK/make-deb.out")"
deb=$(tail -n 1 "$WORK/make-deb.out")
version=$(sed -n 's/^#define KR_VERSION "\(.*\)"$/\1/p' server/version.h)
[[ $deb == build/kurier_${version}_$(dpkg --print-architecture).deb && -f $deb ]] ||
	fail "make deb made '$deb'"
ok "make deb: $deb in $((SECONDS - t0))s"
for lib in libpq5 libssl3 libjansson4 libgmime-3.0-0 libhyperscan5 libspf2-2 libevent-2.1-7; do
	dpkg-deb -f "$deb" Depends | grep -qw -- "$lib" || fail "Depends lacks $lib: $(dpkg-deb -f "$deb" Depends)"
done
ok "Depends: $(dpkg-deb -f "$deb" Depends)"

installed=1
dpkg -i "$deb" >"$WORK/dpkg-i.out" 2>&1 || fail "dpkg -i: $(cat "$WORK/dpkg-i.out")"
for f in /usr/sbin/kurierd /usr/bin/kurier /usr/lib/kurier/modules/kurier-spf; do
	[[ -x $f ]] || fail "$f not installed"
done
for m in rules bayes spf dnsbl rate; do
	[[ -f /usr/lib/kurier/modules/kr_$m.so ]] || fail "module kr_$m.so not installed"
done
[[ -f $UNIT && -f /etc/kurier/kurier.conf.example ]] || fail "unit or example config missing"
dpkg-query -W -f '${Conffiles}' kurier | grep -q '/etc/kurier/kurier.conf ' ||
	fail "/etc/kurier/kurier.conf is not a conffile"
ok "dpkg -i: binaries, 5 modules + kurier-spf, unit, config"

getent passwd kurier >/dev/null || fail "no user kurier after install"
shell=$(getent passwd kurier | cut -d: -f7)
[[ $shell == */nologin || $shell == /bin/false ]] || fail "user kurier has shell $shell"
if [[ $user_before == yes ]]; then ok "user kurier existed: kept (uid $(id -u kurier))"; else ok "postinst created system user kurier (uid $(id -u kurier))"; fi

conf=/etc/kurier/kurier.conf
[[ $(stat -c '%U:%G %a' "$conf") == "root:$(id -gn kurier) 640" ]] ||
	fail "config is $(stat -c '%U:%G %a' "$conf"), want root:kurier 640"
token=$(sed -n 's/^token = \([0-9a-f]\{64\}\)$/\1/p' "$conf")
[[ -n $token ]] || fail "no generated [admin] token in $conf"
grep -Eq '^secret = [0-9a-f]{64}$' "$conf" || fail "no generated [auth] secret in $conf"
ok "config root:kurier 0640 with a generated admin token and session secret"

if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify "$UNIT" >"$WORK/verify.out" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$WORK/verify.out")"
	ok "systemd-analyze verify $UNIT"
else
	echo "# systemd-analyze not installed: unit not verified"
fi

# ---- run it the way the unit does ----------------------------------------
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
exec_reload=$(sed -n 's/^ExecReload=//p' "$UNIT")
kill_signal=$(sed -n 's/^KillSignal=//p' "$UNIT")
# shellcheck disable=SC2016 # systemd expands $MAINPID, not this shell
[[ $exec_start == "/usr/sbin/kurierd -c $conf" && $exec_reload == '/bin/kill -HUP $MAINPID' &&
	$kill_signal == SIGTERM ]] || fail "unit lines: '$exec_start' '$exec_reload' '$kill_signal'"
grep -qx 'Type=notify' "$UNIT" || fail "unit is not Type=notify"

KR_LMTP=$(free_port)
KR_ADMIN=$(free_port "$KR_LMTP")
KR_HTTP=$(free_port "$KR_LMTP" "$KR_ADMIN")
KR_TOKEN=$token
# The copy keeps the installed file's owner and mode: workers (user
# kurier) re-read it on reload.
KR_CONF=$WORK/kurier.conf
cp -p "$conf" "$KR_CONF"
sed -i -e "/^\[lmtp\]/,/^\[/ s/^listen = .*/listen = 127.0.0.1:$KR_LMTP/" \
	-e "/^\[jsonrpc\]/,/^\[/ s/^listen = .*/listen = 127.0.0.1:$KR_HTTP/" \
	-e "/^\[admin\]/,/^\[/ s/^listen = .*/listen = 127.0.0.1:$KR_ADMIN/" \
	-e "/^\[workers\]/,/^\[/ s/^count = .*/count = 2/" \
	-e "/^\[antispam\]/,/^\[/ s/^enabled = .*/enabled = true/" "$KR_CONF"
grep -v '^#' "$KR_CLUSTER_DIR/kurier.conf" >>"$KR_CONF"
kr_cli() { /usr/bin/kurier -c "$KR_CONF" "$@"; }

if [[ -d /run/systemd/system ]]; then
	echo "# systemd is running, but the installed unit reads $conf; this test"
	echo "# runs its lines by hand against a copy pointed at the test cluster"
else
	echo "# systemd is not PID 1 here ($(cat /proc/1/comm)): the unit's ExecStart,"
	echo "# ExecReload and KillSignal run by hand; its sandboxing is not exercised"
fi
# What systemd passes a Type=notify service: $NOTIFY_SOCKET.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode(), flush=True)
' "$WORK/notify" >"$WORK/notify.log" 2>&1 &
NOTIFY_PID=$!
wait_for 5 "notify listener" test -S "$WORK/notify"

start_cmd=${exec_start/ -c $conf/ -c $KR_CONF}
t0=${EPOCHREALTIME/,/.}
# shellcheck disable=SC2086 # the unit's command line, split as systemd does
NOTIFY_SOCKET=$WORK/notify $start_cmd >"$WORK/kurierd.out" 2>"$WORK/kurierd.log" &
PID=$!
KR_DIAG+=("$WORK/kurierd.log")
wait_for 30 "READY=1 from kurierd" grep -qx 'READY=1' "$WORK/notify.log"
ready_ms=$(awk -v a="$t0" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%d", (b - a) * 1000 }')
# Ready means served: both listeners answer at once.
(exec 3<>"/dev/tcp/127.0.0.1/$KR_LMTP") 2>/dev/null || fail "READY=1 before LMTP listens"
(exec 3<>"/dev/tcp/127.0.0.1/$KR_HTTP") 2>/dev/null || fail "READY=1 before JSON-RPC listens"
ok "ExecStart: READY=1 after ${ready_ms} ms, LMTP and JSON-RPC accept"

printf 'pw-install-1\n' | kr_cli user add pkg@install.test >/dev/null || fail "kurier user add"
msg=$WORK/msg.eml
printf 'From: a@ext.test\r\nTo: pkg@install.test\r\nSubject: packaged %s\r\n\r\nhello from the package\r\n' 1 >"$msg"
r=$(perl tests/integration/lmtp_client.pl deliver "$KR_LMTP" pkg@install.test "$msg") ||
	fail "LMTP delivery: $r"
[[ $r == 250* ]] || fail "LMTP delivery answered $r"
KR_TOK=$(kr_login pkg@install.test pw-install-1) || fail "login"
inbox=$(kr_mailbox inbox) || fail "no inbox"
kr_raw "$inbox" "packaged 1" | grep -q 'hello from the package' || fail "delivered message not read back"
kr_raw "$inbox" "packaged 1" | grep -q '^X-Spam-Status: No' || fail "no antispam verdict on the delivery"
spam=$(kr_admin /api/antispam)
for m in rules bayes spf dnsbl rate; do
	jq -e --arg m "$m" '[.. | strings | select(. == $m)] | length > 0' <<<"$spam" >/dev/null ||
		fail "module $m not loaded from the installed default: $spam"
done
ok "one LMTP delivery, read back over JSON-RPC, with the antispam verdict of the 5 installed modules"

workers_before=$(kr_worker_pids | sort | tr '\n' ' ')
# shellcheck disable=SC2016 # $MAINPID is systemd's, set here for the line
MAINPID=$PID bash -c "$exec_reload" || fail "ExecReload: $exec_reload"
wait_for 10 "config.reload logged" grep -q 'config.reload' "$WORK/kurierd.log"
grep -q 'config.reload_failed' "$WORK/kurierd.log" && fail "reload failed"
printf 'From: a@ext.test\r\nTo: pkg@install.test\r\nSubject: packaged 2\r\n\r\nafter reload\r\n' >"$msg"
r=$(perl tests/integration/lmtp_client.pl deliver "$KR_LMTP" pkg@install.test "$msg") || fail "LMTP after reload: $r"
[[ $r == 250* ]] || fail "LMTP after reload answered $r"
[[ $(kr_worker_pids | sort | tr '\n' ' ') == "$workers_before" ]] || fail "workers replaced by the reload"
[[ $(kr_crashes) == 0 ]] || fail "worker crashes: $(kr_crashes)"
ok "ExecReload ($exec_reload): reloaded, same workers, delivery goes on"

t0=$SECONDS
kill "-${kill_signal#SIG}" "$PID"
rc=0
wait "$PID" || rc=$?
PID=
((rc == 0)) || fail "kurierd exited $rc after $kill_signal"
grep -qx 'STOPPING=1' "$WORK/notify.log" || fail "no STOPPING=1"
ok "KillSignal=$kill_signal: STOPPING=1, exit 0 in $((SECONDS - t0))s"

# ---- purge: the machine as it was ----------------------------------------
dpkg --purge kurier >"$WORK/purge.out" 2>&1 || fail "dpkg --purge: $(cat "$WORK/purge.out")"
installed=0
for f in /usr/sbin/kurierd /usr/bin/kurier /usr/lib/kurier "$UNIT" /etc/kurier; do
	[[ ! -e $f ]] || fail "$f left after purge"
done
if [[ $user_before == yes ]]; then
	getent passwd kurier >/dev/null || fail "purge removed the user kurier that existed before"
fi
ok "dpkg --purge: files, config and /etc/kurier gone; user kurier as before ($user_before)"
