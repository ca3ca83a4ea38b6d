//! `fastest watch [ARGS]`: runs `fastest run --changed ARGS` now and again after every
//! change under the rootdir, with a worker started ahead while it waits.
//!
//! The start of a worker (the interpreter, `import pytest`, the harness) is most of a
//! one-edit run; here it happens while the user edits. The worker is a fresh process of
//! the same interpreter and environment as a run would start, adopted by the next run
//! only when that run starts its workers the same way and its environment digest is the
//! one the worker started in (otherwise it is killed and the run starts its own).
//!
//! Changes are found by polling: every file under the rootdir (hidden directories,
//! `__pycache__` and virtual environments left out) with its size and mtime. Files
//! that changed while a run ran (saved by the user, or written by a test) start one
//! more run at once; when only the same files change during that one too, no third
//! follows (a test that rewrites a project file on every run must not make runs follow
//! each other forever), so a file saved again during that second run waits for the
//! next change.

use crate::run::{install_sigint_handler, restore_default_sigint, INTERRUPTED};
use anyhow::Context;
use fastest_cache::Digest;
use fastest_config::{determine_setup, SetupRequest};
use fastest_report::ExitCode;
use fastest_runner::pool::{PoolConfig, Prestarted};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

/// How often the tree is polled for changes, at most: a tree that takes longer to walk
/// is polled `POLL_COST_FACTOR` walks apart, so polling costs at most a fifth of a core.
const POLL: Duration = Duration::from_millis(50);
const POLL_COST_FACTOR: u32 = 5;
/// How long a change must hold still before the run starts (an editor's save can take
/// several writes).
const SETTLE: Duration = Duration::from_millis(20);

/// What `fastest watch` carries from one run to the next.
#[derive(Default)]
pub struct Warm {
    /// Set by `fastest watch`: its runs say how to start the next one's first worker
    /// (`next`); a plain run has no next run and skips that.
    pub watching: bool,
    /// The worker started ahead, for the next run, with the environment digest of the
    /// run after which it was started.
    pub worker: Option<(Prestarted, Digest)>,
    /// Set by a run: how to start a worker like its first, and its environment digest.
    pub next: Option<(PoolConfig, Digest)>,
}

/// Runs until Ctrl-C; the exit code is the last run's.
pub fn watch(args: Vec<String>) -> anyhow::Result<ExitCode> {
    if args.first().is_some_and(|a| a == "-h" || a == "--help") {
        println!(
            "usage: fastest watch [ARGS]\n\nRuns `fastest run --changed ARGS` now and after \
             every change under the rootdir, with a worker started ahead. Ctrl-C stops."
        );
        return Ok(ExitCode::Ok);
    }
    let invocation_dir = std::env::current_dir().context("reading the current directory")?;
    // The rootdir as the runs will determine it.
    let (cli, _) = crate::parse(&args)?;
    let config = determine_setup(&SetupRequest {
        invocation_dir,
        args: cli.paths.clone(),
        inifile: cli.inifile.clone(),
        rootdir: cli.rootdir.clone(),
        overrides: cli.override_ini.clone(),
    })
    .map_err(|e| crate::UsageError(e.to_string()))?;
    let rootdir = config.rootdir;
    let mut warm = Warm {
        watching: true,
        ..Warm::default()
    };
    let mut argv = vec!["run".to_string(), "--changed".to_string()];
    argv.extend(args);
    // The files that changed while the last run ran, when that started a run at once:
    // a run during which only those change again is not followed by another (a test
    // that rewrites a project file would otherwise start runs forever).
    let mut rerun_for: Option<BTreeSet<PathBuf>> = None;
    let mut first = true;
    let mut before = snapshot(&rootdir);
    loop {
        // During a run, Ctrl-C acts as in a plain `fastest run`: it kills the process
        // until the run installs its own handler for the workers (a collection Python
        // is doing then must not be stored half done).
        restore_default_sigint();
        let result = crate::run_argv(argv.clone(), &mut warm);
        install_sigint_handler();
        let code = match result {
            Ok(code) => code,
            // A usage error in the arguments ends the watch; a later one (a config file
            // edited into a broken state) is reported and watching goes on.
            Err(e) if first && e.downcast_ref::<crate::UsageError>().is_some() => return Err(e),
            Err(e) => {
                eprintln!("ERROR: {e:#}");
                ExitCode::InternalError
            }
        };
        first = false;
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(code);
        }
        let baseline = snapshot(&rootdir);
        warm.worker = warm
            .next
            .take()
            .and_then(|(pool, environment)| Some((Prestarted::start(&pool)?, environment)));
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(code);
        }
        let changed_during = changed_paths(&before, &baseline);
        if !changed_during.is_empty()
            && rerun_for
                .as_ref()
                .is_none_or(|last| !changed_during.is_subset(last))
        {
            // Saved while the run ran (or written by it): run again now.
            rerun_for = Some(changed_during);
            before = baseline;
            continue;
        }
        rerun_for = None;
        eprintln!(
            "fastest watch: waiting for changes under {} (Ctrl-C stops)",
            rootdir.display()
        );
        match wait_for_change(&rootdir, &baseline) {
            Some(settled) => before = settled,
            None => return Ok(code),
        }
        crate::timing::mark("watch: change seen");
    }
}

