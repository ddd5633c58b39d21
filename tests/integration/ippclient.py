"""A small IPP/2.0 client for tests and benchmarks (standard library only).

It encodes the requests a print client sends (Print-Job, Validate-Job,
Create-Job + Send-Document, Get-Jobs, Get-Job-Attributes, Cancel-Job,
Get-Printer-Attributes), streams the document body from a file object over
http.client with Content-Length when the size is known and chunked
otherwise (never holding the document in memory), and decodes responses
(every group and attribute, collections included) into plain Python
values. It checks what it decodes: a truncated or malformed response raises
IppError, so a test never reads garbage as an answer.

    c = Client("127.0.0.1", 8631)          # ipp://127.0.0.1:8631/ipp/print
    r = c.print_job(open("a.pdf", "rb"), user="alice", name="a.pdf",
                    format="application/pdf")
    r.status == OK, r.job["job-id"], r.job["job-state"]

Used by tests/integration/test_print_peers.py, test_vault_crash.py and
tools/bench/ipp/run against scoutd, cupsd and ippeveprinter alike: they
need bodies streamed from generators (50 MB, chunked or not), a callback
at each piece sent, keep-alive and any printer path (cupsd's
/printers/NAME). ipplib.py (the ipp module's tests) is the smaller,
buffered codec beside it.
"""

import http.client
import io
import itertools
import os
import struct

# ---- protocol constants (RFC 8010/8011, PWG 5100.x) ------------------------

OP = {
    "Print-Job": 0x0002,
    "Validate-Job": 0x0004,
    "Create-Job": 0x0005,
    "Send-Document": 0x0006,
    "Cancel-Job": 0x0008,
    "Get-Job-Attributes": 0x0009,
    "Get-Jobs": 0x000A,
    "Get-Printer-Attributes": 0x000B,
    "Hold-Job": 0x000C,
    "Release-Job": 0x000D,
    "Cancel-My-Jobs": 0x0039,
    "Identify-Printer": 0x003C,
}

OK = 0x0000
STATUS = {
    0x0000: "successful-ok",
    0x0001: "successful-ok-ignored-or-substituted-attributes",
    0x0002: "successful-ok-conflicting-attributes",
    0x0400: "client-error-bad-request",
    0x0401: "client-error-forbidden",
    0x0402: "client-error-not-authenticated",
    0x0403: "client-error-not-authorized",
    0x0404: "client-error-not-possible",
    0x0405: "client-error-timeout",
    0x0406: "client-error-not-found",
    0x0407: "client-error-gone",
    0x0408: "client-error-request-entity-too-large",
    0x040A: "client-error-document-format-not-supported",
    0x040B: "client-error-attributes-or-values-not-supported",
    0x0500: "server-error-internal-error",
    0x0501: "server-error-operation-not-supported",
    0x0502: "server-error-service-unavailable",
    0x0503: "server-error-version-not-supported",
    0x0506: "server-error-not-accepting-jobs",
    0x0507: "server-error-busy",
    0x0508: "server-error-job-canceled",
}

# delimiter tags
TAG_OPERATION = 0x01
TAG_JOB = 0x02
TAG_END = 0x03
TAG_PRINTER = 0x04
TAG_UNSUPPORTED_GROUP = 0x05

# value tags
UNSUPPORTED, UNKNOWN, NO_VALUE = 0x10, 0x12, 0x13
INTEGER, BOOLEAN, ENUM = 0x21, 0x22, 0x23
OCTET, DATETIME, RESOLUTION, RANGE = 0x30, 0x31, 0x32, 0x33
BEG_COLLECTION, TEXT_LANG, NAME_LANG, END_COLLECTION = 0x34, 0x35, 0x36, 0x37
TEXT, NAME, KEYWORD, URI, URI_SCHEME = 0x41, 0x42, 0x44, 0x45, 0x46
CHARSET, LANGUAGE, MIME, MEMBER_NAME = 0x47, 0x48, 0x49, 0x4A

JOB_STATE = {3: "pending", 4: "pending-held", 5: "processing", 6: "processing-stopped", 7: "canceled",
             8: "aborted", 9: "completed"}

