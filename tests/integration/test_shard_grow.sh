#!/usr/bin/env bash
# A shard joins without a restart (issue 14 item 2): a cluster of 21
# nodes, the config listing 20 shards with explicit bucket ranges, an
# LMTP load delivering to users on several shards. Then [shard.20] (no
# buckets) is appended and `kurier reload` run:
# (a) the reload succeeds, the master applies the migrations to the new
#     node (its schema version equals shard 0's; before, it had none);
# (b) the workers are cycled onto the grown shard set: new pids, each
#     with shard 20's pool open (kurier_db_* of shard 20 on /metrics,
#     its census queries counted), none crashed; /api/nodes, `kurier
#     shard status` and `kurier shard map` list shard 20 (no buckets);
# (c) no delivery failed during the reload: every acknowledged message
#     is stored exactly once;
# (d) a reload that changes a shard's primary, or removes shard 20, is
#     refused with a message saying so, and changes nothing;
# (e) u1's bucket moved onto the new shard (`kurier shard move`): its
#     mail is on node 20, all of it listed, a new delivery stored there.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

LOAD_MAX=400 # messages at most
LOAD_SECS=25 # and seconds at most
USERS=8
N=20 # shards at first; the new one is shard N

KR_SHARDS=$N KR_SHARDS_BUCKETS=$N
KR_CONF_EXTRA=$'[storage]\ncensus_interval = 1s'
kr_stack_start grow 16000 $((N + 1))
node_new=$(awk -v s="[shard.$N]" '$0 == s { f = 1; next } f && /^primary = / { sub(/^primary = /, ""); print; exit }' \
	"$KR_STACK_DIR/kurier.conf")
node0=$(awk '/^\[shard\.0\]/ { f = 1; next } f && /^primary = / { sub(/^primary = /, ""); print; exit }' \
	"$KR_STACK_DIR/kurier.conf")
[[ -n $node_new && -n $node0 ]] || fail "no conninfo for nodes 0 and $N"
schema() {
	if [[ $(psql "$1" -XAtc "SELECT count(*) FROM pg_tables WHERE tablename = 'kr_migrations'") == 0 ]]; then
		echo 0
	else
		psql "$1" -XAtc "SELECT coalesce(max(version), 0) FROM kr_migrations"
	fi
}
v0=$(schema "$node0")
(($(schema "$node_new") == 0)) || fail "node $N has a schema before it joined"
((v0 > 0)) || fail "shard 0 has no schema"
kr_admin /metrics | grep -q "shard=\"$N\"" && fail "shard $N metrics shown before it joined"
for i in $(seq 1 $USERS); do
	echo "pw-$i" | kr_cli user add "u$i@grow.test" >/dev/null
done
ok "$N shards of $((N + 1)) nodes (node $N unlisted, no schema), $USERS users"

# ---- the load ---------------------------------------------------------
acked=$KR_WORK/acked stop=$KR_WORK/stop
python3 - "$KR_LMTP" "$USERS" "$LOAD_MAX" "$LOAD_SECS" "$acked" "$stop" >"$KR_WORK/load.out" 2>&1 <<'EOF' &
# One connection per message; a temporary failure (4xx, a closed
# connection before DATA's answer is impossible to tell apart from a
# loss, so it is counted and the message retried under a new subject)
# is retried; a permanent one (5xx) is recorded.
import os, smtplib, sys, time
port, users, nmax, secs, acked, stop = sys.argv[1:]
users, nmax, secs = int(users), int(nmax), float(secs)
end = time.time() + secs
temp = perm = 0
with open(acked, "w") as out:
    for i in range(nmax):
        if time.time() > end or os.path.exists(stop):
            break
        rcpt = "u%d@grow.test" % (i % users + 1)
        for attempt in range(20):
            subj = "grow-%d-%d" % (i, attempt)
            msg = "From: s@ext.test\r\nTo: %s\r\nSubject: %s\r\n\r\nbody %d\r\n" % (rcpt, subj, i)
            try:
                c = smtplib.LMTP("127.0.0.1", int(port), timeout=10)
                c.sendmail("s@ext.test", [rcpt], msg)
                c.quit()
                out.write("%s %s\n" % (rcpt, subj)); out.flush()
                break
            except smtplib.SMTPRecipientsRefused as e:
                code = list(e.recipients.values())[0][0]
                if code >= 500: perm += 1; break
                temp += 1
            except smtplib.SMTPResponseException as e:
                if e.smtp_code >= 500: perm += 1; break
                temp += 1
            except (OSError, smtplib.SMTPException):
                temp += 1
            time.sleep(0.05)
        time.sleep(0.01)
