"""The vault module with a real scoutd, as an operator sees it: it starts
locked and says why; `echo PASSWORD | scoutctl vault init` unlocks the
running daemon and writes the key file (0600, 32 bytes); a restart finds it
unlocked; a wrong password is refused with a clear message and changes
nothing; `vault rotate-key` replaces the key (the old password no longer
opens the vault, the new one does); the passwords never reach the log.
Jobs arrive through the ipp module, which is not on this branch: the scan of
the vault's files for the plaintext of a submitted job is left to the
integration test that prints through ipp."""

import json
import os
import stat

import scoutlib


class Vault(scoutlib.AgentTest):
    def vault_agent(self, extra=""):
        a = self.agent()
        with open(a.config_path) as f:
            conf = f.read()
        self.key_file = os.path.join(a.tmp, "keys", "vault.key")
        os.makedirs(os.path.dirname(self.key_file), mode=0o700)
        a.write_config(conf + "\n[vault]\nenabled = yes\nkey_file = %s\nkdf_cost = 12\n%s" % (self.key_file, extra))
        return a

    def vault_status(self, a):
        p = a.ctl("vault", "status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["vault"]

    def test_init_restart_wrong_password_rotate(self):
        a = self.vault_agent()
        a.start()
        self.assertEqual(a.module("vault")["state"], "running")
        st = a.wait_for(lambda s: [m for m in s["modules"] if m["name"] == "vault"][0].get("why") !=
                        "vault is opening", what="the vault's start-up scan")
        v = self.vault_status(a)
        self.assertTrue(v["locked"])
        self.assertFalse(v["accepting"])
        self.assertIn("scoutctl vault init", v["reason"])
        p = a.ctl("jobs")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("vault init", p.stderr)

        p = a.ctl("vault", "init", input="correct horse battery\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("vault unlocked", p.stdout)
        self.assertFalse(self.vault_status(a)["locked"])
        st = os.stat(self.key_file)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_size, 32)
        with open(self.key_file, "rb") as f:
            key1 = f.read()

        p = a.ctl("jobs", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), [])

        p = a.ctl("vault", "init", input="not the password\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("wrong password", p.stderr)
        self.assertFalse(self.vault_status(a)["locked"])
        with open(self.key_file, "rb") as f:
            self.assertEqual(f.read(), key1)

        # a restart finds the key file: unlocked without a word
        rc, _ = a.stop()
        self.assertEqual(rc, 0, a.log())
        a.start()
        a.wait_for(lambda s: not [m for m in s["modules"] if m["name"] == "vault"][0]["locked"], what="unlocked")

        # a new password: the old one no longer opens the vault
        p = a.ctl("vault", "rotate-key", input="new staple\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("site key rotated", p.stdout)
        with open(self.key_file, "rb") as f:
            self.assertNotEqual(f.read(), key1)
        self.assertFalse(os.path.exists(self.key_file + ".new"))
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        os.unlink(self.key_file)
        a.start()
        a.wait_for(lambda s: [m for m in s["modules"] if m["name"] == "vault"][0]["locked"] and
                   "key file" in [m for m in s["modules"] if m["name"] == "vault"][0]["why"],
                   what="locked for want of the key file")
        p = a.ctl("vault", "init", input="correct horse battery\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("wrong password", p.stderr)
        p = a.ctl("vault", "init", input="new staple\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(self.vault_status(a)["locked"])

        for name, text in a.all_logs():
            for pw in ("correct horse battery", "not the password", "new staple"):
                self.assertNotIn(pw, text, name)

    def test_status_and_metrics(self):
        a = self.vault_agent()
        a.start()
        a.ctl("vault", "init", input="pw\n")
        m = a.module("vault")
        self.assertIsNone(m["reason"])
        self.assertEqual(m["why"], "")
        for k in ("locked", "accepting", "jobs_held", "bytes_held", "receiving", "intake_jobs_per_min",
                  "intake_bytes_per_s", "refused"):
            self.assertIn(k, m)
        self.assertIn("jobs_committed", m["counters"])
        p = a.ctl("metrics")
        if p.returncode == 0:
            self.assertIn("jobs_committed", p.stdout)


if __name__ == "__main__":
    scoutlib.main()
