//! Integration tests for `--cov`: the built `fastest` binary against pytest-cov on
//! `tests/run_fixtures/coverage` — the same coverage section (report table, fail-under
//! lines) and exit code on both engines, with one and two workers, with branch coverage,
//! and on later runs served from the cache (also after an edit that shifts line numbers);
//! coverage.py missing is a usage error.
//!
//! Interpreter: `$FASTEST_TEST_PYTHON` (default `.venv-test/bin/python`, created by
//! `bash scripts/test.sh` with pytest-cov and coverage pinned).

mod common;

use common::{copy_dir, python, repo_root};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("tests/run_fixtures/coverage"),
        dir.path(),
        &[".fastest_cache"],
    );
    dir
}

fn run(cmd: &mut Command) -> Output {
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env_remove("PYTEST_ADDOPTS")
        .stdin(Stdio::null())
        .output()
        .expect("process starts")
}

fn fastest(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir)
        .arg("--python")
        .arg(python())
        .args(args))
}

fn pytest(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(python())
        .current_dir(dir)
        .args(["-m", "pytest", "-p", "no:cacheprovider"])
        .args(args))
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// pytest-cov's part of the output: the `Coverage failure` line written at the end of
/// the test loop, and the `tests coverage` section up to the next `=` separator.
fn coverage_output(o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout);
    let mut out = String::new();
    let mut inside = false;
    for line in stdout.lines() {
        if line.starts_with("ERROR: Coverage failure") {
            out.push_str(line);
            out.push('\n');
        }
        if line.contains(" tests coverage ") {
            inside = true;
        } else if inside && line.starts_with('=') {
            break;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out.contains("TOTAL"),
        "no coverage report in the output:\n{}",
        text(o)
    );
    out
}

fn assert_same_coverage(reference: &Output, ours: &Output, what: &str) {
    assert_eq!(
        coverage_output(ours),
        coverage_output(reference),
        "{what}: coverage output differs from pytest-cov's\n--- fastest:\n{}",
        text(ours)
    );
    assert_eq!(
        ours.status.code(),
        reference.status.code(),
        "{what}: exit codes differ\n{}",
        text(ours)
    );
}

const TERM_MISSING: &[&str] = &["--cov=pkg", "--cov-report=term-missing"];

#[test]
fn report_matches_pytest_cov_on_both_engines_and_worker_counts() {
    let dir = project();
    let reference = pytest(dir.path(), TERM_MISSING);
    // The engine is part of what a cached result depends on: each engine's first run
    // measures everything, its second reuses the passes.
    for (engine, workers) in [("native", "1"), ("native", "2"), ("pytest", "2")] {
        let mut args = TERM_MISSING.to_vec();
        args.extend(["--no-cache", "--engine", engine, "-n", workers]);
        let ours = fastest(dir.path(), &args);
        assert_same_coverage(&reference, &ours, &format!("{engine} engine, -n {workers}"));
        if workers == "1" {
            continue;
        }
        // Only the failing test runs now; the report still counts what the cached
        // tests executed.
        let mut args = TERM_MISSING.to_vec();
        args.extend(["--engine", engine, "-n", workers]);
        let warm = fastest(dir.path(), &args);
        assert!(
            String::from_utf8_lossy(&warm.stdout).contains("4 cached"),
            "expected the passes to be cached\n{}",
            text(&warm)
        );
        assert_same_coverage(&reference, &warm, &format!("cached run, {engine} engine"));
    }
}

