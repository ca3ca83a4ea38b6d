//! Discovery stage: finds test files the way pytest does and turns them into node ids
//! without importing anything. What cannot be known statically is returned as a
//! *dynamic* entry for the project's Python to collect.

pub mod blocks;
pub mod doctest;
pub mod front_coded;
pub mod fsobs;
pub mod link;
pub mod markexpr;
pub mod parse;
pub mod pyrepr;
pub mod runtime_scan;
pub mod snapshot;
pub mod summary;
pub mod tree;
pub mod walk;

use fastest_config::ProjectConfig;
pub use link::StaticItem;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use summary::{ModuleSummary, SUMMARY_VERSION};
use walk::{Found, Walked, Walker};

/// Where summaries come from: the graph/cache layer implements this; `DirectSource`
/// parses on every call.
pub trait SummarySource: Sync {
    fn summary(&self, path: &Path) -> Arc<ModuleSummary>;
    /// Called once with every file the walk found, so an implementation can
    /// summarise them in parallel up front.
    fn prefetch(&self, _paths: &[PathBuf]) {}
}

/// A source that records the stat of every file it summarises in the request's log.
struct ObservingSource<'a> {
    inner: &'a dyn SummarySource,
    fs: &'a fsobs::FsLog,
}

impl SummarySource for ObservingSource<'_> {
    fn summary(&self, path: &Path) -> Arc<ModuleSummary> {
        self.fs.stat(path);
        self.inner.summary(path)
    }

    fn prefetch(&self, paths: &[PathBuf]) {
        self.inner.prefetch(paths)
    }
}

/// Reads and parses on demand, no caching.
pub struct DirectSource;

impl SummarySource for DirectSource {
    fn summary(&self, path: &Path) -> Arc<ModuleSummary> {
        Arc::new(summarize_path(path))
    }
}

/// Summarises a file on disk; unreadable files become parse errors.
pub fn summarize_path(path: &Path) -> ModuleSummary {
    match std::fs::read(path) {
        Ok(bytes) => parse::summarize(&bytes),
        Err(e) => ModuleSummary {
            parse_error: Some(format!("cannot read {}: {e}", path.display())),
            ..Default::default()
        },
    }
}

/// Everything collection depends on besides the files.
#[derive(Debug, Clone)]
pub struct CollectRequest {
    pub config: ProjectConfig,
    /// Positional args (paths / node ids) after testpaths resolution.
    pub args: Vec<String>,
    pub ignore: Vec<PathBuf>,
    pub ignore_glob: Vec<String>,
    pub doctest_modules: bool,
    pub doctest_globs: Vec<String>,
    /// `--import-mode=importlib`: modules get rootdir-based names, so two test files of
    /// one basename do not clash as they do in prepend and append mode.
    pub import_mode_importlib: bool,
    /// Where every file-system question of the collection is asked and recorded.
    pub fs: Arc<fsobs::FsLog>,
}

/// One unit of the collection, in order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Entry {
    /// Statically collected items of one file.
    Items {
        path: PathBuf,
        #[serde(with = "link::compact_items")]
        items: Vec<StaticItem>,
    },
    /// Python must collect this path (file or directory); `selector` is the node-id
    /// argument that named it, if any.
    Dynamic {
        path: PathBuf,
        selector: Option<String>,
        reason: String,
        /// A module collected only for `--doctest-modules` (not a test file): pytest
        /// must keep only its doctest items, although the path is passed explicitly.
        doctest_only: bool,
    },
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Collection {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
    /// Set when a conftest changes collection globally: Python must collect it all.
    pub session_dynamic: Option<String>,
    /// Some reason for collecting the session in Python is one the native engine cannot
    /// run either (a collection hook, plugins); the others only make pytest order items
    /// across modules (session-scoped fixture parameters).
    session_blocks_native: bool,
}

impl Entry {
    /// A module Python must collect every time, never from a stored collection: what it
    /// gives depends on other files collected in the same session (a module name
    /// clash), not only on what collecting it read.
    pub fn python_collects_afresh(&self) -> bool {
        matches!(self, Entry::Dynamic { reason, .. } if reason.starts_with(MODULE_NAME_CLASH))
    }
}

