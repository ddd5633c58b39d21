#!/usr/bin/env python3
"""Issue 11's Done-when, against a real Active Directory: Samba's AD DC
(ldaplib.SambaAD, provisioned once per machine into a cached template and
copied here) on 127.0.0.1 in this test's private network namespace, and

    [ldap] enabled = yes, servers = ldaps://127.0.0.1, ca_file = .../ca.pem,
           bind_dn = ..., bind_password_file = ..., base = DC=scout,DC=test

- `scoutctl auth test alice` accepts her password (read from stdin),
  refuses a wrong one (denied), refuses dave (disabled) with `disabled`;
- erin (locked out) gets `locked`, frank (must change his password) gets
  `expired`, an unknown name the same `denied` as a wrong password;
- allowed_groups naming `printing`: bob, in print-staff which is in
  printing, is accepted through AD's in-chain rule; alice gets
  `not-allowed`;
- StartTLS on ldap://127.0.0.1 works as LDAPS does;
- `SCOUT\\alice`, `alice@scout.test` and zoë (non-ASCII) work; a name of
  another domain does not;
- `scoutctl user alice` shows her display name, mail and groups,
  `scoutctl user --card 4711` finds her by employeeNumber;
- no password reaches scoutd's log or status.

SambaPeer checks the peer itself with OpenLDAP's tools (what AD answers
for each of these accounts), with or without the module. Skips (77)
without samba-ad-dc or a network namespace; the module's tests skip while
scoutd has no ldap module.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ldaplib  # noqa: E402
import scoutlib  # noqa: E402

PW = {name: v[0] for name, v in ldaplib.AD_USERS.items()}
SECRETS = list(PW.values()) + ["Wrong-Pass9!"]


def group_names(groups):
    """Lower-case group names from a reply's groups: cn values, or the
    first RDN's value when the module gives DNs."""
    out = set()
    for g in groups or []:
        first = g.split(",")[0]
        out.add((first.split("=", 1)[1] if "=" in first else first).lower())
    return out


PEER = {}


def setUpModule():
    """One domain controller for the whole file."""
    why = ldaplib.samba_missing()
    if why:
        raise unittest.SkipTest(why)
    PEER["ca"] = ldaplib.TestCA()
    PEER["ad"] = ad = ldaplib.SambaAD(PEER["ca"])
    try:
        ad.start()
    except BaseException:
        ad.cleanup()
        raise
    print("samba up in %.1f s" % ad.started_in, flush=True)


def tearDownModule():
    if "ad" in PEER:
        PEER["ad"].cleanup()


class SambaPeer(unittest.TestCase):
    """The peer itself, with OpenLDAP's tools, whether or not scoutd has
    the module: what the tests below rely on AD to say."""

    def test_accounts(self):
        ad = PEER["ad"]
        for who in ("alice@scout.test", "SCOUT\\alice", "CN=alice," + ldaplib.USERS_DN):
            p = ad.bind(who, PW["alice"])
            self.assertEqual(p.returncode, 0, "%s: %s" % (who, p.stderr))
        self.assertEqual(ad.bind("zoë@scout.test", PW["zoë"]).returncode, 0)
        for who, pw, data in (("alice", "Wrong-Pass9!", "52e"), ("dave", PW["dave"], "533"),
                              ("erin", PW["erin"], "775"), ("frank", PW["frank"], "773")):
            p = ad.bind(who + "@scout.test", pw)
            self.assertEqual(p.returncode, 49, p.stdout + p.stderr)
            self.assertIn("data %s," % data, p.stderr)
        # simple binds need TLS; StartTLS gives it
        p = ad.bind("alice@scout.test", PW["alice"], uri="ldap://127.0.0.1")
        self.assertEqual(p.returncode, 8, p.stderr)  # strongerAuthRequired
        self.assertEqual(ldaplib.ldap_tool("ldapsearch", PEER["ca"].ca, "-ZZ", "-H", "ldap://127.0.0.1", "-D",
                                           "alice@scout.test", "-w", PW["alice"], "-s", "base", "-b", "",
                                           "(objectClass=*)", "dn").returncode, 0)

    def test_groups_and_attributes(self):
        ad = PEER["ad"]
        p = ad.search("(memberOf:1.2.840.113556.1.4.1941:=%s)" % ldaplib.PRINTING_DN, "sAMAccountName")
        self.assertEqual(sorted(re.findall(r"^sAMAccountName: (.*)$", p.stdout, re.M)), ["bob", "print-staff"])
        p = ad.search("(sAMAccountName=alice)", "displayName", "mail", "employeeNumber")
        for want in ("displayName: Alice Liddell", "mail: alice@scout.test", "employeeNumber: 4711"):
            self.assertIn(want, p.stdout)
        p = ad.search("(|(sAMAccountName=erin)(sAMAccountName=frank)(sAMAccountName=dave))", "sAMAccountName",
                      "userAccountControl", "msDS-User-Account-Control-Computed")
        got = {}
        for block in p.stdout.split("\n\n"):
            attrs = dict(re.findall(r"^([\w-]+): (.*)$", block, re.M))
            if "sAMAccountName" in attrs:
                got[attrs["sAMAccountName"]] = (int(attrs["userAccountControl"]),
                                                int(attrs["msDS-User-Account-Control-Computed"]))
        self.assertEqual(got["dave"][0] & 0x2, 0x2, got)            # ACCOUNTDISABLE
        self.assertEqual(got["erin"][1] & 0x10, 0x10, got)          # LOCKOUT
        self.assertEqual(got["frank"][1] & 0x800000, 0x800000, got)  # PASSWORD_EXPIRED


