#!/usr/bin/env python3
"""The ldap module when the directory misbehaves: a server that is down
(the port refuses), a server that accepts TCP and never says a word (over
LDAPS: the TLS handshake hangs; over ldap://: the StartTLS request is never
answered), a server that answers slowly (a proxy in front of slapd holding
every chunk longer than the timeout; and one slow but within it), and a
server whose certificate comes from another CA.

Each gives `unavailable` with a text naming the cause, within the
configured timeout (plus a margin for a loaded machine), and while the
authentications are pending the loop stays responsive: the median of 20
status requests, made one after the other on fresh connections, is under
10 ms (25 ms in a sanitizer build; a loop blocked on the network would
take the timeout, seconds).

Skips (77) without slapd/ldap-utils, without a network namespace or while
scoutd has no ldap module.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ldaplib  # noqa: E402
import scoutlib  # noqa: E402

TIMEOUT = 2.0  # the [ldap] timeout of these tests, seconds
MARGIN = 4.0 if not os.environ.get("SCOUT_SANITIZED") else 8.0
# the bound; a sanitizer build runs every status reply several
# times slower, which is not what this measures (a blocked loop takes
# seconds)
STATUS_MEDIAN = 0.010 if not os.environ.get("SCOUT_SANITIZED") else 0.025
PW = {uid: v[0] for uid, v in ldaplib.LDAP_USERS.items()}
# what a server that says nothing in time is called
SILENCE = re.compile(r"(?i)timed? ?out|no answer within")


class Faults(ldaplib.PeerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wrong_ca = ldaplib.TestCA("another CA")
        cls.shared = ldaplib.Slapd(cls.ca).start()  # the class's own
        cls.wrong = ldaplib.Slapd(cls.wrong_ca, "wrong-ca").start()

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanup()
        cls.wrong.cleanup()

    def agent_for(self, servers, timeout=TIMEOUT, **keys):
        a = ldaplib.ldap_agent(self, ldaplib.LDAP_SVC_PW, schema="openldap", servers=servers, ca_file=self.ca.ca,
                               base=ldaplib.LDAP_BASE, bind_dn=ldaplib.LDAP_SVC_DN, timeout="%gs" % timeout,
                               max_failures="100", max_source_failures="1000", **keys)
        a.start()
        self.assertEqual(a.module("ldap")["state"], "running", a.log())
        return a

    def pending_auths(self, a, users=("alice", "bob", "carol")):
        """Sends one auth per user, each on its own connection, at once;
        measures status round trips while they are pending; returns
        ([(reply, seconds)], status latencies, whether any auth was still
        pending when the measurement ended)."""
        conns = []
        t0 = time.monotonic()
        for u in users:
            c = a.connect(timeout=TIMEOUT * 4 + MARGIN + 30)
            conns.append(c)
            ldaplib.raw_auth(c, u, PW[u])
        lat = ldaplib.status_latencies(a, 20)
        measured = time.monotonic() - t0
        out = []
        try:
            for c in conns:
                r = c.reply()
                out.append((r, time.monotonic() - t0))
        finally:
            for c in conns:
                c.close()
        return out, lat, any(took > measured for _, took in out)

    def check_fault(self, a, cause, pending=True, timeout=TIMEOUT):
        out, lat, was_pending = self.pending_auths(a)
        for r, took in out:
            self.assertEqual(ldaplib.raw_result(r), "unavailable", "%r\n%s" % (r, a.log()[-5000:]))
            self.assertRegex(r.get("text", ""), cause, r)
            self.assertLess(took, timeout + MARGIN, "unavailable after %.1f s, timeout %.0f s: %r" % (took, timeout, r))
        med = ldaplib.median(lat)
        self.assertLess(med, STATUS_MEDIAN, "status took %.1f ms (median of %d; max %.1f ms) while auths were pending" %
                        (med * 1000, len(lat), max(lat) * 1000))
        if pending:
            self.assertTrue(was_pending, "the auths ended before status was measured: %r" % out)
        st = a.module("ldap")
        self.assertEqual([s["state"] for s in st["servers"]], ["down"], st)
        self.assertRegex(st["servers"][0].get("last_error") or "", cause, st)
        self.assertGreaterEqual(st["counters"]["search_errors"] + st["counters"]["bind_errors"], 1, st)
        # the agent as a whole still works
        self.assertEqual(a.module("health")["state"], "running")
        print("%s: unavailable in %s s, status median %.2f ms max %.2f ms" %
              (self.id().split(".")[-1], ", ".join("%.2f" % t for _, t in out), med * 1000, max(lat) * 1000),
              flush=True)
        return out

    def test_server_down(self):
        port = ldaplib.closed_port()
        a = self.agent_for("ldaps://127.0.0.1:%d" % port)
        self.check_fault(a, re.compile(r"(?i)refused|connect|contact"), pending=False)
        a.stop()

    def test_silent_server_ldaps(self):
        s = ldaplib.Silent()
        self.peers.append(s)
        a = self.agent_for("ldaps://127.0.0.1:%d" % s.port)
        self.check_fault(a, SILENCE)
        self.assertGreaterEqual(s.accepted, 1)
        a.stop()

    def test_silent_server_starttls(self):
        s = ldaplib.Silent()
        self.peers.append(s)
        a = self.agent_for("ldap://127.0.0.1:%d" % s.port)
        self.check_fault(a, SILENCE)
        a.stop()

    def test_slow_server(self):
        p = ldaplib.SlowProxy(self.shared.ldaps_port, TIMEOUT + 1.5)
        self.peers.append(p)
        a = self.agent_for("ldaps://127.0.0.1:%d" % p.port)
        self.check_fault(a, SILENCE)
        a.stop()

    def test_slow_but_in_time(self):
        """A server slower than usual but within the timeout is used."""
        p = ldaplib.SlowProxy(self.shared.ldaps_port, 0.05)
        self.peers.append(p)
        a = self.agent_for("ldaps://127.0.0.1:%d" % p.port, timeout=10)
        reply, cp = ldaplib.auth(a, "alice", PW["alice"])
        self.assertEqual(ldaplib.result_of(reply), "accepted", cp.stdout + cp.stderr + a.log()[-5000:])
        a.stop()

    def test_wrong_ca(self):
        a = self.agent_for(self.wrong.ldaps_uri)
        self.check_fault(a, re.compile(r"(?i)certificate|verif|tls|\bca\b"), pending=False)
        # StartTLS to the same server: the same refusal
        a.stop()
        a = self.agent_for(self.wrong.uri)
        self.check_fault(a, re.compile(r"(?i)certificate|verif|tls|\bca\b"), pending=False)
        self.assertFalse([b for b in self.wrong.binds() if b], "a bind reached the server with the wrong CA")
        a.stop()

    def test_recovers(self):
        """A server that was down and comes back is used again without a
        restart of scoutd."""
        s = ldaplib.Slapd(self.ca, "late")
        self.peers.append(s)
        a = self.agent_for(s.ldaps_uri)
        reply, _ = ldaplib.auth(a, "alice", PW["alice"])
        self.assertEqual(ldaplib.result_of(reply), "unavailable", reply)
        s.start()
        deadline = time.monotonic() + 90  # back-off: 1 s doubling, and the next attempt
        while True:
            reply, cp = ldaplib.auth(a, "alice", PW["alice"])
            if ldaplib.result_of(reply) == "accepted" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(ldaplib.result_of(reply), "accepted", cp.stdout + cp.stderr + a.log()[-5000:])
        self.assertEqual([x["state"] for x in a.module("ldap")["servers"]], ["up"])
        a.stop()


if __name__ == "__main__":
    ldaplib.private_netns()
    scoutlib.main()
