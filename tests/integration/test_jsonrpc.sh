#!/usr/bin/env bash
# The webmail API over real HTTP (curl) against kurierd with 2 workers
# and a real 20-node cluster, on mail delivered over LMTP (swaks):
# JSON-RPC 2.0 conformance, HTTP limits, every method of SPEC.md §3.2,
# sessions (expired, tampered, revoked), the failed-login limit, one
# user against another's ids, cache freshness across workers, a shard
# going down, an overloaded pool, and HTTPS.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-rpc
base=32400
work=$(mktemp -d /tmp/kr-rpc.XXXXXX)
chmod 0755 "$work" # kurierd workers run as user kurier and re-read the config
pid=
cleanup() {
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$work" "$dir"
}
trap cleanup EXIT
ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"
KR_DIAG=("$work/kurierd.log")

ops/pgcluster start -n 20 -d "$dir" -p "$base" >/dev/null
lmtp=$(free_port)
admin=$(free_port "$lmtp")
http=$(free_port "$lmtp" "$admin")
conf=$work/kurier.conf
write_conf() { # write_conf [EXTRA-JSONRPC-LINES]
	{
		printf '[workers]\ncount = 2\n[admin]\nlisten = 127.0.0.1:%s\n' "$admin"
		printf 'token = %s\n' "$(printf 't%.0s' $(seq 40))"
		printf '[lmtp]\nlisten = 127.0.0.1:%s\nhostname = mx.test\n' "$lmtp"
		printf '[jsonrpc]\nlisten = 127.0.0.1:%s\nbody_max = 256K\n%s\n' "$http" "${1:-}"
		printf '[auth]\nsecret = %s\nuser_burst = 3\nuser_per_minute = 1\n' "$secret"
		grep -v '^#' "$dir/kurier.conf"
	} >"$conf"
}
secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
write_conf
cli() { "$KR_BUILD/kurier" -c "$conf" "$@"; }
add_user() { # add_user ADDR [QUOTA]: prints the shard
	echo "pw-$1" | cli user add "$1" ${2:+--quota "$2"} | sed -n 's/.*(shard \([0-9]*\)).*/\1/p'
}
a_shard=$(add_user alice@rpc.test)
# bob shares alice's shard, so mailbox ids really could collide;
# carol lives elsewhere (for the shard-down check).
for i in $(seq 100); do
	s=$(add_user "bob$i@rpc.test")
	if [[ $s == "$a_shard" ]]; then bob=bob$i@rpc.test && break; fi
	cli user del "bob$i@rpc.test" >/dev/null
done
[[ -n ${bob:-} ]] || fail "no address on alice's shard"
for i in $(seq 100); do
	s=$(add_user "carol$i@rpc.test" 20000)
	if [[ $s != "$a_shard" ]]; then carol=carol$i@rpc.test c_shard=$s && break; fi
	cli user del "carol$i@rpc.test" >/dev/null
done
start_kurierd() {
	"$KURIERD" -c "$conf" >/dev/null 2>>"$work/kurierd.log" &
	pid=$!
	wait_for 15 "JSON-RPC port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$http"
}
start_kurierd
ok "alice and $bob on shard $a_shard, $carol elsewhere"

# ---- helpers --------------------------------------------------------
url=http://127.0.0.1:$http/rpc
post() { # post [TOKEN] BODY: prints the response body
	local tok=$1 body=$2
	curl -sS --max-time 10 -H 'Content-Type: application/json' \
		${tok:+-H "Authorization: Bearer $tok"} --data-binary "$body" "$url"
}
call() { # call TOKEN METHOD PARAMS-JSON: prints the response object
	post "$1" "{\"jsonrpc\":\"2.0\",\"method\":\"$2\",\"params\":$3,\"id\":7}"
}
result() { # result TOKEN METHOD PARAMS: prints .result, fails on error
	local r
	r=$(call "$@")
	jq -e 'has("result")' <<<"$r" >/dev/null || fail "$2 $3: $r"
	jq -c .result <<<"$r"
}
want_error() { # want_error CODE TOKEN METHOD PARAMS
	local code=$1 r
	shift
	r=$(call "$@")
	[[ $(jq .error.code <<<"$r") == "$code" ]] || fail "$2 $3: want $code, got $r"
}
login() { result "" auth.login "{\"user\":\"$1\",\"password\":\"pw-$1\"}" | jq -r .session; }
lmtp_send() { # lmtp_send TO SWAKS-ARGS...
	local to=$1
	shift
	swaks --server 127.0.0.1 --port "$lmtp" --protocol LMTP --from s@ext.test \
		--to "$to" "$@" >"$work/swaks.out" 2>&1 || true
	grep -q '250 2.0.0' "$work/swaks.out" || fail "LMTP delivery: $(tail -5 "$work/swaks.out")"
}

