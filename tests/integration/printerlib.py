"""Printers for the release tests (issue 10): what scout delivers to, and
printers that misbehave on purpose. Standard library Python 3 only (plus
the openssl command for keys), everything on 127.0.0.0/8.

RawSink(host=None, port=None, close_after=None)
    A raw "JetDirect" TCP sink (what port 9100 is): accepts connections and
    records each one's bytes in its own file. host=None binds a loopback
    address of its own (127.X.Y.Z, chosen at random and checked free) so
    that it can listen on the real port 9100 (port=None) without meeting
    another test; give host="127.0.0.1", port=0 for a free port instead.
    close_after=N: every connection is cut (RST) once N bytes have come.
    .start() -> self, .stop(); .host, .port, .address ("HOST:PORT");
    .connections -> [Conn] (each with .index, .path, .size, .sha256,
    .finished (the peer closed, or we cut it), .cut (we cut it), .data());
    .documents() -> [bytes] of finished connections; .wait_for(pred, t).

ScriptedPrinter(behaviour="ok", formats=..., tls="auto", ...)
    An IPP printer over HTTP/1.1 (one thread per connection) whose answers
    are scripted. tls: "auto" speaks TLS when the first byte is a TLS
    handshake and plain HTTP otherwise, on the same port (as ippeveprinter
    and most printers do); True only TLS; False only plain. The key and
    certificate are made with `openssl req` in its directory (new_key()
    makes another; .pin is the SHA-256 of its SubjectPublicKeyInfo in hex,
    as src/loop/tls.h pins). Operations answered:
      Get-Printer-Attributes: printer-uri-supported + uri-security-
        supported (ipps and/or ipp as tls allows), document-format-
        supported (formats), sides-supported (duplex=True: two-sided-*),
        print-color-mode-supported / color-supported (color=True),
        copies-supported (1..copies_max), make and model, uuid, serial,
        printer-state idle, accepting jobs, operations-supported.
      Print-Job (and Create-Job + Send-Document): reads the whole document
        into a file, then answers as behaviour says:
          "ok"                  accepted; the job is processing for
                                processing_polls Get-Job-Attributes, then
                                completed (9)
          "busy"                server-error-busy (busy_status, 0x0507) for
                                the first busy_attempts documents (None:
                                always), then as "ok"
          "close-mid-document"  the connection is cut (RST) once
                                close_after document bytes have come, for
                                the first close_attempts documents (None:
                                always), then as "ok"
          "stall"               stops reading once close_after document
                                bytes have come and holds the connection
                                open, silent, until stop() (a jammed
                                printer), for the first close_attempts
                                documents (None: always), then as "ok"
          "never-finish"        accepted; the job stays processing (5)
                                forever
          "abort"               accepted; then aborted (8, reason
                                aborted-by-system)
          "cancel"              accepted; then canceled (7, reason
                                job-canceled-at-device)
        A document-format not in formats gets client-error-document-
        format-not-supported (0x040A). answer_status=0xNNNN: every
        document is read whole and then answered with that status instead
        (a printer that refuses what it advertised, or errs).
      Get-Job-Attributes: job-state (3 pending, 5 processing, 9, 7, 8) and
        job-state-reasons as above; 0x0406 for an unknown job-id.
      Validate-Job ok; Cancel-Job cancels; anything else 0x0501.
    .counts {operation name: requests}; .attempts [Attempt] (every
    document that came, whole or cut: .op, .attrs (operation + job group
    as {name: [values]}), .user, .format, .size, .sha256, .complete,
    .status (what was answered), .job (a Job or None), .data());
    .jobs {id: Job} (.id, .state, .reasons, .polls, .attempt);
    .max_uploading: the most documents that came at once; .overlaps: how
    many documents came while an earlier job was not yet over;
    .documents() -> [bytes] of documents accepted as jobs;
    mute=True: every connection is accepted and then left alone (nothing
    read, nothing answered) until stop();
    .set(**kw) changes any setting while it runs; .wait_for(pred, t);
    .uri ("ipps://127.0.0.1:PORT/ipp/print" or ipp:// when tls=False),
    .address ("127.0.0.1:PORT"), .port; .start() -> self, .stop().

KeyedIppEvePrinter(...)
    cupslib.IppEvePrinter started with -K KEYDIR holding a key and
    certificate made here: ippeveprinter (CUPS 2.4, GnuTLS) reads
    KEYDIR/HOSTNAME.crt and .key at each TLS handshake (HOSTNAME = its -n,
    "localhost"), and would make a self-signed pair there itself if none
    were there; it speaks TLS and plain HTTP on the same port (it peeks at
    the first byte). restart(new_key=True) stops it, makes a new key, and
    starts it again on the same port and spool (what was spooled moves
    aside): the same printer, a new certificate. .pin (hex SPKI SHA-256),
    .ipps_uri, .address; presented_pin() asks the running printer (one
    TLS handshake); documents() the spooled files (with a -c command,
    ippeveprinter also leaves an empty .prn file beside each: not listed).

make_key(dir, cn="localhost") -> (crt, key): a self-signed P-256 pair.
spki_pin(crt) -> hex SHA-256 of the certificate's SubjectPublicKeyInfo.
loopback_host(ports) -> a 127.X.Y.Z address where every port can be bound.
down_address() -> "127.0.0.1:PORT" where nothing listens (printer down).
wait_until(pred, timeout, what) -> pred()'s true value, or AssertionError.

ReleaseAgent(ipp_extra="", vault_extra="")
    scoutprint.PrintAgent (vault + IPP intake; ipp_extra adds [ipp] lines
    such as "retry_for = 3s") with what the release tests do as a user and
    an operator would: ready() starts it, unlocks the vault and waits for
    the queue; submit(doc, user, name, format, **job attrs) sends a
    Print-Job to its intake (doc: a path or bytes) and returns the held
    job as `scoutctl jobs --json` shows it; release(user, printer, jobs)
    runs `scoutctl release --user U --printer P [--job ID]... --json` and
    returns a Release (.rc, .stdout, .stderr, .reply, .jobs, .job(id),
    .printer); held(user) is {id: job} from `scoutctl jobs --user U
    --json`; ipp_status() the ipp module's object in `scoutctl status
    --json`, problems() its problem lines; printers() the rows of
    `scoutctl printers --json`; status_text() `scoutctl status`.
"""

