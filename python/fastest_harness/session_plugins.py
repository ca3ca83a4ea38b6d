"""Replays a finished run's reports into pytest plugins that write session-level output.

pytest-html (and plugins like it) build one report from every test's `TestReport`. Each
worker runs its own pytest, so left there they would each write a partial file over the
same path. As pytest-xdist's controller does, this step configures pytest once with the
user's arguments (plugins, ini, conftests), and feeds it the run's reports — also those of
tests served from the cache — through `pytest_sessionstart`, `pytest_collectreport`,
`pytest_runtest_logreport`, `pytest_sessionfinish` and `pytest_terminal_summary`. pytest's
own terminal reporter is left out of every call: the runner prints the session; what the
plugins write in the terminal summary is handed back to it.

Run as `python -m fastest_harness.session_plugins REQUEST.json RESULT.json`.
"""

import io
import json
import os
import sys
import time


class _PlaceholderItem:
    """Stands in for a collected item in `session.items` (plugins count them)."""

    def __init__(self, nodeid):
        self.nodeid = nodeid
        self.name = nodeid.rsplit("::", 1)[-1]


def _test_report(phase):
    from _pytest.reports import TestReport

    outcome = phase["outcome"]
    when = phase["when"]
    if outcome == "skipped" and phase.get("skip"):
        path, lineno, reason = phase["skip"]
        longrepr = (path, lineno, reason)
    elif phase.get("longrepr"):
        longrepr = phase["longrepr"]
    else:
        longrepr = None
    location = phase.get("location")
    if location is not None:
        location = (location[0], location[1], location[2])
    else:
        location = (phase["nodeid"].split("::", 1)[0], None, phase["nodeid"])
    sections = [tuple(s) for s in phase.get("sections") or []]
    duration = float(phase.get("duration") or 0.0)
    kwargs = dict(sections=sections, duration=duration, user_properties=[])
    try:
        report = TestReport(phase["nodeid"], location, {}, outcome, longrepr, when, start=0.0, stop=duration, **kwargs)
    except TypeError:  # pytest < 7.3 has no start/stop
        report = TestReport(phase["nodeid"], location, {}, outcome, longrepr, when, **kwargs)
    if phase.get("wasxfail") is not None:
        report.wasxfail = phase["wasxfail"]
    return report


def replay(request):
    from _pytest.config import _prepareconfig
    from _pytest.main import Session
    from _pytest.reports import CollectReport
    from _pytest._io import TerminalWriter

    config = _prepareconfig(list(request["args"]))
    summary = io.StringIO()
    try:
        config._do_configure()
        for plugin in config.pluginmanager.get_plugins():
            if isinstance(getattr(plugin, "_suite_start_time", None), float):
                # pytest-html times the session from its configure; ours began earlier.
                plugin._suite_start_time = time.time() - float(request.get("duration") or 0.0)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        others = [reporter] if reporter is not None else []

        def hook(name):
            return config.pluginmanager.subset_hook_caller(name, remove_plugins=others)

        session = Session.from_config(config)
        session.items = [_PlaceholderItem(n) for n in request["order"]]
        session.testscollected = len(session.items)
        session.testsfailed = request["failed"]
        hook("pytest_sessionstart")(session=session)
        for nodeid, longrepr in request["collect_errors"]:
            hook("pytest_collectreport")(report=CollectReport(nodeid, "failed", longrepr, []))
        hook("pytest_collection_finish")(session=session)
        for nodeid in request["order"]:
            for phase in request["results"].get(nodeid, []):
                hook("pytest_runtest_logreport")(report=_test_report(phase))
        hook("pytest_sessionfinish")(session=session, exitstatus=request["exitstatus"])
        if reporter is not None:
            # What plugins write here (pytest-html's "Generated html report" line) is
            # the runner's to print.
            writer = TerminalWriter(file=summary)
            writer.hasmarkup = False
            writer.fullwidth = request.get("width") or 80
            reporter._tw = writer
            hook("pytest_terminal_summary")(terminalreporter=reporter, exitstatus=request["exitstatus"], config=config)
    finally:
        config._ensure_unconfigure()
    return summary.getvalue()


def main(argv):
    request_path, result_path = argv
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    result = {"summary": "", "error": None}
    # Plugins may print; nothing here may reach the runner's stdout uncontrolled.
    saved_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        result["summary"] = replay(request)
    except BaseException as e:  # noqa: BLE001  (any failure is reported, never raised)
        import traceback

        result["error"] = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
    finally:
        sys.stdout = saved_stdout
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main(sys.argv[1:]))
