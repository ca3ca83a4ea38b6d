"""Built-in fixtures of the native engine (`tmp_path`, `monkeypatch`, `capsys`, ...),
using pytest's own classes where pytest is installed."""
import io
import os
import re
import time
import sys
import tempfile
import warnings
from pathlib import Path


class TmpPathFactory:
    """pytest's tmp_path_factory: numbered directories under one base per worker."""

    def __init__(self):
        self._base = None

    def getbasetemp(self):
        if self._base is None:
            root = Path(tempfile.gettempdir()) / ("fastest-of-%s" % _user())
            root.mkdir(mode=0o700, exist_ok=True)
            self._base = Path(tempfile.mkdtemp(prefix="run-", dir=str(root)))
        return self._base

    def mktemp(self, basename, numbered=True):
        base = self.getbasetemp()
        if not numbered:
            p = base / basename
            p.mkdir()
            return p
        i = 0
        while True:
            p = base / ("%s%d" % (basename, i))
            try:
                p.mkdir()
                return p
            except FileExistsError:
                i += 1


def _user():
    try:
        import getpass

        return re.sub(r"[\W]", "_", getpass.getuser()) or "unknown"
    except Exception:
        return "unknown"


class SysCapture:
    """capsys: swaps sys.stdout/sys.stderr for the test's duration."""

    def __init__(self, binary=False):
        self.binary = binary
        self._saved = (sys.stdout, sys.stderr)
        self._out, self._err = self._new(), self._new()
        sys.stdout, sys.stderr = self._out, self._err

    @staticmethod
    def _new():
        # pytest's `CaptureIO` for both capsys and capsysbinary: a text stream with a
        # binary `buffer` and encoding "UTF-8", which code that looks for the binary
        # stream (click's `echo`) or the encoding sees.
        try:
            from _pytest.capture import CaptureIO
        except ImportError:
            return io.TextIOWrapper(io.BytesIO(), encoding="UTF-8", newline="", write_through=True)
        return CaptureIO()

    def pass_on_unread(self):
        """End of a phase: what the test did not read goes to the phase's captured
        output (pytest closes the fixture's capture after every phase)."""
        out, err = self.readouterr()
        for data, stream in ((out, self._saved[0]), (err, self._saved[1])):
            if data:
                stream.write(data if isinstance(data, str) else data.decode("utf-8", "replace"))

    def _take(self, stream):
        data = stream.buffer.getvalue()
        stream.seek(0)
        stream.truncate()
        return data if self.binary else data.decode("UTF-8")

    def readouterr(self):
        return _capture_result(self._take(self._out), self._take(self._err))

    def close(self):
        out, err = self.readouterr()
        sys.stdout, sys.stderr = self._saved
        _pass_on_unread(out, err)

    def disabled(self):
        import contextlib

        @contextlib.contextmanager
        def cm():
            cur = (sys.stdout, sys.stderr)
            sys.stdout, sys.stderr = self._saved
            try:
                yield
            finally:
                sys.stdout, sys.stderr = cur

        return cm()


def _pass_on_unread(out, err):
    """Output a test never read goes to its captured output, as in pytest."""
    if out:
        sys.stdout.write(out if isinstance(out, str) else out.decode("utf-8", "replace"))
    if err:
        sys.stderr.write(err if isinstance(err, str) else err.decode("utf-8", "replace"))


def _capture_result(out, err):
    try:
        from _pytest.capture import CaptureResult
    except ImportError:
        from collections import namedtuple

        CaptureResult = namedtuple("CaptureResult", ["out", "err"])
    return CaptureResult(out, err)


