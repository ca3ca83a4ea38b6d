"""Benchmark and compatibility check: `--collect-only -q` of pytest vs fastest (cold and warm cache) on the real-project corpus.

For every selected project under the corpus directory (see
../shared/corpus/setup_corpus.sh and benches/README.md) this script

  * parses the project's pytest arguments out of TARGET/NAME/run.sh,
  * times, from TARGET/NAME/src (wall clock, median of --repeat runs):
      pytest        ../venv/bin/pytest -p no:cacheprovider ARGS --collect-only -q
      fastest cold  FASTEST --python ../venv/bin/python ARGS --collect-only -q
                    (src/.fastest_cache is deleted before every repetition)
      fastest warm  the same command again, cache left in place,
  * compares the collected node ids of pytest with fastest (warm and cold),
  * writes bench-out/NAME.diff for every project whose ids differ (or that failed),
  * prints a Markdown table and writes everything to bench-out/collect.json.

A missing or failing fastest binary never crashes the script: the project gets an
error row instead. Standard library only, Python 3.8+.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = "/tmp/corpus"
DEFAULT_FASTEST = str(REPO_ROOT / "target" / "release" / "fastest")
DEFAULT_OUT = str(REPO_ROOT / "bench-out")
DIFF_LIMIT = 20

# Lines of the node-id block that are not node ids ("warning: ...", "warnings summary").
_WARNING_LINE = re.compile(r"^warnings?(:|\s|$)", re.IGNORECASE)
# " in 1.23s" / " in 61.20s (0:01:01)" at the end of pytest's final count line.
_TIMING = re.compile(r"\s+in\s+\d+(?:\.\d+)?s(?:\s+\(\d+:\d\d:\d\d\))?")
# fastest's -v summary, e.g. "fastest: 18 modules collected statically, 5 by Python:";
# matched loosely because the wording is not a stable interface.
_DYNAMIC_LINE = re.compile(r"dynamic|collected statically|by python", re.IGNORECASE)


# --------------------------------------------------------------------------- helpers


def base_env() -> dict:
    """Environment for every measured command (pytest and fastest alike)."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # run.sh unsets it too
    env["PYTHONHASHSEED"] = "0"
    return env


def parse_run_sh(run_sh: Path) -> list:
    """Return the project's pytest arguments from run.sh.

    run.sh ends with `cd ... && exec ../venv/bin/pytest -p no:cacheprovider ARGS "$@"`;
    the result is ARGS (without the common `-p no:cacheprovider` and `"$@"`).
    """
    for line in run_sh.read_text().splitlines():
        if "venv/bin/pytest" not in line or line.lstrip().startswith("#"):
            continue
        cmd = line.split("exec ", 1)[1] if "exec " in line else line
        tokens = shlex.split(cmd, comments=True)
        idx = next(i for i, t in enumerate(tokens) if t.endswith("venv/bin/pytest"))
        args = tokens[idx + 1:]
        if args and args[-1] == "$@":
            args = args[:-1]
        for i in range(len(args) - 1):
            if args[i] == "-p" and args[i + 1] == "no:cacheprovider":
                del args[i:i + 2]
                break
        return args
    raise ValueError(f"no pytest command found in {run_sh}")


class RunResult:
    __slots__ = ("rc", "secs", "stdout", "stderr", "error")

    def __init__(self, rc=None, secs=None, stdout="", stderr="", error=None):
        self.rc, self.secs, self.stdout, self.stderr, self.error = rc, secs, stdout, stderr, error


def run_timed(cmd, cwd, env, timeout) -> RunResult:
    """Run cmd, measuring wall-clock seconds. Never raises for a missing/broken binary.

    The command gets its own process group so that a timeout kills it together with any
    worker processes it spawned (which would otherwise keep the output pipes open).
    """
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except FileNotFoundError:
        return RunResult(error=f"not found: {cmd[0]}")
    except PermissionError as e:
        return RunResult(error=f"cannot execute {cmd[0]}: {e}")
    except OSError as e:
        return RunResult(error=f"cannot run {cmd[0]}: {e}")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        secs = time.perf_counter() - start
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        out, err = proc.communicate()
        return RunResult(secs=secs, error=f"timeout after {timeout:g}s",
                         stdout=_decode(out), stderr=_decode(err))
    except BaseException:  # e.g. Ctrl-C: do not leave the child running
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        raise
    secs = time.perf_counter() - start
    return RunResult(rc=proc.returncode, secs=secs, stdout=_decode(out), stderr=_decode(err))


