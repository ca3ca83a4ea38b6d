//! The `fastest` binary: pytest-compatible command line, wiring config → discovery →
//! graph/cache → dynamic collection → report, and pytest's exit codes.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use fastest_cache::Cache;
use fastest_config::{determine_setup, SetupRequest};
use fastest_discovery::{collect, relpath, CollectRequest, Collection, Entry};
use fastest_graph::GraphDb;
use fastest_report::tree::TreeItem;
use fastest_report::{CollectReport, ExitCode};
use fastest_runner::CollectClock;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod collect_cache;
mod coverage;
mod incremental;
mod run;
mod session_plugins;
mod timing;
mod watch;
use std::time::Instant;

/// A pytest-compatible test runner with static collection and a content-addressed cache.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "fastest",
    version,
    disable_help_subcommand = true,
    after_help = "Commands (before the options):\n  \
        fastest [run] [ARGS]          run tests; passes stored under their current dependencies are reused\n  \
        fastest run --changed [ARGS]  only tests a change affects, new and failed ones\n  \
        fastest watch [ARGS]          `run --changed` now and after every change, a worker started ahead\n  \
        fastest explain [ARGS]        why each test would run or be reused\n  \
        fastest cache stats|clear|gc\n\n\
        After a run, a background process per project (the preloader) keeps Python with\n\
        pytest imported, so the next run's workers start in milliseconds; it exits after\n\
        15 idle minutes or at `fastest cache clear`. FASTEST_PRELOAD=0 turns it off; it is\n\
        off when CI is set.",
    // As pytest's argparse: a repeated option's last value wins (addopts then the command line).
    args_override_self = true
)]
struct Cli {
    /// Only collect tests, don't execute them.
    #[arg(long = "collect-only", visible_alias = "co")]
    collect_only: bool,
    /// Decrease verbosity (repeatable).
    #[arg(short = 'q', long = "quiet", action = clap::ArgAction::Count)]
    quiet: u8,
    /// Increase verbosity (repeatable).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only run tests matching the keyword expression.
    #[arg(short = 'k', allow_hyphen_values = true)]
    keyword: Option<String>,
    /// Only run tests matching the mark expression.
    #[arg(short = 'm', allow_hyphen_values = true)]
    markexpr: Option<String>,
    /// Deselect items by node id prefix (repeatable).
    #[arg(long, action = clap::ArgAction::Append)]
    deselect: Vec<String>,
    /// Ignore a path during collection (repeatable).
    #[arg(long, action = clap::ArgAction::Append)]
    ignore: Vec<String>,
    /// Ignore paths matching a glob during collection (repeatable).
    #[arg(long = "ignore-glob", action = clap::ArgAction::Append)]
    ignore_glob: Vec<String>,
    /// Define the root directory for tests.
    #[arg(long)]
    rootdir: Option<String>,
    /// Load configuration from FILE instead of searching for it.
    #[arg(short = 'c', long = "config-file")]
    inifile: Option<String>,
    /// Override an ini option (`name=value`, repeatable).
    #[arg(short = 'o', long = "override-ini", action = clap::ArgAction::Append)]
    override_ini: Vec<String>,
    /// Plugins: `no:NAME` disables; enabling others is reported as unsupported.
    #[arg(short = 'p', action = clap::ArgAction::Append)]
    plugins: Vec<String>,
    /// Collect doctests in all .py modules.
    #[arg(long = "doctest-modules")]
    doctest_modules: bool,
    /// Doctest text files glob (default `test*.txt`).
    #[arg(long = "doctest-glob", action = clap::ArgAction::Append)]
    doctest_glob: Vec<String>,
    /// Python interpreter for the project (default: $VIRTUAL_ENV, .venv, venv, python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Run every selected test, reusing no cached result (results are still recorded).
    #[arg(long = "no-cache", visible_alias = "all")]
    no_cache: bool,
    /// Run only tests affected by changes since their last recorded run (plus new and
    /// failing ones); `fastest run --changed`.
    #[arg(long)]
    changed: bool,
    /// Do not record dependencies (nothing is stored for incremental runs; collections
    /// stored by earlier runs are still read).
    #[arg(long = "no-record")]
    no_record: bool,
    /// Show extra test summary info (accepted; used when running tests).
    #[arg(short = 'r')]
    report_chars: Option<String>,
    /// Stop after the first failure (accepted; used when running tests).
    #[arg(short = 'x', long = "exitfirst")]
    exitfirst: bool,
    /// Stop after N failures (accepted; used when running tests).
    #[arg(long)]
    maxfail: Option<String>,
    /// Traceback style (accepted; used when running tests).
    #[arg(long)]
    tb: Option<String>,
    /// Disable output capture (accepted; used when running tests).
    #[arg(short = 's')]
    no_capture: bool,
    /// Capture method (accepted; used when running tests).
    #[arg(long)]
    capture: Option<String>,
    /// Show locals in tracebacks (accepted; used when running tests).
    #[arg(short = 'l', long = "showlocals")]
    showlocals: bool,
    /// Slowest durations to show (accepted; used when running tests).
    #[arg(long)]
    durations: Option<String>,
    /// Colour output: yes/no/auto (accepted).
    #[arg(long)]
    color: Option<String>,
    /// Number of workers (accepted; used when running tests).
    #[arg(short = 'n', long = "numprocesses")]
    numprocesses: Option<String>,
    /// Warning filters; forwarded to Python collection.
    #[arg(short = 'W', long = "pythonwarnings", action = clap::ArgAction::Append)]
    pythonwarnings: Vec<String>,
    /// Unknown marks are errors; forwarded to Python collection.
    #[arg(long = "strict-markers")]
    strict_markers: bool,
    /// Unknown ini keys are errors; forwarded to Python collection.
    #[arg(long = "strict-config")]
    strict_config: bool,
    /// pytest's `--strict`; forwarded to Python collection.
    #[arg(long = "strict")]
    strict: bool,
    /// Import mode; forwarded to Python collection.
    #[arg(long = "import-mode")]
    import_mode: Option<String>,
    /// Run only the tests that failed last time (all if none failed).
    #[arg(long = "lf", visible_alias = "last-failed")]
    last_failed: bool,
    /// Run the tests that failed last time first, then the rest.
    #[arg(long = "ff", visible_alias = "failed-first")]
    failed_first: bool,
    /// Run tests from new files first (newest file first), then the rest.
    #[arg(long = "nf", visible_alias = "new-first")]
    new_first: bool,
    /// Stop at the first failure; next time start from it (state in the cache).
    #[arg(long = "sw", visible_alias = "stepwise")]
    stepwise: bool,
    /// With --sw: ignore the first failing test, stop at the next one.
    #[arg(long = "sw-skip", visible_alias = "stepwise-skip")]
    stepwise_skip: bool,
    /// Engine: auto (default), native, or pytest (real pytest in each worker).
    #[arg(long, default_value = "auto")]
    engine: String,
    /// How tests are grouped onto workers: loadfile (default: a module's tests run in
    /// order on one worker, as tests of one module may rely on each other's effects),
    /// loadscope (large modules split by class), load, no.
    #[arg(long, default_value = "loadfile")]
    dist: String,
    /// Kill a test (and its worker) after this many seconds; it is reported as failed.
    #[arg(long)]
    timeout: Option<f64>,
    /// Write a JUnit XML report (pytest's xunit2 format) to this path.
    #[arg(long = "junitxml", visible_alias = "junit-xml")]
    junitxml: Option<PathBuf>,
    /// Write pytest-reportlog's JSON lines to this path.
    #[arg(long = "report-log")]
    report_log: Option<PathBuf>,
    /// Minimum duration in seconds for inclusion in --durations.
    #[arg(long = "durations-min")]
    durations_min: Option<f64>,
    /// Disable the warnings summary.
    #[arg(long = "disable-warnings", alias = "disable-pytest-warnings")]
    disable_warnings: bool,
    /// Trim the short summary's messages to the terminal width even with -vv or on CI.
    #[arg(long = "force-short-summary")]
    force_short_summary: bool,
    /// Run the tests even when collection had errors (they count as errors, exit 1).
    #[arg(long = "continue-on-collection-errors")]
    continue_on_collection_errors: bool,
    /// Measure coverage with coverage.py (repeatable; a bare `--cov` measures everything).
    #[arg(long = "cov", num_args = 0..=1, default_missing_value = "", action = clap::ArgAction::Append)]
    cov: Vec<String>,
    /// Coverage report: term, term-missing, annotate, html, xml, json, lcov (`TYPE:DEST`,
    /// `term:skip-covered`); repeatable; an empty value means no report.
    #[arg(long = "cov-report", action = clap::ArgAction::Append)]
    cov_report: Vec<String>,
    /// coverage.py config file (default `.coveragerc`, then setup.cfg, tox.ini, pyproject.toml).
    #[arg(long = "cov-config", default_value = ".coveragerc")]
    cov_config: String,
    /// Measure branch coverage.
    #[arg(long = "cov-branch")]
    cov_branch: bool,
    /// Fail (exit 1) when the total coverage is below this.
    #[arg(long = "cov-fail-under")]
    cov_fail_under: Option<String>,
    /// Digits after the decimal point in coverage reports.
    #[arg(long = "cov-precision")]
    cov_precision: Option<u32>,
    /// Start the debugger (pdb) on failures and errors, in the worker, on this terminal.
    #[arg(long)]
    pdb: bool,
    /// Stop in the debugger at the start of every test.
    #[arg(long)]
    trace: bool,
    /// Disable coverage (overrides `--cov`, e.g. from addopts).
    #[arg(long = "no-cov")]
    no_cov: bool,
    /// Keep the coverage data file's previous content and add this run's to it.
    #[arg(long = "cov-append")]
    cov_append: bool,
    /// Forget the `--cov` sources given so far (handled before parsing: see `parse`).
    #[arg(long = "cov-reset")]
    cov_reset: bool,
    /// Files, directories or node ids.
    paths: Vec<String>,
}

fn main() {
    timing::start();
    let code = match run() {
        Ok(code) => code as i32,
        Err(e) => {
            // pytest stopped the session (collection or a worker): its message and its
            // exit code, as under pytest.
            if let Some(fastest_runner::RunnerError::PytestExit { code, stderr }) =
                e.downcast_ref::<fastest_runner::RunnerError>()
            {
                if !stderr.is_empty() {
                    eprintln!("{stderr}");
                }
                std::process::exit(*code);
            }
            eprintln!("ERROR: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::UsageError as i32
            } else {
                ExitCode::InternalError as i32
            }
        }
    };
    std::process::exit(code);
}

/// Marks that plugins add to items at collection (pytest-asyncio's `asyncio` in auto
/// mode, hypothesis's `hypothesis`, ...): an expression that could match one is left to
/// Python.
const PLUGIN_MARKS: &[&str] = &[
    "asyncio",
    "anyio",
    "trio",
    "hypothesis",
    "django_db",
    "benchmark",
];

