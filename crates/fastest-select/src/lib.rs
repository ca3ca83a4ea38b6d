//! Selection stage: what each test depended on, the content-addressed key of its result,
//! and whether it must run.
//!
//! A test's record points at a *dependency set* (interned by digest: parametrized tests
//! share one): every dependency with the hash it had when the test ran. The result key
//! is `blake3(nodeid, digest of the set with current hashes)`; passing results are
//! stored under it, so a tree whose content matches any earlier passing run (another
//! branch, another machine with the same `.fastest_cache`) is a hit. Failures are never
//! cached. See `cache_schema/README.md` for the trees.
//!
//! Rechecking a recorded set is a salsa query (`recheck`) over the graph's database:
//! each code-block dependency reads its file's `SourceFile` input through `file_blocks`,
//! every other dependency a `DepState` input holding its current hash. Changes enter in
//! one place (`Selector::new_revision`), so after a change only the sets that read a
//! changed input are checked again.

use fastest_cache::{digest, Cache, Digest};
use fastest_discovery::blocks::MODULE_BLOCK;
use fastest_graph::{file_blocks, GraphDb, SourceFile};
use fastest_protocol::TestDeps;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The runner hashes every dependency of every finished test: Fx, not SipHash (the keys
/// are paths and names the project holds, not attacker input).
type HashMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Bumped when what a dependency set means changes; part of every key.
pub const SELECT_VERSION: u32 = 3;

pub const TREE_RESULTS: &str = "results";
pub const TREE_DEPSETS: &str = "depsets";
/// The digests of the stored `depsets`, with empty values: whether a set is stored is
/// asked for every finished test, and a lookup in `depsets` itself reads its nodes'
/// large values (a test's set is kilobytes) from disk.
pub const TREE_DEPSET_KEYS: &str = "depset_keys";
pub const TREE_PASSES: &str = "passes";
/// Garbage-collection bookkeeping: `SETS_SINCE_GC` → sets stored since the last one (u64).
pub const TREE_GC: &str = "gc";
const SETS_SINCE_GC: &[u8] = b"sets since gc";
/// A run that brings the sets stored since the last collection to this many collects
/// the sets no record reaches (`Selector::collect_garbage_if_due`).
pub const GC_AFTER_SETS: u64 = 5_000;

/// `summary_key(set digest)` → the set's `DepSetSummary`.
pub const TREE_DEPSET_SUMMARIES: &str = "depset_summaries";

/// Where a set's summary is stored: its digest with the versions of how hashes are made
/// (`SELECT_VERSION` for dependencies, `BLOCKS_VERSION` for code blocks). A summary says
/// "with these contents the set's hashes are the recorded ones" as the binary that wrote
/// it computed them; a binary that hashes differently must not trust it.
fn summary_key(set: &Digest) -> Digest {
    digest(&[
        b"depset summary",
        &SELECT_VERSION.to_le_bytes(),
        &fastest_discovery::blocks::BLOCKS_VERSION.to_le_bytes(),
        set,
    ])
}

/// One thing a test depended on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Dep {
    /// A function body (`qualname`) or a module's top level (`<module>`) of a project file.
    Block { file: String, name: String },
    /// A project file the test opened (content; missing counts).
    File(String),
    /// A project directory it listed (the names in it).
    Dir(String),
    /// A project path it stat'ed (`os.path.exists` ...): whether it is a file, a dir, or missing.
    Stat(String),
    /// An environment variable it read.
    Env(String),
    /// Interpreter, platform, installed distributions, config files, options.
    Environment,
}

impl Dep {
    /// Appends the dependency's identity to `buf`: a kind byte, then each field with
    /// its length (no text formatting: this runs for every dependency of every test).
    fn encode_into(&self, buf: &mut Vec<u8>) {
        let (tag, fields): (u8, [Option<&str>; 2]) = match self {
            Dep::Block { file, name } => (b'B', [Some(file), Some(name)]),
            Dep::File(p) => (b'F', [Some(p), None]),
            Dep::Dir(p) => (b'D', [Some(p), None]),
            Dep::Stat(p) => (b'S', [Some(p), None]),
            Dep::Env(k) => (b'V', [Some(k), None]),
            Dep::Environment => (b'E', [None, None]),
        };
        buf.push(tag);
        for s in fields.into_iter().flatten() {
            buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

impl std::fmt::Display for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dep::Block { file, name } if name == MODULE_BLOCK => {
                write!(f, "module-level code of {file}")
            }
            Dep::Block { file, name } => write!(f, "function {name} in {file}"),
            Dep::File(p) => write!(f, "file {p}"),
            Dep::Dir(p) => write!(f, "directory listing of {p}"),
            Dep::Stat(p) => write!(f, "existence of {p}"),
            Dep::Env(k) => write!(f, "environment variable {k}"),
            Dep::Environment => write!(
                f,
                "environment (interpreter, installed packages, config, options)"
            ),
        }
    }
}

/// A dependency set: each dependency with its hash at the time it was recorded, and
/// the set it extends. Tests under the same nodes share a base (what their module,
/// class and fixtures ran); each test's set names that base as its `parent` and holds
/// only what the test added, so a base is hashed and stored once, not once per test.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DepSet {
    /// The digest of the set this one extends (its dependencies count as this set's).
    pub parent: Option<Digest>,
    pub deps: Vec<(Dep, Digest)>,
}

impl DepSet {
    pub fn digest(&self) -> Digest {
        // One buffer, hashed once: blake3 costs per `update` call, and a set has
        // hundreds of short fields (the digest is that of the same bytes either way).
        let mut buf = Vec::with_capacity(self.deps.len() * 96 + 41);
        buf.extend_from_slice(&SELECT_VERSION.to_le_bytes());
        // The parent's digest stands for its whole content (its deps and their hashes).
        if let Some(parent) = &self.parent {
            buf.push(b'P');
            buf.extend_from_slice(parent);
        }
        for (dep, hash) in &self.deps {
            dep.encode_into(&mut buf);
            buf.extend_from_slice(hash);
        }
        *blake3::hash(&buf).as_bytes()
    }
}

/// What a stored set's hashes follow from: the content hash of each project file its
/// blocks and file reads are in, and its other dependencies (listings, stats,
/// variables, the environment, paths that are not files) with their hashes. While
/// every one still holds, and the parent's summary does, each hash in the set is the
/// one recorded, so a verdict needs neither the set (hundreds of block names) nor its
/// recheck. Made only from hashes known current in one revision: when a recheck found
/// the set unchanged (`Selector::verdict`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DepSetSummary {
    pub parent: Option<Digest>,
    pub files: Vec<(String, Digest)>,
    pub others: Vec<(Dep, Digest)>,
}

/// The last recorded run of a test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestRecord {
    pub depset: Digest,
    /// Failed, errored or crashed: it runs again until it passes.
    pub failed: bool,
    /// Passed (not skipped, not xfailed): a pass is stored under its key.
    pub passed: bool,
    pub duration: f64,
}

/// Whether a duration measured now is close enough to the stored one (within 20 % or
/// 5 ms) that the store need not be rewritten: durations only order the scheduling.
pub fn near_duration(now: f64, stored: f64) -> bool {
    (now - stored).abs() <= (0.2 * stored).max(0.005)
}

impl TestRecord {
    /// The same set and outcome, and a duration near `other`'s (so a rerun need not
    /// rewrite it).
    pub fn same_result(&self, other: &TestRecord) -> bool {
        self.depset == other.depset
            && self.failed == other.failed
            && self.passed == other.passed
            && near_duration(self.duration, other.duration)
    }
}

/// A stored passing result, under its result key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CachedPass {
    pub duration: f64,
}

