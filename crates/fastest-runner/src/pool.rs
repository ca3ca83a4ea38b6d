//! The worker pool: Python worker processes on dedicated pipes, group dispatch, and the
//! crash / timeout / interrupt handling that keeps one bad test from costing the run.

use crate::preload::{ForkedWorker, WorkerFds};
use crate::schedule::Plan;
use fastest_protocol::{FromWorker, PhaseReport, RunItem, TestDeps, ToWorker, WorkerConfig};
use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The fds the harness reads commands from and writes events to.
const CMD_FD: i32 = 3;
const EVENT_FD: i32 = 4;
/// A worker replaced this many times in a row without finishing a test is broken.
const MAX_CONSECUTIVE_RESPAWNS: usize = 5;

/// How to start workers and what to give them.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub python: PathBuf,
    pub harness: PathBuf,
    pub cwd: PathBuf,
    /// Workers to start (the plan may use fewer).
    pub workers: usize,
    /// Directory for the workers' capture files.
    pub capture_dir: PathBuf,
    pub timeout: Option<Duration>,
    /// Workers share the runner's terminal (stdin and foreground process group): for a
    /// debugger (`--pdb`, `--trace`, `breakpoint()` with `-s`).
    pub interactive: bool,
    /// The socket of the project's preloader (`preload.rs`): workers are forked there
    /// when it answers, started afresh otherwise.
    pub preload: Option<PathBuf>,
}

impl PoolConfig {
    /// One worker of `python` with `harness` in `cwd`, capturing under `cache_dir`, no
    /// timeout, not interactive: what a run's pool and the worker started ahead for it
    /// (`Prestarted`) are both built from, so the two cannot start workers differently
    /// by accident (a pre-started worker is adopted only when they match: `StartKey`).
    pub fn for_run(
        python: PathBuf,
        harness: PathBuf,
        cwd: PathBuf,
        cache_dir: &std::path::Path,
        preload: Option<PathBuf>,
    ) -> Self {
        PoolConfig {
            python,
            harness,
            cwd,
            workers: 1,
            capture_dir: cache_dir.join("capture"),
            timeout: None,
            interactive: false,
            preload,
        }
    }
}

/// A worker process: started by the pool, or forked by a preloader.
#[derive(Debug)]
enum WorkerProcess {
    Spawned(Child),
    Forked(ForkedWorker),
}

impl WorkerProcess {
    fn kill(&mut self) {
        match self {
            WorkerProcess::Spawned(child) => {
                let _ = child.kill();
            }
            WorkerProcess::Forked(worker) => worker.kill(),
        }
    }

    fn wait(&mut self) -> Option<std::process::ExitStatus> {
        match self {
            WorkerProcess::Spawned(child) => child.wait().ok(),
            WorkerProcess::Forked(worker) => worker.wait(),
        }
    }

    fn is_alive(&mut self) -> bool {
        match self {
            WorkerProcess::Spawned(child) => matches!(child.try_wait(), Ok(None)),
            WorkerProcess::Forked(worker) => matches!(worker.try_wait(), Ok(None)),
        }
    }
}

/// What the pool tells its consumer (the reporter), in the order it happens.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The first worker is up and has imported the session's modules: what it runs on,
    /// and the test modules that failed to import (collection errors: their items are
    /// left out of the run; answering `Stop` ends it before any test).
    WorkerReady {
        python: String,
        pytest: Option<String>,
        plugins: Vec<String>,
        import_errors: Vec<fastest_protocol::CollectionErrorReport>,
    },
    Started {
        nodeid: String,
    },
    Report(PhaseReport),
    Finished {
        nodeid: String,
        /// The test's recorded dependencies (`same` already resolved per worker).
        deps: Option<std::sync::Arc<TestDeps>>,
        /// When its worker's message was read: the test had finished by then.
        finished_by: Instant,
    },
    CollectError(fastest_protocol::CollectionErrorReport),
    /// The worker died or was killed while running `nodeid`; the pool has replaced it.
    Crashed {
        nodeid: String,
        reason: String,
        /// The test's captured stdout/stderr up to the crash (native engine).
        output: Vec<(String, String)>,
    },
    /// Items a worker went idle without reporting (e.g. not found at run time).
    Unreported {
        nodeid: String,
    },
    /// A worker is about to use the terminal for `nodeid` (a debugger): the consumer
    /// flushes its output; the worker goes on when the sink returns.
    Interact {
        nodeid: String,
    },
    /// A problem of fastest's own (shown on stderr).
    Warning(String),
    /// A warning raised by test code, for pytest's warnings summary.
    TestWarning {
        nodeid: String,
        location: Option<String>,
        message: String,
    },
}

