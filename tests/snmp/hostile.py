"""A scriptable SNMP agent for tests that need a peer snmpsim cannot play: one
whose answers change between requests, come late, never come, or are not
SNMP at all. Standard library only.

    import hostile
    table = hostile.printer_table(serial="HST0000001", mac="00:1b:a9:00:00:01")
    agent = hostile.Agent("127.0.0.150", port, table, hook=my_hook).start()
    ...
    agent.stop()

Agent answers SNMPv1 and SNMPv2c GET, GETNEXT and GETBULK on one UDP address,
with any community (or only `community` when given), from `table`: a dict
{oid: (type, value)}, oid a dotted string or a tuple of ints, type one of
INTEGER, OCTETS, NULL, OID, IPADDR, COUNTER32, GAUGE32, TIMETICKS, COUNTER64
(value: int, bytes or str, None, dotted str or tuple, dotted str, int).
Missing objects get noSuchObject / endOfMibView (v2c) or noSuchName (v1);
GETBULK stops at `max_varbinds` varbinds and at `max_size` bytes.

hook(agent, request) runs on the agent's thread for every well-formed
request, before it is answered. `request` has .version (0 for v1, 1 for
v2c), .community (bytes), .pdu (GET, GETNEXT or GETBULK), .request_id,
.oids (tuples), .non_repeaters, .max_repetitions and .peer (addr, port). The
hook may change what is served (agent.set(oid, type, value), agent.delete(oid))
and returns:
    None      answer as usual (from the table as it is after the hook)
    DROP      send nothing
    a number  answer that many seconds later (other requests are not held up)
    bytes     send these bytes instead of the answer (malformed replies)

agent.requests counts the requests seen by PDU name ("get", "getnext",
"getbulk"); agent.garbage counts datagrams that were not SNMP.

printer_table() is a small, complete-enough printer for scoutd's probe and
reads (src/modules/snmp/reader.c, normalise.c): SNMPv2-MIB system group,
one interface with its MAC, hrDeviceType printer row, hrPrinterStatus,
the Printer-MIB general group (name, serial), a life count, one toner
supply and a console line.

Run as a script to serve printer_table() on an address for a manual look:
    python3 tests/snmp/hostile.py 127.0.0.150 1161
"""

import bisect
import socket
import sys
import threading

INTEGER, OCTETS, NULL, OID = 0x02, 0x04, 0x05, 0x06
IPADDR, COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
SEQUENCE = 0x30

GET, GETNEXT, RESPONSE, SET, GETBULK = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5
PDU_NAMES = {GET: "get", GETNEXT: "getnext", GETBULK: "getbulk"}

NO_ERROR, TOO_BIG, NO_SUCH_NAME, GEN_ERR = 0, 1, 2, 5

DROP = object()


class BerError(ValueError):
    pass


# ---- BER ---------------------------------------------------------------------


def _len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + _len(len(content)) + content


def enc_int(v, tag=INTEGER):
    n = 1
    while not -(1 << (8 * n - 1)) <= v < (1 << (8 * n - 1)):
        n += 1
    return tlv(tag, v.to_bytes(n, "big", signed=True))


def enc_unsigned(v, tag):
    b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    if b[0] & 0x80:
        b = b"\x00" + b
    return tlv(tag, b)


def oid_tuple(oid):
    if isinstance(oid, str):
        return tuple(int(x) for x in oid.strip(".").split("."))
    return tuple(oid)


def enc_oid(oid):
    arcs = oid_tuple(oid)
    if len(arcs) < 2:
        arcs = arcs + (0,) * (2 - len(arcs))
    out = bytearray()
    for i, a in enumerate([arcs[0] * 40 + arcs[1]] + list(arcs[2:])):
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def enc_value(typ, value):
    if typ == INTEGER:
        return enc_int(int(value))
    if typ == OCTETS:
        return tlv(OCTETS, value.encode() if isinstance(value, str) else bytes(value))
    if typ == OID:
        return enc_oid(value)
    if typ == IPADDR:
        return tlv(IPADDR, socket.inet_aton(value) if isinstance(value, str) else bytes(value))
    if typ in (COUNTER32, GAUGE32, TIMETICKS, COUNTER64):
        return enc_unsigned(int(value), typ)
    if typ in (NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW):
        return tlv(typ, b"")
    raise ValueError("unknown type 0x%02x" % typ)


