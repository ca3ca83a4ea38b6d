#!/usr/bin/env python3
"""One-function edits under `fastest watch` against the same edit with a one-shot
`fastest run --changed`, and a full pytest run, on real projects.

Usage: python3 benches/watch_bench.py [--corpus /tmp/corpus] [--projects a,b] [--edits 3]
(corpus from `bash ../shared/corpus/setup_corpus.sh /tmp/corpus public`). The edits are
incremental_bench.py's (a no-op assignment in one function body, outcomes unchanged).

Per project: pytest once untimed, then timed once; `fastest --no-cache` records. Then
EDITS times: edit, time `fastest run --changed`, restore, run it again (untimed). Then
`fastest watch` starts; after its first run and a pause (its worker starts ahead),
EDITS times: once the watch has been idle for 2 s, edit, and time from the write until
the watch prints its next summary ("save to summary": includes noticing the change,
polled every 50 ms) and the run's own "in X.XXs"; restore. Medians. Standard library
only.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import incremental_bench as ib  # noqa: E402

SUMMARY = re.compile(r"(passed|failed|nothing to run|no tests ran|error)", re.I)
IN_SECONDS = re.compile(r" in ([0-9.]+)s")


class Watch:
    """A running `fastest watch` whose summary lines are collected as they come."""

    def __init__(self, cmd, cwd, env):
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.summaries = []  # (time seen, line)
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if SUMMARY.search(line) and not line.startswith((".", "F", "s", "c")):
                with self.cond:
                    self.summaries.append((time.perf_counter(), line.strip()))
                    self.cond.notify_all()

    def wait_for(self, count, timeout=120):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.summaries) >= count, timeout):
                raise SystemExit("fastest watch printed no summary within %ds" % timeout)
            return self.summaries[count - 1]

    def wait_quiet(self, quiet=2.0, timeout=120):
        """Until no summary came for `quiet` seconds (the watch waits for a change: a
        run that a test's own file writes started at once is over too); the count."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.cond:
                last = self.summaries[-1][0] if self.summaries else None
                count = len(self.summaries)
            if last is not None and time.perf_counter() - last >= quiet:
                return count
            time.sleep(0.1)
        raise SystemExit("fastest watch did not settle within %ds" % timeout)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="/tmp/corpus")
    ap.add_argument("--projects", default="flask,humanize,attrs,click,tomlkit")
    ap.add_argument("--edits", type=int, default=3)
    args = ap.parse_args()
    env = ib.bench_env()
    rows = []
    for name in args.projects.split(","):
        src, py, pargs = ib.corpus_project(args.corpus, name)
        path, func = ib.EDITS[name]
        target = os.path.join(src, path)
        ib.timed([py, "-m", "pytest"] + pargs + ["-q"], src, env)
        t_pytest, _ = ib.timed([py, "-m", "pytest"] + pargs + ["-q"], src, env)
        ib.timed([ib.FASTEST, "--python", py, "--no-cache", "-q"] + pargs, src, env)
        changed = [ib.FASTEST, "run", "--changed", "--python", py, "-q"] + pargs
        ib.timed(changed, src, env)
        oneshot, oneshot_line = [], ""
        for _ in range(args.edits):
            original = ib.edit_function(target, func)
            try:
                t, o = ib.timed(changed, src, env)
                oneshot.append(t)
                oneshot_line = ib.last_line(o)
            finally:
                open(target, "w").write(original)
            ib.timed(changed, src, env)
        watch = Watch([ib.FASTEST, "watch", "--python", py, "-q"] + pargs, src, env)
        saved_to_summary, run_own, watch_line = [], [], ""
        try:
            watch.wait_for(1)
            for _ in range(args.edits):
                # Idle for 2 s: the worker started ahead is ready.
                seen = watch.wait_quiet()
                start = time.perf_counter()
                original = ib.edit_function(target, func)
                try:
                    at, line = watch.wait_for(seen + 1)
                finally:
                    open(target, "w").write(original)
                saved_to_summary.append(at - start)
                m = IN_SECONDS.search(line)
                if m:
                    run_own.append(float(m.group(1)))
                watch_line = line
        finally:
            watch.stop()
        row = (name, t_pytest, statistics.median(oneshot), oneshot_line, statistics.median(saved_to_summary),
               statistics.median(run_own) if run_own else float("nan"), watch_line)
        rows.append(row)
        print(row, file=sys.stderr)
    print("| project | pytest s | `run --changed` after the edit s | under `fastest watch`: save to summary s | the watch run's own time s | pytest / save to summary | selected |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, tp, to, ol, ts, tr, wl in rows:
        print("| %s | %.2f | %.2f | %.2f | %.2f | %.1f× | %s |" % (name, tp, to, ts, tr, tp / ts, wl))


if __name__ == "__main__":
    main()
