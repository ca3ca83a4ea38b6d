//! Integration tests for the preloader: the built `fastest` binary on a small project
//! with `FASTEST_PRELOAD=1`. A run starts the project's preloader; the next run's
//! workers are forked by it and behave as fresh ones (the run's environment and cwd, a
//! crashing test reported the same way); a changed `sys.path` directory retires it;
//! `fastest cache clear` and a removed cache end it; under CI it is not started.
//!
//! Interpreter: `$FASTEST_TEST_PYTHON` (default `.venv-test/bin/python`, created by
//! `bash scripts/test.sh`).

mod common;

use common::{junit_outcomes, python};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TESTS: &str = r#"
import os
import pathlib


def _parent_is_preloader():
    cmdline = pathlib.Path("/proc/%d/cmdline" % os.getppid()).read_bytes()
    return b"fastest_harness.preload" in cmdline


def test_sees_the_runs_environment():
    # On sys.path through a relative PYTHONPATH: resolved against the run's cwd.
    import probe_helper

    assert probe_helper.VALUE == 7
    with open(os.environ["PARENTS_FILE"], "a") as out:
        out.write("%d %s\n" % (os.getppid(), _parent_is_preloader()))
    assert os.environ["PROBE"] == pathlib.Path("expected_probe.txt").read_text()


def test_crashes():
    os._exit(3)


def test_after_the_crash():
    assert os.getcwd() == os.environ["EXPECTED_CWD"]
"#;

struct Project {
    dir: tempfile::TempDir,
    extra_path: PathBuf,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test_probe.py"), TESTS).unwrap();
        std::fs::write(dir.path().join("pytest.ini"), "[pytest]\n").unwrap();
        // On `sys.path` through PYTHONPATH (relative, the same value every run): a file
        // added there changes what a fresh interpreter would import.
        let extra_path = dir.path().join("extra");
        std::fs::create_dir(&extra_path).unwrap();
        std::fs::write(extra_path.join("probe_helper.py"), "VALUE = 7\n").unwrap();
        std::fs::create_dir(dir.path().join("run")).unwrap();
        Project { dir, extra_path }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, probe: &str, env: &[(&str, &str)]) -> Output {
        std::fs::write(self.path().join("expected_probe.txt"), probe).unwrap();
        let _ = std::fs::remove_file(self.path().join("out.xml"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fastest"));
        cmd.current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .env("FASTEST_PRELOAD", "1")
            // Its own socket directory (`$XDG_RUNTIME_DIR/fastest`).
            .env("XDG_RUNTIME_DIR", self.path().join("run"))
            .env("PROBE", probe)
            .env("PYTHONPATH", "extra")
            .env("PARENTS_FILE", self.path().join("parents.txt"))
            .env("EXPECTED_CWD", self.path().canonicalize().unwrap())
            .args(["--python"])
            .arg(python())
            .args(["-p", "no:cacheprovider", "--junitxml", "out.xml", "-n", "1"])
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("fastest starts")
    }

    fn outcomes(&self) -> BTreeMap<String, String> {
        junit_outcomes(&self.path().join("out.xml"))
    }

    /// The last run's worker: its parent's pid, and whether that parent is a preloader.
    fn last_worker_parent(&self) -> (u32, bool) {
        let text = std::fs::read_to_string(self.path().join("parents.txt")).unwrap();
        let last = text.lines().last().unwrap();
        let (pid, preloader) = last.split_once(' ').unwrap();
        (pid.parse().unwrap(), preloader == "True")
    }

    fn sockets(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path().join("run/fastest"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sock"))
            .collect()
    }

    fn wait_for_preloader(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.sockets().is_empty() {
            assert!(Instant::now() < deadline, "no preloader started");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn alive(pid: u32) -> bool {
    // A zombie is not alive: its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn wait_until_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn workers_forked_by_the_preloader_behave_as_fresh_ones_until_sys_path_changes() {
    let project = Project::new();
    let expected: BTreeMap<String, String> = [
        ("test_probe::test_after_the_crash", "passed"),
        ("test_probe::test_crashes", "failed"),
        ("test_probe::test_sees_the_runs_environment", "passed"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    // The first run starts its workers itself, and a preloader for the next run.
    let first = project.run("one", &[]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    assert_eq!(project.outcomes(), expected, "{}", text(&first));
    assert!(
        text(&first).contains("worker crashed: exit code 3"),
        "{}",
        text(&first)
    );
    assert!(!project.last_worker_parent().1);
    project.wait_for_preloader();

    // The next run's worker is forked by it, with this run's environment and cwd; the
    // crash is reported as before and the test after it runs in a replacement.
    let second = project.run("two", &[]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert_eq!(project.outcomes(), expected, "{}", text(&second));
    assert!(
        text(&second).contains("worker crashed: exit code 3"),
        "{}",
        text(&second)
    );
    let (preloader, forked) = project.last_worker_parent();
    assert!(forked, "the worker was not forked by the preloader");
    assert!(alive(preloader));

    // A new file on `sys.path`: the preloader no longer is what a fresh interpreter
    // would be. It refuses and retires; the run starts its own workers.
    std::fs::write(project.extra_path.join("newmod.py"), "X = 1\n").unwrap();
    let third = project.run("three", &[]);
    assert_eq!(project.outcomes(), expected, "{}", text(&third));
    assert!(!project.last_worker_parent().1);
    wait_until_gone(preloader);

    // The third run started a new one; `fastest cache clear` ends it.
    project.wait_for_preloader();
    let fourth = project.run("four", &[]);
    assert_eq!(project.outcomes(), expected, "{}", text(&fourth));
    let (preloader, forked) = project.last_worker_parent();
    assert!(forked);
    let clear = Command::new(env!("CARGO_BIN_EXE_fastest"))
        .current_dir(project.path())
        .env("XDG_RUNTIME_DIR", project.path().join("run"))
        .args(["cache", "clear"])
        .output()
        .unwrap();
    assert!(clear.status.success(), "{}", text(&clear));
    wait_until_gone(preloader);

    // So does removing the project's cache (the socket is elsewhere: a cache dir is
    // copied and restored, a socket cannot be).
    project.run("five", &[]);
    project.wait_for_preloader();
    let sixth = project.run("six", &[]);
    assert_eq!(project.outcomes(), expected, "{}", text(&sixth));
    let (preloader, forked) = project.last_worker_parent();
    assert!(forked);
    std::fs::remove_dir_all(project.path().join(".fastest_cache")).unwrap();
    wait_until_gone(preloader);
}

#[test]
fn under_ci_no_preloader_is_started_unless_asked_for() {
    let project = Project::new();
    let out = project.run("ci", &[("CI", "true"), ("FASTEST_PRELOAD", "")]);
    assert_eq!(project.outcomes().len(), 3, "{}", text(&out));
    std::thread::sleep(Duration::from_millis(500));
    assert!(project.sockets().is_empty());
    assert!(!project.path().join("run/fastest").exists());
}
