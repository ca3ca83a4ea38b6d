"""A small suite showing fixtures, parametrize, a class, a skip and an xfail."""
import sys

import pytest


def test_sorted(numbers):
    assert sorted(numbers) == [1, 2, 3]


@pytest.mark.parametrize("word, length", [("a", 1), ("abc", 3), pytest.param("", 0, id="empty")])
def test_length(word, length):
    assert len(word) == length


class TestGreeting:
    def test_upper(self, greeting):
        assert greeting.upper() == "HELLO"

    @pytest.mark.skipif(sys.platform == "win32", reason="posix only")
    def test_startswith(self, greeting):
        assert greeting.startswith("he")


@pytest.mark.skip(reason="demonstrates a skip")
def test_skipped():
    raise AssertionError("never runs")


@pytest.mark.xfail(reason="demonstrates an expected failure")
def test_expected_failure():
    assert 1 + 1 == 3
