# shellcheck shell=bash
# Helpers shared by the benchmark scripts (sourced, not run). The
# sourcing script sets BENCH_NAME (its messages' prefix), and RUN, PORT
# and PGBIN before it calls psql_node.

die() {
	printf '%s: %s\n' "$BENCH_NAME" "$*" >&2
	exit 1
}

# psql_node K ARGS...: psql on node K of the benchmark's cluster.
psql_node() {
	local k=$1
	shift
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p $((PORT + k)) \
		-U kurier -d kurier "$@"
}

# field NAME LINE: the value of NAME=value in a result line.
field() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

# stats DECIMALS VALUE...: "median min max".
stats() {
	local prec=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v p="$prec" '{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      f = "%." p "f %." p "f %." p "f\n"
		      printf f, m, v[1], v[NR] }'
}

# A TCP port on 127.0.0.1 that nothing listens on now, below the
# ephemeral range (32768+). Usage: free_port [TAKEN...]
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
	die "no free port found"
}
