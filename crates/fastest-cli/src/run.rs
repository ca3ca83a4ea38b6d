//! `fastest [ARGS]` without `--collect-only`: picks the engine, schedules the collected
//! items onto workers, feeds their events to the reporter, writes JUnit XML, and
//! records durations and last-failed state in the cache.

use crate::coverage::{self, CoverageRun};
use crate::session_plugins;
use anyhow::Context;
use fastest_cache::Cache;
use fastest_discovery::SummarySource;
use fastest_protocol::{
    CollectionErrorReport, CollectionSkip, Engine, Outcome, PhaseReport, RunItem, When,
    WorkerConfig,
};
use fastest_report::run::{Ending, RunOptions, RunReporter, Tone};
use fastest_report::ExitCode;
use fastest_runner::pool::{run_pool, Control, PoolConfig, PoolOutcome, RunEvent, WorkerInfo};
use fastest_runner::schedule::{
    bucket_plan, buckets, group, longest_first, shared_plan, Dist, Plan,
};
use fastest_select::{Selector, Verdict};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set by SIGINT: the pool stops, the reporter prints what finished.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT's default action again (kills the process), as before a run installs its
/// handler: `fastest watch` runs each run under the same rules as a plain one.
pub fn restore_default_sigint() {
    // SAFETY: resetting a signal's disposition to the default.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

pub fn install_sigint_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

/// Everything the run needs from the command line and collection.
pub struct RunRequest {
    /// The project's preloader (workers forked past `import pytest`), if on.
    pub preload: Option<fastest_runner::preload::Preloader>,
    pub rootdir: PathBuf,
    pub invocation_dir: PathBuf,
    pub python: PathBuf,
    pub harness: PathBuf,
    pub cache_dir: PathBuf,
    pub items: Vec<RunItem>,
    pub collect_errors: Vec<CollectionErrorReport>,
    /// Modules that skipped themselves at import (pytest counts each as one skip).
    pub collect_skips: Vec<CollectionSkip>,
    pub deselected: usize,
    /// Why the native engine cannot run this session, or the tests of some files.
    pub native_blockers: NativeBlockers,
    pub engine: String,
    pub workers: Option<String>,
    pub dist: Dist,
    pub maxfail: usize,
    pub timeout: Option<Duration>,
    /// pytest-timeout's own options are set (`timeout_method`, `timeout_func_only`,
    /// `session_timeout`): its behaviour then is more than one limit per test.
    pub timeout_options_set: bool,
    pub capture: String,
    pub tbstyle: String,
    pub showlocals: bool,
    pub verbosity: i32,
    pub reportchars: String,
    pub durations: Option<usize>,
    pub durations_min: f64,
    pub disable_warnings: bool,
    pub force_short_summary: bool,
    /// `--continue-on-collection-errors`: run the tests despite collection errors.
    pub continue_on_collection_errors: bool,
    pub color: bool,
    pub junitxml: Option<PathBuf>,
    pub report_log: Option<PathBuf>,
    pub pytest_args: Vec<String>,
    pub collect_args: Vec<String>,
    pub ini: BTreeMap<String, serde_json::Value>,
    pub header: Vec<String>,
    /// `--sw` (Some(false)) / `--sw-skip` (Some(true)): remember where the run stopped.
    pub stepwise: Option<bool>,
    /// Incremental runs: records dependencies and decides what must run (None with
    /// `--no-record`).
    pub selector: Option<Arc<Selector>>,
    /// Reuse cached passes (false with `--no-cache` / `--all`).
    pub reuse: bool,
    /// `--changed`: run only tests affected by changes (plus new and failing ones).
    pub changed_only: bool,
    /// `--cov`: measure in the workers, report after them.
    pub coverage: Option<CoverageRun>,
    /// `--pdb` / `--trace`: the debugger on the terminal, one worker.
    pub debugger: Option<String>,
    /// Every module the session collects, in collection order (rootdir-relative).
    pub session_modules: Vec<String>,
    /// How many items each statically collected module has (rootdir-relative), for the
    /// counts when one fails to import in the workers.
    pub module_items: HashMap<String, usize>,
    /// pytest's arguments for replaying the run into session-report plugins
    /// (`--html`); None when none of their options was given.
    pub session_replay: Option<Vec<String>>,
}

/// Whether an installed plugin changes nothing for the tests the native engine would run,
/// given pytest's options. pytest-benchmark acts only on tests that request its
/// `benchmark` fixture (those need the pytest engine: the fixture is not native) unless
/// `--benchmark-only` skips every other test, or an output option (`--benchmark-json`,
/// `--benchmark-save`, ...) writes a report even when no benchmark ran.
fn inert_under_options(plugin: &str, pytest_args: &[String]) -> bool {
    match plugin {
        "pytest-benchmark" => pytest_args.iter().all(|a| {
            !a.starts_with("--benchmark-")
                || ["--benchmark-disable", "--benchmark-skip"].contains(&a.as_str())
        }),
        _ => false,
    }
}

/// The session header's first line (pytest's `platform linux -- Python 3.11.7,
/// pytest-9.0.3, ...`), with what is known of the interpreter.
pub fn platform_line(python: Option<&str>, pytest: Option<&str>) -> String {
    format!(
        "platform {} -- {}fastest-{}{}",
        std::env::consts::OS,
        python.map(|v| format!("Python {v}, ")).unwrap_or_default(),
        env!("CARGO_PKG_VERSION"),
        pytest.map(|v| format!(", pytest-{v}")).unwrap_or_default()
    )
}

/// Runs the session; returns pytest's exit code.
/// `prestarted`: the first worker, started beside a Python collection (see
/// `Prestarted`); dropped (killed) when nothing runs or the pool starts its workers
/// differently.
pub fn execute(
    req: RunRequest,
    cache: &Cache,
    prestarted: Option<fastest_runner::pool::Prestarted>,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let durations = load_durations(cache);
    let mut deselected = req.deselected;
    let mut stored_coverage = req
        .coverage
        .as_ref()
        .map(|c| coverage::Stored::new(cache, c, &req.rootdir));
    // Tests left out of this run (cached or unaffected): their stored coverage is merged.
    let mut not_run: Vec<String> = Vec::new();
    let (to_run, cached) = match (&req.selector, req.reuse) {
        (Some(selector), true) => {
            // With --cov a test is left out only if its coverage is stored and current.
            let may_skip = |id: &str| stored_coverage.as_mut().is_none_or(|s| s.usable(id));
            let (to_run, cached, unaffected) =
                partition_by_verdict(selector, &req.items, req.changed_only, may_skip);
            crate::timing::mark("verdicts");
            deselected += unaffected.len();
            not_run.extend(cached.iter().map(|(id, _)| id.clone()));
            not_run.extend(unaffected.iter().cloned());
            if req.changed_only && to_run.is_empty() && req.collect_errors.is_empty() {
                println!(
                    "fastest: no changes affect the {} selected tests; nothing to run",
                    unaffected.len()
                );
                if let (Some(run), Some(stored)) = (&req.coverage, stored_coverage.as_mut()) {
                    let merged = stored.merged(&not_run, true);
                    return match coverage::report(
                        &req.python,
                        &req.harness,
                        &req.invocation_dir,
                        &req.rootdir,
                        run,
                        merged,
                    ) {
                        Ok(result) => {
                            let mut out = std::io::stdout().lock();
                            for (text, _) in coverage::summary(&result) {
                                let _ = std::io::Write::write_all(&mut out, text.as_bytes());
                            }
                            Ok(if result.failure.is_some() {
                                ExitCode::TestsFailed
                            } else {
                                ExitCode::Ok
                            })
                        }
                        Err(e) => coverage_error(&e),
                    };
                }
                return Ok(ExitCode::Ok);
            }
            (to_run, cached)
        }
        _ => (req.items.clone(), Vec::new()),
    };
    let shown: HashSet<&str> = cached
        .iter()
        .map(|(id, _)| id.as_str())
        .chain(to_run.iter().map(|i| i.nodeid.as_str()))
        .collect();
    let mut order: Vec<String> = req
        .items
        .iter()
        .filter(|i| shown.contains(i.nodeid.as_str()))
        .map(|i| i.nodeid.clone())
        .collect();
    let n = to_run.len();
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let workers = match req.workers.as_deref() {
        Some("auto") | Some("logical") => ncpu,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| anyhow::anyhow!("-n expects a number or 'auto', got {s:?}"))?,
        None => {
            // Parallelism pays for a worker's start-up only on suites with some weight.
            let known: f64 = order.iter().filter_map(|i| durations.get(i)).sum();
            if n >= 200 || known > 2.0 {
                ncpu
            } else {
                1
            }
        }
    };
    let mut workers = workers.max(1).min(n.max(1));
    if let (Some(debugger), true) = (&req.debugger, workers > 1) {
        // As with pytest-xdist, where --pdb cannot work: one terminal, one debugger.
        eprintln!("fastest: --{debugger}: running on one worker (the debugger needs the terminal)");
        workers = 1;
    }
    // The terminal is the worker's: a debugger, or `breakpoint()` with `-s`.
    let interactive = req.debugger.is_some() || (req.capture == "no" && workers == 1);

    let mut reporter = RunReporter::new(
        std::io::stdout().lock(),
        RunOptions {
            verbosity: req.verbosity,
            reportchars: req.reportchars.clone(),
            tbstyle: req.tbstyle.clone(),
            durations: req.durations,
            durations_min: req.durations_min,
            disable_warnings: req.disable_warnings,
            // pytest's `_get_line_with_reprcrash_message`: whole messages with -vv or on
            // CI (`running_on_ci`: `CI` or `BUILD_NUMBER` set and non-empty).
            full_messages: fastest_report::full_summary_messages(
                req.verbosity,
                req.force_short_summary,
            ),
            continue_on_collection_errors: req.continue_on_collection_errors,
            color: req.color,
            header: Vec::new(),
            junit_path: req.junitxml.as_ref().map(|p| p.display().to_string()),
            deselected,
            live_after: live_status_after(&req.capture).filter(|_| !interactive),
            live_redraw: std::time::Duration::from_millis(100),
        },
        order.clone(),
    );
    for error in &req.collect_errors {
        reporter.collect_error(error.clone());
    }
    let mut results: HashMap<String, Vec<PhaseReport>> = HashMap::new();
    // pytest: a collection error interrupts the session before any test runs.
    let interrupted_by_collection =
        !req.collect_errors.is_empty() && !req.continue_on_collection_errors;
    if interrupted_by_collection || n == 0 {
        // No worker starts: the header says what an earlier run learnt of the interpreter.
        let mut header = vec![platform_line(
            crate::incremental::known_python_version(&req.python, cache).as_deref(),
            None,
        )];
        header.extend(req.header.iter().cloned());
        reporter_header(
            &mut reporter,
            &header,
            order.len(),
            deselected,
            &req.collect_errors,
            &req.collect_skips,
            &req.invocation_dir,
        );
        if interrupted_by_collection {
            let code = reporter.finish_run(start.elapsed().as_secs_f64(), Ending::Completed);
            write_outputs(&req, &order, &results, &req.collect_errors, code, start)?;
            return Ok(code);
        }
        report_cached(&mut reporter, &mut results, &cached);
        let coverage_failed = match stored_coverage.as_mut() {
            Some(stored) => finish_coverage(&req, stored, &not_run, false, &[], &mut reporter)?,
            None => false,
        };
        let exitstatus = if coverage_failed {
            ExitCode::TestsFailed
        } else {
            ExitCode::Ok
        };
        replay_session(
            &req,
            &order,
            &results,
            &req.collect_errors,
            exitstatus,
            start,
            &mut reporter,
        );
        let mut code = reporter.finish_run(start.elapsed().as_secs_f64(), Ending::Completed);
        if coverage_failed && code == ExitCode::Ok {
            code = ExitCode::TestsFailed;
        }
        write_outputs(&req, &order, &results, &req.collect_errors, code, start)?;
        return Ok(if req.collect_errors.is_empty() && order.is_empty() {
            ExitCode::NoTestsCollected
        } else {
            code
        });
    }

    let pool = PoolConfig {
        workers,
        // Time spent in a debugger is not a hang.
        timeout: req.timeout.filter(|_| req.debugger.is_none()),
        interactive,
        ..PoolConfig::for_run(
            req.python.clone(),
            req.harness.clone(),
            req.invocation_dir.clone(),
            &req.cache_dir,
            req.preload.as_ref().map(|p| p.socket.clone()),
        )
    };
    // When the cache left tests out: the modules with a test to run (rootdir-relative,
    // as node ids and session modules), the only ones workers import.
    let running_modules: Option<HashSet<&str>> = (!not_run.is_empty()).then(|| {
        to_run
            .iter()
            .map(|i| i.nodeid.split("::").next().unwrap_or(&i.nodeid))
            .collect()
    });
    // The engine's name and why, for the header.
    let chosen: std::cell::RefCell<Option<(String, String)>> = std::cell::RefCell::new(None);
    let items = to_run.clone();
    let decide = |info: &WorkerInfo| -> Result<_, String> {
        let (engine, why) = choose_engine(&req, &items, info)?;
        let config_for = |engine: Engine| {
            // With the pytest engine, pytest-timeout (when installed and not disabled)
            // times tests out as under pytest: its marks, its method, its failure report.
            let timeout_in_worker = engine == Engine::Pytest && pytest_timeout_active(&req, info);
            let mut pytest_args = req.pytest_args.clone();
            if let (true, Some(limit)) = (timeout_in_worker, req.timeout) {
                pytest_args.push(format!("--timeout={}", limit.as_secs_f64()));
            }
            WorkerConfig {
                rootdir: req.rootdir.to_string_lossy().into_owned(),
                engine,
                capture: req.capture.clone(),
                tbstyle: req.tbstyle.clone(),
                showlocals: req.showlocals,
                // As pytest's `config.option.verbose`: negative with -q.
                verbose: req.verbosity,
                capture_prefix: String::new(),
                pytest_args,
                collect_args: req.collect_args.clone(),
                ini: with_plugin_markers(&req, info),
                record: req.selector.is_some(),
                code_cache: req.cache_dir.join("code").to_string_lossy().into_owned(),
                coverage: req.coverage.as_ref().map(|c| c.settings.clone()),
                debugger: req.debugger.clone(),
                timeout_in_worker,
                // Not those that failed to collect already: pytest imports each once.
                // When the cache left tests out, only the modules of those that run, as
                // `pytest NODEID...` imports only theirs (one edited test no longer
                // imports the whole suite: ~0.1 s of flask's 0.3 s).
                session_modules: req
                    .session_modules
                    .iter()
                    .filter(|m| !req.collect_errors.iter().any(|e| &e.nodeid == *m))
                    .filter(|m| {
                        running_modules
                            .as_ref()
                            .is_none_or(|r| r.contains(m.as_str()))
                    })
                    .cloned()
                    .collect(),
                emulated_plugins: emulated_plugins(&req, info),
                maxfail: req.maxfail,
                worker_count: workers,
            }
        };
        let split = (engine == Engine::Pytest && workers >= 2)
            .then(|| split_by_engine(&req, &items, info))
            .flatten();
        let split = split.and_then(|(native, pytest, files, reason)| {
            let wanted = pytest_worker_count(&native, &pytest, workers, &durations)?;
            Some((native, pytest, files, reason, wanted))
        });
        if let Some((native, pytest, files, reason, wanted)) = split {
            let buckets = buckets(
                group(&pytest, req.dist, wanted, &durations),
                wanted,
                &durations,
            );
            let on_pytest = buckets.len();
            let plan = Plan::Mixed {
                buckets,
                bucket_config: Box::new(config_for(Engine::Pytest)),
                shared: longest_first(
                    group(&native, req.dist, workers - on_pytest, &durations),
                    &durations,
                ),
            };
            *chosen.borrow_mut() = Some((
                format!(
                    "native, pytest for {files} file{} on {on_pytest} worker{}",
                    if files == 1 { "" } else { "s" },
                    if on_pytest == 1 { "" } else { "s" }
                ),
                format!("auto: {reason}"),
            ));
            return Ok((plan, config_for(Engine::Native)));
        }
        let groups = group(&items, req.dist, workers, &durations);
        let plan = match engine {
            Engine::Native => shared_plan(groups, &durations),
            Engine::Pytest => bucket_plan(groups, workers, &durations),
        };
        let name = match engine {
            Engine::Native => "native",
            Engine::Pytest => "pytest",
        };
        *chosen.borrow_mut() = Some((name.to_string(), why));
        Ok((plan, config_for(engine)))
    };

    if let Some(run) = &req.coverage {
        run.prepare().with_context(|| {
            format!(
                "creating the coverage data directory under {}",
                req.cache_dir.display()
            )
        })?;
    }
    let mut collect_errors: Vec<CollectionErrorReport> = req.collect_errors.clone();
    // Tests that finished in a worker (their coverage is stored after the run).
    let mut finished: Vec<String> = Vec::new();
    let mut failures = 0usize;
    let mut stopped_at: Option<usize> = None;
    let header_lines = req.header.clone();
    let initial_errors = req.collect_errors.clone();
    // Test modules that failed to import in the workers: their items leave the run.
    let mut import_failed: Vec<String> = Vec::new();
    let mut interrupted_by_import = false;
    let mut first_event = true;
    let mut unrecorded: Vec<FinishedTest> = Vec::new();
    let outcome = run_pool(&pool, prestarted, decide, &INTERRUPTED, |event| {
        if std::mem::take(&mut first_event) {
            crate::timing::mark("first worker event");
        }
        // Stop only once the failing test has finished, so its report (and teardown) is shown.
        let test_done = matches!(
            event,
            RunEvent::Finished { .. }
                | RunEvent::Crashed { .. }
                | RunEvent::Unreported { .. }
                | RunEvent::CollectError { .. }
        );
        match event {
            RunEvent::WorkerReady {
                python,
                pytest,
                import_errors,
                ..
            } => {
                let (engine, why) = chosen
                    .borrow()
                    .clone()
                    .expect("decided before ready is announced");
                let mut header = vec![platform_line(Some(&python), pytest.as_deref())];
                header.extend(header_lines.iter().cloned());
                header.push(format!("engine: {engine} ({why}), workers: {workers}"));
                if !cached.is_empty() {
                    header.push(format!(
                        "cached: {} tests passed before with the same dependencies (not run; --no-cache runs them)",
                        cached.len()
                    ));
                }
                let mut errors = initial_errors.clone();
                let mut shown = order.len();
                let mut deselected = deselected;
                let import_errors: Vec<CollectionErrorReport> = import_errors
                    .into_iter()
                    .filter(|e| !initial_errors.iter().any(|known| known.nodeid == e.nodeid))
                    .collect();
                if !import_errors.is_empty() {
                    import_failed = import_errors.iter().map(|e| e.nodeid.clone()).collect();
                    let failed = |id: &str| under_any(id, &import_failed);
                    // pytest collected none of their items: neither selected nor deselected.
                    let left_out = order.iter().filter(|id| failed(id)).count();
                    // (A failed collector is a module, or a directory whose conftest failed.)
                    let collected: usize = req
                        .module_items
                        .iter()
                        .filter(|(module, _)| {
                            import_failed.contains(module) || under_any(module, &import_failed)
                        })
                        .map(|(_, n)| n)
                        .sum();
                    shown -= left_out;
                    deselected = deselected.saturating_sub(collected.saturating_sub(left_out));
                    reporter.leave_out(failed, deselected);
                    for error in import_errors {
                        failures += 1;
                        collect_errors.push(error.clone());
                        errors.push(error.clone());
                        reporter.collect_error(error);
                    }
                }
                reporter_header(
                    &mut reporter,
                    &header,
                    shown,
                    deselected,
                    &errors,
                    &req.collect_skips,
                    &req.invocation_dir,
                );
                if !import_failed.is_empty() && !req.continue_on_collection_errors {
                    // pytest: a collection error interrupts the session before any test.
                    interrupted_by_import = true;
                    return Control::Stop;
                }
                let cached: Vec<(String, f64)> = cached
                    .iter()
                    .filter(|(id, _)| !under_any(id, &import_failed))
                    .cloned()
                    .collect();
                report_cached(&mut reporter, &mut results, &cached);
            }
            // Collection errors found in a worker (the pytest engine collects there) end
            // the run once that worker's collection is over, as pytest's session.
            RunEvent::Started { .. } if interrupted_by_import => return Control::Stop,
            RunEvent::Started { .. } => {}
            RunEvent::Report(r) => {
                if r.outcome == Outcome::Failed {
                    failures += 1;
                }
                results.entry(r.nodeid.clone()).or_default().push(r.clone());
                reporter.report(r);
            }
            RunEvent::Finished {
                nodeid,
                deps,
                finished_by,
            } => {
                if let (Some(selector), Some(deps)) = (&req.selector, &deps) {
                    let reports = results.get(&nodeid).map(Vec::as_slice).unwrap_or(&[]);
                    let failed = reports.iter().any(|r| r.outcome == Outcome::Failed);
                    let passed = reports.iter().any(|r| {
                        r.when == When::Call && r.outcome == Outcome::Passed && r.wasxfail.is_none()
                    });
                    let duration = reports.iter().map(|r| r.duration).sum();
                    unrecorded.push(FinishedTest {
                        nodeid: nodeid.clone(),
                        deps: deps.clone(),
                        failed,
                        passed: passed && !failed,
                        duration,
                        finished_by,
                    });
                    if unrecorded.len() >= RECORD_BATCH {
                        record_all(selector, &mut unrecorded);
                    }
                }
                if req.coverage.is_some() {
                    finished.push(nodeid.clone());
                }
                reporter.finish(&nodeid)
            }
            // A worker may collect again what failed before the run (or another worker
            // already reported): one error per collector, as pytest.
            RunEvent::CollectError(error)
                if collect_errors.iter().any(|e| e.nodeid == error.nodeid) => {}
            RunEvent::CollectError(error) => {
                failures += 1;
                collect_errors.push(error.clone());
                reporter.collect_error(error);
                // Found while the tests run (the pytest engine collects in its workers):
                // pytest would have run no test; the next one to start stops the run.
                interrupted_by_import |= !req.continue_on_collection_errors;
            }
            // The items of a file that failed to collect in the worker, or of a worker
            // whose pytest session those errors interrupted: pytest ran none of them.
            RunEvent::Unreported { nodeid }
                if interrupted_by_import
                    || collect_errors
                        .iter()
                        .any(|e| fastest_protocol::is_item_of(&nodeid, &e.nodeid)) =>
            {
                reporter.drop_item(&nodeid)
            }
            RunEvent::Crashed {
                nodeid,
                reason,
                output,
            } => {
                failures += 1;
                let longrepr = format!("{reason}\n[fastest] the test {nodeid} did not finish; its worker was replaced and the run went on");
                if let Some(selector) = &req.selector {
                    selector.mark_failed(&nodeid);
                }
                let r = runner_failure(&nodeid, When::Call, longrepr, reason, output);
                results.entry(nodeid.clone()).or_default().push(r.clone());
                reporter.report(r);
                reporter.finish(&nodeid);
            }
            RunEvent::Unreported { nodeid } => {
                failures += 1;
                let longrepr = format!("[fastest] the worker finished without running {nodeid}: it was not found at run time (collection differs from the static one)");
                let message = "not run: not found by the worker".to_string();
                if let Some(selector) = &req.selector {
                    selector.mark_failed(&nodeid);
                }
                let r = runner_failure(&nodeid, When::Setup, longrepr, message, Vec::new());
                results.entry(nodeid.clone()).or_default().push(r.clone());
                reporter.report(r);
                reporter.finish(&nodeid);
            }
            RunEvent::Interact { nodeid } => {
                reporter.before_interaction(&nodeid, req.debugger.as_deref() == Some("pdb"))
            }
            RunEvent::Warning(w) => eprintln!("fastest: warning: {w}"),
            RunEvent::TestWarning {
                nodeid,
                location,
                message,
            } => reporter.test_warning(nodeid, location, message),
        }
        if test_done && req.maxfail > 0 && failures >= req.maxfail {
            stopped_at = Some(failures);
            return Control::Stop;
        }
        Control::Continue
    });
    crate::timing::mark("workers done");
    if let Some(selector) = &req.selector {
        record_all(selector, &mut unrecorded);
    }
    crate::timing::mark("results recorded");
    let mut quit_debugger = false;
    // `pytest.exit(reason, returncode)` in a test: the exit status it asked for.
    let mut session_exit_code = None;
    let outcome = match outcome {
        Ok(o) => o,
        Err(fastest_runner::pool::PoolError::SessionExit {
            code,
            message,
            nodeid,
        }) => {
            if let Some(nodeid) = nodeid {
                reporter.started_but_unfinished(&nodeid);
            }
            // pytest prints the `Exit` line at session finish when the status is
            // "interrupted", else at unconfigure, after the counts line.
            let line = fastest_report::sep('!', &message);
            if code == ExitCode::Interrupted as i32 {
                reporter.set_exit_message(line);
            } else {
                reporter.set_exit_message_last(line);
            }
            session_exit_code = Some(code);
            PoolOutcome::Interrupted
        }
        // Quitting the debugger: pytest's `Exit` still ends with the session summary.
        Err(fastest_runner::pool::PoolError::PytestExit { code: 2, stderr })
            if req.debugger.is_some() =>
        {
            reporter.set_exit_message(stderr);
            quit_debugger = true;
            PoolOutcome::Interrupted
        }
        // pytest's own stop (its message, its exit code): handled by main.
        Err(fastest_runner::pool::PoolError::PytestExit { code, stderr }) => {
            return Err(fastest_runner::RunnerError::PytestExit { code, stderr }.into())
        }
        Err(e) => {
            eprintln!("INTERNAL ERROR: {e}");
            return Ok(ExitCode::InternalError);
        }
    };
    order.retain(|id| !under_any(id, &import_failed));
    let ending = match outcome {
        PoolOutcome::Completed => Ending::Completed,
        PoolOutcome::Stopped if interrupted_by_import => Ending::Completed,
        PoolOutcome::Stopped if req.stepwise.is_some() => Ending::Stepwise,
        PoolOutcome::Stopped => Ending::Stopped(stopped_at.unwrap_or(failures)),
        PoolOutcome::Interrupted if quit_debugger || session_exit_code.is_some() => Ending::Exit,
        PoolOutcome::Interrupted => Ending::Interrupted,
    };
    if quit_debugger {
        // The test being debugged reported its phases but never finished: pytest counts it.
        for nodeid in &order {
            if results.contains_key(nodeid) {
                reporter.finish(nodeid);
            }
        }
    }
    let coverage_failed = match stored_coverage.as_mut() {
        Some(stored) if !matches!(ending, Ending::Interrupted) => {
            finish_coverage(&req, stored, &not_run, true, &finished, &mut reporter)?
        }
        _ => false,
    };
    let exitstatus = match ending {
        Ending::Interrupted => ExitCode::Interrupted,
        _ if failures > 0 || coverage_failed || !collect_errors.is_empty() => ExitCode::TestsFailed,
        _ => ExitCode::Ok,
    };
    replay_session(
        &req,
        &order,
        &results,
        &collect_errors,
        exitstatus,
        start,
        &mut reporter,
    );
    let seconds = start.elapsed().as_secs_f64();
    let mut code = reporter.finish_run(seconds, ending);
    if (matches!(ending, Ending::Stopped(_)) || coverage_failed) && code == ExitCode::Ok {
        code = ExitCode::TestsFailed;
    }
    crate::timing::mark("summary printed");
    save_state(cache, &results, &durations);
    crate::timing::mark("state saved");
    // After the summary and once nothing is recorded any more: an occasional collection
    // of the dependency sets no record reaches (see `collect_garbage`).
    if let Some(removed) = req
        .selector
        .as_ref()
        .and_then(|s| s.collect_garbage_if_due())
    {
        crate::timing::mark(&format!("{removed} unreachable dependency sets removed"));
    }
    if let Some(skip) = req.stepwise {
        save_stepwise(cache, &order, &results, skip, ending);
    }
    write_outputs(&req, &order, &results, &collect_errors, code, start)?;
    match session_exit_code {
        Some(status) if status != code as i32 => Err(fastest_runner::RunnerError::PytestExit {
            code: status,
            stderr: String::new(),
        }
        .into()),
        _ => Ok(code),
    }
}

