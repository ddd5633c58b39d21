"""Issue 7, the agent core: what a careless operator, a hostile local user
or a crowd of clients could do to scoutd itself.

  9  file descriptors: with a low RLIMIT_NOFILE every client still gets a
     reply or a clean "busy" line, scoutd raises its soft limit to the hard
     one, a reload works with the socket full, idle connections close, and
     an SNMPv3 session whose socket is numbered past 1024 still reads
 10  clients that never read their replies cannot grow scoutd's memory
     without bound, nor keep others from being answered
 12  a FIFO as the config file neither hangs --check-config, start-up, a
     reload, nor the stop after it
 13  CR-only line endings and text after ']' on a section line are errors
     with FILE:LINE, not silently ignored
 14  with status_group empty, a setgid socket directory does not hand the
     socket (and status access) to the directory's group
 15  a symlink at STATE_DIR/scoutd.pid is refused, not followed; a state
     directory others may write to, or owned by another user, is refused

Needs root for 14 and parts of 15 (skipped otherwise)."""

import errno
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time

import scoutlib
from scoutlib import SCOUTD, ENV

sys.path.insert(0, os.path.join(os.path.dirname(scoutlib.HERE), "snmp"))
import peers  # noqa: E402  (tests/snmp: net-snmp's snmpd as a peer)

NOBODY = 65534
OTHER_GID = 54321  # a group nobody else uses


def raise_own_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            return False
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return True


def proc_limits(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return int(parts[3]), int(parts[4])
    raise AssertionError("no 'Max open files' in /proc/%d/limits" % pid)


def proc_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/%d/status" % pid)


class LimitedAgent(scoutlib.Agent):
    """A scoutd started with RLIMIT_NOFILE (soft, hard) and extra env."""

    def __init__(self, nofile=None, env=None, **kw):
        super().__init__(**kw)
        self.nofile = nofile
        self.env = env

    def _popen(self, args, log_path):
        cmd = [SCOUTD, "-c", self.config_path] if args is None else [SCOUTD] + args
        nofile = self.nofile

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        with open(log_path, "wb") as log:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=self.tmp, env=self.env or ENV, preexec_fn=limit)
        scoutlib._live.append(p)
        return p


def client_outcome(path, timeout=20):
    """Connects, asks for the version, and says what came back: ("ok", conn)
    for a served client (left open), ("busy", None) for a clean refusal
    line, or ("nothing", detail) for a client reset without a reply."""
    try:
        c = scoutlib.Conn(path, timeout=timeout)
    except OSError as e:
        return "nothing", "connect: %s" % e
    try:
        try:
            c.send({"cmd": "version"})
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused already: the refusal line is still there to read
        line = c.readline()
    except OSError as e:
        c.close()
        return "nothing", "recv: %s" % e
    if line is None:
        c.close()
        return "nothing", "closed without a reply"
    r = json.loads(line)
    if r.get("ok") is True:
        return "ok", c
    c.close()
    if r.get("ok") is False and r.get("error", {}).get("code") == "busy":
        return "busy", r
    return "nothing", r


