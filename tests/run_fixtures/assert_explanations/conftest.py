import pytest

pytest.register_assert_rewrite("helpers")


@pytest.fixture
def check_positive():
    def check(value):
        assert value > 0
    return check
