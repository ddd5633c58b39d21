"""What the systemd tests share: named checks that print ok/FAIL/SKIP and
are summed up at the end, and a reader of unit files."""

failures = []
skipped = []


def skip(what):
    """A check that cannot run here: said as SKIP, counted in the summary."""
    print("SKIP " + what, flush=True)
    skipped.append(what)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def summary(name):
    """Prints the outcome; the exit status of the test (0 or 1)."""
    if failures:
        print(f"{len(failures)} check(s) failed:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(f"all {name} checks passed" + (f" ({len(skipped)} skipped: {'; '.join(skipped)})" if skipped else ""))
    return 0


def parse_unit(path):
    """{section: {key: [values in order]}}; an empty assignment resets a list,
    as in systemd."""
    units = {}
    sec = None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                sec = units.setdefault(line[1:-1], {})
                continue
            key, _, val = line.partition("=")
            key, val = key.strip(), val.strip()
            vals = sec.setdefault(key, [])
            if val == "" and key not in ("CapabilityBoundingSet", "AmbientCapabilities"):
                vals.clear()
            vals.append(val)
    return units
