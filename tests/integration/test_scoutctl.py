"""scoutctl's exit codes and messages: 0 ok, 1 an error reply, 2 cannot
connect (naming the path) or a usage error; replies it cannot use. Also
scoutd's own command-line handling."""

import json
import os
import socket
import subprocess

import scoutlib
from scoutlib import ENV, SCOUTCTL, SCOUTD, run_scoutctl


class Scoutctl(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        self.tmp = scoutlib.make_tmpdir()

    def test_no_daemon_exit_2_names_path(self):
        path = os.path.join(self.tmp, "nothing-here.sock")
        for cmd in ("status", "metrics", "reload", "version"):
            p = run_scoutctl(path, cmd)
            self.assertEqual(p.returncode, 2, (cmd, p.stderr))
            self.assertIn("cannot connect to %s" % path, p.stderr)
            self.assertIn("No such file or directory", p.stderr)
            self.assertEqual(p.stdout, "")

    def test_stale_socket_exit_2(self):
        path = os.path.join(self.tmp, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()  # the file stays, nobody listens
        p = run_scoutctl(path, "status")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(path, p.stderr)
        self.assertIn("Connection refused", p.stderr)

    def test_after_agent_stopped_exit_2(self):
        a = self.agent()
        a.start()
        self.assertEqual(a.ctl("version").returncode, 0)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        p = a.ctl("status")
        self.assertEqual(p.returncode, 2)
        self.assertIn(a.socket, p.stderr)

    def test_path_too_long_exit_2(self):
        path = "/tmp/" + "x" * 200
        p = run_scoutctl(path, "status")
        self.assertEqual(p.returncode, 2)
        self.assertIn("path too long", p.stderr)

    def test_default_socket_and_env(self):
        a = self.agent()
        a.start()
        env = dict(ENV, SCOUT_SOCKET=a.socket)
        p = subprocess.run([SCOUTCTL, "version"], capture_output=True, text=True, timeout=30, env=env, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        # no -s, no $SCOUT_SOCKET: ./var/scoutd.sock relative to the cwd
        p = run_scoutctl(None, "version", cwd=self.tmp)
        self.assertEqual(p.returncode, 2)
        self.assertIn("./var/scoutd.sock", p.stderr)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_reload_error_reply_exit_1(self):
        a = self.agent()
        a.start()
        a.write_config("[agent]\nstate_dir = %s\nlog_level = chatty\n" % a.state_dir)
        p = a.ctl("reload")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("reload rejected", p.stderr)
        self.assertIn("%s:3: [agent] log_level: 'chatty' is not valid" % os.path.realpath(a.config_path), p.stderr)
        p = a.ctl("reload", "--json")
        self.assertEqual(p.returncode, 1)
        self.assertTrue(a.alive())
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_error_reply_exit_1(self):
        path = os.path.join(self.tmp, "fake.sock")
        fake = scoutlib.FakeAgent(path, b'{"ok":false,"error":{"code":"busy","message":"too many status connections"}}\n')
        try:
            for cmd in ("status", "metrics", "version"):
                p = run_scoutctl(path, cmd)
                self.assertEqual(p.returncode, 1, (cmd, p.stderr))
                self.assertEqual(p.stderr, "scoutctl: too many status connections (busy)\n")
                self.assertEqual(p.stdout, "")
            # the first request asks for the daemon's commands
            self.assertEqual(fake.requests[0], b'{"cmd":"help"}\n')
        finally:
            fake.close()

    def test_unusable_replies_exit_2(self):
        for answer, msg in ((b"this is not json\n", "malformed reply"),
                            (b"[1,2]\n", "malformed reply"),
                            (b"", "connection closed before a reply")):
            path = os.path.join(self.tmp, "fake%d.sock" % len(answer))
            fake = scoutlib.FakeAgent(path, answer)
            try:
                p = run_scoutctl(path, "status")
                self.assertEqual(p.returncode, 2, (answer, p.stderr))
                self.assertIn(path, p.stderr)
                self.assertIn(msg, p.stderr)
            finally:
                fake.close()

    def test_usage_errors_exit_2(self):
        # the verbs and their arguments come from the daemon: a fake one
        # serving the real scoutd's help
        sock = os.path.join(self.tmp, "x.sock")
        fake = scoutlib.FakeAgent(sock, {})
        try:
            for args, msg in (([], "Usage: scoutctl"), (["frobnicate"], "unknown command 'frobnicate'"),
                              (["status", "extra"], "status: unexpected argument 'extra'"),
                              (["--bogus", "status"], "Usage: scoutctl"),
                              (["devices", "--frob"], "devices: unexpected argument '--frob'"),
                              (["device"], "device: which one? give an IP address, serial number or MAC"),
                              (["device", "a", "b"], "device: unexpected argument 'b'")):
                p = run_scoutctl(sock, *args)
                self.assertEqual(p.returncode, 2, (args, p.stderr))
                self.assertIn(msg, p.stderr)
            # an unknown verb also lists the daemon's
            p = run_scoutctl(sock, "frobnicate")
            self.assertIn("Usage: scoutctl", p.stderr)
            self.assertIn("devices [--all]", p.stderr)
            # nothing was sent but the questions for help
            self.assertEqual(set(fake.requests), {b'{"cmd":"help"}\n'})
        finally:
            fake.close()
        p = run_scoutctl(None, "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("Usage: scoutctl", p.stdout)

    def test_help_lists_every_verb(self):
        a = self.agent()
        a.start()
        p = a.ctl("help")
        self.assertEqual(p.returncode, 0, p.stderr)
        for verb in ("status", "metrics", "reload", "version", "help", "scan [--wait] [--force]",
                     "devices [--all]", "device ID"):
            self.assertIn("  " + verb, p.stdout)
        self.assertIn("the printers found (snmp)", p.stdout)
        self.assertIn("--wait", p.stdout)
        p = a.ctl("help", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        cmds = {c["name"]: c for c in json.loads(p.stdout)}
        self.assertIsNone(cmds["status"]["module"])
        self.assertEqual(cmds["device"]["module"], "snmp")
        self.assertEqual(cmds["device"]["args"], [{"name": "id", "type": "string", "required": True,
                                                   "help": "an IP address, serial number or MAC"}])
        self.assertEqual(cmds["devices"]["tables"][0]["path"], "devices")
        # a module's command answers that its module is not running
        p = a.ctl("devices")
        self.assertEqual(p.returncode, 1)
        self.assertIn("module snmp is disabled (unavailable)", p.stderr)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_scoutd_command_line(self):
        def run(*args):
            return subprocess.run([SCOUTD] + list(args), capture_output=True, text=True, timeout=30, env=ENV,
                                  cwd=self.tmp)
        p = run("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^scoutd \d+\.\d+\.\d+\n$")
        p = run("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--check-config", p.stdout)
        p = run("--no-such-option")
        self.assertEqual(p.returncode, 2)
        p = run("surplus")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unexpected argument 'surplus'", p.stderr)
        p = run("--print-default")
        self.assertEqual(p.returncode, 0)
        self.assertIn("[agent]", p.stdout)
        # the printed default passes its own check
        path = os.path.join(self.tmp, "default.ini")
        with open(path, "w") as f:
            f.write(p.stdout)
        p = run("--check-config", "-c", path)
        self.assertEqual((p.returncode, p.stdout), (0, ""))
        self.assertEqual(os.listdir(self.tmp), ["default.ini"], "nothing else may be created")


if __name__ == "__main__":
    scoutlib.main()
