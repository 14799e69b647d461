#!/usr/bin/env bash
# The dashboard (SPEC.md §3.3) in a real browser: Debian's chromium driven
# by playwright-core (admin/ui/node_modules) through
# tests/browser/dashboard.mjs, against a 20-shard stack: the token login
# (redirect, HttpOnly cookie), 20 shard rows, a chart moving under a
# bounded LMTP load (screenshot), Drain/Undrain from the page with the
# LMTP answers they cause, a refused cookie POST without Origin, and a
# stopped PostgreSQL node turning its row red within 5 s. First the
# static assets over plain HTTP.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

[[ -x /usr/bin/chromium ]] || fail "no /usr/bin/chromium: run 'make deps-test'"
[[ -f admin/ui/node_modules/playwright-core/package.json ]] ||
	fail "no playwright-core in admin/ui/node_modules: run 'make deps'"
command -v node >/dev/null || fail "no node: run 'make deps'"

KR_WORKERS=2 kr_stack_start ui 18200 20

# ---- 1. /ui/NAME: public, typed, not cached blindly; pages only at / ----
hdr=$(curl -sS --max-time 10 -D - -o "$KR_WORK/app.js" "http://127.0.0.1:$KR_ADMIN/ui/app.js")
grep -q '^HTTP/1.1 200' <<<"$hdr" || fail "/ui/app.js without a token: $(head -n 1 <<<"$hdr")"
grep -qi '^Content-Type: text/javascript' <<<"$hdr" || fail "/ui/app.js type: $hdr"
grep -qi '^Cache-Control: no-cache' <<<"$hdr" || fail "/ui/app.js Cache-Control: $hdr"
grep -qi '^ETag: "[0-9a-f]\{32\}"' <<<"$hdr" || fail "/ui/app.js ETag: $hdr"
cmp -s "$KR_WORK/app.js" admin/ui/app.js || fail "/ui/app.js is not admin/ui/app.js"
for f in app.css uPlot.iife.min.js uPlot.min.css login.js; do
	code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$KR_ADMIN/ui/$f")
	[[ $code == "200 text/"* ]] || fail "/ui/$f: $code"
done
for f in index.html login.html nope.js ../admin.c; do
	code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$KR_ADMIN/ui/$f")
	[[ $code == 401 || $code == 404 ]] || fail "/ui/$f without a token: $code (want 401/404)"
done
ok "/ui/ assets served without a token (type, no-cache, ETag); pages and unknown names not"

# ---- 2. users: one to drain, a few for the load ------------------------
user=drain@ui.test
out=$(echo pw | kr_cli user add "$user")
shard=$(sed -n 's/.*(shard \([0-9]\+\)).*/\1/p' <<<"$out")
[[ -n $shard ]] || fail "no shard in: $out"
load_users=
for i in $(seq 0 7); do
	echo pw | kr_cli user add "load$i@ui.test" >/dev/null
	load_users+="load$i@ui.test "
done
node_dir=$(printf '%s/pg/node%02d' "$PWD/$KR_STACK_DIR" "$shard")
[[ -d $node_dir ]] || fail "no node directory $node_dir"
stop_node="runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D '$node_dir' -m immediate >/dev/null 2>&1 ||
	/usr/lib/postgresql/15/bin/pg_ctl stop -D '$node_dir' -m immediate >/dev/null"

# ---- 3. the browser ------------------------------------------------------
mkdir -p build/artefacts
shot=$PWD/build/artefacts/dashboard.png
rm -f "$shot"
KR_ADMIN=$KR_ADMIN KR_TOKEN=$KR_TOKEN KR_LMTP=$KR_LMTP KR_USER=$user KR_SHARD=$shard \
	KR_LOAD_USERS=$load_users KR_STOP_NODE=$stop_node KR_SHOT=$shot \
	timeout 300 node tests/browser/dashboard.mjs || fail "tests/browser/dashboard.mjs"
[[ -s $shot ]] || fail "no screenshot at $shot"
[[ $(kr_crashes) == 0 ]] || fail "$(kr_crashes) worker crashes"
echo "screenshot: $shot"
ok "dashboard in chromium"
