# Shared helpers for integration test scripts (sourced, not run).
# Every wait is bounded; every failure says what was expected.

KR_BUILD=${KR_BUILD:-build/release}
KURIERD=$KR_BUILD/kurierd

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