import hashlib
import io
import json
import os
import random
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler

import cupslib
import ipplib
import scoutprint

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

OP_NAMES = {
    0x0002: "Print-Job", 0x0004: "Validate-Job", 0x0005: "Create-Job", 0x0006: "Send-Document",
    0x0008: "Cancel-Job", 0x0009: "Get-Job-Attributes", 0x000A: "Get-Jobs", 0x000B: "Get-Printer-Attributes",
}
SERVER_ERROR_BUSY = 0x0507
SERVER_ERROR_SERVICE_UNAVAILABLE = 0x0506
NOT_FOUND = 0x0406
FORMAT_NOT_SUPPORTED = 0x040A
OPERATION_NOT_SUPPORTED = 0x0501
BAD_REQUEST = 0x0400
PENDING, PROCESSING, CANCELED, ABORTED, COMPLETED = 3, 5, 7, 8, 9
RANGE = 0x33

DEFAULT_FORMATS = ("application/pdf", "image/pwg-raster", "image/urf", "application/octet-stream")


def wait_until(pred, timeout=30.0, what="condition", interval=0.05):
    """Polls pred() until it returns something true (returned)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- keys ---------------------------------------------------------------

def have_openssl():
    return None if os.access(OPENSSL, os.X_OK) else "the openssl command is not installed (apt-get install openssl)"


def make_key(d, cn="localhost"):
    """A self-signed P-256 certificate and key, D/CN.crt and D/CN.key (the
    names ippeveprinter's -K looks for), replacing any there."""
    os.makedirs(d, exist_ok=True)
    crt, key = os.path.join(d, cn + ".crt"), os.path.join(d, cn + ".key")
    tmp_crt, tmp_key = crt + ".new", key + ".new"
    p = subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", tmp_key, "-out", tmp_crt, "-days", "30", "-subj", "/CN=" + cn,
                        "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % cn],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError("openssl req failed: %s" % p.stderr)
    os.chmod(tmp_key, 0o600)
    os.replace(tmp_key, key)
    os.replace(tmp_crt, crt)
    return crt, key


def spki_pin(crt):
    """Hex SHA-256 of the certificate's SubjectPublicKeyInfo (DER)."""
    pub = subprocess.run([OPENSSL, "x509", "-in", crt, "-noout", "-pubkey"], capture_output=True, timeout=30)
    if pub.returncode != 0:
        raise RuntimeError("openssl x509 -pubkey %s failed: %s" % (crt, pub.stderr))
    der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "DER"], input=pub.stdout, capture_output=True,
                         timeout=30)
    if der.returncode != 0:
        raise RuntimeError("openssl pkey -pubin failed: %s" % der.stderr)
    return hashlib.sha256(der.stdout).hexdigest()


# ---- addresses ----------------------------------------------------------

def loopback_host(ports=(9100,)):
    """A loopback address 127.X.Y.Z (not 127.0.0.1) where each of ports can
    be bound right now: lets a test own a fixed port such as 9100 or 631."""
    for _ in range(200):
        host = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255), random.randint(2, 254))
        ok = True
        for port in ports:
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return host
    raise RuntimeError("no loopback address with ports %r free" % (ports,))