/// Whether a test must run, and why.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A passing result exists under the test's current key.
    Cached { duration: f64 },
    /// Never recorded.
    New,
    /// Its last run failed (failures are never cached).
    Failed,
    /// These dependencies changed since the last recorded run.
    Changed(Vec<Dep>),
    /// Nothing changed, but there is no pass to reuse (it was skipped or xfailed):
    /// `--changed` leaves it out, a plain run runs it.
    Unchanged,
}

impl Verdict {
    /// Whether `fastest run --changed` runs it.
    pub fn affected(&self) -> bool {
        matches!(self, Verdict::New | Verdict::Failed | Verdict::Changed(_))
    }
}

pub fn result_key(nodeid: &str, depset: &Digest) -> Digest {
    digest(&[b"result", nodeid.as_bytes(), depset])
}

/// Sets extend at most one base today; a longer chain of parents is a corrupt cache.
const MAX_CHAIN: usize = 8;

/// Dependency sets longer than this are rechecked in parallel.
const PARALLEL_RECHECK: usize = 256;

/// Hashes the current state of dependencies (memoized: many tests share files).
pub struct Selector {
    cache: Arc<Cache>,
    graph: Arc<GraphDb>,
    rootdir: PathBuf,
    environment: Digest,
    /// When this run started (see `RACY`).
    started: std::time::SystemTime,
    memo: Mutex<HashMap<Dep, Digest>>,
    depsets: Mutex<HashMap<Digest, Option<Arc<DepSet>>>>,
    /// Each dependency that is not a code block, as a salsa input.
    states: Mutex<HashMap<Dep, DepState>>,
    /// Recorded set digest → the set as a salsa input (its dependencies resolved).
    sets: Mutex<HashMap<Digest, RecordedSet>>,
    /// Rootdir-relative path → its file input, in this revision.
    sources: Mutex<HashMap<String, SourceFile>>,
    /// `Arc<TestDeps>` address → its set's digest (the Arc is kept so the address
    /// cannot be reused).
    interned: Mutex<HashMap<usize, Interned>>,
    /// File → the latest time a stat found it unmodified since `started`: a test that
    /// finished before then needs no stat of it (see `record_finished_by`).
    unmodified_until: Mutex<HashMap<String, std::time::Instant>>,
    /// Digests of the sets this process recorded (and stored, unless stored before).
    stored_sets: Mutex<rustc_hash::FxHashSet<Digest>>,
    /// Sets this process stored (not stored before): counted towards the next collection.
    sets_written: std::sync::atomic::AtomicU64,
    /// Set digest → whether its stored summary (and its parents') holds, this revision.
    summaries_hold: Mutex<HashMap<Digest, bool>>,
}

/// A recorded `TestDeps` whose set was hashed (see `Selector::depset_digest`).
struct Interned {
    /// Kept so the `Arc`'s address, the map's key, cannot be reused.
    _keep: Arc<TestDeps>,
    digest: Digest,
    parent: Option<Digest>,
    /// The digest holds for tests that finished by then (its files known unmodified).
    valid_until: std::time::Instant,
}

const MISSING: Digest = [0u8; 32];

/// Recorded for a file modified after the run started: the test may have run either
/// version, so the recorded set must never match again.
const RACY: Digest = [0xffu8; 32];

/// Directory entries left out of listing hashes (written by test runs themselves).
const TOOL_DIRS: &[&str] = &[
    "__pycache__",
    ".pytest_cache",
    ".fastest_cache",
    ".hypothesis",
];

impl Selector {
    /// `environment`: the digest of everything global (see `environment_digest`).
    pub fn new(
        cache: Arc<Cache>,
        graph: Arc<GraphDb>,
        rootdir: &Path,
        environment: Digest,
    ) -> Self {
        Selector {
            cache,
            graph,
            rootdir: rootdir.to_path_buf(),
            environment,
            started: std::time::SystemTime::now(),
            memo: Mutex::new(HashMap::default()),
            depsets: Mutex::new(HashMap::default()),
            states: Mutex::new(HashMap::default()),
            sets: Mutex::new(HashMap::default()),
            sources: Mutex::new(HashMap::default()),
            interned: Mutex::new(HashMap::default()),
            unmodified_until: Mutex::new(HashMap::default()),
            stored_sets: Mutex::new(Default::default()),
            summaries_hold: Mutex::new(Default::default()),
            sets_written: Default::default(),
        }
    }

