"""Turns pytest `TestReport`s (or the native engine's equivalent) into protocol fields."""


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
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        fields["wasxfail"] = wasxfail
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, lineno, reason = longrepr
        fields["skip"] = [str(path), int(lineno) if lineno is not None else 0, str(reason)]
    elif longrepr is not None:
        fields["longrepr"] = terminal_text(longrepr)
        fields["message"] = crash_message(longrepr)
    teardown_output = report.when == "teardown" and any("teardown" in t for t, _ in report.sections)
    if report.failed or want_sections or teardown_output:
        fields["sections"] = [[title, text] for title, text in report.sections]
    return fields


def sep_line(ch, title, width):
    """pytest's `TerminalWriter.sep` line for `title` at `width` (no newline)."""
    n = max((width - len(title) - 2) // (2 * len(ch)), 1)
    fill = ch * n
    line = "%s %s %s" % (fill, title, fill)
    if len(line) + len(ch.rstrip()) <= width:
        line += ch.rstrip()
    return line
