"""Coverage (`--cov`) with the user's coverage.py: measurement in each worker (one dynamic
context per test, so each test's lines can be stored beside its cached result) and the
report step the runner starts once after the workers, which combines the workers' data
with the stored data of the tests it did not run and prints pytest-cov's report.

Report layout, options and fail-under logic follow pytest-cov 7 (`pytest_cov/engine.py`,
`pytest_cov/plugin.py`); the wire shapes are `fastest-protocol`'s `CoverageSettings`,
`CoverageReportRequest` and `CoverageReportResult`.
"""
import contextlib
import io
import json
import os
import pickle
import shutil
import sqlite3
import sys

MISSING = (
    "coverage.py is not installed in %s (needed by --cov); install it with "
    "`%s -m pip install coverage` (or pytest-cov, which depends on it)"
)


def _import_coverage():
    try:
        import coverage
    except ImportError:
        raise RuntimeError(MISSING % (sys.executable, sys.executable)) from None
    return coverage


def _new_coverage(settings, **extra):
    coverage = _import_coverage()
    return coverage.Coverage(
        source=settings.get("source"),
        branch=settings.get("branch") or None,
        config_file=settings.get("config_file") or True,
        **extra
    )


def import_what_pytest_imports_first(ini):
    """pytest-cov starts measuring once pytest has parsed its configuration, and pytest
    imports `packaging` (`version`, and `requirements` for `required_plugins`) while it
    checks `minversion` and `required_plugins`: code those imports ran is unmeasured
    under pytest-cov, so it is here too (packaging's own `__init__` shows 0% there)."""
    names = []
    if ini.get("minversion"):
        names.append("packaging.version")
    if ini.get("required_plugins"):
        names += ["packaging.requirements", "packaging.version"]
    for name in names:
        try:
            __import__(name)
        except ImportError:
            pass


def start_worker(settings):
    """Starts measuring in this worker; data goes to `<data_file>.<suffix>`."""
    cov = _quiet(_new_coverage(settings, data_file=settings["data_file"], data_suffix=True))
    cov.start()
    return cov


def _quiet(cov):
    """Like pytest-cov's xdist workers: measuring nothing (or nothing more) is no warning."""
    cov._warn_no_data = False
    cov._warn_unimported_source = False
    cov._warn_preimported_source = False
    return cov


class ContextChannel:
    """Wraps the protocol channel: a test's start (the native engine's `begin_test`, the
    pytest engine's `start` event) begins that test's share of the measurement, so
    everything done on the test's behalf (its fixtures, the imports it triggers) is
    attributed to it."""

    def __init__(self, channel, cov):
        self._channel = channel
        self._cov = cov
        self._split = TestSplitter.for_coverage(cov)

    def begin_test(self, nodeid):
        if self._split is not None:
            self._split.begin(nodeid)
        else:
            self._cov.switch_context(nodeid)

    def send(self, ev, **fields):
        if ev == "start":
            self.begin_test(fields["nodeid"])
        self._channel.send(ev, **fields)

    def receive(self):
        return self._channel.receive()

    def stop(self):
        self._cov.stop()
        if self._split is not None:
            self._split.finish()
        self._cov.save()


TESTS_PREFIX = "fastest-tests."


