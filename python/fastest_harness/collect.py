"""Dynamic collection: runs real pytest collection in-process and writes the items as JSON.

Usage: python -m fastest_harness.collect OUT_JSON PYTEST_ARG...
The JSON is the `DynamicCollection` wire type of crates/fastest-protocol.
"""
import json
import os
import sys

from fastest_harness import PROTOCOL_VERSION

# The `module_deps` key of a whole-session record.
SESSION_ID = "<session>"
# The line `FASTEST_SIGNAL_VOLATILE` asks for (the runner's `VOLATILE_SIGNAL`).
VOLATILE_SIGNAL = b"\nfastest-collect: volatile\n"


def main():
    # Like the `pytest` script and the workers: the current directory is not importable
    # (`python -m` put it first on sys.path).
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    out_path = sys.argv[1]
    args = sys.argv[2:]
    result = {"protocol": PROTOCOL_VERSION, "items": [], "errors": [], "skipped": [], "deselected": 0, "deselected_by_file": {}, "fatal": None, "module_deps": {}}
    # `FASTEST_SHIFT_CLOCK=1`: the stability check of a collection that read the clock
    # (before pytest and the project import `time`/`datetime` names).
    if os.environ.pop("FASTEST_SHIFT_CLOCK", "") == "1":
        from fastest_harness import shift_clock

        shift_clock.install()
    try:
        import pytest
    except ImportError as exc:
        result["fatal"] = "pytest is not installed in %s (%s); it is needed to collect modules that cannot be analysed statically" % (sys.executable, exc)
        _write(out_path, result)
        return

    # Modules handed over only for --doctest-modules (not test files): pytest collects
    # Python tests from any file passed explicitly, which it would not do in a walk.
    doctest_only = {
        os.path.normpath(os.path.abspath(p))
        for p in os.environ.pop("FASTEST_DOCTEST_ONLY", "").split("\n")
        if p
    }

    def python_part_of_doctest_only(node):
        if not doctest_only or str(getattr(node, "path", "")) not in doctest_only:
            return False
        from _pytest.doctest import DoctestItem, DoctestModule

        if isinstance(node, (DoctestItem, DoctestModule)):
            return False
        return isinstance(node, (pytest.Item, pytest.Module, pytest.Class)) and not isinstance(
            node, getattr(pytest, "Package", ())
        )

    # `FASTEST_COLLECT_RECORD=ROOTDIR`: record what collecting each module depended on, so
    # the runner can reuse the module's items until one of those dependencies changes.
    recorder = None
    record_root = os.environ.pop("FASTEST_COLLECT_RECORD", "")
    if record_root:
        from fastest_harness import deps

        recorder = deps.install(record_root, os.environ.pop("FASTEST_CODE_CACHE", None), deps.default_excludes())
        if not recorder.hooked:
            # No audit hook could be added (an existing hook vetoed it): the file reads
            # of this collection would go unrecorded, so it is not recorded at all.
            recorder = None
        deps.patch_pytest_rewrite()
    # `FASTEST_COLLECT_SESSION=1`: the whole session is one unit (a conftest shapes it):
    # one record spans everything collection did, directory walks and conftests included.
    whole_session = recorder is not None and os.environ.pop("FASTEST_COLLECT_SESSION", "") == "1"
    last_deps = [None]
    # A module whose collection ran project code that calls the clock or a random source
    # (found statically per block by the probes) may collect other ids next time: the
    # runner stores it only when a second collection with a shifted clock (and other
    # random draws) gives the same ids.
    volatile = set()

    # `FASTEST_SIGNAL_VOLATILE=1`: say on stderr as soon as a module turns out volatile,
    # so the runner starts the shifted-clock collection while this one goes on.
    # (On a copy of fd 2 taken now: pytest captures fd 2 while it collects.)
    signal_volatile = [os.dup(2) if os.environ.pop("FASTEST_SIGNAL_VOLATILE", "") == "1" else None]

    def keep(nodeid, found):
        """Keeps what collecting `nodeid` (a module, or the whole session) depended on,
        and whether it ran a block that calls the clock or a random source."""
        if recorder.volatile_blocks.intersection(found["blocks"]):
            volatile.add(nodeid)
            fd, signal_volatile[0] = signal_volatile[0], None
            if fd is not None:
                try:
                    os.write(fd, VOLATILE_SIGNAL)
                    os.close(fd)
                except OSError:
                    pass
        result["module_deps"][nodeid] = found

    class Recorder:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_make_collect_report(self, collector):
            is_module = recorder is not None and not whole_session and isinstance(collector, pytest.Module)
            if is_module:
                recorder.begin_test()
            outcome = yield
            if is_module:
                from fastest_harness.deps import MODULE_BLOCK

                # The module's own top level (and what its import ran) is a dependency.
                recorder.test.hits.add("%s::%s" % (collector.nodeid.split("::")[0], MODULE_BLOCK))
                found = recorder.end_test(collector.nodeid)
                if found.get("same"):
                    found = last_deps[0]
                last_deps[0] = found
                keep(collector.nodeid, found)
            if python_part_of_doctest_only(collector):
                # Same node id as the DoctestModule: mark the report itself.
                try:
                    outcome.get_result()._fastest_ignored = True
                except BaseException:
                    pass

        def pytest_collectreport(self, report):
            if report.failed and not getattr(report, "_fastest_ignored", False):
                error = {"nodeid": report.nodeid, "longrepr": str(report.longrepr)}
                message = crash_message(report)
                if message is not None:
                    error["message"] = message
                result["errors"].append(error)
            elif report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
                # A module that skips itself at import (`allow_module_level=True`).
                path, lineno, reason = report.longrepr
                result["skipped"].append({"nodeid": report.nodeid, "skip": [str(path), int(lineno or 0), str(reason)]})

        def pytest_deselected(self, items):
            result["deselected"] += len(items)
            by_file = result["deselected_by_file"]
            for item in items:
                path = item.nodeid.split("::", 1)[0]
                by_file[path] = by_file.get(path, 0) + 1

        def pytest_collection_finish(self, session):
            kept = [item for item in session.items if not python_part_of_doctest_only(item)]
            result["items"] = [item.nodeid for item in kept]
            result["item_match"] = [_item_match(item) for item in kept]

    # pytest's own terminal output is not ours to show: silence it at the fd level.
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(devnull, 1)
    if whole_session:
        recorder.begin_test()
    try:
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider"] + args, plugins=[Recorder()])
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    if whole_session:
        keep(SESSION_ID, recorder.end_test(SESSION_ID))
    result["volatile"] = sorted(volatile)
    result["exit_code"] = int(code)
    _write(out_path, result)


