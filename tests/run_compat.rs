//! Integration tests for running tests: the built `fastest` binary on the fixture projects
//! under `tests/run_fixtures/`, compared test by test with real pytest's JUnit XML, plus
//! the failure modes a runner must survive (segfault, `os._exit`, a hang past
//! `--timeout`, 50 MB of output, Ctrl-C) and `-x` / `--lf`.
//!
//! The reference interpreter is `$FASTEST_TEST_PYTHON` (default `.venv-test/bin/python`,
//! created by `bash scripts/test.sh` with pytest 9.0.3). "Without pytest" runs use a
//! wrapper that starts the same interpreter with `-S`, so `import pytest` fails.

mod common;

use common::{copy_dir, junit_outcomes, python, repo_root, report_from_collected};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A copy of `tests/run_fixtures/<name>` in a fresh temporary directory.
fn project(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("tests/run_fixtures").join(name),
        dir.path(),
        &[".fastest_cache"],
    );
    dir
}

fn run(cmd: &mut Command) -> Output {
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1")
        .env_remove("PYTEST_ADDOPTS")
        .stdin(Stdio::null())
        .output()
        .expect("process starts")
}

fn fastest(dir: &Path, python: &Path, args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir)
        .arg("--python")
        .arg(python)
        .args(args))
}

/// `pytest -p no:cacheprovider -q` in `dir` with the reference interpreter.
fn pytest_quiet(dir: &Path) -> Output {
    run(Command::new(python()).current_dir(dir).args([
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
    ]))
}

fn pytest_junit(dir: &Path, xml: &str) -> Output {
    pytest_junit_with(dir, xml, &[])
}

fn pytest_junit_with(dir: &Path, xml: &str, args: &[&str]) -> Output {
    run(Command::new(python())
        .current_dir(dir)
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--junitxml",
            xml,
        ])
        .args(args))
}

/// `text` with object addresses (` at 0x7f...`) replaced, as they differ between runs.
fn masked_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" at 0x") {
        out.push_str(&rest[..i + 6]);
        rest = rest[i + 6..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
        out.push_str("ADDR");
    }
    out.push_str(rest);
    out
}

/// A wrapper interpreter that cannot import pytest (no site-packages).
fn python_without_pytest(dir: &Path) -> PathBuf {
    let wrapper = dir.join("python-no-site");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} -S \"$@\"\n", python().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn compare_with_pytest(fixture: &str, fastest_python: Option<&Path>, extra: &[&str]) -> String {
    compare_with_pytest_given(fixture, fastest_python, &[], extra)
}

/// As `compare_with_pytest`, with `both` given to pytest and to fastest.
fn compare_with_pytest_given(
    fixture: &str,
    fastest_python: Option<&Path>,
    both: &[&str],
    extra: &[&str],
) -> String {
    let dir = project(fixture);
    let reference = pytest_junit_with(dir.path(), "ref.xml", both);
    let py = fastest_python.map(Path::to_path_buf).unwrap_or_else(python);
    let mut args = vec!["--junitxml", "ours.xml"];
    args.extend_from_slice(both);
    args.extend_from_slice(extra);
    let ours = fastest(dir.path(), &py, &args);
    let expected = junit_outcomes(&dir.path().join("ref.xml"));
    let got = junit_outcomes(&dir.path().join("ours.xml"));
    assert!(!expected.is_empty(), "pytest ran nothing");
    assert_eq!(
        got,
        expected,
        "per-test outcomes differ from pytest\n--- fastest stdout:\n{}",
        text(&ours)
    );
    assert_eq!(
        ours.status.code(),
        reference.status.code(),
        "exit codes differ\n{}",
        text(&ours)
    );
    text(&ours)
}

#[test]
fn native_engine_matches_pytest_outcomes() {
    let out = compare_with_pytest("outcomes", None, &[]);
    assert!(out.contains("engine: native"), "{out}");
}

#[test]
fn pytest_engine_matches_pytest_outcomes() {
    let out = compare_with_pytest("outcomes", None, &["--engine", "pytest", "-n", "2"]);
    assert!(
        out.contains("engine: pytest (--engine pytest), workers: 2"),
        "{out}"
    );
}

#[test]
fn native_engine_without_pytest_installed_matches_pytest_outcomes() {
    let scratch = tempfile::tempdir().unwrap();
    let bare = python_without_pytest(scratch.path());
    let probe = run(Command::new(&bare).args(["-c", "import pytest"]));
    assert!(!probe.status.success(), "the -S wrapper must hide pytest");
    let out = compare_with_pytest("outcomes", Some(&bare), &["-n", "2"]);
    assert!(out.contains("engine: native"), "{out}");
}

