import pytest


@pytest.fixture
def where():
    return "a"
