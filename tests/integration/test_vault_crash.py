#!/usr/bin/env python3
"""kill -9 during intake: every acknowledged job survives whole, nothing
half-received is ever listed, and nothing is on disk in clear.

scoutd runs with the vault (unlocked with `scoutctl vault init`) and the
IPP server (owner = requesting-user-name). Each round, CONNS client
threads submit jobs of random sizes over their own connections with
tests/integration/ippclient.py: Print-Job, or Create-Job + Send-Document,
bodies with Content-Length or chunked, sizes from 1 byte to 8 MiB with the
64 KiB chunk edges among them, and in a few rounds one 50 MB job. scoutd
is killed with SIGKILL at a random instant: after a random delay, or at a
random byte of a 50 MB body, or just after a 50 MB job was acknowledged.
Then it is started again on the same files (the key file unlocks it) and:

  * every job that got successful-ok is listed by `scoutctl jobs --json`
    with its IPP job id, owner, name and size, held;
  * every listed job is one the client sent whole: a job whose body was
    cut by the kill is never listed (a job sent whole may be listed
    without its successful-ok: the kill can fall between the commit and
    the reply; it must then be whole too, and the run counts them);
  * each acknowledged job decrypts to exactly the bytes sent: the size
    and SHA-256 that `scoutctl vault verify --id ID` reads back through
    the job's key are those of the body sent.

At the end scoutd is stopped and every file under its state directory
(vault files, scout.mdb) is searched for the markers written into every
64 KiB of every document, the job names and the owner: none may appear.

SCOUT_CRASH_ROUNDS (100; 12 in a sanitizer build, where the point is
ASan and UBSan on the recovery paths) sets the number of kills, SCOUT_CRASH_SEED the
random choices. Skips (77) while scoutd lacks the ipp and vault modules.
SCOUT_CRASH_TARGET=cupsd runs the same client, kills and checks against a
throwaway cupsd's held queue instead (no plaintext check there), to prove
the harness while scout's intake is not built.
"""

import hashlib
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cupslib  # noqa: E402
import ippclient  # noqa: E402
import scoutlib  # noqa: E402
import scoutprint  # noqa: E402

ROUNDS = int(os.environ.get("SCOUT_CRASH_ROUNDS", "12" if os.environ.get("SCOUT_SANITIZED") else "100"))
TARGET = os.environ.get("SCOUT_CRASH_TARGET", "scoutd")
CONNS = 3
BIG = 50 * 1000 * 1000
OWNER = "crashowner"
MARK = b"SCOUTPLAIN-"  # starts every 64 KiB block of every document
NAME = "crashname-"
BLOCK = 64 * 1024
SEED = int(os.environ.get("SCOUT_CRASH_SEED", str(random.randrange(1 << 30))))


class Body:
    """A document made on the fly (never whole in memory): 64 KiB blocks,
    each starting with a marker naming job and block, then seeded random
    bytes. Hashes what it hands out; `whole` once read to the end."""

    def __init__(self, tag, size, seed):
        self.tag = tag
        self.size = size
        self.rng = random.Random(seed)
        self.pos = 0
        self.h = hashlib.sha256()
        self.whole = False

    def read(self, n=-1):
        if self.pos >= self.size:
            self.whole = True
            return b""
        left = self.size - self.pos
        blk = self.pos // BLOCK
        head = (MARK + b"%s-%08d-" % (self.tag.encode(), blk))[:BLOCK]
        piece = (head + self.rng.randbytes(BLOCK - len(head)))[:min(BLOCK, left)]
        self.pos += len(piece)
        self.h.update(piece)
        return piece

    def sha(self):
        return self.h.hexdigest() if self.whole else None


class Job:
    def __init__(self, rnd, conn, n, size, chunked, two_step):
        self.name = "%sr%03d-c%d-j%03d" % (NAME, rnd, conn, n)
        self.size = size
        self.chunked = chunked
        self.two_step = two_step
        self.body = Body(self.name, size, hash((SEED, rnd, conn, n)) & 0xFFFFFFFF)
        self.acked = False
        self.id = None
        self.error = None
        self.verified = False
        self.listed_unacked = False
        self.reported = False  # a finding was made about it (stand-in only)

    @property
    def whole(self):
        return self.body.whole


def random_size(rng):
    r = rng.random()
    if r < 0.08:
        return rng.choice([1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 4 * BLOCK - 1])
    if r < 0.30:
        return rng.randint(1, 4096)
    if r < 0.85:
        return rng.randint(4096, 1 << 20)
    return rng.randint(1 << 20, 8 << 20)


