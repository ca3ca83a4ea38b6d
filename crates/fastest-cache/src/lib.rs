//! Cache stage: the sled database under `.fastest_cache/`, versioned, blake3-keyed.
//!
//! Opening never fails the run: a cache locked by another `fastest` falls back to a
//! temporary store, a corrupt one or one from another schema is warned about and
//! rebuilt. Every tree and value format is documented in `cache_schema/`.

use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

/// Version of the on-disk layout; a mismatch clears the database.
pub const SCHEMA_VERSION: u32 = 2;

/// Tree names (see cache_schema/README.md).
pub const TREE_META: &str = "meta";
pub const TREE_SUMMARIES: &str = "summaries";
pub const TREE_STAT: &str = "stat";

pub type Digest = [u8; 32];

/// Directory (under the cache directory) of the values `put_large` keeps out of sled.
pub const LARGE_DIR: &str = "large";

/// Encoded values above this size go to a file of their own (`put_large`): sled 0.34
/// stores such values as blobs and reads them again while recovering at every open
/// (a 16 MB stored collection made opening packaging's cache take 20 ms).
const LARGE_VALUE_BYTES: usize = 32 * 1024;

/// First byte of a `put_large` value in sled: the encoding follows, or a file's digest.
const INLINE: u8 = 0;
const IN_FILE: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache database at {path}: {source}")]
    Sled { path: PathBuf, source: sled::Error },
}

/// How the cache was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// The project's persistent cache.
    Persistent,
    /// A throw-away store: the real one was locked or could not be opened.
    Temporary,
}

