"""Reads the clock at collection (the whole session is then checked under a shifted
clock); its ids do not depend on it, so the session's collection is still reused."""
import datetime

import pytest

TODAY = datetime.datetime.now()


@pytest.mark.parametrize("when", [TODAY, TODAY.date()])
def test_dated(when):
    assert when.year > 2000
