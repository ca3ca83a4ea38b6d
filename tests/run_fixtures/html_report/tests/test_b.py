import pytest
@pytest.mark.parametrize("x", range(5))
def test_p(x): assert x < 4
