"""Turns pytest `TestReport`s (or the native engine's equivalent) into protocol fields."""
import os


def crash_message(longrepr):
    """The `reprcrash.message` pytest shows after `FAILED nodeid - `."""
    if isinstance(longrepr, str):
        return longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return ""


def terminal_text(longrepr):
    """The failure text as pytest's terminal shows it (pytest's `longreprtext` strips
    the leading blank line and the first line's indentation; the terminal does not)."""
    if hasattr(longrepr, "toterminal"):
        import io

        from _pytest._io import TerminalWriter

        buf = io.StringIO()
        tw = TerminalWriter(file=buf)
        tw.hasmarkup = False
        longrepr.toterminal(tw)
        return buf.getvalue().rstrip("\n")
    return str(longrepr)


def report_fields(report, want_sections):
    """Fields of a `FromWorker::Report` message from a pytest TestReport."""
    fields = {
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "duration": report.duration,
    }
    if report.location:
        # pytest's location: (path, 0-based lineno or None, domain).
        path, lineno, domain = report.location
        fields["location"] = [path, lineno or 0, domain]
        head = getattr(report, "head_line", None)
        if head and head != domain:
            # A plugin's report names itself (a subtest: `test_x [msg] (i=1)`): pytest
            # heads its failure section with that.
            fields["location"][2] = head
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        fields["wasxfail"] = wasxfail
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, lineno, reason = longrepr
        path = str(path)
        if os.path.isabs(path):
            # A skip at the item's location (`_use_item_location`) carries its absolute
            # path; pytest's summary shows it relative (`bestrelpath`).
            path = os.path.relpath(path)
        fields["skip"] = [path, int(lineno) if lineno is not None else 0, str(reason)]
    elif longrepr is not None:
        fields["longrepr"] = terminal_text(longrepr)
        fields["message"] = crash_message(longrepr)
    teardown_output = report.when == "teardown" and any("teardown" in t for t, _ in report.sections)
    if report.failed or want_sections or teardown_output:
        fields["sections"] = [[title, text] for title, text in report.sections]
    if report.when == "teardown" and getattr(report, "user_properties", None):
        fields["user_properties"] = [[str(name), str(value)] for name, value in report.user_properties]
    return fields


def _usual_status(report):
    """What fastest's reporter shows for a report by its outcome alone (crates/
    fastest-report `teststatus`): pytest's own answer for plain reports."""
    xfail = hasattr(report, "wasxfail")
    outcome, when = report.outcome, report.when
    if outcome == "skipped":
        return ("xfailed", "x", "XFAIL") if xfail else ("skipped", "s", "SKIPPED")
    if outcome == "passed":
        if when != "call":
            return ("", "", "")
        return ("xpassed", "X", "XPASS") if xfail else ("passed", ".", "PASSED")
    if outcome == "failed":
        return ("failed", "F", "FAILED") if when == "call" else ("error", "E", "ERROR")
    return None


def plugin_status(report, config):
    """pytest's `pytest_report_teststatus` answer `[category, letter, word]` when a plugin
    made it differ from the usual one (subtests, reruns), else None."""
    try:
        answer = config.hook.pytest_report_teststatus(report=report, config=config)
    except Exception:  # noqa: BLE001  (a plugin's hook failing: the usual status)
        return None
    if not answer:
        return None
    category, letter, word = answer
    if isinstance(word, tuple):  # (word, markup)
        word = word[0]
    status = (str(category or ""), str(letter or ""), str(word or ""))
    return None if status == _usual_status(report) else list(status)


def sep_line(ch, title, width):
    """pytest's `TerminalWriter.sep` line for `title` at `width` (no newline)."""
    n = max((width - len(title) - 2) // (2 * len(ch)), 1)
    fill = ch * n
    line = "%s %s %s" % (fill, title, fill)
    if len(line) + len(ch.rstrip()) <= width:
        line += ch.rstrip()
    return line