CHUNK = 64 * 1024


class IppError(Exception):
    """A response that is not well-formed IPP, or a transport failure."""


class Response:
    """A decoded IPP response: status (int), request_id, and groups, a list
    of (group tag, {name: [values]}) in wire order. Strings come back as
    str, integers/enums as int, booleans as bool, collections as dicts of
    lists, other values as raw bytes."""

    def __init__(self, version, status, request_id, groups, data=b""):
        self.version = version
        self.status = status
        self.request_id = request_id
        self.groups = groups
        self.data = data

    @property
    def status_name(self):
        return STATUS.get(self.status, "0x%04x" % self.status)

    @property
    def ok(self):
        return self.status < 0x0100

    def group(self, tag):
        """The first group with this tag as {name: value or [values]} (a single
        value unwrapped), or {}."""
        for t, attrs in self.groups:
            if t == tag:
                return {k: v[0] if len(v) == 1 else v for k, v in attrs.items()}
        return {}

    def all(self, tag):
        return [{k: v[0] if len(v) == 1 else v for k, v in a.items()} for t, a in self.groups if t == tag]

    @property
    def operation(self):
        return self.group(TAG_OPERATION)

    @property
    def job(self):
        return self.group(TAG_JOB)

    @property
    def jobs(self):
        return self.all(TAG_JOB)

    @property
    def printer(self):
        return self.group(TAG_PRINTER)

    @property
    def message(self):
        return self.operation.get("status-message", "")

    def __repr__(self):
        return "<IPP %s %s>" % (self.status_name, self.message)


# ---- encoding --------------------------------------------------------------

def _value_bytes(tag, v):
    if tag in (INTEGER, ENUM):
        return struct.pack(">i", v)
    if tag == BOOLEAN:
        return b"\x01" if v else b"\x00"
    if tag == RANGE:
        return struct.pack(">ii", v[0], v[1])
    if tag == RESOLUTION:
        return struct.pack(">iib", v[0], v[1], v[2])
    if tag in (NO_VALUE, UNKNOWN, UNSUPPORTED):
        return b""
    if isinstance(v, bytes):
        return v
    return str(v).encode("utf-8")


def attr(tag, name, *values):
    """One attribute as bytes (a 1setOf when several values are given)."""
    out = bytearray()
    nm = name.encode()
    for i, v in enumerate(values or (None,)):
        vb = _value_bytes(tag, v)
        n = nm if i == 0 else b""
        out += struct.pack(">BH", tag, len(n)) + n + struct.pack(">H", len(vb)) + vb
    return bytes(out)


_request_ids = itertools.count(1)


def encode(op, operation_attrs, job_attrs=(), version=(2, 0), request_id=None):
    """A request header: op is a name from OP or a number; each *_attrs is a
    list of (tag, name, value or [values])."""
    opid = OP[op] if isinstance(op, str) else op
    rid = next(_request_ids) if request_id is None else request_id
    out = bytearray(struct.pack(">BBHI", version[0], version[1], opid, rid))
    for group, attrs in ((TAG_OPERATION, operation_attrs), (TAG_JOB, job_attrs)):
        if group != TAG_OPERATION and not attrs:
            continue
        out.append(group)
        for tag, name, value in attrs:
            vals = value if isinstance(value, (list, tuple)) and tag not in (RANGE, RESOLUTION) else [value]
            out += attr(tag, name, *vals)
    out.append(TAG_END)
    return bytes(out)


# ---- decoding --------------------------------------------------------------

