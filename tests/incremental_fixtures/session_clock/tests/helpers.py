"""A plugin module the root conftest declares."""
import pytest


@pytest.fixture
def two():
    return 2