def down_address():
    """127.0.0.1:PORT with nothing listening (the port was just free)."""
    return "127.0.0.1:%d" % cupslib.free_port()


def _cut(sock):
    """Closes with an RST (linger 0): what a printer that drops the line does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, owner):
        self.owner = owner
        super().__init__(addr, handler)


# ---- raw 9100 -----------------------------------------------------------

class Conn:
    def __init__(self, index, path):
        self.index, self.path = index, path
        self.size = 0
        self.finished = False
        self.cut = False
        self._h = hashlib.sha256()
        self.sha256 = self._h.hexdigest()

    def data(self):
        with open(self.path, "rb") as f:
            return f.read()

    def __repr__(self):
        return "<conn %d: %d bytes%s%s>" % (self.index, self.size, ", finished" if self.finished else "",
                                            ", cut" if self.cut else "")


class _RawHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sink = self.server.owner
        with sink.lock:
            c = Conn(len(sink.connections), os.path.join(sink.dir, "conn-%d.bin" % len(sink.connections)))
            sink.connections.append(c)
            sink.open.add(self.request)
        limit = sink.close_after
        try:
            with open(c.path, "wb") as f:
                while True:
                    want = 1 << 16 if limit is None else min(1 << 16, limit - c.size)
                    if want <= 0:
                        c.cut = True
                        break
                    try:
                        b = self.request.recv(want)
                    except OSError:
                        break
                    if not b:
                        break
                    f.write(b)
                    f.flush()
                    c._h.update(b)
                    c.sha256 = c._h.hexdigest()
                    c.size += len(b)
        finally:
            with sink.lock:
                sink.open.discard(self.request)
            if c.cut:
                _cut(self.request)
            c.finished = True

    def finish(self):
        pass


class _Peer:
    """What RawSink and ScriptedPrinter share: a threaded server (self.server),
    the connections it holds open (self.open, under self.lock), a directory
    of their own (self.dir, removed at cleanup when self.own_dir)."""
    stopping = None  # a threading.Event set at stop, for handlers that wait

    def stop(self):
        if self.server is None:
            return
        if self.stopping is not None:
            self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for s in list(self.open):
                _cut(s)
        self.server = None

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class RawSink(_Peer):
    def __init__(self, host=None, port=None, close_after=None, tmp=None):
        self.port = 9100 if port is None else port
        self.host = host or loopback_host((self.port,))
        self.close_after = close_after
        self.dir = tmp or tempfile.mkdtemp(prefix="scout-sink-", dir="/tmp")
        self.own_dir = tmp is None
        self.connections = []
        self.open = set()
        self.lock = threading.Lock()
        self.server = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        self.server = _Server((self.host, self.port), _RawHandler, self)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def documents(self):
        return [c.data() for c in list(self.connections) if c.finished]

    def total_bytes(self):
        return sum(c.size for c in list(self.connections))

    def wait_for(self, pred, timeout=30.0, what="the sink's condition"):
        return wait_until(lambda: pred(self), timeout, what)


# ---- scripted IPP printer -----------------------------------------------

class _Body:
    """The request body as a stream: Content-Length or chunked."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        te = (headers.get("Transfer-Encoding") or "").lower()
        self.chunked = "chunked" in te
        cl = headers.get("Content-Length")
        self.left = int(cl) if (cl is not None and not self.chunked) else None
        self.chunk_left = 0
        self.eof = False

    def read(self, n):
        """Up to n bytes; b"" at the end. Raises EOFError when the peer
        stops in the middle."""
        if self.eof or n <= 0:
            return b""
        if not self.chunked:
            if self.left is None:
                b = self.rfile.read1(n) if hasattr(self.rfile, "read1") else self.rfile.read(n)
            else:
                if self.left == 0:
                    self.eof = True
                    return b""
                b = self.rfile.read1(min(n, self.left)) if hasattr(self.rfile, "read1") else \
                    self.rfile.read(min(n, self.left))
                if not b:
                    raise EOFError("connection closed with %d body bytes to come" % self.left)
                self.left -= len(b)
            if not b:
                self.eof = True
            return b
        if self.chunk_left == 0:
            line = self.rfile.readline(1024)
            if not line:
                raise EOFError("connection closed before a chunk")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers up to the blank line
                    t = self.rfile.readline(1024)
                    if t in (b"\r\n", b"\n", b""):
                        break
                self.eof = True
                return b""
            self.chunk_left = size
        b = self.rfile.read1(min(n, self.chunk_left)) if hasattr(self.rfile, "read1") else \
            self.rfile.read(min(n, self.chunk_left))
        if not b:
            raise EOFError("connection closed in a chunk")
        self.chunk_left -= len(b)
        if self.chunk_left == 0:
            self.rfile.readline(16)  # the CRLF after the chunk
        return b

    def exact(self, n):
        out = b""
        while len(out) < n:
            b = self.read(n - len(out))
            if not b:
                raise EOFError("IPP message ends early")
            out += b
        return out

    def drain(self):
        while self.read(1 << 16):
            pass


