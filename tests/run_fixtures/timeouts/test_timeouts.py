"""pytest-timeout's semantics: the global limit, a longer limit by mark, no limit by mark."""
import time

import pytest


def test_hangs_past_the_limit():
    time.sleep(30)


@pytest.mark.timeout(10)
def test_marked_with_a_longer_limit():
    time.sleep(2.5)


@pytest.mark.timeout(0)
def test_marked_without_a_limit():
    time.sleep(2.5)


def test_quick():
    pass
