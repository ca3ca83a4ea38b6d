"""Per-test dependency recording: which code blocks, files, directories and environment
variables each test depended on (read by crates/fastest-select to key cached results).

Code is recorded by probes compiled into project modules at import time (one
`__fastest_hits__.add("path::qualname")` at the top of every function body and of the
module), not by a tracer: a probe costs one set insertion, only in project code, on every
Python version, and leaves debuggers and coverage tools alone. Block names are those
`crates/fastest-discovery/src/blocks.rs` hashes.

Attribution uses frames: a test's own frame (setup, call, teardown), a frame per
higher-scope node (session, package, module, class: their fixtures and xunit setup) and
a frame per imported module. A test depends on its own frame, the frames of all its
ancestor nodes, the import frames of its module and of every file it touched, and the
session frame.
"""
import ast
import builtins
import contextlib
import os
import sys

PROBE_NAME = "__fastest_hits__"
# Part of every compiled-code cache key and pyc tag: bumped when the probes change.
PROBES_VERSION = "3"
MODULE_BLOCK = "<module>"


class Frame:
    __slots__ = ("hits", "files", "dirs", "stats", "env", "names")

    def __init__(self):
        self.hits = set()
        self.files = set()
        self.dirs = set()
        self.stats = set()
        self.env = set()
        self.names = set()  # top-level module names project code imports

    def size(self):
        return len(self.hits) + len(self.files) + len(self.dirs) + len(self.stats) + len(self.env) + len(self.names)

    def same_as(self, other):
        return (
            self.hits == other.hits
            and self.files == other.files
            and self.dirs == other.dirs
            and self.stats == other.stats
            and self.env == other.env
            and self.names == other.names
        )

    def merge(self, other):
        self.hits |= other.hits
        self.files |= other.files
        self.dirs |= other.dirs
        self.stats |= other.stats
        self.env |= other.env
        self.names |= other.names


_BODY_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


class _Probes:
    """Inserts `__fastest_hits__.add("<relpath>::<qualname>")` at the top of every function
    body and of the module (after docstrings and `__future__` imports), and one
    `__fastest_imports__(relpath, imports, volatile_blocks)` after the module's probe.
    Walks statements only: functions and imports are never inside expressions (a lambda
    belongs to its enclosing block)."""

    def __init__(self, relpath, source):
        self.relpath = relpath
        self.prefix = []
        self.imports = []  # (module, level, fromlist) of every import statement
        self.blocks = [MODULE_BLOCK]  # the block whose code the walk is in
        self.volatile = []  # blocks whose own code calls the clock or a random source
        self.candidates = _volatile_candidate_lines(source)

    def _probe(self, block, anchor):
        call = ast.Expr(
            ast.Call(
                func=ast.Attribute(value=ast.Name(id=PROBE_NAME, ctx=ast.Load()), attr="add", ctx=ast.Load()),
                args=[ast.Constant("%s::%s" % (self.relpath, block))],
                keywords=[],
            )
        )
        return self._located(call, anchor)

    @staticmethod
    def _located(stmt, anchor):
        # Every node on the anchor's first line (copying the anchor's range would give
        # invalid ranges next to nodes other transformers inserted).
        line = getattr(anchor, "lineno", 1) or 1
        for node in ast.walk(stmt):
            node.lineno = node.end_lineno = line
            node.col_offset = node.end_col_offset = 0
        return stmt

    @staticmethod
    def _insert_at(body, module=False):
        i = 0
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            i = 1
        if module:
            while i < len(body) and isinstance(body[i], ast.ImportFrom) and body[i].module == "__future__":
                i += 1
        return i

    def module(self, tree):
        self._statements(tree.body)
        body = tree.body
        if body:
            i = self._insert_at(body, module=True)
            anchor = body[min(i, len(body) - 1)]
            declare = ast.Expr(
                ast.Call(
                    func=ast.Name(id="__fastest_imports__", ctx=ast.Load()),
                    args=[ast.Constant(self.relpath), ast.Constant(tuple(self.imports)), ast.Constant(tuple(self.volatile))],
                    keywords=[],
                )
            )
            body[i:i] = [self._probe(MODULE_BLOCK, anchor), self._located(declare, anchor)]
        return tree

    def _check(self, nodes):
        """Marks the current block volatile when these nodes (run in it) call the clock
        or a random source. The AST is only walked around lines the text search found."""
        block = self.blocks[-1]
        if not self.candidates or block in self.volatile:
            return
        nodes = list(nodes)
        while nodes:
            node = nodes.pop()
            first = getattr(node, "lineno", None)
            if first is None:
                # `with` items, match cases, arguments: no location of their own.
                nodes.extend(ast.iter_child_nodes(node))
                continue
            last = getattr(node, "end_lineno", None) or first
            if any(first <= line <= last for line in self.candidates) and calls_volatile([node]):
                self.volatile.append(block)
                return

    def _statements(self, body):
        for stmt in body:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    self.imports.append((alias.name, 0, ()))
            elif isinstance(stmt, ast.ImportFrom):
                if stmt.module != "__future__":
                    names = tuple(a.name for a in stmt.names if a.name != "*")
                    self.imports.append((stmt.module or "", stmt.level or 0, names))
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                # Decorators, defaults and annotations run where the function is defined.
                args = stmt.args
                annotations = [a.annotation for a in args.posonlyargs + args.args + args.kwonlyargs if a.annotation is not None]
                self._check(stmt.decorator_list + args.defaults + [d for d in args.kw_defaults if d is not None] + annotations + ([stmt.returns] if stmt.returns is not None else []))
                self._function(stmt)
            elif isinstance(stmt, ast.ClassDef):
                self._check(stmt.decorator_list + stmt.bases + [k.value for k in stmt.keywords])
                self.prefix.append(stmt.name)
                self._statements(stmt.body)  # a class body runs in the enclosing block
                self.prefix.pop()
            else:
                for field, value in ast.iter_fields(stmt):
                    if field in _BODY_FIELDS:
                        for child in value or ():
                            if isinstance(child, ast.stmt):
                                self._statements([child])
                                continue
                            # An except handler's type, a match case's pattern and guard
                            # run in this block; their statements are in `body`.
                            self._check([getattr(child, name) for name in ("type", "pattern", "guard") if getattr(child, name, None) is not None])
                            self._statements(child.body)
                    elif isinstance(value, ast.AST):
                        self._check([value])
                    elif isinstance(value, list):
                        self._check([v for v in value if isinstance(v, ast.AST)])

    def _function(self, node):
        self.prefix.append(node.name)
        qual = ".".join(self.prefix)
        self.blocks.append(qual)
        self._statements(node.body)
        self.blocks.pop()
        self.prefix.pop()
        i = self._insert_at(node.body)
        anchor = node.body[min(i, len(node.body) - 1)]
        node.body.insert(i, self._probe(qual, anchor))


