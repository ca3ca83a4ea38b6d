"""The native engine: runs test functions with our own implementation of pytest's core
semantics (fixtures of every scope, parametrize, marks, xunit setup, unittest, output
capture, assertion rewriting), using the real pytest objects when pytest is installed
and the built-in stand-in otherwise."""
import ast
import contextlib
import fnmatch
import functools
import inspect
import itertools
import logging
import io
import os
import sys
import time
import traceback
import types
import warnings

try:
    import pytest

    HAVE_PYTEST = not getattr(pytest, "__version__", "").endswith("fastest.standin")
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "standin"))
    import pytest

    HAVE_PYTEST = False

SkipException = pytest.skip.Exception
XFailException = pytest.xfail.Exception
FailException = pytest.fail.Exception
ExitException = pytest.exit.Exception


# ---------------------------------------------------------------- reading pytest objects


def unpacked_marks(obj, consider_mro=True):
    """The Mark objects attached to `obj` (function, class or module)."""
    if HAVE_PYTEST:
        from _pytest.mark.structures import get_unpacked_marks

        if isinstance(obj, type):
            return list(get_unpacked_marks(obj, consider_mro=consider_mro))
        return list(get_unpacked_marks(obj))
    return list(pytest.get_unpacked_marks(obj))


def fixture_spec(obj):
    """(marker, function) when `obj` is a fixture definition, else None."""
    try:
        marker = getattr(obj, "_fixture_function_marker", None)
    except Exception:  # noqa: BLE001  (a proxy object: werkzeug's LocalProxy raises)
        return None
    if marker is not None:  # pytest >= 8.4
        return marker, obj._get_wrapped_function() if hasattr(obj, "_get_wrapped_function") else obj._fixture_function
    try:
        marker = getattr(obj, "_pytestfixturefunction", None)  # pytest < 8.4
    except Exception:
        marker = None
    if marker is not None:
        wrapped = getattr(obj, "__pytest_wrapped__", None)
        return marker, wrapped.obj if wrapped is not None else obj
    spec = getattr(obj, "_fastest_fixture", None) if isinstance(obj, types.FunctionType) else None
    if spec is not None:
        return spec, obj
    return None


_ARGNAMES = {}


def argnames_of(func, is_method=False):
    """pytest's getfuncargnames: required positional/keyword-only parameters."""
    key = (func, is_method)
    try:
        return _ARGNAMES[key]
    except (KeyError, TypeError):
        pass
    names = _argnames_uncached(func, is_method)
    try:
        _ARGNAMES[key] = names
    except TypeError:
        pass
    return names


def _argnames_uncached(func, is_method):
    names = _plain_function_argnames(func)
    if names is None:
        try:
            params = inspect.signature(func).parameters.values()
        except (ValueError, TypeError):
            return ()
        names = [
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty
        ]
    if is_method and names:
        names = names[1:]
    patchings = getattr(func, "patchings", None)
    if patchings:
        from unittest import mock

        n = len([p for p in patchings if not p.attribute_name and p.new is mock.DEFAULT])
        names = names[n:]
    return tuple(names)


def _plain_function_argnames(func):
    """What `inspect.signature` gives for a plain function (no `__wrapped__`, no
    `__signature__`), read from its code object: required positional-or-keyword and
    keyword-only names. None for anything else. (signature costs ~20 us a function.)"""
    if type(func) is not types.FunctionType or hasattr(func, "__wrapped__") or hasattr(func, "__signature__"):
        return None
    code = func.__code__
    varnames = code.co_varnames
    positional = code.co_argcount
    first = getattr(code, "co_posonlyargcount", 0)
    required_end = positional - len(func.__defaults__ or ())
    names = list(varnames[first:required_end]) if required_end > first else []
    kwdefaults = func.__kwdefaults__ or {}
    names += [n for n in varnames[positional : positional + code.co_kwonlyargcount] if n not in kwdefaults]
    return names


# ------------------------------------------------------------------------ importing


# Rewritten code objects, keyed by a hash of the source, the interpreter and pytest:
# rewriting dominates import time, so it is done once per content, not once per run.
CODE_CACHE_DIR = None


def _code_cache_key(source, path):
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    for part in (sys.version.encode(), getattr(pytest, "__version__", "").encode(), path.encode(), source):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


class RewritingLoader:
    """Imports a test module or conftest with pytest's assertion rewriting."""

    def __init__(self, path, merge=None):
        self.path = path
        # Whether what imports this module depends on what its import ran (None: only
        # for a conftest; a test module's import effects reach its own tests).
        self.merge = merge

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.path, "rb") as f:
            source = f.read()
        from fastest_harness import deps

        relpath = deps.RECORDER.relpath(self.path) if deps.RECORDER else None
        # As with the pytest engine: conftests' import-time effects reach every test, a
        # test module's reach its own tests (through the file's import frame).
        merge = relpath is not None and (self.merge if self.merge is not None else relpath.rsplit("/", 1)[-1] == "conftest.py")
        cached = _code_cache_path(source, self.path, relpath)
        if cached:
            code = deps.load_code(cached)
            if code is None and self.path in _PRECOMPILING["paths"]:
                # The child started on it before this worker got here: its result is
                # ready sooner than a compilation started now.
                _reap_precompiling()
                code = deps.load_code(cached)
            if code is not None:
                # Outside any handler: the module's own import errors are its own.
                deps.exec_recorded(code, module, relpath, merge)
                return
        code = _compile_module(source, self.path, relpath)
        if cached:
            deps.store_code(cached, code)
        deps.exec_recorded(code, module, relpath, merge)


def _code_cache_path(source, path, relpath):
    """Where the code cache keeps `path`'s compiled code for this source (None without
    a cache): keyed by the source, the path, the interpreter, pytest and the probes."""
    if not CODE_CACHE_DIR:
        return None
    from fastest_harness import deps

    probes = b"\0probes" + deps.PROBES_VERSION.encode() + b":" + relpath.encode() if relpath else b""
    return os.path.join(CODE_CACHE_DIR, _code_cache_key(source + probes, path) + ".code")


def _compile_module(source, path, relpath):
    """A test module's or conftest's code as pytest's rewriting hook makes it, with the
    recorder's probes when it is project code (`relpath`)."""
    from fastest_harness import deps

    tree = ast.parse(source, filename=path)
    if HAVE_PYTEST:
        from _pytest.assertion.rewrite import rewrite_asserts

        rewrite_asserts(tree, source, path, None)
    if relpath is not None:
        # Probes carry full locations; fix_missing_locations would give pytest's
        # inserted imports invalid end lines.
        deps.add_probes(tree, relpath, source)
    return compile(tree, path, "exec", dont_inherit=True)


# The precompiling child (`_precompile`) while it may run, and the paths it compiles.
_PRECOMPILING = {"pid": None, "paths": frozenset()}

# Sessions of at most this many modules (a run `--changed` or the cache left small)
# compile the ones missing from the code cache in a forked child while the worker
# imports their conftests; a full run's modules are mostly cached.
PRECOMPILE_AT_MOST = 8


def _precompile(paths):
    """Forks a child that compiles `paths` (absolute, rewritten modules) into the code
    cache, as `RewritingLoader` would, so the worker finds them there once it has
    imported the conftests: after an edit, the edited test module's rewrite (tens of
    milliseconds) overlaps the conftests' imports on another core (`_PRECOMPILING`
    holds its pid and paths until `_reap_precompiling`; a module it compiles is waited
    for, not compiled twice). The child writes nothing but cache files (atomically) and
    leaves with `os._exit`, running no handler of the worker's."""
    if not paths or not _may_compile_ahead():
        return None
    threading = sys.modules.get("threading")
    if not hasattr(os, "fork") or (threading is not None and threading.active_count() > 1):
        return None  # a lock another thread holds would stay held in the child
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3.12+ warns about fork in some processes
            pid = os.fork()
    except OSError:
        return None
    if pid:
        _PRECOMPILING.update(pid=pid, paths=frozenset(paths))
        return pid
    status = 0
    try:
        for path in paths:
            _compile_ahead(path)
    except BaseException:  # noqa: B902  (a module the worker then compiles, and reports)
        status = 1
    os._exit(status)


def _compile_ahead(path):
    """Compiles `path` (a rewritten module) into the code cache as `RewritingLoader`
    would, unless it is there already or compiling it warns: the import then compiles it
    again, and its warnings (pytest's rewrite warnings, a `SyntaxWarning`) are reported
    where pytest reports them, or raised under `-W error`."""
    from fastest_harness import deps

    with open(path, "rb") as f:
        source = f.read()
    relpath = deps.RECORDER.relpath(path) if deps.RECORDER else None
    cached = _code_cache_path(source, path, relpath)
    if not cached or os.path.exists(cached):
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = _compile_module(source, path, relpath)
    if not caught:
        deps.store_code(cached, code)


def _may_compile_ahead():
    """Whether modules may be compiled before their import (a code cache to put them in,
    and not turned off with `FASTEST_PRECOMPILE=0`)."""
    return bool(CODE_CACHE_DIR) and os.environ.get("FASTEST_PRECOMPILE") != "0"


def _worker_share():
    """(index, count) of this worker among several that compile ahead, else None."""
    if not _may_compile_ahead():
        return None
    try:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
        index = int(os.environ.get("FASTEST_WORKER") or 0)
    except ValueError:
        return None
    return (index, count) if count >= 2 and 0 <= index < count else None


def _compile_share(paths, share):
    """A run on several workers where the code cache lacks modules (a first run): every
    worker imports every session module, so each would compile every one of them. Worker
    k of n (`share`) compiles its share first (every n-th, from the k-th); the others'
    shares are then mostly in the cache when its imports reach them, and a module still
    missing is compiled at its import, as before (nothing waits for another worker)."""
    index, count = share
    for path in paths[index::count]:
        try:
            _compile_ahead(path)
        except Exception:  # noqa: BLE001  (its import compiles it again, and reports)
            continue


def _reap_precompiling():
    """Waits for the precompiling child, if any: so no test ever sees a child it did not
    start, and so a module it compiles is read from the cache."""
    pid = _PRECOMPILING["pid"]
    if pid is None:
        return
    _PRECOMPILING.update(pid=None, paths=frozenset())
    try:
        os.waitpid(pid, 0)
    except (ChildProcessError, OSError):  # reaped by a SIGCHLD handler a conftest set
        pass


def _registered_rewrites():
    """The finder `pytest.register_assert_rewrite` marks names on (it looks for pytest's
    `AssertionRewritingHook` on `sys.meta_path`): modules under those names are loaded
    with the rewriting loader, as pytest's hook loads them."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    class RegisteredRewrites(AssertionRewritingHook):
        def __init__(self):  # noqa: D107 - none of pytest's hook state is used
            self._must_rewrite = set()

        def mark_rewrite(self, *names):
            self._must_rewrite.update(names)

        def find_spec(self, name, path=None, target=None):
            if not any(name == n or name.startswith(n + ".") for n in self._must_rewrite):
                return None
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(name, path)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                return None
            spec.loader = RewritingLoader(spec.origin, merge=True)
            return spec

    return RegisteredRewrites()


def module_name_for(path):
    """pytest's prepend import mode: (basedir to put on sys.path, dotted module name)."""
    path = os.path.abspath(path)
    directory, filename = os.path.split(path)
    parts = [os.path.splitext(filename)[0]]
    if parts[0] == "__init__":
        parts = []
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, pkg = os.path.split(directory)
        parts.insert(0, pkg)
    return directory, ".".join(parts) if parts else os.path.basename(directory)


# pytest's `--import-mode` (prepend, append or importlib) and what importlib mode needs:
# the rootdir and the `consider_namespace_packages` ini option. Set by the engine.
IMPORT_MODE = {"mode": "prepend", "root": None, "namespace": False}


def import_mode_of(args):
    """The `--import-mode` value in pytest's arguments (the last one wins), else prepend."""
    mode = "prepend"
    for i, arg in enumerate(args):
        if arg.startswith("--import-mode="):
            mode = arg.split("=", 1)[1]
        elif arg == "--import-mode" and i + 1 < len(args):
            mode = args[i + 1]
    return mode


class ImportPathMismatchError(ImportError):
    """pytest's: the module name of a file is taken by a module from another file (two
    test files of one basename outside packages). Args: (name, its file, the path)."""


def mismatch_report(error):
    """pytest's text for an `ImportPathMismatchError` (`importtestmodule`)."""
    return (
        "import file mismatch:\n"
        "imported module {!r} has this __file__ attribute:\n"
        "  {}\n"
        "which is not the same as the test file we want to collect:\n"
        "  {}\n"
        "HINT: remove __pycache__ / .pyc files and/or use a "
        "unique basename for your test file modules".format(*error.args)
    )


def _checked_module(module, name, path):
    """`module` (the one `name` imports) if it is `path`'s, as pytest checks it."""
    if os.path.basename(path) == "__init__.py" or os.environ.get("PY_IGNORE_IMPORTMISMATCH", "") == "1":
        return module
    module_file = getattr(module, "__file__", None)
    if module_file is None:
        raise ImportPathMismatchError(name, module_file, path)
    if module_file.endswith((".pyc", ".pyo")):
        module_file = module_file[:-1]
    if module_file.endswith(os.sep + "__init__.py"):
        module_file = module_file[: -len(os.sep + "__init__.py")]
    try:
        same = os.path.samefile(path, module_file)
    except OSError:
        same = False
    if not same:
        raise ImportPathMismatchError(name, module_file, path)
    return module


