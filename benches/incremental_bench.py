#!/usr/bin/env python3
"""Incremental runs on real projects: wall time of pytest, fastest with and without
recording, a run where everything is cached, `run --changed` with no change, and
`run --changed` after editing one function body — and pytest-testmon on the same edit
(its recording run, no change, after the edit).

Usage: python3 benches/incremental_bench.py [--corpus /tmp/corpus] [--projects a,b]
(corpus from `bash ../shared/corpus/setup_corpus.sh /tmp/corpus public`). The edit
adds a no-op assignment to the body of one function per project (EDITS below), so every
outcome stays the same and only the selection is measured. Each command runs once after
an untimed warm-up run, but recording on and off: three alternating runs each, medians,
after a recording run has stored Python's collections (which `--no-record` reads too).

pytest-testmon (2.2.0, with coverage 7.13.0) is installed with `pip install --target
bench-out/testmon-site --no-deps` and put on PYTHONPATH for its runs only, so the corpus
venvs stay untouched (an installed plugin would change fastest's environment digest).
"""
import argparse
import os
import re
import statistics
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FASTEST = os.path.join(HERE, "..", "target", "release", "fastest")
TESTMON_SITE = os.path.join(HERE, "..", "bench-out", "testmon-site")
TESTMON_PINS = ["pytest-testmon==2.2.0", "coverage==7.13.0"]

# project -> (file under src/, function name or None for the first `def test_`): the
# function whose body gets edited. Test code, because the corpus venvs install each
# project non-editable: its own sources under src/ are not what the tests import.
EDITS = {
    "humanize": ("tests/test_number.py", None),
    "flask": ("tests/test_helpers.py", None),
    "attrs": ("tests/test_funcs.py", None),
    "arrow": ("tests/utils.py", "make_full_tz_list"),
    "click": ("tests/test_basic.py", None),
    "tomlkit": ("tests/test_api.py", None),
}


def pytest_args(run_sh):
    """The pytest arguments from the corpus run.sh (after `pytest`)."""
    text = open(run_sh).read()
    line = [l for l in text.splitlines() if "/pytest " in l][-1]
    words = shlex.split(line.split("/pytest ", 1)[1].replace('"$@"', ""))
    return words


