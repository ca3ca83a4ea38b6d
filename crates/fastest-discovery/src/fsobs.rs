//! File-system facts a collection was derived from: every path the walk, the linker and
//! the summaries looked at, with what a `stat` said about it. A stored collection is
//! current while stating those paths again gives the same answers (`snapshot.rs`).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What one `stat` (following symlinks) said about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seen {
    Missing,
    /// A file: its content is trusted unchanged while size, mtime, ctime and inode are.
    File {
        len: u64,
        mtime_ns: i128,
        ctime_ns: i128,
        ino: u64,
    },
    /// A directory: its listing is trusted unchanged while its mtime is (creating,
    /// deleting or renaming an entry updates it).
    Dir {
        mtime_ns: i128,
        ctime_ns: i128,
        ino: u64,
    },
    /// Anything else (a socket, a device, a broken symlink's target kind).
    Other,
}

impl Seen {
    /// Stats `path` now.
    pub fn of(path: &Path) -> Seen {
        let Ok(md) = std::fs::metadata(path) else {
            return Seen::Missing;
        };
        let (mtime_ns, ctime_ns, ino) = times(&md);
        if md.is_file() {
            Seen::File {
                len: md.len(),
                mtime_ns,
                ctime_ns,
                ino,
            }
        } else if md.is_dir() {
            Seen::Dir {
                mtime_ns,
                ctime_ns,
                ino,
            }
        } else {
            Seen::Other
        }
    }

    pub fn is_file(&self) -> bool {
        matches!(self, Seen::File { .. })
    }

    pub fn is_dir(&self) -> bool {
        matches!(self, Seen::Dir { .. })
    }

    pub fn exists(&self) -> bool {
        !matches!(self, Seen::Missing)
    }
}

#[cfg(unix)]
fn times(md: &std::fs::Metadata) -> (i128, i128, u64) {
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    (
        ns(md.mtime(), md.mtime_nsec()),
        ns(md.ctime(), md.ctime_nsec()),
        md.ino(),
    )
}

#[cfg(not(unix))]
fn times(md: &std::fs::Metadata) -> (i128, i128, u64) {
    let ns = |t: std::io::Result<std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128)
    };
    (ns(md.modified()), ns(md.created()), 0)
}

/// One path a collection looked at: what a stat said, and whether only the kind
/// (missing, file, directory) mattered or also the times (content, listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub path: PathBuf,
    pub seen: Seen,
    pub times_matter: bool,
}

impl Observation {
    /// Whether stating the path now gives an answer the collection would not tell apart.
    pub fn still_holds(&self) -> bool {
        let now = Seen::of(&self.path);
        if self.times_matter {
            now == self.seen
        } else {
            std::mem::discriminant(&now) == std::mem::discriminant(&self.seen)
        }
    }
}

/// The paths one collection looked at, first answer kept. Every file-system question the
/// collection asks goes through here, so the record is complete.
#[derive(Default)]
pub struct FsLog {
    seen: Mutex<HashMap<PathBuf, (Seen, bool)>>,
}

impl std::fmt::Debug for FsLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsLog")
    }
}

impl FsLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Seen, bool)>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn observe(&self, path: &Path, times_matter: bool) -> Seen {
        if let Some((seen, matter)) = self.lock().get_mut(path) {
            *matter |= times_matter;
            return *seen;
        }
        let seen = Seen::of(path);
        let mut map = self.lock();
        let entry = map.entry(path.to_path_buf()).or_insert((seen, false));
        entry.1 |= times_matter;
        entry.0
    }

    /// Stats `path`, recording that its content (a file) or listing (a directory) was
    /// used: any change to its times invalidates the record.
    pub fn stat(&self, path: &Path) -> Seen {
        self.observe(path, true)
    }

    /// Stats `path`, recording that only its kind was used (exists, file or directory).
    pub fn kind(&self, path: &Path) -> Seen {
        self.observe(path, false)
    }

    pub fn is_file(&self, path: &Path) -> bool {
        self.kind(path).is_file()
    }

    pub fn is_dir(&self, path: &Path) -> bool {
        self.kind(path).is_dir()
    }

    pub fn exists(&self, path: &Path) -> bool {
        self.kind(path).exists()
    }

    /// Lists a directory, recording its stat (its mtime stands for the listing).
    pub fn read_dir(&self, dir: &Path) -> std::io::Result<std::fs::ReadDir> {
        self.stat(dir);
        std::fs::read_dir(dir)
    }

    /// Reads a file, recording its stat.
    pub fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.stat(path);
        std::fs::read(path)
    }

    /// Everything recorded so far, sorted by path.
    pub fn observations(&self) -> Vec<Observation> {
        let mut all: Vec<Observation> = self
            .lock()
            .iter()
            .map(|(path, (seen, times_matter))| Observation {
                path: path.clone(),
                seen: *seen,
                times_matter: *times_matter,
            })
            .collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_first_answer_per_path_and_tells_kinds_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a.py");
        let missing = tmp.path().join("b.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let log = FsLog::default();
        assert!(log.is_file(&file));
        assert!(!log.exists(&missing));
        assert!(log.is_dir(tmp.path()));
        // Created after the first question: the record keeps what the collection saw.
        std::fs::write(&missing, "").unwrap();
        assert!(!log.exists(&missing));
        let seen = log.observations();
        assert_eq!(seen.len(), 3);
        let probe = seen.iter().find(|o| o.path == missing).unwrap();
        assert_eq!(probe.seen, Seen::Missing);
        assert!(!probe.still_holds());
        assert!(matches!(Seen::of(&missing), Seen::File { len: 0, .. }));
    }

    #[test]
    fn only_the_kind_counts_until_the_content_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("conftest.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let log = FsLog::default();
        assert!(log.is_file(&file));
        std::fs::write(&file, "x = 22\n").unwrap();
        assert!(
            log.observations()[0].still_holds(),
            "only its existence was used"
        );
        log.stat(&file);
        let used = &log.observations()[0];
        assert!(used.times_matter);
        assert!(!used.still_holds(), "its content was used");
    }

    #[test]
    fn a_rewrite_changes_what_a_file_is_seen_as() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let before = Seen::of(&file);
        std::fs::write(&file, "x = 22\n").unwrap();
        assert_ne!(Seen::of(&file), before);
    }
}
