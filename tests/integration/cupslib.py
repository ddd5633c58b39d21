"""Real CUPS peers for tests and benchmarks: a throwaway cupsd and
ippeveprinter, each in a temporary directory of its own, on loopback ports
chosen per run (standard library only).

Cupsd(): Debian's cupsd (cups-daemon) run as `cupsd -f -c CONF -s FILES`
with every directory it writes (ServerRoot, RequestRoot, TempDir,
StateDir, CacheDir, logs) under its temporary directory, listening on
127.0.0.1:PORT only, no browsing, no web interface, no authentication for
loopback; lpadmin/lp/lpstat/cancel are run against it with -h. It is
waited for until it answers IPP, and stopped with SIGTERM (killed if it
does not exit). The directory is 0755 because cupsd runs its backends and
filters as the unprivileged user lp, which must reach the spool files.

IppEvePrinter(): CUPS's sample IPP Everywhere printer (cups-ipp-utils),
a real IPP server used as the stand-in target while scout's own is not
built. It will not start without DNS-SD, so system_bus_and_avahi() starts
a system D-Bus and avahi-daemon first when none runs (they are left
running for the next test: they are the machine's, not the test's).

have_cups() / have_ippeveprinter() return None when the tools are there,
or a sentence naming what is missing (the callers skip with it).
"""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import ippclient

CUPSD = shutil.which("cupsd") or "/usr/sbin/cupsd"
LPADMIN = shutil.which("lpadmin") or "/usr/sbin/lpadmin"
IPPEVEPRINTER = shutil.which("ippeveprinter") or "/usr/sbin/ippeveprinter"
IPPTOOL = shutil.which("ipptool") or "/usr/bin/ipptool"

_live = []


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(paths):
    gone = [p for p in paths if not (p and os.access(p, os.X_OK))]
    return ", ".join(gone) if gone else None


def have_cups():
    """None, or why a throwaway cupsd with lp clients cannot run here."""
    need = [CUPSD, LPADMIN] + [shutil.which(x) for x in ("lp", "lpstat", "cancel")]
    m = _missing(need)
    if m:
        return "CUPS is not installed (missing: %s; apt-get install cups-daemon cups-client cups-bsd)" % m
    if os.geteuid() != 0:
        return "a throwaway cupsd needs root (it runs its backends as user lp)"
    return None


def have_filters():
    """None, or why cupsd cannot convert documents (cups-filters missing:
    without pdftopdf an IPP Everywhere queue refuses application/pdf)."""
    if not os.access("/usr/lib/cups/filter/pdftopdf", os.X_OK):
        return "cups-filters is not installed (no /usr/lib/cups/filter/pdftopdf)"
    return None


def have_ippeveprinter():
    m = _missing([IPPEVEPRINTER, shutil.which("dbus-daemon"), shutil.which("avahi-daemon")])
    if m:
        return "ippeveprinter or its DNS-SD needs are missing (%s; apt-get install cups-ipp-utils dbus avahi-daemon)" % m
    if os.geteuid() != 0:
        return "starting the system D-Bus and avahi-daemon for ippeveprinter needs root"
    return None


def _pid_alive(pidfile):
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


def _run_quiet(cmd):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)