/// Finished tests are recorded in batches of this many: a stat made for the first test
/// of a batch answers for the others (`Selector::record_finished_by`), where recording
/// each test as it finishes stat'ed each of its files again.
const RECORD_BATCH: usize = 256;

/// A finished test waiting to be recorded.
struct FinishedTest {
    nodeid: String,
    deps: std::sync::Arc<fastest_protocol::TestDeps>,
    failed: bool,
    passed: bool,
    duration: f64,
    finished_by: std::time::Instant,
}

fn record_all(selector: &fastest_select::Selector, unrecorded: &mut Vec<FinishedTest>) {
    for t in unrecorded.drain(..) {
        selector.record_finished_by(
            &t.nodeid,
            &t.deps,
            t.failed,
            t.passed,
            t.duration,
            t.finished_by,
        );
    }
}

/// Whether `nodeid` is under any of these collectors (modules or directories).
fn under_any(nodeid: &str, collectors: &[String]) -> bool {
    collectors
        .iter()
        .any(|c| fastest_protocol::is_item_of(nodeid, c))
}

/// `--report-log` and `--junitxml`.
fn write_outputs(
    req: &RunRequest,
    order: &[String],
    results: &HashMap<String, Vec<PhaseReport>>,
    collect_errors: &[CollectionErrorReport],
    code: ExitCode,
    start: Instant,
) -> anyhow::Result<()> {
    if let Some(path) = &req.report_log {
        write_report_log(path, order, results, code as i32)?;
    }
    if let Some(path) = &req.junitxml {
        let tests: Vec<(String, Vec<PhaseReport>)> = order
            .iter()
            .filter_map(|id| results.get(id).map(|r| (id.clone(), r.clone())))
            .collect();
        let xml = fastest_report::junit::render(
            &tests,
            collect_errors,
            &req.collect_skips,
            start.elapsed().as_secs_f64(),
            &timestamp(),
            &hostname(),
        );
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(path, xml)
            .map_err(|e| anyhow::anyhow!("writing --junitxml {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Splits the items into those to run and cached passes; with `changed_only`, tests no
/// change affects are left out (counted as deselected) instead of shown as cached.
/// `may_skip` can veto leaving a test out (its stored coverage is missing).
fn partition_by_verdict(
    selector: &Selector,
    items: &[RunItem],
    changed_only: bool,
    mut may_skip: impl FnMut(&str) -> bool,
) -> (Vec<RunItem>, Vec<(String, f64)>, Vec<String>) {
    use rayon::prelude::*;
    let mut to_run = Vec::new();
    let mut cached = Vec::new();
    let mut unaffected = Vec::new();
    // Each verdict reads up to three cache entries: on every core (sled and the
    // selector's memos are shared safely), then partitioned in collection order.
    if changed_only {
        let affected: Vec<bool> = items
            .par_iter()
            .map(|item| selector.affected(&item.nodeid))
            .collect();
        for (item, affected) in items.iter().zip(affected) {
            if !affected && may_skip(&item.nodeid) {
                unaffected.push(item.nodeid.clone());
            } else {
                to_run.push(item.clone());
            }
        }
        return (to_run, cached, unaffected);
    }
    let verdicts: Vec<Verdict> = items
        .par_iter()
        .map(|item| selector.verdict(&item.nodeid))
        .collect();
    for (item, verdict) in items.iter().zip(verdicts) {
        if let Verdict::Cached { duration } = verdict {
            if may_skip(&item.nodeid) {
                cached.push((item.nodeid.clone(), duration));
            } else {
                to_run.push(item.clone());
            }
        } else {
            to_run.push(item.clone());
        }
    }
    (to_run, cached, unaffected)
}

/// Runs the coverage report step over this run's worker data and the stored coverage of
/// the tests left out, stores what the finished tests measured, and hands pytest-cov's
/// output to the reporter. True when the total is below `--cov-fail-under`.
fn finish_coverage<W: std::io::Write>(
    req: &RunRequest,
    stored: &mut coverage::Stored,
    not_run: &[String],
    workers_ran: bool,
    finished: &[String],
    reporter: &mut RunReporter<W>,
) -> anyhow::Result<bool> {
    let Some(run) = &req.coverage else {
        return Ok(false);
    };
    let merged = stored.merged(not_run, !workers_ran);
    let result = match coverage::report(
        &req.python,
        &req.harness,
        &req.invocation_dir,
        &req.rootdir,
        run,
        merged,
    ) {
        Ok(r) => r,
        Err(e) => {
            coverage_error(&e)?;
            return Ok(false);
        }
    };
    if workers_ran {
        stored.save(&result, finished);
    }
    if let Some(message) = &result.failure {
        reporter.loop_end_message(&format!("ERROR: {message}"));
    }
    for (text, tone) in coverage::summary(&result) {
        reporter.plugin_summary(text, tone);
    }
    Ok(result.failure.is_some())
}

/// pytest-timeout is installed in the workers' interpreter and not disabled with `-p`.
fn pytest_timeout_active(req: &RunRequest, info: &WorkerInfo) -> bool {
    info.plugins
        .iter()
        .filter_map(|p| handled_plugin(p))
        .any(|p| p.dist == "pytest-timeout" && !plugin_disabled(&req.pytest_args, p.names))
}

/// How a native run treats an installed plugin of `HANDLED_PLUGINS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NativeSupport {
    /// Changes nothing about which tests run or how they turn out when its options are
    /// not given (fastest implements `-n` and `--timeout` itself), or the native engine
    /// provides its parts (pytest-mock's fixtures, pytest-cov's `no_cover`).
    Inert,
    /// Its effects on a session are reproduced by the native engine
    /// (`hypothesis_plugin.py`, `asyncio_plugin.py`) in the versions the worker reports
    /// (`WorkerInfo::reproducible`), unless an option starting with `options` is given
    /// (those stay with the plugin, on the pytest engine) or `-p no:` disables it.
    Emulated { options: &'static str },
    /// pytest-benchmark: inert unless an option makes it act on other tests
    /// (`inert_under_options`); its `benchmark` fixture is reproduced (emulated) then.
    Benchmark,
}

/// An installed plugin a native run allows.
struct HandledPlugin {
    /// Distribution name (lowercase, `-`).
    dist: &'static str,
    /// The names `-p` may load or disable it by; the first is its entry point's.
    names: &'static [&'static str],
    /// The mark its `pytest_configure` registers.
    mark: Option<&'static str>,
    native: NativeSupport,
}

/// Every installed plugin a native run allows (it reproduces them or does not need
/// them); any other installed plugin keeps the run on the pytest engine. One table for
/// the engine choice, the marks native workers know, `-p NAME` and the emulated set.
const HANDLED_PLUGINS: &[HandledPlugin] = &[
    HandledPlugin {
        dist: "pytest-timeout",
        names: &["timeout", "pytest_timeout"],
        mark: Some("timeout"),
        native: NativeSupport::Inert,
    },
    HandledPlugin {
        dist: "pytest-cov",
        names: &["pytest_cov", "pytest_cov.plugin"],
        mark: Some("no_cover"),
        native: NativeSupport::Inert,
    },
    HandledPlugin {
        dist: "pytest-xdist",
        names: &["xdist", "xdist.plugin", "xdist.looponfail"],
        mark: Some("xdist_group"),
        native: NativeSupport::Inert,
    },
    // Its fixtures are the native engine's (python/fastest_harness/builtins.py, with
    // pytest-mock's own MockerFixture).
    HandledPlugin {
        dist: "pytest-mock",
        names: &["pytest_mock", "pytest_mock.plugin"],
        mark: None,
        native: NativeSupport::Inert,
    },
    HandledPlugin {
        dist: "pytest-asyncio",
        names: &["asyncio", "pytest_asyncio", "pytest_asyncio.plugin"],
        mark: Some("asyncio"),
        native: NativeSupport::Emulated {
            options: "--asyncio-",
        },
    },
    HandledPlugin {
        dist: "hypothesis",
        names: &["hypothesispytest", "_hypothesis_pytestplugin"],
        mark: Some("hypothesis"),
        native: NativeSupport::Emulated {
            options: "--hypothesis-",
        },
    },
    HandledPlugin {
        dist: "pytest-benchmark",
        names: &["benchmark", "pytest_benchmark.plugin"],
        mark: Some("benchmark"),
        native: NativeSupport::Benchmark,
    },
];

/// The table's entry for an installed distribution (any spelling of its name).
fn handled_plugin(dist: &str) -> Option<&'static HandledPlugin> {
    let name = dist.to_lowercase().replace('_', "-");
    HANDLED_PLUGINS.iter().find(|p| p.dist == name)
}

/// The distribution of a plugin named with `-p NAME` that a native run allows once it is
/// installed (then `-p` changes nothing: pytest has loaded it through its entry point).
pub fn handled_plugin_distribution(name: &str) -> Option<&'static str> {
    HANDLED_PLUGINS
        .iter()
        .find(|p| p.names.contains(&name))
        .map(|p| p.dist)
}

/// Whether `-p no:NAME` disables one of the plugin's `names` in these pytest arguments.
fn plugin_disabled(args: &[String], names: &[&str]) -> bool {
    let disabled = |spec: &str| {
        spec.strip_prefix("no:")
            .is_some_and(|name| names.contains(&name))
    };
    args.iter().enumerate().any(|(i, a)| {
        (a == "-p" && args.get(i + 1).is_some_and(|v| disabled(v)))
            || a.strip_prefix("-p").is_some_and(disabled)
    })
}

/// Replays the run into session-report plugins (`--html`) and hands what they print in
/// the terminal summary to the reporter. A failure is a warning: the run's code stands.
fn replay_session<W: std::io::Write>(
    req: &RunRequest,
    order: &[String],
    results: &HashMap<String, Vec<PhaseReport>>,
    collect_errors: &[CollectionErrorReport],
    exitstatus: ExitCode,
    started: Instant,
    reporter: &mut RunReporter<W>,
) {
    let Some(args) = &req.session_replay else {
        return;
    };
    let replay = session_plugins::Replay {
        python: &req.python,
        harness: &req.harness,
        cwd: &req.invocation_dir,
        work_dir: &req.cache_dir.join("replay"),
        args: args.clone(),
    };
    let duration = started.elapsed().as_secs_f64();
    // pytest's `session.testsfailed`: tests with a failed phase, and collection errors.
    let failed = collect_errors.len()
        + results
            .values()
            .filter(|phases| phases.iter().any(|p| p.outcome == Outcome::Failed))
            .count();
    match replay.run(
        order,
        results,
        collect_errors,
        failed,
        exitstatus as i32,
        duration,
    ) {
        Ok(summary) if !summary.is_empty() => reporter.plugin_summary(summary, Tone::Plain),
        Ok(_) => {}
        Err(e) => eprintln!("fastest: warning: the plugin report step (--html) failed: {e}"),
    }
}

/// The report step failed: coverage.py missing is a usage error (as pytest without
/// pytest-cov rejects `--cov`); anything else is reported and the run's code stands.
fn coverage_error(message: &str) -> anyhow::Result<ExitCode> {
    if message.starts_with("coverage.py is not installed") {
        return Err(fastest_runner::RunnerError::PytestExit {
            code: ExitCode::UsageError as i32,
            stderr: format!("ERROR: {message}"),
        }
        .into());
    }
    eprintln!("fastest: WARNING: Failed to generate coverage report: {message}");
    Ok(ExitCode::Ok)
}

/// Cached passes, reported as pytest would report a pass, marked `cached`.
fn report_cached<W: std::io::Write>(
    reporter: &mut RunReporter<W>,
    results: &mut HashMap<String, Vec<PhaseReport>>,
    cached: &[(String, f64)],
) {
    for (nodeid, duration) in cached {
        let phase = |when, duration| PhaseReport {
            nodeid: nodeid.clone(),
            when,
            outcome: Outcome::Passed,
            longrepr: String::new(),
            message: String::new(),
            skip: None,
            wasxfail: None,
            sections: Vec::new(),
            duration,
            location: None,
            cached: true,
            status: None,
            progress_captured: false,
            user_properties: Vec::new(),
        };
        let reports = vec![
            phase(When::Setup, 0.0),
            phase(When::Call, *duration),
            phase(When::Teardown, 0.0),
        ];
        for r in &reports {
            reporter.report(r.clone());
        }
        reporter.finish(nodeid);
        results.insert(nodeid.clone(), reports);
    }
}

/// A failure the runner reports on a test's behalf (its worker could not).
fn runner_failure(
    nodeid: &str,
    when: When,
    longrepr: String,
    message: String,
    sections: Vec<(String, String)>,
) -> PhaseReport {
    PhaseReport {
        nodeid: nodeid.to_string(),
        when,
        outcome: Outcome::Failed,
        longrepr,
        message,
        skip: None,
        wasxfail: None,
        sections,
        duration: 0.0,
        location: None,
        cached: false,
        status: None,
        progress_captured: false,
        user_properties: Vec::new(),
    }
}

/// pytest-reportlog's format: SessionStart, one TestReport per phase, SessionFinish.
/// `longrepr` is the failure text (pytest-reportlog writes pytest's structured form).
fn write_report_log(
    path: &Path,
    order: &[String],
    results: &HashMap<String, Vec<PhaseReport>>,
    exitstatus: i32,
) -> anyhow::Result<()> {
    use serde_json::json;
    let mut lines = vec![json!({"pytest_version": format!("fastest-{}", env!("CARGO_PKG_VERSION")), "$report_type": "SessionStart"}).to_string()];
    for id in order {
        for r in results.get(id).into_iter().flatten() {
            let when = match r.when {
                When::Setup => "setup",
                When::Call => "call",
                When::Teardown => "teardown",
            };
            let outcome = match r.outcome {
                Outcome::Passed => "passed",
                Outcome::Failed => "failed",
                Outcome::Skipped => "skipped",
                // A plugin's own outcome: its status category names it (`rerun`).
                Outcome::Other => r.status.as_ref().map_or("other", |s| s.0.as_str()),
            };
            let mut v = json!({
                "nodeid": r.nodeid,
                "location": r.location,
                "keywords": {},
                "outcome": outcome,
                "longrepr": if r.longrepr.is_empty() { serde_json::Value::Null } else { json!(r.longrepr) },
                "when": when,
                "user_properties": [],
                "sections": r.sections,
                "duration": r.duration,
                "$report_type": "TestReport",
            });
            if let Some(x) = &r.wasxfail {
                v["wasxfail"] = json!(x);
            }
            lines.push(v.to_string());
        }
    }
    lines.push(json!({"exitstatus": exitstatus, "$report_type": "SessionFinish"}).to_string());
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("writing --report-log {}: {e}", path.display()))
}