/// Whether identifier `name` could match a mark in `PLUGIN_MARKS`: `-m` compares names,
/// `-k` (`keyword`) matches case-insensitive substrings ("sync" matches `asyncio`).
fn could_match_plugin_mark(name: &str, keyword: bool) -> bool {
    let lowered = name.to_lowercase();
    PLUGIN_MARKS.iter().any(|p| {
        if keyword {
            p.contains(&lowered)
        } else {
            *p == name
        }
    })
}

/// `expr` (`-k` when `keyword`, else `-m`) parsed for evaluation in Rust, or None when
/// Python must evaluate it (see the caller).
fn static_filter(
    expr: &str,
    collection: &Collection,
    keyword: bool,
    verbose: bool,
) -> Option<fastest_discovery::markexpr::MarkExpr> {
    let parsed = fastest_discovery::markexpr::MarkExpr::parse(expr)?;
    if parsed
        .names()
        .iter()
        .any(|n| could_match_plugin_mark(n, keyword))
    {
        return None;
    }
    let unknown = collection.entries.iter().find_map(|e| match e {
        Entry::Items { items, .. } => items
            .iter()
            .find(|i| i.marks.is_none() || (keyword && item_keywords(i).is_none())),
        Entry::Dynamic { .. } => None,
    });
    if let (Some(item), true) = (unknown, verbose) {
        eprintln!(
            "fastest: {} is evaluated by Python: the marks of {} are not known statically",
            if keyword { "-k" } else { "-m" },
            item.nodeid
        );
    }
    unknown.is_none().then_some(parsed)
}

/// Conftest hooks that can read or change `-k`/`-m` while pytest collects.
const HOOKS_SEEING_FILTERS: &[&str] = &[
    "pytest_configure",
    "pytest_collection_modifyitems",
    "pytest_collection",
    "pytest_collection_finish",
    "pytest_cmdline_main",
    "pytest_cmdline_preparse",
    "pytest_load_initial_conftests",
    "pytest_sessionstart",
    "pytest_deselected",
    "pytest_itemcollected",
];

/// The first conftest of the session (those of every collected path's directories up to
/// the rootdir) that defines one of `HOOKS_SEEING_FILTERS`, as "path defines hook".
fn conftest_hook_seeing_filters(
    source: &dyn fastest_discovery::SummarySource,
    rootdir: &Path,
    collection: &Collection,
) -> Option<String> {
    let paths = collection.entries.iter().map(|e| match e {
        Entry::Items { path, .. } | Entry::Dynamic { path, .. } => path.as_path(),
    });
    run::conftests_above(rootdir, paths)
        .into_iter()
        .find_map(|conftest| {
            let summary = source.summary(&conftest);
            let hook = summary
                .hooks
                .iter()
                .find(|h| HOOKS_SEEING_FILTERS.contains(&h.as_str()))?;
            Some(format!("{} defines {hook}", relpath(rootdir, &conftest)))
        })
}

/// Whether an item with these marks and `-k` names (computed only when `-k` is given)
/// passes `-m` and `-k`.
fn passes_filters<K: AsRef<[String]>>(
    markexpr: Option<&fastest_discovery::markexpr::MarkExpr>,
    keyword: Option<&fastest_discovery::markexpr::MarkExpr>,
    marks: &[String],
    keywords: impl FnOnce() -> K,
) -> bool {
    markexpr.is_none_or(|e| e.matches(marks))
        && keyword.is_none_or(|e| e.matches_keywords(keywords().as_ref()))
}

/// The names `-k` matches for a statically collected item (pytest's
/// `KeywordMatcher.from_item`): directories below the rootdir, the module's file name,
/// classes, the function's name with its parameter id, its marks, and `pytestmark` when
/// the function carries marks itself. None when the node id is outside the rootdir.
fn item_keywords(item: &fastest_discovery::link::StaticItem) -> Option<Vec<String>> {
    let (path, _) = item.nodeid.split_once("::")?;
    if path.split('/').any(|n| n == ".." || n.is_empty()) {
        return None;
    }
    let mut names = collect_cache::nodeid_parts(&item.nodeid);
    names.extend(item.marks.iter().flat_map(|m| m.iter()).cloned());
    if item.own_marks {
        names.push("pytestmark".into());
    }
    Some(names)
}

/// A command-line or configuration mistake: exit code 4, like pytest.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// Options of pytest and common plugins that fastest does not define and that take a
/// value; the value may be given as the next argument (`--ds mysite.settings`).
const VALUE_OPTIONS: &[&str] = &[
    // pytest
    "--log-level",
    "--log-format",
    "--log-date-format",
    "--log-cli-level",
    "--log-cli-format",
    "--log-cli-date-format",
    "--log-file",
    "--log-file-mode",
    "--log-file-level",
    "--log-file-format",
    "--log-file-date-format",
    "--basetemp",
    "--confcutdir",
    "--junit-prefix",
    "--show-capture",
    "--color",
    "--code-highlight",
    "--assert",
    "--pdbcls",
    "--doctest-report",
    "--last-failed-no-failures",
    "--lfnf",
    // pytest-django
    "--ds",
    "--dc",
    "--liveserver",
    // pytest-timeout
    "--timeout-method",
    // pytest-rerunfailures
    "--reruns",
    "--reruns-delay",
    "--only-rerun",
    // pytest-randomly, hypothesis
    "--randomly-seed",
    "--hypothesis-seed",
    "--hypothesis-profile",
    "--hypothesis-verbosity",
    // pytest-repeat, pytest-split
    "--count",
    "--repeat-scope",
    "--splits",
    "--group",
    // others
    "--alluredir",
    "--base-url",
    "--json-report-file",
];

/// Whether an unknown option given without `=` takes `next` as its value. Known: the
/// tables above. Otherwise, as a user means it: the next argument is the value unless it
/// is an option or names an existing path (a test path or node id).
fn unknown_option_takes(option: &str, next: Option<&str>) -> bool {
    let Some(next) = next else {
        return false;
    };
    if session_plugins::takes_value(option) || VALUE_OPTIONS.contains(&option) {
        return true;
    }
    !next.starts_with('-') && !Path::new(next.split("::").next().unwrap_or(next)).exists()
}

/// Splits argv into what our clap definition knows and unknown long options, which
/// belong to pytest plugins: they are forwarded to Python collection.
fn split_known(args: &[String]) -> (Vec<String>, Vec<String>) {
    let cmd = Cli::command();
    let known_long: Vec<String> = cmd
        .get_arguments()
        .flat_map(|a| {
            let mut v: Vec<String> = a
                .get_long()
                .map(|l| vec![l.to_string()])
                .unwrap_or_default();
            v.extend(
                a.get_all_aliases()
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_string),
            );
            v
        })
        .chain(["help".to_string(), "version".to_string()])
        .collect();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut after_dashdash = false;
    // The next argument is the value of an unknown option we know the arity of.
    let mut pending_value = false;
    for (i, a) in args.iter().enumerate() {
        if std::mem::take(&mut pending_value) {
            unknown.push(a.clone());
            continue;
        }
        if !after_dashdash && a.starts_with("--") && a.len() > 2 {
            let name = a[2..].split('=').next().unwrap();
            if !known_long.iter().any(|k| k == name) {
                unknown.push(a.clone());
                let next = args.get(i + 1).map(String::as_str);
                if !a.contains('=') && unknown_option_takes(a, next) {
                    pending_value = true;
                }
                continue;
            }
        }
        if a == "--" {
            after_dashdash = true;
        }
        known.push(a.clone());
    }
    (known, unknown)
}

/// `--cov-reset` as pytest-cov's action: the `--cov` sources given before it (addopts
/// included) are dropped.
fn apply_cov_reset(args: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for (at, a) in args.iter().enumerate() {
        if a == "--" {
            kept.extend(args[at..].iter().cloned());
            break;
        }
        if a == "--cov-reset" {
            let mut i = 0;
            while i < kept.len() {
                if kept[i] == "--cov" {
                    // `--cov VALUE` (an optional value, as argparse's nargs="?")
                    let value = kept.get(i + 1).is_some_and(|v| !v.starts_with('-'));
                    kept.drain(i..i + 1 + usize::from(value));
                } else if kept[i].starts_with("--cov=") {
                    kept.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        kept.push(a.clone());
    }
    kept
}

fn parse(args: &[String]) -> anyhow::Result<(Cli, Vec<String>)> {
    let args = apply_cov_reset(args);
    let (known, unknown) = split_known(&args);
    let cli =
        Cli::try_parse_from(std::iter::once("fastest".to_string()).chain(known)).map_err(|e| {
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) {
                e.exit();
            }
            anyhow::Error::new(UsageError(e.to_string().trim().to_string()))
        })?;
    Ok((cli, unknown))
}

/// `fastest run ...` is `fastest ...`; `explain` prints verdicts instead of running.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Command {
    Run,
    Explain,
}

/// `fastest cache stats|clear|gc`.
fn cache_command(sub: Option<&str>) -> anyhow::Result<ExitCode> {
    let invocation_dir = std::env::current_dir().context("reading the current directory")?;
    let config = determine_setup(&SetupRequest {
        invocation_dir: invocation_dir.clone(),
        args: vec![],
        inifile: None,
        rootdir: None,
        overrides: vec![],
    })
    .map_err(|e| UsageError(e.to_string()))?;
    let cache_dir = config.rootdir.join(".fastest_cache");
    let cache = Cache::open(&cache_dir);
    for w in cache.take_warnings() {
        eprintln!("fastest: warning: {w}");
    }
    match sub {
        Some("stats") | None => print!("{}", incremental::stats(&cache, &cache_dir)),
        Some("clear") => {
            cache.clear_all();
            cache.flush();
            let _ = std::fs::remove_dir_all(cache_dir.join("code"));
            fastest_discovery::snapshot::SnapshotStore::new(&cache_dir).clear();
            let _ = std::fs::remove_dir_all(cache_dir.join(fastest_cache::LARGE_DIR));
            // The project's preloaders too: a clear starts from fresh interpreters.
            if let (Some(dir), Ok(absolute)) = (
                fastest_runner::preload::runtime_dir(),
                std::path::absolute(&cache_dir),
            ) {
                fastest_runner::preload::retire_project(&dir, &absolute);
            }
            println!("fastest: cleared {}", cache_dir.display());
        }
        Some("gc") => {
            if cache.mode != fastest_cache::CacheMode::Persistent {
                return Err(anyhow::anyhow!(
                    "fastest cache gc: {} is in use by another fastest process",
                    cache_dir.display()
                ));
            }
            let removed = fastest_select::collect_garbage(&cache);
            cache.flush();
            drop(cache);
            let (before, after) = Cache::compact(&cache_dir)
                .with_context(|| format!("compacting {}", cache_dir.join("db").display()))?;
            let mb = |bytes: u64| bytes as f64 / 1e6;
            println!(
                "fastest: removed {removed} dependency sets no test record reaches; database {:.1} MB -> {:.1} MB",
                mb(before),
                mb(after)
            );
        }
        Some(other) => {
            return Err(UsageError(format!(
                "fastest cache: unknown subcommand {other:?} (expected stats, clear or gc)"
            ))
            .into())
        }
    }
    Ok(ExitCode::Ok)
}

fn run() -> anyhow::Result<ExitCode> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("watch") {
        return watch::watch(argv[1..].to_vec());
    }
    run_argv(argv, &mut watch::Warm::default())
}

