#!/usr/bin/env bash
# Online bucket moves (issue 14 item 2, SPEC §3.4): `kurier shard move
# BUCKETS SHARD` on a 4-node cluster while an LMTP load delivers to the
# moved users (tests/integration/move_load.pl, Postfix-like: 4xx is
# retried, only 250 counts).
# (a) move buckets 0-15 from shard 0 to shard 2 under load: the move
#     succeeds; no delivery got a permanent answer; every acknowledged
#     message exists exactly once, on shard 2 only (psql on both nodes),
#     and the older mail came along (uids, flags); auth.login,
#     message.list and message.get work for the moved users; `kurier
#     shard map` and `user show` show the new place; every user keeps
#     his id and his mailbox ids; a session from before the move goes
#     on (its token names shard 0: forwarded), one logged out before
#     stays out, a logout after it holds; tombstones (changes.get) move;
# (b) a move of buckets 16-31 to shard 3 killed after its copy and fence
#     (before the switch: KURIER_TEST_MOVE_CRASH=fenced exits as a kill
#     would) leaves the map alone and its job row 'copying'; run again,
#     it rolls back, starts over and completes, the load going on
#     throughout; the same exactly-once checks hold;
# (c) a move of buckets 32-47 to shard 1 killed right after its first
#     switch: run again, it finishes that bucket (publish, clean-up)
#     and moves the rest; every shard holds the same overrides.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

kr_stack_start moves 15800 4
stop=$KR_WORK/stop-load
load_pid=

# The shard's primary conninfo from the config ([shard.N] primary = ...).
conninfo() {
	awk -v s="[shard.$1]" '$0 == s { f = 1; next } /^\[/ { f = 0 }
		f && /^primary = / { sub(/^primary = /, ""); print; exit }' "$KR_CONF"
}
psql_on() { psql "$(conninfo "$1")" -Atq -c "$2"; }

# The bucket of an address: FNV-1a 64 of the lower-cased address, mod
# 4096 (storage/shardmap.c), in Perl's native 64-bit integers.
buckets_of() {
	perl -e 'use integer; for my $a (@ARGV) { my $h = -3750763034362895579;
		for my $c (split //, lc $a) { $h ^= ord($c); $h *= 1099511628211 }
		print "$a ", $h & 4095, "\n" }' "$@"
}

