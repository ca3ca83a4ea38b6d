"""Which parameters are fixtures (pytest's getfuncargnames) and which class fixtures a
test sees (parsefactories over dir(), inherited ones included, autouse in name order)."""
import functools

import pytest


@pytest.fixture
def answer():
    return 42


def test_keyword_only_parameters_are_fixtures(*, answer, module_value):
    assert answer == 42


def test_parameters_with_defaults_are_not(answer, unused=3, *, also_unused=4):
    assert (answer, unused, also_unused) == (42, 3, 4)


def test_positional_only_parameters_are_not(answer, /):
    # pytest passes fixtures by keyword: a positional-only one is never filled.
    assert answer == 42


# Registered in name order (pytest's parsefactories walks dir()), not definition order.
@pytest.fixture(autouse=True)
def module_c(request):
    request.node.module_order = getattr(request.node, "module_order", []) + ["c"]


@pytest.fixture(autouse=True)
def module_a(request):
    request.node.module_order = getattr(request.node, "module_order", []) + ["a"]


@pytest.fixture(autouse=True)
def module_b(request):
    request.node.module_order = getattr(request.node, "module_order", []) + ["b"]


def test_module_autouse_fixtures_run_in_name_order(request):
    assert request.node.module_order == ["a", "b", "c"]


def keeps_signature(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


@keeps_signature
def test_a_wrapped_function_shows_the_wrapped_signature(answer):
    assert answer == 42


class Base:
    @pytest.fixture(autouse=True)
    def zeta(self, request):
        request.node.order = getattr(request.node, "order", []) + ["zeta"]

    @pytest.fixture(autouse=True)
    def alpha(self, request):
        request.node.order = getattr(request.node, "order", []) + ["alpha"]

    @pytest.fixture
    def greeting(self):
        return "base"


class TestInherited(Base):
    @pytest.fixture
    def greeting(self):
        return "derived"

    def test_inherited_autouse_fixtures_run_in_name_order(self, request):
        assert request.node.order == ["alpha", "zeta"]

    def test_the_subclass_fixture_overrides_the_base_one(self, greeting):
        assert greeting == "derived"

    @staticmethod
    def test_a_static_method_takes_fixtures(answer):
        assert answer == 42
