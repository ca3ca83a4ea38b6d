import pytest


@pytest.mark.not_registered_anywhere
def test_with_unknown_mark():
    pass


def test_plain():
    pass
