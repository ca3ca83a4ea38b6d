"""Parametrized fixtures (params=) on the native engine, compared with pytest."""
import pytest

from conftest import EVENTS


@pytest.fixture(params=[pytest.param(0, id="zero"), 1, pytest.param(2, marks=pytest.mark.xfail(reason="two"))])
def small(request):
    assert request.param != 2
    return request.param


@pytest.fixture(params=["a", "b"], ids=lambda p: "letter-" + p)
def letter(request):
    return request.param


@pytest.fixture
def derived(letter):
    return letter * 2


@pytest.mark.parametrize("x", [10, 20])
def test_fixture_then_mark(fmt, x):
    assert fmt in ("json", "yaml") and x in (10, 20)


def test_module_scope_first(num, fmt):
    assert num in (1, 2)


def test_module_scope_alone(num):
    # One setup per parameter, torn down before the next one (pytest's reordering).
    setups = [e for e in EVENTS if e[0] == "setup num"]
    assert setups[-1] == ("setup num", num)
    assert len([e for e in EVENTS if e == ("setup num", num)]) == 1


def test_param_marks_and_ids(small):
    assert small < 2


def test_dependency_parametrized(derived):
    assert derived in ("aa", "bb")


@pytest.mark.parametrize("letter", ["direct"])
def test_direct_parametrize_wins(letter):
    assert letter == "direct"


def test_failing_for_one_param(fmt):
    assert fmt == "json"


class TestInClass:
    @pytest.fixture(params=[3, 4], scope="class")
    def per_class(self, request):
        return request.param

    def test_class_param(self, per_class, fmt):
        assert per_class in (3, 4)
