#!/usr/bin/env bash
# make lint: cppcheck, clang-format (the repo's .clang-format) and the
# layer rules of SPEC.md §2 / STYLE.md §1, checked on #include lines.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t src < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build/')
fail=0

if ! clang-format --dry-run --Werror "${src[@]}" 2>/tmp/kr-format.$$; then
	head -n 40 /tmp/kr-format.$$ >&2
	echo "lint: clang-format: run 'clang-format -i' on the files above" >&2
	fail=1
fi
rm -f /tmp/kr-format.$$

if ! cppcheck -q --error-exitcode=1 --inline-suppr --std=c11 \
	--enable=warning,style,performance,portability \
	--suppress=missingIncludeSystem --suppress=unusedFunction \
	-I. -D__GNUC__ -DKR_LINT lib proto storage antispam admin server ops tests/unit tests/fuzz; then
	echo "lint: cppcheck found problems" >&2
	fail=1
fi

# Layers (SPEC.md §2), checked on every file of every folder, sub-folders
# included: a folder includes only folders below it in
# lib < proto, storage < antispam < admin < server; includes name the
# path from the top. Inside server/: auth/ and cache/ see only lib/,
# storage/ and themselves; rpc/ and lmtp/ never include each other.
declare -A allowed=(
	[lib]="lib"
	[proto]="lib proto"
	[storage]="lib storage"
	[antispam]="lib proto storage antispam"
	[admin]="lib proto storage antispam admin"
	[server]="lib proto storage antispam admin server"
)
# lint_part FILE: the server part of a file ("auth", "rpc", ...), or
# "top" for the process model at server/'s top.
lint_part() {
	local rest=${1#server/}
	[[ $rest == */* ]] && echo "${rest%%/*}" || echo top
}
# lint_server_rule FILE INCLUDE: prints why the include breaks a rule
# inside server/, or nothing.
lint_server_rule() {
	local part inc_part
	part=$(lint_part "$1")
	[[ $2 == server/* ]] && inc_part=$(lint_part "$2") || inc_part=
	case $part in
	auth | cache)
		case $2 in
		lib/* | storage/*) ;;
		server/*) [[ $inc_part == "$part" ]] || echo "$part/ sees only lib/ and storage/" ;;
		*) echo "$part/ sees only lib/ and storage/" ;;
		esac
		;;
	rpc | lmtp)
		local other=rpc
		[[ $part == rpc ]] && other=lmtp
		[[ $inc_part != "$other" ]] || echo "$part/ and $other/ never include each other"
		;;
	esac
}
for layer in "${!allowed[@]}"; do
	[[ -d $layer ]] || continue
	while IFS=: read -r file _ inc; do
		path=${inc#*\"}
		path=${path%%\"*}
		dir=${path%%/*}
		if [[ $path != */* ]]; then
			echo "lint: $file includes \"$path\" (name the path from the top)" >&2
			fail=1
		elif [[ " ${allowed[$layer]} " != *" $dir "* ]]; then
			echo "lint: $file includes $dir/ (not allowed from $layer/)" >&2
			fail=1
		elif [[ $layer == server ]]; then
			why=$(lint_server_rule "$file" "$path")
			if [[ -n $why ]]; then
				echo "lint: $file includes $path ($why)" >&2
				fail=1
			fi
		fi
	done < <(find "$layer" -name '*.[ch]' -print0 | xargs -0 grep -Hn '^#include "' 2>/dev/null || true)
done
# No circle of includes between files of different parts (a file and
# its header count as one).
mapfile -t code < <(printf '%s\n' "${src[@]}" | grep -v '^\(tests\|ops\)/')
if ! python3 ops/lint_cycles.py "${code[@]}"; then
	fail=1
fi
# lib/ stays libc/POSIX plus libevent (STYLE.md §1).
if find lib -name '*.[ch]' -print0 | xargs -0 grep -Hn '^#include <\(libpq\|openssl\|jansson\|gmime\|spf2\)' 2>/dev/null; then
	echo "lint: lib/ must not use those libraries" >&2
	fail=1
fi

[[ $fail -eq 0 ]] && echo "lint: clean"
exit $fail