class ActiveDirectory(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        why = ldaplib.module_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ca = PEER["ca"]
        cls.ad = PEER["ad"]

    def agent_for(self, **keys):
        conf = {"servers": "ldaps://127.0.0.1", "ca_file": self.ca.ca, "bind_dn": ldaplib.SVC_DN,
                "base": ldaplib.BASE}
        conf.update(keys)
        a = ldaplib.ldap_agent(self, ldaplib.SVC_PW, **conf)
        a.start()
        m = a.module("ldap")
        self.assertEqual(m["state"], "running", "%r\n%s" % (m, a.log()))
        return a

    def check(self, a, user, password, want):
        reply, p = ldaplib.auth(a, user, password)
        self.assertEqual(ldaplib.result_of(reply), want, "auth test %r: %s%s\n%s\n%s" %
                         (user, p.stdout, p.stderr, a.log()[-6000:], self.ad.log()[-3000:]))
        return reply

    def assertNoSecrets(self, a):
        text = "\n".join(t for _, t in a.all_logs())
        status = json.dumps(a.status(), ensure_ascii=False)
        for s in SECRETS + [ldaplib.SVC_PW]:
            self.assertNotIn(s, text, "a password in scoutd's log")
            self.assertNotIn(s, status, "a password in the status")

    def test_done_when(self):
        """The issue's Done-when, as an operator types it."""
        a = self.agent_for()
        p = a.ctl("auth", "test", "alice", input=PW["alice"] + "\n")
        self.assertEqual(p.stdout.splitlines()[:1], ["alice: accepted"], "%s%s\n%s" % (p.stdout, p.stderr, a.log()))
        self.assertEqual(p.returncode, 0, p.stderr)
        p = a.ctl("auth", "test", "alice", input="Wrong-Pass9!\n")
        self.assertEqual(p.stdout.splitlines()[:1], ["alice: denied"], "%s%s\n%s" % (p.stdout, p.stderr, a.log()))
        p = a.ctl("auth", "test", "dave", input=PW["dave"] + "\n")
        self.assertEqual(p.stdout.splitlines()[:1], ["dave: disabled"], "%s%s\n%s" % (p.stdout, p.stderr, a.log()))

        # the JSON reply says the same, and who alice is
        reply = self.check(a, "alice", PW["alice"], "accepted")
        self.assertEqual(reply.get("user"), "alice", reply)
        self.assertEqual(reply.get("display"), "Alice Liddell", reply)
        self.check(a, "dave", PW["dave"], "disabled")

        m = a.module("ldap")
        servers = m.get("servers") or []
        self.assertTrue(servers and "127.0.0.1" in servers[0]["uri"], m)
        self.assertEqual(servers[0]["state"], "up", m)
        c = m["counters"]
        self.assertGreaterEqual(c["binds_ok"], 1, m)
        self.assertGreaterEqual(c["binds_denied"], 1, m)
        log = a.log()
        self.assertIn("dave", log)
        self.assertIn("disabled", log)
        self.assertNoSecrets(a)
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        self.assertCleanLog(a)

    def test_starttls(self):
        """ldap://127.0.0.1 (port 389) with StartTLS and the same CA: AD
        refuses simple binds without TLS, so this works only encrypted."""
        a = self.agent_for(servers="ldap://127.0.0.1")
        self.check(a, "alice", PW["alice"], "accepted")
        self.check(a, "dave", PW["dave"], "disabled")
        self.assertEqual([x["state"] for x in a.module("ldap")["servers"]], ["up"])
        self.assertNoSecrets(a)
        a.stop()

    def test_account_states(self):
        """Locked out, password expired (must change), unknown, wrong:
        each refused with its reason; the right password does not open a
        locked or expired account."""
        a = self.agent_for()
        self.check(a, "erin", PW["erin"], "locked")
        self.check(a, "frank", PW["frank"], "expired")
        unknown = self.check(a, "nobody", "Whatever-1!", "denied")
        wrong = self.check(a, "bob", "Wrong-Pass9!", "denied")
        # an unknown name and a wrong password look alike to the caller
        self.assertEqual(unknown.get("text"), wrong.get("text"), (unknown, wrong))
        self.check(a, "bob", PW["bob"], "accepted")
        self.assertNoSecrets(a)
        a.stop()

    def test_nested_group(self):
        """allowed_groups = printing: bob is in it through print-staff (AD's
        in-chain matching rule), alice is not."""
        a = self.agent_for(allowed_groups=ldaplib.PRINTING_DN)
        reply = self.check(a, "bob", PW["bob"], "accepted")
        names = group_names(reply.get("groups"))
        self.assertLessEqual({"printing", "print-staff"}, names, reply)
        self.check(a, "alice", PW["alice"], "not-allowed")
        # a wrong password stays a wrong password, group or not
        self.check(a, "bob", "Wrong-Pass9!", "denied")
        a.stop()

    def test_name_forms(self):
        """DOMAIN\\user and user@domain name alice; zoë's name is UTF-8;
        another domain's user is nobody here."""
        a = self.agent_for(domain=ldaplib.DNS_DOMAIN)
        for name in ("SCOUT\\alice", "alice@scout.test", "scout\\alice", "alice@SCOUT.TEST"):
            reply = self.check(a, name, PW["alice"], "accepted")
            self.assertEqual(reply.get("user"), "alice", reply)
        reply = self.check(a, "zoë", PW["zoë"], "accepted")
        self.assertEqual(reply.get("user"), "zoë", reply)
        self.assertEqual(reply.get("display"), "Zoë Ünlü", reply)
        self.check(a, "zoë@scout.test", PW["zoë"], "accepted")
        p = a.ctl("auth", "test", "zoë", input=PW["zoë"] + "\n")
        self.assertEqual(p.stdout.splitlines()[:1], ["zoë: accepted"], p.stdout + p.stderr)
        reply, p = ldaplib.auth(a, "alice@other.test", PW["alice"])
        self.assertNotEqual(ldaplib.result_of(reply), "accepted", p.stdout + p.stderr)
        reply, p = ldaplib.auth(a, "OTHER\\alice", PW["alice"])
        self.assertNotEqual(ldaplib.result_of(reply), "accepted", p.stdout + p.stderr)
        self.assertNoSecrets(a)
        a.stop()

    @staticmethod
    def user_of(out):
        """scoutctl user --json prints the user object (or a reply with it)."""
        j = json.loads(out)
        return j if "dn" in j else j.get("user", j)

    def test_user_lookup(self):
        """scoutctl user: display name, mail, groups (nested included), and
        the lookup by card number."""
        a = self.agent_for(card_attribute="employeeNumber")
        p = a.ctl("user", "alice", "--json")
        self.assertEqual(p.returncode, 0, "%s%s\n%s" % (p.stdout, p.stderr, a.log()))
        u = self.user_of(p.stdout)
        self.assertEqual(u.get("display"), "Alice Liddell", u)
        self.assertEqual(u.get("mail"), "alice@scout.test", u)
        self.assertEqual(u.get("dn", "").lower(), ("CN=alice," + ldaplib.USERS_DN).lower(), u)
        self.assertEqual(u.get("card"), "4711", u)
        self.assertIn("scanning", group_names(u.get("groups")), u)

        # what an operator reads: who she is, her mail and her groups
        p = a.ctl("user", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        for want in ("Alice Liddell", "alice@scout.test", "scanning"):
            self.assertIn(want, p.stdout, "scoutctl user alice:\n" + p.stdout)

        p = a.ctl("user", "bob", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        names = group_names(self.user_of(p.stdout).get("groups"))
        self.assertLessEqual({"printing", "print-staff"}, names, p.stdout)

        p = a.ctl("user", "--card", "4711", "--json")
        self.assertEqual(p.returncode, 0, "%s%s\n%s" % (p.stdout, p.stderr, a.log()))
        self.assertEqual(self.user_of(p.stdout).get("user"), "alice", p.stdout)

        p = a.ctl("user", "nobody-here")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        p = a.ctl("user", "--card", "999999")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        a.stop()


if __name__ == "__main__":
    ldaplib.private_netns()
    scoutlib.main()