/// What the consumer answers to each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop dispatching and kill the workers (`-x`, `--maxfail`).
    Stop,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("could not start worker {python}: {source}")]
    Spawn {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("could not create a pipe for a worker: {0}")]
    Pipe(std::io::Error),
    #[error("worker failed: {0}")]
    Fatal(String),
    /// pytest stopped the session in a worker (e.g. "ImportError while loading conftest").
    #[error("{stderr}")]
    PytestExit { code: i32, stderr: String },
    /// A test called `pytest.exit()`: the session ends with its summary, `message`
    /// above the counts line and `code` as the exit status.
    #[error("{message}")]
    SessionExit {
        code: i32,
        message: String,
        nodeid: Option<String>,
    },
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolOutcome {
    Completed,
    Stopped,
    Interrupted,
}

enum Msg {
    /// A line from the worker's event pipe, and when it was read: everything it reports
    /// happened before then.
    Line(String, Instant),
    Eof,
}

struct Worker {
    process: WorkerProcess,
    commands: std::io::PipeWriter,
    events: std::io::PipeReader,
    /// Bytes read from `events` after the last complete line.
    inbox: Vec<u8>,
    /// How much of `inbox` is known to hold no newline (a long line is scanned once).
    scanned: usize,
    /// `events` reached its end (the `Eof` message is queued).
    at_eof: bool,
    generation: u64,
    /// Items sent and not yet finished, in run order.
    assigned: VecDeque<RunItem>,
    current: Option<(String, Instant)>,
    /// Since when the worker has been on its current test: set when items are sent and
    /// at every finished test, so timeouts work even when `Start` events are batched.
    busy_since: Option<Instant>,
    timed_out: bool,
    ready: bool,
    /// Configured and done importing the session's modules (`FromWorker::Imported`):
    /// only then does it get items.
    imported: bool,
    /// `Run` commands sent and not yet answered by `Idle`: two while the next group
    /// waits in its command pipe (see `prefetch`).
    runs_queued: usize,
    capture_prefix: PathBuf,
    /// Respawns since this slot last finished a test.
    respawns: usize,
    /// The last dependencies this worker sent (`TestDeps::same` refers to them).
    last_deps: Option<std::sync::Arc<TestDeps>>,
    /// Dependency bases this worker process defined (`TestDeps::base`).
    deps_bases: std::collections::HashMap<u32, std::sync::Arc<TestDeps>>,
}

/// What the first worker reports about the interpreter, for choosing the engine.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    pub python: String,
    pub pytest: Option<String>,
    pub plugins: Vec<String>,
    /// Plugins the native engine can reproduce in this interpreter (normalized names).
    pub reproducible: Vec<String>,
}