# ---- 1. JSON-RPC 2.0 conformance (the specification's examples) -----
A=$(login alice@rpc.test)
B=$(login "$bob")
C=$(login "$carol")
r=$(post "$A" '{"jsonrpc":"2.0","method":"quota.get","params":{},"id":1}')
[[ $(jq -c '[.jsonrpc,.id,(.result|has("used"))]' <<<"$r") == '["2.0",1,true]' ]] || fail "named params: $r"
r=$(post "$A" '{"jsonrpc":"2.0","method":"quota.get","params":[42,23],"id":2}')
[[ $(jq .error.code <<<"$r") == -32602 ]] || fail "positional params: $r"
code=$(curl -s -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' \
	-H "Authorization: Bearer $A" --data '{"jsonrpc":"2.0","method":"quota.get"}' "$url")
[[ $code == 204 && ! -s $work/body ]] || fail "notification: HTTP $code $(cat "$work/body")"
r=$(post "$A" '{"jsonrpc":"2.0","method":"foobar","id":"1"}')
[[ $(jq -c '[.error.code,.id]' <<<"$r") == '[-32601,"1"]' ]] || fail "unknown method: $r"
r=$(post "" '{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]')
[[ $(jq -c '[.error.code,.id]' <<<"$r") == '[-32700,null]' ]] || fail "invalid JSON: $r"
r=$(post "" '{"jsonrpc":"2.0","method":1,"params":"bar"}')
[[ $(jq -c '[.error.code,.id]' <<<"$r") == '[-32600,null]' ]] || fail "invalid request: $r"
r=$(post "" '[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},{"jsonrpc":"2.0","method"]')
[[ $(jq -c '[.error.code,.id]' <<<"$r") == '[-32700,null]' ]] || fail "batch, invalid JSON: $r"
r=$(post "" '[]')
[[ $(jq -c '[.error.code,.id]' <<<"$r") == '[-32600,null]' ]] || fail "empty batch: $r"
r=$(post "" '[1]')
[[ $(jq -c '[.[].error.code]' <<<"$r") == '[-32600]' ]] || fail "batch [1]: $r"
r=$(post "" '[1,2,3]')
[[ $(jq -c '[.[].error.code]' <<<"$r") == '[-32600,-32600,-32600]' ]] || fail "batch [1,2,3]: $r"
r=$(post "$A" '[{"jsonrpc":"2.0","method":"quota.get","id":"1"},
 {"jsonrpc":"2.0","method":"quota.get"},
 {"jsonrpc":"2.0","method":"mailbox.list","id":"2"},
 {"foo":"boo"},
 {"jsonrpc":"2.0","method":"foo.get","params":{"name":"myself"},"id":"5"},
 {"jsonrpc":"2.0","method":"quota.get","id":null},
 {"jsonrpc":"2.0","method":"quota.get","id":-1.5}]')
[[ $(jq -c '[.[] | [.id, (.error.code // "ok")]]' <<<"$r") == \
	'[["1","ok"],["2","ok"],[null,-32600],["5",-32601],[null,"ok"],[-1.5,"ok"]]' ]] ||
	fail "mixed batch: $r"
code=$(curl -s -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' \
	-H "Authorization: Bearer $A" \
	--data '[{"jsonrpc":"2.0","method":"quota.get"},{"jsonrpc":"2.0","method":"mailbox.list"}]' "$url")
[[ $code == 204 && ! -s $work/body ]] || fail "all-notification batch: HTTP $code"
ok "JSON-RPC 2.0: named/positional params, notifications, errors, every batch form, ids echoed"

# ---- 2. HTTP -----------------------------------------------------------
hdrs=$(curl -s -D - -o /dev/null "$url")
grep -q '^HTTP/1.1 405' <<<"$hdrs" && grep -qi '^Allow: POST' <<<"$hdrs" || fail "GET: $hdrs"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' --data x "$url")
[[ $code == 415 ]] || fail "text/plain: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data '{}' \
	"http://127.0.0.1:$http/other")
[[ $code == 404 ]] || fail "/other: $code"
head -c 300000 /dev/zero | tr '\0' ' ' >"$work/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary @"$work/big" "$url")
[[ $code == 413 ]] || fail "body over body_max: $code"
# Garbage closes that connection only; the next client is served.
exec 5<>"/dev/tcp/127.0.0.1/$http"
printf 'NOT HTTP AT ALL\r\n\r\n' >&5
timeout 5 cat <&5 >/dev/null || true
exec 5<&-
r=$(post "$A" '{"jsonrpc":"2.0","method":"quota.get","id":1}')
jq -e .result <<<"$r" >/dev/null || fail "after garbage: $r"
# Keep-alive: two requests, one connection.
curl -sv -H 'Content-Type: application/json' -H "Authorization: Bearer $A" \
	--data '{"jsonrpc":"2.0","method":"quota.get","id":1}' "$url" "$url" \
	-o /dev/null -o /dev/null 2>"$work/ka" || true
grep -q 'Re-using existing connection' "$work/ka" || fail "no keep-alive: $(grep -i conn "$work/ka")"
ok "HTTP: 405 with Allow, 415, 404, 413, garbage closes one connection, keep-alive"

# ---- 3. mail through LMTP, then every method ---------------------------
printf '%%PDF-1.4\n' >"$work/att.bin"
head -c 3000 /dev/urandom >>"$work/att.bin"
lmtp_send alice@rpc.test --header 'Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=' \
	--header 'From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@ext.test>' \
	--body 'first message, plain words'
lmtp_send alice@rpc.test --header 'Subject: quarterly report' \
	--header 'From: Ann Other <ann@ext.test>' --header 'Cc: cc@ext.test' \
	--body 'the report is attached; search for zebra' \
	--attach-type application/pdf --attach-name report.pdf --attach @"$work/att.bin"
lmtp_send alice@rpc.test --header 'Subject: third' --body 'third body'
inbox=$(result "$A" mailbox.list '{}' | jq '.[0] | select(.role == "inbox") | .id')
[[ -n $inbox ]] || fail "no INBOX first"
mb=$(result "$A" mailbox.list '{}' | jq -c '.[0] | [.name,.total,.unseen]')
[[ $mb == '["INBOX",3,3]' ]] || fail "INBOX counters: $mb"
list=$(result "$A" message.list "{\"mailbox\":$inbox,\"limit\":2}")
[[ $(jq -c '[.total, [.messages[].subject]]' <<<"$list") == '[3,["third","quarterly report"]]' ]] ||
	fail "newest first, limit 2: $list"
last=$(jq '.messages[1].uid' <<<"$list")
page=$(result "$A" message.list "{\"mailbox\":$inbox,\"limit\":2,\"before_uid\":$last}")
[[ $(jq -c '[.messages[] | .subject, .from.name]' <<<"$page") == '["Grüße aus Köln","Jörg Müller"]' ]] ||
	fail "paging with decoded subject and name: $page"
u1=$(jq '.messages[0].uid' <<<"$page")
u2=$last
u3=$(jq '.messages[0].uid' <<<"$list")
[[ $(jq '.messages[1].has_attachments' <<<"$list") == true ]] || fail "has_attachments: $list"
ok "mailbox.list counters; message.list newest first, before_uid paging, decoded subject and name"

msg=$(result "$A" message.get "{\"mailbox\":$inbox,\"uid\":$u2}")
[[ $(jq -c '[.subject,.from.email,.cc[0].email,(.text|test("zebra")),.attachments[0].filename,.attachments[0].type]' <<<"$msg") == \
	'["quarterly report","ann@ext.test","cc@ext.test",true,"report.pdf","application/pdf"]' ]] ||
	fail "message.get: $msg"
[[ $(jq -r '.headers.Subject' <<<"$msg") == "quarterly report" ]] || fail "headers: $(jq -c .headers <<<"$msg")"
part=$(jq -r '.attachments[0].part' <<<"$msg")
result "$A" message.attachment "{\"mailbox\":$inbox,\"uid\":$u2,\"part\":\"$part\"}" |
	jq -r .data | base64 -d >"$work/att.got"
cmp -s "$work/att.bin" "$work/att.got" || fail "attachment not byte for byte"
result "$A" message.raw "{\"mailbox\":$inbox,\"uid\":$u1}" | jq -r .raw | base64 -d >"$work/raw"
head -1 "$work/raw" | grep -q '^Return-Path: <s@ext.test>' || fail "raw: $(head -3 "$work/raw")"
grep -q 'first message, plain words' "$work/raw" || fail "raw body"
want_error -32002 "$A" message.attachment "{\"mailbox\":$inbox,\"uid\":$u2,\"part\":\"9\"}"
ok "message.get text/headers/attachments, attachment byte for byte, message.raw"

m0=$(result "$A" mailbox.list '{}' | jq '.[0].modseq')
f=$(result "$A" message.flags "{\"mailbox\":$inbox,\"uids\":[$u1,$u2],\"add\":[\"\\\\Seen\",\"\$label\"]}")
m1=$(jq .modseq <<<"$f")
((m1 > m0)) || fail "modseq $m0 -> $m1"
[[ $(result "$A" mailbox.list '{}' | jq '.[0].unseen') == 1 ]] || fail "unseen after \\Seen"
fl=$(result "$A" message.list "{\"mailbox\":$inbox}" | jq -c "[.messages[] | select(.uid == $u1) | .flags[]] | sort")
[[ $fl == '["$label","\\Seen"]' ]] || fail "flags listed: $fl"
f=$(result "$A" message.flags "{\"mailbox\":$inbox,\"uids\":[$u1],\"remove\":[\"\$label\"]}")
(($(jq .modseq <<<"$f") > m1)) || fail "modseq did not grow on remove"
ch=$(result "$A" changes.get "{\"since\":$m0}")
[[ $(jq -c "[.messages[] | select(.uid == $u1)] | length" <<<"$ch") -ge 1 ]] || fail "changes.get: $ch"
(($(jq .modseq <<<"$ch") >= m1)) || fail "changes.get modseq: $ch"
want_error -32602 "$A" message.flags "{\"mailbox\":$inbox,\"uids\":[$u1]}"
ok "message.flags bumps modseq and counters; changes.get since a modseq"

arch=$(result "$A" mailbox.create '{"name":"Archive"}' | jq .id)
want_error -32003 "$A" mailbox.create '{"name":"Archive"}'
[[ $(result "$A" mailbox.rename "{\"id\":$arch,\"name\":\"Old\"}" | jq -r .name) == Old ]] || fail "rename"
mv=$(result "$A" message.move "{\"mailbox\":$inbox,\"uids\":[$u3],\"to\":$arch}")
[[ $(jq ".uids | has(\"$u3\")" <<<"$mv") == true ]] || fail "move map: $mv"
cp=$(result "$A" message.copy "{\"mailbox\":$inbox,\"uids\":[$u1,$u2],\"to\":$arch}")
[[ $(jq '.uids | length' <<<"$cp") == 2 ]] || fail "copy map: $cp"
boxes=$(result "$A" mailbox.list '{}')
[[ $(jq -c "[.[] | select(.id == $inbox or .id == $arch) | .total]" <<<"$boxes") == '[2,3]' ]] ||
	fail "counters after move/copy: $boxes"
del=$(result "$A" message.delete "{\"mailbox\":$arch,\"uids\":$(jq -c '[.uids[]]' <<<"$cp")}")
[[ $(jq .deleted <<<"$del") == 2 ]] || fail "delete: $del"
[[ $(result "$A" mailbox.list '{}' | jq "[.[] | select(.id == $arch) | .total][0]") == 1 ]] ||
	fail "counters after delete"
result "$A" mailbox.delete "{\"id\":$arch}" >/dev/null
want_error -32002 "$A" message.list "{\"mailbox\":$arch}"
want_error -32602 "$A" mailbox.delete "{\"id\":$inbox}"
r=$(call "$A" message.list '{}')
[[ $(jq -r .error.message <<<"$r") == *mailbox* ]] || fail "-32602 must name the param: $r"
ok "mailbox create/rename/delete, move/copy/delete with exact counters, -32003, -32002, -32602 naming the param"

s=$(result "$A" message.search '{"query":{"subject":"quarterly"}}' | jq -c '[.messages[].uid]')
[[ $s == "[$u2]" ]] || fail "search subject: $s"
s=$(result "$A" message.search '{"query":{"from":"joerg@ext"}}' | jq -c '[.messages[].uid]')
[[ $s == "[$u1]" ]] || fail "search from: $s"
s=$(result "$A" message.search "{\"mailbox\":$inbox,\"query\":{\"text\":\"zebra\"}}" | jq -c '[.messages[].uid]')
[[ $s == "[$u2]" ]] || fail "search text: $s"
ok "message.search by subject, from and text"

drafts=$(result "$A" mailbox.list '{}' | jq '.[] | select(.role == "drafts") | .id')
raw=$(printf 'From: alice@rpc.test\r\nSubject: draft one\r\n\r\nunfinished\r\n' | base64 -w0)
ap=$(result "$A" message.append "{\"mailbox\":$drafts,\"raw\":\"$raw\",\"flags\":[\"\\\\Draft\"]}")
got=$(result "$A" message.get "{\"mailbox\":$drafts,\"uid\":$(jq .uid <<<"$ap")}")
[[ $(jq -c '[.subject,.flags,.text]' <<<"$got") == '["draft one",["\\Draft"],"unfinished\n"]' ]] ||
	fail "append/get: $got"
q=$(result "$A" quota.get '{}')
(($(jq .used <<<"$q") > 0)) && [[ $(jq .limit <<<"$q") == null ]] || fail "quota.get: $q"
cq=$(result "$C" mailbox.list '{}' | jq '.[0].id')
# 22 500 random bytes are 30 000 characters of base64.
big=$(head -c 22500 /dev/urandom | base64 -w0)
raw=$(printf 'Subject: big\r\n\r\n%s\r\n' "$big" | base64 -w0)
want_error -32004 "$C" message.append "{\"mailbox\":$cq,\"raw\":\"$raw\"}"
[[ $(result "$C" quota.get '{}' | jq -c '[.used,.limit]') == '[0,20000]' ]] || fail "quota refusal left something"
ok "message.append round trip, quota.get, over quota -32004 leaves nothing"

# ---- 4. one user against another's ids ---------------------------------
binbox=$(result "$B" mailbox.list '{}' | jq '.[0].id')
[[ $binbox != "$inbox" ]] || fail "same shard, yet the same INBOX id"
for m in "message.list {\"mailbox\":$inbox}" \
	"message.get {\"mailbox\":$inbox,\"uid\":$u1}" \
	"message.raw {\"mailbox\":$inbox,\"uid\":$u1}" \
	"message.attachment {\"mailbox\":$inbox,\"uid\":$u2,\"part\":\"$part\"}" \
	"message.flags {\"mailbox\":$inbox,\"uids\":[$u1],\"add\":[\"\\\\Deleted\"]}" \
	"message.move {\"mailbox\":$inbox,\"uids\":[$u1],\"to\":$binbox}" \
	"message.copy {\"mailbox\":$inbox,\"uids\":[$u1],\"to\":$binbox}" \
	"message.delete {\"mailbox\":$inbox,\"uids\":[$u1,$u2]}" \
	"message.append {\"mailbox\":$inbox,\"raw\":\"$(printf 'Subject: x\r\n\r\nx\r\n' | base64 -w0)\"}" \
	"mailbox.rename {\"id\":$inbox,\"name\":\"Mine\"}" \
	"mailbox.delete {\"id\":$drafts}"; do
	r=$(call "$B" ${m%% *} "${m#* }")
	[[ $(jq .error.code <<<"$r") == -32002 ]] || fail "bob: ${m%% *}: $r"
done
r=$(result "$B" message.search '{"query":{"text":"zebra"}}')
[[ $(jq .total <<<"$r") == 0 ]] || fail "bob's search sees alice's mail: $r"
after=$(result "$A" mailbox.list '{}' | jq -c '[.[] | [.name,.total]]')
[[ $after == '[["INBOX",2],["Sent",0],["Drafts",1],["Trash",0],["Junk",0]]' ]] ||
	fail "alice's mailboxes changed: $after"
[[ $(result "$A" message.get "{\"mailbox\":$inbox,\"uid\":$u1}" | jq -c '.flags') == '["\\Seen"]' ]] ||
	fail "alice's flags changed"
ok "bob's session cannot read, flag, move, copy, delete or append in alice's mailboxes"

# ---- 5. sessions ----------------------------------------------------------
want_error -32001 "" quota.get '{}'
want_error -32001 "${A:0:20}X${A:21}" quota.get '{}'
# A token signed as kurierd signs (server/auth/token.h), but already expired;
# and one with the right claims under another secret.
forge() { # forge TOKEN SECRET EXPIRES-DELTA
	perl -MDigest::SHA=hmac_sha256 -MMIME::Base64 -e '
		my ($tok, $secret, $delta) = @ARGV;
		my ($p) = split /\./, $tok;
		$p =~ tr/-_/+\//; $p .= "=" x ((4 - length($p) % 4) % 4);
		my $raw = decode_base64($p);
		my $now = time;
		substr($raw, 13, 16) = pack("q>q>", $now - 600, $now + $delta);
		my $key = hmac_sha256("kurier session token v1", $secret);
		my $b = sub { my $s = encode_base64(shift, ""); $s =~ tr/+\//-_/; $s =~ s/=+$//; $s };
		print $b->($raw), ".", $b->(hmac_sha256($raw, $key));' "$@"
}
want_error -32001 "$(forge "$A" "$secret" -5)" quota.get '{}'
result "$(forge "$A" "$secret" 600)" quota.get '{}' >/dev/null
want_error -32001 "$(forge "$A" "${secret}x" 600)" quota.get '{}'
A2=$(login alice@rpc.test)
[[ $(result "$A2" auth.logout '{}') == true ]] || fail "logout"
# Every worker refuses it now: fresh connections land on either.
for _ in $(seq 10); do want_error -32001 "$A2" quota.get '{}'; done
result "$A" quota.get '{}' >/dev/null
ok "no, tampered, expired, foreign-secret and revoked sessions refused (-32001) on every worker"

for _ in 1 2 3; do want_error -32001 "" auth.login "{\"user\":\"$bob\",\"password\":\"guess\"}"; done
r=$(call "" auth.login "{\"user\":\"$bob\",\"password\":\"guess\"}")
[[ $(jq -c '[.error.code, (.error.data.retry_after_ms > 0)]' <<<"$r") == '[-32012,true]' ]] ||
	fail "4th failed login: $r"
want_error -32012 "" auth.login "{\"user\":\"$bob\",\"password\":\"pw-$bob\"}"
want_error -32001 "" auth.login '{"user":"nobody@rpc.test","password":"x"}'
login alice@rpc.test >/dev/null
# Hashes imported from another server log in as they are.
{
	printf 'imp6@rpc.test:{SHA512-CRYPT}%s\n' "$(openssl passwd -6 pw-imp6@rpc.test)"
	printf 'impb@rpc.test:{BLF-CRYPT}%s\n' \
		"$(perl -e 'print crypt($ARGV[0], q{$2b$05$} . q{abcdefghijklmnopqrstuu})' pw-impb@rpc.test)"
} >"$work/passwd"
cli user import "$work/passwd" >/dev/null
login imp6@rpc.test >/dev/null
if [[ $(perl -e 'print crypt("x", q{$2b$05$abcdefghijklmnopqrstuu})') == '$2b$'* ]]; then
	login impb@rpc.test >/dev/null
fi
ok "brute force: the 4th failed login is -32012 with retry_after_ms, even with the right password; imported {SHA512-CRYPT} and {BLF-CRYPT} hashes log in"

# ---- 6. cache freshness ---------------------------------------------------
for i in $(seq 10); do
	op=add && ((i % 2 == 0)) && op=remove
	result "$A" message.flags "{\"mailbox\":$inbox,\"uids\":[$u2],\"$op\":[\"\\\\Flagged\"]}" >/dev/null
	has=$(result "$A" message.list "{\"mailbox\":$inbox}" |
		jq "[.messages[] | select(.uid == $u2) | .flags[] | select(. == \"\\\\Flagged\")] | length")
	[[ $has == $((i % 2)) ]] || fail "stale listing after flags $op (round $i)"
done
result "$A" message.list "{\"mailbox\":$inbox}" >/dev/null # warm both workers
result "$A" message.list "{\"mailbox\":$inbox}" >/dev/null
lmtp_send alice@rpc.test --header 'Subject: fresh' --body 'new'
t0=$(date +%s%N)
until result "$A" message.list "{\"mailbox\":$inbox}" | jq -e '.messages[0].subject == "fresh"' >/dev/null; do
	(($(date +%s%N) - t0 < 1000000000)) || fail "delivery not seen within 1 s"
	sleep 0.05
done
ms=$((($(date +%s%N) - t0) / 1000000))
metrics=$(curl -sf -H "Authorization: Bearer $(printf 't%.0s' $(seq 40))" "http://127.0.0.1:$admin/metrics")
grep -q '^kurier_cache_hits_total [1-9]' <<<"$metrics" || fail "no cache hits: $(grep cache <<<"$metrics")"
ok "write then read never stale (10 rounds); a delivery seen within ${ms} ms; cache hits counted"

# ---- 7. a shard down: -32010 for its users only -------------------------
node=$(printf '%s/pg/node%02d' "$dir" "$a_shard")
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D "$node" -m immediate >/dev/null 2>&1 ||
	/usr/lib/postgresql/15/bin/pg_ctl stop -D "$node" -m immediate >/dev/null
r=$(call "$A" message.list "{\"mailbox\":$inbox}")
t0=$(date +%s)
for _ in $(seq 20); do
	r=$(call "$A" quota.get '{}')
	[[ $(jq .error.code <<<"$r") == -32010 ]] && break
	sleep 0.2
done
[[ $(jq -c '[.error.code, (.error.data.retry_after_ms > 0)]' <<<"$r") == '[-32010,true]' ]] ||
	fail "shard down: $r"
result "$C" quota.get '{}' >/dev/null
ops/pgcluster start -n 20 -d "$dir" -p "$base" >/dev/null
for _ in $(seq 50); do
	r=$(call "$A" quota.get '{}')
	jq -e .result <<<"$r" >/dev/null && break
	sleep 0.2
done
jq -e .result <<<"$r" >/dev/null || fail "shard back, still: $r"
ok "shard down: -32010 with retry_after_ms for its users, others served; back without a restart"

# ---- 8. an overloaded pool: -32011 at once ---------------------------------
# carol's shard gets one connection per worker and no wait queue: the
# calls of one batch start together, and those after the first find the
# pool busy. Sessions survive the restart (same secret).
kill -TERM "$pid"
wait "$pid" || fail "kurierd exit status $?"
pid=
write_conf
sed -i "/^\[shard\.$c_shard\]\$/a pool_low = 1\npool_high = 1\npool_queue = 0" "$conf"
grep -A3 "^\[shard\.$c_shard\]\$" "$conf" | grep -q '^pool_queue = 0$' || fail "no pool override in $conf"
start_kurierd
# The shard's one connection opens after start: until it is up every
# call is shed, which is not what this step is about.
for _ in $(seq 50); do
	r=$(call "$C" quota.get '{}')
	jq -e .result <<<"$r" >/dev/null && break
	sleep 0.1
done
batch=$(for i in $(seq 8); do printf '{"jsonrpc":"2.0","method":"quota.get","params":{},"id":%d}\n' "$i"; done | jq -sc .)
r=$(post "$C" "$batch")
jq -e 'length == 8 and any(.[]; .result.used == 0)
	and any(.[]; .error.code == -32011 and .error.data.retry_after_ms > 0)
	and all(.[]; .result or .error.code == -32011)' <<<"$r" >/dev/null ||
	fail "overload: $r"
result "$A" quota.get '{}' >/dev/null
ok "an overloaded pool: -32011 with retry_after_ms at once ($(jq '[.[] | select(.error)] | length' <<<"$r") of 8), other shards served"

# ---- 9. HTTPS, then a clean stop ------------------------------------------
kill -TERM "$pid"
wait "$pid" || fail "kurierd exit status $?"
pid=
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
write_conf "$(printf 'tls_cert = %s\ntls_key = %s' "$work/cert.pem" "$work/key.pem")"
start_kurierd
r=$(curl -sS --max-time 10 --cacert "$work/cert.pem" -H 'Content-Type: application/json' \
	--data "{\"jsonrpc\":\"2.0\",\"method\":\"auth.login\",\"params\":{\"user\":\"$carol\",\"password\":\"pw-$carol\"},\"id\":1}" \
	"https://127.0.0.1:$http/rpc")
jq -e .result.session <<<"$r" >/dev/null || fail "HTTPS login: $r"
kill -TERM "$pid"
wait "$pid" || fail "kurierd exit status $?"
pid=
ok "HTTPS with a generated certificate; SIGTERM drains and exits 0"
# Under make test-asan the workers run instrumented: any report fails.
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work/kurierd.log" ||
	fail "sanitizer report in kurierd's log"
