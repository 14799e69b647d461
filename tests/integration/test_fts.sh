#!/usr/bin/env bash
# Full-text indexing behind delivery (issue 12; SPEC.md §7) on a
# running kurierd with a 2-node cluster: messages delivered over LMTP
# while the indexer is held back are all queued and found by
# message.search (the exact path over the queued text); worker 0's
# indexer empties both shards' queues within seconds, every message is
# then indexed and still found, and /metrics shows
# kurier_fts_indexed_total and kurier_fts_backlog per shard.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

client() { perl tests/integration/lmtp_client.pl "$@"; }
kr_stack_start fts 19000 2
aux=$KR_WORK/aux
mkdir -p "$aux"

n=12
users=(u1@fts.test u2@fts.test u3@fts.test)
for u in "${users[@]}"; do echo pw | kr_cli user add "$u" >/dev/null; done
tok=()
for u in "${users[@]}"; do tok+=("$(kr_login "$u" pw)"); done

# psql SQL: one line per node, the first column of each answer.
pgall() {
	local i
	for ((i = 0; i < KR_NODES; i++)); do
		psql -X -qtA "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + i)) dbname=kurier user=kurier" -c "$1"
	done
}
total() { pgall "$1" | awk '{ s += $1 } END { print s + 0 }'; }
# found TOKEN WORD: how many messages message.search finds for WORD.
found() {
	kr_rpc "$1" "{\"jsonrpc\":\"2.0\",\"method\":\"message.search\",\"params\":{\"query\":{\"text\":\"$2\"}},\"id\":1}" |
		jq -e '.result.messages | length'
}

# Hold the indexer back on both nodes while delivering and searching:
# a session holds fts_state in EXCLUSIVE mode (deliveries only read it;
# the indexer's last step updates it), so whatever the indexer takes
# stays uncommitted and every message is still queued when searched.
hold_s=10
holders=()
for ((i = 0; i < KR_NODES; i++)); do
	psql -X -q "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + i)) dbname=kurier user=kurier" \
		-c "BEGIN; LOCK TABLE fts_state IN EXCLUSIVE MODE; SELECT pg_sleep($hold_s); COMMIT;" \
		>/dev/null 2>&1 &
	holders+=($!)
done
wait_for 10 "fts_state held on both nodes" bash -c "[[ \$(for p in $KR_PORT $((KR_PORT + 1)); do psql -X -qtA \"host=$PWD/$KR_STACK_DIR/pg/run port=\$p dbname=kurier user=kurier\" -c \"SELECT count(*) FROM pg_locks WHERE relation = 'fts_state'::regclass AND mode = 'ExclusiveLock' AND granted\"; done | awk '{ s += \$1 } END { print s + 0 }') == $KR_NODES ]]"
t0=$(date +%s)

tag=w$$r$RANDOM
for ((i = 0; i < n; i++)); do
	k=$((i % ${#users[@]}))
	printf 'From: Alice <alice@ext.test>\r\nTo: %s\r\nSubject: report %d\r\nMessage-ID: <%d.%s@ext.test>\r\n\r\nthe quarterly %sx%d figures\r\n' \
		"${users[k]}" "$i" "$i" "$tag" "$tag" "$i" >"$aux/m$i.eml"
	r=$(client deliver "$KR_LMTP" "${users[k]}" "$aux/m$i.eml")
	[[ $r == 250* ]] || fail "delivery $i: $r"
done
# Right away: every message is found by its own word, whether the
# indexer has reached it or not.
queued=$(total "SELECT count(*) FROM fts_queue")
for ((i = 0; i < n; i++)); do
	k=$((i % ${#users[@]}))
	c=$(found "${tok[k]}" "${tag}x$i") || fail "search ${tag}x$i failed"
	[[ $c == 1 ]] || fail "search ${tag}x$i right after delivery found $c, want 1"
done
c=$(found "${tok[0]}" quarterly)
[[ $c == $(((n + 2) / 3)) ]] || fail "search quarterly for u1 found $c, want $(((n + 2) / 3))"
(($(date +%s) - t0 < hold_s)) || fail "deliveries and searches took longer than the hold ($hold_s s)"
[[ $queued == "$n" ]] || fail "$queued of $n queued while the indexer was held"
ok "$n messages found right after delivery, all $queued still queued"
wait "${holders[@]}" || true

wait_for 15 "fts queues empty (now $(total 'SELECT count(*) FROM fts_queue'))" \
	bash -c "[[ \$(for p in $KR_PORT $((KR_PORT + 1)); do psql -X -qtA \"host=$PWD/$KR_STACK_DIR/pg/run port=\$p dbname=kurier user=kurier\" -c 'SELECT count(*) FROM fts_queue'; done | awk '{ s += \$1 } END { print s + 0 }') == 0 ]]"
unindexed=$(total "SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_fts f
	WHERE f.user_id = m.user_id AND f.mailbox_id = m.mailbox_id AND f.uid = m.uid)")
[[ $unindexed == 0 ]] || fail "$unindexed messages without a tsvector after the queue emptied"
for ((i = 0; i < n; i++)); do
	k=$((i % ${#users[@]}))
	c=$(found "${tok[k]}" "${tag}x$i") || fail "search ${tag}x$i failed"
	[[ $c == 1 ]] || fail "search ${tag}x$i after indexing found $c, want 1"
done
ok "indexer emptied both queues; all $n messages indexed and found"

m=$(kr_admin /metrics)
idx=$(awk '$1 == "kurier_fts_indexed_total" { print $2 }' <<<"$m")
[[ -n $idx && $idx -ge $queued ]] || fail "kurier_fts_indexed_total '$idx' < $queued queued"
for s in 0 1; do
	b=$(awk -v k="kurier_fts_backlog{shard=\"$s\"}" '$1 == k { print $2 }' <<<"$m")
	[[ $b == 0 ]] || fail "kurier_fts_backlog shard $s: '$b', want 0"
done
[[ $(kr_crashes) == 0 ]] || fail "worker crashes"
ok "kurier_fts_indexed_total $idx, kurier_fts_backlog 0 on both shards"
echo "all fts checks passed"
