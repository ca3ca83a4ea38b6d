import pytest

LOG = []


@pytest.fixture(scope="session")
def session_log():
    LOG.append("session-setup")
    yield LOG
    LOG.append("session-teardown")


@pytest.fixture(scope="module")
def module_value():
    yield {"count": 0}


@pytest.fixture(autouse=True)
def autouse_marker(request):
    request.node.autouse_ran = True
    yield


@pytest.fixture
def overridden():
    return "conftest"
