#!/usr/bin/env bash
# Maildir in and out against a real Dovecot (SPEC.md §3.4, issue 14
# item 3), and `kurier user show`:
#  (a) mail delivered by Dovecot's LMTP (ASCII, UTF-8, > 64 KiB) and
#      saved by doveadm into three folders (one nested, one non-ASCII), flags and a
#      keyword set by doveadm, mtimes set apart, is imported by
#      `kurier import maildir`; every message's bytes (sha256), flags,
#      folder and internal date equal what Dovecot itself reports;
#  (b) mail delivered through kurier's LMTP (and appended through
#      JSON-RPC into a nested folder), flags changed through JSON-RPC,
#      is exported by `kurier export maildir`; a Dovecot user whose
#      mail_location is that tree reads the same bytes (doveadm fetch
#      text), flags and internal dates;
#  (c) a file over [lmtp] message_max is skipped and reported (exit 1),
#      the rest imported; an unknown user is exit 1 with a message;
# and tests/unit/test_store_admin_mail on the same cluster.
# A private Dovecot (dovecot -c: its own base_dir, LMTP on a free port,
# a passwd-file), mail as the system user kurier.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

command -v dovecot >/dev/null && [[ -x /usr/lib/dovecot/lmtp ]] ||
	fail "no dovecot (make deps installs dovecot-core, dovecot-lmtpd)"
[[ $(id -u) -eq 0 ]] || fail "needs root (Dovecot's mail_uid is the user kurier)"
MAILUSER=kurier

KR_CONF_EXTRA=$'[lmtp]\nmessage_max = 1048576'
kr_stack_start maildir 19400 2
DV=$KR_WORK/dovecot
DV_PID=
dv_stop() {
	[[ -n $DV_PID ]] || return 0
	kill -TERM "$DV_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$DV_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DV_PID" 2>/dev/null || true
	DV_PID=
}
trap 'dv_stop; kr_stack_cleanup' EXIT
KR_DIAG+=("$DV/dovecot.log")

# ---- a private Dovecot -------------------------------------------------
mkdir -p "$DV/run" "$DV/state" "$DV/mail"
chown "$MAILUSER:$MAILUSER" "$DV/mail"
DPORT=$(free_port "$KR_LMTP" "$KR_HTTP" "$KR_ADMIN")
EXPORT=$KR_WORK/export
cat >"$DV/passwd" <<EOF
dv@dovecot.test:{PLAIN}unused::::::
ex@dovecot.test:{PLAIN}unused:::::: userdb_mail=maildir:$EXPORT
EOF
cat >"$DV/dovecot.conf" <<EOF
base_dir = $DV/run
state_dir = $DV/state
instance_name = kurier-test-maildir
protocols = lmtp
listen = 127.0.0.1
ssl = no
log_path = $DV/dovecot.log
mail_location = maildir:$DV/mail/%d/%n
mail_uid = $MAILUSER
mail_gid = $MAILUSER
first_valid_uid = $(id -u "$MAILUSER")
last_valid_uid = $(id -u "$MAILUSER")
first_valid_gid = $(id -g "$MAILUSER")
passdb {
  driver = passwd-file
  args = $DV/passwd
}
userdb {
  driver = passwd-file
  args = $DV/passwd
  default_fields = uid=$MAILUSER gid=$MAILUSER home=$DV/mail/%d/%n
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DPORT
  }
}
EOF
dovecot -c "$DV/dovecot.conf" || fail "dovecot did not start"
# The master writes its pid file after it has gone to the background.
wait_for 15 "Dovecot's master.pid" test -s "$DV/run/master.pid"
DV_PID=$(cat "$DV/run/master.pid")
wait_for 15 "Dovecot LMTP on $DPORT" bash -c "exec 3<>/dev/tcp/127.0.0.1/$DPORT"
dva() { doveadm -c "$DV/dovecot.conf" "$@"; }

# lmtp PORT RCPT FILE: one message over LMTP, 250 or the test fails.
lmtp() {
	python3 - "$1" "$2" "$3" <<'EOF' || fail "LMTP to port $1 for $2 refused"
import smtplib, sys
c = smtplib.LMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
refused = c.sendmail("sender@ext.test", [sys.argv[2]], open(sys.argv[3], "rb").read())
c.quit()
sys.exit(1 if refused else 0)
EOF
}