/// Runs tests to completion (or until stopped), calling `sink` with every event.
/// Workers start at once (worker 0 may be `prestarted`, already running); `decide`
/// picks the plan and the worker configuration from what the first ready worker
/// reports, while the others are still starting.
pub fn run_pool(
    config: &PoolConfig,
    prestarted: Option<Prestarted>,
    decide: impl FnOnce(&WorkerInfo) -> Result<(Plan, WorkerConfig), String>,
    interrupted: &AtomicBool,
    mut sink: impl FnMut(RunEvent) -> Control,
) -> Result<PoolOutcome, PoolError> {
    // Messages read from the workers' event pipes, not yet handled.
    let mut pending: VecDeque<(usize, u64, Msg)> = VecDeque::new();
    let mut read_buffer = vec![0u8; 1 << 16];
    let mut queue: VecDeque<Vec<RunItem>> = VecDeque::new();
    let mut preassigned: Vec<VecDeque<Vec<RunItem>>> = Vec::new();
    let mut decide = Some(decide);
    let mut worker_config: Option<WorkerConfig> = None;
    // With a mixed plan: the configuration of the first `bucket_workers` workers.
    let mut bucket_config: Option<WorkerConfig> = None;
    let mut bucket_workers = 0usize;
    let mut workers: Vec<Option<Worker>> = Vec::new();
    // What the first ready worker said, until announced with the first import errors.
    let mut first_info: Option<WorkerInfo> = None;
    // Test modules that failed to import in a worker (rootdir-relative paths).
    let mut failed_modules: Vec<String> = Vec::new();
    let mut generation = 0u64;
    // The pre-started worker is worker 0 (generation 1) when it was started as this
    // pool would start it; else it is dropped, which kills it.
    let mut prestarted = prestarted
        .filter(|p| p.key == StartKey::of(config))
        .and_then(|mut p| p.take_alive());
    for idx in 0..config.workers.max(1) {
        generation += 1;
        let worker = match prestarted.take() {
            Some(started) => attach(started, generation),
            None => spawn(config, idx, generation)?,
        };
        workers.push(Some(worker));
    }
    let mut outcome = PoolOutcome::Completed;

    loop {
        if interrupted.load(Ordering::SeqCst) {
            outcome = PoolOutcome::Interrupted;
            break;
        }
        let all_done = workers.iter().all(|w| w.is_none());
        if all_done {
            break;
        }
        // Timeouts: kill the worker; its EOF is then reported as a crash.
        if let Some(limit) = config.timeout {
            for (idx, w) in workers.iter_mut().enumerate() {
                let Some(w) = w.as_mut() else { continue };
                let own = config_of(idx, bucket_workers, &bucket_config, &worker_config);
                if own.is_some_and(|c| c.timeout_in_worker) {
                    continue; // pytest-timeout in that worker times its tests out
                }
                let started = w.current.as_ref().map(|(_, t)| *t).or(w.busy_since);
                if let (Some(started), false) = (started, w.assigned.is_empty()) {
                    if !w.timed_out && started.elapsed() > limit {
                        w.timed_out = true;
                        w.process.kill();
                    }
                }
            }
        }
        if pending.is_empty() {
            if all_busy(&workers) {
                // Lets their messages gather in the pipes: a worker writing to a pipe
                // this thread waits on wakes it, which costs the worker ~15-30 us a
                // test (an interrupt to the other core), more than the test itself on
                // suites of short tests. Not when a worker may be about to ask for
                // work: it would wait.
                std::thread::sleep(GATHER_FOR);
            }
            read_events(&mut workers, &mut pending, &mut read_buffer, 50);
        }
        let Some((idx, gen, msg)) = pending.pop_front() else {
            continue;
        };
        let Some(worker) = workers[idx].as_mut() else {
            continue;
        };
        if worker.generation != gen {
            continue; // a message from a replaced worker
        }
        let mut control = Control::Continue;
        match msg {
            Msg::Line(line, received) => {
                let event = match FromWorker::parse(&line) {
                    Ok(e) => e,
                    Err(e) => {
                        sink(RunEvent::Warning(format!(
                            "ignored a malformed message from worker {idx}: {e}"
                        )));
                        continue;
                    }
                };
                match event {
                    FromWorker::Ready {
                        protocol,
                        python,
                        pytest,
                        plugins,
                        reproducible,
                    } => {
                        if protocol != fastest_protocol::PROTOCOL_VERSION {
                            kill_all(&mut workers);
                            return Err(PoolError::Fatal(format!(
                                "harness speaks protocol {protocol}, expected {}",
                                fastest_protocol::PROTOCOL_VERSION
                            )));
                        }
                        worker.ready = true;
                        if let Some(decide) = decide.take() {
                            let info = WorkerInfo {
                                python: python.clone(),
                                pytest: pytest.clone(),
                                plugins: plugins.clone(),
                                reproducible: reproducible.clone(),
                            };
                            let (plan, wc) = match decide(&info) {
                                Ok(d) => d,
                                Err(message) => {
                                    kill_all(&mut workers);
                                    return Err(PoolError::Fatal(message));
                                }
                            };
                            match plan {
                                Plan::Shared(groups) => queue.extend(groups),
                                Plan::Buckets(buckets) => {
                                    preassigned = buckets
                                        .into_iter()
                                        .map(|b| VecDeque::from(vec![b]))
                                        .collect();
                                    preassigned.resize(workers.len(), VecDeque::new());
                                }
                                Plan::Mixed {
                                    buckets,
                                    bucket_config: own,
                                    shared,
                                } => {
                                    // Workers past the buckets take from the shared queue.
                                    bucket_workers = buckets.len();
                                    preassigned = buckets
                                        .into_iter()
                                        .map(|b| VecDeque::from(vec![b]))
                                        .collect();
                                    bucket_config = Some(*own);
                                    queue.extend(shared);
                                }
                            }
                            worker_config = Some(wc);
                            first_info = Some(info);
                        }
                        let worker = workers[idx].as_mut().expect("present");
                        let mut wc = config_of(idx, bucket_workers, &bucket_config, &worker_config)
                            .cloned()
                            .expect("decided above");
                        wc.capture_prefix = worker.capture_prefix.to_string_lossy().into_owned();
                        send(worker, &ToWorker::Configure(Box::new(wc)));
                    }
                    FromWorker::Imported { errors } => {
                        worker.imported = true;
                        let new: Vec<_> = errors
                            .into_iter()
                            .filter(|e| !failed_modules.contains(&e.nodeid))
                            .collect();
                        failed_modules.extend(new.iter().map(|e| e.nodeid.clone()));
                        if let Some(info) = first_info.take() {
                            control = sink(RunEvent::WorkerReady {
                                python: info.python,
                                pytest: info.pytest,
                                plugins: info.plugins,
                                import_errors: new,
                            });
                        } else {
                            // Another worker failed where the first did not (an import
                            // that depends on the worker): reported all the same.
                            for error in new {
                                if sink(RunEvent::CollectError(error)) == Control::Stop {
                                    control = Control::Stop;
                                }
                            }
                        }
                        if control == Control::Stop {
                            outcome = PoolOutcome::Stopped;
                            break;
                        }
                        // pytest never collects the items of a module that failed to import.
                        if !failed_modules.is_empty() {
                            let in_failed = |item: &RunItem| {
                                failed_modules
                                    .iter()
                                    .any(|m| fastest_protocol::is_item_of(&item.nodeid, m))
                            };
                            for group in queue.iter_mut().chain(preassigned.iter_mut().flatten()) {
                                group.retain(|i| !in_failed(i));
                            }
                            queue.retain(|g| !g.is_empty());
                            for own in preassigned.iter_mut() {
                                own.retain(|g| !g.is_empty());
                            }
                            for w in workers.iter_mut().flatten() {
                                w.assigned.retain(|i| !in_failed(i));
                            }
                        }
                        let worker = workers[idx].as_mut().expect("present");
                        // A replacement worker first resumes what its predecessor left.
                        if !worker.assigned.is_empty() {
                            worker.busy_since = Some(Instant::now());
                            let items: Vec<RunItem> = worker.assigned.iter().cloned().collect();
                            worker.runs_queued += 1;
                            send(worker, &ToWorker::Run { items });
                        } else if !dispatch(worker, idx, &mut queue, &mut preassigned) {
                            // Nothing left (the other workers took it all while this one
                            // started): it must exit, or the run would wait for it forever.
                            send(worker, &ToWorker::Shutdown);
                        }
                    }
                    FromWorker::Start { nodeid } => {
                        worker.current = Some((nodeid.clone(), Instant::now()));
                        control = sink(RunEvent::Started { nodeid });
                    }
                    FromWorker::Report(r) => control = sink(RunEvent::Report(r)),
                    FromWorker::Finish { nodeid, deps } => {
                        control = finish_test(worker, nodeid, deps, received, &mut sink);
                    }
                    FromWorker::Test {
                        nodeid,
                        reports,
                        deps,
                    } => {
                        control = sink(RunEvent::Started {
                            nodeid: nodeid.clone(),
                        });
                        for report in fastest_protocol::expand_reports(&nodeid, reports) {
                            if sink(RunEvent::Report(report)) == Control::Stop {
                                control = Control::Stop;
                            }
                        }
                        if finish_test(worker, nodeid, deps, received, &mut sink) == Control::Stop {
                            control = Control::Stop;
                        }
                        let live = workers.iter().flatten().count();
                        let worker = workers[idx].as_mut().expect("present");
                        prefetch(worker, idx, live, &mut queue, &mut preassigned);
                    }
                    FromWorker::CollectError {
                        nodeid,
                        longrepr,
                        message,
                    } => {
                        control = sink(RunEvent::CollectError(
                            fastest_protocol::CollectionErrorReport {
                                nodeid,
                                longrepr,
                                message,
                            },
                        ));
                    }
                    FromWorker::Warning {
                        message,
                        location,
                        nodeid,
                    } => {
                        control = sink(RunEvent::TestWarning {
                            nodeid,
                            location,
                            message,
                        })
                    }
                    FromWorker::Interact { nodeid } => {
                        control = sink(RunEvent::Interact { nodeid });
                        let worker = workers[idx].as_mut().expect("present");
                        // The debugger may take minutes: the test is not hanging.
                        worker.current = None;
                        worker.busy_since = None;
                        send(worker, &ToWorker::Resume);
                    }
                    FromWorker::Idle => {
                        // The native engine holds back its last item until it knows the
                        // next one (to tear down only the scopes that end), so `assigned`
                        // may be non-empty here; leftovers are reported at a clean exit.
                        worker.runs_queued = worker.runs_queued.saturating_sub(1);
                        if worker.runs_queued == 0
                            && !dispatch(worker, idx, &mut queue, &mut preassigned)
                        {
                            send(worker, &ToWorker::Shutdown);
                        }
                    }
                    FromWorker::Fatal {
                        message,
                        exit_code,
                        session_exit,
                        nodeid,
                    } => {
                        kill_all(&mut workers);
                        return Err(match exit_code {
                            Some(code) if session_exit => PoolError::SessionExit {
                                code,
                                message,
                                nodeid,
                            },
                            Some(code) => PoolError::PytestExit {
                                code,
                                stderr: message,
                            },
                            None => PoolError::Fatal(message),
                        });
                    }
                }
            }
            Msg::Eof => {
                let status = worker.process.wait();
                let mut w = workers[idx].take().expect("worker present");
                if w.ready && !w.imported && w.assigned.is_empty() {
                    // Died importing the test modules (a segfault at import): pytest's
                    // collection would have died with it.
                    kill_all(&mut workers);
                    let output = read_capture(&w.capture_prefix);
                    let tail: String = output.iter().map(|(_, text)| text.as_str()).collect();
                    return Err(PoolError::Fatal(format!(
                        "a worker died while importing the test modules ({}){}",
                        describe_status(status),
                        if tail.is_empty() {
                            String::new()
                        } else {
                            format!(":\n{tail}")
                        }
                    )));
                }
                if w.assigned.is_empty() {
                    continue; // a clean shutdown
                }
                if status.map(|s| s.success()).unwrap_or(false) && w.current.is_none() {
                    // Exited cleanly without running these: never drop them silently.
                    for item in w.assigned.drain(..) {
                        if sink(RunEvent::Unreported {
                            nodeid: item.nodeid,
                        }) == Control::Stop
                        {
                            control = Control::Stop;
                        }
                    }
                    if control == Control::Stop {
                        outcome = PoolOutcome::Stopped;
                        break;
                    }
                    continue;
                }
                if !w.ready {
                    return Err(PoolError::Fatal(format!(
                        "worker exited before it was ready ({}); is {} a working Python 3 interpreter?",
                        describe_status(status),
                        config.python.display()
                    )));
                }
                // Blame the running test, or the first one sent if none had started
                // (the crash happened while importing its module).
                let blamed = match w.current.take() {
                    Some((nodeid, _)) => nodeid,
                    None => w
                        .assigned
                        .front()
                        .map(|i| i.nodeid.clone())
                        .unwrap_or_default(),
                };
                w.assigned.retain(|i| i.nodeid != blamed);
                let reason = if w.timed_out {
                    format!(
                        "Timeout (>{:.1}s): the worker running it was killed",
                        config.timeout.map(|d| d.as_secs_f64()).unwrap_or(0.0)
                    )
                } else {
                    format!("worker crashed: {}", describe_status(status))
                };
                let output = read_capture(&w.capture_prefix);
                control = sink(RunEvent::Crashed {
                    nodeid: blamed,
                    reason,
                    output,
                });
                if w.respawns >= MAX_CONSECUTIVE_RESPAWNS {
                    for item in w.assigned.drain(..) {
                        sink(RunEvent::Unreported {
                            nodeid: item.nodeid,
                        });
                    }
                    continue;
                }
                if control == Control::Continue {
                    generation += 1;
                    let mut fresh = spawn(config, idx, generation)?;
                    fresh.assigned = std::mem::take(&mut w.assigned);
                    fresh.respawns = w.respawns + 1;
                    workers[idx] = Some(fresh);
                }
            }
        }
        if control == Control::Stop {
            outcome = PoolOutcome::Stopped;
            break;
        }
    }
    kill_all(&mut workers);
    Ok(outcome)
}

