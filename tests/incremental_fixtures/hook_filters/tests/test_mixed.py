"""Collected by Python (parameters are not literal); one test is slow."""
import pytest

CASES = list(range(2))


@pytest.mark.parametrize("n", CASES)
def test_fast(n):
    assert n >= 0


@pytest.mark.slow
@pytest.mark.parametrize("n", CASES)
def test_slow(n):
    assert n >= 0