#[test]
fn crashing_and_hanging_tests_cost_only_themselves() {
    let dir = project("crashes");
    let start = Instant::now();
    let out = fastest(
        dir.path(),
        &python(),
        &["--timeout", "3", "-n", "1", "--junitxml", "ours.xml"],
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "the hang was not cut short"
    );
    let stdout: String = text(&out)
        .lines()
        .filter(|l| !l.starts_with("xxxx"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let outcomes = junit_outcomes(&dir.path().join("ours.xml"));
    let get = |name: &str| {
        outcomes
            .get(&format!("test_crashes::{name}"))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from {outcomes:?}\n{stdout}"))
    };
    assert_eq!(get("test_before"), "passed");
    assert_eq!(get("test_segfault"), "failed");
    assert_eq!(get("test_os_exit"), "failed");
    assert_eq!(get("test_hangs"), "failed");
    assert_eq!(get("test_prints_50mb"), "passed");
    assert_eq!(get("test_after"), "passed");
    assert!(stdout.contains("killed by signal 11 (SIGSEGV)"), "{stdout}");
    assert!(
        stdout.contains("about to crash"),
        "the crashed test's output is shown"
    );
    assert!(stdout.contains("worker crashed: exit code 3"), "{stdout}");
    assert!(stdout.contains("Timeout (>3.0s)"), "{stdout}");
    assert!(stdout.contains("3 failed, 3 passed"), "{stdout}");
}

/// Twelve modules on two workers: each worker holds its next module queued behind the
/// one it runs (the runner sends it ahead). Crashes in the middle lose neither the queued
/// modules nor any result.
#[test]
fn crashes_with_the_next_module_queued_lose_no_test() {
    let dir = tempfile::tempdir().unwrap();
    for file in 0..12 {
        let mut src = String::from("import ctypes\nimport os\n\n");
        for test in 0..5 {
            let body = match (file, test) {
                (3, 2) => "ctypes.string_at(0)",
                (8, 1) => "os._exit(3)",
                _ => "assert True",
            };
            src.push_str(&format!("\ndef test_{test}():\n    {body}\n"));
        }
        std::fs::write(dir.path().join(format!("test_g{file:02}.py")), src).unwrap();
    }
    let out = fastest(
        dir.path(),
        &python(),
        &["-n", "2", "--junitxml", "ours.xml"],
    );
    let stdout = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let outcomes = junit_outcomes(&dir.path().join("ours.xml"));
    assert_eq!(outcomes.len(), 60, "{outcomes:?}\n{stdout}");
    for (id, outcome) in &outcomes {
        let crashed = id == "test_g03::test_2" || id == "test_g08::test_1";
        let expected = if crashed { "failed" } else { "passed" };
        assert_eq!(outcome, expected, "{id}\n{stdout}");
    }
    assert!(stdout.contains("2 failed, 58 passed"), "{stdout}");
}

#[test]
fn ctrl_c_prints_what_finished_and_leaves_the_cache_usable() {
    let dir = project("slow");
    let child = Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir.path())
        .args(["--python"])
        .arg(python())
        .args(["-n", "1"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = dir.path().join("sleep_started");
    let waited = Instant::now();
    while !marker.exists() && waited.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(marker.exists(), "the slow test never started");
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "Ctrl-C did not stop the run"
    );
    let stdout = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("KeyboardInterrupt"), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    let again = fastest(dir.path(), &python(), &["--collect-only", "-q"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

#[test]
fn exitfirst_stops_and_last_failed_reruns_only_failures() {
    let dir = project("outcomes");
    let full = fastest(dir.path(), &python(), &["-n", "1", "--junitxml", "all.xml"]);
    assert_eq!(full.status.code(), Some(1));
    let all = junit_outcomes(&dir.path().join("all.xml"));
    let failing: Vec<&String> = all
        .iter()
        .filter(|(_, o)| o.split('+').any(|p| p == "failed" || p == "error"))
        .map(|(k, _)| k)
        .collect();
    let lf = fastest(
        dir.path(),
        &python(),
        &["--lf", "--junitxml", "lf.xml", "--report-log", "log.jsonl"],
    );
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    let log_lines: Vec<&str> = log.lines().collect();
    assert!(log_lines[0].contains("\"$report_type\":\"SessionStart\""));
    assert!(log_lines.last().unwrap().contains("\"exitstatus\":1"));
    // Setup and teardown of every re-run test, and a call unless its setup failed.
    let phases = |when: &str| {
        log_lines
            .iter()
            .filter(|l| l.contains(&format!("\"when\":\"{when}\"")))
            .count()
    };
    assert_eq!(phases("setup"), failing.len(), "{log}");
    assert_eq!(phases("teardown"), failing.len(), "{log}");
    assert_eq!(phases("call"), failing.len() - 1, "{log}");
    let rerun = junit_outcomes(&dir.path().join("lf.xml"));
    assert_eq!(rerun.keys().collect::<Vec<_>>(), failing, "{}", text(&lf));
    assert!(text(&lf).contains("deselected"), "{}", text(&lf));

    // --no-cache: earlier passes would otherwise be reused and the first test run differ.
    let x = fastest(dir.path(), &python(), &["-x", "-n", "1", "--no-cache"]);
    let stdout = text(&x);
    assert_eq!(x.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("stopping after 1 failures"), "{stdout}");
    // The failure that stopped the run is reported, as pytest does.
    assert!(
        stdout.contains("= FAILURES =") || stdout.contains("= ERRORS ="),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 failed") || stdout.contains("1 error"),
        "{stdout}"
    );
}

/// A five-test project whose tests 2 and 4 fail while the files `fail2`/`fail4` exist.
fn stepwise_project(dir: &Path) {
    std::fs::write(
        dir.join("test_steps.py"),
        "import os\n\n\ndef test_1():\n    pass\n\n\ndef test_2():\n    assert not os.path.exists('fail2')\n\n\ndef test_3():\n    pass\n\n\ndef test_4():\n    assert not os.path.exists('fail4')\n\n\ndef test_5():\n    pass\n",
    )
    .unwrap();
    std::fs::write(dir.join("fail2"), "").unwrap();
    std::fs::write(dir.join("fail4"), "").unwrap();
}

#[test]
fn stepwise_and_new_first_follow_pytest() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    stepwise_project(ours.path());
    stepwise_project(theirs.path());
    let ran = |dir: &Path, pytest: bool, args: &[&str]| -> Vec<String> {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--junitxml", "steps.xml"]);
        let out = if pytest {
            run(Command::new(python())
                .args(["-m", "pytest", "-p", "no:randomly"])
                .args(&a)
                .current_dir(dir))
        } else {
            fastest(dir, &python(), &a)
        };
        let got = junit_outcomes(&dir.join("steps.xml"));
        let mut ids: Vec<String> = got.iter().map(|(k, v)| format!("{k}={v}")).collect();
        ids.push(format!("exit={:?}", out.status.code()));
        ids
    };
    // Sequence: fail at 2, fix 2 (start from 2, fail at 4), --sw-skip, fix all.
    let steps: [(&[&str], Option<&str>); 4] = [
        (&["--sw"], None),
        (&["--sw"], Some("fail2")),
        (&["--sw"], None),
        (&["--sw"], Some("fail4")),
    ];
    for (args, fix) in steps {
        if let Some(f) = fix {
            std::fs::remove_file(ours.path().join(f)).unwrap();
            std::fs::remove_file(theirs.path().join(f)).unwrap();
        }
        assert_eq!(
            ran(ours.path(), false, args),
            ran(theirs.path(), true, args),
            "after {args:?} with {fix:?} removed"
        );
    }
    std::fs::write(ours.path().join("fail2"), "").unwrap();
    std::fs::write(theirs.path().join("fail2"), "").unwrap();
    assert_eq!(
        ran(ours.path(), false, &["--sw-skip"]),
        ran(theirs.path(), true, &["--sw-skip"])
    );

    // --nf: a test file unknown to the last run goes first.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        ours.path().join("test_new.py"),
        "def test_new():\n    pass\n",
    )
    .unwrap();
    let out = fastest(ours.path(), &python(), &["--nf", "-v"]);
    let first = text(&out)
        .lines()
        .find(|l| l.contains("PASSED") || l.contains("FAILED"))
        .unwrap_or_default()
        .to_string();
    assert!(first.starts_with("test_new.py::test_new"), "{}", text(&out));
}

#[test]
fn demo_runs_with_only_python3_and_reads_like_pytest() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("examples/demo"),
        dir.path(),
        &[".fastest_cache"],
    );
    let bare = python_without_pytest(dir.path());
    let out = fastest(dir.path(), &bare, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = text(&out);
    // Normalise what varies between machines: paths, versions, timing.
    let normalised: Vec<String> = stdout
        .lines()
        .map(|l| {
            if l.starts_with("platform ") {
                "platform <...>".to_string()
            } else if l.starts_with("rootdir: ") {
                "rootdir: <tmp>".to_string()
            } else if let Some(i) = l.find(" in ") {
                if l.contains("passed") {
                    let end = l[i..].find('s').map(|e| i + e + 1).unwrap_or(l.len());
                    format!("{} in <t>{}", &l[..i], &l[end..])
                } else {
                    l.to_string()
                }
            } else {
                l.to_string()
            }
        })
        .collect();
    insta::assert_snapshot!(normalised.join("\n"), @r"
    ============================= test session starts ==============================
    platform <...>
    rootdir: <tmp>
    configfile: pytest.ini
    testpaths: tests
    engine: native (auto), workers: 1
    collected 8 items

    tests/test_demo.py ......sx                                              [100%]

    =================== 6 passed, 1 skipped, 1 xfailed in <t> ====================
    ");
}

#[test]
fn conftest_that_fails_to_import_stops_the_run_like_pytest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("conftest.py"), "import missing_module_xyz\n").unwrap();
    std::fs::write(d.join("test_static.py"), "def test_a():\n    pass\n").unwrap();
    // Non-literal parametrize arguments: this module is collected by Python.
    std::fs::write(
        d.join("test_dynamic.py"),
        "import pytest\nVALUES = list(range(2))\n\n@pytest.mark.parametrize('v', VALUES)\ndef test_v(v):\n    pass\n",
    )
    .unwrap();
    let reference = run(Command::new(python()).current_dir(d).args([
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
    ]));
    assert_eq!(reference.status.code(), Some(4));
    let expected = "ImportError while loading conftest";
    assert!(String::from_utf8_lossy(&reference.stderr).contains(expected));
    let only_static = ["-p", "no:cacheprovider", "-q", "test_static.py"];
    let all = ["-p", "no:cacheprovider", "-q"];
    for (engine, args) in [
        // A static-only selection: the worker's pytest stops the session.
        ("pytest", &only_static[..]),
        // The dynamic module's collection stops it before any worker starts.
        ("pytest", &all[..]),
        ("native", &all[..]),
        // The native worker imports the conftest itself.
        ("native", &only_static[..]),
    ] {
        let mut a = vec!["--engine", engine];
        a.extend(args);
        let out = fastest(d, &python(), &a);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{engine} {args:?}: {stderr}");
        assert!(stderr.contains(expected), "{engine} {args:?}: {stderr}");
        assert!(stderr.contains("E   ModuleNotFoundError"), "{stderr}");
    }
}

#[test]
fn a_worker_left_without_work_does_not_hold_up_the_run() {
    // The second worker starts late (its interpreter wrapper sleeps), so the first one has
    // run both groups by the time it is ready: it finds nothing to do and must be shut
    // down rather than waited for.
    let dir = tempfile::tempdir().unwrap();
    for name in ["test_one.py", "test_two.py"] {
        std::fs::write(dir.path().join(name), "def test_a():\n    pass\n").unwrap();
    }
    let slow_second_worker = dir.path().join("python-slow-gw1");
    std::fs::write(
        &slow_second_worker,
        format!(
            "#!/bin/sh\n[ \"$FASTEST_WORKER\" = 1 ] && sleep 3\nexec {} \"$@\"\n",
            python().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&slow_second_worker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(dir.path())
        .args(["-n", "2", "-q", "-p", "no:cacheprovider", "--python"])
        .arg(&slow_second_worker)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("fastest -n 2 with a late second worker did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn warnings_summary_reads_like_pytest() {
    let dir = project("warnings");
    let strip_time = |s: &str| {
        s.lines()
            .map(|l| match l.find(" in ") {
                Some(i) if l.contains("passed") => l[..i].to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let reference = pytest_quiet(dir.path());
    let expected = strip_time(&text(&reference));
    assert!(expected.contains("warnings summary"), "{expected}");
    for engine in ["native", "pytest"] {
        let out = fastest(
            dir.path(),
            &python(),
            &[
                "--engine",
                engine,
                "-n",
                "2",
                "-q",
                "-p",
                "no:cacheprovider",
            ],
        );
        assert_eq!(strip_time(&text(&out)), expected, "engine {engine}");
    }
    let quiet = fastest(
        dir.path(),
        &python(),
        &["--disable-warnings", "-q", "-p", "no:cacheprovider"],
    );
    assert!(!text(&quiet).contains("warnings summary"));
    assert!(text(&quiet).contains("15 warnings"), "{}", text(&quiet));
}

/// A first run on two workers of ten modules: each worker compiles its share of them
/// ahead, and the last module warns when compiled (pytest's rewrite warning and an
/// invalid escape): those warnings are reported as pytest reports them, not lost in
/// the compilation ahead.
#[test]
fn warnings_of_compiling_reach_the_summary_on_a_first_run_on_two_workers() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10 {
        let src = if i == 9 {
            "def test_a():\n    assert (1, \"always true\")\n\n\ndef test_b():\n    x = \"\\d\"\n    assert x\n"
        } else {
            "def test_a():\n    assert True\n\n\ndef test_b():\n    assert 1 + 1 == 2\n"
        };
        std::fs::write(dir.path().join(format!("test_m{i}.py")), src).unwrap();
    }
    let reference = pytest_quiet(dir.path());
    let summary = |s: &str| -> String {
        let start = s.find("warnings summary").expect("a warnings summary");
        let end = s.find("-- Docs").expect("the docs line");
        s[start..end].to_string()
    };
    let expected = summary(&text(&reference));
    assert!(
        expected.contains("PytestAssertRewriteWarning"),
        "{expected}"
    );
    assert!(expected.contains("invalid escape sequence"), "{expected}");
    let out = fastest(dir.path(), &python(), &["-n", "2", "-q"]);
    assert_eq!(summary(&text(&out)), expected, "{}", text(&out));
    assert!(
        text(&out).contains("20 passed, 2 warnings"),
        "{}",
        text(&out)
    );
}

#[test]
fn doctests_run_natively_with_pytests_outcomes_and_report() {
    // Module doctests (functions, a class, a property, the module docstring), a text
    // file, an unexpected exception, all-skipped examples, the ini's option flags
    // (NUMBER), doctest_namespace and getfixture, a module's pytestmark, a test module's
    // doctests running before its setup_module: outcomes test by test, and the report
    // from "collected" on (failure sections, -v lines, the skip line) as pytest prints it.
    for args in [&["-n", "1"][..], &["-n", "2"]] {
        let out = compare_with_pytest("doctests", None, args);
        assert!(out.contains("engine: native (auto)"), "{out}");
        assert!(
            out.contains("3 failed, 8 passed, 1 skipped, 1 xfailed"),
            "{out}"
        );
    }
    let dir = project("doctests");
    let tail = |o: &Output| report_from_collected(&text(o));
    for args in [
        &["-rs"][..],
        &["-v", "-rs", "--doctest-report", "ndiff"],
        &["--doctest-continue-on-failure"],
    ] {
        let reference = run(Command::new(python())
            .current_dir(dir.path())
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args));
        let ours_args: Vec<&str> = args
            .iter()
            .copied()
            .chain(["--no-cache", "-n", "1"])
            .collect();
        let ours = fastest(dir.path(), &python(), &ours_args);
        assert_eq!(tail(&ours), tail(&reference), "{args:?}");
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
    }
    // Without pytest installed: the same outcomes from the harness's own checker.
    let scratch = tempfile::tempdir().unwrap();
    let bare = python_without_pytest(scratch.path());
    let out = compare_with_pytest("doctests", Some(&bare), &["-n", "1"]);
    assert!(out.contains("engine: native"), "{out}");
}

#[test]
fn a_file_named_on_the_command_line_gets_assertion_rewriting_like_pytest() {
    // pytest rewrites the asserts of a file given as an argument even when `python_files`
    // does not match it (modules imported only for their doctests are not rewritten).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("check_x.py"),
        "def test_x():\n    a = 1\n    assert a == 2\n",
    )
    .unwrap();
    let reference = run(Command::new(python()).current_dir(dir.path()).args([
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "check_x.py",
    ]));
    assert!(
        text(&reference).contains("E       assert 1 == 2"),
        "{}",
        text(&reference)
    );
    let ours = fastest(dir.path(), &python(), &["--no-cache", "check_x.py"]);
    assert!(
        text(&ours).contains("E       assert 1 == 2"),
        "{}",
        text(&ours)
    );
}

#[test]
fn modules_that_skip_at_import_are_counted_and_listed_like_pytest() {
    for engine in ["auto", "pytest"] {
        compare_with_pytest("module_skip", None, &["--engine", engine]);
    }
    let dir = project("module_skip");
    let strip_time = |s: &str| {
        s.lines()
            .map(|l| match l.find(" in ") {
                Some(i) if l.contains("skipped") => l[..i].to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let tail_from_collected = |s: &str| {
        let s = strip_time(s);
        s[s.find("collected").expect("a collected line")..].to_string()
    };
    for args in [
        &["-rs"][..],
        &["-rs", "-k", "one"],
        &["-rs", "test_skip_reason.py"],
    ] {
        let reference = run(Command::new(python())
            .current_dir(dir.path())
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args));
        let ours_args: Vec<&str> = args.iter().copied().chain(["--no-cache"]).collect();
        let ours = fastest(dir.path(), &python(), &ours_args);
        assert_eq!(
            tail_from_collected(&text(&ours)),
            tail_from_collected(&text(&reference)),
            "{args:?}"
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
    }
}

#[test]
fn parameter_sets_known_only_at_run_time_run_natively_like_pytest() {
    for args in [&["-n", "2"][..], &["-n", "1", "-v"]] {
        let out = compare_with_pytest("runtime_params", None, args);
        assert!(out.contains("engine: native (auto)"), "{out}");
    }
}

#[test]
fn parametrized_fixtures_run_natively_like_pytest() {
    for args in [&["-n", "2"][..], &["-n", "1"]] {
        let out = compare_with_pytest("fixture_params", None, args);
        assert!(out.contains("engine: native (auto)"), "{out}");
    }
}

#[test]
fn session_scoped_fixture_parameters_run_natively_like_pytest() {
    // pytest orders the items of both modules by the session fixture's parameter; the
    // worker must set the value up again (and the module fixture built on it) whenever
    // the parameter changes, and a conftest's session fixture is one value per session.
    for args in [&["-n", "1", "-v"][..], &["-n", "2"]] {
        let out = compare_with_pytest("session_params", None, args);
        assert!(out.contains("engine: native (auto)"), "{out}");
    }
}

#[test]
fn files_that_need_pytest_run_on_pytest_workers_beside_native_ones() {
    // Doctests under a conftest hook (pytest engine) and plain tests (native) in one run
    // of two workers: one worker of each kind; one report in pytest's order. On one
    // worker: all on pytest.
    for (args, engine) in [
        (&["-n", "2"][..], "engine: native, pytest for 1 file on 1 worker (auto: pkg/conftest.py defines the hook pytest_runtest_setup), workers: 2"),
        (&["-n", "1"], "engine: pytest (auto: pkg/conftest.py defines the hook pytest_runtest_setup), workers: 1"),
    ] {
        let out = compare_with_pytest("mixed_engines", None, args);
        assert!(out.contains(engine), "{args:?}\n{out}");
        let dir = project("mixed_engines");
        let reference = text(&pytest_junit(dir.path(), "ref.xml"));
        let failed = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| l.starts_with("FAILED "))
                .map(|l| l.split(" - ").next().unwrap_or(l).to_string())
                .collect()
        };
        assert_eq!(failed(&out), failed(&reference), "{args:?}\n{out}");
        assert_eq!(failed(&out).len(), 4, "{out}");
    }
}

#[test]
fn conftest_configure_hooks_and_computed_ignore_lists_run_natively() {
    // A conftest's `pytest_configure` that only registers markers is called by the
    // worker; `collect_ignore` computed at run time sends the directory to Python's
    // collection, and its items still run natively.
    for args in [&["-n", "1"][..], &["-n", "2"]] {
        let out = compare_with_pytest("configure_hook", None, args);
        assert!(out.contains("engine: native (auto)"), "{out}");
        assert!(out.contains("1 failed, 2 passed"), "{out}");
    }
}

#[test]
fn every_collected_module_is_imported_before_the_first_test_as_in_pytest() {
    for args in [&["-n", "1"][..], &["-n", "2"]] {
        let out = compare_with_pytest("session_imports", None, args);
        assert!(out.contains("engine: native (auto)"), "{out}");
    }
}

#[test]
fn import_modes_import_and_fail_like_pytest() {
    // Prepend mode: the second `test_same.py` is an import file mismatch; importlib
    // mode: both run, a sibling helper is not importable, module names come from the
    // rootdir. With the errors' neighbours still run, so every outcome is compared.
    for (mode, extra) in [
        ("--import-mode=prepend", &["-n", "1"][..]),
        ("--import-mode=prepend", &["-n", "2"]),
        ("--import-mode=importlib", &["-n", "1"]),
        ("--import-mode=importlib", &["-n", "2"]),
    ] {
        let both = [mode, "--continue-on-collection-errors"];
        let out = compare_with_pytest_given("import_modes", None, &both, extra);
        assert!(out.contains("engine: native (auto)"), "{out}");
        if mode.ends_with("prepend") {
            assert!(out.contains("import file mismatch:\nimported module 'test_same' has this __file__ attribute:"), "{out}");
        } else {
            assert!(
                out.contains("E   ModuleNotFoundError: No module named 'helper'"),
                "{out}"
            );
        }
    }
}

#[test]
fn caplog_and_captured_log_sections_match_pytest() {
    let out = compare_with_pytest("logging", None, &["-n", "1"]);
    assert!(out.contains("engine: native (auto)"), "{out}");
    // The failure's sections as pytest prints them.
    for section in [
        "------------------------------ Captured log setup ------------------------------",
        "WARNING  app:test_logging.py:11 from setup",
        "------------------------------ Captured log call -------------------------------",
        "ERROR    app:test_logging.py:50 something broke",
        "---------------------------- Captured log teardown -----------------------------",
        "WARNING  app:test_logging.py:13 from teardown",
    ] {
        assert!(out.contains(section), "missing {section:?}\n{out}");
    }
}

#[test]
fn parameter_ids_made_from_the_clock_still_run() {
    // The runner's collection and the worker's give other ids; the worker pairs its
    // parameter sets with the runner's in order, so every test runs and passes.
    let dir = project("clock_ids");
    for args in [&["-n", "1"][..], &["-n", "1", "--engine", "pytest"]] {
        let out = fastest(dir.path(), &python(), args);
        let stdout = text(&out);
        assert!(stdout.contains("3 passed"), "{args:?}\n{stdout}");
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{stdout}");
    }
    let run = fastest(dir.path(), &python(), &["--no-cache", "-v"]);
    let all = format!("{}{}", text(&run), String::from_utf8_lossy(&run.stderr));
    assert!(all.contains("its collection depends on the clock"), "{all}");
    assert!(all.contains("engine: native (auto)"), "{all}");
}

#[test]
fn marks_only_python_knows_are_filtered_by_python_and_the_rest_statically() {
    for expr in ["slow", "not slow"] {
        let dir = project("partial_marks");
        let reference = run(Command::new(python()).current_dir(dir.path()).args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            expr,
            "--junitxml",
            "ref.xml",
        ]));
        let ours = fastest(
            dir.path(),
            &python(),
            &["-m", expr, "--junitxml", "ours.xml", "-v"],
        );
        let expected = junit_outcomes(&dir.path().join("ref.xml"));
        assert_eq!(expected.len(), 2, "{}", text(&reference));
        assert_eq!(
            junit_outcomes(&dir.path().join("ours.xml")),
            expected,
            "-m {expr}\n{}",
            text(&ours)
        );
        assert!(
            text(&ours).contains("engine: native (auto)"),
            "{}",
            text(&ours)
        );
        assert!(
            String::from_utf8_lossy(&ours.stderr)
                .contains("test_unknown_marks.py: -k/-m need marks"),
            "only the module with unknown marks goes to Python"
        );
    }
}

#[test]
fn capfd_matches_pytest() {
    let out = compare_with_pytest("capture", None, &["-n", "1"]);
    assert!(out.contains("engine: native (auto)"), "{out}");
    assert!(out.contains("Captured stdout call"), "{out}");
    assert!(out.contains("left unread"), "{out}");
}

/// The pyenv interpreters of `minor` and later (3.12+ paths: unittest's `addDuration`),
/// as the development machine and CI have them; none where pyenv is absent.
fn pyenv_interpreters_from(minor: u32) -> Vec<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    let Some(versions) = root.map(|r| r.join("versions")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let mut parts = name.split('.');
            parts.next() == Some("3")
                && parts
                    .next()
                    .and_then(|m| m.parse::<u32>().ok())
                    .is_some_and(|m| m >= minor)
        })
        .map(|e| e.path().join("bin/python"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
}

/// Python 3.12's `TestCase.run` reports each test's duration to its result and warns
/// when the result has no `addDuration`: the native engine's result takes it, as
/// pytest's does, so no warning appears (checked on every pyenv 3.12+ interpreter).
#[test]
fn unittest_tests_run_without_duration_warnings_on_python_3_12_and_later() {
    let interpreters = pyenv_interpreters_from(12);
    if interpreters.is_empty() {
        eprintln!("no pyenv Python 3.12+ here: nothing to check");
        return;
    }
    for interpreter in interpreters {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            repo_root().join("tests/run_fixtures/outcomes/test_unittest.py"),
            dir.path().join("test_unittest.py"),
        )
        .unwrap();
        let out = fastest(dir.path(), &interpreter, &["-q", "--no-cache"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("1 failed, 1 passed, 1 skipped, 1 xfailed in"),
            "{}: {stdout}",
            interpreter.display()
        );
        assert!(
            !stdout.contains("addDuration"),
            "{}: {stdout}",
            interpreter.display()
        );
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn collection_errors_interrupt_the_run_like_pytest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("test_good.py"), "def test_a():\n    pass\n").unwrap();
    std::fs::write(d.join("test_broken.py"), "def test_b(:\n    pass\n").unwrap();
    std::fs::write(
        d.join("test_raises.py"),
        "raise RuntimeError('boom at import time')\n\ndef test_c():\n    pass\n",
    )
    .unwrap();
    std::fs::write(
        d.join("test_yield.py"),
        "def test_generator():\n    yield 1\n",
    )
    .unwrap();
    let tail_from_collected = |s: &str| {
        let s = &s[s.find("collected").expect("a collected line")..];
        let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
        if let Some(last) = lines.last_mut() {
            *last = last[..last.rfind(" in ").expect("a timing")].to_string();
        }
        lines.join("\n")
    };
    for (args, code) in [
        // pytest runs nothing and ends "Interrupted: 3 errors during collection", exit 2.
        (&[][..], 2),
        (&["-rA"][..], 2),
        // ... or runs the rest, counting the errors: exit 1.
        (&["--continue-on-collection-errors"][..], 1),
    ] {
        let reference = run(Command::new(python())
            .current_dir(d)
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args));
        assert_eq!(reference.status.code(), Some(code), "{}", text(&reference));
        for engine in ["native", "pytest"] {
            let mut ours_args = vec!["--engine", engine];
            ours_args.extend(args);
            let ours = fastest(d, &python(), &ours_args);
            assert_eq!(
                tail_from_collected(&text(&ours)),
                tail_from_collected(&text(&reference)),
                "{engine} {args:?}"
            );
            assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
        }
    }
}

/// A statically collected test module that fails when imported (a missing package, an
/// error in a project module it imports, a NameError at module level) is a collection
/// error, found when the workers import the session's modules before any test: pytest's
/// header counts, ERRORS sections, short summary and exit code.
#[test]
fn import_errors_of_static_modules_are_collection_errors_like_pytest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("test_good.py"), "def test_a():\n    pass\n").unwrap();
    std::fs::write(
        d.join("test_missing.py"),
        "import no_such_package_xyz\n\ndef test_m():\n    pass\n",
    )
    .unwrap();
    std::fs::write(
        d.join("helper.py"),
        "def f():\n    return 1 / 0\n\nX = f()\n",
    )
    .unwrap();
    std::fs::write(
        d.join("test_helper.py"),
        "import helper\n\ndef test_h():\n    pass\n\ndef test_h2():\n    pass\n",
    )
    .unwrap();
    std::fs::write(
        d.join("test_name.py"),
        "Y = undefined_name\n\ndef test_n():\n    pass\n",
    )
    .unwrap();
    // pytest's ImportError traceback starts in its own `importlib.import_module` call,
    // which the harness does not make: that one frame is left out of the comparison.
    let comparable_from = |s: &str, start: &str| {
        let s = &s[s.find(start).expect("the start line")..];
        let mut lines: Vec<String> = Vec::new();
        let mut skipping = false;
        for line in s.lines() {
            if line.contains("importlib/__init__.py") {
                skipping = true;
                continue;
            }
            if skipping && line.starts_with(' ') {
                continue;
            }
            skipping = false;
            lines.push(line.to_string());
        }
        if let Some(last) = lines.last_mut() {
            *last = last[..last.rfind(" in ").expect("a timing")].to_string();
        }
        lines.join("\n")
    };
    let comparable = |s: &str| comparable_from(s, "collected");
    for (args, code) in [
        (&[][..], 2),
        (&["-rA", "--tb=long"][..], 2),
        (&["-k", "good or h2"][..], 2),
        (&["--continue-on-collection-errors"][..], 1),
        (
            &["--continue-on-collection-errors", "-k", "a or h2", "-v"][..],
            1,
        ),
        (&["-n", "2"][..], 2),
    ] {
        let reference = run(Command::new(python())
            .current_dir(d)
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args.iter().filter(|a| !["-n", "2"].contains(a))));
        assert_eq!(reference.status.code(), Some(code), "{}", text(&reference));
        let mut ours_args = vec!["--engine", "native", "--no-cache"];
        ours_args.extend(args);
        let ours = fastest(d, &python(), &ours_args);
        assert_eq!(
            comparable(&text(&ours)),
            comparable(&text(&reference)),
            "{args:?}"
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
    }
    // The pytest engine collects in its workers: the same errors and exit code (its
    // header's count is printed before they are known).
    let reference =
        run(Command::new(python())
            .current_dir(d)
            .args(["-m", "pytest", "-p", "no:cacheprovider"]));
    let ours = fastest(d, &python(), &["--engine", "pytest", "--no-cache"]);
    let from_errors = |s: &str| comparable_from(s, "= ERRORS =");
    assert_eq!(from_errors(&text(&ours)), from_errors(&text(&reference)));
    assert_eq!(ours.status.code(), Some(2));
}