/// A worker finished `nodeid`: its slot is healthy again and the test leaves `assigned`.
fn finish_test(
    worker: &mut Worker,
    nodeid: String,
    deps: Option<TestDeps>,
    finished_by: Instant,
    sink: &mut impl FnMut(RunEvent) -> Control,
) -> Control {
    let deps = match deps {
        Some(d) if d.same => worker.last_deps.clone(),
        Some(mut d) => {
            let full = match d.base {
                Some(id) => {
                    if let Some(def) = d.base_def.take() {
                        worker.deps_bases.insert(id, std::sync::Arc::new(*def));
                    }
                    // A base this worker never defined (cannot happen with the harness):
                    // without it the dependencies are incomplete, so none are kept.
                    worker
                        .deps_bases
                        .get(&id)
                        .map(|base| d.on_base(base.clone()))
                }
                None => Some(d),
            };
            let full = full.map(std::sync::Arc::new);
            worker.last_deps = full.clone();
            full
        }
        None => None,
    };
    worker.current = None;
    worker.busy_since = Some(Instant::now());
    worker.respawns = 0;
    if let Some(pos) = worker.assigned.iter().position(|i| i.nodeid == nodeid) {
        worker.assigned.remove(pos);
    }
    sink(RunEvent::Finished {
        nodeid,
        deps,
        finished_by,
    })
}