pub struct Cache {
    db: sled::Db,
    /// Where `put_large` keeps values too big for the database (None: temporary cache).
    large_dir: Option<PathBuf>,
    pub mode: CacheMode,
    /// Problems met while opening or reading, for the CLI to print as warnings.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

/// blake3 of several byte strings, length-prefixed so boundaries matter.
pub fn digest(parts: &[&[u8]]) -> Digest {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// Bytes in the files under `dir` (not following links).
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

fn open_sled(path: &Path) -> Result<sled::Db, CacheError> {
    let path_buf = path.to_path_buf();
    // sled can panic on some corrupt files; treat that as corruption too.
    std::panic::catch_unwind(|| sled::Config::new().path(&path_buf).open())
        .unwrap_or_else(|_| Err(sled::Error::Corruption { at: None, bt: () }))
        .map_err(|source| CacheError::Sled {
            path: path.to_path_buf(),
            source,
        })
}

/// How long `Cache::open` waits for a database another handle holds: a run that just
/// ended (in `fastest watch`, the same process) releases its lock when sled's background
/// threads finish, a few milliseconds after the handle is dropped.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(1000);

/// `open_sled`, retried while the database is locked, for up to `LOCK_WAIT`.
fn open_sled_waiting(path: &Path) -> Result<sled::Db, CacheError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match open_sled(path) {
            Err(e) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn is_lock_error(e: &CacheError) -> bool {
    let CacheError::Sled { source, .. } = e;
    matches!(source, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("lock"))
}

impl Cache {
    /// Opens `<cache_dir>/db`; falls back as described in the module docs.
    pub fn open(cache_dir: &Path) -> Cache {
        let mut warnings = Vec::new();
        let db_path = cache_dir.join("db");
        let _ = std::fs::create_dir_all(cache_dir);
        let _ = std::fs::write(cache_dir.join(".gitignore"), "# created by fastest\n*\n");
        let db = match open_sled_waiting(&db_path) {
            Ok(db) => Some(db),
            Err(e) if is_lock_error(&e) => {
                warnings.push(format!(
                    "cache {} is in use by another fastest process; using a temporary cache for this run",
                    db_path.display()
                ));
                None
            }
            Err(e) => {
                warnings.push(format!("{e}; the cache is unusable and was rebuilt"));
                let aside = cache_dir.join(format!("db.corrupt-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&aside);
                if std::fs::rename(&db_path, &aside).is_ok() {
                    let _ = std::fs::remove_dir_all(&aside);
                }
                match open_sled(&db_path) {
                    Ok(db) => Some(db),
                    Err(e) => {
                        warnings.push(format!("{e}; using a temporary cache"));
                        None
                    }
                }
            }
        };
        let (db, mode) = match db {
            Some(db) => (db, CacheMode::Persistent),
            None => (
                sled::Config::new()
                    .temporary(true)
                    .open()
                    .expect("temporary sled store"),
                CacheMode::Temporary,
            ),
        };
        let cache = Cache {
            db,
            large_dir: (mode == CacheMode::Persistent).then(|| cache_dir.join(LARGE_DIR)),
            mode,
            warnings: std::sync::Mutex::new(warnings),
        };
        cache.check_schema();
        cache
    }

    /// An in-memory cache (tests, `--no-cache`).
    pub fn temporary() -> Cache {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("temporary sled store");
        Cache {
            db,
            large_dir: None,
            mode: CacheMode::Temporary,
            warnings: Default::default(),
        }
    }

    fn check_schema(&self) {
        let Ok(meta) = self.db.open_tree(TREE_META) else {
            return;
        };
        let current = meta.get("schema_version").ok().flatten();
        let expected = SCHEMA_VERSION.to_le_bytes();
        if current.as_deref() == Some(&expected[..]) {
            return;
        }
        if current.is_some() {
            self.warn("cache schema version changed; clearing the cache".into());
        }
        for name in self.db.tree_names() {
            if name.as_ref() != b"__sled__default" {
                let _ = self.db.drop_tree(name);
            }
        }
        if let Ok(meta) = self.db.open_tree(TREE_META) {
            let _ = meta.insert("schema_version", &expected[..]);
        }
    }

    pub fn warn(&self, msg: String) {
        self.warnings.lock().unwrap().push(msg);
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap())
    }

    /// Reads and decodes a value; an undecodable value is a warning and a miss.
    pub fn get<T: DeserializeOwned>(&self, tree: &str, key: &[u8]) -> Option<T> {
        let raw = self.db.open_tree(tree).ok()?.get(key).ok()??;
        match bincode::deserialize(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.warn(format!(
                    "corrupt cache entry in tree {tree}: {e}; ignoring it"
                ));
                None
            }
        }
    }

    pub fn put<T: Serialize>(&self, tree: &str, key: &[u8], value: &T) {
        let Ok(bytes) = bincode::serialize(value) else {
            return;
        };
        if let Ok(t) = self.db.open_tree(tree) {
            let _ = t.insert(key, bytes);
        }
    }

    /// `put` for values that may be large: above `LARGE_VALUE_BYTES` the encoding goes to
    /// `<cache_dir>/large/<blake3 hex>` (written atomically) and sled keeps its digest.
    /// Read back with `get_large` only.
    pub fn put_large<T: Serialize>(&self, tree: &str, key: &[u8], value: &T) {
        let Ok(bytes) = bincode::serialize(value) else {
            return;
        };
        let stored = match &self.large_dir {
            Some(dir) if bytes.len() > LARGE_VALUE_BYTES => {
                let hash = *blake3::hash(&bytes).as_bytes();
                let file = dir.join(hex(&hash));
                let temp = dir.join(format!(".{}.tmp{}", hex(&hash), std::process::id()));
                let written = std::fs::create_dir_all(dir).is_ok()
                    && std::fs::write(&temp, &bytes).is_ok()
                    && std::fs::rename(&temp, &file).is_ok();
                if !written {
                    let _ = std::fs::remove_file(&temp);
                    return;
                }
                [&[IN_FILE][..], &hash].concat()
            }
            _ => [&[INLINE][..], &bytes].concat(),
        };
        if let Ok(t) = self.db.open_tree(tree) {
            let _ = t.insert(key, stored);
        }
    }

    /// Reads a value stored with `put_large`; a missing or damaged file, like an
    /// undecodable value, is a warning and a miss.
    pub fn get_large<T: DeserializeOwned>(&self, tree: &str, key: &[u8]) -> Option<T> {
        let raw = self.db.open_tree(tree).ok()?.get(key).ok()??;
        let (tag, rest) = raw.split_first()?;
        let from_file;
        let bytes: &[u8] = match (*tag, &self.large_dir) {
            (INLINE, _) => rest,
            (IN_FILE, Some(dir)) if rest.len() == 32 => {
                let file = dir.join(hex(rest));
                from_file = match std::fs::read(&file) {
                    Ok(b) if blake3::hash(&b).as_bytes()[..] == *rest => b,
                    Ok(_) => {
                        self.warn(format!("{} is damaged; ignoring it", file.display()));
                        return None;
                    }
                    Err(e) => {
                        self.warn(format!("cannot read {}: {e}; ignoring it", file.display()));
                        return None;
                    }
                };
                &from_file
            }
            _ => {
                self.warn(format!("corrupt cache entry in tree {tree}; ignoring it"));
                return None;
            }
        };
        match bincode::deserialize(bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                self.warn(format!(
                    "corrupt cache entry in tree {tree}: {e}; ignoring it"
                ));
                None
            }
        }
    }

    /// Whether `key` holds a value (a read, without decoding it).
    pub fn contains(&self, tree: &str, key: &[u8]) -> bool {
        self.db
            .open_tree(tree)
            .ok()
            .and_then(|t| t.contains_key(key).ok())
            .unwrap_or(false)
    }

    pub fn remove(&self, tree: &str, key: &[u8]) {
        if let Ok(t) = self.db.open_tree(tree) {
            let _ = t.remove(key);
        }
    }

    /// Every (UTF-8 key, value) of a tree; undecodable entries are skipped.
    pub fn scan<T: DeserializeOwned>(&self, tree: &str) -> Vec<(String, T)> {
        let Ok(t) = self.db.open_tree(tree) else {
            return Vec::new();
        };
        t.iter()
            .filter_map(|kv| kv.ok())
            .filter_map(|(k, v)| {
                let key = String::from_utf8(k.to_vec()).ok()?;
                let value = bincode::deserialize(&v).ok()?;
                Some((key, value))
            })
            .collect()
    }

    /// Every key of a tree (for trees whose values are small: sled reads a node's
    /// values with its keys).
    pub fn keys(&self, tree: &str) -> Vec<Vec<u8>> {
        let Ok(t) = self.db.open_tree(tree) else {
            return Vec::new();
        };
        t.iter()
            .keys()
            .filter_map(|k| k.ok())
            .map(|k| k.to_vec())
            .collect()
    }

    /// Number of entries in a tree.
    pub fn len(&self, tree: &str) -> usize {
        self.db.open_tree(tree).map(|t| t.len()).unwrap_or(0)
    }

    /// Removes every entry of a tree.
    pub fn clear_tree(&self, tree: &str) {
        if let Ok(t) = self.db.open_tree(tree) {
            let _ = t.clear();
        }
    }

    /// Empties every tree except the schema metadata (`fastest cache clear`).
    pub fn clear_all(&self) {
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if name != TREE_META && name != "__sled__default" {
                self.clear_tree(&name);
            }
        }
    }

    /// Rewrites `<cache_dir>/db` into a fresh database holding only its live entries, and
    /// returns the directory's size in bytes before and after. sled keeps the space of
    /// removed and overwritten values in its log for a long time; this gives it back
    /// (`fastest cache gc`). No `Cache` of this directory may be open in the process. A
    /// run killed midway leaves the old database in place, or none (an empty cache).
    pub fn compact(cache_dir: &Path) -> Result<(u64, u64), CacheError> {
        let db_path = cache_dir.join("db");
        let fresh_path = cache_dir.join(format!("db.compact-{}", std::process::id()));
        let aside = cache_dir.join(format!("db.old-{}", std::process::id()));
        let sled_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CacheError::Sled { path, source }
        };
        let before = dir_size(&db_path);
        {
            // A handle dropped just before releases its lock a few milliseconds later.
            let old = open_sled_waiting(&db_path)?;
            let _ = std::fs::remove_dir_all(&fresh_path);
            let fresh = sled::Config::new()
                .path(&fresh_path)
                .open()
                .map_err(sled_error(&fresh_path))?;
            for name in old.tree_names() {
                let from = old.open_tree(&name).map_err(sled_error(&db_path))?;
                let to = fresh.open_tree(&name).map_err(sled_error(&fresh_path))?;
                for entry in from.iter() {
                    let (key, value) = entry.map_err(sled_error(&db_path))?;
                    to.insert(key, value).map_err(sled_error(&fresh_path))?;
                }
            }
            fresh.flush().map_err(sled_error(&fresh_path))?;
        }
        // The handles are dropped; sled's threads release the files shortly after.
        std::fs::rename(&db_path, &aside).map_err(|e| sled_error(&db_path)(sled::Error::Io(e)))?;
        std::fs::rename(&fresh_path, &db_path)
            .map_err(|e| sled_error(&fresh_path)(sled::Error::Io(e)))?;
        let _ = std::fs::remove_dir_all(&aside);
        Ok((before, dir_size(&db_path)))
    }