/// One invocation (`run`, `explain`, `cache`, or a plain run) with these arguments.
/// `warm`: a worker started ahead by `fastest watch`, used when this run starts its
/// workers as that one was started and the environment is the one it was started in;
/// the run leaves in it how to start the next one.
fn run_argv(mut argv: Vec<String>, warm: &mut watch::Warm) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let mut command = Command::Run;
    match argv.first().map(String::as_str) {
        Some("run") => {
            argv.remove(0);
        }
        Some("explain") => {
            argv.remove(0);
            command = Command::Explain;
        }
        Some("cache") => return cache_command(argv.get(1).map(String::as_str)),
        _ => {}
    }
    if let Ok(env_opts) = std::env::var("PYTEST_ADDOPTS") {
        let mut pre = shlex::split(&env_opts).unwrap_or_default();
        pre.extend(argv);
        argv = pre;
    }
    let (first, _) = parse(&argv)?;
    let invocation_dir = std::env::current_dir().context("reading the current directory")?;
    let setup = SetupRequest {
        invocation_dir: invocation_dir.clone(),
        args: first.paths.clone(),
        inifile: first.inifile.clone(),
        rootdir: first.rootdir.clone(),
        overrides: first.override_ini.clone(),
    };
    let config = determine_setup(&setup).map_err(|e| UsageError(e.to_string()))?;
    timing::mark("config determined");
    let mut full = config.addopts();
    full.extend(argv);
    let (cli, passthrough) = parse(&full)?;
    let dist = fastest_runner::schedule::Dist::parse(&cli.dist)
        .ok_or_else(|| UsageError(format!("--dist: unknown mode {:?}", cli.dist)))?;
    if !["auto", "native", "pytest"].contains(&cli.engine.as_str()) {
        return Err(UsageError(format!(
            "--engine: expected auto, native or pytest, got {:?}",
            cli.engine
        ))
        .into());
    }

    let mut args = cli.paths.clone();
    let mut from_testpaths = false;
    if args.is_empty() {
        if invocation_dir == config.rootdir {
            for tp in config.testpaths() {
                let pattern = config.rootdir.join(&tp).to_string_lossy().into_owned();
                let mut matches: Vec<String> = glob_paths(&pattern);
                matches.sort();
                args.extend(matches);
            }
        }
        from_testpaths = !args.is_empty();
        if args.is_empty() {
            args.push(invocation_dir.to_string_lossy().into_owned());
        }
    }
    let abs = |p: &str| fastest_config::normalize_path(&invocation_dir.join(p));
    let req = CollectRequest {
        config: config.clone(),
        args: args.clone(),
        ignore: cli.ignore.iter().map(|p| abs(p)).collect(),
        ignore_glob: cli
            .ignore_glob
            .iter()
            .map(|p| abs(p).to_string_lossy().into_owned())
            .collect(),
        doctest_modules: cli.doctest_modules,
        doctest_globs: if cli.doctest_glob.is_empty() {
            vec!["test*.txt".into()]
        } else {
            cli.doctest_glob.clone()
        },
        import_mode_importlib: cli.import_mode.as_deref() == Some("importlib"),
        fs: Default::default(),
    };
    let cache_dir = config.rootdir.join(".fastest_cache");
    // When Python must collect modules first (~0.5 s and more), the first worker starts
    // beside that collection, so the interpreter's start and `import pytest` overlap
    // it. Not otherwise: a run with nothing to collect in Python decides in tens of
    // milliseconds, on every core, and a worker started then would only slow that
    // (a run with nothing to do pays for it, a run with tests gains ~20 ms). Not when
    // the worker would share the terminal (a debugger, `-s`): its start depends on it.
    let mut prestarted: Option<fastest_runner::pool::Prestarted> = None;
    // `fastest watch`'s worker started ahead: used once the environment is known to be
    // the one it started in (see below); no second one is started beside a collection.
    let mut warm_worker = warm.worker.take();
    let prestart_config = |python: &Path| {
        let allowed = command == Command::Run
            && !cli.collect_only
            && !cli.no_capture
            && cli.capture.as_deref() != Some("no")
            && !cli.pdb
            && !cli.trace
            && std::env::var_os("FASTEST_NO_PRESTART").is_none();
        if !allowed {
            return None;
        }
        let harness = fastest_runner::install_harness(&harness_root(&cache_dir)).ok()?;
        let preload = preloader(&cache_dir, &invocation_dir, python, &harness).map(|p| p.socket);
        Some(fastest_runner::pool::PoolConfig::for_run(
            python.to_path_buf(),
            harness,
            invocation_dir.clone(),
            &cache_dir,
            preload,
        ))
    };
    let prestart = |python: &Path| {
        if warm_worker.is_some() {
            return None;
        }
        fastest_runner::pool::Prestarted::start(&prestart_config(python)?)
    };
    // sled takes milliseconds to open: that runs beside the check of the stored static
    // collection, which needs no database.
    let opening = {
        let cache_dir = cache_dir.clone();
        std::thread::spawn(move || Cache::open(&cache_dir))
    };
    let snapshots = fastest_discovery::snapshot::SnapshotStore::new(&cache_dir);
    let stored_collection = snapshots.load(&req);
    timing::mark("stored static collection checked");
    let cache = Arc::new(opening.join().expect("opening the cache does not panic"));
    timing::mark("cache opened");
    let graph = Arc::new(GraphDb::new(cache.clone()));
    let collection_from_snapshot = stored_collection.is_some();
    let mut collection = match stored_collection {
        Some(c) => c,
        None => {
            let c = collect(&req, &*graph).map_err(|e| UsageError(e.to_string()))?;
            snapshots.save(&req, &c);
            c
        }
    };
    timing::mark("static collection");
    for w in cache.take_warnings().iter().chain(&collection.warnings) {
        eprintln!("fastest: warning: {w}");
    }
    // A plugin named with `-p` (or in addopts) may change what is collected and how
    // tests run: Python collects the session with it, and the pytest engine runs it.
    // Not for an installed plugin fastest handles: pytest has loaded it through its
    // entry point already, so `-p` changes nothing (a missing one fails pytest's start,
    // which Python's collection then reports).
    let autoload = std::env::var_os("PYTEST_DISABLE_PLUGIN_AUTOLOAD").is_none();
    for p in cli.plugins.iter().filter(|p| !p.starts_with("no:")) {
        let installed = autoload
            && run::handled_plugin_distribution(p).is_some_and(|dist| {
                let python = fastest_runner::find_python(cli.python.as_deref(), &config.rootdir);
                incremental::has_distribution(&python, &cache, &dist.replace('-', "_"))
                    .unwrap_or(false)
            });
        if !installed {
            collection.collect_session_in_python(format!("-p {p} loads a plugin"), false);
        }
    }

    // Session-report plugin options (pytest-html) go to the replay step only.
    let (passthrough, replayed_options) = session_plugins::split_replayed(&passthrough);
    // Options Python collection needs to reproduce the same session.
    let mut py_args: Vec<String> = vec![
        "--rootdir".into(),
        config.rootdir.to_string_lossy().into_owned(),
    ];
    if let Some(ini) = &config.inifile {
        py_args.extend(["-c".into(), ini.to_string_lossy().into_owned()]);
    }
    for o in &cli.override_ini {
        py_args.extend(["-o".into(), o.clone()]);
    }
    for p in &cli.plugins {
        py_args.extend(["-p".into(), p.clone()]);
    }
    for i in &cli.ignore {
        py_args.push(format!("--ignore={i}"));
    }
    for i in &cli.ignore_glob {
        py_args.push(format!("--ignore-glob={i}"));
    }
    if cli.doctest_modules {
        py_args.push("--doctest-modules".into());
    }
    for w in &cli.pythonwarnings {
        py_args.extend(["-W".into(), w.clone()]);
    }
    for (flag, on) in [
        ("--strict-markers", cli.strict_markers),
        ("--strict-config", cli.strict_config),
        ("--strict", cli.strict),
    ] {
        if on {
            py_args.push(flag.into());
        }
    }
    if let Some(m) = &cli.import_mode {
        py_args.push(format!("--import-mode={m}"));
    }
    for g in &cli.doctest_glob {
        py_args.push(format!("--doctest-glob={g}"));
    }
    py_args.extend(passthrough.iter().cloned());
    // The ini addopts are already part of our argv; don't let pytest add them twice.
    py_args.extend(["-o".into(), "addopts=".into()]);

    let python_for = || fastest_runner::find_python(cli.python.as_deref(), &config.rootdir);
    let mut report = CollectReport {
        // pytest's verbosity is the count of -v less the count of -q.
        quiet: cli.quiet.saturating_sub(cli.verbose),
        verbose: cli.verbose > cli.quiet,
        full_messages: fastest_report::full_summary_messages(
            i32::from(cli.verbose) - i32::from(cli.quiet),
            cli.force_short_summary,
        ),
        ..Default::default()
    };
    // `--collect-only` without -q prints pytest's tree of collectors.
    let want_tree = cli.collect_only && report.quiet == 0;
    // With -v the tree shows each node's docstring (static items: found here; Python's
    // come with its collection).
    let want_docs = want_tree && cli.verbose > cli.quiet;
    let mut static_docs: Vec<(usize, fastest_discovery::link::ItemDocs)> = Vec::new();
    // pytest-asyncio turns the async tests it runs into its own item types, which the
    // tree names (`<Coroutine test_x>`): installed and not disabled, its mode (`auto`
    // takes every async test, `strict` those marked `asyncio`).
    let asyncio_auto: Option<bool> = (want_tree
        && !cli
            .plugins
            .iter()
            .any(|p| p == "no:asyncio" || p == "no:pytest_asyncio")
        && incremental::has_distribution(&python_for(), &cache, "pytest_asyncio").unwrap_or(false))
    .then(|| {
        option_value(&passthrough, "--asyncio-mode")
            .or_else(|| config.string("asyncio_mode"))
            .is_some_and(|m| m.trim() == "auto")
    });
    let mut tree: Vec<TreeItem> = Vec::new();
    // Parameter names of the items Python collected: not fixtures the project lacks.
    let mut python_params = collect_cache::ParamNotes::new(&config.rootdir);
    // `-m` and `-k` are evaluated here when the expression parses, every static item's
    // marks (and for `-k` its node-id names) are known, and no name in it could match a
    // mark a plugin adds at collection; the dynamic modules get them in Python.
    // Modules with an item whose marks (or -k names) are not known statically are
    // collected by Python, where -k/-m apply; the rest are filtered here. (Not with
    // node-id arguments: such a module would be collected whole.)
    if (cli.markexpr.is_some() || cli.keyword.is_some()) && !args.iter().any(|a| a.contains("::")) {
        let needs_python = |i: &fastest_discovery::link::StaticItem| {
            (cli.markexpr.is_some() && i.marks.is_none())
                || (cli.keyword.is_some() && item_keywords(i).is_none())
        };
        for entry in collection.entries.iter_mut() {
            if let Entry::Items { path, items } = entry {
                if items.iter().any(needs_python) {
                    *entry = Entry::Dynamic {
                        path: path.clone(),
                        selector: None,
                        reason: fastest_discovery::MARKS_FOR_PYTHON.into(),
                        doctest_only: false,
                    };
                }
            }
        }
    }
    let static_markexpr = cli
        .markexpr
        .as_deref()
        .and_then(|m| static_filter(m, &collection, false, cli.verbose > 0));
    let static_keyword = cli
        .keyword
        .as_deref()
        .and_then(|k| static_filter(k, &collection, true, cli.verbose > 0));
    // A conftest hook may read or change -k/-m (`pytest_configure` setting a default
    // `markexpr`, `pytest_collection_modifyitems` deselecting by `getoption("-m")`): then
    // Python applies them to the whole session, as pytest would.
    let hook_sees_filters = (cli.keyword.is_some() || cli.markexpr.is_some())
        .then(|| conftest_hook_seeing_filters(&*graph, &config.rootdir, &collection))
        .flatten();
    if let (Some(hook), true) = (&hook_sees_filters, cli.verbose > 0) {
        eprintln!("fastest: -k/-m are applied by Python: {hook}");
    }
    let filter_in_python = (cli.keyword.is_some() && static_keyword.is_none())
        || (cli.markexpr.is_some() && static_markexpr.is_none())
        || hook_sees_filters.is_some();
    let mut python_reasons: Vec<String> = Vec::new();
    let static_modules = collection
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Items { .. }))
        .count();
    let dynamic: Vec<&Entry> = collection
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Dynamic { .. }))
        .collect();

    // Stored Python collections, keyed by what they depended on; the options Python
    // collection gets are part of the environment (any change collects again).
    let new_collect_cache = || {
        let mut options = portable_options(&py_args, &config.rootdir);
        options.push("collect".into());
        let environment =
            incremental::environment(&python_for(), &cache, &config_files(&config), &options);
        collect_cache::CollectCache::new(cache.clone(), graph.clone(), &config.rootdir, environment)
    };
    if collection.session_dynamic.is_some() || filter_in_python {
        let reason = collection
            .session_dynamic
            .clone()
            .unwrap_or_else(|| "-k/-m could not be evaluated statically".into());
        if cli.verbose > 0 {
            eprintln!("fastest: whole session collected by Python: {reason}");
        }
        if collection.session_dynamic.is_some() && !collection.session_runs_natively() {
            python_reasons.push(reason.clone());
        }
        // -k/-m are evaluated here on what Python reports for each item when they
        // parse (as in `static_filter`), so the stored collection serves any of them.
        let keyword = cli
            .keyword
            .as_deref()
            .map(fastest_discovery::markexpr::MarkExpr::parse);
        let markexpr = cli
            .markexpr
            .as_deref()
            .map(fastest_discovery::markexpr::MarkExpr::parse);
        let filters_here = keyword.as_ref().is_none_or(Option::is_some)
            && markexpr.as_ref().is_none_or(Option::is_some)
            && hook_sees_filters.is_none();
        let mut a = py_args.clone();
        if !filters_here {
            if let Some(k) = &cli.keyword {
                a.extend(["-k".into(), k.clone()]);
            }
            if let Some(m) = &cli.markexpr {
                a.extend(["-m".into(), m.clone()]);
            }
            for d in &cli.deselect {
                a.push(format!("--deselect={d}"));
            }
        }
        a.extend(args.iter().cloned());
        // With `--no-record` a stored collection is still used (reading it records
        // nothing); a fresh one is not stored.
        let collect_cache = filters_here.then(new_collect_cache);
        let session_id =
            collect_cache::CollectCache::session_id(&relpath(&config.rootdir, &invocation_dir), &a);
        let stored = collect_cache
            .as_ref()
            .and_then(|c| c.lookup_id(&session_id));
        timing::mark("stored session collection looked up");
        if cli.verbose > 0 && collect_cache.is_some() {
            eprintln!(
                "fastest: the session's collection {}",
                if stored.is_some() {
                    "comes from the collection cache"
                } else {
                    "is not stored yet or changed"
                }
            );
        }
        let found = match stored {
            Some(found) => found,
            None => {
                let collect_cache = collect_cache.filter(|_| !cli.no_record);
                let recording = collect_cache
                    .as_ref()
                    .map(|_| collect_cache::recording(&config.rootdir, &cache_dir, true));
                let python = python_for();
                if prestarted.is_none() {
                    prestarted = prestart(&python);
                }
                let shifted = ShiftedCollection::default();
                let dc = run_python(
                    &python,
                    &cache_dir,
                    &invocation_dir,
                    &a,
                    &[],
                    recording.as_ref(),
                    CollectClock::Real,
                    collect_cache
                        .as_ref()
                        .filter(|c| !c.known_unstable_id(&session_id))
                        .map(|_| shifted.starter(&python, &cache_dir, &invocation_dir, &a, &[])),
                )?;
                let shifted = shifted.take().filter(|_| !dc.volatile.is_empty());
                let mut found = collect_cache::ModuleCollection::of(&dc, "");
                // Also what was deselected outside any file (should not happen).
                found.deselected = found.deselected.max(dc.deselected);
                if let (Some(c), Some(deps)) = (
                    &collect_cache,
                    dc.module_deps.get(fastest_runner::SESSION_DEPS),
                ) {
                    let stable = !dc
                        .volatile
                        .iter()
                        .any(|v| v == fastest_runner::SESSION_DEPS)
                        || (!c.known_unstable_id(&session_id)
                            && all_stable_under_shifted_clock(
                                &python,
                                &cache_dir,
                                &invocation_dir,
                                &a,
                                &[],
                                &dc,
                                shifted,
                            ));
                    if stable {
                        c.store_id(&session_id, deps.clone(), &found);
                    } else {
                        c.store_unstable_id(&session_id, deps.clone());
                        if cli.verbose > 0 {
                            eprintln!("fastest: the session's collection depends on the clock or a random source; not cached");
                        }
                    }
                }
                found
            }
        };
        let mut items = Vec::new();
        let mut deselected = found.deselected;
        // (Applied by Python already when not here.)
        let (keyword, markexpr, deselect) = match filters_here {
            true => (
                keyword.flatten(),
                markexpr.flatten(),
                cli.deselect.as_slice(),
            ),
            false => (None, None, &[][..]),
        };
        let matching = found.matching;
        for (i, id) in found.items.into_iter().enumerate() {
            python_params.note(&id, &matching, i);
            let by_deselect = !deselect.iter().any(|d| id.starts_with(d.as_str()));
            if by_deselect
                && passes_filters(
                    markexpr.as_ref(),
                    keyword.as_ref(),
                    matching.marks(i),
                    || matching.keywords(i, &id),
                )
            {
                if want_tree {
                    push_python_tree(&mut tree, &matching, i, &id);
                }
                items.push(id);
            } else {
                deselected += 1;
            }
        }
        report.collected = items.len() + deselected;
        report.deselected = deselected;
        report.items = items;
        report.tree = tree;
        report.errors = found.errors;
        report.skipped = found.skipped;
    } else {
        // What Python collected, per dynamic entry (its items, errors and skips).
        let mut dynamic_found: HashMap<PathBuf, collect_cache::ModuleCollection> = HashMap::new();
        let mut python_deselected = 0;
        if !dynamic.is_empty() {
            if cli.verbose > 0 {
                eprintln!(
                    "fastest: {} modules collected statically, {} by Python:",
                    static_modules,
                    dynamic.len()
                );
                for d in &dynamic {
                    if let Entry::Dynamic { path, reason, .. } = d {
                        eprintln!("  {}: {reason}", relpath(&config.rootdir, path));
                    }
                }
            }
            // -k/-m are not passed: Python reports what they match for each item and
            // they are evaluated below, as for static items, so a stored collection
            // serves any expression.
            let mut a = py_args.clone();
            // Modules whose collection is stored and still current are not handed to
            // Python.
            // With `--no-record` stored collections are still used (reading them
            // records nothing); fresh ones are not stored.
            let collect_cache = Some(new_collect_cache());
            timing::mark("collection environment digested");
            let mut found: Vec<Option<collect_cache::ModuleCollection>> = dynamic
                .iter()
                .map(|d| match (d, &collect_cache) {
                    _ if d.python_collects_afresh() => None,
                    (
                        Entry::Dynamic {
                            path,
                            selector: None,
                            doctest_only,
                            ..
                        },
                        Some(c),
                    ) => c.lookup(&relpath(&config.rootdir, path), *doctest_only),
                    _ => None,
                })
                .collect();
            timing::mark("stored module collections looked up");
            let misses: Vec<usize> = (0..dynamic.len()).filter(|&i| found[i].is_none()).collect();
            if cli.verbose > 0 && collect_cache.is_some() {
                eprintln!(
                    "fastest: {} of them from the collection cache",
                    dynamic.len() - misses.len()
                );
            }
            if !misses.is_empty() {
                let mut doctest_only = Vec::new();
                for &i in &misses {
                    if let Entry::Dynamic {
                        path,
                        selector,
                        doctest_only: only,
                        ..
                    } = dynamic[i]
                    {
                        a.push(
                            selector
                                .clone()
                                .unwrap_or_else(|| path.to_string_lossy().into_owned()),
                        );
                        if *only {
                            doctest_only.push(path.clone());
                        }
                    }
                }
                // A directory entry (its modules are found by Python: a conftest shapes
                // them) has no record of its own: then one record spans the whole
                // collection and every entry collected with it is stored under it.
                let whole_session = misses.iter().any(|&i| {
                    matches!(dynamic[i], Entry::Dynamic { path, selector: None, .. } if path.is_dir())
                });
                let collect_cache = collect_cache.filter(|_| !cli.no_record);
                let recording = collect_cache
                    .as_ref()
                    .map(|_| collect_cache::recording(&config.rootdir, &cache_dir, whole_session));
                let miss_rels = || {
                    misses.iter().filter_map(|&i| match dynamic[i] {
                        Entry::Dynamic {
                            path,
                            selector: None,
                            doctest_only,
                            ..
                        } => Some((relpath(&config.rootdir, path), *doctest_only)),
                        _ => None,
                    })
                };
                let python = python_for();
                if prestarted.is_none() {
                    prestarted = prestart(&python);
                }
                // Collections that ran code calling the clock or a random source are
                // stored only when a second one, under a shifted clock, gives the same
                // ids (the workers pair ids that differ in their process by position).
                // The second one starts beside the first: at once when a module handed
                // to Python calls the clock or a random source itself, else as soon as
                // the first finds a module whose collection ran such code (see
                // `ShiftedCollection`).
                let shifted = ShiftedCollection::default();
                let mut start_shifted = match &collect_cache {
                    Some(c) if !miss_rels().any(|(rel, only)| c.known_unstable(&rel, only)) => {
                        Some(shifted.starter(
                            &python,
                            &cache_dir,
                            &invocation_dir,
                            &a,
                            &doctest_only,
                        ))
                    }
                    _ => None,
                };
                let calls_clock = misses.iter().any(|&i| {
                    matches!(dynamic[i], Entry::Dynamic { path, .. }
                        if path.is_file() && fastest_discovery::SummarySource::summary(&*graph, path).calls_clock)
                });
                if calls_clock {
                    if let Some(start) = start_shifted.take() {
                        start();
                    }
                }
                let dc = run_python(
                    &python,
                    &cache_dir,
                    &invocation_dir,
                    &a,
                    &doctest_only,
                    recording.as_ref(),
                    CollectClock::Real,
                    start_shifted,
                )?;
                timing::mark("python collected the modules it must");
                let shifted = shifted.take().filter(|_| !dc.volatile.is_empty());
                let stable: HashSet<String> = match &collect_cache {
                    Some(c) if whole_session && !dc.volatile.is_empty() => {
                        // One record spans the session: every entry stands or falls with
                        // the whole collection again.
                        let known_unstable =
                            miss_rels().any(|(rel, only)| c.known_unstable(&rel, only));
                        match !known_unstable
                            && all_stable_under_shifted_clock(
                                &python,
                                &cache_dir,
                                &invocation_dir,
                                &a,
                                &doctest_only,
                                &dc,
                                shifted,
                            ) {
                            true => miss_rels().map(|(rel, _)| rel).collect(),
                            false => HashSet::new(),
                        }
                    }
                    Some(c) if !dc.volatile.is_empty() => stable_volatile_modules(
                        c,
                        &python,
                        &cache_dir,
                        &invocation_dir,
                        &py_args,
                        &config.rootdir,
                        &dynamic,
                        &misses,
                        &dc,
                        shifted,
                    ),
                    _ => HashSet::new(),
                };
                for &i in &misses {
                    if let Entry::Dynamic {
                        path,
                        selector,
                        doctest_only: only,
                        ..
                    } = dynamic[i]
                    {
                        let rel = relpath(&config.rootdir, path);
                        let module = collect_cache::ModuleCollection::of(&dc, &rel);
                        let deps = match whole_session {
                            true => dc.module_deps.get(fastest_runner::SESSION_DEPS),
                            false => dc.module_deps.get(&rel),
                        };
                        let store = collect_cache
                            .as_ref()
                            .filter(|_| !dynamic[i].python_collects_afresh());
                        if let (Some(c), None, Some(deps)) = (store, selector, deps) {
                            let unit = match whole_session {
                                true => fastest_runner::SESSION_DEPS,
                                false => rel.as_str(),
                            };
                            if !dc.volatile.iter().any(|v| v == unit) || stable.contains(&rel) {
                                c.store(&rel, *only, deps.clone(), &module);
                            } else {
                                c.store_unstable(&rel, *only, deps.clone());
                                if cli.verbose > 0 {
                                    let shown = if rel.is_empty() { "." } else { rel.as_str() };
                                    eprintln!("fastest: {shown}: its collection depends on the clock or a random source; not cached");
                                }
                            }
                        }
                        found[i] = Some(module);
                    }
                }
            }
            for (entry, module) in dynamic.iter().zip(found) {
                if let (Entry::Dynamic { path, .. }, Some(mut module)) = (entry, module) {
                    // Fresh or stored: what a conftest or plugin deselected from it.
                    python_deselected += module.deselected;
                    report.skipped.append(&mut module.skipped);
                    dynamic_found.insert(path.clone(), module);
                }
            }
        } else if cli.verbose > 0 {
            eprintln!("fastest: {static_modules} modules collected statically, 0 by Python");
        }
        let mut items = Vec::new();
        let mut mark_deselected = 0;
        let mut static_tree = fastest_discovery::tree::StaticTree::new(&config.rootdir);
        for entry in &collection.entries {
            match entry {
                Entry::Items { items: it, .. } => {
                    for i in it {
                        let marks = i.marks.as_deref().unwrap_or_default();
                        if passes_filters(
                            static_markexpr.as_ref(),
                            static_keyword.as_ref(),
                            marks,
                            || item_keywords(i).unwrap_or_default(),
                        ) {
                            if want_tree {
                                let (parents, mut kind) = static_tree.chain(i);
                                if want_docs || asyncio_auto.is_some() {
                                    let info = fastest_discovery::item_docs(
                                        &req,
                                        &*graph,
                                        &config.rootdir,
                                        i,
                                    );
                                    if let Some(auto) = asyncio_auto {
                                        kind = asyncio_item_kind(kind, info.is_async, auto, marks);
                                    }
                                    if want_docs {
                                        static_docs.push((tree.len(), info));
                                    }
                                }
                                tree.push(TreeItem {
                                    parents: parents.into(),
                                    own: fastest_report::tree::item_line(kind, &i.nodeid),
                                });
                            }
                            items.push(i.nodeid.clone());
                        } else {
                            mark_deselected += 1;
                        }
                    }
                }
                Entry::Dynamic { path, .. } => {
                    if let Some(module) = dynamic_found.remove(path) {
                        let matching = module.matching;
                        for (i, id) in module.items.into_iter().enumerate() {
                            python_params.note(&id, &matching, i);
                            if passes_filters(
                                static_markexpr.as_ref(),
                                static_keyword.as_ref(),
                                matching.marks(i),
                                || matching.keywords(i, &id),
                            ) {
                                if want_tree {
                                    push_python_tree(&mut tree, &matching, i, &id);
                                }
                                items.push(id);
                            } else {
                                mark_deselected += 1;
                            }
                        }
                        report.errors.extend(module.errors);
                    }
                }
            }
        }
        // (Before `--deselect` removes entries: the indices are the tree's now.)
        add_static_docs(&mut tree, static_docs, || {
            let harness = fastest_runner::install_harness(&harness_root(&cache_dir)).ok()?;
            Some((python_for(), harness, invocation_dir.clone()))
        });
        report.collected = items.len() + mark_deselected + python_deselected;
        let before = items.len();
        let kept: Vec<bool> = items
            .iter()
            .map(|i| !cli.deselect.iter().any(|d| i.starts_with(d.as_str())))
            .collect();
        if want_tree {
            let mut keep = kept.iter();
            tree.retain(|_| *keep.next().unwrap_or(&true));
        }
        let mut keep = kept.iter();
        items.retain(|_| *keep.next().unwrap_or(&true));
        report.deselected = before - items.len() + mark_deselected + python_deselected;
        report.items = items;
        report.tree = tree;
    }
    timing::mark("python collections resolved");
    cache.flush();
    timing::mark("cache flushed");
    if !cli.collect_only {
        let static_items: HashMap<&str, &[u32]> = collection
            .entries
            .iter()
            .flat_map(|e| match e {
                Entry::Items { items, .. } => items
                    .iter()
                    .map(|i| (i.nodeid.as_str(), i.param_index.as_slice()))
                    .collect::<Vec<_>>(),
                Entry::Dynamic { .. } => Vec::new(),
            })
            .collect();
        // Why the native engine cannot run the tests of each file; the engine is chosen
        // on the files of the tests that actually run (`run --changed`, cached passes).
        let mut blockers = run::NativeBlockers {
            session: python_reasons.clone(),
            by_file: HashMap::new(),
        };
        // Modules collected by Python only because their parameter sets are not literal
        // (the native engine expands those itself), and entries Python collected that the
        // native engine cannot run (a directory entry covers the files under it).
        let mut runtime_parametrized: HashSet<String> = HashSet::new();
        let mut python_only: Vec<(String, String)> = Vec::new();
        let natively_resolvable =
            collection.session_dynamic.is_none() || collection.session_runs_natively();
        for e in &collection.entries {
            if let Entry::Dynamic { path, reason, .. } = e {
                let rel = relpath(&config.rootdir, path);
                if path.is_dir() && fastest_discovery::only_ignore_lists_dynamic(reason) {
                    // Python decided which files of the directory count; each module it
                    // collected there runs natively if the walk would have let it.
                    let prefix = if rel.is_empty() {
                        String::new()
                    } else {
                        format!("{rel}/")
                    };
                    let files: HashSet<&str> = report
                        .items
                        .iter()
                        .map(|id| id.split("::").next().unwrap_or(id))
                        .filter(|f| f.starts_with(&prefix) && f.ends_with(".py"))
                        .collect();
                    for file in files {
                        let verdict = fastest_discovery::python_collected_module_runs_natively(
                            &req,
                            &*graph,
                            &config.rootdir.join(file),
                        );
                        match verdict {
                            Ok(()) if natively_resolvable => {
                                runtime_parametrized.insert(file.to_string());
                            }
                            Ok(()) => {}
                            Err(why) => python_only.push((file.to_string(), why)),
                        }
                    }
                } else if !native_can_run(&*graph, path, reason) {
                    python_only.push((rel, reason.clone()));
                } else if natively_resolvable {
                    runtime_parametrized.insert(rel);
                }
            }
        }
        let static_files: HashSet<String> = collection
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Items { path, items } if !items.is_empty() => {
                    Some(relpath(&config.rootdir, path))
                }
                _ => None,
            })
            .collect();
        if collection.session_runs_natively() {
            // Session-scoped fixture parameters add to the ids of static modules' items
            // too; the worker resolves each of Python's ids on the module.
            runtime_parametrized.extend(static_files.iter().cloned());
        }
        let test_files: Vec<PathBuf> = static_files
            .union(&runtime_parametrized)
            .map(|f| config.rootdir.join(f))
            .collect();
        let cacheprovider_off = cli.plugins.iter().any(|p| p == "no:cacheprovider");
        let builtin_fixtures: Vec<&str> = NATIVE_BUILTIN_FIXTURES
            .iter()
            .copied()
            .filter(|f| *f != "cache" || !cacheprovider_off)
            .collect();
        let mut module_blockers = run::native_blockers(
            &*graph,
            &config.rootdir,
            &test_files,
            &builtin_fixtures,
            &python_params.finish(),
        );
        let mut files_in_order: Vec<&str> = Vec::new();
        let mut seen_files: HashSet<&str> = HashSet::new();
        let mut python_collected: HashSet<&str> = HashSet::new();
        for id in &report.items {
            let file = id.split("::").next().unwrap_or(id);
            if seen_files.insert(file) {
                files_in_order.push(file);
            }
            if !static_items.contains_key(id.as_str()) && !runtime_parametrized.contains(file) {
                python_collected.insert(file);
            }
        }
        for file in files_in_order {
            let mut reasons = Vec::new();
            if let Some((rel, reason)) = python_only.iter().find(|(rel, _)| {
                rel == file || rel.is_empty() || file.starts_with(&format!("{rel}/"))
            }) {
                reasons.push(run::Blocker::Other(format!("{rel}: {reason}")));
            }
            if python_collected.contains(file) {
                reasons.push(run::Blocker::Other(
                    "some items were collected by Python".into(),
                ));
            }
            let path = config.rootdir.join(file);
            reasons.extend(module_blockers.remove(&path).unwrap_or_default());
            if !reasons.is_empty() {
                blockers.by_file.insert(file.to_string(), reasons);
            }
        }
        if config.bool("log_cli").unwrap_or(false)
            || passthrough
                .iter()
                .any(|a| a.starts_with("--log-cli-level") || a.starts_with("--log-file"))
            || config.string("log_file").is_some()
        {
            blockers
                .session
                .push("live logging or a log file (log_cli, log_file) needs pytest".into());
        }
        let mut items: Vec<String> = std::mem::take(&mut report.items);
        let mut deselected = report.deselected;
        if cli.last_failed || cli.failed_first {
            let failed = run::last_failed(&cache);
            let any = items.iter().any(|i| failed.contains(i));
            if any && cli.last_failed {
                let before = items.len();
                items.retain(|i| failed.contains(i));
                deselected += before - items.len();
            } else if any {
                items.sort_by_key(|i| !failed.contains(i));
            }
        }
        if cli.new_first {
            let known = run::known_nodeids(&cache);
            run::order_new_first(&mut items, &known, &config.rootdir);
        }
        let stepwise = cli.stepwise || cli.stepwise_skip;
        let mut stepwise_note = None;
        if stepwise {
            if let Some(last) = run::stepwise_last(&cache) {
                if let Some(pos) = items.iter().position(|i| *i == last) {
                    items.drain(..pos);
                    deselected += pos;
                    stepwise_note = Some(format!("stepwise: skipping {pos} already passed items."));
                } else {
                    stepwise_note = Some(
                        "stepwise: previously failed test not found, not skipping.".to_string(),
                    );
                }
            } else {
                stepwise_note = Some("stepwise: no previously failed tests, not skipping.".into());
            }
        }
        let run_items: Vec<fastest_protocol::RunItem> = items
            .into_iter()
            .map(|nodeid| fastest_protocol::RunItem {
                param_index: static_items
                    .get(nodeid.as_str())
                    .map(|p| p.to_vec())
                    .unwrap_or_default(),
                nodeid,
            })
            .collect();
        let python = python_for();
        let harness = fastest_runner::install_harness(&harness_root(&cache_dir))?;
        let maxfail = if cli.exitfirst {
            1
        } else if stepwise {
            if cli.stepwise_skip {
                2
            } else {
                1
            }
        } else {
            match cli.maxfail.as_deref() {
                Some(m) => m
                    .parse()
                    .map_err(|_| UsageError(format!("--maxfail expects a number, got {m:?}")))?,
                None => 0,
            }
        };
        let verbosity = cli.verbose as i32 - cli.quiet as i32;
        let tbstyle = cli.tb.clone().unwrap_or_else(|| "auto".into());
        let capture = if cli.no_capture {
            "no".to_string()
        } else {
            cli.capture.clone().unwrap_or_else(|| "fd".into())
        };
        let timeout = cli
            .timeout
            .or_else(|| config.string("timeout").and_then(|t| t.trim().parse().ok()))
            .filter(|t| *t > 0.0)
            .map(std::time::Duration::from_secs_f64);
        let mut ini = std::collections::BTreeMap::new();
        // pytest 9: `strict_xfail` (alias `xfail_strict`) and `strict_markers` default to
        // the `strict` ini option, which `--strict` sets.
        let strict = cli.strict || config.bool("strict").unwrap_or(false);
        ini.insert(
            "xfail_strict".to_string(),
            serde_json::Value::Bool(
                config
                    .bool("strict_xfail")
                    .or_else(|| config.bool("xfail_strict"))
                    .unwrap_or(strict),
            ),
        );
        ini.insert(
            "strict_markers".to_string(),
            serde_json::Value::Bool(
                cli.strict_markers || config.bool("strict_markers").unwrap_or(strict),
            ),
        );
        ini.insert(
            "markers".into(),
            serde_json::json!(config.linelist("markers").unwrap_or_default()),
        );
        ini.insert(
            "filterwarnings".into(),
            serde_json::json!(config.linelist("filterwarnings").unwrap_or_default()),
        );
        // The native engine's `--import-mode=importlib` imports as pytest's does.
        ini.insert(
            "consider_namespace_packages".to_string(),
            serde_json::Value::Bool(config.bool("consider_namespace_packages").unwrap_or(false)),
        );
        ini.insert(
            "usefixtures".into(),
            serde_json::json!(config.args("usefixtures").unwrap_or_default()),
        );
        // Doctests (doctests.py in the harness): the module switch, pytest's doctest ini
        // options, and which files are test modules (those alone get assertion rewriting).
        ini.insert(
            "doctest_modules".into(),
            serde_json::Value::Bool(cli.doctest_modules),
        );
        for key in ["doctest_optionflags", "python_files"] {
            if let Some(value) = config.args(key) {
                ini.insert(key.into(), serde_json::json!(value));
            }
        }
        if let Some(encoding) = config.string("doctest_encoding") {
            ini.insert(
                "doctest_encoding".into(),
                serde_json::json!(encoding.trim()),
            );
        }
        // The logging plugin's settings the native engine follows (`--log-level` etc.
        // on the command line win over the ini, as in pytest).
        for (key, option) in [
            ("log_level", "--log-level"),
            ("log_format", "--log-format"),
            ("log_date_format", "--log-date-format"),
        ] {
            let value = option_value(&passthrough, option).or_else(|| config.string(key));
            ini.insert(key.into(), serde_json::json!(value));
        }
        // pytest-asyncio's settings, for the native engine's reproduction of it.
        for key in [
            "asyncio_mode",
            "asyncio_debug",
            "asyncio_default_fixture_loop_scope",
            "asyncio_default_test_loop_scope",
        ] {
            if let Some(value) = config.string(key) {
                let mut value = value.trim().to_string();
                if key == "asyncio_debug" {
                    // A bool ini option: pytest reads y/yes/t/true/on/1 as true; the
                    // plugin compares with "true".
                    let truthy = ["y", "yes", "t", "true", "on", "1"]
                        .contains(&value.to_lowercase().as_str());
                    value = if truthy { "true" } else { "false" }.into();
                }
                ini.insert(key.into(), serde_json::json!(value));
            }
        }
        // Read by the native engine as given: how it truncates assertion explanations,
        // where `cache` keeps its values, and what pytest imports (`packaging`) to check
        // before pytest-cov starts measuring.
        for key in [
            "truncation_limit_lines",
            "truncation_limit_chars",
            "verbosity_assertions",
            "cache_dir",
            "minversion",
            "required_plugins",
        ] {
            if let Some(value) = config.string(key).filter(|v| !v.trim().is_empty()) {
                ini.insert(key.into(), serde_json::json!(value.trim()));
            }
        }
        // `record_property` warns when the JUnit family written cannot hold properties.
        ini.insert(
            "junitxml_family".into(),
            serde_json::json!(cli.junitxml.as_ref().map(|_| config
                .string("junit_family")
                .map(|f| f.trim().to_string())
                .unwrap_or_else(|| "xunit2".into()))),
        );
        let reportchars = fastest_report::run::expand_reportchars(cli.report_chars.as_deref());
        ini.insert(
            "report_passes".into(),
            serde_json::Value::Bool(reportchars.contains('P')),
        );
        let mut header = config_header_lines(&config, from_testpaths);
        header.extend(stepwise_note);
        let color = match cli.color.as_deref() {
            Some("yes") => true,
            Some("no") => false,
            _ => {
                std::env::var_os("NO_COLOR").is_none()
                    && std::io::IsTerminal::is_terminal(&std::io::stdout())
            }
        };
        let mut environment_now: Option<fastest_cache::Digest> = None;
        let selector = if cli.no_record {
            None
        } else {
            // Options that change how tests behave (not which ones run) are part of the
            // environment digest.
            // Paths under the rootdir are spelled relative to it, so a checkout elsewhere
            // (CI) gets the same digest.
            let mut options = portable_options(&py_args, &config.rootdir);
            options.push(format!("--engine={}", cli.engine));
            options.push(format!("--capture={capture}"));
            options.push(format!("--timeout={:?}", timeout));
            let environment =
                incremental::environment(&python, &cache, &config_files(&config), &options);
            environment_now = Some(environment);
            Some(Arc::new(fastest_select::Selector::new(
                cache.clone(),
                graph.clone(),
                &config.rootdir,
                environment,
            )))
        };
        let coverage = coverage::CoverageRun::from_options(
            &coverage::CoverageOptions {
                cov: &cli.cov,
                reports: &cli.cov_report,
                config: &cli.cov_config,
                branch: cli.cov_branch,
                fail_under: cli.cov_fail_under.as_deref(),
                precision: cli.cov_precision,
                no_cov: cli.no_cov,
                append: cli.cov_append,
            },
            &invocation_dir,
            &cache_dir,
        )
        .map_err(UsageError)?;
        let mut pytest_args = py_args.clone();
        pytest_args.extend(["-p".into(), "no:xdist".into()]);
        let session_replay = (!replayed_options.is_empty()).then(|| {
            let mut replay_args = pytest_args.clone();
            replay_args.extend(replayed_options.iter().cloned());
            replay_args.extend(["-p".into(), "no:cacheprovider".into()]);
            replay_args.extend(args.iter().cloned());
            replay_args
        });
        let request =
            run::RunRequest {
                rootdir: config.rootdir.clone(),
                invocation_dir: invocation_dir.clone(),
                preload: preloader(&cache_dir, &invocation_dir, &python, &harness),
                python,
                harness,
                cache_dir: cache_dir.clone(),
                items: run_items,
                collect_errors: report.errors.clone(),
                collect_skips: report.skipped.clone(),
                deselected,
                native_blockers: blockers,
                engine: cli.engine.clone(),
                workers: cli.numprocesses.clone(),
                dist,
                maxfail,
                timeout,
                timeout_options_set: ["timeout_method", "timeout_func_only", "session_timeout"]
                    .iter()
                    .any(|k| config.string(k).is_some())
                    || passthrough.iter().any(|a| {
                        [
                            "--timeout-method",
                            "--timeout_method",
                            "--timeout-func-only",
                            "--session-timeout",
                        ]
                        .iter()
                        .any(|o| a.starts_with(o))
                    }),
                capture,
                tbstyle,
                showlocals: cli.showlocals,
                verbosity,
                reportchars,
                durations: match cli.durations.as_deref() {
                    Some(d) => Some(d.parse().map_err(|_| {
                        UsageError(format!("--durations expects a number, got {d:?}"))
                    })?),
                    None => None,
                },
                durations_min: cli.durations_min.unwrap_or(0.005),
                disable_warnings: cli.disable_warnings,
                force_short_summary: cli.force_short_summary,
                continue_on_collection_errors: cli.continue_on_collection_errors,
                color,
                junitxml: cli.junitxml.as_ref().map(|p| invocation_dir.join(p)),
                report_log: cli.report_log.as_ref().map(|p| invocation_dir.join(p)),
                pytest_args,
                // Each pytest-engine worker collects the whole session, as pytest-xdist
                // workers do: collection has side effects (imports) that tests rely on.
                collect_args: args.clone(),
                ini,
                header,
                stepwise: stepwise.then_some(cli.stepwise_skip),
                selector,
                reuse: !cli.no_cache,
                changed_only: cli.changed,
                coverage,
                session_replay,
                session_modules: collection
                    .entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Items { path, items } if !items.is_empty() => Some(path),
                        Entry::Dynamic { path, .. } => Some(path),
                        _ => None,
                    })
                    .map(|p| relpath(&config.rootdir, p))
                    .collect(),
                module_items: collection
                    .entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Items { path, items } if !items.is_empty() => {
                            Some((relpath(&config.rootdir, path), items.len()))
                        }
                        _ => None,
                    })
                    .collect(),
                debugger: if cli.trace {
                    Some("trace".into())
                } else if cli.pdb {
                    Some("pdb".into())
                } else {
                    None
                },
            };
        if command == Command::Explain {
            let ids: Vec<String> = request.items.iter().map(|i| i.nodeid.clone()).collect();
            match &request.selector {
                Some(selector) => {
                    print!("{}", incremental::explain(selector, &ids, cli.verbose > 0))
                }
                None => println!("fastest: --no-record: nothing is recorded, every test runs"),
            }
            return Ok(ExitCode::Ok);
        }
        // A worker started ahead imported pytest and the harness in the environment of
        // the previous run: a different one (an install, a config edit) starts afresh.
        if let Some((worker, environment)) = warm_worker.take() {
            if prestarted.is_none() && environment_now == Some(environment) {
                prestarted = Some(worker);
            }
        }
        if warm.watching {
            warm.next =
                environment_now.and_then(|env| Some((prestart_config(&request.python)?, env)));
        }
        run::install_sigint_handler();
        let preloader = request.preload.clone();
        let code = run::execute(request, &cache, prestarted);
        // For the next run: its workers are then forked ready, past `import pytest`.
        if let Some(preloader) = preloader {
            preloader.ensure_running();
        }
        return code;
    }
    report.seconds = start.elapsed().as_secs_f64();
    if want_tree {
        // The Python version only when a run has asked this interpreter before (no
        // interpreter is started to print a header).
        let python = incremental::known_python_version(&python_for(), &cache);
        report.header = vec![run::platform_line(python.as_deref(), None)];
        report
            .header
            .extend(config_header_lines(&config, from_testpaths));
    }
    print!("{}", report.render());
    timing::mark("collection printed");
    if cli.verbose > 0 && collection_from_snapshot {
        eprintln!("fastest: static collection reused: no file it depends on changed");
    } else if cli.verbose > 0 {
        let s = graph.stats();
        use std::sync::atomic::Ordering::Relaxed;
        eprintln!(
            "fastest: {} files read, {} parsed, {} summaries from cache",
            s.read.load(Relaxed),
            s.parsed.load(Relaxed),
            s.from_cache.load(Relaxed)
        );
    }
    Ok(report.exit_code())
}

