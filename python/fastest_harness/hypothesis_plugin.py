"""What Hypothesis's pytest plugin does to a session, for the native engine.

pytest loads `_hypothesis_pytestplugin` (an entry point) in every session of an
interpreter that has Hypothesis. Its effects on outcomes are few and are reproduced here
with Hypothesis's own objects, in the same places pytest's hooks run them:

- at start-up, importing the plugin module: side-effect detection is on until the
  session starts, and `@pytest.fixture` refuses a function already wrapped by `@given`;
- at session start: side-effect detection ends (`pytest_sessionstart`);
- after collection: `@given` tests get the `hypothesis` mark and Hypothesis reads the
  local constants it mixes into generated data (`pytest_collection_modifyitems`);
- around each test call (`pytest_runtest_call`): `@example`/`@seed`/`@settings` without
  `@given` is an error, a `@given` test that takes a function-scoped fixture fails the
  `function_scoped_fixture` health check, a parametrized one gets its own database key
  and no `differing_executors` check, and Hypothesis's report goes to the test's
  "Hypothesis" section instead of stdout.

Plugin options (`--hypothesis-seed`, ...) keep the session on the pytest engine (the
runner decides), so the profile, seed and statistics are Hypothesis's defaults here.
"""

import sys
from contextlib import contextmanager
from inspect import signature


def load():
    """Imports the plugin module as pytest does when it loads entry points; None when it
    is absent or disabled itself (a pytest too old for it)."""
    try:
        import _hypothesis_pytestplugin as plugin
    except Exception:  # noqa: BLE001  (a broken install: pytest would fail to load it too)
        return None
    return plugin if hasattr(plugin, "pytest_runtest_call") else None


class HypothesisSupport:
    def __init__(self, engine, plugin):
        self.engine = engine
        self.plugin = plugin
        self.session_started = False
        self.constants_read = False

    def session_start(self):
        """pytest_sessionstart: once, before the first test module is imported."""
        if not self.session_started:
            self.session_started = True
            self.plugin.pytest_sessionstart(None)

    def note_item(self, item):
        """pytest_collection_modifyitems, for one item before it runs: the mark, and the
        local constants read before the first `@given` test (pytest: after collection,
        when every test module is imported; the worker imports them all first too)."""
        if "hypothesis" not in sys.modules:
            return
        from hypothesis import is_hypothesis_test

        if not is_hypothesis_test(item.function):
            return
        item.add_marker(_hypothesis_mark())
        if not self.constants_read:
            self.constants_read = True
            try:
                from hypothesis.internal.conjecture.providers import _get_local_constants
            except ImportError:
                return
            _get_local_constants()

    @contextmanager
    def around_call(self, item, fixture_closure):
        """pytest_runtest_call's wrapper. `fixture_closure()`: the fixture definitions of
        the test's closure, by name (active definition last); computed only for a
        Hypothesis test whose health check looks at it."""
        __tracebackhide__ = True
        if "hypothesis" not in sys.modules:
            yield
            return
        from hypothesis import core, is_hypothesis_test

        core.pytest_shows_exceptiongroups = True  # pytest >= 7.2
        core.running_under_pytest = True
        obj = item.obj
        if not is_hypothesis_test(obj):
            _check_pointless_decorators(item, obj)
            yield
            return

        from hypothesis import HealthCheck, settings as Settings
        from hypothesis.internal.escalation import current_pytest_item
        from hypothesis.internal.healthcheck import fail_health_check
        from hypothesis.reporting import with_reporter
        from hypothesis.statistics import collector, describe_statistics

        settings = getattr(obj, "_hypothesis_internal_use_settings", Settings.default)
        fixture_params = False
        if not set(settings.suppress_health_check).issuperset(
            {HealthCheck.function_scoped_fixture, HealthCheck.differing_executors}
        ):
            argnames = frozenset(signature(item.function).parameters)
            for name, defs in fixture_closure().items():
                for fx in defs:
                    fixture_params |= bool(getattr(fx, "params", None))
                if name in argnames and getattr(defs[-1], "scope", "function") == "function":
                    fail_health_check(
                        settings,
                        _FUNCTION_SCOPED_MESSAGE % (item.nodeid, name),
                        HealthCheck.function_scoped_fixture,
                    )
        if fixture_params or item.get_closest_marker("parametrize") is not None:
            fn = getattr(obj, "__func__", obj)
            fn._hypothesis_internal_use_settings = Settings(
                parent=settings,
                suppress_health_check={HealthCheck.differing_executors} | set(settings.suppress_health_check),
            )
            obj.hypothesis.inner_test._hypothesis_internal_add_digest = item.nodeid.encode()

        store = self.plugin.StoringReporter(self.engine.config_obj)
        engine = self.engine

        def repr_failure(excinfo):
            # Hypothesis formats each failing example's traceback as pytest would.
            return engine.format_exception((excinfo.type, excinfo.value, excinfo.tb), item)

        item.repr_failure = repr_failure

        def note_statistics(stats):
            stats["nodeid"] = item.nodeid
            item.hypothesis_statistics = describe_statistics(stats)

        try:
            with collector.with_value(note_statistics), with_reporter(store), current_pytest_item.with_value(item):
                yield
        finally:
            # A hook wrapper: this runs whatever the test's outcome.
            if store.results:
                item.hypothesis_report_information = "\n".join(store.results)


def _hypothesis_mark():
    import pytest

    return pytest.mark.hypothesis


def _check_pointless_decorators(item, obj):
    __tracebackhide__ = True
    from hypothesis.errors import InvalidArgument

    # The plugin's frame of indirection: the one a failure shows.
    def raise_hypothesis_usage_error(msg):
        raise InvalidArgument(msg)

    if getattr(obj, "is_hypothesis_strategy_function", False):
        raise_hypothesis_usage_error(
            f"{item.nodeid} is a function that returns a Hypothesis strategy, "
            "but pytest has collected it as a test function.  This is useless "
            "as the function body will never be executed.  To define a test "
            "function, use @given instead of @composite."
        )
    message = "Using `@%s` on a test without `@given` is completely pointless."
    for name, attribute in [
        ("example", "hypothesis_explicit_examples"),
        ("seed", "_hypothesis_internal_use_seed"),
        ("settings", "_hypothesis_internal_settings_applied"),
        ("reproduce_example", "_hypothesis_internal_use_reproduce_failure"),
    ]:
        if hasattr(obj, attribute):
            raise_hypothesis_usage_error(message % (name,))


# The plugin's text (hypothesis 6.x), so that a failing health check reads the same.
_FUNCTION_SCOPED_MESSAGE = (
    "%r uses a function-scoped fixture %r."
    "\n\n"
    "Function-scoped fixtures are not reset between inputs "
    "generated by `@given(...)`, which is often surprising and "
    "can cause subtle test bugs."
    "\n\n"
    "If you were expecting the fixture to run separately "
    "for each generated input, then unfortunately you "
    "will need to find a different way to achieve your "
    "goal (for example, replacing the fixture with a similar "
    "context manager inside of the test)."
    "\n\n"
    "If you are confident that your test will work correctly "
    "even though the fixture is not reset between generated "
    "inputs, you can suppress this health check with "
    "@settings(suppress_health_check=[HealthCheck.function_scoped_fixture]). "
    "See "
    "https://hypothesis.readthedocs.io/en/latest/reference/api.html#hypothesis.HealthCheck "
    "for details."
)