/// Worker `idx`'s configuration: the buckets' for the first `bucket_workers` of a mixed
/// plan, the run's for the others (None before the plan is decided).
fn config_of<'a>(
    idx: usize,
    bucket_workers: usize,
    bucket_config: &'a Option<WorkerConfig>,
    worker_config: &'a Option<WorkerConfig>,
) -> Option<&'a WorkerConfig> {
    match idx < bucket_workers {
        true => bucket_config.as_ref(),
        false => worker_config.as_ref(),
    }
}

/// How long the runner lets workers' messages gather while none of them can run out of
/// work (see `all_busy`).
const GATHER_FOR: Duration = Duration::from_millis(1);

/// Items a worker must have left, as last heard, to be sure it is still busy after
/// `GATHER_FOR` (what it finished meanwhile is unread): no test takes under 30 us.
const BUSY_FOR_SURE: usize = 32;

/// Whether no live worker can be waiting for a command during `GATHER_FOR`: each has
/// its next group queued, or many items left of the one it runs.
fn all_busy(workers: &[Option<Worker>]) -> bool {
    let mut live = workers.iter().flatten().peekable();
    live.peek().is_some()
        && live.all(|w| {
            w.imported && !w.at_eof && (w.runs_queued >= 2 || w.assigned.len() > BUSY_FOR_SURE)
        })
}