class VaultCrash(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        why = cupslib.have_cups() if TARGET == "cupsd" else scoutprint.missing_modules()
        if why:
            raise unittest.SkipTest(why)

    def submit(self, client, job, on_sent=None):
        """Sends job; records ack / error. Returns False when the connection died."""
        try:
            if job.two_step:
                r = client.create_job(user=OWNER, name=job.name)
                if not r.ok:
                    job.error = repr(r)
                    return True
                jid = r.job.get("job-id")
                r = client.send_document(jid, job.body, user=OWNER, format="application/octet-stream",
                                         chunked=True if job.chunked else None, on_sent=on_sent)
            else:
                body = job.body
                if not job.chunked:
                    body = SizedBody(job.body)
                r = client.print_job(body, user=OWNER, name=job.name, format="application/octet-stream",
                                     chunked=job.chunked, on_sent=on_sent)
        except Exception as e:  # noqa: BLE001 (reset, refused, half a response: the kill)
            job.error = repr(e)
            return False
        if r.ok:
            job.acked = True
            job.id = r.job.get("job-id")
        else:
            job.error = repr(r)
        return True

    def test_kill9_during_intake(self):
        self.findings = []
        rng = random.Random(SEED)
        print("seed %d (SCOUT_CRASH_SEED to repeat), %d rounds" % (SEED, ROUNDS), flush=True)
        a = CupsUnderTest(self) if TARGET == "cupsd" else ScoutUnderTest(self)
        a.start()
        reader = a.reader

        jobs = []
        big_rounds = set(rng.sample(range(ROUNDS), min(ROUNDS, 4)))
        big_mode = {r: m for r, m in zip(sorted(big_rounds), ["cut", "after-ack", "cut", "after-ack"])}
        lost_acks = 0
        t_start = time.monotonic()
        for rnd in range(ROUNDS):
            kill = threading.Event()
            mode = big_mode.get(rnd)
            cut_at = rng.randint(1, BIG - 1) if mode == "cut" else None

            def on_big_sent(n, cut_at=cut_at, kill=kill):
                if cut_at is not None and n >= cut_at:
                    kill.set()

            def conn_loop(c, rnd=rnd, kill=kill, mode=mode):
                crng = random.Random(hash((SEED, rnd, c)))
                client = a.client(keep=crng.random() < 0.5, timeout=120)
                n = 0
                while not kill.is_set():
                    big = mode is not None and c == 0 and n == 0
                    job = Job(rnd, c, n, BIG if big else random_size(crng), crng.random() < 0.4,
                              crng.random() < 0.25)
                    jobs.append(job)
                    n += 1
                    alive = self.submit(client, job, on_big_sent if big else None)
                    if big:
                        # after-ack: kill just after; cut: the kill came
                        # mid-body, or the job failed without it
                        if mode == "after-ack" and job.acked:
                            time.sleep(crng.random() * 0.05)
                        kill.set()
                    if not alive:
                        break
                client.close()

            threads = [threading.Thread(target=conn_loop, args=(c,), daemon=True) for c in range(CONNS)]
            for t in threads:
                t.start()
            kill.wait(300 if mode else rng.uniform(0.02, 0.6))
            a.kill9()
            kill.set()
            for t in threads:
                t.join(120)
                self.assertFalse(t.is_alive(), "a client thread hangs after the kill")

            a.restart()
            lost_acks += self.check(a, jobs, reader, rnd)
        took = time.monotonic() - t_start
        acked = [j for j in jobs if j.acked]
        print("%d rounds in %.0f s: %d jobs sent, %d acknowledged (%d bytes), %d cut, %d listed without their "
              "reply (sent whole, killed between commit and reply)" %
              (ROUNDS, took, len(jobs), len(acked), sum(j.size for j in acked),
               sum(1 for j in jobs if not j.whole), lost_acks), flush=True)
        self.assertTrue(any(j.acked and j.size == BIG for j in jobs) or not big_rounds,
                        "no 50 MB job was acknowledged")

        if self.findings:
            print("the stand-in (%s) failed %d checks (it promises no durability; the harness works):\n  %s" %
                  (a.label, len(self.findings), "\n  ".join(self.findings[:20])), flush=True)
        # a final pass over everything, then the files in clear
        self.check(a, jobs, reader, ROUNDS, final=True)
        rc, log = a.stop()
        self.assertEqual(rc, 0, log)
        if TARGET != "cupsd":  # cupsd keeps documents in clear, by design
            self.no_plaintext(a.state_dir)

    def expect(self, ok, msg):
        """A finding: fails the test against scoutd; against the stand-in
        (cupsd, which promises nothing) it is counted and shown instead."""
        if ok:
            return
        if TARGET != "cupsd":
            self.fail(msg)
        self.findings.append(msg)

    def check(self, a, jobs, reader, rnd, final=False):
        listed = a.jobs()
        by_name = {j.name: j for j in jobs}
        seen = {}
        lost_acks = 0
        for m in listed:
            name = m.get("name") or ""
            if not name.startswith(NAME):
                continue
            j = by_name.get(name)
            self.assertIsNotNone(j, "round %d: listed job %r was never sent" % (rnd, m))
            if name in seen:
                self.expect(False, "round %d: %s listed twice: %r and %r" % (rnd, name, seen[name], m))
                continue
            seen[name] = m
            if j.reported:
                continue
            ok = j.whole
            self.expect(ok, "round %d: %s is listed but its body was cut by the kill at %d of %d bytes (%s): %r"
                        % (rnd, name, j.body.pos, j.size, j.error, m))
            self.expect(m.get("state") == "held" or not ok, "round %d: not held: %r" % (rnd, m))
            self.expect(m.get("owner") == OWNER, "round %d: owner: %r" % (rnd, m))
            self.expect(m.get("size") == j.size or not ok, "round %d: %s size %s, sent %d" %
                        (rnd, name, m.get("size"), j.size))
            if not ok or m.get("size") != j.size:
                j.reported = True
            elif not j.acked and not j.listed_unacked:
                j.listed_unacked = True
                lost_acks += 1
        for j in jobs:
            if not j.acked or j.reported:
                continue
            m = seen.get(j.name)
            self.expect(m is not None, "round %d: %s (job %s, %d bytes) got successful-ok but is not listed"
                        % (rnd, j.name, j.id, j.size))
            if m is None:
                j.reported = True
                continue
            self.assertEqual(m.get("id"), j.id, m)
        todo = [j for j in jobs if (j.acked or j.name in seen) and not j.reported and (final or not j.verified)]
        if final and reader is None:
            # said loudly, not a skip: a skip would hide the checks above,
            # which ran; the way to read a job back is the vault's to give
            print("NOTE: NOT CHECKED: the bytes of %d acknowledged jobs: scoutctl offers no way to read a job's "
                  "document (looked for `scoutctl vault verify`)" % len(todo), flush=True)
        if reader is not None:
            for j in todo:
                size, sha = a.digest(seen[j.name]["id"])
                self.expect(size == j.size and sha == j.body.sha(),
                            "round %d: %s reads back as %d other bytes than the %d sent" % (rnd, j.name, size, j.size))
                j.verified = True
        return lost_acks

    def no_plaintext(self, state_dir):
        n = sum(len(f) for _, _, f in os.walk(state_dir))
        self.assertGreater(n, 0, "no files under %s" % state_dir)
        found = scoutprint.find_in_files(state_dir, [MARK, NAME.encode(), OWNER.encode()])
        self.assertEqual(found, [], "plaintext on disk")


class SizedBody:
    """A Body with a known size, so ippclient sends Content-Length."""

    def __init__(self, body):
        self.body = body
        self.ipp_size = body.size

    def read(self, n=-1):
        return self.body.read(n)


class ScoutUnderTest:
    """scoutd with vault and ipp; jobs through scoutctl."""

    label = "scoutd"

    def __init__(self, test):
        self.a = scoutprint.PrintAgent(log_level="info", vault_extra=scoutprint.NO_QUOTA)
        test.agents.append(self.a)
        self.state_dir = self.a.state_dir

    def start(self):
        self.a.start()
        self.a.init_vault()
        self.a.wait_accepting()
        self.reader = scoutprint.read_path(self.a)
        if self.reader is None:
            raise AssertionError("scoutd has the vault but no `vault verify`: acknowledged jobs cannot be checked")

    def client(self, **kw):
        return self.a.client(**kw)

    def kill9(self):
        self.a.kill9()

    def restart(self):
        self.a.proc = self.a.spawn()
        self.a.wait_ready(60)
        self.a.wait_accepting(60)

    def jobs(self):
        return self.a.jobs()

    def digest(self, job_id):
        return self.a.job_digest(job_id)

    def stop(self):
        rc, _ = self.a.stop(timeout=30)
        return rc, self.a.log()


class CupsUnderTest:
    """The stand-in (SCOUT_CRASH_TARGET=cupsd): a cupsd held queue, its jobs
    from Get-Jobs, a job's bytes from its spool file. It proves the harness
    (kill, restart, compare); cupsd makes no durability promise, so what
    it loses after a kill -9 is its own result, not a harness fault."""

    label = "cupsd"
    reader = True

    def __init__(self, test):
        self.c = cupslib.Cupsd(dirty_clean=0)
        test.addCleanup(self.c.cleanup)
        self.state_dir = self.c.dir

    def start(self):
        self.c.start()
        self.path = self.c.add_held_queue("held")

    def client(self, **kw):
        return ippclient.Client("127.0.0.1", self.c.port, self.path, **kw)

    def kill9(self):
        self.c.proc.kill()
        self.c.proc.wait(10)

    def restart(self):
        self.c.start()

    def jobs(self):
        # as the owner: cupsd shows job-name and user only to the owner
        r = self.client().get_jobs(user=OWNER, which="all", requested=("job-id", "job-name", "job-originating-user-name",
                                                          "job-state"))
        out = []
        for j in r.jobs:
            spool = os.path.join(self.c.dir, "spool", "d%05d-001" % j["job-id"])
            out.append({"id": j["job-id"], "name": j.get("job-name"), "owner": j.get("job-originating-user-name"),
                        "state": {4: "held"}.get(j.get("job-state"), str(j.get("job-state"))),
                        "size": os.path.getsize(spool) if os.path.exists(spool) else -1})
        return out

    def digest(self, job_id):
        with open(os.path.join(self.c.dir, "spool", "d%05d-001" % job_id), "rb") as f:
            data = f.read()
        return len(data), hashlib.sha256(data).hexdigest()

    def stop(self):
        return self.c.stop(), self.c.log()


if __name__ == "__main__":
    scoutlib.main()