    /// The current hash of one dependency.
    pub fn current(&self, dep: &Dep) -> Digest {
        if let Some(h) = self.memo.lock().get(dep) {
            return *h;
        }
        let h = match dep {
            Dep::Block { file, name } => self
                .graph
                .blocks(&self.rootdir.join(file))
                .and_then(|b| b.block(name))
                .unwrap_or(MISSING),
            Dep::File(p) => {
                let path = self.rootdir.join(p);
                if let Some(hash) = self.graph.revision_hash(&path) {
                    digest(&[b"file", &hash])
                } else if path.is_dir() {
                    digest(&[b"dir"])
                } else {
                    MISSING
                }
            }
            Dep::Dir(p) => match std::fs::read_dir(self.rootdir.join(p)) {
                Ok(rd) => {
                    // Caches written by the run itself would make every listing change.
                    let names: BTreeSet<String> = rd
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !TOOL_DIRS.contains(&n.as_str()))
                        .collect();
                    let joined = names.into_iter().collect::<Vec<_>>().join("\0");
                    digest(&[b"listing", joined.as_bytes()])
                }
                Err(_) => MISSING,
            },
            Dep::Stat(p) => {
                let path = self.rootdir.join(p);
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => digest(&[b"is-dir"]),
                    Ok(_) => digest(&[b"is-file"]),
                    Err(_) => MISSING,
                }
            }
            Dep::Env(k) => match std::env::var_os(k) {
                Some(v) => digest(&[b"env", v.as_encoded_bytes()]),
                None => MISSING,
            },
            Dep::Environment => self.environment,
        };
        self.memo.lock().insert(dep.clone(), h);
        h
    }

    /// Whether a file dependency changed on disk after the run started, as far as a test
    /// that finished by `finished_by` could have seen: a stat made after that time which
    /// found the file unmodified answers for it, so a runner that reads finished tests
    /// behind its workers stats each file once per batch, not once per test.
    fn modified_during_run(&self, path: &str, finished_by: std::time::Instant) -> bool {
        self.known_unmodified_until(path, finished_by).is_none()
    }

    /// As `modified_during_run`, answered with the time until which the file is known
    /// unmodified (at least `finished_by`), or `None` when it was modified.
    fn known_unmodified_until(
        &self,
        path: &str,
        finished_by: std::time::Instant,
    ) -> Option<std::time::Instant> {
        if let Some(&until) = self.unmodified_until.lock().get(path) {
            if until >= finished_by {
                return Some(until);
            }
        }
        // Taken before the stat: the file is known unmodified at least until then.
        let now = std::time::Instant::now();
        let modified = std::fs::metadata(self.rootdir.join(path))
            .and_then(|m| m.modified())
            .is_ok_and(|m| m >= self.started);
        if modified {
            return None;
        }
        self.unmodified_until.lock().insert(path.to_string(), now);
        Some(now)
    }

    /// The dependency list of a test from what its worker recorded, plus what is always
    /// implied: the top level of every file whose code ran, and the environment (in the
    /// root set of a chain: a set with a parent has it through the parent).
    pub fn deps_of(&self, recorded: &TestDeps) -> Vec<Dep> {
        // Sorted and deduplicated as a BTreeSet would give them (the stored order).
        let mut deps: Vec<Dep> = Vec::with_capacity(
            2 + recorded.blocks.len() * 2
                + recorded.files.len()
                + recorded.dirs.len()
                + recorded.stats.len()
                + recorded.env.len(),
        );
        // Workers send a test's additions in set order (a base sorted): sorted as text
        // here, a file's blocks (`file::name`, sharing the prefix `file::`) are adjacent,
        // so each file gets one `<module>`.
        let mut blocks: Vec<&str> = recorded.blocks.iter().map(String::as_str).collect();
        if !blocks.is_sorted() {
            blocks.sort_unstable();
        }
        let mut last_file: Option<&str> = None;
        for b in blocks {
            let (file, name) = b.rsplit_once("::").unwrap_or((b, MODULE_BLOCK));
            if last_file != Some(file) {
                last_file = Some(file);
                deps.push(Dep::Block {
                    file: file.to_string(),
                    name: MODULE_BLOCK.to_string(),
                });
            }
            if name != MODULE_BLOCK {
                deps.push(Dep::Block {
                    file: file.to_string(),
                    name: name.to_string(),
                });
            }
        }
        deps.extend(recorded.files.iter().cloned().map(Dep::File));
        deps.extend(recorded.dirs.iter().cloned().map(Dep::Dir));
        deps.extend(recorded.stats.iter().cloned().map(Dep::Stat));
        deps.extend(recorded.env.iter().cloned().map(Dep::Env));
        if recorded.parent.is_none() {
            deps.push(Dep::Environment);
        }
        // Often built in `Dep`'s order already (`<module>` sorts before any identifier,
        // a base's lists arrive sorted); checking is cheaper than sorting.
        if !deps.is_sorted() {
            deps.sort_unstable();
        }
        deps.dedup();
        deps
    }

    /// Records a finished test. Passing results are stored under their key; returns the
    /// digest of its dependency set.
    pub fn record(
        &self,
        nodeid: &str,
        recorded: &Arc<TestDeps>,
        failed: bool,
        passed: bool,
        duration: f64,
    ) -> Digest {
        self.record_finished_by(
            nodeid,
            recorded,
            failed,
            passed,
            duration,
            std::time::Instant::now(),
        )
    }

    /// As `record`, for a test known to have finished by `finished_by` (when its
    /// worker's message was read): file stats made after that time are reused.
    pub fn record_finished_by(
        &self,
        nodeid: &str,
        recorded: &Arc<TestDeps>,
        failed: bool,
        passed: bool,
        duration: f64,
        finished_by: std::time::Instant,
    ) -> Digest {
        let set_digest = self.depset_digest(recorded, finished_by);
        let record = TestRecord {
            depset: set_digest,
            failed,
            passed,
            duration,
        };
        let stored = self
            .cache
            .get::<TestRecord>(TREE_RESULTS, nodeid.as_bytes());
        if passed && !failed {
            // A pass under this key stays valid whatever duration it was stored with.
            // Written before the record: a record that says "passed with this set" was
            // preceded by the pass (sled recovers a prefix of its log), so then the pass
            // need not be looked up (a lookup that reads a page from disk per test).
            let stored_with_this_pass = stored
                .as_ref()
                .is_some_and(|old| old.passed && !old.failed && old.depset == set_digest);
            let key = result_key(nodeid, &set_digest);
            if !stored_with_this_pass && !self.cache.contains(TREE_PASSES, &key) {
                self.cache.put(TREE_PASSES, &key, &CachedPass { duration });
            }
        }
        // A record differing only by a nearby duration is not written again (a rerun of
        // unchanged tests would otherwise rewrite every record, for its duration alone).
        if !stored.is_some_and(|old| old.same_result(&record)) {
            self.cache.put(TREE_RESULTS, nodeid.as_bytes(), &record);
        }
        set_digest
    }

    /// The result key of `nodeid`'s stored pass when its dependencies are unchanged
    /// (what `verdict` calls `Cached`), for values stored beside the pass.
    pub fn cached_result_key(&self, nodeid: &str) -> Option<Digest> {
        let rec = self
            .cache
            .get::<TestRecord>(TREE_RESULTS, nodeid.as_bytes())?;
        let (now, _) = self.current_digest(&rec)?;
        let key = result_key(nodeid, &now);
        self.cache.get::<CachedPass>(TREE_PASSES, &key).map(|_| key)
    }

    /// A test that ran but could not report its dependencies (crashed, timed out, not
    /// found): it must run next time.
    pub fn mark_failed(&self, nodeid: &str) {
        if let Some(mut rec) = self
            .cache
            .get::<TestRecord>(TREE_RESULTS, nodeid.as_bytes())
        {
            rec.failed = true;
            rec.passed = false;
            self.cache.put(TREE_RESULTS, nodeid.as_bytes(), &rec);
        }
    }

    /// Interns the dependency set of `recorded` (workers share one `Arc` between tests
    /// with identical dependencies, and one parent `Arc` between the tests of a base, so
    /// each set is hashed once) and stores it unless stored before.
    fn depset_digest(&self, recorded: &Arc<TestDeps>, finished_by: std::time::Instant) -> Digest {
        let parent = recorded
            .parent
            .as_ref()
            .map(|p| self.depset_digest(p, finished_by));
        let ptr = Arc::as_ptr(recorded) as usize;
        let interned = self
            .interned
            .lock()
            .get(&ptr)
            .map(|i| (i.digest, i.parent, i.valid_until));
        if let Some((d, interned_parent, valid_until)) = interned {
            if interned_parent == parent {
                if finished_by <= valid_until {
                    return d;
                }
                // The same set as an earlier test's: still its digest unless one of its
                // files changed since that test (then this one may have read the new
                // content). Known unmodified until the earliest answer.
                if let Some(until) = self.own_files_unmodified_until(recorded, finished_by) {
                    if let Some(i) = self.interned.lock().get_mut(&ptr) {
                        i.valid_until = until;
                    }
                    return d;
                }
            }
        }
        let deps = self.deps_of(recorded);
        // The memoized hashes under one lock; the others computed after it.
        let mut hashes: Vec<Option<Digest>> = {
            let memo = self.memo.lock();
            deps.iter().map(|d| memo.get(d).copied()).collect()
        };
        // A file's blocks are adjacent in the sorted list: asked once per run of them
        // (`modified_during_run` remembers its answers for the rest).
        let mut last: Option<(&str, bool)> = None;
        for (d, h) in deps.iter().zip(hashes.iter_mut()) {
            let racy = match d {
                Dep::Block { file, .. } | Dep::File(file) => match last {
                    Some((f, racy)) if f == file.as_str() => racy,
                    _ => {
                        let racy = self.modified_during_run(file, finished_by);
                        last = Some((file.as_str(), racy));
                        racy
                    }
                },
                _ => false,
            };
            if racy {
                *h = Some(RACY);
            } else if h.is_none() {
                *h = Some(self.current(d));
            }
        }
        let hashes: Vec<Digest> = hashes.into_iter().map(|h| h.unwrap_or(MISSING)).collect();
        let set = DepSet {
            parent,
            deps: deps.into_iter().zip(hashes).collect(),
        };
        let d = set.digest();
        // Not kept in memory (`depset` reads it back if asked): a run records a set per
        // test, most of them never read again in the same run.
        if self.stored_sets.lock().insert(d)
            && !self.depsets.lock().contains_key(&d)
            && !self.cache.contains(TREE_DEPSET_KEYS, &d)
        {
            // Stored by an earlier run: not serialised again.
            self.cache.put(TREE_DEPSETS, &d, &set);
            self.cache.put(TREE_DEPSET_KEYS, &d, &());
            self.sets_written
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.interned.lock().insert(
            ptr,
            Interned {
                _keep: recorded.clone(),
                digest: d,
                parent,
                valid_until: finished_by,
            },
        );
        d
    }

    /// The earliest time until which every file of `recorded`'s own lists is known
    /// unmodified (at least `finished_by`), or `None` when one was modified.
    fn own_files_unmodified_until(
        &self,
        recorded: &TestDeps,
        finished_by: std::time::Instant,
    ) -> Option<std::time::Instant> {
        let files = recorded
            .blocks
            .iter()
            .map(|b| b.rsplit_once("::").map_or(b.as_str(), |(file, _)| file))
            .chain(recorded.files.iter().map(String::as_str));
        let mut checked: rustc_hash::FxHashSet<&str> = Default::default();
        let mut earliest: Option<std::time::Instant> = None;
        for f in files.filter(|f| checked.insert(f)) {
            let until = self.known_unmodified_until(f, finished_by)?;
            earliest = Some(earliest.map_or(until, |e| e.min(until)));
        }
        Some(earliest.unwrap_or(finished_by).max(finished_by))
    }

    fn depset(&self, d: &Digest) -> Option<Arc<DepSet>> {
        if let Some(s) = self.depsets.lock().get(d) {
            return s.clone();
        }
        let s = self.cache.get::<DepSet>(TREE_DEPSETS, d).map(Arc::new);
        self.depsets.lock().insert(*d, s.clone());
        s
    }

    /// The digest of a recorded set's dependencies with their current hashes, and the
    /// dependencies whose hash changed (the `recheck` query on the set's input).
    /// `None` when a set it extends is not stored (cleared or corrupt): unknown.
    fn recheck(&self, d: &Digest, set: &Arc<DepSet>) -> Option<(Digest, Vec<Dep>)> {
        let input = self.set_input(d, set, 0)?;
        Some(self.graph.with_db(|db| {
            let r = recheck(db, input);
            (r.now, r.changed.clone())
        }))
    }

    /// The salsa input of a recorded set: each dependency resolved to the input it reads
    /// (created with the current state where new), and the input of its parent. `None`
    /// when a parent set is missing, or the chain is implausibly deep (a corrupt entry
    /// naming itself).
    fn set_input(&self, d: &Digest, set: &Arc<DepSet>, depth: usize) -> Option<RecordedSet> {
        if let Some(s) = self.sets.lock().get(d) {
            return Some(*s);
        }
        let parent = match &set.parent {
            Some(_) if depth >= MAX_CHAIN => return None,
            Some(p) => Some(self.set_input(p, &self.depset(p)?, depth + 1)?),
            None => None,
        };
        let resolve = |(dep, _): &(Dep, Digest)| match dep {
            Dep::Block { file, .. } => DepSource::Block(self.source(file)),
            _ => DepSource::State(self.state_input(dep)),
        };
        // A whole-session collection can depend on thousands of files (custom collectors
        // reading data files): their states are read on every core.
        let sources: Vec<DepSource> = if set.deps.len() > PARALLEL_RECHECK {
            use rayon::prelude::*;
            set.deps.par_iter().map(resolve).collect()
        } else {
            set.deps.iter().map(resolve).collect()
        };
        let mut sets = self.sets.lock();
        Some(*sets.entry(*d).or_insert_with(|| {
            self.graph
                .with_db(|db| RecordedSet::new(db, set.clone(), sources, *d, parent))
        }))
    }

    /// The input of a project file (rootdir-relative), read once per revision.
    fn source(&self, file: &str) -> SourceFile {
        if let Some(f) = self.sources.lock().get(file) {
            return *f;
        }
        let f = self.graph.file(&self.rootdir.join(file));
        self.sources.lock().insert(file.to_string(), f);
        f
    }

    /// The input holding a (non-block) dependency's current hash.
    fn state_input(&self, dep: &Dep) -> DepState {
        if let Some(s) = self.states.lock().get(dep) {
            return *s;
        }
        let hash = self.current(dep);
        *self.states.lock().entry(dep.clone()).or_insert_with(|| {
            self.graph
                .with_db(|db| DepState::new(db, dep.clone(), hash))
        })
    }

    /// Where changes enter: forgets this revision's file contents and hashes, reads
    /// every file and dependency state seen so far again, and sets the inputs that
    /// changed (for a process that outlives one run; a run is one revision).
    pub fn new_revision(&self) {
        use salsa::Setter;
        self.graph.new_revision();
        self.memo.lock().clear();
        self.interned.lock().clear();
        self.sources.lock().clear();
        self.summaries_hold.lock().clear();
        self.graph.refresh_files();
        let states: Vec<(Dep, DepState)> = self
            .states
            .lock()
            .iter()
            .map(|(d, s)| (d.clone(), *s))
            .collect();
        for (dep, state) in states {
            let now = self.current(&dep);
            self.graph.with_db_mut(|db| {
                if *state.hash(db) != now {
                    state.set_hash(db).to(now);
                }
            });
        }
    }

    /// Whether `nodeid` must run.
    pub fn verdict(&self, nodeid: &str) -> Verdict {
        let Some(rec) = self
            .cache
            .get::<TestRecord>(TREE_RESULTS, nodeid.as_bytes())
        else {
            return Verdict::New;
        };
        self.verdict_of(nodeid, &rec)
    }

    /// `verdict(nodeid).affected()`, what `run --changed` asks of every test, without
    /// reading the stored pass when the record says the test passed with exactly its
    /// current set: `record_finished_by` writes that pass before such a record, so the
    /// verdict would be `Cached` (one cache read less per unaffected test).
    pub fn affected(&self, nodeid: &str) -> bool {
        let Some(rec) = self
            .cache
            .get::<TestRecord>(TREE_RESULTS, nodeid.as_bytes())
        else {
            return true;
        };
        if rec.passed && !rec.failed && self.summary_holds(&rec.depset, 0) {
            return false;
        }
        self.verdict_of(nodeid, &rec).affected()
    }

    fn verdict_of(&self, nodeid: &str, rec: &TestRecord) -> Verdict {
        let Some((now, changed)) = self.current_digest(rec) else {
            return Verdict::New;
        };
        if rec.failed && changed.is_empty() {
            return Verdict::Failed;
        }
        if let Some(hit) = self
            .cache
            .get::<CachedPass>(TREE_PASSES, &result_key(nodeid, &now))
        {
            return Verdict::Cached {
                duration: hit.duration,
            };
        }
        if !changed.is_empty() {
            Verdict::Changed(changed)
        } else if rec.passed {
            // Recorded as passed but the stored pass is gone (cleared): run it.
            Verdict::New
        } else {
            Verdict::Unchanged
        }
    }

    /// The digest a record's set has with the files as they are, and the dependencies
    /// that changed: the set's own digest when its summary holds, else from rechecking the
    /// set (whose summaries are then stored if nothing changed). None when the set or a
    /// parent is not stored.
    fn current_digest(&self, rec: &TestRecord) -> Option<(Digest, Vec<Dep>)> {
        if self.summary_holds(&rec.depset, 0) {
            return Some((rec.depset, Vec::new()));
        }
        let set = self.depset(&rec.depset)?;
        let (now, changed) = self.recheck(&rec.depset, &set)?;
        if changed.is_empty() {
            self.store_summaries(&rec.depset, &set);
        }
        Some((now, changed))
    }

    /// The content hash of project file `file` (rootdir-relative) in this revision,
    /// `None` when it is not a regular file.
    fn file_hash(&self, file: &str) -> Option<Digest> {
        self.graph.revision_hash(&self.rootdir.join(file))
    }

    /// Whether the stored summary of set `d` and those of its parents hold in this
    /// revision: then its recheck would find nothing changed (`DepSetSummary`).
    fn summary_holds(&self, d: &Digest, depth: usize) -> bool {
        if let Some(&holds) = self.summaries_hold.lock().get(d) {
            return holds;
        }
        let holds = depth < MAX_CHAIN
            && self
                .cache
                .get::<DepSetSummary>(TREE_DEPSET_SUMMARIES, &summary_key(d))
                .is_some_and(|summary| {
                    summary
                        .parent
                        .is_none_or(|p| self.summary_holds(&p, depth + 1))
                        && summary
                            .files
                            .iter()
                            .all(|(file, content)| self.file_hash(file) == Some(*content))
                        && summary
                            .others
                            .iter()
                            .all(|(dep, hash)| self.current(dep) == *hash)
                });
        self.summaries_hold.lock().insert(*d, holds);
        holds
    }

    /// Stores the summaries of set `d` and its parents, whose recheck just found every
    /// hash current: each file's content hash is the one this revision hashed its blocks
    /// from (`GraphDb::revision_hash` gives one answer per file and revision, the first;
    /// `file_blocks` derives blocks only from bytes with that hash).
    fn store_summaries(&self, d: &Digest, set: &Arc<DepSet>) {
        let (mut d, mut set) = (*d, set.clone());
        for _ in 0..MAX_CHAIN {
            if self.summaries_hold.lock().insert(d, true) == Some(true) {
                return; // stored or found holding already in this revision
            }
            if let Some(summary) = self.summary_of(&set) {
                self.cache
                    .put(TREE_DEPSET_SUMMARIES, &summary_key(&d), &summary);
            }
            let Some(parent) = set.parent else { return };
            let Some(parent_set) = self.depset(&parent) else {
                return;
            };
            (d, set) = (parent, parent_set);
        }
    }

    /// The summary of a set whose hashes are this revision's (None when one is racy): its
    /// files' content hashes as this revision read them, its other dependencies as they
    /// are.
    fn summary_of(&self, set: &DepSet) -> Option<DepSetSummary> {
        let mut files: Vec<(String, Digest)> = Vec::new();
        let mut others = Vec::new();
        // A file's blocks are adjacent (sorted): its hash is asked once per run of them.
        let mut last: Option<(&str, Option<Digest>)> = None;
        for (dep, hash) in &set.deps {
            if *hash == RACY {
                return None;
            }
            let file = match dep {
                Dep::Block { file, .. } | Dep::File(file) => file.as_str(),
                _ => {
                    others.push((dep.clone(), *hash));
                    continue;
                }
            };
            let content = match last {
                Some((f, content)) if f == file => content,
                _ => {
                    let content = self.file_hash(file);
                    if let Some(c) = content {
                        files.push((file.to_string(), c));
                    }
                    last = Some((file, content));
                    content
                }
            };
            // Not a regular file (missing, a directory): checked as the dependency itself.
            if content.is_none() {
                others.push((dep.clone(), *hash));
            }
        }
        files.sort_unstable();
        files.dedup();
        Some(DepSetSummary {
            parent: set.parent,
            files,
            others,
        })
    }

    /// The recorded dependency set of a test with its parents' dependencies merged in,
    /// sorted (`fastest explain`); `None` also when a parent set is missing.
    pub fn recorded(&self, nodeid: &str) -> Option<(TestRecord, Arc<DepSet>)> {
        let rec = self
            .cache
            .get::<TestRecord>(TREE_RESULTS, nodeid.as_bytes())?;
        let mut set = self.depset(&rec.depset)?;
        let mut deps: Vec<(Dep, Digest)> = set.deps.clone();
        for _ in 0..MAX_CHAIN {
            let Some(parent) = set.parent else {
                deps.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                deps.dedup_by(|a, b| a.0 == b.0);
                return Some((rec, Arc::new(DepSet { parent: None, deps })));
            };
            set = self.depset(&parent)?;
            deps.extend(set.deps.iter().cloned());
        }
        None
    }

    /// Adds this process's new sets to the count since the last collection and, once it
    /// reaches `GC_AFTER_SETS`, collects (`collect_garbage`). Call when nothing is
    /// recorded any more (the end of a run). The number of sets removed, if it ran.
    pub fn collect_garbage_if_due(&self) -> Option<usize> {
        let written = self
            .sets_written
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        if written == 0 {
            return None;
        }
        let since = self
            .cache
            .get::<u64>(TREE_GC, SETS_SINCE_GC)
            .unwrap_or(0)
            .saturating_add(written);
        if since < GC_AFTER_SETS {
            self.cache.put(TREE_GC, SETS_SINCE_GC, &since);
            return None;
        }
        let removed = collect_garbage(&self.cache);
        self.cache.put(TREE_GC, SETS_SINCE_GC, &0u64);
        Some(removed)
    }

    /// Number of records, dependency sets and stored passes (`fastest cache stats`).
    pub fn stats(cache: &Cache) -> [(String, usize); 4] {
        [
            TREE_RESULTS,
            TREE_DEPSETS,
            TREE_DEPSET_SUMMARIES,
            TREE_PASSES,
        ]
        .map(|t| (t.to_string(), cache.len(t)))
    }
}