impl Collection {
    /// Python must collect the whole session, for `reason`; `native_runs` tells whether
    /// the native engine can still run the items Python collects.
    pub fn collect_session_in_python(&mut self, reason: String, native_runs: bool) {
        self.session_dynamic = Some(reason);
        self.session_blocks_native |= !native_runs;
    }

    /// Whether the whole session is collected by Python for reasons that still let the
    /// native engine run its items (by node id, in Python's order).
    pub fn session_runs_natively(&self) -> bool {
        self.session_dynamic.is_some() && !self.session_blocks_native
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("file or directory not found: {0}")]
    NotFound(String),
}

/// Hooks in a conftest that change what or how pytest collects.
const SUBTREE_HOOKS: &[&str] = &[
    "pytest_collect_file",
    "pytest_collection_modifyitems",
    "pytest_ignore_collect",
    "pytest_collect_directory",
    "pytest_collection",
    "pytest_pycollect_makemodule",
];
const MODULE_HOOKS: &[&str] = &[
    "pytest_generate_tests",
    "pytest_pycollect_makeitem",
    "pytest_make_parametrize_id",
];

/// Node-id path of `path`: relative to the rootdir, `/`-separated.
pub fn relpath(rootdir: &Path, path: &Path) -> String {
    if let Ok(r) = path.strip_prefix(rootdir) {
        return r.to_string_lossy().replace('\\', "/");
    }
    // Outside the rootdir: walk up from the rootdir as `bestrelpath` does.
    let mut up = String::new();
    for anc in rootdir.ancestors().skip(1) {
        up.push_str("../");
        if let Ok(r) = path.strip_prefix(anc) {
            return format!("{up}{}", r.to_string_lossy());
        }
    }
    path.to_string_lossy().into_owned()
}

/// The dotted module name pytest's prepend import mode gives `path`.
pub fn module_name(fs: &fsobs::FsLog, path: &Path) -> String {
    let mut parts = vec![];
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    if stem != "__init__" {
        parts.push(stem);
    }
    let mut d = path.parent();
    while let Some(dir) = d {
        if !fs.is_file(&dir.join("__init__.py")) {
            break;
        }
        parts.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        d = dir.parent();
    }
    parts.reverse();
    parts.join(".")
}

