import pytest


@pytest.fixture
def from_plugin():
    return "plugin value"


def pytest_collection_modifyitems(config, items):
    kept = [i for i in items if i.get_closest_marker("not_here") is None]
    config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.name == "test_known_bug" and call.when == "call" and report.failed:
        report.outcome = "skipped"
        report.wasxfail = "known bug, marked by the plugin"