#[test]
fn cov_append_and_cov_reset_match_pytest_cov() {
    // One test file measured, then the other appended to the data file: the second
    // report covers both, as pytest-cov's.
    let dir = project();
    let first = [
        "--cov=pkg",
        "--cov-report=term-missing",
        "tests/test_calc.py",
    ];
    let second = [
        "--cov=pkg",
        "--cov-report=term-missing",
        "--cov-append",
        "tests/test_fail.py",
    ];
    pytest(dir.path(), &first);
    let reference = pytest(dir.path(), &second);
    let ours_dir = project();
    fastest(
        ours_dir.path(),
        &["--no-cache"]
            .iter()
            .chain(&first)
            .copied()
            .collect::<Vec<_>>(),
    );
    let ours = fastest(
        ours_dir.path(),
        &["--no-cache"]
            .iter()
            .chain(&second)
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_same_coverage(&reference, &ours, "--cov-append");
    // Without it the second report counts only the second file's tests: a different table.
    let alone = pytest(
        dir.path(),
        &second[..2]
            .iter()
            .chain(&second[3..])
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_ne!(
        coverage_output(&alone),
        coverage_output(&reference),
        "the fixture shows the difference"
    );
    // `--cov-reset` forgets `--cov=nothing_here` (which would measure nothing).
    let reset = [
        "--cov=nothing_here",
        "--cov-reset",
        "--cov=pkg",
        "--cov-report=term-missing",
    ];
    let reference = pytest(dir.path(), &reset);
    let ours = fastest(
        ours_dir.path(),
        &["--no-cache"]
            .iter()
            .chain(&reset)
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_same_coverage(&reference, &ours, "--cov-reset");
}

#[test]
fn no_cover_mark_and_fixture_match_pytest_cov() {
    // `never_called` runs only inside no_cover tests: it stays uncovered, as pytest-cov
    // leaves it.
    let dir = project();
    std::fs::write(
        dir.path().join("tests/test_no_cover.py"),
        "import pytest\n\nfrom pkg import calc\n\n\n@pytest.mark.no_cover\ndef test_marked():\n    assert calc.never_called() == 2\n\n\ndef test_fixture(no_cover):\n    assert calc.never_called() == 2\n",
    )
    .unwrap();
    let reference = pytest(dir.path(), TERM_MISSING);
    assert!(
        coverage_output(&reference).contains("2-3, 14"),
        "pytest-cov leaves never_called's lines missing:\n{}",
        coverage_output(&reference)
    );
    for engine in ["native", "pytest"] {
        let mut args = TERM_MISSING.to_vec();
        args.extend(["--no-cache", "--engine", engine, "-n", "2"]);
        let ours = fastest(dir.path(), &args);
        assert_same_coverage(&reference, &ours, &format!("no_cover, {engine} engine"));
    }
}

#[test]
fn branch_coverage_and_fail_under_match_pytest_cov() {
    let dir = project();
    let args = [
        "--cov=pkg",
        "--cov-branch",
        "--cov-report=term-missing",
        "--cov-fail-under=95",
    ];
    let reference = pytest(dir.path(), &args);
    assert!(String::from_utf8_lossy(&reference.stdout).contains("FAIL Required test coverage"));
    let first = fastest(dir.path(), &args);
    assert_same_coverage(&reference, &first, "first run");
    let warm = fastest(dir.path(), &args);
    assert!(String::from_utf8_lossy(&warm.stdout).contains("cached"));
    assert_same_coverage(&reference, &warm, "cached run");

    // A threshold that is met: exit code of the tests alone, a green "reached" line.
    std::fs::remove_file(dir.path().join("tests/test_fail.py")).unwrap();
    let met = ["--cov=pkg", "--cov-fail-under=50"];
    assert_same_coverage(&pytest(dir.path(), &met), &fastest(dir.path(), &met), "met");
}

#[test]
fn branch_coverage_from_the_config_file_matches_pytest_cov_when_cached() {
    let dir = project();
    std::fs::write(dir.path().join(".coveragerc"), "[run]\nbranch = True\n").unwrap();
    let reference = pytest(dir.path(), TERM_MISSING);
    assert!(String::from_utf8_lossy(&reference.stdout).contains("Branch"));
    assert_same_coverage(&reference, &fastest(dir.path(), TERM_MISSING), "first run");
    let warm = fastest(dir.path(), TERM_MISSING);
    assert!(String::from_utf8_lossy(&warm.stdout).contains("4 cached"));
    assert_same_coverage(&reference, &warm, "cached run");
}

/// Branch coverage configured but nothing of the sources executed (async-lru's tests
/// import an installed copy): pytest-cov's table has no branch columns, since its data
/// has no arcs.
#[test]
fn branch_coverage_of_sources_nothing_ran_has_no_branch_columns_as_in_pytest_cov() {
    let dir = project();
    std::fs::write(dir.path().join(".coveragerc"), "[run]\nbranch = True\n").unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(
        other.join("__init__.py"),
        "def f(x):\n    if x:\n        return 1\n    return 2\n",
    )
    .unwrap();
    let args = ["--cov=other", "--cov-report=term-missing"];
    let reference = pytest(dir.path(), &args);
    assert!(!String::from_utf8_lossy(&reference.stdout).contains("Branch"));
    assert_same_coverage(&reference, &fastest(dir.path(), &args), "first run");
    assert_same_coverage(&reference, &fastest(dir.path(), &args), "cached run");
}
#[test]
fn an_edit_that_shifts_lines_reruns_the_tests_that_cover_the_file() {
    let dir = project();
    let first = fastest(dir.path(), TERM_MISSING);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    // A line added to a function no test calls: the dependency records alone would
    // reuse every pass, whose stored lines below it would then be off by one.
    let calc = dir.path().join("pkg/calc.py");
    let source = std::fs::read_to_string(&calc).unwrap();
    let edited = source.replace("    value = 1\n", "    value = 1\n    value += 1\n");
    assert_ne!(edited, source);
    std::fs::write(&calc, edited).unwrap();
    let reference = pytest(dir.path(), TERM_MISSING);
    let after = fastest(dir.path(), TERM_MISSING);
    assert_same_coverage(&reference, &after, "after the edit");
    let out = String::from_utf8_lossy(&after.stdout);
    assert!(
        !out.contains("cached"),
        "tests covering the edited file must rerun\n{out}"
    );
    // Nothing changed since: everything that passed is served from the cache.
    let again = fastest(dir.path(), TERM_MISSING);
    assert!(String::from_utf8_lossy(&again.stdout).contains("4 cached"));
    assert_same_coverage(&reference, &again, "cached after the edit");
}

#[test]
fn run_changed_with_nothing_to_run_still_reports_coverage() {
    let dir = project();
    std::fs::remove_file(dir.path().join("tests/test_fail.py")).unwrap();
    let reference = pytest(dir.path(), TERM_MISSING);
    fastest(dir.path(), TERM_MISSING);
    let changed = run(Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir.path())
        .args(["run", "--changed", "--python"])
        .arg(python())
        .args(TERM_MISSING));
    assert!(String::from_utf8_lossy(&changed.stdout).contains("nothing to run"));
    assert_same_coverage(&reference, &changed, "run --changed");
}

#[test]
fn coverage_py_missing_is_a_usage_error_that_says_how_to_install_it() {
    let dir = project();
    let wrapper = dir.path().join("python-no-site");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} -S \"$@\"\n", python().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir.path())
        .arg("--python")
        .arg(&wrapper)
        .args(["--cov=pkg", "--engine", "native"]));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("coverage.py is not installed") && err.contains("pip install coverage"),
        "{}",
        text(&out)
    );
}

