"""Many clients at once: 200 concurrent scoutctl processes, and 200 raw
connections held open together, all answered; the agent is fine after."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import scoutlib

N = 200


class Concurrency(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        self.a = self.agent()
        self.a.start()

    def test_200_scoutctl_status(self):
        a = self.a
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=N) as ex:
            futs = [ex.submit(a.ctl, "status", "--json", timeout=60) for _ in range(N)]
            results = [f.result() for f in futs]
        took = time.monotonic() - t0
        print("\n  %d scoutctl status in %.2f s" % (N, took), flush=True)
        bad = [(p.returncode, p.stderr) for p in results if p.returncode != 0]
        self.assertEqual(bad, [], "%d of %d failed" % (len(bad), N))
        for p in results:
            st = json.loads(p.stdout)
            self.assertEqual(st["pid"], a.proc.pid)
        st = a.wait_for(lambda s: s["socket"]["open"] == 1, 10, "all connections closed")
        self.assertGreaterEqual(st["socket"]["connections"], N + 1)
        self.assertEqual(st["socket"]["errors"], 0)
        self.assertEqual(st["socket"]["denied"], 0)
        self.assertEqual(st["modules"][0]["state"], "running")
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

    def test_200_open_connections_pipelined(self):
        a = self.a
        conns = [a.connect(timeout=30) for _ in range(N)]
        try:
            st = a.wait_for(lambda s: s["socket"]["open"] >= N + 1, 10, "%d open connections" % N)

            def one(c):
                c.send(b'{"cmd":"version"}\n{"cmd":"status"}\n{"cmd":"metrics"}\n')
                return [sorted(c.reply()) for _ in range(3)]

            with ThreadPoolExecutor(max_workers=50) as ex:
                replies = list(ex.map(one, conns))
            for r in replies:
                self.assertEqual(r, [["ok", "version"], ["ok", "status"], ["metrics", "ok"]])
        finally:
            for c in conns:
                c.close()
        a.wait_for(lambda s: s["socket"]["open"] == 1, 10, "all connections closed")
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)


if __name__ == "__main__":
    scoutlib.main()