def _read_ipp_header(body):
    """Reads version .. end-of-attributes-tag; returns (op, request_id,
    {group: {name: [values]}}, raw)."""
    raw = body.exact(8)
    while True:
        tag = body.exact(1)
        raw += tag
        if tag[0] == ipplib.END:
            break
        if tag[0] < 0x10:
            continue
        nlen = body.exact(2)
        name = body.exact(struct.unpack(">H", nlen)[0])
        vlen = body.exact(2)
        value = body.exact(struct.unpack(">H", vlen)[0])
        raw += nlen + name + vlen + value
        if len(raw) > 1 << 20:
            raise ValueError("IPP header over 1 MiB")
    _, op, rid, attrs = ipplib.decode(raw)
    groups = {}
    for g, n, values in attrs:
        groups.setdefault(g, {})[n] = values
    return op, rid, groups, raw


def _enc(tag, name, values):
    values = values if isinstance(values, (list, tuple)) else [values]
    out = b""
    for i, v in enumerate(values):
        out += ipplib._attr(tag, name if i == 0 else "", v)
    return out


def _response(status, rid, groups):
    """groups: [(group tag, [(value tag, name, value or [values])])]"""
    out = bytes((2, 0)) + struct.pack(">HI", status, rid)
    base = [(ipplib.CHARSET, "attributes-charset", "utf-8"), (ipplib.LANGUAGE, "attributes-natural-language", "en")]
    out += bytes([ipplib.OPERATION]) + b"".join(_enc(t, n, v) for t, n, v in base)
    for g, items in groups:
        if g == ipplib.OPERATION:
            out += b"".join(_enc(t, n, v) for t, n, v in items)
            continue
        out += bytes([g]) + b"".join(_enc(t, n, v) for t, n, v in items)
    return out + bytes([ipplib.END])


class Attempt:
    def __init__(self, index, op, attrs, path):
        self.index, self.op, self.attrs, self.path = index, op, attrs, path
        self.size = 0
        self.complete = False
        self.stalled = False
        self.status = None
        self.job = None
        self._h = hashlib.sha256()
        self.sha256 = self._h.hexdigest()

    @property
    def user(self):
        return (self.attrs.get("requesting-user-name") or [None])[0]

    @property
    def format(self):
        return (self.attrs.get("document-format") or [None])[0]

    def data(self):
        with open(self.path, "rb") as f:
            return f.read()

    def __repr__(self):
        return "<attempt %d %s: %d bytes%s status 0x%04x>" % (self.index, self.op, self.size,
                                                               ", complete" if self.complete else ", cut",
                                                               self.status or 0)


class Job:
    def __init__(self, jid, attempt, behaviour):
        self.id = jid
        self.attempt = attempt
        self.behaviour = behaviour
        self.polls = 0
        self.state = PENDING
        self.reasons = ["none"]
        self.canceled = False

    def advance(self, processing_polls):
        """One Get-Job-Attributes: the state it answers."""
        self.polls += 1
        if self.canceled:
            self.state, self.reasons = CANCELED, ["job-canceled-by-user"]
        elif self.behaviour == "never-finish" or self.polls <= processing_polls:
            self.state, self.reasons = PROCESSING, ["job-printing"]
        elif self.behaviour == "abort":
            self.state, self.reasons = ABORTED, ["aborted-by-system"]
        elif self.behaviour == "cancel":
            self.state, self.reasons = CANCELED, ["job-canceled-at-device"]
        else:
            self.state, self.reasons = COMPLETED, ["job-completed-successfully"]
        return self.state

    def __repr__(self):
        return "<job %d state %d %s>" % (self.id, self.state, self.reasons)


class _TlsServer(_Server):
    def finish_request(self, request, client_address):
        # The handshake runs in the connection's thread, not in accept().
        p = self.owner
        mode = p.tls
        if p.mute:
            with p.lock:
                p.muted += 1
            p.stopping.wait()
            _cut(request)
            return
        try:
            if mode == "auto":
                request.settimeout(30)
                first = request.recv(1, socket.MSG_PEEK)
                use_tls = first[:1] == b"\x16"
            else:
                use_tls = bool(mode)
            if use_tls:
                request = p.context.wrap_socket(request, server_side=True)
                with p.lock:
                    p.tls_connections += 1
            else:
                with p.lock:
                    p.plain_connections += 1
            request.settimeout(None)
        except (OSError, ssl.SSLError):
            _cut(request)
            return
        with p.lock:
            p.open.add(request)
        try:
            self.RequestHandlerClass(request, client_address, self)
        except OSError:
            pass  # the client went away, or we cut it
        finally:
            with p.lock:
                p.open.discard(request)
            try:
                request.close()
            except OSError:
                pass

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass


class _IppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._send(200, b"scripted printer\n", "text/plain")

    def _send(self, code, body, ctype="application/ipp"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_POST(self):
        p = self.server.owner
        body = _Body(self.rfile, self.headers)
        try:
            op, rid, groups, _ = _read_ipp_header(body)
        except (EOFError, ValueError, struct.error, UnicodeDecodeError):
            self.close_connection = True
            self._send(400, b"")
            return
        name = OP_NAMES.get(op, "0x%04x" % op)
        with p.lock:
            p.counts[name] = p.counts.get(name, 0) + 1
            p.requests.append((name, groups))
        opattrs = groups.get(ipplib.OPERATION, {})
        try:
            if op == 0x000B:
                body.drain()
                out = p._printer_attributes(rid)
            elif op in (0x0002, 0x0006):
                out = p._document(self, op, rid, groups, body)
                if out is None:  # cut
                    return
            elif op == 0x0005:
                body.drain()
                out = p._create_job(rid, groups)
            elif op == 0x0004:
                body.drain()
                fmt = (opattrs.get("document-format") or [None])[0]
                st = FORMAT_NOT_SUPPORTED if fmt and fmt not in p.formats else 0
                out = _response(st, rid, [])
            elif op == 0x0009:
                body.drain()
                out = p._job_attributes(rid, opattrs)
            elif op == 0x0008:
                body.drain()
                out = p._cancel(rid, opattrs)
            else:
                body.drain()
                out = _response(OPERATION_NOT_SUPPORTED, rid, [])
        except EOFError:
            self.close_connection = True
            return
        self._send(200, out)


class ScriptedPrinter(_Peer):
    def __init__(self, behaviour="ok", formats=DEFAULT_FORMATS, tls="auto", host="127.0.0.1", port=0,
                 path="/ipp/print", duplex=True, color=True, copies_max=99, busy_attempts=None,
                 busy_status=SERVER_ERROR_BUSY, close_after=4096, close_attempts=None, processing_polls=1,
                 serial="SCRIPTED0001", make_model="scout Scripted Printer", mute=False, answer_status=None,
                 tmp=None):
        self.dir = tmp or tempfile.mkdtemp(prefix="scout-scripted-", dir="/tmp")
        self.own_dir = tmp is None
        self.behaviour = behaviour
        self.formats = list(formats)
        self.tls = tls
        self.host, self.port, self.path = host, port, path
        self.duplex, self.color, self.copies_max = duplex, color, copies_max
        self.busy_attempts, self.busy_status = busy_attempts, busy_status
        self.close_after, self.close_attempts = close_after, close_attempts
        self.processing_polls = processing_polls
        self.mute = mute
        self.answer_status = answer_status
        self.muted = 0
        self.stopping = threading.Event()
        self.uploading = 0
        self.max_uploading = 0
        self.overlaps = 0
        self.serial, self.make_model = serial, make_model
        self.uuid = "urn:uuid:%s" % uuid.uuid4()
        self.lock = threading.Lock()
        self.counts = {}
        self.requests = []
        self.attempts = []
        self.jobs = {}
        self.next_job = 100
        self.busy_answered = 0
        self.cut_done = 0
        self.tls_connections = 0
        self.plain_connections = 0
        self.open = set()
        self.server = None
        self.context = None
        self.keys = os.path.join(self.dir, "keys")
        self.crt = self.key = None
        if tls:
            self.new_key()

    # -- settings --
    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if not hasattr(self, k):
                    raise AttributeError(k)
                setattr(self, k, v)

    def new_key(self):
        """A new key and certificate; later handshakes present them."""
        self.crt, self.key = make_key(self.keys, "localhost")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.crt, self.key)
        self.context = ctx
        self.pin = spki_pin(self.crt)
        return self.pin

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def uri(self):
        return "%s://%s:%d%s" % ("ipp" if not self.tls else "ipps", self.host, self.port, self.path)

    @property
    def ipp_uri(self):
        return "ipp://%s:%d%s" % (self.host, self.port, self.path)

    def start(self):
        self.server = _TlsServer((self.host, self.port), _IppHandler, self)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def wait_for(self, pred, timeout=30.0, what="the printer's condition"):
        return wait_until(lambda: pred(self), timeout, what)

    def count(self, op):
        with self.lock:
            return self.counts.get(op, 0)

    def documents(self):
        return [a.data() for a in list(self.attempts) if a.job is not None]

    # -- answers --
    def _printer_attributes(self, rid):
        uris, sec = [], []
        if self.tls:
            uris.append("ipps://%s:%d%s" % (self.host, self.port, self.path))
            sec.append("tls")
        if self.tls in (False, "auto"):
            uris.append(self.ipp_uri)
            sec.append("none")
        pa = [
            (ipplib.URI, "printer-uri-supported", uris),
            (ipplib.KEYWORD, "uri-security-supported", sec),
            (ipplib.KEYWORD, "uri-authentication-supported", ["none"] * len(uris)),
            (ipplib.NAME, "printer-name", "scripted"),
            (ipplib.TEXT, "printer-make-and-model", self.make_model),
            (ipplib.URI, "printer-uuid", self.uuid),
            (ipplib.TEXT, "printer-serial-number", self.serial),
            (ipplib.ENUM, "printer-state", 3),
            (ipplib.KEYWORD, "printer-state-reasons", "none"),
            (ipplib.BOOLEAN, "printer-is-accepting-jobs", True),
            (ipplib.KEYWORD, "ipp-versions-supported", ["1.1", "2.0"]),
            (ipplib.ENUM, "operations-supported", [0x0002, 0x0004, 0x0005, 0x0006, 0x0008, 0x0009, 0x000A,
                                                   0x000B]),
            (ipplib.CHARSET, "charset-configured", "utf-8"),
            (ipplib.CHARSET, "charset-supported", "utf-8"),
            (ipplib.LANGUAGE, "natural-language-configured", "en"),
            (ipplib.LANGUAGE, "generated-natural-language-supported", "en"),
            (ipplib.MIMETYPE, "document-format-default", self.formats[0] if self.formats else
             "application/octet-stream"),
            (ipplib.MIMETYPE, "document-format-supported", self.formats),
            (ipplib.KEYWORD, "compression-supported", "none"),
            (ipplib.KEYWORD, "sides-supported", ["one-sided", "two-sided-long-edge", "two-sided-short-edge"]
             if self.duplex else ["one-sided"]),
            (ipplib.KEYWORD, "sides-default", "one-sided"),
            (ipplib.KEYWORD, "print-color-mode-supported", ["monochrome", "color"] if self.color else
             ["monochrome"]),
            (ipplib.KEYWORD, "print-color-mode-default", "monochrome"),
            (ipplib.BOOLEAN, "color-supported", bool(self.color)),
            (RANGE, "copies-supported", struct.pack(">ii", 1, max(1, self.copies_max))),
            (ipplib.INTEGER, "copies-default", 1),
        ]
        return _response(0, rid, [(ipplib.PRINTER, pa)])

    def _new_job(self, attempt, behaviour):
        with self.lock:
            jid = self.next_job
            self.next_job += 1
            j = Job(jid, attempt, behaviour)
            self.jobs[jid] = j
        return j

    def _job_group(self, j):
        return (ipplib.JOB, [(ipplib.INTEGER, "job-id", j.id),
                             (ipplib.URI, "job-uri", "%s/%d" % (self.uri, j.id)),
                             (ipplib.ENUM, "job-state", j.state),
                             (ipplib.KEYWORD, "job-state-reasons", j.reasons)])

    def _create_job(self, rid, groups):
        opattrs = groups.get(ipplib.OPERATION, {})
        fmt = (opattrs.get("document-format") or [None])[0]
        if fmt and fmt not in self.formats:
            return _response(FORMAT_NOT_SUPPORTED, rid, [])
        j = self._new_job(None, "pending")
        j.created_attrs = dict(opattrs, **groups.get(ipplib.JOB, {}))
        return _response(0, rid, [self._job_group(j)])

    def _document(self, handler, op, rid, groups, body):
        """Print-Job or Send-Document: reads the document (cutting the
        connection when scripted to); the response, or None when cut."""
        attrs = dict(groups.get(ipplib.OPERATION, {}))
        attrs.update(groups.get(ipplib.JOB, {}))
        name = OP_NAMES[op]
        send_to = None
        if op == 0x0006:
            jid = (attrs.get("job-id") or [None])[0]
            send_to = self.jobs.get(jid)
            if send_to is None:
                body.drain()
                return _response(NOT_FOUND, rid, [])
            attrs = dict(getattr(send_to, "created_attrs", {}), **attrs)
        fmt = (attrs.get("document-format") or [None])[0]
        with self.lock:
            a = Attempt(len(self.attempts), name, attrs, os.path.join(self.dir, "doc-%d.bin" % len(self.attempts)))
            self.attempts.append(a)
            behaviour = self.behaviour
            cut_at = None
            if behaviour in ("close-mid-document", "stall") and (self.close_attempts is None or
                                                                 self.cut_done < self.close_attempts):
                cut_at = self.close_after
                self.cut_done += 1
        if fmt and fmt not in self.formats:
            body.drain()
            a.status = FORMAT_NOT_SUPPORTED
            return _response(FORMAT_NOT_SUPPORTED, rid, [])
        with self.lock:
            self.uploading += 1
            self.max_uploading = max(self.max_uploading, self.uploading)
            if any(j.state not in (CANCELED, ABORTED, COMPLETED) for j in self.jobs.values() if j is not send_to):
                self.overlaps += 1
        try:
            return self._receive(handler, rid, body, a, cut_at, behaviour, send_to)
        finally:
            with self.lock:
                self.uploading -= 1

    def _receive(self, handler, rid, body, a, cut_at, behaviour, send_to):
        with open(a.path, "wb") as f:
            while True:
                want = 1 << 16 if cut_at is None else min(1 << 16, cut_at - a.size)
                if want <= 0:
                    if behaviour == "stall":
                        a.stalled = True
                        self.stopping.wait()
                    handler.close_connection = True
                    _cut(handler.connection)
                    return None
                b = body.read(want)  # EOFError: the client went away
                if not b:
                    break
                f.write(b)
                a._h.update(b)
                a.sha256 = a._h.hexdigest()
                a.size += len(b)
        a.complete = True
        with self.lock:
            busy = behaviour == "busy" and (self.busy_attempts is None or self.busy_answered < self.busy_attempts)
            if busy:
                self.busy_answered += 1
        if busy:
            a.status = self.busy_status
            return _response(self.busy_status, rid, [])
        if self.answer_status is not None:
            a.status = self.answer_status
            return _response(self.answer_status, rid, [])
        if behaviour in ("busy", "close-mid-document", "stall"):
            behaviour = "ok"
        if send_to is not None:
            send_to.attempt, send_to.behaviour, j = a, behaviour, send_to
        else:
            j = self._new_job(a, behaviour)
        a.job = j
        a.status = 0
        return _response(0, rid, [self._job_group(j)])

    def _job_id(self, opattrs):
        jid = (opattrs.get("job-id") or [None])[0]
        if jid is None and opattrs.get("job-uri"):
            try:
                jid = int(str(opattrs["job-uri"][0]).rsplit("/", 1)[1])
            except (ValueError, IndexError):
                jid = None
        return jid

    def _job_attributes(self, rid, opattrs):
        j = self.jobs.get(self._job_id(opattrs))
        if j is None:
            return _response(NOT_FOUND, rid, [])
        with self.lock:
            j.advance(self.processing_polls)
        return _response(0, rid, [self._job_group(j)])

    def _cancel(self, rid, opattrs):
        j = self.jobs.get(self._job_id(opattrs))
        if j is None:
            return _response(NOT_FOUND, rid, [])
        with self.lock:
            j.canceled = True
            j.state, j.reasons = CANCELED, ["job-canceled-by-user"]
        return _response(0, rid, [])


