//! Wire types shared between the Rust side and the Python harness (versioned).

use serde::{Deserialize, Serialize};

/// Bumped whenever a message shape changes; the harness echoes it back.
pub const PROTOCOL_VERSION: u32 = 10;

/// What `fastest_harness.collect` writes: the items Python collected.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DynamicCollection {
    pub protocol: u32,
    pub items: Vec<String>,
    pub errors: Vec<CollectionErrorReport>,
    /// Collectors that skipped themselves (a module calling `pytest.skip` at import).
    #[serde(default)]
    pub skipped: Vec<CollectionSkip>,
    #[serde(default)]
    pub deselected: usize,
    /// Set when collection could not run at all (e.g. pytest missing).
    #[serde(default)]
    pub fatal: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// With recording on: what collecting each module (by node id) depended on.
    #[serde(default)]
    pub module_deps: std::collections::BTreeMap<String, TestDeps>,
    /// With recording on: modules (or `<session>`) whose collection ran code that calls
    /// the clock or a random source (their ids may differ in another process; their
    /// `module_deps` are there too, to store once a second collection agrees).
    #[serde(default)]
    pub volatile: Vec<String>,
    /// What `-k`/`-m` match for each item, in the order of `items` (collection never
    /// applies them itself, so one stored collection serves every expression).
    #[serde(default)]
    pub item_match: Vec<ItemMatch>,
    /// `deselected` per file of the deselected items (a conftest or plugin deselecting),
    /// so a stored module collection keeps its share.
    #[serde(default)]
    pub deselected_by_file: std::collections::BTreeMap<String, usize>,
}

/// The names `-m` (marks) and `-k` (pytest's `KeywordMatcher` names) match for one item.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ItemMatch {
    pub marks: Vec<String>,
    pub keywords: Vec<String>,
    /// The item's parameter names (`callspec.params`): arguments a parametrize made at
    /// run time provides, which are not fixtures (a decorator of the project's own that
    /// applies `pytest.mark.parametrize`).
    #[serde(default)]
    pub params: Vec<String>,
    /// What `--collect-only` prints above the item: `str()` of each collector of
    /// `item.listchain()[1:-1]` (`<Dir tests>`, `<Module test_a.py>`, `<Class TestA>`).
    #[serde(default)]
    pub tree: Vec<String>,
    /// The item's node type (`Function`, `TestCaseFunction`, `DoctestItem`, a plugin's).
    #[serde(default)]
    pub kind: String,
    /// `str(item)` when it is not `<{kind} {name}>` (name: the node id's last `::` part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repr: Option<String>,
    /// The item's docstring as `--collect-only -v` prints it under the item
    /// (`inspect.getdoc` of its object, lines joined with `\n`). The entries of `tree`
    /// carry their collector's the same way, after a `\n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollectionErrorReport {
    /// Node id of the collector that failed (a file path for module errors).
    pub nodeid: String,
    /// pytest's formatted long representation of the error.
    pub longrepr: String,
    /// The crash message of the short summary (`ERROR path - message`), when pytest has
    /// one (not for errors it formats itself, such as import errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Whether `nodeid` is an item under the collector whose node id is `collector`: a
/// module's (`t.py::a`, `t.py::C::a`) or a directory's (`tests/sub/t.py::a`).
pub fn is_item_of(nodeid: &str, collector: &str) -> bool {
    nodeid
        .strip_prefix(collector)
        .is_some_and(|rest| rest.starts_with("::") || rest.starts_with('/'))
}

/// A collector pytest reports as skipped: no items, one `skipped` in the counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollectionSkip {
    pub nodeid: String,
    /// pytest's skip location and reason: `(path, lineno, "Skipped: reason")`.
    pub skip: (String, u32, String),
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("malformed harness message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("harness speaks protocol {got}, expected {PROTOCOL_VERSION}")]
    Version { got: u32 },
    #[error("dynamic collection sent {items} items but -k/-m data for {matches}")]
    ItemMatch { items: usize, matches: usize },
}

impl DynamicCollection {
    pub fn from_json(text: &str) -> Result<Self, ProtocolError> {
        let v: DynamicCollection = serde_json::from_str(text)?;
        if v.protocol != PROTOCOL_VERSION {
            return Err(ProtocolError::Version { got: v.protocol });
        }
        if v.fatal.is_none() && v.item_match.len() != v.items.len() {
            return Err(ProtocolError::ItemMatch {
                items: v.items.len(),
                matches: v.item_match.len(),
            });
        }
        Ok(v)
    }
}

