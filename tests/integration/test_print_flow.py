"""Issue 9's acceptance, as an operator would do it: scoutd with
`[vault] enabled = yes, key_file = ...` and `[ipp] enabled = yes, listen =
127.0.0.1:PORT, owner = requesting-user-name` starts with its vault locked
and refuses jobs saying why; `echo PASSWORD | scoutctl vault init` unlocks
the running daemon and writes the key file; a restart finds the vault
unlocked; ipptool's Print-Job of a PDF as alice is accepted and held;
`scoutctl jobs --json` lists it with owner alice and its page count; no
file under the state directory holds the job's bytes or its name in clear.
Then `scoutctl vault verify` reads the job back through its key (its
SHA-256 is the file's), and finds a job whose file was damaged on disk."""

import hashlib
import json
import os
import resource
import socket
import subprocess
import shutil
import time

import scoutlib
import scoutprint

DATA = os.path.join(scoutlib.TOP, "tests", "data", "print")
NAME = "payroll-march-7f3a9c"

PRINT_JOB = """{
    NAME "Print-Job as alice"
    OPERATION Print-Job
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR naturalLanguage attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name alice
    ATTR name job-name %s
    ATTR mimeMediaType document-format application/pdf
    FILE $filename
    STATUS %s
    %s
}
"""


def ipptool_print(port, path, name, status):
    test = os.path.join(scoutlib.make_tmpdir(), "print.test")
    with open(test, "w") as f:
        f.write(PRINT_JOB % (name, status, "EXPECT job-id OF-TYPE integer" if status == "successful-ok" else
                             "EXPECT !job-id"))
    return subprocess.run(["ipptool", "-tv", "-f", path, "ipp://127.0.0.1:%d/ipp/print" % port, test],
                          capture_output=True, text=True, timeout=120)


class PrintFlow(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        why = scoutprint.missing_modules()
        if why:
            self.skipTest(why)
        if not shutil.which("ipptool"):
            self.skipTest("ipptool is not installed (cups-ipp-utils)")

    def test_done_when(self):
        a = scoutprint.PrintAgent()
        self.agents.append(a)
        a.start()
        v = a.module("vault")
        self.assertIs(v["locked"], True, v)
        self.assertFalse(os.path.exists(a.key_file))
        pdf = os.path.join(DATA, "color3.pdf")
        # locked: intake refuses, saying why, and writes nothing
        p = ipptool_print(a.port, pdf, NAME, "server-error-not-accepting-jobs")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        p = subprocess.run("echo '%s' | '%s' -s '%s' vault init" % (scoutprint.PASSWORD, scoutlib.SCOUTCTL, a.socket),
                           shell=True, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "vault unlocked; key written to %s\n" % a.key_file)
        self.assertEqual(os.stat(a.key_file).st_mode & 0o777, 0o600)
        self.assertIs(a.module("vault")["locked"], False)
        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        a.start()
        self.assertIs(a.module("vault")["locked"], False)
        a.wait_accepting()

        p = ipptool_print(a.port, pdf, NAME, "successful-ok")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        job = a.wait_for_job(lambda j: j.get("name") == NAME and j.get("pages", -1) >= 0)
        self.assertEqual((job["owner"], job["pages"], job["state"]), ("alice", 3, "held"), job)
        self.assertEqual(job["size"], os.path.getsize(pdf))

        # verify: the job decrypts to the file's bytes
        p = a.ctl("vault", "verify", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        with open(pdf, "rb") as f:
            body = f.read()
        self.assertEqual(out["jobs"], [{"id": job["id"], "size": len(body), "result": "ok",
                                        "sha256": hashlib.sha256(body).hexdigest()}])
        self.assertEqual((out["verified"], out["damaged"]), (1, 0))

        # a job stored in a file (over 64 KiB), then damaged on disk
        big = os.path.join(a.tmp, "big.pdf")
        with open(big, "wb") as f:
            f.write(body + b"%" + b"x" * 200000 + b"\n")
        p = ipptool_print(a.port, big, NAME + "-big", "successful-ok")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        jb = a.wait_for_job(lambda j: j.get("name") == NAME + "-big")
        files = [os.path.join(a.state_dir, "vault", f) for f in os.listdir(os.path.join(a.state_dir, "vault"))]
        self.assertEqual(len(files), 1, files)

        rc, _ = a.stop()
        self.assertEqual(rc, 0)
        found = scoutprint.find_in_files(a.state_dir, [body[:64], body[-200:], NAME.encode(), b"alice"])
        self.assertEqual(found, [], "plaintext on disk")

        with open(files[0], "r+b") as f:
            f.seek(70000)
            b = f.read(1)
            f.seek(70000)
            f.write(bytes([b[0] ^ 1]))
        a.start()
        p = a.ctl("vault", "verify")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("DAMAGED", p.stdout)
        self.assertIn("chunk 1: does not authenticate (damaged, cut or moved)", p.stdout)
        p = a.ctl("vault", "verify", "--id", str(job["id"]), "--json")
        self.assertEqual(json.loads(p.stdout)["damaged"], 0)
        p = a.ctl("vault", "verify", "--id", str(jb["id"]), "--json")
        self.assertEqual(json.loads(p.stdout)["damaged"], 1)
        a.stop()


    def test_idle_and_slow_clients(self):
        """1,000 connections that send nothing and one that sends its header
        a byte at a time do not keep a job from being taken; the slow one
        is cut at header_timeout, the idle ones at idle_timeout."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 1200:
            self.skipTest("RLIMIT_NOFILE hard limit %d is below 1200" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
        a = scoutprint.PrintAgent(ipp_extra="header_timeout = 2s\nidle_timeout = 4s\n")
        self.agents.append(a)
        a.start()
        a.init_vault()
        a.wait_accepting()
        idle = []
        try:
            for _ in range(1000):
                idle.append(socket.create_connection(("127.0.0.1", a.port), timeout=10))
            slow = socket.create_connection(("127.0.0.1", a.port), timeout=10)
            slow.sendall(b"POST /ipp/print HTTP/1.1\r\nHo")
            with open(os.path.join(DATA, "color3.pdf"), "rb") as f:
                r = a.client(timeout=30).print_job(f, user="alice", name=NAME, format="application/pdf")
            self.assertTrue(r.ok, r)
            a.wait_for_job(lambda j: j.get("name") == NAME)
            # the slow client, still in its headers: 408 at the header timeout
            slow.settimeout(30)
            try:
                cut = slow.recv(4096)
            except ConnectionError:
                cut = b""
            self.assertTrue(cut == b"" or b" 408 " in cut.split(b"\r\n")[0], cut)
            slow.close()
            # the idle ones are closed by the server
            deadline = time.monotonic() + 30
            closed = 0
            for c in idle:
                c.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    if c.recv(1) == b"":
                        closed += 1
                except (ConnectionError, socket.timeout):
                    pass
            self.assertEqual(closed, 1000)
        finally:
            for c in idle:
                c.close()
        rc, _ = a.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    scoutlib.main()
