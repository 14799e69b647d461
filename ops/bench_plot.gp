# ops/bench_plot.gp: the plots of ops/bench_matrix.sh, run as
#   gnuplot -e "dir='BUILD/bench'; titles='T1 T2 ...'" ops/bench_plot.gp
# dir/throughput.dat: one data set per series (in the order of titles),
# "sessions median min max"; dir/latency.dat: one row per point,
# "label kurier_p50 p90 p99 dovecot_p50 p90 p99".

set terminal pngcairo size 1000,640 font "sans,10" noenhanced
set grid
set key outside right top

set output dir . '/throughput-vs-sessions.png'
set title 'LMTP deliveries per second vs sessions (median of the rounds, bars: min-max)'
set xlabel 'concurrent LMTP sessions'
set ylabel 'deliveries/s'
set logscale x 2
set xrange [0.7:90]
set yrange [0:*]
set xtics (1, 4, 16, 64)
plot for [i = 1:words(titles)] dir . '/throughput.dat' index (i - 1) \
	using 1:2:3:4 with yerrorlines lw 2 pt 7 \
	dt 1 + (strstrt(word(titles, i), 'kurier') != 1) title word(titles, i)

unset logscale x
unset xrange
set xtics auto
set output dir . '/latency-percentiles.png'
set title 'LMTP transaction latency percentiles per point (medians of the rounds)'
set xlabel 'point: sessions / message size / recipients'
set ylabel 'ms (log scale)'
set logscale y
set yrange [*:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -20
plot dir . '/latency.dat' using 2:xtic(1) title 'kurier p50' lc rgb '#9ecae1', \
	'' using 3 title 'kurier p90' lc rgb '#4292c6', \
	'' using 4 title 'kurier p99' lc rgb '#08519c', \
	'' using 5 title 'Dovecot p50' lc rgb '#fdae6b', \
	'' using 6 title 'Dovecot p90' lc rgb '#f16913', \
	'' using 7 title 'Dovecot p99' lc rgb '#a63603'
