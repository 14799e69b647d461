#!/usr/bin/env bash
# Creates the unprivileged system user that kurierd's workers drop to
# when it starts as root ([server] user, default kurier; SPEC.md §6).
# Idempotent; without root it only says what is missing (a kurierd not
# started as root never switches users).
#   ops/kurier-user.sh [-u USER] [CONFIG...]
# Each CONFIG given is made readable by the user's group and by no one
# else (root:USER 0640): it holds the admin token and the session
# secret, and workers re-read it on SIGHUP.
set -euo pipefail

user=kurier
if [[ ${1:-} == -u ]]; then
	user=${2:?usage: ops/kurier-user.sh [-u USER] [CONFIG...]}
	shift 2
fi

if ! getent passwd "$user" >/dev/null; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "kurier-user: no user '$user'; kurierd started as root needs it:" \
			"sudo useradd --system --no-create-home --shell /usr/sbin/nologin $user" >&2
		exit 0
	fi
	# Another run may create it at the same moment: only a user still
	# missing afterwards is an error.
	useradd --system --no-create-home --shell /usr/sbin/nologin "$user" 2>/dev/null ||
		getent passwd "$user" >/dev/null ||
		{
			echo "kurier-user: useradd $user failed" >&2
			exit 1
		}
	echo "kurier-user: created system user $user"
fi

[[ $(id -u) -eq 0 ]] || exit 0
for conf in "$@"; do
	[[ -f $conf ]] || continue
	chgrp "$(id -gn "$user")" -- "$conf"
	chmod 0640 -- "$conf"
done
