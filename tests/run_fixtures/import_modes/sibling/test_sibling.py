import helper


def test_helper():
    assert helper.VALUE + 1 == 42