def dec_tlv(data, pos=0):
    """(tag, content, next position); raises BerError on anything short or odd."""
    if pos + 2 > len(data):
        raise BerError("truncated")
    tag, n = data[pos], data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > len(data):
            raise BerError("bad length")
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    if pos + n > len(data):
        raise BerError("truncated")
    return tag, data[pos:pos + n], pos + n


def dec_int(content):
    if not content or len(content) > 9:
        raise BerError("bad integer")
    return int.from_bytes(content, "big", signed=True)


def dec_oid(content):
    if not content:
        raise BerError("empty oid")
    arcs, v = [], 0
    for b in content:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    if content[-1] & 0x80:
        raise BerError("bad oid")
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return tuple(head + arcs[1:])


class Request:
    def __init__(self, version, community, pdu, request_id, a, b, oids, peer):
        self.version, self.community, self.pdu, self.request_id = version, community, pdu, request_id
        self.non_repeaters, self.max_repetitions = (a, b) if pdu == GETBULK else (0, 0)
        self.oids, self.peer = oids, peer


def decode_request(data, peer=None):
    tag, msg, end = dec_tlv(data)
    if tag != SEQUENCE:
        raise BerError("not a sequence")
    t, v, p = dec_tlv(msg)
    if t != INTEGER:
        raise BerError("no version")
    version = dec_int(v)
    t, community, p = dec_tlv(msg, p)
    if t != OCTETS:
        raise BerError("no community")
    pdu, body, p = dec_tlv(msg, p)
    fields = []
    q = 0
    for _ in range(3):
        t, v, q = dec_tlv(body, q)
        if t != INTEGER:
            raise BerError("bad pdu header")
        fields.append(dec_int(v))
    t, vbl, q = dec_tlv(body, q)
    if t != SEQUENCE:
        raise BerError("no varbind list")
    oids, q = [], 0
    while q < len(vbl):
        t, vb, q = dec_tlv(vbl, q)
        t2, o, r = dec_tlv(vb)
        if t != SEQUENCE or t2 != OID:
            raise BerError("bad varbind")
        oids.append(dec_oid(o))
    return Request(version, bytes(community), pdu, fields[0], fields[1], fields[2], oids, peer)


def encode_response(req, varbinds, error=NO_ERROR, index=0):
    """varbinds: [(oid, encoded value bytes)]."""
    vbl = b"".join(tlv(SEQUENCE, enc_oid(o) + v) for o, v in varbinds)
    pdu = tlv(RESPONSE, enc_int(req.request_id) + enc_int(error) + enc_int(index) + tlv(SEQUENCE, vbl))
    return tlv(SEQUENCE, enc_int(req.version) + tlv(OCTETS, req.community) + pdu)


def decode_response(data):
    """(request_id, error, index, [(oid, tag, raw content)]) of a Response; for tests."""
    tag, msg, _ = dec_tlv(data)
    t, v, p = dec_tlv(msg)
    t, c, p = dec_tlv(msg, p)
    pdu, body, p = dec_tlv(msg, p)
    if pdu != RESPONSE:
        raise BerError("not a response")
    vals, q = [], 0
    for _ in range(3):
        t, v, q = dec_tlv(body, q)
        vals.append(dec_int(v))
    t, vbl, q = dec_tlv(body, q)
    out, q = [], 0
    while q < len(vbl):
        t, vb, q = dec_tlv(vbl, q)
        t2, o, r = dec_tlv(vb)
        t3, val, r = dec_tlv(vb, r)
        out.append((dec_oid(o), t3, val))
    return vals[0], vals[1], vals[2], out


# ---- the agent -----------------------------------------------------------------


