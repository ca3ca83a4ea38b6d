//! Incremental-run plumbing for the CLI: the environment digest (interpreter, installed
//! distributions, config, options), `fastest explain NODEID` and `fastest cache stats|clear|gc`.

use fastest_cache::{digest, Cache, Digest};
use fastest_select::{environment_digest, Selector, Verdict};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use std::time::UNIX_EPOCH;

const TREE_INTERPRETERS: &str = "interpreters";

/// Environment variables read by the interpreter or the C library at start-up (time zone,
/// locale, hash seed, import path, warnings): they change outcomes without any
/// `os.environ` read a test could record, so they are part of the environment digest.
pub const STARTUP_ENV_VARS: &[&str] = &[
    "TZ",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NUMERIC",
    "LC_TIME",
    "PYTHONHASHSEED",
    "PYTHONPATH",
    "PYTHONSAFEPATH",
    "PYTHONHOME",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "PYTHONWARNINGS",
    "PYTHONOPTIMIZE",
    "PYTHONDEVMODE",
    "PYTHONASYNCIODEBUG",
    "PYTHONINTMAXSTRDIGITS",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
];

/// What the environment digest needs from an interpreter (asked once per interpreter
/// file version, then cached).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InterpreterInfo {
    version: String,
    site_dirs: Vec<PathBuf>,
}

const PROBE: &str = "import sys, site, json\nd = []\ntry:\n    d += site.getsitepackages()\nexcept Exception:\n    pass\nd += [site.getusersitepackages()]\nd += [p for p in sys.path if p.endswith(('site-packages', 'dist-packages'))]\nprint(json.dumps([sys.version + ' ' + sys.platform + ' ' + sys.implementation.cache_tag, sorted(set(d))]))";

fn mtime_ns(path: &Path) -> u128 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The cache key of what `PROBE` said about `python`: its path, and the modification
/// times of the interpreter and of its venv's `pyvenv.cfg`.
fn interpreter_key(python: &Path) -> Digest {
    let cfg = python
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("pyvenv.cfg"));
    digest(&[
        PROBE.as_bytes(),
        python.to_string_lossy().as_bytes(),
        &mtime_ns(python).to_le_bytes(),
        &cfg.as_deref().map(mtime_ns).unwrap_or(0).to_le_bytes(),
    ])
}

fn interpreter_info(python: &Path, cache: &Cache) -> Option<InterpreterInfo> {
    let key = interpreter_key(python);
    if let Some(info) = cache.get::<InterpreterInfo>(TREE_INTERPRETERS, &key) {
        return Some(info);
    }
    let out = std::process::Command::new(python)
        // Without -S: `site` is what turns a venv's prefix into the venv (with -S a
        // venv interpreter reports the base installation's site-packages).
        .args(["-c", PROBE])
        .output()
        .ok()?;
    let (version, site_dirs): (String, Vec<PathBuf>) = serde_json::from_slice(&out.stdout).ok()?;
    let info = InterpreterInfo { version, site_dirs };
    cache.put(TREE_INTERPRETERS, &key, &info);
    Some(info)
}

/// The interpreter's version (`3.11.7`) if an earlier run probed it (never starts it).
pub fn known_python_version(python: &Path, cache: &Cache) -> Option<String> {
    let info: InterpreterInfo = cache.get(TREE_INTERPRETERS, &interpreter_key(python))?;
    info.version.split_whitespace().next().map(str::to_string)
}

/// The digest of everything global a result depends on.
/// Whether a distribution named `name` (its dist-info prefix, e.g. `pytest_asyncio`) is
/// installed in the interpreter's site directories (`None`: the interpreter is unknown).
pub fn has_distribution(python: &Path, cache: &Cache, name: &str) -> Option<bool> {
    let info = interpreter_info(python, cache)?;
    let prefix = format!("{name}-");
    // `PYTHONPATH` directories are on `sys.path` too: pytest finds plugins there.
    let pythonpath: Vec<PathBuf> = std::env::var_os("PYTHONPATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    Some(info.site_dirs.iter().chain(&pythonpath).any(|dir| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(&prefix) && n.ends_with(".dist-info")
            })
    }))
}

pub fn environment(
    python: &Path,
    cache: &Cache,
    config_files: &[(String, PathBuf)],
    options: &[String],
) -> Digest {
    // A new harness (another fastest) may decide outcomes differently: nothing it did
    // not run is reused.
    let mut options = options.to_vec();
    options.push(format!("harness {}", fastest_runner::harness_tag()));
    match interpreter_info(python, cache) {
        Some(info) => environment_digest(&info.version, &info.site_dirs, config_files, &options),
        // Unknown interpreter: a digest no later run reproduces (nothing is reused).
        None => digest(&[
            b"unknown interpreter",
            &mtime_ns(Path::new("/proc/self")).to_le_bytes(),
        ]),
    }
}

/// `fastest explain`: why each selected test would run or be skipped.
/// With `verbose`, every recorded dependency is listed too.
pub fn explain(selector: &Selector, nodeids: &[String], verbose: bool) -> String {
    let mut out = String::new();
    for id in nodeids {
        let line = match selector.verdict(id) {
            Verdict::Cached { duration } => format!(
                "{id}: cached — passed before with exactly these dependencies ({duration:.2}s); it will not run"
            ),
            Verdict::New => format!("{id}: runs — no recorded run (new test, or its cached pass was cleared)"),
            Verdict::Failed => format!("{id}: runs — it failed last time (failures are never cached)"),
            Verdict::Unchanged => format!(
                "{id}: unchanged — not run by `run --changed`; a plain run runs it (its last outcome was a skip or xfail, which is not cached)"
            ),
            Verdict::Changed(deps) => {
                let mut s = format!("{id}: runs — {} dependencies changed:", deps.len());
                for d in deps.iter().take(20) {
                    s.push_str(&format!("\n    {d}"));
                }
                if deps.len() > 20 {
                    s.push_str(&format!("\n    ... and {} more", deps.len() - 20));
                }
                s
            }
        };
        out.push_str(&line);
        out.push('\n');
        if let Some((rec, set)) = selector.recorded(id) {
            out.push_str(&format!(
                "    last run: {}, {} recorded dependencies\n",
                if rec.failed {
                    "failed"
                } else if rec.passed {
                    "passed"
                } else {
                    "skipped/xfailed"
                },
                set.deps.len()
            ));
            if verbose {
                for (dep, _) in &set.deps {
                    out.push_str(&format!("      {dep}\n"));
                }
            }
        }
    }
    out
}

/// `fastest cache stats`.
pub fn stats(cache: &Cache, cache_dir: &Path) -> String {
    let mut out = format!("cache: {}\n", cache_dir.display());
    for (tree, n) in Selector::stats(cache) {
        out.push_str(&format!("  {tree}: {n}\n"));
    }
    for tree in ["summaries", "blocks", "durations", "lastfailed"] {
        out.push_str(&format!("  {tree}: {}\n", cache.len(tree)));
    }
    out
}