/// Fixtures the native engine provides itself (python/fastest_harness/builtins.py).
const NATIVE_BUILTIN_FIXTURES: &[&str] = &[
    "request",
    "tmp_path",
    "tmp_path_factory",
    "tmpdir",
    "tmpdir_factory",
    // The cacheprovider's, unless `-p no:cacheprovider` (then "not found", as with pytest).
    "cache",
    "monkeypatch",
    "capsys",
    "capsysbinary",
    "capfd",
    "capfdbinary",
    "caplog",
    "recwarn",
    "pytestconfig",
    "doctest_namespace",
    "record_property",
    // pytest-mock's, when it is installed (otherwise "not found", as with pytest).
    "mocker",
    "class_mocker",
    "module_mocker",
    "package_mocker",
    "session_mocker",
    // pytest-cov's, when it is installed.
    "no_cover",
];

/// Whether the native engine can run the items Python collected from a dynamic module:
/// its reason, and every other reason its summary gives, allow it.
fn native_can_run(
    source: &dyn fastest_discovery::SummarySource,
    path: &Path,
    reason: &str,
) -> bool {
    fastest_discovery::native_can_run_dynamic(reason)
        && source
            .summary(path)
            .dynamic_reasons
            .iter()
            .all(|r| fastest_discovery::native_can_run_dynamic(r))
}

