#!/usr/bin/env python3
"""Coverage on real projects: `fastest --cov=PKG --cov-report=term-missing` against
`pytest --cov=PKG --cov-report=term-missing` (pytest-cov) in the same run — the per-file
table (statements, misses, percentages, missing lines) must be identical with `-n 1`, with
`-n 2`, and on a second run served mostly from the cache — and the overhead of coverage
for each tool (its run with `--cov` against its run without).

Usage: python3 benches/coverage_compare.py [--corpus /tmp/corpus] [--projects a,b]
       [--fastest PATH] [--json bench-out/coverage.json]
(corpus from `bash ../shared/corpus/setup_corpus.sh /tmp/corpus public`).

pytest-cov 7.1.0 and coverage 7.13.0 are installed with `pip install --target
bench-out/cov-site --no-deps` and put on PYTHONPATH for every run (both tools use the same
coverage.py), so the corpus venvs stay untouched. One run per command; wall seconds.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from incremental_bench import pytest_args, timed  # noqa: E402

FASTEST = os.path.join(HERE, "..", "target", "release", "fastest")
COV_SITE = os.path.join(HERE, "..", "bench-out", "cov-site")
COV_PINS = ["pytest-cov==7.1.0", "coverage==7.13.0"]

# project -> the package measured (the import name; the corpus venvs install each project
# non-editable, so it is measured where the tests import it from).
PACKAGES = {
    "humanize": "humanize",
    "flask": "flask",
    "toolz": "toolz",
    "arrow": "arrow",
    "click": "click",
    "attrs": "attr",
    "async-lru": "async_lru",
    "more-itertools": "more_itertools",
    "pygments": "pygments",
    "packaging": "packaging",
}


def coverage_table(stdout):
    """The rows of the term-missing table (from `Name` to `TOTAL`), or None."""
    lines = stdout.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("Name ") and "Stmts" in l)
        end = next(i for i in range(start, len(lines)) if lines[i].startswith("TOTAL"))
    except StopIteration:
        return None
    return lines[start : end + 1]


def first_difference(a, b):
    if a is None or b is None:
        return "no table (%s)" % ("pytest" if a is None else "fastest")
    for x, y in zip(a, b):
        if x != y:
            return "pytest: %r / fastest: %r" % (x.strip(), y.strip())
    return "pytest %d rows, fastest %d rows" % (len(a), len(b))


def counts(stdout):
    lines = [l for l in stdout.strip().splitlines() if l.strip()]
    return lines[-1].strip("= ") if lines else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/tmp/corpus")
    ap.add_argument("--projects", default=",".join(PACKAGES))
    ap.add_argument("--fastest", default=FASTEST)
    ap.add_argument("--json", default=os.path.join(HERE, "..", "bench-out", "coverage.json"))
    args = ap.parse_args()
    fastest = os.path.abspath(args.fastest)
    rows = []
    for project in args.projects.split(","):
        root = os.path.join(args.corpus, project)
        src = os.path.join(root, "src")
        py = os.path.join(root, "venv", "bin", "python")
        if not os.path.isdir(src):
            print("skip %s: not in %s" % (project, args.corpus), file=sys.stderr)
            continue
        if not os.path.isdir(COV_SITE):
            subprocess.run(
                [py, "-m", "pip", "install", "-q", "--no-deps", "--target", COV_SITE] + COV_PINS, check=True
            )
        env = dict(os.environ, PYTHONPATH=COV_SITE)
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        pargs = pytest_args(os.path.join(root, "run.sh"))
        cov = ["--cov=" + PACKAGES[project], "--cov-report=term-missing"]
        pytest = [os.path.join(root, "venv", "bin", "pytest")] + pargs
        fast = [fastest] + pargs + ["--python", py]
        # Warm-up (page cache, fastest's summaries), then the measured runs.
        subprocess.run(fast + ["--no-cache"], cwd=src, env=env, capture_output=True)
        t_pytest, o_pytest = timed(pytest, src, env)
        t_pytest_cov, o_pytest_cov = timed(pytest + cov, src, env)
        ref = coverage_table(o_pytest_cov.stdout)
        t_fast, o_fast = timed(fast + ["--no-cache", "-n", "2"], src, env)
        results = {}
        for label, extra in (("n1", ["--no-cache", "-n", "1"]), ("n2", ["--no-cache", "-n", "2"]), ("warm", ["-n", "2"])):
            t, o = timed(fast + cov + extra, src, env)
            table = coverage_table(o.stdout)
            results[label] = {
                "seconds": t,
                "identical": table == ref and ref is not None,
                "difference": None if table == ref else first_difference(ref, table),
                "counts": counts(o.stdout),
                "exit": o.returncode,
            }
        row = {
            "project": project,
            "files": len(ref) - 3 if ref else 0,
            "total": ref[-1].split()[-1] if ref else None,
            "pytest": t_pytest,
            "pytest_cov": t_pytest_cov,
            "pytest_exit": (o_pytest.returncode, o_pytest_cov.returncode),
            "fastest": t_fast,
            "fastest_cov": results,
        }
        rows.append(row)
        print(
            "%s: pytest %.2f s, pytest --cov %.2f s | fastest %.2f s, --cov -n1 %.2f s, -n2 %.2f s, warm %.2f s (%s) | identical: %s"
            % (
                project,
                t_pytest,
                t_pytest_cov,
                t_fast,
                results["n1"]["seconds"],
                results["n2"]["seconds"],
                results["warm"]["seconds"],
                results["warm"]["counts"],
                ", ".join("%s=%s" % (k, v["identical"] or v["difference"]) for k, v in results.items()),
            ),
            flush=True,
        )
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)
    print()
    print("| project | files | total | pytest s | pytest --cov s | pytest-cov overhead | fastest -n 2 s | fastest --cov -n 2 s | fastest overhead | -n 1 | -n 2 | warm (cached) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        c = r["fastest_cov"]
        same = lambda k: "identical" if c[k]["identical"] else "DIFFERS"
        print(
            "| %s | %d | %s | %.2f | %.2f | %+.0f%% | %.2f | %.2f | %+.0f%% | %s | %s | %s, %.2f s (%s) |"
            % (
                r["project"],
                r["files"],
                r["total"],
                r["pytest"],
                r["pytest_cov"],
                100 * (r["pytest_cov"] / r["pytest"] - 1),
                r["fastest"],
                c["n2"]["seconds"],
                100 * (c["n2"]["seconds"] / r["fastest"] - 1),
                same("n1"),
                same("n2"),
                same("warm"),
                c["warm"]["seconds"],
                c["warm"]["counts"],
            )
        )


if __name__ == "__main__":
    main()
