#!/usr/bin/env python3
"""The ldap module's own behaviour around the directory, against slapd
(tests/integration/ldaplib.py, LDAPS with a test CA):

- users and ldap both enabled: auth.password has one server, the other
  module fails saying so;
- offline_grace: with every server down, a password accepted before is
  accepted offline (and a wrong one, or a user never seen, is not);
  without offline_grace the same login is `unavailable`;
- reload: a rotated service password is read again, a broken
  user_filter is refused and the running configuration keeps working;
- the service account's password file: a missing file fails the module
  with a reason naming it;
- requests waiting on a silent server are answered `unavailable` when a
  reload changes the directory, and a stop with requests pending is
  clean;
- auth.password over the bus: a job printed over ipps:// with HTTP Basic
  credentials belongs to the user the directory accepted (ipp asks,
  ldap answers), a wrong password gets 401.

Skips (77) without slapd or while scoutd has no ldap module.
"""

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipplib  # noqa: E402
import scoutlib  # noqa: E402
import scoutprint  # noqa: E402

try:
    import ldaplib  # noqa: E402 (the peers' helpers, issue 11)
except ImportError:
    print("SKIP: tests/integration/ldaplib.py is missing")
    sys.exit(77)

PW = {name: v[0] for name, v in ldaplib.LDAP_USERS.items()}


