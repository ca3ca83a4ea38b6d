def test_ok():
    pass


def test_bad():
    assert 1 + 1 == 3


def test_never_reached_with_x():
    pass