/// The project's preloader (`fastest_runner::preload`), when preloading is on: by
/// default, except under CI (`CI` set, other than `0`/`false`), where no process may
/// outlive the run; `FASTEST_PRELOAD=0` turns it off, `FASTEST_PRELOAD=1` on.
fn preloader(
    cache_dir: &Path,
    cwd: &Path,
    python: &Path,
    harness: &Path,
) -> Option<fastest_runner::preload::Preloader> {
    let under_ci = || {
        std::env::var("CI")
            .is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    };
    let wanted = match std::env::var("FASTEST_PRELOAD").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => !under_ci(),
    };
    if !wanted {
        return None;
    }
    fastest_runner::preload::Preloader::for_run(
        &fastest_runner::preload::runtime_dir()?,
        &std::path::absolute(cache_dir).ok()?,
        cwd,
        python,
        harness,
    )
}

/// Where the harness is installed: the cache dir, else a temp dir if it is not writable.
fn harness_root(cache_dir: &Path) -> PathBuf {
    if cache_dir.exists() || std::fs::create_dir_all(cache_dir).is_ok() {
        cache_dir.to_path_buf()
    } else {
        std::env::temp_dir().join("fastest-harness")
    }
}

#[allow(clippy::too_many_arguments)]
fn run_python(
    python: &Path,
    cache_dir: &Path,
    cwd: &Path,
    args: &[String],
    doctest_only: &[PathBuf],
    record: Option<&fastest_runner::CollectRecording>,
    clock: CollectClock,
    on_volatile: Option<Box<dyn FnOnce() + Send>>,
) -> anyhow::Result<fastest_protocol::DynamicCollection> {
    let pending = start_python(
        python,
        cache_dir,
        cwd,
        args,
        doctest_only,
        record,
        clock,
        on_volatile,
    )?;
    Ok(pending.wait()?)
}

