"""What scoutctl shows people. Printer text is stored as received, so it may
hold newlines, escape sequences, C1 controls (a raw 0x9B byte becomes U+009B
CSI through the latin-1 fallback) and bidi overrides: every string in human
output is escaped (\\n, \\x1b, \\u009b, \\u202e, ...), each table row stays one
line, columns are aligned by displayed width, and tables show every row
(issue 7, points 3 and 7). --json stays the daemon's data, with the same
characters written as JSON \\u escapes.

Most tests answer scoutctl from a fake status socket with crafted replies;
one serves hostile text from snmpsim to a real scoutd."""

import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata

import scoutlib
from scoutlib import ENV, SCOUTCTL, run_scoutctl

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "snmp"))
import peers  # noqa: E402

# one of everything that must never reach a terminal raw, and what it becomes
HOSTILE = ("A\x1b[2J\x9b2J\u202eevil\u2066x\u2069\n\r\tB\x7f\x01\u200b\ufeff\u061c"
           "\u2028\u200e\U000e0041\\Z")
HOSTILE_SHOWN = ("A\\x1b[2J\\u009b2J\\u202eevil\\u2066x\\u2069\\n\\r\\tB\\x7f\\x01\\u200b\\ufeff\\u061c"
                 "\\u2028\\u200e\\U000e0041\\\\Z")

BIDI = {0x061C, 0x200E, 0x200F} | set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))
INVISIBLE = {0x200B, 0x2028, 0x2029, 0xFEFF} | set(range(0x2060, 0x2070)) | set(range(0xFFF9, 0xFFFC)) | \
    set(range(0xE0000, 0xE0080))


def width(text):
    """Terminal columns of text: wide East Asian characters take two,
    combining marks none."""
    w = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def lowest_supply(d):
    """The devices reply's lowest_supply, as the snmp module writes it: the
    supply with the least left, its name cut to 32 characters, and its level."""
    levels = [s for s in d.get("supplies", []) if isinstance(s.get("level_percent"), int)]
    if not levels:
        return None
    best = min(levels, key=lambda s: s["level_percent"])
    name = best.get("description") or best.get("colorant") or best.get("kind") or "supply"
    return "%s %d%%" % (name[:32], best["level_percent"])


def device(i, **kw):
    """A device row of the devices reply (the record plus lowest_supply)."""
    d = {"id": "s:SER%04d" % i, "ip": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
         "manufacturer": "HP", "model": "LaserJet %d" % i, "serial": "SER%04d" % i,
         "status": {"device": "running", "printer": "idle"}, "meters": {"total": 1000 + i},
         "supplies": [{"description": "Black Toner", "kind": "toner", "level_percent": 50}],
         "first_seen": "2024-01-01T00:00:00Z", "last_seen": "2024-01-02T00:00:00Z"}
    d.update(kw)
    if lowest_supply(d) and "lowest_supply" not in kw:
        d["lowest_supply"] = lowest_supply(d)
    return d


def run_bytes(sock, *args, stdout=subprocess.PIPE):
    p = subprocess.run([SCOUTCTL, "-s", sock] + list(args), stdout=stdout, stderr=subprocess.PIPE, timeout=30,
                       env=ENV)
    probs = scoutlib.sanitizer_problems(p.stderr.decode("utf-8", "replace"))
    if probs:
        raise AssertionError("sanitizer report from scoutctl %s: %s\n%s" % (args, probs, p.stderr))
    return p