fn reporter_header<W: std::io::Write>(
    reporter: &mut RunReporter<W>,
    header: &[String],
    n: usize,
    deselected: usize,
    errors: &[CollectionErrorReport],
    skips: &[CollectionSkip],
    invocation_dir: &Path,
) {
    let line = fastest_report::collected_line(n, deselected, errors.len(), skips.len());
    reporter.set_header_lines(header.to_vec());
    reporter.header(&line);
    for skip in skips {
        // Counted and listed by `-rs` like a skipped test, shown in no progress line.
        reporter.report(collection_skip_report(skip, invocation_dir));
    }
}

/// A module's skip at import as the phase report the reporter counts; its path as
/// pytest's short summary shows it (relative to where fastest was started).
pub fn collection_skip_report(skip: &CollectionSkip, invocation_dir: &Path) -> PhaseReport {
    let (path, line, reason) = skip.skip.clone();
    let path = Path::new(&path)
        .strip_prefix(invocation_dir)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or(path);
    PhaseReport {
        nodeid: skip.nodeid.clone(),
        when: When::Setup,
        outcome: Outcome::Skipped,
        longrepr: String::new(),
        message: String::new(),
        skip: Some((path, line, reason)),
        wasxfail: None,
        sections: Vec::new(),
        duration: 0.0,
        location: None,
        cached: false,
        status: None,
        progress_captured: false,
        user_properties: Vec::new(),
    }
}

