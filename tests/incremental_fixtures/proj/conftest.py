import pytest

from pkg import helpers


@pytest.fixture(scope="session")
def base():
    return helpers.base_value()