/// How a worker runs tests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The harness's own implementation of pytest semantics.
    Native,
    /// Real pytest in-process, restricted to the node ids it is sent.
    Pytest,
}

/// Everything a worker needs to know before running tests; sent once, first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkerConfig {
    pub rootdir: String,
    pub engine: Engine,
    /// `fd` (default), `sys` or `no` (`-s`).
    pub capture: String,
    /// `--tb` style: auto, long, short, line, native, no.
    pub tbstyle: String,
    pub showlocals: bool,
    pub verbose: i32,
    /// The worker's capture files are `<prefix>.out` / `<prefix>.err` (read back by
    /// the runner after a crash, for the test's last output).
    pub capture_prefix: String,
    /// pytest engine: the arguments that reproduce the session's configuration.
    pub pytest_args: Vec<String>,
    /// pytest engine: collect these paths (the session's own arguments) instead of the
    /// files of the items sent: per-file collection is unsafe (a custom collector may
    /// turn a data file into items; a test may rely on an import another file's
    /// collection made).
    #[serde(default)]
    pub collect_args: Vec<String>,
    /// Native engine: ini options it honours (`python_files`, `xfail_strict`, ...).
    pub ini: std::collections::BTreeMap<String, serde_json::Value>,
    /// Record each test's dependencies (`python/fastest_harness/deps.py`) and send them
    /// with its `finish`.
    #[serde(default)]
    pub record: bool,
    /// Where compiled, instrumented project modules are cached (by source hash).
    #[serde(default)]
    pub code_cache: String,
    /// `--cov`: measure with coverage.py, one dynamic context per test.
    #[serde(default)]
    pub coverage: Option<CoverageSettings>,
    /// `--pdb` ("pdb": post-mortem on failures and errors) or `--trace` ("trace": stop
    /// at the start of every test): the debugger runs in the worker, on the terminal.
    #[serde(default)]
    pub debugger: Option<String>,
    /// pytest-timeout in the workers times tests out (its marks, its method); the runner
    /// then kills no worker for taking too long.
    #[serde(default)]
    pub timeout_in_worker: bool,
    /// Every module the session collects (rootdir-relative, collection order): pytest
    /// imports them all before the first test, and tests may rely on what that imported.
    #[serde(default)]
    pub session_modules: Vec<String>,
    /// Native engine: installed pytest plugins whose effects it reproduces (`hypothesis`).
    #[serde(default)]
    pub emulated_plugins: Vec<String>,
    /// `-x` / `--maxfail=N` (0: none): a native worker that has sent this many failed
    /// reports runs nothing more, as pytest stops right after the test that reached it
    /// (the runner, counting the same reports, stops the run there).
    #[serde(default)]
    pub maxfail: usize,
    /// How many workers the run has: the worker sets `PYTEST_XDIST_WORKER_COUNT` to it
    /// when configured (it may have been started before the count was known).
    #[serde(default)]
    pub worker_count: usize,
}

/// How coverage.py measures (`--cov`, `--cov-branch`, `--cov-config`), as pytest-cov
/// passes them to `coverage.Coverage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CoverageSettings {
    /// `--cov=SOURCE` values; None for a bare `--cov` (measure everything).
    pub source: Option<Vec<String>>,
    pub branch: bool,
    /// `--cov-config` (pytest-cov's default `.coveragerc` also finds setup.cfg, tox.ini
    /// and pyproject.toml).
    pub config_file: String,
    /// Workers write `<data_file>.<suffix>`; the report step combines them.
    pub data_file: String,
}

/// What one test (or the session, outside any test) executed in one file: lines, or
/// arcs with `--cov-branch` (coverage.py records one or the other).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct Measured {
    // No `skip_serializing_if`: the cache stores this with bincode, which needs every field.
    #[serde(default)]
    pub lines: Vec<i64>,
    #[serde(default)]
    pub arcs: Vec<(i64, i64)>,
}

