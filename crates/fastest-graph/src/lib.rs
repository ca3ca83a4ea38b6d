//! Graph stage: the salsa database. Files enter as inputs (path + content hash) in one
//! place (`GraphDb::file`); summaries are a tracked query backed by the sled cache, so
//! an unchanged file is neither read nor parsed again across runs.

use fastest_cache::{digest, Cache, Digest, TREE_STAT, TREE_SUMMARIES};
use fastest_discovery::blocks::{FileBlocks, BLOCKS_VERSION};
use fastest_discovery::{parse, ModuleSummary, SummarySource, SUMMARY_VERSION};
use parking_lot::Mutex;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source file. `content_hash` changes when its bytes do; a missing file (or one that
/// is not a regular file) reads as no bytes, with `present` false.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: PathBuf,
    pub content_hash: Digest,
    pub present: bool,
}

#[salsa::db]
pub trait Db: salsa::Database {
    fn cache(&self) -> &Cache;
    fn stats(&self) -> &Stats;
}

/// Counters for `-v` and the benchmarks: how much work the run actually did.
#[derive(Default, Debug)]
pub struct Stats {
    pub parsed: std::sync::atomic::AtomicUsize,
    pub from_cache: std::sync::atomic::AtomicUsize,
    pub read: std::sync::atomic::AtomicUsize,
    /// Recorded dependency sets checked against the current inputs (selection).
    pub rechecked: std::sync::atomic::AtomicUsize,
}

#[salsa::db]
#[derive(Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    cache: Arc<Cache>,
    stats: Arc<Stats>,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {
    fn cache(&self) -> &Cache {
        &self.cache
    }
    fn stats(&self) -> &Stats {
        &self.stats
    }
}

fn summary_key(content_hash: &Digest) -> Digest {
    digest(&[b"summary", &SUMMARY_VERSION.to_le_bytes(), content_hash])
}

/// The summary of a file: from the sled cache by content hash, else parsed (and stored).
#[salsa::tracked(returns(ref))]
pub fn file_summary(db: &dyn Db, file: SourceFile) -> Arc<ModuleSummary> {
    let key = summary_key(file.content_hash(db));
    if let Some(s) = db.cache().get::<ModuleSummary>(TREE_SUMMARIES, &key) {
        db.stats()
            .from_cache
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Arc::new(s);
    }
    Arc::new(summarize_and_store(
        db.cache(),
        db.stats(),
        file.path(db),
        file.content_hash(db),
    ))
}

/// Parses `path` into its summary, stored under its content hash `hash` only when the
/// bytes parsed are that content (`read_as_hashed`): a file changed since it was hashed
/// is summarised as read and stores nothing.
fn summarize_and_store(cache: &Cache, stats: &Stats, path: &Path, hash: &Digest) -> ModuleSummary {
    let (summary, hashed) = match read_as_hashed(path, hash) {
        Ok(bytes) => (parse::summarize(&bytes), true),
        Err(Some(bytes)) => (parse::summarize(&bytes), false),
        Err(None) => (fastest_discovery::summarize_path(path), false),
    };
    stats
        .parsed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if hashed {
        cache.put(TREE_SUMMARIES, &summary_key(hash), &summary);
    }
    summary
}

/// A file's code blocks (dependency keys): from the sled cache by content hash, else
/// parsed (and stored).
#[salsa::tracked(returns(ref))]
pub fn file_blocks(db: &dyn Db, file: SourceFile) -> Arc<FileBlocks> {
    let key = digest(&[
        b"blocks",
        &BLOCKS_VERSION.to_le_bytes(),
        file.content_hash(db),
    ]);
    if let Some(b) = db.cache().get::<FileBlocks>(TREE_BLOCKS, &key) {
        return Arc::new(b);
    }
    let bytes = match read_as_hashed(file.path(db), file.content_hash(db)) {
        Ok(bytes) => bytes,
        // Unreadable, and hashed as such: the blocks of no content.
        Err(None) if *file.content_hash(db) == empty_hash() => Vec::new(),
        // The file changed since this revision hashed it: no block of it is known (every
        // block reads as missing, so whatever depends on it runs), and nothing is stored
        // under a hash its content no longer has.
        Err(_) => return Arc::new(FileBlocks::default()),
    };
    let blocks = fastest_discovery::blocks::file_blocks(&bytes);
    db.cache().put(TREE_BLOCKS, &key, &blocks);
    Arc::new(blocks)
}

/// Cache tree of `file_blocks` results.
pub const TREE_BLOCKS: &str = "blocks";

/// What the stat tree remembers about a path.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StatEntry {
    pub size: u64,
    pub mtime_ns: u128,
    pub content_hash: Digest,
}

fn stat_of(path: &Path) -> Option<(u64, u128)> {
    let md = std::fs::metadata(path).ok()?;
    let mtime = md
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((md.len(), mtime))
}

