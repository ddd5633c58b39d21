"""docs/config.md must hold exactly what `scoutd --config-reference` prints
between its GENERATED markers, so the reference never drifts from the
schema compiled into scoutd."""
import os
import subprocess
import sys

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
doc = open(os.path.join(top, "docs", "config.md"), encoding="utf-8").read()
begin = "<!-- BEGIN GENERATED: scoutd --config-reference -->\n"
end = "<!-- END GENERATED -->"
if begin not in doc or end not in doc:
    sys.exit("docs/config.md: the GENERATED markers are missing")
have = doc.split(begin, 1)[1].split(end, 1)[0]
want = subprocess.run([os.environ["SCOUTD"], "--config-reference"], capture_output=True, text=True,
                      check=True).stdout
if have != want:
    import difflib
    sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), want.splitlines(True), "docs/config.md",
                                               "scoutd --config-reference"))
    sys.exit("docs/config.md is out of date: regenerate the section with scoutd --config-reference")
print("docs/config.md matches scoutd --config-reference")