/// Runner → `python -m fastest_harness.coverage_support REQUEST RESULT`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CoverageReportRequest {
    pub rootdir: String,
    /// Where the workers' data files are.
    pub data_dir: String,
    pub settings: CoverageSettings,
    /// `--cov-report` as pytest-cov stores it: type → destination / modifier.
    pub reports: std::collections::BTreeMap<String, Option<String>>,
    pub precision: Option<u32>,
    /// `--cov-fail-under` as typed.
    pub fail_under: Option<String>,
    /// What the tests this run did not execute measured when they last ran (file paths
    /// relative to the rootdir where inside it).
    pub stored: std::collections::BTreeMap<String, Measured>,
    /// `--cov-append`: the data file's previous content is kept and added to.
    #[serde(default)]
    pub append: bool,
}

/// Runner → `python -m fastest_harness.session_plugins REQUEST RESULT`: the finished run,
/// replayed into pytest plugins that write session-level output (pytest-html).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionReplayRequest {
    /// pytest's arguments: the user's plugin options, `-p`, `-o`, paths.
    pub args: Vec<String>,
    /// Node ids in collection order (also those served from the cache).
    pub order: Vec<String>,
    /// Every phase reported for each node id.
    pub results: std::collections::BTreeMap<String, Vec<PhaseReport>>,
    /// `(nodeid, longrepr)` of collection errors.
    pub collect_errors: Vec<(String, String)>,
    pub failed: usize,
    /// The session's exit status as pytest would pass it to `pytest_sessionfinish`.
    pub exitstatus: i32,
    pub width: usize,
    /// Seconds since the run started (pytest-html shows the session's duration).
    pub duration: f64,
}

/// The replay step's answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionReplayResult {
    /// What the plugins wrote in the terminal summary.
    #[serde(default)]
    pub summary: String,
    /// Set when the replay failed (with the Python traceback).
    #[serde(default)]
    pub error: Option<String>,
}

/// The report step's answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CoverageReportResult {
    /// Set when no report could be made (coverage.py missing, a broken config).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub total: f64,
    /// pytest-cov's report text (section header, table, "written to" lines).
    #[serde(default)]
    pub report: String,
    /// `Coverage failure: ...` when the total is below `--cov-fail-under`.
    #[serde(default)]
    pub failure: Option<String>,
    /// `Required test coverage of N% reached. ...`
    #[serde(default)]
    pub required: Option<String>,
    #[serde(default)]
    pub required_failed: bool,
    /// Per test (node id): what it executed, by file.
    #[serde(default)]
    pub tests: std::collections::HashMap<String, std::collections::BTreeMap<String, Measured>>,
    /// Executed outside any test (start-up, collection), and every measured file.
    #[serde(default)]
    pub session: std::collections::BTreeMap<String, Measured>,
}

/// What one test depended on, as recorded by the worker: code blocks
/// (`relpath::qualname`, `<module>` for a module's top level), project files opened,
/// directories listed, paths stat'ed, environment variables read. Paths are relative
/// to the rootdir. Lists may come in any order (workers send a test's additions to its
/// base unsorted); the selector sorts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TestDeps {
    /// The same dependencies as the previous test this worker finished (sent instead
    /// of repeating them: parametrized tests usually share theirs).
    #[serde(default)]
    pub same: bool,
    #[serde(default)]
    pub blocks: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub dirs: Vec<String>,
    #[serde(default)]
    pub stats: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    /// The lists above are additions to a base this worker defined before (the
    /// dependencies tests under the same nodes share): see `on_base`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<u32>,
    /// Defines `base` (sent with the first test that uses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_def: Option<Box<TestDeps>>,
    /// Runner side: the base these lists add to (what `base` named), resolved. The
    /// test's dependencies are the union of its own lists and its parent's.
    #[serde(skip)]
    pub parent: Option<std::sync::Arc<TestDeps>>,
}

impl TestDeps {
    /// A test's own dependencies sent relative to a base: the base becomes its
    /// `parent` (shared, not copied: the runner stores and hashes a base once, then
    /// each test's additions on their own).
    pub fn on_base(self, base: std::sync::Arc<TestDeps>) -> TestDeps {
        TestDeps {
            base: None,
            base_def: None,
            parent: Some(base),
            ..self
        }
    }
}

/// One test to run, in the order the worker should run it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunItem {
    pub nodeid: String,
    /// For statically expanded parametrize: the parameter-set index per parametrize
    /// mark (function, class, module order); empty when not parametrized.
    #[serde(default)]
    pub param_index: Vec<u32>,
}