def _import_finds(name, path):
    """Whether importing `name` would load `path` (else another file comes first)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return True  # the import's own error, from our loader
    origin = getattr(spec, "origin", None)
    if spec is None or not origin:
        return True
    try:
        return os.path.samefile(origin, path)
    except OSError:
        return True


class _RewritingFinder:
    """Finds `path` (only) with the rewriting loader: what pytest's importlib import mode
    asks `sys.meta_path` before making its own spec."""

    def __init__(self, path):
        self.path = path

    def find_spec(self, name, search=None, target=None):
        import importlib.util

        # pytest checks the spec's origin against the path it imports (parents too).
        if name.rpartition(".")[2] == os.path.splitext(os.path.basename(self.path))[0]:
            return importlib.util.spec_from_file_location(name, self.path, loader=RewritingLoader(self.path))
        return None


def import_path(path, rewrite=True):
    import importlib.util

    path = os.path.abspath(path)
    if IMPORT_MODE["mode"] == "importlib" and HAVE_PYTEST:
        # pytest's own algorithm (module names, parent and made-up modules, sys.path
        # untouched), with the finder that gives the file pytest's rewriting and probes.
        from _pytest import pathlib as pytest_pathlib

        finder = _RewritingFinder(path) if rewrite else None
        if finder is not None:
            sys.meta_path.insert(0, finder)
        try:
            return pytest_pathlib.import_path(
                path,
                mode="importlib",
                root=pytest_pathlib.Path(IMPORT_MODE["root"] or os.getcwd()),
                consider_namespace_packages=IMPORT_MODE["namespace"],
            )
        except pytest_pathlib.ImportPathMismatchError as exc:
            raise ImportPathMismatchError(*exc.args) from None
        finally:
            if finder is not None:
                sys.meta_path.remove(finder)

    basedir, name = module_name_for(path)
    if IMPORT_MODE["mode"] == "append":
        if basedir not in sys.path:
            sys.path.append(basedir)
    elif not sys.path or sys.path[0] != basedir:
        sys.path.insert(0, basedir)

    existing = sys.modules.get(name)
    if existing is not None:
        # What `importlib.import_module(name)` gives pytest: the module already there.
        return _checked_module(existing, name, path)
    # Import the parent packages normally first.
    if "." in name:
        importlib.import_module(name.rsplit(".", 1)[0])
        # The parent's import may have imported this module already (`from . import
        # sub` in a package's __init__): executing it again would make a second module
        # object, without the attributes its own submodule imports set on the first.
        existing = sys.modules.get(name)
        if existing is not None:
            return _checked_module(existing, name, path)
    if not rewrite or not _import_finds(name, path):
        # pytest's `importlib.import_module(name)`: in append mode an earlier `sys.path`
        # entry may hold another file of that name (it is imported, then reported).
        return _checked_module(importlib.import_module(name), name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=RewritingLoader(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if "." in name:
        setattr(sys.modules[name.rsplit(".", 1)[0]], name.rsplit(".", 1)[1], module)
    return module


# ------------------------------------------------------------------------- fixtures


def mark_spec(mark):
    """A parametrize mark as the parameter spec `callspec_for` and the id match use."""
    return {
        "argnames": mark.args[0] if mark.args else mark.kwargs["argnames"],
        "argvalues": mark.args[1] if len(mark.args) > 1 else mark.kwargs["argvalues"],
        "ids": mark.kwargs.get("ids"),
        "indirect": mark.kwargs.get("indirect", False),
    }


class FixtureDef:
    def __init__(self, name, func, marker, owner, is_method=False):
        self.name = name
        self.func = func
        scope = getattr(marker, "scope", "function") or "function"
        self.scope = scope if isinstance(scope, str) else "function"
        self.params = getattr(marker, "params", None)
        if self.params is not None:
            self.params = list(self.params)
        self.ids = getattr(marker, "ids", None)
        self.autouse = bool(getattr(marker, "autouse", False))
        self.owner = owner  # the module, class or conftest defining it
        self.is_method = is_method
        self.argnames = argnames_of(func, is_method)


def autouse_names(defs):
    """Autouse fixture names in pytest's order (`_getautousenames`): outermost holder
    first (plugins, conftests, module, classes), each holder's in registration order.
    `defs` lists holders closest first, each holder's fixtures in that order."""
    groups = []
    for d in defs:
        if groups and groups[-1][0] is d.owner:
            groups[-1][1].append(d)
        else:
            groups.append((d.owner, [d]))
    for _, group in reversed(groups):
        for d in group:
            if d.autouse:
                yield d.name


SCOPES = ("session", "package", "module", "class", "function")
_SCOPE_ORDER = {s: i for i, s in enumerate(SCOPES)}


