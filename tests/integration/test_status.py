"""A running agent: scoutctl status (table and --json), metrics, version,
the socket file's mode, and the embedded default config (./var)."""

import json
import os
import re
import stat

import scoutlib


class Status(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        # one agent for the read-only checks of this class
        cls.a = scoutlib.Agent()
        cls.a.start()
        cls.a.wait_samples(2)

    @classmethod
    def tearDownClass(cls):
        a = cls.a
        try:
            if a.alive():
                rc, took = a.stop()
                assert rc == 0, "exit %d\n%s" % (rc, a.log())
            for name, text in a.all_logs():
                probs = scoutlib.sanitizer_problems(text)
                assert not probs, "sanitizer report in %s: %s\n%s" % (name, probs, text)
        finally:
            a.cleanup()

    def test_status_table(self):
        p = self.a.ctl("status")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertRegex(out, r"(?m)^version\s+\d+\.\d+\.\d+$")
        self.assertRegex(out, r"(?m)^pid\s+%d$" % self.a.proc.pid)
        self.assertRegex(out, r"(?m)^config\s+%s$" % re.escape(os.path.realpath(self.a.config_path)))
        self.assertRegex(out, r"(?m)^state_dir\s+%s$" % re.escape(self.a.state_dir))
        self.assertRegex(out, r"(?m)^socket\s+%s$" % re.escape(self.a.socket))
        self.assertRegex(out, r"(?m)^previous run\s+none \(start #1\)$")
        self.assertRegex(out, r"(?m)^last reload\s+none$")
        self.assertRegex(out, r"(?m)^MODULE\s+ENABLED\s+STATE\s+UPTIME\s+DETAIL$")
        self.assertRegex(out, r"(?m)^health\s+yes\s+running\s+\d+s\s+ok$")
        self.assertRegex(out, r"(?m)^TOPIC\s+PUBLISHED\s+DELIVERED\s+DROPPED\s+REQUESTS\s+REPLIES\s+TIMED_OUT$")
        m = re.search(r"(?m)^health\.report\s+(\d+)\s+(\d+)\s+(\d+)", out)
        self.assertIsNotNone(m, out)
        self.assertGreaterEqual(int(m.group(1)), 2, out)

    def test_status_json(self):
        p = self.a.ctl("status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        st = json.loads(p.stdout)
        self.assertRegex(st["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(st["pid"], self.a.proc.pid)
        self.assertIsInstance(st["uptime_s"], int)
        self.assertGreaterEqual(st["uptime_s"], 0)
        self.assertLess(st["uptime_s"], 120)
        self.assertRegex(st["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(st["config"], os.path.realpath(self.a.config_path))
        self.assertEqual(st["state_dir"], self.a.state_dir)
        self.assertEqual(st["status_socket"], self.a.socket)
        self.assertEqual(st["log_level"], "debug")
        self.assertGreater(st["rss_bytes"], 0)
        self.assertEqual(st["previous_run"], "none")
        self.assertEqual(st["starts"], 1)

        mods = {m["name"]: m for m in st["modules"]}
        self.assertIn("health", mods)
        h = mods["health"]
        self.assertEqual(h["state"], "running")
        self.assertIs(h["enabled"], True)
        self.assertIsNone(h["reason"])
        self.assertGreaterEqual(h["counters"]["samples"], 2)
        self.assertEqual(h["counters"]["store_errors"], 0)
        self.assertIs(h["ok"], True, h)
        self.assertEqual(h["problems"], [])
        self.assertGreater(h["rss_bytes"], 0)
        self.assertGreater(h["disk_total_bytes"], 0)

        bus = st["bus"]
        # every registered module's topics, enabled or not (these modules' at least)
        self.assertLessEqual({"health.report", "health.query", "snmp.device", "snmp.meters", "snmp.alert",
                              "snmp.lookup", "auth.password"}, set(bus))
        for topic, c in bus.items():
            self.assertEqual(set(c), {"published", "delivered", "dropped", "requests", "replies", "timed_out"},
                             topic)
            for v in c.values():
                self.assertIsInstance(v, int)
        self.assertGreaterEqual(bus["health.report"]["published"], 2)
        self.assertGreaterEqual(bus["health.report"]["delivered"], 2)
        self.assertEqual(bus["health.report"]["dropped"], 0)

        store = st["store"]
        self.assertEqual(store["path"], os.path.join(self.a.state_dir, "scout.mdb"))
        self.assertGreater(store["used_bytes"], 0)
        self.assertGreaterEqual(store["map_bytes"], store["used_bytes"])
        self.assertEqual(store["max_bytes"], 4 << 30)
        self.assertEqual(store["file_bytes"], os.path.getsize(store["path"]))

        self.assertEqual(st["reload"], {"ok": 0, "failed": 0, "last": None})
        sock = st["socket"]
        self.assertGreaterEqual(sock["connections"], 1)
        self.assertGreaterEqual(sock["requests"], 1)
        self.assertEqual(sock["denied"], 0)
        self.assertGreaterEqual(sock["open"], 1)

    def test_samples_advance(self):
        n0 = self.a.module()["counters"]["samples"]
        st = self.a.wait_samples(n0 + 1, timeout=5)
        self.assertGreater(st["uptime_s"], 0)

    def test_metrics(self):
        p = self.a.ctl("metrics")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout
        m = re.search(r'(?m)^scout_bus_published_total\{topic="health\.report"\} (\d+)$', text)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(1)), 2)
        self.assertRegex(text, r'(?m)^scout_info\{version="\d+\.\d+\.\d+"\} 1$')
        self.assertRegex(text, r'(?m)^scout_module_up\{module="health",state="running"\} 1$')
        self.assertRegex(text, r"(?m)^scout_rss_bytes [1-9]\d*$")
        self.assertRegex(text, r"(?m)^scout_health_samples [1-9]\d*$")
        self.assertRegex(text, r'(?m)^scout_reloads_total\{result="failed"\} 0$')
        # every line is a comment or "name{labels} number"
        for line in text.splitlines():
            if line.startswith("#"):
                self.assertRegex(line, r"^# (HELP|TYPE) scout_[a-z0-9_]+ ")
            else:
                self.assertRegex(line, r'^scout_[a-z0-9_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')

    def test_version(self):
        p = self.a.ctl("version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^scoutd \d+\.\d+\.\d+\n$")
        r = self.a.request({"cmd": "version"})
        self.assertEqual(r, {"ok": True, "version": p.stdout.split()[1]})

    def test_socket_mode(self):
        st = os.lstat(self.a.socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660, oct(st.st_mode))
        self.assertEqual(st.st_mode & 0o007, 0, "socket must not be world-accessible")
        self.assertEqual(st.st_gid, os.getegid())
        d = os.stat(self.a.state_dir)
        self.assertEqual(stat.S_IMODE(d.st_mode), 0o750, "state_dir is created 0750")
        with open(os.path.join(self.a.state_dir, "scoutd.pid")) as f:
            pid = f.read()
        self.assertEqual(pid, "%d\n" % self.a.proc.pid)


class EmbeddedDefault(scoutlib.AgentTest):
    def test_no_config_runs_under_dot_var(self):
        a = self.agent()
        a.socket = os.path.join(a.tmp, "var", "scoutd.sock")
        a.proc = a.spawn(args=[])  # cwd is a.tmp
        a.wait_ready()
        st = a.status()
        self.assertEqual(st["config"], "<embedded default>")
        self.assertEqual(st["state_dir"], "./var")
        self.assertEqual(st["status_socket"], "./var/scoutd.sock")
        self.assertTrue(os.path.exists(os.path.join(a.tmp, "var", "scout.mdb")))
        # scoutctl's default socket is ./var/scoutd.sock relative to its cwd
        p = scoutlib.run_scoutctl(None, "version", cwd=a.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        # reloading re-reads the embedded config
        p = scoutlib.run_scoutctl(None, "reload", cwd=a.tmp)
        self.assertEqual((p.returncode, p.stdout), (0, "reload applied\n"), p.stderr)
        self.assertIn("reload: applied <embedded default>", a.log())
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertFalse(os.path.exists(a.socket))
        self.assertCleanLog(a)


if __name__ == "__main__":
    scoutlib.main()