/// Runner → worker, one JSON object per line on the command pipe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ToWorker {
    Configure(Box<WorkerConfig>),
    Run {
        items: Vec<RunItem>,
    },
    /// Answer to `FromWorker::Interact`: the runner's output is flushed, the terminal
    /// is the worker's until the test finishes.
    Resume,
    Shutdown,
}

/// pytest's three test phases.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum When {
    Setup,
    Call,
    Teardown,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
    /// An outcome a plugin gives its own reports (pytest-rerunfailures' `rerun`): neither
    /// a pass, a failure nor a skip of the test; shown as its `PhaseReport::status` says.
    #[serde(other)]
    Other,
}

/// One phase of one test, like pytest's `TestReport`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhaseReport {
    pub nodeid: String,
    pub when: When,
    pub outcome: Outcome,
    /// The formatted failure (pytest's `longreprtext`), empty when passed.
    #[serde(default)]
    pub longrepr: String,
    /// One-line crash message for `-r` summaries and JUnit (`E   ...` line).
    #[serde(default)]
    pub message: String,
    /// For skips: `(path, lineno, reason)` as pytest shows in the short summary.
    #[serde(default)]
    pub skip: Option<(String, u32, String)>,
    /// Set for xfail / xpass: the xfail reason.
    #[serde(default)]
    pub wasxfail: Option<String>,
    /// Captured output: `("Captured stdout call", text)`.
    #[serde(default)]
    pub sections: Vec<(String, String)>,
    pub duration: f64,
    /// `(path, lineno, domain)`: the test's location (`domain` is pytest's headline).
    #[serde(default)]
    pub location: Option<(String, u32, String)>,
    /// Not run: a passing result was found in the cache under the test's current key
    /// (set by the runner, never by a worker).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// pytest's `pytest_report_teststatus` answer `(category, letter, word)` when a plugin
    /// made it differ from the usual one for the outcome: subtests, reruns (the pytest
    /// engine), unittest subtests under pytest 9 (the native engine reproduces them). The
    /// summary counts the category, progress shows the letter, `-v` the word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<(String, String, String)>>,
    /// pytest wrote this report's progress letter or word while the test's output was
    /// captured (pytest 9 logs a unittest subtest from inside the test): it is counted
    /// and summarised, but the progress line does not show it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub progress_captured: bool,
    /// `record_property` values, `(name, str(value))`, as pytest's `user_properties`
    /// (JUnit writes those of the teardown report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
}

/// A phase report inside `FromWorker::Test`: the fields of `PhaseReport` but the node id;
/// absent fields take their defaults, an absent `location` the previous report's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompactReport {
    pub when: When,
    pub outcome: Outcome,
    pub duration: f64,
    #[serde(default)]
    pub longrepr: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub skip: Option<(String, u32, String)>,
    #[serde(default)]
    pub wasxfail: Option<String>,
    #[serde(default)]
    pub sections: Vec<(String, String)>,
    /// `Some(None)`: sent as `null` (no location); `None`: not sent (inherit).
    #[serde(default, deserialize_with = "present")]
    pub location: Option<Option<(String, u32, String)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<(String, String, String)>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub progress_captured: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
}

/// Deserializes a field that is present (even as `null`) to `Some`.
fn present<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(d).map(Some)
}

/// The full reports of a `FromWorker::Test`, in phase order.
pub fn expand_reports(nodeid: &str, reports: Vec<CompactReport>) -> Vec<PhaseReport> {
    let mut location = None;
    reports
        .into_iter()
        .map(|r| {
            if let Some(loc) = r.location {
                location = loc;
            }
            PhaseReport {
                nodeid: nodeid.to_string(),
                when: r.when,
                outcome: r.outcome,
                longrepr: r.longrepr,
                message: r.message,
                skip: r.skip,
                wasxfail: r.wasxfail,
                sections: r.sections,
                duration: r.duration,
                location: location.clone(),
                cached: false,
                status: r.status,
                progress_captured: r.progress_captured,
                user_properties: r.user_properties,
            }
        })
        .collect()
}

