"""Built-in stand-in for pytest's public API, used by the fastest harness when pytest is not installed."""
import collections
import importlib
import inspect
import math
import numbers
import pprint
import re
import warnings

__version__ = "0+fastest.standin"


# ---------------------------------------------------------------- marks

class Mark(object):
    """One applied mark: a name with its positional and keyword arguments."""

    def __init__(self, name, args=(), kwargs=None):
        self.name, self.args, self.kwargs = name, tuple(args), dict(kwargs or {})

    def __eq__(self, other):
        if not isinstance(other, Mark):
            return NotImplemented
        return (self.name, self.args, self.kwargs) == (other.name, other.args, other.kwargs)

    def __repr__(self):
        return "Mark(name=%r, args=%r, kwargs=%r)" % (self.name, self.args, self.kwargs)


class MarkDecorator(object):
    """`pytest.mark.NAME`: calling it adds arguments, or applies the mark to a function or class."""

    def __init__(self, mark):
        self.mark = mark

    name = property(lambda self: self.mark.name)
    args = property(lambda self: self.mark.args)
    kwargs = property(lambda self: self.mark.kwargs)

    def with_args(self, *args, **kwargs):
        merged = dict(self.mark.kwargs, **kwargs)
        return MarkDecorator(Mark(self.mark.name, self.mark.args + args, merged))

    def __call__(self, *args, **kwargs):
        target = args[0] if len(args) == 1 and not kwargs else None
        if inspect.isclass(target):
            target.pytestmark = get_unpacked_marks(target.__dict__.get("pytestmark", [])) + [self.mark]
            return target
        # pytest's rule: any callable except a lambda is a decoration target.
        if callable(target) and getattr(target, "__name__", "<lambda>") != "<lambda>":
            target.pytestmark = get_unpacked_marks(getattr(target, "pytestmark", [])) + [self.mark]
            return target
        return self.with_args(*args, **kwargs)

    def __repr__(self):
        return "<MarkDecorator %r>" % (self.mark,)


class MarkGenerator(object):
    """`pytest.mark`: any attribute is a fresh MarkDecorator of that name."""

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return MarkDecorator(Mark(name))


mark = MarkGenerator()


def _normalize_marks(value):
    out = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        item = item.mark if isinstance(item, MarkDecorator) else item
        if not isinstance(item, Mark):
            raise TypeError("got %r instead of a Mark" % (item,))
        out.append(item)
    return out


def get_unpacked_marks(obj, consider_mro=True):
    """List of Mark objects for `obj`.

    `obj` is either a `pytestmark` value itself (a Mark, a MarkDecorator or a list/tuple of
    them) or an object carrying a `pytestmark` attribute (function, class, module). For a
    class, marks of its bases come first unless `consider_mro` is false, as in pytest.
    """
    if isinstance(obj, (Mark, MarkDecorator, list, tuple)):
        return _normalize_marks(obj)
    if inspect.isclass(obj):
        owners = reversed(obj.__mro__) if consider_mro else [obj]
        return [m for owner in owners for m in _normalize_marks(owner.__dict__.get("pytestmark", []))]
    return _normalize_marks(getattr(obj, "pytestmark", []))


ParameterSet = collections.namedtuple("ParameterSet", ["values", "marks", "id"])


def param(*values, marks=(), id=None):
    if id is not None and not isinstance(id, str):
        raise TypeError("Expected id to be a string, got %s: %r" % (type(id), id))
    return ParameterSet(values, _normalize_marks(marks), id)


# ---------------------------------------------------------------- fixtures

class FixtureSpec(object):
    """What `@pytest.fixture(...)` declared; stored as `func._fastest_fixture`."""

    def __init__(self, scope="function", params=None, autouse=False, ids=None, name=None):
        self.scope = scope  # a str, or pytest's dynamic-scope callable
        self.params = list(params) if params is not None else None
        self.autouse = bool(autouse)
        self.ids = ids
        self.name = name


def fixture(fixture_function=None, *, scope="function", params=None, autouse=False, ids=None, name=None):
    spec = FixtureSpec(scope, params, autouse, ids, name)

    def decorate(func):
        func._fastest_fixture = spec
        return func

    return decorate(fixture_function) if fixture_function is not None else decorate


yield_fixture = fixture


# ---------------------------------------------------------------- outcomes

class OutcomeException(BaseException):
    def __init__(self, msg=None, pytrace=True):
        BaseException.__init__(self, msg)
        self.msg, self.pytrace = msg, pytrace


class Skipped(OutcomeException):
    __module__ = "builtins"  # as in pytest: tracebacks show "Skipped: ..."

    def __init__(self, msg=None, pytrace=True, allow_module_level=False):
        OutcomeException.__init__(self, msg, pytrace)
        self.allow_module_level = allow_module_level


class Failed(OutcomeException):
    __module__ = "builtins"


