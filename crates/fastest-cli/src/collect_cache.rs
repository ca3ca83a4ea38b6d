//! Reuse of Python's collection of dynamic modules: each module's items are stored under
//! what collecting it depended on (recorded in the collecting process, checked like a
//! test's dependencies), so an unchanged module is not handed to Python again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fastest_cache::Cache;
use fastest_graph::GraphDb;
use fastest_protocol::{
    CollectionErrorReport, CollectionSkip, DynamicCollection, ItemMatch, TestDeps,
};
use fastest_select::{result_key, Selector};
use serde::{Deserialize, Serialize};

/// Bumped when what the collecting process records changes (old entries are then unused).
const COLLECT_CACHE_VERSION: u32 = 9;

/// Stored collections, under the result key of the module's synthetic node id.
pub const TREE_COLLECTED: &str = "collected";

/// What Python collected from one module.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModuleCollection {
    /// Node ids, stored front-coded (each shares a prefix with the one before).
    #[serde(with = "fastest_discovery::front_coded")]
    pub items: Vec<String>,
    /// What `-k`/`-m` match for each of `items` (same order).
    pub matching: MatchTable,
    /// Items a plugin or conftest deselected while Python collected this.
    #[serde(default)]
    pub deselected: usize,
    pub errors: Vec<CollectionErrorReport>,
    pub skipped: Vec<CollectionSkip>,
    /// A marker, not a collection: collecting this gave other ids under a shifted clock,
    /// so until a dependency changes it is collected every time without checking again.
    #[serde(default)]
    pub unstable: bool,
}

/// Each item's `ItemMatch`, with the name lists items share stored once: parametrized
/// tests repeat the same marks and parameter names thousands of times, and most of
/// pytest's `-k` names are the parts of the node id itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MatchTable {
    /// Distinct name lists.
    lists: Vec<Vec<String>>,
    /// Per item, indices into `lists`: its marks, its parameter names, the `-k` names
    /// beyond its node id's parts, and the node id's parts that are not `-k` names.
    items: Vec<[u32; 4]>,
    /// Per item, indices into `lists`: the collectors above it (`--collect-only`'s
    /// tree) and its node type (a list of one name).
    tree: Vec<[u32; 2]>,
    /// `(item, str(item))` for the items whose line is not `<{kind} {name}>`.
    reprs: Vec<(u32, String)>,
}

impl MatchTable {
    /// Builds the table for `items` (node ids) and their matches.
    pub fn of<'a>(items: impl IntoIterator<Item = (&'a str, &'a ItemMatch)>) -> Self {
        let mut table = MatchTable::default();
        let mut index: HashMap<Vec<String>, u32> = HashMap::new();
        let mut intern = |list: Vec<String>, lists: &mut Vec<Vec<String>>| {
            *index.entry(list).or_insert_with_key(|list| {
                lists.push(list.clone());
                (lists.len() - 1) as u32
            })
        };
        for (nodeid, m) in items {
            let parts = nodeid_parts(nodeid);
            let extra = m
                .keywords
                .iter()
                .filter(|k| !parts.contains(k))
                .cloned()
                .collect();
            let absent = parts
                .iter()
                .filter(|p| !m.keywords.contains(p))
                .cloned()
                .collect();
            let row = [
                intern(m.marks.clone(), &mut table.lists),
                intern(m.params.clone(), &mut table.lists),
                intern(extra, &mut table.lists),
                intern(absent, &mut table.lists),
            ];
            table.items.push(row);
            let tree = [
                intern(m.tree.clone(), &mut table.lists),
                // The node type, then its docstring when it has one.
                intern(
                    std::iter::once(m.kind.clone())
                        .chain(m.doc.clone())
                        .collect(),
                    &mut table.lists,
                ),
            ];
            table.tree.push(tree);
            if let Some(repr) = &m.repr {
                table
                    .reprs
                    .push(((table.items.len() - 1) as u32, repr.clone()));
            }
        }
        table
    }

    /// `--collect-only`'s tree for item `i`, whose node id is `nodeid`: the collectors
    /// above it and its own line (each followed by its docstring's lines, if any).
    pub fn tree(&self, i: usize, nodeid: &str) -> (&[String], String) {
        let [chain, kind] = self.tree[i];
        let kind = &self.lists[kind as usize];
        let mut own = match self.reprs.binary_search_by_key(&(i as u32), |(j, _)| *j) {
            Ok(k) => self.reprs[k].1.clone(),
            Err(_) => fastest_report::tree::item_line(&kind[0], nodeid),
        };
        if let Some(doc) = kind.get(1) {
            own.push('\n');
            own.push_str(doc);
        }
        (&self.lists[chain as usize], own)
    }

    /// The mark names of item `i`.
    pub fn marks(&self, i: usize) -> &[String] {
        &self.lists[self.items[i][0] as usize]
    }

    /// The `callspec.params` names of item `i`.
    pub fn params(&self, i: usize) -> &[String] {
        &self.lists[self.items[i][1] as usize]
    }

    /// pytest's `KeywordMatcher` names of item `i`, whose node id is `nodeid` (as a set:
    /// the order is not Python's).
    pub fn keywords(&self, i: usize, nodeid: &str) -> Vec<String> {
        let absent = &self.lists[self.items[i][3] as usize];
        let mut names: Vec<String> = nodeid_parts(nodeid)
            .into_iter()
            .filter(|p| !absent.contains(p))
            .collect();
        names.extend(self.lists[self.items[i][2] as usize].iter().cloned());
        names
    }
}