# Calls whose result differs between runs (the clock, random sources), by the called
# name: `now()`, `datetime.now()`, `random.choice(...)`. `time` and `strftime` only as
# `time.time()` / `time()` / `time.strftime(...)` (also names of deterministic methods
# and of `datetime.time`).
_VOLATILE_CALLS = frozenset(
    (
        "now utcnow today time_ns perf_counter perf_counter_ns monotonic monotonic_ns "
        "process_time localtime gmtime ctime urandom uuid1 uuid4 getrandbits randint "
        "randrange random choice choices shuffle sample uniform gauss randbytes "
        "token_hex token_bytes token_urlsafe"
    ).split()
)
# Lines that may hold such a call (a superset, found by text; the AST decides).
_VOLATILE_TEXT = __import__("re").compile(
    rb"\b(?:" + "|".join(sorted(_VOLATILE_CALLS | {"time", "strftime"})).encode() + rb")\s*\("
)


def _volatile_candidate_lines(source):
    if isinstance(source, str):
        source = source.encode("utf-8", "surrogateescape")
    lines = []
    line, counted = 1, 0
    for match in _VOLATILE_TEXT.finditer(source):
        line += source.count(b"\n", counted, match.start())
        counted = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def calls_volatile(statements):
    """Whether these nodes (expressions and parts of statements: `_Probes` hands over
    function headers and statement bodies separately) call the clock or a random
    source. Static, so a collection can be checked without a profiler: a module whose
    collection ran such a block may collect other ids next time."""
    todo = list(statements)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Call):
            func = node.func
            # `time()` without arguments: `from time import time` (`datetime.time(12, 0)`
            # has arguments).
            if isinstance(func, ast.Name) and (func.id in _VOLATILE_CALLS or (func.id == "time" and not node.args)):
                return True
            if isinstance(func, ast.Attribute):
                if func.attr in _VOLATILE_CALLS:
                    return True
                if func.attr in ("time", "strftime") and isinstance(func.value, ast.Name) and func.value.id == "time":
                    return True
        todo.extend(ast.iter_child_nodes(node))
    return False


# The argument of the probe event `Recorder.install` raises to see its hook called.
_HOOK_PROBE = object()
# The audit events the recorder reads (audit_hook.c forwards the same three).
_RECORDED_EVENTS = frozenset(("open", "os.listdir", "os.scandir"))


