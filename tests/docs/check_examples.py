"""Every ```ini example in README.md and docs/*.md, as written, passes
`scoutd --check-config` silently: an example a reader copies is a file
scoutd takes without a word."""
import glob
import os
import subprocess
import sys
import tempfile

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
docs = [os.path.join(top, "README.md")] + sorted(glob.glob(os.path.join(top, "docs", "*.md")))
failures, checked = [], 0
with tempfile.TemporaryDirectory(prefix="scout-doc-") as tmp:
    for doc in docs:
        text = open(doc, encoding="utf-8").read()
        for n, block in enumerate(text.split("```ini\n")[1:], 1):
            block = block.split("```", 1)[0]
            path = os.path.join(tmp, "%s-%d.conf" % (os.path.basename(doc), n))
            with open(path, "w", encoding="utf-8") as f:
                f.write(block)
            p = subprocess.run([os.environ["SCOUTD"], "--check-config", "-c", path], capture_output=True, text=True)
            checked += 1
            out = (p.stdout + p.stderr).strip()
            if p.returncode != 0 or out:
                failures.append("%s, ini example %d (exit %d):\n%s" % (os.path.relpath(doc, top), n, p.returncode,
                                                                       out))
for f in failures:
    print(f)
if failures or not checked:
    sys.exit("%d of %d documented config examples do not pass --check-config" % (len(failures), checked))
print("%d documented config examples pass --check-config" % checked)
