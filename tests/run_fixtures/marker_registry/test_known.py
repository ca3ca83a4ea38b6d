import pytest


@pytest.mark.registered
@pytest.mark.from_conftest
@pytest.mark.skipif(False, reason="never")
def test_known_marks():
    pass