# The test messages: ASCII with a dot line, UTF-8 8bit headers and
# body, 100 KiB of base64 (CRLF, as an MTA hands them over).
M=$KR_WORK/msgs
mkdir -p "$M"
printf 'From: a@ext.test\r\nSubject: plain one\r\nMessage-ID: <1@ext.test>\r\n\r\nhello\r\n.dot line\r\n' >"$M/1"
printf 'From: =?utf-8?q?J=C3=BCrgen?= <j@ext.test>\r\nSubject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa4\xc3\xb6\xc3\xbc \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x93\xa8\r\n' >"$M/2"
{
	printf 'From: big@ext.test\r\nSubject: big one\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
	head -c 76800 /dev/urandom | base64 -w 76 | sed 's/$/\r/'
} >"$M/3"
(($(stat -c %s "$M/3") > 65536)) || fail "message 3 is not over 64 KiB"
printf 'From: w@ext.test\nSubject: work item\n\nin a folder\n' >"$M/4"
printf 'From: w@ext.test\nSubject: nested item\n\nin Work.Sub\n' >"$M/5"
printf 'From: k@ext.test\nSubject: Dom\n\nin K\xc3\xb6ln\n' >"$M/6"

# ---- (a) Dovecot -> kurier ---------------------------------------------
for i in 1 2 3; do lmtp "$DPORT" dv@dovecot.test "$M/$i"; done
dva mailbox create -u dv@dovecot.test Work Work.Sub "K$(printf '\xc3\xb6')ln"
dva save -u dv@dovecot.test -m Work <"$M/4"
dva save -u dv@dovecot.test -m Work.Sub <"$M/5"
dva save -u dv@dovecot.test -m "K$(printf '\xc3\xb6')ln" <"$M/6"
[[ -d $DV/mail/dovecot.test/dv/.K\&APY-ln ]] || fail "Dovecot did not write the folder name in modified UTF-7"
dva flags add -u dv@dovecot.test '\Seen \Flagged $Label1' mailbox INBOX uid 1
dva flags add -u dv@dovecot.test '\Answered \Draft' mailbox INBOX uid 3
dva flags add -u dv@dovecot.test '\Seen \Deleted' mailbox Work uid 1
# Internal dates apart from "now" and from each other.
t=1700000000
while IFS= read -r f; do
	touch -m -d "@$t" "$f"
	t=$((t + 3600))
done < <(find "$DV/mail/dovecot.test/dv" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | sort)
# Dovecot's own index caches the dates it saw: let it see the files
# again (a forced resync rereads the mtimes).
dva force-resync -u dv@dovecot.test '*'

# dovecot_view USER NAMEMAP: "folder<TAB>sha256<TAB>flags<TAB>date"
# per message as Dovecot reports it (\Recent left out; folder names
# with '/' for Dovecot's '.' when NAMEMAP is 1).
dovecot_view() {
	local user=$1 mb uid flags date sha
	dva mailbox list -u "$user" | while IFS= read -r mb; do
		dva fetch -u "$user" uid mailbox "$mb" ALL | sed -n 's/^uid: //p' |
			while IFS= read -r uid; do
				sha=$(dva -f pager fetch -u "$user" text mailbox "$mb" uid "$uid" |
					tail -c +7 | sha256sum | cut -d' ' -f1)
				flags=$(dva fetch -u "$user" flags mailbox "$mb" uid "$uid" |
					sed 's/^flags: //' | tr ' ' '\n' | grep -v -e '^\\Recent$' -e '^$' |
					sort | paste -sd' ' -) || true
				date=$(dva fetch -u "$user" date.received.unixtime mailbox "$mb" uid "$uid" |
					sed 's/^date.received.unixtime: //')
				printf '%s\t%s\t%s\t%s\n' "${mb//./\/}" "$sha" "$flags" "$date"
			done
	done | sort
}
# kurier_view USER PASSWORD: the same per message of a kurier user,
# bytes and flags through JSON-RPC (message.list, message.raw), the
# internal date from the shard (the API has none).
kurier_view() {
	local ids id name uid sha flags date conninfo
	KR_TOK=$(kr_login "$1" "$2") || fail "login $1"
	conninfo=$(kr_cli user show "$1" | awk -F'\t' '$1 == "shard" { print $2 }')
	conninfo=$(awk -v s="[shard.$conninfo]" '$0 == s { f = 1 } f && /^primary = / { sub(/^primary = /, ""); print; exit }' "$KR_CONF")
	kr_call mailbox.list '{}' | jq -r '.result[] | select(.total > 0) | "\(.id)\t\(.name)"' |
		while IFS=$'\t' read -r id name; do
			kr_call message.list "{\"mailbox\":$id,\"limit\":200}" |
				jq -r '.result.messages[] | "\(.uid)\t\(.flags | sort | join(" "))"' |
				while IFS=$'\t' read -r uid flags; do
					sha=$(kr_call message.raw "{\"mailbox\":$id,\"uid\":$uid}" |
						jq -r .result.raw | base64 -d | sha256sum | cut -d' ' -f1)
					date=$(psql "$conninfo" -Atc "SELECT extract(epoch FROM internal_date)::bigint FROM messages WHERE mailbox_id = $id AND uid = $uid")
					printf '%s\t%s\t%s\t%s\n' "$name" "$sha" "$flags" "$date"
				done
		done | sort
}

