import unittest

import pytest

ORDER = []


@pytest.fixture(scope="module", autouse=True)
def module_auto():
    ORDER.append("module fixture")


@pytest.fixture(autouse=True)
def function_auto():
    ORDER.append("function fixture")


def setup_module():
    ORDER.append("setup_module")


def setup_function():
    ORDER.append("setup_function")


def test_function_order():
    assert ORDER == ["setup_module", "module fixture", "setup_function", "function fixture"]


@pytest.fixture(scope="class")
def class_arg():
    ORDER.append("class arg")


class TestMethods:
    @classmethod
    def setup_class(cls):
        ORDER.append("setup_class")

    def setup_method(self):
        ORDER.append("setup_method")

    @pytest.fixture(autouse=True)
    def own_auto(self):
        ORDER.append("class autouse")

    def test_method_order(self, class_arg):
        assert ORDER[4:] == ["setup_class", "class arg", "function fixture", "setup_method", "class autouse"]


@pytest.fixture
def marked(request):
    request.cls.value = 42
    ORDER.append("marked")


@pytest.fixture(scope="class")
def class_marked(request):
    request.cls.shared = "x"
    ORDER.append("class marked")


@pytest.mark.usefixtures("marked", "class_marked")
class TestCaseWithFixtures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ORDER.append("setUpClass")

    def test_fixtures_applied(self):
        assert self.value == 42 and self.shared == "x"
        assert ORDER[9:] == ["setUpClass", "class marked", "function fixture", "marked"]
