import pytest


def test_a():
    assert True


@pytest.mark.slow
def test_slow():
    assert True
