"""Doctests under a conftest hook (pytest engine); the tests under tests/ run natively.

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
    """A failing doctest: its failure comes from a pytest-engine worker.

    >>> broken()
    'right'
    """
    return "wrong"