class XFailed(Failed):
    pass


class Exit(Exception):
    def __init__(self, msg="unknown reason", returncode=None):
        Exception.__init__(self, msg)
        self.msg, self.returncode = msg, returncode


def skip(reason="", *, allow_module_level=False, msg=None):
    __tracebackhide__ = True
    raise Skipped(reason if msg is None else msg, allow_module_level=allow_module_level)


def xfail(reason=""):
    __tracebackhide__ = True
    raise XFailed(reason)


def fail(reason="", pytrace=True, msg=None):
    __tracebackhide__ = True
    raise Failed(reason if msg is None else msg, pytrace)


def exit(reason="", returncode=None):
    __tracebackhide__ = True
    raise Exit(reason, returncode)


skip.Exception, xfail.Exception, fail.Exception, exit.Exception = Skipped, XFailed, Failed, Exit


def _version_key(text):
    return tuple(int(p) if p.isdigit() else -1 for p in re.findall(r"\d+|[a-z]+", str(text).lower()))


def importorskip(modname, minversion=None, reason=None):
    __tracebackhide__ = True
    compile(modname, "", "eval")  # a malformed name is a caller error, not a skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mod = importlib.import_module(modname)
        except ImportError as exc:
            raise Skipped(reason or "could not import %r: %s" % (modname, exc), allow_module_level=True)
    have = getattr(mod, "__version__", None)
    if minversion is not None and (have is None or _version_key(have) < _version_key(minversion)):
        raise Skipped("module %r has __version__ %r, required is: %r" % (modname, have, minversion),
                      allow_module_level=True)
    return mod


# ---------------------------------------------------------------- raises / warns

class ExceptionInfo(object):
    """What `pytest.raises` caught; filled in when the `with` block exits."""

    type = value = tb = None

    @property
    def typename(self):
        return self.type.__name__ if self.type is not None else None

    def exconly(self):
        return "%s: %s" % (self.typename, self.value) if str(self.value) else self.typename

    def errisinstance(self, exc):
        return isinstance(self.value, exc)

    def match(self, regexp):
        __tracebackhide__ = True
        value = "\n".join([str(self.value)] + [str(n) for n in getattr(self.value, "__notes__", [])])
        if not re.search(regexp, value):
            msg = "Regex pattern did not match.\n Regex: %r\n Input: %r" % (regexp, value)
            if regexp == value:
                msg += "\n Did you mean to `re.escape()` the regex?"
            raise AssertionError(msg)
        return True


def _check_types(expected, base):
    for item in expected if isinstance(expected, tuple) else (expected,):
        if not (inspect.isclass(item) and issubclass(item, base)):
            raise TypeError("expected a %s type or a tuple of them, not %r" % (base.__name__, item))


def _callable_form(name, args, kwargs):
    if not args and kwargs:
        raise TypeError("Unexpected keyword arguments passed to pytest.%s: %s" % (name, ", ".join(sorted(kwargs))))
    if args and not callable(args[0]):
        raise TypeError("%r object (type: %s) must be callable" % (args[0], type(args[0])))
    return bool(args)


class RaisesContext(object):
    def __init__(self, expected, match):
        self.expected, self.match_expr, self.excinfo = expected, match, ExceptionInfo()

    def __enter__(self):
        return self.excinfo

    def __exit__(self, exc_type, exc_value, tb):
        __tracebackhide__ = True
        if exc_type is None:
            fail("DID NOT RAISE %r" % (self.expected,))
        if not issubclass(exc_type, self.expected):
            return False
        self.excinfo.type, self.excinfo.value, self.excinfo.tb = exc_type, exc_value, tb
        if self.match_expr is not None:
            self.excinfo.match(self.match_expr)
        return True


def raises(expected_exception, *args, match=None, **kwargs):
    __tracebackhide__ = True
    _check_types(expected_exception, BaseException)
    if not _callable_form("raises", args, kwargs):
        return RaisesContext(expected_exception, match)
    with RaisesContext(expected_exception, match) as excinfo:
        args[0](*args[1:], **kwargs)
    return excinfo


