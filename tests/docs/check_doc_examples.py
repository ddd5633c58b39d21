"""Every ```sh block of docs/*.md, run as written.

A reader copies these commands; each one must do what the page says. So
every line of every ```sh block (indented ones in lists too) runs, exactly
as written, with `bash -c LINE`, in the scenario that an HTML comment
right before the block names:

    <!-- example: vault-operators -->
    ```sh
    scoutctl job "$JOB"          # one job
    ```

A block without such a marker, or naming a scenario that does not exist,
fails this test: a new example cannot go unrun. (README.md's blocks are
run by check_commands.py.)

How a line runs: in a new session (no controlling terminal, so
`openssl passwd` and scoutctl read what a user would type from stdin),
with PATH starting with the directories of $SCOUTCTL and $SCOUTD,
SCOUT_SOCKET naming the scenario's scoutd, the variables the page's text
introduces ($PASSWORD, $JOB, ...), and the scenario's stdin (what the user
types at the prompts). It must exit 0, or N when the line ends with a
comment saying `exits N`. Lines ending in a backslash continue on the next;
comment-only and blank lines are skipped. Then the scenario checks, through
scoutd and the files, at least one thing the page says the commands do.

Paths under /etc, /var or /run: we run as root in a private mount
namespace (unshare(2), mounts made private), and a scenario names the
directories it writes (`mounts`); each gets a fresh empty directory bind-
mounted over it for that scenario only (made, empty, on the machine if
absent; nothing is written to the machine's own). Without root or a
namespace those scenarios are skipped, and the test exits 77 (meson: SKIP)
rather than pass with examples unrun.

Adding a scenario (tests/docs/scenarios.py, next to the others): a
generator function taking an Example `ex`, decorated with
@scenario("NAME", mounts=[...]) (mounts: only for paths it writes under
/etc, /var or /run), for instance for a release example in docs/ipp.md:

    @scenario("ipp-release")
    def ipp_release(ex):
        a = ex.print_agent()                   # scoutd: vault (unlocked) + ipp
        job = ex.submit(a, b"%PDF-1.4 ...", user="alice")   # held; its id
        results = yield ex.setup(a, env={"JOB": str(job)}, stdin="")
        ex.expect("delivered" in results.out("scoutctl release"), "...")
        r = ex.run('scoutctl job "$JOB"')      # one more line, run the same way
        ex.expect(...)

Before the `yield` it sets up: ex.agent(CONFIG) starts a scoutd (an
[agent] section is added unless CONFIG has one; doc_block(DOC, "ini",
TEXT) is a page's own config block), ex.print_agent() one that takes
jobs over IPP; raise Skip("why") when something it needs is missing.
ex.setup(agent, env, stdin) names the scoutd the lines talk to
(SCOUT_SOCKET), the variables the page introduces and what the user
types. The runner runs the block's lines and sends their results back
through the yield: a list of Ran (line, returncode, stdout, stderr), with
ran(TEXT) / out(TEXT) for the first line containing TEXT. Check with
ex.expect(cond, msg) and ex.run(line, stdin=, exit=). Agents started
through ex are killed afterwards and their logs checked for sanitizer
reports. Then put <!-- example: NAME --> right before the block.

Run by hand: SCOUTD=build/scoutd SCOUTCTL=build/scoutctl python3
tests/docs/check_doc_examples.py [--list] [DOC.md ...]
"""
import ctypes
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
for _var in ("SCOUTD", "SCOUTCTL"):  # scoutd runs in a temporary directory
    if os.environ.get(_var):
        os.environ[_var] = os.path.abspath(os.environ[_var])
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, HERE)

import scenarios  # noqa: E402 (needs the path above)

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*example:\s*(\S+)\s*-->\s*$")
SHELLS = ("sh", "bash", "shell")
EXITS = re.compile(r"#.*\bexits (\d+)\b")


class Block:
    def __init__(self, doc, line, scenario, lines):
        self.doc, self.line, self.scenario, self.lines = doc, line, scenario, lines

    def where(self):
        return "%s:%d" % (os.path.relpath(self.doc, TOP), self.line)


def sh_blocks(doc, text=None):
    """The ```sh (or bash, shell) blocks of a Markdown file: the line of
    the fence, the marker's scenario name or None, the block's commands."""
    if text is None:
        text = open(doc, encoding="utf-8").read()
    text = text.split("\n")
    blocks, i = [], 0
    while i < len(text):
        m = FENCE.match(text[i])
        if not m:
            i += 1
            continue
        indent, lang, start = len(m.group(1)), m.group(2), i
        i += 1
        body = []
        while i < len(text) and not re.match(r"^\s*```\s*$", text[i]):
            body.append(text[i][indent:] if text[i][:indent].strip() == "" else text[i])
            i += 1
        i += 1  # the closing fence
        if lang not in SHELLS:
            continue
        prev = start - 1
        while prev >= 0 and not text[prev].strip():
            prev -= 1
        mk = MARKER.match(text[prev]) if prev >= 0 else None
        blocks.append(Block(doc, start + 1, mk.group(1) if mk else None, commands(body)))
    return blocks


