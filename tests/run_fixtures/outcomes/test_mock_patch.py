"""`mock.patch` decorators pass mocks, not fixtures (pytest's num_mock_patch_args): the
module runs natively; `new=` passes nothing."""
import os
import unittest
from unittest import mock
from unittest.mock import patch

import pytest


@pytest.fixture
def answer():
    return 42


@mock.patch("os.getcwd", return_value="/patched")
def test_function_gets_the_mock_then_a_fixture(getcwd, answer):
    assert os.getcwd() == "/patched" and getcwd.called and answer == 42


@patch("os.getpid", new=lambda: -1)
def test_new_passes_nothing(answer):
    assert os.getpid() == -1 and answer == 42


class TestOnAClass:
    @patch.object(os.path, "exists", return_value=True)
    def test_method(self, exists, answer):
        assert os.path.exists("/nowhere") and answer == 42


class TestCaseWithPatch(unittest.TestCase):
    @patch("os.getcwd", return_value="/unit")
    def test_unittest_method(self, getcwd):
        self.assertEqual(os.getcwd(), "/unit")
