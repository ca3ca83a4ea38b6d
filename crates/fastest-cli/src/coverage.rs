//! `--cov`: the options (pytest-cov's spelling), the report step after the workers, and
//! per-test coverage stored beside cached results, so a run that skips tests still
//! reports what they cover.
//!
//! Stored coverage is reused only while every file it mentions has the content it had
//! when measured (line numbers shift with any edit above them); otherwise the test runs.

use fastest_cache::{digest, Cache, Digest};
use fastest_protocol::{CoverageReportRequest, CoverageReportResult, CoverageSettings, Measured};
use fastest_report::run::Tone;
use fastest_report::sep;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// node id → `StoredTest`.
const TREE_TESTS: &str = "coverage";
/// blake3 of a `Measured` → the `Measured` (parametrized tests share most of theirs).
const TREE_BLOBS: &str = "coverage_blobs";
/// What ran outside any test (start-up, collection) in the last run that started workers.
const SESSION_KEY: &[u8] = b"\0session";

const REPORT_TYPES: &[&str] = &[
    "term",
    "term-missing",
    "annotate",
    "html",
    "xml",
    "json",
    "markdown",
    "markdown-append",
    "lcov",
];

/// A coverage run, as the options asked for it.
#[derive(Debug, Clone)]
pub struct CoverageRun {
    pub settings: CoverageSettings,
    pub reports: BTreeMap<String, Option<String>>,
    pub precision: Option<u32>,
    pub fail_under: Option<String>,
    /// `--cov-append`.
    pub append: bool,
    /// What decides what is measured: sources, branch, the coverage config files.
    settings_digest: Digest,
    data_dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTest {
    settings: Digest,
    files: Vec<StoredFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredFile {
    path: String,
    content: Digest,
    blob: Digest,
}

/// The `--cov*` options as given.
pub struct CoverageOptions<'a> {
    pub cov: &'a [String],
    pub reports: &'a [String],
    pub config: &'a str,
    pub branch: bool,
    pub fail_under: Option<&'a str>,
    pub precision: Option<u32>,
    pub no_cov: bool,
    pub append: bool,
}

impl CoverageRun {
    /// None when coverage is off; Err with pytest-cov's message for a bad option.
    pub fn from_options(
        opts: &CoverageOptions,
        invocation_dir: &Path,
        cache_dir: &Path,
    ) -> Result<Option<CoverageRun>, String> {
        if opts.cov.is_empty() || opts.no_cov {
            return Ok(None);
        }
        let reports = parse_reports(opts.reports)?;
        if let Some(f) = opts.fail_under {
            let value: f64 = f.parse().map_err(|_| {
                "argument --cov-fail-under: An integer or float value is required.".to_string()
            })?;
            if value > 100.0 {
                return Err("argument --cov-fail-under: Your desire for over-achievement is admirable but misplaced. The maximum value is 100. Perhaps write more integration tests?".into());
            }
        }
        // `--cov --cov=pkg` measures everything, as pytest-cov's `_prepare_cov_source`.
        let source = if opts.cov.iter().any(String::is_empty) {
            None
        } else {
            Some(opts.cov.to_vec())
        };
        let data_dir = cache_dir.join(format!("coverage-run-{}", std::process::id()));
        let settings = CoverageSettings {
            source,
            branch: opts.branch,
            config_file: opts.config.to_string(),
            data_file: data_dir.join(".coverage").to_string_lossy().into_owned(),
        };
        let mut parts: Vec<Vec<u8>> =
            vec![
                serde_json::to_vec(&(&settings.source, settings.branch, &settings.config_file))
                    .unwrap_or_default(),
            ];
        // coverage.py reads its settings (include/omit/source/branch) from these.
        for name in [opts.config, "setup.cfg", "tox.ini", "pyproject.toml"] {
            parts.push(name.as_bytes().to_vec());
            parts.push(std::fs::read(invocation_dir.join(name)).unwrap_or_default());
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Ok(Some(CoverageRun {
            settings,
            reports,
            precision: opts.precision,
            fail_under: opts.fail_under.map(str::to_string),
            append: opts.append,
            settings_digest: digest(&refs),
            data_dir,
        }))
    }

    /// Creates the (empty) directory the workers write their data to.
    pub fn prepare(&self) -> std::io::Result<()> {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        std::fs::create_dir_all(&self.data_dir)
    }
}

/// `--cov-report` values as pytest-cov's `validate_report` + `StoreReport` keep them.
fn parse_reports(values: &[String]) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut reports = BTreeMap::new();
    for v in values {
        let (kind, dest) = match v.split_once(':') {
            Some((k, d)) => (k, Some(d.to_string())),
            None => (v.as_str(), None),
        };
        if !kind.is_empty() && !REPORT_TYPES.contains(&kind) {
            return Err(format!(
                "argument --cov-report: invalid choice: \"{v}\" (choose from \"{:?}\")",
                REPORT_TYPES
            ));
        }
        if let Some(d) = &dest {
            let term = kind == "term" || kind == "term-missing";
            if term && d != "skip-covered" || kind.is_empty() {
                return Err(format!(
                    "argument --cov-report: output specifier not supported for: \"{v}\""
                ));
            }
        }
        let dest = match (kind, dest) {
            ("markdown" | "markdown-append", None) => Some("coverage.md".to_string()),
            (_, d) => d,
        };
        reports.insert(kind.to_string(), dest);
    }
    if reports.is_empty() {
        reports.insert("term".into(), None);
    } else if reports.len() == 1 && reports.contains_key("") {
        reports.clear();
    }
    reports.remove("");
    Ok(reports)
}

/// A file's executed lines and arcs, as sets while merging.
type LinesAndArcs = (BTreeSet<i64>, BTreeSet<(i64, i64)>);

/// Content digests of files, read once per run.
#[derive(Default)]
pub struct FileDigests {
    rootdir: PathBuf,
    seen: HashMap<String, Option<Digest>>,
}

impl FileDigests {
    pub fn new(rootdir: &Path) -> Self {
        FileDigests {
            rootdir: rootdir.to_path_buf(),
            seen: HashMap::new(),
        }
    }

