"""One version string, meson's project() version: scoutd --version, the
status socket's version and status replies, scoutctl version and status,
the metrics and the start-up log all say what `meson introspect
--projectinfo` says about the build tree, and no source file under src/
spells the version out itself."""

import json
import os
import re
import subprocess

import scoutlib

BUILD_ROOT = os.environ.get("BUILD_ROOT", "")


def project_version():
    p = subprocess.run(["meson", "introspect", "--projectinfo", BUILD_ROOT], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("meson introspect --projectinfo %s failed (%d): %s" % (BUILD_ROOT, p.returncode,
                                                                                      p.stderr))
    return json.loads(p.stdout)["version"]


class Version(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        cls.version = project_version()
        print("project version: %s" % cls.version, flush=True)

    def test_scoutd_option(self):
        p = subprocess.run([scoutlib.SCOUTD, "--version"], capture_output=True, text=True, timeout=30,
                           env=scoutlib.ENV)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "scoutd %s\n" % self.version)

    def test_running_agent(self):
        a = self.agent()
        a.start()
        self.assertEqual(a.request({"cmd": "version"}), {"ok": True, "version": self.version})
        self.assertEqual(a.status()["version"], self.version)
        p = a.ctl("version")
        self.assertEqual((p.returncode, p.stdout), (0, "scoutd %s\n" % self.version), p.stderr)
        p = a.ctl("status")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^\s*version\s+%s\s*$" % re.escape(self.version))
        p = a.ctl("metrics")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('scout_info{version="%s"} 1\n' % self.version, p.stdout)
        self.assertIn("agent: scoutd %s running" % self.version, a.log())
        rc, _ = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_no_literal_in_sources(self):
        # the version lives in meson.build only: a copy in the C sources
        # would go stale at the next release
        src = os.path.join(scoutlib.TOP, "src")
        literal = '"%s"' % self.version
        found = []
        for root, _, files in os.walk(src):
            for name in files:
                if name.endswith((".c", ".h")):
                    path = os.path.join(root, name)
                    with open(path, encoding="utf-8", errors="replace") as f:
                        for n, line in enumerate(f, 1):
                            if literal in line:
                                found.append("%s:%d: %s" % (os.path.relpath(path, scoutlib.TOP), n, line.strip()))
        self.assertEqual(found, [])


if __name__ == "__main__":
    scoutlib.main()
