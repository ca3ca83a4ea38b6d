"""No timeout marks: the native engine's own limit fails a hung test, as pytest-timeout does."""
import time


def test_unmarked_hang():
    time.sleep(30)


def test_unmarked_quick():
    pass