class _IndirectParam:
    """The key of a fixture value made for an `indirect=` parameter: equal to another
    for an equal parameter, as pytest compares a SubRequest's `param` with the cached
    one (`is` when `==` raises or gives no bool, as for numpy arrays)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        if not isinstance(other, _IndirectParam):
            return False
        try:
            return bool(self.value == other.value)
        except (ValueError, RuntimeError):
            return self.value is other.value

    __hash__ = None


class FixtureLookupError(Exception):
    pass


def _class_attributes_static(cls):
    """{name: value} as `inspect.getattr_static(cls, name)` finds each name of
    `dir(cls)`: the first class of the MRO that defines it (object's own left out: it
    defines no fixtures), without running descriptors."""
    found = {}
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, value in vars(klass).items():
            if name not in found:
                found[name] = value
    return found


def scan_fixtures(namespace_owner, is_class=False):
    """Fixture definitions of a module, conftest or class, in `dir()` order as pytest's
    `parsefactories` (autouse order follows it)."""
    found = []
    if is_class:
        try:
            namespace = _class_attributes_static(namespace_owner)
            names = sorted(namespace)
        except Exception:  # noqa: BLE001  (an exotic class: the slow, exact way)
            namespace, names = None, dir(namespace_owner)
    else:
        # pytest registers a module's fixtures in dir() order, sorted by name.
        namespace = vars(namespace_owner)
        names = sorted(namespace)
    for attr in names:
        try:
            obj = namespace[attr] if namespace is not None else inspect.getattr_static(namespace_owner, attr)
        except (AttributeError, KeyError):
            continue
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        spec = fixture_spec(obj)
        if spec is None:
            continue
        marker, func = spec
        name = getattr(marker, "name", None) or attr
        found.append(FixtureDef(name, func, marker, namespace_owner, is_method=is_class))
    return found


class Request:
    """The `request` fixture (the subset pytest suites use most)."""

    def __init__(self, engine, item, scope="function", fixturedef=None, param=None, has_param=False, held_in=None):
        self._engine = engine
        self._item = item
        self.scope = scope
        self._held_in = held_in or scope  # the scope whose teardown ends the value
        self._fixturedef = fixturedef
        if has_param:
            self.param = param
        self._node = None
        self.config = engine.config_obj
        self.function = item.function if scope == "function" else None
        self.cls = item.cls
        self.instance = item.instance if scope == "function" else None
        self.module = item.module
        self.fixturename = fixturedef.name if fixturedef else None
        if self._held_in == "function":
            self._node = item
        node = self.node
        self.keywords = node.keywords if isinstance(node, ScopeNode) else {m.name: m for m in item.marks}

    @property
    def node(self):
        """The test for a function-scoped fixture, else the collector of the fixture's
        scope (pytest's `SubRequest.node`)."""
        if self._node is None:
            if self._held_in == "class" and self._item.cls is None:
                # pytest: no Class above the test, so the test itself.
                self._node = self._item
            else:
                package = self._engine.package_values.get(id(self._fixturedef))
                self._node = ScopeNode(self._engine, self._item, self._held_in, package)
        return self._node

    @property
    def fixturenames(self):
        return list(self._item.fixturenames)

    @property
    def path(self):
        from pathlib import Path

        return Path(self._item.path)

    def addfinalizer(self, fn):
        owner = (self._held_in, id(self._fixturedef)) if self._fixturedef is not None else None
        self._engine.scopes.add_finalizer(self._held_in, fn, owner)

    def getfixturevalue(self, name):
        return self._engine.get_fixture(self._item, name, ())

    def applymarker(self, marker):
        self._item.add_marker(marker)

    def raiseerror(self, msg):
        raise FixtureLookupError(msg)


class ScopeStack:
    """Live fixture values and finalizers per scope, torn down innermost first.

    A value is `(scope, key)`; each finalizer remembers the value it belongs to (None for
    xunit and builtin ones) and when it was added, so that a value can be torn down with
    exactly what depends on it, as pytest's `FixtureDef.finish` does when a higher-scoped
    parameter changes."""

    def __init__(self):
        self.values = {s: {} for s in SCOPES}
        self.finalizers = {s: [] for s in SCOPES}  # [(seq, owner, fn)]
        self.params = {s: {} for s in SCOPES}  # the fixture param each value was made with
        self.dependents = {}  # value -> values whose setup requested it
        self._building = []  # values being set up, innermost last
        self._seq = 0

    def add_finalizer(self, scope, fn, owner=None):
        self._seq += 1
        self.finalizers[scope].append((self._seq, owner, fn))

    def begin(self, scope, key, param_index):
        """A fixture value of `scope` is about to be set up."""
        self.params[scope][key] = param_index

    def requested(self, scope, key):
        """The value `(scope, key)` is requested: the value being set up depends on it."""
        if self._building and self._building[-1][0] != "function":
            self.dependents.setdefault((scope, key), set()).add(self._building[-1])

    @contextlib.contextmanager
    def building(self, scope, key):
        self._building.append((scope, key))
        try:
            yield
        finally:
            self._building.pop()

    def unwind(self, scope, key):
        """Tears down the value `key` of `scope` and every value that depends on it (in
        any scope), latest first; returns the exceptions raised."""
        doomed = set()
        todo = [(scope, key)]
        while todo:
            value = todo.pop()
            if value not in doomed:
                doomed.add(value)
                todo.extend(self.dependents.get(value, ()))
        due = []
        for s in SCOPES:
            kept = []
            for entry in self.finalizers[s]:
                (due if entry[1] in doomed else kept).append(entry)
            self.finalizers[s][:] = kept
        errors = self._run(sorted(due, key=lambda e: e[0]))
        for s, k in doomed:
            self.values[s].pop(k, None)
            self.params[s].pop(k, None)
        self._forget(lambda value: value in doomed)
        return errors

    def teardown(self, scope):
        """Runs finalizers of `scope` (LIFO); returns the exceptions raised."""
        errors = self._run(self.finalizers[scope])  # empties the list
        self.values[scope].clear()
        self.params[scope].clear()
        if scope != "function":
            self._forget(lambda value: value[0] == scope)
        return errors

    def _forget(self, gone):
        for value in [v for v in self.dependents if gone(v)]:
            del self.dependents[value]
        for deps in self.dependents.values():
            deps -= {d for d in deps if gone(d)}

    @staticmethod
    def _run(entries):
        """Runs the finalizers of `entries` last first (popping them as they run)."""
        errors = []
        while entries:
            fn = entries.pop()[2]
            try:
                fn()
            except BaseException as exc:  # noqa: B902 - reported as a setup/teardown error
                if isinstance(exc, (KeyboardInterrupt, ExitException)):
                    raise
                errors.append(sys.exc_info())
        return errors


# ----------------------------------------------------------------------------- items


class Item:
    """One test to run: the resolved objects behind a node id."""

    def __init__(self, nodeid, path, module, cls_chain, name, function, callspec, marks):
        self.user_properties = []
        self.nodeid = nodeid
        self.path = path
        self.module = module
        self.cls_chain = cls_chain
        self.cls = cls_chain[-1] if cls_chain else None
        # pytest's `name` carries the parameter id (`test_x[1-a]`); `originalname` not.
        self.originalname = name.partition("[")[0]
        self.name = name
        self.function = function
        # A test that is a staticmethod of its class: called and inspected unbound.
        self.static = False
        self.callspec = callspec  # {argname: value}
        self.indirect = {}
        self.instance = None
        # pytest's iter_markers order: function, its parameter set, class, module.
        self.marks = marks
        self.fixturenames = ()
        self.asyncio = False  # a pytest-asyncio test (asyncio_plugin.py)
        self.dtest = None  # a doctest item's DocTest (doctests.py)
        # pytest's per-item store (the logging plugin keeps caplog's handlers there).
        self.stash = _new_stash()

    def __repr__(self):
        # pytest's Node repr, with the class pytest would make for this item.
        if self.dtest is not None:
            kind = "DoctestItem"
        elif self.cls is not None and _is_unittest_class(self.cls):
            kind = "TestCaseFunction"
        else:
            kind = "Function"
        return "<%s %s>" % (kind, self.name)

    @property
    def obj(self):
        """pytest's `item.obj`: the test function, bound to the instance of its class
        (a staticmethod test stays unbound)."""
        if self.instance is not None and not self.static:
            return self.function.__get__(self.instance)
        return self.function

    def add_marker(self, marker):
        mark = getattr(marker, "mark", marker)
        self.marks.insert(0, mark)

    def iter_markers(self, name):
        return [m for m in self.marks if m.name == name]

    def get_closest_marker(self, name):
        for m in self.marks:
            if m.name == name:
                return m
        return None


class ScopeNode:
    """The collector pytest gives a higher-scoped fixture as `request.node`: the test's
    Class, Module, Package or the Session, with the marks of that node and its parents
    (not the test function's)."""

    def __init__(self, engine, item, scope, package=None):
        self.config = engine.config_obj
        rel = engine._rel_to_root(item.path)
        self.module = item.module
        self.cls = None
        if scope == "class" and item.cls is not None:
            self.kind, self.obj, self.cls = ("UnitTestCase" if _is_unittest_class(item.cls) else "Class"), item.cls, item.cls
            self.name = item.cls.__name__
            self.nodeid = "::".join([rel] + [c.__name__ for c in item.cls_chain])
            self._path = item.path
            owners = list(reversed(item.cls_chain)) + [item.module]
        elif scope in ("class", "module"):
            self.kind, self.obj, self.name, self.nodeid, self._path = "Module", item.module, os.path.basename(item.path), rel, item.path
            owners = [item.module]
        elif scope == "package" and package is not None:
            self.kind, self.obj = "Package", None
            self._path = package
            self.nodeid = engine._rel_to_root(package) if package != engine.rootdir else ""
            self.name = os.path.basename(package)
            owners = []
        else:
            self.kind, self.obj, self.name, self.nodeid, self._path = "Session", None, "", "", engine.rootdir
            owners = []
        self.own_markers = []
        for owner in owners:
            try:
                self.own_markers += unpacked_marks(owner, consider_mro=True) if isinstance(owner, type) else unpacked_marks(owner)
            except Exception:  # noqa: BLE001 - a mark pytest itself could not read
                pass
        self.keywords = {m.name: m for m in self.own_markers}
        self.keywords[self.name] = True
        self._engine = engine
        self._scope = scope

    @property
    def path(self):
        from pathlib import Path

        return Path(self._path)

    @property
    def fspath(self):
        from _pytest._py.path import LocalPath

        return LocalPath(self._path)

    def iter_markers(self, name=None):
        return [m for m in self.own_markers if name is None or m.name == name]

    def get_closest_marker(self, name, default=None):
        found = self.iter_markers(name)
        return found[0] if found else default

    def addfinalizer(self, fn):
        self._engine.scopes.add_finalizer(self._scope if self._scope in SCOPES else "session", fn)

    def __repr__(self):
        return "<%s %s>" % (self.kind, self.name)


# ---------------------------------------------------------------------------- engine


class NativeEngine:
    def __init__(self, config, channel):
        self.debugger = None
        self._pending_info = None
        # Reports of the running test, sent with its end (`_finish`) in one message.
        self._queued_reports = []
        self._sent_location = None
        # A channel that wants to know when a test starts (coverage contexts).
        self._begin_test = getattr(channel, "begin_test", None)
        if config.get("debugger"):
            from fastest_harness.debugger import Debugger

            self.debugger = Debugger(channel, config["debugger"])
            # The runner shows what the test reported so far before pdb takes the terminal.
            self.debugger.before_interact = self._send_queued_reports
        self.config = config
        self.channel = channel
        self.rootdir = config["rootdir"]
        self.ini = config.get("ini", {})
        IMPORT_MODE.update(
            mode=import_mode_of(config.get("pytest_args") or []),
            root=self.rootdir,
            namespace=bool(self.ini.get("consider_namespace_packages")),
        )
        self.capture = config.get("capture", "fd")
        self.tbstyle = config.get("tbstyle") or "auto"
        self.showlocals = bool(config.get("showlocals"))
        self.verbose = int(config.get("verbose", 0))
        self.maxfail = int(config.get("maxfail") or 0)
        self.failed_reports = 0
        self.scopes = ScopeStack()
        # Package-scoped fixture values alive: id(fixturedef) -> the package directory
        # whose teardown ends them (pytest's `get_scope_package`).
        self.package_values = {}
        self._setup_plans = {}  # see _setup_plan
        self._fixture_packages = {}  # id(fixturedef) -> package_of()
        self.conftest_cache = {}
        self.module_cache = {}
        self._definitions = {}  # (path, "Class::test") -> _resolve_definition's tuple
        self._warning_filters = {}  # see _apply_warning_filters
        self._fixture_defs_memo = {}  # see fixture_defs
        self._autouse_memo = {}  # id(defs) -> (defs, autouse names), see initial_fixture_names
        self.module_fixture_cache = {}
        self.class_fixture_cache = {}
        # One FixtureDef per conftest/plugin fixture for the whole session: a value is
        # stored under its definition, so a session fixture must be the same object for
        # every module that sees it (else it is set up again per module).
        self.plugin_fixture_cache = {}
        self.held = None
        self.config_obj = _Config(self)
        self._check_marks()
        self.capture_prefix = config.get("capture_prefix") or os.path.join(self.rootdir, ".fastest_cache", "capture")
        global CODE_CACHE_DIR
        CODE_CACHE_DIR = os.path.join(self.rootdir, ".fastest_cache", "code")
        self.recorder = None
        if config.get("record"):
            from fastest_harness import deps

            self.recorder = deps.install(self.rootdir, CODE_CACHE_DIR, deps.default_excludes())
        self._setup_assertion_hooks()
        # Installed plugins whose effects the engine reproduces (the runner decides).
        self.hypothesis = None
        if "hypothesis" in (config.get("emulated_plugins") or []):
            from fastest_harness import hypothesis_plugin

            plugin = hypothesis_plugin.load()
            if plugin is not None:
                self.hypothesis = hypothesis_plugin.HypothesisSupport(self, plugin)
        self.asyncio = None
        if "pytest-asyncio" in (config.get("emulated_plugins") or []):
            from fastest_harness import asyncio_plugin

            plugin = asyncio_plugin.load()
            if plugin is None:
                # Loud, never a run with different outcomes.
                raise RuntimeError(
                    "the native engine cannot reproduce this pytest-asyncio (its module or the "
                    "internals it reuses are missing); run with --engine pytest"
                )
            self.asyncio = asyncio_plugin.AsyncioSupport(self, plugin)
            # Its fixtures (the runners, `event_loop_policy`) are a plugin's.
            self.conftest_cache[("plugin", plugin.__name__)] = plugin
        self._builtin = _builtin_fixtures(self)
        # pytest-benchmark's setup hook (it rejects bad `benchmark` mark arguments).
        self.benchmark_setup = None
        if "pytest-benchmark" in (config.get("emulated_plugins") or []):
            from pytest_benchmark.plugin import pytest_runtest_setup

            self.benchmark_setup = pytest_runtest_setup
        self.benchmark_skip = self.benchmark_setup is not None and "--benchmark-skip" in (config.get("pytest_args") or [])
        from fastest_harness.doctests import DoctestSupport

        self.doctests = DoctestSupport(self)
        self.xunit_module_done = set()
        self._capture = None
        self._defs = []
        self.session_modules = list(config.get("session_modules") or [])
        self._session_started = False
        self._id_tables = {}
        self.phase_captures = []  # the item's capsys/capfd fixtures
        self._batch_siblings = {}
        self._log_formatter = None
        self._log_handlers = None  # the worker's (caplog, report) pair, see LogCapture
        self._location_paths = {}  # item path -> rootdir-relative path
        # The .py files named on the command line (pytest's `isinitpath`: rewritten).
        self._initial_files = {
            os.path.abspath(a.split("::")[0])
            for a in config.get("collect_args") or []
            if not a.startswith("-") and a.split("::")[0].endswith(".py")
        }
        self.coverage = None  # the worker's coverage.py object with --cov (worker.py)
        if HAVE_PYTEST:
            import logging

            try:
                from _pytest.logging import DEFAULT_LOG_DATE_FORMAT, DEFAULT_LOG_FORMAT

                self._log_formatter = logging.Formatter(
                    self.ini.get("log_format") or DEFAULT_LOG_FORMAT,
                    self.ini.get("log_date_format") or DEFAULT_LOG_DATE_FORMAT,
                )
            except ImportError:
                pass
        level = self.ini.get("log_level")
        if level:
            import logging

            level = int(level) if str(level).isdigit() else logging.getLevelName(str(level).upper())
            level = level if isinstance(level, int) else None
        self._log_level = level or None

    # -- assertion explanations through pytest's own comparison code
    # The marks pytest's own plugins register (their `pytest_configure`).
    _BUILTIN_MARKERS = ("filterwarnings", "parametrize", "skip", "skipif", "tryfirst", "trylast", "usefixtures", "xfail")

    def _check_marks(self):
        """pytest's unknown-mark check: its `MarkGenerator` warns of a `pytest.mark.NAME`
        no `markers` line registers, or with `strict_markers` fails (at import: a
        collection error), once the mark plugin gives it the config. The registered
        lines are the ini's, pytest's own, the active plugins' (sent by the runner) and
        what conftests' `pytest_configure` add."""
        if not HAVE_PYTEST:
            return
        lines = self.ini.get("markers")
        lines = list(lines) if isinstance(lines, list) else []
        self.ini["markers"] = lines + list(self._BUILTIN_MARKERS)
        try:
            from _pytest.mark.structures import MARK_GEN
        except ImportError:
            return
        MARK_GEN._config = self.config_obj
        MARK_GEN._markers = set()

    def _setup_assertion_hooks(self):
        if not HAVE_PYTEST:
            return
        try:
            from _pytest.assertion import truncate
            from _pytest.assertion import util as a_util
        except ImportError:
            return
        cfg = self.config_obj
        # pytest's `_get_truncation_parameters`: no truncation at assertion verbosity 2,
        # on CI (`CI` or `BUILD_NUMBER` set), or with both ini limits 0.
        verbose = self.ini.get("verbosity_assertions")
        verbose = self.verbose if verbose in (None, "", "auto") else int(verbose)
        max_lines = self.ini.get("truncation_limit_lines")
        max_lines = int(max_lines) if max_lines not in (None, "") else getattr(truncate, "DEFAULT_MAX_LINES", 8)
        max_chars = self.ini.get("truncation_limit_chars")
        max_chars = int(max_chars) if max_chars not in (None, "") else getattr(truncate, "DEFAULT_MAX_CHARS", 640)
        on_ci = bool(os.environ.get("CI") or os.environ.get("BUILD_NUMBER"))
        truncating = verbose < 2 and not on_ci and (max_lines > 0 or max_chars > 0)

        def reprcompare(op, left, right):
            try:
                expl = a_util.assertrepr_compare(cfg, op, left, right)
            except Exception:
                return None
            if not expl:
                return None
            if truncating and hasattr(truncate, "_truncate_explanation"):
                try:
                    expl = truncate._truncate_explanation(expl, max_lines=max_lines, max_chars=max_chars)
                except TypeError:
                    pass
            expl = [line.replace("\n", "\\n") for line in expl]
            return "\n~".join(expl).replace("%", "%%")

        a_util._reprcompare = reprcompare
        sys.meta_path.insert(0, _registered_rewrites())

    # -- protocol
    def start_session(self):
        """Before the first item: pytest imports every collected module, and tests may
        rely on what those imports did (a submodule imported as a side effect). Returns
        the collection errors of the test modules that failed to import (protocol
        `CollectionErrorReport`s): pytest collects none of their items."""
        if self._session_started:
            return []
        self._session_started = True
        if self.hypothesis is not None:
            self.hypothesis.session_start()
        return self.import_session_modules()

    def import_session_modules(self):
        errors = []
        modules, self.session_modules = self.session_modules, []
        if not modules:
            return errors
        if len(modules) <= PRECOMPILE_AT_MOST:
            if os.environ.get("FASTEST_WORKER", "0") == "0":
                _precompile(self._rewritten_modules(modules))
        else:
            share = _worker_share()
            if share is not None:
                _compile_share(self._rewritten_modules(modules), share)
        if self._capture is None:
            from fastest_harness import capture as cap

            self._capture = cap.Capture(self.capture_prefix, self.capture)
        self._capture.start()
        failed_dirs = []  # directories whose conftest failed: pytest collects nothing there
        try:
            for rel in modules:
                path = os.path.join(self.rootdir, rel)
                if path in self.module_cache or not path.endswith(".py"):
                    continue
                if any(rel.startswith(d + "/") for d in failed_dirs):
                    continue
                try:
                    module = self.load_module(path)
                    if HAVE_PYTEST and self.is_test_module(path) and os.path.basename(path) != "conftest.py":
                        with self.recorded_warnings(None):
                            self._warn_uncollectable_classes(vars(module), rel, errors)
                except BaseException as exc:  # noqa: B902
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    if isinstance(exc, ConftestImportFailure):
                        if self._initial_conftest(exc.path):
                            continue  # pytest's usage error, sent when an item needs it
                        # pytest: an error collecting the conftest's directory.
                        cause = exc.cause
                        conftest_dir = os.path.dirname(os.path.abspath(exc.path))
                        nodeid = os.path.relpath(conftest_dir, self.rootdir).replace(os.sep, "/")
                        failed_dirs.append(nodeid)
                        longrepr, message = self.import_error_report(
                            exc.path, (type(cause), cause, cause.__traceback__), module=False
                        )
                        errors.append({"nodeid": nodeid, "longrepr": longrepr, "message": message})
                    elif not isinstance(exc, SkipException):  # a skip: reported by the items
                        longrepr, message = self.import_error_report(path, sys.exc_info())
                        errors.append({"nodeid": rel, "longrepr": longrepr, "message": message})
        finally:
            _reap_precompiling()
            self._capture.read_and_reset()  # pytest does not show collection output
        return errors

    def _rewritten_modules(self, modules):
        """The absolute paths of the test modules (not conftests) among `modules`: what
        is compiled with assertion rewriting and may be compiled ahead."""
        paths = [os.path.abspath(os.path.join(self.rootdir, rel)) for rel in modules]
        return [p for p in paths if p.endswith(".py") and self.is_test_module(p) and os.path.basename(p) != "conftest.py"]

    def _warn_uncollectable_classes(self, namespace, parent_nodeid, errors, seen=None):
        """pytest's `Class.collect` warning for each test class it cannot instantiate (an
        `__init__` or `__new__` of its own or inherited): the class collects nothing and
        pytest says why (`PytestCollectionWarning`, at the class's line); nested test
        classes of the collectable ones too (`parent_nodeid`: pytest's `from:`). A warning
        filter that makes it an error (`-W error::...`) makes it the class's collection
        error, appended to `errors`."""
        from _pytest._code import getfslineno
        from _pytest.warning_types import PytestCollectionWarning

        seen = set() if seen is None else seen
        patterns = self.ini.get("python_classes") or ["Test"]
        for name, obj in list(namespace.items()):
            if name in seen or not isinstance(obj, type):
                continue
            seen.add(name)
            matches = any(
                name.startswith(p) or (any(c in p for c in "*?[") and fnmatch.fnmatch(name, p))
                for p in patterns
            )
            if not (matches or getattr(obj, "__test__", False) is True) or inspect.isabstract(obj):
                continue
            if _is_unittest_class(obj) or not getattr(obj, "__test__", True):
                continue
            ctor = "__init__" if getattr(obj, "__init__", object.__init__) != object.__init__ else None
            if ctor is None and getattr(obj, "__new__", object.__new__) != object.__new__:
                ctor = "__new__"
            nodeid = "%s::%s" % (parent_nodeid, name)
            if ctor is None:
                inner = set()
                for base in obj.__mro__:
                    self._warn_uncollectable_classes(vars(base), nodeid, errors, inner)
                continue
            try:
                path, lineno = getfslineno(obj)
                warnings.warn_explicit(
                    PytestCollectionWarning(
                        "cannot collect test class %r because it has a %s constructor (from: %s)" % (obj.__name__, ctor, parent_nodeid)
                    ),
                    category=None,
                    filename=str(path),
                    lineno=lineno + 1,
                )
            except Exception:
                # pytest's traceback here is of its own collection code: the error line.
                info = sys.exc_info()
                message = self._message(info)
                errors.append({"nodeid": nodeid, "longrepr": "E   " + message, "message": message})

    def import_error_report(self, path, info, module=True):
        """(longrepr, crash message or None) as pytest reports a test module whose import
        raised (`importtestmodule`, `Collector.repr_failure`), the harness's frames left
        out (pytest's own import frames are not there either). Not a `module`: a
        conftest, whose error pytest reports as its directory's, without the hint."""
        try:
            return self._import_error_report(path, info, module)
        except Exception:  # never lose the error to a formatting problem
            return "".join(traceback.format_exception(*info)).rstrip("\n"), None

    def _import_error_report(self, path, info, module):
        etype, value, tb = info
        if module and isinstance(value, ImportPathMismatchError):
            return mismatch_report(value), None
        user_tb = tb
        while user_tb is not None and not _outside_harness_path(user_tb.tb_frame.f_code.co_filename):
            user_tb = user_tb.tb_next
        tb = user_tb or tb
        import_error = module and isinstance(value, ImportError)
        head = (
            "ImportError while importing test module '%s'.\n"
            "Hint: make sure your test modules/packages have valid Python names.\n"
            "Traceback:\n" % path
        )
        if not HAVE_PYTEST:
            text = "".join(traceback.format_exception(etype, value, tb)).rstrip("\n")
            return (head + text, None) if import_error else (text, self._message(info))
        from _pytest._code import ExceptionInfo
        from _pytest._code.code import filter_traceback

        excinfo = ExceptionInfo.from_exc_info((etype, value, tb))
        if import_error:
            # The harness's frames (an import pytest's importlib mode made) never show.
            excinfo.traceback = excinfo.traceback.filter(
                lambda entry: _outside_harness_path(str(entry.path)) and (self.verbose >= 2 or filter_traceback(entry))
            )
            text = str(excinfo.getrepr(style="short")) if excinfo.traceback else excinfo.exconly()
            return head + text, None
        if isinstance(value, SyntaxError):
            return str(excinfo.getrepr(style="short")), None
        if isinstance(value, FailException) and not getattr(value, "pytrace", True):
            # `_repr_failure_py`: a `fail(..., pytrace=False)` shows its message alone.
            return str(value), self._message(info)

        def tbfilter(ei):
            # Collector._traceback_filter: from the module's own frame on.
            full = ei.traceback
            cut = full.cut(path=path)
            return cut.filter(ei)

        style = self.tbstyle if self.tbstyle not in ("auto", None) else "short"
        text = self._render(excinfo, style, tbfilter)
        if text is None:
            text = "".join(traceback.format_exception(etype, value, tb)).rstrip("\n")
        return text, self._message(info)

    def _render(self, excinfo, style, tbfilter):
        """pytest's text of an `ExceptionInfo` (`getrepr` with the options pytest's
        `_repr_failure_py` passes), or None when pytest cannot render it."""
        from fastest_harness.reports import terminal_text

        try:
            repr_ = excinfo.getrepr(
                funcargs=True,
                abspath=False,
                showlocals=self.showlocals,
                style=style,
                tbfilter=tbfilter,
                truncate_locals=self.verbose < 2,
            )
        except Exception:
            return None
        return terminal_text(repr_)

    def run(self, items):
        self.start_session()
        self._batch_siblings = {}
        for spec in items:
            nodeid = spec["nodeid"]
            if "[" in nodeid:
                self._batch_siblings.setdefault(nodeid.split("[", 1)[0], []).append(nodeid)
        if self.stopped():
            return
        pending = ([self.held] if self.held else []) + list(items)
        self.held = None
        if not pending:
            return
        for current, nxt in zip(pending, pending[1:]):
            self.run_one(current, nxt)
            if self.stopped():
                return
        self.held = pending[-1]

    def stopped(self):
        """`-x`/`--maxfail` reached: pytest runs no further test."""
        return 0 < self.maxfail <= self.failed_reports

    def shutdown(self):
        if self.held is not None:
            held, self.held = self.held, None
            self.run_one(held, None)
        for scope in SCOPES:
            self.scopes.teardown(scope)
        if self._capture is not None:
            self._capture.stop()

    # -- resolution
    def resolve(self, spec):
        nodeid = spec["nodeid"]
        path_part, _, rest = nodeid.partition("::")
        base, bracket, _params = rest.partition("[")
        names = base.split("::")
        path = os.path.join(self.rootdir, path_part)
        doctest_item = self.doctests.resolve(nodeid, path, rest)
        if doctest_item is not None:
            return doctest_item
        definition = self._definitions.get((path, base))
        if definition is None:
            definition = self._definitions[(path, base)] = self._resolve_definition(path, names)
        module, chain, func, static, own, class_marks, module_marks = definition
        chain = list(chain)
        item = Item(nodeid, path, module, chain, names[-1] + bracket + _params, func, {}, own + class_marks + module_marks)
        item.static = static
        specs = [mark_spec(m) for m in item.marks if m.name == "parametrize"]
        indices = spec.get("param_index") or []
        if bracket and not indices:
            # Collected by Python (arguments not known statically, or parametrized
            # fixtures): find the parameter sets whose ids, as pytest makes them, give
            # this node id. pytest applies fixture params before the marks.
            specs = self.fixture_param_specs(item, specs) + specs
            indices = self.param_indices_for_id(specs, _params[:-1], nodeid, func)
            if not indices:
                raise FixtureLookupError(
                    "[fastest] no parameter set of %s has the id [%s] at run time (parametrize "
                    "arguments or fixture params that differ between processes?)" % (nodeid.split("[", 1)[0], _params[:-1])
                )
        callspec, param_marks, indirect, chosen = self.callspec_for(specs, indices)
        item.callspec = callspec
        item.marks = own + param_marks + class_marks + module_marks
        item.indirect = indirect
        item.param_index = chosen
        return item

    def _resolve_definition(self, path, names):
        """What every item of one test function shares (pytest resolves it once, at
        collection): module, class chain, function and their marks."""
        module = self.load_module(path)
        obj = module
        chain = []
        for n in names[:-1]:
            obj = getattr(obj, n)
            chain.append(obj)
        func = getattr(obj, names[-1]) if not chain else inspect.getattr_static(obj, names[-1])
        static = isinstance(func, staticmethod)
        if static:
            func = func.__func__
        own = unpacked_marks(func)
        class_marks = unpacked_marks(chain[-1]) if chain else []
        module_marks = unpacked_marks(module)
        return module, tuple(chain), func, static, own, class_marks, module_marks

    def fixture_param_specs(self, item, mark_specs):
        """Parameter specs of the parametrized fixtures in the item's fixture closure, in
        pytest's order (its `getfixtureclosure`, then `FixtureManager.pytest_generate_tests`)."""
        self._defs = defs = self.fixture_defs(item)
        by_name = {}
        for d in defs:  # closest first
            by_name.setdefault(d.name, []).append(d)
        direct = set()
        for spec in mark_specs:
            argnames = spec["argnames"]
            if isinstance(argnames, str):
                argnames = argnames.split(",")
            direct.update(n.strip() for n in argnames)
        names = self.initial_fixture_names(item, defs)
        i = 0
        while i < len(names):
            name = names[i]
            i += 1
            if name in direct or name not in by_name:
                continue
            for arg in by_name[name][0].argnames:
                if arg not in names:
                    names.append(arg)
        order = {sc: k for k, sc in enumerate(SCOPES)}

        def scope_rank(name):
            d = by_name.get(name)
            return order.get(d[0].scope, 4) if d else 4

        names.sort(key=scope_rank)
        specs = []
        for name in names:
            if name in direct:
                continue
            for d in by_name.get(name, ()):
                if d.params is not None:
                    specs.append({"argnames": name, "argvalues": d.params, "ids": d.ids, "indirect": True, "fixture": d})
                    break
                if name not in d.argnames:
                    break
        return specs

    def param_indices_for_id(self, specs, wanted, nodeid, func):
        """The parameter-set index per parametrize spec whose ids join to `wanted` (the
        bracket of the node id), computed with pytest's own id maker; [] if none does."""
        try:
            from _pytest.mark.structures import ParameterSet
            from _pytest.python import IdMaker
        except ImportError:
            return []
        definition = nodeid.split("[", 1)[0]
        # One table per parametrization (every item of a function shares it).
        key = (definition, tuple(id(spec["argvalues"]) for spec in specs))
        cached = self._id_tables.get(key)
        if cached is None:
            cached = self._id_table(specs, definition, func, ParameterSet, IdMaker)
            self._id_tables[key] = cached
        if cached is None:
            return []
        table, parsed, ordered = cached
        for spec, (names, sets) in zip(specs, parsed):
            # The sets as pytest parsed them (a generator of argvalues is read only once).
            spec["argnames"], spec["argvalues"] = names, sets
        found = table.get(wanted)
        if found is None:
            # Ids that differ in this process (made from the clock): when this batch holds
            # as many of the function's items as it has parameter sets (a module's tests
            # come as one batch), they pair up in order, as in the pytest engine.
            siblings = self._batch_siblings.get(definition, [])
            if len(siblings) == len(ordered) and nodeid in siblings:
                found = ordered[siblings.index(nodeid)]
        return list(found or [])

    def _id_table(self, specs, definition, func, ParameterSet, IdMaker):
        """({joined id: indices}, [(argnames, parameter sets)] per spec), or None when
        pytest itself would reject the parametrization."""
        per_mark, parsed = [], []
        for spec in specs:
            try:
                names, sets = ParameterSet._for_parametrize(spec["argnames"], spec["argvalues"], func, self.config_obj, definition)
            except Exception:  # noqa: BLE001  (pytest reports these at collection)
                return None
            parsed.append((list(names), sets))
            ids = spec["ids"]
            idfn, id_list = (ids, None) if callable(ids) else (None, None if ids is None else list(ids)[: len(sets)])
            try:
                made = IdMaker(names, sets, idfn, id_list, None, nodeid=definition, func_name=func.__name__).make_unique_parameterset_ids()
            except Exception:  # noqa: BLE001
                return None
            per_mark.append(list(made))
        table, ordered = {}, []
        for combo in itertools.product(*[list(enumerate(ids)) for ids in per_mark]):
            text = "-".join(i for _, i in combo if isinstance(i, str))
            indices = [index for index, _ in combo]
            table.setdefault(text, indices)
            ordered.append(indices)
        return table, parsed, ordered

    def callspec_for(self, specs, indices):
        """Argument values of the parameter sets picked by `indices` (one per spec, as
        static collection or the id match chose them); also {fixture name: index} of the
        parametrized fixtures' picks."""
        callspec, param_marks, indirect, chosen = {}, [], {}, {}
        for spec, idx in zip(specs, indices):
            argnames, argvalues = spec["argnames"], spec["argvalues"]
            if spec.get("fixture") is not None:
                chosen[spec["fixture"].name] = idx
            if isinstance(argnames, str):
                argnames = [a.strip() for a in argnames.split(",") if a.strip()]
            argnames = list(argnames)
            # Not a copy of a long list per test (quadratic on big parametrizations).
            value = argvalues[idx] if isinstance(argvalues, (list, tuple)) else list(argvalues)[idx]
            if _is_param_set(value):
                values, pm = tuple(value.values), list(value.marks)
                param_marks += [getattr(m, "mark", m) for m in pm]
            elif len(argnames) == 1:
                values = (value,)
            else:
                values = tuple(value)
            ind = spec["indirect"]
            for name, v in zip(argnames, values):
                if ind is True or (isinstance(ind, (list, tuple)) and name in ind):
                    indirect[name] = v
                else:
                    callspec[name] = v
        return callspec, param_marks, indirect, chosen

    def load_module(self, path):
        mod = self.module_cache.get(path)
        if mod is None:
            self.load_conftests(os.path.dirname(path))
            # Warnings at import belong to collection in pytest: no node id, reported
            # at the place they were raised.
            # A module imported only for its doctests is imported as any project module:
            # its import-time effects reach every test (one may rely on them).
            with self.recorded_warnings(None):
                mod = import_path(path, rewrite=self.is_test_module(path))
            self.module_cache[path] = mod
        return mod

    def is_test_module(self, path):
        """Whether pytest's assertion rewriting covers `path`: a conftest, a file
        `python_files` matches, or one named on the command line (a module imported only
        for its doctests is none of these)."""
        name = os.path.basename(path)
        if name == "conftest.py" or os.path.abspath(path) in self._initial_files:
            return True
        for pattern in self.ini.get("python_files") or ["test_*.py", "*_test.py"]:
            if os.sep not in pattern and "/" not in pattern:
                if fnmatch.fnmatch(name, pattern):
                    return True
            elif fnmatch.fnmatch(path, pattern if os.path.isabs(pattern) else "*" + os.sep + pattern):
                return True
        return False

    def load_conftests(self, directory):
        """Conftests from the rootdir down to `directory`, outermost first."""
        chain = []
        d = os.path.abspath(directory)
        root = os.path.abspath(self.rootdir)
        while True:
            chain.append(d)
            if d == root or os.path.dirname(d) == d or not d.startswith(root):
                break
            d = os.path.dirname(d)
        mods = []
        for d in reversed(chain):
            if d in self.conftest_cache:
                if self.conftest_cache[d] is not None:
                    mods.append(self.conftest_cache[d])
                continue
            path = os.path.join(d, "conftest.py")
            mod = None
            if os.path.isfile(path):
                basedir, name = module_name_for(path)
                if name == "conftest":
                    sys.modules.pop("conftest", None)
                try:
                    mod = import_path(path)
                except Exception as exc:
                    raise ConftestImportFailure(path, exc) from exc
                plugins = getattr(mod, "pytest_plugins", None)
                if plugins:
                    import importlib

                    for p in [plugins] if isinstance(plugins, str) else plugins:
                        mod_p = importlib.import_module(p)
                        self.conftest_cache.setdefault(("plugin", p), mod_p)
                configure = getattr(mod, "pytest_configure", None)
                if callable(configure):
                    # pytest calls it as the conftest registers (a historic hook), with
                    # the arguments it names.
                    try:
                        configure(**({"config": self.config_obj} if "config" in argnames_of(configure) else {}))
                    except Exception as exc:
                        raise ConftestImportFailure(path, exc) from exc
            self.conftest_cache[d] = mod
            if mod is not None:
                mods.append(mod)
        return mods

    def fixture_defs(self, item):
        """Fixture definitions visible to `item`, closest first (one list per module and
        class chain: the caches it reads are filled once)."""
        key = _holders_key(item)
        defs = self._fixture_defs_memo.get(key)
        if defs is None:
            defs = self._fixture_defs_memo[key] = self._scan_fixture_defs(item)
        return defs

    def _scan_fixture_defs(self, item):
        defs = []
        for cls in reversed(item.cls_chain):
            scanned = self.class_fixture_cache.get(cls)
            if scanned is None:
                scanned = self.class_fixture_cache[cls] = scan_fixtures(cls, is_class=True)
            defs += scanned
        key = item.path
        mod_defs = self.module_fixture_cache.get(key)
        if mod_defs is None:
            mod_defs = scan_fixtures(item.module)
            conf = []
            conftests = list(reversed(self.load_conftests(os.path.dirname(item.path))))
            plugins = [m for k, m in self.conftest_cache.items() if isinstance(k, tuple)]
            for m in conftests + plugins:
                scanned = self.plugin_fixture_cache.get(m)
                if scanned is None:
                    scanned = self.plugin_fixture_cache[m] = scan_fixtures(m)
                conf += scanned
            mod_defs = mod_defs + conf
            self.module_fixture_cache[key] = mod_defs
        return defs + mod_defs

    def lookup(self, item, name, after=None):
        """The closest definition of `name`, or the next one after `after` (overriding)."""
        defs = self._defs
        start = 0
        if after is not None:
            for i, d in enumerate(defs):
                if d is after:
                    start = i + 1
                    break
        for d in defs[start:]:
            if d.name == name:
                return d
        return self._builtin.get(name) if (after is None or not isinstance(after, BuiltinFixture)) else None

    def get_fixture(self, item, name, requester_chain, after=None):
        if name == "request":
            return Request(self, item)
        if name in item.callspec and after is None and not requester_chain:
            return item.callspec[name]
        fdef = self.lookup(item, name, after)
        if fdef is None:
            available = sorted({d.name for d in self._defs} | set(self._builtin))
            raise FixtureLookupError(
                "fixture '%s' not found\n>       available fixtures: %s\n>       use 'pytest --fixtures [testpath]' for help on them."
                % (name, ", ".join(available))
            )
        if isinstance(fdef, BuiltinFixture):
            key = ("builtin", name)
            store = self.scopes.values[fdef.scope]
            if key not in store:
                store[key] = fdef.create(item)
            return store[key]
        scope = fdef.scope
        key = id(fdef)
        frame_key = None
        if scope == "package":
            package = self.package_of(fdef)
            if package is None:
                scope = "session"  # pytest: no package node matches, the session holds it
            else:
                self.package_values[key] = package
                frame_key = self._rel_to_root(package) if package != self.rootdir else ""
        store = self.scopes.values[scope]
        self.scopes.requested(scope, key)
        if name in item.indirect:
            # pytest's `cache_key`: the parameter itself (== where it compares, else is).
            param_index = _IndirectParam(item.indirect[name])
        else:
            param_index = getattr(item, "param_index", {}).get(name) if fdef.params is not None else None
        if key in store:
            if self.scopes.params[scope].get(key) == param_index:
                return store[key]
            # Another parameter of a higher-scope fixture: what was set up since this
            # one is torn down (pytest finishes the fixture and what depends on it).
            errors = self.scopes.unwind(scope, key)
            if errors:
                raise errors[0][1].with_traceback(errors[0][2])
        self.scopes.begin(scope, key, param_index)
        if fdef in requester_chain:
            raise FixtureLookupError("recursive dependency involving fixture '%s' detected" % name)
        with self.scopes.building(scope, key):
            kwargs = {}
            for arg in fdef.argnames:
                if arg == name:
                    kwargs[arg] = self.get_fixture(item, arg, requester_chain + (fdef,), after=fdef)
                elif arg == "request":
                    has_param = name in item.indirect
                    kwargs[arg] = Request(self, item, fdef.scope, fdef, item.indirect.get(name), has_param, scope)
                else:
                    kwargs[arg] = self.get_fixture(item, arg, requester_chain + (fdef,))
            func = fdef.func
            if fdef.is_method:
                if item.instance is not None and isinstance(item.instance, fdef.owner):
                    func = func.__get__(item.instance)
                else:
                    func = func.__get__(fdef.owner() if scope != "class" else fdef.owner)
            synchronized = self.asyncio is not None and self.asyncio.is_asyncio_fixture(fdef)
            if synchronized:
                if SCOPES.index(self.asyncio.fixture_loop_scope(fdef)) > SCOPES.index(fdef.scope):
                    raise FixtureLookupError(
                        "ScopeMismatch: fixture '%s' (scope %s) runs in a %s-scoped event loop"
                        % (name, fdef.scope, self.asyncio.fixture_loop_scope(fdef))
                    )
                func = self.asyncio.synchronized(
                    item, fdef, func, Request(self, item, fdef.scope, fdef, held_in=scope), requester_chain + (fdef,)
                )
            if inspect.isgeneratorfunction(fdef.func):
                gen = func(**kwargs)
                with self._scope_frame(item, scope, frame_key):
                    value = next(gen)

                def finish(gen=gen):
                    try:
                        next(gen)
                    except StopIteration:
                        pass
                    else:
                        raise RuntimeError("fixture function has more than one 'yield'")

                self.scopes.add_finalizer(scope, finish, (scope, key))
            elif (inspect.iscoroutinefunction(fdef.func) or inspect.isasyncgenfunction(fdef.func)) and not synchronized:
                raise FixtureLookupError("async fixture '%s' needs an async plugin the native engine does not provide" % name)
            else:
                with self._scope_frame(item, scope, frame_key):
                    value = func(**kwargs)
        store[key] = value
        return value

    # -- scope keys: when they change between items, that scope is torn down
    @staticmethod
    def scope_keys(item):
        if item is None:
            return {s: None for s in SCOPES}
        return {
            "session": "session",
            "package": os.path.dirname(item.path),
            "module": item.path,
            "class": (item.path, tuple(c.__qualname__ for c in item.cls_chain)),
            "function": item.nodeid,
        }

    # -- running one test
    def run_one(self, spec, next_spec):
        nodeid = spec["nodeid"]
        if self.recorder is not None:
            self.recorder.begin_test()
        # No `start` message: the runner blames a crash on the first unfinished item.
        if self._begin_test is not None:
            self._begin_test(nodeid)
        try:
            item = self.resolve(spec)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            if isinstance(exc, ConftestImportFailure) and self._initial_conftest(exc.path):
                # pytest loads these before collecting and stops with a usage error.
                self.channel.send("fatal", message=exc.describe(), exit_code=4)
                return
            info = sys.exc_info()
            if isinstance(exc, ConftestImportFailure):
                info = (type(exc.cause), exc.cause, exc.cause.__traceback__)
            outcome, longrepr, message, skip = self.classify_error(info, None, "setup")
            self.send_report(nodeid, "setup", outcome, 0.0, longrepr, message, skip, None, [], (nodeid.split("::")[0], 0, nodeid.split("::")[-1]))
            self.send_report(nodeid, "teardown", "passed", 0.0, "", "", None, None, [], None)
            self._finish(nodeid)
            return
        if self.hypothesis is not None:
            self.hypothesis.note_item(item)
        if self.asyncio is not None:
            self.asyncio.note_item(item)
        try:
            next_item = self._peek(next_spec)
        except BaseException:
            next_item = None
        # One record for the whole protocol of an item (setup, call, teardown), as pytest.
        try:
            with self.recorded_warnings(item):
                self._run_item(item, next_item, next_spec)
        except KeyboardInterrupt as exc:
            from fastest_harness.debugger import QuitDebugger, quit_message

            if not isinstance(exc, QuitDebugger):
                raise
            self._finish(nodeid)
            self.channel.send("fatal", message=quit_message(), exit_code=2)
            os._exit(2)
        except ExitException as exc:
            self.session_exit(exc, nodeid)
        self._finish(nodeid)

    def session_exit(self, exc, nodeid):
        """`pytest.exit()` in a test: the session ends. As in pytest, the exiting test
        is not counted (no report of its phases is logged), every live fixture is torn
        down, and the runner prints the summary with the `Exit` line and exits with
        `returncode` (default: interrupted)."""
        self._queued_reports = []
        for scope in reversed(SCOPES):
            try:
                self.scopes.teardown(scope)
            except BaseException:  # noqa: B902 - the session is ending either way
                pass
        returncode = getattr(exc, "returncode", None)
        message = "_pytest.outcomes.Exit: %s" % getattr(exc, "msg", exc)
        self.channel.send(
            "fatal",
            message=message,
            exit_code=2 if returncode is None else returncode,
            session_exit=True,
            nodeid=nodeid,
        )
        os._exit(0)

    def recorded_warnings(self, item):
        """pytest's `catch_warnings_for_item` (a context manager): its default filters,
        the ini's and (for an item) its marks'; every warning is sent for the summary,
        under the item's node id or, outside an item, under the place it was raised."""
        return _RecordedWarnings(self, item)

    def _initial_conftest(self, path):
        """Whether pytest loads this conftest at start-up (run from the rootdir without
        arguments: the rootdir's own and those of its `test*` directories)."""
        d = os.path.dirname(os.path.abspath(path))
        root = os.path.abspath(self.rootdir)
        return d == root or (os.path.dirname(d) == root and os.path.basename(d).startswith("test"))

    def _finish(self, nodeid):
        reports, self._queued_reports, self._sent_location = self._queued_reports, [], None
        if self.recorder is None:
            self.channel.send("test", nodeid=nodeid, reports=reports)
        else:
            self.channel.send("test", nodeid=nodeid, reports=reports, deps=self.recorder.end_test(nodeid, delta=True))

    def _scope_frame(self, item, scope, node_key=None):
        """Context for a higher-scope setup: what it runs belongs to its node's frame
        (`node_key`, else the node of `scope` above `item`)."""
        if self.recorder is None or scope == "function":
            return contextlib.nullcontext()
        from fastest_harness.deps import node_key_for_scope

        return self.recorder.node_frame(node_key if node_key is not None else node_key_for_scope(item.nodeid, scope))

    def package_of(self, fdef):
        """As `_package_of`, once per definition (asked at every request of the fixture)."""
        key = id(fdef)
        if key not in self._fixture_packages:
            self._fixture_packages[key] = self._package_of(fdef)
        return self._fixture_packages[key]

    @staticmethod
    def _package_of(fdef):
        """The directory of the package whose teardown ends a package-scoped fixture, or
        None for the session. pytest's `get_scope_package`: the `Package` node whose node
        id is the fixture's baseid, i.e. the directory of the conftest defining it when
        that directory has an `__init__.py`; a test module's or a plugin's fixture has no
        such node."""
        path = getattr(fdef.owner, "__file__", None) if inspect.ismodule(fdef.owner) else None
        if not path or os.path.basename(path) != "conftest.py":
            return None
        directory = os.path.dirname(os.path.abspath(path))
        return directory if os.path.isfile(os.path.join(directory, "__init__.py")) else None

    def _peek(self, spec):
        """Just enough of the next item to decide which scopes end (no import errors)."""
        if spec is None:
            return None
        nodeid = spec["nodeid"]
        path_part, _, rest = nodeid.partition("::")
        names = rest.partition("[")[0].split("::")
        path = os.path.join(self.rootdir, path_part)

        p = _Peek()
        p.path = path
        p.nodeid = nodeid
        p.cls_chain = []
        mod = self.module_cache.get(path)
        if mod is not None and len(names) > 1:
            obj = mod
            for n in names[:-1]:
                obj = getattr(obj, n, None)
                if obj is None:
                    break
                p.cls_chain.append(obj)
        else:
            p.cls_chain = [type(n, (), {"__qualname__": n}) for n in names[:-1]]
        return p

    def location(self, item):
        if item.dtest is not None:
            # pytest's DoctestItem.reportinfo.
            return (self._rel_to_root(item.path), item.dtest.lineno or 0, "[doctest] " + item.name)
        func = item.function
        try:
            lineno = func.__code__.co_firstlineno - 1
        except AttributeError:
            lineno = 0
        rel = self._rel_to_root(item.path)
        domain = ".".join([c.__name__ for c in item.cls_chain] + [item.nodeid.rpartition("::")[2]])
        return (rel, lineno, domain)

    def _rel_to_root(self, path):
        rel = self._location_paths.get(path)
        if rel is None:
            rel = self._location_paths[path] = os.path.relpath(path, self.rootdir).replace(os.sep, "/")
        return rel

    def _run_item(self, item, next_item, next_spec):
        from fastest_harness import capture as cap

        loc = self.location(item)
        self._defs = self.fixture_defs(item)
        is_unittest = item.cls is not None and _is_unittest_class(item.cls)
        xfail_strict = bool(self.ini.get("xfail_strict"))
        if self._capture is None:
            self._capture = cap.Capture(self.capture_prefix, self.capture)
        capture = self._capture
        sections = []

        # ---- setup
        capture.start()
        logs = self._start_logs(item, "setup")
        t0 = time.perf_counter()
        setup_outcome = "passed"
        setup_info = None
        skip_info = None
        xfail = None
        if self.benchmark_skip and "benchmark" in self.fixture_closure(item):
            # pytest-benchmark's collection hook marks these (appended, as add_marker does).
            item.marks.append(pytest.mark.skip(reason="Skipping benchmark (--benchmark-skip active).").mark)
        try:
            skip_info = self.evaluate_skip(item)
            if skip_info is None:
                xfail = self.evaluate_xfail(item, xfail_strict)
                if xfail is not None and not xfail["run"]:
                    raise XFailException("[NOTRUN] " + xfail["reason"])
                if self.benchmark_setup is not None:
                    self.benchmark_setup(item)
                if is_unittest:
                    self.setup_unittest(item)
                else:
                    self.setup_fixtures(item)
                    if item.dtest is not None:
                        self.doctests.setup(item, Request(self, item))
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, ExitException)):
                raise
            setup_info = sys.exc_info()
        duration = time.perf_counter() - t0
        self._pass_on_fixture_output()
        out, err = capture.read_and_reset()
        self._add_sections(sections, "setup", out, err)
        self._add_log_section(sections, "setup", logs)
        if skip_info is not None:
            line = 0 if self._skip_folds_without_line(item) else loc[1] + 1
            self.send_report(item.nodeid, "setup", "skipped", duration, "", "", [self._rel(item.path), line, skip_info], None, [], loc)
            setup_outcome = "skipped"
        elif setup_info is not None:
            outcome, longrepr, message, skip = self.classify_error(setup_info, item, "setup")
            wasxfail = None
            if isinstance(setup_info[1], XFailException):
                outcome, wasxfail = "skipped", setup_info[1].msg
            elif outcome == "failed" and self._xfail_covers(xfail, setup_info[1]):
                # pytest's skipping plugin: an xfail mark also covers a setup failure.
                outcome, wasxfail = "skipped", xfail["reason"]
            self.send_report(item.nodeid, "setup", outcome, duration, longrepr, message, skip, wasxfail, sections, loc)
            setup_outcome = outcome
        else:
            self.send_report(item.nodeid, "setup", "passed", duration, "", "", None, None, [], loc)

        # ---- call
        if setup_outcome == "passed":
            capture.start()
            logs = self._start_logs(item, "call")
            t0 = time.perf_counter()
            call_info = None
            # pytest-cov's `no_cover` (mark or fixture): not measured while the test
            # function runs (its fixtures are).
            paused = self.coverage is not None and (
                item.get_closest_marker("no_cover") is not None or "no_cover" in item.fixturenames
            )
            if paused:
                self.coverage.stop()
            plugins = contextlib.nullcontext()
            try:
                if self.hypothesis is not None:
                    plugins = self.hypothesis.around_call(item, lambda: self.fixture_closure(item))
                # The filters are in place for the whole item (`recorded_warnings`), as
                # pytest's: a fixture's own (recwarn's "always") stays on top of them.
                with plugins:
                    if is_unittest:
                        self.call_unittest(item)
                    elif item.dtest is not None:
                        self.doctests.call(item)
                    else:
                        self.call_function(item)
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, ExitException)):
                    raise
                call_info = sys.exc_info()
            finally:
                if paused:
                    self.coverage.start()
            duration = time.perf_counter() - t0
            self._pass_on_fixture_output()
            out, err = capture.read_and_reset()
            call_sections = list(sections)
            self._add_sections(call_sections, "call", out, err)
            self._add_log_section(call_sections, "call", logs)
            if call_info is None and getattr(item, "_unittest_result", None):
                call_info = item._unittest_result
            if getattr(item, "_subtests", None):
                self.report_subtests(item, loc)
            self.report_call(item, call_info, duration, xfail, call_sections + self._plugin_sections(item), loc)
            sections = call_sections

        # ---- teardown
        capture.start()
        logs = self._start_logs(item, "teardown")
        t0 = time.perf_counter()
        errors = self.teardown_scopes(item, next_item)
        duration = time.perf_counter() - t0
        out, err = capture.read_and_reset()
        self.phase_captures = []
        td_sections = list(sections)
        self._add_sections(td_sections, "teardown", out, err)
        self._add_log_section(td_sections, "teardown", logs)
        td_sections += self._plugin_sections(item)
        # pytest's reports carry the item's `user_properties`; JUnit reads the teardown's.
        props = item.user_properties
        if errors and self._xfail_covers(xfail, errors[0][1]):
            self.send_report(item.nodeid, "teardown", "skipped", duration, "", "", None, xfail["reason"], [], loc, user_properties=props)
        elif errors:
            outcome, longrepr, message, skip = self.classify_error(errors[0], item, "teardown")
            self.send_report(item.nodeid, "teardown", "failed", duration, longrepr, message, None, None, td_sections, loc, user_properties=props)
        else:
            self.send_report(item.nodeid, "teardown", "passed", duration, "", "", None, None, td_sections, loc, user_properties=props)

    @staticmethod
    def _skip_folds_without_line(item):
        """pytest's `_folded_skips` drops the line of a setup skip when the item has a
        `skip` keyword and no `pytestmark` one (a skip mark a hook added to an item whose
        function, classes and module carry no marks of their own)."""
        if not any(m.name == "skip" for m in item.marks):
            return False
        owners = [item.function, *item.cls_chain, item.module]
        return not any("pytestmark" in (getattr(o, "__dict__", None) or {}) for o in owners)

    @staticmethod
    def _plugin_sections(item):
        """Sections plugins add to every report made after the test call (Hypothesis's
        report of what it tried), after the captured output, as their makereport hooks."""
        info = getattr(item, "hypothesis_report_information", None)
        return [("Hypothesis", info)] if info else []

    def fixture_closure(self, item):
        """pytest's `name2fixturedefs` for the item: every fixture name its closure
        reaches (direct parameters and `request` aside), with the definitions visible
        for it, farthest first (the active one last)."""
        closure = {}
        direct = set(item.callspec) - set(item.indirect)
        pending = list(self.initial_fixture_names(item, self._defs))
        while pending:
            name = pending.pop(0)
            if name in closure or name in direct or name == "request":
                continue
            defs = [d for d in reversed(self._defs) if d.name == name]
            builtin = self._builtin.get(name)
            if builtin is not None:
                defs.insert(0, builtin)
            if not defs:
                continue
            closure[name] = defs
            for d in defs:
                pending.extend(getattr(d, "argnames", ()))
        return closure

    def _pass_on_fixture_output(self):
        """capsys/capfd output the test did not read belongs to the phase that made it."""
        for c in self.phase_captures:
            try:
                c.pass_on_unread()
            except (OSError, ValueError):  # already closed
                pass

    @staticmethod
    def _xfail_covers(xfail, exc):
        """Whether the item's xfail mark turns this failure into an expected one."""
        if xfail is None or isinstance(exc, (SkipException, XFailException)):
            return False
        return xfail["raises"] is None or isinstance(exc, xfail["raises"])

    def _start_logs(self, item, when):
        # A test suite may unregister pytest's logging plugin (flask's conftest does).
        if self._log_formatter is None or not self.config_obj.pluginmanager.hasplugin("logging-plugin"):
            if self._log_handlers is not None:
                # Unregistered since: records go where they would without pytest's plugin.
                root = logging.getLogger()
                for h in self._log_handlers:
                    root.removeHandler(h)
                self._log_handlers = None
            return None
        handlers = self._log_handlers
        if handlers is None:
            from _pytest.logging import LogCaptureHandler

            handlers = self._log_handlers = (LogCaptureHandler(), LogCaptureHandler())
            for h in handlers:
                h.setFormatter(self._log_formatter)
        return LogCapture(item, when, self._log_level, handlers)

    @staticmethod
    def _add_log_section(sections, when, logs):
        text = logs.finish() if logs is not None else ""
        if text:
            sections.append(("Captured log %s" % when, text))

    def _rel(self, path):
        return os.path.relpath(path, os.getcwd()).replace(os.sep, "/")

    @staticmethod
    def _add_sections(sections, when, out, err):
        if out:
            sections.append(("Captured stdout %s" % when, out))
        if err:
            sections.append(("Captured stderr %s" % when, err))

    def report_call(self, item, info, duration, xfail, sections, loc):
        nodeid = item.nodeid
        if info is None:
            if xfail is not None:
                if xfail["strict"]:
                    text = "[XPASS(strict)] " + xfail["reason"]
                    self.send_report(nodeid, "call", "failed", duration, text, text, None, None, sections, loc)
                else:
                    self.send_report(nodeid, "call", "passed", duration, "", "", None, xfail["reason"], [], loc)
            else:
                # Sent only for `-rP`/`-rA` (`report_passes`): the PASSES section.
                self.send_report(nodeid, "call", "passed", duration, "", "", None, None, sections, loc)
            return
        exc = info[1]
        if isinstance(exc, XFailException):
            self.send_report(nodeid, "call", "skipped", duration, "", "", None, exc.msg, [], loc)
            return
        if xfail is not None and not isinstance(exc, SkipException):
            raises = xfail["raises"]
            if raises is None or isinstance(exc, raises):
                self.send_report(nodeid, "call", "skipped", duration, "", "", None, xfail["reason"], [], loc)
                return
        outcome, longrepr, message, skip = self.classify_error(info, item, "call")
        self.send_report(nodeid, "call", outcome, duration, longrepr, message, skip, None, sections, loc)

    def send_report(
        self,
        nodeid,
        when,
        outcome,
        duration,
        longrepr,
        message,
        skip,
        wasxfail,
        sections,
        loc,
        status=None,
        progress_captured=False,
        user_properties=None,
    ):
        """Queues a phase report for the test's one `test` message (protocol
        `CompactReport`: defaults left out, the location only when it changes)."""
        fields = {"when": when, "outcome": outcome, "duration": duration}
        if longrepr:
            fields["longrepr"] = longrepr
        if message:
            fields["message"] = message
        location = list(loc) if loc else None
        if location != self._sent_location:
            fields["location"] = self._sent_location = location
        if skip is not None:
            fields["skip"] = list(skip)
        if wasxfail is not None:
            fields["wasxfail"] = wasxfail
        teardown_output = when == "teardown" and any("teardown" in t for t, _ in sections)
        if outcome == "failed" or self.ini.get("report_passes") or teardown_output:
            fields["sections"] = [list(s) for s in sections]
        if status is not None:
            fields["status"] = list(status)
        if progress_captured:
            fields["progress_captured"] = True
        if user_properties:
            fields["user_properties"] = [[str(n), str(v)] for n, v in user_properties]
        self._queued_reports.append(fields)
        if outcome == "failed":
            self.failed_reports += 1
        info, self._pending_info = self._pending_info, None
        if outcome == "failed" and self.debugger is not None and self.debugger.mode == "pdb":
            self.debugger.post_mortem(nodeid, info, longrepr, sections, self._capture)

    def _send_queued_reports(self, nodeid):
        """Sends the queued reports one by one (`report` messages, full locations)."""
        location = None
        for fields in self._queued_reports:
            location = fields.get("location", location)
            self.channel.send("report", nodeid=nodeid, **dict(fields, location=location))
        self._queued_reports = []
        self._sent_location = None

    # -- marks
    def evaluate_condition(self, item, mark, condition):
        if isinstance(condition, str):
            globs = {"os": os, "sys": sys, "platform": __import__("platform"), "config": self.config_obj}
            globs.update(getattr(item.function, "__globals__", vars(item.module)))
            result = eval(compile(condition, "<%s condition>" % mark.name, "eval"), globs)
            reason = mark.kwargs.get("reason") or "condition: " + condition
            return bool(result), reason
        result = bool(condition)
        reason = mark.kwargs.get("reason")
        if reason is None:
            if not result:
                return False, ""
            raise FailException("you need to specify reason=STRING when using booleans as conditions.")
        return result, reason

    def evaluate_skip(self, item):
        for mark in item.iter_markers("skipif"):
            conditions = (mark.kwargs["condition"],) if "condition" in mark.kwargs else mark.args
            if not conditions:
                return "Skipped: " + mark.kwargs.get("reason", "")
            for condition in conditions:
                result, reason = self.evaluate_condition(item, mark, condition)
                if result:
                    return "Skipped: " + reason
        for mark in item.iter_markers("skip"):
            reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "unconditional skip")
            return "Skipped: " + reason
        return None

    def evaluate_xfail(self, item, default_strict):
        for mark in item.iter_markers("xfail"):
            run = mark.kwargs.get("run", True)
            strict = mark.kwargs.get("strict", default_strict)
            raises = mark.kwargs.get("raises")
            conditions = (mark.kwargs["condition"],) if "condition" in mark.kwargs else mark.args
            if not conditions:
                return {"reason": mark.kwargs.get("reason", ""), "run": run, "strict": strict, "raises": raises}
            for condition in conditions:
                result, reason = self.evaluate_condition(item, mark, condition)
                if result:
                    return {"reason": reason, "run": run, "strict": strict, "raises": raises}
        return None

    def _apply_warning_filters(self, item):
        """The filters of `recorded_warnings`, on the copy `catch_warnings` made. The
        resulting list is remembered per starting list and specs (most items share
        both), as applying them one by one costs more than the test itself."""
        specs = list(self.ini.get("filterwarnings") or [])
        if item is not None:
            for mark in reversed(item.iter_markers("filterwarnings")):
                specs.extend(mark.args)
        key = (tuple(warnings.filters), tuple(specs))
        cached = self._warning_filters.get(key)
        if cached is not None and _filters_mutated is not None:
            warnings.filters[:] = cached
            _filters_mutated()
            return
        if not sys.warnoptions:
            warnings.filterwarnings("always", category=DeprecationWarning)
            warnings.filterwarnings("always", category=PendingDeprecationWarning)
        for spec in specs:
            _apply_warning_filter(spec)
        if _filters_mutated is None:
            return  # the remembered list could not be applied
        if len(self._warning_filters) > 256:
            self._warning_filters.clear()
        self._warning_filters[key] = list(warnings.filters)

    # -- scopes and fixtures
    def teardown_scopes(self, item, next_item):
        errors = list(self.scopes.teardown("function"))
        if (
            next_item is not None
            and next_item.path == item.path
            and len(next_item.cls_chain) == len(item.cls_chain)
            and all(a.__qualname__ == b.__qualname__ for a, b in zip(item.cls_chain, next_item.cls_chain))
        ):
            return errors  # same module and classes: only the function scope ends
        mine = self.scope_keys(item)
        nxt = self.scope_keys(next_item)
        for scope in ("class", "module", "package", "session"):
            if next_item is None and scope == "session":
                break  # session fixtures live until shutdown
            if scope == "package":
                errors += self.teardown_packages(next_item)
                continue
            if mine[scope] != nxt[scope]:
                errors += self.scopes.teardown(scope)
                if scope == "module":
                    self.xunit_module_done.discard(item.path)
        return errors

    def teardown_packages(self, next_item):
        """Ends the package-scoped values whose package `next_item` is outside of,
        innermost package first, as pytest's SetupState tears down `Package` nodes."""
        errors = []
        for key, package in sorted(self.package_values.items(), key=lambda kv: -len(kv[1])):
            if next_item is not None and next_item.path.startswith(package + os.sep):
                continue
            del self.package_values[key]
            if key in self.scopes.values["package"]:
                errors += self.scopes.unwind("package", key)
        return errors

    def initial_fixture_names(self, item, defs):
        """pytest's initial names of a fixture closure, deduplicated in order: autouse
        fixtures (outermost first), `usefixtures` (marks, then ini), the arguments."""
        memo = self._autouse_memo.get(id(defs))
        if memo is None or memo[0] is not defs:
            memo = self._autouse_memo[id(defs)] = (defs, tuple(dict.fromkeys(autouse_names(defs))))
        names = dict.fromkeys(memo[1])  # ordered and deduplicated, as pytest's list
        for mark in item.iter_markers("usefixtures"):
            names.update(dict.fromkeys(mark.args))
        names.update(dict.fromkeys(self.ini.get("usefixtures") or ()))
        names.update(dict.fromkeys(argnames_of(item.function, is_method=item.cls is not None and not item.static)))
        return list(names)

    def setup_fixtures(self, item, unittest_case=False):
        """Sets up the item's fixture closure in pytest's order: by scope, and within a
        scope in the order of the names (autouse outermost holder first, then
        `usefixtures`, then arguments). The xunit functions are autouse fixtures in
        pytest, registered first on their module or class: they run within their scope
        after outer holders' autouse fixtures and before their own holder's."""
        names = self.initial_fixture_names(item, self._defs)
        argnames = [] if unittest_case else argnames_of(item.function, is_method=item.cls is not None and not item.static)
        item.fixturenames = tuple(names)
        if item.cls is not None:
            item.instance = item.cls(item.originalname) if unittest_case else item.cls()
        tiers, xunit = self._setup_plan(item, unittest_case)
        if names or xunit:
            order = _SCOPE_ORDER

            def rank(n):
                if n in item.callspec:
                    return (len(SCOPES), 3)
                d = self.lookup(item, n)
                return (order.get(getattr(d, "scope", "function"), 4), tiers.get(n, 3))

            steps = [(rank(n), n) for n in names] + xunit
            steps.sort(key=lambda step: step[0])
        else:
            steps = []
        if getattr(item, "asyncio", False):
            # pytest-asyncio appends the runner of the test's loop scope: set up last.
            runner = self.asyncio.runner_fixture(item)
            item.fixturenames += (runner,)
            steps.append((None, runner))
        values = {}
        for _, step in steps:
            if isinstance(step, str):
                values[step] = self.get_fixture(item, step, ())
            else:
                step(item)
        item.funcargs = {n: values[n] for n in argnames}

    def _setup_plan(self, item, unittest_case):
        """What `setup_fixtures` needs beyond the names, the same for every test of a
        module and class chain: the autouse tiers, and the xunit steps that exist there
        (with their place in the order)."""
        key = (_holders_key(item), unittest_case, item.dtest is None)
        plan = self._setup_plans.get(key)
        if plan is not None:
            return plan
        order = _SCOPE_ORDER
        mod, cls = item.module, item.cls
        has = lambda owner, *names: any(getattr(owner, n, None) is not None for n in names)  # noqa: E731
        xunit = []
        if item.dtest is None:
            # Not for doctests: pytest collects them before the module's own tests, so
            # before the module registers its xunit fixtures.
            if has(mod, "setup_module", "setUpModule", "teardown_module", "tearDownModule"):
                xunit.append(((order["module"], 0.5), self.xunit_setup_module))
            if cls is None and has(mod, "setup_function", "teardown_function"):
                xunit.append(((order["function"], 0.5), self.xunit_setup_function))
        if unittest_case:
            xunit.append(((order["class"], 1.5), self.unittest_setup_class))
        elif cls is not None:
            if has(cls, "setup_class", "teardown_class"):
                xunit.append(((order["class"], 1.5), self.xunit_setup_class))
            if has(cls, "setup_method", "teardown_method"):
                xunit.append(((order["function"], 1.5), self.xunit_setup_method))
        plan = self._setup_plans[key] = (self.autouse_tiers(item, self._defs), xunit)
        return plan

    @staticmethod
    def autouse_tiers(item, defs):
        """{autouse name: 0 for a plugin's or conftest's, 1 the module's, 2 a class's},
        from the outermost holder declaring it autouse (where pytest lists the name)."""
        tiers = {}
        for d in reversed(defs):
            if d.autouse and d.name not in tiers:
                owner = d.owner
                tiers[d.name] = 2 if inspect.isclass(owner) else 1 if owner is item.module else 0
        return tiers

    def call_function(self, item):
        func = item.obj
        if self.asyncio is not None and self.asyncio.call(item, func, item.funcargs):
            return
        if self.debugger is not None and self.debugger.mode == "trace":
            result = self.debugger.run_traced(item.nodeid, func, item.funcargs, self._capture)
        else:
            result = func(**item.funcargs)
        if inspect.iscoroutine(result) or inspect.isasyncgen(result):
            # pytest's pytest_pyfunc_call for an async test no plugin took.
            if inspect.iscoroutine(result):
                result.close()
            raise FailException(
                "async def functions are not natively supported.\n"
                "You need to install a suitable plugin for your async framework, for example:\n"
                "  - anyio\n"
                "  - pytest-asyncio\n"
                "  - pytest-tornasync\n"
                "  - pytest-trio\n"
                "  - pytest-twisted",
                pytrace=False,
            )

    # -- xunit-style setup
    def xunit_setup_module(self, item):
        key = item.path
        if key in self.xunit_module_done:
            return
        self.xunit_module_done.add(key)
        mod = item.module
        for name in ("setup_module", "setUpModule"):
            fn = getattr(mod, name, None)
            if fn is not None:
                with self._scope_frame(item, "module"):
                    _call_optional(fn, mod)
                break
        for name in ("teardown_module", "tearDownModule"):
            fn = getattr(mod, name, None)
            if fn is not None:
                self.scopes.add_finalizer("module", lambda fn=fn: _call_optional(fn, mod))
                break

    def xunit_setup_class(self, item):
        cls = item.cls
        key = ("class", id(cls))
        store = self.scopes.values["class"]
        if key not in store:
            store[key] = True
            fn = getattr(cls, "setup_class", None)
            if fn is not None:
                with self._scope_frame(item, "class"):
                    fn()
            td = getattr(cls, "teardown_class", None)
            if td is not None:
                self.scopes.add_finalizer("class", td)

    def xunit_setup_method(self, item):
        inst = item.instance
        fn = getattr(inst, "setup_method", None)
        if fn is not None:
            _call_optional(fn, item.function)
        td = getattr(inst, "teardown_method", None)
        if td is not None:
            self.scopes.add_finalizer("function", lambda: _call_optional(td, item.function))

    def xunit_setup_function(self, item):
        if item.cls is not None:
            return
        mod = item.module
        fn = getattr(mod, "setup_function", None)
        if fn is not None:
            _call_optional(fn, item.function)
        td = getattr(mod, "teardown_function", None)
        if td is not None:
            self.scopes.add_finalizer("function", lambda: _call_optional(td, item.function))

    # -- unittest
    def setup_unittest(self, item):
        self.setup_fixtures(item, unittest_case=True)

    def unittest_setup_class(self, item):
        """pytest's `_unittest_setUpClass_fixture`: class-scoped, autouse; for a class
        `unittest.skip` marked, a skip of every test at its location (its `setUpClass`
        never runs)."""
        cls = item.cls
        if getattr(cls, "__unittest_skip__", False):
            raise SkipException(getattr(cls, "__unittest_skip_why__", ""), _use_item_location=True)
        key = ("unittest-class", id(cls))
        store = self.scopes.values["class"]
        if key not in store:
            store[key] = True
            if hasattr(cls, "setUpClass"):
                with self._scope_frame(item, "class"):
                    cls.setUpClass()
                self.scopes.add_finalizer("class", cls.tearDownClass)
                if hasattr(cls, "doClassCleanups"):
                    self.scopes.add_finalizer("class", cls.doClassCleanups)

    def call_unittest(self, item):
        item._subtests = logged = []
        on_subtest = None
        if _pytest_reports_subtests():

            def on_subtest(subtest, info):
                """pytest 9 logs each subtest's report from inside the test, while its
                output is captured: at verbosity <= 0 the progress letter lands in the
                test's captured stdout (at -v pytest writes the word and a progress
                percentage there; not reproduced)."""
                description = _subtest_description(subtest)
                status = self._subtest_status(description, info)
                if self.verbose <= 0 and status[1]:
                    sys.stdout.write(status[1])
                logged.append((description, info, status))

        result = _UnitTestResult(on_subtest)
        item.instance.run(result)
        if result.outcome is not None:
            item._unittest_result = result.outcome

    def _subtest_status(self, description, info):
        """`_pytest/subtests.py`'s `pytest_report_teststatus` answer for a unittest
        subtest (passes and skips are silent at verbosity 0)."""
        level = self.ini.get("verbosity_subtests")
        try:
            quiet = (self.verbose if level in (None, "", "auto") else int(level)) == 0
        except ValueError:
            quiet = self.verbose == 0
        if info is None:
            return ("", "", "") if quiet else ("subtests passed", "u", "SUBPASSED" + description)
        if isinstance(info[1], SkipException):
            return ("", "", "") if quiet else ("skipped", "-", "SUBSKIPPED" + description)
        return ("failed", "u", "SUBFAILED" + description)

    def report_subtests(self, item, loc):
        """The reports pytest 9 logs for a TestCase's subtests during its call phase:
        outcome, failure text, the head line of its FAILURES section
        (`T.test_x [msg] (i=1)`) and the status, progress captured."""
        for description, info, status in item._subtests:
            head = [loc[0], loc[1], "%s %s" % (loc[2], description)]
            skip = None
            longrepr = message = ""
            if info is None:
                outcome = "passed"
            elif isinstance(info[1], SkipException):
                outcome = "skipped"
                # `skip.Exception(reason, _use_item_location=True)`: the test's location.
                skip = [loc[0], loc[1] + 1, "Skipped: " + str(info[1].msg)]
            else:
                outcome, longrepr, message, skip = self.classify_error(info, item, "call")
            self.send_report(
                item.nodeid, "call", outcome, 0.0, longrepr, message, skip, None, [], head, status, progress_captured=True
            )

    # -- failure formatting
    def classify_error(self, info, item, when):
        """(outcome, longrepr, message, skip) for an exception raised in a phase."""
        # `--pdb` opens it on this exception once the failure is reported.
        self._pending_info = info if item is not None else None
        etype, value, tb = info
        if isinstance(value, SkipException):
            if item is not None and getattr(value, "_use_item_location", False):
                # pytest's `skip.Exception(reason, _use_item_location=True)`: the item's location.
                path, line, _ = self.location(item)
                return "skipped", "", "", [path, line + 1, "Skipped: " + str(value.msg)]
            path, lineno = self._crash_location(tb)
            return "skipped", "", "", [self._rel(path), lineno, "Skipped: " + str(value.msg)]
        if item is not None and item.dtest is not None and when == "call":
            text = self.doctests.failure_text(item, info)
            if text is not None:
                # No crash line: pytest's ReprFailDoctest has no `reprcrash`.
                return "failed", text, "", None
        if isinstance(value, (FixtureLookupError,)):
            text = "%s\n%s" % (self._fixture_error_head(item, when), "E       " + str(value).replace("\n", "\n"))
            return "failed", text, str(value).splitlines()[0], None
        return "failed", self.format_exception(info, item), self._message(info), None

    def _fixture_error_head(self, item, when):
        if item is None:
            return ""
        path, lineno, _ = self.location(item)
        return "file %s, line %d" % (os.path.join(self.rootdir, path), lineno + 1)

    @staticmethod
    def _crash_location(tb):
        last = None
        while tb is not None:
            if not tb.tb_frame.f_globals.get("__tracebackhide__") and not tb.tb_frame.f_locals.get("__tracebackhide__"):
                last = tb
            tb = tb.tb_next
        if last is None:
            return "<unknown>", 0
        return last.tb_frame.f_code.co_filename, last.tb_lineno

    def _message(self, info):
        etype, value, tb = info
        if HAVE_PYTEST:
            try:
                from _pytest._code import ExceptionInfo

                return ExceptionInfo.from_exc_info(info)._getreprcrash().message
            except Exception:
                pass
        text = "".join(traceback.format_exception_only(etype, value)).strip()
        return text

    def format_exception(self, info, item):
        style = self.tbstyle
        if style == "native" or not HAVE_PYTEST:
            # Hide the harness's own frames: the traceback starts in the user's code.
            etype, value, tb = info
            harness_dir = os.path.dirname(os.path.abspath(__file__))
            while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(harness_dir):
                tb = tb.tb_next
            return "".join(traceback.format_exception(etype, value, tb)).rstrip("\n")
        from _pytest._code import Code, ExceptionInfo, Traceback

        excinfo = ExceptionInfo.from_exc_info(info)
        if isinstance(info[1], FailException) and not getattr(info[1], "pytrace", True):
            return str(info[1].msg)

        def tbfilter(ei):
            # pytest's Function._traceback_filter, with the harness's frames in place of
            # pytest's and pluggy's internals.
            tb = ei.traceback
            if item is not None:
                try:
                    code = Code.from_function(inspect.unwrap(item.function))
                    ntb = tb.cut(path=code.path, firstlineno=code.firstlineno)
                    if ntb == tb:
                        ntb = ntb.cut(path=code.path)
                        if ntb == tb:
                            ntb = ntb.filter(_outside_harness) or tb
                    tb = ntb
                except Exception:
                    pass
            tb = tb.filter(ei)
            if item is not None and item.cls is not None and _is_unittest_class(item.cls):
                tb = tb.filter(lambda entry: not entry.frame.f_globals.get("__unittest"))
            if style == "auto" and len(tb) > 2:
                tb = Traceback([tb[0], *(t.with_repr_style("short") for t in tb[1:-1]), tb[-1]])
            return tb

        rstyle = "long" if style in ("auto", "long") else style
        if rstyle == "line":
            path, lineno = self._crash_location(info[2])
            return "%s:%d: %s" % (path, lineno, self._message(info))
        text = self._render(excinfo, rstyle, tbfilter)
        if text is None:
            return "".join(traceback.format_exception(*info)).rstrip("\n")
        return text