def system_bus_and_avahi():
    """Makes sure a system D-Bus and avahi-daemon run (ippeveprinter cannot
    start without DNS-SD). Removes a stale pid file first, never one of a
    live daemon. Raises RuntimeError with the daemon's words when one does
    not come up."""
    if not _pid_alive("/run/dbus/pid"):
        try:
            os.unlink("/run/dbus/pid")
        except FileNotFoundError:
            pass
        os.makedirs("/run/dbus", exist_ok=True)
        p = _run_quiet(["dbus-daemon", "--system", "--fork"])
        if p.returncode != 0:
            raise RuntimeError("dbus-daemon --system failed: %s" % p.stderr.strip())
    if _run_quiet(["avahi-daemon", "--check"]).returncode != 0:
        try:
            os.unlink("/run/avahi-daemon/pid")
        except FileNotFoundError:
            pass
        p = _run_quiet(["avahi-daemon", "-D", "--no-drop-root", "--no-chroot"])
        if p.returncode != 0:
            raise RuntimeError("avahi-daemon -D failed: %s" % (p.stderr.strip() or p.stdout.strip()))
        deadline = time.monotonic() + 10
        while _run_quiet(["avahi-daemon", "--check"]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("avahi-daemon did not come up within 10 s")
            time.sleep(0.1)


def _wait_ipp(proc, port, path, what, log, timeout=20.0):
    """Polls Get-Printer-Attributes until it succeeds (or the process dies)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d during start-up:\n%s" % (what, proc.returncode, log()))
        try:
            r = ippclient.Client("127.0.0.1", port, path, timeout=5).get_printer_attributes()
            if r.status < 0x0400 or path == "/":
                return
            last = r
        except (OSError, ippclient.IppError, Exception) as e:  # noqa: B014 (http.client raises several kinds)
            last = e
        time.sleep(0.05)
    raise RuntimeError("%s did not answer IPP on 127.0.0.1:%d within %.0f s (%r):\n%s" %
                       (what, port, timeout, last, log()))


def _stop(proc, timeout=10.0):
    """SIGTERM, wait, SIGKILL on timeout; returns the exit status."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def stop_all():
    for p in list(_live):
        _stop(p, 5)
        _live.remove(p)


class Cupsd:
    """A cupsd of its own in a fresh directory (see the module text)."""

    def __init__(self, tmp=None, log_level="warn", max_jobs=0, dirty_clean=None):
        self.dir = tmp or tempfile.mkdtemp(prefix="scout-cupsd-", dir="/tmp")
        self.own_dir = tmp is None
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.server = "127.0.0.1:%d" % self.port
        self.proc = None
        for d in ("spool", "spool/tmp", "cache", "state", "log", "ppd"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.conf = os.path.join(self.dir, "cupsd.conf")
        self.files_conf = os.path.join(self.dir, "cups-files.conf")
        with open(self.conf, "w") as f:
            # MaxJobs 0: a benchmark queues thousands of held jobs; the
            # default (500) would refuse them. The default policy of an
            # empty cupsd.conf requires nothing from a loopback client.
            f.write("Listen 127.0.0.1:%d\n"
                    "LogLevel %s\n"
                    "Browsing No\n"
                    "BrowseLocalProtocols none\n"
                    "WebInterface No\n"
                    "DefaultAuthType None\n"
                    "MaxJobs %d\n"
                    "MaxJobsPerPrinter 0\n"
                    "MaxJobsPerUser 0\n"
                    "PreserveJobFiles No\n%s"
                    "<Location />\n  Order allow,deny\n  Allow 127.0.0.1\n</Location>\n"
                    "<Location /admin>\n  Order allow,deny\n  Allow 127.0.0.1\n</Location>\n"
                    "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n" %
                    (self.port, log_level, max_jobs,
                     "" if dirty_clean is None else "DirtyCleanInterval %d\n" % dirty_clean))
        d = self.dir
        with open(self.files_conf, "w") as f:
            f.write("ServerRoot %s\nRequestRoot %s/spool\nTempDir %s/spool/tmp\nCacheDir %s/cache\n"
                    "StateDir %s/state\nServerBin /usr/lib/cups\nDataDir /usr/share/cups\n"
                    "ErrorLog %s/log/error_log\nAccessLog %s/log/access_log\nPageLog %s/log/page_log\n"
                    "FileDevice Yes\n" % (d, d, d, d, d, d, d, d))
        self.env = dict(os.environ)
        self.env["CUPS_SERVER"] = self.server
        self.env.pop("CUPS_USER", None)
        self.env.pop("PRINTER", None)
        self.env.pop("LPDEST", None)

    def start(self, timeout=20.0):
        out = open(os.path.join(self.dir, "log", "stdout"), "wb")
        self.proc = subprocess.Popen([CUPSD, "-f", "-c", self.conf, "-s", self.files_conf], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        out.close()
        _live.append(self.proc)
        _wait_ipp(self.proc, self.port, "/", "cupsd", self.log, timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        out = []
        for name in ("stdout", "error_log"):
            p = os.path.join(self.dir, "log", name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out.append("--- %s\n%s" % (name, f.read()[-8000:].decode("utf-8", "replace")))
        return "\n".join(out)

    def run(self, *cmd, check=True, timeout=60, input=None):
        """Runs a CUPS client command against this cupsd; returns the
        CompletedProcess (text). check: fail with its output on non-zero."""
        p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=self.env, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s\n%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr,
                                                              self.log()))
        return p

    def lpadmin(self, *args, **kw):
        return self.run(LPADMIN, "-h", self.server, *args, **kw)

    def lp(self, *args, **kw):
        """lp -h SERVER args...; returns the job id cupsd gave ("queue-N")."""
        p = self.run("lp", "-h", self.server, *args, **kw)
        words = p.stdout.split()
        return words[words.index("is") + 1] if "is" in words else p

    def lpstat(self, *args, **kw):
        return self.run("lpstat", "-h", self.server, *args, **kw).stdout

    def add_held_queue(self, name="held"):
        """A queue that only holds what it is given: file:///dev/null,
        job-hold-until-default=indefinite (no filter or backend ever runs)."""
        self.lpadmin("-p", name, "-E", "-v", "file:///dev/null", "-o", "job-hold-until-default=indefinite")
        return "/printers/" + name

    def ppd(self, queue, timeout=60.0):
        """The queue's PPD as cupsd serves it (GET /printers/QUEUE.ppd),
        waited for: with -m everywhere, cupsd asks the printer and writes
        the PPD in the background after lpadmin has returned."""
        deadline = time.monotonic() + timeout
        while True:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                c.request("GET", "/printers/%s.ppd" % queue)
                r = c.getresponse()
                body = r.read().decode("utf-8", "replace")
            finally:
                c.close()
            if r.status == 200:
                return body
            if time.monotonic() > deadline:
                raise RuntimeError("GET /printers/%s.ppd: HTTP %d after %.0f s\n%s" % (queue, r.status, timeout,
                                                                                      self.log()))
            time.sleep(0.1)

    def jobs(self, which="all"):
        """[(job id, user, size)] from lpstat -W which -o."""
        out = []
        for line in self.lpstat("-W", which, "-o").splitlines():
            w = line.split()
            if len(w) >= 3:
                out.append((w[0], w[1], w[2]))
        return out

    def cpu_seconds(self):
        """utime+stime of cupsd and of its reaped children (filters,
        backends), from /proc/PID/stat."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / tck

    def stop(self):
        rc = _stop(self.proc)
        if self.proc in _live:
            _live.remove(self.proc)
        return rc

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class IppEvePrinter:
    """ippeveprinter NAME on 127.0.0.1:PORT, spooling (and keeping, -k)
    what it receives in its own directory; its log in DIR/log. It prints
    one job at a time and answers server-error-busy meanwhile; without a
    command (-c) it simulates the printing, with one (e.g. /bin/true) a job
    is done as soon as the command is."""

    def __init__(self, name="scoutpeer", formats="application/pdf,image/pwg-raster,image/urf,application/postscript",
                 tmp=None, command=None):
        self.dir = tmp or tempfile.mkdtemp(prefix="scout-ippeve-", dir="/tmp")
        self.command = command
        self.own_dir = tmp is None
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool, exist_ok=True)
        self.name = name
        self.formats = formats
        self.port = free_port()
        self.uri = "ipp://127.0.0.1:%d/ipp/print" % self.port
        self.proc = None
        self.log_path = os.path.join(self.dir, "log")

    def start(self, timeout=20.0):
        system_bus_and_avahi()
        out = open(self.log_path, "wb")
        self.proc = subprocess.Popen([IPPEVEPRINTER, "-n", "localhost", "-p", str(self.port), "-d", self.spool, "-k",
                                      "-f", self.formats] + (["-c", self.command] if self.command else []) + [self.name], stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        out.close()
        _live.append(self.proc)
        _wait_ipp(self.proc, self.port, "/ipp/print", "ippeveprinter", self.log, timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-8000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def received(self):
        """Files it kept, oldest first."""
        names = [os.path.join(self.spool, n) for n in os.listdir(self.spool)]
        return sorted((p for p in names if os.path.isfile(p)), key=os.path.getmtime)

    def stop(self):
        rc = _stop(self.proc)
        if self.proc in _live:
            _live.remove(self.proc)
        return rc

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def make_documents(d, pages=3, marker="scout"):
    """Test documents made at test time with ghostscript: a PDF of `pages`
    pages (each with its page number and marker), the same as PostScript
    (ps2write, DSC comments) and as PWG raster (72 dpi, gray). Returns
    {"pdf": path, "ps": path, "pwg": path}."""
    gs = shutil.which("gs")
    if not gs:
        raise RuntimeError("ghostscript (gs) is not installed")
    src = os.path.join(d, "doc.ps")
    with open(src, "w") as f:
        f.write("%%!PS\n/Helvetica findfont 24 scalefont setfont\n"
                "1 1 %d { /n exch def 72 720 moveto (%s page ) show n 10 string cvs show showpage } for\n" %
                (pages, marker))
    out = {"pdf": os.path.join(d, "doc.pdf"), "ps": os.path.join(d, "doc-dsc.ps"),
           "pwg": os.path.join(d, "doc.pwg")}
    for dev, path, extra in (("pdfwrite", out["pdf"], []), ("ps2write", out["ps"], []),
                             ("pwgraster", out["pwg"], ["-r72", "-sColorConversionStrategy=Gray"])):
        p = subprocess.run([gs, "-q", "-dSAFER", "-dNOPAUSE", "-dBATCH", "-sDEVICE=" + dev, "-o", path] + extra +
                           [src], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("gs -sDEVICE=%s failed: %s" % (dev, p.stderr))
    return out


def pdf_pages(path):
    """Pages of a PDF by qpdf --show-npages (None without qpdf)."""
    q = shutil.which("qpdf")
    if not q:
        return None
    p = subprocess.run([q, "--show-npages", path], capture_output=True, text=True, timeout=60)
    return int(p.stdout.strip()) if p.returncode == 0 else None


def pwg_pages(path):
    """Pages of a PWG raster file, read from its page headers (RaS2 sync
    word, then 1796-byte headers; the page's bytes are cupsBytesPerLine x
    cupsHeight, uncompressed size unknown: PWG raster is PackBits-like
    compressed per line, so walk the lines)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RaS2":
        raise ValueError("%s: not PWG raster" % path)
    i, pages = 4, 0
    while i + 1796 <= len(data):
        h = data[i:i + 1796]
        height = int.from_bytes(h[376:380], "big")
        bpl = int.from_bytes(h[392:396], "big")
        bpp = int.from_bytes(h[388:392], "big")
        i += 1796
        pages += 1
        unit = max(1, bpp // 8)
        y = 0
        while y < height:
            rep = data[i] + 1
            i += 1
            x = 0
            while x < bpl:
                n = data[i]
                i += 1
                if n <= 127:
                    i += unit
                    x += (n + 1) * unit
                else:
                    cnt = 257 - n
                    i += cnt * unit
                    x += cnt * unit
            y += rep
    return pages
