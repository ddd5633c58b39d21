#!/usr/bin/env python3
"""Checks what "meson install" puts on a machine (issue 7, point 16): the
config file holds SNMP community strings and SNMPv3 pass phrases, so it must
not be world-readable; the service must still be able to read it.

  meson install --destdir TMP (no rebuild) of the build tree in BUILD_ROOT
  scoutd.conf: mode 0640, owned by root and the group the unit runs as
    (the owner is only checked when the group exists on this machine and
    the test runs as root: meson leaves ownership alone otherwise)
  a sysusers.d file creates that group, and the unit names it in Group=
    alongside DynamicUser=yes (a static group is used as is, the user stays
    dynamic)
  the unit and the binaries are still world-readable

Environment: BUILD_ROOT, the meson build directory. Python 3 standard
library only.
"""
import grp
import json
import os
import re
import stat
import subprocess
import sys
import tempfile

from checks import check, parse_unit, skip, summary

BUILD = os.environ.get("BUILD_ROOT", "")
def main():
    if not BUILD or not os.path.exists(os.path.join(BUILD, "meson-private", "install.dat")):
        print(f"FAIL: BUILD_ROOT ({BUILD!r}) is not a configured meson build directory")
        return 1
    p = subprocess.run(["meson", "introspect", "--installed", BUILD], capture_output=True, text=True, timeout=60)
    if not check(p.returncode == 0, "meson introspect --installed runs"):
        print(p.stderr)
        return 1
    installed = json.loads(p.stdout)  # source -> installed path

    def dest(suffix):
        for src, dst in installed.items():
            if dst.endswith(suffix):
                return dst
        return None

    conf, unit, sysusers = dest("/scout/scoutd.conf"), dest("/scoutd.service"), dest("/sysusers.d/scout.conf")
    check(conf is not None, f"scoutd.conf is installed ({conf})")
    check(unit is not None, f"scoutd.service is installed ({unit})")
    if not check(sysusers is not None, f"a sysusers.d file for scout is installed ({sysusers})"):
        sysusers = None
    if conf is None or unit is None:
        return 1

    with tempfile.TemporaryDirectory(prefix="scout-install-") as tmp:
        p = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", tmp],
                           capture_output=True, text=True, timeout=300)
        if not check(p.returncode == 0, f"meson install --destdir runs (rc {p.returncode})"):
            print(p.stdout[-3000:] + p.stderr[-3000:])
            return 1

        def at(path):
            return os.path.join(tmp, path.lstrip("/"))

        st = os.stat(at(conf))
        mode = stat.S_IMODE(st.st_mode)
        check(mode & 0o007 == 0, f"scoutd.conf is not world-accessible (mode {mode:04o})")
        check(mode == 0o640, f"scoutd.conf is mode 0640 (got {mode:04o})")

        service = parse_unit(at(unit)).get("Service", {})
        group = (service.get("Group") or [None])[-1]
        check(group is not None and group != "", f"the unit names a Group= (got {group!r})")
        check((service.get("DynamicUser") or [None])[-1] == "yes", "the unit keeps DynamicUser=yes")
        check(stat.S_IMODE(os.stat(at(unit)).st_mode) & 0o004, "the unit file is world-readable")

        if sysusers:
            with open(at(sysusers)) as f:
                lines = [l.split() for l in f if l.strip() and not l.lstrip().startswith("#")]
            check(any(l[:2] == ["g", group] for l in lines),
                  f"sysusers.d creates group {group!r} ({lines})")

        try:
            gid = grp.getgrnam(group).gr_gid if group else None
        except KeyError:
            gid = None
        if gid is not None and os.geteuid() == 0:
            check((st.st_uid, st.st_gid) == (0, gid),
                  f"scoutd.conf is owned by root:{group} (got {st.st_uid}:{st.st_gid})")
        else:
            why = "group %r does not exist here" % group if gid is None else "not root"
            skip(f"scoutd.conf's owner: {why} (meson leaves the owner alone then)")

    return summary("install")


if __name__ == "__main__":
    sys.exit(main())