class FDCapture:
    """capfd: file descriptors 1 and 2 (and sys.stdout/sys.stderr on them) go to
    temporary files for the test's duration, nested inside the engine's own capture."""

    def __init__(self, binary=False):
        import tempfile

        self.binary = binary
        self._flush()
        self._saved_sys = (sys.stdout, sys.stderr)
        self._files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
        self._saved_fds = (os.dup(1), os.dup(2))
        self._redirect()

    @staticmethod
    def _flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass

    def _redirect(self):
        os.dup2(self._files[0].fileno(), 1)
        os.dup2(self._files[1].fileno(), 2)
        sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False), encoding="utf-8", errors="replace", write_through=True)
        sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True)

    def _restore(self):
        self._flush()
        os.dup2(self._saved_fds[0], 1)
        os.dup2(self._saved_fds[1], 2)
        sys.stdout, sys.stderr = self._saved_sys

    def _take(self, f):
        f.seek(0)
        data = f.read()
        f.seek(0)
        f.truncate()
        return data if self.binary else data.decode("utf-8", "replace")

    def readouterr(self):
        self._flush()
        return _capture_result(self._take(self._files[0]), self._take(self._files[1]))

    def pass_on_unread(self):
        """End of a phase: what the test did not read goes to the phase's captured
        output (pytest closes the fixture's capture after every phase)."""
        out, err = self.readouterr()
        for data, fd in ((out, self._saved_fds[0]), (err, self._saved_fds[1])):
            if data:
                os.write(fd, data if isinstance(data, bytes) else data.encode("utf-8", "replace"))

    def close(self):
        out, err = self.readouterr()
        self._restore()
        for fd in self._saved_fds:
            os.close(fd)
        for f in self._files:
            f.close()
        _pass_on_unread(out, err)

    def disabled(self):
        import contextlib

        @contextlib.contextmanager
        def cm():
            self._restore()
            try:
                yield
            finally:
                self._flush()
                self._redirect()

        return cm()


class SimpleMonkeyPatch:
    """monkeypatch without pytest installed: setattr/delattr/setitem/delitem/env/path/chdir."""

    _NOTSET = object()

    def __init__(self):
        self._setattr, self._setitem = [], []
        self._cwd = None
        self._syspath = None

    def setattr(self, target, name, value=_NOTSET, raising=True):
        if value is self._NOTSET:
            import importlib

            modpath, _, attr = target.rpartition(".")
            target, name, value = importlib.import_module(modpath), attr, name
        old = getattr(target, name, self._NOTSET)
        if raising and old is self._NOTSET:
            raise AttributeError("%r has no attribute %r" % (target, name))
        self._setattr.append((target, name, old))
        setattr(target, name, value)

    def delattr(self, target, name, raising=True):
        if not hasattr(target, name):
            if raising:
                raise AttributeError(name)
            return
        self._setattr.append((target, name, getattr(target, name)))
        delattr(target, name)

    def setitem(self, dic, name, value):
        self._setitem.append((dic, name, dic.get(name, self._NOTSET)))
        dic[name] = value

    def delitem(self, dic, name, raising=True):
        if name not in dic:
            if raising:
                raise KeyError(name)
            return
        self._setitem.append((dic, name, dic[name]))
        del dic[name]

    def setenv(self, name, value, prepend=None):
        value = str(value)
        if prepend and name in os.environ:
            value = value + prepend + os.environ[name]
        self.setitem(os.environ, name, value)

    def delenv(self, name, raising=True):
        self.delitem(os.environ, name, raising=raising)

    def syspath_prepend(self, path):
        if self._syspath is None:
            self._syspath = sys.path[:]
        sys.path.insert(0, str(path))

    def chdir(self, path):
        if self._cwd is None:
            self._cwd = os.getcwd()
        os.chdir(str(path))

    def undo(self):
        for obj, name, value in reversed(self._setattr):
            if value is self._NOTSET:
                try:
                    delattr(obj, name)
                except AttributeError:
                    pass
            else:
                setattr(obj, name, value)
        self._setattr.clear()
        for dic, name, value in reversed(self._setitem):
            if value is self._NOTSET:
                dic.pop(name, None)
            else:
                dic[name] = value
        self._setitem.clear()
        if self._syspath is not None:
            sys.path[:] = self._syspath
            self._syspath = None
        if self._cwd is not None:
            os.chdir(self._cwd)
            self._cwd = None


class WarningsRecorder(warnings.catch_warnings):
    """recwarn: records every warning raised during the test."""

    def __init__(self):
        super().__init__(record=True)
        self.list = super().__enter__()
        warnings.simplefilter("always")

    def __len__(self):
        return len(self.list)

    def __getitem__(self, i):
        return self.list[i]

    def __iter__(self):
        return iter(self.list)

    def pop(self, cls=Warning):
        for i, w in enumerate(self.list):
            if issubclass(w.category, cls):
                return self.list.pop(i)
        raise AssertionError("%r not found in warning list" % cls)

    def clear(self):
        self.list[:] = []

    def close(self):
        super().__exit__(None, None, None)


