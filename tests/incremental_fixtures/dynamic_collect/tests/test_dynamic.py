"""Parameter sets only Python can compute: from project code, a data file, the environment."""
import os

import pytest

from pkg.values import cases

with open(os.path.join(os.path.dirname(__file__), "names.txt")) as f:
    NAMES = f.read().split()


@pytest.mark.parametrize("n", cases())
def test_case(n):
    assert n > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_name(name):
    assert name


@pytest.mark.parametrize("level", [os.environ.get("DYN_LEVEL", "low")])
def test_level(level):
    assert level
