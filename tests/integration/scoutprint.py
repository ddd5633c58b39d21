"""scoutd as a print queue, for the tests and benchmarks that submit jobs to
it with real clients (test_print_peers.py, test_vault_crash.py,
tools/bench/ipp/run).

PrintAgent is a scoutlib.Agent whose config enables the vault (key file
in its temporary directory) and the IPP server on 127.0.0.1:PORT with
owner = requesting-user-name; init_vault() unlocks it the way an operator
does (`scoutctl vault init`, the password on stdin); jobs() is
`scoutctl jobs --json`.

missing_modules() says why scoutd cannot serve as a queue (its
--config-reference has no [ipp] or [vault] section): the tests skip (77)
with that sentence until those modules are built in.
"""

import hashlib
import json
import os
import subprocess
import time

import ippclient
import scoutlib
from cupslib import free_port

PASSWORD = "correct horse battery staple 9"
# [vault] lines for tests and benchmarks where one user sends thousands of jobs
NO_QUOTA = "max_jobs_per_user = 0\nmax_bytes_per_user = 0\n"


def missing_modules(scoutd=None):
    """None when scoutd has the ipp and vault modules, else a sentence."""
    exe = scoutd or scoutlib.SCOUTD
    try:
        p = subprocess.run([exe, "--config-reference"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        return "cannot run %s: %s" % (exe, e)
    gone = [m for m in ("vault", "ipp") if ("## [%s]" % m) not in p.stdout]
    if gone:
        return "scoutd (%s) is built without the %s module%s" % (exe, " and ".join(gone), "s" if len(gone) > 1 else "")
    return None


def print_config(state_dir, port, key_file, log_level="info", vault_extra="", ipp_extra=""):
    return ("[agent]\nstate_dir = %s\nlog_level = %s\n\n"
            "[vault]\nenabled = yes\nkey_file = %s\n%s\n"
            "[ipp]\nenabled = yes\nlisten = 127.0.0.1:%d\nowner = requesting-user-name\n%s" %
            (state_dir, log_level, key_file, vault_extra, port, ipp_extra))


class PrintAgent(scoutlib.Agent):
    def __init__(self, tmp=None, log_level="info", vault_extra="", ipp_extra="", scoutd=None, scoutctl=None):
        tmp = tmp or scoutlib.make_tmpdir()
        self.port = free_port()
        self.key_file = os.path.join(tmp, "vault.key")
        state = os.path.join(tmp, "state")
        super().__init__(tmp=tmp, config=print_config(state, self.port, self.key_file, log_level, vault_extra,
                                                       ipp_extra))
        self.scoutd = scoutd
        self.scoutctl = scoutctl

    def _popen(self, args, log_path):
        if self.scoutd is None:
            return super()._popen(args, log_path)
        cmd = [self.scoutd, "-c", self.config_path] if args is None else [self.scoutd] + args
        with open(log_path, "wb") as log:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                                 env=scoutlib.ENV)
        scoutlib._live.append(p)
        return p

    def ctl(self, *args, **kw):
        if self.scoutctl is None:
            return scoutlib.run_scoutctl(self.socket, *args, **kw)
        return subprocess.run([self.scoutctl, "-s", self.socket] + list(args), capture_output=True, text=True,
                              timeout=kw.pop("timeout", 60), env=scoutlib.ENV, **kw)

    def client(self, **kw):
        return ippclient.Client("127.0.0.1", self.port, **kw)

    def init_vault(self, password=PASSWORD):
        """`scoutctl vault init` with the password on stdin (not a terminal):
        unlocks the running daemon and writes the key file."""
        p = self.ctl("vault", "init", input=password + "\n", timeout=120)
        if p.returncode != 0:
            raise AssertionError("scoutctl vault init failed (%d): %s%s\n%s" % (p.returncode, p.stdout, p.stderr,
                                                                                   self.log()))
        return p

    def wait_accepting(self, timeout=30.0):
        """Polls Get-Printer-Attributes until printer-is-accepting-jobs."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("scoutd exited (%d):\n%s" % (self.proc.returncode, self.log()))
            try:
                r = self.client(timeout=5).get_printer_attributes(
                    requested=["printer-is-accepting-jobs", "printer-state-reasons"])
                last = r.printer
                if r.ok and r.printer.get("printer-is-accepting-jobs") is True:
                    return r.printer
            except Exception as e:  # noqa: BLE001 (refused, reset, half a response: all mean "not yet")
                last = e
            time.sleep(0.05)
        raise AssertionError("scoutd's IPP queue not accepting within %.0f s (%r):\n%s" % (timeout, last, self.log()))

    def wait_for_job(self, pred, timeout=60.0):
        """Polls `scoutctl jobs --json` until a job satisfies pred; returns it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.jobs()
            for j in last:
                if pred(j):
                    return j
            time.sleep(0.1)
        raise AssertionError("no such job within %.0f s: %r\n%s" % (timeout, last, self.log()))

    def jobs(self, *args):
        """`scoutctl jobs --json [args]` as a list of job maps."""
        p = self.ctl("jobs", "--json", *args)
        if p.returncode != 0:
            raise AssertionError("scoutctl jobs failed (%d): %s%s" % (p.returncode, p.stdout, p.stderr))
        out = json.loads(p.stdout)
        if isinstance(out, dict):
            out = out.get("jobs", out)
        if not isinstance(out, list):
            raise AssertionError("scoutctl jobs --json: not a list of jobs: %r" % (out,))
        return out

    def job_digest(self, job_id):
        """(size, SHA-256 hex) of a job's document as the vault decrypts it
        (`scoutctl vault verify --id ID`), or None when scoutd has no such
        command (see read_path())."""
        if read_path(self) is None:
            return None
        p = self.ctl("vault", "verify", "--id", str(job_id), "--json", timeout=300)
        if p.returncode != 0:
            raise AssertionError("scoutctl vault verify --id %s failed (%d): %s" % (job_id, p.returncode,
                                                                                   p.stderr[-2000:]))
        rows = json.loads(p.stdout)["jobs"]
        if len(rows) != 1 or rows[0].get("result") != "ok":
            raise AssertionError("job %s does not verify: %r" % (job_id, rows))
        return rows[0]["size"], rows[0]["sha256"]


def read_path(agent):
    """Whether the vault can say what a job decrypts to: `scoutctl vault
    verify` (asked of the daemon's help) reads a job back through its key
    and reports its size and SHA-256; None when scoutd lacks it."""
    h = agent.request({"cmd": "help"})
    if any(c.get("name") == "vault verify" for c in h.get("help", [])):
        return ["vault", "verify"]
    return None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def find_in_files(top, needles):
    """[(path, needle)] for every file under top holding one of needles
    (bytes), read in 1 MiB pieces with an overlap so that nothing is missed
    at a piece's edge."""
    found = set()
    keep = max(len(n) for n in needles) - 1
    for root, _, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                tail = b""
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    buf = tail + b
                    for n in needles:
                        if n in buf:
                            found.add((path, n[:40]))
                    tail = buf[-keep:] if keep else b""
    return sorted(found)