def _import_with_assertion_rewriting(package, *rewritten):
    """Imports `package` with the modules `rewritten` compiled through pytest's assertion
    rewriting, as pytest loads a plugin (pytest-mock's introspection of
    `assert_called_with` failures relies on it)."""
    if package in sys.modules:
        return sys.modules[package]
    import ast
    import importlib
    import importlib.machinery

    from _pytest.assertion.rewrite import rewrite_asserts

    class Loader(importlib.machinery.SourceFileLoader):
        def get_code(self, fullname):
            source = self.get_data(self.path)
            tree = ast.parse(source, filename=self.path)
            rewrite_asserts(tree, source, self.path, None)
            return compile(tree, self.path, "exec", dont_inherit=True)

    class Finder:
        def find_spec(self, fullname, path=None, target=None):
            if fullname not in rewritten:
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                spec.loader = Loader(fullname, spec.origin)
            return spec

    finder = Finder()
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module(package)
    finally:
        sys.meta_path.remove(finder)


def _pytest_mock_fixtures(engine, Builtin):
    """pytest-mock's `mocker` family, with pytest-mock's own `MockerFixture` (its
    `stopall` undoes every patch when the fixture's scope ends), and its improved
    `assert_called_*` failures unless `mock_traceback_monkeypatch` is off, as its
    `pytest_configure` does."""
    plugin = _import_with_assertion_rewriting("pytest_mock", "pytest_mock.plugin").plugin
    config = engine.config_obj
    if engine.tbstyle != "native" and str(config.getini("mock_traceback_monkeypatch")).lower() not in ("false", "0", "no", "off"):
        plugin.wrap_assert_methods(config)

    def make_mocker(scope):
        def create(item):
            mocker = plugin.MockerFixture(config)
            engine.scopes.add_finalizer(scope, mocker.stopall)
            return mocker

        return create

    scopes = (("mocker", "function"), ("class_mocker", "class"), ("module_mocker", "module"), ("package_mocker", "package"), ("session_mocker", "session"))
    return [Builtin(name, scope, make_mocker(scope)) for name, scope in scopes]


def _pytest_benchmark_fixtures(engine, Builtin):
    """pytest-benchmark's `benchmark` and `benchmark_weave` under `--benchmark-disable` or
    `--benchmark-skip` (the runner reproduces the plugin only then): its own
    BenchmarkFixture, disabled, so calls run once as under pytest, and its cleanup (the
    "not used at all" warning on the test). Timing options do not matter when disabled."""
    import warnings
    from types import SimpleNamespace

    from pytest_benchmark.fixture import BenchmarkFixture
    from pytest_benchmark.logger import PytestBenchmarkWarning

    args = engine.config.get("pytest_args") or []
    skip = "--benchmark-skip" in args
    fin = engine.scopes.add_finalizer

    class Logger:
        """pytest-benchmark's Logger at its default level: warnings only, to the test."""

        def warning(self, text, warner=None, suspend=False):
            (warner or warnings.warn)(PytestBenchmarkWarning(text))

        def info(self, *args, **kwargs):
            pass

        debug = info

    def benchmark(item):
        if skip:
            import pytest

            pytest.skip("Benchmarks are skipped (--benchmark-skip was used).")
        marker = item.get_closest_marker("benchmark")
        options = dict(marker.kwargs) if marker else {}

        def warner(warning):
            # pytest's Node.warn: at the item's location.
            path, lineno, _ = engine.location(item)
            warnings.warn_explicit(warning, category=None, filename=path, lineno=lineno + 1)

        node = SimpleNamespace(name=item.name, nodeid=item.nodeid)
        if item.callspec:
            node.callspec = SimpleNamespace(id=item.nodeid.rpartition("[")[2][:-1], params=dict(item.callspec))
        settings = dict(
            disable_gc=False,
            timer=SimpleNamespace(target=time.perf_counter),
            min_rounds=5,
            min_time=0.000005,
            max_time=1.0,
            precision=None,
            confidence=None,
            warmup=False,
            warmup_iterations=100000,
            calibration_precision=10,
            cprofile=False,
            cprofile_loops=None,
            cprofile_dump=False,
        )
        # The mark's timer is not needed: a disabled fixture times nothing.
        settings.update({k: v for k, v in options.items() if (k in settings and k != "timer") or k == "group"})
        fixture = BenchmarkFixture(node, add_stats=lambda stats: None, logger=Logger(), warner=warner, disabled=True, **settings)
        fin("function", fixture._cleanup)
        return fixture

    fixtures = [Builtin("benchmark", "function", benchmark)]
    fixtures.append(Builtin("benchmark_weave", "function", lambda item: engine.get_fixture(item, "benchmark", ()).weave))
    return fixtures


