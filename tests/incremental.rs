//! Integration tests for incremental runs: the built `fastest` binary on
//! `tests/incremental_fixtures/proj`, one test per mutation kind. Each mutation breaks a
//! known test; `fastest run --changed` must select it (safety) and leave an unrelated
//! test alone (precision). Also: a fresh checkout with a copied cache runs nothing, and
//! a killed run is followed by a clean one.
//!
//! Interpreter: `$FASTEST_TEST_PYTHON` (default `.venv-test/bin/python`, created by
//! `bash scripts/test.sh`).

mod common;

use common::{copy_dir, junit_outcomes, python, repo_root};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn project() -> tempfile::TempDir {
    fixture_copy("proj")
}

fn fastest(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    fastest_with(&python(), dir, args, env)
}

fn fastest_with(python: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fastest"));
    cmd.current_dir(dir)
        // Bytecode is written as in a normal checkout: pytest's pyc cache must not hide
        // the probed code from the pytest engine.
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env("NO_COLOR", "1")
        .env_remove("PYTEST_ADDOPTS")
        .env_remove("APP_MODE")
        // A subcommand (`run`, `explain`) comes first.
        .args(args)
        .arg("--python")
        .arg(python)
        // The same options on every run: options are part of the environment digest.
        .args(["-p", "no:cacheprovider"])
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("fastest starts")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Node id → `passed`/`failed` of the tests in a run's JUnit report (cached tests are
/// listed there as passed); empty when `run --changed` had nothing to run.
fn executed(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> BTreeMap<String, String> {
    let xml_path = dir.join("run.xml");
    let _ = std::fs::remove_file(&xml_path);
    let mut a = args.to_vec();
    a.extend(["--junitxml", "run.xml"]);
    let out = fastest(dir, &a, env);
    if !xml_path.exists() {
        assert!(
            text(&out).contains("nothing to run"),
            "no JUnit file and no 'nothing to run':\n{}",
            text(&out)
        );
        return BTreeMap::new();
    }
    junit_outcomes(&xml_path)
        .into_iter()
        .map(|(id, outcome)| {
            let failed = outcome.split('+').any(|o| o == "failed" || o == "error");
            (id, if failed { "failed" } else { "passed" }.to_string())
        })
        .collect()
}

fn edit(path: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(s.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, s.replacen(from, to, 1)).unwrap();
}

/// A first full run, all green, recorded.
fn recorded_project() -> tempfile::TempDir {
    let dir = project();
    let first = fastest(dir.path(), &[], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let again = fastest(dir.path(), &["run", "--changed"], &[]);
    assert!(
        text(&again).contains("nothing to run"),
        "an unchanged tree must run nothing:\n{}",
        text(&again)
    );
    dir
}

/// Applies `mutate`, runs `run --changed`, and checks `must` ran and failed and
/// `must_not` did not run.
fn check(mutate: impl FnOnce(&Path), env: &[(&str, &str)], must: &str, must_not: &str) {
    let dir = recorded_project();
    mutate(dir.path());
    let ran = executed(dir.path(), &["run", "--changed"], env);
    assert_eq!(
        ran.get(must).map(String::as_str),
        Some("failed"),
        "{must} must be selected and fail; ran: {ran:?}"
    );
    assert!(
        !ran.contains_key(must_not),
        "{must_not} is unaffected but ran: {ran:?}"
    );
}

const UNRELATED: &str = "tests.test_other::test_unrelated";

#[test]
fn function_body_edit_selects_its_callers_only() {
    check(
        |d| edit(&d.join("pkg/calc.py"), "return a * b", "return a * b + 1"),
        &[],
        "tests.test_things::test_mul",
        "tests.test_things::test_add",
    );
}

#[test]
fn cache_gc_removes_unreachable_sets_and_keeps_the_cache_working() {
    let dir = recorded_project();
    // Another passing body: test_mul is recorded with a new set; its old one is garbage.
    edit(
        &dir.path().join("pkg/calc.py"),
        "return a * b",
        "return b * a",
    );
    let ran = executed(dir.path(), &["run", "--changed"], &[]);
    assert_eq!(
        ran.get("tests.test_things::test_mul").map(String::as_str),
        Some("passed"),
        "{ran:?}"
    );
    let gc = Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir.path())
        .args(["cache", "gc"])
        .output()
        .expect("fastest starts");
    let said = text(&gc);
    assert_eq!(gc.status.code(), Some(0), "{said}");
    let removed: usize = said
        .split("removed ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {said:?}"));
    assert!(removed >= 1, "{said}");
    assert!(said.contains("database"), "{said}");
    // Everything a verdict reads is still there: nothing to run, and a full run reuses
    // every pass.
    let again = fastest(dir.path(), &["run", "--changed"], &[]);
    assert!(text(&again).contains("nothing to run"), "{}", text(&again));
    let all = fastest(dir.path(), &[], &[]);
    assert!(
        !text(&all).contains(" passed") && text(&all).contains(" cached"),
        "{}",
        text(&all)
    );
}

#[test]
fn an_edited_test_module_compiled_ahead_reports_as_compiled_in_the_worker() {
    // A `run --changed` of a few modules compiles the edited test module in a forked
    // child while the worker imports the conftests (`_precompile` in native.py); the
    // report must be the one the worker's own compilation gives (FASTEST_PRECOMPILE=0).
    let report = |precompile: &str| {
        let dir = recorded_project();
        edit(
            &dir.path().join("tests/test_things.py"),
            "assert mul(2, 3) == 6",
            "assert mul(2, 3) == 7",
        );
        let out = fastest(
            dir.path(),
            &["run", "--changed"],
            &[("FASTEST_PRECOMPILE", precompile)],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        // pytest's rewritten assertion: the compared values and where one came from.
        assert!(said.contains("assert 6 == 7"), "{said}");
        assert!(said.contains("where 6 = mul(2, 3)"), "{said}");
        said.lines()
            .filter(|l| !l.contains(" in ") && !l.contains("rootdir"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(report("1"), report("0"));
}

#[test]
fn comment_text_edits_rerun_nothing() {
    // Comments added at line ends and a changed comment keep every line where it was:
    // no block changes, nothing runs. (A comment on a line of its own moves the code
    // below it and is a change.)
    let dir = recorded_project();
    edit(
        &dir.path().join("pkg/calc.py"),
        "return a * b",
        "return a * b  # product",
    );
    edit(
        &dir.path().join("pkg/calc.py"),
        "LIMIT = 10",
        "LIMIT = 10  # the cap",
    );
    let again = fastest(dir.path(), &["run", "--changed"], &[]);
    assert!(text(&again).contains("nothing to run"), "{}", text(&again));
    edit(
        &dir.path().join("pkg/calc.py"),
        "# product",
        "# a*b, exactly",
    );
    let again = fastest(dir.path(), &["run", "--changed"], &[]);
    assert!(text(&again).contains("nothing to run"), "{}", text(&again));
    edit(
        &dir.path().join("pkg/calc.py"),
        "def mul(a, b):\n",
        "def mul(a, b):\n    # new line\n",
    );
    let ran = executed(dir.path(), &["run", "--changed"], &[]);
    assert!(ran.contains_key("tests.test_things::test_mul"), "{ran:?}");
}

#[test]
fn doctest_edits_rerun_the_doctests_of_the_edited_docstring() {
    // A function's docstring: its own doctest, not its neighbour's.
    let doctests = |mutate: &dyn Fn(&Path), must: &str, must_not: Option<&str>| {
        let dir = fixture_copy("doctests");
        let first = fastest(dir.path(), &[], &[]);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        mutate(dir.path());
        let ran = executed(dir.path(), &["run", "--changed"], &[]);
        assert_eq!(
            ran.get(must).map(String::as_str),
            Some("failed"),
            "{must}: {ran:?}"
        );
        if let Some(must_not) = must_not {
            assert!(!ran.contains_key(must_not), "{must_not} ran: {ran:?}");
        }
    };
    doctests(
        &|d| edit(&d.join("pkg/text.py"), "    'hi'", "    'HI'"),
        "pkg.text::pkg.text.whisper",
        Some("pkg.text::pkg.text.shout"),
    );
    // The module docstring: its skeleton, whose import-time effects (the module is
    // imported for its doctests) every test may rely on.
    doctests(
        &|d| edit(&d.join("pkg/text.py"), "'A!'", "'B!'"),
        "pkg.text::pkg.text",
        None,
    );
    // A doctest text file.
    doctests(
        &|d| edit(&d.join("tests/test_notes.txt"), "4\n", "5\n"),
        "tests.test_notes.txt::test_notes.txt",
        Some("pkg.text::pkg.text.whisper"),
    );
}

#[test]
fn module_constant_edit() {
    check(
        |d| edit(&d.join("pkg/calc.py"), "LIMIT = 10", "LIMIT = 11"),
        &[],
        "tests.test_things::test_limit",
        UNRELATED,
    );
}

#[test]
fn class_attribute_edit() {
    check(
        |d| edit(&d.join("pkg/calc.py"), "factor = 2", "factor = 3"),
        &[],
        "tests.test_things::test_class_attribute",
        UNRELATED,
    );
}

#[test]
fn code_run_by_setup_class() {
    check(
        |d| edit(&d.join("pkg/helpers.py"), "return 3", "return 4"),
        &[],
        "tests.test_things.TestSetupClass::test_value",
        "tests.test_things::test_add",
    );
}

#[test]
fn session_fixture_in_conftest() {
    check(
        |d| {
            edit(
                &d.join("conftest.py"),
                "return helpers.base_value()",
                "return helpers.base_value() + 1",
            )
        },
        &[],
        "tests.test_things::test_session_fixture",
        "tests.test_things::test_add",
    );
}

/// The recorder's audit hook written in C (`crates/fastest-runner/native/audit_hook.c`)
/// is in the installed harness, loads, and forwards exactly the events the recorder
/// reads (the data-file tests here then run with it).
#[test]
fn the_c_audit_hook_forwards_only_the_events_the_recorder_reads() {
    let dir = recorded_project();
    let harness = std::fs::read_dir(dir.path().join(".fastest_cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("harness-"))
        })
        .expect("the run installed the harness");
    assert!(
        harness.join("fastest_harness/_audit_hook.so").is_file(),
        "no _audit_hook.so in {}",
        harness.display()
    );
    let probe = r#"
import json, os, sys
sys.path.insert(0, sys.argv[1])
from fastest_harness import deps
import ctypes
seen = []
traced = []
def record(event, args):
    seen.append(event)
print(deps._add_native_audit_hook(record))
def tracer(frame, event, arg):
    traced.append(frame.f_code.co_name)
    return tracer
sys.settrace(tracer)
open(os.devnull).close()
os.listdir(".")
with os.scandir(".") as entries:
    pass
id(seen)
sys.settrace(None)
print(json.dumps(seen))
# As for a hook added with sys.addaudithook: a tracer never sees the hook's callback.
print("record" in traced)
"#;
    let out = Command::new(python())
        .args(["-c", probe])
        .arg(&harness)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["True", r#"["open", "os.listdir", "os.scandir"]"#, "False"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn data_file_read_by_a_session_fixture() {
    check(
        |d| std::fs::write(d.join("tests/settings.txt"), "release\n").unwrap(),
        &[],
        "tests.test_things::test_session_fixture_reading_a_file",
        "tests.test_things::test_add",
    );
}

#[test]
fn constant_imported_inside_a_function_after_another_test_imported_it() {
    check(
        |d| edit(&d.join("pkg/late.py"), "FLAG = True", "FLAG = False"),
        &[],
        "tests.test_things::test_late_import_second",
        "tests.test_things::test_add",
    );
}

#[test]
fn data_file_read_by_a_test() {
    check(
        |d| std::fs::write(d.join("tests/data.txt"), "changed\n").unwrap(),
        &[],
        "tests.test_things::test_data",
        "tests.test_things::test_add",
    );
}

/// The same with the audit hook written in Python (the fallback when the C one cannot
/// load), on every run: recording and selection.
#[test]
fn data_file_read_by_a_test_with_the_python_audit_hook() {
    let env = [("FASTEST_AUDIT_HOOK", "python")];
    let dir = project();
    let first = fastest(dir.path(), &[], &env);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    std::fs::write(dir.path().join("tests/data.txt"), "changed\n").unwrap();
    let ran = executed(dir.path(), &["run", "--changed"], &env);
    assert_eq!(
        ran.get("tests.test_things::test_data").map(String::as_str),
        Some("failed"),
        "the test reading the data file must run and fail; ran: {ran:?}"
    );
    assert!(
        !ran.contains_key("tests.test_things::test_add"),
        "ran: {ran:?}"
    );
}

#[test]
fn file_probed_with_exists_appears() {
    check(
        |d| std::fs::write(d.join("tests/flag.txt"), "x").unwrap(),
        &[],
        "tests.test_things::test_optional_file",
        "tests.test_things::test_add",
    );
}

#[test]
fn environment_variable_read_by_a_test() {
    check(
        |_| {},
        &[("APP_MODE", "b")],
        "tests.test_things::test_env",
        "tests.test_things::test_add",
    );
}

#[test]
fn new_file_shadowing_an_import() {
    check(
        |d| std::fs::write(d.join("tests/shadowme.py"), "VALUE = 2\n").unwrap(),
        &[],
        "tests.test_things::test_shadowable_import",
        UNRELATED,
    );
}

#[test]
fn test_body_edit_on_the_pytest_engine_with_pyc_files() {
    let dir = project();
    // Plain pytest first: it leaves its own (probe-less) pyc files in __pycache__.
    let plain = Command::new(python())
        .current_dir(dir.path())
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
    let out = fastest(dir.path(), &["--engine", "pytest"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    edit(
        &dir.path().join("tests/test_things.py"),
        "    assert add(1, 2) == 3",
        // A different size: pytest trusts a pyc whose source has the same size and
        // mtime second (plain pytest would run the stale code too).
        "    assert add(1, 2) == 30",
    );
    let ran = executed(dir.path(), &["run", "--changed", "--engine", "pytest"], &[]);
    assert_eq!(
        ran.get("tests.test_things::test_add").map(String::as_str),
        Some("failed"),
        "{ran:?}"
    );
    assert!(!ran.contains_key(UNRELATED), "{ran:?}");
}

#[test]
fn deleted_module() {
    let dir = recorded_project();
    std::fs::remove_file(dir.path().join("pkg/helpers.py")).unwrap();
    let out = fastest(dir.path(), &["run", "--changed"], &[]);
    // conftest.py imports helpers: the session errors, as under pytest; nothing passes
    // from the cache silently.
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("nothing to run"), "{}", text(&out));
}

#[test]
fn plain_run_reports_unchanged_tests_as_cached_and_no_cache_runs_all() {
    let dir = recorded_project();
    edit(
        &dir.path().join("pkg/calc.py"),
        "return a + b",
        "return b + a",
    );
    let out = fastest(dir.path(), &[], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let last = t.lines().last().unwrap_or("");
    assert!(
        last.contains("1 passed") && last.contains("14 cached"),
        "{t}"
    );
    let all = fastest(dir.path(), &["--no-cache"], &[]);
    let last = text(&all).lines().last().unwrap_or("").to_string();
    assert!(
        last.contains("15 passed") && !last.contains("cached"),
        "{last}"
    );
    let explain = fastest(
        dir.path(),
        &["explain", "tests/test_things.py::test_add"],
        &[],
    );
    assert!(text(&explain).contains("cached"), "{}", text(&explain));
}

#[test]
fn dependency_version_change_reruns_everything() {
    // A venv of its own: the change is a renamed dist-info directory in its site-packages,
    // as `pip install dep==2.0` leaves it.
    let env_dir = tempfile::tempdir().unwrap();
    let venv = env_dir.path().join("venv");
    let made = Command::new(python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    let venv_python = venv.join("bin/python");
    let site = Command::new(&venv_python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .unwrap();
    let site = Path::new(String::from_utf8_lossy(&site.stdout).trim()).to_path_buf();
    std::fs::create_dir(site.join("fakedep-1.0.dist-info")).unwrap();
    std::fs::write(
        site.join("fakedep-1.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: fakedep\nVersion: 1.0\n",
    )
    .unwrap();
    let dir = project();
    let first = fastest_with(&venv_python, dir.path(), &[], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let unchanged = fastest_with(&venv_python, dir.path(), &["run", "--changed"], &[]);
    assert!(
        text(&unchanged).contains("nothing to run"),
        "{}",
        text(&unchanged)
    );
    std::fs::rename(
        site.join("fakedep-1.0.dist-info"),
        site.join("fakedep-2.0.dist-info"),
    )
    .unwrap();
    let upgraded = fastest_with(&venv_python, dir.path(), &["run", "--changed", "-q"], &[]);
    let last = text(&upgraded).lines().last().unwrap_or("").to_string();
    assert!(
        last.contains("15 passed") && !last.contains("cached"),
        "every test must rerun after a dependency upgrade: {}",
        text(&upgraded)
    );
}

#[test]
fn fresh_checkout_with_a_copied_cache_runs_nothing() {
    let dir = recorded_project();
    let ci = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), ci.path(), &[]);
    let out = fastest(ci.path(), &["run", "--changed"], &[]);
    assert!(text(&out).contains("nothing to run"), "{}", text(&out));
    let plain = fastest(ci.path(), &[], &[]);
    let last = text(&plain).lines().last().unwrap_or("").to_string();
    assert!(
        last.contains("15 cached") && !last.contains("passed"),
        "{last}"
    );
}

#[test]
fn killed_run_is_followed_by_a_clean_one() {
    let dir = project();
    std::fs::write(
        dir.path().join("tests/test_slow.py"),
        "import time\n\ndef test_slow():\n    time.sleep(30)\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir.path())
        .arg("--python")
        .arg(python())
        .args(["-n", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(dir.path().join("tests/test_slow.py")).unwrap();
    let out = fastest(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let again = fastest(dir.path(), &["run", "--changed"], &[]);
    assert!(text(&again).contains("nothing to run"), "{}", text(&again));
}

#[test]
fn files_hypothesis_rewrites_are_not_dependencies() {
    // Hypothesis keeps its caches and example database under `.hypothesis/` and rewrites
    // them while tests run: depending on them, its tests would never be reused.
    let dir = project();
    std::fs::write(
        dir.path().join("tests/test_hypothesis_dir.py"),
        "import os, time\n\ndef test_rewrites_its_cache():\n    os.makedirs('.hypothesis/examples', exist_ok=True)\n    with open('.hypothesis/examples/entry', 'w') as f:\n        f.write(str(time.time_ns()))\n    assert os.listdir('.hypothesis/examples')\n    open('.hypothesis/examples/entry').read()\n",
    )
    .unwrap();
    let first = fastest(dir.path(), &[], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let again = fastest(dir.path(), &["run", "--changed"], &[]);
    assert!(text(&again).contains("nothing to run"), "{}", text(&again));
}

/// A copy of `tests/incremental_fixtures/NAME` in a temporary directory.
fn fixture_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("tests/incremental_fixtures").join(name),
        dir.path(),
        &[],
    );
    dir
}

/// After a change the collection is made again (pytest's ids), then stored again.
fn assert_recollected_then_stored(root: &Path, what: &str, env: &[(&str, &str)]) {
    let (ours, reference, cached) = collect_both(root, env);
    assert!(!cached, "{what}: collected again");
    assert_eq!(ours, reference, "{what}");
    let (ours, reference, cached) = collect_both(root, env);
    assert!(cached, "{what}: stored again");
    assert_eq!(ours, reference, "{what}");
}

/// `--collect-only -q` ids of fastest (and whether the collection cache served every
/// module Python collects) against pytest's, on `tests/incremental_fixtures/dynamic_collect`.
fn collect_both(dir: &Path, env: &[(&str, &str)]) -> (String, String, bool) {
    collect_both_with(dir, &[], env)
}

/// `collect_both` with extra arguments for both; the ids are followed by the count line.
fn collect_both_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String, bool) {
    let mut our_args = vec!["--collect-only", "-qq", "-v"];
    our_args.extend(args);
    let ours = fastest(dir, &our_args, env);
    let mut reference = Command::new(python());
    reference
        .current_dir(dir)
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "-q",
        ])
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTEST_ADDOPTS")
        .env_remove("DYN_LEVEL")
        .stdin(Stdio::null());
    for (k, v) in env {
        reference.env(k, v);
    }
    let reference = reference.output().expect("pytest starts");
    let ids = |o: &Output| {
        let stdout = String::from_utf8_lossy(&o.stdout);
        let mut lines: Vec<&str> = stdout.lines().take_while(|l| !l.is_empty()).collect();
        // The count line without its timing.
        let count = stdout.lines().rev().find(|l| !l.trim().is_empty());
        lines.extend(count.map(|l| l.split(" in ").next().unwrap_or(l)));
        lines.join("\n")
    };
    // Three modules are collected by Python; `test_clock.py` makes its ids from the
    // clock, so its collection is never stored: at most the other two come from the
    // cache (`test_clock_helper.py` reads the clock and a random source too, but its ids
    // do not depend on them).
    let stderr = String::from_utf8_lossy(&ours.stderr);
    assert!(
        !stderr.contains("3 of them from the collection cache"),
        "a collection whose ids depend on the clock was reused:\n{stderr}"
    );
    // Every module Python collects comes from the cache, but those whose ids depend on
    // the clock.
    let count_before = |suffix: &str| {
        stderr.lines().find_map(|l| {
            let words: Vec<&str> = l.strip_suffix(suffix)?.split_whitespace().collect();
            words.last()?.parse::<usize>().ok()
        })
    };
    let by_python = count_before(" by Python:");
    let from_cache = count_before(" of them from the collection cache");
    let never_cached = stderr
        .lines()
        .filter(|l| l.ends_with("depends on the clock or a random source; not cached"))
        .count();
    let all_cached = stderr.contains("the session's collection comes from the collection cache")
        || matches!((by_python, from_cache), (Some(n), Some(c)) if c + never_cached == n && c > 0);
    (ids(&ours), ids(&reference), all_cached)
}

#[test]
fn no_record_reads_stored_collections_but_stores_none() {
    // `--no-record` turns recording off: Python's collections it makes are not stored,
    // but those a recording run stored are used (reading them records nothing), so
    // `--no-record` runs and recording runs collect the same way.
    let dir = fixture_copy("dynamic_collect");
    let root = dir.path();
    let from_cache = |args: &[&str]| {
        let mut all = vec!["--collect-only", "-q", "-v"];
        all.extend(args);
        let out = fastest(root, &all, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let line = stderr
            .lines()
            .find(|l| l.ends_with("of them from the collection cache"))
            .unwrap_or_else(|| panic!("no collection-cache line:\n{stderr}"))
            .to_string();
        (line, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (first, ids) = from_cache(&["--no-record"]);
    assert_eq!(first, "fastest: 0 of them from the collection cache");
    let (again, _) = from_cache(&["--no-record"]);
    assert_eq!(again, first, "--no-record stored a collection");
    from_cache(&[]);
    let (reused, reused_ids) = from_cache(&["--no-record"]);
    // test_clock.py makes its ids from the clock: never stored.
    assert_eq!(reused, "fastest: 2 of them from the collection cache");
    assert_eq!(reused_ids.lines().count(), ids.lines().count());
}

#[test]
fn keyword_and_mark_filters_apply_to_a_stored_python_collection() {
    let dir = fixture_copy("dynamic_collect");
    let root = dir.path();
    // Filled by a plain collection; each expression is then evaluated on the stored
    // items and must give pytest's ids and counts.
    let (ours, reference, _) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    let filters: [&[&str]; 5] = [
        &["-m", "slow"],
        &["-m", "not slow"],
        &["-k", "case and not 2"],
        &["-k", "test_dynamic and slow"],
        &["-k", "alice or level", "-m", "not slow"],
    ];
    for args in filters {
        let (ours, reference, cached) = collect_both_with(root, args, &[]);
        assert!(cached, "{args:?}: served from the stored collection");
        assert_eq!(ours, reference, "{args:?}");
        assert!(reference.contains("deselected"), "{args:?}: {reference}");
    }
}

#[test]
fn a_collection_a_conftest_shapes_is_reused_until_it_changes() {
    let dir = fixture_copy("session_collect");
    let root = dir.path();
    let (ours, reference, cached) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    assert!(!cached, "the first collection cannot come from the cache");
    assert!(
        ours.contains("one.case::beta") && !ours.contains("test_ignored"),
        "{ours}"
    );
    let (ours, reference, cached) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    assert!(cached, "nothing changed: the stored collection is used");
    for args in [&["-m", "slow"][..], &["-k", "alpha or test_a"][..]] {
        let (ours, reference, cached) = collect_both_with(root, args, &[]);
        assert!(cached, "{args:?}: served from the stored collection");
        assert_eq!(ours, reference, "{args:?}");
    }
    // What the conftest read, a new file in a walked directory, a new directory, the
    // conftest itself: each is collected again, with pytest's ids.
    type Mutation<'a> = (&'a str, Box<dyn Fn(&Path)>);
    let mutations: Vec<Mutation> = vec![
        (
            "content a custom collector read",
            Box::new(|r: &Path| edit(&r.join("tests/cases/one.case"), "beta", "gamma")),
        ),
        (
            "new file",
            Box::new(|r: &Path| std::fs::write(r.join("tests/cases/two.case"), "delta\n").unwrap()),
        ),
        (
            "new test directory",
            Box::new(|r: &Path| {
                std::fs::create_dir(r.join("tests/sub")).unwrap();
                std::fs::write(
                    r.join("tests/sub/test_deep.py"),
                    "def test_deep():\n    pass\n",
                )
                .unwrap();
            }),
        ),
        (
            "conftest",
            Box::new(|r: &Path| {
                edit(
                    &r.join("conftest.py"),
                    "collect_ignore.append(\"tests/test_ignored.py\")",
                    "",
                )
            }),
        ),
    ];
    for (what, mutate) in mutations {
        mutate(root);
        assert_recollected_then_stored(root, what, &[]);
    }
    let (ours, _, _) = collect_both(root, &[]);
    for id in [
        "one.case::gamma",
        "two.case::delta",
        "sub/test_deep.py",
        "test_ignored",
    ] {
        assert!(ours.contains(id), "{id} missing:\n{ours}");
    }
    // `test_dated.py` read the clock all along (checked under a shifted clock, stored);
    // ids made from the clock keep the session from being stored at all.
    edit(
        &root.join("tests/test_dated.py"),
        "[TODAY, TODAY.date()]",
        "[TODAY], ids=[str(TODAY.year)]",
    );
    for _ in 0..2 {
        let (ours, reference, cached) = collect_both(root, &[]);
        assert!(!cached, "ids made from the clock were reused: {ours}");
        assert_eq!(ours, reference);
    }
}

#[test]
fn a_directory_python_collects_is_reused_until_it_changes() {
    let dir = fixture_copy("dir_collect");
    let root = dir.path();
    let first = fastest(root, &["--collect-only", "-qq", "-v"], &[]);
    assert!(
        text(&first).contains("tests: ") && text(&first).contains("collect_ignore"),
        "the directory is handed to Python: {}",
        text(&first)
    );
    let (ours, reference, cached) = collect_both(root, &[]);
    assert!(cached, "stored: {ours}");
    assert_eq!(ours, reference);
    std::fs::write(root.join("tests/test_b.py"), "def test_b():\n    pass\n").unwrap();
    let (ours, reference, cached) = collect_both(root, &[]);
    assert!(
        !cached && ours.contains("test_b.py::test_b"),
        "a new file: {ours}"
    );
    assert_eq!(ours, reference);
    edit(
        &root.join("tests/conftest.py"),
        "collect_ignore.append(\"test_ignored.py\")",
        "",
    );
    let (ours, reference, cached) = collect_both(root, &[]);
    assert!(
        !cached && ours.contains("test_ignored"),
        "conftest edited: {ours}"
    );
    assert_eq!(ours, reference);
}

#[test]
fn filters_a_conftest_hook_can_change_go_to_python() {
    // `pytest_configure` sets `-m "not slow"` unless -m is given: evaluating -m on a
    // stored collection made without it would lose the slow tests.
    let dir = fixture_copy("hook_filters");
    let root = dir.path();
    for args in [
        &[][..],
        &["-m", "slow"][..],
        &["-k", "fast"][..],
        &[][..],
        &["-m", "slow"][..],
    ] {
        let (ours, reference, _) = collect_both_with(root, args, &[]);
        assert_eq!(ours, reference, "{args:?}");
    }
    let (ours, _, _) = collect_both_with(root, &["-m", "slow"], &[]);
    assert!(ours.contains("test_slow[0]"), "{ours}");
}

#[test]
fn python_collection_is_reused_until_what_it_read_changes() {
    let dir = fixture_copy("dynamic_collect");
    let root = dir.path();
    let (ours, reference, cached) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    assert!(!cached, "the first collection cannot come from the cache");
    let (ours, reference, cached) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    assert!(cached, "nothing changed: the stored collection is used");

    // An edit to a test module Python does not collect leaves the cache alone.
    edit(
        &root.join("tests/test_static.py"),
        "assert True",
        "assert 1",
    );
    assert!(collect_both(root, &[]).2);

    // Each thing the collection read, changed, is collected again with the new ids.
    type Mutation<'a> = (&'a str, Box<dyn Fn(&Path)>, Vec<(&'a str, &'a str)>);
    let mutations: Vec<Mutation> = vec![
        (
            "project function",
            Box::new(|r: &Path| edit(&r.join("pkg/values.py"), "[1, 2, 3]", "[1, 2, 3, 4]")),
            vec![],
        ),
        (
            "data file",
            Box::new(|r: &Path| edit(&r.join("tests/names.txt"), "bob", "bob carol")),
            vec![],
        ),
        (
            "environment variable",
            Box::new(|_: &Path| {}),
            vec![("DYN_LEVEL", "high")],
        ),
    ];
    for (what, mutate, env) in mutations {
        mutate(root);
        assert_recollected_then_stored(root, what, &env);
    }
    assert!(collect_both(root, &[("DYN_LEVEL", "high")])
        .0
        .contains("test_level[high]"));
    // Said with -v; the run itself is not affected.
    let run = fastest(root, &["-n", "1", "-v"], &[]);
    assert!(
        text(&run).contains(
            "tests/test_clock.py: its collection depends on the clock or a random source; not cached"
        ) && !text(&run).contains("tests/test_clock_helper.py: its collection"),
        "{}",
        text(&run)
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    // The shifted-clock collections ran beside the real ones (started at once for
    // `test_clock.py`, on the harness's signal for `test_clock_helper.py`) or were
    // stopped: none left its output behind.
    let leftovers: Vec<_> = std::fs::read_dir(root.join(".fastest_cache"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("harness-"))
        .flat_map(|h| std::fs::read_dir(h.path()).unwrap().filter_map(|e| e.ok()))
        .filter(|e| e.file_name().to_string_lossy().starts_with("collect-"))
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_engine_is_chosen_on_the_files_that_run() {
    // `test_hooked.py` needs pytest (a module hook); `test_plain.py` does not. A full run
    // takes the pytest engine; after an edit to `test_plain.py` only its tests run, on
    // the native engine.
    let dir = fixture_copy("mixed_engines");
    let root = dir.path();
    let full = fastest(root, &["-n", "1"], &[]);
    assert_eq!(full.status.code(), Some(0), "{}", text(&full));
    assert!(
        text(&full).contains(
            "engine: pytest (auto: tests/test_hooked.py: module defines a collection hook)"
        ) && text(&full).contains("4 passed"),
        "{}",
        text(&full)
    );
    edit(
        &root.join("tests/test_plain.py"),
        "1 + 1 == 2",
        "2 + 2 == 4",
    );
    let changed = fastest(root, &["run", "--changed", "-n", "1"], &[]);
    assert_eq!(changed.status.code(), Some(0), "{}", text(&changed));
    assert!(
        text(&changed).contains("engine: native (auto)")
            && text(&changed).contains("1 passed, 3 deselected"),
        "{}",
        text(&changed)
    );
    edit(&root.join("tests/test_hooked.py"), "n > 0", "n >= 1");
    let changed = fastest(root, &["run", "--changed", "-n", "1"], &[]);
    assert!(
        text(&changed).contains(
            "engine: pytest (auto: tests/test_hooked.py: module defines a collection hook"
        ) && text(&changed).contains("2 passed, 2 deselected"),
        "{}",
        text(&changed)
    );
}

#[test]
fn a_whole_session_that_reads_the_clock_is_stored_unless_its_ids_depend_on_it() {
    // `pytest_plugins` in the root conftest: Python collects the whole session, which
    // reads the clock. Ids that do not depend on it are stored after the shifted-clock
    // check; ids made from the year are never stored.
    let dir = fixture_copy("session_clock");
    let root = dir.path();
    let (ours, reference, cached) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    assert!(!cached, "the first collection cannot come from the cache");
    let (ours, reference, cached) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    assert!(cached, "ids independent of the clock: stored");
    edit(
        &root.join("tests/test_when.py"),
        "[NOW, NOW.date()])",
        "[NOW], ids=[str(NOW.year)])",
    );
    for _ in 0..2 {
        let out = fastest(root, &["--collect-only", "-qq", "-v"], &[]);
        assert!(
            text(&out).contains(
                "the session's collection depends on the clock or a random source; not cached"
            ) && text(&out).contains("test_when["),
            "{}",
            text(&out)
        );
    }
    let (ours, reference, cached) = collect_both(root, &[]);
    assert_eq!(ours, reference);
    assert!(!cached, "ids made from the clock were reused: {ours}");
}

/// When the cache leaves tests out, a worker imports only the test modules of the tests
/// it runs (as `pytest NODEID...` does); a run without the cache imports every module,
/// as pytest's collection of the whole suite.
#[test]
fn a_partial_run_imports_only_the_modules_of_the_tests_it_runs() {
    let dir = project();
    let marks_dir = tempfile::tempdir().unwrap();
    let marks = marks_dir.path().join("imported.txt");
    // Outside the project: the write is no dependency of the modules.
    let marking = "import os\n\nwith open(os.environ[\"IMPORT_MARKS\"], \"a\") as f:\n    f.write(__name__ + \"\\n\")\n\n\n";
    for name in ["a", "b"] {
        std::fs::write(
            dir.path().join(format!("tests/test_mark_{name}.py")),
            format!("{marking}def test_{name}():\n    assert True\n"),
        )
        .unwrap();
    }
    let env = [("IMPORT_MARKS", marks.to_str().unwrap())];
    let imported = || {
        let text = std::fs::read_to_string(&marks).unwrap_or_default();
        let _ = std::fs::remove_file(&marks);
        let mut names: Vec<String> = text
            .lines()
            .map(|l| l.rsplit('.').next().unwrap().to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let first = fastest(dir.path(), &[], &env);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(imported(), ["test_mark_a", "test_mark_b"]);

    edit(
        &dir.path().join("tests/test_mark_a.py"),
        "assert True",
        "assert 1",
    );
    let ran = executed(dir.path(), &["run", "--changed"], &env);
    assert_eq!(
        ran.keys().collect::<Vec<_>>(),
        ["tests.test_mark_a::test_a"]
    );
    assert_eq!(
        imported(),
        ["test_mark_a"],
        "only the edited test's module is imported"
    );

    edit(
        &dir.path().join("tests/test_mark_a.py"),
        "assert 1",
        "assert 2",
    );
    let plain = fastest(dir.path(), &[], &env);
    assert!(text(&plain).contains("1 passed"), "{}", text(&plain));
    assert_eq!(
        imported(),
        ["test_mark_a"],
        "cached tests' modules are not imported"
    );

    let all = fastest(dir.path(), &["--no-cache"], &env);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all));
    assert_eq!(imported(), ["test_mark_a", "test_mark_b"]);
}

/// A run whose collection Python must make starts its first worker beside that
/// collection (`Prestarted`); the worker then learns the run's worker count at
/// configure time: `PYTEST_XDIST_WORKER_COUNT` is the count the run uses, as with
/// pytest-xdist, with or without the early start.
#[test]
fn a_worker_started_beside_python_collection_sees_the_runs_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    // Parameters from a function call: collected by Python, not statically.
    std::fs::write(
        dir.path().join("test_count.py"),
        "import os\nimport pytest\n\n\ndef values():\n    return [1, 2, 3]\n\n\n\
         @pytest.mark.parametrize(\"x\", values())\n\
         def test_count(x):\n    assert os.environ[\"PYTEST_XDIST_WORKER_COUNT\"] == os.environ[\"EXPECTED_COUNT\"]\n",
    )
    .unwrap();
    for (workers, early) in [("1", true), ("2", true), ("2", false)] {
        // A fresh cache each time, so Python collects again.
        let _ = std::fs::remove_dir_all(dir.path().join(".fastest_cache"));
        let mut env = vec![("EXPECTED_COUNT", workers)];
        if !early {
            env.push(("FASTEST_NO_PRESTART", "1"));
        }
        let out = fastest(dir.path(), &["-n", workers], &env);
        assert!(
            out.status.code() == Some(0) && text(&out).contains("3 passed"),
            "-n {workers} (early start {early}):\n{}",
            text(&out)
        );
    }
}

/// The `python` processes whose parent is `pid` and whose command line names the
/// harness's worker (Linux: read from /proc).
fn harness_children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid ...`: the fields after the last `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(pid) && String::from_utf8_lossy(&cmdline).contains("fastest_harness") {
            found.push(child);
        }
    }
    found
}

#[test]
fn watch_reruns_what_each_change_affects_with_a_worker_started_ahead() {
    use std::io::BufRead;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    /// Kills the watch when the test fails half-way (it would poll forever).
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = project();
    let mut guard = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fastest"))
            .current_dir(dir.path())
            .env_remove("PYTHONDONTWRITEBYTECODE")
            .env_remove("PYTEST_ADDOPTS")
            .env_remove("APP_MODE")
            .env("NO_COLOR", "1")
            .arg("watch")
            .arg("--python")
            .arg(python())
            .args(["-p", "no:cacheprovider"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let summary = line.contains(" in ") && line.contains("passed")
                || line.contains("failed")
                || line.contains("nothing to run");
            if summary && tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_summary = || {
        rx.recv_timeout(Duration::from_secs(90))
            .expect("fastest watch printed a summary")
    };
    let first = next_summary();
    assert!(
        first.contains("15 passed"),
        "the first run runs everything: {first}"
    );
    // While it waits, a worker is already running for the next change.
    let waited = Instant::now();
    while harness_children(child.id()).is_empty() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        harness_children(child.id()).len(),
        1,
        "one worker started ahead"
    );

    // A function body breaks one test: only the tests that ran it run.
    let calc = dir.path().join("pkg/calc.py");
    let original = std::fs::read_to_string(&calc).unwrap();
    std::fs::write(&calc, original.replace("return a * b", "return a * b + 1")).unwrap();
    let broken = next_summary();
    let broken_summary = if broken.contains(" in ") {
        broken
    } else {
        // The FAILED line of the short summary comes before the count line.
        next_summary()
    };
    assert!(
        broken_summary.contains("1 failed") && broken_summary.contains("14 deselected"),
        "{broken_summary}"
    );
    // Restored: the failed test runs again and passes; nothing else runs.
    std::fs::write(&calc, &original).unwrap();
    let mut fixed = next_summary();
    while !fixed.contains("1 passed") {
        fixed = next_summary();
    }
    assert!(fixed.contains("14 deselected"), "{fixed}");

    // A worker started ahead that dies while the watch waits is not adopted: the next
    // run starts its own and passes as before.
    let waited = Instant::now();
    while harness_children(child.id()).is_empty() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in harness_children(child.id()) {
        // SAFETY: plain kill(2) on the watch's own worker.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&calc, original.replace("return a + b", "return b + a")).unwrap();
    let mut after_kill = next_summary();
    while !after_kill.contains(" in ") {
        after_kill = next_summary();
    }
    assert!(
        after_kill.contains("passed")
            && !after_kill.contains("error")
            && !after_kill.contains("failed"),
        "{after_kill}"
    );

    // Ctrl-C while waiting: the watch ends with the last run's status and takes its
    // worker with it.
    let waited = Instant::now();
    while harness_children(child.id()).is_empty() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let workers = harness_children(child.id());
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    std::thread::sleep(Duration::from_millis(200));
    for pid in workers {
        assert!(
            !Path::new(&format!("/proc/{pid}/cmdline")).exists()
                || std::fs::read(format!("/proc/{pid}/cmdline"))
                    .unwrap_or_default()
                    .is_empty(),
            "the worker started ahead ({pid}) outlived the watch"
        );
    }
}
