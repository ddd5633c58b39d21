"""Reload: SIGHUP or "scoutctl reload" re-reads the file; a bad file is
rejected as a whole (the agent keeps running on the old config and reports
FILE:LINE errors), a good one is applied (modules disabled, re-enabled,
retuned), and changes that need a restart come back as notes."""

import os
import signal

import scoutlib


class Reload(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        self.a = self.agent()
        self.a.start()
        self.path = os.path.realpath(self.a.config_path)

    def good(self, health="enabled = yes\ninterval = 1s\n", **kw):
        return scoutlib.config_text(self.a.state_dir, health=health, **kw)

    def broken(self):
        # line 8: bad value, line 9: unknown key, line 10: syntax error
        text = self.good(health="enabled = yes\ninterval = 1s\nhistory = -3\nfrobnicate = 1\noops\n")
        lines = text.splitlines()
        assert lines[7] == "history = -3" and lines[9] == "oops", lines
        return text

    BROKEN_ERRORS = [
        "8: [health] history: '-3' is not valid (expected a whole number from 1 to 1000000)",
        "9: [health] unknown key 'frobnicate'",
        "10: syntax error: expected [section], key = value or a comment",
    ]

    def expected_errors(self):
        return ["%s:%s" % (self.path, e) for e in self.BROKEN_ERRORS]

    def test_sighup_bad_file_keeps_running(self):
        a = self.a
        a.wait_samples(1)
        a.write_config(self.broken())
        a.send_signal(signal.SIGHUP)
        st = a.wait_for(lambda s: s["reload"]["last"] is not None, 10, "the reload to finish")
        self.assertTrue(a.alive(), a.log())
        last = st["reload"]["last"]
        self.assertIs(last["ok"], False)
        self.assertEqual(last["errors"], self.expected_errors())
        self.assertRegex(last["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual((st["reload"]["ok"], st["reload"]["failed"]), (0, 1))
        # still on the old config: health runs and keeps sampling
        h = [m for m in st["modules"] if m["name"] == "health"][0]
        self.assertEqual(h["state"], "running")
        a.wait_samples(h["counters"]["samples"] + 1, timeout=5)
        self.assertIn("reload: rejected", a.log())
        # the table shows the failure and its lines
        p = a.ctl("status")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^last reload\s+\S+ FAILED, 3 problems \(still on the previous config\)$")
        for e in self.expected_errors():
            self.assertIn("  " + e + "\n", p.stdout)
        # metrics count it
        p = a.ctl("metrics")
        self.assertIn('scout_reloads_total{result="failed"} 1\n', p.stdout)

    def test_scoutctl_reload_bad_then_fixed(self):
        a = self.a
        a.write_config(self.broken())
        p = a.ctl("reload")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("reload rejected; scoutd keeps running on the previous configuration", p.stderr)
        for e in self.expected_errors():
            self.assertIn("  " + e + "\n", p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertTrue(a.alive())
        self.assertEqual(a.module()["state"], "running")

        # the raw reply: ok false, reload.applied false with the errors
        r = a.request({"cmd": "reload"})
        self.assertIs(r["ok"], False)
        self.assertIs(r["reload"]["applied"], False)
        self.assertEqual(r["reload"]["errors"], self.expected_errors())

        # fixed: health disabled
        a.write_config(self.good(health="enabled = no\n"))
        p = a.ctl("reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "reload applied\n")
        st = a.wait_for(lambda s: s["modules"][0]["state"] == "disabled", 5, "health to be disabled")
        h = st["modules"][0]
        self.assertEqual(h["name"], "health")
        self.assertIs(h["enabled"], False)
        self.assertEqual((st["reload"]["ok"], st["reload"]["failed"]), (1, 2))
        self.assertIs(st["reload"]["last"]["ok"], True)
        self.assertEqual(st["reload"]["last"]["errors"], [])
        p = a.ctl("status")
        self.assertRegex(p.stdout, r"(?m)^health\s+no\s+disabled\s+-\s+-$")
        self.assertRegex(p.stdout, r"(?m)^last reload\s+\S+ ok$")
        p = a.ctl("metrics")
        self.assertIn('scout_module_up{module="health",state="disabled"} 0\n', p.stdout)

        # enabled again by SIGHUP: the module starts a second time and samples
        a.write_config(self.good(health="enabled = yes\ninterval = 1s\n"))
        a.send_signal(signal.SIGHUP)
        st = a.wait_for(lambda s: s["reload"]["ok"] == 2, 10, "the second good reload")
        st = a.wait_samples(1, timeout=5)
        h = st["modules"][0]
        self.assertEqual((h["state"], h["enabled"], h["starts"]), ("running", True, 2))

        # stops cleanly after all that
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

    def test_config_file_removed(self):
        a = self.a
        os.unlink(a.config_path)
        a.send_signal(signal.SIGHUP)
        st = a.wait_for(lambda s: s["reload"]["last"] is not None, 10, "the reload to finish")
        self.assertEqual(st["reload"]["last"]["errors"], ["%s: cannot open: No such file or directory" % self.path])
        self.assertEqual(st["modules"][0]["state"], "running")
        p = a.ctl("reload")
        self.assertEqual(p.returncode, 1)
        self.assertIn("  %s: cannot open: No such file or directory\n" % self.path, p.stderr)

    def test_reload_notes_and_log_level(self):
        a = self.a
        other = os.path.join(a.tmp, "elsewhere")
        a.write_config(scoutlib.config_text(other, log_level="warn"))
        p = a.ctl("reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("reload applied\n", p.stdout)
        self.assertIn("  note: [agent] state_dir: change from '%s' to '%s' takes effect at the next start\n"
                      % (a.state_dir, other), p.stdout)
        st = a.status()
        self.assertEqual(st["log_level"], "warn")
        self.assertEqual(st["state_dir"], a.state_dir, "state_dir changes only at the next start")
        self.assertEqual(len(st["reload"]["last"]["notes"]), 2, st["reload"]["last"])  # state_dir, status_socket
        self.assertFalse(os.path.exists(other))

    def test_reload_storm(self):
        """Many SIGHUPs and reload requests at once: every request is
        answered, the agent settles and still stops cleanly."""
        a = self.a
        conns = [a.connect() for _ in range(5)]
        for c in conns:
            c.send({"cmd": "reload"})
        for _ in range(20):
            a.send_signal(signal.SIGHUP)
        for c in conns:
            r = c.reply()
            self.assertIs(r["ok"], True, r)
            self.assertIs(r["reload"]["applied"], True, r)
            c.close()
        st = a.wait_for(lambda s: s["reload"]["failed"] == 0 and s["reload"]["ok"] >= 1, 5, "reloads")
        self.assertEqual(st["modules"][0]["state"], "running")
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)


if __name__ == "__main__":
    scoutlib.main()
