"""Doctest items in the native engine (`--doctest-modules` and doctest text files), run as
pytest's doctest plugin runs them: the module's doctests found with pytest's finder fixes,
pytest's output checker (ALLOW_UNICODE, ALLOW_BYTES, NUMBER) and `doctest_optionflags`,
`getfixture` and `doctest_namespace` in the globals, a skip when every example is skipped,
and failures shown by pytest's own `DoctestItem.repr_failure`.

The item's node id is `path::name` (`name` the DocTest's: `pkg.mod.func`, or the file
name for a text file); what pytest's `DoctestModule` sees (the module's own fixtures and
`pytestmark`, the conftests' autouse fixtures) the item sees too."""
import doctest
import functools
import inspect
import re
import sys
import types

from fastest_harness.deps import MODULE_BLOCK


def _noop():
    """The body of a doctest item's stand-in test function (no arguments: only autouse
    and `usefixtures` fixtures are set up, as for pytest's DoctestItem)."""


class _Finder(doctest.DocTestFinder):
    """pytest's MockAwareDocTestFinder: `@property` and wrapped objects get their line
    numbers on older Pythons, and `cached_property` counts as the module's."""

    _lineno_broken = (
        sys.version_info[:2] < (3, 11)
        or (sys.version_info[:2] == (3, 11) and sys.version_info.micro < 9)
        or (sys.version_info[:2] == (3, 12) and sys.version_info.micro < 3)
    )

    def _find_lineno(self, obj, source_lines):
        if self._lineno_broken:
            if isinstance(obj, property):
                obj = getattr(obj, "fget", obj)
            if hasattr(obj, "__wrapped__"):
                obj = inspect.unwrap(obj)
        return super()._find_lineno(obj, source_lines)

    def _from_module(self, module, object):
        if sys.version_info < (3, 13) and isinstance(object, functools.cached_property):
            object = object.func
        return super()._from_module(module, object)