class FileDescriptors(scoutlib.AgentTest):
    """Point 9."""

    def setUp(self):
        super().setUp()
        if not raise_own_nofile(4096):
            self.skipTest("this test process cannot open 4096 files")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        super().tearDown()

    def agent_with(self, nofile, **kw):
        a = LimitedAgent(nofile=nofile, **kw)
        self.agents.append(a)
        return a

    def crowd(self, a, n):
        """n clients, each kept open when served; returns counts."""
        counts = {"ok": 0, "busy": 0, "nothing": 0}
        failures = []
        for i in range(n):
            what, detail = client_outcome(a.socket)
            counts[what] += 1
            if what == "ok":
                self.conns.append(detail)
            elif what == "nothing" and len(failures) < 5:
                failures.append((i, detail))
        return counts, failures

    def test_soft_limit_raised_to_hard(self):
        a = self.agent_with((256, 4096))
        a.start()
        self.assertEqual(proc_limits(a.proc.pid), (4096, 4096), "scoutd keeps the soft limit it was given")
        counts, failures = self.crowd(a, 1100)
        self.assertEqual(counts["nothing"], 0, "clients got no reply: %r; counts %r\n%s" % (failures, counts, a.log()))
        self.assertEqual(counts["ok"], 1024, counts)
        self.assertEqual(counts["busy"], 76, counts)
        # a served client can still reload, and the reload opens the file
        r = self.conns[0].request({"cmd": "reload"})
        self.assertIs(r["ok"], True, r)
        self.assertIs(r["reload"]["applied"], True, r)
        self.assertIn("busy", a.log())  # the refusals were logged
        for c in self.conns:
            c.close()
        self.conns = []
        a.wait_for(lambda s: s["socket"]["open"] == 1, 20, "the crowd to go")
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

    def test_low_hard_limit_busy_not_reset_and_reload_works(self):
        a = self.agent_with((200, 200))
        a.start()
        counts, failures = self.crowd(a, 300)
        self.assertEqual(counts["nothing"], 0, "clients got no reply: %r; counts %r\n%s" % (failures, counts, a.log()))
        self.assertGreater(counts["ok"], 0, counts)
        self.assertGreater(counts["busy"], 0, counts)
        # the refusals are logged, but not once per client
        log = a.log()
        self.assertIn("busy", log)
        self.assertLess(log.count("busy"), 10, log[-3000:])
        # reload with every slot taken: over a served connection, and by SIGHUP
        r = self.conns[0].request({"cmd": "reload"})
        self.assertIs(r["ok"], True, r)
        self.assertIs(r["reload"]["applied"], True, (r, a.log()))
        a.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        st = None
        while time.monotonic() < deadline:
            st = self.conns[1].request({"cmd": "status"})["status"]
            if st["reload"]["ok"] + st["reload"]["failed"] >= 2:
                break
            time.sleep(0.1)
        self.assertEqual((st["reload"]["ok"], st["reload"]["failed"]), (2, 0), (st["reload"], a.log()))
        self.assertNotIn("Too many open files", a.log())
        for c in self.conns:
            c.close()
        self.conns = []
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

    def test_snmpv3_socket_above_1024(self):
        # with the limit raised, an SNMPv3 session's socket can be numbered
        # 1024 or more, past what an fd_set holds
        ip = "127.0.0.174"
        try:
            snmpd = peers.Snmpd(ip).start()
        except (RuntimeError, OSError) as e:
            self.skipTest("no snmpd: %s" % e)
        port = snmpd.port
        try:
            a = self.agent_with((256, 4096))
            a.write_config(scoutlib.config_text(a.state_dir, health="enabled = no\n") + (
                "\n[snmp]\nenabled = yes\nranges = %s\nversion = 3\nv3_user = %s\nv3_auth = sha\n"
                "v3_auth_password = %s\nv3_priv = aes\nv3_priv_password = %s\nport = %d\ntimeout_ms = 1000\n"
                "retries = 1\ndiscovery_interval = 0\n"
                % (ip, peers.Snmpd.V3_USER, peers.Snmpd.V3_AUTH, peers.Snmpd.V3_PRIV, port)))
            a.start()
            counts, failures = self.crowd(a, 1015)
            self.assertEqual(counts["ok"], 1015, (counts, failures))
            p = a.ctl("scan", "--wait", timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr + a.log())
            self.assertIn("1 answered", p.stdout, a.log()[-3000:])
            for c in self.conns:
                c.close()
            self.conns = []
            rc, took = a.stop()
            self.assertEqual(rc, 0, a.log())
            self.assertCleanLog(a)
        finally:
            snmpd.stop()

    def test_idle_connections_close(self):
        a = self.agent(agent_extra="status_idle_timeout = 1s\n")
        a.start()
        idle = a.connect(timeout=30)
        busy = a.connect(timeout=30)
        try:
            t0 = time.monotonic()
            # one keeps talking, more often than the timeout
            while time.monotonic() - t0 < 3:
                self.assertIs(busy.request({"cmd": "version"})["ok"], True)
                time.sleep(0.3)
            self.assertTrue(idle.at_eof(), "an idle connection stays open")
            self.assertIs(busy.request({"cmd": "version"})["ok"], True)
        finally:
            idle.close()
            busy.close()
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_idle_timeout_option_checked(self):
        a = self.agent(agent_extra="status_idle_timeout = 0s\n")
        p = subprocess.run([SCOUTD, "--check-config", "-c", a.config_path], capture_output=True, text=True,
                           timeout=30, env=ENV)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("status_idle_timeout", p.stdout)