def _decode(b) -> str:
    if b is None:
        return ""
    if isinstance(b, str):
        return b
    return b.decode("utf-8", errors="replace")


def measure(cmd, cwd, env, repeat, timeout, before=None) -> dict:
    """Run cmd `repeat` times (calling `before()` first each time).

    Returns a dict with the median time, every time, the exit codes and the output of
    the first repetition (used for the comparison), and whether later repetitions
    produced different node ids. Stops at the first hard error (binary missing, timeout).
    """
    runs = []
    for _ in range(max(1, repeat)):
        if before is not None:
            before()
        r = run_timed(cmd, cwd, env, timeout)
        runs.append(r)
        if r.error:
            break
    first = runs[0]
    times = [r.secs for r in runs if r.error is None and r.secs is not None]
    ids0 = parse_collect_output(first.stdout)[0] if first.error is None else None
    stable = all(parse_collect_output(r.stdout)[0] == ids0 for r in runs[1:] if r.error is None)
    err = next((r.error for r in runs if r.error), None)
    return {
        "cmd": cmd,
        "error": err,
        "median_s": statistics.median(times) if times and err is None else None,
        "times_s": [round(t, 4) for t in times],
        "exit_codes": [r.rc for r in runs if r.error is None],
        "rc": first.rc,
        "ids_stable_across_runs": stable,
        "_stdout": first.stdout,
        "_stderr": first.stderr,
    }


def parse_collect_output(stdout: str):
    """Split `--collect-only -q` output into (node ids, count line with timing stripped).

    Node ids are all lines before the first blank line, minus lines starting with
    "warning(s)". The count line is the last non-blank line ("270 tests collected in
    1.15s" -> "270 tests collected"). Without a blank line (e.g. "no tests ran in 0.01s"
    only) the last line is the count line and not an id.
    """
    lines = stdout.splitlines()
    try:
        blank = next(i for i, l in enumerate(lines) if not l.strip())
        block = lines[:blank]
    except StopIteration:
        block = lines[:-1] if lines else []
    ids = [l for l in block if not _WARNING_LINE.match(l)]
    nonblank = [l for l in lines if l.strip()]
    count = nonblank[-1].strip().strip("=").strip() if nonblank else ""
    count = _TIMING.sub("", count).strip()
    return ids, count


def compare_ids(ref: list, got: list) -> dict:
    """Multiset comparison of two node-id lists, preserving first-seen order."""
    cref, cgot = collections.Counter(ref), collections.Counter(got)
    only_ref_c, only_got_c = cref - cgot, cgot - cref
    only_ref = _take(ref, only_ref_c)
    only_got = _take(got, only_got_c)
    common_ref = _drop(ref, only_ref_c)
    common_got = _drop(got, only_got_c)
    order_differs = common_ref != common_got
    first_order_diff = None
    if order_differs:
        for i, (a, b) in enumerate(zip(common_ref, common_got)):
            if a != b:
                first_order_diff = {"index": i, "pytest": a, "fastest": b}
                break
    return {
        "identical": ref == got,
        "only_in_pytest": len(only_ref),
        "only_in_fastest": len(only_got),
        "order_differs": order_differs,
        "first_order_difference": first_order_diff,
        "_only_in_pytest": only_ref,
        "_only_in_fastest": only_got,
    }


def _take(seq, counter):
    c = collections.Counter(counter)
    out = []
    for x in seq:
        if c[x] > 0:
            out.append(x)
            c[x] -= 1
    return out


def _drop(seq, counter):
    c = collections.Counter(counter)
    out = []
    for x in seq:
        if c[x] > 0:
            c[x] -= 1
        else:
            out.append(x)
    return out


def find_dynamic_line(*texts):
    for t in texts:
        for line in (t or "").splitlines():
            if _DYNAMIC_LINE.search(line):
                return line.strip()
    return None


def tail(text: str, n=15) -> str:
    lines = (text or "").rstrip().splitlines()
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------- one suite


