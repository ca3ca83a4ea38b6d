"""The pytest engine: real pytest in-process, restricted to the node ids the runner sends,
with every report streamed over the protocol. Plugins and hooks work as under pytest."""
import os

from fastest_harness.reports import plugin_status, report_fields


def _main_keeping_stderr(pytest, args, plugin, forward):
    """pytest.main's exit code and what pytest wrote to sys.stderr meanwhile."""
    import io
    import sys

    class Tee(io.TextIOBase):
        def __init__(self, inner, forward):
            self.inner = inner
            self.forward = forward
            self.text = io.StringIO()

        def write(self, s):
            if self.text.tell() < 65536:  # only pytest's own message is wanted
                self.text.write(s)
            # Outside tests this is the worker's stderr, shown only for a crash; the
            # message is sent over the protocol instead.
            return self.inner.write(s) if self.forward else len(s)

        def flush(self):
            self.inner.flush()

        def fileno(self):
            return self.inner.fileno()

        def isatty(self):
            return self.inner.isatty()

        @property
        def encoding(self):
            return getattr(self.inner, "encoding", "utf-8")

    saved = sys.stderr
    tee = Tee(saved, forward)
    sys.stderr = tee
    try:
        code = pytest.main(args, plugins=[plugin])
    finally:
        if sys.stderr is tee:
            sys.stderr = saved
    return int(code), tee.text.getvalue()


def positional_renames(wanted, items):
    """{worker node id: runner node id} for parametrized tests whose ids differ in this
    process (ids built from the clock, say): when some of a function's wanted ids were not
    collected here and it has exactly as many parameter sets here as were sent (a module's
    tests go to one worker), they pair up in order. Anything else stays unmatched and is
    reported as not run."""
    collected = {item.nodeid for item in items}
    missing_bases = {w.split("[", 1)[0] for w in wanted if "[" in w and w not in collected}
    if not missing_bases:
        return {}
    renames = {}
    for base in missing_bases:
        sent = [w for w in wanted if w.split("[", 1)[0] == base and "[" in w]
        here = [item.nodeid for item in items if item.nodeid.split("[", 1)[0] == base and "[" in item.nodeid]
        if len(sent) != len(here):
            continue
        renames.update({mine: theirs for mine, theirs in zip(here, sent) if mine != theirs})
    return renames