class TestSplitter:
    """Each test's lines or arcs, taken from coverage.py's collector at the test's end and
    appended to `fastest-tests.<pid>` beside the data file (pickled records: a header
    `(branch, packed)`, then `(node id, {file: set})` per test, in the collector's own
    representation; `per_context_data` decodes them).

    Why not coverage's dynamic contexts: every `switch_context` flushes the collector into
    the SQLite data file, a row per line or arc per test (click with branch coverage: ~13 ms
    per test, 65 % of the run). Here a test's share is copied out of the collector's sets
    and the sets emptied in place (as the collector's own `_clear_data` does); the data
    file gets the union once, at the end, through the collector's own flush.

    Relies on the collector's layout of coverage 7.4+ (`data`: file -> set of line
    numbers, packed arcs or arc tuples; `tracers` with `reset_activity`); `for_coverage`
    returns None for anything else, and dynamic contexts are used instead."""

    def __init__(self, cov, collector, packed):
        self._collector = collector
        self._context = ""
        self._union = {}
        path = os.path.join(
            os.path.dirname(os.path.abspath(cov.config.data_file)), "%s%d" % (TESTS_PREFIX, os.getpid())
        )
        self._out = open(path, "wb")
        self._dump((bool(collector.branch), bool(packed)))

    def _dump(self, record):
        # One pickle per record: a shared Pickler's memo would keep every test's sets alive.
        pickle.dump(record, self._out, pickle.HIGHEST_PROTOCOL)

    @classmethod
    def for_coverage(cls, cov):
        collector = getattr(cov, "_collector", None)
        core = getattr(collector, "core", None)
        packed = getattr(core, "packed_arcs", None)
        coverage = sys.modules.get("coverage")
        version = getattr(coverage, "version_info", (0,))
        if (
            version < (7, 4)
            or packed is None
            or not isinstance(getattr(collector, "data", None), dict)
            or not hasattr(collector, "tracers")
            or not callable(getattr(collector, "cached_mapped_file", None))
            # sys.monitoring stops reporting a line after its first hit: no per-test split.
            or core.tracer_class.__name__ not in ("CTracer", "PyTracer")
        ):
            return None
        try:
            return cls(cov, collector, packed)
        except OSError:
            return None

    def begin(self, nodeid):
        self._take()
        self._context = nodeid

    def _take(self):
        collector = self._collector
        measured = {}
        with getattr(collector, "data_lock", None) or contextlib.nullcontext():
            for fname, values in list(collector.data.items()):
                if values:
                    measured[fname] = set(values)
                    values.clear()
            for tracer in collector.tracers:
                tracer.reset_activity()
        if not measured:
            return
        union = self._union
        mapped = collector.cached_mapped_file
        files = {}
        for fname, values in measured.items():
            known = union.get(fname)
            if known is None:
                union[fname] = set(values)
            else:
                known.update(values)
            files[mapped(fname)] = values
        self._dump((self._context, files))

    def finish(self):
        """After `cov.stop()`: the last test's share, then the union of all back into the
        collector, so `cov.save()` writes the totals (and looks for unexecuted files) as a
        run without per-test splitting would."""
        self._take()
        self._out.close()
        collector = self._collector
        for fname, values in self._union.items():
            target = collector.data.get(fname)
            if target is None:
                collector.data[fname] = values
            else:
                target.update(values)
        # The tracers' activity flags were reset at every test; the data is real.
        collector._activity = lambda: True


def _read_tests_file(path):
    """Yields (context, kind, {file: [lines or (from, to) arcs]}) from a `TestSplitter` file;
    a file cut short (a worker killed mid-write) yields what was complete."""
    with open(path, "rb") as f:
        try:
            branch, packed = pickle.load(f)
        except (EOFError, pickle.UnpicklingError):
            return
        kind = "arcs" if branch else "lines"
        arcs = {}

        def unpack(value):
            # The packing of coverage's CTracer (`tracer.c: CTracer_record_pair`).
            arc = arcs.get(value)
            if arc is None:
                l1 = value & 0xFFFFF
                l2 = (value >> 20) & 0xFFFFF
                if value & (1 << 40):
                    l1 = -l1
                if value & (1 << 41):
                    l2 = -l2
                arc = arcs[value] = (l1, l2)
            return arc

        while True:
            try:
                context, files = pickle.load(f)
            except (EOFError, pickle.UnpicklingError, ValueError):
                return
            if branch and packed:
                files = {fname: map(unpack, values) for fname, values in files.items()}
            yield context, kind, files


# --- the report step -------------------------------------------------------------------


def _numbits_to_nums(blob):
    from coverage.numbits import numbits_to_nums

    return numbits_to_nums(blob)


