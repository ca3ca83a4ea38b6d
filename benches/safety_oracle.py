#!/usr/bin/env python3
"""Safety oracle for `fastest run --changed`: on real projects, apply one mutation at a
time, find with a full pytest run which tests changed outcome, and check that
`fastest run --changed` (starting from the cache of an unmutated run) selected every one.

Usage: python3 benches/safety_oracle.py [--corpus /tmp/corpus] [--projects a,b]
       [--kinds k1,k2] [--tries N] [--seed S]

The corpus comes from `bash ../shared/corpus/setup_corpus.sh /tmp/corpus public`. Each
project's tree is copied to bench-out/oracle/NAME and its own sources are put first on
PYTHONPATH (the corpus venvs install the projects non-editable, so without that an edit
to the library would not reach the tests). Both pytest and fastest run with the same
arguments (the corpus run.sh) and the same environment.

Mutation kinds (per project; a kind a project has no instance of is reported as n/a):
  function_body   `raise RuntimeError` as the first statement of a library function
  module_constant a module-level constant of the library changes value
  class_attribute a class attribute of the library changes value
  setup_class     a failing `setup_class` is added to a test class (edited if it has one)
  conftest_fixture a fixture in a conftest.py raises (session/module/class scope first)
  data_file       a non-Python file the tests read gets different content
  env_var         an environment variable the code reads is set (per-project choice)
  dependency      an installed dependency's version changes (dist-info renamed: same
                  code, so outcomes do not change; checks that everything is rerun)
  shadow          a new module file that shadows an import the tests make
  deleted_module  a library module is deleted

For each mutation: changed = tests whose pytest outcome differs from the unmutated
baseline (including tests that vanish or appear); selected = tests in the JUnit file of
`fastest run --changed`, plus every test of a module fastest reported a collection error
for. escapes = changed - selected (must be empty). Precision = selected / suite size.
Tests whose outcome differs between two unmutated pytest runs (flaky) are left out.

Random choices (which function, constant, ...) use --seed; up to --tries candidates per
kind are applied, stopping at the first that changes an outcome (a mutation no test
notices proves little). Every mutation is undone before the next, and the fastest cache
is restored to the baseline snapshot before each `--changed` run. The snapshot is taken
after the recording run and one unmutated `run --changed`, whose verdicts store the
summaries of the sets they found unchanged (`depset_summaries`): the mutated runs' verdicts
then go through those summaries, as in a working copy's later runs.
Writes bench-out/oracle.json and prints a Markdown table.
"""
import argparse
import ast
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from incremental_bench import pytest_args  # noqa: E402
from junit_compare import parse_junit  # noqa: E402

ROOT = os.path.dirname(HERE)
FASTEST = os.path.join(ROOT, "target", "release", "fastest")
OUT = os.path.join(ROOT, "bench-out")
MARK = "fastest safety oracle"

# project -> package dirs (relative to the project tree), the PYTHONPATH entry that makes
# the tree's sources win, extra pytest args / a narrower test selection, the shadowing file
# (path, content), the env var to set, the data files to change, the dependency to bump.
PROJECTS = {
    "humanize": dict(pkg=["src/humanize"], path="src", shadow=("freezegun.py", ""),
                     env=("LANGUAGE", "fr_FR"), data=[], dep="freezegun"),
    "flask": dict(pkg=["src/flask"], path="src", shadow=("tests/flask.py", ""),
                  env=("FLASK_DEBUG", "1"), data=["tests/static/config.json", "tests/static/index.html"],
                  dep="werkzeug"),
    "arrow": dict(pkg=["arrow"], path=".", shadow=("dateutil.py", ""), env=("TZ", "Asia/Tokyo"),
                  data=[], dep="python-dateutil"),
    "click": dict(pkg=["src/click"], path="src", shadow=("tests/click.py", ""), env=("TERM", "dumb"),
                  data=[], dep="typing-extensions"),
    "toolz": dict(pkg=["toolz", "tlz"], path=".", shadow=("cytoolz.py", ""), env=("PYTHONHASHSEED", "1"),
                  data=[], dep="pytest"),
    "async-lru": dict(pkg=["async_lru"], path=".", shadow=("tests/async_lru.py", ""),
                      env=("PYTHONASYNCIODEBUG", "1"), data=[], dep="pytest-asyncio"),
    "pygments": dict(pkg=["pygments"], path=".", shadow=("wcag_contrast_ratio.py", ""),
                     env=("COLORTERM", "truecolor"),
                     data=["tests/contrast/min_contrasts.json",
                           "tests/html_linenos_expected_output/inline_cls_step_1_start_1_special_0_anchor_filename.html"],
                     dep="wcag-contrast-ratio",
                     tests=["tests/test_html_formatter_linenos_elements.py", "tests/contrast",
                            "tests/test_html_formatter.py", "tests/test_token.py", "tests/test_util.py",
                            "tests/test_regexlexer.py", "tests/test_terminal_formatter.py"]),
}
KINDS = ["function_body", "module_constant", "class_attribute", "setup_class", "conftest_fixture",
         "data_file", "env_var", "dependency", "shadow", "deleted_module"]