# Users of buckets LO..HI among u0..u2999@move.test.
pick() {
	buckets_of $(seq -f 'u%g@move.test' 0 2999) |
		awk -v lo="$1" -v hi="$2" '$2 >= lo && $2 <= hi { print $1 }'
}
mapfile -t group_a < <(pick 0 15)
mapfile -t group_b < <(pick 16 31)
mapfile -t group_c < <(pick 32 47)
((${#group_a[@]} >= 3 && ${#group_b[@]} >= 3 && ${#group_c[@]} >= 3)) ||
	fail "too few users: ${#group_a[@]}, ${#group_b[@]}, ${#group_c[@]}"
for u in "${group_a[@]}" "${group_b[@]}" "${group_c[@]}"; do
	echo "pw-$u" | kr_cli user add "$u" >/dev/null
done
show=$(kr_cli user show "${group_a[0]}")
want=$(buckets_of "${group_a[0]}" | awk '{ print $2 }')
grep -q "^bucket	$want\$" <<<"$show" || fail "bucket of ${group_a[0]}: $show, expected $want"
grep -q '^shard	0$' <<<"$show" || fail "expected shard 0: $show"
ok "${#group_a[@]} users in buckets 0-15, ${#group_b[@]} in 16-31, ${#group_c[@]} in 32-47, all on shard 0"
# Ids from shard 0's range (012_stable_ids.sql): what a move must keep.
ids_of() {
	psql_on "$1" "SELECT u.address || ' ' || u.id || ' ' || string_agg(b.name || '=' || b.id, ',' ORDER BY b.name)
		FROM users u JOIN mailboxes b ON b.user_id = u.id GROUP BY u.id ORDER BY u.address"
}

# Older mail, with a flag set, that the move must carry.
deliver_old() {
	local u
	for u in "$@"; do
		perl tests/integration/move_load.pl "$KR_LMTP" "old" /nonexistent 2 10 "$u" |
			grep -c '^ACK' | grep -qx 2 || fail "old mail to $u"
	done
}
deliver_old "${group_a[@]}" "${group_b[@]}" "${group_c[@]}"

load_start() { # TAG USER...
	rm -f "$stop"
	perl tests/integration/move_load.pl "$KR_LMTP" "$1" "$stop" 3000 60 "${@:2}" \
		>"$KR_WORK/load-$1.out" 2>"$KR_WORK/load-$1.err" &
	load_pid=$!
}
load_stop() {
	touch "$stop"
	wait "$load_pid" || fail "load: $(cat "$KR_WORK/load-$1.err")"
	load_pid=
	! grep '^PERM' "$KR_WORK/load-$1.out" || fail "permanent answers during the move"
}

# check TAG SRC DST USER...: every ACKed TAG message exactly once on DST,
# nothing of the users left on SRC, reads through JSON-RPC.
check() {
	local tag=$1 src=$2 dst=$3 u acked n on_src list tok inbox uid got
	shift 3
	acked=$(grep -c '^ACK' "$KR_WORK/load-$tag.out" || true)
	((acked >= 20)) || fail "only $acked messages acknowledged under load"
	for u in "$@"; do
		on_src=$(psql_on "$src" "SELECT count(*) FROM users WHERE address = '$u'")
		[[ $on_src == 0 ]] || fail "$u still on shard $src"
	done
	# Every acknowledged subject once on dst (one query for all).
	awk '$1 == "ACK" { print $2 "\t" $3 }' "$KR_WORK/load-$tag.out" | sort >"$KR_WORK/acked-$tag"
	psql_on "$dst" "SELECT u.address || E'\t' || m.subject FROM messages m
		JOIN users u ON u.id = m.user_id WHERE m.subject LIKE '$tag-%'" |
		sort >"$KR_WORK/stored-$tag"
	n=$(uniq -d "$KR_WORK/stored-$tag" | wc -l)
	((n == 0)) || fail "$n duplicates on shard $dst: $(uniq -d "$KR_WORK/stored-$tag" | head -3)"
	comm -23 "$KR_WORK/acked-$tag" "$KR_WORK/stored-$tag" >"$KR_WORK/lost-$tag"
	[[ ! -s $KR_WORK/lost-$tag ]] || fail "lost: $(head -3 "$KR_WORK/lost-$tag")"
	# The same user and mailbox ids on dst as on shard 0 before.
	ids_of "$dst" | grep -Ff <(printf '%s \n' "$@") >"$KR_WORK/ids-$tag"
	[[ $(wc -l <"$KR_WORK/ids-$tag") == "$#" ]] || fail "$tag: $(wc -l <"$KR_WORK/ids-$tag") of $# users on shard $dst"
	grep -vxFf "$KR_WORK/ids-before" "$KR_WORK/ids-$tag" >"$KR_WORK/renumbered-$tag" || true
	[[ ! -s $KR_WORK/renumbered-$tag ]] || fail "ids changed: $(head -2 "$KR_WORK/renumbered-$tag")"
	# Old mail came along, with its flag and its uids 1 and 2.
	for u in "$@"; do
		tok=$(kr_login "$u" "pw-$u") || fail "login of $u after the move"
		KR_TOK=$tok
		inbox=$(kr_mailbox inbox) || fail "mailbox.list of $u"
		list=$(kr_call message.list "{\"mailbox\":$inbox,\"limit\":200}")
		got=$(jq -r '[.result.messages[] | select(.subject | startswith("old-"))] | map(.uid) | sort | join(",")' <<<"$list")
		[[ $got == 1,2 ]] || fail "old mail of $u: uids '$got' ($list)"
		uid=$(jq -e '[.result.messages[] | select(.subject | startswith("'"$tag"'-"))][0].uid // .result.messages[0].uid' <<<"$list")
		kr_call message.get "{\"mailbox\":$inbox,\"uid\":$uid}" |
			jq -e '.result.uid == '"$uid" >/dev/null || fail "message.get $u $uid"
		grep -q "^shard	$dst\$" <(kr_cli user show "$u") || fail "user show $u: not on shard $dst"
	done
	ok "$tag: $acked acknowledged, each exactly once on shard $dst, none left on shard $src; login, message.list, message.get work"
}

# A flag and a Bayes statistic that the move must carry (group a's
# first user): \Flagged on uid 1 through JSON-RPC, two tokens in SQL.
ua=${group_a[0]}
KR_TOK=$(kr_login "$ua" "pw-$ua")
kr_call message.flags "{\"mailbox\":$(kr_mailbox inbox),\"uids\":[1],\"add\":[\"\\\\Flagged\"]}" |
	jq -e .result >/dev/null || fail "message.flags"
psql_on 0 "INSERT INTO bayes_users (user_id, n_spam, n_ham, n_tokens)
	SELECT id, 3, 4, 2 FROM users WHERE address = '$ua';
	INSERT INTO bayes_tokens (user_id, hash, spam, ham, day)
	SELECT id, h, 1, 2, 20000 FROM users, (VALUES (11), (-12)) v(h)
	WHERE address = '$ua'"
bayes_of() {
	psql_on "$1" "SELECT b.n_spam || ' ' || b.n_ham || ' ' ||
		(SELECT string_agg(t.hash || ':' || t.spam || ':' || t.ham, ','
		 ORDER BY t.hash) FROM bayes_tokens t WHERE t.user_id = u.id)
		FROM users u JOIN bayes_users b ON b.user_id = u.id
		WHERE u.address = '$ua'"
}
[[ $(bayes_of 0) == "3 4 -12:1:2,11:1:2" ]] || fail "bayes before: $(bayes_of 0)"
# Its old mail indexed (worker 0's indexer empties the queue): the
# tsvectors live in message_fts, which the move must carry too.
fts_of() {
	psql_on "$1" "SELECT count(*) FROM message_fts t JOIN users u ON u.id = t.user_id
		WHERE u.address = '$ua'"
}
wait_for 20 "shard 0's full-text queue indexed" \
	bash -c "[[ \$(psql '$(conninfo 0)' -Atq -c 'SELECT count(*) FROM fts_queue') == 0 ]]"
[[ $(fts_of 0) == 2 ]] || fail "indexed rows of $ua before: $(fts_of 0)"
search_old() {
	kr_call message.search '{"query":{"text":"old"}}' | jq '.result.messages | length'
}
[[ $(search_old) == 2 ]] || fail "search before the move: $(search_old)"

# Sessions from before the move: T_A in use, T_OUT logged out.
T_A=$KR_TOK
INBOX_A=$(kr_mailbox inbox)
T_OUT=$(kr_login "$ua" "pw-$ua")
kr_rpc "$T_OUT" '{"jsonrpc":"2.0","method":"auth.logout","id":1}' | jq -e .result >/dev/null || fail "logout"
quota_as() { kr_rpc "$1" '{"jsonrpc":"2.0","method":"quota.get","id":1}'; }
# Tombstones a sync client must still get after the move: a message
# expunged from mailbox Keep, the deleted mailbox Gone.
KEEP=$(kr_call mailbox.create '{"name":"Keep"}' | jq -e .result.id) || fail "mailbox.create"
kr_call message.copy "{\"mailbox\":$INBOX_A,\"uids\":[1],\"to\":$KEEP}" | jq -e .result >/dev/null || fail "message.copy"
kr_call message.delete "{\"mailbox\":$KEEP,\"uids\":[1]}" | jq -e .result >/dev/null || fail "message.delete"
GONE=$(kr_call mailbox.create '{"name":"Gone"}' | jq -e .result.id) || fail "mailbox.create"
kr_call mailbox.delete "{\"id\":$GONE}" | jq -e .result >/dev/null || fail "mailbox.delete"
removed_of() {
	kr_rpc "$1" '{"jsonrpc":"2.0","method":"changes.get","params":{"since":0},"id":1}' |
		jq -c '[[.result.removed[] | [.mailbox, .uid]], .result.mailboxes_removed]'
}
REMOVED=$(removed_of "$T_A")
[[ $REMOVED == "[[[$KEEP,1]],[$GONE]]" ]] || fail "tombstones before the move: $REMOVED"
[[ $(quota_as "$T_OUT" | jq .error.code) == -32001 ]] || fail "logged-out session: $(quota_as "$T_OUT")"

# (a) a move under load.
ids_of 0 >"$KR_WORK/ids-before"
awk '$2 < 2^40 || $2 >= 2^41 { bad = 1 } END { exit bad }' "$KR_WORK/ids-before" ||
	fail "user ids outside shard 0's range: $(head -2 "$KR_WORK/ids-before")"
load_start a "${group_a[@]}"
sleep 1
t0=$(date +%s%N)
kr_cli shard move 0-15 2 >"$KR_WORK/move-a.out" 2>&1 || fail "shard move: $(cat "$KR_WORK/move-a.out")"
t1=$(date +%s%N)
sleep 1.5
load_stop a
grep -q 'moved buckets 0-15 to shard 2' "$KR_WORK/move-a.out" || fail "move output: $(cat "$KR_WORK/move-a.out")"
temp=$(grep -c '^TEMP' "$KR_WORK/load-a.out" || true)
ok "moved buckets 0-15 to shard 2 in $(((t1 - t0) / 1000000)) ms under load ($temp temporary answers, retried)"
kr_cli shard map | grep -q '^moved: buckets 0-15 on shard 2 (config: shard 0)$' ||
	fail "shard map: $(kr_cli shard map)"
check a 0 2 "${group_a[@]}"
quota_as "$T_A" | jq -e .result.used >/dev/null || fail "session from before the move: $(quota_as "$T_A")"
KR_TOK=$T_A kr_call message.list "{\"mailbox\":$INBOX_A,\"limit\":5}" | jq -e '.result.messages | length > 0' >/dev/null ||
	fail "message.list of mailbox $INBOX_A with the old session"
[[ $(quota_as "$T_OUT" | jq .error.code) == -32001 ]] || fail "logged out before the move, back after it: $(quota_as "$T_OUT")"
[[ $(psql_on 0 "SELECT count(*) FROM moved_users WHERE address = '$ua'") == 1 ]] || fail "no forwarding row for $ua on shard 0"
# What a kurierd whose map is still stale reads there: a temporary
# 'moved' (451 at RCPT, -32010 at login), not an unknown user.
[[ $(psql_on 0 "SELECT status FROM kr_user_get('$ua') UNION ALL SELECT status FROM kr_user_auth('$ua')" | sort -u) == moved ]] ||
	fail "the source answers $(psql_on 0 "SELECT status FROM kr_user_get('$ua')") for $ua"
kr_rpc "$T_A" '{"jsonrpc":"2.0","method":"auth.logout","id":1}' | jq -e .result >/dev/null || fail "logout after the move"
[[ $(psql_on 2 "SELECT count(*) FROM revoked_sessions r JOIN users u ON u.id = r.user_id WHERE u.address = '$ua'") == 2 ]] ||
	fail "revocations of $ua on shard 2: $(psql_on 2 "SELECT count(*) FROM revoked_sessions")"
ended() { # on both workers (4 tries), whatever their caches hold
	local i
	for i in 1 2 3 4; do [[ $(quota_as "$T_A" | jq .error.code) == -32001 ]] || return 1; done
}
wait_for 3 "the old session ended on every worker" ended
[[ $(removed_of "$(kr_login "$ua" "pw-$ua")") == "$REMOVED" ]] ||
	fail "tombstones after the move: $(removed_of "$(kr_login "$ua" "pw-$ua")"), before $REMOVED"
ok "ids kept; a session from before the move goes on (mailbox $INBOX_A), one logged out before stays out, a logout after the move holds; changes.get still reports the expunged message and the deleted mailbox"
[[ $(bayes_of 2) == "3 4 -12:1:2,11:1:2" ]] || fail "bayes after the move: '$(bayes_of 2)'"
KR_TOK=$(kr_login "$ua" "pw-$ua")
kr_call message.list "{\"mailbox\":$(kr_mailbox inbox),\"limit\":200}" |
	jq -e '.result.messages[] | select(.uid == 1) | .flags | index("\\Flagged")' >/dev/null ||
	fail "\\Flagged on uid 1 lost"
# (The load's mail is indexed on shard 2 meanwhile: only "old" counts.)
[[ $(search_old) == 2 ]] || fail "search after the move finds $(search_old), $(fts_of 2) rows indexed"
ok "the flag, the Bayes statistic and the full-text index came along"

# Every shard holds the same copy of the overrides (read when shard 0
# is not there).
maps_agree() {
	local want s
	want=$(psql_on 0 "SELECT string_agg(bucket || ':' || shard, ',' ORDER BY bucket) FROM shard_map")
	[[ -n $want ]] || fail "no overrides on shard 0"
	for s in 1 2 3; do
		[[ $(psql_on $s "SELECT string_agg(bucket || ':' || shard, ',' ORDER BY bucket) FROM shard_map") == "$want" ]] ||
			fail "shard $s's shard_map differs from shard 0's"
	done
}
maps_agree

# (b) killed between the copy and the switch, then run again.
load_start b "${group_b[@]}"
sleep 1
rc=0
KURIER_TEST_MOVE_CRASH=fenced kr_cli shard move 16-31 3 >"$KR_WORK/move-b1.out" 2>&1 || rc=$?
((rc == 70)) || fail "the crashing move exited $rc: $(cat "$KR_WORK/move-b1.out")"
state=$(psql_on 0 "SELECT src || ' ' || dst || ' ' || state FROM shard_moves WHERE bucket = 16")
[[ $state == "0 3 copying" ]] || fail "job after the kill: '$state'"
[[ -z $(psql_on 0 "SELECT shard FROM shard_map WHERE bucket = 16") ]] || fail "map switched by the killed move"
ok "the move killed after its copy left job '$state' and the map alone"
sleep 1
kr_cli shard move 16-31 3 >"$KR_WORK/move-b2.out" 2>&1 || fail "move again: $(cat "$KR_WORK/move-b2.out")"
grep -q 'rolling back an unfinished move 0 -> 3' "$KR_WORK/move-b2.out" || fail "no roll-back: $(cat "$KR_WORK/move-b2.out")"
sleep 1.5
load_stop b
[[ $(psql_on 0 "SELECT count(*) FROM shard_moves") == 0 ]] || fail "job rows left"
[[ $(psql_on 0 "SELECT count(*) FROM users WHERE moving") == 0 ]] || fail "fenced users left on shard 0"
check b 0 3 "${group_b[@]}"
[[ $(kr_crashes) == 0 ]] || fail "worker crashes: $(kr_crashes)"
ok "run again, the move rolled back, started over and completed"

# (c) killed right after a switch, then run again.
load_start c "${group_c[@]}"
sleep 1
rc=0
KURIER_TEST_MOVE_CRASH=switched kr_cli shard move 32-47 1 >"$KR_WORK/move-c1.out" 2>&1 || rc=$?
((rc == 70)) || fail "the crashing move exited $rc: $(cat "$KR_WORK/move-c1.out")"
[[ $(psql_on 0 "SELECT state FROM shard_moves WHERE bucket = 32") == switched ]] ||
	fail "job after the kill: $(psql_on 0 "SELECT * FROM shard_moves")"
kr_cli shard move 32-47 1 >"$KR_WORK/move-c2.out" 2>&1 || fail "move again: $(cat "$KR_WORK/move-c2.out")"
grep -q 'bucket 32: switched to shard 1 before, finishing' "$KR_WORK/move-c2.out" ||
	fail "no resume: $(cat "$KR_WORK/move-c2.out")"
sleep 1.5
load_stop c
[[ $(psql_on 0 "SELECT count(*) FROM shard_moves") == 0 ]] || fail "job rows left"
check c 0 1 "${group_c[@]}"
maps_agree
kr_cli shard map | grep -q '^moved: buckets 32-47 on shard 1 (config: shard 0)$' ||
	fail "shard map: $(kr_cli shard map)"
[[ $(kr_crashes) == 0 ]] || fail "worker crashes: $(kr_crashes)"
ok "killed after a switch, run again: resumed and completed; every shard holds the same overrides"