/// Starts Python's collection of `args` with the harness installed under `cache_dir`
/// (`run_python` waits for it; the shifted-clock check runs beside another).
#[allow(clippy::too_many_arguments)]
fn start_python(
    python: &Path,
    cache_dir: &Path,
    cwd: &Path,
    args: &[String],
    doctest_only: &[PathBuf],
    record: Option<&fastest_runner::CollectRecording>,
    clock: CollectClock,
    on_volatile: Option<Box<dyn FnOnce() + Send>>,
) -> anyhow::Result<fastest_runner::PendingCollection> {
    let harness = fastest_runner::install_harness(&harness_root(cache_dir))?;
    Ok(fastest_runner::spawn_collect(
        python,
        &harness,
        cwd,
        args,
        doctest_only,
        record,
        clock,
        on_volatile,
    )?)
}

/// Which of `units` (rootdir-relative module paths; `""` for everything) Python collects
/// the same again with its clock shifted (and other random draws): those ids do not
/// depend on the clock or a random source. A collection that fails counts as different.
/// `started`: that second collection, already running (of a superset of `args`).
#[allow(clippy::too_many_arguments)]
fn stable_under_shifted_clock(
    python: &Path,
    cache_dir: &Path,
    cwd: &Path,
    args: &[String],
    doctest_only: &[PathBuf],
    first: &fastest_protocol::DynamicCollection,
    units: &[String],
    started: Option<fastest_runner::PendingCollection>,
) -> HashSet<String> {
    let second = match started {
        Some(pending) => pending.wait().map_err(anyhow::Error::from),
        None => run_python(
            python,
            cache_dir,
            cwd,
            args,
            doctest_only,
            None,
            CollectClock::Shifted,
            None,
        ),
    };
    let Ok(second) = second else {
        return HashSet::new();
    };
    units
        .iter()
        .filter(|rel| {
            collect_cache::ModuleCollection::of(first, rel)
                == collect_cache::ModuleCollection::of(&second, rel)
        })
        .cloned()
        .collect()
}

