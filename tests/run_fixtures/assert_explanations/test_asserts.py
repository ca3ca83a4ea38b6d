import dataclasses

from helpers import check_even


def test_eq_numbers():
    assert 1 + 1 == 3


def test_eq_long_strings():
    a = "line one\nline two\nline three\n" * 2
    b = "line one\nline 2\nline three\n" * 2
    assert a == b


def test_eq_lists():
    assert [1, 2, 3, 4] == [1, 2, 4, 4]


def test_eq_dicts():
    assert {"a": 1, "b": 2, "c": 3} == {"a": 1, "b": 3, "d": 4}


def test_eq_sets():
    assert {1, 2, 3} == {2, 3, 4}


@dataclasses.dataclass
class Point:
    x: int
    y: int
    label: str = "p"


def test_eq_dataclasses():
    assert Point(1, 2) == Point(1, 3, "q")


def test_in_substring():
    assert "needle" in "a haystack without it"


def test_not_in_substring():
    assert "hay" not in "a haystack"


def test_with_message():
    value = 41
    assert value == 42, "the answer should be 42"


def is_ready():
    return False


def test_falsy_call():
    assert is_ready()


def test_conftest_helper(check_positive):
    check_positive(-5)


def test_registered_helper():
    check_even(3)
