"""A test module with doctests: they run before its setup_module, as in pytest."""
calls = []


def setup_module():
    calls.append("setup_module")


def helper():
    """
    >>> calls
    []
    """


def test_plain():
    assert calls == ["setup_module"]
