import os
import sys
import warnings

import pytest


def test_tmp_path_factory(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    assert d.is_dir() and d.name.startswith("data")


def test_tmpdir(tmpdir):
    p = tmpdir.join("f.txt")
    p.write("x")
    assert p.read() == "x"


def test_recwarn(recwarn):
    warnings.warn("recorded", UserWarning)
    assert len(recwarn) == 1 and str(recwarn.pop(UserWarning).message) == "recorded"


def test_pytestconfig(pytestconfig):
    assert pytestconfig.rootpath.name == os.path.basename(os.getcwd()) or pytestconfig.rootpath.is_dir()
    assert pytestconfig.getini("usefixtures") == ["ini_used"]


def test_request_attributes(request, events):
    assert request.config.getini("usefixtures") == ["ini_used"]
    assert "ini_used" in request.fixturenames and "events" in request.fixturenames
    assert events[-1] == "ini_used"


@pytest.fixture
def finalized(request, events):
    request.addfinalizer(lambda: events.append("finalized"))


def test_addfinalizer_registers(finalized):
    pass


def test_addfinalizer_ran(events):
    assert "finalized" in events


@pytest.mark.xfail(run=False, reason="not run")
def test_xfail_not_run():
    raise SystemExit("must not run")


@pytest.mark.xfail(sys.platform == "no-such-platform", reason="condition false")
def test_xfail_condition_false_fails_normally():
    assert False


@pytest.mark.xfail("sys.version_info > (3, 0)", reason="string condition")
def test_xfail_string_condition():
    assert False


@pytest.mark.filterwarnings("error")
def test_filterwarnings_error():
    warnings.warn("now an error", UserWarning)


def test_monkeypatch_syspath_and_chdir(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert sys.path[0] == str(tmp_path) and os.getcwd() == str(tmp_path)


def test_monkeypatch_undone(tmp_path):
    assert str(tmp_path.parent) not in sys.path[:1]
    assert os.path.isfile(os.path.join(os.getcwd(), "pytest.ini"))


def test_warns_and_deprecated_call():
    with pytest.warns(UserWarning, match="careful"):
        warnings.warn("be careful", UserWarning)
    with pytest.deprecated_call():
        warnings.warn("old", DeprecationWarning)


def test_approx():
    assert 0.1 + 0.2 == pytest.approx(0.3)
    assert [1.0000001, 2] == pytest.approx([1, 2])


def test_raises_excinfo():
    with pytest.raises(ValueError, match=r"bad \d+") as excinfo:
        raise ValueError("bad 42")
    assert excinfo.type is ValueError and excinfo.value.args == ("bad 42",)
    assert excinfo.match("42")


def test_fail():
    pytest.fail("explicit failure")


def test_warns_not_raised():
    with pytest.warns(UserWarning):
        pass