class PytestEngine:
    def __init__(self, config, channel):
        import pytest  # noqa: F401  (fails loudly if missing: the runner checked already)

        self.config = config
        self.channel = channel
        self.debugger = config.get("debugger")
        # `--pdb` / `--trace`: pytest's own debugging plugin runs the debugger; it writes
        # the failure through the terminal reporter, so that writer is pointed at the
        # terminal (a copy of fd 1 taken before pytest's capture) while it does.
        self.terminal = os.fdopen(os.dup(1), "w", buffering=1) if self.debugger else None
        self.recorder = None
        self.coverage = None  # the worker's coverage.py object with --cov (worker.py)
        if config.get("record"):
            from fastest_harness import deps

            self.recorder = deps.install(config["rootdir"], config.get("code_cache"), deps.default_excludes())
            deps.patch_pytest_rewrite()

    def run(self, items):
        import pytest

        channel = self.channel
        engine = self
        wanted = [it["nodeid"] for it in items]
        wanted_set = set(wanted)
        files = []
        seen = set()
        for nodeid in wanted:
            path = nodeid.split("::", 1)[0]
            if path not in seen:
                seen.add(path)
                files.append(os.path.join(self.config["rootdir"], path))
        want_sections = bool(self.config.get("ini", {}).get("report_passes"))
        # This worker's ids for the runner's, where parameter ids differ between processes.
        rename = {}
        recorder = self.recorder
        if recorder is not None:
            from fastest_harness.deps import node_key_for_scope

        class Plugin:
            @pytest.hookimpl(trylast=True)
            def pytest_configure(self, config):
                self.pytest_config = config  # for the plugins' report statuses
                # pytest's terminal output is not ours to show; keep the reporter object
                # (assertion explanations need its writer) but point it at /dev/null.
                reporter = config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    from _pytest.config import create_terminal_writer

                    reporter._tw = create_terminal_writer(config, open(os.devnull, "w"))

            @pytest.hookimpl(hookwrapper=True, tryfirst=True)
            def pytest_exception_interact(self, node, call, report):
                if engine.debugger != "pdb":
                    yield
                    return
                engine.take_terminal(report.nodeid)
                from _pytest.config import create_terminal_writer

                reporter = node.config.pluginmanager.get_plugin("terminalreporter")
                saved = reporter._tw if reporter is not None else None
                if reporter is not None:
                    reporter._tw = create_terminal_writer(node.config, engine.terminal)
                try:
                    yield
                finally:
                    if reporter is not None:
                        reporter._tw = saved

            @pytest.hookimpl(hookwrapper=True, tryfirst=True)
            def pytest_pyfunc_call(self, pyfuncitem):
                if engine.debugger == "trace":
                    engine.take_terminal(pyfuncitem.nodeid)
                yield

            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_call(self, item):
                # pytest-cov's `no_cover` (mark or fixture), as its own hook does.
                cov = engine.coverage
                paused = cov is not None and (
                    item.get_closest_marker("no_cover") is not None or "no_cover" in getattr(item, "fixturenames", ())
                )
                if paused:
                    cov.stop()
                try:
                    yield
                finally:
                    if paused:
                        cov.start()

            @pytest.hookimpl(trylast=True)
            def pytest_collection_modifyitems(self, session, config, items):
                rename.update(positional_renames(wanted, items))
                items[:] = [item for item in items if item.nodeid in wanted_set or item.nodeid in rename]

            def pytest_collectreport(self, report):
                if report.failed:
                    from fastest_harness.collect import crash_message

                    channel.send("collect_error", nodeid=report.nodeid, longrepr=report.longreprtext, message=crash_message(report))

            # A plugin may run an item's protocol more than once (pytest-rerunfailures
            # logs start and finish per attempt): the test starts at its first logstart
            # and finishes when pytest_runtest_protocol returns, with every attempt's
            # reports in between.
            started = None  # the node id of the item whose protocol is running
            unittest_item = False  # whether that item is a unittest.TestCase method
            unittest_types = _unittest_function_types()

            def pytest_runtest_logstart(self, nodeid, location):
                if self.started == nodeid:
                    return
                self.started = nodeid
                if recorder is not None:
                    recorder.begin_test()
                channel.send("start", nodeid=rename.get(nodeid, nodeid))

            @pytest.hookimpl(hookwrapper=True, tryfirst=True)
            def pytest_runtest_protocol(self, item, nextitem):
                self.unittest_item = isinstance(item, self.unittest_types)
                yield
                self.unittest_item = False
                nodeid, self.started = self.started, None
                if nodeid is None:
                    return  # nothing logged (a plugin skipped the protocol)
                nodeid = rename.get(nodeid, nodeid)
                if recorder is None:
                    channel.send("finish", nodeid=nodeid)
                else:
                    channel.send("finish", nodeid=nodeid, deps=recorder.end_test(nodeid, delta=True))

            def pytest_runtest_logreport(self, report):
                fields = report_fields(report, want_sections)
                fields["nodeid"] = rename.get(report.nodeid, report.nodeid)
                status = plugin_status(report, self.pytest_config)
                if status is not None:
                    fields["status"] = status
                    # pytest 9 logs a unittest subtest from inside the test: the letter or
                    # word goes to the test's capture, not to the progress line.
                    if self.unittest_item and type(report).__name__ == "SubtestReport":
                        fields["progress_captured"] = True
                channel.send("report", **fields)

            def pytest_warning_recorded(self, warning_message, when, nodeid, location):
                from _pytest.warnings import warning_record_to_str

                where = nodeid
                if not where and warning_message.filename:
                    # pytest's bestrelpath from the invocation directory.
                    rel = os.path.relpath(os.path.abspath(warning_message.filename))
                    where = "%s:%s" % (rel, warning_message.lineno)
                channel.send("warning", message=warning_record_to_str(warning_message), location=where or None, nodeid=nodeid)

            @pytest.hookimpl(hookwrapper=True)
            def pytest_fixture_setup(self, fixturedef, request):
                # What a higher-scope fixture runs belongs to every test under its node.
                key = None
                if recorder is not None and fixturedef.scope != "function":
                    # The test's ancestor key for that scope (pytest's request.node falls
                    # back to the item itself for a class fixture on a plain function);
                    # a package is pytest's own Package node.
                    key = node_key_for_scope(request._pyfuncitem.nodeid, fixturedef.scope)
                    if fixturedef.scope == "package":
                        key = getattr(request.node, "nodeid", key)
                if key is None:
                    yield
                    return
                with recorder.node_frame(key):
                    yield

        args = list(self.config.get("pytest_args", []))
        args += ["--continue-on-collection-errors"]
        if self.config.get("capture") == "no":
            args.append("-s")
        tbstyle = self.config.get("tbstyle") or "auto"
        args.append("--tb=%s" % tbstyle)
        if self.config.get("showlocals"):
            args.append("--showlocals")
        verbose = int(self.config.get("verbose", 0))
        if verbose > 0:
            args.append("-" + "v" * verbose)
        elif verbose < 0:
            # Plugins read it (pytest 9's subtests count passes only when not quiet).
            args.append("-" + "q" * -verbose)
        if self.debugger:
            args.append("--" + self.debugger)
        code, stderr_text = _main_keeping_stderr(pytest, args + (self.config.get("collect_args") or files), Plugin(), self.config.get("capture") == "no")
        if self.debugger and code == 2:
            from fastest_harness.debugger import quit_message

            channel.send("fatal", message=quit_message(), exit_code=2)
        elif code in (3, 4):
            # pytest stopped before running anything (a conftest that fails to import, a
            # usage error): the run ends with its message and exit code, as pytest's would.
            channel.send("fatal", message=stderr_text.rstrip(), exit_code=code)

    def take_terminal(self, nodeid):
        """Waits until the runner has flushed its output (see `debugger.py`)."""
        self.channel.send("interact", nodeid=nodeid)
        self.channel.receive()

    def shutdown(self):
        pass


def _unittest_function_types():
    """pytest's item type for a unittest.TestCase method (none if it cannot be found)."""
    try:
        from _pytest.unittest import TestCaseFunction
    except ImportError:
        return ()
    return (TestCaseFunction,)