def _add_native_audit_hook(callback):
    """Installs the audit hook written in C (crates/fastest-runner/native/audit_hook.c),
    which calls `callback(event, args)` only for the events the recorder reads: every
    other audit event (`builtins.id` on each `id()` call, ...) then costs no Python call.
    False when it cannot be loaded (no C compiler at build time, no ctypes, another
    platform): the caller installs the Python hook instead."""
    # 3.11+: the hook pauses tracing with PyThreadState_EnterTracing (see audit_hook.c).
    # FASTEST_AUDIT_HOOK=python: the Python hook (tests of the fallback).
    if sys.version_info < (3, 11) or os.environ.get("FASTEST_AUDIT_HOOK") == "python":
        return False
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_audit_hook.so")
    if not os.path.isfile(path):
        return False
    try:
        import ctypes

        # PyDLL: the call keeps the GIL (the function calls the C API).
        library = ctypes.PyDLL(path)
        add = library.fastest_add_audit_hook
        add.argtypes = [ctypes.py_object]
        add.restype = ctypes.c_int
        return add(callback) == 0
    except Exception:  # noqa: BLE001  (any failure: the Python hook does the same)
        return False


def add_probes(tree, relpath, source):
    return _Probes(relpath, source).module(tree)


class Recorder:
    """One per worker. `begin_test`/`end_test` bracket a test; `push`/`pop` bracket a
    higher-scope setup or an import."""

    def __init__(self, rootdir, exclude=()):
        self.rootdir = os.path.realpath(rootdir)
        self._root_prefix = self.rootdir.rstrip(os.sep) + os.sep
        # Both spellings: paths inside the rootdir are matched as written (see relpath).
        self.exclude = tuple(
            {os.path.realpath(e).rstrip(os.sep) + os.sep for e in exclude if e}
            | {os.path.normpath(os.path.abspath(e)).rstrip(os.sep) + os.sep for e in exclude if e}
        )
        self.session = Frame()
        # node key -> frame of its higher-scope setup; "" (session-scoped fixtures) is not
        # the session frame, which records no file access.
        self.frames = {"": Frame()}
        self.imports = {}  # relpath -> frame of its import
        self.stack = [self.session]
        self.test = None
        self._last_sent = None
        # (base, import version, module count) and the frame of the last test `_delta_deps`
        # answered for: the same again means the same additions.
        self._last_delta = None
        self._next_base = 0  # ids of the bases `end_test(delta=True)` defines
        self._paths = {}
        self._busy = False
        self._declared = {}  # relpath -> import statements its probe declared
        self._resolved_memo = {}  # (relpath, len(sys.modules)) -> Frame
        self._packages = {}  # relpath -> the module's __package__
        self._import_version = 0  # bumped whenever an import frame is added or grows
        self._context_memo = {}  # ancestor keys -> (signature, _Base)
        self._ancestors_memo = {}  # node id without its last part -> ancestor keys
        self._closure_memo = {}  # see _delta_deps
        self._file_of = _FileOf()  # "relpath::qualname" -> relpath
        self.volatile_blocks = set()  # "relpath::qualname" of blocks calling the clock or random
        self.hooked = False  # our audit hook is called (checked by `install`)
        self._hook_seen = False
        builtins.__fastest_hits__ = self.session.hits

    # -- which files are the project's
    def relpath(self, path):
        """Project-relative path of `path`, or None when outside the project."""
        try:
            cached = self._paths.get(path)
        except TypeError:
            return None
        if cached is not None:
            return cached or None
        rel = ""
        busy, self._busy = self._busy, True  # realpath() stats: don't record those
        try:
            path = os.fsdecode(path)  # bytes paths (os.stat(b"...")) too
            # Textually inside the project: no realpath() (a stat per component, for
            # every path a collection probes); a symlink inside the project then only
            # adds a dependency under its own name.
            full = os.path.normpath(path if os.path.isabs(path) else os.path.join(os.getcwd(), path))
            if not full.startswith(self._root_prefix):
                full = os.path.realpath(path)
        except Exception:  # noqa: BLE001
            # Never the test's problem: also a plugin's own exception from a wrapped
            # os.path function (blockbuster raises BlockingError inside an event loop).
            # The path as written, normalised, is the best remaining guess.
            try:
                full = os.path.normpath(path if os.path.isabs(path) else os.path.join(os.getcwd(), path))
            except Exception:  # noqa: BLE001
                full = ""
        finally:
            self._busy = busy
        if full.startswith(self._root_prefix) and not full.startswith(self.exclude):
            rel = full[len(self._root_prefix):].replace(os.sep, "/")
            if "/__pycache__/" in "/" + rel or rel.startswith(".fastest_cache/") or "/site-packages/" in "/" + rel or "/dist-packages/" in "/" + rel:
                rel = ""
        # A relative path means something else after a chdir: cache absolute ones only.
        if len(self._paths) < 100000 and isinstance(path, str) and os.path.isabs(path):
            self._paths[path] = rel
        return rel or None

    # -- frames
    @property
    def current(self):
        return self.stack[-1]

    def _activate(self):
        builtins.__fastest_hits__ = self.stack[-1].hits

    def push(self, frame):
        self.stack.append(frame)
        self._activate()

    def pop(self):
        frame = self.stack.pop()
        self._activate()
        return frame

    def push_node(self, key):
        """Higher-scope setup for the node `key` (session "", package dir, module, class)."""
        frame = self.frames.get(key)
        if frame is None:
            frame = self.frames[key] = Frame()
        self.push(frame)

    @contextlib.contextmanager
    def node_frame(self, key):
        """A higher-scope setup for the node `key`, as a context."""
        self.push_node(key)
        try:
            yield
        finally:
            self.pop()

    def push_import(self, relpath):
        frame = Frame()
        frame.hits.add("%s::%s" % (relpath, MODULE_BLOCK))
        self.push(frame)
        return frame

    def pop_import(self, relpath, frame, module=None, merge=True):
        if module is not None:
            self._packages[relpath] = getattr(module, "__package__", None) or ""
            self._resolve_imports(relpath, frame)
        if self.stack and self.stack[-1] is frame:
            self.pop()
        old = self.imports.get(relpath)
        if old is None:
            self.imports[relpath] = frame
        else:
            old.merge(frame)
        self._import_version += 1
        # Whatever imported this module depends on what its import ran. A test module
        # imported by pytest's collection is not merged into the session frame (that
        # would make every test depend on every test module's top level); its own
        # tests get it through the file's import frame.
        if merge or self.current is not self.session:
            self.current.merge(frame)

    def begin_test(self):
        self.test = Frame()
        self.stack = [self.session, self.test]
        self._activate()

    def end_test(self, nodeid, delta=False):
        """The test's dependencies in the wire form of `TestDeps`, or {"same": True} when
        they equal the previous test's. With `delta`, what the test shares with the tests
        under the same nodes (a base, defined inline as `base_def` the first time) is sent
        once per worker and each test sends only what it adds."""
        test = self.test or Frame()
        self.test = None
        self.stack = [self.session]
        self._activate()
        if not self.hooked:
            return None  # no file read was seen: nothing may be reused on these
        base = self._context(nodeid)
        if delta:
            return self._delta_deps(base, test)
        self._last_delta = None
        total = Frame()
        total.merge(base.context)
        total.merge(test)
        self._close_over(total, set(base.done), test.hits)
        deps = _wire(total, self._project_paths())
        if deps == self._last_sent:
            return {"same": True}
        self._last_sent = deps
        return deps

    def _delta_deps(self, base, test):
        """`{"base": id, ...lists the test adds}` (see `end_test`)."""
        # What follows is a function of these inputs and the test's frame (the closure
        # memo is keyed by them too): the parameter sets of one test function usually
        # repeat the previous test's, and comparing is cheaper than computing.
        inputs = (base, self._import_version, len(sys.modules))
        last, self._last_delta = self._last_delta, (inputs, test)
        if last is not None and base.sent and last[0] == inputs and last[1].same_as(test):
            return {"same": True}
        ctx = base.context
        # What the import frames of the files the test's blocks are in add (to a fixed
        # point), memoized per base and files while no import happened: tests of one
        # module share it.
        starts = frozenset(map(self._file_of.__getitem__, test.hits)) - base.done
        key = (base.id, starts, self._import_version, len(sys.modules))
        closure = self._closure_memo.get(key)
        if closure is None:
            closure = Frame()
            self._close_over(closure, set(base.done), test.hits)
            if len(self._closure_memo) > 10000:
                self._closure_memo.clear()
            self._closure_memo[key] = closure
        stats = (test.stats | closure.stats) - ctx.stats
        stats.update(_shadow_stats((test.names | closure.names) - ctx.names, base.paths))
        # Compared as sets ("the same as the previous test" needs no order); sent in set
        # order: the runner sorts (cheaper there than sorting hundreds of paths here).
        added = (
            base.id,
            (test.hits | closure.hits) - ctx.hits,
            (test.files | closure.files) - ctx.files,
            (test.dirs | closure.dirs) - ctx.dirs,
            (test.env | closure.env) - ctx.env,
            stats,
        )
        if added == self._last_sent and base.sent:
            return {"same": True}
        self._last_sent = added
        deps = {"base": base.id}
        if not base.sent:
            deps["base_def"] = _wire(ctx, base.paths)
            base.sent = True
        for field, values in zip(("blocks", "files", "dirs", "env", "stats"), added[1:]):
            if values:
                deps[field] = list(values)
        return deps

    def _context(self, nodeid):
        """What every test under the same nodes shares (a `_Base`): the session frame,
        the frames of its ancestor nodes and the import frames of every file they
        touched, to a fixed point, and the set of files already closed over. Memoized
        per ancestor chain while none of those frames grew, no module was imported and
        the project's paths on sys.path stayed (frames only grow)."""
        parent = nodeid.rsplit("::", 1)[0]
        keys = self._ancestors_memo.get(parent)
        if keys is None:
            if len(self._ancestors_memo) > 10000:
                self._ancestors_memo.clear()
            keys = self._ancestors_memo[parent] = tuple(ancestor_keys(nodeid))
        frames = [self.session]
        frames.extend(f for f in map(self.frames.get, keys) if f is not None)
        paths = self._project_paths()
        signature = (len(sys.modules), self._import_version, id(paths), *map(Frame.size, frames))
        memo = self._context_memo.get(keys)
        if memo is not None and memo[0] == signature:
            return memo[1]
        context = Frame()
        for frame in frames:
            context.merge(frame)
        done = set()
        # The test's module was imported for the test to exist: its import frame (often
        # the bulk, e.g. data files read to build parametrize lists) is shared by every
        # test in it, so it belongs to the base, sent once, not to each test's additions.
        module = nodeid.split("::", 1)[0]
        self._close_over(context, done, context.hits | {module + "::" + MODULE_BLOCK})
        if len(self._context_memo) > 10000:
            self._context_memo.clear()
        self._next_base += 1
        base = _Base(self._next_base, context, frozenset(done), paths)
        self._context_memo[keys] = (signature, base)
        return base

    def _close_over(self, total, done, hits):
        """Merges into `total` the import frames of every module its blocks touched, to a
        fixed point, starting from the files of `hits` (`done`: files already merged)."""
        while True:
            files = set(map(self._file_of.__getitem__, hits)) - done
            if not files:
                return
            for f in files:
                done.add(f)
                frame = self.imports.get(f)
                if frame is not None:
                    total.merge(frame)
                # Imports inside functions may target modules imported only later.
                total.merge(self._resolved_imports(f))
            hits = total.hits

    def _project_paths(self):
        """Project directories on sys.path, as relpath prefixes ("" for the rootdir)."""
        key = tuple(sys.path)
        if getattr(self, "_paths_key", None) != key:
            found = []
            for entry in sys.path:
                full = os.path.realpath(entry or ".")
                if full == self.rootdir:
                    found.append("")
                else:
                    rel = self.relpath(entry or ".")
                    if rel is not None:
                        found.append(rel + "/")
            self._paths_key = key
            self._project_path_list = list(dict.fromkeys(found))
        return self._project_path_list

    # -- files, directories, environment
    _IGNORED_CALLERS = ("importlib", "linecache.py", "tokenize.py", "fastest_harness", "_pytest" + os.sep + "assertion", "traceback.py", "inspect.py", "zipimport")

    def _from_import_machinery(self):
        """Whether the file access comes from imports, tracebacks or the harness rather
        than from project code (the nearest project frame decides)."""
        f = sys._getframe(3)
        depth = 0
        while f is not None and depth < 8:
            name = f.f_code.co_filename
            if name.startswith("<frozen") or any(s in name for s in self._IGNORED_CALLERS):
                return True
            if self.relpath(name) is not None:
                return False
            f = f.f_back
            depth += 1
        return False

    def _io_frame(self):
        """Where file and directory reads go: nowhere outside tests and imports (pytest's
        own collection walk is modelled statically, by the conftest chain)."""
        frame = self.stack[-1]
        return None if frame is self.session else frame

    def audit(self, event, args):
        frame = self._io_frame()
        if frame is None:
            return
        if event == "open":
            path = args[0]
            if isinstance(path, int) or path is None:
                return
            rel = self.relpath(path)
            # Sources read by imports, tracebacks and assertion rewriting are covered by
            # their blocks; any other file is data, whoever reads it (importlib.resources).
            if rel is not None and not (rel.endswith((".py", ".pyc")) and self._from_import_machinery()):
                frame.files.add(rel)
        elif event in ("os.listdir", "os.scandir"):
            path = args[0] if args and args[0] is not None else "."
            if isinstance(path, int):
                return
            rel = self.relpath(path)
            if rel is not None and not self._from_import_machinery():
                frame.dirs.add(rel)

    def install(self):
        # Either hook calls `_audit_event` directly: `_from_import_machinery` counts on
        # the caller of the audited operation being three frames up.
        if not _add_native_audit_hook(self._audit_event):
            sys.addaudithook(self._audit_event)
        # An existing hook (a sandbox in sitecustomize) may veto adding ours without an
        # error: a probe event tells. Without a hook no file read would be recorded, so
        # no test's dependencies are sent then (every test runs again next time).
        sys.audit("os.listdir", _HOOK_PROBE)
        self.hooked = self._hook_seen
        builtins.__fastest_imports__ = self._declare_imports
        self._patch_environ()
        self._patch_stat()

    def _audit_event(self, event, args):
        """The audit hook: `open`, `os.listdir` and `os.scandir` events go to `audit`
        (the C hook passes only those; in Python this filter is the hook's)."""
        if event not in _RECORDED_EVENTS:
            return
        if args and args[0] is _HOOK_PROBE:
            self._hook_seen = True
            return
        try:
            self.audit(event, args)
        except Exception:
            pass

    def _declare_imports(self, relpath, imports, volatile=()):
        """Called by the probe at the top of every instrumented module with every import
        statement of the file (at any depth): resolved when the module's import ends;
        and with the file's blocks that call the clock or a random source."""
        self._declared[relpath] = imports
        for block in volatile:
            self.volatile_blocks.add("%s::%s" % (relpath, block))

    def _resolved_imports(self, relpath):
        """`_resolve_imports` into a fresh frame, memoized while no module is imported
        (the answer only changes when `sys.modules` does)."""
        key = (relpath, len(sys.modules))
        frame = self._resolved_memo.get(key)
        if frame is None:
            if len(self._resolved_memo) > 50000:
                self._resolved_memo.clear()
            frame = Frame()
            self._resolve_imports(relpath, frame)
            self._resolved_memo[key] = frame
        return frame

    def _resolve_imports(self, relpath, frame):
        """The module depends on the top level of the project modules it imports, even
        when they were imported before, and on no file shadowing the names it imports.
        Resolved from the import statements the probes declared, not by wrapping
        `__import__` (which would add a frame to import tracebacks)."""
        package = self._packages.get(relpath, "")
        modules = sys.modules
        for name, level, fromlist in self._declared.get(relpath, ()):
            if level:
                bits = package.split(".") if package else []
                if level - 1 > len(bits):
                    continue
                base = ".".join(bits[: len(bits) - (level - 1)])
                target = "%s.%s" % (base, name) if name and base else (name or base)
            else:
                target = name
                frame.names.add(name.partition(".")[0])
            self._note_module(modules.get(target), frame.hits)
            for attr in fromlist:
                sub = modules.get("%s.%s" % (target, attr))
                if sub is not None:
                    self._note_module(sub, frame.hits)

    def _note_module(self, module, hits):
        path = getattr(module, "__file__", None)
        if path:
            rel = self.relpath(path)
            if rel is not None:
                hits.add("%s::%s" % (rel, MODULE_BLOCK))

    def _patch_environ(self):
        recorder = self
        environ_type = type(os.environ)
        original = environ_type.__getitem__

        def __getitem__(self, key):
            if self is os.environ and isinstance(key, str) and not key.startswith("FASTEST_") and key != "PYTEST_CURRENT_TEST":
                recorder.current.env.add(key)
            return original(self, key)

        environ_type.__getitem__ = __getitem__

    def _patch_stat(self):
        """`os.path.exists(p)` and friends probe files without an audit event: record them
        so a file that appears later changes the test's key."""
        recorder = self
        for name in ("stat", "lstat"):
            original = getattr(os, name)

            def wrapper(path, *args, _original=original, **kwargs):
                frame = recorder._io_frame()
                if frame is not None and not recorder._busy and not isinstance(path, int):
                    rel = recorder.relpath(path)
                    if rel is not None:
                        frame.stats.add(rel)
                return _original(path, *args, **kwargs)

            wrapper.__name__ = name
            setattr(os, name, wrapper)


