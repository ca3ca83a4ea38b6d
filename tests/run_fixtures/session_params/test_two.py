import pytest

from conftest import EVENTS, STATE


@pytest.mark.parametrize("n", [1, 2])
def test_with_parametrize(impl, n, request):
    assert STATE["impl"] == impl
    assert request.node.name == "test_with_parametrize[%s-%d]" % (impl, n)


def test_module_fixture_is_fresh(per_module, impl):
    assert per_module == "module-" + impl


def test_last_event_is_this_setup(impl):
    assert EVENTS[-1] == ("setup", impl)


def test_shared_is_set_up_once_here_too(shared):
    from conftest import SHARED_SETUPS

    assert shared == 1 and len(SHARED_SETUPS) == 1