def bench_env():
    """The environment the benchmarks run commands in: no PYTEST_ADDOPTS, and bytecode
    written as in a normal checkout."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def corpus_project(corpus, name):
    """(src directory, venv python, pytest arguments) of a corpus project."""
    root = os.path.join(corpus, name)
    return (os.path.join(root, "src"), os.path.join(root, "venv", "bin", "python"),
            pytest_args(os.path.join(root, "run.sh")))


def timed(cmd, cwd, env=None):
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, out


def last_line(out):
    lines = [l for l in out.stdout.strip().splitlines() if l.strip()]
    return lines[-1].strip("= ") if lines else out.stderr.strip()[-200:]


def edit_function(path, name):
    """Adds a no-op assignment as the first line of `def name(...)`'s body; returns the old text."""
    src = open(path).read()
    lines = src.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if re.match(r"\s*def %s\(" % (re.escape(name) if name else r"test_\w*"), line):
            j = i
            while not lines[j].rstrip().endswith(":"):
                j += 1
            indent = re.match(r"\s*", lines[j + 1]).group(0) or "    "
            # A fresh comment each time: content seen before would be a legitimate
            # cache hit (results are keyed by content), not a change.
            # A statement, not a comment: testmon (rightly) ignores comment-only edits.
            lines.insert(j + 1, indent + "_fastest_bench_edit = %d\n" % time.time_ns())
            open(path, "w").write("".join(lines))
            return src
    raise SystemExit("%s: no def %s" % (path, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="/tmp/corpus")
    # tomlkit is left out by default: its figures were first measured on their own.
    ap.add_argument("--projects", default=",".join(n for n in EDITS if n != "tomlkit"))
    ap.add_argument("--no-testmon", action="store_true", help="skip the pytest-testmon runs")
    ap.add_argument("--no-preload", action="store_true",
                    help="FASTEST_PRELOAD=0: every worker starts a fresh interpreter")
    args = ap.parse_args()
    env = bench_env()
    if args.no_preload:
        env["FASTEST_PRELOAD"] = "0"
    rows = []
    for name in args.projects.split(","):
        src, py, pargs = corpus_project(args.corpus, name)
        fast = [FASTEST, "--python", py] + pargs
        # Each command once untimed first: pyc files and fastest's code cache are warm.
        timed([py, "-m", "pytest"] + pargs + ["-q"], src, env)
        t_pytest, o = timed([py, "-m", "pytest"] + pargs + ["-q"], src, env)
        pytest_line = last_line(o)
        # Recording first: it stores Python's collections, which `--no-record` runs
        # then read too, so the two differ only by recording. Then three alternating
        # timed runs of each, medians (the VM is noisy).
        norec_cmd = fast + ["--no-record", "--no-cache", "-q"]
        rec_cmd = fast + ["--no-cache", "-q"]
        timed(rec_cmd, src, env)
        timed(norec_cmd, src, env)
        norec_times, rec_times = [], []
        for _ in range(3):
            norec_times.append(timed(norec_cmd, src, env)[0])
            t, o = timed(rec_cmd, src, env)
            rec_times.append(t)
        t_norec = statistics.median(norec_times)
        t_rec = statistics.median(rec_times)
        rec_line = last_line(o)
        t_cached, o = timed(fast + ["-q"], src, env)
        cached_line = last_line(o)
        changed = [FASTEST, "run", "--changed", "--python", py] + pargs + ["-q"]
        t_nochange, o = timed(changed, src, env)
        nochange_line = last_line(o)
        path, func = EDITS[name]
        original = edit_function(os.path.join(src, path), func)
        try:
            t_edit, o = timed(changed, src, env)
            edit_line = last_line(o)
        finally:
            open(os.path.join(src, path), "w").write(original)
        tm = testmon_runs(py, pargs, src, env, EDITS[name]) if not args.no_testmon else ("-",) * 6
        rows.append((name, t_pytest, pytest_line, t_norec, t_rec, rec_line, t_cached, cached_line, t_nochange, nochange_line, t_edit, edit_line) + tm)
        print(rows[-1], file=sys.stderr)
    print("| project | pytest s | fastest --no-record s | fastest recording s (overhead) | all cached s | --changed, no change s | --changed after editing one function s | selected after the edit | testmon first run s | testmon no change s | testmon after the edit s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        name, tp, pl, tn, tr, rl, tc, cl, tnc, ncl, te, el, tm1, _, tm2, _, tm3, _ = r
        print("| %s | %.2f | %.2f | %.2f (%+.0f%%) | %.2f | %.2f | %.2f | %s | %s | %s | %s |" % (
            name, tp, tn, tr, (tr / tn - 1) * 100, tc, tnc, te, el, fmt(tm1), fmt(tm2), fmt(tm3)))
    print()
    for r in rows:
        print("- %s: pytest `%s`; recording run `%s`; cached run `%s`; no change `%s`; after the edit `%s`; testmon first `%s`, no change `%s`, after the edit `%s`"
              % (r[0], r[2], r[5], r[7], r[9], r[11], r[13], r[15], r[17]))


def fmt(t):
    return "%.2f" % t if isinstance(t, float) else t


def testmon_runs(py, pargs, src, env, edit):
    """pytest --testmon: the recording run, a run with no change, a run after the edit."""
    if not os.path.isdir(TESTMON_SITE):
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--target", TESTMON_SITE] + TESTMON_PINS,
                       check=True)
    env = dict(env, PYTHONPATH=TESTMON_SITE)
    # testmon needs pytest's cacheprovider (it reads its --lf option).
    args = list(pargs)
    for i in range(len(args) - 1):
        if args[i] == "-p" and args[i + 1] == "no:cacheprovider":
            del args[i:i + 2]
            break
    cmd = [py, "-m", "pytest"] + args + ["-q", "--testmon"]
    for leftover in (".testmondata", ".testmondata-shm", ".testmondata-wal"):
        if os.path.exists(os.path.join(src, leftover)):
            os.remove(os.path.join(src, leftover))
    t_first, o = timed(cmd, src, env)
    first_line = last_line(o)
    t_same, o = timed(cmd, src, env)
    same_line = last_line(o)
    path, func = edit
    original = edit_function(os.path.join(src, path), func)
    try:
        t_edit, o = timed(cmd, src, env)
        edit_line = last_line(o)
    finally:
        open(os.path.join(src, path), "w").write(original)
    return (t_first, first_line, t_same, same_line, t_edit, edit_line)


if __name__ == "__main__":
    main()