/// A conftest below the rootdir's `test*` directories that fails to import is an error
/// collecting its directory: none of the tests under it exist for pytest.
#[test]
fn a_failing_conftest_in_a_subdirectory_is_a_collection_error_like_pytest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("tests/sub")).unwrap();
    std::fs::write(d.join("tests/test_top.py"), "def test_top():\n    pass\n").unwrap();
    std::fs::write(
        d.join("tests/sub/conftest.py"),
        "import no_such_package_xyz\n",
    )
    .unwrap();
    std::fs::write(
        d.join("tests/sub/test_sub.py"),
        "def test_sub():\n    pass\n\ndef test_sub2():\n    pass\n",
    )
    .unwrap();
    // pytest's traceback starts in its own import machinery (frames fastest has not):
    // the rest is compared.
    let summary = |s: &str| {
        let keep = |l: &&str| {
            l.starts_with("collected")
                || l.starts_with("ERROR")
                || l.starts_with('_')
                || l.starts_with("tests/")
                || l.starts_with("E ")
                || l.contains("Interrupted")
                || l.contains(" passed")
                || l.contains(" error")
        };
        s.lines()
            .filter(keep)
            .map(|l| match l.rfind(" in ") {
                Some(i) if l.ends_with("s") || l.ends_with('=') => &l[..i],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (args, code) in [
        (&["tests"][..], 2),
        (&["tests", "--continue-on-collection-errors", "-rA"][..], 1),
        (&["tests", "-k", "top"][..], 2),
    ] {
        let reference = run(Command::new(python())
            .current_dir(d)
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args));
        assert_eq!(reference.status.code(), Some(code), "{}", text(&reference));
        let mut ours_args = vec!["--engine", "native", "--no-cache"];
        ours_args.extend(args);
        let ours = fastest(d, &python(), &ours_args);
        assert_eq!(
            summary(&text(&ours)),
            summary(&text(&reference)),
            "{args:?}"
        );
        assert!(
            text(&ours).contains("ERROR collecting tests/sub"),
            "{}",
            text(&ours)
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
    }
}

/// A test class pytest cannot instantiate (an `__init__` or `__new__`, own or inherited,
/// nested too) collects nothing, with pytest's `PytestCollectionWarning` in the warnings
/// summary; a filter that makes the warning an error makes it a collection error.
#[test]
fn uncollectable_test_classes_warn_like_pytest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("test_classes.py"),
        "class TestX:\n    def __init__(self):\n        pass\n\n    def test_x(self):\n        pass\n\n\n\
         def test_ok():\n    pass\n\n\nclass TestOuter:\n    class TestInner:\n        def __new__(cls):\n\
         \x20           return object.__new__(cls)\n\n        def test_never(self):\n            pass\n\n\
         \x20   def test_outer(self):\n        pass\n\n\nclass Base:\n    def __init__(self):\n        pass\n\n\n\
         class TestDerived(Base):\n    def test_d(self):\n        pass\n",
    )
    .unwrap();
    let from_collected = |s: &str| {
        let s = &s[s.find("collected").expect("a collected line")..];
        let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
        if let Some(last) = lines.last_mut() {
            *last = last[..last.rfind(" in ").expect("a timing")].to_string();
        }
        lines.join("\n")
    };
    for args in [&[][..], &["-rA"][..]] {
        let reference = run(Command::new(python())
            .current_dir(d)
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args));
        assert!(
            text(&reference).contains("2 passed, 3 warnings"),
            "{}",
            text(&reference)
        );
        let mut ours_args = vec!["--engine", "native", "--no-cache"];
        ours_args.extend(args);
        let ours = fastest(d, &python(), &ours_args);
        assert_eq!(
            from_collected(&text(&ours)),
            from_collected(&text(&reference)),
            "{args:?}"
        );
        assert_eq!(ours.status.code(), Some(0));
    }
    std::fs::write(
        d.join("pytest.ini"),
        "[pytest]\nfilterwarnings =\n    error::pytest.PytestCollectionWarning\n",
    )
    .unwrap();
    let ours = fastest(d, &python(), &["--engine", "native", "--no-cache"]);
    let out = text(&ours);
    for line in [
        "collected 2 items / 3 errors",
        "ERROR test_classes.py::TestX - pytest.PytestCollectionWarning",
        "ERROR test_classes.py::TestOuter::TestInner - pytest.PytestCollectionWarning",
        "ERROR test_classes.py::TestDerived - pytest.PytestCollectionWarning",
        "Interrupted: 3 errors during collection",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert_eq!(ours.status.code(), Some(2));
}

