"""A tiny IPP (RFC 8010) encoder and decoder for scout's tests.

Independent of the C codec under test: requests are built from plain
tuples, responses decoded into a list of (group_tag, name, [values]) with
integers, booleans and strings decoded and everything else left as bytes;
collections come back as dicts of member name -> [values].

    body = request(0x0002, [(0x42, "requesting-user-name", "alice")], doc)
    status, attrs = post("127.0.0.1", port, body)
"""

import http.client
import ssl
import struct

OPERATION, JOB, END, PRINTER, UNSUPPORTED = 0x01, 0x02, 0x03, 0x04, 0x05
INTEGER, BOOLEAN, ENUM = 0x21, 0x22, 0x23
BEGIN_COLLECTION, END_COLLECTION, MEMBER = 0x34, 0x37, 0x4A
TEXT, NAME, KEYWORD, URI, CHARSET, LANGUAGE, MIMETYPE = 0x41, 0x42, 0x44, 0x45, 0x47, 0x48, 0x49

PRINT_JOB, VALIDATE_JOB, CREATE_JOB, SEND_DOCUMENT = 0x0002, 0x0004, 0x0005, 0x0006
CANCEL_JOB, GET_JOB_ATTRIBUTES, GET_JOBS, GET_PRINTER_ATTRIBUTES = 0x0008, 0x0009, 0x000A, 0x000B


def _attr(tag, name, value):
    n = name.encode()
    if tag in (INTEGER, ENUM):
        v = struct.pack(">i", value)
    elif tag == BOOLEAN:
        v = b"\x01" if value else b"\x00"
    elif isinstance(value, bytes):
        v = value
    else:
        v = str(value).encode()
    return bytes([tag]) + struct.pack(">H", len(n)) + n + struct.pack(">H", len(v)) + v


def request(op, attrs=(), doc=b"", job_attrs=(), request_id=1, uri="ipp://localhost/ipp/print",
            version=(2, 0)):
    """attrs / job_attrs: (tag, name, value) tuples; a list value becomes a 1setOf."""
    out = bytes(version) + struct.pack(">HI", op, request_id) + b"\x01"
    base = [(CHARSET, "attributes-charset", "utf-8"), (LANGUAGE, "attributes-natural-language", "en"),
            (URI, "printer-uri", uri)]
    for group, items in ((None, base + list(attrs)), (JOB, list(job_attrs))):
        if group and items:
            out += bytes([group])
        for tag, name, value in items:
            values = value if isinstance(value, list) else [value]
            for i, v in enumerate(values):
                out += _attr(tag, name if i == 0 else "", v)
    return out + b"\x03" + doc


def _value(tag, v):
    if tag in (INTEGER, ENUM) and len(v) == 4:
        return struct.unpack(">i", v)[0]
    if tag == BOOLEAN and len(v) == 1:
        return v[0] != 0
    if 0x40 < tag < 0x60:
        return v.decode("utf-8", "replace")
    return v


def decode(data):
    """(version, status, request_id, [(group, name, [values])])"""
    if len(data) < 8:
        raise ValueError("short IPP message")
    version = (data[0], data[1])
    status, rid = struct.unpack(">HI", data[2:8])
    off, group, attrs = 8, 0, []
    stack = []  # collections being read: (dict, current member name)

    while True:
        if off >= len(data):
            raise ValueError("no end-of-attributes tag")
        tag = data[off]
        if tag == END:
            break
        if tag < 0x10:
            group = tag
            off += 1
            continue
        nlen = struct.unpack(">H", data[off + 1:off + 3])[0]
        name = data[off + 3:off + 3 + nlen].decode()
        vlen = struct.unpack(">H", data[off + 3 + nlen:off + 5 + nlen])[0]
        v = data[off + 5 + nlen:off + 5 + nlen + vlen]
        off += 5 + nlen + vlen
        if stack:
            col, member = stack[-1]
            if tag == END_COLLECTION:
                stack.pop()
                continue
            if tag == MEMBER:
                stack[-1] = (col, v.decode())
                col[v.decode()] = []
                continue
            target = col[member]
        else:
            if name:
                attrs.append((group, name, []))
            target = attrs[-1][2]
        if tag == BEGIN_COLLECTION:
            d = {}
            target.append(d)
            stack.append((d, None))
        else:
            target.append(_value(tag, v))
    return version, status, rid, attrs


def find(attrs, name, group=None):
    for g, n, values in attrs:
        if n == name and (group is None or g == group):
            return values
    return None


def post(host, port, body, tls=False, headers=None, timeout=30):
    """POSTs an IPP request; returns (http_status, decoded or None, raw body)."""
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    h = {"Content-Type": "application/ipp"}
    h.update(headers or {})
    try:
        conn.request("POST", "/ipp/print", body=body, headers=h)
        r = conn.getresponse()
        raw = r.read()
    finally:
        conn.close()
    msg = decode(raw) if r.status == 200 else None
    return r.status, msg, raw
