import pytest


@pytest.fixture
def overridden(overridden):
    return overridden + ">module"


def test_override_chain(overridden):
    assert overridden == "root>sub>module"