class _Base:
    """Dependencies shared by the tests under one chain of nodes (`Recorder._context`),
    with the project paths its import-shadowing stats were made for."""

    __slots__ = ("id", "context", "done", "paths", "sent")

    def __init__(self, base_id, context, done, paths):
        self.id = base_id
        self.context = context
        self.done = done
        self.paths = paths
        self.sent = False


class _FileOf(dict):
    """"relpath::qualname" -> relpath, computed once per block name (tests of a suite hit
    the same blocks thousands of times)."""

    def __missing__(self, hit):
        file = self[hit] = hit.rsplit("::", 1)[0]
        return file


def _shadow_stats(names, paths):
    """The paths where a new file would shadow one of the imported top-level `names`."""
    return [directory + name + suffix for directory in paths for name in names for suffix in (".py", "/__init__.py")]


def _wire(frame, paths):
    """A frame in the wire form of `TestDeps`. A file created later in a project directory
    on sys.path could shadow any module project code imported: the frame also depends on
    those candidate paths not existing."""
    stats = set(frame.stats)
    stats.update(_shadow_stats(frame.names, paths))
    return {
        "blocks": sorted(frame.hits),
        "files": sorted(frame.files),
        "dirs": sorted(frame.dirs),
        "stats": sorted(stats),
        "env": sorted(frame.env),
    }


