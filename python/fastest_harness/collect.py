"""Dynamic collection: runs real pytest collection in-process and writes the items as JSON.

Usage: python -m fastest_harness.collect OUT_JSON PYTEST_ARG...
The JSON is the `DynamicCollection` wire type of crates/fastest-protocol.
"""
import json
import os
import sys

PROTOCOL_VERSION = 3


def main():
    out_path = sys.argv[1]
    args = sys.argv[2:]
    result = {"protocol": PROTOCOL_VERSION, "items": [], "errors": [], "deselected": 0, "fatal": None}
    try:
        import pytest
    except ImportError as exc:
        result["fatal"] = "pytest is not installed in %s (%s); it is needed to collect modules that cannot be analysed statically" % (sys.executable, exc)
        _write(out_path, result)
        return

    class Recorder:
        def pytest_collectreport(self, report):
            if report.failed:
                result["errors"].append({"nodeid": report.nodeid, "longrepr": str(report.longrepr)})

        def pytest_deselected(self, items):
            result["deselected"] += len(items)

        def pytest_collection_finish(self, session):
            result["items"] = [item.nodeid for item in session.items]

    # pytest's own terminal output is not ours to show: silence it at the fd level.
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(devnull, 1)
    try:
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider"] + args, plugins=[Recorder()])
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    result["exit_code"] = int(code)
    _write(out_path, result)


def _write(path, result):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
