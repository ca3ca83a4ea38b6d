//! Integration tests for `--pdb`, `--trace` and `breakpoint()` with `-s`: the built
//! `fastest` binary on `tests/run_fixtures/debugger`, driven through a pseudo-terminal by
//! `tests/support/pty_drive.py` (which types a line at each `(Pdb) ` prompt), on both
//! engines. pytest's own `--pdb` output is the model (see `debugging.py`).
//!
//! Interpreter: `$FASTEST_TEST_PYTHON` (default `.venv-test/bin/python`).

mod common;

use common::{copy_dir, python, repo_root};
use std::process::Command;

struct Session {
    screen: String,
    code: i32,
}

/// Runs fastest in the fixture on a terminal, answering the debugger with `answers`.
fn drive(answers: &[&str], args: &[&str]) -> Session {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("tests/run_fixtures/debugger"),
        dir.path(),
        &[".fastest_cache"],
    );
    let mut cmd = Command::new(python());
    cmd.current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTEST_ADDOPTS")
        .arg(repo_root().join("tests/support/pty_drive.py"));
    for a in answers {
        cmd.args(["--send", a]);
    }
    cmd.arg("--")
        .arg(env!("CARGO_BIN_EXE_fastest"))
        .arg("--python")
        .arg(python())
        .args(["--no-record", "-p", "no:cacheprovider"])
        .args(args);
    let out = cmd.output().expect("pty driver starts");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (screen, code) = text
        .rsplit_once("\nEXIT ")
        .expect("driver reports the exit code");
    Session {
        screen: screen.to_string(),
        code: code.trim().parse().unwrap(),
    }
}

#[test]
fn pdb_opens_post_mortem_on_a_failure_and_the_run_goes_on() {
    for engine in ["native", "pytest"] {
        let s = drive(&["p x", "c"], &["--pdb", "--engine", engine, "tests"]);
        let screen = &s.screen;
        for expected in [
            ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>> captured stdout >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>\nhello from the test\n",
            ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>> traceback >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>\n",
            "E       assert (41 + 1) == 43",
            ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>> entering PDB >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>\n\n>>>>>>>>>>>>>>>>>> PDB post_mortem (IO-capturing turned off) >>>>>>>>>>>>>>>>>>>\n",
            "-> assert x + 1 == 43\n(Pdb) p x\n41\n(Pdb) c\n",
            ">>>>>>>>>>>>>>>>>>>>> PDB continue (IO-capturing resumed) >>>>>>>>>>>>>>>>>>>>>>\n",
            "FAILED tests/test_p.py::test_fail - assert (41 + 1) == 43",
            "1 failed, 2 passed",
        ] {
            assert!(
                screen.contains(expected),
                "{engine}: missing {expected:?} in\n{screen}"
            );
        }
        // Shown in the debugger already: not repeated under FAILURES (pytest's _pdbshown).
        assert!(!screen.contains("= FAILURES ="), "{engine}:\n{screen}");
        assert_eq!(s.code, 1, "{engine}:\n{screen}");
    }
}

#[test]
fn quitting_the_debugger_stops_the_run_with_exit_code_2() {
    for engine in ["native", "pytest"] {
        let s = drive(&["q"], &["--pdb", "--engine", engine, "-n", "2", "tests"]);
        assert!(
            s.screen.contains(
                "!!!!!!!!!!!!!!!!!!! _pytest.outcomes.Exit: Quitting debugger !!!!!!!!!!!!!!!!!!!"
            ),
            "{engine}:\n{}",
            s.screen
        );
        assert!(
            s.screen.contains("--pdb: running on one worker"),
            "{engine}: -n 2 falls back to one worker and says so\n{}",
            s.screen
        );
        // As pytest: the summary still follows, the counts line last.
        let quit = s.screen.find("Quitting debugger").unwrap();
        let counts = s
            .screen
            .rfind(" failed")
            .unwrap_or_else(|| panic!("{engine}: no counts line\n{}", s.screen));
        assert!(
            counts > quit,
            "{engine}: counts line after the quit line\n{}",
            s.screen
        );
        assert_eq!(s.code, 2, "{engine}:\n{}", s.screen);
    }
}

#[test]
fn trace_stops_at_the_start_of_every_test() {
    for engine in ["native", "pytest"] {
        let s = drive(&["c", "c", "c"], &["--trace", "--engine", engine, "tests"]);
        let stops: Vec<&str> = s
            .screen
            .lines()
            .filter(|l| l.starts_with("> ") && l.contains("test_p.py("))
            .collect();
        assert_eq!(stops.len(), 3, "{engine}: one stop per test\n{}", s.screen);
        assert!(stops[0].ends_with("test_ok()"), "{engine}: {stops:?}");
        assert!(s.screen.contains("PDB runcall (IO-capturing turned off)"));
        // The output the failing test printed after `continue` is captured again.
        assert!(
            s.screen.contains("Captured stdout call"),
            "{engine}:\n{}",
            s.screen
        );
        assert_eq!(s.code, 1, "{engine}:\n{}", s.screen);
    }
}

#[test]
fn breakpoint_works_with_capture_off() {
    for engine in ["native", "pytest"] {
        let s = drive(&["y = 6", "c"], &["-s", "--engine", engine, "breakpoint"]);
        assert!(
            s.screen.contains("(Pdb) y = 6\n(Pdb) c\n"),
            "{engine}:\n{}",
            s.screen
        );
        // The value set in the debugger is what the test then asserts.
        assert!(s.screen.contains("1 passed"), "{engine}:\n{}", s.screen);
        assert_eq!(s.code, 0, "{engine}:\n{}", s.screen);
    }
}

#[test]
fn pdb_opens_post_mortem_on_a_setup_error() {
    // A fixture that raises: the debugger opens in the fixture's frame, as pytest's.
    for engine in ["native", "pytest"] {
        let s = drive(
            &["p value", "c"],
            &["--pdb", "--engine", engine, "setup_error"],
        );
        let screen = &s.screen;
        for expected in [
            ">       raise RuntimeError(\"setup failed\")\nE       RuntimeError: setup failed\n",
            ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>> entering PDB >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>\n",
            "-> raise RuntimeError(\"setup failed\")\n(Pdb) p value\n'in the fixture'\n(Pdb) c\n",
            "ERROR setup_error/test_s.py::test_uses_broken_fixture - RuntimeError: setup f",
            "1 error",
        ] {
            assert!(
                screen.contains(expected),
                "{engine}: missing {expected:?} in\n{screen}"
            );
        }
        assert_eq!(s.code, 1, "{engine}:\n{screen}");
    }
}
