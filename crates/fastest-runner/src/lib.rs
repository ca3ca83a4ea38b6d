//! Runner stage: finds the user's interpreter, installs the embedded harness under the
//! cache dir (once per version), schedules tests and runs them on Python workers.

pub mod pool;
pub mod preload;
pub mod schedule;

use fastest_protocol::{DynamicCollection, ProtocolError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The harness sources, embedded at build time.
const HARNESS_FILES: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../python/fastest_harness/__init__.py"),
    ),
    (
        "collect.py",
        include_str!("../../../python/fastest_harness/collect.py"),
    ),
    (
        "worker.py",
        include_str!("../../../python/fastest_harness/worker.py"),
    ),
    (
        "deps.py",
        include_str!("../../../python/fastest_harness/deps.py"),
    ),
    (
        "reports.py",
        include_str!("../../../python/fastest_harness/reports.py"),
    ),
    (
        "pytest_engine.py",
        include_str!("../../../python/fastest_harness/pytest_engine.py"),
    ),
    (
        "capture.py",
        include_str!("../../../python/fastest_harness/capture.py"),
    ),
    (
        "builtins.py",
        include_str!("../../../python/fastest_harness/builtins.py"),
    ),
    (
        "coverage_support.py",
        include_str!("../../../python/fastest_harness/coverage_support.py"),
    ),
    (
        "main_stub.py",
        include_str!("../../../python/fastest_harness/main_stub.py"),
    ),
    (
        "session_plugins.py",
        include_str!("../../../python/fastest_harness/session_plugins.py"),
    ),
    (
        "shift_clock.py",
        include_str!("../../../python/fastest_harness/shift_clock.py"),
    ),
    (
        "docs.py",
        include_str!("../../../python/fastest_harness/docs.py"),
    ),
    (
        "debugger.py",
        include_str!("../../../python/fastest_harness/debugger.py"),
    ),
    (
        "native.py",
        include_str!("../../../python/fastest_harness/native.py"),
    ),
    (
        "hypothesis_plugin.py",
        include_str!("../../../python/fastest_harness/hypothesis_plugin.py"),
    ),
    (
        "doctests.py",
        include_str!("../../../python/fastest_harness/doctests.py"),
    ),
    (
        "asyncio_plugin.py",
        include_str!("../../../python/fastest_harness/asyncio_plugin.py"),
    ),
    (
        "preload.py",
        include_str!("../../../python/fastest_harness/preload.py"),
    ),
    (
        "standin/pytest/__init__.py",
        include_str!("../../../python/fastest_harness/standin/pytest/__init__.py"),
    ),
];

/// The recorder's audit hook in C (`native/audit_hook.c`, built by build.rs), written
/// into the harness as `_audit_hook.so`; empty when no C compiler was found (the
/// harness then uses its Python hook).
const AUDIT_HOOK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fastest_audit_hook.so"));
const AUDIT_HOOK_FILE: &str = "_audit_hook.so";

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("could not write the harness to {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not start {python}: {source}")]
    Spawn {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("dynamic collection with {python} failed (exit {code:?}): {stderr}")]
    Failed {
        python: PathBuf,
        code: Option<i32>,
        stderr: String,
    },
    #[error("dynamic collection: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Fatal(String),
    /// pytest itself stopped before collecting (a conftest that fails to import, a usage
    /// error): its message and exit code are the run's, as with pytest.
    #[error("{stderr}")]
    PytestExit { code: i32, stderr: String },
}

/// Interpreter discovery: `--python`, else `$VIRTUAL_ENV`, else `.venv`/`venv` under the
/// rootdir, else `python3` on PATH.
pub fn find_python(explicit: Option<&Path>, rootdir: &Path) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        let p = Path::new(&venv).join("bin/python");
        if p.exists() {
            return p;
        }
    }
    for v in [".venv", "venv"] {
        let p = rootdir.join(v).join("bin/python");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("python3")
}

/// The harness's version: a hash of its files. Results depend on it (the engine is
/// part of what decides an outcome), so it is part of the environment digest.
pub fn harness_tag() -> String {
    let mut h = blake3::Hasher::new();
    for (name, text) in HARNESS_FILES {
        h.update(name.as_bytes());
        h.update(text.as_bytes());
    }
    // The C hook's source and whether it was built, not the object's bytes: those vary
    // with the compiler, and the tag is part of every result's key (a cache copied to
    // another machine's build must still match).
    h.update(AUDIT_HOOK_FILE.as_bytes());
    h.update(include_str!("../native/audit_hook.c").as_bytes());
    h.update(&[u8::from(!AUDIT_HOOK.is_empty())]);
    h.finalize().to_hex()[..16].to_string()
}

