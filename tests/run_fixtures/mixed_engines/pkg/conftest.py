"""A hook the native engine does not run: the tests of this package (its doctests) go to
pytest-engine workers, the tests under tests/ run natively beside them."""


def pytest_runtest_setup(item):
    item.user_properties.append(("hooked", True))