/// Worker → runner, one JSON object per line on the event pipe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum FromWorker {
    Ready {
        protocol: u32,
        python: String,
        pytest: Option<String>,
        /// Third-party pytest plugins installed (pytest11 entry points).
        #[serde(default)]
        plugins: Vec<String>,
        /// Those of them (normalized names) in versions whose effects the native engine
        /// reproduces (`hypothesis` 6, `pytest-asyncio` 1).
        #[serde(default)]
        reproducible: Vec<String>,
    },
    /// The worker is configured and has imported the session's modules (native engine:
    /// pytest imports every collected module before the first test); it waits for items.
    /// A module that failed to import is a collection error, as in pytest (the pytest
    /// engine collects in `run` and reports its errors there: none here).
    Imported {
        #[serde(default)]
        errors: Vec<CollectionErrorReport>,
    },
    /// A test begins (setup starts): the runner's timeout clock and crash attribution.
    Start {
        nodeid: String,
    },
    Report(PhaseReport),
    /// All phases of a test are reported.
    Finish {
        nodeid: String,
        /// Present when recording was asked for (`WorkerConfig::record`).
        #[serde(default)]
        deps: Option<TestDeps>,
    },
    /// A whole test at once (the native engine's usual message): what `Start`, one
    /// `Report` per phase and `Finish` would say, in one line. Each report leaves out
    /// its node id (the test's) and, when equal to the previous report's, its location.
    Test {
        nodeid: String,
        reports: Vec<CompactReport>,
        #[serde(default)]
        deps: Option<TestDeps>,
    },
    /// A file failed to import (native) or collect (pytest engine).
    CollectError {
        nodeid: String,
        longrepr: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// A warning for the warnings summary, as pytest records it: `message` is
    /// `warnings.formatwarning(...)`, `location` what pytest prints above it (the test's
    /// node id, or `path:lineno` outside a test), `nodeid` the test it happened in
    /// (empty outside a test; orders the summary).
    Warning {
        message: String,
        #[serde(default)]
        location: Option<String>,
        #[serde(default)]
        nodeid: String,
    },
    /// The worker is about to use the terminal (a debugger on `nodeid`); it waits for
    /// `ToWorker::Resume`.
    Interact {
        nodeid: String,
    },
    /// The worker finished its items and wants more.
    Idle,
    /// Unrecoverable worker problem (the run stops with exit code 3).
    Fatal {
        message: String,
        /// pytest's own exit code when pytest stopped the session (usage error 4, e.g. a
        /// conftest that fails to import): the run ends with it, as pytest's would.
        #[serde(default)]
        exit_code: Option<i32>,
        /// `pytest.exit()` in a test: the session ends as pytest's does, with its
        /// summary; `message` is the exception line (`_pytest.outcomes.Exit: reason`).
        #[serde(default)]
        session_exit: bool,
        /// With `session_exit`: the test that called `pytest.exit()`.
        #[serde(default)]
        nodeid: Option<String>,
    },
}

impl FromWorker {
    pub fn parse(line: &str) -> Result<Self, ProtocolError> {
        // The tag first (other fields skipped unread), then a `test` message straight
        // into its fields: serde's internally tagged path would buffer every string of
        // the message (a test's dependency lists) once more before building the value.
        #[derive(Deserialize)]
        struct Tag<'a> {
            #[serde(borrow)]
            ev: std::borrow::Cow<'a, str>,
        }
        #[derive(Deserialize)]
        struct TestMessage {
            nodeid: String,
            reports: Vec<CompactReport>,
            #[serde(default)]
            deps: Option<TestDeps>,
        }
        if serde_json::from_str::<Tag>(line).is_ok_and(|t| t.ev == "test") {
            let m: TestMessage = serde_json::from_str(line)?;
            return Ok(FromWorker::Test {
                nodeid: m.nodeid,
                reports: m.reports,
                deps: m.deps,
            });
        }
        Ok(serde_json::from_str(line)?)
    }
}