def ancestor_keys(nodeid):
    """Keys of the nodes above a test: "" (session), each directory, the module, classes."""
    parts = nodeid.split("::")
    path = parts[0]
    keys = [""]
    segs = path.split("/")
    for i in range(1, len(segs)):
        keys.append("/".join(segs[:i]))
    keys.append(path)
    for i in range(2, len(parts)):
        keys.append("::".join(parts[:i]))
    return keys


def node_key_for_scope(nodeid, scope):
    """The key of the node a fixture of `scope` belongs to, for the test `nodeid`."""
    if scope == "session":
        return ""
    if scope == "package":
        path = nodeid.split("::")[0]
        return path.rsplit("/", 1)[0] if "/" in path else ""
    if scope == "module":
        return nodeid.split("::")[0]
    if scope == "class":
        return nodeid.rsplit("::", 1)[0]  # the class, or the module for a plain function
    return None


# ------------------------------------------------------------------ instrumented imports

RECORDER = None
CODE_CACHE_DIR = None


def _cache_key(source, relpath):
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    for part in (b"probes-" + PROBES_VERSION.encode(), sys.version.encode(), relpath.encode(), source):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def compile_with_probes(source, path, relpath):
    """Code for a project module with probes (cached by source hash)."""
    cached = None
    if CODE_CACHE_DIR:
        cached = os.path.join(CODE_CACHE_DIR, _cache_key(source, relpath) + ".code")
        code = load_code(cached)
        if code is not None:
            return code
    tree = ast.parse(source, filename=path)
    add_probes(tree, relpath, source)
    code = compile(tree, path, "exec", dont_inherit=True)
    if cached:
        store_code(cached, code)
    return code


