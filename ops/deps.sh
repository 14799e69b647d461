#!/usr/bin/env bash
# Installs the Debian packages kurier needs to build, test and run.
# Idempotent and quick: apt-get runs only when something is missing,
# and `apt-get update` only when the install cannot find a package.
set -euo pipefail

PKGS=(
	gcc clang libclang-rt-14-dev make pkg-config cppcheck clang-format python3 python3-prometheus-client curl jq swaks libnet-ssleay-perl openssl ca-certificates
	libevent-dev libpq-dev libssl-dev zlib1g-dev libcmocka-dev
	libjansson-dev libinih-dev libgmime-3.0-dev libargon2-dev
	libcrypt-dev libpcre2-dev libspf2-dev libhttp-parser-dev libhyperscan-dev
	spamassassin spamd spamc rspamd dnsmasq-base
	postgresql-15 postgresql-client-15 dovecot-core dovecot-lmtpd postfix
	gnuplot-nox
)

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# The dashboard's uPlot and its browser test's playwright-core come from
# npm (admin/ui/package-lock.json). A node and npm already there (e.g.
# NodeSource's nodejs, which carries npm and conflicts with Debian's npm
# package) are kept: Debian's nodejs and npm only where a command is
# missing. Debian's chromium only for the tests (--test: make test).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [[ ${1:-} == --test ]]; then
	status=$(dpkg-query -W -f='${Status}' chromium 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=(chromium)
fi
# Workers of a kurierd started as root drop to this user (SPEC.md §6):
# `make run` and `make test` both get here.
user_setup() { "$(dirname "$0")/kurier-user.sh"; }
if [[ ${#missing[@]} -eq 0 ]]; then
	user_setup
	exit 0
fi

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "deps: not root; run 'sudo make deps' once" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix's postinst asks what kind of mail system to set up: none. The
# tests run private instances; the system one stays unconfigured and off.
if [[ " ${missing[*]} " == *" postfix "* ]]; then
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
apt_install() {
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}
if ! apt_install; then
	apt-get update -q
	apt_install
fi
user_setup