print("sent %d temp %d perm %d" % (i + 1, temp, perm))
EOF
load_pid=$!
wait_for 10 "the load under way" bash -c "[[ \$(wc -l <'$acked') -ge 20 ]]"

# ---- (a) grow ----------------------------------------------------------
before=$(kr_worker_pids | sort | tr '\n' ' ')
KR_SHARDS=$((N + 1))
kr_stack_conf
grep -A3 "^\\[shard\\.$N\\]" "$KR_CONF" | grep -q buckets && fail "shard $N has buckets in the config"
t0=$(date +%s%3N)
out=$(kr_cli reload 2>&1) || fail "reload refused: $out"
t1=$(date +%s%3N)
v_new=$(schema "$node_new")
((v_new == v0)) || fail "node $N schema $v_new, shard 0's $v0"
grep -q '"db.shards_added"' "$KR_WORK/kurierd.log" || grep -q 'db.shards_added' "$KR_WORK/kurierd.log" ||
	fail "no db.shards_added in the log"
ok "(a) reload in $((t1 - t0)) ms: node $N migrated to version $v_new (shard 0: $v0)"

# ---- (b) the workers take the grown set -------------------------------
for _ in $(seq 300); do
	kr_admin /api/workers | jq -e '.cycle.active == false and .cycle.done == .cycle.total and .cycle.total > 0' \
		>/dev/null && break
	sleep 0.1
done
kr_admin /api/workers | jq -e '.cycle.active == false' >/dev/null ||
	fail "the worker cycle did not finish: $(kr_admin /api/workers | jq -c .cycle)"
after=$(kr_worker_pids | sort | tr '\n' ' ')
for p in $before; do
	[[ " $after " != *" $p "* ]] || fail "worker $p not cycled ($before-> $after)"
done
metric() { kr_admin /metrics | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "none" }'; }
q_new="kurier_db_queries_total{shard=\"$N\",node=\"primary\"}"
queried_new() { local v; v=$(metric "$q_new"); [[ $v != none && $v != 0 ]]; }
wait_for 15 "census queries on shard $N" queried_new
for k in "kurier_db_pool_idle{shard=\"$N\",node=\"primary\"}" "kurier_db_errors_total{shard=\"$N\",node=\"primary\"}" \
	"kurier_db_users{shard=\"$N\"}" "kurier_db_shard_draining{shard=\"$N\"}"; do
	[[ $(metric "$k") != none ]] || fail "no $k on /metrics"
done
[[ $(metric "kurier_db_users{shard=\"$N\"}") == 0 ]] || fail "users on the empty shard $N"
kr_admin /metrics | grep -q "shard=\"$((N + 1))\"" && fail "reserved shard $((N + 1)) shown"
kr_admin /api/nodes | jq -e '[.nodes[] | select(.shard == '"$N"' and .role == "primary")] | length == 1' >/dev/null ||
	fail "/api/nodes lacks shard $N: $(kr_admin /api/nodes | jq -c '[.nodes[].shard]')"
st=$(kr_cli shard status) || fail "shard status: $st"
grep -q "^shard $N primary .*reachable yes.*users 0\$" <<<"$st" || fail "shard status lacks shard $N: $st"
kr_cli shard map | grep -q "^shard $N: buckets none (0)" || fail "shard map: $(kr_cli shard map)"
[[ $(kr_crashes) == 0 ]] || fail "worker crashes: $(kr_crashes)"
ok "(b) workers cycled ($before-> $after), shard $N queried ($(metric "$q_new") queries), listed by /api/nodes and shard status"

# ---- (d) refused changes ----------------------------------------------
reloads=$(metric kurier_config_reload_failures_total)
awk '/^\[shard\.1\]/ { f = 1 } f && /^primary = / { $0 = $0 " application_name=x"; f = 0 } { print }' \
	"$KR_CONF" >"$KR_CONF.new" && mv "$KR_CONF.new" "$KR_CONF" && chmod 0644 "$KR_CONF"