/// Why the native engine cannot run some tests: any test of the session, or the tests of
/// one file (rootdir-relative). Only the files of the tests that run count.
#[derive(Debug, Clone, Default)]
pub struct NativeBlockers {
    pub session: Vec<String>,
    pub by_file: HashMap<String, Vec<Blocker>>,
}

/// One reason a file's tests need the pytest engine. Reasons some plugin makes moot
/// (`PluginContext::blocks`) have their own variants; the header shows the `Display` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// An `async def` test (the name): none while pytest-asyncio's effects are reproduced
    /// (`python/fastest_harness/asyncio_plugin.py`).
    AsyncTest(String),
    /// pytest-timeout's `timeout` mark on a test, class or module: only while
    /// pytest-timeout is active (the native engine has the runner's one limit).
    TimeoutMark(String),
    /// What only pytest-asyncio itself checks or warns about (mark arguments it validates
    /// at collection, an `event_loop_policy` override): only while it is reproduced.
    AsyncioChecked(String),
    /// Fixtures a file requests that neither the project nor the native engine defines.
    MissingFixtures(Vec<String>),
    /// Anything else (hooks, plugins, Python-only collection), as shown.
    Other(String),
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocker::AsyncTest(name) => write!(f, "async test {name}"),
            Blocker::TimeoutMark(on) => write!(f, "pytest-timeout's timeout mark on {on}"),
            Blocker::AsyncioChecked(what) => write!(f, "pytest-asyncio checks {what}"),
            Blocker::MissingFixtures(names) => write!(
                f,
                "fixture{} {} not defined in the project",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
            Blocker::Other(text) => f.write_str(text),
        }
    }
}

