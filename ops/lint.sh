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

# Layers: a folder includes only folders below it in
# lib < proto, storage < antispam < admin < server.
declare -A allowed=(
	[lib]="lib"
	[proto]="lib proto"
	[storage]="lib storage"
	[antispam]="lib proto storage antispam"
	[admin]="lib proto storage antispam admin"
	[server]="lib proto storage antispam admin server"
)
for layer in "${!allowed[@]}"; do
	[[ -d $layer ]] || continue
	while IFS=: read -r file _ inc; do
		dir=${inc#*\"}
		dir=${dir%%/*}
		if [[ " ${allowed[$layer]} " != *" $dir "* ]]; then
			echo "lint: $file includes $dir/ (not allowed from $layer/)" >&2
			fail=1
		fi
	done < <(grep -Hn '^#include "' "$layer"/*.[ch] 2>/dev/null || true)
done
# lib/ stays libc/POSIX plus libevent (STYLE.md §1).
if grep -Hn '^#include <\(libpq\|openssl\|jansson\|gmime\|spf2\)' lib/*.[ch] 2>/dev/null; then
	echo "lint: lib/ must not use those libraries" >&2
	fail=1
fi

[[ $fail -eq 0 ]] && echo "lint: clean"
exit $fail
