"""A project decorator that applies `parametrize` (as jinja2's `mark_dualiter`): the
argument is not a fixture although nothing in the source says so."""
import pytest


def both_ways(parameter, factory):
    def decorator(f):
        return pytest.mark.parametrize(parameter, [lambda: factory(), lambda: list(reversed(factory()))])(f)

    return decorator


@both_ways("items", lambda: [1, 2, 3])
def test_sum_is_the_same(items):
    assert sum(items()) == 6


@both_ways("words", lambda: ["a", "b"])
def test_first_word(words):
    assert words()[0] == "a"