class QueuedReplies(scoutlib.AgentTest):
    """Point 10."""

    def test_clients_that_never_read_cannot_grow_memory(self):
        if not raise_own_nofile(1024):
            self.skipTest("this test process cannot open 1024 files")
        env = dict(ENV)
        # a small quarantine, so that an ASan build measures what scoutd holds
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8"
        a = LimitedAgent(env=env)
        self.agents.append(a)
        a.start()
        time.sleep(0.5)
        rss0 = proc_rss(a.proc.pid)
        hogs = []
        req = b'{"cmd":"status"}\n' * 2000
        try:
            for i in range(300):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(a.socket)
                s.setblocking(False)
                try:
                    s.send(req)
                except BlockingIOError:
                    pass
                hogs.append(s)
            # wait until scoutd has done what it will with them
            last, stable_since, peak, probes = None, time.monotonic(), rss0, 0
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                st = a.status()  # answered within Conn's 10 s: the hogs do not hold the loop
                probes += 1
                peak = max(peak, proc_rss(a.proc.pid))
                key = st["socket"]["requests"] - probes
                if key != last:
                    last, stable_since = key, time.monotonic()
                elif time.monotonic() - stable_since > 2:
                    break
                time.sleep(0.2)
            st = a.status()
            grew = peak - rss0
            self.assertLessEqual(st["socket"]["queued_bytes"], 32 << 20, st["socket"])
            self.assertLess(grew, 160 << 20, "RSS grew by %d MiB for 300 clients that do not read (%r)" %
                            (grew >> 20, st["socket"]))
            self.assertIn("unread", a.log())
        finally:
            for s in hogs:
                s.close()
        a.wait_for(lambda s: s["socket"]["open"] == 1, 30, "the hogs' connections to close")
        self.assertEqual(a.status()["socket"]["queued_bytes"], 0)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)


class FifoConfig(scoutlib.AgentTest):
    """Point 12."""

    def fifo(self, tmp):
        path = os.path.join(tmp, "fifo.conf")
        os.mkfifo(path)
        return path

    def test_check_config_on_fifo(self):
        tmp = scoutlib.make_tmpdir()
        path = self.fifo(tmp)
        try:
            p = subprocess.run([SCOUTD, "--check-config", "-c", path], capture_output=True, text=True,
                               timeout=10, env=ENV)
        except subprocess.TimeoutExpired:
            self.fail("--check-config blocks on a FIFO")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "%s: not a regular file\n" % path)

    def test_start_on_fifo(self):
        a = self.agent()
        os.unlink(a.config_path)
        os.mkfifo(a.config_path)
        p = a.spawn()
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("scoutd blocks at start-up on a FIFO config")
        self.assertEqual(rc, 1)
        self.assertIn("%s: not a regular file" % a.config_path, a.log())

    def test_reload_then_stop_with_fifo(self):
        a = self.agent()
        a.start()
        os.unlink(a.config_path)
        os.mkfifo(a.config_path)
        a.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        rc, took = a.stop(timeout=5)  # fails the test if it takes longer
        log = a.log()
        self.assertIn("not a regular file", log)
        self.assertIn("reload: rejected", log)
        self.assertEqual(rc, 0, log)

    def test_reload_on_fifo_is_rejected(self):
        a = self.agent()
        a.start()
        os.unlink(a.config_path)
        os.mkfifo(a.config_path)
        c = a.connect(timeout=10)
        try:
            r = c.request({"cmd": "reload"})
        finally:
            c.close()
        self.assertIs(r["ok"], False, r)
        self.assertEqual(r["reload"]["errors"], ["%s: not a regular file" % a.config_path])
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())


class ConfigSyntax(scoutlib.AgentTest):
    """Point 13."""

    def check(self, text, name="c.conf"):
        tmp = scoutlib.make_tmpdir()
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(text)
        p = subprocess.run([SCOUTD, "--check-config", "-c", path], capture_output=True, text=True, timeout=30,
                           env=ENV)
        return path, p

    def test_cr_only_line_endings(self):
        path, p = self.check(b"[agent]\rstate_dir = /tmp/scout-cr\rlog_level = bogus\r")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(p.stdout.splitlines(),
                         ["%s:1: carriage return inside a line (a file with CR-only line endings?); "
                          "end lines with LF or CRLF" % path])

    def test_cr_only_after_good_lines(self):
        path, p = self.check(b"[agent]\nlog_level = info\n[health]\rinterval = 5s\r")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(p.stdout.splitlines(),
                         ["%s:3: carriage return inside a line (a file with CR-only line endings?); "
                          "end lines with LF or CRLF" % path])

    def test_text_after_section(self):
        path, p = self.check(b"; ok\n[agent] state_dir = /tmp/elsewhere\nlog_level = info\n")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(p.stdout.splitlines(),
                         ["%s:2: syntax error: text after ']' ('state_dir = /tmp/elsewhere'); "
                          "put it on a line of its own" % path])

    def test_comment_after_section_is_fine(self):
        path, p = self.check(b"[agent]   ; the core\n[health] # self-checks\ninterval = 5s\n")
        self.assertEqual((p.returncode, p.stdout), (0, ""))

    def test_crlf_still_fine(self):
        path, p = self.check(b"[agent]\r\nlog_level = warn\r\n\r\n[health]\r\ninterval = 5s\r\n")
        self.assertEqual((p.returncode, p.stdout), (0, ""))

    def test_scoutd_refuses_to_start(self):
        a = self.agent()
        with open(a.config_path, "w") as f:
            f.write("[agent] state_dir = %s\n" % a.state_dir)
        p = a.spawn()
        self.assertEqual(p.wait(15), 1)
        self.assertIn("%s:1: syntax error: text after ']'" % a.config_path, a.log())