/// What a recorded dependency reads: a code block reads its file (through the
/// graph's `file_blocks`), anything else its own state input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepSource {
    Block(SourceFile),
    State(DepState),
}

/// The current hash of a dependency that is not a code block (file content, directory
/// listing, stat kind, environment variable, the environment).
#[salsa::input(debug)]
pub struct DepState {
    #[returns(ref)]
    pub dep: Dep,
    pub hash: Digest,
}

/// A recorded dependency set (each dependency with its recorded hash) and, in the same
/// order, what each dependency reads.
#[salsa::input(debug)]
pub struct RecordedSet {
    #[returns(ref)]
    pub recorded: Arc<DepSet>,
    #[returns(ref)]
    pub sources: Vec<DepSource>,
    pub digest: Digest,
    /// The set this one extends (`DepSet::parent`), resolved.
    pub parent: Option<RecordedSet>,
}

/// A recorded set checked against the current inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    /// The set's digest with current hashes (the recorded digest when nothing changed).
    pub now: Digest,
    pub changed: Vec<Dep>,
}

/// Rechecks a recorded set: recomputed only when an input it read changed.
#[salsa::tracked(returns(ref))]
pub fn recheck(db: &dyn fastest_graph::Db, set: RecordedSet) -> Recheck {
    db.stats()
        .rechecked
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let parent = set.parent(db).map(|p| recheck(db, p));
    let deps = &set.recorded(db).deps;
    let hashes: Vec<Digest> = deps
        .iter()
        .zip(set.sources(db))
        .map(|((dep, _), source)| match (dep, source) {
            (Dep::Block { name, .. }, DepSource::Block(file)) => {
                if *file.present(db) {
                    file_blocks(db, *file).block(name).unwrap_or(MISSING)
                } else {
                    MISSING
                }
            }
            (_, DepSource::State(state)) => *state.hash(db),
            (_, DepSource::Block(_)) => MISSING,
        })
        .collect();
    let mut changed: Vec<Dep> = parent.map_or_else(Vec::new, |p| p.changed.clone());
    changed.extend(
        deps.iter()
            .zip(&hashes)
            .filter(|((_, old), now)| old != *now)
            .map(|((dep, _), _)| dep.clone()),
    );
    if parent.is_some_and(|p| !p.changed.is_empty()) {
        // A dependency can be in both (a test re-reading what its base read).
        changed.sort_unstable();
        changed.dedup();
    }
    let now = if changed.is_empty() {
        *set.digest(db)
    } else {
        DepSet {
            parent: parent.map(|p| p.now),
            deps: deps
                .iter()
                .zip(hashes)
                .map(|((dep, _), h)| (dep.clone(), h))
                .collect(),
        }
        .digest()
    };
    Recheck { now, changed }
}