def commands(body):
    """The lines of a block that are commands, continuations joined."""
    out, cur = [], ""
    for line in body:
        if cur:
            cur += "\n" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            cur = line
        else:
            continue
        if not line.endswith("\\"):
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def expected_exit(line):
    m = EXITS.search(line.split("\n")[-1])
    return int(m.group(1)) if m else 0


def private_namespace():
    """Moves this process into a mount namespace of its own whose mounts do
    not propagate back; None when it did, else why not."""
    if os.geteuid() != 0:
        return "not root"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        return "unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno())
    p = subprocess.run(["mount", "--make-rprivate", "/"], capture_output=True, text=True)
    if p.returncode != 0:
        # still in our own namespace, but a mount here could reach the machine's
        return "mount --make-rprivate /: %s" % p.stderr.strip()
    return None


def self_check():
    """The parsing this test relies on, on a page made up for it."""
    page = ("<!-- example: a -->\n```sh\nx one   # comment\n\n# only a comment\ny \\\n  two  # exits 3\n```\n"
            "text\n```bash\nz\n```\n1. step\n\n   <!-- example: b -->\n\n   ```sh\n   w\n   ```\n"
            "```ini\n[x]\n```\n<!-- example: c -->\nprose between\n```sh\nv\n```\n")
    got = [(b.line, b.scenario, b.lines, [expected_exit(c) for c in b.lines]) for b in sh_blocks("page.md", page)]
    want = [(2, "a", ["x one   # comment", "y \\\n  two  # exits 3"], [0, 3]), (10, None, ["z"], [0]),
            (17, "b", ["w"], [0]), (25, None, ["v"], [0])]
    if got != want:
        sys.exit("check_doc_examples.py parses a page wrongly:\n got  %r\n want %r" % (got, want))


def main(argv):
    self_check()
    listing = "--list" in argv
    docs = [os.path.abspath(a) for a in argv if a != "--list"] or sorted(glob.glob(os.path.join(TOP, "docs", "*.md")))
    blocks = [b for d in docs for b in sh_blocks(d)]
    if listing:
        for b in blocks:
            print("%s  %s  %d lines" % (b.where(), b.scenario, len(b.lines)))
        return 0
    failures, skipped, ran = [], [], 0
    for b in blocks:
        if b.scenario is None:
            failures.append("%s: a ```sh block without <!-- example: SCENARIO --> right before it" % b.where())
        elif b.scenario not in scenarios.SCENARIOS:
            failures.append("%s: no scenario %r (tests/docs/scenarios.py has %s)" %
                            (b.where(), b.scenario, ", ".join(sorted(scenarios.SCENARIOS))))
        elif not b.lines:
            failures.append("%s: a ```sh block without a command" % b.where())
    runnable = [b for b in blocks if b.scenario in scenarios.SCENARIOS and b.lines]
    ns_problem = None
    if any(scenarios.SCENARIOS[b.scenario].mounts for b in runnable):
        ns_problem = private_namespace()
    for b in runnable:
        sc = scenarios.SCENARIOS[b.scenario]
        if sc.mounts and ns_problem:
            skipped.append("%s (%s): needs a private mount namespace for %s: %s" %
                           (b.where(), b.scenario, " ".join(sc.mounts), ns_problem))
            continue
        print("== %s: scenario %s" % (b.where(), b.scenario), flush=True)
        outcome = scenarios.run_block(sc, b.lines, expected_exit)
        if outcome.skip:
            skipped.append("%s (%s): %s" % (b.where(), b.scenario, outcome.skip))
            continue
        ran += 1
        for r in outcome.results:
            print("   %s %s%s (exit %d)" % ("ok  " if r.ok else "FAIL", "" if r.in_block else "(scenario) ",
                                           r.line.replace("\n", " "), r.returncode))
        if outcome.problems:
            failures.append("%s (%s):\n  %s" % (b.where(), b.scenario, "\n  ".join(outcome.problems)))
    for s in skipped:
        print("SKIP " + s)
    for f in failures:
        print("FAIL " + f)
    if failures:
        return "%d of %d sh examples in docs/*.md did not do what the page says" % (len(failures), len(blocks))
    if skipped or not ran:
        print("%d sh examples run, %d skipped: exit 77" % (ran, len(skipped)))
        return 77
    print("%d sh examples in docs/*.md run as written" % ran)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
