"""A session-scoped parametrized autouse fixture (as markupsafe's `_mod`): pytest orders
the items of every module by its parameter, and the value must be set up again, with the
narrower fixtures built on it, whenever the parameter changes."""
import pytest

STATE = {}
EVENTS = []


@pytest.fixture(
    scope="session",
    autouse=True,
    params=["plain", "fast", pytest.param("off", marks=pytest.mark.skip(reason="impl off"))],
)
def impl(request):
    assert "impl" not in STATE, "the previous parameter's value was not torn down"
    STATE["impl"] = request.param
    EVENTS.append(("setup", request.param))
    yield request.param
    del STATE["impl"]
    EVENTS.append(("teardown", request.param))


@pytest.fixture(scope="module")
def per_module(impl):
    return "module-" + impl


SHARED_SETUPS = []


@pytest.fixture(scope="session")
def shared():
    """Not parametrized and independent of `impl`: one value for the whole session."""
    SHARED_SETUPS.append(1)
    return len(SHARED_SETUPS)
