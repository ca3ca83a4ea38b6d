"""Worker process: reads commands from the runner's pipe, runs tests with an engine, and
streams reports back on a pipe of its own (never on the test's stdout/stderr).

Started by crates/fastest-runner with FASTEST_CMD_FD / FASTEST_EVENT_FD set; the wire
types are those of crates/fastest-protocol (FromWorker / ToWorker).
"""
import json
import os
import sys

from fastest_harness import PROTOCOL_VERSION


def _json_encoder():
    """Compact ASCII JSON, `repr` for what JSON cannot hold. The C encoder is made once
    (`JSONEncoder.encode` makes a new one per call: ~1.5 us a message)."""
    from json import encoder

    if encoder.c_make_encoder is not None:
        make = encoder.c_make_encoder(None, repr, encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
        return lambda obj: "".join(make(obj, 0))
    return json.JSONEncoder(ensure_ascii=True, default=repr, separators=(",", ":"), check_circular=False).encode


_encode_json = _json_encoder()


class Channel:
    """The two protocol pipes: JSON lines in, JSON lines out."""

    def __init__(self, cmd_fd, event_fd):
        self._cmd = os.fdopen(cmd_fd, "rb")
        self._out = os.fdopen(event_fd, "wb", buffering=1 << 16)
        for fd in (cmd_fd, event_fd):
            os.set_inheritable(fd, False)

    # Events the runner needs at once; the others (start, per-phase reports of the
    # pytest engine) are flushed with the test's `finish` or `test`: one write per test.
    _FLUSH = frozenset(("ready", "imported", "finish", "test", "idle", "fatal", "collect_error", "warning", "interact"))

    def send(self, ev, **fields):
        fields["ev"] = ev
        data = _encode_json(fields).encode("ascii") + b"\n"
        self._out.write(data)
        if ev in self._FLUSH:
            self._out.flush()

    def receive(self):
        line = self._cmd.readline()
        if not line:
            return {"op": "shutdown"}
        return json.loads(line.decode("utf-8"))


def _installed_plugins():
    """Names of installed distributions that register pytest plugins (pytest11)."""
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return []
    names = []
    try:
        dists = metadata.distributions()
        for dist in dists:
            for ep in getattr(dist, "entry_points", ()):
                if ep.group == "pytest11":
                    names.append(dist.metadata["Name"] or ep.name)
                    break
    except Exception:
        pass
    return sorted(set(names))


def _reproducible_plugins(installed):
    """The installed plugins (normalized names) in versions the native engine reproduces
    (`hypothesis_plugin.py`, `asyncio_plugin.py`, pytest-benchmark's fixture in
    `builtins.py`)."""
    wanted = {"hypothesis": 6, "pytest-asyncio": 1, "pytest-benchmark": 5}
    found = []
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return found
    for name in installed:
        key = name.lower().replace("_", "-")
        if key not in wanted:
            continue
        try:
            major = int(metadata.version(name).split(".")[0])
        except Exception:  # noqa: BLE001  (an odd version string: not reproduced)
            continue
        if major == wanted[key]:
            found.append(key)
    return found


def _compile_harness():
    """Writes the harness's bytecode once per interpreter, also under
    PYTHONDONTWRITEBYTECODE (usual in containers): compiling it at every worker start
    costs ~40 ms. The directory is per harness version, so the files never go stale."""
    import importlib.util

    package = os.path.dirname(os.path.abspath(__file__))
    try:
        if os.path.exists(importlib.util.cache_from_source(os.path.join(package, "native.py"))):
            return
        import compileall

        compileall.compile_dir(package, quiet=2)
    except Exception:  # noqa: BLE001  (read-only cache dir, no compileall: compile at import)
        pass


def interpreter_facts():
    """Imports pytest (as every worker does before project code) and says what the
    `ready` message reports: its version, the installed plugins, those reproduced."""
    try:
        import pytest  # noqa: F401

        pytest_version = getattr(pytest, "__version__", "unknown")
    except ImportError:
        pytest_version = None
    plugins = _installed_plugins() if pytest_version else []
    return {"pytest": pytest_version, "plugins": plugins, "reproducible": _reproducible_plugins(plugins)}


def main(preloaded=None):
    """Runs the worker. `preloaded`: the `interpreter_facts` a preloader (preload.py)
    found before it forked this process, with pytest imported."""
    import faulthandler

    if preloaded is None:
        _compile_harness()

    # A segfaulting test leaves its Python traceback in the capture file the runner reads.
    faulthandler.enable()
    channel = Channel(int(os.environ["FASTEST_CMD_FD"]), int(os.environ["FASTEST_EVENT_FD"]))
    harness_dir = os.environ.get("FASTEST_HARNESS_DIR")
    # Like the `pytest` entry point: neither the harness nor the cwd is importable.
    sys.path[:] = [p for p in sys.path if p not in ("", harness_dir)]
    # Under the `pytest` script `__main__` is a file; code that finds its program through
    # `__main__.__file__` (multiprocessing's spawn, anyio's to_process) expects one.
    main_module = sys.modules.get("__main__")
    if main_module is not None and not hasattr(main_module, "__file__") and harness_dir:
        main_module.__file__ = os.path.join(harness_dir, "fastest_harness", "main_stub.py")
    facts = preloaded if preloaded is not None else interpreter_facts()
    channel.send(
        "ready",
        protocol=PROTOCOL_VERSION,
        python="%d.%d.%d" % sys.version_info[:3],
        pytest=facts["pytest"],
        plugins=facts["plugins"],
        reproducible=facts["reproducible"],
    )
    cmd = channel.receive()
    if cmd.get("op") == "shutdown":
        # The runner went away before configuring this worker (a worker started ahead
        # that no run adopted): nothing to report, and no one to report it to.
        return
    if cmd.get("op") != "configure":
        channel.send("fatal", message="expected configure, got %r" % cmd.get("op"))
        return
    config = cmd
    if config.get("worker_count"):
        # As pytest-xdist's workers have it (user code reads it); set here, not at the
        # start: the runner may start a worker before it knows how many it will use.
        os.environ["PYTEST_XDIST_WORKER_COUNT"] = str(config["worker_count"])
    cov = None
    if config.get("coverage"):
        from fastest_harness import coverage_support

        coverage_support.import_what_pytest_imports_first(config.get("ini") or {})
        try:
            cov = coverage_support.start_worker(config["coverage"])
        except RuntimeError as exc:  # coverage.py missing: a usage error, as pytest's
            channel.send("fatal", message="ERROR: %s" % exc, exit_code=4)
            return
        channel = coverage_support.ContextChannel(channel, cov)
    try:
        if config["engine"] == "pytest":
            from fastest_harness.pytest_engine import PytestEngine as Engine
        else:
            from fastest_harness.native import NativeEngine as Engine
        engine = Engine(config, channel)
        engine.coverage = cov
    except Exception as exc:  # the harness itself is broken: say so, exit code 3
        import traceback

        channel.send("fatal", message="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return
    # pytest, the harness and the plugins live as long as the worker: frozen (as the
    # preloader's are), the collections the tests trigger do not walk them again.
    import gc

    gc.freeze()
    # The native engine imports the session's modules now (collection errors for the
    # runner's header); the pytest engine collects when it runs.
    start_session = getattr(engine, "start_session", None)
    channel.send("imported", errors=start_session() if start_session is not None else [])
    while True:
        cmd = channel.receive()
        op = cmd.get("op")
        if op == "run":
            engine.run(cmd["items"])
            channel.send("idle")
        elif op == "shutdown":
            engine.shutdown()
            if cov is not None:
                channel.stop()
            break
    sys.stdout.flush()
    sys.stderr.flush()
    if getattr(engine, "recorder", None) is not None and not os.environ.get("FASTEST_PROFILE"):
        _exit_before_finalization()


def _exit_before_finalization():
    """Ends a recording worker without interpreter finalization. The probes compiled into
    project code name `builtins.__fastest_hits__`, which finalization removes before it
    destroys the modules' objects: a `__del__` in project code would then print
    `NameError` noise. atexit handlers still run, as in a normal exit."""
    import atexit
    import gc

    gc.collect()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (a closed or replaced stream)
            pass
    os._exit(0)


def profiled_main():
    """`FASTEST_PROFILE=path`: run the worker under cProfile (a development aid)."""
    path = os.environ.get("FASTEST_PROFILE")
    if not path:
        return main()
    import cProfile

    cProfile.runctx("main()", globals(), locals(), "%s.%d" % (path, os.getpid()))


if __name__ == "__main__":
    main()