impl ToWorker {
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("wire types always serialise");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_message_parses_as_serde_would() {
        let line = r#"{"nodeid":"t.py::a","reports":[{"when":"call","outcome":"passed","duration":0.5}],"deps":{"base":3,"blocks":["t.py::a"]},"ev":"test"}"#;
        let generic: FromWorker = serde_json::from_str(line).unwrap();
        assert_eq!(FromWorker::parse(line).unwrap(), generic);
        assert!(
            matches!(generic, FromWorker::Test { ref deps, .. } if deps.as_ref().unwrap().base == Some(3))
        );
        let idle = r#"{"ev":"idle"}"#;
        assert_eq!(FromWorker::parse(idle).unwrap(), FromWorker::Idle);
        assert!(FromWorker::parse(r#"{"ev":"test","nodeid":1}"#).is_err());
    }

    #[test]
    fn parses_harness_output_and_checks_version() {
        let current = |json: &str| json.replace("VERSION", &PROTOCOL_VERSION.to_string());
        let ok = current(
            r#"{"protocol":VERSION,"items":["t.py::a"],"errors":[],"deselected":0,"fatal":null,
            "item_match":[{"marks":["slow"],"keywords":["t.py","a","slow"]}]}"#,
        );
        let parsed = DynamicCollection::from_json(&ok).unwrap();
        assert_eq!(parsed.items, ["t.py::a"]);
        assert_eq!(parsed.item_match[0].marks, ["slow"]);
        // Every item needs its -k/-m data: the runner filters with it.
        let short = current(r#"{"protocol":VERSION,"items":["t.py::a"],"errors":[]}"#);
        assert!(matches!(
            DynamicCollection::from_json(&short),
            Err(ProtocolError::ItemMatch {
                items: 1,
                matches: 0
            })
        ));
        let old = r#"{"protocol":0,"items":[],"errors":[]}"#;
        assert!(matches!(
            DynamicCollection::from_json(old),
            Err(ProtocolError::Version { got: 0 })
        ));
    }

    #[test]
    fn worker_messages_round_trip_in_the_harness_shape() {
        let line = r#"{"ev":"report","nodeid":"t.py::a","when":"call","outcome":"failed","longrepr":"E boom","duration":0.5}"#;
        match FromWorker::parse(line).unwrap() {
            FromWorker::Report(r) => {
                assert_eq!(r.when, When::Call);
                assert_eq!(r.outcome, Outcome::Failed);
                assert!(r.sections.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        // A plugin's own outcome is kept, never a malformed message.
        let line = r#"{"ev":"report","nodeid":"t.py::a","when":"call","outcome":"rerun","duration":0.1,"status":["rerun","R","RERUN"]}"#;
        match FromWorker::parse(line).unwrap() {
            FromWorker::Report(r) => {
                assert_eq!(r.outcome, Outcome::Other);
                assert_eq!(r.status.unwrap().1, "R");
            }
            other => panic!("unexpected {other:?}"),
        }
        let line = r#"{"ev":"test","nodeid":"t.py::a","reports":[
            {"when":"setup","outcome":"passed","duration":0.1,"location":["t.py",3,"a"]},
            {"when":"call","outcome":"failed","duration":0.2,"longrepr":"E boom"},
            {"when":"teardown","outcome":"passed","duration":0.0,"location":null}]}"#;
        match FromWorker::parse(line).unwrap() {
            FromWorker::Test {
                nodeid,
                reports,
                deps,
            } => {
                assert!(deps.is_none());
                let full = expand_reports(&nodeid, reports);
                let loc = Some(("t.py".to_string(), 3, "a".to_string()));
                assert_eq!(full[0].location, loc);
                assert_eq!(full[1].location, loc, "inherited");
                assert_eq!(full[1].longrepr, "E boom");
                assert_eq!(full[1].nodeid, "t.py::a");
                assert_eq!(full[2].location, None, "sent as null");
            }
            other => panic!("unexpected {other:?}"),
        }
        let base: TestDeps = serde_json::from_str(
            r#"{"base":1,"base_def":{"blocks":["a.py::<module>","c.py::f"],"env":["HOME"]},"blocks":["b.py::t","a.py::<module>"]}"#,
        )
        .unwrap();
        let def = base.base_def.clone().unwrap();
        assert_eq!(base.base, Some(1));
        let def = std::sync::Arc::new(*def);
        let chained = base.on_base(def.clone());
        assert_eq!(
            chained.blocks,
            ["b.py::t", "a.py::<module>"],
            "own lists kept as sent"
        );
        assert!(chained.env.is_empty());
        assert_eq!(chained.parent.as_deref(), Some(&*def));
        assert_eq!((chained.base, chained.base_def), (None, None));
        let cmd = ToWorker::Run {
            items: vec![RunItem {
                nodeid: "t.py::a[1]".into(),
                param_index: vec![1],
            }],
        };
        assert_eq!(
            cmd.to_line(),
            "{\"op\":\"run\",\"items\":[{\"nodeid\":\"t.py::a[1]\",\"param_index\":[1]}]}\n"
        );
    }
}