def load_code(path):
    """Compiled code from the code cache, or None when missing or unreadable."""
    import marshal

    try:
        with open(path, "rb") as f:
            return marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None


def store_code(path, code):
    """Writes compiled code to the code cache atomically; a failure only costs a
    recompilation next time."""
    import marshal

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "wb") as f:
            f.write(marshal.dumps(code))
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass


def exec_recorded(code, module, relpath, merge=True):
    """Runs a module's code inside an import frame (`merge`: see `pop_import`)."""
    __tracebackhide__ = True
    recorder = RECORDER
    if recorder is None or relpath is None:
        exec(code, module.__dict__)
        return
    frame = recorder.push_import(relpath)
    try:
        exec(code, module.__dict__)
    finally:
        recorder.pop_import(relpath, frame, module, merge=merge)


class _InstrumentingFinder:
    """Finds project modules (not tests: pytest's or the native engine's loader handles
    those) and loads them with probes."""

    def find_spec(self, fullname, path=None, target=None):
        from importlib.machinery import PathFinder, SourceFileLoader

        spec = PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, SourceFileLoader) or not spec.origin:
            return spec
        relpath = RECORDER.relpath(spec.origin) if RECORDER else None
        if relpath is None or not spec.origin.endswith(".py"):
            return spec
        spec.loader = _InstrumentingLoader(fullname, spec.origin, relpath)
        return spec


