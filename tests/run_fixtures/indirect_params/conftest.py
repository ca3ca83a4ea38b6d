import pytest

SETUPS = []


@pytest.fixture(scope="module")
def resource(request):
    SETUPS.append(("resource", request.param))
    yield "resource-%s" % request.param
    SETUPS.append(("resource torn down", request.param))


@pytest.fixture
def doubled(request):
    return request.param * 2


@pytest.fixture
def setups():
    return SETUPS
