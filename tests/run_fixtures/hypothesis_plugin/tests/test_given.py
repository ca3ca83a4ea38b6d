"""What Hypothesis's pytest plugin changes: each test here has pytest's outcome only
when the plugin's effects are reproduced."""

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st


@given(st.integers())
def test_passes(x):
    assert isinstance(x, int)


@given(st.integers(min_value=0))
def test_fails_with_a_falsifying_example(x):
    assert x < 10


@given(x=st.text())
def test_marked_by_the_plugin(request, x):
    assert request.node.get_closest_marker("hypothesis") is not None


def test_plain_tests_are_not_marked(request):
    from conftest import MARKED_AT_SETUP

    assert request.node.get_closest_marker("hypothesis") is None
    assert MARKED_AT_SETUP["test_marked_by_the_plugin"] is True


@given(st.integers())
def test_function_scoped_fixture_fails_the_health_check(per_test, x):
    per_test.append(x)


@given(st.integers())
def test_builtin_function_scoped_fixture_too(tmp_path, x):
    assert tmp_path.exists()


@given(st.integers())
def test_module_scoped_fixture_is_fine(per_module, x):
    per_module.append(x)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers())
def test_suppressed_health_check(per_test, x):
    per_test.append(x)


@settings(max_examples=5)
def test_settings_without_given_is_an_error():
    pass


@example(1)
def test_example_without_given_is_an_error(x=1):
    pass


@given(st.integers())
def test_fixture_with_params(letter, x):
    # A parametrized fixture: a function-scoped one fails the health check as well.
    assert letter in "ab"


class TestParametrizedMethods:
    # Each parameter runs on a new instance: without the plugin, Hypothesis's
    # differing_executors health check fails all but the first.
    @pytest.mark.parametrize("n", [1, 2, 3])
    @given(st.booleans())
    def test_each_parameter(self, n, b):
        assert n in (1, 2, 3)


@given(st.integers())
def test_request_is_not_a_function_scoped_fixture(request, x):
    assert request.node is not None