/// Sends the next group to `worker`; false when there is nothing left for it.
fn dispatch(
    worker: &mut Worker,
    idx: usize,
    queue: &mut VecDeque<Vec<RunItem>>,
    preassigned: &mut [VecDeque<Vec<RunItem>>],
) -> bool {
    let next = match preassigned.get_mut(idx) {
        Some(own) => own.pop_front(),
        None => queue.pop_front(),
    };
    match next {
        Some(items) if !items.is_empty() => {
            worker.busy_since = Some(Instant::now());
            worker.assigned.extend(items.iter().cloned());
            worker.runs_queued += 1;
            send(worker, &ToWorker::Run { items });
            true
        }
        _ => false,
    }
}

/// Queues `worker`'s next group behind the one it runs, so it never waits for the runner
/// between groups (`all_busy` then lets messages gather), while the shared queue keeps a
/// group for every other worker (the last groups go to whoever is idle first).
fn prefetch(
    worker: &mut Worker,
    idx: usize,
    live_workers: usize,
    queue: &mut VecDeque<Vec<RunItem>>,
    preassigned: &mut [VecDeque<Vec<RunItem>>],
) {
    if !worker.imported || worker.runs_queued != 1 || worker.at_eof {
        return;
    }
    let next = match preassigned.get_mut(idx) {
        Some(own) => own.pop_front(),
        None if queue.len() >= live_workers => queue.pop_front(),
        None => None,
    };
    let Some(items) = next.filter(|items| !items.is_empty()) else {
        return;
    };
    let msg = ToWorker::Run { items };
    let line = msg.to_line();
    let ToWorker::Run { items } = msg else {
        unreachable!("built as a Run just above");
    };
    // The worker reads commands only between groups: a write that did not fit in the
    // pipe would wait for it while it waits for the runner to read its events.
    if !fits_in_pipe(&worker.commands, line.len()) {
        match preassigned.get_mut(idx) {
            Some(own) => own.push_front(items),
            None => queue.push_front(items),
        }
        return;
    }
    worker.assigned.extend(items);
    worker.runs_queued += 1;
    send_line(worker, &line);
}

/// Whether `len` more bytes fit in the pipe now (nothing but the worker reads it, so
/// the room only grows): a write of them cannot block. Linux only; elsewhere never.
fn fits_in_pipe(pipe: &std::io::PipeWriter, len: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        let fd = pipe.as_raw_fd();
        let mut unread: libc::c_int = 0;
        // SAFETY: fcntl and ioctl on an open pipe descriptor; `unread` outlives the call.
        let (capacity, ok) = unsafe {
            (
                libc::fcntl(fd, libc::F_GETPIPE_SZ),
                libc::ioctl(fd, libc::FIONREAD, &mut unread),
            )
        };
        capacity > 0 && ok == 0 && unread >= 0 && len + (unread as usize) <= capacity as usize
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pipe, len);
        false
    }
}

fn send(worker: &mut Worker, msg: &ToWorker) {
    send_line(worker, &msg.to_line());
}

fn send_line(worker: &mut Worker, line: &str) {
    // A write error means the worker is gone; its EOF reports what was lost.
    let _ = worker.commands.write_all(line.as_bytes());
    let _ = worker.commands.flush();
}

fn kill_all(workers: &mut [Option<Worker>]) {
    for w in workers.iter_mut().flatten() {
        w.process.kill();
        w.process.wait();
    }
}

fn describe_status(status: Option<std::process::ExitStatus>) -> String {
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (_, Some(sig)) => format!("killed by signal {sig}{}", signal_name(sig)),
            (Some(code), _) => format!("exit code {code}"),
            _ => "unknown exit status".into(),
        },
        None => "exit status unavailable".into(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

/// The last output of the test a worker was running (capped, from its capture files).
fn read_capture(prefix: &std::path::Path) -> Vec<(String, String)> {
    const TAIL: u64 = 64 * 1024;
    let mut out = Vec::new();
    for (ext, title) in [("out", "stdout"), ("err", "stderr")] {
        let path = prefix.with_extension(ext);
        if let Ok(mut f) = std::fs::File::open(&path) {
            use std::io::{Read, Seek, SeekFrom};
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len > TAIL {
                let _ = f.seek(SeekFrom::Start(len - TAIL));
            }
            let mut buf = Vec::new();
            let _ = f.read_to_end(&mut buf);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if !text.is_empty() {
                out.push((format!("Captured {title} call"), text));
            }
        }
    }
    out
}

/// A worker process started, not yet tracked by a pool (see `attach`).
struct Started {
    process: WorkerProcess,
    commands: std::io::PipeWriter,
    events: std::io::PipeReader,
    capture_prefix: PathBuf,
}

/// What a worker process is started with; a pre-started worker is used only when the
/// run's pool would have started it the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StartKey {
    python: PathBuf,
    harness: PathBuf,
    cwd: PathBuf,
    capture_dir: PathBuf,
    interactive: bool,
}

impl StartKey {
    fn of(config: &PoolConfig) -> Self {
        StartKey {
            python: config.python.clone(),
            harness: config.harness.clone(),
            cwd: config.cwd.clone(),
            capture_dir: config.capture_dir.clone(),
            interactive: config.interactive,
        }
    }
}

