#!/usr/bin/env python3
"""Regenerates the seed corpora of the snmp fuzz targets.

    tests/fuzz/snmp-corpus.py capture   real responses -> corpus/fuzz-snmp-response/real-*.bin
    tests/fuzz/snmp-corpus.py synth     hand-made cases -> corpus/fuzz-snmp-response/syn-*.bin
                                        and corpus/fuzz-snmp-normalise/syn-*.snmprec

capture serves a few shared printer recordings with snmpsim (tests/snmp/peers.py,
127.0.0.20+ on port 1161), puts a UDP relay on 127.0.0.1 in front of each
agent, asks net-snmp's snmpget/snmpgetnext/snmpbulkget/snmpbulkwalk for GET,
GETNEXT and GETBULK answers (v1 and v2c), and keeps every distinct response
datagram the relay saw. Everything stays on loopback: the relay refuses any
other address. Needs snmpsim and the snmp client tools, and root or the right
to bind 127.0.0.x. (snmpsim keeps its answers under ~1.5 KB whatever
max-repetitions asks for; the datagrams of tens of KB come from synth.)

synth needs nothing: edge cases of BER (truncations, wrong and long-form
lengths, SNMPv3 and other versions, limits of every type, more varbinds or
arcs than io.c's buffers hold) and of the normaliser (RFC 3805 special
levels, huge numbers, text that is not UTF-8 in various charsets, console
buffers past their limit, alert tables, MAC tables, malformed snmprec).

synth also copies the recordings corpus/fuzz-snmp-normalise/rec-*.snmprec
from ../shared/testdata/printers/snmprec (see its README for their
licences). Files named bug-* are reproducers of fixed bugs, kept by hand;
corpus/fuzz-snmp-ranges is written by hand too.
"""

import hashlib
import ipaddress
import os
import select
import socket
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "snmp"))

AGENTS = [
    "hp_clj-pro-m252dw",  # Counter64, IP-MIB
    "brotherlib_dcp-9020cdw",  # Brother blobs (hex OCTET STRINGs), ISO-8859-2 panel
    "kyocera_cs-4053ci",  # big Printer-MIB tables
    "xerox_phaser-4600",  # a handful of values: endOfMibView soon
    "zebra_zebranet-ps",
]
RELAY_BASE = 11610


def loopback(addr):
    if not ipaddress.ip_address(addr).is_loopback:
        raise SystemExit("capture: refusing non-loopback address %s" % addr)
    return addr