/// What the interpreter's plugins make of the per-file reasons.
#[derive(Debug, Clone, Copy)]
pub struct PluginContext {
    /// pytest-asyncio is installed and reproduced: async tests do not block.
    pub asyncio_reproduced: bool,
    /// pytest-timeout is installed and not disabled: its marks block.
    pub timeout_marks_apply: bool,
    /// pytest-benchmark is reproduced and disabled (`--benchmark-disable` or
    /// `--benchmark-skip`): its `benchmark` fixture is the native engine's.
    pub benchmark_fixture: bool,
}

impl PluginContext {
    fn of(req: &RunRequest, info: &WorkerInfo) -> Self {
        let emulated = emulated_plugins(req, info);
        PluginContext {
            asyncio_reproduced: emulated.iter().any(|p| p == "pytest-asyncio"),
            timeout_marks_apply: pytest_timeout_active(req, info),
            benchmark_fixture: emulated.iter().any(|p| p == "pytest-benchmark")
                && req
                    .pytest_args
                    .iter()
                    .any(|a| a == "--benchmark-disable" || a == "--benchmark-skip"),
        }
    }

    fn blocks(&self, reason: &Blocker) -> bool {
        match reason {
            Blocker::AsyncTest(_) => !self.asyncio_reproduced,
            Blocker::AsyncioChecked(_) => self.asyncio_reproduced,
            Blocker::TimeoutMark(_) => self.timeout_marks_apply,
            Blocker::MissingFixtures(names) => {
                !(self.benchmark_fixture
                    && names
                        .iter()
                        .all(|n| n == "benchmark" || n == "benchmark_weave"))
            }
            Blocker::Other(_) => true,
        }
    }
}

