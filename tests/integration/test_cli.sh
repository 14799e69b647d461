#!/usr/bin/env bash
# The kurier CLI against a private 4-node cluster: user add/del/passwd/
# quota/list, a 5 000-line passwd-file import (with bad lines, then
# again), shard map and status, and every user's row on exactly the
# node the shard map names (placement recomputed here from FNV-1a);
# then the store's admin part it runs on (tests/unit/test_store_admin).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

KURIER=$KR_BUILD/kurier
dir=var/test-cli
base_port=10600
n_nodes=4
cleanup() {
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
[[ -x $KURIER ]] || fail "$KURIER not built"
rm -rf "$dir"
mkdir -p "$KR_BUILD/test-logs/cli"
out=$KR_BUILD/test-logs/cli
KR_DIAG=("$out/stderr" "$out/stdout" "$dir/pg/log/node00.log")

# The cluster script may be mid-edit by someone else: retry a while.
started=0
for _ in $(seq 10); do
	if ops/pgcluster start -n "$n_nodes" -d "$dir" -p "$base_port" >"$out/pgcluster.out" 2>&1; then
		started=1
		break
	fi
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	sleep 15
done
[[ $started == 1 ]] || fail "ops/pgcluster start: $(cat "$out/pgcluster.out")"
conf=$dir/kurier.conf
mapfile -t conninfo < <(sed -n 's/^primary *= *//p' "$conf")
[[ ${#conninfo[@]} -eq $n_nodes ]] || fail "expected $n_nodes primaries in $conf"

# k ARGS...: runs the CLI; stdout/stderr kept in $out, exit status in rc.
rc=0
k() {
	rc=0
	"$KURIER" -c "$conf" "$@" >"$out/stdout" 2>"$out/stderr" || rc=$?
}
expect_rc() { # WANT WHAT
	[[ $rc -eq $1 ]] || fail "$2: exit $rc, expected $1 (stderr: $(cat "$out/stderr"))"
}
sql() { # NODE QUERY: one value
	psql -X -q -A -t -v ON_ERROR_STOP=1 "${conninfo[$1]}" -c "$2"
}

# Placement as kr_shardmap computes it: FNV-1a 64 of the lower-cased
# address, mod 4096 (= the low 12 bits; bash arithmetic wraps at 64 bits
# the way uint64_t does), then the shard whose range holds the bucket.
declare -a range_lo range_hi
bucket=0
fnv_bucket() {
	local s=${1,,} h=$((0xcbf29ce484222325)) i c
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ c) * 0x100000001b3))
	done
	bucket=$((h & 4095))
}
shard_of=0
place() {
	local i
	fnv_bucket "$1"
	for ((i = 0; i < n_nodes; i++)); do
		if ((bucket >= range_lo[i] && bucket <= range_hi[i])); then
			shard_of=$i
			return
		fi
	done
	fail "bucket $bucket of $1 in no range"
}
fnv_bucket "User@Example.COM"
[[ $bucket -eq 2779 ]] || fail "test's FNV-1a is wrong: bucket $bucket"

# 1. shard map: one line per shard, ranges tiling 0..4095, no secrets.
k shard map
expect_rc 0 "shard map"
[[ $(wc -l <"$out/stdout") -eq $n_nodes ]] || fail "shard map: $(cat "$out/stdout")"
next=0
while read -r _ id _ range count _; do
	lo=${range%-*}
	hi=${range#*-}
	[[ $lo -eq $next ]] || fail "shard map: shard $id starts at $lo, expected $next"
	[[ $count == "($((hi - lo + 1)))" ]] || fail "shard map: bad count $count"
	range_lo[${id%:}]=$lo
	range_hi[${id%:}]=$hi
	next=$((hi + 1))
done <"$out/stdout"
[[ $next -eq 4096 ]] || fail "shard map ends at $((next - 1)), not 4095"
grep -q "port=$base_port dbname=kurier" "$out/stdout" || fail "shard map lacks host/port"
! grep -qi "password\|user=" "$out/stdout" || fail "shard map shows credentials"
ok "shard map covers 0..4095 in $n_nodes ranges"

# 2. shard status: every primary reachable, role primary, a latency.
k shard status
expect_rc 0 "shard status"
n=$(grep -c "reachable yes, role primary, latency [0-9.]* ms, users" "$out/stdout" || true)
[[ $n -eq $n_nodes ]] || fail "shard status: $(cat "$out/stdout")"
ok "shard status: $n_nodes reachable primaries"

# 3. user add with the password on stdin; migrations run on demand.
k user add Alice@Example.COM --quota 1M <<<"s3cret pass"
expect_rc 0 "user add"
grep -q "^created user alice@example.com, quota 1048576 bytes (shard [0-9])$" "$out/stdout" ||
	fail "user add said: $(cat "$out/stdout")"
said=$(sed 's/.*(shard \([0-9]*\))$/\1/' "$out/stdout")
place alice@example.com
[[ $said -eq $shard_of ]] || fail "user add used shard $said, shard map says $shard_of"
hash=$(sql "$shard_of" "SELECT password_hash FROM users WHERE address = 'alice@example.com'")
[[ $hash == '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$'* ]] || fail "stored hash: $hash"
# Only that shard was touched: the others are not even migrated yet.
for ((i = 0; i < n_nodes; i++)); do
	[[ $i -eq $shard_of ]] && continue
	[[ $(sql "$i" "SELECT to_regclass('public.users') IS NULL") == t ]] ||
		fail "user add touched node $i"
done
k user list
expect_rc 0 "user list"
grep -qx $'alice@example.com\t1048576\t0\t0' "$out/stdout" || fail "user list: $(cat "$out/stdout")"
ok "user add (stdin password, argon2id) lands on shard $shard_of and is listed"

# 4. A second add of the same address (any case) fails clearly.
k user add ALICE@example.com <<<"other"
expect_rc 1 "duplicate user add"
grep -q "user alice@example.com already exists" "$out/stderr" || fail "duplicate: $(cat "$out/stderr")"
ok "duplicate add refused: $(cat "$out/stderr")"

# 5. passwd changes the hash; quota; del, and del again fails.
k user passwd alice@example.com <<<"new pass"
expect_rc 0 "user passwd"
grep -q "changed the password of alice@example.com" "$out/stdout" || fail "passwd: $(cat "$out/stdout")"
hash2=$(sql "$shard_of" "SELECT password_hash FROM users WHERE address = 'alice@example.com'")
[[ $hash2 != "$hash" && $hash2 == '{ARGON2ID}'* ]] || fail "passwd did not change the hash"
k user quota alice@example.com 2G
expect_rc 0 "user quota"
[[ $(sql "$shard_of" "SELECT quota_bytes FROM users WHERE address = 'alice@example.com'") -eq $((2 << 30)) ]] ||
	fail "quota not stored"
k user passwd nobody@example.com <<<"x"
expect_rc 1 "passwd of a missing user"
grep -q "no such user nobody@example.com" "$out/stderr" || fail "passwd missing: $(cat "$out/stderr")"
k user del alice@example.com
expect_rc 0 "user del"
[[ $(sql "$shard_of" "SELECT count(*) FROM users") -eq 0 ]] || fail "user del left the row"
[[ $(sql "$shard_of" "SELECT count(*) FROM mailboxes") -eq 0 ]] || fail "user del left mailboxes"
k user del alice@example.com
expect_rc 1 "second user del"
grep -q "no such user alice@example.com" "$out/stderr" || fail "del missing: $(cat "$out/stderr")"
ok "passwd, quota and del"

# 6. Usage errors exit 2 and touch nothing; a missing password exits 1.
for args in "user add" "user add not-an-address" "user add a@b@c" "user add a@b --quota 1X" \
	"user quota a@b" "user quota a@b lots" "user list --limit 0" "user frob" "shard" "shard frob" \
	"user import" "user add a@b extra"; do
	# shellcheck disable=SC2086
	k $args </dev/null
	expect_rc 2 "kurier $args"
done
k user add "$(printf 'a%.0s' {1..250})@b.cd" </dev/null
expect_rc 2 "255-byte address"
k user add bob@example.com </dev/null
expect_rc 1 "user add without a password"
grep -q "no password on stdin" "$out/stderr" || fail "no password: $(cat "$out/stderr")"
ok "usage errors exit 2, no password exits 1"

# 7. Import a generated passwd-file: 5 000 users, 3 schemes, 5 bad lines.
file=$dir/passwd
sha='{SHA512-CRYPT}$6$kurierSalt123$vTUcnJtZfQeXH/tRDT9tgOA4gfVVgsUTQNZjqf6CwOWkn0jbdwjI0RnlO.JXb/31o9mFnCev2ivXcdHuLjheL.'
blf='{BLF-CRYPT}$2y$05$ABCDEFGHIJKLMNOPQRSTUuoRzMfTz14Et2G0HCoDlm3q91eDCVDS2'
a2id='{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc'
schemes=("$sha" "$blf" "$a2id")
{
	echo "# exported from dovecot"
	echo
	for ((i = 0; i < 5000; i++)); do
		echo "User$i@Domain$((i % 7)).example:${schemes[i % 3]}:1000:1000::/home/u$i::"
		case $i in
		1000) echo "plain@example.com:secret" ;;
		2000) echo "md5@example.com:{MD5-CRYPT}\$1\$abc\$def" ;;
		3000) echo "no colon here" ;;
		4000) echo "bad address@example.com:$sha" ;;
		4500) echo "costly@example.com:{BLF-CRYPT}\$2y\$31\$ABCDEFGHIJKLMNOPQRSTUuoRzMfTz14Et2G0HCoDlm3q91eDCVDS2" ;;
		esac
	done
} >"$file"
k user import "$file"
expect_rc 1 "import with bad lines"
summary=$(cat "$out/stdout")
[[ $summary =~ ^imported\ 5000\ users\ \(0\ already\ existed,\ 5\ bad\ lines\)\ in\ ([0-9.]+)\ s\ \(([0-9]+)\ users/s\)$ ]] ||
	fail "import summary: $summary"