# ---- ippeveprinter with a key of our choosing ---------------------------

class KeyedIppEvePrinter(cupslib.IppEvePrinter):
    """See the module text. Takes IppEvePrinter's arguments."""

    HOSTNAME = "localhost"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.keys = os.path.join(self.dir, "keys")
        self.crt, self.key = make_key(self.keys, self.HOSTNAME)
        self.pin = spki_pin(self.crt)
        self.ipps_uri = "ipps://127.0.0.1:%d/ipp/print" % self.port

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def new_key(self):
        self.crt, self.key = make_key(self.keys, self.HOSTNAME)
        self.pin = spki_pin(self.crt)
        return self.pin

    def start(self, timeout=20.0):
        cupslib.system_bus_and_avahi()
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen([cupslib.IPPEVEPRINTER, "-n", self.HOSTNAME, "-p", str(self.port), "-d",
                                      self.spool, "-k", "-K", self.keys, "-f", self.formats] +
                                     (["-c", self.command] if self.command else []) + [self.name],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        out.close()
        cupslib._live.append(self.proc)
        cupslib._wait_ipp(self.proc, self.port, "/ipp/print", "ippeveprinter", self.log, timeout)
        return self

    def restart(self, new_key=True, timeout=20.0):
        """The same printer (port, spool) back up, with a new key when asked;
        returns the pin it presents now. What it spooled so far moves to
        DIR/spool.N (it numbers jobs from 1 again: a new job could take an
        old file's name)."""
        self.stop()
        self.restarts = getattr(self, "restarts", 0) + 1
        old = os.path.join(self.dir, "spool.%d" % self.restarts)
        os.makedirs(old)
        for n in os.listdir(self.spool):
            os.replace(os.path.join(self.spool, n), os.path.join(old, n))
        if new_key:
            self.new_key()
        # the port was ours a moment ago; wait until it can be bound again
        wait_until(lambda: _bindable("127.0.0.1", self.port), 20, "port %d to be free" % self.port, 0.1)
        self.start(timeout)
        return self.pin

    def documents(self):
        """Spooled documents, oldest first: received() without the empty
        NNN-name.prn a print command (-c) leaves beside each."""
        return [f for f in self.received() if not f.endswith(".prn")]

    def presented_pin(self):
        """The pin of the certificate it presents now (a TLS handshake)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            with ctx.wrap_socket(s) as t:
                der = t.getpeercert(binary_form=True)
        pem = ssl.DER_cert_to_PEM_cert(der)
        path = os.path.join(self.dir, "presented.crt")
        with open(path, "w") as f:
            f.write(pem)
        return spki_pin(path)


def _bindable(host, port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


# ---- scoutd, as the release tests drive it ------------------------------

class Release:
    """What `scoutctl release ... --json` said."""

    def __init__(self, proc):
        self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        try:
            self.reply = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            self.reply = None
        r = self.reply if isinstance(self.reply, dict) else {}
        self.jobs = r.get("jobs") if isinstance(r.get("jobs"), list) else []
        self.printer = r.get("printer") if isinstance(r.get("printer"), dict) else {}

    def job(self, jid):
        for j in self.jobs:
            if j.get("id") == jid:
                return j
        raise AssertionError("job %s is not in the release reply: %s" % (jid, self))

    def __str__(self):
        return "scoutctl release: exit %d\nstdout: %s\nstderr: %s" % (self.rc, self.stdout, self.stderr)


class ReleaseAgent(scoutprint.PrintAgent):
    def __init__(self, ipp_extra="", vault_extra="", **kw):
        super().__init__(ipp_extra=ipp_extra, vault_extra=vault_extra, **kw)
        self._names = 0

    def ready(self):
        self.start()
        self.init_vault()
        self.wait_accepting()
        return self

    def submit(self, doc, user="alice", name=None, format="application/pdf", **job):
        """Print-Job to the intake as user; the job as the vault holds it."""
        self._names += 1
        name = name or "release-test-%d-%d" % (os.getpid(), self._names)
        if isinstance(doc, (bytes, bytearray)):
            body = io.BytesIO(doc)
        else:
            body = open(doc, "rb")
        try:
            r = self.client(timeout=120).print_job(body, user=user, name=name, format=format, **job)
        finally:
            body.close()
        if not r.ok:
            raise AssertionError("Print-Job to scoutd refused: %r\n%s" % (r, self.log()))
        return self.wait_for_job(lambda j: j.get("name") == name and j.get("owner") == user and
                                 j.get("state") == "held")

    def release(self, user, printer, jobs=None, timeout=600):
        args = ["release", "--user", user, "--printer", printer]
        for j in jobs or ():
            args += ["--job", str(j)]
        return Release(self.ctl(*(args + ["--json"]), timeout=timeout))

    def held(self, user):
        """{id: job} of user's jobs the vault lists (held and processing)."""
        return {j["id"]: j for j in self.jobs("--user", user)}

    def status_json(self):
        p = self.ctl("status", "--json")
        if p.returncode != 0:
            raise AssertionError("scoutctl status --json failed (%d): %s%s" % (p.returncode, p.stdout, p.stderr))
        out = json.loads(p.stdout)
        return out.get("status", out)

    def status_text(self):
        return self.ctl("status").stdout

    def ipp_status(self):
        for m in self.status_json().get("modules", []):
            if m.get("name") == "ipp":
                return m
        raise AssertionError("no ipp module in scoutctl status --json")

    def problems(self):
        """Every "problems" line in the ipp module's status, wherever the
        module put the list."""
        out = []

        def walk(o):
            if isinstance(o, dict):
                for k, v in o.items():
                    if k == "problems" and isinstance(v, list):
                        out.extend(str(x) for x in v)
                    else:
                        walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(self.ipp_status())
        return out

    def printers(self):
        p = self.ctl("printers", "--json")
        if p.returncode != 0:
            raise AssertionError("scoutctl printers --json failed (%d): %s%s" % (p.returncode, p.stdout, p.stderr))
        out = json.loads(p.stdout)
        if isinstance(out, dict):
            out = out.get("printers", out)
        return out

    def printer_row(self, address):
        for row in self.printers():
            if row.get("address") == address:
                return row
        raise AssertionError("no printer %s in scoutctl printers --json: %r" % (address, self.printers()))