/// The first worker, started before the run knows what it will run (the cli starts it
/// beside a Python collection), so the interpreter's start and `import pytest` overlap
/// that work. `run_pool` adopts it as worker 0 when its configuration matches;
/// otherwise, or when nothing runs, dropping it kills it.
pub struct Prestarted {
    key: StartKey,
    started: Option<Started>,
}

impl Prestarted {
    /// Starts worker 0 of a pool with this configuration (its `workers`, `timeout`
    /// do not matter here). None when it cannot start (the pool will say why).
    pub fn start(config: &PoolConfig) -> Option<Self> {
        let started = start_process(config, 0, 1).ok()?;
        Some(Prestarted {
            key: StartKey::of(config),
            started: Some(started),
        })
    }

    /// The process, unless it has exited meanwhile (a worker started ahead by `fastest
    /// watch` can wait for minutes: killed by the OOM killer or by hand, it is not used).
    fn take_alive(&mut self) -> Option<Started> {
        let mut started = self.started.take()?;
        started.process.is_alive().then_some(started)
    }
}

impl Drop for Prestarted {
    fn drop(&mut self) {
        if let Some(mut started) = self.started.take() {
            started.process.kill();
            started.process.wait();
        }
    }
}

fn spawn(config: &PoolConfig, idx: usize, generation: u64) -> Result<Worker, PoolError> {
    Ok(attach(start_process(config, idx, generation)?, generation))
}

fn start_process(config: &PoolConfig, idx: usize, generation: u64) -> Result<Started, PoolError> {
    let pipes = || -> Result<_, PoolError> {
        let (cmd_read, cmd_write) = std::io::pipe().map_err(PoolError::Pipe)?;
        let (event_read, event_write) = std::io::pipe().map_err(PoolError::Pipe)?;
        Ok((cmd_read, cmd_write, event_read, event_write))
    };
    let _ = std::fs::create_dir_all(&config.capture_dir);
    let capture_prefix = config.capture_dir.join(format!("worker{idx}-{generation}"));
    let worker_env: [(&str, std::ffi::OsString); 5] = [
        ("FASTEST_CMD_FD", CMD_FD.to_string().into()),
        ("FASTEST_EVENT_FD", EVENT_FD.to_string().into()),
        (
            "FASTEST_HARNESS_DIR",
            config.harness.clone().into_os_string(),
        ),
        ("FASTEST_WORKER", idx.to_string().into()),
        // `PYTEST_XDIST_WORKER_COUNT` comes with the configuration (`WorkerConfig`).
        ("PYTEST_XDIST_WORKER", format!("gw{idx}").into()),
    ];
    let (mut cmd_read, mut cmd_write, mut event_read, mut event_write) = pipes()?;
    let process = match forked(config, &worker_env, &cmd_read, &event_write) {
        Some(worker) => WorkerProcess::Forked(worker),
        None => {
            // New pipes: a preloader that answers late still forks a worker on the
            // first ones (its request is in the socket's queue); that one then finds
            // its command pipe closed and exits, and never shares these.
            if config.preload.is_some() {
                (cmd_read, cmd_write, event_read, event_write) = pipes()?;
            }
            WorkerProcess::Spawned(spawned(config, &worker_env, &cmd_read, &event_write)?)
        }
    };
    drop(cmd_read);
    drop(event_write);
    Ok(Started {
        process,
        commands: cmd_write,
        events: event_read,
        capture_prefix,
    })
}

/// A worker from the project's preloader, when one answers (never for a worker that
/// shares the terminal, nor under the profiler, which wraps the worker's start).
fn forked(
    config: &PoolConfig,
    worker_env: &[(&str, std::ffi::OsString)],
    cmd_read: &std::io::PipeReader,
    event_write: &std::io::PipeWriter,
) -> Option<ForkedWorker> {
    let socket = config.preload.as_ref()?;
    if config.interactive || std::env::var_os("FASTEST_PROFILE").is_some() {
        return None;
    }
    let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
        .filter(|(k, _)| !worker_env.iter().any(|(name, _)| k == name))
        .collect();
    env.extend(worker_env.iter().map(|(k, v)| ((*k).into(), v.clone())));
    let devnull = std::fs::File::open("/dev/null").ok()?;
    let fds = WorkerFds {
        stdin: devnull.as_raw_fd(),
        stdout: 1,
        stderr: 2,
        commands: cmd_read.as_raw_fd(),
        events: event_write.as_raw_fd(),
    };
    crate::preload::fork_worker(socket, &config.cwd, &env, &fds).ok()
}

