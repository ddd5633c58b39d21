"""The users module: local accounts from a name:hash file serve the bus's
auth.password request. Checked through `scoutctl users test`, which asks
the same code a printer login does: a right password is accepted, a wrong
one and an unknown name are refused alike, a bad file fails the module with
FILE:LINE, a reload picks up a new account and refuses a broken file while
keeping the accounts it had, and the password never reaches the log."""

import os
import subprocess

import scoutlib


def sha512(password):
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n", capture_output=True,
                          text=True, check=True).stdout.strip()


class Users(scoutlib.AgentTest):
    def users_agent(self, text, mode=0o640):
        a = self.agent()
        path = os.path.join(a.tmp, "users")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        with open(a.config_path) as f:
            conf = f.read()
        a.write_config(conf + "\n[users]\nenabled = yes\nfile = %s\n" % path)
        return a, path

    def test_login_checks(self):
        a, path = self.users_agent("# site accounts\nalice:%s\nbob:%s\n" % (sha512("s3cret-alice"),
                                                                           sha512("hunter2")))
        a.start()
        self.assertEqual(a.module("users")["state"], "running")
        self.assertEqual(a.module("users")["accounts"], 2)

        p = a.ctl("users", "test", "alice", input="s3cret-alice\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "alice: password accepted\n")
        for user, pw in [("alice", "hunter2"), ("carol", "hunter2"), ("Alice", "s3cret-alice")]:
            p = a.ctl("users", "test", user, "--json", input=pw + "\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn('"accepted": false', p.stdout)

        p = a.ctl("users")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["USER", "HASH", "alice", "sha512crypt", "bob", "sha512crypt"])
        self.assertNotIn("$6$", p.stdout)
        c = a.module("users")["counters"]
        self.assertEqual((c["checks"], c["accepted"], c["refused"]), (4, 1, 3))

        # a new account by reload; a broken file is refused and the old accounts stay
        with open(path, "a") as f:
            f.write("carol:%s\n" % sha512("pw-carol"))
        self.assertEqual(a.ctl("reload").returncode, 0)
        self.assertEqual(a.ctl("users", "test", "carol", input="pw-carol\n").stdout, "carol: password accepted\n")
        with open(path, "a") as f:
            f.write("dave\n")
        p = a.ctl("reload")
        self.assertEqual(p.returncode, 1)
        self.assertIn("users: reload refused: %s:5: expected name:hash" % path, p.stderr)
        self.assertEqual(a.ctl("users", "test", "bob", input="hunter2\n").stdout, "bob: password accepted\n")
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        log = "\n".join(text for _, text in a.all_logs())
        for secret in ["s3cret-alice", "hunter2", "pw-carol", "$6$"]:
            self.assertNotIn(secret, log)
        self.assertIn("password refused for 'carol' (no such user)", log)

    def test_bad_file_fails_module(self):
        a, path = self.users_agent("alice:plaintext\n")
        a.start()
        m = a.module("users")
        self.assertEqual(m["state"], "failed")
        self.assertIn("%s:1: the hash is not a crypt(3) hash" % path, m["reason"])
        # the rest of the agent runs
        self.assertEqual(a.module("health")["state"], "running")
        a.stop()

    def test_file_others_may_write(self):
        a, path = self.users_agent("alice:%s\n" % sha512("x"), mode=0o666)
        a.start()
        m = a.module("users")
        self.assertEqual(m["state"], "failed")
        self.assertIn("others may write it (mode 666)", m["reason"])
        a.stop()


if __name__ == "__main__":
    scoutlib.main()
