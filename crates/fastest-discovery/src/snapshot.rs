//! Whole static collections stored beside the cache, each with the file-system facts it
//! was derived from (`fsobs`): a repeated run whose files, directories and probes all
//! stat as before reuses the collection without reading, parsing or linking anything.
//!
//! One file per request under `<cache_dir>/collections/`, written atomically (temp file
//! and rename), so a concurrent fastest never reads half a snapshot; an unreadable or
//! foreign file is a miss. The key covers the request (config, arguments, ignores, doctest
//! options), the summary schema and the running binary itself (its path, size and
//! times), so a rebuilt fastest never trusts an older build's collections.

use crate::fsobs::{Observation, Seen};
use crate::{CollectRequest, Collection, SUMMARY_VERSION};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped when the stored layout or what a collection depends on changes.
const SNAPSHOT_VERSION: u32 = 3;

/// Snapshots kept per cache; the least recently written beyond this are removed.
const MAX_SNAPSHOTS: usize = 64;

/// A file or directory changed less than this before the collection finished may change
/// again within the same timestamp tick unseen ("racy" in git's sense): such a
/// collection is not stored.
const RACY_WINDOW_NS: i128 = 2_000_000_000;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    key: [u8; 32],
    observed: &'a [Observation],
    collection: &'a Collection,
}

#[derive(Deserialize)]
struct Snapshot {
    key: [u8; 32],
    observed: Vec<Observation>,
    collection: Collection,
}

