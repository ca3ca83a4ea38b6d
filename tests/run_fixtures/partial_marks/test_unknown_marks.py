"""Marks added by a decorator: not known statically, so -m is evaluated by Python here."""
import pytest


def tagged(func):
    return pytest.mark.slow(func)


@tagged
def test_slow_by_decorator():
    pass


def test_fast_here():
    pass
