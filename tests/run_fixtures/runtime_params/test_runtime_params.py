"""Parameter sets and ids that only exist at run time: collected by Python, run natively."""
import enum
import math

import pytest

DOUBLES = [x * 2 for x in range(4)]
PAIRS = list(zip("abc", range(3)))


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Point:
    def __init__(self, x):
        self.x = x


@pytest.mark.parametrize("value", DOUBLES)
def test_even(value):
    assert value % 2 == 0


@pytest.mark.parametrize("letter,number", PAIRS)
def test_pairs(letter, number):
    assert "abc".index(letter) == number


@pytest.mark.parametrize("color", list(Color))
def test_enum_ids(color):
    assert color.value in (1, 2)


@pytest.mark.parametrize("point", [Point(1), Point(2)])
def test_object_ids(point):
    assert point.x < 2


@pytest.mark.parametrize("n", range(3), ids=lambda n: "n%s" % n)
def test_callable_ids(n):
    assert n >= 0


@pytest.mark.parametrize("x", [math.pi, pytest.param(math.e, marks=pytest.mark.xfail(reason="not pi"))])
@pytest.mark.parametrize("scale", [1, 2])
def test_stacked(x, scale):
    assert x * scale >= math.pi


@pytest.mark.parametrize("word", ["dup", "dup", "other"])
def test_duplicate_ids(word):
    assert word