printf 'pw-mig\n' | kr_cli user add mig@kurier.test >/dev/null
kr_cli import maildir mig@kurier.test "$DV/mail/dovecot.test/dv" \
	>"$KR_WORK/import.out" 2>"$KR_WORK/import.err" ||
	fail "import maildir: $(cat "$KR_WORK/import.err")"
grep -q '^imported 6/6 messages$' "$KR_WORK/import.err" ||
	fail "no final progress line: $(cat "$KR_WORK/import.err")"
grep -q '^imported 6 messages' "$KR_WORK/import.out" || fail "summary: $(cat "$KR_WORK/import.out")"
dovecot_view dv@dovecot.test >"$KR_WORK/a.dovecot"
kurier_view mig@kurier.test pw-mig >"$KR_WORK/a.kurier"
(($(wc -l <"$KR_WORK/a.dovecot") == 6)) || fail "Dovecot has $(wc -l <"$KR_WORK/a.dovecot") messages, not 6"
diff -u "$KR_WORK/a.dovecot" "$KR_WORK/a.kurier" >&2 || fail "imported mail differs from Dovecot's"
grep -q $'^INBOX\t[0-9a-f]*\t$Label1 \\\\Flagged \\\\Seen\t' "$KR_WORK/a.kurier" ||
	fail "the keyword and flags of INBOX uid 1 are not there: $(cat "$KR_WORK/a.kurier")"
grep -q $'^Work/Sub\t' "$KR_WORK/a.kurier" || fail "no nested folder Work/Sub"
grep -q "^K$(printf '\xc3\xb6')ln"$'\t' "$KR_WORK/a.kurier" || fail "no folder Köln (modified UTF-7 on disk)"
ok "(a) 6 messages from Dovecot (LMTP, doveadm save) imported: bytes, flags, keyword, folders, dates equal"

# user show: shard, bucket, quota, used bytes, messages, mailboxes.
show=$(kr_cli user show mig@kurier.test)
used=$(find "$DV/mail/dovecot.test/dv" -type f \( -path '*/cur/*' -o -path '*/new/*' \) -exec cat {} + | wc -c)
grep -qx $'messages\t6' <<<"$show" || fail "user show: $show"
grep -qx $'used\t'"$used"' bytes' <<<"$show" || fail "user show: used is not $used: $show"
grep -qx $'quota\tunlimited' <<<"$show" || fail "user show quota: $show"
grep -q $'^bucket\t[0-9]' <<<"$show" || fail "user show bucket: $show"
grep -q $'^mailbox\tWork/Sub\t1 messages' <<<"$show" || fail "user show mailboxes: $show"
rc=0
kr_cli user show nobody@kurier.test >/dev/null 2>"$KR_WORK/show.err" || rc=$?
((rc == 1)) && grep -q 'no such user nobody@kurier.test' "$KR_WORK/show.err" ||
	fail "unknown user: exit $rc, $(cat "$KR_WORK/show.err")"