fn spawned(
    config: &PoolConfig,
    worker_env: &[(&str, std::ffi::OsString)],
    cmd_read: &std::io::PipeReader,
    event_write: &std::io::PipeWriter,
) -> Result<Child, PoolError> {
    let cmd_fd = cmd_read.as_raw_fd();
    let event_fd = event_write.as_raw_fd();
    let mut command = Command::new(&config.python);
    command
        .arg("-c")
        .arg("import sys; sys.path.insert(0, sys.argv[1]); from fastest_harness.worker import profiled_main; profiled_main()")
        .arg(&config.harness)
        .current_dir(&config.cwd)
        .envs(worker_env.iter().map(|(k, v)| (k, v)))
        .stdin(if config.interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    if !config.interactive {
        // Workers ignore the terminal's Ctrl-C; the runner stops them itself. (An
        // interactive worker stays in the terminal's foreground group: a background
        // process reading the terminal would be stopped by SIGTTIN.)
        command.process_group(0);
    }
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let a = libc::fcntl(cmd_fd, libc::F_DUPFD, 10);
            let b = libc::fcntl(event_fd, libc::F_DUPFD, 10);
            if a < 0 || b < 0 || libc::dup2(a, CMD_FD) < 0 || libc::dup2(b, EVENT_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(a);
            libc::close(b);
            Ok(())
        });
    }
    command.spawn().map_err(|source| PoolError::Spawn {
        python: config.python.clone(),
        source,
    })
}

/// A started worker as the pool tracks it; its events are read by `read_events`.
fn attach(started: Started, generation: u64) -> Worker {
    let Started {
        process,
        commands,
        events,
        capture_prefix,
    } = started;
    Worker {
        process,
        commands,
        events,
        inbox: Vec::new(),
        scanned: 0,
        at_eof: false,
        generation,
        assigned: VecDeque::new(),
        last_deps: None,
        deps_bases: Default::default(),
        current: None,
        busy_since: None,
        timed_out: false,
        ready: false,
        imported: false,
        runs_queued: 0,
        capture_prefix,
        respawns: 0,
    }
}

/// Waits up to `timeout_ms` for events from any worker and queues every complete line
/// read (and `Eof` after a worker's last line). One thread polls all event pipes: a
/// reader thread per worker, handing each line over a channel, cost two wake-ups per
/// test, half of the runner's CPU on suites of short tests.
fn read_events(
    workers: &mut [Option<Worker>],
    pending: &mut VecDeque<(usize, u64, Msg)>,
    chunk: &mut [u8],
    timeout_ms: i32,
) {
    let mut polled: Vec<(usize, libc::pollfd)> = workers
        .iter()
        .enumerate()
        .filter_map(|(idx, w)| w.as_ref().filter(|w| !w.at_eof).map(|w| (idx, w)))
        .map(|(idx, w)| {
            let fd = libc::pollfd {
                fd: w.events.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            (idx, fd)
        })
        .collect();
    if polled.is_empty() {
        std::thread::sleep(Duration::from_millis(timeout_ms as u64));
        return;
    }
    let mut fds: Vec<libc::pollfd> = polled.iter().map(|(_, fd)| *fd).collect();
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if ready <= 0 {
        return; // timed out, or interrupted by a signal: the caller checks and comes back
    }
    for ((idx, _), fd) in polled.iter_mut().zip(&fds) {
        if fd.revents == 0 {
            continue;
        }
        let worker = workers[*idx].as_mut().expect("polled workers are present");
        let read = std::io::Read::read(&mut worker.events, chunk);
        let received = Instant::now();
        match read {
            Ok(0) => {}
            Ok(n) => {
                worker.inbox.extend_from_slice(&chunk[..n]);
                let mut start = 0;
                let mut from = worker.scanned;
                while let Some(end) = worker.inbox[from..].iter().position(|&b| b == b'\n') {
                    let end = from + end;
                    let line = String::from_utf8_lossy(&worker.inbox[start..end])
                        .trim_end()
                        .to_string();
                    pending.push_back((*idx, worker.generation, Msg::Line(line, received)));
                    start = end + 1;
                    from = start;
                }
                worker.inbox.drain(..start);
                worker.scanned = worker.inbox.len();
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {}
        }
        // The pipe is closed: the worker exited (or closed it). A last line without a
        // newline still counts.
        worker.at_eof = true;
        if !worker.inbox.is_empty() {
            let line = String::from_utf8_lossy(&worker.inbox)
                .trim_end()
                .to_string();
            worker.inbox.clear();
            pending.push_back((*idx, worker.generation, Msg::Line(line, received)));
        }
        pending.push_back((*idx, worker.generation, Msg::Eof));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[cfg(target_os = "linux")]
    #[test]
    fn fits_in_pipe_counts_what_is_unread() {
        let (_reader, mut writer) = std::io::pipe().unwrap();
        // SAFETY: fcntl on the pipe's open write end.
        let capacity = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_GETPIPE_SZ) } as usize;
        assert!(fits_in_pipe(&writer, capacity));
        assert!(!fits_in_pipe(&writer, capacity + 1));
        writer.write_all(&vec![b'x'; capacity - 100]).unwrap();
        assert!(fits_in_pipe(&writer, 100));
        assert!(!fits_in_pipe(&writer, 101));
    }
}
