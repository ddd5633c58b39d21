"""Logging: under systemd (JOURNAL_STREAM names scoutd's stderr) each line is
"<priority>message", so journald keeps the level; on a terminal or file it
carries a timestamp and the level's name instead."""

import os
import re
import subprocess
import time

import scoutlib


class Journal(scoutlib.AgentTest):
    def run_with(self, journal):
        a = self.agent()
        log = os.path.join(a.tmp, "stderr.log")
        with open(log, "wb") as f:
            st = os.fstat(f.fileno())
            env = dict(scoutlib.ENV)
            if journal == "match":
                env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
            elif journal == "other":
                env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + 1)
            p = subprocess.Popen([scoutlib.SCOUTD, "-c", a.config_path], stdout=f, stderr=f, env=env,
                                 stdin=subprocess.DEVNULL, cwd=a.tmp)
        scoutlib._live.append(p)
        a.proc = p
        a.log_path = log
        a.wait_ready()
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        with open(log) as f:
            return [line for line in f.read().splitlines() if line]

    def test_journal_prefixes(self):
        lines = self.run_with("match")
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[3467]>")
        self.assertTrue(any(line.startswith("<6>agent: scoutd") for line in lines), lines)

    def test_plain_stderr(self):
        for mode in ("none", "other"):
            lines = self.run_with(mode)
            for line in lines:
                self.assertRegex(line, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (error|warn |info |debug) ")


if __name__ == "__main__":
    scoutlib.main()