ok "user show: shard, bucket, quota, $used bytes used, 6 messages, mailboxes; unknown user exit 1"

# ---- (b) kurier -> Dovecot ---------------------------------------------
printf 'pw-out\n' | kr_cli user add out@kurier.test >/dev/null
KR_TOK=$(kr_login out@kurier.test pw-out)
work=$(kr_call mailbox.create '{"name":"Work"}' | jq -er .result.id)
arch=$(kr_call mailbox.create "{\"name\":\"Archiv/Gr$(printf '\xc3\xbc\xc3\x9f')e\"}" | jq -er .result.id)
for i in 1 2 3; do lmtp "$KR_LMTP" out@kurier.test "$M/$i"; done
lmtp "$KR_LMTP" out+Work@kurier.test "$M/1"
raw=$(base64 -w0 <"$M/4")
kr_call message.append "{\"mailbox\":$arch,\"raw\":\"$raw\",\"flags\":[\"\\\\Seen\"]}" | jq -e .result.uid >/dev/null
inbox=$(kr_mailbox inbox)
kr_call message.flags "{\"mailbox\":$inbox,\"uids\":[1,3],\"add\":[\"\\\\Seen\",\"\$Label1\"]}" | jq -e .result >/dev/null
kr_call message.flags "{\"mailbox\":$inbox,\"uids\":[2],\"add\":[\"\\\\Flagged\",\"\\\\Answered\",\"\\\\Draft\"]}" | jq -e .result >/dev/null
kr_call message.flags "{\"mailbox\":$work,\"uids\":[1],\"add\":[\"\\\\Deleted\",\"Work-Tag\"]}" | jq -e .result >/dev/null
kr_cli export maildir out@kurier.test "$EXPORT" >"$KR_WORK/export.out" 2>"$KR_WORK/export.err" ||
	fail "export maildir: $(cat "$KR_WORK/export.err")"
grep -q '^exported 5/5 messages$' "$KR_WORK/export.err" || fail "export progress: $(cat "$KR_WORK/export.err")"
rc=0
kr_cli export maildir out@kurier.test "$EXPORT" >/dev/null 2>&1 || rc=$?
((rc == 1)) || fail "export into a non-empty directory: exit $rc, not 1"
chown -R "$MAILUSER:$MAILUSER" "$EXPORT"
kurier_view out@kurier.test pw-out >"$KR_WORK/b.kurier"
dovecot_view ex@dovecot.test >"$KR_WORK/b.dovecot"
(($(wc -l <"$KR_WORK/b.kurier") == 5)) || fail "kurier has $(wc -l <"$KR_WORK/b.kurier") messages, not 5"
diff -u "$KR_WORK/b.kurier" "$KR_WORK/b.dovecot" >&2 || fail "Dovecot reads the export differently"
[[ -d $EXPORT/.Archiv.Gr\&APwA3w-e ]] || fail "the export's folder name is not modified UTF-7: $(ls -a "$EXPORT")"
ok "(b) 5 messages exported by kurier read back by Dovecot byte for byte, same flags, keywords, folders, dates"

# ---- a long import: progress lines, time -------------------------------
many=$KR_WORK/many
mkdir -p "$many/cur" "$many/new" "$many/tmp"
for ((i = 0; i < 2000; i++)); do
	printf 'From: n%d@ext.test\r\nSubject: bulk %d\r\n\r\nmessage %d\r\n' "$i" "$i" "$i" \
		>"$many/cur/$((1700000000 + i)).M${i}P1.h,S=1:2,S"
done
# Dovecot's uid order, not the names', decides the order: a uidlist
# that lists files 1998..0 (uids 1..1999), file 1999 not at all.
{
	echo "3 V1700000000 N2000"
	for ((i = 1998; i >= 0; i--)); do
		echo "$((1999 - i)) :$((1700000000 + i)).M${i}P1.h,S=1"
	done
} >"$many/dovecot-uidlist"
printf 'pw-bulk\n' | kr_cli user add bulk@kurier.test >/dev/null
t0=$(date +%s%N)
kr_cli import maildir bulk@kurier.test "$many" >"$KR_WORK/bulk.out" 2>"$KR_WORK/bulk.err" ||
	fail "bulk import: $(cat "$KR_WORK/bulk.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