def compare_suite(name, cwd, pytest_cmd, fastest_cmd, cache_dir, args, opts) -> dict:
    """Time and compare one suite. pytest_cmd/fastest_cmd are full argv lists (without
    `--collect-only -q`, which is appended here). Returns a JSON-able row."""
    env = base_env()
    row = {"project": name, "cwd": str(cwd), "args": args, "error": None}
    p_cmd = pytest_cmd + ["--collect-only", "-q"]
    f_cmd = fastest_cmd + ["--collect-only", "-q"]

    def log(msg):
        if not opts.quiet:
            print(f"[{name}] {msg}", file=sys.stderr, flush=True)

    if opts.warmup:
        log("pytest warm-up (untimed; writes __pycache__)")
        run_timed(p_cmd, cwd, env, opts.timeout)

    log("pytest x%d" % opts.repeat)
    pt = measure(p_cmd, cwd, env, opts.repeat, opts.timeout)

    def wipe_cache():
        shutil.rmtree(cache_dir, ignore_errors=True)

    fastest_bin = fastest_cmd[0]
    if not (os.path.isfile(fastest_bin) and os.access(fastest_bin, os.X_OK)):
        err = f"fastest binary missing or not executable: {fastest_bin}"
        cold = {"cmd": f_cmd, "error": err, "median_s": None, "times_s": [], "exit_codes": [],
                "rc": None, "ids_stable_across_runs": True, "_stdout": "", "_stderr": ""}
        warm = dict(cold)
    else:
        log("fastest cold x%d" % opts.repeat)
        cold = measure(f_cmd, cwd, env, opts.repeat, opts.timeout, before=wipe_cache)
        log("fastest warm x%d" % opts.repeat)
        warm = measure(f_cmd, cwd, env, opts.repeat, opts.timeout)

    dynamic = None
    if opts.dynamic_probe and warm["error"] is None:
        # Not timed, not compared: only to record fastest's "N modules collected
        # dynamically" stderr line, which it prints with -v. Optional by design.
        probe = run_timed(fastest_cmd + ["--collect-only", "-v"], cwd, env, opts.timeout)
        dynamic = find_dynamic_line(probe.stderr)
    if dynamic is None:
        dynamic = find_dynamic_line(warm.get("_stderr"), cold.get("_stderr"))
    row["fastest_dynamic_line"] = dynamic

    if pt["error"] is not None:
        row["error"] = f"pytest: {pt['error']}"
    p_ids, p_count = parse_collect_output(pt["_stdout"])
    row["pytest"] = {**_public(pt), "ids": len(p_ids), "count_line": p_count}
    if pt["rc"] not in (0, None) or pt["error"]:
        row["pytest"]["stderr_tail"] = tail(pt["_stderr"] or pt["_stdout"])

    for label, res in (("fastest_cold", cold), ("fastest_warm", warm)):
        entry = _public(res)
        if res["error"] is None:
            f_ids, f_count = parse_collect_output(res["_stdout"])
            cmp_ = compare_ids(p_ids, f_ids)
            entry.update(ids=len(f_ids), count_line=f_count,
                         count_line_matches=(f_count == p_count),
                         exit_code_matches=(res["rc"] == pt["rc"]))
            entry["compare"] = cmp_
            if res["rc"] != 0 or not cmp_["identical"]:
                entry["stderr_tail"] = tail(res["_stderr"])
        else:
            entry.update(ids=None, count_line=None, count_line_matches=False,
                         exit_code_matches=False, compare=None,
                         stderr_tail=tail(res["_stderr"]))
        row[label] = entry

    for side in ("pytest", "fastest_cold", "fastest_warm"):
        if row[side].get("median_s") and row["pytest"].get("median_s"):
            if side != "pytest":
                row[side]["speedup"] = row["pytest"]["median_s"] / row[side]["median_s"]
    row["identical"] = _identical_verdict(row)
    write_diff(opts.out / f"{name}.diff", name, row)
    # strip private fields
    for side in ("fastest_cold", "fastest_warm"):
        c = row[side].get("compare")
        if c:
            c["only_in_pytest_first"] = c.pop("_only_in_pytest")[:DIFF_LIMIT]
            c["only_in_fastest_first"] = c.pop("_only_in_fastest")[:DIFF_LIMIT]
    return row


def _public(res: dict) -> dict:
    return {k: v for k, v in res.items() if not k.startswith("_")}


def _identical_verdict(row) -> bool:
    if row.get("error"):
        return False
    for side in ("fastest_cold", "fastest_warm"):
        e = row[side]
        if e.get("error") or not e.get("compare") or not e["compare"]["identical"]:
            return False
        if not e["count_line_matches"] or not e["exit_code_matches"]:
            return False
    return True