def _decode_value(tag, b):
    if tag in (INTEGER, ENUM):
        if len(b) != 4:
            raise IppError("integer of %d bytes" % len(b))
        return struct.unpack(">i", b)[0]
    if tag == BOOLEAN:
        if len(b) != 1:
            raise IppError("boolean of %d bytes" % len(b))
        return b != b"\x00"
    if tag == RANGE:
        if len(b) != 8:
            raise IppError("rangeOfInteger of %d bytes" % len(b))
        return struct.unpack(">ii", b)
    if tag == RESOLUTION:
        if len(b) != 9:
            raise IppError("resolution of %d bytes" % len(b))
        return struct.unpack(">iib", b)
    if tag in (TEXT, NAME, KEYWORD, URI, URI_SCHEME, CHARSET, LANGUAGE, MIME, MEMBER_NAME):
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise IppError("%r is not UTF-8" % b[:40])
    if tag in (TEXT_LANG, NAME_LANG):
        if len(b) < 4:
            raise IppError("text with language too short")
        ll = struct.unpack(">H", b[:2])[0]
        if 2 + ll + 2 > len(b):
            raise IppError("text with language: bad lengths")
        tl = struct.unpack(">H", b[2 + ll:4 + ll])[0]
        if 4 + ll + tl != len(b):
            raise IppError("text with language: bad lengths")
        return b[4 + ll:].decode("utf-8", "replace")
    if tag in (NO_VALUE, UNKNOWN, UNSUPPORTED):
        return None
    return bytes(b)


class _Reader:
    def __init__(self, buf):
        self.b = buf
        self.i = 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise IppError("response truncated at byte %d (wanted %d more)" % (self.i, n))
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]


def _collection(r):
    """Reads members after a begCollection value up to its endCollection."""
    out = {}
    member = None
    while True:
        tag = r.u8()
        name = r.take(r.u16())
        val = r.take(r.u16())
        if tag == END_COLLECTION:
            return out
        if tag == MEMBER_NAME:
            member = val.decode("utf-8", "replace")
            out.setdefault(member, [])
            continue
        if member is None:
            raise IppError("collection value before a member name")
        if name:
            raise IppError("named attribute inside a collection")
        out[member].append(_collection(r) if tag == BEG_COLLECTION else _decode_value(tag, val))


def decode(buf):
    """Decodes a whole IPP message (header, groups, trailing data)."""
    r = _Reader(buf)
    major, minor = r.u8(), r.u8()
    status = r.u16()
    rid = struct.unpack(">I", r.take(4))[0]
    groups = []
    cur = None
    last = None
    while True:
        tag = r.u8()
        if tag == TAG_END:
            break
        if tag < 0x10:
            cur = {}
            groups.append((tag, cur))
            last = None
            continue
        if cur is None:
            raise IppError("attribute before any group")
        name = r.take(r.u16()).decode("utf-8", "replace")
        raw = r.take(r.u16())
        val = _collection(r) if tag == BEG_COLLECTION else _decode_value(tag, raw)
        if name:
            last = name
            cur.setdefault(name, []).append(val)
        elif last is None:
            raise IppError("additional value without an attribute")
        else:
            cur[last].append(val)
    return Response((major, minor), status, rid, groups, buf[r.i:])


# ---- transport -------------------------------------------------------------

def _file_size(f):
    """Bytes left in f, or None when unknown (then the body goes chunked).
    A generated body may say its size as f.ipp_size."""
    if hasattr(f, "ipp_size"):
        return f.ipp_size
    try:
        st = os.fstat(f.fileno())
        return st.st_size - f.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


