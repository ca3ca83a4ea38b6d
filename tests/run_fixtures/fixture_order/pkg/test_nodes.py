import pytest

pytestmark = pytest.mark.module_mark

SEEN = {}


@pytest.fixture(scope="module")
def module_node(request):
    return request.node


@pytest.fixture(scope="class")
def class_node(request):
    return request.node


@pytest.fixture(scope="session")
def session_node(request):
    return request.node


@pytest.fixture(scope="class")
def class_scoped_without_class(request):
    return request.node


def test_module_node(module_node, class_scoped_without_class):
    # A class-scoped fixture of a test outside a class gets the test itself.
    assert class_scoped_without_class.name == "test_module_node"
    assert module_node.path.name == "test_nodes.py" and module_node.path.is_file()
    assert repr(module_node) == "<Module test_nodes.py>"
    assert module_node.nodeid == "pkg/test_nodes.py"
    assert module_node.get_closest_marker("module_mark") is not None
    assert module_node.get_closest_marker("function_mark") is None


@pytest.mark.class_mark
class TestNodes:
    @pytest.mark.function_mark
    def test_class_node(self, class_node, session_node):
        assert repr(class_node) == "<Class TestNodes>"
        assert class_node.nodeid == "pkg/test_nodes.py::TestNodes"
        assert [m.name for m in class_node.iter_markers()] == ["class_mark", "module_mark"]
        assert class_node.get_closest_marker("function_mark") is None
        assert session_node.nodeid == ""
