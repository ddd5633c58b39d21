"""Real directory peers for the ldap module's integration tests (issue 11).

- TestCA: a throwaway CA and a server certificate for 127.0.0.1/localhost,
  made with openssl; a second TestCA is the "wrong" CA.
- SambaAD: Samba's Active Directory domain controller (Debian samba-ad-dc),
  provisioned ONCE into a template cached under /tmp (keyed by the samba
  version, the uid and this file's provisioning script; guarded by a lock
  file so parallel tests do not race), copied per test and run with
  `samba -i -M single` on 127.0.0.1 (LDAP 389, LDAPS 636).
- Slapd: a throwaway OpenLDAP slapd (mdb database seeded by slapadd) on
  ldap:// (StartTLS) and ldaps:// ports of 127.0.0.1, its debug log at
  level stats (every operation and the filter it received) in a file.
- Fault peers: a closed port, a listener that accepts and never answers,
  and a proxy that delays every chunk the server sends.

Samba binds 389/636 and scoutd must reach it on 127.0.0.1, so the test
files run in a private network namespace: private_netns() re-executes the
test under `unshare -n` (its loopback brought up) unless it runs in one
already; scoutd, the peers and scoutctl then share that namespace, and no
port outside it is touched.
"""

import atexit
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

import scoutlib

NETNS_ENV = "SCOUT_LDAP_NETNS"


# ---- the private network namespace ------------------------------------------

def _lo_up():
    """ip link set lo up, without iproute2: SIOCGIFFLAGS / SIOCSIFFLAGS."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifr))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))
    finally:
        s.close()


def private_netns(mounts=False):
    """Re-executes the calling test file inside a new network namespace
    (unshare -n as root, unshare -rn otherwise), where it brings up lo;
    with mounts, in a mount namespace too (a test's own /etc/resolv.conf).
    Exits 77 (skip) when no namespace can be made here."""
    if os.environ.get(NETNS_ENV) == "1":
        _lo_up()
        return
    unshare = shutil.which("unshare")
    flags = ("-n" if os.geteuid() == 0 else "-rn") + ("m" if mounts else "")
    if not unshare or subprocess.run([unshare, flags, "true"], capture_output=True).returncode != 0:
        print("SKIP: cannot make a private network namespace (unshare %s) for the directory peers" % flags,
              flush=True)
        sys.exit(scoutlib.EXIT_SKIPPED)
    os.environ[NETNS_ENV] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(unshare, [unshare, flags, "--", sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:])


def free_port():
    """A TCP port of 127.0.0.1 nobody listens on (in our namespace)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=30.0, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited with %d before listening on %d" % (what, proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s did not listen on 127.0.0.1:%d within %.0f s" % (what, port, timeout))


def _kill_group(p, sig=signal.SIGKILL):
    """Ends a process started with start_new_session and whatever it forked."""
    if p is None:
        return
    try:
        os.killpg(p.pid, sig)
    except OSError:
        pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass


_groups = []  # peers started in their own session, killed at exit


def _kill_all_groups():
    for p in _groups:
        if p.poll() is None:
            _kill_group(p)


atexit.register(_kill_all_groups)


def _spawn(cmd, log_path, cwd=None, env=None):
    with open(log_path, "ab") as log:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                             env=env or scoutlib.ENV, start_new_session=True)
    _groups.append(p)
    return p


def ldap_env(ca_file):
    """The environment for ldapsearch/ldapwhoami trusting ca_file only."""
    env = dict(scoutlib.ENV)
    env["LDAPTLS_CACERT"] = ca_file
    env["LDAPTLS_REQCERT"] = "demand"
    env["LDAPCONF"] = "/dev/null"
    env["LDAPRC"] = "/dev/null"
    return env


def ldap_tool(tool, ca_file, *args, timeout=30):
    """Runs ldapsearch/ldapwhoami/... (-x, one try); returns CompletedProcess."""
    return subprocess.run([tool, "-x", "-o", "nettimeout=5"] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=ldap_env(ca_file))


# ---- certificates -----------------------------------------------------------

