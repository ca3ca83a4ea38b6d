import pytest

LOG = []


@pytest.fixture(scope="session")
def log():
    return LOG


@pytest.fixture(scope="session", autouse=True)
def session_auto():
    LOG.append("session")
