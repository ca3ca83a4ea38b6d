"""Doctests whose docstrings are edited by tests/incremental.rs.

>>> shout("a")
'A!'
"""


def shout(s):
    """
    >>> shout("hi")
    'HI!'
    """
    return s.upper() + "!"


def whisper(s):
    """
    >>> whisper("HI")
    'hi'
    """
    return s.lower()