class WarningsChecker(warnings.catch_warnings):
    """`pytest.warns` context manager; `.list`, iterating and indexing give the recorded warnings."""

    def __init__(self, expected, match):
        warnings.catch_warnings.__init__(self, record=True)
        self.expected = expected if isinstance(expected, tuple) else (expected,)
        self.match_expr, self.list = match, []

    def __enter__(self):
        self.list = warnings.catch_warnings.__enter__(self)
        warnings.simplefilter("always")
        return self

    def __iter__(self):
        return iter(self.list)

    def __len__(self):
        return len(self.list)

    def __getitem__(self, i):
        return self.list[i]

    def pop(self, cls=Warning):
        for i, w in enumerate(self.list):
            if issubclass(w.category, cls):
                return self.list.pop(i)
        raise AssertionError("%r not found in warning list" % (cls,))

    def __exit__(self, exc_type, exc_value, tb):
        __tracebackhide__ = True
        warnings.catch_warnings.__exit__(self, exc_type, exc_value, tb)
        if exc_type is not None:
            return False  # the block's own exception is what matters
        found = pprint.pformat([w.message for w in self.list], indent=2)
        typed = [w for w in self.list if issubclass(w.category, self.expected)]
        if not typed:
            fail("DID NOT WARN. No warnings of type %s were emitted.\n The list of emitted warnings is: %s."
                 % (self.expected, found))
        if self.match_expr is not None and not any(re.search(self.match_expr, str(w.message)) for w in typed):
            fail("DID NOT WARN. No warnings of type %s matching the regex were emitted.\n Regex: %s\n"
                 " Emitted warnings: %s." % (self.expected, self.match_expr, found))
        return False


def warns(expected_warning=Warning, *args, match=None, **kwargs):
    __tracebackhide__ = True
    _check_types(expected_warning, Warning)
    if not _callable_form("warns", args, kwargs):
        return WarningsChecker(expected_warning, match)
    with WarningsChecker(expected_warning, match):
        return args[0](*args[1:], **kwargs)


def deprecated_call(func=None, *args, **kwargs):
    __tracebackhide__ = True
    args = (func,) + args if func is not None else args
    return warns((DeprecationWarning, PendingDeprecationWarning), *args, **kwargs)


# ---------------------------------------------------------------- approx

def _is_number(x):
    return isinstance(x, numbers.Complex) and not isinstance(x, bool)


class ApproxBase(object):
    __array_ufunc__ = None  # make numpy defer comparisons to us
    __array_priority__ = 100

    def __init__(self, expected, rel, abs, nan_ok):
        self.expected, self.rel, self.abs, self.nan_ok = expected, rel, abs, nan_ok

    def _approx(self, value):
        return approx(value, rel=self.rel, abs=self.abs, nan_ok=self.nan_ok)


class ApproxScalar(ApproxBase):
    @property
    def tolerance(self):
        absolute = 1e-12 if self.abs is None else self.abs
        if self.rel is None and self.abs is not None:
            return absolute
        return max((1e-6 if self.rel is None else self.rel) * abs(self.expected), absolute)

    def __eq__(self, actual):
        expected = self.expected
        try:
            if actual == expected:
                return True
        except Exception:
            pass
        if not (_is_number(expected) and _is_number(actual)):
            return False
        if math.isnan(abs(expected)):
            return self.nan_ok and math.isnan(abs(actual))
        return not math.isinf(abs(expected)) and abs(expected - actual) <= self.tolerance

    def __repr__(self):
        if not _is_number(self.expected) or not math.isfinite(abs(self.expected)):
            return str(self.expected)
        return "%s \u00b1 %.1e" % (self.expected, self.tolerance)


class ApproxSequence(ApproxBase):
    def __eq__(self, actual):
        actual = actual.tolist() if hasattr(actual, "tolist") else actual
        try:
            if len(actual) != len(self.expected):
                return False
        except TypeError:
            return False
        return all(a == self._approx(e) for a, e in zip(actual, self.expected))

    def __repr__(self):
        kind = type(self.expected) if type(self.expected) in (list, tuple) else list
        return "approx(%r)" % (kind(self._approx(e) for e in self.expected),)


class ApproxMapping(ApproxBase):
    def __eq__(self, actual):
        try:
            if set(actual.keys()) != set(self.expected.keys()):
                return False
        except AttributeError:
            return False
        return all(actual[k] == self._approx(v) for k, v in self.expected.items())

    def __repr__(self):
        return "approx(%r)" % ({k: self._approx(v) for k, v in self.expected.items()},)


def approx(expected, rel=None, abs=None, nan_ok=False):
    for tol in (rel, abs):
        if tol is not None and not tol >= 0:
            raise ValueError("approx() tolerances can't be negative or NaN: %r" % (tol,))
    if isinstance(expected, ApproxBase):
        return expected
    if hasattr(expected, "tolist") and not _is_number(expected):
        expected = expected.tolist()  # numpy arrays
    if isinstance(expected, dict):
        return ApproxMapping(expected, rel, abs, nan_ok)
    if isinstance(expected, (list, tuple)):
        return ApproxSequence(expected, rel, abs, nan_ok)
    if isinstance(expected, (set, frozenset)) or inspect.isgenerator(expected):
        raise TypeError("pytest.approx() only supports ordered sequences, got %r" % (type(expected),))
    return ApproxScalar(expected, rel, abs, nan_ok)


# ---------------------------------------------------------------- misc

def register_assert_rewrite(*names):
    """No-op: the stand-in does no assertion rewriting."""


def main(*args, **kwargs):
    raise RuntimeError("the fastest pytest stand-in cannot run pytest.main")