grep -q 'application_name=x' "$KR_CONF" || fail "could not change shard 1's primary"
out=$(kr_cli reload 2>&1) && fail "a changed primary was reloaded: $out"
grep -q 'shard.1\] primary changed' <<<"$out" || fail "refusal does not say why: $out"
KR_SHARDS=$N
kr_stack_conf
out=$(kr_cli reload 2>&1) && fail "a removed shard was reloaded: $out"
grep -q "shard.$N\\] removed" <<<"$out" || fail "refusal does not say why: $out"
kr_admin /api/workers | jq -e '.cycle.active == false' >/dev/null || fail "a refused reload cycled workers"
kr_admin /api/nodes | jq -e '[.nodes[] | select(.shard == '"$N"')] | length == 1' >/dev/null ||
	fail "a refused reload dropped shard $N"
KR_SHARDS=$((N + 1))
kr_stack_conf
ok "(d) changed primary and removed shard refused ($(metric kurier_config_reload_failures_total) failed reloads, $reloads before)"

# ---- (c) every acknowledged message stored once ------------------------
touch "$stop"
wait "$load_pid" || fail "load: $(cat "$KR_WORK/load.out")"
load=$(cat "$KR_WORK/load.out")
grep -q 'perm 0$' <<<"$load" || fail "permanent delivery failures: $load"
n_acked=$(wc -l <"$acked")
for i in $(seq 1 $USERS); do
	KR_TOK=$(kr_login "u$i@grow.test" "pw-$i") || fail "login u$i"
	inbox=$(kr_mailbox inbox)
	kr_call message.list "{\"mailbox\":$inbox,\"limit\":200}" | jq -r '.result.messages[].subject' | sort >"$KR_WORK/got-$i"
	awk -v u="u$i@grow.test" '$1 == u { print $2 }' "$acked" | sort >"$KR_WORK/want-$i"
	dup=$(uniq -d "$KR_WORK/got-$i" | head -3)
	[[ -z $dup ]] || fail "u$i: stored twice: $dup"
	missing=$(comm -23 "$KR_WORK/want-$i" "$KR_WORK/got-$i" | head -3)
	[[ -z $missing ]] || fail "u$i: acknowledged but not stored: $missing"
done
[[ $(kr_crashes) == 0 ]] || fail "worker crashes: $(kr_crashes)"
ok "(c) $n_acked acknowledged messages all stored once ($load)"

# ---- (e) a bucket moved onto the new shard ---------------------------
bucket=$(kr_cli user show u1@grow.test | awk -F'\t' '$1 == "bucket" { print $2 }')
[[ $bucket =~ ^[0-9]+$ ]] || fail "no bucket for u1: $(kr_cli user show u1@grow.test)"
kr_cli shard move "$bucket" "$N" >"$KR_WORK/move.out" 2>&1 || fail "shard move: $(cat "$KR_WORK/move.out")"
[[ $(kr_cli user show u1@grow.test | awk -F'\t' '$1 == "shard" { print $2 }') == "$N" ]] ||
	fail "u1 not on shard $N: $(kr_cli user show u1@grow.test)"
on_new() {
	psql "$node_new" -XAtc "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
		WHERE u.address = 'u1@grow.test'"
}
n1=$(wc -l <"$KR_WORK/got-1")
(($(on_new) == n1)) || fail "node $N holds $(on_new) of u1's $n1 messages"
python3 - "$KR_LMTP" <<'EOF' || fail "delivery to u1 after the move"
import smtplib, sys
c = smtplib.LMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
c.sendmail("s@ext.test", ["u1@grow.test"], "Subject: after the move\r\n\r\nbody\r\n")
c.quit()
EOF
(($(on_new) == n1 + 1)) || fail "the delivery after the move is not on node $N ($(on_new))"
KR_TOK=$(kr_login u1@grow.test pw-1) || fail "login u1 after the move"
[[ $(kr_call message.list "{\"mailbox\":$(kr_mailbox inbox),\"limit\":200}" | jq '.result.messages | length') == $((n1 + 1)) ]] ||
	fail "u1's listing after the move"
ok "(e) bucket $bucket moved onto shard $N: u1's $n1 messages there, a new delivery too, all listed"