def _option_value(args, name):
    """The value of `--name VALUE` / `--name=VALUE` in pytest's arguments (last wins)."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


class DoctestSupport:
    def __init__(self, engine):
        self.engine = engine
        ini = engine.ini
        args = engine.config.get("pytest_args") or []
        self.modules_enabled = bool(ini.get("doctest_modules"))
        self.encoding = ini.get("doctest_encoding") or "utf-8"
        self.report = _option_value(args, "--doctest-report") or "udiff"
        # pytest stops at the first failing example unless told otherwise, and always
        # under --pdb.
        self.continue_on_failure = "--doctest-continue-on-failure" in args and not engine.debugger
        engine.config_obj.option.doctestreport = self.report
        from fastest_harness.native import HAVE_PYTEST

        self.plugin = None
        if HAVE_PYTEST:
            from _pytest import doctest as plugin

            self.plugin = plugin
        self._flag_names = list(ini.get("doctest_optionflags") or ["ELLIPSIS"])
        self._optionflags = None
        self._found = {}  # module path -> {DocTest name: DocTest}
        self._module_names = {}  # .py path -> dotted name (resolve runs for every item)

    # -- which node ids are doctests
    def resolve(self, nodeid, path, rest):
        """The item for a doctest node id, or None when `nodeid` is not one."""
        if "::" in rest:
            return None
        if not path.endswith(".py"):
            return self._text_item(nodeid, path, rest)
        if not self.modules_enabled:
            return None
        modname = self._module_names.get(path)
        module = self.engine.load_module(path)
        if modname is None:
            # The import mode decides the name (`--import-mode=importlib`: from the rootdir).
            modname = self._module_names[path] = module.__name__
        if rest != modname and not rest.startswith(modname + "."):
            return None
        if rest == modname and callable(getattr(module, rest, None)):
            # A test function named like its module: pytest's item of that name.
            return None
        tests = self._found.get(path)
        if tests is None:
            self.optionflags()  # registers pytest's flags before the docstrings parse
            tests = self._found[path] = {t.name: t for t in _Finder().find(module, module.__name__) if t.examples}
        dtest = tests.get(rest)
        if dtest is None:
            raise LookupError("no doctest named %s in %s" % (rest, path))
        from fastest_harness.native import unpacked_marks

        # A DoctestModule's marks are the module's `pytestmark`.
        item = self._item(nodeid, path, module, rest, dtest, unpacked_marks(module))
        item.doctest_block = self._block_of(module, rest)
        return item

    def _text_item(self, nodeid, path, name):
        with open(path, encoding=self.encoding) as f:
            text = f.read()
        self.optionflags()
        dtest = doctest.DocTestParser().get_doctest(text, {"__name__": "__main__"}, name, path, 0)
        module = types.ModuleType(name)
        module.__file__ = path
        item = self._item(nodeid, path, module, name, dtest, [])
        item.doctest_block = None
        return item

    def _item(self, nodeid, path, module, name, dtest, marks):
        from fastest_harness.native import Item

        function = types.FunctionType(_noop.__code__, vars(module), name)
        item = Item(nodeid, path, module, [], name, function, {}, list(marks))
        item.dtest = dtest
        return item

    @staticmethod
    def _block_of(module, name):
        """The code block holding the docstring of the doctest `name` (the dependency
        recorder's "qualname"): a function's own block, else the module's skeleton."""
        obj = module
        for part in name[len(module.__name__):].split(".")[1:]:
            obj = getattr(obj, part, None)
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            obj = obj.fget
        if isinstance(obj, functools.cached_property):
            obj = obj.func
        obj = inspect.unwrap(obj) if callable(obj) else obj
        if inspect.isfunction(obj) and getattr(obj, "__module__", None) == module.__name__:
            return obj.__qualname__
        return MODULE_BLOCK

    # -- running
    def optionflags(self):
        if self._optionflags is None:
            if self.plugin is not None:
                lookup = self.plugin._get_flag_lookup()
            else:
                lookup = {n: getattr(doctest, n) for n in doctest.OPTIONFLAGS_BY_NAME}
                for n in ("ALLOW_UNICODE", "ALLOW_BYTES", "NUMBER"):
                    lookup[n] = doctest.register_optionflag(n)
            flags = 0
            for name in self._flag_names:
                flags |= lookup[name]
            self._optionflags = flags
        return self._optionflags

    def setup(self, item, request):
        """pytest's DoctestItem.setup: `getfixture` and the `doctest_namespace` values."""
        globs = {"getfixture": request.getfixturevalue}
        globs.update(request.getfixturevalue("doctest_namespace"))
        item.dtest.globs.update(globs)

    def call(self, item):
        dtest = item.dtest
        recorder = self.engine.recorder
        if recorder is not None:
            rel = recorder.relpath(item.path)
            if rel is not None:
                # The examples are the docstring's: the test depends on the block holding
                # it (a text file: on the file, read before the test began).
                frame = recorder.current
                if item.doctest_block is not None:
                    frame.hits.add("%s::%s" % (rel, MODULE_BLOCK))
                    frame.hits.add("%s::%s" % (rel, item.doctest_block))
                else:
                    frame.files.add(rel)
        if all(x.options.get(doctest.SKIP, False) for x in dtest.examples):
            if self.plugin is not None:
                self.plugin._check_all_skipped(dtest)  # pytest's skip, from pytest's line
            from fastest_harness.native import pytest

            pytest.skip("all tests skipped by +SKIP option")
        failures = []
        self._runner().run(dtest, out=failures)
        if failures:
            if self.plugin is not None:
                raise self.plugin.MultipleDoctestFailures(failures)
            raise _MultipleFailures(failures)

    def _runner(self):
        if self.plugin is not None:
            return self.plugin._get_runner(
                checker=self.plugin._get_checker(),
                verbose=False,
                optionflags=self.optionflags(),
                continue_on_failure=self.continue_on_failure,
            )
        return _Runner(
            checker=_LiteralsChecker(),
            verbose=False,
            optionflags=self.optionflags(),
            continue_on_failure=self.continue_on_failure,
        )

    def failure_text(self, item, info):
        """pytest's report of a doctest failure, or None for any other exception."""
        exc = info[1]
        failure_types = (doctest.DocTestFailure, doctest.UnexpectedException)
        if self.plugin is not None:
            if not isinstance(exc, failure_types + (self.plugin.MultipleDoctestFailures,)):
                return None
            from _pytest._code import ExceptionInfo

            from fastest_harness.reports import terminal_text

            shim = types.SimpleNamespace(config=self.engine.config_obj)
            return terminal_text(self.plugin.DoctestItem.repr_failure(shim, ExceptionInfo.from_exc_info(info)))
        if isinstance(exc, failure_types):
            failures = [exc]
        elif isinstance(exc, _MultipleFailures):
            failures = exc.failures
        else:
            return None
        return _plain_failure_text(failures)


class _MultipleFailures(Exception):
    def __init__(self, failures):
        super().__init__()
        self.failures = failures


class _Runner(doctest.DebugRunner):
    """pytest's PytestDoctestRunner, for a worker without pytest."""

    def __init__(self, checker=None, verbose=None, optionflags=0, continue_on_failure=True):
        super().__init__(checker=checker, verbose=verbose, optionflags=optionflags)
        self.continue_on_failure = continue_on_failure

    def report_failure(self, out, test, example, got):
        failure = doctest.DocTestFailure(test, example, got)
        if not self.continue_on_failure:
            raise failure
        out.append(failure)

    def report_unexpected_exception(self, out, test, example, exc_info):
        from fastest_harness.native import pytest

        if isinstance(exc_info[1], (pytest.skip.Exception, pytest.fail.Exception, pytest.xfail.Exception)):
            raise exc_info[1]
        failure = doctest.UnexpectedException(test, example, exc_info)
        if not self.continue_on_failure:
            raise failure
        out.append(failure)


class _LiteralsChecker(doctest.OutputChecker):
    """pytest's LiteralsOutputChecker (ALLOW_UNICODE, ALLOW_BYTES, NUMBER), for a worker
    without pytest."""

    _unicode_literal_re = re.compile(r"(\W|^)[uU]([rR]?[\'\"])", re.UNICODE)
    _bytes_literal_re = re.compile(r"(\W|^)[bB]([rR]?[\'\"])", re.UNICODE)
    _number_re = re.compile(
        r"""
        (?P<number>
          (?P<mantissa>
            (?P<integer1> [+-]?\d*)\.(?P<fraction>\d+)
            |
            (?P<integer2> [+-]?\d+)\.
          )
          (?:
            [Ee]
            (?P<exponent1> [+-]?\d+)
          )?
          |
          (?P<integer3> [+-]?\d+)
          (?:
            [Ee]
            (?P<exponent2> [+-]?\d+)
          )
        )
        """,
        re.VERBOSE,
    )

    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        allow_unicode = optionflags & doctest.register_optionflag("ALLOW_UNICODE")
        allow_bytes = optionflags & doctest.register_optionflag("ALLOW_BYTES")
        allow_number = optionflags & doctest.register_optionflag("NUMBER")
        if not allow_unicode and not allow_bytes and not allow_number:
            return False
        if allow_unicode:
            want = re.sub(self._unicode_literal_re, r"\1\2", want)
            got = re.sub(self._unicode_literal_re, r"\1\2", got)
        if allow_bytes:
            want = re.sub(self._bytes_literal_re, r"\1\2", want)
            got = re.sub(self._bytes_literal_re, r"\1\2", got)
        if allow_number:
            got = self._remove_unwanted_precision(want, got)
        return super().check_output(want, got, optionflags)

    def _remove_unwanted_precision(self, want, got):
        wants = list(self._number_re.finditer(want))
        gots = list(self._number_re.finditer(got))
        if len(wants) != len(gots):
            return got
        offset = 0
        for w, g in zip(wants, gots):
            fraction = w.group("fraction")
            exponent = w.group("exponent1")
            if exponent is None:
                exponent = w.group("exponent2")
            precision = 0 if fraction is None else len(fraction)
            if exponent is not None:
                precision -= int(exponent)
            # pytest's approx(..., abs=10**-precision): an absolute tolerance only.
            if abs(float(w.group()) - float(g.group())) <= 10**-precision:
                got = got[: g.start() + offset] + w.group() + got[g.end() + offset:]
                offset += w.end() - w.start() - (g.end() - g.start())
        return got


def _plain_failure_text(failures):
    """The layout of pytest's ReprFailDoctest, without pytest."""
    import traceback

    out = []
    checker = doctest.OutputChecker()
    for failure in failures:
        test, example = failure.test, failure.example
        lineno = None if test.lineno is None else test.lineno + example.lineno + 1
        if lineno is not None:
            lines = ["%03d %s" % (i + test.lineno + 1, x) for i, x in enumerate(test.docstring.splitlines(False))]
            lines = lines[max(example.lineno - 9, 0): example.lineno + 1]
        else:
            lines = ["EXAMPLE LOCATION UNKNOWN, not showing all tests of that example"]
            indent = ">>>"
            for line in example.source.splitlines():
                lines.append("??? %s %s" % (indent, line))
                indent = "..."
        if isinstance(failure, doctest.DocTestFailure):
            lines += checker.output_difference(example, failure.got, doctest.REPORT_UDIFF).split("\n")
        else:
            lines.append("UNEXPECTED EXCEPTION: %r" % (failure.exc_info[1],))
            lines += [x.strip("\n") for x in traceback.format_exception(*failure.exc_info)]
        out.extend(lines)
        out.append("%s:%s: %s" % (test.filename, lineno, type(failure).__name__))
    return "\n".join(out)
