#!/usr/bin/env python3
"""Checks packaging/systemd/scoutd.service without a running systemd.

  systemd-analyze security --offline=yes: overall exposure <= 2.0
  systemd-analyze verify: no errors or warnings for the unit (skipped, with
    the reason printed, where it cannot run here)
  the unit's key settings: Type=notify, WatchdogSec=, ExecStart=, ExecReload=,
    directories, no IPAddressDeny=, the address families the agent needs
  packaging/systemd/scoutd.conf (beside the unit) passes scoutd --check-config
    and agrees with the unit's StateDirectory= and RuntimeDirectory=

Environment: UNIT, the unit file; SCOUTD, the built scoutd (for verify and
--check-config). Exit 77 (meson: skipped) when systemd-analyze is missing:
Debian's package 'systemd' provides it. Python 3 standard library only.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from checks import check, parse_unit, skip, summary

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.environ.get("UNIT") or os.path.join(HERE, "..", "..", "packaging", "systemd", "scoutd.service")
SCOUTD = os.environ.get("SCOUTD", "")
MAX_EXPOSURE = 2.0

def run(cmd, cwd=None):
    env = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")
    p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, errors="replace", timeout=60)
    return p.returncode, p.stdout, p.stderr


def with_binary(tmp):
    """A copy of the unit, same name, whose ExecStart= runs the built scoutd:
    verify checks that the binary exists, and /usr/sbin/scoutd is not
    installed on a build machine."""
    dst = os.path.join(tmp, os.path.basename(UNIT))
    with open(UNIT) as f:
        text = f.read()
    text = re.sub(r"^ExecStart=(\S*/)?scoutd\b", "ExecStart=" + os.path.abspath(SCOUTD), text, flags=re.M)
    with open(dst, "w") as f:
        f.write(text)
    return dst


def security(tmp):
    cmd = ["systemd-analyze", "security", "--offline=yes", "--no-pager"]
    rc, out, err = run(cmd + [UNIT])
    if rc != 0 and re.search(r"not executable|No such file", err) and SCOUTD:
        # Not so with systemd 252: --offline=yes does not look at ExecStart=.
        print(f"     security --offline=yes failed on the unit as it is ({err.strip()}); "
              "retrying with ExecStart= pointing at the built scoutd")
        rc, out, err = run(cmd + [with_binary(tmp)])
    flagged = [l.rstrip() for l in out.splitlines() if l.startswith("✗")]
    if flagged:
        print("     exposure left:")
        for l in flagged:
            print("       " + re.sub(r"\s{2,}", "  ", l))
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)", out)
    if not check(rc == 0 and m is not None, f"systemd-analyze security --offline=yes runs (rc {rc})"):
        print(out[-3000:] + err[-3000:])
        return
    level = float(m.group(1))
    print(f"     Overall exposure level: {level} {m.group(2)}")
    check(level <= MAX_EXPOSURE, f"exposure {level} <= {MAX_EXPOSURE}")


def verify(tmp):
    if not SCOUTD or not os.access(SCOUTD, os.X_OK):
        skip(f"systemd-analyze verify: SCOUTD ({SCOUTD!r}) is not an executable to stand in for /usr/sbin/scoutd")
        return
    unit = with_binary(tmp)
    name = os.path.basename(unit)
    rc, out, err = run(["systemd-analyze", "verify", "--no-pager", unit], cwd=tmp)
    text = (out + err).strip()
    about_unit = [l for l in text.splitlines() if name in l]
    if rc != 0 and not about_unit:
        skip(f"systemd-analyze verify cannot run here (rc {rc}): {text[:500]}")
        return
    if text:
        print("     verify said:\n" + "\n".join("       " + l for l in text.splitlines()))
    check(rc == 0 and not about_unit, "systemd-analyze verify: no errors or warnings about the unit")


def settings():
    u = parse_unit(UNIT)
    svc = u.get("Service", {})

    def one(key):
        v = svc.get(key)
        return v[-1] if v else None

    check(one("Type") == "notify", f"Type=notify (got {one('Type')})")
    wd = one("WatchdogSec")
    check(wd not in (None, "", "0", "infinity"), f"WatchdogSec= is set (got {wd})")
    check(one("ExecStart") == "/usr/sbin/scoutd -c /etc/scout/scoutd.conf",
          f"ExecStart=/usr/sbin/scoutd -c /etc/scout/scoutd.conf (got {one('ExecStart')})")
    check((one("ExecReload") or "").endswith("kill -HUP $MAINPID"), "ExecReload= sends SIGHUP to $MAINPID")
    check(one("Restart") == "on-failure", "Restart=on-failure (a watchdog kill restarts)")
    check(one("NotifyAccess") == "main",
          f"NotifyAccess=main: notifications accepted from the main process only (got {one('NotifyAccess')})")
    check(one("StateDirectory") == "scout" and one("RuntimeDirectory") == "scout",
          "StateDirectory=scout and RuntimeDirectory=scout")
    check(one("LimitCORE") == "0", "LimitCORE=0")
    check("IPAddressDeny" not in svc, "no IPAddressDeny=: the agent serves the LAN")
    fams = " ".join(svc.get("RestrictAddressFamilies", [])).split()
    check(all(f in fams for f in ("AF_UNIX", "AF_INET", "AF_INET6")) and not any(f.startswith("~") for f in fams),
          f"RestrictAddressFamilies= allows AF_UNIX, AF_INET, AF_INET6 (got {' '.join(fams)})")
    check(one("PrivateNetwork") == "no",
          f"PrivateNetwork=no: the host's network is reachable (got {one('PrivateNetwork')})")
    return one("StateDirectory"), one("RuntimeDirectory")


def config(state, runtime):
    conf = os.path.join(os.path.dirname(os.path.abspath(UNIT)), "scoutd.conf")
    if not check(os.path.exists(conf), f"{conf} exists"):
        return
    keys = {}
    sec = None
    with open(conf) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sec = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            keys[(sec, k.strip())] = v.strip()
    check(keys.get(("agent", "state_dir")) == f"/var/lib/{state}",
          f"scoutd.conf: state_dir = /var/lib/{state}, the unit's StateDirectory=")
    sock = keys.get(("agent", "status_socket"), "")
    check(os.path.dirname(sock) == f"/run/{runtime}",
          f"scoutd.conf: status_socket in /run/{runtime}, the unit's RuntimeDirectory= (got {sock!r})")
    if SCOUTD and os.access(SCOUTD, os.X_OK):
        rc, out, err = run([SCOUTD, "--check-config", "-c", conf])
        check(rc == 0, f"scoutd --check-config accepts scoutd.conf (rc {rc}) {out.strip()} {err.strip()}".strip())


def main():
    print(f"unit: {UNIT}")
    if not shutil.which("systemd-analyze"):
        print("SKIP: systemd-analyze not found (Debian: apt-get install systemd)")
        return 77
    rc, out, _ = run(["systemd-analyze", "--version"])
    print("     " + (out.splitlines() or ["?"])[0])
    with tempfile.TemporaryDirectory(prefix="scout-unit-") as tmp:
        security(tmp)
        verify(tmp)
    state, runtime = settings()
    config(state, runtime)
    return summary("unit")


if __name__ == "__main__":
    sys.exit(main())