#[test]
fn fixture_scopes_and_xunit_order_match_pytest() {
    // Package scope ends with the conftest's package (the session's when the directory
    // is no package); xunit functions run where pytest's autouse fixtures for them do;
    // `usefixtures` applies to unittest classes. Each test asserts what ran before it.
    let out = compare_with_pytest("fixture_order", None, &["-n", "1"]);
    assert!(out.contains("engine: native"), "{out}");
    assert!(out.contains("11 passed"), "{out}");
}

#[test]
fn pytest_exit_and_exitfirst_stop_the_run_like_pytest() {
    let dir = project("session_exit");
    let d = dir.path();
    for (args, exit_code) in [
        (&["-k", "exit"][..], ""),
        (&["-k", "exit"][..], "3"),
        (&["-k", "exit", "-v"][..], ""),
        (&["-x"][..], ""),
    ] {
        let marker = d.join("torn_down.txt");
        let with_env = |cmd: &mut Command| {
            let _ = std::fs::remove_file(&marker);
            cmd.env("TEARDOWN_MARKER", &marker)
                .env("EXIT_CODE", exit_code)
                .output()
                .expect("spawn")
        };
        let reference = with_env(
            Command::new(python())
                .current_dir(d)
                .args(["-m", "pytest", "-p", "no:cacheprovider"])
                .args(args),
        );
        let pytest_tore_down = marker.exists();
        let ours = with_env(
            Command::new(env!("CARGO_BIN_EXE_fastest"))
                .current_dir(d)
                .args(["--python"])
                .arg(python())
                .args(["--no-cache", "-n", "1"])
                .args(args),
        );
        assert_eq!(
            report_from_collected(&text(&ours)),
            report_from_collected(&text(&reference)),
            "{args:?} EXIT_CODE={exit_code}"
        );
        assert_eq!(
            ours.status.code(),
            reference.status.code(),
            "{args:?} EXIT_CODE={exit_code}\n{}",
            text(&ours)
        );
        assert_eq!(
            marker.exists(),
            pytest_tore_down,
            "{args:?}: teardown at exit"
        );
    }
}

