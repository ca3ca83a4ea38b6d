import pytest

EVENTS = []


@pytest.fixture
def ini_used():
    EVENTS.append("ini_used")


@pytest.fixture
def overridden():
    return "root"


@pytest.fixture
def events():
    return EVENTS
