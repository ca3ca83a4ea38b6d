"""Turns pytest `TestReport`s (or the native engine's equivalent) into protocol fields."""


def crash_message(longrepr):
    """The `reprcrash.message` pytest shows after `FAILED nodeid - `."""
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return ""


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
        fields["longrepr"] = report.longreprtext
        fields["message"] = crash_message(longrepr)
    if report.failed or want_sections:
        fields["sections"] = [[title, text] for title, text in report.sections]
    return fields
