"""The snmp module against hostile agents (tests/snmp/hostile.py): printers
whose serial number changes on every read. The inventory must stay bounded:
a device that keeps its MAC and sysObjectID at one address stays one record,
one whose MAC cannot be read leaves at most max_per_address records naming
its address, the whole inventory stops at max_devices, and records no sweep
has reached for forget_after are forgotten."""

import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import scoutlib  # noqa: E402
import hostile  # noqa: E402

IPS = ["127.0.0.%d" % i for i in range(150, 155)]
WITH_MAC = IPS[:3]  # the other two answer without an interface table
DEFAULT_PER_ADDRESS = 4


def flapping(agent, req):
    """Every read asks for the serial once: give it a new one each time."""
    if req.pdu == hostile.GET and hostile.oid_tuple(hostile.SERIAL_OID) in req.oids:
        agent.reads = getattr(agent, "reads", 0) + 1
        agent.set(hostile.SERIAL_OID, hostile.OCTETS, "FLAP%d%06d" % (IPS.index(agent.addr) + 1, agent.reads))
    return None


class HostileSerials(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        self.port = hostile.free_port(IPS)
        self.peers = []
        for i, ip in enumerate(IPS):
            mac = "00:1b:a9:00:01:%02x" % i if ip in WITH_MAC else None
            table = hostile.printer_table(serial="FLAP%d000000" % (i + 1), mac=mac)
            self.peers.append(hostile.Agent(ip, self.port, table, hook=flapping).start())

    def tearDown(self):
        for p in self.peers:
            p.stop()
        super().tearDown()

    def config(self, a, extra=""):
        return scoutlib.config_text(a.state_dir, health="enabled = no\n") + (
            "\n[snmp]\nenabled = yes\nranges = %s-%s\nport = %d\ntimeout_ms = 500\nretries = 0\nrate = 0\n"
            "discovery_interval = 0\n%s" % (IPS[0], IPS[-1], self.port, extra))

    def devices(self, a):
        p = a.ctl("devices", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def naming(self, devices, ip):
        return [d for d in devices if d.get("ip", d.get("previous_ip")) == ip]

    def snmp(self, st):
        return [m for m in st["modules"] if m["name"] == "snmp"][0]

    def test_flapping_serials_stay_bounded(self):
        a = self.agent()
        a.write_config(self.config(a, "status_interval = 1s\n"))
        a.start()
        p = a.ctl("scan", "--wait", timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("5 printers", p.stdout)
        # every status read sees another serial and reads the device again
        a.wait_for(lambda st: self.snmp(st)["counters"]["status_reads"] >= 60, timeout=120,
                   what="60 status reads")
        devices = self.devices(a)
        for ip in IPS:
            recs = self.naming(devices, ip)
            # without a MAC, every read (a dozen each by now) makes a
            # new record: the address holds as many as it may
            want = 1 if ip in WITH_MAC else DEFAULT_PER_ADDRESS
            self.assertEqual(len(recs), want, "%d records name %s" % (len(recs), ip))
            live = [d for d in recs if d.get("ip") == ip]
            self.assertEqual(len(live), 1, ip)
        for i, ip in enumerate(WITH_MAC):
            # same MAC, same sysObjectID, same address: one device whose
            # serial cannot be trusted, keyed by its MAC
            recs = self.naming(devices, ip)
            self.assertEqual(len(recs), 1, recs)
            self.assertEqual(recs[0]["id"], "m:00:1b:a9:00:01:%02x" % i)
            self.assertIs(recs[0].get("serial_unstable"), True)
            self.assertTrue(recs[0]["serial"].startswith("FLAP%d" % (i + 1)))
        self.assertEqual(len(devices), len(WITH_MAC) + sum(len(self.naming(devices, ip)) for ip in IPS[3:]))
        st = a.module("snmp")
        self.assertGreater(st["counters"]["devices_forgotten"], 0)
        self.assertEqual(st["counters"]["devices_refused"], 0)
        log = a.log()
        self.assertIn("more than %d records for this address" % DEFAULT_PER_ADDRESS, log)
        self.assertEqual(log.count("identifying it by its MAC"), len(WITH_MAC), "logged once per device")

        # what was kept comes back (the records of the devices without a
        # MAC change each second, so only their number can be compared: the
        # bound, reached long ago), and it stays at the bound
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        a.start()
        back = self.devices(a)
        self.assertEqual(sorted(d["id"] for d in back if d.get("serial_unstable")),
                         sorted(d["id"] for d in devices if d.get("serial_unstable")))
        self.assertEqual([len(self.naming(back, ip)) for ip in IPS],
                         [1 if ip in WITH_MAC else DEFAULT_PER_ADDRESS for ip in IPS])
        before = self.snmp(a.status())["counters"]["status_reads"]
        a.wait_for(lambda st: self.snmp(st)["counters"]["status_reads"] >= before + 20, timeout=120,
                   what="20 more status reads")
        devices = self.devices(a)
        self.assertEqual([len(self.naming(devices, ip)) for ip in IPS],
                         [1 if ip in WITH_MAC else DEFAULT_PER_ADDRESS for ip in IPS])
        self.assertEqual(sum(1 for d in devices if d.get("serial_unstable")), len(WITH_MAC))
        rc, _ = a.stop()
        self.assertEqual(rc, 0)

    def test_max_devices(self):
        a = self.agent()
        a.write_config(self.config(a, "status_interval = 0\nmax_devices = 2\n"))
        a.start()
        for _ in range(2):
            p = a.ctl("scan", "--wait", timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("5 printers", p.stdout)
        devices = self.devices(a)
        self.assertEqual(len(devices), 2)
        st = a.module("snmp")
        self.assertGreaterEqual(st["counters"]["devices_refused"], 3 + 3)
        log = a.log()
        self.assertEqual(log.count("max_devices"), 1, "the refusal is logged once")
        # the printers it has are still read
        self.assertEqual(st["counters"]["reads_failed"], 0)
        rc, _ = a.stop()
        self.assertEqual(rc, 0)

    def test_forget_after(self):
        a = self.agent()
        a.write_config(self.config(a, "status_interval = 0\nforget_after = 10s\n"))
        a.start()
        p = a.ctl("scan", "--wait", timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.devices(a)), 5)
        gone = IPS[3:]
        for ag in self.peers[3:]:
            ag.stop()
        time.sleep(11.5)
        p = a.ctl("scan", "--wait", timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        devices = self.devices(a)
        self.assertEqual(sorted(d["ip"] for d in devices), IPS[:3])
        log = a.log()
        for ip in gone:
            self.assertIn("(%s)" % ip, log)
        self.assertIn("not seen for 10s", log)
        self.assertEqual(a.module("snmp")["counters"]["devices_forgotten"], 2)
        # and stays forgotten after a restart
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        a.start()
        self.assertEqual(len(self.devices(a)), 3)
        rc, _ = a.stop()
        self.assertEqual(rc, 0)

    def test_forget_after_checked(self):
        a = self.agent()
        a.write_config(self.config(a, "forget_after = 90\n").replace("discovery_interval = 0", "discovery_interval = 12h"))
        p = a.spawn(["--check-config", "-c", a.config_path])
        p.wait(10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("forget_after", a.log())
        self.assertIn("longer than discovery_interval", a.log())


class HostileAgentSelfTest(unittest.TestCase):
    """The responder itself: v1 and v2c, GET, GETNEXT, GETBULK, hooks."""

    def exchange(self, agent, pdu, oids, version=1, a=0, b=0, rid=7):
        import socket
        body = hostile.enc_int(rid) + hostile.enc_int(a) + hostile.enc_int(b) + hostile.tlv(
            hostile.SEQUENCE, b"".join(hostile.tlv(hostile.SEQUENCE, hostile.enc_oid(o) + hostile.enc_value(
                hostile.NULL, None)) for o in oids))
        msg = hostile.tlv(hostile.SEQUENCE, hostile.enc_int(version) + hostile.tlv(hostile.OCTETS, b"public") +
                          hostile.tlv(pdu, body))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        try:
            s.sendto(msg, (agent.addr, agent.port))
            return hostile.decode_response(s.recvfrom(65535)[0])
        except socket.timeout:
            return None
        finally:
            s.close()

    def test_answers(self):
        calls = []

        def hook(agent, req):
            calls.append(req.pdu)
            return hostile.DROP if req.request_id == 99 else None

        ag = hostile.Agent("127.0.0.155", 0, hostile.printer_table(serial="ABC12345"), hook=hook).start()
        try:
            rid, err, idx, vbs = self.exchange(ag, hostile.GET, [hostile.SERIAL_OID, "1.3.6.1.2.1.1.9.0"])
            self.assertEqual((rid, err), (7, 0))
            self.assertEqual(vbs[0][2], b"ABC12345")
            self.assertEqual(vbs[1][1], hostile.NO_SUCH_OBJECT)
            _, err, idx, _ = self.exchange(ag, hostile.GET, [hostile.SERIAL_OID, "1.3.6.1.2.1.1.9.0"], version=0)
            self.assertEqual((err, idx), (hostile.NO_SUCH_NAME, 2))
            _, _, _, vbs = self.exchange(ag, hostile.GETNEXT, ["1.3.6.1.2.1.43"])
            self.assertEqual(vbs[0][0], hostile.oid_tuple("1.3.6.1.2.1.43.5.1.1.16.1"))
            _, _, _, vbs = self.exchange(ag, hostile.GETBULK, ["1.3.6.1.2.1.43.11.1.1.9", "1.3.6.1.2.1.43.16"],
                                         a=0, b=3)
            # row by row, until every column ran off the end
            self.assertEqual(len(vbs), 4)
            self.assertEqual(vbs[0][0], hostile.oid_tuple("1.3.6.1.2.1.43.11.1.1.9.1.1"))
            self.assertEqual(vbs[2][0], hostile.oid_tuple("1.3.6.1.2.1.43.16.5.1.2.1.1"))
            self.assertEqual(vbs[3][1], hostile.END_OF_MIB_VIEW)
            self.assertIsNone(self.exchange(ag, hostile.GET, [hostile.SERIAL_OID], rid=99))
            self.assertEqual(ag.requests["getbulk"], 1)
            self.assertEqual(len(calls), 5)
        finally:
            ag.stop()


if __name__ == "__main__":
    scoutlib.main()