/// Writes the harness under `<cache_dir>/harness-<hash>/` unless already there; returns
/// the directory to put on `PYTHONPATH`.
pub fn install_harness(cache_dir: &Path) -> Result<PathBuf, RunnerError> {
    let root = cache_dir.join(format!("harness-{}", harness_tag()));
    let pkg = root.join("fastest_harness");
    if pkg.join("worker.py").is_file() {
        return Ok(root);
    }
    let err = |source| RunnerError::Install {
        path: pkg.clone(),
        source,
    };
    let tmp = cache_dir.join(format!("harness-tmp-{}", std::process::id()));
    let tmp_pkg = tmp.join("fastest_harness");
    std::fs::create_dir_all(&tmp_pkg).map_err(err)?;
    for (name, text) in HARNESS_FILES {
        let dest = tmp_pkg.join(name);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(dest, text).map_err(err)?;
    }
    if !AUDIT_HOOK.is_empty() {
        std::fs::write(tmp_pkg.join(AUDIT_HOOK_FILE), AUDIT_HOOK).map_err(err)?;
    }
    // Atomic publish; a concurrent fastest may have won the race, which is fine.
    if std::fs::rename(&tmp, &root).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(root)
}

/// Where dynamic collection records what each module's collection depended on.
#[derive(Debug, Clone)]
pub struct CollectRecording {
    pub rootdir: PathBuf,
    /// Compiled, probed code of project modules (shared with the workers).
    pub code_cache: PathBuf,
    /// One record for the whole collection (under `SESSION_DEPS`) instead of one per
    /// module: a conftest shapes the session.
    pub whole_session: bool,
}

/// The `module_deps` key of a whole-session record.
pub const SESSION_DEPS: &str = "<session>";

/// The clock a dynamic collection runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectClock {
    Real,
    /// Set a year and some hours ahead (`shift_clock.py`): a second collection of
    /// modules that read the clock, to check their ids do not depend on it.
    Shifted,
}

/// What the collection process writes on stderr, as a line of its own, when asked
/// (`on_volatile`) and a module's collection ran code that calls the clock or a random
/// source (`collect.py`'s `VOLATILE_SIGNAL`).
const VOLATILE_SIGNAL: &[u8] = b"fastest-collect: volatile";

/// A dynamic collection running in its own interpreter (see `spawn_collect`).
pub struct PendingCollection {
    child: std::process::Child,
    /// Drains the child's stderr while it runs, so a chatty collection never blocks
    /// on a full pipe while the runner waits for something else.
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    out: PathBuf,
    python: PathBuf,
}

