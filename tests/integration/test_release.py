#!/usr/bin/env python3
"""Issue 10's Done-when: a job held for alice is released with

    scoutctl release --user alice --printer 127.0.0.1:PORT

to CUPS's ippeveprinter (the printer, keeping what it gets with -k), and
the file it spools is byte-identical (SHA-256) to what alice submitted;
`scoutctl jobs --user alice` no longer lists the job.

- over ipps:// (the default: only encrypted delivery; ippeveprinter speaks
  TLS on its port, its key pinned on first use): a PDF, a PWG raster file
  and a 200 MB PWG raster file;
- over ipp:// with allow_unencrypted_delivery = yes, to an ippeveprinter
  that cannot do TLS (EvePrinter with tls=False), and the same printer refused by
  default (encryption-required, the job still held with that reason);
- a job canceled in the vault while it streams out: job-canceled-by-user;
- bob releasing alice's job id gets a failed outcome that does not name
  alice, nothing reaches the printer, and alice's job stays held.

ippeveprinter runs with -c /bin/true so that a job completes as soon as
it is spooled (without -c it simulates printing for a while first).

Skips (77) when ippeveprinter, ghostscript or the ipp/vault modules are
missing.
"""

import json
import signal
import struct
import subprocess
import threading
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cupslib  # noqa: E402
import ippclient  # noqa: E402
import scoutlib  # noqa: E402
import scoutprint  # noqa: E402

BIG = 200 * 1024 * 1024


def why_skip():
    for why in (cupslib.have_ippeveprinter(), scoutprint.missing_modules()):
        if why:
            return why
    if not os.access("/usr/bin/gs", os.X_OK):
        return "ghostscript is not installed (apt-get install ghostscript)"
    return None


def write_big_pwg(path, template, size):
    """A PWG raster file of at least size bytes: the page header of
    template (a gray 8-bit file from ghostscript) made 5120 pixels wide and
    6600 lines high, every line stored as literal PackBits runs (nothing
    compresses) and each line different (a chunk dropped, repeated or
    swapped shows in the hash). About 34 MB a page."""
    with open(template, "rb") as f:
        t = f.read()
    assert t[:4] == b"RaS2"
    head = bytearray(t[4:4 + 1796])
    width, height, runs = 5120, 6600, 40
    struct.pack_into(">I", head, 372, width)
    struct.pack_into(">I", head, 376, height)
    struct.pack_into(">I", head, 384, 8)
    struct.pack_into(">I", head, 388, 8)
    struct.pack_into(">I", head, 392, width)
    body = bytes(range(128))
    n = 0
    page = 0
    with open(path, "wb") as f:
        f.write(b"RaS2")
        n = 4
        while n < size:
            f.write(head)
            n += len(head)
            lines = []
            for y in range(height):
                tag = struct.pack(">HI", page, y)
                lines.append(b"\x00" + b"\x81" + tag + body[len(tag):] + (b"\x81" + body) * (runs - 1))
            data = b"".join(lines)
            f.write(data)
            n += len(data)
            page += 1
    return page


