import pytest


@pytest.fixture
def per_test():
    return []


@pytest.fixture(scope="module")
def per_module():
    return []


@pytest.fixture(params=["a", "b"])
def letter(request):
    return request.param


MARKED_AT_SETUP = {}


@pytest.fixture(autouse=True)
def marked(request):
    # The plugin marks @given tests at collection: fixtures already see the mark.
    MARKED_AT_SETUP[request.node.name] = request.node.get_closest_marker("hypothesis") is not None