/// Path → (size, mtime) of every watched file under `root`.
type Snapshot = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// The files added, removed or changed between two snapshots.
fn changed_paths(before: &Snapshot, after: &Snapshot) -> BTreeSet<PathBuf> {
    let mut changed: BTreeSet<PathBuf> = after
        .iter()
        .filter(|(path, stat)| before.get(*path) != Some(*stat))
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(before.keys().filter(|p| !after.contains_key(*p)).cloned());
    changed
}

/// Directories never watched: tool caches and virtual environments (written by runs
/// and installs, not edited as project files).
fn skipped_dir(dir: &Path, name: &str) -> bool {
    name.starts_with('.')
        || name == "__pycache__"
        || name == "node_modules"
        || name.ends_with(".egg-info")
        || dir.join("pyvenv.cfg").is_file()
}

fn snapshot(root: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let name = entry.file_name();
                if !skipped_dir(&path, &name.to_string_lossy()) {
                    stack.push(path);
                }
            } else if let Ok(meta) = entry.metadata() {
                files.insert(path, (meta.len(), meta.modified().ok()));
            }
        }
    }
    files
}

/// Polls until the tree differs from `baseline` and then holds still for `SETTLE`: the
/// settled snapshot (the next run's starting point), or `None` when interrupted first.
fn wait_for_change(root: &Path, baseline: &Snapshot) -> Option<Snapshot> {
    let mut interval = POLL;
    loop {
        std::thread::sleep(interval);
        if INTERRUPTED.load(Ordering::SeqCst) {
            return None;
        }
        let walk = std::time::Instant::now();
        let now = snapshot(root);
        interval = POLL.max(walk.elapsed() * POLL_COST_FACTOR);
        if now != *baseline {
            let mut last = now;
            loop {
                std::thread::sleep(SETTLE);
                if INTERRUPTED.load(Ordering::SeqCst) {
                    return None;
                }
                let again = snapshot(root);
                if again == last {
                    return Some(again);
                }
                last = again;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sees_edits_and_new_files_but_not_tool_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("test_a.py"), "def test_a():\n    pass\n").unwrap();
        std::fs::create_dir_all(root.join("__pycache__")).unwrap();
        std::fs::create_dir_all(root.join(".fastest_cache")).unwrap();
        std::fs::create_dir_all(root.join("venv")).unwrap();
        std::fs::write(root.join("venv/pyvenv.cfg"), "home = /usr\n").unwrap();
        let before = snapshot(root);
        assert_eq!(before.len(), 1, "{before:?}");
        // Written by runs and installs: not changes.
        std::fs::write(root.join("__pycache__/test_a.pyc"), "x").unwrap();
        std::fs::write(root.join(".fastest_cache/db"), "x").unwrap();
        std::fs::write(root.join("venv/lib.py"), "x").unwrap();
        assert_eq!(snapshot(root), before);
        // An edit that changes the size, and a new file in a new directory.
        std::fs::write(root.join("test_a.py"), "def test_a():\n    assert 1\n").unwrap();
        assert_ne!(snapshot(root), before);
        let edited = snapshot(root);
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/data.txt"), "1").unwrap();
        assert_eq!(snapshot(root).len(), edited.len() + 1);
    }

    #[test]
    fn changed_paths_are_the_added_removed_and_rewritten_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("kept.py"), "1").unwrap();
        std::fs::write(root.join("edited.py"), "1").unwrap();
        std::fs::write(root.join("removed.py"), "1").unwrap();
        let before = snapshot(root);
        std::fs::write(root.join("edited.py"), "12").unwrap();
        std::fs::remove_file(root.join("removed.py")).unwrap();
        std::fs::write(root.join("added.py"), "1").unwrap();
        let changed = changed_paths(&before, &snapshot(root));
        let names: Vec<String> = changed
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["added.py", "edited.py", "removed.py"]);
        assert!(changed_paths(&before, &before).is_empty());
    }
}
