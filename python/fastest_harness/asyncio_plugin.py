"""What pytest-asyncio does to a session, for the native engine.

pytest loads pytest-asyncio (an entry point) in every session of an interpreter that has
it. The native engine reproduces its hooks with the plugin's own code where that code
does not depend on pytest's internals:

- its fixtures (`_<scope>_scoped_runner`, the autouse `event_loop_policy`,
  `_asyncio_loop_factory`, `unused_tcp_port`, ...) are registered like a plugin's, so the
  event loop of each loop scope is an `asyncio.Runner` set up and torn down by the
  engine's own fixture machinery, in pytest's order;
- `pytest_pycollect_makeitem`: an `async def` test (a method, a static method, a
  Hypothesis test over a coroutine) is an asyncio test when marked `asyncio`, or always
  in auto mode (which adds the mark); an async generator test is an xfail that does not
  run;
- the test item's `setup`/`runtest`: the runner of the test's loop scope is requested
  last, and the coroutine runs in it in a copy of the current context;
- `pytest_fixture_setup`: an asyncio fixture (`pytest_asyncio.fixture`, or any async
  fixture in auto mode) runs through the plugin's synchronizers in the runner of its loop
  scope, and is finished before that runner closes;
- a sync test marked `asyncio` gets the plugin's warning.

Plugin options (`--asyncio-mode`) and hooks (`pytest_asyncio_loop_factories`) keep the
session on the pytest engine (the runner decides).
"""

import contextvars
import inspect
import warnings


def load():
    """The plugin module, imported as pytest does when it loads entry points; None when
    it is absent or its internals are not the ones this module was written against."""
    try:
        from pytest_asyncio import plugin
    except Exception:  # noqa: BLE001  (a broken install: pytest would fail to load it too)
        return None
    needed = (
        "_synchronize_coroutine",
        "_wrap_asyncgen_fixture",
        "_wrap_async_fixture",
        "_wrap_syncgen_fixture",
        "_wrap_sync_fixture",
        "_make_asyncio_fixture_function",
        "_is_asyncio_fixture_function",
        "_MATCH_FIXTURE_SCOPE",
    )
    return plugin if all(hasattr(plugin, n) for n in needed) else None


class AsyncioSupport:
    def __init__(self, engine, plugin):
        self.engine = engine
        self.plugin = plugin
        ini = engine.ini
        self.auto = (ini.get("asyncio_mode") or "strict") == "auto"
        self.default_fixture_loop_scope = ini.get("asyncio_default_fixture_loop_scope") or None
        self.default_test_loop_scope = ini.get("asyncio_default_test_loop_scope") or "function"

    def fixture_module(self):
        """The module whose fixtures are the plugin's."""
        return self.plugin

    # -- tests
    @staticmethod
    def _is_async_test(func):
        func = getattr(func, "__func__", func)
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            return True
        inner = getattr(getattr(func, "hypothesis", None), "inner_test", None)
        return inner is not None and inspect.iscoroutinefunction(inner)

    def note_item(self, item):
        """pytest_pycollect_makeitem: whether the item is the plugin's, with its mark."""
        item.asyncio = False
        if not self._is_async_test(item.function):
            return
        import pytest

        if item.get_closest_marker("asyncio") is None:
            if not self.auto:
                return
            item.add_marker(pytest.mark.asyncio)
        item.asyncio = True
        if inspect.isasyncgenfunction(getattr(item.function, "__func__", item.function)):
            # The plugin's `AsyncGenerator` item: a collection warning, and an xfail
            # that does not run.
            message = "Tests based on asynchronous generators are not supported. %s will be ignored." % item.name
            with self.engine.recorded_warnings(None):
                self._warn_at(item, pytest.PytestCollectionWarning(message))
            item.add_marker(pytest.mark.xfail(run=False, reason=message))

    def runner_fixture(self, item):
        """The name of the runner fixture of the item's loop scope (the closest asyncio
        mark's `loop_scope` or `scope`, else the ini default)."""
        mark = item.get_closest_marker("asyncio")
        scope = None
        if mark is not None:
            scope = mark.kwargs.get("loop_scope") or mark.kwargs.get("scope")
        return "_%s_scoped_runner" % (scope or self.default_test_loop_scope)

    def call(self, item, func, funcargs):
        """runtest: the coroutine in the runner of its loop scope, in a fresh copy of the
        context (async fixtures copied their context changes into it). Returns False
        when the item is not the plugin's."""
        if not item.asyncio:
            if item.get_closest_marker("asyncio") is not None:
                from pytest import PytestWarning

                self._warn_at(
                    item,
                    PytestWarning(
                        "The test %r is marked with '@pytest.mark.asyncio' but it is not an async "
                        "function. Please remove the asyncio mark. If the test is not marked "
                        "explicitly, check for global marks applied via 'pytestmark'." % (_ItemRepr(item),)
                    ),
                )
            return False
        runner = self.engine.get_fixture(item, self.runner_fixture(item), ())
        context = contextvars.copy_context()
        inner = getattr(getattr(func, "hypothesis", None), "inner_test", None)
        if inner is not None and inspect.iscoroutinefunction(inner):
            # Swapped for this call only, as the plugin's MonkeyPatch.context() does: the
            # next item of the same function finds the coroutine again.
            func.hypothesis.inner_test = self.plugin._synchronize_coroutine(inner, runner, context)
            try:
                func(**funcargs)
            finally:
                func.hypothesis.inner_test = inner
        else:
            self.plugin._synchronize_coroutine(func, runner, context)(**funcargs)
        return True

    def _warn_at(self, item, warning):
        """pytest's `Node.warn`: the warning is located at the test function."""
        rel, lineno, _ = self.engine.location(item)
        warnings.warn_explicit(warning, category=None, filename=rel, lineno=lineno + 1)

    # -- fixtures
    def is_asyncio_fixture(self, fdef):
        if self.plugin._is_asyncio_fixture_function(fdef.func):
            return True
        func = getattr(fdef.func, "__func__", fdef.func)
        return self.auto and (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func))

    def fixture_loop_scope(self, fdef):
        default = self.default_fixture_loop_scope
        if default == self.plugin._MATCH_FIXTURE_SCOPE:
            default = fdef.scope
        return getattr(fdef.func, "_loop_scope", None) or default or fdef.scope

    def synchronized(self, item, fdef, func, request, requester_chain):
        """pytest_fixture_setup for an asyncio fixture: `func` (already bound, as pytest's
        resolve_fixture_function does) made synchronous by the plugin's own wrappers, in
        the runner of the fixture's loop scope. The fixture depends on that runner, so it
        is finished before the runner closes."""
        loop_scope = self.fixture_loop_scope(fdef)
        runner = self.engine.get_fixture(item, "_%s_scoped_runner" % loop_scope, requester_chain)
        kind = getattr(fdef.func, "__func__", fdef.func)
        if inspect.isasyncgenfunction(kind):
            synchronizer = self.plugin._wrap_asyncgen_fixture(func, runner, request)
        elif inspect.iscoroutinefunction(kind):
            synchronizer = self.plugin._wrap_async_fixture(func, runner, request)
        elif inspect.isgeneratorfunction(kind):
            synchronizer = self.plugin._wrap_syncgen_fixture(func, runner)
        else:
            synchronizer = self.plugin._wrap_sync_fixture(func, runner)
        self.plugin._make_asyncio_fixture_function(synchronizer, loop_scope)
        return synchronizer


class _ItemRepr:
    def __init__(self, item):
        self.name = item.name

    def __repr__(self):
        return "<Function %s>" % self.name