def run(cmd, cwd, env, timeout=1200):
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        code, tail = p.returncode, (p.stdout + p.stderr)[-600:]
    except subprocess.TimeoutExpired:
        code, tail = "timeout", ""
    return time.perf_counter() - start, code, tail


def outcomes(path):
    try:
        return dict(parse_junit(path)["cases"])
    except (OSError, Exception):  # a run that wrote no JUnit file: no outcomes
        return {}


def covered(key, error_modules):
    """Whether a test key falls under a module fastest reported a collection error for."""
    cls = key[0]
    return any(cls == m or cls.startswith(m + ".") for m in error_modules)


# ---- finding mutation sites ------------------------------------------------------------

def py_files(tree, dirs, tests):
    out = []
    for d in dirs:
        for f in sorted(glob.glob(os.path.join(tree, d, "**", "*.py"), recursive=True)):
            rel = os.path.relpath(f, tree)
            is_test = "/tests/" in "/" + rel or os.path.basename(f).startswith(("test_", "conftest"))
            if is_test == tests:
                out.append(rel)
    return out


def parse(tree, rel):
    src = open(os.path.join(tree, rel), encoding="utf-8").read()
    try:
        return src, ast.parse(src)
    except SyntaxError:
        return src, None


def body_start(fn):
    """The first statement of a function body after its docstring (None: one-liner)."""
    body = fn.body
    if (len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        body = body[1:]
    first = body[0]
    return first if first.lineno > fn.lineno and first.lineno > getattr(fn.args, "end_lineno", fn.lineno) else None


def insert_line(src, lineno, col, text):
    lines = src.splitlines(keepends=True)
    lines.insert(lineno - 1, " " * col + text + "\n")
    return "".join(lines)


def raise_in(src, fn):
    first = body_start(fn)
    if first is None or first.col_offset == 0:
        return None
    return insert_line(src, first.lineno, first.col_offset, "raise RuntimeError(%r)" % MARK)


def changed_constant(src, node):
    """src with the literal `node` replaced by a different literal of the same type."""
    v = node.value
    if isinstance(v, bool) or v is None:
        new = repr(not v) if isinstance(v, bool) else "0"
    elif isinstance(v, (int, float)):
        new = repr(v + 1)
    elif isinstance(v, str):
        new = repr(v + "~")
    elif isinstance(v, bytes):
        new = repr(v + b"~")
    else:
        return None
    if node.lineno != node.end_lineno:
        return None
    lines = src.splitlines(keepends=True)
    line = lines[node.lineno - 1]
    lines[node.lineno - 1] = line[:node.col_offset] + new + line[node.end_col_offset:]
    return "".join(lines)


def literal_assign(stmt):
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        name = stmt.targets[0].id
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        name = stmt.target.id
    else:
        return None
    if name.startswith("__") or name == "TYPE_CHECKING" or not isinstance(stmt.value, ast.Constant):
        return None
    return name, stmt.value


def candidates(kind, tree, cfg, pargs):
    """Yields (description, apply) pairs; apply() changes the tree and returns undo()."""
    lib = py_files(tree, cfg["pkg"], tests=False)
    test_dirs = cfg.get("tests") or ["tests"] + cfg["pkg"]

    def edit(rel, new_src, desc):
        path = os.path.join(tree, rel)

        def apply():
            old = open(path, encoding="utf-8").read()
            open(path, "w", encoding="utf-8").write(new_src)
            return lambda: open(path, "w", encoding="utf-8").write(old)
        return desc, apply

    if kind in ("function_body", "module_constant", "class_attribute"):
        for rel in lib:
            src, mod = parse(tree, rel)
            if mod is None:
                continue
            if kind == "function_body":
                for fn in ast.walk(mod):
                    if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        new = raise_in(src, fn)
                        if new:
                            yield edit(rel, new, "%s: %s() raises" % (rel, fn.name))
            elif kind == "module_constant":
                for stmt in mod.body:
                    hit = literal_assign(stmt)
                    if hit and (new := changed_constant(src, hit[1])):
                        yield edit(rel, new, "%s: %s = %s changed" % (rel, hit[0], ast.unparse(hit[1])[:30]))
            else:
                for cls in ast.walk(mod):
                    if isinstance(cls, ast.ClassDef):
                        for stmt in cls.body:
                            hit = literal_assign(stmt)
                            if hit and (new := changed_constant(src, hit[1])):
                                yield edit(rel, new, "%s: %s.%s changed" % (rel, cls.name, hit[0]))
    elif kind == "setup_class":
        for rel in py_files(tree, test_dirs, tests=True):
            src, mod = parse(tree, rel)
            if mod is None:
                continue
            for cls in mod.body:
                if not (isinstance(cls, ast.ClassDef) and cls.name.startswith("Test")) or cls.bases:
                    continue
                if not any(isinstance(f, ast.FunctionDef) and f.name.startswith("test") for f in cls.body):
                    continue
                existing = [f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "setup_class"]
                if existing:
                    new = raise_in(src, existing[0])
                    desc = "%s: %s.setup_class raises" % (rel, cls.name)
                else:
                    first = cls.body[0]
                    at = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
                    added = ["@classmethod", "def setup_class(cls):", "    raise RuntimeError(%r)" % MARK]
                    new = src
                    for line in reversed(added):  # each insert goes above the previous one
                        new = insert_line(new, at, first.col_offset, line)
                    desc = "%s: a failing setup_class added to %s" % (rel, cls.name)
                if new:
                    yield edit(rel, new, desc)
    elif kind == "conftest_fixture":
        found = []
        for rel in sorted(glob.glob(os.path.join(tree, "**", "conftest.py"), recursive=True)):
            rel = os.path.relpath(rel, tree)
            if ".fastest_cache" in rel or "/build/" in rel:
                continue
            src, mod = parse(tree, rel)
            for fn in ast.walk(mod) if mod else []:
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                decos = [ast.unparse(d) for d in fn.decorator_list]
                if not any("fixture" in d for d in decos):
                    continue
                scoped = any(("scope='%s'" % s) in d or ('scope="%s"' % s) in d for d in decos
                             for s in ("session", "package", "module", "class"))
                new = raise_in(src, fn)
                if new:
                    found.append((not scoped, rel, fn.name, new, decos))
        for _, rel, name, new, decos in sorted(found, key=lambda f: f[0]):
            yield edit(rel, new, "%s: fixture %s (%s) raises" % (rel, name, ", ".join(decos)))
    elif kind == "data_file":
        for rel in cfg["data"]:
            path = os.path.join(tree, rel)
            old = open(path, "rb").read()
            if rel.endswith(".json"):
                data = json.loads(old)
                # Change one value deep inside so the JSON stays valid.
                if isinstance(data, dict) and data:
                    k = sorted(data)[0]
                    data[k] = (data[k] + 1) if isinstance(data[k], (int, float)) and not isinstance(data[k], bool) else "changed"
                new = json.dumps(data).encode()
            else:
                new = old.replace(b"<", b"< ", 1)
            yield edit(rel, new.decode(), "%s: content changed" % rel)
    elif kind == "shadow":
        rel, content = cfg["shadow"]
        path = os.path.join(tree, rel)

        def apply():
            open(path, "w").write(content)
            return lambda: os.remove(path)
        yield "new file %s shadows `import %s`" % (rel, os.path.basename(rel)[:-3]), apply
    elif kind == "deleted_module":
        for rel in lib:
            if os.path.basename(rel) == "__init__.py":
                continue
            path = os.path.join(tree, rel)

            def apply(path=path):
                old = open(path, "rb").read()
                os.remove(path)
                return lambda: open(path, "wb").write(old)
            yield "%s deleted" % rel, apply


def run_project(name, cfg, args, kinds):
    corpus = os.path.join(args.corpus, name)
    py = os.path.join(corpus, "venv", "bin", "python")
    tree = os.path.join(OUT, "oracle", name)
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(os.path.join(corpus, "src"), tree, symlinks=True,
                    ignore=shutil.ignore_patterns(".fastest_cache", "__pycache__"))
    pargs = pytest_args(os.path.join(corpus, "run.sh"))
    if cfg.get("tests"):
        pargs = [a for a in pargs if a != "tests"] + cfg["tests"]
    env = dict(os.environ)
    for k in ("PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE"):
        env.pop(k, None)
    env["PYTHONPATH"] = os.path.normpath(os.path.join(tree, cfg["path"]))
    work = os.path.join(OUT, "oracle", name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # Per-test outcomes even when a module fails to collect (pytest would otherwise
    # interrupt the session and every test would look changed).
    pytest_cmd = [py, "-m", "pytest"] + pargs + ["-q", "--continue-on-collection-errors"]
    fastest_cmd = [FASTEST, "--python", py] + pargs + ["-q"]

    def pytest_outcomes(tag, env=env):
        xml = os.path.join(work, tag + ".pytest.xml")
        t, code, tail = run(pytest_cmd + ["--junitxml", xml], tree, env)
        return outcomes(xml), t, code

    base, t_base, _ = pytest_outcomes("base")
    again, _, _ = pytest_outcomes("base2")
    flaky = {k for k in set(base) | set(again) if base.get(k) != again.get(k)}
    # The recording run whose cache every `--changed` run starts from.
    shutil.rmtree(os.path.join(tree, ".fastest_cache"), ignore_errors=True)
    fx = os.path.join(work, "base.fastest.xml")
    t_f, code, tail = run(fastest_cmd + ["--junitxml", fx], tree, env)
    fbase = outcomes(fx)
    same = sum(1 for k, v in base.items() if fbase.get(k) == v)
    # Then an unmutated `run --changed`, as every later run of a working copy: its
    # verdicts store the summaries of the sets they found unchanged, so each mutation's
    # verdicts go through those (a summary must never hide a change).
    changed_base = [FASTEST, "run", "--changed"] + fastest_cmd[1:] + ["--continue-on-collection-errors"]
    run(changed_base + ["--junitxml", os.path.join(work, "base.changed.xml")], tree, env)
    snapshot = os.path.join(work, "cache-snapshot")
    shutil.copytree(os.path.join(tree, ".fastest_cache"), snapshot)
    print("%s: %d tests (pytest %.1fs), %d flaky, fastest baseline %d/%d identical"
          % (name, len(base), t_base, len(flaky), same, len(base)), file=sys.stderr)
    results = []
    rng = random.Random("%s-%s" % (args.seed, name))
    for kind in kinds:
        env_m = dict(env)
        if kind == "env_var":
            var, value = cfg["env"]
            env_m[var] = value
            cands = [("%s=%s set" % (var, value), lambda: (lambda: None))]
        elif kind == "dependency":
            cands = list(dependency_candidates(py, cfg["dep"]))
        else:
            cands = list(candidates(kind, tree, cfg, pargs))
            if kind in ("function_body", "module_constant", "class_attribute", "deleted_module", "setup_class"):
                rng.shuffle(cands)
        if not cands:
            results.append(dict(project=name, kind=kind, desc="n/a (no instance in this project)"))
            continue
        for i, (desc, apply) in enumerate(cands[: args.tries]):
            undo = apply()
            try:
                tag = "%s-%d" % (kind, i)
                mutated, _, _ = pytest_outcomes(tag, env_m)
                shutil.rmtree(os.path.join(tree, ".fastest_cache"), ignore_errors=True)
                shutil.copytree(snapshot, os.path.join(tree, ".fastest_cache"))
                sx = os.path.join(work, tag + ".fastest.xml")
                if os.path.exists(sx):
                    os.remove(sx)
                # As the reference pytest run: a module that fails to collect must not
                # interrupt the session (both tools stop before any test without it, and
                # the tests not run then would look like escapes; they stay selected).
                t_sel, code, tail = run(changed_base + ["--junitxml", sx], tree, env_m)
                # Tests of a file the mutation deleted no longer exist: nothing can select them.
                vanished = {k for k in base if k not in mutated and not source_exists(tree, k[0])}
            finally:
                undo()
            sel = outcomes(sx)
            errors = {k[1] for k, v in sel.items() if k[0] == "" and "error" in v}
            changed = {k for k in set(base) | set(mutated) if base.get(k) != mutated.get(k)} - flaky
            changed = {k for k in changed if k[0] != ""} - vanished  # error entries are module-level
            # Exit 4 with no JUnit file: fastest stopped the whole session with pytest's
            # usage error (a conftest that fails to import) -- every test is reported.
            stopped = code == 4 and not sel
            escapes = sorted(k for k in changed if not stopped and k not in sel and not covered(k, errors))
            selected = sum(1 for k in base if stopped or k in sel or covered(k, errors))
            row = dict(project=name, kind=kind, desc=desc, suite=len(base), changed=len(changed),
                       selected=selected, escapes=["::".join(k) for k in escapes], fastest_exit=code,
                       fastest_s=round(t_sel, 2), fastest_tail=tail if code not in (0, 1, 2) else "", stopped=stopped)
            results.append(row)
            print("  %-16s %-60s changed %4d selected %4d/%d escapes %d (exit %s, %.1fs)"
                  % (kind, desc[:60], len(changed), selected, len(base), len(escapes), code, t_sel), file=sys.stderr)
            if changed or kind in ("dependency", "env_var", "shadow"):
                break
    shutil.rmtree(snapshot, ignore_errors=True)
    return dict(project=name, suite=len(base), flaky=len(flaky), fastest_identical=same, pytest_s=round(t_base, 2),
                fastest_record_s=round(t_f, 2), mutations=results)


def dependency_candidates(py, dist):
    """Renames DIST's dist-info directory to a later version (undone afterwards)."""
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True).stdout.strip()
    norm = dist.replace("-", "_").lower()
    for d in sorted(os.listdir(site)):
        if d.endswith(".dist-info") and d.lower().startswith(norm + "-"):
            old = os.path.join(site, d)
            version = d[len(norm) + 1: -len(".dist-info")]
            new = os.path.join(site, "%s-%s.post99.dist-info" % (d[: len(norm)], version))

            def apply(old=old, new=new):
                os.rename(old, new)
                return lambda: os.rename(new, old)
            yield "%s %s -> %s.post99 (dist-info)" % (dist, version, version), apply
            return


def per_kind_table(report):
    """Escapes and precision per mutation kind over all projects."""
    lines = ["| kind | projects | mutations applied | mutations that changed an outcome | tests with changed outcome | escapes | precision: selected / suite (mean) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        rows = [m for p in report["projects"] for m in p["mutations"] if m["kind"] == kind and "suite" in m]
        if not rows:
            continue
        projects = len({m["project"] for m in rows})
        changing = [m for m in rows if m["changed"]]
        precision = sum(m["selected"] / max(m["suite"], 1) for m in rows) / len(rows)
        lines.append("| %s | %d | %d | %d | %d | %d | %.0f%% |" % (
            kind, projects, len(rows), len(changing), sum(m["changed"] for m in rows),
            sum(len(m["escapes"]) for m in rows), 100 * precision))
    return "\n".join(lines)


def source_exists(tree, classname):
    """Whether the file a JUnit classname comes from (`pkg.mod` or `pkg.mod.Class`) exists."""
    parts = classname.split(".")
    return any(os.path.isfile(os.path.join(tree, *parts[:i]) + ".py") for i in range(len(parts), 0, -1))


def main():
    global FASTEST
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="/tmp/corpus")
    ap.add_argument("--projects", default="humanize,flask,arrow,click,toolz,async-lru,pygments")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--tries", type=int, default=4)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--fastest", default=FASTEST, help="the fastest binary (default: target/release/fastest)")
    ap.add_argument("--from-json", metavar="PATH", help="only print the tables of an earlier run's oracle.json")
    args = ap.parse_args()
    FASTEST = os.path.abspath(args.fastest)
    kinds = args.kinds.split(",")
    if args.from_json:
        report = json.load(open(args.from_json))
    else:
        report = dict(date=time.strftime("%Y-%m-%d %H:%M"), cpus=os.cpu_count(), seed=args.seed, projects=[])
        for name in args.projects.split(","):
            report["projects"].append(run_project(name, PROJECTS[name], args, kinds))
            os.makedirs(OUT, exist_ok=True)
            json.dump(report, open(os.path.join(OUT, "oracle.json"), "w"), indent=1)
    print("| project | kind | mutation | tests with changed outcome | selected / suite | escapes |")
    print("|---|---|---|---:|---:|---:|")
    for p in report["projects"]:
        for m in p["mutations"]:
            if "suite" not in m:
                print("| %s | %s | %s | – | – | – |" % (p["project"], m["kind"], m["desc"]))
                continue
            print("| %s | %s | %s | %d | %d / %d (%.0f%%) | %d |" % (
                p["project"], m["kind"], m["desc"].replace("|", "\\|"), m["changed"], m["selected"], m["suite"],
                100.0 * m["selected"] / max(m["suite"], 1), len(m["escapes"])))
    print()
    print(per_kind_table(report))
    total = sum(len(m.get("escapes", [])) for p in report["projects"] for m in p["mutations"])
    print("\nescapes in total: %d" % total)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
