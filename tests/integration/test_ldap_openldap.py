#!/usr/bin/env python3
"""The ldap module against OpenLDAP: throwaway slapd servers (ldaplib.Slapd,
an mdb database seeded by slapadd, a test CA), their stats logs read to see
what reached the server.

- LDAPS and StartTLS (ldap:// URI) with the test CA: alice accepted, a
  wrong password denied, and every bind slapd saw came over TLS;
- plain LDAP: with allow_plaintext = yes an anonymous search may go in the
  clear, but a user's password is never sent without TLS;
- fail-over: the first slapd killed, the second answers; status shows the
  first down;
- allowed_groups through a group search (groupOfNames member=DN);
- injection strings as user names (`*`, `*)(uid=*`, `admin)(|(uid=*`, NUL,
  10 kB), with admin's real password: nobody is authenticated, slapd never
  sees a user bind, and every filter it logged is one uid equality with the
  special characters escaped (\\2a \\28 \\29);
- the cache: a second auth of alice does not search again (cache_hits
  grows, slapd logged one search for her) but still binds as her;
- the rate limit: after max_failures wrong passwords the right one gets
  `throttled` without reaching slapd;
- no password in scoutd's log or status.

SlapdPeer checks the peer itself with OpenLDAP's tools, with or without
the module. Skips (77) without slapd/ldap-utils or a network namespace;
the module's tests skip while scoutd has no ldap module.
"""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ldaplib  # noqa: E402
import scoutlib  # noqa: E402

PW = {uid: v[0] for uid, v in ldaplib.LDAP_USERS.items()}
SECRETS = list(PW.values()) + [ldaplib.LDAP_SVC_PW, "wrong-Pw-0"]


def dn(uid):
    return "uid=%s,%s" % (uid, ldaplib.LDAP_PEOPLE)


class SlapdPeer(unittest.TestCase):
    """The peer itself, with OpenLDAP's tools, whether or not scoutd has
    the module: TLS both ways, a certificate from another CA refused, and
    the log read as the tests below read it."""

    def test_peer(self):
        why = ldaplib.slapd_missing()
        if why:
            self.skipTest(why)
        ca = ldaplib.TestCA()
        s = ldaplib.Slapd(ca).start()
        try:
            for uri, starttls in ((s.ldaps_uri, False), (s.uri, True)):
                p = s.whoami(dn("alice"), PW["alice"], uri=uri, starttls=starttls)
                self.assertEqual(p.stdout.strip(), "dn:" + dn("alice"), p.stderr)
            self.assertEqual(s.whoami(dn("alice"), "wrong-Pw-0").returncode, 49)
            p = ldaplib.ldap_tool("ldapwhoami", ldaplib.TestCA("another CA").ca, "-H", s.ldaps_uri, "-D", dn("alice"),
                                  "-w", PW["alice"])
            self.assertNotEqual(p.returncode, 0, p.stdout)
            p = s.search("(uid=admin\\29\\28|\\28uid=\\2a)", "cn")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("(uid=admin\\29\\28|\\28uid=\\2A)", s.searches())
            self.assertEqual(s.binds().count(dn("alice")), 3, s.log())
            log = s.log()
            binds = re.findall(r'conn=(\d+) op=\d+ BIND dn="[^"]*" method=128', log)
            self.assertEqual(len(binds), 4, log)
            self.assertLessEqual(set(binds), OpenLDAP.conns_with_tls(log), log)
        finally:
            s.cleanup()


