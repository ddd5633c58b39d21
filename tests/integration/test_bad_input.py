"""Whatever a client sends, the agent answers it correctly or with the right
error code, closes the connection after an error, and keeps serving."""

import json
import socket
import time

import scoutlib

MAX_LINE = 64 * 1024


class BadInput(scoutlib.AgentTest):
    @classmethod
    def setUpClass(cls):
        cls.a = scoutlib.Agent()
        cls.a.start()

    @classmethod
    def tearDownClass(cls):
        a = cls.a
        try:
            rc, took = a.stop()
            text = a.log()
            assert rc == 0, "exit %d\n%s" % (rc, text)
            assert "handle left open" not in text and "not empty" not in text, text
            probs = scoutlib.sanitizer_problems(text)
            assert not probs, "sanitizer report: %s\n%s" % (probs, text)
        finally:
            a.cleanup()

    def tearDown(self):
        # after every case the agent is alive and answers
        self.assertTrue(self.a.alive(), self.a.log())
        st = self.a.status()
        self.assertEqual(st["pid"], self.a.proc.pid)
        super().tearDown()

    def expect_error(self, data, code, message_part=None):
        """Sends data on a fresh connection: one error reply, then EOF."""
        errors0 = self.a.status()["socket"]["errors"]
        c = self.a.connect()
        try:
            c.send(data)
            line = c.readline()
            self.assertIsNotNone(line, "closed without an error reply")
            r = json.loads(line)
            self.assertIs(r["ok"], False, r)
            self.assertEqual(r["error"]["code"], code, r)
            self.assertIsInstance(r["error"]["message"], str)
            if message_part:
                self.assertIn(message_part, r["error"]["message"])
            self.assertEqual(set(r), {"ok", "error"})
            self.assertTrue(c.at_eof(), "connection not closed after an error")
        finally:
            c.close()
        self.assertEqual(self.a.status()["socket"]["errors"], errors0 + 1)
        return r

    def test_garbage(self):
        self.expect_error(b"hello world\n", "bad_request", "malformed JSON")

    def test_invalid_json(self):
        self.expect_error(b'{"cmd": "status"\n', "bad_request", "malformed JSON")

    def test_trailing_garbage(self):
        self.expect_error(b'{"cmd":"status"} x\n', "bad_request", "malformed JSON")

    def test_json_array(self):
        self.expect_error(b'["status"]\n', "bad_request", "JSON object")

    def test_json_string(self):
        self.expect_error(b'"status"\n', "bad_request")

    def test_cmd_not_string(self):
        self.expect_error(b'{"cmd":5}\n', "bad_request", '"cmd" must be a string')

    def test_cmd_missing(self):
        self.expect_error(b'{}\n', "bad_request", '"cmd" must be a string')

    def test_cmd_bad_chars(self):
        want = '"cmd" must be one or two words ("vault init") of a-z, 0-9 and -, 32 bytes at most'
        self.expect_error(b'{"cmd":"Status"}\n', "bad_request", want)
        self.expect_error(b'{"cmd":""}\n', "bad_request", want)
        self.expect_error(b'{"cmd":"a  b"}\n', "bad_request", want)
        self.expect_error(json.dumps({"cmd": "a" * 33}).encode() + b"\n", "bad_request", want)

    def test_duplicate_keys(self):
        self.expect_error(b'{"cmd":"status","cmd":"version"}\n', "bad_request")

    def test_unknown_command(self):
        r = self.expect_error(b'{"cmd":"frobnicate"}\n', "unknown_command")
        self.assertEqual(r["error"]["message"], "unknown command 'frobnicate'")

    def test_long_line_without_newline(self):
        self.expect_error(b"x" * (70 * 1024), "too_large")

    def test_long_line_with_newline(self):
        self.expect_error(b"x" * (70 * 1024) + b"\n", "too_large")

    def test_long_valid_json_line(self):
        req = {"cmd": "version", "pad": "y" * (70 * 1024)}
        self.expect_error(json.dumps(req).encode() + b"\n", "too_large")

    def line_of(self, size):
        head = b'{"cmd":"version","pad":"'
        tail = b'"}'
        line = head + b"p" * (size - len(head) - len(tail)) + tail
        assert len(line) == size
        return line

    def test_request_over_8k_split(self):
        # a request larger than the first read buffer, its newline late
        for size in (8192, 10000, 40000, MAX_LINE):
            c = self.a.connect()
            try:
                c.send(self.line_of(size))
                time.sleep(0.05)
                c.send(b"\n")
                r = c.reply()
                self.assertIs(r["ok"], True, "%d-byte request: %s" % (size, r))
            finally:
                c.close()

    def test_line_limit_exact(self):
        c = self.a.connect()
        try:
            r = c.request(self.line_of(MAX_LINE) + b"\n")
            self.assertEqual(r, {"ok": True, "version": r.get("version")})
            self.assertIsInstance(r["version"], str)
            # and the connection is still good for the next one
            self.assertIs(c.request({"cmd": "version"})["ok"], True)
        finally:
            c.close()
        self.expect_error(self.line_of(MAX_LINE + 1) + b"\n", "too_large")

    def test_megabytes_of_junk(self):
        # the agent answers too_large once the line is over the limit and
        # stops reading; the send then fails (the agent closed with junk
        # unread), but the reply sent before the close is still queued for
        # the client (an AF_UNIX reset comes after the data): never a hang,
        # and the agent is unharmed
        c = self.a.connect(timeout=5)
        try:
            try:
                c.sock.sendall(b"z" * (4 << 20))
            except (BrokenPipeError, ConnectionResetError):
                pass
            line = c.readline()
            self.assertIsNotNone(line, "closed without the too_large reply")
            self.assertEqual(json.loads(line)["error"]["code"], "too_large")
        finally:
            c.close()

    def test_binary_with_nuls(self):
        self.expect_error(b"\x00\x01\x02\xff\xfe\x00\n", "bad_request")
        self.expect_error(b'{"cmd":"status"}\x00\n', "bad_request")
        self.expect_error(b'{"cmd":"sta\x00tus"}\n', "bad_request")
        self.expect_error(b'{"cmd":"status\\u0000"}\n', "bad_request")
        self.expect_error(b'{"cmd":"\xc3\x28"}\n', "bad_request")  # invalid UTF-8

    def test_disconnect_mid_line(self):
        for data in (b"", b'{"cmd":"sta', b"x" * 10000, b'{"cmd":"status"}'):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.a.socket)
            if data:
                s.sendall(data)
            s.close()
        # the half-closed connections go away; nothing else is open
        self.a.wait_for(lambda st: st["socket"]["open"] == 1, 5, "connections to be closed")

    def test_disconnect_before_reply(self):
        # requests sent, client gone before the answers are written
        for cmd in ("status", "metrics", "reload"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.a.socket)
            s.sendall(((json.dumps({"cmd": cmd}) + "\n") * 5).encode())
            s.close()
        self.a.wait_for(lambda st: st["socket"]["open"] == 1 and st["reload"]["last"] is not None, 5,
                        "connections to be closed")

    def test_half_close_after_request(self):
        # shutdown(SHUT_WR) after a request: the answer still arrives
        c = self.a.connect()
        try:
            c.send({"cmd": "version"})
            c.sock.shutdown(socket.SHUT_WR)
            r = c.reply()
            self.assertIs(r["ok"], True)
            self.assertTrue(c.at_eof())
        finally:
            c.close()

    def test_pipelined_in_order(self):
        cmds = ["version", "status", "metrics"] * 40 + ["version"]
        data = b"".join(json.dumps({"cmd": x, "n": i}).encode() + b"\n" for i, x in enumerate(cmds))
        c = self.a.connect()
        try:
            c.send(data)  # one write
            for i, x in enumerate(cmds):
                r = c.reply()
                self.assertIs(r["ok"], True, (i, r))
                self.assertIn(x, r, "reply %d is not the %s reply: %s" % (i, x, sorted(r)))
            # still open for more
            self.assertIs(c.request({"cmd": "version"})["ok"], True)
        finally:
            c.close()

    def test_pipelined_with_reload(self):
        # an asynchronous command in the middle keeps the order
        cmds = ["version", "reload", "status", "reload", "version"]
        c = self.a.connect()
        try:
            c.send(b"".join(json.dumps({"cmd": x}).encode() + b"\n" for x in cmds))
            for x in cmds:
                r = c.reply()
                self.assertIs(r["ok"], True, r)
                self.assertIn(x, r)
        finally:
            c.close()

    def test_pipelined_error_stops_the_rest(self):
        data = b'{"cmd":"version"}\n{"cmd":"version"}\n[]\n{"cmd":"version"}\n{"cmd":"version"}\n'
        c = self.a.connect()
        try:
            c.send(data)
            self.assertIs(c.reply()["ok"], True)
            self.assertIs(c.reply()["ok"], True)
            r = c.reply()
            self.assertEqual(r["error"]["code"], "bad_request")
            self.assertTrue(c.at_eof(), "requests after an error must not be answered")
        finally:
            c.close()

    def test_blank_lines_and_crlf(self):
        c = self.a.connect()
        try:
            c.send(b'\n\r\n\n{"cmd":"version"}\r\n\n')
            self.assertIs(c.reply()["ok"], True)
            c.send(b'{"cmd":"version"}\n')
            self.assertIs(c.reply()["ok"], True)
        finally:
            c.close()

    def test_byte_at_a_time(self):
        c = self.a.connect()
        try:
            for b in b'{"cmd":"version"}\n':
                c.send(bytes([b]))
                time.sleep(0.002)
            self.assertIs(c.reply()["ok"], True)
        finally:
            c.close()

    def test_split_across_writes(self):
        c = self.a.connect()
        try:
            c.send(b'{"cmd":"ver')
            time.sleep(0.05)
            c.send(b'sion"}\n{"cmd":')
            self.assertIs(c.reply()["ok"], True)
            time.sleep(0.05)
            c.send(b'"status"}\n')
            self.assertIs(c.reply()["ok"], True)
        finally:
            c.close()

    def test_slow_reader_gets_everything(self):
        # more replies than the agent buffers for one client: once the
        # client reads, the agent goes on, and every reply arrives in order
        n = 2000
        c = self.a.connect(timeout=30)
        try:
            c.send(b"".join(b'{"cmd":"status","i":%d}\n' % i for i in range(n)))
            time.sleep(1.0)
            self.a.status()  # others are served meanwhile
            for i in range(n):
                r = c.reply()
                self.assertIs(r["ok"], True, (i, r))
                self.assertIn("status", r)
            c.send({"cmd": "version"})
            self.assertIs(c.reply()["ok"], True)
        finally:
            c.close()

    def test_client_that_never_reads(self):
        # a client pipelines many requests and reads nothing: the agent must
        # keep serving others and must not buffer replies without limit
        hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hog.connect(self.a.socket)
        hog.setblocking(False)
        st0 = self.a.status()
        req = b'{"cmd":"status"}\n' * 1000
        sent, blocked_since = 0, None
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and sent < (16 << 20):
            try:
                sent += hog.send(req)
                blocked_since = None
            except BlockingIOError:
                blocked_since = blocked_since or time.monotonic()
                if time.monotonic() - blocked_since > 0.5:
                    break  # the agent stopped reading us
                time.sleep(0.01)
        st = self.a.status()  # another client is still served
        grew = st["rss_bytes"] - st0["rss_bytes"]
        answered = st["socket"]["requests"] - st0["socket"]["requests"]
        hog.close()
        self.a.wait_for(lambda s: s["socket"]["open"] == 1, 10, "the hog's connection to close")
        self.assertLess(grew, 64 << 20, "RSS grew by %d bytes for one client that does not read "
                        "(%d bytes of requests sent, %d handled)" % (grew, sent, answered))
        # it stopped handling the hog's requests once ~1 MiB of replies waited
        self.assertLess(answered, 20000, "%d requests handled for a client that reads nothing" % answered)


if __name__ == "__main__":
    scoutlib.main()
