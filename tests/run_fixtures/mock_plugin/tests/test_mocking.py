"""pytest-mock's API through the `mocker` family: each patch is undone when its
fixture's scope ends, so the order of these tests matters."""
import pytest

from pkg import clock


def test_patch_replaces_a_function(mocker):
    mocker.patch("pkg.clock.now", return_value=5)
    assert clock.stamp() == "t=5"


def test_the_patch_was_undone():
    assert clock.stamp() == "t=1000"


def test_patch_object_and_spy(mocker):
    spy = mocker.spy(clock.Store, "load")
    assert clock.Store().save("a") == "a"
    spy.assert_called_once()
    mocker.patch.object(clock.Store, "load", return_value={"key": "b"})
    assert clock.Store().save("a") == "b"


def test_patch_dict_and_stub(mocker):
    mocker.patch.dict("os.environ", {"HOME_DIR": "/here"})
    assert clock.home() == "/here"
    stub = mocker.stub(name="callback")
    stub(1)
    stub.assert_called_once_with(1)


def test_resetall_and_stopall(mocker):
    m = mocker.patch("pkg.clock.now", return_value=7)
    clock.now()
    mocker.resetall()
    assert m.call_count == 0
    mocker.stopall()
    assert clock.now() == 1000


def test_assert_called_with_fails_with_introspection(mocker):
    m = mocker.patch("pkg.clock.now")
    clock.now(1)
    m.assert_called_once_with(2)


class TestClassMocker:
    @pytest.fixture(autouse=True)
    def frozen(self, class_mocker):
        class_mocker.patch("pkg.clock.now", return_value=42)

    def test_one(self):
        assert clock.now() == 42

    def test_two(self, mocker):
        mocker.patch("pkg.clock.stamp", return_value="x")
        assert clock.stamp() == "x"
        assert clock.now() == 42


def test_class_patch_gone():
    assert clock.now() == 1000


@pytest.mark.parametrize("value", [1, 2])
def test_module_mocker(module_mocker, value):
    module_mocker.patch("pkg.clock.home", return_value="/m")
    assert clock.home() == "/m"