    fn get(&mut self, path: &str) -> Option<Digest> {
        if let Some(d) = self.seen.get(path) {
            return *d;
        }
        let d = std::fs::read(self.rootdir.join(path))
            .ok()
            .map(|bytes| digest(&[&bytes]));
        self.seen.insert(path.to_string(), d);
        d
    }
}

/// Coverage stored for the tests a run does not execute, checked and merged.
pub struct Stored<'a> {
    cache: &'a Cache,
    run: &'a CoverageRun,
    digests: FileDigests,
    blobs: HashMap<Digest, Option<Measured>>,
}

impl<'a> Stored<'a> {
    pub fn new(cache: &'a Cache, run: &'a CoverageRun, rootdir: &Path) -> Self {
        Stored {
            cache,
            run,
            digests: FileDigests::new(rootdir),
            blobs: HashMap::new(),
        }
    }

    /// What `key` measured, if stored under these settings and every file it mentions
    /// is unchanged.
    fn load(&mut self, key: &[u8]) -> Option<Vec<(String, Measured)>> {
        let stored: StoredTest = self.cache.get(TREE_TESTS, key)?;
        if stored.settings != self.run.settings_digest {
            return None;
        }
        let mut out = Vec::with_capacity(stored.files.len());
        for f in stored.files {
            if self.digests.get(&f.path) != Some(f.content) {
                return None;
            }
            let blob = match self.blobs.get(&f.blob) {
                Some(b) => b.clone(),
                None => {
                    let b: Option<Measured> = self.cache.get(TREE_BLOBS, &f.blob);
                    self.blobs.insert(f.blob, b.clone());
                    b
                }
            }?;
            out.push((f.path, blob));
        }
        Some(out)
    }

    /// Whether a test may be left out of this run: its coverage is stored and current.
    pub fn usable(&mut self, nodeid: &str) -> bool {
        self.load(nodeid.as_bytes()).is_some()
    }

    /// The union of what `nodeids` (not run now) measured, plus the stored session
    /// when no worker ran.
    pub fn merged(&mut self, nodeids: &[String], with_session: bool) -> BTreeMap<String, Measured> {
        let mut lines: BTreeMap<String, LinesAndArcs> = BTreeMap::new();
        let mut keys: Vec<&[u8]> = nodeids.iter().map(|n| n.as_bytes()).collect();
        if with_session {
            keys.push(SESSION_KEY);
        }
        for key in keys {
            for (path, m) in self.load(key).unwrap_or_default() {
                let entry = lines.entry(path).or_default();
                entry.0.extend(m.lines);
                entry.1.extend(m.arcs);
            }
        }
        lines
            .into_iter()
            .map(|(path, (l, a))| {
                (
                    path,
                    Measured {
                        lines: l.into_iter().collect(),
                        arcs: a.into_iter().collect(),
                    },
                )
            })
            .collect()
    }

    /// Stores what each finished test (and the session) measured in this run.
    pub fn save(&mut self, result: &CoverageReportResult, finished: &[String]) {
        let put = |key: &[u8], files: &BTreeMap<String, Measured>, this: &mut Self| {
            let mut stored = StoredTest {
                settings: this.run.settings_digest,
                files: Vec::with_capacity(files.len()),
            };
            for (path, m) in files {
                let Some(content) = this.digests.get(path) else {
                    continue; // outside the rootdir and unreadable: nothing to check it by
                };
                let bytes = serde_json::to_vec(m).unwrap_or_default();
                let blob = digest(&[&bytes]);
                if !this.blobs.contains_key(&blob) {
                    this.cache.put(TREE_BLOBS, &blob, m);
                    this.blobs.insert(blob, Some(m.clone()));
                }
                stored.files.push(StoredFile {
                    path: path.clone(),
                    content,
                    blob,
                });
            }
            this.cache.put(TREE_TESTS, key, &stored);
        };
        let empty = BTreeMap::new();
        for nodeid in finished {
            // A test that measured nothing (all its code outside the sources) is
            // stored too: "nothing" is its coverage.
            let files = result.tests.get(nodeid).unwrap_or(&empty);
            put(nodeid.as_bytes(), files, self);
        }
        put(SESSION_KEY, &result.session, self);
    }
}

