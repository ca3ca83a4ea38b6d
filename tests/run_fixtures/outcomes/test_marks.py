"""Parametrize, skip, skipif, xfail and failures of several kinds."""
import sys

import pytest


@pytest.mark.parametrize("n, expected", [(1, 2), (2, 3), pytest.param(3, 5, id="wrong")])
def test_increment(n, expected):
    assert n + 1 == expected


@pytest.mark.parametrize("x", [1, 2])
@pytest.mark.parametrize("y", ["a", "b"])
def test_stacked(x, y):
    assert (x, y) != (2, "b")


@pytest.mark.skip(reason="not today")
def test_skip():
    raise AssertionError


@pytest.mark.skipif(sys.version_info > (3,), reason="python 3")
def test_skipif_true():
    raise AssertionError


@pytest.mark.skipif("sys.platform == 'nonexistent'")
def test_skipif_string_false():
    pass


def test_skip_inside():
    pytest.skip("decided at run time")


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0


@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    pass


@pytest.mark.xfail(strict=True, reason="strict")
def test_xpass_strict():
    pass


@pytest.mark.xfail(raises=KeyError)
def test_xfail_wrong_exception():
    raise ValueError("not a KeyError")


def test_imperative_xfail():
    pytest.xfail("later")


def test_dict_diff():
    assert {"a": 1, "b": 2} == {"a": 1, "b": 3}


def test_raises_ok():
    with pytest.raises(ZeroDivisionError, match="division"):
        1 / 0


def test_print_and_fail():
    print("some output")
    raise ValueError("boom")


class TestUnittestStyle:
    def test_in_class(self):
        assert True
