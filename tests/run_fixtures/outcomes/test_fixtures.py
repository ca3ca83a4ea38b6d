"""Fixtures of every scope, yield teardown, overriding, request, builtins."""
import os
import sys

import pytest


@pytest.fixture
def overridden(overridden):
    return overridden + "+module"


@pytest.fixture(scope="class")
def class_counter():
    return []


def test_session_fixture(session_log):
    assert session_log[0] == "session-setup"


def test_module_fixture_shared_1(module_value):
    module_value["count"] += 1
    assert module_value["count"] == 1


def test_module_fixture_shared_2(module_value):
    module_value["count"] += 1
    assert module_value["count"] == 2


def test_override_chain(overridden):
    assert overridden == "conftest+module"


def test_request_and_getfixturevalue(request):
    assert request.getfixturevalue("overridden") == "conftest+module"
    assert request.node.autouse_ran


def test_tmp_path_and_monkeypatch(tmp_path, monkeypatch):
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.setenv("FASTEST_FIXTURE_VAR", "1")
    assert os.environ["FASTEST_FIXTURE_VAR"] == "1"


def test_monkeypatch_undone():
    assert "FASTEST_FIXTURE_VAR" not in os.environ


def test_capsys(capsys):
    print("captured")
    assert capsys.readouterr().out == "captured\n"


def test_capsys_streams_are_pytests_capture_io(capsys):
    # Code that looks for the binary stream under sys.stdout (click's echo) or reads
    # its encoding sees what it sees under pytest.
    sys.stdout.buffer.write(b"raw\n")
    print("text")
    assert (sys.stdout.encoding, sys.stderr.encoding) == ("UTF-8", "UTF-8")
    assert capsys.readouterr().out == "raw\ntext\n"


def test_capsysbinary(capsysbinary):
    print("text")
    sys.stdout.buffer.write(b"\xff")
    assert capsysbinary.readouterr().out == b"text\n\xff"


class TestClassScope:
    def test_a(self, class_counter):
        class_counter.append(1)
        assert class_counter == [1]

    def test_b(self, class_counter):
        class_counter.append(2)
        assert class_counter == [1, 2]


class TestXunit:
    def setup_method(self, method):
        self.value = method.__name__

    def test_setup_method_ran(self):
        assert self.value == "test_setup_method_ran"


@pytest.fixture
def failing_setup():
    raise RuntimeError("setup failed")


def test_setup_error(failing_setup):
    pass


@pytest.fixture
def failing_teardown():
    yield
    raise RuntimeError("teardown failed")


def test_teardown_error(failing_teardown):
    pass
