import pytest

from pkg import calc


def test_add():
    assert calc.add(2, 3) == 5


@pytest.mark.parametrize("x, expected", [(-1, 0), (5, 5)])
def test_clamp(x, expected):
    assert calc.clamp(x, 0, 10) == expected


def test_describe(config):
    assert not config["debug"]
    assert calc.describe(3) == "even,odd,even"
