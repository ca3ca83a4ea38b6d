"""Synthetic test-suite generator for collection scaling measurements, with a --compare mode timing pytest vs fastest --collect-only on it.

Generate (deterministic; default 5000 tests over 100 files in 10 packages):

    python3 benches/synthetic.py /tmp/synth
    python3 benches/synthetic.py /tmp/synth --tests 20000 --files 400

Generate and compare (one row per size; --tests takes a comma-separated list, each size
then goes to DIR/t<N>):

    python3 benches/synthetic.py /tmp/synth --compare \
        --python /tmp/corpus/toolz/venv/bin/python --tests 1000,5000,20000 --repeat 3

The suite mixes plain test functions (some using a conftest fixture), Test* classes,
literal @pytest.mark.parametrize (ints, tuples, explicit ids, stacked decorators) and
parametrized methods. Everything is static, so a static collector should see all of it.
Timing and comparison reuse collect_compare.py (same table, JSON in bench-out/synthetic.json,
differences in bench-out/synthetic-*.diff). Standard library only.

To time a full RUN of the generated suite (pytest vs fastest, -n 1, --engine pytest) use
benches/synthetic_run.py, which imports generate() from here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import collect_compare as cc  # noqa: E402

MARKER = ".fastest_synthetic_suite"


# --------------------------------------------------------------------------- generation


def _block(kind: int, n: int, uid: str):
    """Source for one block of exactly n tests (n >= 1). Returns (source, tests)."""
    if kind == 0 or n == 1:  # plain function, every other one uses the fixture
        if int(uid.split("_")[-1]) % 2:
            return f"def test_plain_{uid}(sample_value):\n    assert sample_value == 42\n", 1
        return f"def test_plain_{uid}():\n    assert {uid.split('_')[-1]} >= 0\n", 1
    if kind == 1:  # class with n methods
        body = "".join(f"    def test_m{i}(self):\n        assert self.base + {i} >= {i}\n\n" for i in range(n))
        return f"class TestCls_{uid}:\n    base = 1\n\n{body}", n
    if kind == 2:  # parametrize over ints
        vals = ", ".join(str(i) for i in range(n))
        return (f"@pytest.mark.parametrize(\"x\", [{vals}])\n"
                f"def test_int_{uid}(x):\n    assert x >= 0\n"), n
    if kind == 3:  # two argnames, tuple values with strings
        vals = ", ".join(f"(\"v{i}\", {i})" for i in range(n))
        return (f"@pytest.mark.parametrize(\"name,num\", [{vals}])\n"
                f"def test_tuple_{uid}(name, num):\n    assert name == f\"v{{num}}\"\n"), n
    if kind == 4:  # explicit ids
        vals = ", ".join(str(i * 10) for i in range(n))
        ids = ", ".join(f"\"case{i}\"" for i in range(n))
        return (f"@pytest.mark.parametrize(\"x\", [{vals}], ids=[{ids}])\n"
                f"def test_ids_{uid}(x):\n    assert x % 10 == 0\n"), n
    if kind == 5:  # parametrized method in a class
        vals = ", ".join(f"\"s{i}\"" for i in range(n))
        return (f"class TestParamCls_{uid}:\n"
                f"    @pytest.mark.parametrize(\"s\", [{vals}])\n"
                f"    def test_pm(self, s):\n        assert s.startswith(\"s\")\n"), n
    if kind == 6:  # stacked parametrize: a x b == n when n is even, else plain ints
        if n % 2 == 0:
            a = ", ".join(str(i) for i in range(n // 2))
            return (f"@pytest.mark.parametrize(\"a\", [{a}])\n"
                    f"@pytest.mark.parametrize(\"b\", [True, False])\n"
                    f"def test_stack_{uid}(a, b):\n    assert a >= 0\n"), n
        return _block(2, n, uid)
    raise ValueError(kind)


def _file_source(budget: int, file_idx: int) -> str:
    parts = [f"# synthetic test module {file_idx} ({budget} tests)\nimport pytest\n\n"]
    left, k = budget, 0
    while left > 0:
        kind = (file_idx + k) % 7
        size = 1 if kind == 0 else min(left, 3 + (file_idx + k) % 6)
        src, got = _block(kind, size, f"{file_idx}_{k}")
        parts.append(src + "\n\n")
        left -= got
        k += 1
    return "".join(parts)


def generate(dest: Path, tests: int, files: int, dirs: int) -> Path:
    """Write the suite to dest (replacing a previous synthetic suite there). Returns dest."""
    if dest.exists() and any(dest.iterdir()):
        if not (dest / MARKER).exists():
            raise SystemExit(f"refusing to overwrite non-empty {dest} (no {MARKER} marker)")
        shutil.rmtree(dest)
    files = max(1, min(files, tests))
    dirs = max(1, min(dirs, files))
    tests_dir = dest / "tests"
    tests_dir.mkdir(parents=True)
    (dest / MARKER).write_text(f"tests={tests} files={files} dirs={dirs}\n")
    # pin rootdir to the suite so no parent configuration applies
    (dest / "pytest.ini").write_text("[pytest]\n")
    (tests_dir / "conftest.py").write_text(
        "# synthetic suite: shared fixture\nimport pytest\n\n\n"
        "@pytest.fixture\ndef sample_value():\n    return 42\n")
    (tests_dir / "__init__.py").write_text("")
    for d in range(dirs):
        pkg = tests_dir / f"pkg_{d:03d}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
    for f in range(files):
        budget = tests // files + (1 if f < tests % files else 0)
        if budget == 0:
            continue
        path = tests_dir / f"pkg_{f % dirs:03d}" / f"test_mod_{f:05d}.py"
        path.write_text(_file_source(budget, f))
    return dest


# --------------------------------------------------------------------------- compare


def pytest_command(python: str) -> list:
    """Prefer the venv's pytest script next to the interpreter (like run.sh), else -m pytest."""
    script = Path(python).parent / "pytest"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [python, "-m", "pytest"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="directory to generate into (replaced if it holds a previous synthetic suite)")
    ap.add_argument("--tests", default="5000", help="total tests; a comma-separated list generates DIR/t<N> per size (default 5000)")
    ap.add_argument("--files", type=int, default=100, help="test files per suite (default 100)")
    ap.add_argument("--files-scale", action="store_true",
                    help="with several --tests sizes, scale the file count proportionally (--files is for the first size)")
    ap.add_argument("--dirs", type=int, default=10, help="packages the files are spread over (default 10)")
    ap.add_argument("--compare", action="store_true", help="also time pytest vs fastest --collect-only -q on it")
    ap.add_argument("--python", default=sys.executable, help="interpreter that has pytest (default: this one)")
    cc.add_common_options(ap)
    opts = ap.parse_args(argv)

    sizes = [int(x) for x in opts.tests.split(",") if x.strip()]
    root = Path(opts.dir).resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            print(f"refusing to overwrite non-empty {root} (no {MARKER} marker)", file=sys.stderr)
            return 2
        shutil.rmtree(root)  # a previous synthetic suite: regenerate from scratch
    if len(sizes) > 1:
        root.mkdir(parents=True)
        (root / MARKER).write_text(f"sizes={opts.tests}\n")
    suites = []
    for n in sizes:
        files = opts.files * n // sizes[0] if opts.files_scale else opts.files
        dest = root if len(sizes) == 1 else root / f"t{n}"
        generate(dest, n, files, opts.dirs)
        print(f"generated {n} tests in {min(files, n)} files under {dest}", file=sys.stderr)
        suites.append((f"synthetic-{n}t-{min(files, n)}f", dest, n))
    if not opts.compare:
        return 0

    python = opts.python
    chk = subprocess.run([python, "-c", "import pytest; print(pytest.__version__)"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if chk.returncode != 0:
        print(f"{python} cannot import pytest; pass --python, e.g. /tmp/corpus/toolz/venv/bin/python",
              file=sys.stderr)
        return 2
    opts.out = Path(opts.out)
    opts.out.mkdir(parents=True, exist_ok=True)
    fastest = str(Path(opts.fastest).resolve()) if os.sep in opts.fastest else (shutil.which(opts.fastest) or opts.fastest)
    info = cc.environment_info(fastest)
    info.update(python=python, pytest_version=chk.stdout.strip(), repeat=opts.repeat)
    rows = []
    for name, dest, n in suites:
        row = cc.compare_suite(
            name, dest,
            pytest_cmd=pytest_command(python) + ["-p", "no:cacheprovider", "tests"],
            fastest_cmd=[fastest, "--python", python, "tests"],
            cache_dir=dest / ".fastest_cache", args=["tests"], opts=opts,
        )
        row["expected_tests"] = n
        if row["pytest"].get("ids") not in (None, n):
            row["note"] = f"pytest collected {row['pytest'].get('ids')} ids, generator expected {n}"
        rows.append(row)
    table = cc.markdown_table(rows)
    cc.write_json(opts.out / "synthetic.json", info, rows, table)
    print(table)
    print()
    print(cc.details(rows))
    for r in rows:
        if r.get("note"):
            print(f"- {r['project']}: NOTE {r['note']}")
    print(f"\nJSON: {opts.out / 'synthetic.json'}; differences: {opts.out}/synthetic-*.diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
