#!/usr/bin/env bash
# ops/bench_matrix.sh BUILD_DIR: LMTP delivery, kurierd against Dovecot,
# over a matrix of points (sessions x message size x recipients), with
# the CPU split per delivery; `make bench-matrix` (SPEC.md §7, issue 12).
#
# One set-up of ops/bench_lmtp.sh (20-node cluster, 1000 users, private
# Dovecot; see there) measures every point of the matrix with LMTP_ONLY=1:
# per point REPS rounds, one run per side each, the order of the sides
# alternating per round, each side started fresh and given the same
# QUIET_S seconds of quiet disk (sync, sleep) before each run. Judged on
# the medians.
#
# MATRIX (points are SESSIONS:SIZE:RCPTS):
#   quick (default) sessions 1, 16, 64 at 4096 bytes, 1 recipient; and at
#         16 sessions 65536 bytes (1 recipient) and 5 recipients (4096)
#   full  sessions {1,4,16,64} x size {4096,65536} x recipients {1,5}
#   large sessions {1,4,16,64} at 65536 bytes, 1 recipient, and 16
#         sessions with 5 recipients
#   tiny  1:4096:1 and 4:65536:5, to check the tooling (REPS=1
#         DURATION=2 QUIET_S=1 make it take about a minute)
# REPS [3], DURATION [10] s, QUIET_S [10] s and WARMUP_S [2] s (the
# warm-up after each fresh start) are passed on. A run costs about
# DURATION + QUIET_S + WARMUP_S + 5 s: quick (5 points) about 15
# minutes, full (16 points) about 45.
#
# Writes BUILD_DIR/bench/:
#   matrix.tsv          one line per run (header line first): side,
#                       sessions, size, rcpts, round, msgs_s (deliveries
#                       answered 250 per second), p50_ms, p90_ms, p99_ms
#                       (per transaction: MAIL sent to the last reply to
#                       the final dot), cpu_server_ms (user CPU of
#                       kurierd, or of Dovecot, per delivery), cpu_pg_ms
#                       (user CPU of all PostgreSQL processes of the
#                       cluster; 0 for Dovecot), cpu_kernel_ms (system
#                       CPU of all of these), cpu_total_ms (their sum),
#                       deliveries, seconds
#   matrix-summary.txt  per point: median (min-max) msg/s of each side,
#                       ratio of the medians kurier/Dovecot and the least
#                       flattering one, min(kurier)/max(Dovecot); median
#                       latencies and CPU split
#   throughput-vs-sessions.png, latency-percentiles.png (gnuplot,
#                       ops/bench_plot.gp) and the .dat files they plot
set -euo pipefail
shopt -s inherit_errexit

[[ $# -eq 1 ]] || {
	echo "usage: ops/bench_matrix.sh BUILD_DIR" >&2
	exit 2
}
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
BENCH_NAME=bench_matrix
# shellcheck source=ops/bench_lib.sh
. ops/bench_lib.sh
BUILD=${1%/}
OUT=$BUILD/bench
MATRIX=${MATRIX:-quick}
export REPS=${REPS:-3} DURATION=${DURATION:-10} QUIET_S=${QUIET_S:-10}

case $MATRIX in
quick) POINTS="1:4096:1 16:4096:1 64:4096:1 16:65536:1 16:4096:5" ;;
full)
	POINTS=
	for s in 1 4 16 64; do
		for z in 4096 65536; do
			for r in 1 5; do
				POINTS+="$s:$z:$r "
			done
		done
	done
	;;
large) POINTS="1:65536:1 4:65536:1 16:65536:1 64:65536:1 16:65536:5" ;;
tiny) POINTS="1:4096:1 4:65536:5" ;;
*) die "MATRIX must be quick, full, large or tiny, not '$MATRIX'" ;;
esac
command -v gnuplot >/dev/null || die "no gnuplot (make deps installs gnuplot-nox)"
mkdir -p -- "$OUT"
TSV=$OUT/matrix.tsv
SUMMARY=$OUT/matrix-summary.txt
printf 'side\tsessions\tsize\trcpts\tround\tmsgs_s\tp50_ms\tp90_ms\tp99_ms\tcpu_server_ms\tcpu_pg_ms\tcpu_kernel_ms\tcpu_total_ms\tdeliveries\tseconds\n' >"$TSV"

t0=$EPOCHSECONDS
n=$(wc -w <<<"$POINTS")
echo "bench_matrix: MATRIX=$MATRIX, $n points x $REPS rounds x 2 sides, ${DURATION}s runs, ${QUIET_S}s quiet before each"
TSV=$PWD/$TSV POINTS=$POINTS LMTP_ONLY=1 ops/bench_lmtp.sh "$BUILD"

