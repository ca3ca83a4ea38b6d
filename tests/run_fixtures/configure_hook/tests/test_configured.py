import pytest

from conftest import CONFIGURED


def test_the_hook_ran_once_before_tests():
    assert CONFIGURED == [True]


@pytest.mark.slow
def test_registered_mark(request):
    assert request.node.get_closest_marker("slow") is not None


def test_fails():
    assert 1 == 2