    pub fn flush(&self) {
        if self.mode == CacheMode::Persistent {
            let _ = self.db.flush();
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_live_in_files_and_a_damaged_file_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<String> = (0..10_000).map(|i| format!("item {i}")).collect();
        {
            let c = Cache::open(dir.path());
            c.put_large(TREE_STAT, b"big", &big);
            c.put_large(TREE_STAT, b"small", &vec![1u32]);
            c.flush();
        }
        let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join(LARGE_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "only the large value has a file: {files:?}");
        let c = Cache::open(dir.path());
        assert_eq!(c.get_large::<Vec<String>>(TREE_STAT, b"big"), Some(big));
        assert_eq!(c.get_large::<Vec<u32>>(TREE_STAT, b"small"), Some(vec![1]));
        std::fs::write(&files[0], b"damaged").unwrap();
        assert_eq!(c.get_large::<Vec<String>>(TREE_STAT, b"big"), None);
        assert!(c.take_warnings()[0].contains("damaged"));
    }

    #[test]
    fn compacting_keeps_every_live_entry_and_frees_the_space_of_removed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let blob = vec![7u8; 4096];
        {
            let c = Cache::open(dir.path());
            for i in 0u32..2000 {
                c.put(TREE_STAT, &i.to_le_bytes(), &blob);
            }
            for i in 0u32..1990 {
                c.remove(TREE_STAT, &i.to_le_bytes());
            }
            c.put(TREE_SUMMARIES, b"kept", &"value".to_string());
            c.flush();
        }
        let (before, after) = Cache::compact(dir.path()).unwrap();
        assert!(after < before, "{before} -> {after}");
        let c = Cache::open(dir.path());
        assert!(c.take_warnings().is_empty());
        assert_eq!(c.len(TREE_STAT), 10);
        assert_eq!(
            c.get::<Vec<u8>>(TREE_STAT, &1999u32.to_le_bytes()),
            Some(blob)
        );
        assert_eq!(
            c.get::<String>(TREE_SUMMARIES, b"kept").as_deref(),
            Some("value")
        );
        // Opened as itself: the schema entry came along (a missing one would clear it).
        assert_eq!(c.mode, CacheMode::Persistent);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("db."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn values_round_trip_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Cache::open(dir.path());
            assert_eq!(c.mode, CacheMode::Persistent);
            c.put(TREE_SUMMARIES, b"k", &vec![1u32, 2, 3]);
            c.flush();
        }
        let c = Cache::open(dir.path());
        assert_eq!(c.get::<Vec<u32>>(TREE_SUMMARIES, b"k"), Some(vec![1, 2, 3]));
        assert!(c.take_warnings().is_empty());
    }

