"""Certificate pinning with a real printer (issue 10): ippeveprinter over
ipps:// with a key made for the test (printerlib.KeyedIppEvePrinter).

The first release pins the printer's key (`scoutctl printers --json`
shows the pin: the SHA-256 of its SubjectPublicKeyInfo). ippeveprinter is
restarted on the same port with a new key: a release now leaves the job
held with printer-certificate-changed, nothing reaches the printer, and
`scoutctl status` says so with the command to run; `scoutctl printer trust
127.0.0.1:PORT` accepts the new key, the alert goes, and the held job
prints: ippeveprinter's spool file is byte-identical to what was
submitted (SHA-256).

test_changed_key_never_falls_back: the same with allow_unencrypted_delivery
= yes, where ippeveprinter also answers plain ipp:// on that port: a
changed certificate must still hold the job, never send it in clear.

Skips (77) only when a peer is missing: ippeveprinter (cups-ipp-utils) and
its DNS-SD (dbus, avahi-daemon), the openssl command, or scoutd built
without the ipp and vault modules.
"""

import hashlib
import json
import os
import time

import cupslib
import printerlib
import scoutlib
import scoutprint

DATA = os.path.join(scoutlib.TOP, "tests", "data", "print")
PDF = os.path.join(DATA, "color3.pdf")
USER = "alice"


def sha_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def all_strings(o):
    if isinstance(o, dict):
        for v in o.values():
            yield from all_strings(v)
    elif isinstance(o, list):
        for v in o:
            yield from all_strings(v)
    elif isinstance(o, str):
        yield o


class ReleasePinning(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        why = scoutprint.missing_modules() or cupslib.have_ippeveprinter() or printerlib.have_openssl()
        if why:
            self.skipTest(why)
        self.printer = None

    def tearDown(self):
        if self.printer:
            self.printer.cleanup()
        super().tearDown()

    def start(self, unencrypted=False):
        a = printerlib.ReleaseAgent(ipp_extra="retry_for = 5s\ndelivery_timeout = 30s\n" +
                                    ("allow_unencrypted_delivery = yes\n" if unencrypted else ""))
        self.agents.append(a)
        a.ready()
        # /bin/true: a job is done as soon as it is spooled (no 5-15 s of
        # simulated printing); -k keeps the spool file
        self.printer = printerlib.KeyedIppEvePrinter(command="/bin/true").start()
        return a, self.printer

    def wait_spooled(self, e, n):
        return printerlib.wait_until(lambda: len(e.documents()) >= n and e.documents(), 60,
                                     "%d files in ippeveprinter's spool" % n)

    def release(self, a, job):
        r = a.release(USER, self.printer.address, [job["id"]])
        self.assertEqual(r.rc, 0, "%s\n%s\n%s" % (r, a.log(), self.printer.log()))
        return r.job(job["id"]), r

    def assertPinned(self, a, e, pin):
        row = a.printer_row(e.address)
        self.assertIn(pin, list(all_strings(row)), "scoutctl printers --json does not show the pin %s: %r" %
                      (pin, row))
        p = a.ctl("printers")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(pin[:16], p.stdout, "scoutctl printers does not show the pin:\n" + p.stdout)
        return row

    def first_release_pins(self, a, e):
        job = a.submit(PDF)
        j, r = self.release(a, job)
        self.assertEqual((j.get("outcome"), j.get("reason")), ("delivered", "job-completed-successfully"),
                         "%s\n%s" % (r, a.log()))
        self.assertEqual(j.get("protocol"), "ipps", j)
        self.assertEqual(r.printer.get("protocol"), "ipps", r.reply)
        files = self.wait_spooled(e, 1)
        self.assertEqual(sha_file(files[-1]), sha_file(PDF), files)
        self.assertNotIn(job["id"], a.held(USER))
        self.assertPinned(a, e, e.pin)
        self.assertEqual(a.problems(), [])

    def changed_key_holds(self, a, e):
        old = e.pin
        new = e.restart(new_key=True)
        self.assertNotEqual(old, new)
        self.assertEqual(e.presented_pin(), new)
        spooled = len(e.documents())
        job = a.submit(PDF)
        j, r = self.release(a, job)
        self.assertEqual((j.get("outcome"), j.get("reason")), ("failed", "printer-certificate-changed"),
                         "%s\n%s" % (r, a.log()))
        self.assertTrue(j.get("text"), j)
        h = a.held(USER)[job["id"]]
        self.assertEqual((h["state"], h["reason"]), ("held", "printer-certificate-changed"), h)
        # nothing went to the printer (give a stray delivery time to land)
        time.sleep(1)
        self.assertEqual(len(e.documents()), spooled, "a job reached the printer with the changed key")
        # the alert: in the ipp module's status and in scoutctl status
        st = a.ipp_status()
        self.assertIs(st.get("ok"), False, json.dumps(st))
        probs = [x for x in a.problems() if e.address in x]
        self.assertEqual(len(probs), 1, a.problems())
        self.assertIn("scoutctl printer trust %s" % e.address, probs[0])
        text = a.status_text()
        self.assertIn("scoutctl printer trust %s" % e.address, text, text)
        alerts = (st.get("printers") or {}).get("alerts") or []
        self.assertEqual([x.get("address") for x in alerts], [e.address], st.get("printers"))
        # the registry still pins the old key and shows the new one pending
        row = a.printer_row(e.address)
        self.assertIn(old, list(all_strings(row)), row)
        return job, new

    def trust_and_print(self, a, e, job, new):
        p = a.ctl("printer", "trust", e.address)
        self.assertEqual(p.returncode, 0, "%s%s\n%s" % (p.stdout, p.stderr, a.log()))
        self.assertEqual(a.problems(), [])
        self.assertNotIn("scoutctl printer trust", a.status_text())
        self.assertPinned(a, e, new)
        spooled = len(e.documents())
        j, r = self.release(a, job)
        self.assertEqual((j.get("outcome"), j.get("reason")), ("delivered", "job-completed-successfully"),
                         "%s\n%s" % (r, a.log()))
        self.assertEqual(j.get("protocol"), "ipps", j)
        files = self.wait_spooled(e, spooled + 1)
        self.assertEqual(sha_file(files[-1]), sha_file(PDF))
        self.assertNotIn(job["id"], a.held(USER))

    def test_pin_change_trust(self):
        a, e = self.start()
        self.first_release_pins(a, e)
        job, new = self.changed_key_holds(a, e)
        self.trust_and_print(a, e, job, new)

    def test_changed_key_never_falls_back(self):
        a, e = self.start(unencrypted=True)
        self.first_release_pins(a, e)
        job, new = self.changed_key_holds(a, e)
        # a second try is held the same way (no fallback on a retry either)
        j, r = self.release(a, job)
        self.assertEqual((j.get("outcome"), j.get("reason")), ("failed", "printer-certificate-changed"), str(r))
        self.trust_and_print(a, e, job, new)

    def test_pin_survives_restart(self):
        """The pin is stored: a restarted scoutd still refuses the new key."""
        a, e = self.start()
        self.first_release_pins(a, e)
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        a.start()
        a.wait_accepting()
        self.assertPinned(a, e, e.pin)
        job, new = self.changed_key_holds(a, e)
        self.trust_and_print(a, e, job, new)


if __name__ == "__main__":
    scoutlib.main()
