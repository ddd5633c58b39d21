"""Real SNMP peers for tests and benchmarks: snmpsim serving the shared
printer recordings (one agent per 127.0.0.x address, community public) and
net-snmp's snmpd (a host that is not a printer, with an SNMPv3 user).

Everything listens on loopback only and is stopped by stop()."""

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


def _wait_udp(addr, port, community="public", timeout=60.0):
    """Waits until an SNMP GET of sysUpTime/sysDescr gets any answer."""
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
            try:
                s.sendto(pkt, (addr, port))
                s.recvfrom(65536)
                return True
            except (socket.timeout, ConnectionRefusedError, OSError):
                time.sleep(0.2)
    finally:
        s.close()
    return False


class Snmpsim:
    """snmpsimd with one recording per endpoint: first_ip + i for the i-th name."""

    def __init__(self, names, base="127.0.0.", first=20, port=1161, extra=None):
        self.names = list(names)
        self.base, self.first, self.port = base, first, port
        self.tmp = tempfile.mkdtemp(prefix="scout-snmpsim-")
        self.proc = None
        self.extra = extra or {}  # name -> snmprec text, for synthetic agents

    def ip(self, i):
        return "%s%d" % (self.base, self.first + i)

    def start(self):
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
        self.log = open(os.path.join(self.tmp, "snmpsimd.log"), "wb")
        args = [exe, "--v2c-arch", "--data-dir=" + data, "--cache-dir=" + cache] + eps
        if os.geteuid() == 0:
            args += ["--process-user=nobody", "--process-group=nogroup"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        if not _wait_udp(self.ip(0), self.port) or not _wait_udp(self.ip(len(self.names) - 1), self.port):
            self.stop()
            raise RuntimeError("snmpsimd did not answer; log in %s" % self.tmp)
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
        shutil.rmtree(self.tmp, ignore_errors=True)


class Snmpd:
    """net-snmp's snmpd on addr:port: community public, and an SNMPv3 user
    with SHA authentication and AES privacy."""

    V3_USER, V3_AUTH, V3_PRIV = "scoutv3", "auth-pass-123", "priv-pass-456"

    def __init__(self, addr="127.0.0.70", port=1161):
        self.addr, self.port = addr, port
        self.tmp = tempfile.mkdtemp(prefix="scout-snmpd-")
        self.proc = None

    def start(self):
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
        if not _wait_udp(self.addr, self.port):
            self.stop()
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
        shutil.rmtree(self.tmp, ignore_errors=True)


class Listener:
    """A UDP socket that counts every datagram sent to it (an excluded
    address must never receive one)."""

    def __init__(self, addr, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, port))
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
