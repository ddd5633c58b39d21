"""Start and stop: SIGTERM/SIGINT stop cleanly (exit 0, socket removed, no
leftover handles) even with clients connected; kill -9 leaves a stale socket
and an unclean run record that the next start handles; unclean starts in a
row are counted and three make a crash loop, in the log and the status; a
clean stop is recorded; health history persists and is trimmed; a second
agent on the same state_dir or socket is refused; a damaged, truncated or
empty store is refused and left untouched."""

import hashlib
import os
import shutil
import signal
import struct
import subprocess

import scoutlib


def lmdb_db_root(data, name):
    """(root page, page size) of a named database in an LMDB 0.9 file, as
    laid out on a 64-bit little-endian host: the newer meta page's main
    database, a one-page leaf here, holds name -> MDB_db."""
    metas = []
    psize = struct.unpack_from("=I", data, 16 + 24)[0]
    for i in (0, 1):
        off = i * psize + 16
        main_root = struct.unpack_from("=Q", data, off + 24 + 48 + 40)[0]
        txnid = struct.unpack_from("=Q", data, off + 128)[0]
        metas.append((txnid, main_root))
    page = max(metas)[1] * psize
    flags, lower = struct.unpack_from("=HH", data, page + 10)
    assert flags == 0x02, "the table of databases is not a single leaf page"
    for i in range((lower - 16) // 2):
        node = page + struct.unpack_from("=H", data, page + 16 + 2 * i)[0]
        ksize = struct.unpack_from("=H", data, node + 6)[0]
        if bytes(data[node + 8:node + 8 + ksize]) == name:
            return struct.unpack_from("=Q", data, node + 8 + ksize + 40)[0], psize
    raise AssertionError("no database %r in the store" % name)


def wait_exit(proc, timeout=15):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("scoutd was expected to exit but still ran after %d s" % timeout)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Stop(scoutlib.AgentTest):
    def stop_with(self, sig):
        a = self.agent()
        a.start()
        a.wait_samples(1)
        idle = a.connect()                  # connected, sends nothing
        partial = a.connect()
        partial.send(b'{"cmd":"sta')         # half a request
        busy = a.connect()
        busy.send({"cmd": "version"})
        self.assertEqual(busy.reply()["ok"], True)
        a.wait_for(lambda s: s["socket"]["open"] >= 4, 5, "4 open connections")
        rc, took = a.stop(sig)
        self.assertEqual(rc, 0, "exit code after signal %d\n%s" % (sig, a.log()))
        self.assertLess(took, 5.0)
        self.assertFalse(os.path.exists(a.socket), "socket file left behind")
        for c in (idle, partial, busy):
            self.assertTrue(c.at_eof(), "client not disconnected at stop")
            c.close()
        log = a.log()
        self.assertIn("agent: stopping (%s)" % ("SIGTERM" if sig == signal.SIGTERM else "SIGINT"), log)
        self.assertIn("agent: stopped", log)
        self.assertCleanLog(a)
        return a

    def test_sigterm(self):
        self.stop_with(signal.SIGTERM)

    def test_sigint(self):
        self.stop_with(signal.SIGINT)

    def test_stop_right_after_start(self):
        a = self.agent()
        a.start()
        rc, took = a.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, a.log())
        self.assertFalse(os.path.exists(a.socket))
        self.assertCleanLog(a)

    def test_stop_during_reload_requests(self):
        """Reload requests still waiting for a reload that reads its file
        when the agent stops each get one answer, "agent stopping", before
        the socket closes. The shim in slow-open.c holds the reload in
        open() while the flag file exists."""
        a = self.agent()
        flag = os.path.join(a.tmp, "hold-reload")
        env = dict(scoutlib.ENV)
        env["LD_PRELOAD"] = os.environ["SCOUT_SLOW_OPEN_SO"]
        env["SCOUT_SLOW_OPEN"] = a.config_path
        env["SCOUT_SLOW_OPEN_FLAG"] = flag
        # the shim comes before the sanitizer runtimes in an ASan build
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
        saved = dict(scoutlib.ENV)
        scoutlib.ENV.clear()
        scoutlib.ENV.update(env)
        try:
            a.start()
        finally:
            scoutlib.ENV.clear()
            scoutlib.ENV.update(saved)
        open(flag, "w").close()
        try:
            before = a.status()["socket"]["requests"]
            conns = [a.connect() for _ in range(3)]
            for c in conns:
                c.send({"cmd": "reload"})
            polls = [0]  # each status request of the wait counts too

            def all_read(st):
                polls[0] += 1
                return st["socket"]["requests"] >= before + 3 + polls[0]
            a.wait_for(all_read, 30, "the three reload requests to be read")
            self.assertIn("reload: reading", a.log())
            self.assertTrue(os.path.exists(flag))
            a.send_signal(signal.SIGTERM)
            for c in conns:
                r = c.reply()
                self.assertEqual(r, {"ok": False, "reload": {"applied": False, "errors": ["agent stopping"],
                                                             "notes": [], "refused": []}})
                self.assertTrue(c.at_eof(), "more than one answer")
                c.close()
        finally:
            os.unlink(flag)
        rc = a.proc.wait(30)
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)