pub fn collect(
    req: &CollectRequest,
    source: &dyn SummarySource,
) -> Result<Collection, CollectError> {
    // Summaries depend on the files' content: their stats join the record.
    let observing = ObservingSource {
        inner: source,
        fs: &req.fs,
    };
    let source: &dyn SummarySource = &observing;
    let mut walker = Walker::new(req, source);
    let mut found: Vec<(Walked, Option<String>)> = Vec::new();
    let inv = &req.config.invocation_dir;
    for arg in &req.args {
        let (file_part, selector) = match arg.split_once("::") {
            Some((f, _)) => (f, Some(arg.clone())),
            None => (arg.as_str(), None),
        };
        let path = fastest_config::normalize_path(&inv.join(file_part));
        let seen = req.fs.kind(&path);
        if !seen.exists() {
            return Err(CollectError::NotFound(arg.clone()));
        }
        if seen.is_dir() {
            let mut out = Vec::new();
            walker.walk_dir(&path, &mut out);
            found.extend(out.into_iter().map(|f| (f, None)));
        } else {
            for f in walker.classify_file(&path, true) {
                found.push((Ok(f), selector.clone()));
            }
        }
    }
    let mut all_files: Vec<PathBuf> = found
        .iter()
        .filter_map(|(f, _)| match f {
            Ok(Found::Module { path, .. }) => Some(path.clone()),
            _ => None,
        })
        .collect();
    let conftests: HashSet<PathBuf> = all_files
        .iter()
        .flat_map(|p| walker.conftest_chain(p.parent().unwrap()))
        .collect();
    all_files.extend(conftests.iter().cloned());
    source.prefetch(&all_files);

    let mut collection = Collection::default();
    for c in &conftests {
        let s = source.summary(c);
        if let Some(h) = s.hooks.iter().find(|h| SUBTREE_HOOKS.contains(&h.as_str())) {
            collection.collect_session_in_python(format!("{} defines {h}", c.display()), false);
        }
        if s.declares_plugins {
            collection.collect_session_in_python(
                format!("{} declares pytest_plugins", c.display()),
                false,
            );
        }
        if s.parse_error.is_some() {
            collection.collect_session_in_python(
                format!("{} does not parse statically", c.display()),
                false,
            );
        }
        if let Some(why) = &s.import_abort {
            collection.collect_session_in_python(
                format!(
                    "{} {why} (pytest may skip or fail its directory)",
                    c.display()
                ),
                false,
            );
        }
        if let Some(why) = &s.cross_module_order {
            collection.collect_session_in_python(
                format!(
                    "{}: {why} (items may be reordered across modules)",
                    c.display()
                ),
                runtime_scan::native_runs_reordered(why),
            );
        }
    }
    let mut cross_module_seen = false;
    for (f, _) in &found {
        if let Ok(Found::Module {
            path,
            is_test_file: true,
        }) = f
        {
            if let Some(why) = &source.summary(path).cross_module_order {
                let native_runs = runtime_scan::native_runs_reordered(why);
                if cross_module_seen {
                    // The first module names the reason; the others may still block.
                    collection.session_blocks_native |= !native_runs;
                } else {
                    cross_module_seen = true;
                    collection.collect_session_in_python(
                        format!(
                            "{}: {why} (items may be reordered across modules)",
                            path.display()
                        ),
                        native_runs,
                    );
                }
            }
        }
    }
    let linker = link::Linker { req, source };
    // Parametrized fixtures imported into conftests or test modules: with a session or
    // package scope they reorder items across modules; a conftest's star import of
    // unknown fixtures might bring such a fixture.
    let imported_reason = |place: &Path, name: &str, scope: &str| {
        format!(
            "{} imports the fixture {name} with params= and scope {scope} \
             (items may be reordered across modules)",
            place.display()
        )
    };
    for c in &conftests {
        let s = source.summary(c);
        match imported_param_fixtures(&linker, c, &s, &mut HashSet::new()) {
            Err(why) => {
                collection.collect_session_in_python(format!("{} {why}", c.display()), false)
            }
            Ok(found) => {
                for (name, scope) in found.iter().filter(|(_, s)| !module_local_scope(s)) {
                    collection.collect_session_in_python(
                        imported_reason(c, name, scope),
                        scope == "session",
                    );
                }
            }
        }
    }
    for (f, _) in &found {
        if let Ok(Found::Module {
            path,
            is_test_file: true,
        }) = f
        {
            let s = source.summary(path);
            if let Ok(found) = imported_param_fixtures(&linker, path, &s, &mut HashSet::new()) {
                for (name, scope) in found.iter().filter(|(_, s)| !module_local_scope(s)) {
                    collection.collect_session_in_python(
                        imported_reason(path, name, scope),
                        scope == "session",
                    );
                }
            }
        }
    }
    let clashing = if req.import_mode_importlib {
        HashMap::new()
    } else {
        module_name_clashes(&req.fs, &found)
    };
    let mut claims = ModuleClaims::default();
    let mut seen: HashSet<(PathBuf, Option<String>)> = HashSet::new();
    for (f, selector) in found {
        let f = match f {
            Ok(f) => f,
            Err((dir, reason)) => {
                collection.entries.push(Entry::Dynamic {
                    path: dir,
                    selector: None,
                    reason,
                    doctest_only: false,
                });
                continue;
            }
        };
        match f {
            Found::DoctestText(path) => {
                let text = req.fs.read(&path).unwrap_or_default();
                let items = match doctest::parse_examples(&String::from_utf8_lossy(&text)) {
                    doctest::Examples::Some => {
                        let rel = relpath(&req.config.rootdir, &path);
                        let name = path.file_name().unwrap().to_string_lossy().into_owned();
                        vec![StaticItem {
                            kind: link::ItemKind::Doctest,
                            ..StaticItem::plain(format!("{rel}::{name}"))
                        }]
                    }
                    doctest::Examples::None => vec![],
                    // DocTestParser raises: pytest reports the error.
                    doctest::Examples::Broken => {
                        collection.entries.push(Entry::Dynamic {
                            path,
                            selector: None,
                            reason: "does not parse as a doctest".into(),
                            doctest_only: false,
                        });
                        continue;
                    }
                };
                collection.entries.push(Entry::Items { path, items });
            }
            Found::Module { path, is_test_file } => {
                if !seen.insert((path.clone(), selector.clone())) {
                    continue;
                }
                if let Some(name) = clashing.get(&path) {
                    // Which of them pytest imports, and which it reports as an "import
                    // file mismatch", depends on the imports that succeed: Python
                    // collects them together, in order.
                    collection.entries.push(Entry::Dynamic {
                        path,
                        selector,
                        reason: format!(
                            "{MODULE_NAME_CLASH} {name} with another collected file \
                             (pytest's import file mismatch)"
                        ),
                        doctest_only: !is_test_file,
                    });
                    continue;
                }
                collection.entries.push(link_entry(
                    req,
                    &linker,
                    &walker,
                    &mut claims,
                    &path,
                    is_test_file,
                    selector,
                ));
            }
        }
    }
    collection.warnings = walker.warnings;
    Ok(collection)
}