def write_diff(path: Path, name: str, row: dict):
    """Write NAME.diff when something differs or failed; remove a stale one otherwise."""
    if row["identical"]:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    out = [f"# {name}: pytest vs fastest --collect-only -q", f"# cwd: {row['cwd']}"]
    if row.get("error"):
        out.append(f"# ERROR: {row['error']}")
    p = row["pytest"]
    out.append(f"# pytest: exit {p.get('rc')}, {p.get('ids')} ids, count line: {p.get('count_line')!r}")
    if p.get("stderr_tail"):
        out += ["# pytest output tail:"] + ["#   " + l for l in p["stderr_tail"].splitlines()]
    for label in ("fastest_cold", "fastest_warm"):
        e = row[label]
        out.append("")
        out.append(f"## {label}")
        if e.get("error"):
            out.append(f"# ERROR: {e['error']}")
        else:
            out.append(f"# exit {e.get('rc')} (pytest {p.get('rc')}), {e.get('ids')} ids, "
                       f"count line: {e.get('count_line')!r} "
                       f"({'matches' if e.get('count_line_matches') else 'DIFFERS'})")
            c = e["compare"]
            out.append(f"# identical: {c['identical']}; only in pytest: {c['only_in_pytest']}; "
                       f"only in fastest: {c['only_in_fastest']}; order differs: {c['order_differs']}")
            if c["first_order_difference"]:
                d = c["first_order_difference"]
                out.append(f"# first order difference at common index {d['index']}: "
                           f"pytest {d['pytest']!r} vs fastest {d['fastest']!r}")
            if c["_only_in_pytest"]:
                out.append(f"# first {DIFF_LIMIT} only in pytest:")
                out += ["- " + x for x in c["_only_in_pytest"][:DIFF_LIMIT]]
            if c["_only_in_fastest"]:
                out.append(f"# first {DIFF_LIMIT} only in fastest:")
                out += ["+ " + x for x in c["_only_in_fastest"][:DIFF_LIMIT]]
        if e.get("stderr_tail"):
            out += ["# fastest stderr tail:"] + ["#   " + l for l in e["stderr_tail"].splitlines()]
    path.write_text("\n".join(out) + "\n")


# --------------------------------------------------------------------------- table


def _fmt_s(v):
    if not isinstance(v, (int, float)):
        return "error"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def _fmt_x(entry):
    """Speed-up cell; in parentheses when fastest's output differs from pytest's
    (wrong or empty collections are not a meaningful speed-up)."""
    v = entry.get("speedup")
    if not isinstance(v, (int, float)):
        return "-"
    c = entry.get("compare") or {}
    ok = c.get("identical") and entry.get("exit_code_matches")
    return f"{v:.1f}x" if ok else f"({v:.1f}x)"


def _verdict_cell(row) -> str:
    if row.get("error"):
        return "ERROR: " + row["error"].replace("|", "/")
    if row["identical"]:
        return "yes"
    parts = []  # (side, text, is_error)
    for label, short in (("fastest_warm", "warm"), ("fastest_cold", "cold")):
        e = row[label]
        if e.get("error"):
            parts.append((short, e["error"], True))
            continue
        c = e["compare"]
        bits = []
        if c["only_in_pytest"] or c["only_in_fastest"]:
            bits.append(f"-{c['only_in_pytest']}/+{c['only_in_fastest']} ids")
        if c["order_differs"]:
            bits.append("order")
        if not e["count_line_matches"]:
            bits.append("count line")
        if not e["exit_code_matches"]:
            bits.append(f"exit {e['rc']} vs {row['pytest']['rc']}")
        parts.append((short, ", ".join(bits) or "?", False))
    if parts[0][1:] == parts[1][1:]:  # cold and warm agree: say it once
        parts = [("cold+warm", parts[0][1], parts[0][2])]
    if all(err for _, _, err in parts):
        return "ERROR: " + "; ".join(f"{side}: {t}" for side, t, _ in parts).replace("|", "/")
    text = "; ".join(f"{side}: {'ERROR ' if err else ''}{t}" for side, t, err in parts)
    return "no (" + text.replace("|", "/") + ")"


def markdown_table(rows) -> str:
    head = ("| project | pytest ids | fastest ids | identical? | pytest s | fastest cold s | "
            "fastest warm s | cold speed-up | warm speed-up |")
    out = [head, "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        p, c, w = r.get("pytest", {}), r.get("fastest_cold", {}), r.get("fastest_warm", {})
        f_ids = w.get("ids") if w.get("ids") is not None else c.get("ids")
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["project"],
            p.get("ids", "-") if p.get("ids") is not None else "-",
            f_ids if f_ids is not None else "-",
            _verdict_cell(r),
            _fmt_s(p.get("median_s")), _fmt_s(c.get("median_s")), _fmt_s(w.get("median_s")),
            _fmt_x(c), _fmt_x(w),
        ))
    return "\n".join(out)