/// Everything global a result depends on: the interpreter and platform, the installed
/// distributions (names with versions, from `*.dist-info` / `*.egg-info` and `.pth`
/// files in the interpreter's site directories), the config files, and the options that
/// change behaviour.
/// `config_files` are read by path but named by `config_names` (rootdir-relative), so a
/// fresh checkout elsewhere gets the same digest.
pub fn environment_digest(
    interpreter: &str,
    site_dirs: &[PathBuf],
    config_files: &[(String, PathBuf)],
    options: &[String],
) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&SELECT_VERSION.to_le_bytes());
    h.update(interpreter.as_bytes());
    for dir in site_dirs {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.ends_with(".dist-info")
                    || n.ends_with(".egg-info")
                    || n.ends_with(".pth")
                    || n.ends_with(".egg-link")
            })
            .collect();
        names.sort();
        h.update(dir.to_string_lossy().as_bytes());
        for n in names {
            h.update(n.as_bytes());
            h.update(b"\0");
            if n.ends_with(".pth") || n.ends_with(".egg-link") {
                h.update(&std::fs::read(dir.join(&n)).unwrap_or_default());
            }
        }
    }
    for (name, path) in config_files {
        h.update(name.as_bytes());
        h.update(&std::fs::read(path).unwrap_or_default());
    }
    for o in options {
        h.update(o.as_bytes());
        h.update(b"\0");
    }
    *h.finalize().as_bytes()
}

