"""Real SNMP peers for tests and benchmarks: snmpsim serving the shared
printer recordings (one agent per 127.0.0.x address, community public) and
net-snmp's snmpd (a host that is not a printer, with an SNMPv3 user).

Everything listens on loopback only and is stopped by stop().

Ports are chosen per run, so two runs of the suite on one host do not
collide: Snmpsim and Snmpd take a port free on every address they serve
when none is given (read it back from .port), and on_free_port() starts
several peers that must share one port, trying another when a port taken
between the check and the bind makes a peer fail to start."""

import errno
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
TESTDATA = os.environ.get("SCOUT_TESTDATA") or os.path.join(os.path.dirname(TOP), "shared", "testdata", "printers")


def testdata_present():
    return os.path.isdir(os.path.join(TESTDATA, "snmprec")) and os.path.isdir(os.path.join(TESTDATA, "expected"))


def recordings():
    return sorted(f[:-8] for f in os.listdir(os.path.join(TESTDATA, "snmprec")) if f.endswith(".snmprec"))


class PortTaken(RuntimeError):
    """A peer could not bind its port: another process has it."""


def _family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def free_udp_port(addrs, avoid=()):
    """A UDP port free on every address of addrs (IPv4 or IPv6) right now:
    the kernel's pick for port 0 on the first, checked by binding the same
    number on the others. Not reserved: start the peer soon, and retry on
    PortTaken (on_free_port does)."""
    addrs = list(addrs)
    for _ in range(100):
        socks = []
        try:
            s = socket.socket(_family(addrs[0]), socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
            if port in avoid:
                continue
            for a in addrs[1:]:
                o = socket.socket(_family(a), socket.SOCK_DGRAM)
                socks.append(o)
                o.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            for o in socks:
                o.close()
    raise RuntimeError("no UDP port free on all of %s" % addrs)


def on_free_port(addrs, start, tries=5):
    """Calls start(port) with a port free on every address of addrs and
    returns what it returns; when start raises PortTaken (another process
    bound the port in between), start must have cleaned up, and another
    port is tried."""
    tried = []
    for _ in range(tries):
        port = free_udp_port(addrs, avoid=tried)
        try:
            return start(port)
        except PortTaken:
            tried.append(port)
    raise RuntimeError("ports %s were each taken before the peers could bind them" % tried)


def _wait_udp(addr, port, community="public", timeout=60.0, proc=None):
    """Waits until an SNMP GET of sysUpTime/sysDescr gets any answer; False
    at the timeout or as soon as proc (the peer) has exited."""
    # a v2c GET of 1.3.6.1.2.1.1.3.0 (sysUpTime), request-id 1
    c = community.encode()
    pdu = bytes.fromhex("a019020101020100020100300e300c06082b060102010103000500")
    msg = bytes([0x02, 0x01, 0x01, 0x04, len(c)]) + c + pdu
    pkt = bytes([0x30, len(msg)]) + msg
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                return False
            try:
                s.sendto(pkt, (addr, port))
                s.recvfrom(65536)
                return True
            except (socket.timeout, ConnectionRefusedError, OSError):
                time.sleep(0.2)
    finally:
        s.close()
    return False


def _log_says_taken(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    return "Address already in use" in text or "Error opening specified endpoint" in text


class Snmpsim:
    """snmpsimd with one recording per endpoint: first_ip + i for the i-th
    name, all on one port: the given one, or (None) one free on every
    address, read back from .port after start()."""

    def __init__(self, names, base="127.0.0.", first=20, port=None, extra=None):
        self.names = list(names)
        self.base, self.first, self.port = base, first, port
        self.tmp = tempfile.mkdtemp(prefix="scout-snmpsim-")
        self.proc = None
        self.extra = extra or {}  # name -> snmprec text, for synthetic agents

    def ip(self, i):
        return "%s%d" % (self.base, self.first + i)

    def addrs(self):
        return [self.ip(i) for i in range(len(self.names))]

    def start(self):
        if self.port is None:
            def attempt(port):
                self.port = port
                return self._start()
            try:
                return on_free_port(self.addrs(), attempt)
            except BaseException:
                self.port = None
                raise
        return self._start()

    def _start(self):
        if self.tmp is None:
            self.tmp = tempfile.mkdtemp(prefix="scout-snmpsim-")
        exe = shutil.which("snmpsimd") or shutil.which("snmpsim-command-responder")
        if not exe:
            raise RuntimeError("snmpsimd not installed (apt-get install snmpsim)")
        data = os.path.join(self.tmp, "data")
        os.makedirs(os.path.join(data, "public"))
        cache = os.path.join(self.tmp, "cache")
        os.makedirs(cache)
        eps = []
        for i, name in enumerate(self.names):
            dst = os.path.join(data, "public", "1.3.6.1.6.1.1.%d.snmprec" % i)
            if name in self.extra:
                with open(dst, "w") as f:
                    f.write(self.extra[name])
            else:
                shutil.copy(os.path.join(TESTDATA, "snmprec", name + ".snmprec"), dst)
            eps.append("--agent-udpv4-endpoint=%s:%d" % (self.ip(i), self.port))
        for root, dirs, files in os.walk(self.tmp):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o777)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        os.chmod(self.tmp, 0o755)
        log_path = os.path.join(self.tmp, "snmpsimd.log")
        self.log = open(log_path, "wb")
        args = [exe, "--v2c-arch", "--data-dir=" + data, "--cache-dir=" + cache] + eps
        if os.geteuid() == 0:
            args += ["--process-user=nobody", "--process-group=nogroup"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        if (not _wait_udp(self.ip(0), self.port, proc=self.proc) or
                not _wait_udp(self.ip(len(self.names) - 1), self.port, proc=self.proc)):
            self.log.flush()
            taken = self.proc.poll() is not None and _log_says_taken(log_path)
            with open(log_path, "rb") as f:
                tail = f.read()[-2000:].decode("utf-8", "replace")
            self.stop()
            if taken:
                raise PortTaken("snmpsimd: port %d is taken" % self.port)
            raise RuntimeError("snmpsimd did not answer on port %d:\n%s" % (self.port, tail))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


class Snmpd:
    """net-snmp's snmpd on addr:port: community public, and an SNMPv3 user
    with SHA authentication and AES privacy. port None: one free on addr,
    read back from .port after start()."""

    V3_USER, V3_AUTH, V3_PRIV = "scoutv3", "auth-pass-123", "priv-pass-456"

    def __init__(self, addr="127.0.0.70", port=None):
        self.addr, self.port = addr, port
        self.tmp = None
        self.proc = None

    def start(self):
        if self.port is None:
            def attempt(port):
                self.port = port
                return self._start()
            try:
                return on_free_port([self.addr], attempt)
            except BaseException:
                self.port = None
                raise
        return self._start()

    def _start(self):
        self.tmp = tempfile.mkdtemp(prefix="scout-snmpd-")
        exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
        if not os.access(exe, os.X_OK):
            raise RuntimeError("snmpd not installed (apt-get install snmpd)")
        conf = os.path.join(self.tmp, "snmpd.conf")
        with open(conf, "w") as f:
            if ":" in self.addr:
                f.write("agentAddress udp6:[%s]:%d\n" % (self.addr, self.port))
                f.write("rocommunity6 public ::1/128\n")
            else:
                f.write("agentAddress udp:%s:%d\n" % (self.addr, self.port))
                f.write("rocommunity public 127.0.0.0/8\n")
            f.write("createUser %s SHA \"%s\" AES \"%s\"\n" % (self.V3_USER, self.V3_AUTH, self.V3_PRIV))
            f.write("rouser %s priv\n" % self.V3_USER)
            f.write("sysLocation scout test bench\n")
            f.write("persistentDir %s\n" % self.tmp)
        env = dict(os.environ, SNMP_PERSISTENT_DIR=self.tmp, MIBS="")
        self.proc = subprocess.Popen([exe, "-f", "-Lf", os.path.join(self.tmp, "snmpd.log"), "-C", "-c", conf,
                                      "-p", os.path.join(self.tmp, "snmpd.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        if not _wait_udp(self.addr, self.port, proc=self.proc):
            log_path = os.path.join(self.tmp, "snmpd.log")
            taken = self.proc.poll() is not None and _log_says_taken(log_path)
            self.stop()
            if taken:
                raise PortTaken("snmpd: port %d on %s is taken" % (self.port, self.addr))
            raise RuntimeError("snmpd did not answer on %s:%d" % (self.addr, self.port))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


class Listener:
    """A UDP socket that counts every datagram sent to it (an excluded
    address must never receive one). Bound, it also holds the port on that
    address, so nothing else answers there while the test runs. port 0 (or
    None): a free one, read back from .port. Raises PortTaken when the port
    is in use."""

    def __init__(self, addr, port=0):
        self.sock = socket.socket(_family(addr), socket.SOCK_DGRAM)
        try:
            self.sock.bind((addr, port or 0))
        except OSError as e:
            self.sock.close()
            if e.errno == errno.EADDRINUSE:
                raise PortTaken("%s:%d is taken" % (addr, port)) from e
            raise
        self.addr, self.port = addr, self.sock.getsockname()[1]
        self.sock.setblocking(False)

    def count(self):
        n = 0
        while True:
            try:
                self.sock.recvfrom(65536)
                n += 1
            except BlockingIOError:
                return n

    def close(self):
        self.sock.close()


def listeners(addrs):
    """A Listener on each of addrs, all on one port free on every one of
    them (read it from any .port): silent addresses that no other process
    can answer for while the test runs. Close each when done."""
    def bind_all(port):
        out = []
        try:
            for a in addrs:
                out.append(Listener(a, port))
        except BaseException:
            for ls in out:
                ls.close()
            raise
        return out
    return on_free_port(addrs, bind_all)
