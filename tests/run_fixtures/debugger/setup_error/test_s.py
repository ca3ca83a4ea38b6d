import pytest


@pytest.fixture
def broken():
    value = "in the fixture"
    raise RuntimeError("setup failed")


def test_uses_broken_fixture(broken):
    pass
