import pytest


@pytest.mark.slow
def test_slow_known():
    pass


def test_fast_known():
    pass