def _source_loader_base():
    from importlib.machinery import SourceFileLoader

    return SourceFileLoader


class _InstrumentingLoader(_source_loader_base()):
    def __init__(self, fullname, path, relpath):
        super().__init__(fullname, path)
        self.relpath = relpath

    def get_code(self, fullname):
        source = self.get_data(self.path)
        return compile_with_probes(source, self.path, self.relpath)

    # exec_module: assigned below (`_TRIMMED_EXEC`).


# CPython removes the import machinery's frames from an exception raised by a module's
# code (import.c `remove_importlib_frames`): a run of frames from importlib's files that
# ends in one named `_call_with_frames_removed`, as a stock loader's `exec_module` makes.
# Ours is compiled under importlib's file name and ends the same way, so tracebacks of a
# failing project import read as they do without fastest (and as under pytest).
_TRIMMED_EXEC = """
def _call_with_frames_removed(f, *args, **kwds):
    return f(*args, **kwds)


def exec_module(self, module):
    code = self.get_code(module.__name__)
    recorder = deps.RECORDER
    if recorder is None:
        _call_with_frames_removed(exec, code, module.__dict__)
        return
    frame = recorder.push_import(self.relpath)
    try:
        _call_with_frames_removed(exec, code, module.__dict__)
    finally:
        recorder.pop_import(self.relpath, frame, module, merge=True)
"""


def _trimmed_exec_module():
    namespace = {"deps": sys.modules[__name__]}
    exec(compile(_TRIMMED_EXEC, "<frozen importlib._bootstrap_external>", "exec"), namespace)
    return namespace["exec_module"]


_InstrumentingLoader.exec_module = _trimmed_exec_module()


def default_excludes():
    """The interpreter's own trees (a venv inside the project is not project code)."""
    return [sys.prefix, sys.base_prefix, sys.exec_prefix, os.environ.get("FASTEST_HARNESS_DIR", "")]