class EvePrinter(cupslib.IppEvePrinter):
    """ippeveprinter with options cupslib's does not set: tls=False points
    its keychain (-K) at a directory that does not exist, so it cannot make
    a certificate and a TLS hello is answered with a reset (plain ipp://
    works as usual); duplex=True offers two-sided printing (-2)."""

    def __init__(self, tls=True, duplex=False, **kw):
        super().__init__(**kw)
        self.tls, self.duplex = tls, duplex

    def start(self, timeout=20.0):
        cupslib.system_bus_and_avahi()
        extra = [] if self.tls else ["-K", os.path.join(self.dir, "no-such-dir", "keys")]
        extra += ["-2"] if self.duplex else []
        out = open(self.log_path, "wb")
        self.proc = subprocess.Popen([cupslib.IPPEVEPRINTER, "-n", "localhost", "-p", str(self.port), "-d", self.spool,
                                      "-k", "-f", self.formats, "-c", self.command] + extra + [self.name],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        out.close()
        cupslib._live.append(self.proc)
        cupslib._wait_ipp(self.proc, self.port, "/ipp/print", "ippeveprinter", self.log, timeout)
        return self


class Release(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        why = why_skip()
        if why:
            raise unittest.SkipTest(why)
        cls.docdir = scoutlib.make_tmpdir(0o755)
        cls.docs = cupslib.make_documents(cls.docdir, pages=2, marker="release")

    def setUp(self):
        super().setUp()
        self.tmp = scoutlib.make_tmpdir(0o755)
        self.printers = []

    def tearDown(self):
        for p in self.printers:
            p.cleanup()
        super().tearDown()

    def printer(self, formats="application/pdf,image/pwg-raster,image/urf", plain=False, duplex=False):
        p = EvePrinter(tls=not plain, duplex=duplex, formats=formats, command="/bin/true")
        self.printers.append(p)
        return p.start()

    def agent_for(self, ipp_extra=""):
        a = scoutprint.PrintAgent(ipp_extra="idle_timeout = 300s\nmax_job_size = 1G\n" + ipp_extra)
        self.agents.append(a)
        a.start()
        a.init_vault()
        a.wait_accepting()
        return a

    def submit(self, a, path, user="alice", fmt="application/pdf", name="released"):
        with open(path, "rb") as f:
            r = a.client(timeout=300).print_job(f, user=user, name=name, format=fmt)
        self.assertTrue(r.ok, "Print-Job as %s: %r\n%s" % (user, r, a.log()))
        jid = r.job["job-id"]
        a.wait_for_job(lambda j: j.get("id") == jid and j.get("state") == "held", timeout=120)
        return jid

    def release(self, a, user, printer, *jobs, timeout=600):
        args = ["release", "--user", user, "--printer", printer, "--json"]
        for j in jobs:
            args += ["--job", str(j)]
        p = a.ctl(*args, timeout=timeout)
        self.assertEqual(p.returncode, 0, "scoutctl release: %s%s\n%s" % (p.stdout, p.stderr, a.log()))
        return json.loads(p.stdout)

    @staticmethod
    def documents(pr):
        """What ippeveprinter kept of the documents: with -c it also keeps
        the command's output as ID-NAME.prn (empty for /bin/true)."""
        return [f for f in pr.received() if not f.endswith(".prn")]

    def spooled(self, pr, count, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.documents(pr)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        self.fail("ippeveprinter kept %d documents, not %d:\n%s" % (len(self.documents(pr)), count, pr.log()))

    @staticmethod
    def delivery_status(a):
        return [m for m in a.status()["modules"] if m["name"] == "ipp"][0]["delivery"]

    def check_delivered(self, a, pr, out, jid, path, protocol):
        self.assertEqual(len(out["jobs"]), 1, out)
        j = out["jobs"][0]
        self.assertEqual(j["id"], jid, out)
        self.assertEqual(j["outcome"], "delivered", "%r\n%s" % (out, a.log()))
        self.assertEqual(j["reason"], "job-completed-successfully", out)
        self.assertEqual(j["protocol"], protocol, out)
        self.assertGreater(j.get("printer_job_id", 0), 0, out)
        self.assertEqual(out["printer"]["protocol"], protocol, out)
        files = self.spooled(pr, 1)
        self.assertEqual(scoutprint.sha256_file(files[-1]), scoutprint.sha256_file(path),
                         "%s differs from %s" % (files[-1], path))
        self.assertEqual(os.path.getsize(files[-1]), os.path.getsize(path))
        # delivered: gone from alice's list
        self.assertFalse([x for x in a.jobs("--user", "alice") if x.get("id") == jid], a.jobs("--user", "alice"))

    def test_ipps_pdf_and_pwg(self):
        pr = self.printer()
        a = self.agent_for()
        addr = "127.0.0.1:%d" % pr.port
        for kind, fmt in (("pdf", "application/pdf"), ("pwg", "image/pwg-raster")):
            with self.subTest(kind=kind):
                before = len(self.documents(pr))
                jid = self.submit(a, self.docs[kind], fmt=fmt, name="release-" + kind)
                out = self.release(a, "alice", addr, jid)
                self.spooled(pr, before + 1)
                self.check_delivered(a, pr, out, jid, self.docs[kind], "ipps")
        dv = self.delivery_status(a)
        self.assertEqual((dv["delivered"], dv["failed"], dv["in_flight"]), (2, 0, 0), dv)
        self.assertEqual(dv["by_protocol"], {"ipps": 2, "ipp": 0, "raw": 0}, dv)
        # the cloud module's events: one job.released a delivery, no job.failed
        bus = a.status()["bus"]
        self.assertEqual((bus["job.released"]["published"], bus["job.failed"]["published"]), (2, 0), bus)
        self.assertEqual(bus["job.done"]["published"], 2, bus)

    def test_ipps_200mb(self):
        pr = self.printer()
        a = self.agent_for()
        big = os.path.join(self.tmp, "big.pwg")
        write_big_pwg(big, self.docs["pwg"], BIG)
        jid = self.submit(a, big, fmt="image/pwg-raster", name="big")
        t = time.monotonic()
        out = self.release(a, "alice", "127.0.0.1:%d" % pr.port, jid)
        took = time.monotonic() - t
        self.check_delivered(a, pr, out, jid, big, "ipps")
        print("200 MB released over ipps in %.1f s" % took, file=sys.stderr)

    def test_ipp_plain_allowed(self):
        """A printer without IPPS: with allow_unencrypted_delivery = yes the
        job goes over ipp:// (named by its URI here)."""
        pr = self.printer(plain=True)
        a = self.agent_for("allow_unencrypted_delivery = yes\n")
        for kind, fmt in (("pdf", "application/pdf"), ("pwg", "image/pwg-raster")):
            with self.subTest(kind=kind):
                before = len(self.documents(pr))
                jid = self.submit(a, self.docs[kind], fmt=fmt, name="plain-" + kind)
                out = self.release(a, "alice", "ipp://127.0.0.1:%d/ipp/print" % pr.port, jid)
                self.spooled(pr, before + 1)
                self.check_delivered(a, pr, out, jid, self.docs[kind], "ipp")

    def test_ipp_plain_refused_by_default(self):
        """The same printer with the default configuration: nothing goes out
        in clear; the job stays held with encryption-required."""
        pr = self.printer(plain=True)
        a = self.agent_for()
        jid = self.submit(a, self.docs["pdf"])
        out = self.release(a, "alice", "127.0.0.1:%d" % pr.port, jid)
        j = out["jobs"][0]
        self.assertEqual((j["outcome"], j["reason"]), ("failed", "encryption-required"), out)
        self.assertEqual(self.documents(pr), [])
        held = [x for x in a.jobs("--user", "alice") if x.get("id") == jid]
        self.assertEqual(len(held), 1, held)
        self.assertEqual(held[0].get("state"), "held", held)
        self.assertEqual(held[0].get("reason"), "encryption-required", held)
        dv = self.delivery_status(a)
        self.assertEqual(dv["failures"], {"encryption-required": 1}, dv)
        bus = a.status()["bus"]
        self.assertEqual((bus["job.released"]["published"], bus["job.failed"]["published"]), (0, 1), bus)

    def test_several_jobs_in_order(self):
        """Three jobs in one release go to the printer one at a time, in the
        order given (ippeveprinter takes one job at a time and would answer
        server-error-busy to a second one at once), each spooled whole."""
        pr = self.printer()
        a = self.agent_for()
        paths = []
        for i in range(3):
            path = os.path.join(self.tmp, "doc%d.pdf" % i)
            with open(self.docs["pdf"], "rb") as f, open(path, "wb") as g:
                g.write(f.read() + b"%% job " + str(i).encode() + b"\n")
            paths.append(path)
        ids = [self.submit(a, p, name="order-%d" % i) for i, p in enumerate(paths)]
        order = [ids[2], ids[0], ids[1]]
        out = self.release(a, "alice", "127.0.0.1:%d" % pr.port, *order)
        self.assertEqual([j["id"] for j in out["jobs"]], order, out)
        self.assertEqual([j["outcome"] for j in out["jobs"]], ["delivered"] * 3, out)
        pids = [j["printer_job_id"] for j in out["jobs"]]
        self.assertEqual(pids, sorted(pids), out)
        files = self.spooled(pr, 3)
        want = [scoutprint.sha256_file(paths[ids.index(i)]) for i in order]
        self.assertEqual([scoutprint.sha256_file(f) for f in files], want)
        self.assertEqual(self.delivery_status(a)["failures"], {}, self.delivery_status(a))

    def test_job_attributes(self):
        """copies and sides the client asked for reach the printer as job
        attributes (it supports them: -2 for duplex). ippeveprinter is a
        monochrome printer (color-supported false): print-color-mode is
        not sent to it."""
        pr = self.printer(duplex=True)
        a = self.agent_for()
        with open(self.docs["pdf"], "rb") as f:
            r = a.client().print_job(f, user="alice", name="attrs", format="application/pdf", copies=2,
                                     sides="two-sided-long-edge", color="monochrome")
        self.assertTrue(r.ok, r)
        jid = r.job["job-id"]
        a.wait_for_job(lambda j: j.get("id") == jid and j.get("state") == "held")
        out = self.release(a, "alice", "127.0.0.1:%d" % pr.port, jid)
        self.check_delivered(a, pr, out, jid, self.docs["pdf"], "ipps")
        at = ippclient.Client("127.0.0.1", pr.port).get_job_attributes(out["jobs"][0]["printer_job_id"])
        self.assertTrue(at.ok, at)
        job = at.job
        self.assertEqual(job.get("copies"), 2, job)
        self.assertEqual(job.get("sides"), "two-sided-long-edge", job)
        self.assertNotIn("print-color-mode", job)

    def test_canceled_while_going_out(self):
        """The job canceled in the vault while its document streams to the
        printer: the delivery stops with job-canceled-by-user and the job is
        a tombstone (not held again). ippeveprinter is stopped (SIGSTOP) as
        soon as its spool file appears, so the cancel comes mid-document
        however loaded the machine is, then continued."""
        pr = self.printer()
        a = self.agent_for()
        big = os.path.join(self.tmp, "big.pwg")
        write_big_pwg(big, self.docs["pwg"], 100 * 1024 * 1024)
        jid = self.submit(a, big, fmt="image/pwg-raster", name="big")
        res = {}
        t = threading.Thread(target=lambda: res.setdefault("out", self.release(a, "alice", "127.0.0.1:%d" % pr.port,
                                                                                jid)))
        t.start()
        deadline = time.monotonic() + 60
        while not os.listdir(pr.spool) and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(pr.pid, signal.SIGSTOP)
        try:
            c = a.ctl("cancel", str(jid))
            self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
        finally:
            os.kill(pr.pid, signal.SIGCONT)
        t.join(120)
        out = res["out"]
        j = out["jobs"][0]
        self.assertEqual((j["outcome"], j["reason"]), ("failed", "job-canceled-by-user"), out)
        gone = [x for x in a.jobs("--all") if x.get("id") == jid]
        self.assertEqual([x["state"] for x in gone], ["canceled"], gone)

    def test_other_users_job(self):
        pr = self.printer()
        a = self.agent_for()
        jid = self.submit(a, self.docs["pdf"], user="alice")
        out = self.release(a, "bob", "127.0.0.1:%d" % pr.port, jid)
        self.assertEqual(len(out["jobs"]), 1, out)
        self.assertEqual(out["jobs"][0]["outcome"], "failed", out)
        self.assertNotIn("alice", out["jobs"][0]["text"], out)
        # nothing reached the printer, and alice's job is still held
        time.sleep(1)
        self.assertEqual(pr.received(), [])
        self.assertTrue([x for x in a.jobs("--user", "alice") if x.get("id") == jid and x.get("state") == "held"])
        # bob's release of everything he has: nothing
        out = self.release(a, "bob", "127.0.0.1:%d" % pr.port)
        self.assertEqual(out["jobs"], [], out)
        self.assertEqual(pr.received(), [])
        # alice releasing all of hers: the job goes
        out = self.release(a, "alice", "127.0.0.1:%d" % pr.port)
        self.check_delivered(a, pr, out, jid, self.docs["pdf"], "ipps")


if __name__ == "__main__":
    unittest.main()