    #[test]
    fn second_open_falls_back_to_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Cache::open(dir.path());
        let second = Cache::open(dir.path());
        assert_eq!(second.mode, CacheMode::Temporary);
        assert!(second.take_warnings()[0].contains("in use"));
    }

    #[test]
    fn open_waits_for_a_handle_released_soon_after() {
        let dir = tempfile::tempdir().unwrap();
        let first = Cache::open(dir.path());
        first.put(TREE_SUMMARIES, b"k", &7u32);
        first.flush();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(first);
        });
        let started = std::time::Instant::now();
        let second = Cache::open(dir.path());
        holder.join().unwrap();
        assert_eq!(
            second.mode,
            CacheMode::Persistent,
            "{:?}",
            second.take_warnings()
        );
        assert!(started.elapsed() >= std::time::Duration::from_millis(150));
        assert_eq!(second.get::<u32>(TREE_SUMMARIES, b"k"), Some(7));
    }

    #[test]
    fn garbage_database_is_rebuilt_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        std::fs::write(dir.path().join("db/conf"), b"\xff\xfe garbage").unwrap();
        std::fs::write(dir.path().join("db/db"), vec![0xabu8; 4096]).unwrap();
        let c = Cache::open(dir.path());
        c.put(TREE_STAT, b"x", &1u8);
        assert_eq!(c.get::<u8>(TREE_STAT, b"x"), Some(1));
    }

    #[test]
    fn undecodable_value_is_a_miss() {
        let c = Cache::temporary();
        c.db.open_tree(TREE_SUMMARIES)
            .unwrap()
            .insert(b"k", &[1u8][..])
            .unwrap();
        assert_eq!(c.get::<Vec<String>>(TREE_SUMMARIES, b"k"), None);
        assert_eq!(c.take_warnings().len(), 1);
    }
}