#[test]
fn a_plugin_named_with_p_runs_on_the_pytest_engine_like_pytest() {
    // Its fixture, its collection hook and its report hook all act, as under pytest
    // (before, `-p NAME` only reached Python collection: the native engine ran the
    // tests without the plugin).
    for workers in ["1", "2"] {
        let out = compare_with_pytest_given(
            "named_plugin",
            None,
            &["-p", "local_plugin"],
            &["-n", workers],
        );
        assert!(out.contains("-p local_plugin loads a plugin"), "{out}");
        assert!(out.contains("1 deselected"), "{out}");
    }
}

#[test]
fn unknown_marks_warn_or_fail_collection_like_pytest() {
    // Before, the native engine knew no registered marks: no PytestUnknownMarkWarning,
    // and `--strict-markers` let a module with an unknown mark run.
    let dir = project("marker_registry");
    let d = dir.path();
    for args in [
        &[][..],
        &["--strict-markers"][..],
        &["--strict", "-rA"][..],
        &["-o", "strict_xfail=true"][..],
        &[
            "--strict-markers",
            "--continue-on-collection-errors",
            "-n",
            "2",
        ][..],
    ] {
        let reference = run(Command::new(python())
            .current_dir(d)
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args.iter().filter(|a| !["-n", "2"].contains(a))));
        let mut ours_args = vec!["--no-cache"];
        ours_args.extend(args);
        let ours = fastest(d, &python(), &ours_args);
        assert!(text(&ours).contains("engine: native"), "{}", text(&ours));
        assert_eq!(
            report_from_collected(&text(&ours)),
            report_from_collected(&text(&reference)),
            "{args:?}"
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
    }
}

