#!/usr/bin/env python3
"""A real print client against scout's queue: a throwaway cupsd (Debian's,
tests/integration/cupslib.py) whose queue is made the way an administrator
adds a driverless printer,

    lpadmin -p scout -E -v ipp://127.0.0.1:PORT/ipp/print -m everywhere

(lpadmin asks scoutd for its IPP Everywhere attributes and writes a PPD
from them), then `lp -U alice` of a PDF (3 pages), a PostScript file with
DSC comments (4 pages), a PWG raster file (2 pages) and, with -o raw, a PWG
raster file of 5 pages; all made with ghostscript at test time, each with
its own page count so that a count read from the wrong job shows.

What arrives is what cupsd sends, not what lp was given: with the PPD that
`-m everywhere` writes for a printer taking application/pdf, cupsd runs
every document through its filters (cups-filters) and sends PDF: pdftopdf
for the PDF, gs then pdftopdf for PostScript, rastertopdf for PWG raster
(cheaper than sending raster: the PPD prices the PDF path 10, raster 100).
A raw job is sent as it is, as application/octet-stream: scout must sniff
it as PWG raster and count pages from its page headers. So each job must be
held with owner alice, its title as name, and exactly: pdf 3 pages (PDF),
ps 4 (PDF), pwg 2 (PDF), raw 5 (PWG raster).

The queue's device URI then gets `?waitjob=false`: cupsd's ipp backend
otherwise waits for each job to finish on the printer before sending the
next, and a held job finishes only when released (next issue). A print
server forwarding to a hold queue is set up this way too.

Skips (77) with the reason when cupsd, lp, cups-filters or ghostscript are
missing, or when scoutd is built without the ipp and vault modules. With
SCOUT_PEERS_TARGET=ippeveprinter the same client runs against CUPS's
ippeveprinter instead, to prove the harness while scout's queue is not
there (what arrives is read from the files it keeps).
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cupslib  # noqa: E402
import ippclient  # noqa: E402
import scoutlib  # noqa: E402
import scoutprint  # noqa: E402

TARGET = os.environ.get("SCOUT_PEERS_TARGET", "scoutd")

# title -> (file made by make_documents, pages in it, lp options,
#           what arrives: format, pages)
DOCS = {
    "peers-pdf": ("pdf", 3, [], "application/pdf", 3),
    "peers-ps": ("ps", 4, [], "application/pdf", 4),
    "peers-pwg": ("pwg", 2, [], "application/pdf", 2),
    "peers-raw": ("pwg", 5, ["-o", "raw"], "image/pwg-raster", 5),
}
ANALYSED_FROM = {"application/pdf": "pdf", "image/pwg-raster": "pwg-raster"}


def why_skip():
    for why in (cupslib.have_cups(), cupslib.have_filters()):
        if why:
            return why
    if not os.access("/usr/bin/gs", os.X_OK):
        return "ghostscript is not installed (apt-get install ghostscript)"
    if TARGET == "ippeveprinter":
        return cupslib.have_ippeveprinter()
    return scoutprint.missing_modules()


class PrintPeers(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        why = why_skip()
        if why:
            raise unittest.SkipTest(why)

    def setUp(self):
        super().setUp()
        self.tmp = scoutlib.make_tmpdir(0o755)
        self.cupsd = cupslib.Cupsd()
        self.addCleanup(self.cupsd.cleanup)
        if TARGET == "ippeveprinter":
            self.eve = cupslib.IppEvePrinter()
            self.addCleanup(self.eve.cleanup)
            self.eve.start()
            self.uri = self.eve.uri
        else:
            self.agent = scoutprint.PrintAgent(log_level="debug")
            self.agents.append(self.agent)
            self.agent.start()
            self.agent.init_vault()
            self.agent.wait_accepting()
            self.uri = "ipp://127.0.0.1:%d/ipp/print" % self.agent.port
        self.cupsd.start()

    # ---- what arrived -----------------------------------------------------

    def arrived_scout(self):
        """{name: job map} of the jobs scoutd holds (scoutctl jobs --json)."""
        return {j.get("name"): j for j in self.agent.jobs()}

    def arrived_eve(self):
        """{name: job-like map} from the files ippeveprinter kept, named
        ID-TITLE.EXT, and its Get-Jobs for the owner."""
        owners = {}
        r = ippclient.Client("127.0.0.1", self.eve.port).get_jobs(which="all")
        for j in r.jobs:
            owners[j.get("job-name")] = j.get("job-originating-user-name")
        out = {}
        for path in self.eve.received():
            base = os.path.basename(path)
            title, ext = os.path.splitext(base.split("-", 1)[1])
            fmt = {".pdf": "application/pdf", ".pwg": "image/pwg-raster"}.get(ext, ext)
            pages = cupslib.pdf_pages(path) if ext == ".pdf" else cupslib.pwg_pages(path)
            out[title] = {"name": title, "owner": owners.get(title), "format": fmt, "pages": pages,
                          "state": "held", "pages_source": ANALYSED_FROM.get(fmt), "size": os.path.getsize(path)}
        return out

    def arrived(self):
        return self.arrived_eve() if TARGET == "ippeveprinter" else self.arrived_scout()

    # ---- the test ---------------------------------------------------------

    def test_lp_pdf_ps_pwg_arrive_held_with_owner_and_pages(self):
        c = self.cupsd
        c.lpadmin("-p", "scout", "-E", "-v", self.uri, "-m", "everywhere")
        ppd = c.ppd("scout")
        filters = [line for line in ppd.splitlines() if line.startswith("*cupsFilter2:")]
        self.assertIn('*cupsFilter2: "application/vnd.cups-pdf application/pdf 10 -"', filters,
                      "the PPD lpadmin made from %s's attributes does not send PDF; what arrives would differ"
                      % self.uri)
        c.lpadmin("-p", "scout", "-v", self.uri + "?waitjob=false")

        sent = {}
        for title, (kind, pages, opts, _, _) in DOCS.items():
            d = os.path.join(self.tmp, title)
            os.mkdir(d)
            path = cupslib.make_documents(d, pages=pages, marker=title)[kind]
            sent[title] = path
            c.lp("-U", "alice", "-d", "scout", "-t", title, *opts, path)

        deadline = time.monotonic() + 120
        got = {}
        while time.monotonic() < deadline:
            got = self.arrived()
            if all(t in got for t in DOCS):
                break
            time.sleep(0.25)
        self.assertEqual(sorted(t for t in got if t in DOCS), sorted(DOCS),
                         "jobs that arrived: %r\ncupsd jobs: %r\n%s" % (got, c.jobs(), c.log()))

        for title in DOCS:
            j = got[title]
            print("%s: %s" % (title, {k: j.get(k) for k in ("id", "owner", "state", "format", "pages", "pages_source",
                                                            "size", "color", "color_source", "sides", "copies")}), flush=True)
        for title, (_, _, _, fmt, pages) in DOCS.items():
            j = got[title]
            with self.subTest(job=title):
                self.assertEqual(j.get("owner"), "alice", j)
                self.assertEqual(j.get("state"), "held", j)
                self.assertEqual(j.get("format"), fmt, j)
                self.assertEqual(j.get("pages"), pages, j)
                self.assertEqual(j.get("pages_source"), ANALYSED_FROM[fmt], j)
        # the raw job is the file lp was given, byte for byte
        self.assertEqual(got["peers-raw"]["size"], os.path.getsize(sent["peers-raw"]))

        # cupsd handed every job over (none left pending or stopped there)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and c.jobs("not-completed"):
            time.sleep(0.25)
        self.assertEqual(c.jobs("not-completed"), [], c.log())

        if TARGET != "ippeveprinter":
            # and over IPP: alice sees her four jobs, held for release
            r = self.agent.client().get_jobs(user="alice", my_jobs=True)
            self.assertTrue(r.ok, r)
            mine = {j.get("job-name"): j for j in r.jobs}
            for title in DOCS:
                self.assertEqual(mine[title].get("job-state"), 4, mine[title])  # pending-held
                reasons = mine[title].get("job-state-reasons")
                reasons = reasons if isinstance(reasons, list) else [reasons]
                self.assertIn("job-held-for-release", reasons, mine[title])
            # the raw job's bytes (its page markers), the job names and the
            # owner are nowhere in clear under the state directory
            with open(sent["peers-raw"], "rb") as f:
                raw_head = f.read(4096)
            found = scoutprint.find_in_files(self.agent.state_dir, [t.encode() for t in DOCS] + [b"alice", raw_head])
            self.assertEqual(found, [], "plaintext in the state directory")


if __name__ == "__main__":
    scoutlib.main()
