"""Release when things go wrong (issue 10): every failure has its reason,
and the vault keeps the job where it should.

Each test starts its own scoutd (vault unlocked, IPP intake) and a printer
from printerlib: a scripted IPP printer that misbehaves on purpose, a raw
9100 sink, or nothing at all. A job is submitted as alice over IPP, then
released as an operator would: `scoutctl release --user U --printer P
--job ID --json`. The reply's outcome and PWG reason are checked, then
what `scoutctl jobs --user U --json` shows (a failed job stays "held" with
that reason and a text; a delivered one is gone), then what reached the
printer (nothing, a cut piece, or exactly the submitted bytes), and the
ipp module's delivery failures by reason in `scoutctl status --json`.

  printer down (nothing listening)      printer-unreachable after retry_for
  closes the connection mid-document    job-incomplete
  server-error-busy twice, then ok      delivered after retries
  server-error-busy always              printer-busy after retry_for
  (and service-unavailable always)
  stops reading mid-document (jammed)   job-incomplete or printer-timeout
                                        after delivery_timeout; then prints
  accepts connections, never answers    printer-unreachable or -timeout
  never finishes the job                printer-timeout after job_timeout;
                                        meanwhile "processing", in flight
  scoutd stopped / killed meanwhile     held again, aborted-by-system
  aborts the job                        job-aborted-at-device
  does not take the job's format        document-format-not-supported,
                                        nothing sent
  refuses at Print-Job what it listed   document-format-not-supported
  answers Print-Job client-error-bad-   aborted-by-system, the text says
  request                               what it answered
  plain ipp:// only, unencrypted        delivered over ipp
  allowed
  raw 9100, allow_unencrypted_delivery  delivered, the bytes identical and
                                        nothing else sent there (named by
                                        its address, or as HOST:9100)
  raw 9100 cut mid-document, or reset   job-incomplete
  one byte before the end
  raw 9100 by default                   encryption-required, nothing sent
  plain ipp:// only, by default         encryption-required, nothing sent
  nothing at all, unencrypted allowed   printer-unreachable
  bob releases alice's job id           nothing sent anywhere; alice's job
                                        stays held and is hers to release
  release without --job                 all of alice's held jobs, not bob's
  three jobs to one printer             one at a time, in the order asked
  the same job released twice at once   the second sends nothing

PeersSelfCheck checks printerlib's printers themselves (no scoutd).

Skips (77) only when a peer is missing: the openssl command (the scripted
printer's key), or scoutd built without the ipp and vault modules.
"""

import hashlib
import os
import socket
import threading
import unittest

import ipplib
import printerlib
import scoutlib
import scoutprint

DATA = os.path.join(scoutlib.TOP, "tests", "data", "print")
PDF = os.path.join(DATA, "color3.pdf")
USER = "alice"

# short enough for a test, long enough for a loaded 2-core machine
RETRY_FOR = "3s"
JOB_TIMEOUT = "4s"


def pdf_bytes():
    with open(PDF, "rb") as f:
        return f.read()


def big_pdf(size=2 << 20):
    """The test PDF followed by a comment of size bytes: still a PDF, too
    big for any socket buffer to swallow whole."""
    return pdf_bytes() + b"%" + b"x" * size + b"\n"


def sha(b):
    return hashlib.sha256(b).hexdigest()


