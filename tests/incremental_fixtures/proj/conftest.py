import os

import pytest

from pkg import helpers


@pytest.fixture(scope="session")
def base():
    return helpers.base_value()


@pytest.fixture(scope="session")
def settings():
    with open(os.path.join(os.path.dirname(__file__), "tests", "settings.txt")) as f:
        return f.read().strip()