# ----------------------------------------------------------------------- helpers

_HARNESS_DIR = os.path.dirname(os.path.abspath(__file__))
_CONTEXTLIB = os.path.abspath(contextlib.__file__)


_PLUGIN_EMULATIONS = {os.path.join(_HARNESS_DIR, "hypothesis_plugin.py")}


def _outside_harness(entry):
    """A traceback entry of user, library or plugin code: not the harness's own (nor the
    contextlib frames its plugin wrappers run in), as pytest's filter_traceback drops its
    own and pluggy's."""
    return _outside_harness_path(str(entry.path))


def _outside_harness_path(filename):
    path = os.path.abspath(filename)
    return path in _PLUGIN_EMULATIONS or (not path.startswith(_HARNESS_DIR) and path != _CONTEXTLIB)


class _Peek:
    """What `_peek` knows of the next item (a class made once: not per test)."""


class BuiltinFixture:
    def __init__(self, name, scope, create):
        self.name = name
        self.scope = scope
        self.create = create
        self.autouse = False
        self.argnames = ()


def _builtin_fixtures(engine):
    from fastest_harness import builtins as b

    return b.make(engine, BuiltinFixture)


class _LoggingPlugin:
    """Stands for pytest's logging plugin in `config.pluginmanager`."""


def _holders_key(item):
    """What the memos per fixture holder chain are keyed on: the module and classes."""
    return (item.path, tuple(map(id, item.cls_chain)))


