"""A conftest that sets a default -m, as many projects do to skip slow tests."""


def pytest_configure(config):
    if not config.option.markexpr:
        config.option.markexpr = "not slow"