class OpenLDAP(ldaplib.PeerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ldaplib.seed_ldif()  # hash the passwords once

    def agent_for(self, servers, bind=True, **keys):
        conf = {"schema": "openldap", "servers": servers, "ca_file": self.ca.ca, "base": ldaplib.LDAP_BASE}
        if bind:
            conf["bind_dn"] = ldaplib.LDAP_SVC_DN
        conf.update(keys)
        a = ldaplib.ldap_agent(self, ldaplib.LDAP_SVC_PW if bind else None, **conf)
        a.start()
        return a

    def check(self, a, user, password, want, peers=()):
        reply, p = ldaplib.auth(a, user, password)
        self.assertEqual(ldaplib.result_of(reply), want, "auth test %r: %s%s\n%s\n%s" %
                         (user, p.stdout, p.stderr, a.log()[-6000:],
                          "\n".join(s.log()[-3000:] for s in peers)))
        return reply

    def assertNoSecrets(self, a):
        text = "\n".join(t for _, t in a.all_logs())
        status = json.dumps(a.status(), ensure_ascii=False)
        for s in SECRETS:
            self.assertNotIn(s, text, "a password in scoutd's log")
            self.assertNotIn(s, status, "a password in the status")

    @staticmethod
    def conns_with_tls(log):
        return set(re.findall(r"^.*conn=(\d+) fd=\d+ TLS established", log, re.M))

    @staticmethod
    def user_binds(log, who):
        """Connection ids of the binds slapd received for who's DN."""
        return re.findall(r'conn=(\d+) op=\d+ BIND dn="%s" method=128' % re.escape(who), log)

    def test_ldaps_and_starttls(self):
        s = self.slapd()
        for servers in (s.ldaps_uri, s.uri):
            a = self.agent_for(servers)
            self.assertEqual(a.module("ldap")["state"], "running", a.log())
            reply = self.check(a, "alice", PW["alice"], "accepted", [s])
            self.assertEqual(reply.get("user"), "alice", reply)
            self.assertEqual(reply.get("display"), "Alice Liddell", reply)
            self.check(a, "alice", "wrong-Pw-0", "denied", [s])
            self.assertNoSecrets(a)
            rc, _ = a.stop()
            self.assertEqual(rc, 0)
            self.assertCleanLog(a)
        log = s.log()
        # every bind (service account and alice) came over TLS: LDAPS, or
        # StartTLS on the ldap:// port
        tls = self.conns_with_tls(log)
        binds = re.findall(r'conn=(\d+) op=\d+ BIND dn="[^"]*" method=128', log)
        self.assertTrue(binds, log)
        self.assertFalse([c for c in binds if c not in tls], "binds without TLS:\n" + log)
        self.assertIn("EXT oid=1.3.6.1.4.1.1466.20037", log)  # StartTLS was asked for
        self.assertGreaterEqual(len(self.user_binds(log, dn("alice"))), 4, log)

    def test_plaintext_never_carries_a_password(self):
        """A slapd without TLS: with allow_plaintext = yes the search may be
        anonymous and in the clear, but alice's password is not sent."""
        s = self.slapd(tls=False)
        a = self.agent_for(s.uri, bind=False, allow_plaintext="yes", ca_file=None)
        reply, p = ldaplib.auth(a, "alice", PW["alice"])
        self.assertNotEqual(ldaplib.result_of(reply), "accepted", p.stdout + p.stderr)
        self.assertFalse(self.user_binds(s.log(), dn("alice")), s.log())
        a.stop()
        # without allow_plaintext nothing goes to that server in the clear
        a = self.agent_for(s.uri, bind=False, ca_file=None)
        reply, p = ldaplib.auth(a, "alice", PW["alice"])
        self.assertNotEqual(ldaplib.result_of(reply), "accepted", p.stdout + p.stderr)
        self.assertFalse(self.user_binds(s.log(), dn("alice")), s.log())
        self.assertNoSecrets(a)
        a.stop()

    def test_failover(self):
        s1 = self.slapd(name="slapd1")
        s2 = self.slapd(name="slapd2")
        a = self.agent_for("%s, %s" % (s1.ldaps_uri, s2.ldaps_uri), cache_for="0", timeout="3s")
        self.check(a, "alice", PW["alice"], "accepted", [s1, s2])
        self.assertTrue(self.user_binds(s1.log(), dn("alice")), "the first server is preferred")
        self.assertFalse(self.user_binds(s2.log(), dn("alice")))
        st = a.module("ldap")
        self.assertEqual([x["state"] for x in st["servers"]][:1], ["up"], st)

        s1.kill()
        t0 = time.monotonic()
        self.check(a, "bob", PW["bob"], "accepted", [s2])
        took = time.monotonic() - t0
        self.assertTrue(self.user_binds(s2.log(), dn("bob")), s2.log())
        self.check(a, "alice", PW["alice"], "accepted", [s2])
        # generous: one attempt on the dead server (refused at once) plus
        # the second one's answer, on a loaded machine
        self.assertLess(took, 3 * 2 + 10, "fail-over took %.1f s" % took)
        st = a.module("ldap")
        by_uri = {x["uri"]: x for x in st["servers"]}
        self.assertEqual(by_uri[s1.ldaps_uri]["state"], "down", st)
        self.assertTrue(by_uri[s1.ldaps_uri].get("last_error"), st)
        self.assertEqual(by_uri[s2.ldaps_uri]["state"], "up", st)
        # what an operator sees: scoutctl status names the first server down
        p = a.ctl("status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        mods = json.loads(p.stdout)["modules"]
        shown = {x["uri"]: x["state"] for m in mods if m["name"] == "ldap" for x in m["servers"]}
        self.assertEqual(shown, {s1.ldaps_uri: "down", s2.ldaps_uri: "up"}, p.stdout)
        p = a.ctl("status")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ldap", p.stdout)
        self.assertNoSecrets(a)
        a.stop()

    def test_allowed_groups(self):
        s = self.slapd()
        a = self.agent_for(s.ldaps_uri, allowed_groups=ldaplib.LDAP_PRINTING_DN)
        reply = self.check(a, "bob", PW["bob"], "accepted", [s])
        names = {g.split(",")[0].split("=")[-1].lower() for g in reply.get("groups") or []}
        self.assertLessEqual({"printing", "staff"}, names, reply)
        self.check(a, "alice", PW["alice"], "not-allowed", [s])
        self.check(a, "carol", "wrong-Pw-0", "denied", [s])
        # the group membership came from a group search with bob's DN
        self.assertIn("(&(objectClass=groupOfNames)(member=%s))" % dn("bob"), s.searches())
        self.assertNoSecrets(a)
        a.stop()

    INJECTIONS = ["*", "*)(uid=*", "admin)(|(uid=*", "adm*", "admin\x00", "\x00", "admin\\29", "a" * 10240,
                  "(uid=admin)", "admin)(objectClass=*"]

    def test_injection(self):
        """Names that would change an unescaped filter, each tried with
        admin's password over the status socket (NUL included)."""
        s = self.slapd()
        a = self.agent_for(s.ldaps_uri, max_failures="100", max_source_failures="1000")
        self.check(a, "admin", PW["admin"], "accepted", [s])  # the password is right
        before = len(s.searches())
        results = {}
        for name in self.INJECTIONS:
            # one connection each: a request the agent refuses as malformed
            # (NUL, 10 kB) ends its connection
            c = a.connect(timeout=60)
            try:
                ldaplib.raw_auth(c, name, PW["admin"])
                r = c.reply()
            finally:
                c.close()
            results[name[:40]] = ldaplib.raw_result(r)
            self.assertNotEqual(ldaplib.raw_result(r), "accepted", "%r authenticated: %r" % (name[:40], r))
        print("injections: %r" % results, flush=True)
        self.assertEqual(len(self.user_binds(s.log(), dn("admin"))), 1, "a bind as admin for an injected name")
        binds = [b for b in s.binds() if b not in (ldaplib.LDAP_SVC_DN, dn("admin"))]
        self.assertFalse(binds, "binds for injected names: %r" % binds)
        filters = s.searches()[before:]
        one_uid = re.compile(r"^\(&\(objectClass=inetOrgPerson\)\(uid=[^()*]*\)\)$", re.I)
        self.assertFalse([f for f in filters if not one_uid.match(f)], "filters not escaped:\n%s" % "\n".join(filters))
        low = " ".join(filters).lower()
        for esc in ("\\2a", "\\28", "\\29"):
            self.assertIn(esc, low, "no %s in the filters slapd received:\n%s" % (esc, "\n".join(filters)))
        log = s.log()
        for raw in ("(uid=*)", "(|(uid=*", "a" * 300):
            self.assertNotIn(raw, log)
        self.assertNoSecrets(a)
        a.stop()

    def test_cache(self):
        s = self.slapd()
        a = self.agent_for(s.ldaps_uri)
        self.check(a, "alice", PW["alice"], "accepted", [s])
        hits = a.module("ldap")["counters"]["cache_hits"]
        user_filter = "(&(objectClass=inetOrgPerson)(uid=alice))"
        searched = [f for f in s.searches() if f == user_filter]
        self.assertEqual(len(searched), 1, s.searches())
        self.check(a, "alice", PW["alice"], "accepted", [s])
        self.check(a, "alice", "wrong-Pw-0", "denied", [s])
        self.assertGreaterEqual(a.module("ldap")["counters"]["cache_hits"], hits + 2)
        self.assertEqual([f for f in s.searches() if f == user_filter], searched, "alice searched again")
        # the password itself is checked by the server every time
        self.assertEqual(len(self.user_binds(s.log(), dn("alice"))), 3, s.log())
        self.assertNoSecrets(a)
        a.stop()

    def test_rate_limit(self):
        s = self.slapd()
        a = self.agent_for(s.ldaps_uri, max_failures="3", failure_window="15m")
        for _ in range(3):
            self.check(a, "carol", "wrong-Pw-0", "denied", [s])
        binds = len(self.user_binds(s.log(), dn("carol")))
        self.assertEqual(binds, 3, s.log())
        reply = self.check(a, "carol", PW["carol"], "throttled", [s])
        self.assertNotIn(PW["carol"], reply.get("text", ""))
        self.assertEqual(len(self.user_binds(s.log(), dn("carol"))), binds, "a throttled password reached slapd")
        # Carol's name in another case is the same account
        self.check(a, "CAROL", PW["carol"], "throttled", [s])
        # others are not held back
        self.check(a, "bob", PW["bob"], "accepted", [s])
        self.assertGreaterEqual(a.module("ldap")["counters"]["throttled"], 2)
        self.assertNoSecrets(a)
        a.stop()


if __name__ == "__main__":
    ldaplib.private_netns()
    scoutlib.main()
