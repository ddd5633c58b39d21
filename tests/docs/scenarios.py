"""The scenarios that docs/*.md's ```sh blocks run in (check_doc_examples.py
says how a block names one and how to add one). Each sets up what its
block needs, lets the runner run the block's lines as written, and checks
something the page says those commands do."""
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import traceback

import scoutlib
import scoutprint

TOP = scoutlib.TOP
PASSWORD = "correct horse battery staple 9"  # what $PASSWORD holds, and what the user types
NEW_PASSWORD = "tr0ubadour & new staple"
FAST_KDF = "kdf_cost = 12\n"  # scrypt at 4 MiB: the doc's commands, not the KDF, are under test

SCENARIOS = {}


class Scenario:
    def __init__(self, name, fn, mounts):
        self.name, self.fn, self.mounts = name, fn, mounts


def scenario(name, mounts=()):
    """Registers a generator function as the scenario NAME; mounts are the
    directories it may write, each replaced by a fresh empty one."""
    def deco(fn):
        SCENARIOS[name] = Scenario(name, fn, list(mounts))
        return fn
    return deco


class Skip(Exception):
    """Raised by a scenario that cannot run here (a missing tool)."""


class Ran:
    in_block = False  # a line of the doc's block, not one the scenario ran

    def __init__(self, line, expected, p):
        self.line, self.expected = line, expected
        self.returncode, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr

    @property
    def ok(self):
        return self.returncode == self.expected

    def __repr__(self):
        return "%s (exit %d)\n--- stdout\n%s--- stderr\n%s" % (self.line, self.returncode, self.stdout[-3000:],
                                                             self.stderr[-3000:])


class Results(list):
    def ran(self, text):
        """The first line run that contains text."""
        for r in self:
            if text in r.line:
                return r
        raise AssertionError("no line containing %r in the block" % text)

    def out(self, text):
        return self.ran(text).stdout


class Outcome:
    def __init__(self):
        self.results, self.problems, self.skip = Results(), [], None


class _Agent(scoutlib.Agent):
    """scoutd with extra environment (CREDENTIALS_DIRECTORY)."""
    extra_env = {}

    def _popen(self, args, log_path):
        cmd = [scoutlib.SCOUTD, "-c", self.config_path] if args is None else [scoutlib.SCOUTD] + args
        with open(log_path, "wb") as log:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                                 env=dict(scoutlib.ENV, **self.extra_env))
        scoutlib._live.append(p)
        return p


