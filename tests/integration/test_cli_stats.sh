#!/usr/bin/env bash
# kurier stats, kurier dashboard and the admin's /metrics formats against
# a live kurierd on a 3-shard cluster (SPEC.md §3.3, §3.4):
# (a) /metrics asked for application/openmetrics-text (alone, and with
#     Prometheus' own Accept) answers the OpenMetrics content type, one
#     "# EOF" as the last line, counter families without _total, and
#     python3-prometheus-client's OpenMetrics parser reads it; without
#     that Accept, the 0.0.4 text as before (its parser reads it);
# (b) every metric name, grouping label and label matcher used in the
#     exprs of ops/grafana/kurier.json is in that /metrics output;
# (c) kurier dashboard prints http://127.0.0.1:PORT/?token=TOKEN, and a
#     GET of it answers 303 with the kurier_admin Set-Cookie;
# (d) kurier stats prints the overview, 3 shard rows and both workers;
#     --json one document with overview, nodes (3) and workers (2);
#     --watch=1 refreshes (cleared screen) until SIGINT, then exits 0;
# (e) an unreachable admin port or a wrong token: exit 1 with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

PY=/usr/bin/python3 # Debian's, where python3-prometheus-client lives
KURIER=$KR_BUILD/kurier
[[ -x $KURIER ]] || fail "$KURIER not built"
KR_WORKERS=2
kr_stack_start clistats 18600 3
w=$KR_WORK
admin=http://127.0.0.1:$KR_ADMIN
auth=(-H "Authorization: Bearer $KR_TOKEN")
KR_DIAG+=("$w/stats.out" "$w/stats.err")