rate=${BASH_REMATCH[2]}
# The bad lines, reported with their line numbers (2 header lines, then
# user i on line 3 + i + the bad lines before it).
for want in "$file:1004: password without {SCHEME}" "$file:2005: unknown password scheme {MD5-CRYPT}" \
	"$file:3006: no ':' after the address" "$file:4007: bad address" \
	"$file:4508: malformed or too costly BLF-CRYPT"; do
	grep -qF "$want" "$out/stderr" || fail "import: no '$want' in: $(cat "$out/stderr")"
done
[[ $(wc -l <"$out/stderr") -eq 5 ]] || fail "import stderr: $(cat "$out/stderr")"
[[ $rate -ge 1000 ]] || fail "import rate $rate users/s < 1000"
ok "import: $summary"
echo "# import rate: $rate users/s"

# 8. Again: every user already exists, nothing changes.
k user import "$file"
expect_rc 1 "second import"
grep -q "^imported 0 users (5000 already existed, 5 bad lines)" "$out/stdout" ||
	fail "second import: $(cat "$out/stdout")"
ok "second import: $(cat "$out/stdout")"

# 9. Every imported user is on exactly the node the shard map names,
# with its hash kept as it was and its five mailboxes.
declare -a want_count=(0 0 0 0)
for ((i = 0; i < 5000; i++)); do
	place "user$i@domain$((i % 7)).example"
	want_count[shard_of]=$((want_count[shard_of] + 1))