class Example:
    """What a scenario works with: agents it starts, the environment and
    stdin of the block's lines, and its checks."""

    def __init__(self, outcome, expected_exit):
        self.tmp = scoutlib.make_tmpdir()
        self.agents = []
        self.outcome = outcome
        self.expected_exit = expected_exit
        self.stdin = ""
        self.env = dict(scoutlib.ENV)
        for k in ("BASH_ENV", "ENV", "CDPATH"):
            self.env.pop(k, None)
        bins = [os.path.dirname(os.path.abspath(scoutlib.SCOUTCTL)), os.path.dirname(os.path.abspath(scoutlib.SCOUTD))]
        self.env["PATH"] = os.pathsep.join(bins + [self.env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")])

    # ---- scoutd --------------------------------------------------------

    def agent(self, config, state_dir=None, socket_path=None, env=None):
        """A started scoutd on config ([agent] state_dir and status_socket
        are filled in unless config has its own [agent]), env added to its
        environment."""
        tmp = scoutlib.make_tmpdir()
        state_dir = state_dir or os.path.join(tmp, "state")
        if "[agent]" not in config:
            config = scoutlib.config_text(state_dir, socket_path, log_level="info") + "\n" + config
        a = _Agent(tmp=tmp, config=config, state_dir=state_dir, socket_path=socket_path)
        a.extra_env = env or {}
        self.agents.append(a)
        a.start()
        return a

    def print_agent(self):
        """scoutd with the vault (unlocked with PASSWORD) and the IPP queue."""
        why = scoutprint.missing_modules()
        if why:
            raise Skip(why)
        a = scoutprint.PrintAgent(vault_extra=FAST_KDF)
        self.agents.append(a)
        a.start()
        a.init_vault(PASSWORD)
        a.wait_accepting()
        return a

    def submit(self, a, body, user="alice", name="report.pdf"):
        """Prints body to a's IPP queue as user; returns the held job's id."""
        r = a.client().print_job(body, user=user, name=name, format="application/octet-stream")
        self.expect(r.ok, "Print-Job as %s: %s" % (user, r.status_name))
        job_id = r.job["job-id"]
        a.wait_for_job(lambda j: j["id"] == job_id and j["state"] == "held")
        return job_id

    # ---- the block -----------------------------------------------------

    def talk_to(self, agent):
        self.env["SCOUT_SOCKET"] = agent.socket

    def setup(self, agent=None, env=None, stdin=""):
        """Called in the scenario's yield, once set up: the block's lines
        talk to agent (SCOUT_SOCKET), with env added, and read stdin (what
        the user types)."""
        if agent is not None:
            self.talk_to(agent)
        self.env.update(env or {})
        self.stdin = stdin

    def run(self, line, stdin=None, exit=None):
        """Runs one line as the block's lines run (bash -c, a new session, the
        scenario's environment); records it and returns its Ran."""
        p = subprocess.run(["bash", "-c", line], env=self.env, cwd=self.tmp, capture_output=True, text=True,
                           input=self.stdin if stdin is None else stdin, timeout=120, start_new_session=True)
        r = Ran(line, self.expected_exit(line) if exit is None else exit, p)
        self.outcome.results.append(r)
        if not r.ok:
            self.outcome.problems.append("exit %d, expected %d: %r" % (r.returncode, r.expected, r))
        probs = scoutlib.sanitizer_problems(r.stderr)
        if probs:
            self.outcome.problems.append("sanitizer report from %s: %s" % (line, probs))
        return r

    def expect(self, cond, msg):
        if not cond:
            raise AssertionError(msg)

    def cleanup(self):
        for a in self.agents:
            a.cleanup()
            for name, text in a.all_logs():
                probs = scoutlib.sanitizer_problems(text)
                if probs:
                    self.outcome.problems.append("sanitizer report in %s/%s: %s" % (a.tmp, name, probs))


class _Fresh:
    """Bind-mounts a fresh empty directory over each path (the path made,
    empty, if absent) for the life of the with block. Only ever used in
    the runner's private mount namespace."""

    def __init__(self, paths):
        self.paths, self.mounted, self.holder = paths, [], None

    def __enter__(self):
        if self.paths:
            # on disk, not tmpfs: systemd-creds refuses a host key on a tmpfs
            self.holder = tempfile.mkdtemp(prefix="scout-doc-mounts-", dir="/var/tmp")
        for i, path in enumerate(self.paths):
            src = os.path.join(self.holder, str(i))
            os.mkdir(src, 0o755)
            os.makedirs(path, exist_ok=True)
            subprocess.run(["mount", "--bind", src, path], check=True, capture_output=True)
            self.mounted.append(path)
        return self

    def __exit__(self, *exc):
        for path in reversed(self.mounted):
            subprocess.run(["umount", "-l", path], check=False)
        if self.holder:
            shutil.rmtree(self.holder, ignore_errors=True)


def run_block(sc, lines, expected_exit):
    """Runs one block's lines in scenario sc; returns an Outcome."""
    out = Outcome()
    try:
        with _Fresh(sc.mounts):
            _run_block(sc, lines, expected_exit, out)
    except (OSError, subprocess.CalledProcessError) as e:
        out.problems.append("cannot mount fresh directories over %s: %s %s" % (" ".join(sc.mounts), e,
                                                                              getattr(e, "stderr", "") or ""))
    return out


def _run_block(sc, lines, expected_exit, out):
    ex = Example(out, expected_exit)
    gen = sc.fn(ex)
    try:
        try:
            next(gen)
        except Skip as e:
            out.skip = str(e)
            return
        first = len(out.results)  # after what the scenario ran to set up
        for line in lines:
            ex.run(line).in_block = True
        try:
            gen.send(Results(out.results[first:]))
        except StopIteration:
            pass
        else:
            out.problems.append("scenario %s yields more than once" % sc.name)
    except AssertionError as e:
        out.problems.append("%s\n%s" % (e, "\n".join(repr(r) for r in out.results)))
    except Exception:  # noqa: BLE001 (a broken scenario is a failure to report, not a crash)
        out.problems.append(traceback.format_exc())
    finally:
        gen.close()
        ex.cleanup()


def doc_block(doc, lang, containing=""):
    """The first ```lang block of docs/DOC holding containing, as written."""
    text = open(os.path.join(TOP, "docs", doc), encoding="utf-8").read()
    for block in re.split(r"^\s*```%s\n" % lang, text, flags=re.M)[1:]:
        block = block.split("```", 1)[0]
        if containing in block:
            return block
    raise AssertionError("no ```%s block with %r in docs/%s" % (lang, containing, doc))


def vault_status(ex):
    r = ex.run("scoutctl vault status --json")
    return json.loads(r.stdout)["vault"]


# ---- docs/config.md ----------------------------------------------------

@scenario("check-config", mounts=["/etc/scout"])
def check_config(ex):
    """`scoutd --check-config -c /etc/scout/scoutd.conf` on the page's own
    example file is silent; with a bad key it names FILE:LINE and exits 1."""
    conf = "/etc/scout/scoutd.conf"
    good = doc_block("config.md", "ini", "[agent]")
    with open(conf, "w") as f:
        f.write(good)
    results = yield ex.setup()
    r = results.ran("--check-config")
    ex.expect((r.stdout + r.stderr).strip() == "", "a good file: not silent: %r" % r)
    with open(conf, "a") as f:
        f.write("interval_typo = 30s\n")
    r = ex.run(results[0].line, exit=1)
    where = "%s:%d:" % (conf, good.count("\n") + 1)
    ex.expect(r.stdout.startswith(where) or r.stderr.startswith(where),
              "a bad key: no %s line: %r" % (where, r))


# ---- docs/users.md -----------------------------------------------------

@scenario("users-file", mounts=["/etc/scout"])
def users_file(ex):
    """`printf 'alice:%s\\n' "$(openssl passwd -6)" >> /etc/scout/users` with
    the password typed (twice: openssl asks again) makes an account that
    scoutd, on the page's own [users] section, accepts with that password
    and no other."""
    results = yield ex.setup(stdin=PASSWORD + "\n" + PASSWORD + "\n")
    with open("/etc/scout/users") as f:
        text = f.read()
    ex.expect(re.fullmatch(r"alice:\$6\$[^\n:]+\n", text), "/etc/scout/users is not one alice:$6$ line: %r" % text)
    a = ex.agent(doc_block("users.md", "ini", "[users]"))
    ex.talk_to(a)
    ex.expect(a.module("users")["state"] == "running", "users module: %r" % a.module("users"))
    r = ex.run("scoutctl users test alice", stdin=PASSWORD + "\n")
    ex.expect(r.stdout == "alice: password accepted\n", "the typed password is not accepted: %r" % r)
    r = ex.run("scoutctl users test alice --json", stdin="not the password\n")
    ex.expect('"accepted": false' in r.stdout, "another password is accepted: %r" % r)
    r = ex.run("scoutctl users")
    ex.expect(r.stdout.split() == ["USER", "HASH", "alice", "sha512crypt"], "scoutctl users: %r" % r)



# ---- docs/ldap.md ------------------------------------------------------

@scenario("ldap-operators")
def ldap_operators(ex):
    """docs/ldap.md's operators' commands against a throwaway slapd
    (tests/integration/ldaplib.py, LDAPS with a test CA): auth test accepts
    alice's password typed on stdin, user shows her mail and groups, user
    --card finds her by badge, status lists the server up; a wrong
    password is denied."""
    try:
        import ldaplib  # the directory: only this scenario needs slapd
    except ImportError:
        raise Skip("tests/integration/ldaplib.py is missing")
    why = ldaplib.slapd_missing()
    if why:
        raise Skip(why)
    ca = ldaplib.TestCA()
    s = ldaplib.Slapd(ca)
    try:
        s.start()
        tmp = scoutlib.make_tmpdir()
        a = ex.agent(ldaplib.ldap_section(tmp, ldaplib.LDAP_SVC_PW, schema="openldap", servers=s.ldaps_uri,
                                          ca_file=ca.ca, base=ldaplib.LDAP_BASE, bind_dn=ldaplib.LDAP_SVC_DN,
                                          card_attribute="employeeNumber"))
        ex.expect(a.module("ldap")["state"] == "running", "ldap module: %r\n%s" % (a.module("ldap"), a.log()))
        alice_pw = ldaplib.LDAP_USERS["alice"][0]
        results = yield ex.setup(a, stdin=alice_pw + "\n")
        ex.expect(results.out("auth test alice").startswith("alice: accepted\n"),
                  "auth test: %r" % results.ran("auth test alice"))
        user = results.out("scoutctl user alice")
        ex.expect("alice@scout.test" in user and "staff" in user, "scoutctl user alice: %r" % user)
        ex.expect(re.search(r"^user +alice$", results.out("--card 4711"), re.M),
                  "user --card 4711: %r" % results.ran("--card 4711"))
        ex.expect(re.search(r"^ldap +yes +running .*1 of 1 servers up; logins: 1 accepted, 0 refused", results.out("scoutctl status"),
                            re.M), "status: %r" % results.ran("scoutctl status"))
        r = ex.run("scoutctl auth test alice", stdin="not her password\n")
        ex.expect(r.stdout.startswith("alice: denied\n"), "a wrong password: %r" % r)
        ex.expect(alice_pw not in a.log(), "alice's password in scoutd's log")
    finally:
        s.cleanup()
        ca_dir = getattr(ca, "dir", None)
        if ca_dir:
            shutil.rmtree(ca_dir, ignore_errors=True)

# ---- docs/vault.md -----------------------------------------------------

def vault_config(key_file):
    return "[vault]\nenabled = yes\nkey_file = %s\n%s" % (key_file, FAST_KDF)


@scenario("vault-init")
def vault_init(ex):
    """On a new vault, `scoutctl vault init` with the password typed sets it
    and unlocks the daemon at once, writing key_file (0600, 32 bytes);
    `echo "$PASSWORD" | scoutctl vault init` is taken again; a wrong one
    is refused with the page's message; a restart starts unlocked."""
    key_file = os.path.join(ex.tmp, "vault.key")
    a = ex.agent(vault_config(key_file))
    ex.talk_to(a)
    ex.expect(vault_status(ex)["locked"], "a new vault is not locked")
    results = yield ex.setup(a, env={"PASSWORD": PASSWORD}, stdin=PASSWORD + "\n")
    ex.expect("vault unlocked" in results[0].stdout, "first init: %r" % results[0])
    ex.expect(not vault_status(ex)["locked"], "locked after vault init")
    st = os.stat(key_file)
    ex.expect((stat.S_IMODE(st.st_mode), st.st_size) == (0o600, 32), "key_file mode %o, %d bytes" %
              (stat.S_IMODE(st.st_mode), st.st_size))
    r = ex.run('echo "not $PASSWORD" | scoutctl vault init', exit=1)
    ex.expect("wrong password: it does not match the password this vault was set up with" in r.stderr,
              "a wrong password: %r" % r)
    rc, _ = a.stop()
    ex.expect(rc == 0, "scoutd exited %d on SIGTERM:\n%s" % (rc, a.log()))
    a.start()
    a.wait_for(lambda s: [m for m in s["modules"] if m["name"] == "vault"][0]["locked"] is False,
               what="the vault unlocked from key_file after a restart")


@scenario("vault-rotate")
def vault_rotate(ex):
    """`scoutctl vault rotate-key` with the new password typed: a job held
    before still reads back whole, the old password no longer opens the
    vault and the new one does."""
    a = ex.print_agent()
    body = os.urandom(100000)
    job = ex.submit(a, body)
    with open(a.key_file, "rb") as f:
        old_key = f.read()
    results = yield ex.setup(a, stdin=NEW_PASSWORD + "\n")
    ex.expect("site key rotated" in results[0].stdout, "rotate-key: %r" % results[0])
    with open(a.key_file, "rb") as f:
        ex.expect(f.read() != old_key, "key_file unchanged by a rotation")
    ex.expect(a.job_digest(job) == (len(body), hashlib.sha256(body).hexdigest()),
              "job %d does not read back after the rotation" % job)
    r = ex.run("echo '%s' | scoutctl vault init" % PASSWORD, exit=1)
    ex.expect("wrong password" in r.stderr, "the old password after a rotation: %r" % r)
    ex.run("echo '%s' | scoutctl vault init" % NEW_PASSWORD)


@scenario("vault-credential",
          mounts=["/var/lib/scout", "/run/scout", "/etc/credstore.encrypted", "/var/lib/systemd"])
def vault_credential(ex):
    """Step 1 of the key as a systemd credential, against a scoutd on
    /var/lib/scout with its socket at /run/scout/scoutd.sock: the key ends
    up only in /etc/credstore.encrypted/vault-key, and what systemd hands
    the unit from it (decrypted into $CREDENTIALS_DIRECTORY) opens the
    vault with the page's `key_file = %d/vault-key`."""
    if not shutil.which("systemd-creds"):
        raise Skip("systemd-creds is not installed")
    agent_conf = ("[agent]\nstate_dir = /var/lib/scout\nstatus_socket = /run/scout/scoutd.sock\n"
                  "log_level = info\n\n")
    a = ex.agent(agent_conf + "[vault]\nenabled = yes\n" + FAST_KDF, state_dir="/var/lib/scout",
                 socket_path="/run/scout/scoutd.sock")
    results = yield ex.setup(env={"PASSWORD": PASSWORD})
    ex.expect(not os.path.exists("/var/lib/scout/vault.key"), "/var/lib/scout/vault.key is still there")
    ex.expect(os.path.getsize("/etc/credstore.encrypted/vault-key") > 32, "no sealed credential")
    a.stop()
    creds = os.path.join(ex.tmp, "credentials")
    os.mkdir(creds, 0o700)
    ex.run("systemd-creds decrypt --name=vault-key /etc/credstore.encrypted/vault-key %s/vault-key" % creds)
    b = ex.agent(agent_conf + doc_block("vault.md", "ini", "%d/vault-key"), state_dir="/var/lib/scout",
                 socket_path="/run/scout/scoutd.sock", env={"CREDENTIALS_DIRECTORY": creds})
    b.wait_for(lambda s: [m for m in s["modules"] if m["name"] == "vault"][0]["locked"] is False,
               what="the vault unlocked by the credential")


@scenario("vault-operators")
def vault_operators(ex):
    """The operators' commands on a vault holding a job of alice ($JOB)
    and one of bob: the lists show it (--user alice only hers), `job`
    shows its storage, `vault verify` reads it back with the SHA-256 of
    what was printed, and `cancel` shreds its document at once."""
    a = ex.print_agent()
    body = b"%PDF-1.4\n% the operators' example\n" + os.urandom(2000)
    job = ex.submit(a, body, user="alice")
    other = ex.submit(a, b"bob's job", user="bob", name="bob.txt")
    results = yield ex.setup(a, env={"JOB": str(job)})
    ex.expect(str(job) in results.out("scoutctl jobs ") and "alice" in results.out("scoutctl jobs "),
              "scoutctl jobs does not list alice's job")
    mine = json.loads(results.out("--user alice --json"))
    ex.expect([j["id"] for j in mine] == [job], "jobs --user alice --json: %r" % mine)
    ex.expect(str(job) in results.out("jobs --all"), "jobs --all does not list the job")
    ex.expect(re.search(r"^storage +inline$", results.out('scoutctl job "$JOB"'), re.M),
              "scoutctl job: no storage line")
    sha = hashlib.sha256(body).hexdigest()
    everything = results.out("scoutctl vault verify ")
    ex.expect(re.search(r"^%d +%d +ok +%s$" % (job, len(body), sha), everything, re.M) and str(other) in everything,
              "vault verify does not read both jobs back")
    one = results.out("verify --id")
    ex.expect(re.search(r"^%d +%d +ok +%s$" % (job, len(body), sha), one, re.M) and str(other) not in one,
              "vault verify --id does not read that job alone")
    ex.expect("shredded" in results.out("cancel"), "cancel does not say it shredded")
    r = ex.run('scoutctl job "$JOB"')
    ex.expect(re.search(r"^storage +shredded$", r.stdout, re.M) and re.search(r"^state +canceled$", r.stdout, re.M),
              "after cancel the job is not a shredded tombstone: %r" % r)


@scenario("ipp-release")
def ipp_release(ex):
    """docs/ipp.md's release: two PDFs held for alice, ippeveprinter as the
    printer at $PRINTER (ipps, its key pinned on first use); releasing
    $JOB delivers that one, releasing without --job the other; what the
    printer kept is what alice printed and alice has nothing held."""
    import cupslib  # the printer: only this scenario needs CUPS
    why = cupslib.have_ippeveprinter()
    if why:
        raise Skip(why)
    pr = cupslib.IppEvePrinter(formats="application/pdf", command="/bin/true")
    try:
        pr.start()
        a = ex.print_agent()
        bodies = [b"%PDF-1.4\n% release example " + str(i).encode() + b"\n" + os.urandom(1500) for i in range(2)]
        jobs = [ex.submit(a, b, user="alice") for b in bodies]
        results = yield ex.setup(a, env={"PRINTER": "127.0.0.1:%d" % pr.port, "JOB": str(jobs[0])})
        ex.expect("1 delivered, 0 failed" in results.out("--job"), "release --job: %r" % results.ran("--job"))
        every = [r for r in results if "--job" not in r.line][0]
        ex.expect("1 delivered, 0 failed" in every.stdout, "release of every held job: %r" % every)
        kept = sorted(hashlib.sha256(open(f, "rb").read()).hexdigest() for f in pr.received()
                      if not f.endswith(".prn"))
        ex.expect(kept == sorted(hashlib.sha256(b).hexdigest() for b in bodies),
                  "the printer kept other bytes than alice printed")
        ex.expect(a.jobs("--user", "alice") == [], "alice still has jobs: %r" % a.jobs("--user", "alice"))
    finally:
        pr.cleanup()
