"""Reads the clock at collection; the ids do not depend on it (until the test edits the
parametrize to make them from the year)."""
import datetime

import pytest

NOW = datetime.datetime.now()


@pytest.mark.parametrize("when", [NOW, NOW.date()])
def test_when(when, two):
    assert when.year > 2000 and two == 2