class Render(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        self.tmp = scoutlib.make_tmpdir()
        self.fakes = []

    def tearDown(self):
        for f in self.fakes:
            f.close()
        super().tearDown()

    def fake(self, replies):
        path = os.path.join(self.tmp, "fake%d.sock" % len(self.fakes))
        self.fakes.append(scoutlib.FakeAgent(path, replies))
        return path

    def assertTerminalSafe(self, out, what):
        """out (bytes) holds no control but line ends, no C1, no bidi or
        invisible format character, and is valid UTF-8."""
        for i, b in enumerate(out):
            if (b < 0x20 and b != 0x0A) or b == 0x7F:
                self.fail("%s: raw control byte 0x%02x at %d: %r" % (what, b, i, out[max(0, i - 40):i + 40]))
        try:
            text = out.decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail("%s: not valid UTF-8 (%s): %r" % (what, e, out[max(0, e.start - 40):e.start + 40]))
        for i, ch in enumerate(text):
            cp = ord(ch)
            if 0x80 <= cp <= 0x9F or cp in BIDI or cp in INVISIBLE:
                self.fail("%s: raw U+%04X at %d: %r" % (what, cp, i, text[max(0, i - 40):i + 40]))
        return text

    def assertAligned(self, lines, header, cells):
        """Every row's cells start at the column of their header (displayed
        width of what comes before them)."""
        for row in cells:
            line = [ln for ln in lines if row[0] in ln]
            self.assertEqual(len(line), 1, (row[0], lines))
            for name, cell in zip(header, row):
                self.assertEqual(width(line[0][:line[0].index(cell)]), width(lines[0][:lines[0].index(name)]),
                                 "column %s of %r:\n%s" % (name, cell, "\n".join(lines)))

    # ---- point 3: terminal injection ---------------------------------------

    def test_devices_table_escapes_printer_text(self):
        devs = [device(1, model=HOSTILE, manufacturer="\u0160koda \u9ad8\u901f",
                       supplies=[{"description": "Cyan\u202e\nToner", "level_percent": 7}]),
                device(2, serial="S\u00e9r\u00efal\u0301", status={"printer": "idle\x1b]0;pwned\x07"}),
                device(3, model="\u8907\u5408\u6a5f MX", manufacturer="\x9b31m", printer=True)]
        sock = self.fake({"devices": {"ok": True, "devices": devs}})
        p = run_bytes(sock, "devices")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.assertTerminalSafe(p.stdout, "devices")
        lines = text.splitlines()
        self.assertEqual(len(lines), 4, "one line per row:\n" + text)
        self.assertIn(HOSTILE_SHOWN, lines[1])
        self.assertIn("Cyan\\u202e\\nToner 7%", lines[1])
        self.assertIn("idle\\x1b]0;pwned\\x07", lines[2])
        self.assertIn("\\u009b31m", lines[3])
        header = ["IP", "MANUFACTURER", "MODEL", "SERIAL", "STATUS", "PAGES", "LOWEST SUPPLY"]
        self.assertAligned(lines, header, [
            ["10.0.0.1", "\u0160koda", "A\\x1b", "SER0001", "idle", "1001", "Cyan"],
            ["10.0.0.2", "HP", "LaserJet 2", "S\u00e9r", "idle\\x1b", "1002", "Black"],
            ["10.0.0.3", "\\u009b31m", "\u8907", "SER0003", "idle", "1003", "Black"],
        ])

    def test_device_view_escapes_printer_text(self):
        d = device(7, description="Evil\x9b2J\nline two", location="Room \u202e1 moor\u202c",
                   display="READY\nTray 2 empty", name="\x1b[31mred", firmware="1.0\u2066",
                   alerts=[{"code": "jam\n", "severity": "critical", "group": "input\u2067", "text": HOSTILE}],
                   supplies=[{"description": HOSTILE, "kind": "toner", "colorant": "black\x7f",
                              "level_percent": 3, "level": 3, "max": 100, "unit": "percent\r"}])
        del d["lowest_supply"]  # only the devices reply has it
        hist = [{"time": "2024-01-0%dT00:00:00Z\x1b[2J" % (i + 1), "total": i, "mono": i, "color": 0}
                for i in range(3)]
        sock = self.fake({"device": {"ok": True, "device": d, "history": hist}})
        p = run_bytes(sock, "device", "SER0007")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.assertTerminalSafe(p.stdout, "device")
        self.assertIn("Evil\\u009b2J\\nline two", text)
        self.assertIn("Room \\u202e1 moor\\u202c", text)
        self.assertIn("READY\\nTray 2 empty", text)
        self.assertIn("\\x1b[31mred", text)
        self.assertEqual(text.count(HOSTILE_SHOWN), 2, text)
        for ln in text.splitlines():
            if "description" in ln:
                self.assertTrue(ln.startswith("description"), ln)
        readings = [ln for ln in text.splitlines() if ln.startswith("2024-01-0")]
        self.assertEqual(len(readings), 3, text)
        # time (escaped), total, mono, color, reset (absent here: "-")
        self.assertEqual([ln.split() for ln in readings],
                         [["2024-01-0%dT00:00:00Z\\x1b[2J" % (i + 1), str(i), str(i), "0", "-"] for i in range(3)])

    def test_status_escapes_everything(self):
        st = {"version": "1.0\x1b[2J", "pid": 1, "uptime_s": 5, "config": "/etc/scout\n.conf",
              "state_dir": "/var/\u202elib", "status_socket": "/run/s.sock", "log_level": "info",
              "previous_run": "clean", "starts": 1,
              "reload": {"last": {"time": "now", "errors": ["f.conf:1: bad \x9b value\nsecond"]}},
              "modules": [{"name": "snmp\x1b", "enabled": True, "state": "failed", "reason": HOSTILE}],
              "bus": {"topic\u2066x": {"published": 1}}}
        sock = self.fake({"status": {"ok": True, "status": st},
                          "version": {"ok": True, "version": "9\x1b[2J\u202e"}})
        p = run_bytes(sock, "status")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.assertTerminalSafe(p.stdout, "status")
        self.assertIn(HOSTILE_SHOWN, text)
        self.assertIn("/etc/scout\\n.conf", text)
        self.assertIn("bad \\u009b value\\nsecond", text)
        self.assertIn("topic\\u2066x", text)
        p = run_bytes(sock, "version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.assertTerminalSafe(p.stdout, "version"), "scoutd 9\\x1b[2J\\u202e\n")

    def test_messages_escaped(self):
        sock = self.fake({
            "version": {"ok": False, "error": {"code": "busy\x1b", "message": "no \x9b\u202e\nway"}},
            "reload": {"ok": False, "reload": {"errors": ["a.conf:2: '\x1b[2J' \u2066bad"]}},
            "scan": {"ok": True, "scan": {"started": True, "probed": 0, "total": 1}},
        })
        p = run_bytes(sock, "version")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(self.assertTerminalSafe(p.stderr, "error"),
                         "scoutctl: no \\u009b\\u202e\\nway (busy\\x1b)\n")
        p = run_bytes(sock, "reload")
        self.assertEqual(p.returncode, 1)
        self.assertIn("a.conf:2: '\\x1b[2J' \\u2066bad", self.assertTerminalSafe(p.stderr, "reload"))
        ok = self.fake({"reload": {"ok": True, "reload": {"notes": ["note\x1b[2J\u202e"]}}})
        p = run_bytes(ok, "reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.assertTerminalSafe(p.stdout, "reload"), "reload applied\n  note: note\\x1b[2J\\u202e\n")
        # what the operator typed is echoed escaped too, invalid UTF-8 included
        p = subprocess.run([SCOUTCTL.encode(), b"-s", sock.encode(), b"frob\xff\x1b[2J"], capture_output=True,
                           timeout=30, env=ENV)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'frob\\xff\\x1b[2J'", self.assertTerminalSafe(p.stderr, "usage"))

    def test_json_keeps_data_and_is_terminal_safe(self):
        devs = [device(1, model=HOSTILE, location="Pok\u00f3j \u0160 \u8907"), device(2)]
        sock = self.fake({"devices": {"ok": True, "devices": devs},
                          "device": {"ok": True, "device": devs[0], "history": []}})
        p = run_bytes(sock, "devices", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTerminalSafe(p.stdout, "devices --json")
        self.assertEqual(json.loads(p.stdout), devs, "the data is unchanged")
        # readable text in other scripts stays as it is
        self.assertIn("Pok\u00f3j \u0160 \u8907", p.stdout.decode())
        self.assertIn("\\u202E", p.stdout.decode())
        p = run_bytes(sock, "device", "x", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTerminalSafe(p.stdout, "device --json")
        self.assertEqual(json.loads(p.stdout), {"device": devs[0], "history": []})

    def test_clipped_cell_keeps_whole_characters(self):
        # a column with a width (the snmp module's LOWEST SUPPLY: 40) is cut
        # to fit on screen: never inside a character or an escape
        sock = self.fake({"devices": {"ok": True, "devices": [
            device(1, lowest_supply="\u015a" * 50 + " 5%"),
            device(2, lowest_supply="\u202e" * 20 + " 5%"),
            device(3, lowest_supply="\u8907" * 30 + " 5%")]}})
        p = run_bytes(sock, "devices")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = self.assertTerminalSafe(p.stdout, "devices").splitlines()
        self.assertTrue(lines[1].endswith("  " + "\u015a" * 40), lines[1])
        self.assertTrue(lines[2].endswith("  " + "\\u202e" * 6), lines[2])  # 6 escapes: 36 of 40 columns
        self.assertTrue(lines[3].endswith("  " + "\u8907" * 20), lines[3])  # wide: 2 columns each

    # ---- point 7: every row ----------------------------------------------------

    def test_tables_show_every_row(self):
        n = 400
        devs = [device(i) for i in range(n)]
        hist = [{"time": "2024-01-01T00:%02d:%02dZ" % (i // 60, i % 60), "total": i, "mono": i, "color": 0}
                for i in range(n)]
        sock = self.fake({"devices": {"ok": True, "devices": devs},
                          "device": {"ok": True, "device": devs[0], "history": hist}})
        p = run_bytes(sock, "devices")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = self.assertTerminalSafe(p.stdout, "devices").splitlines()
        self.assertEqual(len(lines), n + 1)
        for i in range(n):
            self.assertTrue(lines[i + 1].startswith(devs[i]["ip"] + " "), lines[i + 1])
        p = run_bytes(sock, "device", "SER0000")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.assertTerminalSafe(p.stdout, "device")
        readings = [ln for ln in text.splitlines() if ln.startswith("2024-01-01T")]
        self.assertEqual(len(readings), n)
        self.assertTrue(readings[-1].startswith("2024-01-01T00:06:39Z"), readings[-1])

    def test_output_that_cannot_be_written_is_an_error(self):
        sock = self.fake({"devices": {"ok": True, "devices": [device(i) for i in range(50)]}})
        with open("/dev/full", "wb") as full:
            p = run_bytes(sock, "devices", stdout=full)
        self.assertNotEqual(p.returncode, 0, "output lost, exit 0")
        self.assertIn(b"scoutctl: cannot write output", p.stderr)


# ---- point 3 end to end: hostile text from an SNMP agent ----------------------

SIM_BASE, SIM_FIRST = "127.0.3.", 17


def hexs(b):
    return b.hex().upper()


def hostile_snmprec():
    descr = b"Evil\x9b2J printer\x1b[2J\nsecond line"  # not UTF-8: the latin-1 fallback
    location = "Room \u202e1 moor\u202c\nfloor 2".encode()
    hr_descr = "Mal\u2066Jet \x1b]0;t\x07 9000".encode()
    name = b"Print\x9b31m"
    supply = "Black\u202e Toner\n\x1b[2J".encode()
    rows = [
        ("1.3.6.1.2.1.1.1.0", "4x", hexs(descr)),
        ("1.3.6.1.2.1.1.2.0", "6", "1.3.6.1.4.1.99999.1"),
        ("1.3.6.1.2.1.1.3.0", "67", "100"),
        ("1.3.6.1.2.1.1.5.0", "4", "evil"),
        ("1.3.6.1.2.1.1.6.0", "4x", hexs(location)),
        ("1.3.6.1.2.1.25.3.2.1.2.1", "6", "1.3.6.1.2.1.25.3.1.5"),
        ("1.3.6.1.2.1.25.3.2.1.3.1", "4x", hexs(hr_descr)),
        ("1.3.6.1.2.1.25.3.2.1.5.1", "2", "2"),
        ("1.3.6.1.2.1.25.3.5.1.1.1", "2", "3"),
        ("1.3.6.1.2.1.43.5.1.1.16.1", "4x", hexs(name)),
        ("1.3.6.1.2.1.43.5.1.1.17.1", "4", "EVIL0001"),
        ("1.3.6.1.2.1.43.10.2.1.4.1.1", "65", "4242"),
        ("1.3.6.1.2.1.43.11.1.1.4.1.1", "2", "3"),
        ("1.3.6.1.2.1.43.11.1.1.5.1.1", "2", "3"),
        ("1.3.6.1.2.1.43.11.1.1.6.1.1", "4x", hexs(supply)),
        ("1.3.6.1.2.1.43.11.1.1.7.1.1", "2", "19"),
        ("1.3.6.1.2.1.43.11.1.1.8.1.1", "2", "100"),
        ("1.3.6.1.2.1.43.11.1.1.9.1.1", "2", "40"),
    ]
    return "".join("%s|%s|%s\n" % r for r in rows)


# a real recording whose supply descriptions hold newlines (it broke the
# devices table); used when the shared printer set is there
HP_NEWLINES = "hp_clj-flow-m880"


class RenderSnmp(scoutlib.AgentTest):
    def test_hostile_printer_text_end_to_end(self):
        if not (shutil.which("snmpsimd") or shutil.which("snmpsim-command-responder")):
            self.skipTest("snmpsimd not installed (apt-get install snmpsim)")
        names = ["evil"]
        if peers.testdata_present() and HP_NEWLINES in peers.recordings():
            names.append(HP_NEWLINES)
        else:
            print("shared printer recordings not found at %s: the hostile agent only" % peers.TESTDATA, flush=True)
        ip = SIM_BASE + str(SIM_FIRST)
        sim = peers.Snmpsim(names, base=SIM_BASE, first=SIM_FIRST, extra={"evil": hostile_snmprec()}).start()
        port = sim.port
        try:
            a = self.agent()
            a.write_config(scoutlib.config_text(a.state_dir, health="enabled = no\n") + (
                "\n[snmp]\nenabled = yes\nranges = %s-%s\ncommunities = public\nport = %d\n"
                "timeout_ms = 2000\nretries = 1\nrate = 0\ndiscovery_interval = 0\nstatus_interval = 0\n"
                % (ip, sim.ip(len(names) - 1), port)))
            a.start()
            p = a.ctl("scan", "--wait", timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("%d printers" % len(names), p.stdout)
            # scan --wait may answer before the reads are stored (issue 7, point 6)
            deadline = time.monotonic() + 60
            while len(json.loads(a.ctl("devices", "--json").stdout)) < len(names) and time.monotonic() < deadline:
                time.sleep(0.2)

            # stored as received: the JSON carries the characters themselves
            p = run_bytes(a.socket, "device", ip, "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTerminalSafe(p.stdout, "device --json")
            d = json.loads(p.stdout)["device"]
            self.assertIn("\x9b", d["description"])
            self.assertIn("\u202e", d["location"])
            self.assertIn("\n", d["location"])
            texts = json.dumps(d, ensure_ascii=False)
            self.assertIn("\u202e Toner", texts)

            p = run_bytes(a.socket, "devices")
            self.assertEqual(p.returncode, 0, p.stderr)
            text = self.assertTerminalSafe(p.stdout, "devices")
            self.assertEqual(len(text.splitlines()), 1 + len(names), "one line per device:\n" + text)
            # (the snmp module turns C0 controls but newlines into spaces)
            self.assertIn("Black\\u202e Toner\\n [2J 40%", text)

            p = run_bytes(a.socket, "device", ip)
            self.assertEqual(p.returncode, 0, p.stderr)
            text = self.assertTerminalSafe(p.stdout, "device")
            self.assertIn("Evil\\u009b2J printer [2J\\nsecond line", text)
            self.assertIn("Room \\u202e1 moor\\u202c\\nfloor 2", text)
            for ln in text.splitlines():
                self.assertFalse(ln.startswith(("second", "floor")), text)
            rc, _ = a.stop()
            self.assertEqual(rc, 0, a.log())
        finally:
            sim.stop()

    assertTerminalSafe = Render.assertTerminalSafe


if __name__ == "__main__":
    scoutlib.main()
