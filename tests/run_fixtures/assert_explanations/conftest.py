import pytest


@pytest.fixture
def check_positive():
    def check(value):
        assert value > 0
    return check
