import pkg.sub


def test_plain():
    assert pkg.sub.VALUE == 1
