from conftest import STATE


def test_value_matches_the_id(impl, request):
    assert STATE["impl"] == impl
    assert request.node.name.endswith("[%s]" % impl)


def test_module_fixture_follows(per_module, impl):
    assert per_module == "module-" + impl


class TestInClass:
    def test_method(self, impl):
        assert STATE["impl"] == impl

    def test_fails_for_fast(self, impl):
        assert impl != "fast"


def test_shared_is_set_up_once(shared):
    from conftest import SHARED_SETUPS

    assert shared == 1 and len(SHARED_SETUPS) == 1