class TestCA:
    """A CA (ca.pem) and a server certificate signed by it (server.pem,
    server.key, mode 0600) for IP:127.0.0.1, DNS:localhost and the DNS
    names given."""

    def __init__(self, name="scout test CA", dir=None, names=()):
        self.dir = dir or scoutlib.make_tmpdir(0o755)
        self.name = name
        self.names = list(names)
        self.ca = os.path.join(self.dir, "ca.pem")
        self.cert = os.path.join(self.dir, "server.pem")
        self.key = os.path.join(self.dir, "server.key")
        self._make()

    def _openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, cwd=self.dir, timeout=60)
        if p.returncode != 0:
            raise AssertionError("openssl %s failed:\n%s%s" % (args[0], p.stdout, p.stderr))

    def _make(self):
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                      "-days", "3650", "-subj", "/CN=" + self.name, "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
                      "/CN=localhost")
        with open(os.path.join(self.dir, "ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n" %
                    "".join(",DNS:" + n for n in self.names))
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", "server.pem", "-days", "3650", "-extfile", "ext.cnf")
        os.chmod(self.key, 0o600)
        os.chmod(os.path.join(self.dir, "ca.key"), 0o600)


# ---- Samba AD DC --------------------------------------------------------------

REALM = "SCOUT.TEST"
DOMAIN = "SCOUT"
DNS_DOMAIN = "scout.test"
BASE = "DC=scout,DC=test"
USERS_DN = "CN=Users," + BASE
ADMIN_PW = "Adm1n-Pass!x"
SVC_DN = "CN=scout-svc," + USERS_DN
SVC_PW = "Svc-Pass1!scout"

# name -> (password, given name, surname, mail)
AD_USERS = {
    "alice": ("Alice-Pass1!", "Alice", "Liddell", "alice@scout.test"),
    "bob": ("Bob-Pass1!", "Bob", "Builder", "bob@scout.test"),
    "dave": ("Dave-Pass1!", "Dave", "Disabled", None),
    "erin": ("Erin-Pass1!", "Erin", "Locked", None),
    "frank": ("Frank-Pass1!", "Frank", "Expired", None),
    "zoë": ("Zoë-Pass1!ü", "Zoë", "Ünlü", "zoe@scout.test"),
    "scout-svc": (SVC_PW, None, None, None),
}
AD_CARD = {"alice": "4711"}
PRINTING_DN = "CN=printing," + USERS_DN

# Run by samba's own python (python3-samba) against the template's
# sam.ldb while no samba runs: users, groups (bob in print-staff, itself
# in printing; alice in scanning), dave disabled, frank must change his
# password (pwdLastSet 0: AD answers a bind with data 773 and computes
# PASSWORD_EXPIRED), the domain's lockout policy.
_TEMPLATE_SCRIPT = r'''
import json, sys
import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
spec = json.load(open(sys.argv[3]))
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
base = str(db.domain_dn())
def dn(name):
    return db.search(base, ldb.SCOPE_SUBTREE, "(sAMAccountName=%s)" % ldb.binary_encode(name), ["dn"])[0].dn
def replace(d, **attrs):
    m = ldb.Message()
    m.dn = ldb.Dn(db, str(d))
    for k, v in attrs.items():
        m[k] = ldb.MessageElement(v, ldb.FLAG_MOD_REPLACE, k)
    db.modify(m)
for name, (pw, given, sur, mail) in spec["users"].items():
    db.newuser(name, pw, givenname=given, surname=sur, mailaddress=mail)
for name, card in spec["cards"].items():
    replace(dn(name), employeeNumber=card)
for g in ("printing", "print-staff", "scanning"):
    db.newgroup(g)
db.add_remove_group_members("printing", ["print-staff"], add_members_operation=True)
db.add_remove_group_members("print-staff", ["bob"], add_members_operation=True)
db.add_remove_group_members("scanning", ["alice"], add_members_operation=True)
db.disable_account("(sAMAccountName=dave)")
replace(dn("frank"), pwdLastSet="0")
# ten bad passwords lock an account for 30 days (erin is locked per copy;
# the tests of one file share a domain and give a few wrong passwords)
replace(base, lockoutThreshold="10", lockoutDuration=str(-36000000000 * 24 * 30),
        lockOutObservationWindow=str(-36000000000))
'''

# Run per copy, just before samba starts: erin locked out now.
_LOCK_SCRIPT = r'''
import sys, time
import ldb
from samba import unix2nttime
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
base = str(db.domain_dn())
m = ldb.Message()
m.dn = db.search(base, ldb.SCOPE_SUBTREE, "(sAMAccountName=erin)", ["dn"])[0].dn
m["lockoutTime"] = ldb.MessageElement(str(unix2nttime(int(time.time()))), ldb.FLAG_MOD_REPLACE, "lockoutTime")
db.modify(m)
'''


def samba_missing():
    """Why Samba AD cannot run here, or None."""
    for tool in ("samba", "samba-tool"):
        if not shutil.which(tool):
            return "%s is not installed (apt-get install samba-ad-dc samba-ad-provision)" % tool
    if not _samba_python():
        return "samba-tool's python cannot import samba (apt-get install python3-samba)"
    return None


def _samba_python():
    """The interpreter samba-tool runs with (its #! line): it has the samba
    bindings, which the test's own python3 may not."""
    try:
        with open(shutil.which("samba-tool")) as f:
            line = f.readline()
    except (OSError, TypeError):
        return None
    if not line.startswith("#!"):
        return None
    exe = line[2:].split()[0]
    return exe if os.access(exe, os.X_OK) else None


def _samba_version():
    p = subprocess.run(["samba", "--version"], capture_output=True, text=True, timeout=30)
    return re.sub(r"[^0-9A-Za-z.]+", "_", p.stdout.strip().replace("Version ", ""))


def _smb_conf(top, netbios, tls=None, extra=""):
    s = ("[global]\n"
         "\tnetbios name = %s\n\trealm = %s\n\tworkgroup = %s\n"
         "\tserver role = active directory domain controller\n"
         "\tserver services = ldap, cldap, kdc, rpc, drepl, kcc\n"
         "\tinterfaces = lo\n\tbind interfaces only = yes\n"
         "\tprivate dir = {t}/private\n\tlock directory = {t}\n\tstate directory = {t}/state\n"
         "\tcache directory = {t}/cache\n\tbinddns dir = {t}/bind-dns\n"
         # nothing in the system's /run or /var: another test's samba may
         # run at the same time (its own network namespace, the same files)
         "\tpid directory = {t}/run\n\tncalrpc dir = {t}/run/ncalrpc\n"
         "\twinbindd socket directory = {t}/run/winbindd\n\tntp signd socket directory = {t}/run/ntp_signd\n"
         "\tusershare path = {t}/usershares\n\tsmb passwd file = {t}/private/smbpasswd\n"
         "\tlog file = {t}/log.%%m\n\tlog level = 1\n\tmax log size = 0\n"
         % (netbios, REALM, DOMAIN)).format(t=top)
    if tls:
        s += "\ttls enabled = yes\n\ttls keyfile = %s\n\ttls certfile = %s\n\ttls cafile = %s\n" % (
            tls.key, tls.cert, tls.ca)
    s += extra
    s += "\n[sysvol]\n\tpath = {t}/state/sysvol\n\tread only = No\n".format(t=top)
    return s


NETBIOS = "SCOUTDC"


def samba_template():
    """The provisioned domain with its users, made once per samba version,
    uid and provisioning script, under /tmp; returns its directory. A lock
    file serializes makers; a marker file says the template is complete."""
    key = hashlib.sha256((_TEMPLATE_SCRIPT + repr(sorted(AD_USERS.items())) + repr(AD_CARD) + NETBIOS).encode())
    top = "/tmp/scout-samba-%s-%d-%s" % (_samba_version(), os.getuid(), key.hexdigest()[:12])
    ready = os.path.join(top, "ready")
    with open(top + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(ready):
            return top
        shutil.rmtree(top, ignore_errors=True)
        os.makedirs(top, mode=0o700)
        ad = os.path.join(top, "ad")
        t0 = time.monotonic()
        p = subprocess.run(["samba-tool", "domain", "provision", "--targetdir=" + ad, "--realm=" + REALM,
                            "--domain=" + DOMAIN, "--server-role=dc", "--dns-backend=NONE",
                            "--host-name=" + NETBIOS.lower(), "--adminpass=" + ADMIN_PW],
                           capture_output=True, text=True, timeout=300, env=scoutlib.ENV)
        if p.returncode != 0:
            raise AssertionError("samba-tool domain provision failed:\n%s%s" % (p.stdout[-3000:], p.stderr[-3000:]))
        conf = os.path.join(ad, "etc", "smb.conf")
        with open(conf, "w") as f:
            f.write(_smb_conf(ad, NETBIOS))
        spec = os.path.join(top, "spec.json")
        with open(spec, "w") as f:
            json.dump({"users": AD_USERS, "cards": AD_CARD}, f)
        p = subprocess.run([_samba_python(), "-c", _TEMPLATE_SCRIPT, conf, os.path.join(ad, "private", "sam.ldb"),
                            spec], capture_output=True, text=True, timeout=120, env=scoutlib.ENV)
        if p.returncode != 0:
            raise AssertionError("adding the test users failed:\n%s%s" % (p.stdout, p.stderr))
        with open(ready, "w") as f:
            f.write("provisioned in %.1f s\n" % (time.monotonic() - t0))
        return top


class SambaAD:
    """A copy of the template domain, served by samba on 127.0.0.1:389/636
    with tls's certificate. Only one can run per network namespace."""

    def __init__(self, tls):
        self.tls = tls
        self.dir = scoutlib.make_tmpdir(0o700)
        self.top = os.path.join(self.dir, "ad")
        self.conf = os.path.join(self.top, "etc", "smb.conf")
        self.proc = None
        self.log_path = os.path.join(self.dir, "samba.log")

    def start(self, timeout=90.0):
        t0 = time.monotonic()
        shutil.copytree(os.path.join(samba_template(), "ad"), self.top, symlinks=True)
        with open(self.conf, "w") as f:
            f.write(_smb_conf(self.top, NETBIOS, self.tls))
        p = subprocess.run([_samba_python(), "-c", _LOCK_SCRIPT, self.conf,
                            os.path.join(self.top, "private", "sam.ldb")], capture_output=True, text=True,
                           timeout=120, env=scoutlib.ENV)
        if p.returncode != 0:
            raise AssertionError("locking erin out failed:\n%s%s" % (p.stdout, p.stderr))
        self.proc = _spawn(["samba", "-i", "-s", self.conf, "-M", "single", "--debug-stdout"], self.log_path,
                           cwd=self.dir)
        try:
            wait_port(636, self.proc, timeout, "samba")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.log()))
        # LDAPS answers once the directory is loaded: the service account binds
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("samba exited with %d:\n%s" % (self.proc.returncode, self.log()))
            last = self.search("(sAMAccountName=alice)", "dn")
            if last.returncode == 0 and "CN=alice" in last.stdout:
                self.started_in = time.monotonic() - t0
                return self
            time.sleep(0.2)
        raise AssertionError("samba's LDAPS did not answer within %.0f s: %s%s\n%s" %
                             (timeout, last.stdout, last.stderr, self.log()))

    def search(self, filt, *attrs, bind_dn=SVC_DN, password=SVC_PW):
        return ldap_tool("ldapsearch", self.tls.ca, "-H", "ldaps://127.0.0.1", "-D", bind_dn, "-w", password, "-b",
                         BASE, "-LLL", filt, *attrs)

    def bind(self, who, password, uri="ldaps://127.0.0.1"):
        """A simple bind as who (a DN, user@domain or DOMAIN\\user), then a
        base search of the root DSE (Samba has no whoami operation);
        returns CompletedProcess: returncode 0 when the bind succeeded,
        49 with AD's "data 52e/533/775/773" in stderr when refused."""
        return ldap_tool("ldapsearch", self.tls.ca, "-H", uri, "-D", who, "-w", password, "-s", "base", "-b", "",
                         "-LLL", "(objectClass=*)", "dn")

    def log(self):
        out = []
        for name in ["samba.log"] + sorted(n for n in os.listdir(self.top) if n.startswith("log.")):
            path = os.path.join(self.dir if name == "samba.log" else self.top, name)
            try:
                with open(path, "rb") as f:
                    out.append("== %s\n%s" % (name, f.read()[-20000:].decode("utf-8", "replace")))
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGTERM)
            if self.proc.poll() is None:
                _kill_group(self.proc)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- OpenLDAP slapd ---------------------------------------------------------

