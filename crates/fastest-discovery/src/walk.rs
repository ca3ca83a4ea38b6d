//! The filesystem walk, in pytest's order and with its ignore rules: sorted entries,
//! `__init__.py` first in packages, `norecursedirs`, virtualenvs, `__pycache__`,
//! `--ignore`/`--ignore-glob`, and conftest `collect_ignore`/`collect_ignore_glob`.

use crate::link::Linker;
use crate::summary::ImportRef;
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

/// One result of a walk: a file, or a directory Python must collect as a whole (with why).
pub type Walked = Result<Found, (PathBuf, String)>;

/// The ignore lists that apply to the entries of one directory.
#[derive(Debug, Default)]
pub struct DirIgnores {
    /// Exact paths (conftest `collect_ignore`, `--ignore`).
    pub paths: Vec<PathBuf>,
    /// Patterns matched against the full path (`collect_ignore_glob`, `--ignore-glob`).
    pub globs: Vec<String>,
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
            if self.req.fs.is_file(&c) {
                chain.push(c);
            }
            if d == root || !d.starts_with(root) {
                break;
            }
        }
        chain
    }

    /// The nearest conftest's `collect_ignore`/`collect_ignore_glob` (pytest reads the
    /// attribute from the nearest conftest that has it); Err when it is only known at
    /// run time.
    fn conftest_ignores(&self, parent: &Path, attr: &str) -> Result<Vec<PathBuf>, String> {
        for conftest in self.conftest_chain(parent) {
            let s = self.source.summary(&conftest);
            let (v, stars) = if attr == "collect_ignore" {
                (&s.collect_ignore, &s.collect_ignore_stars)
            } else {
                (&s.collect_ignore_glob, &s.collect_ignore_glob_stars)
            };
            for star in stars {
                self.star_leaves_unbound(&conftest, star, attr, 0)
                    .map_err(|e| format!("{}: {attr} {e}", conftest.display()))?;
            }
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

    /// Ok when `from module import *` in `from` certainly does not bind `attr`: the
    /// module is a project file that never mentions it (through its own star imports
    /// too). Anything else (outside the project, defines it, too deep) is Err.
    fn star_leaves_unbound(
        &self,
        from: &Path,
        star: &ImportRef,
        attr: &str,
        depth: u32,
    ) -> Result<(), String> {
        let linker = Linker {
            req: self.req,
            source: self.source,
        };
        let what = format!("may be bound by `from {} import *`", star.module);
        if depth > 8 {
            return Err(what);
        }
        let Some(target) = linker.resolve_module(from, &star.module, star.level) else {
            return Err(format!("{what} (module outside the project)"));
        };
        let s = self.source.summary(&target);
        let (v, stars) = if attr == "collect_ignore" {
            (&s.collect_ignore, &s.collect_ignore_stars)
        } else {
            (&s.collect_ignore_glob, &s.collect_ignore_glob_stars)
        };
        if s.parse_error.is_some() || v.is_some() {
            return Err(what);
        }
        for inner in stars {
            self.star_leaves_unbound(&target, inner, attr, depth + 1)?;
        }
        Ok(())
    }

    /// The ignore lists that apply to the entries of `dir` (from the conftests of `dir`
    /// and its ancestors, plus `--ignore`/`--ignore-glob`). Err when a conftest decides
    /// them at run time: then pytest must collect `dir` as a whole.
    pub fn dir_ignores(&self, dir: &Path) -> Result<DirIgnores, String> {
        let mut paths = self.conftest_ignores(dir, "collect_ignore")?;
        paths.extend(self.req.ignore.iter().cloned());
        let mut globs: Vec<String> = self
            .conftest_ignores(dir, "collect_ignore_glob")?
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        globs.extend(self.req.ignore_glob.iter().cloned());
        Ok(DirIgnores { paths, globs })
    }

    /// pytest's `pytest_ignore_collect` for an entry of a directory whose ignore lists
    /// are `ignores`.
    pub fn ignored(&self, path: &Path, is_dir: bool, ignores: &DirIgnores) -> bool {
        if path.file_name().is_some_and(|n| n == "__pycache__") {
            return true;
        }
        if ignores.paths.iter().any(|p| p == path) {
            return true;
        }
        let full = path.to_string_lossy();
        if ignores.globs.iter().any(|g| fnmatchcase(&full, g)) {
            return true;
        }
        if is_dir {
            let fs = &self.req.fs;
            if fs.is_file(&path.join("pyvenv.cfg")) || fs.is_file(&path.join("conda-meta/history"))
            {
                return true;
            }
            if self
                .req
                .config
                .norecursedirs()
                .iter()
                .any(|p| fnmatch_ex(p, path))
            {
                return true;
            }
        }
        false
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

    /// Walks a directory argument. `Err((dir, reason))` entries mark subtrees whose
    /// collection depends on run-time values (handed to Python as a whole).
    pub fn walk_dir(&mut self, dir: &Path, out: &mut Vec<Walked>) {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if !self.visited_dirs.insert(canonical) {
            self.warnings.push(format!(
                "skipping {}: directory already visited (symlink loop?)",
                dir.display()
            ));
            return;
        }
        let mut entries: Vec<(String, PathBuf)> = match self.req.fs.read_dir(dir) {
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
        // Every entry of `dir` is checked against the same lists: when a conftest computes
        // them at run time, nothing in `dir` can be decided statically.
        let ignores = match self.dir_ignores(dir) {
            Ok(i) => i,
            Err(reason) => {
                out.push(Err((dir.to_path_buf(), reason)));
                return;
            }
        };
        let is_package = self.req.fs.is_file(&dir.join("__init__.py"));
        entries.sort_by(|a, b| {
            if is_package {
                (a.0 != "__init__.py", &a.0).cmp(&(b.0 != "__init__.py", &b.0))
            } else {
                a.0.cmp(&b.0)
            }
        });
        for (_, path) in entries {
            // `is_dir`/`is_file` follow symlinks; a broken link or loop is neither.
            let seen = self.req.fs.kind(&path);
            let is_dir = seen.is_dir();
            if !is_dir && !seen.is_file() {
                continue;
            }
            if self.ignored(&path, is_dir, &ignores) {
                continue;
            }
            if is_dir {
                self.walk_dir(&path, out);
            } else {
                out.extend(self.classify_file(&path, false).into_iter().map(Ok));
            }
        }
    }
}