#[test]
fn assertion_failures_read_like_pytests() {
    // The FAILURES sections of asserts of every kind pytest explains (`==` of numbers,
    // strings, lists, dicts, sets, dataclasses; `in`, `not in`, a message, a falsy call,
    // a conftest helper), word for word but for object addresses.
    let dir = project("assert_explanations");
    let d = dir.path();
    let masked = |s: &str| report_from_collected(&masked_addresses(s));
    // On CI (`CI` or `BUILD_NUMBER` set) pytest does not truncate explanations.
    let on_ci = |cmd: &mut Command, ci: bool| {
        if ci {
            cmd.env("CI", "true");
        } else {
            cmd.env_remove("CI").env_remove("BUILD_NUMBER");
        }
    };
    for ci in [false, true] {
        for args in [&[][..], &["--tb=short"][..], &["--tb=long", "-l"][..]] {
            let mut reference = Command::new(python());
            reference
                .current_dir(d)
                .args(["-m", "pytest", "-p", "no:cacheprovider"])
                .args(args);
            on_ci(&mut reference, ci);
            let reference = run(&mut reference);
            let mut ours = Command::new(env!("CARGO_BIN_EXE_fastest"));
            ours.current_dir(d)
                .arg("--python")
                .arg(python())
                .arg("--no-cache")
                .args(args);
            on_ci(&mut ours, ci);
            let ours = run(&mut ours);
            assert!(
                text(&reference).contains("12 failed"),
                "{}",
                text(&reference)
            );
            assert_eq!(
                masked(&text(&ours)),
                masked(&text(&reference)),
                "{args:?}, CI: {ci}"
            );
            assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
        }
    }
}

