"""Shared helpers for scout's integration tests.

Each test starts its own scoutd on a generated config in a fresh temporary
directory, with stderr captured to a log file there, talks to it over the
status socket (NDJSON) or through scoutctl, and stops it. Every process
started here is killed in tearDown and again at exit, whatever happened;
the log of every scoutd is checked for sanitizer reports.

The binaries come from $SCOUTD and $SCOUTCTL (set by meson); run by hand,
the files fall back to build-integ/ at the top of the tree.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
SCOUTD = os.environ.get("SCOUTD") or os.path.join(TOP, "build-integ", "scoutd")
SCOUTCTL = os.environ.get("SCOUTCTL") or os.path.join(TOP, "build-integ", "scoutctl")

# Sanitizer reports in a log fail the test that produced it. Do not hide
# them: keep any options the caller set, add readable stack traces.
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: AddressSanitizer",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "LeakSanitizer has encountered a fatal error",
)
ENV = dict(os.environ)
ENV.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
ENV.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
ENV.pop("SCOUT_SOCKET", None)
ENV.pop("NOTIFY_SOCKET", None)
ENV.pop("JOURNAL_STREAM", None)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0

_live = []  # every Popen started here and not yet reaped
_tmpdirs = []


def _kill_leftovers(which=lambda p: True):
    for p in list(_live):
        if not which(p):
            continue
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        _live.remove(p)


def _remove_tmpdirs():
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_tmpdirs)
atexit.register(_kill_leftovers)  # runs first (atexit is LIFO)


def sanitizer_problems(text):
    return [m for m in SANITIZER_MARKERS if m in text]


def scoutctl_for_anyone():
    """The path of a copy of scoutctl that any user can run, for tests that
    act as another user (uid 65534). The build tree may lie under a
    directory only its owner can enter (root's home is 0700), so $SCOUTCTL
    itself may be out of that user's reach. One copy per test process, in
    a 0755 directory under /tmp, removed at exit."""
    global _scoutctl_copy
    if _scoutctl_copy is None:
        d = make_tmpdir(0o755)
        dst = os.path.join(d, "scoutctl")
        shutil.copyfile(SCOUTCTL, dst)
        os.chmod(dst, 0o755)
        _scoutctl_copy = dst
    return _scoutctl_copy


_scoutctl_copy = None


def make_tmpdir(mode=0o700):
    # /tmp keeps socket paths far below the 107-byte limit
    d = tempfile.mkdtemp(prefix="scout-it-", dir="/tmp")
    os.chmod(d, mode)
    _tmpdirs.append(d)
    return d


def config_text(state_dir, socket_path=None, agent_extra="", health="enabled = yes\ninterval = 1s\n",
                log_level="debug"):
    s = "[agent]\nstate_dir = %s\n" % state_dir
    if socket_path:
        s += "status_socket = %s\n" % socket_path
    s += "log_level = %s\n" % log_level
    s += agent_extra
    s += "\n[health]\n" + health
    return s


def run_scoutctl(sock, *args, timeout=30, **kw):
    """Runs scoutctl -s sock args...; returns CompletedProcess (text)."""
    cmd = [SCOUTCTL]
    if sock is not None:
        cmd += ["-s", sock]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, **kw)
    probs = sanitizer_problems(p.stderr)
    if probs:
        raise AssertionError("sanitizer report from scoutctl %s: %s\n%s" % (args, probs, p.stderr))
    return p


class Conn:
    """One NDJSON connection to the status socket."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.buf = b""

    def send(self, data):
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode() + b"\n"
        elif isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        """The next reply line as bytes without its newline, or None at EOF."""
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""  # peer closed with our data unread: same as EOF here
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        line = self.readline()
        if line is None:
            raise AssertionError("connection closed before a reply")
        return json.loads(line)

    def request(self, obj):
        self.send(obj)
        return self.reply()

    def at_eof(self):
        """True when the agent closed the connection (after any buffered lines)."""
        if self.buf:
            return False
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError:
            return True
        if chunk:
            self.buf += chunk
            return False
        return True

    def close(self):
        self.sock.close()


_daemon_help = None


def daemon_help():
    """The real scoutd's reply to {"cmd":"help"} (its commands and how to
    show them), asked once per test process from a scoutd started for it:
    scoutctl asks for it before any command, and a fake agent serves it."""
    global _daemon_help
    if _daemon_help is None:
        a = Agent()
        try:
            a.start()
            _daemon_help = a.request({"cmd": "help"})
            if not _daemon_help.get("ok"):
                raise AssertionError("help failed: %r" % _daemon_help)
            a.stop()
        finally:
            a.cleanup()
    return _daemon_help


def as_user(uid, gid, groups, fn):
    """Runs fn() in a forked child with these ids; returns its JSON result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            out = fn()
        except BaseException as e:  # report, never fall back into the test runner
            out = {"exception": repr(e)}
        try:
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def talk(path, cmd="status"):
    """A function for as_user() that connects to the status socket at path,
    sends {"cmd": cmd} and describes what happened."""
    def fn():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            try:
                s.connect(path)
            except OSError as e:
                return {"connect_errno": e.errno}
            try:
                s.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
            except OSError:
                pass  # a refused peer may be closed before its request is read
            buf = b""
            try:
                while b"\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            except OSError as e:
                return {"recv_errno": e.errno, "data": buf.decode("utf-8", "replace")}
            if b"\n" not in buf:
                return {"closed_without_reply": buf.decode("utf-8", "replace")}
            reply = json.loads(buf.split(b"\n")[0])
            out = {"reply": reply}
            if reply.get("ok") is False:
                try:
                    out["eof_after"] = s.recv(65536) == b""
                except ConnectionResetError:
                    out["eof_after"] = True
            return out
    return fn


# What a copy of the source tree needs to build scoutd and scoutctl.
TREE_PARTS = ["meson.build", "meson_options.txt", "src", "packaging", "subprojects"]


def copy_tree(dst):
    """Copies the buildable part of the source tree into dst (created)."""
    os.makedirs(dst, exist_ok=True)
    for name in TREE_PARTS:
        path = os.path.join(TOP, name)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(dst, name), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, dst)


def add_module(tree, name, meson_text, c_text):
    """Adds a module to a copied tree the way an author would: its folder
    (meson.build and NAME.c) and its name on one line of the registry.
    Returns the registry's new lines."""
    folder = os.path.join(tree, "src", "modules", name)
    os.mkdir(folder)
    with open(os.path.join(folder, "meson.build"), "w") as f:
        f.write(meson_text)
    with open(os.path.join(folder, name + ".c"), "w") as f:
        f.write(c_text)
    reg = os.path.join(tree, "src", "modules", "meson.build")
    with open(reg) as f:
        lines = f.read().split("\n")
    start = lines.index("scout_module_names = [")
    lines.insert(lines.index("]", start), "  '%s'," % name)
    with open(reg, "w") as f:
        f.write("\n".join(lines))
    return lines


def build_tree(test, tree, build):
    """Builds scoutd and scoutctl of tree in build (fails test on an error);
    returns their paths."""
    for cmd in (["meson", "setup", build, tree, "--buildtype=plain", "-Dtests=false", "-Dbench=false",
                 "-Dfuzz=false", "-Dwerror=true"], ["ninja", "-C", build, "-j2", "scoutd", "scoutctl"]):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(ENV))
        test.assertEqual(p.returncode, 0, "%s failed:\n%s\n%s" % (cmd[0], p.stdout[-4000:], p.stderr[-4000:]))
    return os.path.join(build, "scoutd"), os.path.join(build, "scoutctl")


