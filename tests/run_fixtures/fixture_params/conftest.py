import pytest

EVENTS = []


@pytest.fixture(params=["json", "yaml"])
def fmt(request):
    return request.param


@pytest.fixture(params=[1, 2], ids=["one", "two"], scope="module")
def num(request):
    EVENTS.append(("setup num", request.param))
    yield request.param
    EVENTS.append(("teardown num", request.param))