/// Starts Python's collection of `args` (real pytest collection in the user's
/// interpreter, `collect.py`); `PendingCollection::wait` reads what it found.
/// `doctest_only` are module paths among the args whose Python tests pytest must not
/// collect (they are not test files; only their `--doctest-modules` items count).
/// `on_volatile` is called (on another thread) as soon as the collection finds a module
/// whose collection read the clock or a random source, so the shifted-clock collection
/// that checks it can run beside the rest of this one.
#[allow(clippy::too_many_arguments)]
pub fn spawn_collect(
    python: &Path,
    harness: &Path,
    cwd: &Path,
    args: &[String],
    doctest_only: &[PathBuf],
    record: Option<&CollectRecording>,
    clock: CollectClock,
    on_volatile: Option<Box<dyn FnOnce() + Send>>,
) -> Result<PendingCollection, RunnerError> {
    let out = tempfile_path(harness);
    let doctest_only: Vec<String> = doctest_only
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut command = Command::new(python);
    command
        .arg("-m")
        .arg("fastest_harness.collect")
        .arg(&out)
        .args(args)
        .current_dir(cwd)
        // Bytecode (pytest's rewritten test modules included) is written as pytest
        // writes it, unless the user turned that off: a collection after the cache is
        // deleted does not rewrite every test module again.
        .env("PYTHONPATH", harness_pythonpath(harness))
        .env("FASTEST_DOCTEST_ONLY", doctest_only.join("\n"));
    if let Some(r) = record {
        command
            .env("FASTEST_COLLECT_RECORD", &r.rootdir)
            .env("FASTEST_CODE_CACHE", &r.code_cache)
            .env("FASTEST_HARNESS_DIR", harness);
        if r.whole_session {
            command.env("FASTEST_COLLECT_SESSION", "1");
        }
    }
    if clock == CollectClock::Shifted {
        command.env("FASTEST_SHIFT_CLOCK", "1");
    }
    if on_volatile.is_some() {
        command.env("FASTEST_SIGNAL_VOLATILE", "1");
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunnerError::Spawn {
            python: python.to_path_buf(),
            source,
        })?;
    let stderr = child.stderr.take().map(|pipe| {
        std::thread::spawn(move || {
            let mut on_volatile = on_volatile;
            let mut reader = std::io::BufReader::new(pipe);
            let mut bytes = Vec::new();
            let mut line = Vec::new();
            loop {
                line.clear();
                match std::io::BufRead::read_until(&mut reader, b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if line.strip_suffix(b"\n") == Some(VOLATILE_SIGNAL) {
                    if let Some(f) = on_volatile.take() {
                        f();
                    }
                } else {
                    bytes.extend_from_slice(&line);
                }
            }
            bytes
        })
    });
    Ok(PendingCollection {
        child,
        stderr,
        out,
        python: python.to_path_buf(),
    })
}

impl PendingCollection {
    /// Waits for the collection and reads what it found.
    pub fn wait(mut self) -> Result<DynamicCollection, RunnerError> {
        let status = self.child.wait().map_err(|source| RunnerError::Spawn {
            python: self.python.clone(),
            source,
        })?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        let text = std::fs::read_to_string(&self.out);
        let _ = std::fs::remove_file(&self.out);
        let Ok(text) = text else {
            return Err(RunnerError::Failed {
                python: self.python.clone(),
                code: status.code(),
                stderr: stderr.trim().to_string(),
            });
        };
        let result = DynamicCollection::from_json(&text)?;
        if let Some(f) = &result.fatal {
            return Err(RunnerError::Fatal(f.clone()));
        }
        // 3 = internal error, 4 = usage error (e.g. "ImportError while loading conftest"):
        // pytest collected nothing, so the modules handed to it would silently vanish.
        if let Some(code @ (3 | 4)) = result.exit_code {
            return Err(RunnerError::PytestExit {
                code,
                stderr: stderr.trim_end().to_string(),
            });
        }
        Ok(result)
    }
}

impl Drop for PendingCollection {
    /// A collection nobody waited for (not needed after all) is stopped, and its output
    /// file removed.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.out);
    }
}

/// The docstrings Python finds for classes outside the project (`docs.py`): for each
/// `(dotted class, attr)`, `inspect.getdoc` of the class (`attr` None) or the first
/// docstring of `attr` along its MRO, in order; None where there is none.
pub fn external_docs(
    python: &Path,
    harness: &Path,
    cwd: &Path,
    requests: &[(String, Option<String>)],
) -> Result<Vec<Option<String>>, RunnerError> {
    use std::io::Write;
    let mut child = Command::new(python)
        .args(["-m", "fastest_harness.docs"])
        .current_dir(cwd)
        .env("PYTHONPATH", harness_pythonpath(harness))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunnerError::Spawn {
            python: python.to_path_buf(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows as a failed process below.
        let _ = stdin.write_all(&serde_json::to_vec(requests).unwrap_or_default());
    }
    let output = child
        .wait_with_output()
        .map_err(|source| RunnerError::Spawn {
            python: python.to_path_buf(),
            source,
        })?;
    serde_json::from_slice(&output.stdout).map_err(|_| RunnerError::Failed {
        python: python.to_path_buf(),
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// `PYTHONPATH` for a `python -m fastest_harness.X` process: the harness first, then
/// the user's own `PYTHONPATH`.
pub fn harness_pythonpath(harness: &Path) -> std::ffi::OsString {
    let mut pythonpath = harness.as_os_str().to_owned();
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        pythonpath.push(":");
        pythonpath.push(existing);
    }
    pythonpath
}

fn tempfile_path(dir: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // Two collections may start within one clock tick.
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("collect-{}-{nanos}-{n}.json", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_is_installed_once_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let a = install_harness(dir.path()).unwrap();
        let b = install_harness(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.join("fastest_harness/collect.py").is_file());
    }

    #[test]
    fn explicit_python_wins() {
        let p = find_python(Some(Path::new("/x/python")), Path::new("/"));
        assert_eq!(p, PathBuf::from("/x/python"));
    }
}
