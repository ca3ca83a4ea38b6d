//! The filesystem walk, in pytest's order and with its ignore rules: sorted entries,
//! `__init__.py` first in packages, `norecursedirs`, virtualenvs, `__pycache__`,
//! `--ignore`/`--ignore-glob`, and conftest `collect_ignore`/`collect_ignore_glob`.

use crate::{CollectRequest, SummarySource};
use fastest_config::fnmatch::{fnmatch_ex, fnmatchcase};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A file the walk yields, in collection order.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A Python module to collect tests (and doctests) from.
    Module { path: PathBuf, is_test_file: bool },
    /// A `test*.txt` doctest text file.
    DoctestText(PathBuf),
}

pub struct Walker<'a> {
    pub req: &'a CollectRequest,
    pub source: &'a dyn SummarySource,
    pub warnings: Vec<String>,
    visited_dirs: HashSet<PathBuf>,
}

impl<'a> Walker<'a> {
    pub fn new(req: &'a CollectRequest, source: &'a dyn SummarySource) -> Self {
        Walker {
            req,
            source,
            warnings: vec![],
            visited_dirs: HashSet::new(),
        }
    }

    /// Conftest files that apply to `dir` (its own and its ancestors' up to the
    /// rootdir), nearest first.
    pub fn conftest_chain(&self, dir: &Path) -> Vec<PathBuf> {
        let root = &self.req.config.rootdir;
        let mut chain = Vec::new();
        for d in dir.ancestors() {
            let c = d.join("conftest.py");
            if c.is_file() {
                chain.push(c);
            }
            if d == root || !d.starts_with(root) {
                break;
            }
        }
        chain
    }

    /// The nearest conftest's `collect_ignore`/`collect_ignore_glob`; Err when a
    /// conftest computes it at run time.
    fn conftest_ignores(&self, parent: &Path, attr: &str) -> Result<Vec<PathBuf>, String> {
        for conftest in self.conftest_chain(parent) {
            let s = self.source.summary(&conftest);
            let v = if attr == "collect_ignore" {
                &s.collect_ignore
            } else {
                &s.collect_ignore_glob
            };
            match v {
                None => continue,
                Some(Ok(list)) => {
                    let base = conftest.parent().unwrap();
                    return Ok(list.iter().map(|x| base.join(x)).collect());
                }
                Some(Err(e)) => return Err(format!("{}: {attr} {e}", conftest.display())),
            }
        }
        Ok(vec![])
    }

    /// pytest's `pytest_ignore_collect`. Err means it depends on run-time values.
    pub fn ignored(&self, path: &Path, is_dir: bool) -> Result<bool, String> {
        if path.file_name().is_some_and(|n| n == "__pycache__") {
            return Ok(true);
        }
        let parent = path.parent().unwrap_or(path);
        let mut ignore_paths = self.conftest_ignores(parent, "collect_ignore")?;
        ignore_paths.extend(self.req.ignore.iter().cloned());
        if ignore_paths.iter().any(|p| p == path) {
            return Ok(true);
        }
        let mut globs: Vec<String> = self
            .conftest_ignores(parent, "collect_ignore_glob")?
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        globs.extend(self.req.ignore_glob.iter().cloned());
        let full = path.to_string_lossy();
        if globs.iter().any(|g| fnmatchcase(&full, g)) {
            return Ok(true);
        }
        if is_dir {
            if path.join("pyvenv.cfg").is_file() || path.join("conda-meta/history").is_file() {
                return Ok(true);
            }
            if self
                .req
                .config
                .norecursedirs()
                .iter()
                .any(|p| fnmatch_ex(p, path))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn python_file_matches(&self, path: &Path) -> bool {
        self.req
            .config
            .python_files()
            .iter()
            .any(|p| fnmatch_ex(p, path))
    }

    /// What pytest_collect_file yields for one file.
    pub fn classify_file(&self, path: &Path, initpath: bool) -> Vec<Found> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut out = vec![];
        if name.ends_with(".py") {
            let is_test_file = initpath || self.python_file_matches(path);
            let doctest = self.req.doctest_modules && name != "setup.py" && name != "__main__.py";
            if is_test_file || doctest {
                out.push(Found::Module {
                    path: path.to_path_buf(),
                    is_test_file,
                });
            }
        } else if (initpath && (name.ends_with(".txt") || name.ends_with(".rst")))
            || self.req.doctest_globs.iter().any(|g| fnmatch_ex(g, path))
        {
            out.push(Found::DoctestText(path.to_path_buf()));
        }
        out
    }

    /// Walks a directory argument. `Err(dir)` entries mark subtrees whose collection
    /// depends on run-time values (handed to Python as a whole).
    pub fn walk_dir(&mut self, dir: &Path, out: &mut Vec<Result<Found, PathBuf>>) {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if !self.visited_dirs.insert(canonical) {
            self.warnings.push(format!(
                "skipping {}: directory already visited (symlink loop?)",
                dir.display()
            ));
            return;
        }
        let mut entries: Vec<(String, PathBuf)> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect(),
            Err(e) => {
                self.warnings
                    .push(format!("cannot read directory {}: {e}", dir.display()));
                return;
            }
        };
        let is_package = dir.join("__init__.py").is_file();
        entries.sort_by(|a, b| {
            if is_package {
                (a.0 != "__init__.py", &a.0).cmp(&(b.0 != "__init__.py", &b.0))
            } else {
                a.0.cmp(&b.0)
            }
        });
        for (_, path) in entries {
            // `is_dir`/`is_file` follow symlinks; a broken link or loop is neither.
            let is_dir = path.is_dir();
            if !is_dir && !path.is_file() {
                continue;
            }
            match self.ignored(&path, is_dir) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(_) => {
                    out.push(Err(if is_dir {
                        path
                    } else {
                        path.parent().unwrap().to_path_buf()
                    }));
                    if is_dir {
                        continue;
                    }
                    return;
                }
            }
            if is_dir {
                self.walk_dir(&path, out);
            } else {
                out.extend(self.classify_file(&path, false).into_iter().map(Ok));
            }
        }
    }
}