impl NativeBlockers {
    /// One file's reasons that hold with these plugins.
    fn of_file<'a>(
        &'a self,
        file: &str,
        plugins: PluginContext,
    ) -> impl Iterator<Item = &'a Blocker> {
        self.by_file
            .get(file)
            .into_iter()
            .flatten()
            .filter(move |r| plugins.blocks(r))
    }

    /// The reasons that hold for running `items`: the session's, then their files', in
    /// order, each once.
    pub fn for_items(&self, items: &[RunItem], plugins: PluginContext) -> Vec<String> {
        let mut reasons = self.session.clone();
        let mut seen = HashSet::new();
        for item in items {
            let file = item.nodeid.split("::").next().unwrap_or(&item.nodeid);
            if !seen.insert(file) {
                continue;
            }
            for reason in self.of_file(file, plugins) {
                let reason = reason.to_string();
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
        }
        reasons
    }
}

/// Reasons from the interpreter that hold for every test of the run: pytest-timeout with
/// a timeout set, installed plugins that may act on any test.
fn run_wide_blockers(req: &RunRequest, info: &WorkerInfo) -> Vec<String> {
    let mut blockers = Vec::new();
    if pytest_timeout_active(req, info) && req.timeout_options_set {
        // Its methods and options are pytest-timeout's; the native engine only has the
        // runner's one limit for every test (which fails a test that exceeds it, as
        // pytest-timeout does: the tests of files with `timeout` marks stay with it).
        blockers.push("pytest-timeout options are set (timeout_method, timeout_func_only)".into());
    }
    let emulated = emulated_plugins(req, info);
    let foreign: Vec<&str> = info
        .plugins
        .iter()
        .map(String::as_str)
        .filter(|p| match handled_plugin(p) {
            Some(plugin) => match plugin.native {
                NativeSupport::Inert => false,
                NativeSupport::Benchmark => !inert_under_options(plugin.dist, &req.pytest_args),
                NativeSupport::Emulated { .. } => !emulated.iter().any(|e| e == plugin.dist),
            },
            None => true,
        })
        .collect();
    if !foreign.is_empty() {
        blockers.push(format!("plugins installed: {}", foreign.join(", ")));
    }
    blockers
}

/// The ini for native workers, its `markers` extended with the marks the installed
/// plugins a native run allows register in their `pytest_configure` (any other plugin
/// keeps the run on the pytest engine), so that the unknown-mark check knows them.
fn with_plugin_markers(
    req: &RunRequest,
    info: &WorkerInfo,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut ini = req.ini.clone();
    let mut lines: Vec<serde_json::Value> = match ini.get("markers") {
        Some(serde_json::Value::Array(lines)) => lines.clone(),
        _ => Vec::new(),
    };
    for plugin in info.plugins.iter().filter_map(|p| handled_plugin(p)) {
        // `-p no:` takes the name the plugin registered under: its entry point's.
        if let (Some(mark), false) = (
            plugin.mark,
            plugin_disabled(&req.pytest_args, &plugin.names[..1]),
        ) {
            lines.push(serde_json::json!(format!(
                "{mark}: registered by {}",
                plugin.dist
            )));
        }
    }
    ini.insert("markers".into(), serde_json::Value::Array(lines));
    ini
}

/// Installed plugins (normalized names) whose effects on a session the native engine
/// reproduces itself (`NativeSupport::Emulated`, and pytest-benchmark's fixture when it
/// is otherwise inert), in versions it reproduces, not disabled with `-p no:NAME` (pytest
/// would not load them either) and without their own options.
pub fn emulated_plugins(req: &RunRequest, info: &WorkerInfo) -> Vec<String> {
    if std::env::var_os("PYTEST_DISABLE_PLUGIN_AUTOLOAD").is_some() {
        // pytest loads none (installed plugins then keep the pytest engine).
        return Vec::new();
    }
    let given = |prefix: &str| req.pytest_args.iter().any(|a| a.starts_with(prefix));
    info.plugins
        .iter()
        .filter_map(|p| handled_plugin(p))
        .filter(|plugin| {
            !plugin_disabled(&req.pytest_args, &plugin.names[..1])
                && match plugin.native {
                    NativeSupport::Inert => false,
                    NativeSupport::Emulated { options } => !given(options),
                    // Its mark check always; its fixture under --benchmark-disable/-skip
                    // only (`PluginContext::benchmark_fixture`).
                    NativeSupport::Benchmark => inert_under_options(plugin.dist, &req.pytest_args),
                }
        })
        .map(|plugin| plugin.dist.to_string())
        .filter(|dist| info.reproducible.contains(dist))
        .collect()
}

/// The auto engine's split of a run whose only native blockers are per file: the tests
/// of blocked files go to pytest-engine workers, the rest to native workers, as two
/// kinds of workers of one pool (as pytest-xdist's workers, each has its own session).
/// None when something holds for every test (a session reason, a plugin, pytest-timeout)
/// or when one side would be empty. Returns (native, pytest, files on pytest, reason).
fn split_by_engine(
    req: &RunRequest,
    items: &[RunItem],
    info: &WorkerInfo,
) -> Option<(Vec<RunItem>, Vec<RunItem>, usize, String)> {
    if req.engine != "auto"
        || info.pytest.is_none()
        || !req.native_blockers.session.is_empty()
        || !run_wide_blockers(req, info).is_empty()
    {
        return None;
    }
    let mut native = Vec::new();
    let mut pytest = Vec::new();
    let mut files: HashSet<&str> = HashSet::new();
    let mut reason: Option<&Blocker> = None;
    let plugins = PluginContext::of(req, info);
    for item in items {
        let file = item.nodeid.split("::").next().unwrap_or(&item.nodeid);
        match req.native_blockers.of_file(file, plugins).next() {
            Some(why) => {
                reason.get_or_insert(why);
                files.insert(file);
                pytest.push(item.clone());
            }
            None => native.push(item.clone()),
        }
    }
    let reason = reason?.to_string();
    (!native.is_empty()).then_some((native, pytest, files.len(), reason))
}

/// How many of `workers` run the pytest engine's share: in proportion to the recorded
/// (or assumed) duration of its tests, at least one of each kind. None when its share
/// would still make those workers the run's critical path (over 1.25 times an even
/// share): pytest-engine workers cannot take native work, so then every worker runs
/// the pytest engine.
fn pytest_worker_count(
    native: &[RunItem],
    pytest: &[RunItem],
    workers: usize,
    durations: &HashMap<String, f64>,
) -> Option<usize> {
    let total = |items: &[RunItem]| -> f64 {
        items
            .iter()
            .map(|i| durations.get(&i.nodeid).copied().unwrap_or(0.005))
            .sum()
    };
    let (n, p) = (total(native), total(pytest));
    let share = if n + p > 0.0 { p / (n + p) } else { 0.5 };
    let count = ((workers as f64 * share).round() as usize).clamp(1, workers - 1);
    (share / count as f64 <= 1.25 / workers as f64).then_some(count)
}

