import pytest
def test_pass(): print("hello")
def test_fail(): assert 1 == 2
@pytest.mark.skip(reason="nope")
def test_skip(): pass
@pytest.mark.xfail(reason="known")
def test_xfail(): assert 0
