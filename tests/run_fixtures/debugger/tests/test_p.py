def test_ok():
    assert 1


def test_fail():
    x = 41
    print("hello from the test")
    assert x + 1 == 43


def test_after():
    assert True
