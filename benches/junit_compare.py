"""Compare the per-test outcomes of two JUnit XML files (pytest's xunit2 format).

    python3 benches/junit_compare.py REF.xml OURS.xml [--show N]

Every <testcase> is keyed by (classname, name) and mapped to its outcome:

    passed    no <failure>, <error> or <skipped> child
    failed    a <failure> child
    error     an <error> child (setup/teardown error, collection error)
    skipped   <skipped> whose type is not "pytest.xfail"
    xfailed   <skipped type="pytest.xfail">

A testcase can carry several of these at once; its outcome is then the set, written
"failed+error". pytest writes a test that fails in its call *and* errors in teardown as two
<testcase> elements with the same (classname, name) (one with <failure>, one with <error>);
a runner may instead write one element with both children. All elements sharing a key are
therefore merged into one outcome set, so both forms compare as "failed+error". Keys whose
number of <testcase> elements differs between the files are listed as a note (they do not
make the files "different").

Prints the totals of both files, how many outcomes are identical, the mismatches (with both
outcomes), the testcases missing in OURS and the extra ones in OURS (first N of each,
--show, default 20; -1 = all). Exit status: 0 if both files hold exactly the same testcases
with the same outcomes, 1 if they differ, 2 if a file cannot be read or parsed.

Importable: compare(ref_path, ours_path) -> dict (see its docstring). Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import sys
import xml.etree.ElementTree as ET

# Order in which the parts of a combined outcome are written ("failed+error").
OUTCOME_ORDER = ("passed", "failed", "error", "skipped", "xfailed")
XFAIL_TYPE = "pytest.xfail"


def parse_junit(path) -> dict:
    """Parse a JUnit XML file.

    Returns {"cases": OrderedDict[(classname, name) -> outcome string] (file order),
             "elements": Counter[(classname, name) -> number of <testcase> elements],
             "suites": [<testsuite> attributes]}.
    Raises OSError / xml.etree.ElementTree.ParseError (message prefixed with the path).
    """
    try:
        root = ET.parse(str(path)).getroot()
    except ET.ParseError as e:
        err = ET.ParseError(f"{path}: {e}")
        err.position = getattr(e, "position", None)
        raise err from None
    parts = collections.OrderedDict()
    elements = collections.Counter()
    suites = []
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]  # tolerate a namespace
        if tag == "testsuite":
            suites.append({k: el.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time")
                           if el.get(k) is not None})
        elif tag == "testcase":
            key = (el.get("classname", ""), el.get("name", ""))
            elements[key] += 1
            parts.setdefault(key, set()).update(_outcome_parts(el))
    cases = collections.OrderedDict((k, _outcome_str(v)) for k, v in parts.items())
    return {"cases": cases, "elements": elements, "suites": suites}


def _outcome_parts(tc) -> set:
    parts = set()
    for child in tc:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "failure":
            parts.add("failed")
        elif tag == "error":
            parts.add("error")
        elif tag == "skipped":
            parts.add("xfailed" if child.get("type") == XFAIL_TYPE else "skipped")
    return parts


def _outcome_str(parts: set) -> str:
    if not parts:
        return "passed"
    return "+".join(o for o in OUTCOME_ORDER if o in parts)


def testcase_outcome(tc) -> str:
    """Outcome string of one <testcase> element (see the module docstring)."""
    return _outcome_str(_outcome_parts(tc))


def key_str(key) -> str:
    """(classname, name) -> "classname::name"."""
    classname, name = key
    return f"{classname}::{name}" if classname else name


def compare(ref_path, ours_path) -> dict:
    """Compare two JUnit XML files. Raises OSError / ParseError if one cannot be read.

    Returns a JSON-able dict:
      ref_total, ours_total     number of distinct (classname, name) keys in each file
      identical                 number of keys present in both with the same outcome
      mismatched                [{"test", "classname", "name", "ref", "ours"}] (REF file order)
      missing                   [{"test", "classname", "name", "ref"}]  in REF, not in OURS
      extra                     [{"test", "classname", "name", "ours"}] in OURS, not in REF
      ref_counts, ours_counts   {outcome: number of keys}
      ref_elements, ours_elements   number of <testcase> elements
      element_count_differs     [{"test", "ref", "ours"}]: keys in both files whose number of
                                <testcase> elements differs (informational, not part of ok)
      ref_suites, ours_suites   <testsuite> attributes (tests/failures/errors/skipped/time)
      ok                        True iff nothing is mismatched, missing or extra
    """
    ref = parse_junit(ref_path)
    ours = parse_junit(ours_path)
    rc, oc = ref["cases"], ours["cases"]
    identical = 0
    mismatched, missing, extra, elem_diff = [], [], [], []
    for key, out_ref in rc.items():
        base = {"test": key_str(key), "classname": key[0], "name": key[1]}
        if key not in oc:
            missing.append({**base, "ref": out_ref})
            continue
        if oc[key] == out_ref:
            identical += 1
        else:
            mismatched.append({**base, "ref": out_ref, "ours": oc[key]})
        if ref["elements"][key] != ours["elements"][key]:
            elem_diff.append({"test": key_str(key), "ref": ref["elements"][key], "ours": ours["elements"][key]})
    for key, out_ours in oc.items():
        if key not in rc:
            extra.append({"test": key_str(key), "classname": key[0], "name": key[1], "ours": out_ours})
    return {
        "ref_path": str(ref_path),
        "ours_path": str(ours_path),
        "ref_total": len(rc),
        "ours_total": len(oc),
        "identical": identical,
        "mismatched": mismatched,
        "missing": missing,
        "extra": extra,
        "ref_counts": dict(collections.Counter(rc.values())),
        "ours_counts": dict(collections.Counter(oc.values())),
        "ref_elements": sum(ref["elements"].values()),
        "ours_elements": sum(ours["elements"].values()),
        "element_count_differs": elem_diff,
        "ref_suites": ref["suites"],
        "ours_suites": ours["suites"],
        "ok": not (mismatched or missing or extra),
    }


def _counts_str(counts: dict) -> str:
    keys = sorted(counts, key=lambda k: (len(k.split("+")), [OUTCOME_ORDER.index(p) for p in k.split("+")]))
    return ", ".join(f"{counts[k]} {k}" for k in keys) or "none"


def format_report(res: dict, show: int = 20, ref_label: str = "ref", ours_label: str = "ours") -> str:
    """Human-readable report of a compare() result; show = entries per list (-1: all)."""
    lim = None if show is None or show < 0 else show
    out = [
        f"total in {ref_label}:  {res['ref_total']}  ({_counts_str(res['ref_counts'])})",
        f"total in {ours_label}: {res['ours_total']}  ({_counts_str(res['ours_counts'])})",
        f"identical outcomes: {res['identical']}",
        f"mismatched: {len(res['mismatched'])}",
        f"missing in {ours_label}: {len(res['missing'])}",
        f"extra in {ours_label}: {len(res['extra'])}",
    ]
    if res["element_count_differs"]:
        out.append(f"note: {len(res['element_count_differs'])} test(s) written as a different number of "
                   f"<testcase> elements ({ref_label} {res['ref_elements']} elements, "
                   f"{ours_label} {res['ours_elements']}); outcomes merged per test")
    sections = (
        ("mismatched", lambda e: f"  {e['test']}: {ref_label}={e['ref']} {ours_label}={e['ours']}"),
        ("missing", lambda e: f"  {e['test']} ({ref_label}: {e['ref']})"),
        ("extra", lambda e: f"  {e['test']} ({ours_label}: {e['ours']})"),
        ("element_count_differs",
         lambda e: f"  {e['test']}: {e['ref']} element(s) in {ref_label}, {e['ours']} in {ours_label}"),
    )
    for field, fmt in sections:
        items = res[field]
        if not items or lim == 0:
            continue
        shown = items if lim is None else items[:lim]
        title = {"mismatched": "mismatched", "missing": f"missing in {ours_label}",
                 "extra": f"extra in {ours_label}",
                 "element_count_differs": "note: <testcase> element counts differ"}[field]
        more = f" (first {len(shown)} of {len(items)})" if len(shown) < len(items) else ""
        out.append("")
        out.append(f"{title}{more}:")
        out += [fmt(e) for e in shown]
    out.append("")
    out.append("IDENTICAL" if res["ok"] else "DIFFERENT")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref", help="reference JUnit XML (e.g. pytest --junitxml)")
    ap.add_argument("ours", help="JUnit XML to check (e.g. fastest --junitxml)")
    ap.add_argument("--show", type=int, default=20,
                    help="entries to list per category (default 20; 0 = none, -1 = all)")
    opts = ap.parse_args(argv)
    try:
        res = compare(opts.ref, opts.ours)
    except (OSError, ET.ParseError) as e:
        print(f"junit_compare: cannot read JUnit XML: {e}", file=sys.stderr)
        return 2
    print(format_report(res, opts.show))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
