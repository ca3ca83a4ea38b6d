import os

# Known only at run time: Python decides which files count; the rest still runs natively.
collect_ignore = []
if os.environ.get("FASTEST_FIXTURE_KEEP_IGNORED") is None:
    collect_ignore.append("test_ignored.py")

CONFIGURED = []


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a slow test")
    CONFIGURED.append(True)