/// Whether Python collects everything `first` holds the same again with its clock
/// shifted (one record spans the collection).
fn all_stable_under_shifted_clock(
    python: &Path,
    cache_dir: &Path,
    cwd: &Path,
    args: &[String],
    doctest_only: &[PathBuf],
    first: &fastest_protocol::DynamicCollection,
    started: Option<fastest_runner::PendingCollection>,
) -> bool {
    let everything = [String::new()];
    !stable_under_shifted_clock(
        python,
        cache_dir,
        cwd,
        args,
        doctest_only,
        first,
        &everything,
        started,
    )
    .is_empty()
}

/// The modules among `misses` whose collection in `dc` (one record per module) ran code
/// calling the clock or a random source and is the same under a shifted clock
/// (rootdir-relative paths). Only those modules are collected again, and not the ones
/// already known to be unstable.
#[allow(clippy::too_many_arguments)]
fn stable_volatile_modules(
    collect_cache: &collect_cache::CollectCache,
    python: &Path,
    cache_dir: &Path,
    cwd: &Path,
    py_args: &[String],
    rootdir: &Path,
    dynamic: &[&Entry],
    misses: &[usize],
    dc: &fastest_protocol::DynamicCollection,
    started: Option<fastest_runner::PendingCollection>,
) -> HashSet<String> {
    let mut args = py_args.to_vec();
    let mut doctest_only = Vec::new();
    let mut units = Vec::new();
    for &i in misses {
        let Entry::Dynamic {
            path,
            selector: None,
            doctest_only: only,
            ..
        } = dynamic[i]
        else {
            continue;
        };
        let rel = relpath(rootdir, path);
        if !dc.volatile.contains(&rel) || collect_cache.known_unstable(&rel, *only) {
            continue;
        }
        args.push(path.to_string_lossy().into_owned());
        if *only {
            doctest_only.push(path.clone());
        }
        units.push(rel);
    }
    if units.is_empty() {
        return HashSet::new();
    }
    stable_under_shifted_clock(
        python,
        cache_dir,
        cwd,
        &args,
        &doctest_only,
        dc,
        &units,
        started,
    )
}

/// The shifted-clock check of a collection, started while that collection still runs:
/// which modules read the clock is known only as it goes, and waiting for it to finish
/// first made a first-ever collection take both in turn. `starter` gives the callback
/// the first collection calls when it finds such a module; `take` the started one (none
/// when nothing read the clock, or it could not start: the check then runs afterwards).
/// Dropping a started one that is not needed stops it.
#[derive(Default, Clone)]
struct ShiftedCollection(Arc<std::sync::Mutex<Option<fastest_runner::PendingCollection>>>);