/// The stored collections of one cache directory.
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    pub fn new(cache_dir: &Path) -> Self {
        SnapshotStore {
            dir: cache_dir.join("collections"),
        }
    }

    /// The key of `req` under the running binary.
    fn key(req: &CollectRequest) -> [u8; 32] {
        let exe = std::env::current_exe().unwrap_or_default();
        let request = format!(
            "{:?}",
            (
                &req.config,
                &req.args,
                &req.ignore,
                &req.ignore_glob,
                req.doctest_modules,
                &req.doctest_globs,
                req.import_mode_importlib,
            )
        );
        let mut h = blake3::Hasher::new();
        h.update(&SNAPSHOT_VERSION.to_le_bytes());
        h.update(&SUMMARY_VERSION.to_le_bytes());
        h.update(format!("{:?}{:?}", exe, Seen::of(&exe)).as_bytes());
        h.update(request.as_bytes());
        *h.finalize().as_bytes()
    }

    fn file(&self, key: &[u8; 32]) -> PathBuf {
        let hex: String = key[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.bin"))
    }

    /// The stored collection for `req` when every path it was derived from stats as it
    /// did then; None otherwise (also for a missing, unreadable or foreign file).
    pub fn load(&self, req: &CollectRequest) -> Option<Collection> {
        let key = Self::key(req);
        let bytes = std::fs::read(self.file(&key)).ok()?;
        let snapshot: Snapshot = bincode::deserialize(&bytes).ok()?;
        if snapshot.key != key {
            return None;
        }
        let unchanged = Observation::still_holds;
        let current = if snapshot.observed.len() > 2000 {
            use rayon::prelude::*;
            snapshot.observed.par_iter().all(unchanged)
        } else {
            snapshot.observed.iter().all(unchanged)
        };
        current.then_some(snapshot.collection)
    }

    /// Stores `collection`, made for `req`, with what `req.fs` recorded while it was
    /// made. Skipped when a recorded path changed within the racy window (the next run
    /// stores it); failures to write only cost the next run its shortcut.
    pub fn save(&self, req: &CollectRequest, collection: &Collection) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        self.save_at(req, collection, now);
    }

    /// `save` with the current time in nanoseconds given.
    fn save_at(&self, req: &CollectRequest, collection: &Collection, now: i128) {
        let observed = req.fs.observations();
        let racy = |t: i128| t > now - RACY_WINDOW_NS;
        if observed
            .iter()
            .filter(|o| o.times_matter)
            .any(|o| match o.seen {
                Seen::File {
                    mtime_ns, ctime_ns, ..
                }
                | Seen::Dir {
                    mtime_ns, ctime_ns, ..
                } => racy(mtime_ns) || racy(ctime_ns),
                Seen::Missing | Seen::Other => false,
            })
        {
            return;
        }
        let key = Self::key(req);
        let Ok(bytes) = bincode::serialize(&SnapshotRef {
            key,
            observed: &observed,
            collection,
        }) else {
            return;
        };
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let target = self.file(&key);
        let temp = target.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&temp, bytes).is_ok() && std::fs::rename(&temp, &target).is_ok() {
            self.prune();
        } else {
            let _ = std::fs::remove_file(&temp);
        }
    }

    /// Removes every stored collection (`fastest cache clear`).
    pub fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Removes the oldest snapshots beyond `MAX_SNAPSHOTS`.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if files.len() <= MAX_SNAPSHOTS {
            return;
        }
        files.sort();
        for (_, path) in &files[..files.len() - MAX_SNAPSHOTS] {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{collect, DirectSource};
    use fastest_config::{determine_setup, SetupRequest};

    fn request(root: &Path, arg: &str) -> CollectRequest {
        let config = determine_setup(&SetupRequest {
            invocation_dir: root.to_path_buf(),
            ..Default::default()
        })
        .unwrap();
        CollectRequest {
            config,
            args: vec![root.join(arg).to_string_lossy().into_owned()],
            ignore: vec![],
            ignore_glob: vec![],
            doctest_modules: false,
            doctest_globs: vec!["test*.txt".into()],
            import_mode_importlib: false,
            fs: Default::default(),
        }
    }

    /// A clock an hour ahead: the files just written are out of the racy window.
    fn later() -> i128 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        now.as_nanos() as i128 + 3_600_000_000_000
    }

    fn ids(c: &Collection) -> Vec<String> {
        c.entries
            .iter()
            .flat_map(|e| match e {
                crate::Entry::Items { items, .. } => {
                    items.iter().map(|i| i.nodeid.clone()).collect()
                }
                crate::Entry::Dynamic { .. } => vec![],
            })
            .collect()
    }

    /// Collects `arg` under `root` and stores it as if an hour had passed.
    fn collect_and_store(store: &SnapshotStore, root: &Path, arg: &str) -> Collection {
        let req = request(root, arg);
        let c = collect(&req, &DirectSource).unwrap();
        store.save_at(&req, &c, later());
        c
    }

    #[test]
    fn reused_until_a_file_a_directory_or_a_probed_path_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let store = SnapshotStore::new(&root.join(".fastest_cache"));
        std::fs::create_dir_all(root.join("tests")).unwrap();
        std::fs::write(root.join("tests/test_a.py"), "def test_one(): pass\n").unwrap();
        let first = collect_and_store(&store, &root, "tests");
        let stored = store.load(&request(&root, "tests")).expect("stored");
        assert_eq!(ids(&stored), ids(&first));
        assert_eq!(ids(&stored), ["tests/test_a.py::test_one"]);

        // A new test file: the listed directory changed.
        std::fs::write(root.join("tests/test_b.py"), "def test_two(): pass\n").unwrap();
        assert!(store.load(&request(&root, "tests")).is_none());
        collect_and_store(&store, &root, "tests");
        assert_eq!(
            ids(&store.load(&request(&root, "tests")).unwrap()),
            ["tests/test_a.py::test_one", "tests/test_b.py::test_two"]
        );

        // A file rewritten with the same size.
        std::fs::write(root.join("tests/test_a.py"), "def test_uno(): pass\n").unwrap();
        assert!(store.load(&request(&root, "tests")).is_none());
        collect_and_store(&store, &root, "tests");

        // A conftest appears where the collection looked for one but never listed:
        // the rootdir above the `tests` argument.
        assert!(store.load(&request(&root, "tests")).is_some());
        std::fs::write(root.join("conftest.py"), "").unwrap();
        assert!(store.load(&request(&root, "tests")).is_none());

        // Another request is another snapshot.
        collect_and_store(&store, &root, "tests");
        assert!(store.load(&request(&root, "tests")).is_some());
        assert!(store.load(&request(&root, "tests/test_a.py")).is_none());
    }

    #[test]
    fn a_freshly_written_tree_is_not_stored_and_a_foreign_file_is_a_miss() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let store = SnapshotStore::new(&root.join(".fastest_cache"));
        // As after fastest opened its cache: the cache directory is there already.
        std::fs::create_dir_all(root.join(".fastest_cache/collections")).unwrap();
        std::fs::write(root.join("test_a.py"), "def test_one(): pass\n").unwrap();
        let req = request(&root, ".");
        let c = collect(&req, &DirectSource).unwrap();
        store.save(&req, &c);
        assert!(
            store.load(&request(&root, ".")).is_none(),
            "racy tree stored"
        );

        collect_and_store(&store, &root, ".");
        assert!(store.load(&request(&root, ".")).is_some());
        let file = store.file(&SnapshotStore::key(&request(&root, ".")));
        std::fs::write(&file, b"not a snapshot").unwrap();
        assert!(store.load(&request(&root, ".")).is_none());
    }
}