class FakeAgent:
    """A status socket server standing in for scoutd: answers each request
    line with answer (the same bytes for every request) or, when answer is
    a dict, with answer[cmd] (a reply object, sent as one line of raw UTF-8
    as jansson writes it, or bytes as they are); "help", unless answer has
    it, gets the real scoutd's help. Records what came in."""

    def __init__(self, path, answer):
        self.path = path
        self.answer = answer
        self.help = daemon_help() if isinstance(answer, dict) and "help" not in answer else None
        self.requests = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def reply_for(self, line):
        if not isinstance(self.answer, dict):
            return self.answer
        try:
            cmd = json.loads(line)["cmd"]
        except ValueError:
            return None
        if cmd == "help" and "help" not in self.answer:
            r = self.help
        else:
            r = self.answer.get(cmd, {"ok": False, "error": {"code": "unknown", "message": "no " + cmd}})
        return r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() + b"\n"

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with c:
                buf = b""
                while b"\n" not in buf:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                self.requests.append(buf)
                r = self.reply_for(buf)
                try:
                    if r:
                        c.sendall(r)
                except OSError:
                    pass

    def close(self):
        try:
            self.srv.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.srv.close()
        self.t.join(5)
        assert not self.t.is_alive(), "fake agent thread did not stop"


class Agent:
    """A scoutd process on its own state directory."""

    def __init__(self, tmp=None, config=None, socket_path=None, state_dir=None, **cfgkw):
        self.tmp = tmp or make_tmpdir()
        self.state_dir = state_dir or os.path.join(self.tmp, "state")
        self.socket = socket_path or os.path.join(self.state_dir, "scoutd.sock")
        self.config_path = os.path.join(self.tmp, "scoutd.conf")
        if config is None:
            config = config_text(self.state_dir, socket_path, **cfgkw)
        self.write_config(config)
        self.proc = None
        self.runs = 0
        self.log_path = None

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    # ---- process -------------------------------------------------------

    def spawn(self, args=None):
        """Starts scoutd without waiting; returns the Popen. Its output goes
        to TMP/scoutd.N.log, which becomes self.log_path."""
        self.runs += 1
        self.log_path = os.path.join(self.tmp, "scoutd.%d.log" % self.runs)
        return self._popen(args, self.log_path)

    def spawn_other(self, name, args=None):
        """Another scoutd on the same files (expected to be refused); returns
        (Popen, log path) and leaves self.proc and self.log_path alone."""
        path = os.path.join(self.tmp, name + ".log")
        return self._popen(args, path), path

    def _popen(self, args, log_path):
        cmd = [SCOUTD, "-c", self.config_path] if args is None else [SCOUTD] + args
        with open(log_path, "wb") as log:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=self.tmp, env=ENV)
        _live.append(p)
        return p

    def start(self, timeout=START_TIMEOUT):
        self.proc = self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        """Waits until the socket answers a version request."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("scoutd exited with %d during start-up:\n%s" % (self.proc.returncode, self.log()))
            try:
                c = Conn(self.socket, timeout=2)
                try:
                    r = c.request({"cmd": "version"})
                finally:
                    c.close()
                if r.get("ok") is True:
                    return
                last = r
            except (OSError, ValueError, AssertionError) as e:
                last = e
            time.sleep(0.02)
        raise AssertionError("scoutd did not answer on %s within %.0f s (%r):\n%s" %
                             (self.socket, timeout, last, self.log()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and returns (exit code, seconds taken); kills it on timeout."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("scoutd did not exit within %.0f s of signal %d:\n%s" % (timeout, sig, self.log()))
        return rc, time.monotonic() - t0

    def kill9(self):
        self.proc.kill()
        self.proc.wait(5)

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    # ---- logs ----------------------------------------------------------

    def log(self, path=None):
        path = path or self.log_path
        if not path or not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def all_logs(self):
        out = []
        for name in sorted(os.listdir(self.tmp)):
            if name.endswith(".log"):
                out.append((name, self.log(os.path.join(self.tmp, name))))
        return out

    # ---- talking -------------------------------------------------------

    def connect(self, timeout=10.0):
        return Conn(self.socket, timeout)

    def request(self, obj):
        c = self.connect()
        try:
            return c.request(obj)
        finally:
            c.close()

    def status(self):
        r = self.request({"cmd": "status"})
        assert r.get("ok") is True, r
        return r["status"]

    def module(self, name="health"):
        for m in self.status()["modules"]:
            if m["name"] == name:
                return m
        raise AssertionError("no module %s in status" % name)

    def ctl(self, *args, **kw):
        return run_scoutctl(self.socket, *args, **kw)

    def wait_for(self, pred, timeout=10.0, what="condition"):
        """Polls status until pred(status) is true; returns that status."""
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.status()
            if pred(st):
                return st
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; last status:\n%s" % (what, json.dumps(st, indent=1)))

    def wait_samples(self, n, timeout=10.0):
        def ok(st):
            h = [m for m in st["modules"] if m["name"] == "health"][0]
            return h["state"] == "running" and h["counters"].get("samples", 0) >= n
        return self.wait_for(ok, timeout, "%d health samples" % n)


class AgentTest(unittest.TestCase):
    """Kills what a test left running and fails on sanitizer reports."""

    def setUp(self):
        self.agents = []
        self._before = set(map(id, _live))

    def agent(self, **kw):
        a = Agent(**kw)
        self.agents.append(a)
        return a

    def tearDown(self):
        for a in self.agents:
            a.cleanup()
        # anything else this test started (a class-wide agent is older)
        _kill_leftovers(lambda p: id(p) not in self._before)
        for a in self.agents:
            for name, text in a.all_logs():
                probs = sanitizer_problems(text)
                if probs:
                    self.fail("sanitizer report in %s/%s: %s\n%s" % (a.tmp, name, probs, text))

    def assertCleanLog(self, agent, path=None):
        text = agent.log(path)
        for bad in ("handle left open", "not empty"):
            self.assertNotIn(bad, text, "scoutd log:\n" + text)
        probs = sanitizer_problems(text)
        self.assertFalse(probs, "sanitizer report: %s\n%s" % (probs, text))


def mdb_entries(state_dir, db):
    """Entries in a named database of the store, via mdb_stat; None if it is not installed."""
    exe = shutil.which("mdb_stat")
    if not exe:
        return None
    p = subprocess.run([exe, "-n", "-s", db, os.path.join(state_dir, "scout.mdb")], capture_output=True,
                       text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("mdb_stat failed (%d): %s%s" % (p.returncode, p.stdout, p.stderr))
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("Entries:"):
            return int(line.split(":", 1)[1])
    raise AssertionError("no Entries line in mdb_stat output:\n" + p.stdout)


EXIT_SKIPPED = 77  # what meson (and automake) count as a skipped test


def exit_code(result):
    """0 when something ran and nothing failed, 1 on any failure, and 77
    (meson: SKIP) when every test was skipped or none ran: a file whose
    checks could not run must not show as passed. Prints each skip and why."""
    for test, why in result.skipped:
        print("SKIP %s: %s" % (test.id() if hasattr(test, "id") else test, why), flush=True)
    if not result.wasSuccessful():
        return 1
    # a class skipped in setUpClass is one entry but no test in testsRun
    ran = result.testsRun - sum(1 for t, _ in result.skipped if isinstance(t, unittest.TestCase))
    if ran <= 0:
        print("every test here was skipped (%d skipped, %d run): exit %d" %
              (len(result.skipped), result.testsRun, EXIT_SKIPPED), flush=True)
        return EXIT_SKIPPED
    if result.skipped:
        print("%d passed, %d skipped" % (ran, len(result.skipped)), flush=True)
    return 0


def main():
    """Runs the calling module's tests verbosely (or those named on the
    command line); exits 0, 1 on failure, or 77 when all were skipped."""
    if not os.access(SCOUTD, os.X_OK) or not os.access(SCOUTCTL, os.X_OK):
        print("scoutd/scoutctl not found: SCOUTD=%s SCOUTCTL=%s" % (SCOUTD, SCOUTCTL), file=sys.stderr)
        sys.exit(1)
    print("scoutd: %s\nscoutctl: %s" % (SCOUTD, SCOUTCTL), flush=True)
    prog = unittest.main(module="__main__", verbosity=2, exit=False, buffer=False)
    _kill_leftovers()
    sys.exit(exit_code(prog.result))