# ---- (a) OpenMetrics and the 0.0.4 text -------------------------------
om_check() {
	curl -sS --max-time 10 "${auth[@]}" -H "Accept: $1" -D "$w/om.hdr" \
		-o "$w/om.txt" "$admin/metrics"
	grep -qi '^content-type: application/openmetrics-text; version=1.0.0; charset=utf-8' "$w/om.hdr" ||
		fail "OpenMetrics content type for Accept '$1': $(cat "$w/om.hdr")"
	[[ $(tail -n 1 "$w/om.txt") == "# EOF" ]] || fail "OpenMetrics does not end with # EOF"
	[[ $(grep -c '^# EOF' "$w/om.txt") == 1 ]] || fail "more than one # EOF"
}
om_check 'application/openmetrics-text'
om_check 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
grep -q '^# TYPE kurier_lmtp_messages counter$' "$w/om.txt" || fail "OpenMetrics counter family keeps _total"
grep -q '^kurier_lmtp_messages_total ' "$w/om.txt" || fail "OpenMetrics counter sample lost _total"
grep -q '^# TYPE kurier_lmtp_delivery_seconds histogram$' "$w/om.txt" || fail "no histogram family"
n_om=$($PY -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as p
print(sum(1 for _ in p(sys.stdin.read())))' <"$w/om.txt") || fail "the OpenMetrics parser refused /metrics"
ok "OpenMetrics: content type, one final # EOF, $n_om families read by prometheus_client"

curl -sS --max-time 10 "${auth[@]}" -D "$w/text.hdr" -o "$w/text.txt" "$admin/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$w/text.hdr" || fail "0.0.4 content type: $(cat "$w/text.hdr")"
! grep -q '^# EOF' "$w/text.txt" || fail "# EOF in the 0.0.4 text"
grep -q '^# TYPE kurier_lmtp_messages_total counter$' "$w/text.txt" || fail "0.0.4 counter family renamed"
n_text=$($PY -c '
import sys
from prometheus_client.parser import text_string_to_metric_families as p
print(sum(1 for _ in p(sys.stdin.read())))' <"$w/text.txt") || fail "the 0.0.4 parser refused /metrics"
[[ $(grep -c '^kurier_' "$w/text.txt") == $(grep -c '^kurier_' "$w/om.txt") ]] ||
	fail "the two formats have different samples"
ok "0.0.4 text without Accept: $n_text families, the same samples as OpenMetrics"

# ---- (b) the Grafana dashboard's names ---------------------------------
exprs=$(jq -r '.. | .expr? // empty' ops/grafana/kurier.json)
[[ -n $exprs ]] || fail "no expr in ops/grafana/kurier.json"
n=0
for name in $(grep -oE 'kurier_[a-z0-9_]+' <<<"$exprs" | sort -u); do
	grep -qE "^$name[{ ]" "$w/text.txt" || fail "Grafana uses $name, not in /metrics"
	n=$((n + 1))
done
for label in $(grep -oE 'by \([a-z_, ]+\)' <<<"$exprs" | sed 's/^by (//; s/)$//' |
	tr ',' '\n' | tr -d ' ' | sort -u | grep -vxE 'le|instance'); do
	grep -qE "[{,]$label=\"" "$w/text.txt" || fail "Grafana groups by $label, no such label in /metrics"
done
for m in $(grep -oE '[a-z_]+!?="[^"$]*"' <<<"$exprs" | tr -d '!' | sort -u); do
	grep -qF "$m" "$w/text.txt" || fail "Grafana matches $m, not in /metrics"
done
ok "Grafana: $n metric names, their labels and matchers all in /metrics"

# ---- (c) kurier dashboard ------------------------------------------------
url=$("$KURIER" -c "$KR_CONF" dashboard) || fail "kurier dashboard failed"
[[ $url == "http://127.0.0.1:$KR_ADMIN/?token=$KR_TOKEN" ]] || fail "dashboard URL: $url"
ok "kurier dashboard: $url"

# ---- (d) kurier stats ------------------------------------------------------
stats_ready() {
	"$KURIER" -c "$KR_CONF" stats >"$w/stats.out" 2>"$w/stats.err" &&
		[[ $(grep -cE '^ +[01] +[0-9]+ serving ' "$w/stats.out") == 2 ]]
}
wait_for 20 "kurier stats: both workers serving" stats_ready
grep -qE '^health +(ok|degraded|down)' "$w/stats.out" || fail "no health line"
grep -qE '^lmtp +.* msg/s, .* errors/s, .* deliveries/s, p50 .* ms, p99 .* ms$' "$w/stats.out" ||
	fail "no LMTP rates line"
grep -qE '^workers +2/2 serving' "$w/stats.out" || fail "overview workers"
grep -qE '^nodes +3 up, 0 down, 0 draining \(3 total\)' "$w/stats.out" || fail "overview nodes"
[[ $(grep -cE '^ +[0-2] primary +up +closed ' "$w/stats.out") == 3 ]] ||
	fail "3 shard rows expected: $(cat "$w/stats.out")"
ok "kurier stats: overview, 3 shard rows, 2 workers serving"
sed 's/^/    /' "$w/stats.out"

"$KURIER" -c "$KR_CONF" stats --json >"$w/stats.json" || fail "stats --json exit $?"
jq -e '(.overview.health | type == "string") and (.nodes.nodes | length == 3) and
	(.workers.workers | length == 2) and (keys == ["nodes","overview","workers"])' \
	"$w/stats.json" >/dev/null || fail "stats --json: $(head -c 400 "$w/stats.json")"
ok "kurier stats --json: overview, nodes (3), workers (2)"

rc=0
timeout --preserve-status -s INT 3.5 "$KURIER" -c "$KR_CONF" stats --watch=1 >"$w/watch.out" || rc=$?
[[ $rc == 0 ]] || fail "stats --watch ended with $rc on SIGINT"
frames=$(grep -o $'\e\[H\e\[2J' "$w/watch.out" | wc -l)
[[ $frames -ge 3 && $frames -le 5 ]] || fail "stats --watch=1: $frames screens in 3.5 s"
ok "kurier stats --watch=1: $frames screens in 3.5 s, exit 0 on SIGINT"

# ---- (e) failures ----------------------------------------------------------
sed "s/^listen = 127.0.0.1:$KR_ADMIN\$/listen = 127.0.0.1:$(free_port "$KR_ADMIN" "$KR_LMTP" "$KR_HTTP")/" \
	"$KR_CONF" >"$w/down.conf"
rc=0
"$KURIER" -c "$w/down.conf" stats >/dev/null 2>"$w/stats.err" || rc=$?
[[ $rc == 1 ]] && grep -q "cannot reach kurierd's admin port" "$w/stats.err" ||
	fail "unreachable admin: exit $rc, $(cat "$w/stats.err")"
sed "s/^token = $KR_TOKEN\$/token = $(printf 'x%.0s' $(seq 40))/" "$KR_CONF" >"$w/badtoken.conf"
rc=0
"$KURIER" -c "$w/badtoken.conf" stats >/dev/null 2>"$w/stats.err" || rc=$?
[[ $rc == 1 ]] && grep -q "refused the \[admin\] token" "$w/stats.err" ||
	fail "wrong token: exit $rc, $(cat "$w/stats.err")"
ok "kurier stats: exit 1 for an unreachable admin port and for a wrong token"

# ---- (c, the lead's login) the URL logs a browser in ------------------------
curl -sS -i --max-time 10 "$url" >"$w/login.txt" || fail "GET $url"
head -n 1 "$w/login.txt" | grep -q '^HTTP/1.1 303' || fail "login URL: $(head -n 1 "$w/login.txt")"
grep -qi '^set-cookie: kurier_admin=' "$w/login.txt" || fail "login URL: no kurier_admin cookie"
ok "the dashboard URL answers 303 with the kurier_admin cookie"
