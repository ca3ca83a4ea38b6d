"""Warnings raised by tests: the warnings summary must read as pytest's (grouping, per-file counts, filterwarnings)."""
import warnings
import pytest

def test_one():
    warnings.warn("careful", UserWarning)

def test_two():
    warnings.warn("old api", DeprecationWarning)

@pytest.mark.parametrize("i", range(12))
def test_many(i):
    warnings.warn("repeated", UserWarning)

@pytest.mark.filterwarnings("ignore:careful")
def test_ignored():
    warnings.warn("careful", UserWarning)

def test_plain():
    pass