class Client:
    """One printer URI; one HTTP connection per request unless keep=True."""

    def __init__(self, host, port, path="/ipp/print", timeout=60.0, keep=False, scheme="ipp", context=None):
        self.host = host
        self.port = port
        self.path = path
        self.timeout = timeout
        self.keep = keep
        self.scheme = scheme
        self.context = context
        self.uri = "%s://%s:%d%s" % (scheme, host, port, path)
        self.conn = None

    def _connection(self):
        if self.conn is None:
            if self.scheme == "ipps":
                self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                        context=self.context)
            else:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, header, body=None, chunked=None, on_sent=None):
        """POSTs header + body (bytes, a file object, or None) and returns the
        decoded Response. A file body is streamed in 64 KiB pieces: with
        Content-Length when its size is known and chunked is not True, else
        with chunked transfer coding. on_sent(n) is called with the body
        bytes sent so far after each piece (for tests that act mid-stream).
        Transport errors raise OSError or http.client exceptions."""
        if isinstance(body, (bytes, bytearray)):
            body = io.BytesIO(body)
        size = 0 if body is None else _file_size(body)
        if chunked is None:
            chunked = size is None
        c = self._connection()
        try:
            c.putrequest("POST", self.path, skip_accept_encoding=True)
            c.putheader("Content-Type", "application/ipp")
            if chunked:
                c.putheader("Transfer-Encoding", "chunked")
            else:
                c.putheader("Content-Length", str(len(header) + (size or 0)))
            if not self.keep:
                c.putheader("Connection", "close")
            c.endheaders()
            self._write(c, header, chunked)
            sent = 0
            if body is not None:
                while True:
                    piece = body.read(CHUNK)
                    if not piece:
                        break
                    self._write(c, piece, chunked)
                    sent += len(piece)
                    if on_sent:
                        on_sent(sent)
            if chunked:
                c.sock.sendall(b"0\r\n\r\n")
            resp = c.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise IppError("HTTP %d %s" % (resp.status, resp.reason))
            if resp.getheader("Content-Type", "").split(";")[0].strip().lower() != "application/ipp":
                raise IppError("response Content-Type %r" % resp.getheader("Content-Type"))
            if resp.will_close or not self.keep:
                self.close()
            return decode(data)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _write(c, data, chunked):
        if chunked:
            c.sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            c.sock.sendall(data)

    # ---- operations ----------------------------------------------------

    def _op_attrs(self, user, extra=()):
        a = [(CHARSET, "attributes-charset", "utf-8"), (LANGUAGE, "attributes-natural-language", "en"),
             (URI, "printer-uri", self.uri)]
        if user is not None:
            a.append((NAME, "requesting-user-name", user))
        return a + list(extra)

    def _job_attrs(self, copies=None, sides=None, color=None, hold=None, media=None):
        j = []
        if copies is not None:
            j.append((INTEGER, "copies", copies))
        if sides:
            j.append((KEYWORD, "sides", sides))
        if color:
            j.append((KEYWORD, "print-color-mode", color))
        if media:
            j.append((KEYWORD, "media", media))
        if hold:
            j.append((KEYWORD, "job-hold-until", hold))
        return j

    def get_printer_attributes(self, user=None, requested=None):
        extra = [(KEYWORD, "requested-attributes", requested)] if requested else []
        return self.send(encode("Get-Printer-Attributes", self._op_attrs(user, extra)))

    def print_job(self, body, user="anonymous", name="job", format=None, validate=False, chunked=None,
                  on_sent=None, **job):
        extra = [(NAME, "job-name", name)]
        if format:
            extra.append((MIME, "document-format", format))
        op = "Validate-Job" if validate else "Print-Job"
        h = encode(op, self._op_attrs(user, extra), self._job_attrs(**job))
        return self.send(h, None if validate else body, chunked=chunked, on_sent=on_sent)

    def create_job(self, user="anonymous", name="job", **job):
        h = encode("Create-Job", self._op_attrs(user, [(NAME, "job-name", name)]), self._job_attrs(**job))
        return self.send(h)

    def send_document(self, job_id, body, user="anonymous", format=None, last=True, chunked=None, on_sent=None):
        extra = [(INTEGER, "job-id", job_id)]
        if format:
            extra.append((MIME, "document-format", format))
        extra.append((BOOLEAN, "last-document", last))
        return self.send(encode("Send-Document", self._op_attrs(user, extra)), body, chunked=chunked,
                         on_sent=on_sent)

    def get_jobs(self, user=None, which="not-completed", my_jobs=False, requested=("all",)):
        extra = [(KEYWORD, "which-jobs", which)]
        if my_jobs:
            extra.append((BOOLEAN, "my-jobs", True))
        if requested:
            extra.append((KEYWORD, "requested-attributes", list(requested)))
        return self.send(encode("Get-Jobs", self._op_attrs(user, extra)))

    def get_job_attributes(self, job_id, user=None):
        return self.send(encode("Get-Job-Attributes", self._op_attrs(user, [(INTEGER, "job-id", job_id)])))

    def cancel_job(self, job_id, user=None):
        return self.send(encode("Cancel-Job", self._op_attrs(user, [(INTEGER, "job-id", job_id)])))
