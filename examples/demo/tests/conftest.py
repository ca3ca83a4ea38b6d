"""Fixtures shared by the demo tests."""
import pytest


@pytest.fixture
def numbers():
    return [3, 1, 2]


@pytest.fixture(scope="module")
def greeting():
    yield "hello"