/// The parameter names Python gave the items of each file (`callspec.params`: arguments
/// a run-time parametrize provides, not fixtures the project lacks). Items come file by
/// file, and the items of one file share a few name lists: each distinct list of the
/// current file is noted once.
pub struct ParamNotes {
    rootdir: PathBuf,
    by_file: HashMap<PathBuf, std::collections::HashSet<String>>,
    /// The current file and the name lists noted for it (their `MatchTable` rows).
    current: Option<(String, Vec<Vec<String>>)>,
}

impl ParamNotes {
    pub fn new(rootdir: &Path) -> Self {
        ParamNotes {
            rootdir: rootdir.to_path_buf(),
            by_file: HashMap::new(),
            current: None,
        }
    }

    /// Notes the parameter names of item `i` of `table`, whose node id is `nodeid`.
    pub fn note(&mut self, nodeid: &str, table: &MatchTable, i: usize) {
        let params = table.params(i);
        if params.is_empty() {
            return;
        }
        let file = nodeid.split_once("::").map_or(nodeid, |(f, _)| f);
        if self.current.as_ref().is_none_or(|(f, _)| f != file) {
            self.flush();
            self.current = Some((file.to_string(), Vec::new()));
        }
        if let Some((_, lists)) = &mut self.current {
            if !lists.iter().any(|l| l.as_slice() == params) {
                lists.push(params.to_vec());
            }
        }
    }

    fn flush(&mut self) {
        if let Some((file, lists)) = self.current.take() {
            self.by_file
                .entry(self.rootdir.join(file))
                .or_default()
                .extend(lists.into_iter().flatten());
        }
    }

    /// The names noted, by file.
    pub fn finish(mut self) -> HashMap<PathBuf, std::collections::HashSet<String>> {
        self.flush();
        self.by_file
    }
}

/// The names a node id spells: its path's parts and each node's name (a parameter id
/// may itself contain "::" or "/").
pub fn nodeid_parts(nodeid: &str) -> Vec<String> {
    let (path, rest) = nodeid.split_once("::").unwrap_or((nodeid, ""));
    let mut parts: Vec<String> = path.split('/').map(str::to_string).collect();
    let (head, params) = match rest.find('[') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !head.is_empty() {
        let mut nodes: Vec<String> = head.split("::").map(str::to_string).collect();
        if let Some(last) = nodes.last_mut() {
            last.push_str(params);
        }
        parts.extend(nodes);
    }
    parts
}

