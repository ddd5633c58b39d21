#!/usr/bin/env python3
"""kill -9 during intake: every acknowledged job survives whole, nothing
half-received is ever listed, and nothing is on disk in clear.

scoutd runs with the vault (unlocked with `scoutctl vault init`) and the
IPP server (owner = requesting-user-name). Each round, CONNS client
threads submit jobs of random sizes over their own connections with
tests/integration/ipplib.py: Print-Job, or Create-Job + Send-Document,
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
  * each acknowledged job decrypts to exactly the bytes sent (SHA-256),
    read back through the vault's operator path (scoutprint.read_path;
    the sub-test says so and skips when scoutctl has none).

At the end scoutd is stopped and every file under its state directory
(vault files, scout.mdb) is searched for the markers written into every
64 KiB of every document, the job names and the owner: none may appear.

SCOUT_CRASH_ROUNDS (100) sets the number of kills. Skips (77) while scoutd
lacks the ipp and vault modules.
"""

import hashlib
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipplib  # noqa: E402
import scoutlib  # noqa: E402
import scoutprint  # noqa: E402

ROUNDS = int(os.environ.get("SCOUT_CRASH_ROUNDS", "100"))
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

    @property
    def whole(self):
        return self.body.whole


def random_size(rng):
    r = rng.random()
    if r < 0.08:
        return rng.choice([1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 4 * BLOCK - 1])
    if r < 0.30:
        return rng.randint(1, 4096)
    if r < 0.70:
        return rng.randint(4096, 1 << 20)
    return rng.randint(1 << 20, 8 << 20)


class VaultCrash(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        why = scoutprint.missing_modules()
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
        rng = random.Random(SEED)
        print("seed %d (SCOUT_CRASH_SEED to repeat), %d rounds" % (SEED, ROUNDS), flush=True)
        a = scoutprint.PrintAgent(log_level="info", vault_extra=scoutprint.NO_QUOTA)
        self.agents.append(a)
        a.start()
        a.init_vault()
        a.wait_accepting()
        reader = scoutprint.read_path(a)

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

            a.proc = a.spawn()
            a.wait_ready(60)
            a.wait_accepting(60)
            lost_acks += self.check(a, jobs, reader, rnd)
        took = time.monotonic() - t_start
        acked = [j for j in jobs if j.acked]
        print("%d rounds in %.0f s: %d jobs sent, %d acknowledged (%d bytes), %d cut, %d listed without their "
              "reply (sent whole, killed between commit and reply)" %
              (ROUNDS, took, len(jobs), len(acked), sum(j.size for j in acked),
               sum(1 for j in jobs if not j.whole), lost_acks), flush=True)
        self.assertTrue(any(j.acked and j.size == BIG for j in jobs) or not big_rounds,
                        "no 50 MB job was acknowledged")

        # a final pass over everything, then the files in clear
        self.check(a, jobs, reader, ROUNDS, final=True)
        rc, _ = a.stop(timeout=30)
        self.assertEqual(rc, 0, a.log())
        self.no_plaintext(a.state_dir)

    def check(self, a, jobs, reader, rnd, final=False):
        listed = a.jobs()
        by_name = {j.name: j for j in jobs}
        seen = {}
        lost_acks = 0
        for m in listed:
            name = m.get("name", "")
            if not name.startswith(NAME):
                continue
            j = by_name.get(name)
            self.assertIsNotNone(j, "round %d: listed job %r was never sent" % (rnd, m))
            self.assertNotIn(name, seen, "round %d: %s listed twice" % (rnd, name))
            seen[name] = m
            self.assertTrue(j.whole, "round %d: %s is listed but its body was cut by the kill at %d of %d bytes "
                                     "(%s): %r" % (rnd, name, j.body.pos, j.size, j.error, m))
            self.assertEqual(m.get("state"), "held", "round %d: %r" % (rnd, m))
            self.assertEqual(m.get("owner"), OWNER, m)
            self.assertEqual(m.get("size"), j.size, "round %d: %s size" % (rnd, name))
            if not j.acked and not j.listed_unacked:
                j.listed_unacked = True
                lost_acks += 1
        for j in jobs:
            if not j.acked:
                continue
            m = seen.get(j.name)
            self.assertIsNotNone(m, "round %d: %s (job %s, %d bytes) got successful-ok but is not listed"
                                    % (rnd, j.name, j.id, j.size))
            self.assertEqual(m.get("id"), j.id, m)
        todo = [j for j in jobs if (j.acked or j.name in seen) and (final or not j.verified)]
        if final and reader is None:
            with self.subTest("bytes of every acknowledged job"):
                self.skipTest("scoutctl offers no way to read a job's document (looked for `scoutctl job "
                              "--document ID`): %d acknowledged jobs were not compared byte for byte" % len(todo))
        if reader is not None:
            for j in todo:
                data = a.job_bytes(seen[j.name]["id"])
                self.assertEqual(len(data), j.size, j.name)
                self.assertEqual(hashlib.sha256(data).hexdigest(), j.body.sha(), "round %d: %s decrypts to "
                                 "other bytes than were sent" % (rnd, j.name))
                j.verified = True
        return lost_acks

    def no_plaintext(self, state_dir):
        needles = [MARK, NAME.encode(), OWNER.encode()]
        found = []
        n = 0
        for root, _, files in os.walk(state_dir):
            for f in files:
                path = os.path.join(root, f)
                if not os.path.isfile(path):
                    continue
                n += 1
                with open(path, "rb") as fh:
                    tail = b""
                    while True:
                        b = fh.read(1 << 20)
                        if not b:
                            break
                        buf = tail + b
                        for x in needles:
                            if x in buf:
                                found.append((path, x))
                        tail = buf[-32:]
        self.assertGreater(n, 0, "no files under %s" % state_dir)
        self.assertEqual(sorted(set(found)), [], "plaintext on disk")


class SizedBody:
    """A Body with a known size, so ipplib sends Content-Length."""

    def __init__(self, body):
        self.body = body
        self.ipp_size = body.size

    def read(self, n=-1):
        return self.body.read(n)


if __name__ == "__main__":
    scoutlib.main()
