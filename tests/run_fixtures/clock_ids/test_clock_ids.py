"""Parameter ids made from the clock: no two processes collect the same ids."""
import time

import pytest


@pytest.mark.parametrize("stamp", ["fixed", str(time.time_ns()), str(time.time_ns() + 1)])
def test_stamp(stamp):
    assert stamp
