#!/bin/sh
# Run by "meson install" once the files are in place (packaging/meson.build).
# scoutd.conf is installed root:scout 0640; the group comes from sysusers.d.
# A distribution package creates it itself (dh_installsysusers, or
# systemd-sysusers in its postinst), and a DESTDIR install is for such a
# package: nothing to do then. A plain "meson install" as root onto this
# machine creates the group here and gives it the file, which meson could
# not do while the group did not exist yet.
#   $1: the installed sysusers.d file   $2: the installed scoutd.conf
set -eu
[ -z "${DESTDIR:-}" ] || exit 0
if [ "$(id -u)" != 0 ]; then
	echo "scout: not root: create the group scout, then: chgrp scout $2 && chmod 0640 $2" >&2
	exit 0
fi
if ! getent group scout >/dev/null; then
	if command -v systemd-sysusers >/dev/null; then
		systemd-sysusers "$1"
	else
		groupadd --system scout
	fi
fi
chgrp scout "$2"
chmod 0640 "$2"
