"""Collection calls a project helper that reads a random source: never reused."""
import pytest

from pkg.stamps import fresh_seeds


@pytest.mark.parametrize("ok", fresh_seeds())
def test_seeded(ok):
    assert ok