/// The part of a stored `DepSet` that `collect_garbage` reads (bincode decodes fields in
/// order and ignores the rest).
#[derive(Deserialize)]
struct DepSetHead {
    parent: Option<Digest>,
}

/// Removes the stored dependency sets (with their keys and summaries) that no test
/// record reaches, directly or as a parent: a verdict only ever reads a record's set and
/// its parents, so those sets are never read again (every edit leaves the previous sets
/// of the tests it affected behind). Passes are kept: one under an older key is reused
/// when the files return to that content (a branch switched back). Returns how many sets
/// were removed. Sets stored before `depset_keys` existed are not listed there and stay.
pub fn collect_garbage(cache: &Cache) -> usize {
    let mut reachable: rustc_hash::FxHashSet<Digest> = Default::default();
    let mut pending: Vec<Digest> = cache
        .scan::<TestRecord>(TREE_RESULTS)
        .into_iter()
        .map(|(_, record)| record.depset)
        .collect();
    while let Some(d) = pending.pop() {
        if !reachable.insert(d) {
            continue;
        }
        if let Some(parent) = cache
            .get::<DepSetHead>(TREE_DEPSETS, &d)
            .and_then(|head| head.parent)
        {
            pending.push(parent);
        }
    }
    let mut removed = 0;
    for key in cache.keys(TREE_DEPSET_KEYS) {
        let Ok(d) = Digest::try_from(key.as_slice()) else {
            continue;
        };
        if !reachable.contains(&d) {
            cache.remove(TREE_DEPSETS, &d);
            cache.remove(TREE_DEPSET_SUMMARIES, &summary_key(&d));
            cache.remove(TREE_DEPSET_KEYS, &d);
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A selector as a new process makes it: only what `cache` holds carries over.
    fn new_process(cache: &Arc<Cache>, root: &Path) -> (Selector, Arc<GraphDb>) {
        let graph = Arc::new(GraphDb::new(cache.clone()));
        let selector = Selector::new(cache.clone(), graph.clone(), root, [7; 32]);
        (selector, graph)
    }

    /// A test's own blocks on a base holding `base_blocks` and `base_stats`.
    fn on_base(own: &[&str], base_blocks: &[&str], base_stats: &[&str]) -> Arc<TestDeps> {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = Arc::new(TestDeps {
            blocks: strings(base_blocks),
            stats: strings(base_stats),
            ..TestDeps::default()
        });
        Arc::new(
            TestDeps {
                blocks: strings(own),
                ..TestDeps::default()
            }
            .on_base(base),
        )
    }

    #[test]
    fn a_record_is_rewritten_when_its_set_or_outcome_changes_or_its_duration_moves() {
        let old = TestRecord {
            depset: [1; 32],
            failed: false,
            passed: true,
            duration: 1.0,
        };
        let again = |f: fn(&mut TestRecord)| {
            let mut r = old.clone();
            f(&mut r);
            r.same_result(&old)
        };
        assert!(again(|r| r.duration = 1.1));
        assert!(!again(|r| r.duration = 1.5));
        assert!(!again(|r| r.depset = [2; 32]));
        assert!(!again(|r| r.failed = true));
        assert!(!again(|r| r.passed = false));
        // Short tests: 5 ms of slack.
        let tiny = TestRecord {
            duration: 0.0001,
            ..old.clone()
        };
        let mut r = tiny.clone();
        r.duration = 0.004;
        assert!(r.same_result(&tiny));
    }

    #[test]
    fn deps_of_gives_the_sorted_unique_set_whatever_the_order_sent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::temporary());
        let graph = Arc::new(GraphDb::new(cache.clone()));
        let selector = Selector::new(cache, graph, dir.path(), [7; 32]);
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // "a.py-x::f" sorts before "a.py::g" as text but after it as (file, name); a
        // `<module>` block sent explicitly; files interleaved.
        let recorded = TestDeps {
            blocks: strings(&[
                "a.py-x::f",
                "a.py::<module>",
                "a.py::g",
                "b.py::h",
                "a.py::f",
            ]),
            files: strings(&["z.txt", "d.txt"]),
            stats: strings(&["m"]),
            env: strings(&["HOME"]),
            ..TestDeps::default()
        };
        let mut expected: BTreeSet<Dep> = BTreeSet::new();
        expected.insert(Dep::Environment);
        for b in &recorded.blocks {
            let (file, name) = b.rsplit_once("::").unwrap();
            for name in [MODULE_BLOCK, name] {
                expected.insert(Dep::Block {
                    file: file.to_string(),
                    name: name.to_string(),
                });
            }
        }
        expected.extend(recorded.files.iter().cloned().map(Dep::File));
        expected.extend(recorded.stats.iter().cloned().map(Dep::Stat));
        expected.extend(recorded.env.iter().cloned().map(Dep::Env));
        let expected: Vec<Dep> = expected.into_iter().collect();
        assert_eq!(selector.deps_of(&recorded), expected);
        // Sorted as workers send them: the same result.
        let mut sorted = recorded.clone();
        sorted.blocks.sort();
        sorted.files.sort();
        assert_eq!(selector.deps_of(&sorted), expected);
    }

    #[test]
    fn a_file_changed_mid_run_is_racy_for_tests_finished_after_the_last_stat() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("data.txt"), "one").unwrap();
        let cache = Arc::new(Cache::temporary());
        let graph = Arc::new(GraphDb::new(cache.clone()));
        let selector = Selector::new(cache, graph, root, [7; 32]);
        // A fresh Arc per test, as for tests with their own recorded sets.
        let deps = || {
            Arc::new(TestDeps {
                files: vec!["data.txt".into()],
                ..TestDeps::default()
            })
        };
        let finished = std::time::Instant::now();
        let first = selector.record_finished_by("test_a", &deps(), false, true, 0.1, finished);
        // Finished before the stat test_a's record made: that stat answers for it.
        let second = selector.record_finished_by("test_b", &deps(), false, true, 0.1, finished);
        assert_eq!(first, second);
        // The file changes during the run; a test that finished afterwards may have read
        // the new content, so its set must never match a later state.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("data.txt"), "two").unwrap();
        let later = selector.record_finished_by(
            "test_c",
            &deps(),
            false,
            true,
            0.1,
            std::time::Instant::now(),
        );
        assert_ne!(
            later, first,
            "a file modified during the run must make the set racy"
        );
        // Also for a test whose worker sent "the same set as my previous test": the set
        // was digested before the change, the later test may have read the new content.
        let shared = deps();
        let before = selector.record_finished_by("test_d", &shared, false, true, 0.1, finished);
        assert_eq!(before, first);
        let again = selector.record_finished_by(
            "test_e",
            &shared,
            false,
            true,
            0.1,
            std::time::Instant::now(),
        );
        assert_ne!(
            again, first,
            "a shared set read after the change must be racy too"
        );
        assert!(!matches!(
            selector.verdict("test_c"),
            Verdict::Cached { .. }
        ));
    }

    #[test]
    fn affected_agrees_with_the_verdict_and_reads_no_pass_while_a_summary_holds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("data.txt"), "one").unwrap();
        let cache = Arc::new(Cache::temporary());
        let graph = Arc::new(GraphDb::new(cache.clone()));
        let selector = Selector::new(cache.clone(), graph, root, [7; 32]);
        let deps = || {
            Arc::new(TestDeps {
                files: vec!["data.txt".into()],
                ..TestDeps::default()
            })
        };
        let set = selector.record("t::passes", &deps(), false, true, 0.1);
        selector.record("t::fails", &deps(), true, false, 0.1);
        let agree = |id: &str| {
            let affected = selector.affected(id);
            assert_eq!(affected, selector.verdict(id).affected(), "{id}");
            affected
        };
        // Twice: the first revision stores the summaries, the second reads them.
        for _ in 0..2 {
            selector.new_revision();
            assert!(!agree("t::passes"));
            assert!(agree("t::fails"));
            assert!(agree("t::new"));
        }
        // With its summary holding, a pass recorded with the current set is not looked
        // up (`record_finished_by` wrote it before the record): gone, it changes nothing.
        cache.remove(TREE_PASSES, &result_key("t::passes", &set));
        selector.new_revision();
        assert!(!selector.affected("t::passes"));
        assert_eq!(selector.verdict("t::passes"), Verdict::New);
        // A changed dependency: affected, as the verdict says.
        std::fs::write(root.join("data.txt"), "two").unwrap();
        selector.new_revision();
        assert!(agree("t::passes"));
    }

    #[test]
    fn tests_on_a_shared_base_store_it_once_and_see_its_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("conftest.py"), "def fx():\n    return 1\n").unwrap();
        std::fs::write(
            root.join("t.py"),
            "def a():\n    pass\ndef b():\n    pass\n",
        )
        .unwrap();
        std::fs::write(root.join("data.txt"), "one").unwrap();
        let cache = Arc::new(Cache::temporary());
        let graph = Arc::new(GraphDb::new(cache.clone()));
        let selector = Selector::new(cache.clone(), graph, root, [7; 32]);
        let base = Arc::new(TestDeps {
            blocks: vec!["conftest.py::fx".into(), "t.py::<module>".into()],
            env: vec!["HOME".into()],
            ..TestDeps::default()
        });
        let on_base = |block: &str, files: &[&str]| {
            Arc::new(
                TestDeps {
                    blocks: vec![block.to_string()],
                    files: files.iter().map(|f| f.to_string()).collect(),
                    ..TestDeps::default()
                }
                .on_base(base.clone()),
            )
        };
        let a = selector.record(
            "t.py::a",
            &on_base("t.py::a", &["data.txt"]),
            false,
            true,
            0.1,
        );
        let b = selector.record("t.py::b", &on_base("t.py::b", &[]), false, true, 0.1);
        assert_ne!(a, b);
        // The base and the two additions: three sets, the base stored once.
        assert_eq!(cache.len(TREE_DEPSETS), 3);
        let stored_a = selector.depset(&a).unwrap();
        let parent = stored_a.parent.expect("a test's set names its base");
        assert_eq!(selector.depset(&b).unwrap().parent, Some(parent));
        assert!(
            !stored_a.deps.contains(&(Dep::Environment, [7; 32])),
            "the base holds it"
        );
        // `explain` shows the whole set: the base's dependencies and the test's own.
        let (_, full) = selector.recorded("t.py::a").unwrap();
        let names: Vec<String> = full.deps.iter().map(|(d, _)| d.to_string()).collect();
        for expected in [
            "function fx in conftest.py",
            "function a in t.py",
            "file data.txt",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(
            full.deps.is_sorted_by(|x, y| x.0 < y.0),
            "sorted and unique"
        );
        let cached = |v: &Verdict| matches!(v, Verdict::Cached { .. });
        assert!(cached(&selector.verdict("t.py::a")));
        assert!(cached(&selector.verdict("t.py::b")));

        // A test's own dependency: only that test.
        std::fs::write(root.join("data.txt"), "two").unwrap();
        selector.new_revision();
        assert_eq!(
            selector.verdict("t.py::a"),
            Verdict::Changed(vec![Dep::File("data.txt".into())])
        );
        assert!(cached(&selector.verdict("t.py::b")));

        // A dependency of the base: every test on it.
        std::fs::write(root.join("conftest.py"), "def fx():\n    return 2\n").unwrap();
        selector.new_revision();
        let fx = Dep::Block {
            file: "conftest.py".into(),
            name: "fx".into(),
        };
        assert_eq!(
            selector.verdict("t.py::b"),
            Verdict::Changed(vec![fx.clone()])
        );
        assert_eq!(
            selector.verdict("t.py::a"),
            Verdict::Changed(vec![fx, Dep::File("data.txt".into())])
        );

        // A base missing from the cache: the test's set is unknown, so it runs.
        cache.remove(TREE_DEPSETS, &parent);
        let fresh = Selector::new(cache.clone(), Arc::new(GraphDb::new(cache)), root, [7; 32]);
        assert_eq!(fresh.verdict("t.py::b"), Verdict::New);
        assert!(fresh.recorded("t.py::b").is_none());
    }

    #[test]
    fn after_a_change_only_the_sets_that_read_it_are_checked_again() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.py"), "def f():\n    return 1\n").unwrap();
        std::fs::write(root.join("b.py"), "def g():\n    return 2\n").unwrap();
        std::fs::write(root.join("data.txt"), "one").unwrap();
        let cache = Arc::new(Cache::temporary());
        let graph = Arc::new(GraphDb::new(cache.clone()));
        let selector = Selector::new(cache, graph.clone(), root, [7; 32]);
        let deps = |blocks: &[&str], files: &[&str]| {
            Arc::new(TestDeps {
                blocks: blocks.iter().map(|b| b.to_string()).collect(),
                files: files.iter().map(|f| f.to_string()).collect(),
                ..TestDeps::default()
            })
        };
        selector.record(
            "test_a",
            &deps(&["a.py::f"], &["data.txt"]),
            false,
            true,
            0.1,
        );
        selector.record("test_b", &deps(&["b.py::g"], &[]), false, true, 0.1);
        let verdicts = || [selector.verdict("test_a"), selector.verdict("test_b")];
        let rechecked = || graph.stats().rechecked.swap(0, Relaxed);
        let cached = |v: &Verdict| matches!(v, Verdict::Cached { .. });

        let first = verdicts();
        assert!(first.iter().all(cached), "{first:?}");
        assert_eq!(rechecked(), 2);
        // Asked again in the same revision: nothing is checked again.
        verdicts();
        assert_eq!(rechecked(), 0);

        // An edit of b.py's function: only test_b's set reads it.
        std::fs::write(root.join("b.py"), "def g():\n    return 3\n").unwrap();
        selector.new_revision();
        let [a, b] = verdicts();
        assert!(cached(&a), "{a:?}");
        assert_eq!(
            b,
            Verdict::Changed(vec![Dep::Block {
                file: "b.py".into(),
                name: "g".into()
            }])
        );
        assert_eq!(rechecked(), 1);

        // A data file test_a read: only its set.
        std::fs::write(root.join("data.txt"), "two").unwrap();
        selector.new_revision();
        let [a, _] = verdicts();
        assert_eq!(a, Verdict::Changed(vec![Dep::File("data.txt".into())]));
        assert_eq!(rechecked(), 1);

        // A deleted module: its blocks are missing.
        std::fs::remove_file(root.join("a.py")).unwrap();
        selector.new_revision();
        let [a, _] = verdicts();
        assert!(
            matches!(&a, Verdict::Changed(c) if c.contains(&Dep::Block { file: "a.py".into(), name: "f".into() })),
            "{a:?}"
        );
        assert_eq!(rechecked(), 1);

        // Nothing changed: nothing is checked again.
        selector.new_revision();
        verdicts();
        assert_eq!(rechecked(), 0);
    }

    #[test]
    fn a_stored_summary_stands_for_an_unchanged_set_and_never_hides_a_change() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let a_py = |f: u8, h: u8| {
            let text = format!("def f():\n    return {f}\ndef h():\n    return {h}\n");
            std::fs::write(root.join("a.py"), text).unwrap();
        };
        a_py(1, 1);
        std::fs::write(root.join("data.txt"), "one").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let cache = Arc::new(Cache::temporary());
        let process = || new_process(&cache, root);
        let (selector, _) = process();
        let deps = Arc::new(TestDeps {
            blocks: vec!["a.py::f".into(), "missing.py::g".into()],
            files: vec!["data.txt".into()],
            dirs: vec!["sub".into()],
            ..TestDeps::default()
        });
        selector.record("test_x", &deps, false, true, 0.1);
        let cached = |v: &Verdict| matches!(v, Verdict::Cached { .. });
        // Rechecked once: found unchanged, its summary is stored.
        let verdict = |expect_rechecks: usize| {
            let (selector, graph) = process();
            let v = selector.verdict("test_x");
            assert_eq!(
                graph.stats().rechecked.load(Relaxed),
                expect_rechecks,
                "{v:?}"
            );
            v
        };
        assert!(cached(&verdict(1)));
        assert_eq!(cache.len(TREE_DEPSET_SUMMARIES), 1);
        // Nothing changed: the summary answers, the set is not rechecked.
        assert!(cached(&verdict(0)));

        // An edit of another function: the file's content differs, so the set is
        // rechecked (unchanged) and the summary follows the new content.
        a_py(1, 2);
        assert!(cached(&verdict(1)));
        assert!(cached(&verdict(0)));

        // Every kind of change is still seen through a stored summary; undone, the
        // content is the summarized one again.
        let f = Dep::Block {
            file: "a.py".into(),
            name: "f".into(),
        };
        a_py(2, 2);
        assert_eq!(verdict(1), Verdict::Changed(vec![f.clone()]));
        a_py(1, 2);
        assert!(cached(&verdict(0)));
        std::fs::write(root.join("data.txt"), "two").unwrap();
        assert_eq!(
            verdict(1),
            Verdict::Changed(vec![Dep::File("data.txt".into())])
        );
        std::fs::write(root.join("data.txt"), "one").unwrap();
        assert!(cached(&verdict(0)));
        std::fs::write(root.join("sub/new.txt"), "").unwrap();
        assert_eq!(verdict(1), Verdict::Changed(vec![Dep::Dir("sub".into())]));
        std::fs::remove_file(root.join("sub/new.txt")).unwrap();
        assert!(cached(&verdict(0)));
        // A block of a file that was missing when recorded.
        std::fs::write(root.join("missing.py"), "def g():\n    pass\n").unwrap();
        let block = |name: &str| Dep::Block {
            file: "missing.py".into(),
            name: name.into(),
        };
        assert_eq!(
            verdict(1),
            Verdict::Changed(vec![block(MODULE_BLOCK), block("g")])
        );
    }

    #[test]
    fn a_summary_holds_only_while_its_parents_do() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("conftest.py"), "def fx():\n    return 1\n").unwrap();
        std::fs::write(root.join("t.py"), "def a():\n    pass\n").unwrap();
        let cache = Arc::new(Cache::temporary());
        let process = || new_process(&cache, root).0;
        let own = on_base(&["t.py::a"], &["conftest.py::fx"], &["marker"]);
        process().record("t.py::a", &own, false, true, 0.1);
        let cached = |v: &Verdict| matches!(v, Verdict::Cached { .. });
        assert!(cached(&process().verdict("t.py::a")));
        // The test's set and its base each have a summary.
        assert_eq!(cache.len(TREE_DEPSET_SUMMARIES), 2);
        let fx = Dep::Block {
            file: "conftest.py".into(),
            name: "fx".into(),
        };
        // A change in the base's file: the test's own summary still holds, its base's
        // does not.
        std::fs::write(root.join("conftest.py"), "def fx():\n    return 2\n").unwrap();
        assert_eq!(process().verdict("t.py::a"), Verdict::Changed(vec![fx]));
        std::fs::write(root.join("conftest.py"), "def fx():\n    return 1\n").unwrap();
        assert!(cached(&process().verdict("t.py::a")));
        // A path the base probed now exists.
        std::fs::write(root.join("marker"), "").unwrap();
        assert_eq!(
            process().verdict("t.py::a"),
            Verdict::Changed(vec![Dep::Stat("marker".into())])
        );
    }

    #[test]
    fn garbage_collection_keeps_what_records_reach_and_passes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let a_py = |n: u8| {
            std::fs::write(root.join("a.py"), format!("def f():\n    return {n}\n")).unwrap()
        };
        a_py(1);
        std::fs::write(root.join("conftest.py"), "def fx():\n    pass\n").unwrap();
        let cache = Arc::new(Cache::temporary());
        let process = || new_process(&cache, root).0;
        let deps = on_base(&["a.py::f"], &["conftest.py::fx"], &[]);
        let first = process().record("test_a", &deps, false, true, 0.1);
        // Edited and run again: a new set for the test; the first one is unreachable.
        a_py(2);
        let selector = process();
        let second = selector.record("test_a", &deps, false, true, 0.1);
        assert_ne!(first, second);
        assert_eq!(
            cache.len(TREE_DEPSETS),
            3,
            "the base and two sets of the test"
        );
        assert!(
            selector.collect_garbage_if_due().is_none(),
            "too few sets to collect"
        );
        // Only the sets of the process that asked: the second run's own set.
        assert_eq!(cache.get::<u64>(TREE_GC, SETS_SINCE_GC), Some(1));
        assert_eq!(collect_garbage(&cache), 1);
        assert_eq!(cache.len(TREE_DEPSETS), 2);
        assert!(!cache.contains(TREE_DEPSET_KEYS, &first));
        let cached = |v: &Verdict| matches!(v, Verdict::Cached { .. });
        // The record's set and its base are kept: the test is still cached...
        assert!(cached(&process().verdict("test_a")));
        // ...and back on the first content, the pass stored then is reused (passes stay).
        a_py(1);
        assert!(cached(&process().verdict("test_a")));
        assert_eq!(collect_garbage(&cache), 0);

        // Due: the run whose new sets reach GC_AFTER_SETS collects, and the count restarts.
        cache.put(TREE_GC, SETS_SINCE_GC, &(GC_AFTER_SETS - 1));
        a_py(3);
        let selector = process();
        selector.record("test_a", &deps, false, true, 0.1);
        assert_eq!(selector.collect_garbage_if_due(), Some(1), "the second set");
        assert_eq!(cache.get::<u64>(TREE_GC, SETS_SINCE_GC), Some(0));
    }

    #[test]
    fn installing_or_upgrading_a_distribution_changes_the_environment() {
        let site = tempfile::tempdir().unwrap();
        let dirs = [site.path().to_path_buf()];
        std::fs::create_dir(site.path().join("attrs-23.1.0.dist-info")).unwrap();
        let before = environment_digest("3.11", &dirs, &[], &[]);
        assert_eq!(before, environment_digest("3.11", &dirs, &[], &[]));
        std::fs::rename(
            site.path().join("attrs-23.1.0.dist-info"),
            site.path().join("attrs-23.2.0.dist-info"),
        )
        .unwrap();
        let upgraded = environment_digest("3.11", &dirs, &[], &[]);
        assert_ne!(before, upgraded);
        std::fs::create_dir(site.path().join("six-1.16.0.dist-info")).unwrap();
        assert_ne!(upgraded, environment_digest("3.11", &dirs, &[], &[]));
        assert_ne!(upgraded, environment_digest("3.12", &dirs, &[], &[]));
    }
}