tail -n 1 "$KR_WORK/bulk.err" | grep -qx 'imported 2000/2000 messages' || fail "bulk progress: $(cat "$KR_WORK/bulk.err")"
lines=$(grep -c '^imported [0-9]*/2000 messages$' "$KR_WORK/bulk.err")
((lines <= ms / 1000 + 2)) || fail "$lines progress lines in $ms ms: more than one a second"
kr_cli user show bulk@kurier.test | grep -qx $'messages\t2000' || fail "bulk: not 2000 messages"
KR_TOK=$(kr_login bulk@kurier.test pw-bulk)
order=$(kr_call message.list "{\"mailbox\":$(kr_mailbox inbox),\"limit\":2}" | jq -r '[.result.messages[].subject] | join(",")')
[[ $order == "bulk 1999,bulk 0" ]] || fail "import order (highest uids first): $order, not dovecot-uidlist's"
ok "2000 messages imported in $ms ms ($((2000000 / (ms + 1))) msg/s) in dovecot-uidlist order, $lines progress lines"
t0=$(date +%s%N)
kr_cli export maildir bulk@kurier.test "$KR_WORK/many-out" >/dev/null 2>"$KR_WORK/bulk.err" ||
	fail "bulk export: $(cat "$KR_WORK/bulk.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
n=$(find "$KR_WORK/many-out/cur" -type f -name '*:2,S' | wc -l)
((n == 2000)) || fail "bulk export wrote $n seen messages, not 2000"
sums() { find "$1" -type f -exec sha256sum {} + | cut -d' ' -f1 | sort; }
cmp -s <(sums "$many/cur") <(sums "$KR_WORK/many-out/cur") ||
	fail "bulk export: the bytes differ from the imported files"
ok "2000 messages exported in $ms ms ($((2000000 / (ms + 1))) msg/s), bytes equal"

# ---- the store's admin calls underneath, on their own ------------------
KR_TEST_PG_CONF=$PWD/$KR_STACK_DIR/kurier.conf "$KR_BUILD/tests/test_store_admin_mail" \
	>"$KR_WORK/unit.out" 2>&1 || fail "test_store_admin_mail: $(tail -n 20 "$KR_WORK/unit.out")"
n=$(grep -c '^\[ RUN      \]' "$KR_WORK/unit.out" || true)
grep -q "^\[  PASSED  \] $n test(s)." "$KR_WORK/unit.out" ||
	fail "test_store_admin_mail did not all pass (none may be skipped here): $(tail -n 20 "$KR_WORK/unit.out")"
ok "store admin mail calls against the cluster ($n tests)"

# ---- (c) a message over the size limit -----------------------------------
big=$KR_WORK/big
mkdir -p "$big/cur" "$big/new" "$big/tmp"
cp "$M/1" "$big/cur/1.M1.h,S=$(stat -c %s "$M/1"):2,S"
head -c 1100000 /dev/zero | tr '\0' 'x' >"$big/new/2.M2.h"
rc=0
kr_cli import maildir mig@kurier.test "$big" >"$KR_WORK/c.out" 2>"$KR_WORK/c.err" || rc=$?
((rc == 1)) || fail "over-limit import: exit $rc, not 1"
grep -q '2.M2.h: skipped: 1100000 bytes (1 to 1048576)' "$KR_WORK/c.err" || fail "no skip report: $(cat "$KR_WORK/c.err")"
grep -q '^imported 1 messages.* 1 skipped' "$KR_WORK/c.out" || fail "summary: $(cat "$KR_WORK/c.out")"
rc=0
kr_cli import maildir nobody@kurier.test "$big" >/dev/null 2>"$KR_WORK/c.err" || rc=$?
((rc == 1)) && grep -q 'no such user' "$KR_WORK/c.err" || fail "unknown user import: exit $rc"
ok "(c) a file over message_max skipped and reported (exit 1), the rest imported; unknown user exit 1"