/// Starts the reason of a module collected by Python because another collected file
/// has its module name (see `Entry::python_collects_afresh`).
pub const MODULE_NAME_CLASH: &str = "shares its module name";

/// The collected modules whose prepend-mode module name another collected file has
/// (two `test_x.py` outside packages): name by path. pytest imports the first and reports
/// the others as an import file mismatch.
fn module_name_clashes(
    fs: &fsobs::FsLog,
    found: &[(Walked, Option<String>)],
) -> HashMap<PathBuf, String> {
    let mut by_name: HashMap<String, Vec<&PathBuf>> = HashMap::new();
    for (f, _) in found {
        if let Ok(Found::Module { path, .. }) = f {
            if path.file_name().is_some_and(|n| n == "__init__.py") {
                continue; // pytest does not check a package's own module
            }
            let paths = by_name.entry(module_name(fs, path)).or_default();
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    by_name
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .flat_map(|(name, paths)| paths.into_iter().map(move |p| (p.clone(), name.clone())))
        .collect()
}

/// Which module names the objects a project module imports may claim through
/// `__module__` (then `DocTestFinder` visits them in the module of that name). Memoised
/// over one collection.
#[derive(Default)]
struct ModuleClaims {
    /// Module → (claimed name, claiming module) over its import closure.
    claims: HashMap<PathBuf, Vec<(String, PathBuf)>>,
    /// Modules whose whole import closure claims nothing.
    clear: HashSet<PathBuf>,
}

impl ModuleClaims {
    /// A project module in `start`'s import closure whose objects may claim `name`
    /// (`start` itself excluded: its own `__module__` stores already make its doctests
    /// dynamic).
    fn claiming(&mut self, linker: &link::Linker, start: &Path, name: &str) -> Option<PathBuf> {
        if !self.claims.contains_key(start) {
            if self.clear.contains(start) {
                return None;
            }
            let found = self.explore(linker, start);
            self.claims.insert(start.to_path_buf(), found);
        }
        self.claims[start]
            .iter()
            .find(|(claim, _)| claim == "*" || claim == name)
            .map(|(_, m)| m.clone())
    }

    fn explore(&mut self, linker: &link::Linker, start: &Path) -> Vec<(String, PathBuf)> {
        let mut found = Vec::new();
        let mut visited: HashSet<PathBuf> = HashSet::from([start.to_path_buf()]);
        let mut stack = vec![start.to_path_buf()];
        while let Some(m) = stack.pop() {
            let s = linker.source.summary(&m);
            for imp in &s.imports {
                let mut targets = vec![linker.resolve_module(&m, &imp.module, imp.level)];
                for n in imp.names.iter().filter(|n| *n != "*") {
                    let sub = if imp.module.is_empty() {
                        n.clone()
                    } else {
                        format!("{}.{n}", imp.module)
                    };
                    targets.push(linker.resolve_module(&m, &sub, imp.level));
                }
                for t in targets.into_iter().flatten() {
                    if self.clear.contains(&t) || !visited.insert(t.clone()) {
                        continue;
                    }
                    let ts = linker.source.summary(&t);
                    found.extend(ts.module_claims.iter().map(|c| (c.clone(), t.clone())));
                    stack.push(t);
                }
            }
        }
        if found.is_empty() {
            // Everything reachable was explored: nothing it reaches claims anything either.
            self.clear.extend(visited);
        }
        found
    }
}

/// Scopes whose parameter keys stay within one module (see `runtime_scan`).
fn module_local_scope(scope: &str) -> bool {
    matches!(scope, "function" | "class" | "module")
}

/// Parametrized fixtures a conftest's or test module's namespace gets by import (pytest
/// registers every fixture object it finds there, imported ones included), as
/// (name, scope): named `from m import f` of a project fixture with `params=`, and every
/// module-level one a star import of a project module brings (followed through further
/// star imports; `__all__` is ignored, which can only add fixtures). Err when a star
/// import's module is outside the project or does not parse: its fixtures are unknown.
/// A named import that is conditional or leaves the project is not followed.
fn imported_param_fixtures(
    linker: &link::Linker,
    path: &Path,
    summary: &Arc<ModuleSummary>,
    visited: &mut HashSet<PathBuf>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if !visited.insert(path.to_path_buf()) {
        return Ok(out);
    }
    for b in &summary.bindings {
        if !matches!(b.value, summary::Value::Import { name: Some(_), .. }) {
            continue;
        }
        if let Ok(Some((_, _, rb))) = linker.resolve_name(path, summary, &b.name, 0) {
            if let summary::Value::Function(f) = &rb.value {
                if let (true, Some(scope)) = (f.is_fixture, &f.fixture_param_scope) {
                    out.push((b.name.clone(), scope.clone()));
                }
            }
        }
    }
    for imp in summary.imports.iter().filter(|i| i.names == ["*"]) {
        let dots = ".".repeat(imp.level as usize);
        let Some(target) = linker.resolve_module(path, &imp.module, imp.level) else {
            return Err(format!(
                "star-imports {dots}{}, outside the project: the fixtures it brings are unknown",
                imp.module
            ));
        };
        let ts = linker.source.summary(&target);
        if ts.parse_error.is_some() {
            return Err(format!(
                "star-imports {dots}{}, which does not parse",
                imp.module
            ));
        }
        for b in &ts.bindings {
            if let summary::Value::Function(f) = &b.value {
                if let (true, Some(scope)) = (f.is_fixture, &f.fixture_param_scope) {
                    out.push((b.name.clone(), scope.clone()));
                }
            }
        }
        out.extend(imported_param_fixtures(linker, &target, &ts, visited)?);
    }
    Ok(out)
}

fn link_entry(
    req: &CollectRequest,
    linker: &link::Linker,
    walker: &Walker,
    claims: &mut ModuleClaims,
    path: &Path,
    is_test_file: bool,
    selector: Option<String>,
) -> Entry {
    let dynamic = |reason: String| Entry::Dynamic {
        path: path.to_path_buf(),
        selector: selector.clone(),
        reason,
        doctest_only: !is_test_file,
    };
    let rel = relpath(&req.config.rootdir, path);
    let summary = linker.source.summary(path);
    let mut items = Vec::new();
    if req.doctest_modules && path.file_name().is_some_and(|n| n != "setup.py") {
        if summary.parse_error.is_some() {
            return dynamic("does not parse statically".into());
        }
        if let Some(why) = &summary.doctest_dynamic {
            return dynamic(format!("doctests: {why}"));
        }
        let modname = module_name(&req.fs, path);
        if let Some(m) = claims.claiming(linker, path, &modname) {
            return dynamic(format!(
                "doctests: its imports reach {}, whose objects may claim to be of {modname} \
                 (__module__)",
                relpath(&req.config.rootdir, &m)
            ));
        }
        let mut names: Vec<String> = summary
            .doctests
            .iter()
            .map(|n| {
                if n.is_empty() {
                    modname.clone()
                } else {
                    format!("{modname}.{n}")
                }
            })
            .collect();
        names.sort();
        items.extend(names.into_iter().map(|n| StaticItem {
            kind: link::ItemKind::Doctest,
            ..StaticItem::plain(format!("{rel}::{n}"))
        }));
    }
    if is_test_file {
        for conftest in walker.conftest_chain(path.parent().unwrap()) {
            let s = linker.source.summary(&conftest);
            if let Some(h) = s.hooks.iter().find(|h| MODULE_HOOKS.contains(&h.as_str())) {
                return dynamic(format!("{} defines {h}", conftest.display()));
            }
            if s.fixtures.iter().any(|f| f.has_params) {
                return dynamic(format!(
                    "{FIXTURE_PARAMS}{} has parametrized fixtures",
                    conftest.display()
                ));
            }
        }
        if summary.fixtures.iter().any(|f| f.has_params) {
            return dynamic(format!("{FIXTURE_PARAMS}module has parametrized fixtures"));
        }
        let chain = walker.conftest_chain(path.parent().unwrap());
        for m in chain.iter().map(PathBuf::as_path).chain([path]) {
            let s = linker.source.summary(m);
            let who = if m == path {
                "module".to_string()
            } else {
                m.display().to_string()
            };
            match imported_param_fixtures(linker, m, &s, &mut HashSet::new()) {
                Err(why) => return dynamic(format!("{who} {why}")),
                Ok(found) => {
                    if let Some((name, _)) = found.first() {
                        return dynamic(format!(
                            "{FIXTURE_PARAMS}{who} imports the parametrized fixture {name}"
                        ));
                    }
                }
            }
        }
        match linker.link_module(path, &rel) {
            Ok(test_items) => items.extend(test_items),
            Err(reason) => return dynamic(reason),
        }
    }
    if let Some(sel) = &selector {
        items.retain(|i| {
            let i = &i.nodeid;
            i == sel || i.starts_with(&format!("{sel}::")) || i.starts_with(&format!("{sel}["))
        });
    }
    Entry::Items {
        path: path.to_path_buf(),
        items,
    }
}

/// The reason of a module handed to Python only because `-k`/`-m` need marks or names of
/// its items that are not known statically (decorators from other packages).
pub const MARKS_FOR_PYTHON: &str = "-k/-m need marks or names not known statically";

/// Starts the reason of a module collected by Python because parametrized fixtures
/// (`params=`, module scope or narrower) multiply its items.
const FIXTURE_PARAMS: &str = "fixture params: ";

/// A module whose `parametrize` has `indirect=` or `scope=` (`link.rs`).
pub const INDIRECT_OR_SCOPED_PARAMETRIZE: &str = "parametrize with indirect/scope";

/// Top-level standard-library modules (CPython 3.11's `sys.stdlib_module_names`, private
/// ones left out), without `unittest` and `doctest`, whose classes carry test semantics.
/// A test class deriving from one of these gets no tests or fixtures from its base.
const STDLIB_BASE_MODULES: &[&str] = &[
    "abc",
    "aifc",
    "antigravity",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "email",
    "encodings",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "this",
    "threading",
    "time",
    "timeit",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "types",
    "typing",
    "unicodedata",
    "urllib",
    "uu",
    "uuid",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
];

/// Whether a directory went to Python only because a conftest computes its
/// `collect_ignore`/`collect_ignore_glob` (the walk's reason for it): that decides which
/// files are collected, not how their tests run.
pub fn only_ignore_lists_dynamic(reason: &str) -> bool {
    [": collect_ignore ", ": collect_ignore_glob "]
        .iter()
        .any(|attr| reason.contains(attr))
}

/// For a test module Python collected as part of such a directory: Ok when the native
/// engine can run its items (by Python's node ids) as it would had the walk reached the
/// module, else the reason it cannot.
/// The docstrings `--collect-only -v` prints for a statically collected item and the
/// collectors above it (`link::Linker::item_docs`).
pub fn item_docs(
    req: &CollectRequest,
    source: &dyn SummarySource,
    rootdir: &Path,
    item: &StaticItem,
) -> link::ItemDocs {
    let linker = link::Linker { req, source };
    let file = item
        .nodeid
        .split_once("::")
        .map_or(item.nodeid.as_str(), |(f, _)| f);
    linker.item_docs(&rootdir.join(file), &item.nodeid, item.kind)
}

pub fn python_collected_module_runs_natively(
    req: &CollectRequest,
    source: &dyn SummarySource,
    path: &Path,
) -> Result<(), String> {
    let walker = Walker::new(req, source);
    let linker = link::Linker { req, source };
    // The checks `collect` makes over the session, for this module and its conftests
    // (the walk did not reach them): collection hooks, items ordered across modules,
    // parametrized fixtures of a wider scope than the module imported.
    let conftests = walker.conftest_chain(path.parent().unwrap_or(path));
    for place in conftests.iter().map(PathBuf::as_path).chain([path]) {
        let s = source.summary(place);
        if let Some(h) = s.hooks.iter().find(|h| SUBTREE_HOOKS.contains(&h.as_str())) {
            return Err(format!("{} defines {h}", place.display()));
        }
        if let Some(why) = &s.cross_module_order {
            return Err(format!("{}: {why}", place.display()));
        }
        match imported_param_fixtures(&linker, place, &s, &mut HashSet::new()) {
            Err(why) => return Err(format!("{} {why}", place.display())),
            Ok(found) => {
                if let Some((name, scope)) = found.iter().find(|(_, s)| !module_local_scope(s)) {
                    return Err(format!(
                        "{} imports the fixture {name} with params= and scope {scope}",
                        place.display()
                    ));
                }
            }
        }
        for fx in &s.fixtures {
            if fx.has_params && !module_local_scope(&fx.scope) {
                return Err(format!(
                    "{}: the fixture {} with params= has scope {}",
                    place.display(),
                    fx.name,
                    fx.scope
                ));
            }
        }
    }
    let mut claims = ModuleClaims::default();
    match link_entry(req, &linker, &walker, &mut claims, path, true, None) {
        Entry::Items { .. } => Ok(()),
        Entry::Dynamic { reason, .. } => {
            let summary = source.summary(path);
            match std::iter::once(&reason)
                .chain(&summary.dynamic_reasons)
                .find(|r| !native_can_run_dynamic(r))
            {
                Some(blocking) => Err(blocking.clone()),
                None => Ok(()),
            }
        }
    }
}

/// Whether a module collected by Python for this `reason` (an `Entry::Dynamic` reason)
/// can still run on the native engine, which resolves Python's items on the real module
/// objects: its parameter sets or ids were not literal, or parametrized fixtures multiply
/// its items (both expanded at run time with pytest's id rules); its import may skip or
/// raise; a test name is bound at run time, conditionally, by a star import or through
/// the module namespace; a test class derives from a standard-library class (not unittest's
/// or doctest's); it does not parse (a collection error, no items); its doctests are found
/// only at run time; `indirect`/`scope` parametrize (Python gives the order, the worker
/// keys an indirect fixture's value by its parameter). Not: hooks, collection hooks,
/// bases from installed packages or tests
/// imported from outside the project (their fixtures are not visible to the native
/// engine's checks).
pub fn native_can_run_dynamic(reason: &str) -> bool {
    let import_abort = reason.starts_with("module ") && reason.ends_with(" at import time");
    // A project decorator applying `parametrize`: the worker reads the marks it made.
    let decorator_parametrizes =
        reason.starts_with("decorator ") && reason.ends_with(" may apply parametrize");
    let bound_at_run_time = reason.ends_with(" is bound to a run-time value")
        || reason.ends_with(" is defined conditionally")
        || reason.starts_with("star import from ")
        || reason.starts_with("module namespace written via ");
    // `class TestSet(collections.abc.Set)`: pytest collects it like a project class.
    let stdlib_base = reason
        .strip_prefix("base ")
        .and_then(|r| r.strip_suffix(" is outside the project"))
        .and_then(|dotted| dotted.split('.').next())
        .is_some_and(|top| STDLIB_BASE_MODULES.contains(&top));
    // Doctests Python finds at run time: the worker finds them again by name with the
    // same finder (python/fastest_harness/doctests.py).
    let doctests_found_at_run_time = reason.starts_with("doctests: ");
    import_abort
        || doctests_found_at_run_time
        || decorator_parametrizes
        || reason == MARKS_FOR_PYTHON
        || stdlib_base
        || bound_at_run_time
        || reason == "does not parse statically"
        || reason.starts_with(MODULE_NAME_CLASH)
        || reason.starts_with(FIXTURE_PARAMS)
        || reason == INDIRECT_OR_SCOPED_PARAMETRIZE
        // A unittest class skipped as a whole: the worker skips its tests as pytest does.
        || ["unittest.skip", "unittest.skipIf", "unittest.skipUnless"]
            .iter()
            .any(|d| reason == format!("class decorator {d}"))
        || reason
            .strip_prefix("parametrize: ")
            .is_some_and(|why| parse::RUNTIME_PARAMETRIZE_REASONS.contains(&why))
}

#[cfg(test)]
mod tests {
    #[test]
    fn which_python_collected_modules_the_native_engine_runs() {
        for ok in [
            "parametrize: argvalues not a literal sequence",
            "fixture params: module has parametrized fixtures",
            "module calls pytest.importorskip() at import time",
            "test_path is bound to a run-time value",
            "base collections.abc.Set is outside the project",
            "base threading.Condition is outside the project",
            "decorator both_ways may apply parametrize",
            "decorator mark_x is bound to a run-time value",
            "doctests: assigns __doc__ (line 17)",
            "parametrize with indirect/scope",
            "class decorator unittest.skipIf",
        ] {
            assert!(native_can_run_dynamic(ok), "{ok}");
        }
        for not_ok in [
            "parametrize: argnames not literal",
            "module defines a collection hook",
            "base unittest.IsolatedAsyncioTestCase is outside the project",
            "base django.test.TestCase is outside the project",
            "test_x imported from outside the project",
            "decorator Wrapper is a class",
        ] {
            assert!(!native_can_run_dynamic(not_ok), "{not_ok}");
        }
    }

    use super::*;
    use fastest_config::SetupRequest;

    /// Collects `args` in a temporary project made of `files` (path, content).
    fn collect_project(
        files: &[(&str, &str)],
        args: &[&str],
    ) -> (tempfile::TempDir, PathBuf, Collection) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let config = fastest_config::determine_setup(&SetupRequest {
            invocation_dir: root.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .unwrap();
        let req = CollectRequest {
            config,
            args: args
                .iter()
                .map(|a| root.join(a).to_string_lossy().into_owned())
                .collect(),
            ignore: vec![],
            ignore_glob: vec![],
            doctest_modules: false,
            doctest_globs: vec!["test*.txt".into()],
            import_mode_importlib: false,
            fs: Default::default(),
        };
        let collection = collect(&req, &DirectSource).unwrap();
        (tmp, root, collection)
    }

    fn dynamic_paths(root: &Path, c: &Collection) -> Vec<String> {
        c.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Dynamic { path, .. } => Some(relpath(root, path)),
                Entry::Items { .. } => None,
            })
            .collect()
    }

    const TEST: &str = "def test_a():\n    pass\n";

    #[test]
    fn run_time_collect_ignore_makes_only_its_directory_dynamic() {
        let (_tmp, root, c) = collect_project(
            &[
                ("pytest.ini", "[pytest]\n"),
                ("test_top.py", TEST),
                ("tests/data/test_deep.py", TEST),
                ("tests/test_a.py", TEST),
                (
                    "tests/conftest.py",
                    "import sys\ncollect_ignore = []\nif sys.version_info < (9,):\n    collect_ignore.extend(['test_a.py'])\n",
                ),
                ("other/test_b.py", TEST),
            ],
            &["."],
        );
        // `tests` is handed to Python once, as a whole (not `tests/data` separately).
        assert_eq!(dynamic_paths(&root, &c), ["tests"]);
        let statics: Vec<&str> = c
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Items { items, .. } => Some(items[0].nodeid.as_str()),
                Entry::Dynamic { .. } => None,
            })
            .collect();
        assert_eq!(statics, ["other/test_b.py::test_a", "test_top.py::test_a"]);
    }

    #[test]
    fn doctest_text_files_follow_the_parser() {
        let (_tmp, root, c) = collect_project(
            &[
                ("pytest.ini", "[pytest]\n"),
                ("test_ok.txt", ">>> 1\n1\n"),
                ("test_none.txt", "no examples >>> here\n>>>\n"),
                ("test_broken.txt", ">>>1\n"),
            ],
            &["."],
        );
        assert_eq!(dynamic_paths(&root, &c), ["test_broken.txt"]);
        let items: Vec<&str> = c
            .entries
            .iter()
            .flat_map(|e| match e {
                Entry::Items { items, .. } => items.iter().map(|i| i.nodeid.as_str()).collect(),
                Entry::Dynamic { .. } => vec![],
            })
            .collect();
        assert_eq!(items, ["test_ok.txt::test_ok.txt"]);
    }

    #[test]
    fn conftest_star_imports_are_resolved_for_collect_ignore() {
        let files = |helper: &'static str| {
            vec![
                ("pytest.ini", "[pytest]\n"),
                ("tests/__init__.py", ""),
                ("tests/helpers.py", helper),
                ("tests/conftest.py", "from tests.helpers import *\n"),
                ("tests/test_a.py", TEST),
            ]
        };
        let (_tmp, root, c) = collect_project(&files("def helper():\n    pass\n"), &["tests"]);
        assert!(dynamic_paths(&root, &c).is_empty());
        let (_tmp, root, c) =
            collect_project(&files("collect_ignore = ['test_a.py']\n"), &["tests"]);
        assert_eq!(dynamic_paths(&root, &c), ["tests"]);
    }
}
