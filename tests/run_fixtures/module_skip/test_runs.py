def test_one():
    pass


def test_two():
    assert 1 + 1 == 2