impl ShiftedCollection {
    fn starter(
        &self,
        python: &Path,
        cache_dir: &Path,
        cwd: &Path,
        args: &[String],
        doctest_only: &[PathBuf],
    ) -> Box<dyn FnOnce() + Send> {
        let slot = self.clone();
        let (python, cache_dir, cwd) = (python.to_owned(), cache_dir.to_owned(), cwd.to_owned());
        let (args, doctest_only) = (args.to_vec(), doctest_only.to_vec());
        Box::new(move || {
            let started = start_python(
                &python,
                &cache_dir,
                &cwd,
                &args,
                &doctest_only,
                None,
                CollectClock::Shifted,
                None,
            )
            .ok();
            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = started;
        })
    }

    fn take(&self) -> Option<fastest_runner::PendingCollection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The value of a forwarded plugin option (`--name=value` or `--name value`), the last
/// one given.
fn option_value(args: &[String], name: &str) -> Option<String> {
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if a == name {
            found = args.get(i + 1).cloned();
        } else if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        }
    }
    found
}

/// The options every result depends on, spelled the same on any checkout: paths under
/// the rootdir relative to it, and the variables the interpreter reads at start-up.
fn portable_options(py_args: &[String], rootdir: &Path) -> Vec<String> {
    let root = rootdir.to_string_lossy().into_owned();
    let mut options: Vec<String> = py_args
        .iter()
        .map(|o| o.replace(&root, "<rootdir>"))
        .collect();
    // Variables the interpreter and C library read at start-up (never through
    // os.environ, so the harness cannot record them per test).
    for name in incremental::STARTUP_ENV_VARS {
        if let Some(value) = std::env::var_os(name) {
            let value = value.to_string_lossy().replace(&root, "<rootdir>");
            options.push(format!("env:{name}={value}"));
        }
    }
    options
}

/// The config files of the session, by rootdir-relative name.
fn config_files(config: &fastest_config::ProjectConfig) -> Vec<(String, PathBuf)> {
    config
        .inifile
        .iter()
        .map(|p| (relpath(&config.rootdir, p), p.clone()))
        .collect()
}

/// The node type pytest-asyncio gives a test (`PytestAsyncioFunction.item_subclass_for`):
/// an `async def` test it takes (every one in `auto` mode, else those marked `asyncio`)
/// is a `Coroutine`, an async generator an `AsyncGenerator`.
fn asyncio_item_kind(
    kind: &'static str,
    (is_async, is_generator): (bool, bool),
    auto: bool,
    marks: &[String],
) -> &'static str {
    if kind != "Function" || !is_async || !(auto || marks.iter().any(|m| m == "asyncio")) {
        return kind;
    }
    if is_generator {
        "AsyncGenerator"
    } else {
        "Coroutine"
    }
}

/// Adds the docstrings of statically collected items (`static_docs`: tree index and
/// docs) to their tree entries: the module's after its `<Module>` line, each class's
/// after its line, the function's after the item. Docstrings the search found only in a
/// class outside the project are asked of Python, all at once (`python` gives the
/// interpreter, the installed harness and the directory to run in).
fn add_static_docs(
    tree: &mut [TreeItem],
    static_docs: Vec<(usize, fastest_discovery::link::ItemDocs)>,
    python: impl FnOnce() -> Option<(PathBuf, PathBuf, PathBuf)>,
) {
    use fastest_discovery::link::Doc;
    let mut external: Vec<(String, Option<String>)> = Vec::new();
    for (_, docs) in &static_docs {
        for doc in std::iter::once(&docs.module)
            .chain(&docs.classes)
            .chain([&docs.function])
        {
            let mut doc = doc;
            while let Doc::External {
                class,
                attr,
                otherwise,
            } = doc
            {
                let key = (class.clone(), attr.clone());
                if !external.contains(&key) {
                    external.push(key);
                }
                doc = otherwise;
            }
        }
    }
    let found: Vec<Option<String>> = match external.is_empty() {
        true => Vec::new(),
        false => python()
            .and_then(|(python, harness, cwd)| {
                fastest_runner::external_docs(&python, &harness, &cwd, &external).ok()
            })
            .unwrap_or_default(),
    };
    let text = |mut doc: &Doc| -> Option<String> {
        loop {
            match doc {
                Doc::Known(d) => return d.clone(),
                Doc::External {
                    class,
                    attr,
                    otherwise,
                } => {
                    let answer = external
                        .iter()
                        .position(|(c, a)| c == class && a == attr)
                        .and_then(|i| found.get(i).cloned().flatten());
                    if answer.is_some() {
                        return answer;
                    }
                    doc = otherwise;
                }
            }
        }
    };
    // The previous entry's parents, without and with their docstrings.
    type Parents = Arc<[String]>;
    let mut last: Option<(Parents, Parents)> = None;
    for (index, docs) in static_docs {
        let Some(entry) = tree.get_mut(index) else {
            continue;
        };
        // The module is the entry before the classes.
        let first_class = entry.parents.len() - docs.classes.len();
        let mut parents: Vec<String> = entry.parents.to_vec();
        if let Some(module) = first_class.checked_sub(1) {
            parents[module] =
                fastest_report::tree::with_doc(&parents[module], text(&docs.module).as_deref());
        }
        for (k, doc) in docs.classes.iter().enumerate() {
            let at = first_class + k;
            parents[at] = fastest_report::tree::with_doc(&parents[at], text(doc).as_deref());
        }
        entry.own = fastest_report::tree::with_doc(&entry.own, text(&docs.function).as_deref());
        // Items of one class share one parents list, as before.
        entry.parents = match &last {
            Some((before, after)) if *before == entry.parents => after.clone(),
            _ => {
                let after: Arc<[String]> = parents.into();
                last = Some((entry.parents.clone(), after.clone()));
                after
            }
        };
    }
}

/// Adds item `i` of a Python collection to `--collect-only`'s tree, sharing the parents
/// list with the item before when they are the same (a module's items all are).
fn push_python_tree(
    tree: &mut Vec<TreeItem>,
    matching: &collect_cache::MatchTable,
    i: usize,
    nodeid: &str,
) {
    let (parents, own) = matching.tree(i, nodeid);
    let parents = match tree.last() {
        Some(before) if *before.parents == *parents => before.parents.clone(),
        _ => std::sync::Arc::from(parents),
    };
    tree.push(TreeItem { parents, own });
}

/// The session header's lines about the configuration (pytest's `rootdir:`,
/// `configfile:`, `testpaths:`).
fn config_header_lines(
    config: &fastest_config::ProjectConfig,
    from_testpaths: bool,
) -> Vec<String> {
    let mut header = vec![format!("rootdir: {}", config.rootdir.display())];
    if let Some(ini_path) = &config.inifile {
        header.push(format!(
            "configfile: {}",
            relpath(&config.rootdir, ini_path)
        ));
    }
    if from_testpaths {
        header.push(format!("testpaths: {}", config.testpaths().join(", ")));
    }
    header
}

/// `glob.iglob(pattern, recursive=True)` for testpaths: `*`, `?`, `[..]` per component
/// and `**` for any depth.
fn glob_paths(pattern: &str) -> Vec<String> {
    if !pattern.contains(['*', '?', '[']) {
        return if Path::new(pattern).exists() {
            vec![pattern.to_string()]
        } else {
            vec![]
        };
    }
    let mut current: Vec<PathBuf> = vec![PathBuf::from("/")];
    for comp in Path::new(pattern).components().skip(1) {
        let c = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &current {
            if c == "**" {
                let mut stack = vec![base.clone()];
                while let Some(d) = stack.pop() {
                    next.push(d.clone());
                    if let Ok(rd) = std::fs::read_dir(&d) {
                        for e in rd.flatten() {
                            if e.path().is_dir()
                                && !e.file_name().to_string_lossy().starts_with('.')
                            {
                                stack.push(e.path());
                            }
                        }
                    }
                }
            } else if c.contains(['*', '?', '[']) {
                if let Ok(rd) = std::fs::read_dir(base) {
                    for e in rd.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if !name.starts_with('.') && fastest_config::fnmatch::fnmatchcase(&name, &c)
                        {
                            next.push(e.path());
                        }
                    }
                }
            } else {
                let p = base.join(&c);
                if p.exists() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    current
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cov_reset_drops_the_sources_given_before_it() {
        let args: Vec<String> = [
            "--cov=a",
            "--cov",
            "b",
            "--cov",
            "-q",
            "--cov-reset",
            "--cov=c",
            "tests",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            super::apply_cov_reset(&args),
            ["-q", "--cov-reset", "--cov=c", "tests"]
        );
    }

    use super::*;

    #[test]
    fn plugin_marks_keep_k_and_m_in_python() {
        assert!(could_match_plugin_mark("asyncio", false));
        assert!(!could_match_plugin_mark("sync", false));
        // -k matches the marks plugins add by substring, whatever the case.
        assert!(could_match_plugin_mark("sync", true));
        assert!(could_match_plugin_mark("Hypo", true));
        assert!(!could_match_plugin_mark("user", true));
    }

    fn split(args: &[&str]) -> (Vec<String>, Vec<String>) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        split_known(&args)
    }

    #[test]
    fn plugin_options_keep_their_separate_values() {
        let (known, unknown) = split(&["--ds", "mysite.settings", "-q", "--html", "r.html"]);
        assert_eq!(known, vec!["-q"]);
        assert_eq!(unknown, vec!["--ds", "mysite.settings", "--html", "r.html"]);
    }

    #[test]
    fn an_unknown_flag_before_a_path_leaves_the_path_positional() {
        // `Cargo.toml` exists in the crate directory tests run in.
        let (known, unknown) = split(&["--reuse-db", "Cargo.toml", "--nomigrations", "-x"]);
        assert_eq!(known, vec!["Cargo.toml", "-x"]);
        assert_eq!(unknown, vec!["--reuse-db", "--nomigrations"]);
        // An unknown option followed by something that is not a path takes it as its value.
        let (known, unknown) = split(&["--some-plugin-level", "high", "Cargo.toml"]);
        assert_eq!(known, vec!["Cargo.toml"]);
        assert_eq!(unknown, vec!["--some-plugin-level", "high"]);
    }

    #[test]
    fn a_repeated_option_takes_the_last_value_and_lists_accumulate() {
        let args: Vec<String> = [
            "-m", "slow", "-m", "not slow", "-p", "a", "-p", "b", "-v", "-v", "-x", "-x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (cli, _) = parse(&args).expect("pytest accepts repeated options");
        assert_eq!(cli.markexpr.as_deref(), Some("not slow"));
        assert_eq!(cli.plugins, vec!["a", "b"]);
        assert_eq!(cli.verbose, 2);
    }
}
