"""The README's command examples, run as written: from a directory where
`build/` holds the scoutd and scoutctl under test, with scoutd on its
embedded default (state and socket in ./var, as `./tools/run` starts it)
and scoutd.conf the README's own ini example. The core's commands must
succeed (--check-config silently); the snmp, vault and ipp modules' commands, with those modules
off by default, must fail with a message that names the module. The two set-up commands (./tools/run,
./tools/test) are what CI itself runs and are left out."""
import os
import re
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
scoutd = os.environ["SCOUTD"]
text = open(os.path.join(top, "README.md"), encoding="utf-8").read()
commands = []
for block in text.split("```sh\n")[1:]:
    for line in block.split("```", 1)[0].splitlines():
        cmd = re.sub(r"\s+#.*$", "", line).strip()
        if cmd and not cmd.startswith("#") and not cmd.startswith("./tools/"):
            commands.append(cmd)
ini = text.split("```ini\n")[1].split("```", 1)[0]
failures = []
with tempfile.TemporaryDirectory(prefix="scout-readme-") as tmp:
    os.symlink(os.path.dirname(scoutd), os.path.join(tmp, "build"))
    with open(os.path.join(tmp, "scoutd.conf"), "w") as f:
        f.write(ini)
    env = {k: v for k, v in os.environ.items() if k != "SCOUT_SOCKET"}
    d = subprocess.Popen([scoutd], cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock = os.path.join(tmp, "var", "scoutd.sock")
        deadline = time.monotonic() + 30
        while not os.path.exists(sock) and time.monotonic() < deadline and d.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(sock):
            sys.exit("scoutd on its embedded default did not create ./var/scoutd.sock")
        for cmd in commands:
            # stdin holds a line for a command that reads a secret from it
            p = subprocess.run(["bash", "-c", cmd], cwd=tmp, env=env, capture_output=True, text=True, timeout=60,
                               input="readme-example-password\n")
            snmp = re.search(r"\b(scan|devices|device)\b", cmd)
            printing = re.search(r"\b(vault|jobs)\b", cmd)
            delivery = re.search(r"\b(release|printers)\b", cmd)
            if snmp:
                ok = p.returncode == 1 and "snmp" in p.stderr
            elif printing:  # off in the embedded default: the reply names the module
                ok = p.returncode == 1 and "module vault is disabled" in p.stderr
            elif delivery:
                ok = p.returncode == 1 and "module ipp is disabled" in p.stderr
            elif "--check-config" in cmd:  # "silent exit 0 when good"
                ok = p.returncode == 0 and (p.stdout + p.stderr).strip() == ""
            else:
                ok = p.returncode == 0 and p.stdout.strip() != ""
            print("%s %s (exit %d)" % ("ok  " if ok else "FAIL", cmd, p.returncode))
            if not ok:
                failures.append("%s: exit %d\n%s%s" % (cmd, p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    finally:
        d.terminate()
        d.wait(15)
for f in failures:
    print(f)
if failures or not commands:
    sys.exit("%d of %d README commands did not do what the README says" % (len(failures), len(commands)))
print("%d README commands run as written" % len(commands))