class ReleaseFaults(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        why = scoutprint.missing_modules() or printerlib.have_openssl()
        if why:
            self.skipTest(why)
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            p.cleanup()
        super().tearDown()

    # -- helpers --
    def agent_with(self, **ipp):
        """A ReleaseAgent, ready, with these [ipp] settings."""
        lines = {"retry_for": RETRY_FOR, "job_timeout": "2m", "delivery_timeout": "20s"}
        lines.update(ipp)
        a = printerlib.ReleaseAgent(ipp_extra="".join("%s = %s\n" % kv for kv in lines.items()))
        self.agents.append(a)
        return a.ready()

    def peer(self, p):
        self.peers.append(p)
        return p.start()

    def released(self, a, user, printer, jobs=None):
        r = a.release(user, printer, jobs)
        self.assertEqual(r.rc, 0, "%s\n%s" % (r, a.log()))
        self.assertIsInstance(r.reply, dict, str(r))
        return r

    def assertFailed(self, a, r, job, reason):
        """The release reply says failed with reason; the vault holds the
        job for its owner with that reason and a text; status counts it."""
        j = r.job(job["id"])
        self.assertEqual((j.get("outcome"), j.get("reason")), ("failed", reason), "%s\n%s" % (r, a.log()))
        self.assertTrue(j.get("text"), "a failed job's text for people is empty: %r" % j)
        held = a.held(job["owner"])
        self.assertIn(job["id"], held, "the vault lost job %s after a failed release:\n%s" % (job["id"], a.log()))
        h = held[job["id"]]
        self.assertEqual((h["state"], h["reason"]), ("held", reason), h)
        self.assertTrue(h.get("reason_text"), "scoutctl jobs shows no reason_text for the held job: %r" % h)
        d = a.ipp_status().get("delivery") or {}
        self.assertGreaterEqual((d.get("failures") or {}).get(reason, 0), 1, "status delivery: %r" % d)
        return j

    def assertDelivered(self, a, r, job, protocol=None):
        j = r.job(job["id"])
        self.assertEqual((j.get("outcome"), j.get("reason")), ("delivered", "job-completed-successfully"),
                         "%s\n%s" % (r, a.log()))
        if protocol:
            self.assertEqual(j.get("protocol"), protocol, j)
        # shredded at once (keep_after_release defaults to 0): not listed
        self.assertNotIn(job["id"], a.held(job["owner"]))
        return j

    # -- the printer is not there --
    def test_printer_down(self):
        a = self.agent_with()
        job = a.submit(PDF)
        r = self.released(a, USER, printerlib.down_address(), [job["id"]])
        self.assertFailed(a, r, job, "printer-unreachable")

    # -- the printer drops the line in the middle of the document --
    def test_printer_closes_mid_document(self):
        a = self.agent_with()
        doc = big_pdf()
        p = self.peer(printerlib.ScriptedPrinter("close-mid-document", close_after=65536))
        job = a.submit(doc)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailed(a, r, job, "job-incomplete")
        self.assertGreaterEqual(len(p.attempts), 1, "no document reached the printer")
        self.assertFalse(any(x.complete for x in p.attempts), p.attempts)
        self.assertEqual(p.jobs, {}, "the printer made a job of a cut document")
        # the vault still has the whole document: verify reads it back
        self.assertEqual(a.job_digest(job["id"]), (len(doc), sha(doc)))

    # -- the printer stops reading, or never says anything --
    def assertFailedOneOf(self, a, r, job, reasons):
        reason = r.job(job["id"]).get("reason")
        self.assertIn(reason, reasons, "%s\n%s" % (r, a.log()))
        return self.assertFailed(a, r, job, reason)

    def test_printer_stalls_mid_document(self):
        """A jammed printer: it stops reading mid-document and keeps the
        connection open. delivery_timeout ends it; the queue is not stuck."""
        a = self.agent_with(delivery_timeout="3s")
        p = self.peer(printerlib.ScriptedPrinter("stall", close_after=65536))
        job = a.submit(big_pdf())
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailedOneOf(a, r, job, ("job-incomplete", "printer-timeout"))
        self.assertTrue(p.attempts and p.attempts[0].stalled, p.attempts)
        # the printer takes documents again: the next release goes through
        p.set(behaviour="ok")
        doc = pdf_bytes()
        job2 = a.submit(doc)
        r = self.released(a, USER, p.address, [job2["id"]])
        self.assertDelivered(a, r, job2, "ipps")

    def test_printer_mute(self):
        """A printer that accepts connections and never says a word."""
        a = self.agent_with(delivery_timeout="3s")
        p = self.peer(printerlib.ScriptedPrinter("ok", mute=True))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailedOneOf(a, r, job, ("printer-unreachable", "printer-timeout"))
        self.assertGreaterEqual(p.muted, 1)

    # -- busy, then not --
    def test_printer_busy_then_ok(self):
        # retry_for covers two back-offs (1 s, then up to 2 s) with room
        a = self.agent_with(retry_for="60s")
        doc = pdf_bytes()
        p = self.peer(printerlib.ScriptedPrinter("busy", busy_attempts=2))
        job = a.submit(doc, copies=2, sides="two-sided-long-edge", color="color")
        r = self.released(a, USER, p.address, [job["id"]])
        j = self.assertDelivered(a, r, job, "ipps")
        self.assertEqual(p.busy_answered, 2)
        docs = p.documents()
        self.assertEqual([sha(d) for d in docs], [sha(doc)], p.attempts)
        pj = p.attempts[-1].job
        self.assertEqual(j.get("printer_job_id"), pj.id, j)
        self.assertEqual(pj.state, printerlib.COMPLETED)
        attrs = p.attempts[-1].attrs
        self.assertEqual(attrs.get("requesting-user-name"), [USER], attrs)
        self.assertEqual(attrs.get("document-format"), ["application/pdf"], attrs)
        # copies and sides carried as job attributes
        self.assertEqual(attrs.get("copies"), [2], attrs)
        self.assertEqual(attrs.get("sides"), ["two-sided-long-edge"], attrs)
        self.assertEqual(attrs.get("print-color-mode"), ["color"], attrs)

    def test_printer_busy_always(self):
        a = self.agent_with()
        p = self.peer(printerlib.ScriptedPrinter("busy", busy_attempts=None))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailed(a, r, job, "printer-busy")
        self.assertGreaterEqual(p.busy_answered, 2, "server-error-busy was not retried: %r" % p.attempts)
        self.assertEqual(p.jobs, {})

    def test_printer_service_unavailable_always(self):
        a = self.agent_with()
        p = self.peer(printerlib.ScriptedPrinter("busy", busy_attempts=None,
                                                 busy_status=printerlib.SERVER_ERROR_SERVICE_UNAVAILABLE))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailed(a, r, job, "printer-busy")
        self.assertGreaterEqual(p.busy_answered, 2, "server-error-service-unavailable was not retried")

    # -- the printer takes the job and never finishes it --
    def release_in_background(self, a, user, printer, jobs):
        """Runs the release in a thread; returns a function that waits for
        and returns its Release."""
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", a.release(user, printer, jobs)), daemon=True)
        t.start()

        def wait(timeout=300):
            t.join(timeout)
            self.assertFalse(t.is_alive(), "scoutctl release still running after %d s" % timeout)
            return out["r"]
        return wait

    def wait_processing(self, a, job):
        """The vault shows the job "processing" while it goes out, and the
        ipp module counts a delivery in flight."""
        printerlib.wait_until(lambda: a.held(job["owner"]).get(job["id"], {}).get("state") == "processing", 60,
                              "job %s to be processing" % job["id"])
        d = a.ipp_status().get("delivery") or {}
        self.assertGreaterEqual(d.get("in_flight", 0), 1, d)

    def test_printer_never_finishes(self):
        a = self.agent_with(job_timeout="8s")
        doc = pdf_bytes()
        p = self.peer(printerlib.ScriptedPrinter("never-finish"))
        job = a.submit(doc)
        wait = self.release_in_background(a, USER, p.address, [job["id"]])
        p.wait_for(lambda p: p.count("Get-Job-Attributes") >= 1, 60, "the deliverer to follow the job")
        self.wait_processing(a, job)
        r = wait()
        self.assertEqual(r.rc, 0, "%s\n%s" % (r, a.log()))
        self.assertFailed(a, r, job, "printer-timeout")
        # it was sent whole and followed with Get-Job-Attributes
        self.assertEqual([sha(d) for d in p.documents()], [sha(doc)])
        self.assertEqual(a.ipp_status()["delivery"].get("in_flight"), 0)

    def interrupted(self, kill):
        """scoutd stopped (SIGTERM) or killed (SIGKILL) while a job is out:
        after the restart the job is held again, aborted-by-system (the
        contract: "processing" is in memory only)."""
        a = self.agent_with(job_timeout="10m")
        p = self.peer(printerlib.ScriptedPrinter("never-finish"))
        job = a.submit(PDF)
        wait = self.release_in_background(a, USER, p.address, [job["id"]])
        p.wait_for(lambda p: p.count("Get-Job-Attributes") >= 1, 60, "the deliverer to follow the job")
        self.wait_processing(a, job)
        if kill:
            a.kill9()
        else:
            rc, _ = a.stop(timeout=15)
            self.assertEqual(rc, 0, a.log())
        r = wait()
        self.assertNotEqual(r.rc, 0, str(r))
        a.start()
        a.wait_accepting()
        h = a.held(USER).get(job["id"])
        self.assertIsNotNone(h, "job %s lost when scoutd %s mid-delivery" % (job["id"], "died" if kill else
                                                                             "stopped"))
        self.assertEqual((h["state"], h["reason"]), ("held", "aborted-by-system"), "%s, %s:\n%s" % (
            h, "killed" if kill else "stopped", "\n".join(t for _, t in a.all_logs())))
        self.assertTrue(h.get("reason_text"), h)

    def test_stopped_while_delivering(self):
        self.interrupted(kill=False)

    def test_killed_while_delivering(self):
        self.interrupted(kill=True)

    def test_printer_aborts_job(self):
        a = self.agent_with()
        p = self.peer(printerlib.ScriptedPrinter("abort"))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        j = self.assertFailed(a, r, job, "job-aborted-at-device")
        self.assertEqual(j.get("printer_job_id"), p.attempts[-1].job.id, j)

    # -- a format the printer does not take --
    def test_format_not_supported(self):
        a = self.agent_with()
        p = self.peer(printerlib.ScriptedPrinter("ok", formats=["image/pwg-raster", "image/urf"]))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailed(a, r, job, "document-format-not-supported")
        self.assertEqual(p.attempts, [], "a document the printer cannot take was sent to it")
        self.assertEqual(p.count("Print-Job") + p.count("Send-Document"), 0)
        self.assertGreaterEqual(p.count("Get-Printer-Attributes"), 1)

    def test_printer_refuses_format_it_advertised(self):
        a = self.agent_with(retry_for="3s")
        p = self.peer(printerlib.ScriptedPrinter("ok", answer_status=printerlib.FORMAT_NOT_SUPPORTED))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailed(a, r, job, "document-format-not-supported")
        self.assertEqual(p.jobs, {})

    def test_printer_answers_an_error(self):
        """Anything else the printer says no with: aborted-by-system, the
        text naming what it answered."""
        a = self.agent_with(retry_for="3s")
        p = self.peer(printerlib.ScriptedPrinter("ok", answer_status=0x0400))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        j = self.assertFailed(a, r, job, "aborted-by-system")
        self.assertTrue("0x0400" in j["text"] or "bad-request" in j["text"], j)

    def test_plain_ipp_when_allowed(self):
        a = self.agent_with(allow_unencrypted_delivery="yes")
        doc = pdf_bytes()
        p = self.peer(printerlib.ScriptedPrinter("ok", tls=False))
        job = a.submit(doc)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertDelivered(a, r, job, "ipp")
        self.assertEqual([sha(d) for d in p.documents()], [sha(doc)])
        self.assertEqual(p.tls_connections, 0)

    # -- raw 9100 --
    def raw_sink(self):
        # its own loopback address: port 9100 there, and nothing on 631
        host = printerlib.loopback_host((9100, 631))
        return self.peer(printerlib.RawSink(host=host, port=9100))

    def raw_delivered(self, named):
        a = self.agent_with(allow_unencrypted_delivery="yes")
        doc = big_pdf(300000)
        sink = self.raw_sink()
        job = a.submit(doc)
        r = self.released(a, USER, named(sink), [job["id"]])
        self.assertDelivered(a, r, job, "raw")
        self.assertEqual(r.printer.get("protocol"), "raw", r.reply)
        sink.wait_for(lambda s: all(c.finished for c in s.connections), 30, "the sink's connections to end")
        # one connection with the document, nothing else: whatever reaches
        # a raw port is printed (an IPP probe there would be garbage pages)
        sent = [c for c in sink.connections if c.size > 0]
        self.assertEqual([(c.size, c.sha256) for c in sent], [(len(doc), sha(doc))], sink.connections)

    def test_raw_9100_when_allowed(self):
        """Named by its address alone: no IPP there (631), raw on 9100."""
        self.raw_delivered(lambda sink: sink.host)

    def test_raw_9100_named_with_port(self):
        """Named HOST:9100: the JetDirect port, raw without IPP probes."""
        self.raw_delivered(lambda sink: sink.address)

    def raw_cut(self, at):
        a = self.agent_with(allow_unencrypted_delivery="yes")
        doc = big_pdf()
        host = printerlib.loopback_host((9100, 631))
        sink = self.peer(printerlib.RawSink(host=host, port=9100, close_after=at(doc)))
        job = a.submit(doc)
        r = self.released(a, USER, sink.host, [job["id"]])
        self.assertFailed(a, r, job, "job-incomplete")
        self.assertTrue(any(c.cut for c in sink.connections), sink.connections)

    def test_raw_9100_cut_mid_document(self):
        self.raw_cut(lambda doc: 65536)

    def test_raw_9100_cut_before_the_end(self):
        """The printer takes all but the last byte, then resets: the bytes
        were all in the kernel's buffers, but a raw delivery is done only
        when the printer closes its side after ours (a reset is not that)."""
        self.raw_cut(lambda doc: len(doc) - 1)

    def test_nothing_at_all_when_unencrypted_allowed(self):
        """No IPPS, no IPP, no 9100: unreachable, not encryption-required."""
        a = self.agent_with(allow_unencrypted_delivery="yes")
        job = a.submit(PDF)
        r = self.released(a, USER, printerlib.loopback_host((9100, 631)), [job["id"]])
        self.assertFailed(a, r, job, "printer-unreachable")

    def test_raw_9100_refused_by_default(self):
        a = self.agent_with()
        sink = self.raw_sink()
        job = a.submit(PDF)
        r = self.released(a, USER, sink.host, [job["id"]])
        self.assertFailed(a, r, job, "encryption-required")
        self.assertEqual(sink.total_bytes(), 0, "bytes reached the raw sink: %r" % sink.connections)

    def test_plain_ipp_refused_by_default(self):
        a = self.agent_with()
        p = self.peer(printerlib.ScriptedPrinter("ok", tls=False))
        job = a.submit(PDF)
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertFailed(a, r, job, "encryption-required")
        self.assertEqual(p.attempts, [], "a document went to a printer over plain IPP")

    # -- someone else's job --
    def test_other_users_job(self):
        a = self.agent_with(allow_unencrypted_delivery="yes")
        doc = pdf_bytes()
        p = self.peer(printerlib.ScriptedPrinter("ok"))
        sink = self.raw_sink()
        job = a.submit(doc, user=USER)
        for printer in (p.address, sink.host):
            r = a.release("bob", printer, [job["id"]])
            if r.rc == 0:
                self.assertIsInstance(r.reply, dict, str(r))
                self.assertNotIn("delivered", [x.get("outcome") for x in r.jobs], str(r))
            self.assertNotIn(job["name"], r.stdout + r.stderr, "the reply names alice's job")
            # bob without --job: all of bob's held jobs, and he has none
            r = a.release("bob", printer)
            self.assertNotIn("delivered", [x.get("outcome") for x in r.jobs], str(r))
        self.assertEqual(p.attempts, [], "bob's release sent alice's job")
        self.assertEqual(sink.total_bytes(), 0, "bob's release sent bytes to the sink")
        h = a.held(USER)[job["id"]]
        self.assertEqual((h["owner"], h["state"], h["reason"]), (USER, "held", ""), h)
        self.assertNotIn(job["id"], a.held("bob"))
        # still hers, whole: she releases it
        r = self.released(a, USER, p.address, [job["id"]])
        self.assertDelivered(a, r, job, "ipps")
        self.assertEqual([sha(d) for d in p.documents()], [sha(doc)])

    def test_release_all_of_one_users_jobs(self):
        """Without --job: every held job of that user, none of another's."""
        a = self.agent_with()
        p = self.peer(printerlib.ScriptedPrinter("ok"))
        docs = [big_pdf(1000 + i) for i in range(2)]
        mine = [a.submit(d) for d in docs]
        bobs = a.submit(big_pdf(5000), user="bob")
        r = self.released(a, USER, p.address)
        self.assertEqual(sorted(j.get("id") for j in r.jobs), sorted(j["id"] for j in mine), str(r))
        for job in mine:
            self.assertDelivered(a, r, job, "ipps")
        self.assertEqual(sorted(sha(d) for d in p.documents()), sorted(sha(d) for d in docs))
        self.assertEqual({x.user for x in p.attempts}, {USER})
        h = a.held("bob")[bobs["id"]]
        self.assertEqual((h["state"], h["reason"]), ("held", ""), h)

    def test_jobs_to_one_printer_go_in_order(self):
        """One printer takes one job at a time, in the order asked for."""
        a = self.agent_with()
        p = self.peer(printerlib.ScriptedPrinter("ok", processing_polls=2))
        docs = [big_pdf(200000 + i) for i in range(3)]
        jobs = [a.submit(d) for d in docs]
        order = [jobs[2], jobs[0], jobs[1]]
        r = self.released(a, USER, p.address, [j["id"] for j in order])
        for job in jobs:
            self.assertDelivered(a, r, job, "ipps")
        self.assertEqual([x.sha256 for x in p.attempts], [sha(docs[2]), sha(docs[0]), sha(docs[1])],
                         "jobs reached the printer out of order")
        self.assertEqual(p.max_uploading, 1, "documents went to one printer at once")
        self.assertEqual(p.overlaps, 0, "a job was sent before the printer's previous job was over")

    def test_same_job_released_twice_at_once(self):
        """A second release of a job already going out sends nothing."""
        a = self.agent_with(job_timeout="8s")
        p = self.peer(printerlib.ScriptedPrinter("never-finish"))
        job = a.submit(PDF)
        wait = self.release_in_background(a, USER, p.address, [job["id"]])
        p.wait_for(lambda p: p.count("Get-Job-Attributes") >= 1, 60, "the deliverer to follow the job")
        r2 = a.release(USER, p.address, [job["id"]])
        if r2.rc == 0:
            self.assertEqual(r2.job(job["id"]).get("outcome"), "failed", str(r2))
        r = wait()
        self.assertEqual(r.rc, 0, str(r))
        self.assertFailed(a, r, job, "printer-timeout")
        self.assertEqual(len(p.attempts), 1, "the job went out twice: %r" % p.attempts)


class PeersSelfCheck(unittest.TestCase):
    """printerlib's printers do what the tests above rely on (an IPP client
    from ipplib talks to them; no scoutd)."""

    def setUp(self):
        why = printerlib.have_openssl()
        if why:
            self.skipTest(why)
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            p.cleanup()

    def post(self, p, body, tls=True):
        st, msg, _ = ipplib.post("127.0.0.1", p.port, body, tls=tls)
        self.assertEqual(st, 200)
        return msg[1], msg[3]

    def print_job(self, p, doc, fmt="application/pdf", tls=True):
        return self.post(p, ipplib.request(ipplib.PRINT_JOB, [(ipplib.NAME, "requesting-user-name", USER),
                                                             (ipplib.MIMETYPE, "document-format", fmt)], doc), tls)

    def test_scripted_printer(self):
        p = printerlib.ScriptedPrinter("busy", busy_attempts=1, formats=["application/pdf"])
        self.peers.append(p.start())
        for tls in (True, False):
            st, attrs = self.post(p, ipplib.request(ipplib.GET_PRINTER_ATTRIBUTES, uri=p.uri), tls)
            self.assertEqual(st, 0)
            self.assertEqual(ipplib.find(attrs, "document-format-supported"), ["application/pdf"])
            self.assertEqual(ipplib.find(attrs, "uri-security-supported"), ["tls", "none"])
        doc = big_pdf(100000)
        self.assertEqual(self.print_job(p, doc)[0], printerlib.SERVER_ERROR_BUSY)
        st, attrs = self.print_job(p, doc)
        self.assertEqual(st, 0)
        jid = ipplib.find(attrs, "job-id")[0]
        states = [ipplib.find(self.post(p, ipplib.request(ipplib.GET_JOB_ATTRIBUTES,
                                                          [(ipplib.INTEGER, "job-id", jid)]))[1], "job-state")[0]
                  for _ in range(2)]
        self.assertEqual(states, [printerlib.PROCESSING, printerlib.COMPLETED])
        self.assertEqual(self.print_job(p, doc, "text/plain")[0], printerlib.FORMAT_NOT_SUPPORTED)
        self.assertEqual([sha(d) for d in p.documents()], [sha(doc)])
        self.assertEqual((p.count("Print-Job"), p.count("Get-Job-Attributes"), p.count("Get-Printer-Attributes")),
                         (3, 2, 2))
        p.set(behaviour="close-mid-document", close_after=5000)
        with self.assertRaises(OSError):
            self.print_job(p, doc)
        self.assertEqual((p.attempts[-1].size, p.attempts[-1].complete), (5000, False))
        p.set(behaviour="never-finish")
        jid = ipplib.find(self.print_job(p, doc)[1], "job-id")[0]
        for _ in range(3):
            st, attrs = self.post(p, ipplib.request(ipplib.GET_JOB_ATTRIBUTES, [(ipplib.INTEGER, "job-id", jid)]))
            self.assertEqual(ipplib.find(attrs, "job-state"), [printerlib.PROCESSING])

    def test_raw_sink(self):
        s = printerlib.RawSink()
        self.peers.append(s.start())
        self.assertEqual(s.port, 9100)
        doc = big_pdf(100000)
        with socket.create_connection((s.host, s.port)) as c:
            c.sendall(doc)
        s.wait_for(lambda s: s.connections and s.connections[0].finished)
        self.assertEqual(s.documents(), [doc])
        s.close_after = 1000
        with self.assertRaises(OSError):
            with socket.create_connection((s.host, s.port)) as c:
                for _ in range(100):
                    c.sendall(doc)
        s.wait_for(lambda s: len(s.connections) == 2 and s.connections[1].finished)
        self.assertEqual((s.connections[1].size, s.connections[1].cut), (1000, True))


if __name__ == "__main__":
    scoutlib.main()