def per_context_data(data_dir, data_files, relpath):
    """{context: {file: {"lines": [...]} or {"arcs": [[from, to], ...]}}} from the workers'
    per-test files (`TestSplitter`) or, for a worker that used dynamic contexts, its data
    file (the documented SQLite schema of coverage.py); plus every measured file under ""
    so that files measured without lines (unexecuted source files) are kept too."""
    out = {}
    relpaths = {}

    def measured(context, fname):
        rel = relpaths.get(fname)
        if rel is None:
            rel = relpaths[fname] = relpath(fname)
        return out.setdefault(context, {}).setdefault(rel, {})

    for name in sorted(os.listdir(data_dir)):
        if not name.startswith(TESTS_PREFIX):
            continue
        for context, kind, files in _read_tests_file(os.path.join(data_dir, name)):
            for fname, values in files.items():
                measured(context, fname).setdefault(kind, set()).update(values)
    for path in data_files:
        db = sqlite3.connect(path)
        try:
            files = dict(db.execute("select id, path from file"))
            contexts = dict(db.execute("select id, context from context"))
            for name in files.values():
                measured("", name)
            if not any(contexts.values()):
                continue  # measured without contexts: its tests' shares are in the files above
            for file_id, context_id, numbits in db.execute(
                "select file_id, context_id, numbits from line_bits"
            ):
                target = measured(contexts.get(context_id) or "", files[file_id])
                target.setdefault("lines", set()).update(_numbits_to_nums(numbits))
            for file_id, context_id, a, b in db.execute("select file_id, context_id, fromno, tono from arc"):
                target = measured(contexts.get(context_id) or "", files[file_id])
                target.setdefault("arcs", set()).add((a, b))
        finally:
            db.close()
    for files in out.values():
        for entry in files.values():
            for key in entry:
                entry[key] = sorted(entry[key])
    return out


def _sep(stream, s, txt, width):
    """pytest-cov's `CovController.sep` for a stream without `sep`."""
    from fastest_harness.reports import sep_line

    stream.write(sep_line(s, txt, width) + "\n\n")


def _width():
    width, _ = shutil.get_terminal_size(fallback=(80, 24))
    return 80 if width < 40 else width