class Restart(scoutlib.AgentTest):
    def test_kill9_then_clean_restarts(self):
        a = self.agent(health="enabled = yes\ninterval = 1s\nhistory = 3\n")
        have_mdb = shutil.which("mdb_stat") is not None
        if not have_mdb:
            print("\n  (mdb_stat not installed: skipping the history checks; apt-get install lmdb-utils)",
                  flush=True)

        # run 1, killed
        a.start()
        st = a.wait_samples(2)
        self.assertEqual((st["previous_run"], st["starts"]), ("none", 1))
        a.kill9()
        self.assertTrue(os.path.exists(a.socket), "kill -9 leaves the socket file")
        if have_mdb:
            n = scoutlib.mdb_entries(a.state_dir, "health")
            self.assertGreaterEqual(n, 2, "health samples of run 1 were not persisted")
            self.assertLessEqual(n, 3)

        # run 2: the stale socket is replaced, the crash is noticed
        a.start()
        st = a.status()
        self.assertEqual((st["previous_run"], st["starts"]), ("unclean", 2))
        self.assertEqual(st["pid"], a.proc.pid)
        self.assertIn("did not stop cleanly", a.log())
        p = a.ctl("status")
        self.assertRegex(p.stdout, r"(?m)^previous run\s+unclean \(start #2\)$")
        a.wait_samples(2)
        if have_mdb:
            # at least 4 samples written in all, history = 3 keeps the newest 3
            self.assertEqual(scoutlib.mdb_entries(a.state_dir, "health"), 3)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

        # run 3 after a clean stop
        a.start()
        st = a.status()
        self.assertEqual((st["previous_run"], st["starts"]), ("clean", 3))
        self.assertNotIn("did not stop cleanly", a.log())
        if have_mdb:
            self.assertEqual(scoutlib.mdb_entries(a.state_dir, "health"), 3)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

    def test_crash_loop(self):
        a = self.agent()
        a.start()
        st = a.status()
        self.assertEqual((st["unclean_starts"], st["crash_loop"]), (0, False))
        for n in (1, 2, 3):
            a.kill9()
            a.start()
            st = a.status()
            self.assertEqual((st["previous_run"], st["starts"]), ("unclean", n + 1))
            self.assertEqual((st["unclean_starts"], st["crash_loop"]), (n, n >= 3))
            line = "agent: %d unclean starts in a row: a crash loop" % n
            if n >= 3:
                self.assertIn(line, a.log())
            else:
                self.assertNotIn("crash loop", a.log())
        self.assertIn('"unclean_starts":3', a.ctl("status", "--json").stdout.replace(" ", ""))
        self.assertIn("CRASH LOOP, 3 unclean starts in a row", a.ctl("status").stdout)

        # a clean stop ends the loop
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        a.start()
        st = a.status()
        self.assertEqual((st["previous_run"], st["unclean_starts"], st["crash_loop"]), ("clean", 0, False))
        self.assertNotIn("crash loop", a.log())
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

    def test_second_agent_same_state_dir_refused(self):
        a = self.agent()
        a.start()
        ino = os.lstat(a.socket).st_ino
        b, blog = a.spawn_other("second")
        rc = wait_exit(b)
        text = a.log(blog)
        self.assertNotEqual(rc, 0, text)
        self.assertIn("state_dir %s is in use by another scoutd (pid %d)" % (a.state_dir, a.proc.pid), text)
        self.assertTrue(a.alive(), "the first agent died")
        self.assertEqual(os.lstat(a.socket).st_ino, ino, "the second agent touched the first's socket")
        st = a.status()
        self.assertEqual(st["pid"], a.proc.pid)
        with open(os.path.join(a.state_dir, "scoutd.pid")) as f:
            self.assertEqual(f.read(), "%d\n" % a.proc.pid)
        self.assertFalse(scoutlib.sanitizer_problems(text), text)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_second_agent_same_socket_refused(self):
        a = self.agent()
        a.start()
        ino = os.lstat(a.socket).st_ino
        other = os.path.join(a.tmp, "other-state")
        a.write_config(scoutlib.config_text(other, socket_path=a.socket))
        b, blog = a.spawn_other("second")
        rc = wait_exit(b)
        text = a.log(blog)
        self.assertNotEqual(rc, 0, text)
        self.assertIn("%s: another process is listening" % a.socket, text)
        self.assertTrue(a.alive())
        self.assertEqual(os.lstat(a.socket).st_ino, ino)
        self.assertEqual(a.status()["state_dir"], a.state_dir)
        self.assertNotIn("handle left open", text)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())