def _stash_type():
    if HAVE_PYTEST:
        try:
            from _pytest.stash import Stash

            return Stash
        except ImportError:
            pass
    return dict


_new_stash = _stash_type()  # made per item: the class looked up once


class LogCapture:
    """pytest's logging plugin for one phase of one item: a caplog handler (what the
    `caplog` fixture reads) and a report handler (the `Captured log <when>` section), both
    on the root logger, at the `log_level` ini level when one is set."""

    __slots__ = ("caplog", "report", "_contexts")
    _keys = None  # (caplog_handler_key, caplog_records_key, catching_logs), imported once

    def __init__(self, item, when, level, handlers):
        keys = LogCapture._keys
        if keys is None:
            from _pytest.logging import caplog_handler_key, caplog_records_key, catching_logs

            keys = LogCapture._keys = (caplog_handler_key, caplog_records_key, catching_logs)
        caplog_handler_key, caplog_records_key, catching_logs = keys
        # One pair of handlers per worker, emptied per phase (pytest makes new ones: a
        # handler's construction registers locks and weak references, per phase). What
        # `LogCaptureHandler.reset` does, without new streams while nothing was logged:
        # the caplog handler's records list is the phase's own (the stash keeps it).
        caplog, report = self.caplog, self.report = handlers
        caplog.records = []
        if report.records:
            report.records = []
        for h in handlers:
            if h.stream.tell():
                h.stream = io.StringIO()
            if h.level:
                h.setLevel(0)  # as a new handler (catching_logs sets `level` when given)
        if level is None:
            # Without a level nothing is restored after a phase: the handlers stay on the
            # root logger between phases (put back if a test removed them).
            self._contexts = ()
            root = logging.getLogger()
            for h in handlers:
                if h not in root.handlers:
                    root.addHandler(h)
        else:
            self._contexts = (catching_logs(caplog, level=level), catching_logs(report, level=level))
            for c in self._contexts:
                c.__enter__()
        stash = item.stash
        if when == "setup":
            records = stash[caplog_records_key] = {}
        else:
            records = stash[caplog_records_key]
        records[when] = caplog.records
        stash[caplog_handler_key] = caplog

    def finish(self):
        """Detaches the handlers; returns the report text."""
        for c in reversed(self._contexts):
            c.__exit__(None, None, None)
        stream = self.report.stream
        return stream.getvalue().strip() if stream.tell() else ""