/// The content hash of a file that cannot be read (what hashing no bytes gives).
fn empty_hash() -> Digest {
    *blake3::hash(b"").as_bytes()
}

/// The bytes of `path` when they are the content `hash` was taken of; otherwise `Err`
/// with what was read (`None`: unreadable). What is derived from a file and stored under
/// its content hash (summaries, blocks) is derived from these bytes only: a file saved
/// between the hash and the read would otherwise store the new content's results under
/// the old content's hash, for every later run.
fn read_as_hashed(path: &Path, hash: &Digest) -> Result<Vec<u8>, Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) if blake3::hash(&bytes).as_bytes() == hash => Ok(bytes),
        Ok(bytes) => Err(Some(bytes)),
        Err(_) => Err(None),
    }
}

/// A mtime this close to now may still change within the same tick: don't trust it.
const RACY_WINDOW_NS: u128 = 2_000_000_000;

/// The collection-side database: a salsa db plus the path → input map.
pub struct GraphDb {
    db: Mutex<Database>,
    files: Mutex<HashMap<PathBuf, SourceFile>>,
    cache: Arc<Cache>,
    stats: Arc<Stats>,
    /// Summaries computed in parallel by `prefetch`, keyed by content hash.
    prefetched: Mutex<HashMap<Digest, Arc<ModuleSummary>>>,
    /// Each path's content hash in this revision (`None`: not a regular file). Files are
    /// read once per revision: `new_revision` is where changes on disk enter.
    hashed: Mutex<HashMap<PathBuf, Option<Digest>>>,
}