#[test]
fn junit_properties_and_multiline_messages_match_pytests_xml() {
    // `record_property` was a no-op (no `<properties>`, no xunit2 warning), and message
    // attributes held raw newlines (read back as spaces) and text escaped `"`.
    let dir = project("junit_properties");
    let d = dir.path();
    let normalized = |path: &Path| {
        let xml = std::fs::read_to_string(path).unwrap();
        // Values of time, timestamp and hostname vary between runs.
        let mut out = String::with_capacity(xml.len());
        let mut rest = xml.as_str();
        while let Some(i) = [" time=\"", " timestamp=\"", " hostname=\""]
            .iter()
            .filter_map(|k| rest.find(k).map(|i| i + k.len()))
            .min()
        {
            out.push_str(&rest[..i]);
            rest = &rest[i + rest[i..].find('"').expect("a closing quote")..];
        }
        out.push_str(rest);
        masked_addresses(&out)
    };
    let reference = pytest_junit_with(d, "ref.xml", &[]);
    assert_eq!(reference.status.code(), Some(1));
    for engine in ["native", "pytest"] {
        let ours = fastest(
            d,
            &python(),
            &["--no-cache", "--engine", engine, "--junitxml", "ours.xml"],
        );
        assert_eq!(ours.status.code(), Some(1), "{}", text(&ours));
        assert_eq!(
            normalized(&d.join("ours.xml")),
            normalized(&d.join("ref.xml")),
            "{engine}"
        );
        // (pytest-engine workers write no JUnit file, so their pytest does not warn.)
        assert!(
            engine == "pytest"
                || text(&ours).contains(
                    "PytestWarning: record_property is incompatible with junit_family 'xunit2'"
                ),
            "{}",
            text(&ours)
        );
    }
}