/// The report files pytest-cov writes, with what differs between two runs of one tool
/// (timestamps, versions, paths of the temporary project) taken out.
fn report_files(dir: &Path) -> Vec<(String, String)> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    };
    let xml: String = read("cov.xml")
        .lines()
        .filter(|l| !l.contains("<source>"))
        .map(|l| match l.find(" timestamp=\"") {
            Some(i) => {
                let end = l[i + 12..].find('"').map_or(l.len(), |j| i + 13 + j);
                format!("{}{}", &l[..i], &l[end..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let json = read("cov.json");
    let json = &json[json.find("\"files\"").expect("files in the JSON report")..];
    let mut html: Vec<String> = std::fs::read_dir(dir.join("htmlcov"))
        .expect("an html report")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("coverage_html_cb"))
        .collect();
    html.sort();
    vec![
        ("xml".into(), xml),
        ("json".into(), json.to_string()),
        ("lcov".into(), read("cov.lcov")),
        ("html files".into(), html.join("\n")),
    ]
}

#[test]
fn file_reports_match_pytest_covs_also_from_the_cache() {
    const FILE_REPORTS: &[&str] = &[
        "--cov=pkg",
        "--cov-report=term",
        "--cov-report=xml:cov.xml",
        "--cov-report=json:cov.json",
        "--cov-report=lcov:cov.lcov",
        "--cov-report=html:htmlcov",
    ];
    let dir = project();
    let reference = pytest(dir.path(), FILE_REPORTS);
    let expected = report_files(dir.path());
    for (what, extra) in [("first run", &["--no-cache"][..]), ("cached run", &[][..])] {
        for f in ["cov.xml", "cov.json", "cov.lcov"] {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        std::fs::remove_dir_all(dir.path().join("htmlcov")).unwrap();
        let mut args = FILE_REPORTS.to_vec();
        args.extend(["-n", "2"]);
        args.extend(extra);
        let ours = fastest(dir.path(), &args);
        assert_same_coverage(&reference, &ours, what);
        for ((kind, got), (_, want)) in report_files(dir.path()).iter().zip(&expected) {
            assert_eq!(
                got, want,
                "{what}: the {kind} report differs from pytest-cov's"
            );
        }
    }
    // --no-cov: no report at all, as pytest-cov.
    let mut args = FILE_REPORTS.to_vec();
    args.push("--no-cov");
    let ours = fastest(dir.path(), &args);
    let reference = pytest(dir.path(), &args);
    for o in [&ours, &reference] {
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("coverage:"),
            "{}",
            text(o)
        );
    }
    assert_eq!(ours.status.code(), reference.status.code());
}

#[test]
fn modules_pytest_imports_before_measuring_are_unmeasured_as_under_pytest_cov() {
    // With `minversion` set, pytest imports `packaging.version` before pytest-cov starts:
    // packaging's `__init__` shows 0 % under pytest-cov (it showed 100 % here).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pytest.ini"), "[pytest]\nminversion = 7.0\n").unwrap();
    std::fs::write(
        d.join("test_versions.py"),
        "from packaging.version import Version\n\n\ndef test_order():\n    assert Version(\"1.10\") > Version(\"1.9\")\n",
    )
    .unwrap();
    let args = ["--cov=packaging", "--cov-report=term-missing"];
    let reference = pytest(d, &args);
    assert!(
        coverage_output(&reference).contains("__init__.py"),
        "{}",
        text(&reference)
    );
    for workers in ["1", "2"] {
        let mut ours_args = args.to_vec();
        ours_args.extend(["--no-cache", "-n", workers]);
        let ours = fastest(d, &ours_args);
        assert_same_coverage(&reference, &ours, &format!("-n {workers}"));
    }
}

#[test]
fn coverage_settings_from_pyproject_and_an_explicit_config_file_match_pytest_cov() {
    // `[tool.coverage]` in pyproject.toml (branch coverage, an omitted file), then an
    // explicit `--cov-config` file that overrides it (no branches, another omission).
    let dir = project();
    let d = dir.path();
    std::fs::write(
        d.join("pyproject.toml"),
        "[tool.coverage.run]\nbranch = true\nomit = [\"*/unimported.py\"]\n",
    )
    .unwrap();
    let reference = pytest(d, TERM_MISSING);
    let table = coverage_output(&reference);
    assert!(
        table.contains("Branch") && !table.contains("unimported"),
        "{table}"
    );
    assert_same_coverage(&reference, &fastest(d, TERM_MISSING), "pyproject.toml");

    std::fs::write(d.join("alt.cfg"), "[run]\nomit = */setup_only.py\n").unwrap();
    let mut args = TERM_MISSING.to_vec();
    args.push("--cov-config=alt.cfg");
    let reference = pytest(d, &args);
    let table = coverage_output(&reference);
    assert!(
        !table.contains("Branch") && !table.contains("setup_only"),
        "{table}"
    );
    let mut ours_args = args.clone();
    ours_args.push("--no-cache");
    assert_same_coverage(&reference, &fastest(d, &ours_args), "--cov-config=alt.cfg");
}
