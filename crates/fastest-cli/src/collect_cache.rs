//! Reuse of Python's collection of dynamic modules: each module's items are stored under
//! what collecting it depended on (recorded in the collecting process, checked like a
//! test's dependencies), so an unchanged module is not handed to Python again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fastest_cache::Cache;
use fastest_graph::GraphDb;
use fastest_protocol::{CollectionSkip, DynamicCollection, ItemMatch, TestDeps};
use fastest_select::{result_key, Selector};
use serde::{Deserialize, Serialize};

/// Bumped when what the collecting process records changes (old entries are then unused).
const COLLECT_CACHE_VERSION: u32 = 6;

/// Stored collections, under the result key of the module's synthetic node id.
pub const TREE_COLLECTED: &str = "collected";

/// What Python collected from one module.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModuleCollection {
    pub items: Vec<String>,
    /// What `-k`/`-m` match for each of `items` (same order).
    pub matching: Vec<ItemMatch>,
    /// Items a plugin or conftest deselected while Python collected this.
    #[serde(default)]
    pub deselected: usize,
    pub errors: Vec<(String, String)>,
    pub skipped: Vec<CollectionSkip>,
    /// A marker, not a collection: collecting this gave other ids under a shifted clock,
    /// so until a dependency changes it is collected every time without checking again.
    #[serde(default)]
    pub unstable: bool,
}

impl ModuleCollection {
    /// The part of `dc` that belongs to the module `rel` (its items, the errors and skips
    /// of it and of nodes inside it).
    pub fn of(dc: &DynamicCollection, rel: &str) -> Self {
        let belongs = |id: &str| {
            let file = id.split("::").next().unwrap_or(id);
            file == rel || file.starts_with(&format!("{rel}/")) || rel.is_empty()
        };
        let (items, matching) = dc
            .items
            .iter()
            .zip(&dc.item_match)
            .filter(|(i, _)| belongs(i))
            .map(|(i, m)| (i.clone(), m.clone()))
            .unzip();
        ModuleCollection {
            items,
            matching,
            deselected: dc
                .deselected_by_file
                .iter()
                .filter(|(file, _)| belongs(file))
                .map(|(_, n)| n)
                .sum(),
            errors: dc
                .errors
                .iter()
                .filter(|e| belongs(&e.nodeid))
                .map(|e| (e.nodeid.clone(), e.longrepr.clone()))
                .collect(),
            skipped: dc
                .skipped
                .iter()
                .filter(|s| belongs(&s.nodeid))
                .cloned()
                .collect(),
            unstable: false,
        }
    }
}

pub struct CollectCache {
    cache: Arc<Cache>,
    selector: Selector,
}

impl CollectCache {
    /// `environment`: the digest of the interpreter, installed packages, config files and
    /// the options Python collection gets (any change collects every module again).
    pub fn new(
        cache: Arc<Cache>,
        graph: Arc<GraphDb>,
        rootdir: &Path,
        environment: [u8; 32],
    ) -> Self {
        let selector = Selector::new(cache.clone(), graph, rootdir, environment);
        CollectCache { cache, selector }
    }

    fn id(rel: &str, doctest_only: bool) -> String {
        let kind = if doctest_only { "doctests" } else { "module" };
        format!("<collect {kind} v{COLLECT_CACHE_VERSION}>::{rel}")
    }

    /// The synthetic id of a whole-session collection: Python's arguments (paths, node
    /// ids, options) and the directory they are relative to.
    pub fn session_id(invocation: &str, args: &[String]) -> String {
        let parts: Vec<&[u8]> = std::iter::once(invocation)
            .chain(args.iter().map(String::as_str))
            .map(str::as_bytes)
            .collect();
        let hex: String = fastest_cache::digest(&parts)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("<collect session v{COLLECT_CACHE_VERSION}>::{hex}")
    }

    /// The stored collection of `rel`, if nothing it depended on changed.
    pub fn lookup(&self, rel: &str, doctest_only: bool) -> Option<ModuleCollection> {
        self.lookup_id(&Self::id(rel, doctest_only))
    }

    /// The stored collection under a synthetic id (`session_id`), if still current.
    pub fn lookup_id(&self, id: &str) -> Option<ModuleCollection> {
        self.lookup_any(id).filter(|found| !found.unstable)
    }

    fn lookup_any(&self, id: &str) -> Option<ModuleCollection> {
        let key = self.selector.cached_result_key(id)?;
        self.cache.get::<ModuleCollection>(TREE_COLLECTED, &key)
    }

    /// Whether `rel`'s collection gave other ids under a shifted clock, and nothing it
    /// depended on changed since.
    pub fn known_unstable(&self, rel: &str, doctest_only: bool) -> bool {
        self.known_unstable_id(&Self::id(rel, doctest_only))
    }

    /// `known_unstable` for a synthetic id (`session_id`).
    pub fn known_unstable_id(&self, id: &str) -> bool {
        self.lookup_any(id).is_some_and(|found| found.unstable)
    }

    /// Stores what Python collected from `rel` under what that depended on.
    pub fn store(&self, rel: &str, doctest_only: bool, deps: TestDeps, found: &ModuleCollection) {
        self.store_id(&Self::id(rel, doctest_only), deps, found);
    }

    /// Remembers that `rel`'s collection is not stable (see `ModuleCollection::unstable`).
    pub fn store_unstable(&self, rel: &str, doctest_only: bool, deps: TestDeps) {
        self.store_unstable_id(&Self::id(rel, doctest_only), deps);
    }

    /// `store_unstable` for a synthetic id (`session_id`).
    pub fn store_unstable_id(&self, id: &str, deps: TestDeps) {
        let marker = ModuleCollection {
            unstable: true,
            ..ModuleCollection::default()
        };
        self.store_id(id, deps, &marker);
    }

    /// Stores a collection under a synthetic id (`session_id`).
    pub fn store_id(&self, id: &str, deps: TestDeps, found: &ModuleCollection) {
        let set = self.selector.record(id, &Arc::new(deps), false, true, 0.0);
        self.cache.put(TREE_COLLECTED, &result_key(id, &set), found);
    }
}

/// The recording settings Python collection needs.
pub fn recording(
    rootdir: &Path,
    cache_dir: &Path,
    whole_session: bool,
) -> fastest_runner::CollectRecording {
    fastest_runner::CollectRecording {
        rootdir: rootdir.to_path_buf(),
        code_cache: PathBuf::from(cache_dir).join("code"),
        whole_session,
    }
}