class Relay:
    """127.0.0.1:RELAY_BASE+i -> agent i; records every answer."""

    def __init__(self, targets):
        self.targets = [(loopback(a), p) for a, p in targets]
        self.front = []
        for i in range(len(targets)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", RELAY_BASE + i))
            self.front.append(s)
        self.back = {}  # back socket -> (front socket, client address)
        self.tag = "x"
        self.seen = []  # (tag, datagram)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            socks = self.front + list(self.back)
            r, _, _ = select.select(socks, [], [], 0.2)
            for s in r:
                data, src = s.recvfrom(65536)
                if s in self.front:
                    loopback(src[0])
                    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    b.sendto(data, self.targets[self.front.index(s)])
                    self.back[b] = (s, src)
                else:
                    front, client = self.back.pop(s)
                    s.close()
                    self.seen.append((self.tag, data))
                    front.sendto(data, client)

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.front + list(self.back):
            s.close()


def snmp(relay, tag, i, tool, version, oids, opts=()):
    relay.tag = tag
    cmd = [tool, "-On", "-r", "0", "-t", "3", "-m", "", "-M", "/dev/null", "-v", version, "-c", "public"]
    cmd += list(opts) + ["127.0.0.1:%d" % (RELAY_BASE + i)] + list(oids)
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode:
        print("capture: %s: %s" % (tag, p.stderr.strip()), file=sys.stderr)
    return p


def capture(out):
    import peers

    os.makedirs(out, exist_ok=True)
    sim = peers.Snmpsim(AGENTS).start()
    relay = Relay([(sim.ip(i), sim.port) for i in range(len(AGENTS))])
    try:
        run(relay)
    finally:
        relay.close()
        sim.stop()
    kept = {}
    for tag, data in relay.seen:
        h = hashlib.sha1(data).hexdigest()[:10]
        if h not in kept:
            kept[h] = (tag, data)
    for h, (tag, data) in kept.items():
        with open(os.path.join(out, "real-%s-%s.bin" % (tag, h)), "wb") as f:
            f.write(data)
    print("capture: %d distinct responses in %s" % (len(kept), out))


def run(relay):
    hp, br, ky, xe, ze = range(5)
    SYS = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"]
    # GET: the identity probe, v2c and v1, every agent
    for i, name in enumerate(["hp", "brother", "kyocera", "xerox", "zebra"]):
        snmp(relay, "get-v2c-sys-" + name, i, "snmpget", "2c", SYS)
        snmp(relay, "get-v1-sys-" + name, i, "snmpget", "1", SYS)
    # noSuchObject / noSuchInstance (v2c) and noSuchName (v1)
    snmp(relay, "get-v2c-nosuchobject", hp, "snmpget", "2c", ["1.3.6.1.4.1.99999.1.0", "1.3.6.1.2.1.1.1.0"])
    snmp(relay, "get-v2c-nosuchinstance", hp, "snmpget", "2c", ["1.3.6.1.2.1.1.1.7"])
    snmp(relay, "get-v1-nosuchname", hp, "snmpget", "1", ["1.3.6.1.2.1.1.1.0", "1.3.6.1.4.1.99999.1.0"])
    # Counter64 (ipSystemStats), TimeTicks, Gauge32, IpAddress
    snmp(relay, "get-v2c-counter64", hp, "snmpget", "2c", ["1.3.6.1.2.1.4.31.1.1.4.2",
                                                           "1.3.6.1.2.1.4.31.1.1.6.1"])
    snmp(relay, "bulk-v2c-ipaddr", hp, "snmpbulkget", "2c", ["1.3.6.1.2.1.4.20.1"], ["-Cn0", "-Cr12"])
    # hex OCTET STRINGs: Brother blobs, panel text, MAC
    blobs = ["1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.%s.0" % k for k in ("8", "10", "11")]
    snmp(relay, "get-v2c-brother-blobs", br, "snmpget", "2c", blobs)
    snmp(relay, "get-v2c-brother-panel", br, "snmpget", "2c", ["1.3.6.1.4.1.2435.2.3.9.4.2.1.5.4.5.2.0",
                                                                "1.3.6.1.2.1.2.2.1.6.1", "1.3.6.1.2.1.43.7.1.1.4.1.1",
                                                                "1.3.6.1.4.1.2435.2.3.9.1.1.7.0"])
    # GETNEXT, and past the last object: endOfMibView / v1 noSuchName
    snmp(relay, "next-v2c-sys", ky, "snmpgetnext", "2c", ["1.3.6.1.2.1.1", "1.3.6.1.2.1.43.11.1.1.6"])
    snmp(relay, "next-v2c-endofmibview", xe, "snmpgetnext", "2c", ["1.3.6.1.4.1.99999"])
    snmp(relay, "next-v1-end", xe, "snmpgetnext", "1", ["1.3.6.1.4.1.99999"])
    # GETBULK: supplies, alerts, console, hrDevice, interfaces; big ones
    for tag, i, rep, oids in [
        ("bulk-v2c-supplies", ky, 40, ["1.3.6.1.2.1.43.11.1.1"]),
        ("bulk-v2c-supplies-hp", hp, 30, ["1.3.6.1.2.1.43.11.1.1.6", "1.3.6.1.2.1.43.11.1.1.9"]),
        ("bulk-v2c-colorants", ky, 20, ["1.3.6.1.2.1.43.12.1.1"]),
        ("bulk-v2c-alerts", ky, 25, ["1.3.6.1.2.1.43.18.1.1"]),
        ("bulk-v2c-console", hp, 10, ["1.3.6.1.2.1.43.16.5.1.2"]),
        ("bulk-v2c-hrdevice", ky, 20, ["1.3.6.1.2.1.25.3.2.1"]),
        ("bulk-v2c-iftable", hp, 30, ["1.3.6.1.2.1.2.2.1"]),
        ("bulk-v2c-large", ky, 250, ["1.3.6.1.2.1.43"]),
        ("bulk-v2c-large-zebra", ze, 200, ["1.3.6.1.4.1"]),
        ("bulk-v2c-past-end", xe, 20, ["1.3.6.1.2.1.43"]),
    ]:
        snmp(relay, tag, i, "snmpbulkget", "2c", oids, ["-Cn0", "-Cr%d" % rep])
    snmp(relay, "bulk-v2c-nonrep", hp, "snmpbulkget", "2c", ["1.3.6.1.2.1.1.1", "1.3.6.1.2.1.1.2",
                                                             "1.3.6.1.2.1.43.11.1.1.9", "1.3.6.1.2.1.43.11.1.1.8"],
         ["-Cn2", "-Cr5"])
    # a whole walk of a small agent, page by page
    snmp(relay, "walk-v2c-xerox", xe, "snmpbulkwalk", "2c", ["1.3.6.1"], ["-Cr8"])
    snmp(relay, "walk-v2c-brother", br, "snmpbulkwalk", "2c", ["1.3.6.1"], ["-Cr5"])


# ---- synth: BER by hand -------------------------------------------------

RECORDINGS = [
    # small and medium ones, one or more per vendor family (~100 KB)
    "brother_hl-5370dw", "brotherlib_dcp-9020cdw", "brotherlib_mfc-j680dw", "canon_lbp6670",
    "dell_s5830dn", "epson_wf-c5790ba", "fujifilm_apeos-c7580", "gestetner_mpc2500",
    "hp_clj-pro-m252dw", "konica_bizhub-c3110-mixed", "kyocera_fs-1028mfp", "lexmark_t640",
    "oki_mc873", "ricoh_aficio-mp-c3002", "samsung_m4080fx", "sharp_mx-3570n", "xerox_altalink-c8045",
]


def ber_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body, lenbytes=None):
    return bytes([tag]) + (lenbytes if lenbytes is not None else ber_len(len(body))) + body


