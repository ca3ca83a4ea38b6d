import os

import pytest


def test_before(torn_down_at_exit):
    pass


def test_exit():
    print("output of the exiting test")
    code = os.environ.get("EXIT_CODE")
    pytest.exit("stopping here", returncode=int(code) if code else None)


def test_after():
    pass