fn choose_engine(
    req: &RunRequest,
    items: &[RunItem],
    info: &WorkerInfo,
) -> Result<(Engine, String), String> {
    let mut blockers = req
        .native_blockers
        .for_items(items, PluginContext::of(req, info));
    blockers.extend(run_wide_blockers(req, info));
    match req.engine.as_str() {
        "native" => Ok((Engine::Native, "--engine native".into())),
        "pytest" => {
            if info.pytest.is_none() {
                return Err(format!(
                    "--engine pytest needs pytest installed in {}",
                    info.python
                ));
            }
            Ok((Engine::Pytest, "--engine pytest".into()))
        }
        _ => {
            if blockers.is_empty() {
                return Ok((Engine::Native, "auto".into()));
            }
            if info.pytest.is_none() {
                // No pytest to fall back on: the native engine is the only way to run.
                return Ok((
                    Engine::Native,
                    format!("auto; pytest missing, so native despite: {}", blockers[0]),
                ));
            }
            Ok((Engine::Pytest, format!("auto: {}", blockers[0])))
        }
    }
}

/// The conftests of the directories of `paths` (a directory itself, a file's parent) and
/// of every directory above them up to the rootdir, each once, nearest first.
pub fn conftests_above<'a>(
    rootdir: &Path,
    paths: impl IntoIterator<Item = &'a Path>,
) -> Vec<PathBuf> {
    let mut conftests = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let start = if path.is_dir() {
            Some(path)
        } else {
            path.parent()
        };
        for dir in start.into_iter().flat_map(Path::ancestors) {
            if !seen.insert(dir.to_path_buf()) {
                break;
            }
            let conftest = dir.join("conftest.py");
            if conftest.is_file() {
                conftests.push(conftest);
            }
            if dir == rootdir {
                break;
            }
        }
    }
    conftests
}

/// Reasons the native engine cannot be trusted with each of these modules, from its
/// summary and its conftests: hooks, plugins, async tests, fixtures nobody in the project
/// defines (a plugin must provide them). A fixture counts as defined when any of these
/// modules or their conftests defines it: a test class may inherit fixtures from a class
/// in another module. `run_time_params` are the parameter names Python's collection gave
/// each file's items (a project decorator applying `parametrize`): not fixtures.
pub fn native_blockers(
    source: &dyn SummarySource,
    rootdir: &Path,
    test_files: &[PathBuf],
    builtins: &[&str],
    run_time_params: &HashMap<PathBuf, HashSet<String>>,
) -> HashMap<PathBuf, Vec<Blocker>> {
    let mut defined: HashSet<String> = builtins.iter().map(|s| s.to_string()).collect();
    // Per module (test module or conftest): its own reasons and what it requests.
    let mut own: HashMap<PathBuf, (Vec<Blocker>, Vec<String>)> = HashMap::new();
    let mut scan = |path: &Path, is_conftest: bool, defined: &mut HashSet<String>| {
        if own.contains_key(path) {
            return;
        }
        let summary = source.summary(path);
        let mut blockers = Vec::new();
        let mut requested = Vec::new();
        // In a test module only `pytest_generate_tests` is a hook pytest calls.
        // `pytest_report_header` only adds header lines (not shown by the native engine).
        // The worker calls a conftest's `pytest_configure` with its own config object,
        // which has what such hooks use most: `addinivalue_line`.
        let native_configure = summary
            .configure_config_uses
            .iter()
            .all(|attr| attr == "addinivalue_line");
        let hook = summary.hooks.iter().find(|h| {
            (is_conftest
                && h.as_str() != "pytest_report_header"
                && !(h.as_str() == "pytest_configure" && native_configure))
                || h.as_str() == "pytest_generate_tests"
                || h.as_str() == "pytest_pycollect_makeitem"
        });
        let rel = fastest_discovery::relpath(rootdir, path);
        if let Some(h) = hook {
            blockers.push(Blocker::Other(format!("{rel} defines the hook {h}")));
        }
        if summary.declares_plugins {
            blockers.push(Blocker::Other(format!("{rel} declares pytest_plugins")));
        }
        // Parametrized fixtures run natively: the modules that see them are collected by
        // Python, and wider scopes than the module make the whole session so.
        for fx in &summary.fixtures {
            defined.insert(fx.name.clone());
            if fx.name == "event_loop_policy" {
                blockers.push(Blocker::AsyncioChecked(format!(
                    "the event_loop_policy override in {rel}"
                )));
            }
        }
        for b in &summary.bindings {
            visit_function(b, &mut blockers, &mut requested, defined);
            if let fastest_discovery::summary::Value::Class(c) = &b.value {
                for inner in &c.body {
                    visit_function(inner, &mut blockers, &mut requested, defined);
                }
                for m in &c.marks {
                    mark_blockers(m, &b.name, &mut blockers);
                    for a in &m.param_argnames {
                        defined.insert(a.clone());
                    }
                }
            }
        }
        for m in &summary.marks {
            if m.checked_by_plugin {
                blockers.push(Blocker::AsyncioChecked(format!(
                    "the asyncio mark's arguments in {rel}"
                )));
            }
            if m.name == "timeout" {
                blockers.push(Blocker::TimeoutMark(rel.clone()));
            }
            if m.param_scoped {
                blockers.push(Blocker::Other(format!(
                    "{rel}: module-wide parametrize with scope="
                )));
            }
            for a in &m.param_argnames {
                defined.insert(a.clone());
            }
        }
        own.insert(path.to_path_buf(), (blockers, requested));
    };
    // One walk for every module (each directory's conftest looked up once); a module's
    // own chain is then the conftests of the directories above it.
    let conftests = conftests_above(rootdir, test_files.iter().map(PathBuf::as_path));
    for c in &conftests {
        scan(c, true, &mut defined);
    }
    for f in test_files {
        scan(f, false, &mut defined);
    }
    let mut by_file = HashMap::new();
    for file in test_files {
        let mut chain: Vec<&PathBuf> = conftests
            .iter()
            .filter(|c| c.parent().is_some_and(|dir| file.starts_with(dir)))
            .collect();
        // Nearest first, as pytest reads them.
        chain.sort_by_key(|c| std::cmp::Reverse(c.components().count()));
        let mut blockers: Vec<Blocker> = Vec::new();
        let mut missing: Vec<&String> = Vec::new();
        let params = run_time_params.get(file);
        for module in chain.into_iter().chain(std::iter::once(file)) {
            let (reasons, requested) = &own[module];
            blockers.extend(reasons.iter().cloned());
            missing.extend(requested.iter().filter(|p| {
                !defined.contains(p.as_str())
                    && !["self", "cls", "request"].contains(&p.as_str())
                    && !params.is_some_and(|names| names.contains(p.as_str()))
            }));
        }
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            blockers.push(Blocker::MissingFixtures(
                missing.into_iter().cloned().collect(),
            ));
        }
        if !blockers.is_empty() {
            by_file.insert(file.clone(), blockers);
        }
    }
    by_file
}

/// Reasons a mark on a function or class (`on`) gives: parametrize `scope=` (no
/// parameter scopes natively), pytest-timeout's mark, asyncio mark arguments that
/// pytest-asyncio checks itself.
fn mark_blockers(m: &fastest_discovery::summary::Mark, on: &str, blockers: &mut Vec<Blocker>) {
    if m.name == "timeout" {
        blockers.push(Blocker::TimeoutMark(on.to_string()));
    }
    if m.checked_by_plugin {
        blockers.push(Blocker::AsyncioChecked(format!(
            "the asyncio mark's arguments on {on}"
        )));
    }
    if m.param_scoped {
        blockers.push(Blocker::Other(format!("parametrize with scope= on {on}")));
    }
}

/// Records what one function (test or fixture) requests and defines.
fn visit_function(
    b: &fastest_discovery::summary::Binding,
    blockers: &mut Vec<Blocker>,
    requested: &mut Vec<String>,
    defined: &mut HashSet<String>,
) {
    let fastest_discovery::summary::Value::Function(f) = &b.value else {
        return;
    };
    if f.is_async && !f.is_fixture && b.name.starts_with("test") {
        blockers.push(Blocker::AsyncTest(b.name.clone()));
    }
    if f.is_fixture || b.name.starts_with("test") {
        // pytest's getfuncargnames: the bound `self`/`cls`, then one argument per mock
        // a `mock.patch` decorator passes, are not fixtures.
        let bound = f.params.first().is_some_and(|p| p == "self" || p == "cls") as usize;
        let mut params: Vec<&String> = f
            .params
            .iter()
            .skip(bound + f.mock_patch_args as usize)
            .collect();
        // Hypothesis's `@given` fills these itself (its wrapper's signature drops them).
        if let Some(given) = &f.given_args {
            if given.infer_all {
                params.clear();
            }
            params.truncate(params.len().saturating_sub(given.positional as usize));
            params.retain(|p| !given.keywords.contains(p));
        }
        requested.extend(params.into_iter().cloned());
    }
    for m in &f.marks {
        mark_blockers(m, &b.name, blockers);
        for a in &m.param_argnames {
            defined.insert(a.clone());
        }
        for a in &m.args {
            requested.push(a.clone());
        }
    }
}