class _PluginManager:
    """`config.pluginmanager` of the native engine: it knows only "logging-plugin" (the
    native engine's log capture, off while unregistered); what a test registers is kept
    only to be found again."""

    def __init__(self):
        self._plugins = {"logging-plugin": _LoggingPlugin()}

    def register(self, plugin, name=None):
        name = name or str(id(plugin))
        self._plugins[name] = plugin
        return name

    def unregister(self, plugin=None, name=None):
        if name is None:
            name = next((n for n, p in self._plugins.items() if p is plugin), None)
        return self._plugins.pop(name, None) if name is not None else None

    def get_plugin(self, name):
        return self._plugins.get(name)

    getplugin = get_plugin

    def hasplugin(self, name):
        return name in self._plugins

    def is_registered(self, plugin):
        return any(p is plugin for p in self._plugins.values())

    def list_name_plugin(self):
        return list(self._plugins.items())


class _Config:
    """A small stand-in for pytest's Config, enough for assertion explanations and
    `request.config` lookups of ini values and options."""

    VERBOSITY_ASSERTIONS = "assertions"

    def __init__(self, engine):
        self._engine = engine
        from types import SimpleNamespace

        # `strict_markers`/`strict`: pytest 8's MarkGenerator reads the options (pytest 9
        # the ini); the runner folds both into the `strict_markers` ini value.
        strict = bool(engine.ini.get("strict_markers"))
        self.option = SimpleNamespace(
            verbose=engine.verbose, capture=engine.capture, tbstyle=engine.tbstyle, strict_markers=strict, strict=False
        )
        from pathlib import Path

        self.rootpath = Path(engine.rootdir)
        self.rootdir = self.rootpath
        self.pluginmanager = _PluginManager()

    # pytest's `Cache.warn` passes it along (unused for a Warning instance).
    hook = None

    @property
    def cache(self):
        """pytest's `config.cache`: the cacheprovider's `Cache` on `cache_dir`."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            from _pytest.cacheprovider import Cache
            from _pytest.pathlib import resolve_from_str

            cachedir = resolve_from_str(self._engine.ini.get("cache_dir") or ".pytest_cache", self.rootpath)
            cache = self.__dict__["_cache"] = Cache(cachedir, self, _ispytest=True)
        return cache

    def get_verbosity(self, kind=None):
        return self._engine.verbose

    def getoption(self, name, default=None, skip=False):
        return getattr(self.option, name, default)

    # Defaults of the ini options of plugins the native engine stands in for.
    _PLUGIN_INI_DEFAULTS = {
        "mock_traceback_monkeypatch": True,
        "mock_use_standalone_module": False,
        "asyncio_mode": "strict",
        "asyncio_debug": False,
        "asyncio_default_fixture_loop_scope": None,
        "asyncio_default_test_loop_scope": "function",
    }

    def getini(self, name):
        if name in self._PLUGIN_INI_DEFAULTS and name not in self._engine.ini:
            return self._PLUGIN_INI_DEFAULTS[name]
        return self._engine.ini.get(name, "")

    def addinivalue_line(self, name, line):
        """Appends to a line-list ini value (a conftest's `pytest_configure` registering
        markers)."""
        value = self._engine.ini.get(name)
        lines = list(value) if isinstance(value, list) else ([] if value in (None, "") else [value])
        lines.append(line)
        self._engine.ini[name] = lines

    def add_cleanup(self, fn):
        """Run when the worker ends (pytest: at unconfigure)."""
        import atexit

        atexit.register(fn)

    def get_terminal_writer(self):
        from _pytest._io import TerminalWriter

        return TerminalWriter(file=io.StringIO())


def _is_param_set(value):
    return type(value).__name__ == "ParameterSet" and hasattr(value, "values") and hasattr(value, "marks")


def _is_unittest_class(cls):
    ut = sys.modules.get("unittest")
    return ut is not None and isinstance(cls, type) and issubclass(cls, ut.TestCase)


def _call_optional(fn, arg):
    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        n = 1
    return fn(arg) if n else fn()


class ConftestImportFailure(Exception):
    """A conftest raised while being imported (pytest's exception of the same name)."""

    def __init__(self, path, cause):
        super().__init__(path)
        self.path = path
        self.cause = cause

    def describe(self):
        """pytest's message: `ImportError while loading conftest '...'.` and a short
        traceback without the import machinery's and the harness's frames."""
        head = "ImportError while loading conftest '%s'." % self.path
        harness = os.path.dirname(os.path.abspath(__file__))
        try:
            from _pytest._code import ExceptionInfo

            info = ExceptionInfo.from_exception(self.cause)
            info.traceback = info.traceback.filter(
                lambda e: not str(e.path).startswith(harness) and "importlib" not in str(e.path).split(os.sep)
            )
            body = str(info.getrepr(style="short", chain=False)) if info.traceback else info.exconly()
        except ImportError:
            body = "".join(traceback.format_exception_only(type(self.cause), self.cause))
        return head + "\n" + "\n".join(line.rstrip() for line in body.splitlines())


def warning_text(w):
    """A recorded warning as pytest prints it in the warnings summary."""
    text = warnings.formatwarning(str(w.message), w.category, w.filename, w.lineno, w.line)
    source = getattr(w, "source", None)
    if source is not None:
        try:
            import tracemalloc

            tb = tracemalloc.get_object_traceback(source)
        except ImportError:
            return text
        if tb is not None:
            return text + "\nObject allocated at:\n" + "\n".join(tb.format())
        url = "https://docs.pytest.org/en/stable/how-to/capture-warnings.html#resource-warnings"
        text += "Enable tracemalloc to get traceback where the object was allocated.\nSee %s for more info." % url
    return text


class _RecordedWarnings:
    """`NativeEngine.recorded_warnings` (a class: cheaper per test than a generator)."""

    __slots__ = ("engine", "item", "catcher", "log")

    def __init__(self, engine, item):
        self.engine = engine
        self.item = item

    def __enter__(self):
        self.catcher = warnings.catch_warnings(record=True)
        self.log = self.catcher.__enter__()
        try:
            self.engine._apply_warning_filters(self.item)
        except BaseException:
            self.catcher.__exit__(*sys.exc_info())
            raise
        return self.log

    def __exit__(self, *exc):
        try:
            item = self.item
            for w in self.log:
                nodeid = item.nodeid if item is not None else ""
                where = nodeid or "%s:%s" % (os.path.relpath(os.path.abspath(w.filename)), w.lineno)
                self.engine.channel.send("warning", message=warning_text(w), location=where, nodeid=nodeid)
        finally:
            self.catcher.__exit__(*exc)
        return False


# Tells the C warnings module that `warnings.filters` changed (3.8-3.13 spelling).
_filters_mutated = getattr(warnings, "_filters_mutated", None)


def _apply_warning_filter(spec):
    parts = [p.strip() for p in spec.split(":")]
    parts += [""] * (5 - len(parts))
    action, message, category, module, lineno = parts[:5]
    cat = Warning
    if category:
        mod, _, cls = category.rpartition(".")
        try:
            cat = getattr(__import__(mod or "builtins", fromlist=[cls]), cls)
        except Exception:
            cat = Warning
    warnings.filterwarnings(action or "default", message=message, category=cat, module=module, lineno=int(lineno or 0))


@functools.lru_cache(maxsize=None)
def _pytest_reports_subtests():
    """pytest 9 reports each `subTest` of a TestCase on its own (`_pytest/unittest.py`
    `addSubTest`); earlier pytest fails the test with its first failing subtest."""
    if not HAVE_PYTEST:
        return False
    try:
        from _pytest.unittest import TestCaseFunction
    except ImportError:
        return False
    return hasattr(TestCaseFunction, "addSubTest")


class _UnitTestResult:
    """Collects a unittest.TestCase run's outcome as an exc_info (or skip/xfail); with a
    `subtest_logged` callback (pytest 9) each subtest's `(subtest, exc_info or None)` goes
    to it instead."""

    def __init__(self, subtest_logged=None):
        self.outcome = None
        self.shouldStop = False
        self.failfast = False
        self.subtest_logged = subtest_logged

    def startTest(self, test):
        pass

    def stopTest(self, test):
        pass

    def addDuration(self, test, elapsed):
        # Python 3.12's TestCase.run reports durations (and warns when a result cannot
        # take them); pytest's TestCaseFunction accepts and ignores them too.
        pass

    def addSuccess(self, test):
        pass

    def addError(self, test, err):
        if self.outcome is None:
            self.outcome = err

    addFailure = addError

    def addSkip(self, test, reason):
        try:
            raise SkipException(reason)
        except SkipException:
            info = sys.exc_info()
        if self.subtest_logged is not None and isinstance(test, sys.modules["unittest.case"]._SubTest):
            self.subtest_logged(test, info)
        else:
            self.outcome = info

    def addExpectedFailure(self, test, err):
        try:
            raise XFailException(str(err[1]))
        except XFailException:
            self.outcome = sys.exc_info()

    def addUnexpectedSuccess(self, test):
        try:
            raise FailException("Unexpected success")
        except FailException:
            self.outcome = sys.exc_info()

    def addSubTest(self, test, subtest, err):
        if self.subtest_logged is not None:
            self.subtest_logged(subtest, err)
        elif err is not None and self.outcome is None:
            self.outcome = err


def _subtest_description(subtest):
    """`SubtestReport._sub_test_description` of pytest 9: `[msg] (k=v, ...)`."""
    from _pytest._io.saferepr import saferepr

    parts = []
    message = subtest._message
    if message is not sys.modules["unittest.case"]._subtest_msg_sentinel:
        parts.append("[%s]" % message)
    params = dict(subtest.params)
    if params:
        parts.append("(%s)" % ", ".join("%s=%s" % (k, saferepr(v)) for k, v in params.items()))
    return " ".join(parts) or "(<subtest>)"
