#!/usr/bin/env bash
# Builds the Debian package from a `make install` tree, with dpkg-deb
# alone (no debhelper): ops/deb/build.sh STAGE OUT_DIR
#   STAGE    a DESTDIR that `make install PREFIX=/usr` filled
#   OUT_DIR  where kurier_<version>_<arch>.deb goes
# The version is server/version.h's; Depends are the packages that hold
# the shared libraries the ELF files in STAGE name (readelf, ldd, dpkg -S), so
# the list follows the build.
set -euo pipefail

stage=${1:?usage: ops/deb/build.sh STAGE OUT_DIR}
out=${2:?usage: ops/deb/build.sh STAGE OUT_DIR}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/../.." && pwd -P)

version=$(sed -n 's/^#define KR_VERSION "\([^"]*\)"$/\1/p' "$root/server/version.h")
[[ -n $version ]] || {
	echo "deb: no KR_VERSION in server/version.h" >&2
	exit 1
}
arch=$(dpkg --print-architecture)

# The package owning library file $1, as dpkg knows the path (on a
# merged-/usr system it may list /lib/... or /usr/lib/...).
lib_package() {
	local f=$1 p alt
	p=$(dpkg -S "$f" 2>/dev/null | head -n1) ||
		{
			alt=${f#/usr}
			[[ $alt == "$f" ]] && alt=/usr$f
			p=$(dpkg -S "$alt" 2>/dev/null | head -n1) || return 1
		}
	p=${p%%:*}
	printf '%s\n' "${p%%,*}"
}

needed() {
	readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | tr '\n' ' '
}

depends() {
	local f lib
	find "$stage" -type f \( -perm -u+x -o -name '*.so' \) | while read -r f; do
		# Only the libraries a file names itself (DT_NEEDED), located
		# by ldd; theirs are their packages' business. Scripts and
		# data are "not a dynamic executable".
		ldd "$f" 2>/dev/null | awk -v need=" $(needed "$f") " \
			'$2 == "=>" && $3 ~ /^\// && index(need, " " $1 " ") { print $3 }' || true
	done | sort -u | while read -r lib; do
		lib_package "$lib" || {
			echo "deb: no package holds $lib" >&2
			exit 1
		}
	done | sort -u | paste -sd, | sed 's/,/, /g'
}

deps=$(depends)
[[ -n $deps ]] || {
	echo "deb: no library dependencies found" >&2
	exit 1
}
deps="$deps, adduser"

install -d -m 0755 "$stage/DEBIAN" "$stage/etc/kurier"
install -m 0644 "$stage/etc/kurier/kurier.conf.example" "$stage/etc/kurier/kurier.conf"
for s in postinst prerm postrm; do
	install -m 0755 "$here/$s" "$stage/DEBIAN/$s"
done
printf '/etc/kurier/kurier.conf\n' >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: kurier
Version: $version
Architecture: $arch
Maintainer: kurier developers <kurier@localhost>
Installed-Size: $size
Depends: $deps
Section: mail
Priority: optional
Description: mail storage service: LMTP in, JSON-RPC 2.0 out, PostgreSQL shards
 kurierd (master and workers) takes mail from Postfix over LMTP and
 serves webmail over JSON-RPC 2.0; the mail lives in PostgreSQL sharded
 over many nodes. The kurier command line administers users, shards and
 the spam filter. The unit kurierd.service is enabled, not started:
 point /etc/kurier/kurier.conf at the database nodes first.
CONTROL
mkdir -p "$out"
deb=$out/kurier_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
printf '%s\n' "$deb"
