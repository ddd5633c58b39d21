#!/usr/bin/env python3
"""scoutd's sd_notify protocol, checked against a real notification socket.

The test plays systemd's part: it binds an AF_UNIX datagram socket, starts
scoutd with NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID pointing at it, and
reads what arrives, with the sender's credentials (SO_PASSCRED), as the service
manager does with NotifyAccess=main.

  READY=1 after start-up, then a STATUS= line naming the running modules
  WATCHDOG=1 every WATCHDOG_USEC/2 (200 ms here) from the event loop
  none while the process is stopped (SIGSTOP), again after SIGCONT
  SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1
  SIGTERM: STOPPING=1, then exit status 0
  no WATCHDOG_USEC, or a WATCHDOG_PID that is not scoutd's: no WATCHDOG=1

Environment: SCOUTD, the scoutd binary to run. Python 3 standard library only.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, failures

SCOUTD = os.environ.get("SCOUTD", "scoutd")
if "/" in SCOUTD:
    SCOUTD = os.path.abspath(SCOUTD)  # scoutd runs in a temp directory
WATCHDOG_USEC = 400000  # so scoutd pings every 200 ms
START_TIMEOUT = 30.0  # generous: sanitizer builds start slowly

class Collector:
    """Binds the notification socket; a thread keeps every datagram as
    (monotonic time, sender pid, [lines])."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.05)
        self.msgs = []
        self.cond = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        cmsg_size = socket.CMSG_SPACE(struct.calcsize("3i"))
        while not self.done:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(4096, cmsg_size)
            except socket.timeout:
                continue
            except OSError:
                break
            now = time.monotonic()
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", cdata[:12])[0]
            lines = data.decode("utf-8", "replace").split("\n")
            with self.cond:
                self.msgs.append((now, pid, [l for l in lines if l]))
                self.cond.notify_all()

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()

    def snapshot(self):
        with self.cond:
            return list(self.msgs)

    def wait_for(self, pred, start, timeout):
        """First message at index >= start with a line matching pred: its index, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.msgs)):
                    if any(pred(l) for l in self.msgs[i][2]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def count(self, line, t0, t1):
        with self.cond:
            return [m[0] for m in self.msgs if t0 <= m[0] < t1 and line in m[2]]


def write_config(tmp):
    state = os.path.join(tmp, "state")
    cfg = os.path.join(tmp, "scoutd.conf")
    with open(cfg, "w") as f:
        f.write(
            "[agent]\n"
            f"state_dir = {state}\n"
            "log_level = debug\n"
            "store_max_size = 16M\n"
            "\n"
            "[health]\n"
            "enabled = yes\n"
            "interval = 1s\n"
            "min_free_disk = 0\n"
        )
    return cfg


def start(tmp, cfg, notify_path, watchdog_pid="self", watchdog=True):
    """Start scoutd. WATCHDOG_PID must be scoutd's own pid, known only once it
    runs: a shell exports its own $$ and execs scoutd in its place."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS",
                        "LISTEN_PID")}
    env["NOTIFY_SOCKET"] = notify_path
    if watchdog:
        env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    if watchdog_pid == "self":
        script = 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" -c "$1"'
    else:
        if watchdog_pid is not None:
            env["WATCHDOG_PID"] = str(watchdog_pid)
        script = 'exec "$0" -c "$1"'
    log = open(os.path.join(tmp, "scoutd.log"), "ab")
    proc = subprocess.Popen(["/bin/sh", "-c", script, SCOUTD, cfg], env=env, cwd=tmp,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def wait_state(pid, states, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc_state(pid) in states:
            return True
        time.sleep(0.01)
    return False


def wait_ready(col, proc, timeout):
    """Index of the first READY=1, or None; gives up early if scoutd exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        i = col.wait_for(lambda l: l == "READY=1", 0, 0.2)
        if i is not None:
            return i
        if proc.poll() is not None:
            print(f"     scoutd exited with status {proc.returncode} before READY=1")
            return col.wait_for(lambda l: l == "READY=1", 0, 0.2)
    return None


def stop(proc):
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGCONT)
            proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def show_log(tmp):
    path = os.path.join(tmp, "scoutd.log")
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            text = f.read()
        print("---- scoutd output ----\n" + text[-6000:] + "---- end ----")


def main_run(tmp):
    """The full protocol, one scoutd run."""
    notify_path = os.path.join(tmp, "notify.sock")
    col = Collector(notify_path)
    cfg = write_config(tmp)
    proc = start(tmp, cfg, notify_path)
    try:
        pid = proc.pid
        print(f"scoutd pid {pid}, NOTIFY_SOCKET={notify_path}, WATCHDOG_USEC={WATCHDOG_USEC}")

        # -- READY=1 and STATUS=
        ready = wait_ready(col, proc, START_TIMEOUT)
        if not check(ready is not None, "READY=1 arrives after start"):
            return
        t_ready = col.snapshot()[ready][0]
        st = col.wait_for(lambda l: l.startswith("STATUS="), ready, 5)
        status = None
        if st is not None:
            status = next(l for l in col.snapshot()[st][2] if l.startswith("STATUS="))
            print(f"     {status}")
        m = re.search(r"(\d+) modules? running", status or "")
        check(m is not None and int(m.group(1)) >= 1, "STATUS= after READY=1 says how many modules run (>= 1)")

        # -- WATCHDOG=1 every 200 ms
        time.sleep(max(0.0, t_ready + 1.6 - time.monotonic()))
        pings = col.count("WATCHDOG=1", t_ready, t_ready + 1.5)
        gaps = [round((b - a) * 1000) for a, b in zip(pings, pings[1:])]
        print(f"     {len(pings)} WATCHDOG=1 in the 1.5 s after READY=1, gaps (ms): {gaps}")
        check(len(pings) >= 3, "WATCHDOG=1 arrives repeatedly (>= 3 in 1.5 s)")
        if gaps:
            med = sorted(gaps)[len(gaps) // 2]
            check(100 <= med <= 350, f"WATCHDOG=1 about every WATCHDOG_USEC/2 = 200 ms (median gap {med} ms)")

        # -- every datagram comes from the main pid (NotifyAccess=main)
        pids = {m[1] for m in col.snapshot()}
        check(pids == {pid}, f"every notification comes from scoutd's own pid (senders {sorted(map(str, pids))})")

        # -- a stalled process stops pinging
        os.kill(pid, signal.SIGSTOP)
        check(wait_state(pid, "Tt", 5), "scoutd is stopped after SIGSTOP")
        t_stop = time.monotonic()
        time.sleep(0.1)  # anything sent just before the stop has arrived by now
        t0 = time.monotonic()
        time.sleep(1.0)
        t1 = time.monotonic()
        stalled = col.count("WATCHDOG=1", t0, t1)
        check(len(stalled) == 0, f"no WATCHDOG=1 for 1 s while stopped (got {len(stalled)})")

        # -- and resumes after SIGCONT
        n_before = len(col.snapshot())
        os.kill(pid, signal.SIGCONT)
        t_cont = time.monotonic()
        first = col.wait_for(lambda l: l == "WATCHDOG=1", n_before, 2)
        check(first is not None, "WATCHDOG=1 resumes after SIGCONT")
        time.sleep(max(0.0, t_cont + 1.1 - time.monotonic()))
        resumed = col.count("WATCHDOG=1", t_cont, t_cont + 1.0)
        check(len(resumed) >= 3, f"WATCHDOG=1 keeps coming after SIGCONT ({len(resumed)} in 1 s)")
        print(f"     stopped {t1 - t_stop:.2f} s; first ping after SIGCONT "
              f"{(col.snapshot()[first][0] - t_cont) * 1000 if first is not None else -1:.0f} ms later")

        # -- SIGHUP: RELOADING=1 + MONOTONIC_USEC, then READY=1
        n_before = len(col.snapshot())
        t_hup = time.monotonic()
        os.kill(pid, signal.SIGHUP)
        rel = col.wait_for(lambda l: l == "RELOADING=1", n_before, 10)
        if check(rel is not None, "SIGHUP: RELOADING=1 arrives"):
            lines = col.snapshot()[rel][2]
            mono = [l for l in lines if l.startswith("MONOTONIC_USEC=")]
            ok = len(mono) == 1 and mono[0][15:].isdigit()
            if ok:
                usec = int(mono[0][15:])
                ok = abs(usec / 1e6 - t_hup) < 5.0
                print(f"     MONOTONIC_USEC={usec}, {usec / 1e6 - t_hup:+.3f} s from the test's CLOCK_MONOTONIC")
            check(ok, "RELOADING=1 comes with MONOTONIC_USEC=<now on CLOCK_MONOTONIC> in the same datagram")
            rdy = col.wait_for(lambda l: l == "READY=1", rel + 1, 10)
            check(rdy is not None, "SIGHUP: READY=1 follows RELOADING=1")
            before = [i for i in range(n_before, rel) if "READY=1" in col.snapshot()[i][2]]
            check(not before, "no READY=1 between SIGHUP and RELOADING=1")
        check(proc.poll() is None, "scoutd still runs after the reload")

        # -- SIGTERM: STOPPING=1, exit 0
        n_before = len(col.snapshot())
        os.kill(pid, signal.SIGTERM)
        stp = col.wait_for(lambda l: l == "STOPPING=1", n_before, 10)
        check(stp is not None, "SIGTERM: STOPPING=1 arrives")
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"scoutd exits with status 0 after SIGTERM (got {rc})")
        time.sleep(0.1)
        if stp is not None:
            late = [l for m in col.snapshot()[stp + 1:] for l in m[2] if l == "READY=1"]
            check(not late, "no READY=1 after STOPPING=1")
    finally:
        stop(proc)
        col.close()


def no_watchdog_run(tmp, label, watchdog, watchdog_pid):
    """scoutd must not ping when the watchdog is off or meant for another pid."""
    sub = tempfile.mkdtemp(dir=tmp)
    notify_path = os.path.join(sub, "n.sock")
    col = Collector(notify_path)
    cfg = write_config(sub)
    proc = start(sub, cfg, notify_path, watchdog_pid=watchdog_pid, watchdog=watchdog)
    try:
        ready = wait_ready(col, proc, START_TIMEOUT)
        if check(ready is not None, f"{label}: READY=1 arrives"):
            t = col.snapshot()[ready][0]
            time.sleep(max(0.0, t + 1.0 - time.monotonic()))
            n = len(col.count("WATCHDOG=1", 0, float("inf")))
            check(n == 0, f"{label}: no WATCHDOG=1 (got {n})")
        os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"{label}: exits with status 0 after SIGTERM (got {rc})")
    finally:
        stop(proc)
        col.close()
        if failures:
            show_log(sub)


def main():
    if not (os.path.isfile(SCOUTD) and os.access(SCOUTD, os.X_OK)) and not shutil.which(SCOUTD):
        print(f"SCOUTD={SCOUTD} is not an executable")
        return 1
    # short path: the socket paths must fit in sockaddr_un
    tmp = tempfile.mkdtemp(prefix="scout-notify-", dir="/tmp")
    try:
        main_run(tmp)
        if failures:
            show_log(tmp)
        no_watchdog_run(tmp, "without WATCHDOG_USEC", watchdog=False, watchdog_pid=None)
        no_watchdog_run(tmp, "WATCHDOG_PID of another process", watchdog=True, watchdog_pid=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("all sd_notify checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
