"""Doctests see the `doctest_namespace` an autouse fixture fills, as under pytest."""
import pytest


@pytest.fixture(autouse=True)
def add_names(doctest_namespace):
    doctest_namespace["answer"] = 42
