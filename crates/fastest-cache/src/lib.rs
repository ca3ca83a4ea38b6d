//! Cache stage: the sled database under `.fastest_cache/`, versioned, blake3-keyed.
//!
//! Opening never fails the run: a cache locked by another `fastest` falls back to a
//! temporary store, a corrupt one or one from another schema is warned about and
//! rebuilt. Every tree and value format is documented in `cache_schema/`.

use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

/// Version of the on-disk layout; a mismatch clears the database.
pub const SCHEMA_VERSION: u32 = 1;

/// Tree names (see cache_schema/README.md).
pub const TREE_META: &str = "meta";
pub const TREE_SUMMARIES: &str = "summaries";
pub const TREE_STAT: &str = "stat";

pub type Digest = [u8; 32];

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
        let db = match open_sled(&db_path) {
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

    pub fn flush(&self) {
        if self.mode == CacheMode::Persistent {
            let _ = self.db.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