def crash_message(report):
    """What pytest's short summary shows after `ERROR path - ` (its
    `_get_line_with_reprcrash_message`): the crash message, when the report has one."""
    try:
        return str(report.longrepr.reprcrash.message)
    except AttributeError:
        return None


def _item_match(item):
    """What `-m` and `-k` match for this item: its marks and pytest's own
    `KeywordMatcher` names (the runner evaluates the expressions, so a stored collection
    serves any of them)."""
    marks = sorted({mark.name for mark in item.iter_markers()})
    try:
        from _pytest.mark import KeywordMatcher

        keywords = KeywordMatcher.from_item(item)._names
    except Exception:  # noqa: BLE001 - another pytest's internals: pytest 8's rules
        import pytest

        keywords = set()
        directory = getattr(pytest, "Directory", None)
        for node in item.listchain():
            if isinstance(node, pytest.Session):
                continue
            if directory is not None and isinstance(node, directory) and isinstance(node.parent, pytest.Session):
                continue
            keywords.add(node.name)
        keywords.update(item.listextrakeywords())
        function = getattr(item, "function", None)
        if function is not None:
            keywords.update(getattr(function, "__dict__", {}))
        keywords.update(marks)
    callspec = getattr(item, "callspec", None)
    params = sorted(callspec.params) if callspec is not None else []
    found = {"marks": marks, "keywords": sorted(str(k) for k in keywords), "params": params}
    # What `--collect-only` prints for it (pytest's `_printcollecteditems`), each node
    # with the docstring `-v` prints under it.
    found["tree"] = [str(node) + _doc_lines(node) for node in item.listchain()[1:-1]]
    doc = _doc_lines(item)
    if doc:
        found["doc"] = doc[1:]
    found["kind"] = kind = type(item).__name__
    nodeid = item.nodeid
    # The node id's spelling of `item.name` (fastest_report::tree::node_name).
    if "::" in nodeid:
        rest = nodeid.split("::", 1)[1]
        head, bracket, params = rest.partition("[")
        name = head.rsplit("::", 1)[-1] + bracket + params
    else:
        name = nodeid.rsplit("/", 1)[-1]
    own = str(item)
    if own != "<%s %s>" % (kind, name):
        found["repr"] = own
    return found


_DOCS = {}


def _doc_lines(node):
    """The docstring `--collect-only -v` prints under `node` (pytest's
    `_printcollecteditems`: `inspect.getdoc` of its object), each line after a newline;
    empty when it has none."""
    try:
        obj = getattr(node, "obj", None)
        if not obj:
            return ""
        key = id(obj)
        if key not in _DOCS:
            import inspect

            doc = inspect.getdoc(obj)
            # (The object is kept so that its id is not reused.)
            _DOCS[key] = (obj, "".join("\n" + line for line in doc.splitlines()) if doc else "")
        return _DOCS[key][1]
    except Exception:
        return ""


def _write(path, result):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
