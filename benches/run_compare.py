"""Benchmark and compatibility check of a full test run: pytest vs pytest-xdist -n 2 vs fastest.

For every selected project under the corpus directory (default /tmp/corpus, every
subdirectory with a run.sh) this script

  * reads the project's pytest arguments ARGS from NAME/run.sh (collect_compare.parse_run_sh),
  * runs, from NAME/src, with PYTHONHASHSEED=0 and PYTEST_ADDOPTS unset (wall clock,
    median of --repeat runs, the three commands interleaved in each repetition):
      pytest   ../venv/bin/pytest -p no:cacheprovider ARGS --junitxml OUT/NAME/ref.xml
      xdist    ../venv/bin/pytest -p no:cacheprovider ARGS -n 2 --junitxml OUT/NAME/xdist.xml
      fastest  FASTEST --python ../venv/bin/python ARGS --junitxml OUT/NAME/ours.xml
    (--cold deletes src/.fastest_cache before every fastest run; by default it is left in
    place and the output says whether it existed),
  * compares the per-test outcomes of ours.xml (and xdist.xml) with ref.xml using
    junit_compare.compare (first repetition; later repetitions are checked for stability),
  * prints a Markdown table and writes bench-out/run_compare.json; per project,
    bench-out/run_compare/NAME/ keeps the JUnit files, report.txt and the logs.

A missing, failing or hanging fastest binary never crashes the script: its cells say error.
Standard library only, Python 3.8+.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect_compare import (  # noqa: E402  (bench helpers shared with the collection script)
    DEFAULT_CORPUS, DEFAULT_FASTEST, DEFAULT_OUT, base_env, environment_info, parse_run_sh,
    run_timed, tail,
)
import junit_compare  # noqa: E402

SIDES = ("pytest", "xdist", "fastest")
JUNIT_NAME = {"pytest": "ref", "xdist": "xdist", "fastest": "ours"}
LIST_LIMIT = 20  # differing tests kept per category in the JSON


# --------------------------------------------------------------------------- one project


def corpus_projects(corpus: Path):
    if not corpus.is_dir():
        return []
    return sorted(p.name for p in corpus.iterdir() if (p / "run.sh").is_file())


def junit_path(pdir: Path, side: str, rep: int) -> Path:
    """ref.xml for the first repetition, ref.rep2.xml, ref.rep3.xml, ... after."""
    base = JUNIT_NAME[side]
    return pdir / (f"{base}.xml" if rep == 0 else f"{base}.rep{rep + 1}.xml")


def run_project(name: str, proj: Path, fastest: str, opts) -> dict:
    src = proj / "src"
    cache_dir = src / ".fastest_cache"
    pdir = opts.out / opts.run_dir / name
    row = {"project": name, "cwd": str(src), "error": None, "sides": {}, "compare": None,
           "xdist_compare": None}

    def log(msg):
        if not opts.quiet:
            print(f"[{name}] {msg}", file=sys.stderr, flush=True)

    try:
        args = parse_run_sh(proj / "run.sh")
    except (ValueError, StopIteration, OSError) as e:
        row["error"] = f"cannot parse run.sh: {e}"
        return row
    row["args"] = args
    if pdir.exists():
        shutil.rmtree(pdir)
    pdir.mkdir(parents=True)
    env = base_env()

    pytest_base = ["../venv/bin/pytest", "-p", "no:cacheprovider"] + args
    cmds = {
        "pytest": lambda j: pytest_base + ["--junitxml", str(j)],
        "xdist": lambda j: pytest_base + ["-n", str(opts.xdist_n), "--junitxml", str(j)],
        "fastest": lambda j: ([fastest, "--python", "../venv/bin/python"] + opts.fastest_args + args
                              + ["--junitxml", str(j)]),
    }
    sides = [s for s in SIDES if not (s == "xdist" and opts.no_xdist)]
    fastest_ok = os.path.isfile(fastest) and os.access(fastest, os.X_OK)

    if opts.warmup:
        log("pytest --collect-only warm-up (untimed; writes __pycache__)")
        run_timed(pytest_base + ["--collect-only", "-q"], src, env, opts.timeout)
        if fastest_ok and not opts.cold:
            # Warm means warm for fastest too: a new build installs its harness, and a
            # first run with these options collects what Python collects and records it.
            # pytest's warm-up imports the test modules, so its timed run reads their
            # rewritten bytecode from __pycache__; fastest's compiled-code cache is filled
            # only by running them. With --no-cache (every test runs anyway) the warm-up
            # is therefore a whole untimed run; otherwise a stored pass would make the
            # timed run report cached tests, so it only collects.
            if "--no-cache" in opts.fastest_args or "--all" in opts.fastest_args:
                log("fastest warm-up run (untimed; fills the collection and compiled-code caches)")
                run_timed([fastest, "--python", "../venv/bin/python"] + opts.fastest_args + args
                          + ["-q"], src, env, opts.timeout)
            else:
                log("fastest --collect-only warm-up (untimed; fills the collection cache)")
                run_timed([fastest, "--python", "../venv/bin/python"] + opts.fastest_args + args
                          + ["--collect-only", "-q"], src, env, opts.timeout)

    runs = {s: [] for s in sides}
    hard_error = {s: None for s in sides}
    if not fastest_ok:
        hard_error["fastest"] = f"fastest binary missing or not executable: {fastest}"
    for rep in range(max(1, opts.repeat)):
        for side in sides:
            if hard_error[side]:
                continue
            j = junit_path(pdir, side, rep)
            cache_before = None
            if side == "fastest":
                if opts.cold:
                    shutil.rmtree(cache_dir, ignore_errors=True)
                cache_before = cache_dir.exists()
            log(f"{side} run {rep + 1}/{opts.repeat}")
            r = run_timed(cmds[side](j), src, env, opts.timeout)
            rec = {"rep": rep + 1, "rc": r.rc, "secs": round(r.secs, 4) if r.secs is not None else None,
                   "error": r.error, "junit": str(j), "junit_written": j.is_file()}
            if cache_before is not None:
                rec["cache_existed_before"] = cache_before
            runs[side].append(rec)
            if rep == 0:
                (pdir / f"{side}.log").write_text(
                    f"$ cd {src} && {' '.join(cmds[side](j))}\n# exit {r.rc} error {r.error} "
                    f"secs {r.secs}\n--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}\n")
                rec["output_tail"] = tail(r.stderr or r.stdout) if (r.rc != 0 or r.error) else None
            if r.error:
                hard_error[side] = r.error

    for side in sides:
        rs = runs[side]
        ok_times = [x["secs"] for x in rs if x["error"] is None]
        first = rs[0] if rs else {}
        row["sides"][side] = {
            "cmd": cmds[side](junit_path(pdir, side, 0)),
            "error": hard_error[side],
            "median_s": statistics.median(ok_times) if ok_times and not hard_error[side] else None,
            "times_s": ok_times,
            "rc": first.get("rc"),
            "exit_codes": [x["rc"] for x in rs],
            "runs": rs,
        }
    if "xdist" not in row["sides"]:
        row["sides"]["xdist"] = {"error": "skipped (--no-xdist)", "median_s": None, "rc": None}

    # ---- comparisons (first repetition)
    ref_xml = junit_path(pdir, "pytest", 0)
    row["compare"] = _compare_or_error(ref_xml, junit_path(pdir, "fastest", 0), row["sides"]["fastest"], "fastest")
    if "xdist" in sides:
        row["xdist_compare"] = _compare_or_error(ref_xml, junit_path(pdir, "xdist", 0), row["sides"]["xdist"], "xdist")
    for side in sides:
        row["sides"][side]["outcomes_stable"] = _stability(pdir, side, len(runs[side]))
    try:
        ref_cases = junit_compare.parse_junit(ref_xml)["cases"]
        row["ref_total"] = len(ref_cases)
        row["ref_counts"] = dict(collections.Counter(ref_cases.values()))
    except (OSError, junit_compare.ET.ParseError):
        row["ref_total"] = None
    if row["sides"]["pytest"]["error"] or not ref_xml.is_file():
        row["error"] = "pytest: " + (row["sides"]["pytest"]["error"] or "no JUnit file written")

    p, f, x = row["sides"]["pytest"], row["sides"]["fastest"], row["sides"]["xdist"]
    if f.get("median_s") and "error" not in row["compare"]:  # no speed-up without a JUnit result
        if p.get("median_s"):
            row["speedup_vs_pytest"] = p["median_s"] / f["median_s"]
        if x.get("median_s"):
            row["speedup_vs_xdist"] = x["median_s"] / f["median_s"]
    row["exit_code_matches"] = f.get("error") is None and f.get("rc") == p.get("rc")
    row["ok"] = (row["error"] is None and row["exit_code_matches"]
                 and bool(row["compare"]) and row["compare"].get("ok") is True)

    _write_report(pdir / "report.txt", name, row)
    for key in ("compare", "xdist_compare"):
        _trim(row.get(key))
    return row


def _compare_or_error(ref_xml: Path, ours_xml: Path, side: dict, label: str):
    if side.get("error"):
        return {"error": side["error"], "ok": False}
    try:
        return junit_compare.compare(ref_xml, ours_xml)
    except OSError as e:
        if not ours_xml.is_file() and ref_xml.is_file():
            return {"error": f"{label} wrote no JUnit file (exit {side.get('rc')})", "ok": False}
        return {"error": f"cannot read JUnit: {e}", "ok": False}
    except junit_compare.ET.ParseError as e:
        return {"error": f"cannot parse JUnit: {e}", "ok": False}


def _stability(pdir: Path, side: str, nruns: int):
    """None with a single repetition; else True if every repetition's outcomes equal the first's,
    or a short description of what changed."""
    if nruns < 2:
        return None
    first = junit_path(pdir, side, 0)
    problems = []
    for rep in range(1, nruns):
        other = junit_path(pdir, side, rep)
        try:
            c = junit_compare.compare(first, other)
        except (OSError, junit_compare.ET.ParseError) as e:
            problems.append(f"rep {rep + 1}: {type(e).__name__}")
            continue
        if not c["ok"]:
            changed = [e["test"] for e in c["mismatched"]] + [e["test"] for e in c["missing"] + c["extra"]]
            problems.append(f"rep {rep + 1}: {len(changed)} test(s) differ, e.g. {changed[0]}")
    return True if not problems else "; ".join(problems)


def _trim(c):
    if not c or "error" in c:
        return
    for k in ("mismatched", "missing", "extra", "element_count_differs"):
        c[f"n_{k}"] = len(c[k])
        c[k] = c[k][:LIST_LIMIT]


def _write_report(path: Path, name: str, row: dict):
    out = [f"# {name}: pytest vs fastest (and pytest-xdist) --junitxml outcomes", f"# cwd: {row['cwd']}"]
    if row.get("error"):
        out.append(f"# ERROR: {row['error']}")
    for side in SIDES:
        s = row["sides"].get(side, {})
        out.append(f"# {side}: exit {s.get('rc')}, median {s.get('median_s')} s, error {s.get('error')}, "
                   f"outcomes stable across repetitions: {s.get('outcomes_stable')}")
    for key, label in (("compare", "fastest"), ("xdist_compare", "xdist")):
        c = row.get(key)
        if c is None:
            continue
        out += ["", f"## ref (pytest) vs {label}"]
        if "error" in c:
            out.append(f"ERROR: {c['error']}")
        else:
            out.append(junit_compare.format_report(c, show=-1, ref_label="pytest", ours_label=label))
    for side in SIDES:
        runs = row["sides"].get(side, {}).get("runs") or []
        if runs and runs[0].get("output_tail"):
            out += ["", f"## {side} output tail (first run; full log: {side}.log)", runs[0]["output_tail"]]
    path.write_text("\n".join(out) + "\n")


# --------------------------------------------------------------------------- table


def _fmt_s(v):
    if not isinstance(v, (int, float)):
        return "error"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def _fmt_x(v, like_for_like):
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.2f}x" if like_for_like else f"({v:.2f}x)"


def markdown_table(rows) -> str:
    head = ("| project | tests (ref) | identical | mismatched | missing | extra | exit pytest/fastest | "
            "pytest s | xdist -n2 s | fastest s | speedup vs pytest | speedup vs xdist |")
    out = [head, "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        c = r.get("compare") or {}
        s = r.get("sides") or {}
        p, x, f = s.get("pytest", {}), s.get("xdist", {}), s.get("fastest", {})
        ref_total = r.get("ref_total")
        ref_cell = str(ref_total) if ref_total is not None else "-"
        if r.get("error"):
            cells = [ref_cell, "ERROR: " + r["error"].replace("|", "/"), "-", "-", "-"]
        elif "error" in c or not c:
            cells = [ref_cell, "error: " + str(c.get("error", "?")).replace("|", "/"), "-", "-", "-"]
        else:
            cells = [str(c["ref_total"]), str(c["identical"]), str(c["n_mismatched"]),
                     str(c["n_missing"]), str(c["n_extra"])]
        f_rc = "error" if f.get("error") else f.get("rc")
        exit_cell = (f"{p.get('rc')}/{f_rc}" + ("" if r.get("exit_code_matches") else " (differs)")) if s else "-"
        fair = bool(r.get("ok"))
        out.append("| " + " | ".join([r["project"]] + cells + [
            exit_cell, _fmt_s(p.get("median_s")),
            "-" if str(x.get("error", "")).startswith("skipped") else _fmt_s(x.get("median_s")),
            _fmt_s(f.get("median_s")),
            _fmt_x(r.get("speedup_vs_pytest"), fair), _fmt_x(r.get("speedup_vs_xdist"), fair),
        ]) + " |")
    return "\n".join(out)


def _counts(c: dict) -> str:
    return junit_compare._counts_str(c)


def details(rows, opts) -> str:
    out = ["Speed-up = pytest (or xdist) median s / fastest median s. In parentheses: fastest's "
           "outcomes or exit code differ from pytest's, so the number is not like-for-like.", ""]
    for r in rows:
        s = r.get("sides") or {}
        p, x, f = s.get("pytest", {}), s.get("xdist", {}), s.get("fastest", {})
        c, xc = r.get("compare") or {}, r.get("xdist_compare") or {}
        bits = [f"exit pytest={p.get('rc')} xdist={x.get('rc')} fastest={f.get('rc')}"]
        if r.get("ref_counts"):
            bits.append(f"pytest: {_counts(r['ref_counts'])}")
        if "ours_counts" in c:
            bits.append(f"fastest: {_counts(c['ours_counts'])}")
        elif c.get("error"):
            bits.append(f"fastest: {c['error']}")
        if "ref_total" in xc:
            bits.append("xdist vs pytest: " + ("identical" if xc["ok"] else
                        f"{xc['n_mismatched']} mismatched, {xc['n_missing']} missing, {xc['n_extra']} extra"))
        elif xc.get("error"):
            bits.append(f"xdist: {xc['error']}")
        cache = [run.get("cache_existed_before") for run in f.get("runs") or []]
        if cache and not opts.cold:
            bits.append(f".fastest_cache existed before fastest runs: {cache}")
        for side in SIDES:
            st = s.get(side, {}).get("outcomes_stable")
            if isinstance(st, str):
                bits.append(f"{side} NOT stable across repetitions ({st})")
        out.append(f"- {r['project']}: " + "; ".join(bits))
        if c.get("n_mismatched") or c.get("n_missing") or c.get("n_extra"):
            for e in c["mismatched"][:3]:
                out.append(f"    mismatched {e['test']}: pytest={e['ref']} fastest={e['ours']}")
            for e in c["missing"][:3]:
                out.append(f"    missing in fastest {e['test']} (pytest: {e['ref']})")
            for e in c["extra"][:3]:
                out.append(f"    extra in fastest {e['test']} (fastest: {e['ours']})")
        if r.get("error") or c.get("error"):
            runs = f.get("runs") or []
            t = runs[0].get("output_tail") if runs else None
            if t:
                out.append("    fastest output tail: " + " / ".join(t.splitlines()[-3:]))
    return "\n".join(out)


def cache_mode_line(opts) -> str:
    if opts.cold:
        return "fastest cache: COLD (src/.fastest_cache deleted before every fastest run)"
    return ("fastest cache: WARM (src/.fastest_cache left in place; whether it existed before each run "
            "is listed per project below; use --cold to delete it before every run)")


# --------------------------------------------------------------------------- main


def write_json(path: Path, info: dict, rows: list, table: str):
    path.write_text(json.dumps({"environment": info, "projects": rows, "table": table},
                               indent=2, default=str) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=DEFAULT_CORPUS, help=f"corpus directory (default {DEFAULT_CORPUS})")
    ap.add_argument("--projects", default="",
                    help="comma-separated project names (default: every corpus directory with a run.sh)")
    ap.add_argument("--fastest", default=DEFAULT_FASTEST, help=f"fastest binary (default {DEFAULT_FASTEST})")
    ap.add_argument("--repeat", type=int, default=1, help="timed repetitions per command; median reported (default 1)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before a single run is killed (default 900)")
    ap.add_argument("--cold", action="store_true", help="delete src/.fastest_cache before every fastest run")
    ap.add_argument("--xdist-n", type=int, default=2, help="pytest-xdist worker count (default 2)")
    ap.add_argument("--no-xdist", action="store_true", help="skip the pytest-xdist runs")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="skip the untimed `pytest --collect-only` (and fastest: a whole run with --no-cache, else --collect-only) runs that prime __pycache__ and fastest's caches before timing")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    ap.add_argument("--fastest-arg", dest="fastest_args", action="append", default=[],
                    help="extra argument for fastest only, before the project's (repeatable), "
                         "e.g. --fastest-arg=--engine --fastest-arg=pytest")
    ap.add_argument("--tag", default="",
                    help="suffix for the outputs: bench-out/run_compare-TAG.json and run_compare-TAG/NAME/")
    opts = ap.parse_args(argv)
    opts.run_dir = "run_compare" + (f"-{opts.tag}" if opts.tag else "")
    opts.out = Path(opts.out).resolve()
    opts.out.mkdir(parents=True, exist_ok=True)
    corpus = Path(opts.corpus).resolve()
    fastest = str(Path(opts.fastest).resolve()) if os.sep in opts.fastest else (shutil.which(opts.fastest) or opts.fastest)

    available = corpus_projects(corpus)
    names = [n.strip() for n in opts.projects.split(",") if n.strip()] or available
    if not names:
        print(f"no projects with a run.sh under {corpus}", file=sys.stderr)
        return 2

    info = environment_info(fastest)
    info.update(corpus=str(corpus), fastest_args=opts.fastest_args, repeat=opts.repeat, cold=opts.cold, xdist_n=opts.xdist_n,
                warmup=opts.warmup, timeout=opts.timeout, cache_mode=cache_mode_line(opts),
                started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    rows = []
    json_path = opts.out / f"{opts.run_dir}.json"
    for name in names:
        if name not in available:
            rows.append({"project": name, "error": f"no {corpus / name / 'run.sh'}", "sides": {}, "compare": None})
        else:
            rows.append(run_project(name, corpus / name, fastest, opts))
        write_json(json_path, info, rows, markdown_table(rows))  # keep partial results

    table = markdown_table(rows)
    write_json(json_path, info, rows, table)
    print(cache_mode_line(opts) + f"; repeat={opts.repeat} (median); PYTHONHASHSEED=0")
    print()
    print(table)
    print()
    print(details(rows, opts))
    print(f"\nJSON: {json_path}; per project: {opts.out / opts.run_dir}/NAME/(report.txt, *.xml, *.log)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
