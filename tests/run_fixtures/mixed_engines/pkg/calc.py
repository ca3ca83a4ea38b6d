"""Doctests need the pytest engine; the tests under tests/ run natively beside them.

>>> add(1, 2)
3
"""


def add(a, b):
    """
    >>> add(2, 2)
    4
    """
    return a + b


def broken():
    """A failing doctest: its failure comes from the pytest engine's worker.

    >>> broken()
    'right'
    """
    return "wrong"