#[test]
fn remaining_semantics_run_natively_like_pytest() {
    // Built-in fixtures, request attributes, ini usefixtures, a nested override chain,
    // xfail run/conditions, filterwarnings error, monkeypatch undo, pytest helpers,
    // unittest module setup and cleanups: outcomes and the whole report as pytest's.
    let out = compare_with_pytest_given("semantics", None, &[], &["-n", "1"]);
    assert!(out.contains("engine: native"), "{out}");
    let dir = project("semantics");
    let reference = run(Command::new(python()).current_dir(dir.path()).args([
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
    ]));
    let ours = fastest(
        dir.path(),
        &python(),
        &["--no-cache", "-n", "1", "-p", "no:cacheprovider"],
    );
    assert_eq!(
        report_from_collected(&text(&ours)),
        report_from_collected(&text(&reference))
    );
}

#[test]
fn cache_and_tmpdir_factory_fixtures_run_natively_like_pytest() {
    // Both sent the run to the pytest engine before; `cache` keeps values between runs.
    let ours_dir = project("cache_fixture");
    let pytest_dir = project("cache_fixture");
    for run_no in 1..=2 {
        let reference = run(Command::new(python()).current_dir(pytest_dir.path()).args([
            "-m",
            "pytest",
            "-q",
            "--junitxml",
            "ref.xml",
        ]));
        let ours = fastest(
            ours_dir.path(),
            &python(),
            &["--no-cache", "-n", "1", "--junitxml", "ours.xml"],
        );
        assert!(text(&ours).contains("engine: native"), "{}", text(&ours));
        assert_eq!(
            junit_outcomes(&ours_dir.path().join("ours.xml")),
            junit_outcomes(&pytest_dir.path().join("ref.xml")),
            "run {run_no}\n{}",
            text(&ours)
        );
        assert_eq!(ours.status.code(), reference.status.code(), "run {run_no}");
    }
}

#[test]
fn indirect_parametrization_runs_natively_like_pytest() {
    // It sent the run to the pytest engine before; a module-scoped fixture must be made
    // again when its indirect parameter changes (pytest's cache key).
    for workers in ["1", "2"] {
        let out = compare_with_pytest("indirect_params", None, &["-n", workers]);
        assert!(out.contains("engine: native"), "{out}");
    }
}
