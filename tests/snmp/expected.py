"""Compare device records with the shared printer set's expected values.

Field rules follow shared/testdata/printers/README.md: model compared
case-insensitively, ignoring blanks and a leading manufacturer name;
manufacturer may be the OEM brand or its parent vendor; level_percent may be
off by one; supplies are matched in index order.
"""
import json
import os
import re

PARENTS = {
    "Gestetner": "Ricoh", "Savin": "Ricoh", "Lanier": "Ricoh", "NRG": "Ricoh",
    "Develop": "Konica Minolta", "UTAX": "Kyocera", "TA Triumph-Adler": "Kyocera",
    "Fuji Xerox": "Fujifilm",
}


def norm_model(s, manufacturer):
    s = s.lower()
    for m in filter(None, [manufacturer, "hp", "brother"]):
        if s.startswith(m.lower() + " "):
            s = s[len(m) + 1:]
    return re.sub(r"\s+", "", s)


def compare(name, expect, dev):
    """Yields (field, ok, expected, got) for every asserted field."""
    for field, want in expect.items():
        got = dev.get(field) if dev else None
        if field == "supplies":
            gots = got or []
            for i, ws in enumerate(want):
                gs = gots[i] if i < len(gots) else {}
                for k, wv in ws.items():
                    gv = gs.get(k)
                    if k == "level_percent":
                        ok = isinstance(gv, int) and abs(gv - wv) <= 1
                    elif k == "description":
                        ok = isinstance(gv, str) and gv.strip() == wv.strip()
                    else:
                        ok = gv == wv
                    yield ("supplies[%d].%s" % (i, k), ok, wv, gv)
            continue
        if field == "meters" or field == "status":
            for k, wv in want.items():
                gv = (got or {}).get(k)
                yield ("%s.%s" % (field, k), gv == wv, wv, gv)
            continue
        if field == "model":
            ok = isinstance(got, str) and norm_model(got, expect.get("manufacturer")) == norm_model(want, expect.get("manufacturer"))
        elif field == "manufacturer":
            ok = got == want or (got is not None and PARENTS.get(want) == got) or PARENTS.get(got) == want
        elif field == "errors":
            ok = sorted(got or []) == sorted(want) and got is not None
        else:
            ok = got == want
        yield (field, ok, want, got)


def load_expected(testdata):
    out = {}
    for f in sorted(os.listdir(os.path.join(testdata, "expected"))):
        if f.endswith(".json"):
            with open(os.path.join(testdata, "expected", f)) as fh:
                out[f[:-5]] = json.load(fh)["expect"]
    return out


def score(expected, devices_by_name, verbose=True):
    """Returns (right, total, failures)."""
    right = total = 0
    failures = []
    for name, expect in expected.items():
        dev = devices_by_name.get(name)
        for field, ok, want, got in compare(name, expect, dev):
            total += 1
            right += ok
            if not ok:
                failures.append("%s: %s: expected %r, got %r" % (name, field, want, got))
    if verbose:
        for f in failures:
            print("  MISS " + f)
    return right, total, failures