const DURATIONS_TREE: &str = "durations";
const LASTFAILED_TREE: &str = "lastfailed";
const STEPWISE_TREE: &str = "stepwise";
const STEPWISE_KEY: &[u8] = b"lastfailed";

fn load_durations(cache: &Cache) -> HashMap<String, f64> {
    cache.scan::<f64>(DURATIONS_TREE).into_iter().collect()
}

/// Durations of every test that ran, and the last-failed set (`--lf`). A duration near
/// the stored one (`known`, read at the start; `near_duration`) is not written again.
fn save_state(
    cache: &Cache,
    results: &HashMap<String, Vec<PhaseReport>>,
    known: &HashMap<String, f64>,
) {
    // Removing an absent key still walks the tree: only the ids stored as failed are
    // removed (usually few; a clean suite has none).
    let stored_failed: HashSet<String> = cache
        .scan::<bool>(LASTFAILED_TREE)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for (id, reports) in results {
        let total: f64 = reports.iter().map(|r| r.duration).sum();
        let near = known
            .get(id)
            .is_some_and(|&old| fastest_select::near_duration(total, old));
        if !near {
            cache.put(DURATIONS_TREE, id.as_bytes(), &total);
        }
        let failed = reports.iter().any(|r| r.outcome == Outcome::Failed);
        if failed {
            cache.put(LASTFAILED_TREE, id.as_bytes(), &true);
        } else if stored_failed.contains(id) {
            cache.remove(LASTFAILED_TREE, id.as_bytes());
        }
    }
    cache.flush();
}

/// The test `--sw` stopped at last time, if any.
pub fn stepwise_last(cache: &Cache) -> Option<String> {
    cache.get::<String>(STEPWISE_TREE, STEPWISE_KEY)
}

/// pytest's stepwise plugin: remember the first failure in collection order (the second
/// with `--sw-skip`); a run without failures clears it. An interrupted run keeps it.
fn save_stepwise(
    cache: &Cache,
    order: &[String],
    results: &HashMap<String, Vec<PhaseReport>>,
    skip: bool,
    ending: Ending,
) {
    if matches!(ending, Ending::Interrupted) {
        return;
    }
    let failed: Vec<&String> = order
        .iter()
        .filter(|id| {
            results
                .get(*id)
                .is_some_and(|r| r.iter().any(|p| p.outcome == Outcome::Failed))
        })
        .collect();
    match failed.get(usize::from(skip)) {
        Some(id) => cache.put(STEPWISE_TREE, STEPWISE_KEY, id),
        None => cache.remove(STEPWISE_TREE, STEPWISE_KEY),
    }
    cache.flush();
}

/// Every node id seen by an earlier run (`--nf`: the others are new).
pub fn known_nodeids(cache: &Cache) -> HashSet<String> {
    cache
        .scan::<f64>(DURATIONS_TREE)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// pytest's `--nf`: new tests first, each part ordered by its file's mtime, newest first.
pub fn order_new_first(items: &mut [String], known: &HashSet<String>, rootdir: &Path) {
    let mut mtimes: HashMap<String, std::time::SystemTime> = HashMap::new();
    for i in items.iter() {
        let file = i.split("::").next().unwrap_or(i).to_string();
        mtimes.entry(file.clone()).or_insert_with(|| {
            std::fs::metadata(rootdir.join(&file))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH)
        });
    }
    items.sort_by_key(|i| {
        let file = i.split("::").next().unwrap_or(i);
        (
            known.contains(i),
            std::cmp::Reverse(mtimes.get(file).copied()),
        )
    });
}

/// Node ids that failed last time (`--lf`, `--ff`).
pub fn last_failed(cache: &Cache) -> HashSet<String> {
    cache
        .scan::<bool>(LASTFAILED_TREE)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Civil-from-days (UTC), so no time crate is needed for one timestamp.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// When to show the live status line: only on a terminal (not `TERM=dumb`), not with
/// `-s` (test output goes straight to the terminal) and only for runs longer than a
/// second. `FASTEST_NO_PROGRESS=1` turns it off.
fn live_status_after(capture: &str) -> Option<std::time::Duration> {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let off = std::env::var_os("FASTEST_NO_PROGRESS").is_some_and(|v| v != "0" && !v.is_empty());
    (tty && !dumb && !off && capture != "no").then_some(std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::{inert_under_options, pytest_worker_count, Blocker, PluginContext};
    use fastest_protocol::RunItem;
    use std::collections::HashMap;

    #[test]
    fn plugin_reasons_block_only_with_their_plugin() {
        let fixtures = |names: &[&str]| {
            Blocker::MissingFixtures(names.iter().map(|n| n.to_string()).collect())
        };
        let reasons = [
            Blocker::AsyncTest("test_a".into()),
            Blocker::AsyncioChecked("the asyncio mark's arguments on test_b".into()),
            Blocker::TimeoutMark("test_c".into()),
            fixtures(&["x"]),
            fixtures(&["benchmark"]),
            fixtures(&["benchmark", "benchmark_weave"]),
            fixtures(&["benchmark", "x"]),
        ];
        // The header's text, as before these reasons had variants.
        assert_eq!(
            reasons[2].to_string(),
            "pytest-timeout's timeout mark on test_c"
        );
        assert_eq!(
            reasons[5].to_string(),
            "fixtures benchmark, benchmark_weave not defined in the project"
        );
        assert_eq!(
            reasons[3].to_string(),
            "fixture x not defined in the project"
        );
        let blocking_with = |asyncio_reproduced, timeout_marks_apply, benchmark_fixture| {
            let ctx = PluginContext {
                asyncio_reproduced,
                timeout_marks_apply,
                benchmark_fixture,
            };
            (0..reasons.len())
                .filter(|&i| ctx.blocks(&reasons[i]))
                .collect::<Vec<usize>>()
        };
        // pytest-benchmark disabled and reproduced: its fixtures are native, others not.
        assert_eq!(blocking_with(false, false, true), [0, 3, 6]);
        let blocking = |asyncio_reproduced, timeout_marks_apply| -> Vec<usize> {
            let ctx = PluginContext {
                asyncio_reproduced,
                timeout_marks_apply,
                benchmark_fixture: false,
            };
            (0..reasons.len())
                .filter(|&i| ctx.blocks(&reasons[i]))
                .collect()
        };
        // Neither plugin: async tests need one; its checks and timeout marks are inert.
        assert_eq!(blocking(false, false), [0, 3, 4, 5, 6]);
        // pytest-asyncio reproduced: its own collection checks stay with it.
        assert_eq!(blocking(true, false), [1, 3, 4, 5, 6]);
        // pytest-timeout active: its marks keep the file on the pytest engine.
        assert_eq!(blocking(false, true), [0, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn pytest_workers_get_the_blocked_share_unless_it_would_be_the_critical_path() {
        let items = |prefix: &str, n: usize| -> Vec<RunItem> {
            (0..n)
                .map(|i| RunItem {
                    nodeid: format!("{prefix}::t{i}"),
                    param_index: vec![],
                })
                .collect()
        };
        let none = HashMap::new();
        // By count when no durations are known: 2 of 10 on pytest → one of two workers.
        assert_eq!(
            pytest_worker_count(&items("n", 8), &items("p", 2), 2, &none),
            Some(1)
        );
        // 8 of 10 on pytest: one pytest worker would carry 80 % of the run → no split.
        assert_eq!(
            pytest_worker_count(&items("n", 2), &items("p", 8), 2, &none),
            None
        );
        // Recorded durations outweigh counts.
        let slow: HashMap<String, f64> = items("n", 2)
            .into_iter()
            .map(|i| (i.nodeid, 10.0))
            .collect();
        assert_eq!(
            pytest_worker_count(&items("n", 2), &items("p", 8), 2, &slow),
            Some(1)
        );
        // Four workers, half the work blocked: two of each kind.
        assert_eq!(
            pytest_worker_count(&items("n", 5), &items("p", 5), 4, &none),
            Some(2)
        );
    }

    #[test]
    fn pytest_benchmark_is_inert_unless_an_option_makes_it_act_on_other_tests() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(inert_under_options("pytest-benchmark", &args(&[])));
        assert!(inert_under_options(
            "pytest-benchmark",
            &args(&["-p", "no:cacheprovider", "--benchmark-disable"])
        ));
        for acting in [
            "--benchmark-only",
            "--benchmark-json=out.json",
            "--benchmark-autosave",
        ] {
            assert!(
                !inert_under_options("pytest-benchmark", &args(&[acting])),
                "{acting}"
            );
        }
        assert!(!inert_under_options("pytest-randomly", &args(&[])));
    }
}
