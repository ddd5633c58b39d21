#!/usr/bin/env python3
"""Domain controllers found through DNS, as an AD site configures it:
`[ldap] domain = scout.test` and no `servers`. The peers are real: Samba's
AD DC (ldaplib.SambaAD) on 127.0.0.1 with a certificate naming
dc1.scout.test, and dnsmasq as the site's DNS server on 127.0.0.1:53,
answering

    _ldap._tcp.dc._msdcs.scout.test SRV 0 100 389 dc0.scout.test  (127.0.0.2: nobody listens)
    _ldap._tcp.dc._msdcs.scout.test SRV 10 100 389 dc1.scout.test (127.0.0.1: samba)

in this test's own network and mount namespaces (its /etc/resolv.conf
names 127.0.0.1). scoutd must find both controllers, try dc0 first (the
lower priority value), fail over to dc1, verify dc1's certificate by its
name, accept alice and refuse dave as disabled; `scoutctl status` lists
both with their source (srv) and state. A domain nobody answers for gives
`unavailable` naming the discovery. Skips (77) without samba, dnsmasq or
the namespaces.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ldaplib  # noqa: E402
import scoutlib  # noqa: E402

PW = {name: v[0] for name, v in ldaplib.AD_USERS.items()}
SRV = "_ldap._tcp.dc._msdcs." + ldaplib.DNS_DOMAIN
PEER = {}


def dnsmasq_missing():
    return None if shutil.which("dnsmasq") else "dnsmasq is missing (apt-get install dnsmasq-base)"


def setUpModule():
    why = ldaplib.samba_missing() or dnsmasq_missing() or ldaplib.module_missing()
    if why:
        raise unittest.SkipTest(why)
    if os.geteuid() != 0:
        raise unittest.SkipTest("the test's own /etc/resolv.conf needs root (mount --bind)")
    tmp = scoutlib.make_tmpdir(0o755)
    PEER["tmp"] = tmp
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    PEER["dns"] = subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--port=53", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--no-resolv", "--no-hosts", "--user=root", "--pid-file=" + os.path.join(tmp, "dnsmasq.pid"),
         "--log-queries", "--log-facility=" + os.path.join(tmp, "dnsmasq.log"),
         "--srv-host=%s,dc0.%s,389,0,100" % (SRV, ldaplib.DNS_DOMAIN),
         "--srv-host=%s,dc1.%s,389,10,100" % (SRV, ldaplib.DNS_DOMAIN),
         "--host-record=dc0.%s,127.0.0.2" % ldaplib.DNS_DOMAIN,
         "--host-record=dc1.%s,127.0.0.1" % ldaplib.DNS_DOMAIN],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # dnsmasq answers once it listens: wait until dc1's name resolves
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.getaddrinfo("dc1." + ldaplib.DNS_DOMAIN, 636)
            break
        except OSError:
            if time.monotonic() > deadline or PEER["dns"].poll() is not None:
                tearDownModule()
                raise AssertionError("dnsmasq did not answer on 127.0.0.1:53")
            time.sleep(0.1)
    PEER["ca"] = ldaplib.TestCA(names=["dc0." + ldaplib.DNS_DOMAIN, "dc1." + ldaplib.DNS_DOMAIN])
    PEER["ad"] = ad = ldaplib.SambaAD(PEER["ca"])
    try:
        ad.start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    if "ad" in PEER:
        PEER["ad"].cleanup()
    if "dns" in PEER:
        PEER["dns"].kill()
        PEER["dns"].wait()
    subprocess.run(["umount", "/etc/resolv.conf"], capture_output=True)
    if "tmp" in PEER:
        shutil.rmtree(PEER["tmp"], ignore_errors=True)


class Discovery(scoutlib.AgentTest):
    def agent_for(self, domain):
        a = ldaplib.ldap_agent(self, ldaplib.SVC_PW, domain=domain, ca_file=PEER["ca"].ca, bind_dn=ldaplib.SVC_DN,
                               timeout="3s")
        a.start()
        m = a.module("ldap")
        self.assertEqual(m["state"], "running", "%r\n%s" % (m, a.log()))
        return a

    def auth(self, a, user, want):
        reply, p = ldaplib.auth(a, user, PW.get(user, "Wrong-Pass9!"))
        self.assertEqual(ldaplib.result_of(reply), want, "auth test %r: %s%s\n%s\n%s" %
                         (user, p.stdout, p.stderr, a.log()[-6000:], self.dns_log()))
        return reply

    @staticmethod
    def dns_log():
        try:
            with open(os.path.join(PEER["tmp"], "dnsmasq.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def test_domain_controllers_from_srv(self):
        a = self.agent_for(ldaplib.DNS_DOMAIN)
        reply = self.auth(a, "alice", "accepted")
        self.assertIn("dc1." + ldaplib.DNS_DOMAIN, reply.get("server", ""), reply)
        self.auth(a, "dave", "disabled")
        servers = {s["uri"]: s for s in a.module("ldap").get("servers", [])}
        dc0 = "ldaps://dc0.%s:636" % ldaplib.DNS_DOMAIN
        dc1 = "ldaps://dc1.%s:636" % ldaplib.DNS_DOMAIN
        self.assertEqual(list(servers), [dc0, dc1], "priority order: %r" % servers)
        self.assertEqual(servers[dc0]["state"], "down", servers)
        self.assertEqual(servers[dc1]["state"], "up", servers)
        self.assertTrue(all(s.get("source") == "srv" for s in servers.values()), servers)
        self.assertIn(SRV, self.dns_log())
        rc, _ = a.stop()
        self.assertEqual(rc, 0)

    def test_unknown_domain(self):
        a = self.agent_for("nowhere.test")
        reply = self.auth(a, "alice", "unavailable")
        self.assertIn("nowhere.test", reply.get("text", ""), reply)
        rc, _ = a.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    ldaplib.private_netns(mounts=True)
    scoutlib.main()