def report(request):
    """Combines, merges the stored data, writes the reports; returns the result dict."""
    settings = request["settings"]
    rootdir = request["rootdir"]

    def relpath(path):
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, rootdir)
        return absolute if rel.startswith("..") else rel

    data_dir = request["data_dir"]
    coverage = _import_coverage()
    from coverage.results import display_covered, should_fail_under

    # Measuring nothing, but `save` then adds the source files nothing imported (0%), as
    # a measuring pytest-cov process does. A data file of its own (in the data dir, which
    # holds the request), combined below like the workers': the reporting object never
    # measures, so (as pytest-cov's combining object) it has branch data only if some
    # file has arcs.
    sources = _quiet(_new_coverage(settings, data_file=settings["data_file"], data_suffix=True))
    sources.start()
    sources.stop()
    sources.save()
    names = os.listdir(data_dir)
    data_files = sorted(os.path.join(data_dir, f) for f in names if f.startswith(".coverage."))
    contexts = per_context_data(data_dir, data_files, relpath)

    cov = _quiet(_new_coverage(settings, data_suffix=False))
    if request.get("append"):
        cov.load()  # --cov-append: this run's data is added to what the data file holds
    else:
        cov.erase()
    cov.combine(data_paths=data_files, keep=False)
    data = cov.get_data()
    relative = bool(getattr(cov.config, "relative_files", False))

    def native(name):
        path = name if os.path.isabs(name) else os.path.join(rootdir, name)
        return os.path.relpath(path) if relative else path

    stored = request.get("stored") or {}
    if stored:
        # Branch coverage may come from the config file as well as --cov-branch.
        # Only files with data: an `add_*` call with nothing makes the data file choose
        # lines or arcs, and a report of data without arcs has no branch columns (pytest-cov
        # measuring nothing in the sources).
        if cov.config.branch:
            arcs = {native(f): [tuple(a) for a in m["arcs"]] for f, m in stored.items() if m.get("arcs")}
            if arcs:
                data.add_arcs(arcs)
        else:
            lines = {native(f): m["lines"] for f, m in stored.items() if m.get("lines")}
            if lines:
                data.add_lines(lines)
        # Files measured without any line (source files nothing imported): the add_*
        # calls skip empty entries, but the report lists them at 0%.
        data.touch_files([native(f) for f, m in stored.items() if not m.get("lines") and not m.get("arcs")])
    cov.save()

    stream = io.StringIO()
    precision = request.get("precision")
    if precision is None:
        precision = getattr(cov.config, "precision", 0)
    total = cov.report(ignore_errors=True, output_format="total", precision=precision, file=io.StringIO())
    width = _width()
    node = "platform %s, python %s" % (sys.platform, "%d.%d.%d-%s-%d" % tuple(sys.version_info[:5]))
    _sep(stream, "_", "coverage: %s" % node, width)
    reports = request["reports"]
    if "term" in reports or "term-missing" in reports:
        skip_covered = "skip-covered" in reports.values()
        cov.report(
            show_missing=("term-missing" in reports) or None,
            ignore_errors=True,
            file=stream,
            precision=precision,
            skip_covered=skip_covered or None,
        )
    if "annotate" in reports:
        cov.annotate(ignore_errors=True, directory=reports["annotate"])
        if reports["annotate"]:
            stream.write("Coverage annotated source written to dir %s\n" % reports["annotate"])
        else:
            stream.write("Coverage annotated source written next to source\n")
    if "html" in reports:
        out = reports["html"]
        cov.html_report(ignore_errors=True, directory=out)
        stream.write("Coverage HTML written to dir %s\n" % (cov.config.html_dir if out is None else out))
    if "xml" in reports:
        out = reports["xml"]
        cov.xml_report(ignore_errors=True, outfile=out)
        stream.write("Coverage XML written to file %s\n" % (cov.config.xml_output if out is None else out))
    if "json" in reports:
        out = reports["json"]
        cov.json_report(ignore_errors=True, outfile=out)
        stream.write("Coverage JSON written to file %s\n" % (cov.config.json_output if out is None else out))
    for kind, verb, mode in (("markdown", "written", "w"), ("markdown-append", "appended", "a")):
        if kind in reports:
            with open(reports[kind], mode, encoding="utf-8") as out:
                cov.report(ignore_errors=True, file=out, output_format="markdown")
            stream.write("Coverage Markdown information %s to file %s\n" % (verb, reports[kind]))
    if "lcov" in reports:
        out = reports["lcov"]
        cov.lcov_report(ignore_errors=True, outfile=out)
        stream.write("Coverage LCOV written to file %s\n" % (cov.config.lcov_output if out is None else out))

    fail_under = _fail_under(request.get("fail_under"))
    if fail_under is None and getattr(cov.config, "fail_under", None):
        fail_under = cov.config.fail_under
    failure = None
    required = None
    if fail_under is not None:
        if should_fail_under(total, fail_under, precision):
            failure = "Coverage failure: total of {total} is less than fail-under={fu:.{p}f}".format(
                total=display_covered(total, precision), fu=fail_under, p=precision
            )
        if fail_under > 0:
            required = "{fail}Required test coverage of {req}% {reached}. Total coverage: {actual:.2f}%".format(
                req=fail_under,
                actual=total,
                fail="FAIL " if total < fail_under else "",
                reached="not reached" if total < fail_under else "reached",
            )
    del coverage
    return {
        "total": total,
        "report": stream.getvalue() if reports else "",
        "failure": failure,
        "required": required,
        "required_failed": fail_under is not None and total < fail_under,
        "tests": {ctx: files for ctx, files in contexts.items() if ctx},
        "session": contexts.get("", {}),
    }


def _fail_under(text):
    """`--cov-fail-under` as pytest-cov's `validate_fail_under` parses it (an int when it
    is one: the message prints it as given)."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def main():
    request_path, result_path = sys.argv[1], sys.argv[2]
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    try:
        result = report(request)
    except Exception as exc:  # a broken config or data file: say what, keep the run's exit code
        import traceback

        result = {"error": "".join(traceback.format_exception_only(type(exc), exc)).strip()}
        if not isinstance(exc, RuntimeError):
            result["error"] += "\n" + traceback.format_exc()
    # `json.dumps` (one string, C encoder), not `json.dump` (pure-Python chunks: half of
    # the step's time for click's per-test arcs).
    text = json.dumps(result, separators=(",", ":"))
    with open(result_path, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