impl GraphDb {
    pub fn new(cache: Arc<Cache>) -> Self {
        let stats = Arc::new(Stats::default());
        GraphDb {
            db: Mutex::new(Database {
                storage: Default::default(),
                cache: cache.clone(),
                stats: stats.clone(),
            }),
            files: Mutex::new(HashMap::new()),
            cache,
            stats,
            prefetched: Mutex::new(HashMap::new()),
            hashed: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets the file hashes of this revision: the next queries look at the disk again
    /// (a run is one revision: every query of it sees the same file contents).
    pub fn new_revision(&self) {
        self.hashed.lock().clear();
    }

    /// The content hash of `path` in this revision, `None` when it is not a file.
    pub fn revision_hash(&self, path: &Path) -> Option<Digest> {
        if let Some(h) = self.hashed.lock().get(path) {
            return *h;
        }
        let h = path.is_file().then(|| self.content_hash(path));
        // Two threads may both have missed: the first answer stands, so every query of
        // this revision sees one content per file (a file saved meanwhile is the next
        // revision's change).
        *self.hashed.lock().entry(path.to_path_buf()).or_insert(h)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Content hash of a path, through the stat fast path when size and mtime match.
    pub fn content_hash(&self, path: &Path) -> Digest {
        let key = path.to_string_lossy().into_owned();
        let stat = stat_of(path);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        if let (Some((size, mtime)), Some(entry)) =
            (stat, self.cache.get::<StatEntry>(TREE_STAT, key.as_bytes()))
        {
            if entry.size == size
                && entry.mtime_ns == mtime
                && now.saturating_sub(mtime) > RACY_WINDOW_NS
            {
                return entry.content_hash;
            }
        }
        self.stats
            .read
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = std::fs::read(path).unwrap_or_default();
        let hash = *blake3::hash(&bytes).as_bytes();
        // Stored only once the mtime is outside the racy window: a file written again
        // within the same timestamp tick (coarse clocks) would otherwise keep this hash
        // for content it no longer has.
        if let Some((size, mtime_ns)) =
            stat.filter(|(_, m)| now.saturating_sub(*m) > RACY_WINDOW_NS)
        {
            self.cache.put(
                TREE_STAT,
                key.as_bytes(),
                &StatEntry {
                    size,
                    mtime_ns,
                    content_hash: hash,
                },
            );
        }
        hash
    }

    /// The one place where file changes enter the database.
    pub fn file(&self, path: &Path) -> SourceFile {
        use salsa::Setter;
        // A missing file is an empty input (as reading it gives).
        let current = self.revision_hash(path);
        let present = current.is_some();
        let hash = current.unwrap_or_else(empty_hash);
        let mut files = self.files.lock();
        let mut db = self.db.lock();
        match files.get(path) {
            Some(f) => {
                // Set only what changed: a set input is a change to everything reading it.
                if *f.content_hash(&*db) != hash {
                    f.set_content_hash(&mut *db).to(hash);
                }
                if *f.present(&*db) != present {
                    f.set_present(&mut *db).to(present);
                }
                *f
            }
            None => {
                let f = SourceFile::new(&*db, path.to_path_buf(), hash, present);
                files.insert(path.to_path_buf(), f);
                f
            }
        }
    }

    /// Every file the database has seen, read again: after `new_revision`, this brings
    /// the changes on disk into the inputs, so the next queries recompute only what
    /// depends on a changed file.
    pub fn refresh_files(&self) {
        let paths: Vec<PathBuf> = self.files.lock().keys().cloned().collect();
        for path in paths {
            self.file(&path);
        }
    }

    /// Runs `f` on the salsa database (queries of other stages), under its lock.
    pub fn with_db<R>(&self, f: impl FnOnce(&Database) -> R) -> R {
        f(&self.db.lock())
    }

    /// Runs `f` on the salsa database with write access (creating and setting inputs).
    pub fn with_db_mut<R>(&self, f: impl FnOnce(&mut Database) -> R) -> R {
        f(&mut self.db.lock())
    }
}

impl GraphDb {
    /// The code blocks of a file; `None` when it does not exist (or is not a file).
    pub fn blocks(&self, path: &Path) -> Option<Arc<FileBlocks>> {
        self.revision_hash(path)?;
        let file = self.file(path);
        let db = self.db.lock();
        Some(file_blocks(&*db, file).clone())
    }
}

impl SummarySource for GraphDb {
    fn summary(&self, path: &Path) -> Arc<ModuleSummary> {
        let file = self.file(path);
        let db = self.db.lock();
        if let Some(s) = self.prefetched.lock().get(file.content_hash(&*db)) {
            return s.clone();
        }
        file_summary(&*db, file).clone()
    }

    /// Hashes and summarises every file in parallel (rayon) before linking starts.
    fn prefetch(&self, paths: &[PathBuf]) {
        let results: Vec<(Digest, Arc<ModuleSummary>)> = paths
            .par_iter()
            .map(|p| {
                let hash = self.revision_hash(p).unwrap_or_else(empty_hash);
                let key = summary_key(&hash);
                let summary = match self.cache.get::<ModuleSummary>(TREE_SUMMARIES, &key) {
                    Some(s) => {
                        self.stats
                            .from_cache
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        s
                    }
                    None => summarize_and_store(&self.cache, &self.stats, p, &hash),
                };
                (hash, Arc::new(summary))
            })
            .collect();
        self.prefetched.lock().extend(results);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn summaries_are_served_from_cache_on_the_second_run() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("test_a.py");
        std::fs::write(&file, "def test_x(): pass\n").unwrap();
        let cache_dir = dir.path().join(".fastest_cache");
        {
            let g = GraphDb::new(Arc::new(Cache::open(&cache_dir)));
            assert_eq!(g.summary(&file).bindings.len(), 1);
            assert_eq!(g.stats().parsed.load(Relaxed), 1);
        }
        let g = GraphDb::new(Arc::new(Cache::open(&cache_dir)));
        assert_eq!(g.summary(&file).bindings.len(), 1);
        assert_eq!(g.stats().parsed.load(Relaxed), 0);
        assert_eq!(g.stats().from_cache.load(Relaxed), 1);
    }

    #[test]
    fn a_changed_file_is_summarised_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("test_a.py");
        std::fs::write(&file, "def test_x(): pass\n").unwrap();
        let g = GraphDb::new(Arc::new(Cache::temporary()));
        assert_eq!(g.summary(&file).bindings.len(), 1);
        std::fs::write(&file, "def test_x(): pass\ndef test_y(): pass\n").unwrap();
        // Within a revision the first contents hold; the next one sees the edit.
        assert_eq!(g.summary(&file).bindings.len(), 1);
        g.new_revision();
        assert_eq!(g.summary(&file).bindings.len(), 2);
    }

    #[test]
    fn a_file_saved_after_it_was_hashed_stores_nothing_under_the_old_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.py");
        std::fs::write(&path, "def f():\n    return 1\n").unwrap();
        let cache = Arc::new(Cache::temporary());
        let g = GraphDb::new(cache.clone());
        // Hashed (this revision's content), then saved before its blocks are derived.
        let file = g.file(&path);
        std::fs::write(&path, "def f():\n    return 2\n").unwrap();
        let blocks = g.with_db(|db| file_blocks(db, file).clone());
        assert_eq!(blocks.block("f"), None, "no block of a content not hashed");
        assert_eq!(cache.len(TREE_BLOCKS), 0);
        let summary = g.summary(&path);
        assert_eq!(summary.bindings.len(), 1, "summarised as read");
        assert_eq!(
            cache.len(TREE_SUMMARIES),
            0,
            "but not stored under the old hash"
        );
        // The next revision hashes the new content and derives from it.
        g.new_revision();
        let blocks = g.blocks(&path).unwrap();
        assert!(blocks.block("f").is_some());
        assert_eq!(cache.len(TREE_BLOCKS), 1);
    }
}