impl ModuleCollection {
    /// The part of `dc` that belongs to the module `rel` (its items, the errors and skips
    /// of it and of nodes inside it).
    pub fn of(dc: &DynamicCollection, rel: &str) -> Self {
        let belongs = |id: &str| {
            let file = id.split("::").next().unwrap_or(id);
            file == rel || file.starts_with(&format!("{rel}/")) || rel.is_empty()
        };
        let kept: Vec<(&String, &ItemMatch)> = dc
            .items
            .iter()
            .zip(&dc.item_match)
            .filter(|(i, _)| belongs(i))
            .collect();
        ModuleCollection {
            items: kept.iter().map(|(i, _)| (*i).clone()).collect(),
            matching: MatchTable::of(kept.iter().map(|(i, m)| (i.as_str(), *m))),
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
                .cloned()
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
        self.cache
            .get_large::<ModuleCollection>(TREE_COLLECTED, &key)
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
        self.cache
            .put_large(TREE_COLLECTED, &result_key(id, &set), found);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item_match(marks: &[&str], keywords: &[&str], params: &[&str]) -> ItemMatch {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        ItemMatch {
            marks: owned(marks),
            keywords: owned(keywords),
            params: owned(params),
            tree: owned(&["<Dir proj>", "<Module test_v.py>"]),
            kind: "Function".into(),
            repr: None,
            doc: None,
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn match_table_gives_back_every_item_s_names_and_shares_lists() {
        let ids = [
            "tests/test_v.py::TestV::test_x[1.0-a::b]",
            "tests/test_v.py::TestV::test_x[2.0/c]",
            // A node name pytest's matcher lacks (its own rules), and extras it adds.
            "tests/test_v.py::test_y",
        ];
        let matches = [
            item_match(
                &["parametrize"],
                &[
                    "tests",
                    "test_v.py",
                    "TestV",
                    "test_x[1.0-a::b]",
                    "parametrize",
                    "pytestmark",
                ],
                &["left", "right"],
            ),
            item_match(
                &["parametrize"],
                &[
                    "tests",
                    "test_v.py",
                    "TestV",
                    "test_x[2.0/c]",
                    "parametrize",
                    "pytestmark",
                ],
                &["left", "right"],
            ),
            item_match(&[], &["test_v.py", "test_y", "extra"], &[]),
        ];
        let table = MatchTable::of(ids.iter().copied().zip(&matches));
        for (i, (id, m)) in ids.iter().zip(&matches).enumerate() {
            assert_eq!(table.marks(i), m.marks.as_slice());
            assert_eq!(table.params(i), m.params.as_slice());
            assert_eq!(
                sorted(table.keywords(i, id)),
                sorted(m.keywords.clone()),
                "{id}"
            );
        }
        for (i, id) in ids.iter().enumerate() {
            let (parents, own) = table.tree(i, id);
            assert_eq!(parents, matches[i].tree.as_slice());
            assert_eq!(own, fastest_report::tree::item_line("Function", id));
        }
        // A docstring follows the item's line, and items with the same one share it.
        let mut documented = matches.clone();
        for m in documented.iter_mut().take(2) {
            m.doc = Some("Shared.\n\nDoc.".into());
        }
        let with_docs = MatchTable::of(ids.iter().copied().zip(&documented));
        assert_eq!(
            with_docs.tree(0, ids[0]).1,
            format!(
                "{}\nShared.\n\nDoc.",
                fastest_report::tree::item_line("Function", ids[0])
            )
        );
        assert_eq!(
            with_docs.tree(2, ids[2]).1,
            fastest_report::tree::item_line("Function", ids[2])
        );
        assert_eq!(with_docs.lists.len(), table.lists.len() + 1);
        // marks, params, extras and absent names of the first two items are one each,
        // and the three share their tree and kind.
        assert!(
            table.lists.len() <= 8,
            "lists not shared: {:?}",
            table.lists
        );
        let stored = ModuleCollection {
            items: ids.iter().map(|s| s.to_string()).collect(),
            matching: table,
            ..Default::default()
        };
        let bytes = bincode::serialize(&stored).unwrap();
        assert_eq!(
            bincode::deserialize::<ModuleCollection>(&bytes).unwrap(),
            stored
        );
    }
}