done
for ((i = 0; i < n_nodes; i++)); do
	got=$(sql "$i" "SELECT count(*) FROM users")
	[[ $got -eq ${want_count[i]} ]] || fail "node $i has $got users, shard map says ${want_count[i]}"
	mb=$(sql "$i" "SELECT count(*) FROM mailboxes")
	[[ $mb -eq $((5 * got)) ]] || fail "node $i: $mb mailboxes for $got users"
done
for i in 0 1 2 4999; do
	place "user$i@domain$((i % 7)).example"
	got=$(sql "$shard_of" "SELECT password_hash FROM users WHERE address = 'user$i@domain$((i % 7)).example'")
	[[ $got == "${schemes[i % 3]}" ]] || fail "user$i: hash $got"
done
ok "users per node match the shard map: ${want_count[*]}"

# 10. user list merges the shards in address order; --limit applies to
# the merged list.
k user list
expect_rc 0 "user list"
[[ $(wc -l <"$out/stdout") -eq 5000 ]] || fail "user list: $(wc -l <"$out/stdout") lines"
cut -f1 "$out/stdout" | LC_ALL=C sort -c || fail "user list not in address order"
cut -f1 "$out/stdout" >"$out/all"
k user list --limit 7
expect_rc 0 "user list --limit"
cut -f1 "$out/stdout" | cmp -s - <(head -n 7 "$out/all") || fail "user list --limit 7: $(cat "$out/stdout")"
ok "user list merges $n_nodes shards in order; --limit 7 gives the first 7"

# 11. The store's admin part the CLI runs on, on its own (its unit
# tests, which skip without a cluster).
KR_TEST_PG_CONF=$PWD/$conf "$KR_BUILD/tests/test_store_admin" >"$out/admin" 2>&1 ||
	fail "test_store_admin: $(tail -n 20 "$out/admin")"
n=$(grep -c '^\[ RUN      \]' "$out/admin" || true)
grep -q "^\[  PASSED  \] $n test(s)." "$out/admin" ||
	fail "test_store_admin did not all pass (none may be skipped here): $(tail -n 20 "$out/admin")"
ok "store admin part against the cluster ($n tests)"

# 12. Nodes down: status says so, promptly, and fails.
ops/pgcluster stop -d "$dir" >/dev/null 2>&1
k shard status
expect_rc 1 "shard status with nodes down"
[[ $(grep -c "reachable no" "$out/stdout") -eq $n_nodes ]] || fail "status down: $(cat "$out/stdout")"
ok "shard status reports unreachable nodes"