class SocketGroup(scoutlib.AgentTest):
    """Point 14."""

    def test_setgid_directory_does_not_pick_the_group(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to make a directory of another group")
        tmp = scoutlib.make_tmpdir(0o755)
        sockdir = os.path.join(tmp, "run")
        os.mkdir(sockdir)
        os.chown(sockdir, 0, OTHER_GID)
        os.chmod(sockdir, 0o2755)  # files made here take OTHER_GID
        sock = os.path.join(sockdir, "scoutd.sock")
        a = self.agent(tmp=tmp, socket_path=sock)
        a.start()
        st = os.lstat(sock)
        self.assertEqual(st.st_gid, os.getegid(), "the socket's group is not scoutd's own")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        # a member of the directory's group only is not let in
        res = scoutlib.as_user(NOBODY, OTHER_GID, [], scoutlib.talk(sock, "version"))
        self.assertNotIn("reply", res, res)
        self.assertEqual(res, {"connect_errno": errno.EACCES}, res)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())


class StateDir(scoutlib.AgentTest):
    """Point 15."""

    def test_symlink_at_pid_file_is_refused(self):
        a = self.agent()
        os.makedirs(a.state_dir, 0o750)
        victim = os.path.join(a.tmp, "precious")
        with open(victim, "w") as f:
            f.write("do not truncate me\n")
        pid_path = os.path.join(a.state_dir, "scoutd.pid")
        os.symlink(victim, pid_path)
        p = a.spawn()
        rc = p.wait(15)
        with open(victim) as f:
            self.assertEqual(f.read(), "do not truncate me\n", "scoutd wrote through the symlink")
        self.assertEqual(rc, 1, a.log())
        self.assertIn("%s is a symbolic link" % pid_path, a.log())
        self.assertTrue(os.path.islink(pid_path))

    def test_dangling_symlink_at_pid_file_is_refused(self):
        a = self.agent()
        os.makedirs(a.state_dir, 0o750)
        target = os.path.join(a.tmp, "created-through-link")
        pid_path = os.path.join(a.state_dir, "scoutd.pid")
        os.symlink(target, pid_path)
        p = a.spawn()
        self.assertEqual(p.wait(15), 1, a.log())
        self.assertFalse(os.path.exists(target), "scoutd created a file through the symlink")
        self.assertIn("%s is a symbolic link" % pid_path, a.log())

    def test_world_writable_state_dir_is_refused(self):
        a = self.agent()
        os.makedirs(a.state_dir)
        os.chmod(a.state_dir, 0o777)
        p = a.spawn()
        self.assertEqual(p.wait(15), 1, a.log())
        self.assertIn("state_dir %s is writable by its group or others (mode 0777)" % a.state_dir, a.log())
        self.assertIn("chmod go-w %s" % a.state_dir, a.log())
        self.assertFalse(os.path.exists(os.path.join(a.state_dir, "scoutd.pid")))

    def test_group_writable_state_dir_is_refused(self):
        a = self.agent()
        os.makedirs(a.state_dir)
        os.chmod(a.state_dir, 0o770)
        p = a.spawn()
        self.assertEqual(p.wait(15), 1, a.log())
        self.assertIn("(mode 0770)", a.log())

    def test_state_dir_of_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a directory to another user")
        a = self.agent()
        os.makedirs(a.state_dir, 0o750)
        os.chown(a.state_dir, NOBODY, 0)
        p = a.spawn()
        self.assertEqual(p.wait(15), 1, a.log())
        self.assertIn("state_dir %s is owned by uid %d, not by scoutd's user (uid %d) or root" %
                      (a.state_dir, NOBODY, os.geteuid()), a.log())

    def test_good_state_dir_still_starts(self):
        a = self.agent()
        a.start()  # created by scoutd, 0750
        st = os.stat(a.state_dir)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o750)
        pid_path = os.path.join(a.state_dir, "scoutd.pid")
        with open(pid_path) as f:
            self.assertEqual(f.read(), "%d\n" % a.proc.pid)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        # a second start reuses the regular pid file
        a.start()
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())


if __name__ == "__main__":
    scoutlib.main()
