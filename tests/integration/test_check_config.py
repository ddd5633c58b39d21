"""scoutd --check-config: exit 0 and silence for a good file, exit 1 and one
exact FILE:LINE: line per problem otherwise; scoutd refuses to start on a
bad file with the same messages; nothing is created by a check."""

import os
import subprocess

import scoutlib
from scoutlib import SCOUTD, ENV


def check(path=None, cwd=None):
    args = [SCOUTD, "--check-config"] + (["-c", path] if path else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=30, env=ENV, cwd=cwd)
    probs = scoutlib.sanitizer_problems(p.stderr)
    assert not probs, "sanitizer report: %s\n%s" % (probs, p.stderr)
    return p


class CheckConfig(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        self.tmp = scoutlib.make_tmpdir()

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assertProblems(self, path, expected):
        p = check(path)
        got = p.stdout.splitlines()
        self.assertEqual(got, ["%s:%s" % (path, e) for e in expected],
                         "stdout:\n%s\nstderr:\n%s" % (p.stdout, p.stderr))
        self.assertEqual(p.returncode, 1)

    def test_good_file_is_silent(self):
        state = os.path.join(self.tmp, "state")
        path = self.write("good.ini", "; a comment\n# another\n[agent]\nstate_dir = %s\nlog_level = warn\n"
                          "store_max_size = 64M\n\n[health]\nenabled = yes\ninterval = 1s\nmin_free_disk = 1M\n"
                          "max_loop_lag = 250ms\nmax_rss = 1G\nhistory = 10\n" % state)
        p = check(path)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "", ""))
        self.assertFalse(os.path.exists(state), "--check-config must not create state_dir")

    def test_embedded_default_is_good(self):
        p = check(None, cwd=self.tmp)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "", ""))
        self.assertEqual(os.listdir(self.tmp), [], "--check-config must not create ./var")

    def test_many_problems_each_on_its_line(self):
        path = self.write("bad.ini",
                          "[agent]\n"                 # 1
                          "state_dir = /tmp/x\n"      # 2
                          "bogus = 1\n"               # 3 unknown key
                          "log_level = loud\n"        # 4 bad value
                          "log_level = info\n"        # 5 duplicate
                          "[nope]\n"                  # 6 unknown section
                          "foo = bar\n"               # 7 (inside unknown section: not reported again)
                          "[health]\n"                # 8
                          "interval = 5 parsecs\n"    # 9 bad value
                          "this is not a line\n"      # 10 syntax
                          "[broken\n"                 # 11 syntax
                          "history = 0\n"             # 12 out of range
                          "intervall = 2s\n"          # 13 typo
                          "enabled = maybe\n")        # 14 bad bool
        self.assertProblems(path, [
            "3: [agent] unknown key 'bogus'",
            "4: [agent] log_level: 'loud' is not valid (expected one of error, warn, info, debug)",
            "5: [agent] log_level is set twice (first at line 4)",
            "6: unknown section [nope] (known: agent, health, snmp, users, ipp)",
            "9: [health] interval: '5 parsecs' is not valid (expected a duration from 1000ms to 3600s "
            "(e.g. 500ms, 30s, 5m, 1h))",
            "10: syntax error: expected [section], key = value or a comment",
            "11: syntax error: '[' without ']'",
            "12: [health] history: '0' is not valid (expected a whole number from 1 to 1000000)",
            "13: [health] unknown key 'intervall' (did you mean 'interval'?)",
            "14: [health] enabled: 'maybe' is not valid (expected yes or no)",
        ])

    def test_more_problems(self):
        long_sock = "/tmp/" + "s" * 120
        path = self.write("bad2.ini",
                          "state_dir = /tmp/y\n"                       # 1 outside any section
                          "[agent]\n"                                  # 2
                          "status_socket = %s\n"                       # 3 too long (cross-key check)
                          "[health]\n"                                 # 4
                          "max_rss = lots\n"                           # 5 bad size
                          "max_loop_lag = 5ms\n"                       # 6 below minimum
                          "min_free_disk = 1M\n"                       # 7 fine
                          "min_free_disk = 2M\n" % long_sock)          # 8 duplicate
        self.assertProblems(path, [
            "1: 'state_dir' is outside any section; put it under a [section]",
            "3: [agent] status_socket: socket path '%s' is longer than 107 bytes" % long_sock,
            "5: [health] max_rss: 'lots' is not valid (expected a size such as 512K, 100M or 2G)",
            "6: [health] max_loop_lag: '5ms' is not valid (expected a duration from 10ms to 60s "
            "(e.g. 500ms, 30s, 5m, 1h))",
            "8: [health] min_free_disk is set twice (first at line 7)",
        ])

    def test_missing_file_is_named(self):
        path = os.path.join(self.tmp, "does-not-exist.ini")
        p = check(path)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "%s: cannot open: No such file or directory\n" % path)

    def test_directory_is_not_a_config(self):
        p = check(self.tmp)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "%s: not a regular file\n" % self.tmp)

    def test_bad_file_refuses_to_start(self):
        state = os.path.join(self.tmp, "state")
        path = self.write("bad.ini", "[agent]\nstate_dir = %s\n[health]\ninterval = never\n" % state)
        log = os.path.join(self.tmp, "scoutd.log")
        with open(log, "wb") as f:
            p = subprocess.run([SCOUTD, "-c", path], stdout=f, stderr=subprocess.STDOUT, timeout=30, env=ENV,
                               cwd=self.tmp)
        with open(log) as f:
            text = f.read()
        self.assertEqual(p.returncode, 1, text)
        self.assertIn("%s:4: [health] interval: 'never' is not valid" % os.path.realpath(path), text)
        self.assertIn("not started", text)
        self.assertFalse(os.path.exists(state), "a refused config must not create state_dir")
        self.assertFalse(scoutlib.sanitizer_problems(text), text)


if __name__ == "__main__":
    scoutlib.main()