def install(rootdir, code_cache_dir, exclude=()):
    """Starts recording for this worker; returns the recorder."""
    global RECORDER, CODE_CACHE_DIR
    CODE_CACHE_DIR = code_cache_dir
    # Hypothesis's own cache and example database, rewritten by the runs themselves: a
    # dependency on it would make every property-based test rerun every time. (Saved
    # examples only exist for a test that failed, and failures are never cached.)
    RECORDER = Recorder(rootdir, tuple(exclude) + (os.path.join(rootdir, ".hypothesis"),))
    RECORDER.install()
    from importlib.machinery import PathFinder

    finder = _InstrumentingFinder()
    try:
        index = sys.meta_path.index(PathFinder)
    except ValueError:
        index = len(sys.meta_path)
    sys.meta_path.insert(index, finder)
    return RECORDER


def patch_pytest_rewrite():
    """Test modules and conftests are imported by pytest's assertion-rewriting hook: add
    probes after its rewrite, keep its pyc files apart from plain pytest's, and run the
    module inside an import frame."""
    from _pytest.assertion import rewrite

    original_rewrite = rewrite.rewrite_asserts

    def rewrite_asserts(mod, source, module_path=None, config=None):
        original_rewrite(mod, source, module_path, config)
        rel = RECORDER.relpath(str(module_path)) if (RECORDER and module_path is not None) else None
        if rel is not None:
            add_probes(mod, rel, source)

    rewrite.rewrite_asserts = rewrite_asserts

    # pytest keeps rewritten modules in pyc files only when bytecode may be written
    # (not with PYTHONDONTWRITEBYTECODE): keep rewritten code in the code cache too,
    # keyed by content, so no worker or collection rewrites a module twice.
    original_rewrite_test = getattr(rewrite, "_rewrite_test", None)

    def _rewrite_test(fn, config, *args, **kwargs):
        __tracebackhide__ = True  # pytest leaves this frame out of import-error tracebacks
        if RECORDER is None or not CODE_CACHE_DIR:
            return original_rewrite_test(fn, config, *args, **kwargs)
        # Plugins pytest rewrites (site-packages) are cached too; only project files
        # carry probes (`rel` is part of the key).
        rel = RECORDER.relpath(str(fn))
        cached = None
        busy, RECORDER._busy = RECORDER._busy, True  # pytest's read, not the test's
        try:
            stat = os.stat(fn)
            with open(fn, "rb") as f:
                source = f.read()
        except OSError:
            source = None  # pytest's own read reports it
        finally:
            RECORDER._busy = busy
        if source is not None:
            try:
                pass_hook = bool(config.getini("enable_assertion_pass_hook"))
            except Exception:  # noqa: BLE001
                pass_hook = None
            import _pytest

            # co_filename is the absolute path, the probes name the rootdir-relative one.
            tag = "pytest-rewrite:%s:%s:%s:%s" % (getattr(_pytest, "__version__", ""), pass_hook, fn, rel)
            cached = os.path.join(CODE_CACHE_DIR, _cache_key(source, tag) + ".code")
            code = load_code(cached)
            if code is not None:
                return stat, code
        stat, co = original_rewrite_test(fn, config, *args, **kwargs)
        if cached:
            store_code(cached, co)
        return stat, co

    if original_rewrite_test is not None:
        rewrite._rewrite_test = _rewrite_test
    # The probes name rootdir-relative paths: pyc files of another rootdir are not ours.
    import hashlib

    rootdir_tag = hashlib.blake2b(RECORDER.rootdir.encode(), digest_size=4).hexdigest() if RECORDER else ""
    rewrite.PYTEST_TAG = rewrite.PYTEST_TAG + "-fastest" + PROBES_VERSION + rootdir_tag
    # The pyc name uses PYC_TAIL, computed from PYTEST_TAG at import: without this,
    # pytest would load its own probe-less pyc files and record nothing for tests.
    rewrite.PYC_TAIL = "." + rewrite.PYTEST_TAG + rewrite.PYC_EXT
    hook_type = rewrite.AssertionRewritingHook
    original_exec = hook_type.exec_module

    def exec_module(self, module):
        __tracebackhide__ = True  # pytest leaves this frame out of import-error tracebacks
        rel = RECORDER.relpath(module.__spec__.origin) if (RECORDER and module.__spec__ and module.__spec__.origin) else None
        if rel is None:
            return original_exec(self, module)
        frame = RECORDER.push_import(rel)
        try:
            return original_exec(self, module)
        finally:
            # conftests' import-time effects reach every test; test modules' do not.
            is_conftest = rel.rsplit("/", 1)[-1] == "conftest.py"
            RECORDER.pop_import(rel, frame, module, merge=is_conftest)

    hook_type.exec_module = exec_module