class LdapModule(ldaplib.PeerTest):
    def conf(self, s, **keys):
        c = {"schema": "openldap", "servers": s.ldaps_uri, "ca_file": self.ca.ca, "base": ldaplib.LDAP_BASE,
             "bind_dn": ldaplib.LDAP_SVC_DN}
        c.update(keys)
        return c

    def agent_for(self, s, extra="", password=ldaplib.LDAP_SVC_PW, **keys):
        a = self.agent()
        with open(a.config_path) as f:
            text = f.read()
        a.write_config(text + extra + ldaplib.ldap_section(a.tmp, password, **self.conf(s, **keys)))
        a.start()
        return a

    def result(self, a, user, password):
        reply, p = ldaplib.auth(a, user, password)
        self.assertIsNotNone(reply, p.stdout + p.stderr)
        return ldaplib.result_of(reply), reply

    def test_one_server_for_auth_password(self):
        """[users] and [ldap] both enabled: ldap (earlier in the registry)
        serves auth.password, users fails with the reason."""
        s = self.slapd()
        a = self.agent()
        users_file = os.path.join(a.tmp, "users")
        with open(users_file, "w") as f:
            f.write("")
        os.chmod(users_file, 0o600)
        a = self.agent_for(s, extra="\n[users]\nenabled = yes\nfile = %s\n" % users_file)
        self.assertEqual(a.module("ldap")["state"], "running", a.log())
        u = a.module("users")
        self.assertEqual(u["state"], "failed", u)
        self.assertIn("auth.password has a server already: enable one of [users] and [ldap]", u.get("reason") or "")
        self.assertEqual(self.result(a, "alice", PW["alice"])[0], "accepted")
        a.stop()

    def test_offline_grace(self):
        s = self.slapd()
        a = self.agent_for(s, offline_grace="1h", timeout="2s")
        self.assertEqual(a.module("ldap")["state"], "running", a.log())
        self.assertEqual(self.result(a, "alice", PW["alice"])[0], "accepted")
        s.stop()
        # the verifier is made on the thread pool after the first reply:
        # until it is kept, the login is unavailable
        deadline = time.monotonic() + 60
        while True:
            got, reply = self.result(a, "alice", PW["alice"])
            if got == "accepted" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(got, "accepted", "%r\n%s" % (reply, a.log()[-4000:]))
        self.assertTrue(reply.get("offline"), reply)
        self.assertEqual(reply.get("user"), "alice", reply)
        a.wait_for(lambda st: "ldap: alice accepted offline" in a.log(), what="the log line")
        self.assertEqual(self.result(a, "alice", "not-her-Pw-0")[0], "unavailable")
        self.assertEqual(self.result(a, "bob", PW["bob"])[0], "unavailable")
        self.assertGreaterEqual(a.module("ldap")["counters"]["offline_accepts"], 1)
        log = "\n".join(t for _, t in a.all_logs())
        status = json.dumps(a.status())
        for pw in PW.values():
            self.assertNotIn(pw, log)
            self.assertNotIn(pw, status)
        a.stop()

    def test_no_offline_grace(self):
        s = self.slapd()
        a = self.agent_for(s, timeout="2s")
        self.assertEqual(self.result(a, "alice", PW["alice"])[0], "accepted")
        s.stop()
        got, reply = self.result(a, "alice", PW["alice"])
        self.assertEqual(got, "unavailable", reply)
        self.assertNotIn("accepted offline", a.log())
        a.stop()

    def test_reload(self):
        s = self.slapd()
        a = self.agent_for(s)
        self.assertEqual(self.result(a, "alice", PW["alice"])[0], "accepted")
        # a broken user_filter is refused; the running one keeps working
        with open(a.config_path) as f:
            good = f.read()
        a.write_config(good + "user_filter = (uid=%u\n")
        r = a.request({"cmd": "reload"})
        self.assertIn("user_filter", json.dumps(r), r)
        self.assertEqual(a.module("ldap")["state"], "running")
        self.assertEqual(self.result(a, "bob", PW["bob"])[0], "accepted")
        # the same file again: reloads fine, logins go on
        a.write_config(good)
        r = a.request({"cmd": "reload"})
        self.assertTrue(r.get("ok"), r)
        self.assertEqual(self.result(a, "carol", PW["carol"])[0], "accepted")
        a.stop()

    def test_missing_password_file(self):
        s = self.slapd()
        a = self.agent()
        with open(a.config_path) as f:
            text = f.read()
        missing = os.path.join(a.tmp, "no-such-file")
        a.write_config(text + ldaplib.ldap_section(a.tmp, None, bind_password_file=missing, **self.conf(s)))
        a.start()
        m = a.module("ldap")
        self.assertEqual(m["state"], "failed", m)
        self.assertIn(missing, m.get("reason") or "", m)
        a.stop()

    def test_pending_at_reload_and_stop(self):
        silent = ldaplib.Silent()
        try:
            a = ldaplib.ldap_agent(self, ldaplib.LDAP_SVC_PW, schema="openldap",
                                   servers="ldaps://127.0.0.1:%d" % silent.port, ca_file=self.ca.ca,
                                   base=ldaplib.LDAP_BASE, bind_dn=ldaplib.LDAP_SVC_DN, timeout="60s")
            a.start()
            conns = []
            for u in ("alice", "bob"):
                c = a.connect(timeout=120)
                ldaplib.raw_auth(c, u, PW[u])
                conns.append(c)
            c = a.connect(timeout=120)
            c.send({"cmd": "user", "user": "carol"})
            conns.append(c)
            a.wait_for(lambda st: [m for m in st["modules"] if m["name"] == "ldap"][0].get("in_progress") == 3,
                       timeout=30, what="3 requests in progress")
            with open(a.config_path) as f:
                text = f.read()
            a.write_config(text.replace("timeout = 60s", "timeout = 59s"))
            r = a.request({"cmd": "reload"})
            self.assertTrue(r.get("ok"), r)
            replies = [c.reply() for c in conns]
            self.assertEqual([ldaplib.raw_result(r) for r in replies[:2]], ["unavailable"] * 2, replies)
            self.assertEqual(replies[2].get("error", {}).get("code"), "unavailable", replies)
            self.assertIn("configuration changed", replies[0].get("text", ""), replies)
            # and once more, left pending at stop
            c = a.connect(timeout=120)
            ldaplib.raw_auth(c, "alice", PW["alice"])
            conns.append(c)
            a.wait_for(lambda st: [m for m in st["modules"] if m["name"] == "ldap"][0].get("in_progress") == 1,
                       timeout=30, what="a request in progress")
            rc, _ = a.stop()
            self.assertEqual(rc, 0, a.log())
            self.assertCleanLog(a)
            for c in conns:
                c.close()
        finally:
            silent.close()

    def test_ipp_login(self):
        """[ipp] owner = authenticated with [ldap]: the bus request ipp sends
        (user, password, source) is answered by ldap."""
        why = scoutprint.missing_modules()
        if why:
            self.skipTest(why)
        s = self.slapd()
        a = self.agent()
        port = ldaplib.free_port()
        extra = ("\n[vault]\nenabled = yes\nkey_file = %s\nkdf_cost = 12\n"
                 "\n[ipp]\nenabled = yes\nlisten = 127.0.0.1:%d\nowner = authenticated\n"
                 % (os.path.join(a.tmp, "vault.key"), port))
        a = self.agent_for(s, extra=extra)
        p = a.ctl("vault", "init", input="correct horse battery staple\n")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        a.wait_for(lambda st: [m for m in st["modules"] if m["name"] == "ipp"][0].get("accepting"),
                   what="ipp accepting")
        body = ipplib.request(ipplib.PRINT_JOB, [(ipplib.NAME, "requesting-user-name", "mallory"),
                                                 (ipplib.NAME, "job-name", "payroll")], b"%PDF-1.4\n" * 100)

        def basic(user, pw):
            return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}

        st, _, _ = ipplib.post("127.0.0.1", port, body, tls=True, headers=basic("alice", "not-her-Pw-0"))
        self.assertEqual(st, 401)
        st, msg, _ = ipplib.post("127.0.0.1", port, body, tls=True, headers=basic("alice", PW["alice"]))
        self.assertEqual((st, msg[1]), (200, 0), "%r\n%s" % (msg, a.log()[-3000:]))
        jobs = json.loads(a.ctl("jobs", "--json").stdout)
        self.assertEqual([j["owner"] for j in jobs], ["alice"])
        c = a.module("ldap")["counters"]
        self.assertGreaterEqual(c["binds_ok"], 1, c)
        self.assertGreaterEqual(c["binds_denied"], 1, c)
        for pw in (PW["alice"], "not-her-Pw-0"):
            self.assertNotIn(pw, "".join(t for _, t in a.all_logs()))
        a.stop()


if __name__ == "__main__":
    scoutlib.main()