LDAP_BASE = "dc=scout,dc=test"
LDAP_PEOPLE = "ou=people," + LDAP_BASE
LDAP_GROUPS = "ou=groups," + LDAP_BASE
LDAP_SVC_DN = "cn=scout,ou=services," + LDAP_BASE
LDAP_SVC_PW = "svc-Secret-42"
# uid -> (password, cn, mail, employeeNumber)
LDAP_USERS = {
    "alice": ("alice-Pw-1", "Alice Liddell", "alice@scout.test", "4711"),
    "bob": ("bob-Pw-2", "Bob Builder", "bob@scout.test", None),
    "admin": ("admin-Pw-3", "Site Admin", None, None),
    "carol": ("carol-Pw-4", "Carol Cash", None, None),
}
# group cn -> members
LDAP_GROUP_MEMBERS = {"printing": ["bob"], "staff": ["alice", "bob", "carol"]}
LDAP_PRINTING_DN = "cn=printing," + LDAP_GROUPS


def slapd_missing():
    for tool in ("slapd", "slapadd", "slappasswd", "ldapsearch", "ldapwhoami"):
        if not shutil.which(tool) and not os.access("/usr/sbin/" + tool, os.X_OK):
            return "%s is not installed (apt-get install slapd ldap-utils)" % tool
    return None