def details(rows) -> str:
    """Short per-project notes printed under the table (exit codes, count lines)."""
    out = ["Speed-up = pytest s / fastest s (medians). In parentheses: fastest's ids or exit "
           "code differ from pytest's, so the number is not a like-for-like comparison.", ""]
    for r in rows:
        p, c, w = r.get("pytest", {}), r.get("fastest_cold", {}), r.get("fastest_warm", {})
        line = (f"- {r['project']}: exit pytest={p.get('rc')} cold={c.get('rc')} warm={w.get('rc')}; "
                f"count pytest={p.get('count_line')!r} fastest={w.get('count_line')!r}")
        if r.get("fastest_dynamic_line"):
            line += f"; fastest: {r['fastest_dynamic_line']!r}"
        if not all(x.get("ids_stable_across_runs", True) for x in (p, c, w)):
            line += "; NOTE: ids changed between repetitions"
        out.append(line)
    return "\n".join(out)


def environment_info(fastest) -> dict:
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host_python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "fastest": fastest,
        "fastest_version": None,
    }
    r = run_timed([fastest, "--version"], ".", base_env(), 10)
    if r.error is None and r.rc == 0:
        info["fastest_version"] = (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else None
    return info


def write_json(path: Path, info: dict, rows: list, table: str):
    path.write_text(json.dumps({"environment": info, "projects": rows, "table": table},
                               indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- main


def ready_projects(corpus: Path):
    if not corpus.is_dir():
        return []
    return sorted(p.name for p in corpus.iterdir()
                  if (p / ".setup_ok").is_file() and (p / "run.sh").is_file())


def add_common_options(ap):
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions per command; the median is reported (default 3)")
    ap.add_argument("--fastest", default=DEFAULT_FASTEST, help=f"fastest binary (default {DEFAULT_FASTEST})")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before a single run is killed (default 900)")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="skip the untimed pytest run that primes __pycache__ before timing")
    ap.add_argument("--no-dynamic-probe", dest="dynamic_probe", action="store_false",
                    help="skip the extra untimed `fastest --collect-only -v` run used only to record its "
                         "'modules collected dynamically' stderr line")
    ap.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=DEFAULT_CORPUS, help=f"corpus directory (default {DEFAULT_CORPUS})")
    ap.add_argument("--projects", default="", help="comma-separated project names (default: every ready project)")
    add_common_options(ap)
    opts = ap.parse_args(argv)
    opts.out = Path(opts.out)
    opts.out.mkdir(parents=True, exist_ok=True)
    corpus = Path(opts.corpus).resolve()
    fastest = str(Path(opts.fastest).resolve()) if os.sep in opts.fastest else (shutil.which(opts.fastest) or opts.fastest)

    ready = ready_projects(corpus)
    names = [n.strip() for n in opts.projects.split(",") if n.strip()] or ready
    if not names:
        print(f"no ready projects under {corpus} (set up with: bash ../shared/corpus/setup_corpus.sh {corpus} public)",
              file=sys.stderr)
        return 2

    info = environment_info(fastest)
    info.update(corpus=str(corpus), repeat=opts.repeat)
    rows = []
    for name in names:
        proj = corpus / name
        if name not in ready:
            rows.append({"project": name, "error": f"not set up (no {proj}/.setup_ok)", "identical": False,
                         "pytest": {}, "fastest_cold": {}, "fastest_warm": {}})
            continue
        try:
            args = parse_run_sh(proj / "run.sh")
        except (ValueError, StopIteration, OSError) as e:
            rows.append({"project": name, "error": f"cannot parse run.sh: {e}", "identical": False,
                         "pytest": {}, "fastest_cold": {}, "fastest_warm": {}})
            continue
        src = proj / "src"
        row = compare_suite(
            name, src,
            pytest_cmd=["../venv/bin/pytest", "-p", "no:cacheprovider"] + args,
            fastest_cmd=[fastest, "--python", "../venv/bin/python"] + args,
            cache_dir=src / ".fastest_cache", args=args, opts=opts,
        )
        rows.append(row)
        # keep partial results if a later project hangs or the run is interrupted
        write_json(opts.out / "collect.json", info, rows, markdown_table(rows))

    table = markdown_table(rows)
    write_json(opts.out / "collect.json", info, rows, table)
    print(table)
    print()
    print(details(rows))
    print(f"\nJSON: {opts.out / 'collect.json'}; per-project differences: {opts.out}/NAME.diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