def record_property(engine, item):
    """pytest's `record_property`: `(name, value)` pairs for the test's JUnit
    `<properties>`. With `--junitxml` in a family other than xunit1/legacy, pytest warns
    at the test's location that the family does not support them (and writes them)."""
    family = engine.ini.get("junitxml_family")
    if family and family not in ("xunit1", "legacy"):
        import warnings

        try:
            from pytest import PytestWarning
        except ImportError:
            PytestWarning = UserWarning
        path, lineno, _ = engine.location(item)  # pytest's `Node.warn` location
        warnings.warn_explicit(
            PytestWarning(
                "record_property is incompatible with junit_family '%s' (use 'legacy' or 'xunit1')" % family
            ),
            category=None,
            filename=path,
            lineno=lineno + 1,
        )

    def append_property(name, value):
        item.user_properties.append((name, value))

    return append_property


def make(engine, Builtin):
    """name -> Builtin(name, scope, create(item))."""
    factory = TmpPathFactory()
    fin = engine.scopes.add_finalizer

    def tmp_path(item):
        name = re.sub(r"[\W]", "_", item.nodeid.rpartition("::")[2])[:30]
        return factory.mktemp(name, numbered=True)

    def monkeypatch(item):
        try:
            from pytest import MonkeyPatch

            mp = MonkeyPatch()
        except ImportError:
            mp = SimpleMonkeyPatch()
        fin("function", mp.undo)
        return mp

    def capsys(item, binary=False):
        c = SysCapture(binary)
        fin("function", c.close)
        engine.phase_captures.append(c)
        return c

    def capfd(item, binary=False):
        c = FDCapture(binary)
        fin("function", c.close)
        engine.phase_captures.append(c)
        return c

    def caplog(item):
        from _pytest.logging import LogCaptureFixture

        fixture = LogCaptureFixture(item, _ispytest=True)
        fin("function", fixture._finalize)
        return fixture

    def recwarn(item):
        r = WarningsRecorder()
        fin("function", r.close)
        return r

    def tmpdir(item):
        from _pytest.compat import legacy_path

        return legacy_path(tmp_path(item))

    def tmpdir_factory(item):
        from _pytest.legacypath import TempdirFactory

        return TempdirFactory(factory, _ispytest=True)

    fixtures = [
        Builtin("tmp_path", "function", tmp_path),
        Builtin("tmp_path_factory", "session", lambda item: factory),
        Builtin("monkeypatch", "function", monkeypatch),
        Builtin("capsys", "function", capsys),
        Builtin("capsysbinary", "function", lambda item: capsys(item, True)),
        Builtin("capfd", "function", capfd),
        Builtin("capfdbinary", "function", lambda item: capfd(item, True)),
        Builtin("recwarn", "function", recwarn),
        Builtin("pytestconfig", "session", lambda item: engine.config_obj),
        Builtin("doctest_namespace", "session", lambda item: {}),
        Builtin("record_property", "function", lambda item: record_property(engine, item)),
    ]
    try:
        import _pytest.compat  # noqa: F401

        fixtures.append(Builtin("tmpdir", "function", tmpdir))
        fixtures.append(Builtin("tmpdir_factory", "session", tmpdir_factory))
        # pytest's `cache` fixture is `request.config.cache` (cacheprovider plugin).
        fixtures.append(Builtin("cache", "function", lambda item: engine.config_obj.cache))
    except ImportError:
        pass
    try:
        import _pytest.logging  # noqa: F401

        fixtures.append(Builtin("caplog", "function", caplog))
    except ImportError:
        pass
    import importlib.util

    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    if autoload and importlib.util.find_spec("pytest_mock") is not None:
        try:
            fixtures.extend(_pytest_mock_fixtures(engine, Builtin))
        except Exception:  # noqa: BLE001 - another pytest-mock: its fixtures are then missing, as a broken plugin's
            pass
    if "pytest-benchmark" in (engine.config.get("emulated_plugins") or []):
        fixtures.extend(_pytest_benchmark_fixtures(engine, Builtin))
    if importlib.util.find_spec("pytest_cov") is not None:
        # pytest-cov's fixture (its plugin is loaded whenever it is installed); what it
        # does is the engine's (`no_cover`: the call phase is not measured).
        fixtures.append(Builtin("no_cover", "function", lambda item: None))
    return {f.name: f for f in fixtures}