def int_body(v, size=None):
    if size is None:
        size = 1
        while not -(1 << (8 * size - 1)) <= v < (1 << (8 * size - 1)):
            size += 1
    return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "big")


def uint_body(v):
    b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    return b"\x00" + b if b[0] & 0x80 else b


def subid(v):
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def oid_body(arcs):
    if isinstance(arcs, str):
        arcs = [int(x) for x in arcs.split(".")]
    return subid(arcs[0] * 40 + arcs[1]) + b"".join(subid(a) for a in arcs[2:])


def INT(v):
    return tlv(0x02, int_body(v))


def OCT(b):
    return tlv(0x04, b if isinstance(b, bytes) else b.encode())


def OID(arcs):
    return tlv(0x06, oid_body(arcs))


NULL = b"\x05\x00"


def vb(oid, value):
    return tlv(0x30, OID(oid) + value)


def msg(vbs, version=1, community=b"public", pdu=0xA2, rid=1234, es=0, ei=0):
    body = INT(rid) + INT(es) + INT(ei) + tlv(0x30, b"".join(vbs))
    return tlv(0x30, INT(version) + OCT(community) + tlv(pdu, body))


def response_cases(real):
    sys_vbs = [
        vb("1.3.6.1.2.1.1.1.0", OCT("HP ETHERNET MULTI-ENVIRONMENT,SN:CN12345678,PID:HP LaserJet M402")),
        vb("1.3.6.1.2.1.1.2.0", OID("1.3.6.1.4.1.11.2.3.9.1")),
        vb("1.3.6.1.2.1.1.3.0", tlv(0x43, uint_body(123456))),
    ]
    ok = msg(sys_vbs)
    c = {}
    # truncations and wrong lengths of a real answer
    base = real or ok
    for cut in (len(base) // 2, len(base) - 1, 10, 1):
        c["trunc-%d" % cut] = base[:cut]
    c["len-outer-long"] = bytes([base[0]]) + ber_len(len(base) - 1) + base[2:] if base[1] < 0x80 else base[:-1]
    c["len-outer-short"] = ok[:1] + bytes([ok[1] - 1]) + ok[2:]
    c["trailing-garbage"] = ok + b"\x00\x00"
    bad_vb = tlv(0x30, OID("1.3.6.1.2.1.1.5.0") + OCT("name"), ber_len(len(OID("1.3.6.1.2.1.1.5.0") + OCT("name")) + 1))
    c["len-vb-off"] = msg([bad_vb, sys_vbs[0]])
    # long-form lengths, minimal or not: accepted
    body = INT(1) + OCT(b"public") + tlv(0xA2, INT(7) + INT(0) + INT(0) + tlv(0x30, b"".join(sys_vbs), b"\x84" + len(b"".join(sys_vbs)).to_bytes(4, "big")))
    c["len-longform"] = tlv(0x30, body, b"\x82" + len(body).to_bytes(2, "big"))
    c["len-indefinite"] = b"\x30\x80" + body + b"\x00\x00"
    c["len-5-bytes"] = b"\x30\x85" + len(body).to_bytes(5, "big") + body
    # other versions: SNMPv3 (a real-looking header), 2, negative, huge
    v3 = tlv(0x30, INT(3) + tlv(0x30, INT(91234) + INT(65507) + OCT(b"\x04") + INT(3)) +
             OCT(tlv(0x30, OCT(bytes.fromhex("80001f8880e9bd0c1d12667a5100000000")) + INT(2) + INT(1234) +
                     OCT(b"scoutv3") + OCT(b"\x00" * 12) + OCT(b"\x00" * 8))) +
             OCT(b"encrypted-scoped-pdu-bytes"))
    c["v3-header"] = v3
    c["v3-plain"] = tlv(0x30, INT(3) + tlv(0x30, INT(1) + INT(65507) + OCT(b"\x00") + INT(3)) + OCT(b"") +
                        tlv(0x30, OCT(b"") + OCT(b"") + tlv(0xA2, INT(1) + INT(0) + INT(0) + tlv(0x30, b""))))
    c["version-2"] = msg(sys_vbs, version=2)
    c["version-neg"] = msg(sys_vbs, version=-1)
    c["version-9bytes"] = msg([], version=1 << 70)
    # integer and counter limits
    c["types-limits"] = msg([
        vb("1.3.6.1.2.1.43.11.1.1.9.1.1", INT(-(1 << 63))),
        vb("1.3.6.1.2.1.43.11.1.1.8.1.1", INT((1 << 63) - 1)),
        vb("1.3.6.1.2.1.43.11.1.1.9.1.2", tlv(0x02, b"\x00\x00\x00\x00\x00\x00\x00\x05")),
        vb("1.3.6.1.2.1.43.10.2.1.4.1.1", tlv(0x46, b"\x00" + b"\xff" * 8)),
        vb("1.3.6.1.2.1.2.2.1.10.1", tlv(0x41, b"\x00\xff\xff\xff\xff")),
        vb("1.3.6.1.2.1.2.2.1.16.1", tlv(0x41, b"\xff\xff\xff\xfe")),  # "negative" Counter32
        vb("1.3.6.1.2.1.2.2.1.5.1", tlv(0x42, b"\x80")),
        vb("1.3.6.1.2.1.1.3.0", tlv(0x43, b"\x00")),
        vb("1.3.6.1.2.1.4.20.1.1.10.0.0.5", tlv(0x40, bytes([10, 0, 0, 5]))),
        vb("1.3.6.1.4.1.2021.10.1.6.1", tlv(0x44, b"\x9f\x78\x04\x3f\x80\x00\x00")),  # Opaque float
        vb("1.3.6.1.2.1.1.9.1.2.1", OID("1.3.6.1.6.3.1")),
        vb("1.3.6.1.2.1.1.4.0", NULL),
        vb("1.3.6.1.2.1.1.7.0", b"\x80\x00"),
        vb("1.3.6.1.2.1.1.7.1", b"\x81\x00"),
        vb("1.3.6.1.2.1.1.8.0", b"\x82\x00"),
    ])
    for name, value in [
        ("int-9bytes", tlv(0x02, b"\x00" * 9)), ("int-empty", b"\x02\x00"),
        ("c64-9bytes-bad", tlv(0x46, b"\x01" + b"\x00" * 8)), ("c32-5bytes-bad", tlv(0x41, b"\x01\x00\x00\x00\x00")),
        ("c32-empty", b"\x41\x00"), ("ipaddr-3", tlv(0x40, b"\x0a\x00\x00")), ("null-1", b"\x05\x01\x00"),
        ("nsap-0x45", tlv(0x45, b"\x01")), ("uint32-0x47", tlv(0x47, b"\x01")), ("hightag", b"\x1f\x01\x00"),
        ("endofmib-1", b"\x82\x01\x00"), ("oid-value-empty", b"\x06\x00"),
    ]:
        c["bad-" + name] = msg([vb("1.3.6.1.2.1.1.1.0", OCT("ok")), vb("1.3.6.1.2.1.1.3.0", value)])
    # OIDs: 128 arcs, 129 arcs, the largest arc, too large, non-minimal, cut, 2.x
    long128 = [1, 3, 6, 1, 4, 1] + [4294967295] * 122
    c["oid-128"] = msg([vb(long128, OID(long128))])
    c["oid-129"] = msg([vb(long128 + [1], NULL)])
    c["oid-value-129"] = msg([vb("1.3.6.1.2.1.1.2.0", OID(long128 + [7]))])
    c["oid-arc-2p32"] = msg([vb("1.3.6.1.2.1.1.1.0", NULL)]).replace(oid_body("1.3.6.1.2.1.1.1.0"), b"\x2b\x06\x01\x90\x80\x80\x80\x00\x01\x01\x00")
    c["oid-nonminimal"] = msg([vb("1.3.6.1.2.1.1.1.0", NULL)]).replace(b"\x06\x08\x2b\x06\x01\x02", b"\x06\x08\x2b\x06\x80\x02")
    c["oid-cut"] = msg([vb("1.3.6.1.2.1.1.1.0", NULL)]).replace(b"\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00", b"\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x81")
    c["oid-joint-iso"] = msg([vb([2, 999, 3], OID([2, 4294967215])), vb([2, 4294967215, 1], NULL)])
    c["oid-empty"] = b"\x30\x1a\x02\x01\x01\x04\x06public\xa2\x0d\x02\x01\x01\x02\x01\x00\x02\x01\x00\x30\x02\x06\x00"
    # PDU types and headers
    for pdu in (0xA0, 0xA1, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8, 0xBE):
        c["pdu-%02x" % pdu] = msg(sys_vbs[:1], pdu=pdu, rid=-5, es=pdu & 7, ei=1)
    c["pdu-v1-trap"] = tlv(0x30, INT(0) + OCT(b"public") + tlv(0xA4, OID("1.3.6.1.4.1.11") + tlv(0x40, b"\x0a\x00\x00\x01") +
                                                                INT(6) + INT(1) + tlv(0x43, b"\x01") + tlv(0x30, b"")))
    c["pdu-toobig"] = msg([], es=1)
    c["empty-list"] = msg([])
    c["community-empty"] = msg(sys_vbs, community=b"")
    c["community-binary"] = msg(sys_vbs, community=bytes(range(256)))
    c["rid-extremes"] = msg(sys_vbs, rid=-(1 << 31), es=(1 << 31) - 1, ei=-1)
    c["rid-too-big"] = msg(sys_vbs, rid=1 << 31)
    # more varbinds than io.c's 4096, more arcs than its 32768, and a big valid answer
    c["many-vbs"] = msg([vb([1, 3, i], NULL) for i in range(4100)])
    c["many-arcs"] = msg([vb([1, 3] + [i] * 126, INT(i)) for i in range(260)])
    rows = []
    for i in range(1, 1100):
        rows.append(vb("1.3.6.1.2.1.43.11.1.1.6.1.%d" % i, OCT("Toner Cartridge %d" % i)))
        rows.append(vb("1.3.6.1.2.1.43.11.1.1.9.1.%d" % i, INT(i % 120 - 3)))
    c["big-bulk"] = msg(rows[:2900], pdu=0xA2)
    # what the normaliser reads, in one answer
    c["printer-all"] = msg([
        vb("1.3.6.1.2.1.1.1.0", OCT(b"Brother NC-8300h, Firmware Ver.1.10 \xff\xfe")),
        vb("1.3.6.1.2.1.1.2.0", OID("1.3.6.1.4.1.2435.2.3.9.1")),
        vb("1.3.6.1.2.1.1.5.0", OCT(b"BRN\xc3\x28name")),
        vb("1.3.6.1.2.1.1.6.0", OCT(b"Floor 2 \xe2\x82")),
        vb("1.3.6.1.2.1.2.2.1.6.1", OCT(bytes.fromhex("0080778899aa"))),
        vb("1.3.6.1.2.1.2.2.1.6.2", OCT(bytes(6))),
        vb("1.3.6.1.2.1.2.2.1.8.1", INT(1)),
        vb("1.3.6.1.2.1.4.20.1.2.192.0.2.10", INT(1)),
        vb("1.3.6.1.2.1.25.3.2.1.2.1", OID("1.3.6.1.2.1.25.3.1.5")),
        vb("1.3.6.1.2.1.25.3.2.1.3.1", OCT(b"Brother HL-L8260CDW series")),
        vb("1.3.6.1.2.1.25.3.2.1.5.1", INT(3)),
        vb("1.3.6.1.2.1.25.3.5.1.1.1", INT(4)),
        vb("1.3.6.1.2.1.25.3.5.1.2.1", OCT(b"\xff\xff\xff")),
        vb("1.3.6.1.2.1.43.5.1.1.17.1", OCT(b"E7\xed\xa0\x80SERIAL")),
        vb("1.3.6.1.2.1.43.7.1.1.4.1.1", INT(2004)),
        vb("1.3.6.1.2.1.43.10.2.1.4.1.1", tlv(0x41, uint_body(4939))),
        vb("1.3.6.1.2.1.43.11.1.1.6.1.1", OCT(b"Black Toner \xa8")),
        vb("1.3.6.1.2.1.43.11.1.1.8.1.1", INT(-2)),
        vb("1.3.6.1.2.1.43.11.1.1.9.1.1", INT(-3)),
        vb("1.3.6.1.2.1.43.16.5.1.2.1.1", OCT(b"Sleep \x1b[2J")),
        vb("1.3.6.1.2.1.43.18.1.1.2.1.1", INT(3)),
        vb("1.3.6.1.2.1.43.18.1.1.7.1.1", INT(1104)),
        vb("1.3.6.1.2.1.43.18.1.1.8.1.1", OCT(b"Toner Low \xc0\x80")),
        vb("1.3.6.1.4.1.2435.2.3.9.1.1.7.0", OCT("MFG:Brother;CMD:PJL;MDL:HL-L8260CDW series;CLS:PRINTER;")),
        vb("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.8.0", OCT(bytes.fromhex("6f01040000238c700104000017d4ff"))),
        vb("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.10.0", OCT(bytes.fromhex("0001040000134b02010400000c69ff"))),
    ])
    return c


# ---- synth: snmprec -----------------------------------------------------

def rec(lines):
    return "".join(l + "\n" for l in lines).encode()


def hexs(b):
    return b.hex()


def normalise_cases():
    sup = "1.3.6.1.2.1.43.11.1.1"
    c = {}
    # RFC 3805 special levels, and numbers at and past the limits
    lines = ["1.3.6.1.2.1.1.1.0|4|HP Color LaserJet MFP M477fdw", "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11.2.3.9.1"]
    for i, (level, mx) in enumerate([(-1, 100), (-2, 100), (-3, 100), (-4, 100), (50, 0), (50, -2), (150, 100),
                                     (9223372036854775807, 1), (-9223372036854775808, 100), (1, 9223372036854775807),
                                     (9223372036854775807, 9223372036854775807), (0, 1), ("99999999999999999999", 10),
                                     ("-99999999999999999999", 10), (100, 200)], 1):
        lines += ["%s.5.1.%d|2|3" % (sup, i), "%s.6.1.%d|4|Toner %d" % (sup, i, i),
                  "%s.7.1.%d|2|19" % (sup, i), "%s.8.1.%d|2|%s" % (sup, i, mx), "%s.9.1.%d|2|%s" % (sup, i, level)]
    lines += ["%s.9.1.99|65|50" % sup, "%s.8.1.99|66|100" % sup]  # not INTEGERs: no level
    c["levels"] = rec(lines)
    c["meters-huge"] = rec([
        "1.3.6.1.2.1.1.1.0|4|SHARP MX-3570N", "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.2385.3.1.59",
        "1.3.6.1.2.1.43.10.2.1.4.1.1|70|18446744073709551615", "1.3.6.1.2.1.43.10.2.1.3.1.1|2|7",
        "1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.61|70|9223372036854775808",
        "1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.63|2|-5",
    ])
    # text that is not UTF-8, in every charset the normaliser knows of
    bad = [b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82", b"\x1b$B\x30",
           b"\x00\x00", b"caf\xe9", b"\xa4\xa2\xa4\xa4", b"\xd8\x00\xdc"]
    for cs in (None, 3, 4, 17, 39, 106, 1013, 1015, 2004, 2026, 99999, -5):
        lines = ["1.3.6.1.2.1.1.1.0|4x|" + hexs(b"RICOH MP C3002 1.09 / \xa0\xff / RICOH Network Printer"),
                 "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.367.1.1",
                 "1.3.6.1.2.1.1.5.0|4x|" + hexs(b"".join(bad)),
                 "1.3.6.1.2.1.1.6.0|4x|" + hexs(bad[3] + b"room " + bad[0]),
                 "1.3.6.1.2.1.25.3.2.1.2.1|6|1.3.6.1.2.1.25.3.1.5",
                 "1.3.6.1.2.1.25.3.2.1.3.1|4x|" + hexs(b"RICOH \x8e\xa1 MP C3002 series"),
                 "1.3.6.1.2.1.43.5.1.1.17.1|4x|" + hexs(b"W\x00\x00" + bad[1]),
                 "1.3.6.1.2.1.43.11.1.1.6.1.1|4x|" + hexs(b"Toner " + bad[6]),
                 "1.3.6.1.2.1.43.16.5.1.2.1.1|4x|" + hexs(bad[2] + b"Ready"),
                 "1.3.6.1.2.1.43.18.1.1.7.1.1|2|808", "1.3.6.1.2.1.43.18.1.1.8.1.1|4x|" + hexs(bad[8]),
                 "1.3.6.1.4.1.367.3.2.1.1.1.1.0|4x|" + hexs(b"MP \xe9C3002"),
                 "1.3.6.1.4.1.367.3.2.1.2.1.4.0|4x|" + hexs(bad[9])]
        if cs is not None:
            lines.append("1.3.6.1.2.1.43.7.1.1.4.1.1|2|%d" % cs)
        c["text-charset-%s" % cs] = rec(lines)
    # console buffers: many lines, long, multi-byte, control characters, past the 2048-byte limit
    lines = ["1.3.6.1.2.1.1.1.0|4|KONICA MINOLTA bizhub C250i"]
    for i in range(1, 60):
        lines.append("1.3.6.1.2.1.43.16.5.1.2.1.%d|4x|%s" % (i, hexs(("Zeile %d äöü €€€ " % i).encode() * 2 + b"\t\r")))
    lines.append("1.3.6.1.2.1.43.16.5.1.2.1.60.1|4|deeper row, not a line")
    lines.append("1.3.6.1.2.1.43.16.5.1.2.1.61|4|")
    c["console-long"] = rec(lines)
    c["brother-panel"] = rec([
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.2435.2.3.9.1",
        "1.3.6.1.4.1.2435.2.3.9.1.1.7.0|4|MFG:Brother;CMD:PJL;MDL:MFC-J680DW series;CLS:PRINTER;",
        "1.3.6.1.2.1.43.7.1.1.4.1.1|2|1015",
        "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.4.5.2.0|4x|" + hexs(("Ä" * 300 + "\r").encode("utf-16-be") * 3),
        "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.8.0|4x|6f01040000238c700104000017d479010400001a90410104000000ff",
        "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.10.0|4x|0001040000134b0101040000134b020104000006e2ff",
    ])
    # alert tables
    lines = ["1.3.6.1.2.1.1.1.0|4|Lexmark T640 version NS.NP.N212 kernel 2.6.6 All-N-1"]
    for i, code in enumerate([1, 3, 8, 13, 808, 1104, 1801, 0, -1, 99999, 2147483647] * 7, 1):
        lines += ["1.3.6.1.2.1.43.18.1.1.2.1.%d|2|%d" % (i, [1, 3, 4, 5, 2, 0][i % 6]),
                  "1.3.6.1.2.1.43.18.1.1.4.1.%d|2|%d" % (i, [5, 6, 8, 11, 99][i % 5]),
                  "1.3.6.1.2.1.43.18.1.1.7.1.%d|2|%d" % (i, code),
                  "1.3.6.1.2.1.43.18.1.1.8.1.%d|4x|%s" % (i, hexs(b"alert \xe9 %d" % i))]
    lines.append("1.3.6.1.2.1.43.18.1.1.7.1|2|5")
    lines.append("1.3.6.1.2.1.43.18.1.1.7.2.1|4|not an integer")
    c["alerts"] = rec(lines)
    # MACs: the address table, interfaces down, loopback, zeros, odd lengths, the vendor's text MAC
    c["mac-table"] = rec([
        "1.3.6.1.2.1.2.2.1.3.1|2|24", "1.3.6.1.2.1.2.2.1.3.2|2|6", "1.3.6.1.2.1.2.2.1.3.3|2|6",
        "1.3.6.1.2.1.2.2.1.6.1|4x|000000000000", "1.3.6.1.2.1.2.2.1.6.2|4x|0080778899aa",
        "1.3.6.1.2.1.2.2.1.6.3|4x|0080778899ab", "1.3.6.1.2.1.2.2.1.6.4|4x|00807788",
        "1.3.6.1.2.1.2.2.1.6.4294967295|4x|0080778899ac",
        "1.3.6.1.2.1.2.2.1.8.1|2|1", "1.3.6.1.2.1.2.2.1.8.2|2|1", "1.3.6.1.2.1.2.2.1.8.3|2|2",
        "1.3.6.1.2.1.4.20.1.2.127.0.0.1|2|1", "1.3.6.1.2.1.4.20.1.2.192.0.2.10|2|2",
        "1.3.6.1.2.1.4.20.1.2.10.0.0.1|2|3", "1.3.6.1.2.1.4.20.1.2.4294967295.1.1.1|2|4294967298",
        "1.3.6.1.2.1.4.20.1.2.0.0.0.0|2|-1",
    ])
    c["mac-vendor-text"] = rec([
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.10642.1", "1.3.6.1.2.1.1.1.0|4|ZebraNet PrintServer",
        "1.3.6.1.4.1.683.1.6.0|4|00-07-4D-6B-C2-A8", "1.3.6.1.4.1.683.1.5.0|4|  ", "1.3.6.1.4.1.683.1.9.0|4x|ff",
    ])
    c["mac-vendor-odd"] = rec([
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.683.6", "1.3.6.1.4.1.683.1.6.0|4|0x0x0x0x0x0x0x0x", "1.3.6.1.2.1.2.2.1.6.1|4x|",
    ])
    c["errors-bits"] = rec(["1.3.6.1.2.1.25.3.5.1.2.1|4x|ffffffffff", "1.3.6.1.2.1.25.3.5.1.1.1|2|5",
                            "1.3.6.1.2.1.25.3.2.1.2.7|6|1.3.6.1.2.1.25.3.1.5", "1.3.6.1.2.1.25.3.2.1.5.7|2|5"])
    c["errors-empty"] = rec(["1.3.6.1.2.1.25.3.5.1.2.1|4|", "1.3.6.1.2.1.25.3.5.1.1.1|65|3"])
    # colorants and supplies for colour detection, vendor regex sources
    c["colour"] = rec([
        "1.3.6.1.2.1.1.1.0|4|Samsung M4080FX Series; V3.00.01.21 Jan-23-2015;Engine V1.00.48;NIC V6.01.00;S/N ZDDZB8KF30000",
        "1.3.6.1.2.1.43.10.2.1.6.1.1|2|0",
        "1.3.6.1.2.1.43.12.1.1.4.1.1|4|black", "1.3.6.1.2.1.43.12.1.1.4.1.2|4x|" + hexs(b"cy\xffan"),
        "1.3.6.1.2.1.43.11.1.1.3.1.1|2|2", "1.3.6.1.2.1.43.11.1.1.3.1.2|2|4294967296",
        "1.3.6.1.2.1.43.11.1.1.5.1.1|2|1", "1.3.6.1.2.1.43.11.1.1.6.1.1|4|Waste toner box",
        "1.3.6.1.2.1.43.11.1.1.5.1.2|2|2", "1.3.6.1.2.1.43.11.1.1.6.1.2|4|Ink cartridge",
    ])
    c["pjl"] = rec([
        "1.3.6.1.4.1.2435.2.3.9.1.1.7.0|4|MFG:Brother;;MDL:;MDL:X;CMD;mdl:DCP-T520W",
        "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.8.0|4x|6f01",
        "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.10.0|4x|00010400",
    ])
    # snmprec syntax: everything the loader must refuse or survive
    c["syntax"] = (b"# comment\n\n|4|x\n1.3.6|4\n1.3.6.1||v\n1.3.6.1|x|v\n1.3.6.1|4x|abc\n1.3.6.1|4x|zz\n"
                   b"1.3.6.1.2.1.1.5.0|4|name with trailing blanks \t \r\n"
                   b".1.3.6.1.2.1.1.6.0|4|leading dot\n1.3.6.1.2.1.1.6.0|4|duplicate\n"
                   b"1.3.6.1.2.1.1.7.0|2|12abc\n1.3.6.1.2.1.1.7.0|2|\n1.3.6.1.2.1.1.8.0|999|1\n"
                   b"1.3.6.1.2.1.1.9.0|260|1\n1.3.6.1.2.1.1.10.0|-2|1\n"
                   b"1.3.6.1.2.1.4.20.1.1.1|64|256.1.1.1\n1.3.6.1.2.1.4.20.1.1.2|64x|0a0000\n"
                   b"1.3.6.1.2.1.4.20.1.1.3|64x|0a000001\n1.3.6.1.2.1.4.20.1.1.4|64|1.2.3\n"
                   b"1.3.6.1.2.1.1.3.0|67|-1\n1.3.6.1.2.1.1.3.1|70|99999999999999999999999\n"
                   b"1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.99999999999\n1.3.6.1.2.1.1.2.1|6|3.1\n"
                   b"1.3.6.1.2.1.1.11.0|5|\n1.3.6.1.2.1.1.12.0|5x|00\n1.3.6.1.2.1.1.13.0|2x|0102\n"
                   b"1.3.6.1.2.1.1.14.0|68|opaque\n1.3.6.1.2.1.1.15.0|4|emb\x00edded NUL\n"
                   b"0.39.1|4|first arcs\n1.40|4|bad first arcs\n2.4294967295|4|joint\n"
                   + b".".join(b"1" for _ in range(128)) + b"|2|128 arcs\n"
                   + b".".join(b"1" for _ in range(129)) + b"|2|129 arcs\n"
                   + b"1.3.6.1.2.1.1.1.0|4|no final newline")
    return c


def synth(corpus):
    resp = os.path.join(corpus, "fuzz-snmp-response")
    norm = os.path.join(corpus, "fuzz-snmp-normalise")
    os.makedirs(resp, exist_ok=True)
    os.makedirs(norm, exist_ok=True)
    real = None
    for f in sorted(os.listdir(resp)):
        if f.startswith("real-bulk-v2c-supplies-"):
            with open(os.path.join(resp, f), "rb") as fh:
                real = fh.read()
    for name, data in response_cases(real).items():
        with open(os.path.join(resp, "syn-%s.bin" % name), "wb") as f:
            f.write(data)
    for name, data in normalise_cases().items():
        with open(os.path.join(norm, "syn-%s.snmprec" % name), "wb") as f:
            f.write(data)
    testdata = os.environ.get("SCOUT_TESTDATA") or os.path.join(os.path.dirname(TOP), "shared", "testdata", "printers")
    for name in RECORDINGS:
        with open(os.path.join(testdata, "snmprec", name + ".snmprec"), "rb") as src:
            data = src.read()
        with open(os.path.join(norm, "rec-%s.snmprec" % name), "wb") as f:
            f.write(data)
    print("synth: %d responses, %d snmprec cases, %d recordings" %
          (len(response_cases(real)), len(normalise_cases()), len(RECORDINGS)))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("capture", "synth"):
        raise SystemExit("usage: %s capture|synth [DIR]" % sys.argv[0])
    corpus = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "corpus")
    if sys.argv[1] == "capture":
        capture(os.path.join(corpus, "fuzz-snmp-response"))
    else:
        synth(corpus)


if __name__ == "__main__":
    main()