def _sbin(tool):
    return shutil.which(tool) or "/usr/sbin/" + tool


def ssha(password):
    return subprocess.run([_sbin("slappasswd"), "-h", "{SSHA}", "-s", password], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


_ldif_cache = None


def seed_ldif():
    """The directory: people (inetOrgPerson, {SSHA} passwords), the
    service account, groups (groupOfNames). Hashed once per process."""
    global _ldif_cache
    if _ldif_cache is not None:
        return _ldif_cache
    out = ["dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: scout\no: scout test\n" % LDAP_BASE]
    for ou in ("people", "groups", "services"):
        out.append("dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n" % (ou, LDAP_BASE, ou))
    out.append("dn: %s\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: scout\nsn: scout\n"
               "userPassword: %s\n" % (LDAP_SVC_DN, ssha(LDAP_SVC_PW)))
    for uid, (pw, cn, mail, card) in LDAP_USERS.items():
        e = ("dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\ndisplayName: %s\n"
             "userPassword: %s\n" % (uid, LDAP_PEOPLE, uid, cn, cn.split()[-1], cn, ssha(pw)))
        if mail:
            e += "mail: %s\n" % mail
        if card:
            e += "employeeNumber: %s\n" % card
        out.append(e)
    for g, members in LDAP_GROUP_MEMBERS.items():
        out.append("dn: cn=%s,%s\nobjectClass: groupOfNames\ncn: %s\n%s" %
                   (g, LDAP_GROUPS, g, "".join("member: uid=%s,%s\n" % (m, LDAP_PEOPLE) for m in members)))
    _ldif_cache = "\n".join(out)
    return _ldif_cache


class Slapd:
    """slapd on ldap://127.0.0.1:port (StartTLS) and ldaps://127.0.0.1:ldaps_port
    with tls's certificate (tls None: plain LDAP only), its stats log in
    self.log_path."""

    def __init__(self, tls, name="slapd"):
        self.tls = tls
        self.name = name
        self.dir = scoutlib.make_tmpdir(0o700)
        self.db = os.path.join(self.dir, "db")
        os.mkdir(self.db)
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.log_path = os.path.join(self.dir, "slapd.log")
        self.port = free_port()
        self.ldaps_port = free_port() if tls else None
        self.proc = None
        self._write_conf()
        self._seed()

    @property
    def uri(self):
        return "ldap://127.0.0.1:%d" % self.port

    @property
    def ldaps_uri(self):
        return "ldaps://127.0.0.1:%d" % self.ldaps_port

    def _write_conf(self):
        s = "".join("include /etc/ldap/schema/%s.schema\n" % n for n in ("core", "cosine", "inetorgperson", "nis"))
        s += "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        s += "pidfile %s/slapd.pid\nargsfile %s/slapd.args\n" % (self.dir, self.dir)
        if self.tls:
            s += "TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n" % (
                self.tls.ca, self.tls.cert, self.tls.key)
        s += ("database mdb\nmaxsize 10485760\nsuffix \"%s\"\nrootdn \"cn=admin,%s\"\nrootpw rootpw-unused-42\n"
              "directory %s\n"
              "index objectClass,uid,member eq\n"
              "access to attrs=userPassword by self write by anonymous auth by * none\n"
              "access to * by * read\n" % (LDAP_BASE, LDAP_BASE, self.db))
        with open(self.conf, "w") as f:
            f.write(s)

    def _seed(self):
        p = subprocess.run([_sbin("slapadd"), "-f", self.conf, "-b", LDAP_BASE], input=seed_ldif(),
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("slapadd failed:\n%s%s" % (p.stdout, p.stderr))

    def start(self, timeout=30.0):
        urls = self.uri + "/"
        if self.tls:
            urls += " " + self.ldaps_uri + "/"
        # -d 256 (stats): slapd stays in the foreground and logs each
        # connection, operation and the filter of each search to stderr
        self.proc = _spawn([_sbin("slapd"), "-d", "256", "-f", self.conf, "-h", urls], self.log_path, cwd=self.dir)
        for port in (self.port, self.ldaps_port):
            if port:
                wait_port(port, self.proc, timeout, self.name)
        return self

    def kill(self):
        """SIGKILL: the server vanishes, its connections are reset."""
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGTERM)
            if self.proc.poll() is None:
                _kill_group(self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def searches(self):
        """The filters of every search slapd received, as it logged them."""
        return re.findall(r' SRCH base="[^"]*" scope=\d deref=\d filter="(.*)"$', self.log(), re.M)

    def binds(self):
        """The DNs of every bind slapd received."""
        return re.findall(r' BIND dn="([^"]*)" method=\d+$', self.log(), re.M)

    def search(self, filt, *attrs, uri=None, starttls=False):
        args = ["-H", uri or (self.ldaps_uri if self.tls else self.uri)]
        if starttls:
            args.append("-ZZ")
        return ldap_tool("ldapsearch", self.tls.ca if self.tls else "/dev/null", *args, "-D", LDAP_SVC_DN, "-w",
                         LDAP_SVC_PW, "-b", LDAP_BASE, "-LLL", filt, *attrs)

    def whoami(self, dn, password, uri=None, starttls=False):
        args = ["-H", uri or (self.ldaps_uri if self.tls else self.uri)]
        if starttls:
            args.append("-ZZ")
        return ldap_tool("ldapwhoami", self.tls.ca if self.tls else "/dev/null", *args, "-D", dn, "-w", password)

    def cleanup(self):
        self.stop()


# ---- fault peers ------------------------------------------------------------

class Silent:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (keeps
    reading, so the peer's writes do not block either)."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self.stopping = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    @staticmethod
    def _drain(c):
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    def close(self):
        self.stopping = True
        try:
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.t.join(5)


class SlowProxy:
    """A TCP proxy on 127.0.0.1 in front of target_port that holds every
    chunk the server sends for delay seconds before passing it on (what a
    client sends goes through at once)."""

    def __init__(self, target_port, delay):
        self.target_port = target_port
        self.delay = delay
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.socks = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                s.settimeout(None)
            except OSError:
                c.close()
                continue
            self.socks += [c, s]
            threading.Thread(target=self._pipe, args=(c, s, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, self.delay), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, delay):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        try:
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.t.join(5)


def closed_port():
    """A port where nothing listens: a connect is refused at once."""
    return free_port()


# ---- scoutd with [ldap] -----------------------------------------------------

def ldap_section(tmp, password=None, **keys):
    """The [ldap] section: keys as given (None dropped), the service
    account's password in a 0600 file under tmp."""
    s = "\n[ldap]\nenabled = yes\n"
    if password is not None:
        path = os.path.join(tmp, "bind.pw")
        with open(path, "w") as f:
            f.write(password + "\n")
        os.chmod(path, 0o600)
        keys.setdefault("bind_password_file", path)
    for k, v in keys.items():
        if v is not None:
            s += "%s = %s\n" % (k, v)
    return s


def ldap_agent(test, password=None, **keys):
    """A scoutd (not started) with [ldap] as ldap_section makes it."""
    a = test.agent()
    with open(a.config_path) as f:
        conf = f.read()
    a.write_config(conf + ldap_section(a.tmp, password, **keys))
    return a


def module_missing():
    """Why scoutd cannot run these tests (no ldap module built), or None."""
    p = subprocess.run([scoutlib.SCOUTD, "--config-reference"], capture_output=True, text=True, timeout=30,
                       env=scoutlib.ENV)
    if "[ldap]" not in p.stdout:
        return "scoutd has no ldap module"
    return None


def auth(agent, user, password, *extra, timeout=60):
    """scoutctl auth test USER --json, the password on stdin; returns
    (reply dict or None, CompletedProcess)."""
    p = agent.ctl("auth", "test", user, "--json", *extra, input=password + "\n", timeout=timeout)
    try:
        return json.loads(p.stdout), p
    except ValueError:
        return None, p


def result_of(reply):
    """accepted, or the reason of a refusal, from auth test's JSON reply."""
    if reply is None:
        return None
    if "result" in reply:
        return reply["result"]
    if reply.get("ok") is True or reply.get("accepted") is True:
        return "accepted"
    return reply.get("reason")


def raw_result(reply):
    """accepted, a reason, or "error: CODE" from a raw status-socket reply
    to auth test (ok false there means the command itself failed)."""
    if reply.get("ok") is not True:
        return "error: %s" % (reply.get("error") or {}).get("code")
    body = dict(reply)
    del body["ok"]
    return result_of(body)


def ldap_status(agent):
    return agent.module("ldap")


def raw_auth(conn, user, password, source=None):
    """Sends an auth test request over a status-socket connection (bytes
    the command line cannot carry, e.g. NUL); does not wait."""
    req = {"cmd": "auth test", "user": user, "password": password}
    if source is not None:
        req["source"] = source
    conn.send(req)


def status_latencies(agent, n=20):
    """Round-trip times (s) of n status requests, one at a time, each on a
    fresh connection as scoutctl makes it."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = agent.connect(timeout=30)
        try:
            r = c.request({"cmd": "status"})
        finally:
            c.close()
        out.append(time.perf_counter() - t0)
        assert r.get("ok") is True, r
    return out


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2



class PeerTest(scoutlib.AgentTest):
    """An agent test with its own directory peers: each test's Slapd, Silent,
    SlowProxy... in self.peers goes (cleanup() or close()) before the
    agent's tear-down. Skipped without slapd or the module; cls.ca is the
    class's test CA."""

    @classmethod
    def setUpClass(cls):
        why = slapd_missing() or module_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ca = TestCA()

    def setUp(self):
        super().setUp()
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            (p.cleanup if hasattr(p, "cleanup") else p.close)()
        super().tearDown()

    def slapd(self, tls=True, name="slapd"):
        """A started slapd of this test (self.ca's TLS, or plain ldap:// only)."""
        s = Slapd(self.ca if tls else None, name)
        self.peers.append(s)
        return s.start()