class DamagedStore(scoutlib.AgentTest):
    def refused(self, a, expect):
        store = os.path.join(a.state_dir, "scout.mdb")
        before = digest(store)
        mtime = os.stat(store).st_mtime_ns
        size = os.path.getsize(store)
        had_lock = os.path.exists(store + "-lock")
        p = a.spawn()
        rc = wait_exit(p)
        text = a.log()
        self.assertNotEqual(rc, 0, text)
        self.assertIn(store, text)
        self.assertIn(expect, text)
        self.assertIn("left untouched", text)
        self.assertEqual(digest(store), before, "the damaged store was modified")
        self.assertEqual(os.path.getsize(store), size)
        self.assertEqual(os.stat(store).st_mtime_ns, mtime)
        if not had_lock:
            self.assertFalse(os.path.exists(store + "-lock"), "lock file left beside a refused store")
        self.assertFalse(os.path.exists(a.socket), "a refused start must not listen")
        self.assertFalse(scoutlib.sanitizer_problems(text), text)

    def test_garbage_store(self):
        a = self.agent()
        os.makedirs(a.state_dir, 0o750)
        garbage = hashlib.sha256(b"scout").digest() * 2048  # 64 KiB of noise
        with open(os.path.join(a.state_dir, "scout.mdb"), "wb") as f:
            f.write(garbage)
        self.refused(a, "not a scout store or damaged")

    def test_short_garbage_store(self):
        a = self.agent()
        os.makedirs(a.state_dir, 0o750)
        with open(os.path.join(a.state_dir, "scout.mdb"), "wb") as f:
            f.write(b"this is not an LMDB file\n")
        self.refused(a, "not a scout store or damaged")

    def test_truncated_store(self):
        a = self.agent()
        a.start()
        a.wait_samples(1)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        store = os.path.join(a.state_dir, "scout.mdb")
        size = os.path.getsize(store)
        self.assertGreater(size, 3 * 4096)
        os.truncate(store, 3 * 4096)  # the two meta pages survive, the data does not
        self.refused(a, "store file is truncated")

    def test_empty_store(self):
        # a store that lost everything is not a new store
        a = self.agent()
        os.makedirs(a.state_dir, 0o750)
        open(os.path.join(a.state_dir, "scout.mdb"), "wb").close()
        self.refused(a, "store file is empty")

    def test_damaged_named_database(self):
        a = self.agent()
        a.start()
        a.wait_samples(2)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        store = os.path.join(a.state_dir, "scout.mdb")
        with open(store, "r+b") as f:
            data = bytearray(f.read())
            root, psize = lmdb_db_root(data, b"health")
            # the first node of the health database's root page now starts
            # 2 bytes before the end of the page
            struct.pack_into("=H", data, root * psize + 16, psize - 2)
            f.seek(0)
            f.write(data)
        self.refused(a, "store is damaged (database 'health': page %d: node 0 at offset %d" % (root, psize - 2))
        self.assertIn("move it aside to start with an empty store, or restore a backup", a.log())


if __name__ == "__main__":
    scoutlib.main()