# summarize: one line per point and side, "sessions size rcpts side
# median min max p50 p90 p99 cpu_server cpu_pg cpu_kernel cpu_total"
# (medians), sorted by size, rcpts, sessions.
summarize() {
	awk -F'\t' 'NR > 1 {
		k = $2 " " $3 " " $4 " " $1
		n[k]++
		for (c = 6; c <= 13; c++)
			v[k, c, n[k]] = $c
	}
	function median(k, c,   i, j, t, m, a) {
		m = n[k]
		for (i = 1; i <= m; i++)
			a[i] = v[k, c, i] + 0
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		lo = a[1]; hi = a[m]
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (k in n) {
			r = median(k, 6); rlo = lo; rhi = hi
			printf "%s %.1f %.1f %.1f", k, r, rlo, rhi
			for (c = 7; c <= 13; c++)
				printf " %.3f", median(k, c)
			printf "\n"
		}
	}' "$TSV" | sort -k2,2n -k3,3n -k1,1n -k4,4
}

report() {
	local s z r side med lo hi p50 p90 p99 cs cp ck ct
	printf 'LMTP delivery matrix (MATRIX=%s): kurierd (2 workers, 20 shards) vs Dovecot %s,\n' \
		"$MATRIX" "$(dovecot --version | awk '{ print $1 }')"
	printf '%d rounds per point, %ss runs, %ss quiet before each, %s cores, %s\n' \
		"$REPS" "$DURATION" "$QUIET_S" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)"
	printf 'msg/s: median (min-max) of the rounds; latency ms per transaction (medians);\n'
	printf 'CPU ms per delivery (medians): server = user CPU of kurierd or Dovecot, pg = user CPU\n'
	printf 'of PostgreSQL, kern = system CPU of all of them.\n\n'
	printf '%-18s %-8s %-24s %7s %7s %7s %7s %7s %7s %7s\n' point side 'msg/s' \
		p50 p90 p99 server pg kern total
	while read -r s z r side med lo hi p50 p90 p99 cs cp ck ct; do
		printf '%-18s %-8s %-24s %7s %7s %7s %7s %7s %7s %7s\n' \
			"s=$s $((z / 1024))K r=$r" "$side" "$med ($lo-$hi)" \
			"$p50" "$p90" "$p99" "$cs" "$cp" "$ck" "$ct"
	done <"$OUT/matrix-points.txt"
	printf '\nkurier/Dovecot per point: ratio of the medians, and min(kurier)/max(Dovecot)\n'
	awk '{ k = $1 " " $2 " " $3
		if (!(k in order)) { order[k] = ++n; key[n] = k } }
		$4 == "kurier" { km[k] = $5; kl[k] = $6 }
		$4 == "dovecot" { dm[k] = $5; dh[k] = $7 }
		END {
			printf "%-18s %8s %8s\n", "point", "medians", "min/max"
			for (i = 1; i <= n; i++) {
				k = key[i]
				split(k, p, " ")
				printf "%-18s %8.2f %8.2f\n", "s=" p[1] " " p[2] / 1024 "K r=" p[3],
					(dm[k] > 0 ? km[k] / dm[k] : 0),
					(dh[k] > 0 ? kl[k] / dh[k] : 0)
			}
		}' "$OUT/matrix-points.txt"
	printf '\nper run: %s\n' "$TSV"
}

# The plot data: throughput.dat, one gnuplot data set (two blank lines
# apart) per series side/size/rcpts, "sessions median min max";
# latency.dat, one row per point, "label k50 k90 k99 d50 d90 d99".
plot_data() {
	local titles
	awk '{ k = $4 " " $2 " " $3
		if (k != last) {
			if (NR > 1)
				printf "\n\n"
			last = k
		}
		print $1, $5, $6, $7 }' \
		< <(sort -k4,4r -k2,2n -k3,3n -k1,1n "$OUT/matrix-points.txt") \
		>"$OUT/throughput.dat"
	titles=$(sort -k4,4r -k2,2n -k3,3n "$OUT/matrix-points.txt" |
		awk '{ k = $4 "_" $2 / 1024 "KiB_" $3 "rcpt"
			if (!(k in seen)) { seen[k] = 1; printf "%s ", k } }')
	awk '{ k = $1 " " $2 " " $3
		if (!(k in order)) { order[k] = ++n; key[n] = k }
		if ($4 == "kurier") { k50[k] = $8; k90[k] = $9; k99[k] = $10 }
		else { d50[k] = $8; d90[k] = $9; d99[k] = $10 } }
		END { for (i = 1; i <= n; i++) {
			split(key[i], p, " ")
			printf "s%d/%dK/r%d %s %s %s %s %s %s\n", p[1], p[2] / 1024,
				p[3], k50[key[i]], k90[key[i]], k99[key[i]],
				d50[key[i]], d90[key[i]], d99[key[i]] } }' \
		"$OUT/matrix-points.txt" >"$OUT/latency.dat"
	gnuplot -e "dir='$OUT'; titles='$titles'" ops/bench_plot.gp ||
		die "gnuplot failed"
}

summarize >"$OUT/matrix-points.txt"
[[ -s $OUT/matrix-points.txt ]] || die "no runs in $TSV"
report | tee -- "$SUMMARY"
plot_data
echo "bench_matrix: done in $((EPOCHSECONDS - t0))s; $SUMMARY, $OUT/throughput-vs-sessions.png, $OUT/latency-percentiles.png"
