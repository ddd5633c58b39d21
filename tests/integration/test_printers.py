"""ipp module: the printer registry as an operator sees it.

A real scoutd with [ipp] printers listed in its config: `scoutctl printers`
lists them with their GUIDs (the same after a restart), `scoutctl printer
qr` draws a GUID as terminal text and writes --png and --svg files (the PNG
read back here with zlib, the SVG's squares compared with it, and the PNG
decoded with zbarimg, a real QR reader, when zbar-tools is installed),
`scoutctl printer trust` pins the key a TLS server shows (and only the one
--pin names) and says when there is nothing to trust, and a bad
printers entry is refused with FILE:LINE. The commands are the ones
docs/ipp.md shows ("Printers, pins and QR labels"). The printers are never
connected to: nothing listens at their addresses.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scoutlib  # noqa: E402

GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PRINTERS = "office=127.0.0.1:8632, ipps://[::1]:8633/ipp/print, 127.0.0.3"


def config(state_dir, printers=PRINTERS):
    return scoutlib.config_text(state_dir) + (
        "\n[ipp]\nenabled = yes\nlisten = 127.0.0.1:0\ntls = no\nowner = requesting-user-name\n"
        "printers = %s\n" % printers)


def png_modules(data):
    """A 1-bit greyscale PNG as ours writes it -> (grid of dark modules
    including the quiet zone, pixels per module)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    off, idat, ihdr = 8, b"", None
    while off < len(data):
        n, kind = struct.unpack(">I4s", data[off:off + 8])
        body = data[off + 8:off + 8 + n]
        crc = struct.unpack(">I", data[off + 8 + n:off + 12 + n])[0]
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        off += 12 + n
    w, h, depth, colour = ihdr[:4]
    assert (w, depth, colour) == (h, 1, 0), ihdr
    raw = zlib.decompress(idat)
    stride = 1 + (w + 7) // 8
    rows = []
    for y in range(h):
        row = raw[y * stride:(y + 1) * stride]
        assert row[0] == 0  # filter: none
        rows.append([not (row[1 + x // 8] >> (7 - x % 8)) & 1 for x in range(w)])
    # the top-left finder pattern starts after the 4-module quiet zone and is 7 modules wide
    y0 = next(y for y in range(h) if any(rows[y]))
    x0 = rows[y0].index(True)
    run = 0
    while rows[y0][x0 + run]:
        run += 1
    scale = run // 7
    assert x0 == y0 == 4 * scale and run == 7 * scale, (x0, y0, run)
    n = w // scale
    return [[rows[my * scale + scale // 2][mx * scale + scale // 2] for mx in range(n)] for my in range(n)], scale


def svg_modules(text):
    m = re.search(r'viewBox="0 0 (\d+) (\d+)"', text)
    side = int(m.group(1))
    grid = [[False] * side for _ in range(side)]
    d = re.search(r'<path fill="#000" d="([^"]*)"', text).group(1)
    for x, y, w, w2 in re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", d):
        assert w == w2
        for i in range(int(w)):
            grid[int(y)][int(x) + i] = True
    return grid


def make_cert(tmp):
    """A self-signed certificate -> (cert path, key path, hex SHA-256 of its
    SubjectPublicKeyInfo: the pin scout keeps)."""
    cert, key = os.path.join(tmp, "printer-cert.pem"), os.path.join(tmp, "printer-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=printer.test"],
                   check=True, capture_output=True, timeout=60)
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True, capture_output=True,
                         timeout=60).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         capture_output=True, timeout=60).stdout
    return cert, key, hashlib.sha256(der).hexdigest()


class TlsServer:
    """A TLS listener on a free 127.0.0.1 port that completes handshakes
    and reads until the client goes: a printer's ipps:// port as far as a
    key is concerned."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)  # accept wakes up to see stopping (close alone does not wake it)
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(10)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as s:
                    while s.recv(4096):
                        pass
            except (OSError, ssl.SSLError):
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join(15)
        self.sock.close()


class PrintersTest(scoutlib.AgentTest):
    def start(self, printers=PRINTERS):
        tmp = scoutlib.make_tmpdir()
        state = os.path.join(tmp, "state")
        a = self.agent(tmp=tmp, config=config(state, printers))
        a.start()
        self.assertEqual(a.module("ipp")["state"], "running", a.log())
        return a

    def listed(self, a):
        p = a.ctl("printers", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["printers"]

    def test_listed_from_config_and_stable_across_restart(self):
        a = self.start()
        p = a.ctl("printers")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("3 printers known", p.stdout)
        self.assertRegex(p.stdout, r"GUID +ADDRESS +PROTOCOLS +MODEL +PIN +ALERT")
        rows = self.listed(a)
        by_address = {r["address"]: r for r in rows}
        self.assertEqual(sorted(by_address), ["127.0.0.1:8632", "127.0.0.3", "ipps://[::1]:8633/ipp/print"])
        for r in rows:
            self.assertRegex(r["guid"], GUID_RE)
            self.assertIn(r["guid"], p.stdout)
            self.assertIsNone(r["pin"])
        self.assertEqual(by_address["127.0.0.1:8632"]["name"], "office")
        self.assertEqual(by_address["ipps://[::1]:8633/ipp/print"]["host"], "::1")
        self.assertEqual(by_address["ipps://[::1]:8633/ipp/print"]["path"], "/ipp/print")
        self.assertEqual(by_address["127.0.0.3"]["port"], 631)
        self.assertEqual(len({r["guid"] for r in rows}), 3)
        st = a.module("ipp")
        self.assertEqual(st["printers"], {"known": 3, "pinned": 0, "alerts": []})
        self.assertNotIn("problems", st)
        before = {r["address"]: r["guid"] for r in rows}
        self.assertEqual(a.stop()[0], 0)
        a.start()
        self.assertEqual({r["address"]: r["guid"] for r in self.listed(a)}, before)
        # a printer named by GUID is found; an unknown GUID is not
        guid = before["127.0.0.3"]
        q = a.ctl("printer", "qr", guid.upper())
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertIn("printer 127.0.0.3: GUID %s" % guid, q.stdout)
        q = a.ctl("printer", "qr", "00000000-0000-4000-8000-000000000000")
        self.assertNotEqual(q.returncode, 0)
        self.assertIn("no printer has the GUID 00000000-0000-4000-8000-000000000000", q.stderr)
        # an address first named on the command line is added, with a GUID of its own
        q = a.ctl("printer", "qr", "ipp://127.0.0.9:9631/ipp/print")
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertEqual(len(self.listed(a)), 4)
        # a reload adds what the list gained, and a name now points where the file says
        a.write_config(config(a.state_dir, PRINTERS + ", lab=127.0.0.4:8634"))
        r = a.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = {r["address"]: r for r in self.listed(a)}
        self.assertEqual(len(rows), 5)
        self.assertEqual(rows["127.0.0.4:8634"]["name"], "lab")
        self.assertEqual(rows["127.0.0.1:8632"]["guid"], before["127.0.0.1:8632"])
        self.assertEqual(a.stop()[0], 0)

    def test_qr_files(self):
        a = self.start()
        guid = [r for r in self.listed(a) if r.get("name") == "office"][0]["guid"]
        png = os.path.join(a.tmp, "label.png")
        svg = os.path.join(a.tmp, "label.svg")
        # as docs/ipp.md shows it: files named relative to where scoutctl runs
        p = a.ctl("printer", "qr", "office", "--png", "label.png", "--svg", "label.svg", cwd=a.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "printer 127.0.0.1:8632: GUID %s" % guid)
        # 29 modules and a 2-module quiet zone: 33 columns, two rows a line
        art = [l for l in lines if len(l) == 33 and set(l) <= set(" █▀▄")]
        self.assertEqual(len(art), 17)
        self.assertNotIn("iVBOR", p.stdout)  # the file's bytes are not shown
        with open(png, "rb") as f:
            png_grid, scale = png_modules(f.read())
        self.assertEqual(len(png_grid), 29 + 8)
        with open(svg) as f:
            text = f.read()
        self.assertTrue(text.startswith("<?xml"))
        self.assertEqual(svg_modules(text), png_grid)
        # the terminal drawing is the same code (2-module quiet zone, two rows a line)
        term = []
        for line in art:
            top, bottom = [], []
            for ch in line:
                top.append(ch in "█▀")
                bottom.append(ch in "█▄")
            term += [top, bottom]
        inner = [row[2:2 + 33] for row in png_grid[2:2 + 33]]
        self.assertEqual([row for row in term[:33]], inner)
        j = json.loads(a.ctl("printer", "qr", "office", "--json").stdout)
        self.assertEqual(j["guid"], guid)
        self.assertNotIn("png", j)
        zbar = shutil.which("zbarimg")
        if not zbar:
            print("SKIP part: zbarimg not installed (apt-get install zbar-tools): the PNG was checked "
                  "module by module only", file=sys.stderr)
        else:
            out = subprocess.run([zbar, "--quiet", "--raw", png], capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.strip(), guid)
        self.assertEqual(a.stop()[0], 0)

    def test_trust(self):
        a = self.start()
        guid = [r for r in self.listed(a) if r.get("name") == "office"][0]["guid"]
        # nothing pinned and nothing listening: it cannot read a key to pin
        p = a.ctl("printer", "trust", "127.0.0.1:8632")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no key pinned yet, and printer 127.0.0.1:8632 could not be asked for its certificate",
                      p.stderr)
        p = a.ctl("printer", "trust", "127.0.0.1:8632", "--pin", "not-hex")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--pin takes 16 to 64 hex digits", p.stderr)
        p = a.ctl("printer", "trust", "ftp://127.0.0.1/")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("only ipp:// and ipps:// URIs name a printer", p.stderr)
        # a TLS server: trust pins the key it shows now, and only the one --pin names
        cert, key, pin = make_cert(a.tmp)
        with TlsServer(cert, key) as srv:
            address = "127.0.0.1:%d" % srv.port
            p = a.ctl("printer", "trust", address, "--pin", "00" * 8)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("shows key %s…, not the one given with --pin" % pin[:16], p.stderr)
            p = a.ctl("printer", "trust", address, "--pin", pin[:16])
            self.assertEqual(p.returncode, 0, p.stderr)
            new = [r for r in self.listed(a) if r["address"] == address][0]
            self.assertEqual(p.stdout.strip(), "printer %s (%s): the key the printer shows now is pinned: jobs "
                             "for it go only to that key" % (address, new["guid"]))
            self.assertEqual(new["pin"], pin)
            # trusting again: nothing new to trust
            p = a.ctl("printer", "trust", address)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.strip(), "printer %s (%s): no new certificate to trust: the printer shows "
                             "the pinned key" % (address, new["guid"]))
        self.assertIn("%s…" % pin[:16], a.ctl("printers").stdout)
        self.assertEqual(a.module("ipp")["printers"]["pinned"], 1)
        self.assertNotIn("problems", a.module("ipp"))
        self.assertEqual(a.stop()[0], 0)
        # the pin is kept
        a.start()
        self.assertEqual([r for r in self.listed(a) if r["address"] == address][0]["pin"], pin)
        self.assertIsNone([r for r in self.listed(a) if r["guid"] == guid][0]["pin"])
        self.assertEqual(a.stop()[0], 0)

    def test_bad_entry_refused_with_file_and_line(self):
        tmp = scoutlib.make_tmpdir()
        path = os.path.join(tmp, "scoutd.conf")
        with open(path, "w") as f:
            f.write(config(os.path.join(tmp, "state"), "office=127.0.0.1:8632, ftp://127.0.0.1/"))
        line = open(path).read().splitlines().index(
            "printers = office=127.0.0.1:8632, ftp://127.0.0.1/") + 1
        p = subprocess.run([scoutlib.SCOUTD, "--check-config", "-c", path], capture_output=True, text=True,
                           timeout=30, env=scoutlib.ENV)
        self.assertEqual(p.returncode, 1, p.stderr)
        out = p.stdout + p.stderr
        self.assertIn("%s:%d: [ipp] printers: " % (path, line), out)
        self.assertIn("'ftp://127.0.0.1/': only ipp:// and ipps:// URIs name a printer", out)


if __name__ == "__main__":
    scoutlib.main()
