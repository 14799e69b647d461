#!/usr/bin/env bash
# `make run` from any checkout (issue 14 item 6): a clone under a mode-700
# parent (a home directory's case), where user postgres cannot reach the
# default DIR <checkout>/var. ops/pgcluster, run as root the way `make
# run` runs it (its default -d, here with -n 2 and ports 19650..), keeps
# the nodes under /var/lib/kurier-dev/<name>-<hash>/pg with <checkout>/
# var/pg linking there; psql reaches them through the socket directory
# written into kurier.conf, as root and as user kurier (kurierd's
# workers); data survives a stop and start through the link. Everything
# is removed at the end.
# kr-test: release-only
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

[[ $(id -u) -eq 0 ]] || fail "needs root (the relocation is for root's runs)"
PSQL=/usr/lib/postgresql/15/bin/psql
DEVROOT=/var/lib/kurier-dev
devroot_before=no
[[ -e $DEVROOT ]] && devroot_before=yes
PARENT=$(mktemp -d /tmp/kr-anywhere.XXXXXX)
CLONE=$PARENT/kurier
DATA=

anywhere_cleanup() {
	if [[ -x $CLONE/ops/pgcluster ]]; then
		"$CLONE/ops/pgcluster" stop >/dev/null 2>&1 || true
	fi
	if [[ -n $DATA && $DATA == "$DEVROOT"/* ]]; then rm -rf -- "$DATA"; fi
	if [[ $devroot_before == no ]]; then rmdir "$DEVROOT" 2>/dev/null || true; fi
	rm -rf -- "$PARENT"
}
trap anywhere_cleanup EXIT

chmod 0700 "$PARENT"
git clone -q "$PWD" "$CLONE" || fail "git clone"
# The clone has the last commit; the script under test is this tree's.
cp ops/pgcluster "$CLONE/ops/pgcluster"
setpriv --reuid=postgres --regid=postgres --clear-groups -- test -x "$PARENT" &&
	fail "postgres can enter $PARENT: nothing to test"

out=$(cd "$CLONE" && ops/pgcluster start -n 2 -p 19650 2>&1) || fail "pgcluster start: $out"
[[ -L $CLONE/var/pg ]] || fail "$CLONE/var/pg is not a link: $out"
DATA=$(dirname -- "$(readlink -f "$CLONE/var/pg")")
[[ $DATA == "$DEVROOT"/kurier-* ]] || fail "data went to $DATA"
grep -qx "ops/pgcluster data of $CLONE/var (linked from $CLONE/var/pg)" "$DATA/ORIGIN" ||
	fail "no note of the checkout in $DATA/ORIGIN"
ok "start under a mode-700 parent: data in $DATA, $CLONE/var/pg links there"

conf=$CLONE/var/kurier.conf
host=$(sed -n 's/^primary = host=\([^ ]*\) port=19651 .*/\1/p' "$conf")
[[ $host == "$DATA/pg/run" ]] || fail "[shard.1] socket directory is '$host', want $DATA/pg/run"
"$PSQL" -h "$host" -p 19650 -U kurier -d kurier -XAtq -v ON_ERROR_STOP=1 \
	-c "CREATE TABLE anywhere (v text); INSERT INTO anywhere VALUES ('kept')" ||
	fail "psql on node00"
# kurierd's workers run as kurier and connect through the same sockets.
r=$(setpriv --reuid=kurier --regid=kurier --clear-groups -- \
	"$PSQL" -h "$host" -p 19651 -U kurier -d kurier -XAtq -c 'SELECT 1') ||
	fail "psql on node01 as user kurier"
[[ $r == 1 ]] || fail "node01 answered '$r'"
ok "psql through $host: as root on node00, as user kurier on node01"

(cd "$CLONE" && ops/pgcluster status >/dev/null) || fail "status is not all up"
out=$(cd "$CLONE" && ops/pgcluster stop 2>&1) || fail "stop: $out"
[[ $out == *"stopped 2 nodes"* ]] || fail "stop said: $out"
out=$(cd "$CLONE" && ops/pgcluster start -n 2 -p 19650 2>&1) || fail "second start: $out"
r=$("$PSQL" -h "$host" -p 19650 -U kurier -d kurier -XAtq -c 'SELECT v FROM anywhere') ||
	fail "psql after restart"
[[ $r == kept ]] || fail "data after restart: '$r'"
ok "stop and start again through the link: data kept"

out=$(cd "$CLONE" && ops/pgcluster stop 2>&1) || fail "final stop: $out"
anywhere_cleanup
trap - EXIT
[[ ! -e $DATA && ! -e $PARENT ]] || fail "left behind: $DATA $PARENT"
ok "stopped and removed"