class Agent:
    def __init__(self, addr, port, table, hook=None, community=None, max_varbinds=128, max_size=8192):
        self.addr, self.port, self.hook, self.community = addr, port, hook, community
        self.max_varbinds, self.max_size = max_varbinds, max_size
        self.lock = threading.Lock()
        self.table = {}
        self.keys = []
        for oid, tv in table.items():
            self.set(oid, *tv)
        self.requests = {"get": 0, "getnext": 0, "getbulk": 0}
        self.garbage = 0
        self.sock = None
        self.thread = None
        self.stopping = threading.Event()

    # the table; safe from the hook and from the test's thread
    def set(self, oid, typ, value):
        o = oid_tuple(oid)
        with self.lock:
            if o not in self.table:
                bisect.insort(self.keys, o)
            self.table[o] = (typ, value)

    def delete(self, oid):
        o = oid_tuple(oid)
        with self.lock:
            if self.table.pop(o, None) is not None:
                self.keys.remove(o)

    def get(self, oid):
        return self.table.get(oid_tuple(oid))

    def start(self):
        fam = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((self.addr, self.port))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, name="hostile-%s" % self.addr, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(5)
        if self.sock:
            self.sock.close()
        self.sock = self.thread = None

    def _serve(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                req = decode_request(data, peer)
            except (BerError, IndexError, ValueError):
                self.garbage += 1
                continue
            if req.pdu not in PDU_NAMES or req.version not in (0, 1) or (req.pdu == GETBULK and req.version == 0):
                self.garbage += 1
                continue
            if self.community is not None and req.community != self.community.encode():
                continue
            self.requests[PDU_NAMES[req.pdu]] += 1
            action = self.hook(self, req) if self.hook else None
            if action is DROP:
                continue
            out = action if isinstance(action, (bytes, bytearray)) else self.answer(req)
            if isinstance(action, (int, float)) and not isinstance(action, bool) and action > 0:
                t = threading.Timer(action, self._send, (out, peer))
                t.daemon = True
                t.start()
            else:
                self._send(out, peer)

    def _send(self, out, peer):
        try:
            if self.sock and not self.stopping.is_set():
                self.sock.sendto(out, peer)
        except OSError:
            pass

    def _next(self, oid):
        """(oid, (type, value)) of the first object after oid, or None."""
        i = bisect.bisect_right(self.keys, oid)
        return (self.keys[i], self.table[self.keys[i]]) if i < len(self.keys) else None

    def answer(self, req):
        with self.lock:
            return self._answer(req)

    def _answer(self, req):
        v1 = req.version == 0
        vbs = []
        if req.pdu == GET:
            for i, o in enumerate(req.oids):
                tv = self.table.get(o)
                if tv is None:
                    if v1:
                        return encode_response(req, [(x, enc_value(NULL, None)) for x in req.oids], NO_SUCH_NAME,
                                               i + 1)
                    vbs.append((o, enc_value(NO_SUCH_OBJECT, None)))
                else:
                    vbs.append((o, enc_value(*tv)))
        elif req.pdu == GETNEXT:
            for i, o in enumerate(req.oids):
                nx = self._next(o)
                if nx is None:
                    if v1:
                        return encode_response(req, [(x, enc_value(NULL, None)) for x in req.oids], NO_SUCH_NAME,
                                               i + 1)
                    vbs.append((o, enc_value(END_OF_MIB_VIEW, None)))
                else:
                    vbs.append((nx[0], enc_value(*nx[1])))
        else:
            n = max(0, min(req.non_repeaters, len(req.oids)))
            m = max(0, req.max_repetitions)
            for o in req.oids[:n]:
                nx = self._next(o)
                vbs.append((o, enc_value(END_OF_MIB_VIEW, None)) if nx is None else (nx[0], enc_value(*nx[1])))
            cur = list(req.oids[n:])
            for _ in range(m):
                if not cur or len(vbs) >= self.max_varbinds:
                    break
                for j, o in enumerate(cur):
                    nx = self._next(o)
                    if nx is None:
                        vbs.append((o, enc_value(END_OF_MIB_VIEW, None)))
                    else:
                        vbs.append((nx[0], enc_value(*nx[1])))
                        cur[j] = nx[0]
                if all(self._next(o) is None for o in cur):
                    break
            out = encode_response(req, vbs)
            while len(out) > self.max_size and len(vbs) > 1:
                vbs = vbs[:len(vbs) // 2]
                out = encode_response(req, vbs)
            return out
        out = encode_response(req, vbs)
        if len(out) > self.max_size:
            return encode_response(req, [(x, enc_value(NULL, None)) for x in req.oids], TOO_BIG, 0)
        return out


# ---- a printer -----------------------------------------------------------------

SERIAL_OID = "1.3.6.1.2.1.43.5.1.1.17.1"
LIFE_COUNT_OID = "1.3.6.1.2.1.43.10.2.1.4.1.1"
SYSOBJECTID_OID = "1.3.6.1.2.1.1.2.0"


def printer_table(serial="HST0000001", mac="00:1b:a9:00:00:01", model="LaserJet 4250",
                  sysobjectid="1.3.6.1.4.1.11.2.3.9.1", total=1000, location="hostile test bench"):
    """A printer as scoutd's probe and reads see one; mac=None leaves the
    interface table out (a device whose MAC cannot be read)."""
    t = {
        "1.3.6.1.2.1.1.1.0": (OCTETS, "HP %s (hostile test agent)" % model),
        SYSOBJECTID_OID: (OID, sysobjectid),
        "1.3.6.1.2.1.1.3.0": (TIMETICKS, 123456),
        "1.3.6.1.2.1.1.5.0": (OCTETS, "hostile"),
        "1.3.6.1.2.1.1.6.0": (OCTETS, location),
        "1.3.6.1.2.1.25.3.2.1.2.1": (OID, "1.3.6.1.2.1.25.3.1.5"),  # hrDeviceType: printer
        "1.3.6.1.2.1.25.3.2.1.3.1": (OCTETS, "HP %s" % model),
        "1.3.6.1.2.1.25.3.2.1.5.1": (INTEGER, 2),  # hrDeviceStatus running
        "1.3.6.1.2.1.25.3.5.1.1.1": (INTEGER, 3),  # hrPrinterStatus idle
        "1.3.6.1.2.1.25.3.5.1.2.1": (OCTETS, b"\x00"),
        "1.3.6.1.2.1.43.5.1.1.16.1": (OCTETS, "HP %s" % model),
        SERIAL_OID: (OCTETS, serial),
        "1.3.6.1.2.1.43.10.2.1.3.1.1": (INTEGER, 7),  # impressions
        LIFE_COUNT_OID: (COUNTER32, total),
        "1.3.6.1.2.1.43.11.1.1.4.1.1": (INTEGER, 3),  # supplyThatIsConsumed
        "1.3.6.1.2.1.43.11.1.1.5.1.1": (INTEGER, 3),  # toner
        "1.3.6.1.2.1.43.11.1.1.6.1.1": (OCTETS, "Black Toner"),
        "1.3.6.1.2.1.43.11.1.1.7.1.1": (INTEGER, 19),  # percent
        "1.3.6.1.2.1.43.11.1.1.8.1.1": (INTEGER, 100),
        "1.3.6.1.2.1.43.11.1.1.9.1.1": (INTEGER, 80),
        "1.3.6.1.2.1.43.16.5.1.2.1.1": (OCTETS, "Ready"),
    }
    if mac:
        t["1.3.6.1.2.1.2.2.1.3.1"] = (INTEGER, 6)  # ethernetCsmacd
        t["1.3.6.1.2.1.2.2.1.6.1"] = (OCTETS, bytes(int(x, 16) for x in mac.split(":")))
        t["1.3.6.1.2.1.2.2.1.8.1"] = (INTEGER, 1)  # up
    return t


def free_port(addrs):
    """A UDP port free on every address of addrs."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addrs[0], 0))
        port = s.getsockname()[1]
        others = []
        try:
            for a in addrs[1:]:
                o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                others.append(o)
                o.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
            for o in others:
                o.close()
    raise RuntimeError("no UDP port free on all of %s" % addrs)


if __name__ == "__main__":
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.150"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 1161
    a = Agent(addr, port, printer_table()).start()
    print("serving a printer on %s:%d; ^C stops" % (addr, a.port), flush=True)
    try:
        a.stopping.wait()
    except KeyboardInterrupt:
        a.stop()