/// pytest-cov's part of the terminal summary: the `tests coverage` section (its header
/// line and report) and the `Required test coverage` line.
pub fn summary(result: &CoverageReportResult) -> Vec<(String, Tone)> {
    let mut out = Vec::new();
    if !result.report.is_empty() || result.required.is_some() {
        out.push((format!("{}\n", sep('=', "tests coverage")), Tone::Plain));
    }
    if !result.report.is_empty() {
        out.push((result.report.clone(), Tone::Plain));
    }
    if let Some(line) = &result.required {
        let tone = if result.required_failed {
            Tone::Bad
        } else {
            Tone::Good
        };
        out.push((format!("{line}\n"), tone));
    }
    out
}

/// Runs the report step (`fastest_harness.coverage_support`) in the project's interpreter.
pub fn report(
    python: &Path,
    harness: &Path,
    cwd: &Path,
    rootdir: &Path,
    run: &CoverageRun,
    stored: BTreeMap<String, Measured>,
) -> Result<CoverageReportResult, String> {
    let request = CoverageReportRequest {
        rootdir: rootdir.to_string_lossy().into_owned(),
        data_dir: run.data_dir.to_string_lossy().into_owned(),
        settings: run.settings.clone(),
        reports: run.reports.clone(),
        precision: run.precision,
        fail_under: run.fail_under.clone(),
        stored,
        append: run.append,
    };
    let request_path = run.data_dir.join("request.json");
    let result_path = run.data_dir.join("result.json");
    let _ = std::fs::create_dir_all(&run.data_dir);
    std::fs::write(
        &request_path,
        serde_json::to_vec(&request).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", request_path.display()))?;
    let output = Command::new(python)
        .args(["-m", "fastest_harness.coverage_support"])
        .arg(&request_path)
        .arg(&result_path)
        .current_dir(cwd)
        .env("PYTHONPATH", fastest_runner::harness_pythonpath(harness))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("could not start {}: {e}", python.display()))?;
    let text = std::fs::read_to_string(&result_path).map_err(|_| {
        format!(
            "the coverage report step failed (exit {:?}): {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    let _ = std::fs::remove_dir_all(&run.data_dir);
    let result: CoverageReportResult =
        serde_json::from_str(&text).map_err(|e| format!("coverage report step: {e}"))?;
    match &result.error {
        Some(e) => Err(e.clone()),
        None => Ok(result),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports(v: &[&str]) -> Result<Vec<(String, Option<String>)>, String> {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        parse_reports(&v).map(|m| m.into_iter().collect())
    }

    #[test]
    fn report_options_follow_pytest_cov() {
        assert_eq!(reports(&[]).unwrap(), [("term".into(), None)]);
        assert_eq!(reports(&[""]).unwrap(), []);
        assert_eq!(
            reports(&["term-missing:skip-covered", "xml:out/cov.xml"]).unwrap(),
            [
                ("term-missing".into(), Some("skip-covered".into())),
                ("xml".into(), Some("out/cov.xml".into()))
            ]
        );
        assert_eq!(
            reports(&["markdown"]).unwrap(),
            [("markdown".into(), Some("coverage.md".into()))]
        );
        assert!(reports(&["pdf"]).unwrap_err().contains("invalid choice"));
        assert!(reports(&["term:x.txt"])
            .unwrap_err()
            .contains("output specifier"));
    }

    #[test]
    fn stored_coverage_is_used_only_while_its_files_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.py"), "x = 1\n").unwrap();
        let cache = Cache::temporary();
        let opts = CoverageOptions {
            cov: &["m".to_string()],
            reports: &[],
            config: ".coveragerc",
            branch: false,
            fail_under: None,
            precision: None,
            no_cov: false,
            append: false,
        };
        let run = CoverageRun::from_options(&opts, dir.path(), dir.path())
            .unwrap()
            .unwrap();
        let mut result = CoverageReportResult::default();
        let measured = Measured {
            lines: vec![1],
            arcs: vec![],
        };
        result.tests.insert(
            "t.py::a".into(),
            BTreeMap::from([("m.py".to_string(), measured.clone())]),
        );
        Stored::new(&cache, &run, dir.path()).save(&result, &["t.py::a".into()]);

        let mut stored = Stored::new(&cache, &run, dir.path());
        assert!(stored.usable("t.py::a"));
        assert!(!stored.usable("t.py::b"));
        assert_eq!(
            stored.merged(&["t.py::a".into()], false),
            BTreeMap::from([("m.py".to_string(), measured)])
        );

        std::fs::write(dir.path().join("m.py"), "\nx = 1\n").unwrap();
        assert!(!Stored::new(&cache, &run, dir.path()).usable("t.py::a"));

        let branch = CoverageOptions {
            branch: true,
            ..opts
        };
        let other = CoverageRun::from_options(&branch, dir.path(), dir.path())
            .unwrap()
            .unwrap();
        std::fs::write(dir.path().join("m.py"), "x = 1\n").unwrap();
        assert!(!Stored::new(&cache, &other, dir.path()).usable("t.py::a"));
    }
}
