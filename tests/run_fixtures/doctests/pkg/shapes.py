"""Doctests of every kind of object, passing and failing.

>>> Square(2).area
4
"""
import math


class Square:
    """A square.

    >>> Square(3).side
    3
    """

    def __init__(self, side):
        self.side = side

    @property
    def area(self):
        """
        >>> Square(1.5).area
        2.25
        """
        return self.side**2

    def scaled(self, k):
        """Fails at the second example; the third runs only with continue-on-failure.

        >>> Square(2).scaled(3).side
        6
        >>> Square(2).scaled(0).side
        1
        >>> print("third example")
        third example
        """
        return Square(self.side * k)


def circle_area(r):
    """NUMBER (from the ini): pi to two places; a name from doctest_namespace.

    >>> circle_area(1)
    3.14
    >>> answer
    42
    """
    return math.pi * r * r


def explode():
    """An unexpected exception.

    >>> explode()
    'never'
    """
    raise ValueError("boom")


def skipped():
    """Every example skipped: the item is skipped.

    >>> skipped()  # doctest: +SKIP
    'whatever'
    """


def uses_fixture():
    """`getfixture` and ELLIPSIS, NORMALIZE_WHITESPACE.

    >>> p = getfixture('tmp_path')
    >>> p.exists()
    True
    >>> print(list(range(20)))
    [0,   1, ..., 19]
    """
