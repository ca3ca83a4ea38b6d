from pkg import calc


def test_fails():
    assert calc.add(1, 1) == 3
