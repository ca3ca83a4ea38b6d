//! Links summaries into test items: resolves imported names and base classes across
//! project files, computes the MRO, applies python_classes/python_functions, expands
//! parametrize, and decides when a module must be collected by Python instead.

use crate::summary::*;
use crate::{CollectRequest, SummarySource};
use fastest_config::fnmatch::fnmatchcase;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Either the module's items, or why Python must collect it.
pub type LinkResult = Result<Vec<StaticItem>, String>;

/// Why a module with a test that yields is collected by Python: pytest reports it as
/// the module's collection error ("'yield' keyword is allowed in fixtures, but not in
/// tests").
const YIELD_TEST: &str = "a test function yields (pytest reports it as a collection error)";

/// One statically collected test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticItem {
    pub nodeid: String,
    /// Which parameter set of each parametrize mark (function, class, module order)
    /// this item runs: the worker looks the values up by index instead of by id.
    pub param_index: Vec<u32>,
    /// Names of the marks pytest's `item.iter_markers()` yields (function, class along
    /// the MRO, module, and the parameter sets' own), for `-m`; None when they are not
    /// all known statically (unknown decorators, non-literal `pytest.param` marks,
    /// unittest methods).
    pub marks: Option<Arc<[String]>>,
    /// The test function carries marks of its own (then `pytestmark` is in its
    /// `__dict__`, one of the names `-k` matches).
    pub own_marks: bool,
    /// pytest's node type for it (what `--collect-only` prints).
    pub kind: ItemKind,
}

/// pytest's node type of a statically collected item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemKind {
    /// A test function or method (`Function`).
    #[default]
    Function,
    /// A method of a `unittest.TestCase` (`TestCaseFunction` in a `UnitTestCase`).
    TestCaseFunction,
    /// A docstring's or a text file's examples (`DoctestItem`).
    Doctest,
}

impl ItemKind {
    fn to_u8(self) -> u8 {
        match self {
            ItemKind::Function => 0,
            ItemKind::TestCaseFunction => 1,
            ItemKind::Doctest => 2,
        }
    }

    fn from_u8(n: u8) -> Option<Self> {
        match n {
            0 => Some(ItemKind::Function),
            1 => Some(ItemKind::TestCaseFunction),
            2 => Some(ItemKind::Doctest),
            _ => None,
        }
    }
}

/// Serde for the items of one file in a stored collection: node ids front-coded, each
/// distinct mark list stored once (parametrized items repeat theirs thousands of times)
/// and shared again on reading.
pub mod compact_items {
    use super::StaticItem;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::HashMap;
    use std::sync::Arc;

    #[derive(Serialize, Deserialize)]
    struct Compact {
        #[serde(with = "crate::front_coded")]
        ids: Vec<String>,
        /// Per item: its index into `mark_lists` (0: marks not known), its number of
        /// parameter indices in `param_index`, `own_marks` and its `ItemKind`.
        rows: Vec<(u32, u32, bool, u8)>,
        param_index: Vec<u32>,
        mark_lists: Vec<Vec<String>>,
    }

    pub fn serialize<S: Serializer>(items: &[StaticItem], s: S) -> Result<S::Ok, S::Error> {
        let mut index: HashMap<&[String], u32> = HashMap::new();
        let mut compact = Compact {
            ids: items.iter().map(|i| i.nodeid.clone()).collect(),
            rows: Vec::with_capacity(items.len()),
            param_index: Vec::new(),
            mark_lists: Vec::new(),
        };
        for item in items {
            let marks = match &item.marks {
                None => 0,
                Some(list) => *index.entry(list).or_insert_with(|| {
                    compact.mark_lists.push(list.to_vec());
                    compact.mark_lists.len() as u32
                }),
            };
            compact.param_index.extend(&item.param_index);
            compact.rows.push((
                marks,
                item.param_index.len() as u32,
                item.own_marks,
                item.kind.to_u8(),
            ));
        }
        compact.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StaticItem>, D::Error> {
        let compact = Compact::deserialize(d)?;
        let lists: Vec<Arc<[String]>> = compact.mark_lists.into_iter().map(Arc::from).collect();
        let mut params = compact.param_index.into_iter();
        let mut items = Vec::with_capacity(compact.ids.len());
        for (nodeid, (marks, n_params, own_marks, kind)) in
            compact.ids.into_iter().zip(compact.rows)
        {
            let kind = super::ItemKind::from_u8(kind)
                .ok_or_else(|| serde::de::Error::custom("item kind out of range"))?;
            let marks = match marks {
                0 => None,
                n => Some(
                    lists
                        .get(n as usize - 1)
                        .ok_or_else(|| serde::de::Error::custom("mark list out of range"))?
                        .clone(),
                ),
            };
            items.push(StaticItem {
                nodeid,
                param_index: params.by_ref().take(n_params as usize).collect(),
                marks,
                own_marks,
                kind,
            });
        }
        Ok(items)
    }
}

impl StaticItem {
    pub fn plain(nodeid: String) -> Self {
        StaticItem {
            nodeid,
            param_index: Vec::new(),
            marks: None,
            own_marks: false,
            kind: ItemKind::Function,
        }
    }
}

pub struct Linker<'a> {
    pub req: &'a CollectRequest,
    pub source: &'a dyn SummarySource,
}

/// A docstring as `inspect.getdoc` finds it, or where Python must go on looking.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Doc {
    Known(Option<String>),
    /// The search reached a class outside the project (its dotted name as written):
    /// Python's `inspect.getdoc` of that class (`attr` None), or the first `__doc__` of
    /// `attr` along its MRO; when Python finds none, the search goes on as `otherwise`
    /// (the rest of the MRO).
    External {
        class: String,
        attr: Option<String>,
        otherwise: Box<Doc>,
    },
}

/// The docstrings of a statically collected item and the collectors above it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDocs {
    pub module: Doc,
    /// One per class on the node id's path, outermost first.
    pub classes: Vec<Doc>,
    pub function: Doc,
    /// The item's function is `async def` (first) and an async generator (second), for
    /// the item types pytest-asyncio gives such tests (`<Coroutine ...>`).
    pub is_async: (bool, bool),
}

/// `inspect.getdoc` of a class with this MRO (itself first): its own docstring, else the
/// first along its MRO (never `object`'s).
fn class_doc(mro: &[RClass]) -> Doc {
    mro_doc(mro, None)
}

/// `inspect.getdoc` of method `name` of a class with this MRO: the first docstring of
/// that name along it.
fn method_doc(mro: &[RClass], name: &str) -> Doc {
    mro_doc(mro, Some(name))
}

/// The first docstring along `mro`: of each class (`attr` None) or of its `attr`.
fn mro_doc(mro: &[RClass], attr: Option<&str>) -> Doc {
    for (k, c) in mro.iter().enumerate() {
        match &c.kind {
            ClassKind::Project(d) => {
                let doc =
                    match attr {
                        None => d.doc.as_ref(),
                        Some(name) => d.body.iter().find(|b| b.name == name).and_then(|b| match &b
                            .value
                        {
                            Value::Function(f) => f.doc.as_ref(),
                            _ => None,
                        }),
                    };
                if doc.is_some() {
                    return Doc::Known(doc.cloned());
                }
            }
            _ => {
                let class = c.qual.first().cloned().unwrap_or_default();
                if matches!(class.as_str(), "object" | "builtins.object" | "") {
                    continue;
                }
                return Doc::External {
                    class,
                    attr: attr.map(str::to_string),
                    otherwise: Box::new(mro_doc(&mro[k + 1..], attr)),
                };
            }
        }
    }
    Doc::Known(None)
}

/// A class found in some module, with the scope its bases are resolved in.
#[derive(Clone)]
struct RClass {
    module: PathBuf,
    summary: Arc<ModuleSummary>,
    /// Path of binding names from the module to this class (e.g. ["TestA", "TestB"]).
    qual: Vec<String>,
    kind: ClassKind,
}

#[derive(Clone)]
enum ClassKind {
    Project(ClassDef),
    /// `unittest.TestCase` itself.
    UnitTestBase,
    /// A base known to contribute no tests (object, ABC, Generic...).
    Inert,
}

impl RClass {
    fn key(&self) -> String {
        match &self.kind {
            ClassKind::Project(_) => format!("{}::{}", self.module.display(), self.qual.join(".")),
            ClassKind::UnitTestBase => "unittest.TestCase".into(),
            ClassKind::Inert => format!("inert:{}", self.qual.join(".")),
        }
    }
}

fn matches_prefix_or_glob(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| {
        name.starts_with(p.as_str())
            || ((p.contains('*') || p.contains('?') || p.contains('[')) && fnmatchcase(name, p))
    })
}

const INERT_BASES: &[&str] = &[
    "object",
    "abc.ABC",
    "typing.Generic",
    "typing.Protocol",
    "typing_extensions.Protocol",
    "Exception",
    "dict",
    "list",
    "str",
    "int",
    "tuple",
    "set",
    "enum.Enum",
];

impl<'a> Linker<'a> {
    fn is_test_function_name(&self, name: &str) -> bool {
        matches_prefix_or_glob(&self.req.config.python_functions(), name)
    }

    fn is_test_class_name(&self, name: &str) -> bool {
        matches_prefix_or_glob(&self.req.config.python_classes(), name)
    }

    /// Finds a project file for an absolute or relative module name.
    pub fn resolve_module(&self, from: &Path, module: &str, level: u32) -> Option<PathBuf> {
        let parts: Vec<&str> = module.split('.').filter(|p| !p.is_empty()).collect();
        let mut roots: Vec<PathBuf> = Vec::new();
        if level > 0 {
            let mut base = from.parent()?.to_path_buf();
            for _ in 1..level {
                base = base.parent()?.to_path_buf();
            }
            roots.push(base);
        } else {
            // pytest's prepend import mode puts the first directory above the test's
            // package on sys.path; the rootdir and `pythonpath` come next.
            let mut d = from.parent()?.to_path_buf();
            while self.req.fs.is_file(&d.join("__init__.py")) {
                match d.parent() {
                    Some(p) => d = p.to_path_buf(),
                    None => break,
                }
            }
            roots.push(d);
            let root = &self.req.config.rootdir;
            for p in self.req.config.args("pythonpath").unwrap_or_default() {
                roots.push(root.join(p));
            }
            roots.push(root.clone());
            roots.push(root.join("src"));
        }
        for r in roots {
            let mut p = r.clone();
            for part in &parts {
                p.push(part);
            }
            let file = p.with_extension("py");
            if !parts.is_empty() && self.req.fs.is_file(&file) {
                return Some(file);
            }
            let init = p.join("__init__.py");
            if self.req.fs.is_file(&init) {
                return Some(init);
            }
        }
        None
    }

    /// Resolves `name` in `module`'s namespace (following imports) to a value.
    pub(crate) fn resolve_name(
        &self,
        module: &Path,
        summary: &Arc<ModuleSummary>,
        name: &str,
        depth: u32,
    ) -> Result<Option<(PathBuf, Arc<ModuleSummary>, Binding)>, String> {
        if depth > 8 {
            return Err(format!("import chain too deep for {name}"));
        }
        let Some(b) = summary.bindings.iter().find(|b| b.name == name) else {
            return Ok(None);
        };
        if b.conditional {
            return Err(format!(
                "{name} is defined conditionally in {}",
                module.display()
            ));
        }
        if let Value::Import {
            module: m,
            level,
            name: Some(orig),
        } = &b.value
        {
            let Some(target) = self.resolve_module(module, m, *level) else {
                return Ok(Some((module.to_path_buf(), summary.clone(), b.clone())));
            };
            // `from pkg import submodule`: the target may be a module, not a name.
            let ts = self.source.summary(&target);
            if let Some(parse) = &ts.parse_error {
                return Err(format!("{} does not parse: {parse}", target.display()));
            }
            match self.resolve_name(&target, &ts, orig, depth + 1)? {
                Some(found) => return Ok(Some(found)),
                None => return Ok(Some((module.to_path_buf(), summary.clone(), b.clone()))),
            }
        }
        Ok(Some((module.to_path_buf(), summary.clone(), b.clone())))
    }

    /// An error when a decorator of the test function `f` (defined in `module`) is the
    /// project's and may parametrize it or replace it: a function whose body mentions
    /// `parametrize` (a helper applying `pytest.mark.parametrize`), a class, or a value
    /// made at run time (`mark = pytest.mark.parametrize(...)`). Decorators from outside
    /// the project (`mock.patch`, `hypothesis.given`) and builtins leave the ids alone.
    fn check_decorators(
        &self,
        module: &Path,
        summary: &Arc<ModuleSummary>,
        f: &FunctionDef,
    ) -> Result<(), String> {
        for written in &f.decorators_written {
            if written.is_empty() {
                return Err("a decorator expression is not a name".into());
            }
            let mut parts = written.split('.');
            let head = parts.next().unwrap_or_default();
            let rest: Vec<&str> = parts.collect();
            let Some((mut m, _, mut b)) = self.resolve_name(module, summary, head, 0)? else {
                continue;
            };
            // `helpers.decorator`: follow a project module imported whole.
            for attr in &rest {
                let Value::Import {
                    module: imported,
                    level,
                    name,
                } = &b.value
                else {
                    break;
                };
                let dotted = match name {
                    Some(n) if imported.is_empty() => n.clone(),
                    Some(n) => format!("{imported}.{n}"),
                    None => imported.clone(),
                };
                let Some(target) = self.resolve_module(&m, &dotted, *level) else {
                    break;
                };
                let ts = self.source.summary(&target);
                match self.resolve_name(&target, &ts, attr, 0)? {
                    Some((found_in, _, found)) => (m, b) = (found_in, found),
                    None => break,
                }
            }
            match &b.value {
                Value::Function(g) if g.applies_parametrize => {
                    return Err(format!("decorator {written} may apply parametrize"));
                }
                Value::Class(_) => return Err(format!("decorator {written} is a class")),
                Value::Unknown | Value::Literal => {
                    return Err(format!("decorator {written} is bound to a run-time value"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Turns a base-class reference in `scope` into a class.
    fn resolve_base(
        &self,
        module: &Path,
        summary: &Arc<ModuleSummary>,
        enclosing: &[Binding],
        base: &BaseRef,
    ) -> Result<RClass, String> {
        let dotted = match base {
            BaseRef::Dotted(d) => d.clone(),
            BaseRef::Generic(d)
                if matches!(d.as_str(), "typing.Generic" | "Generic" | "typing.Protocol") =>
            {
                return Ok(self.inert(d));
            }
            BaseRef::Generic(d) => d.clone(),
            BaseRef::Unknown => return Err("base class is not a name".into()),
        };
        if matches!(
            dotted.as_str(),
            "unittest.TestCase"
                | "unittest.case.TestCase"
                | "unittest.IsolatedAsyncioTestCase"
                | "unittest.async_case.IsolatedAsyncioTestCase"
        ) {
            return Ok(RClass {
                module: PathBuf::new(),
                summary: summary.clone(),
                // The name as written: where Python finds its docstring.
                qual: vec![dotted],
                kind: ClassKind::UnitTestBase,
            });
        }
        if INERT_BASES.contains(&dotted.as_str()) {
            return Ok(self.inert(&dotted));
        }
        let all: Vec<&str> = dotted.split('.').collect();
        let head = all[0];
        let mut rest: Vec<&str> = all[1..].to_vec();
        // Names in an enclosing class body first (nested classes), then the module.
        let local = enclosing.iter().find(|b| b.name == head).cloned();
        let (mut m, mut s, mut b) = match local {
            Some(b) => (module.to_path_buf(), summary.clone(), b),
            None => match self.resolve_name(module, summary, head, 0)? {
                Some(x) => x,
                // Not a name of this module: the summary writes bases through import
                // aliases (`from pkg.base import Base` gives `pkg.base.Base`), so find the
                // import binding that alias came from, if it is still the name's value.
                None => match self.resolve_aliased(module, summary, &all)? {
                    Some((x, consumed)) => {
                        rest = all[consumed..].to_vec();
                        x
                    }
                    None => return Err(format!("base {dotted} not found")),
                },
            },
        };
        let mut qual = vec![b.name.clone()];
        for attr in rest {
            match &b.value {
                Value::Import {
                    module: target_mod,
                    level,
                    name,
                } => {
                    let full = match name {
                        Some(n) => format!("{target_mod}.{n}"),
                        None => target_mod.clone(),
                    };
                    let Some(file) = self.resolve_module(&m, &full, *level) else {
                        return Err(format!("base {dotted} is outside the project"));
                    };
                    let fs = self.source.summary(&file);
                    match self.resolve_name(&file, &fs, attr, 0)? {
                        Some(x) => {
                            (m, s, b) = x;
                            qual = vec![b.name.clone()];
                        }
                        None => return Err(format!("base {dotted} not found")),
                    }
                }
                Value::Class(c) => {
                    let Some(inner) = c.body.iter().find(|x| x.name == attr).cloned() else {
                        return Err(format!("base {dotted} not found"));
                    };
                    qual.push(inner.name.clone());
                    b = inner;
                }
                _ => return Err(format!("base {dotted} is not a class")),
            }
        }
        match &b.value {
            Value::Class(c) => Ok(RClass {
                module: m,
                summary: s,
                qual,
                kind: ClassKind::Project(c.clone()),
            }),
            Value::Import {
                module: im, name, ..
            } => {
                let full = match name {
                    Some(n) => format!("{im}.{n}"),
                    None => im.clone(),
                };
                if matches!(
                    full.as_str(),
                    "unittest.TestCase"
                        | "unittest.IsolatedAsyncioTestCase"
                        | "unittest.case.TestCase"
                ) {
                    return Ok(RClass {
                        module: PathBuf::new(),
                        summary: s,
                        qual: vec![full],
                        kind: ClassKind::UnitTestBase,
                    });
                }
                if INERT_BASES.contains(&full.as_str()) {
                    return Ok(self.inert(&full));
                }
                Err(format!("base {full} is outside the project"))
            }
            _ => Err(format!("base {dotted} is not a class definition")),
        }
    }

    /// Resolves a base written through an import alias (`pkg.base.Base` for
    /// `from pkg.base import Base`, `pkg.mod.Base` for `import pkg.mod as m; m.Base`):
    /// the module binding whose import spells a prefix of `parts`, followed as
    /// `resolve_name` does, with how many parts it consumed. None when no current binding
    /// matches (e.g. the name was rebound after the import).
    #[allow(clippy::type_complexity)]
    fn resolve_aliased(
        &self,
        module: &Path,
        summary: &Arc<ModuleSummary>,
        parts: &[&str],
    ) -> Result<Option<((PathBuf, Arc<ModuleSummary>, Binding), usize)>, String> {
        for b in &summary.bindings {
            let Value::Import {
                module: m,
                level: 0,
                name,
            } = &b.value
            else {
                continue;
            };
            let spelled = match name {
                Some(n) => format!("{m}.{n}"),
                None => m.clone(),
            };
            let n = spelled.split('.').count();
            if n > parts.len() || parts[..n].join(".") != spelled {
                continue;
            }
            if let Some(found) = self.resolve_name(module, summary, &b.name, 0)? {
                return Ok(Some((found, n)));
            }
        }
        Ok(None)
    }

    fn inert(&self, name: &str) -> RClass {
        RClass {
            module: PathBuf::new(),
            summary: Arc::new(ModuleSummary::default()),
            qual: vec![name.to_string()],
            kind: ClassKind::Inert,
        }
    }

    /// C3 linearisation of `class` (itself first).
    fn mro(
        &self,
        class: &RClass,
        enclosing: &[Binding],
        depth: u32,
    ) -> Result<Vec<RClass>, String> {
        if depth > 32 {
            return Err("class hierarchy too deep".into());
        }
        let ClassKind::Project(def) = &class.kind else {
            return Ok(vec![class.clone()]);
        };
        let mut seqs: Vec<Vec<RClass>> = Vec::new();
        let mut direct = Vec::new();
        for base in &def.bases {
            let b = self.resolve_base(&class.module, &class.summary, enclosing, base)?;
            seqs.push(self.mro(&b, &[], depth + 1)?);
            direct.push(b);
        }
        seqs.push(direct);
        let mut out = vec![class.clone()];
        loop {
            seqs.retain(|s| !s.is_empty());
            if seqs.is_empty() {
                return Ok(out);
            }
            let candidate = seqs.iter().map(|s| &s[0]).find(|c| {
                !seqs
                    .iter()
                    .any(|s| s[1..].iter().any(|x| x.key() == c.key()))
            });
            let Some(c) = candidate.cloned() else {
                return Err("inconsistent MRO".into());
            };
            for s in seqs.iter_mut() {
                if s[0].key() == c.key() {
                    s.remove(0);
                }
            }
            out.push(c);
        }
    }

    /// The docstrings `--collect-only -v` prints for a statically collected item of
    /// `path`: the module's, each class's on the node id's path, and the function's,
    /// found as `inspect.getdoc` finds them (a class or method without one takes the
    /// first along its MRO). Where the search reaches a class outside the project, the
    /// rest is Python's to find (`Doc::External`).
    pub fn item_docs(&self, path: &Path, nodeid: &str, kind: ItemKind) -> ItemDocs {
        let summary = self.source.summary(path);
        let mut docs = ItemDocs {
            module: Doc::Known(summary.doc.clone()),
            classes: Vec::new(),
            function: Doc::Known(None),
            is_async: (false, false),
        };
        if kind == ItemKind::Doctest {
            // A text file's collector (`DoctestTextfile`) shows no docstring.
            if path.extension().is_none_or(|e| e != "py") {
                docs.module = Doc::Known(None);
            }
            return docs;
        }
        let rest = nodeid.split_once("::").map_or("", |(_, r)| r);
        let head = &rest[..rest.find('[').unwrap_or(rest.len())];
        let names: Vec<&str> = head.split("::").collect();
        let Some((function, classes)) = names.split_last() else {
            return docs;
        };
        if classes.is_empty() {
            if let Ok(Some((_, _, b))) = self.resolve_name(path, &summary, function, 0) {
                if let Value::Function(f) = &b.value {
                    docs.function = Doc::Known(f.doc.clone());
                    docs.is_async = (f.is_async, f.is_async && f.is_generator);
                }
            }
            return docs;
        }
        // The class chain: the first from the module, each next one along the MRO of
        // the one before (pytest collects nested classes from every class dict of it).
        let mut class = match self.resolve_name(path, &summary, classes[0], 0) {
            Ok(Some((m, s, b))) => match &b.value {
                Value::Class(c) => RClass {
                    module: m,
                    summary: s,
                    qual: vec![b.name.clone()],
                    kind: ClassKind::Project(c.clone()),
                },
                _ => return docs,
            },
            _ => return docs,
        };
        let mut enclosing: Vec<Binding> = Vec::new();
        for i in 0..classes.len() {
            let Ok(mro) = self.mro(&class, &enclosing, 0) else {
                return docs;
            };
            docs.classes.push(class_doc(&mro));
            let wanted = classes.get(i + 1).copied().unwrap_or(function);
            if i + 1 == classes.len() {
                docs.function = method_doc(&mro, wanted);
                // The method the class resolves the name to: the nearest along the MRO.
                let found = mro.iter().find_map(|c| match &c.kind {
                    ClassKind::Project(d) => d.body.iter().find(|b| b.name == wanted),
                    _ => None,
                });
                if let Some(Binding {
                    value: Value::Function(f),
                    ..
                }) = found
                {
                    docs.is_async = (f.is_async, f.is_async && f.is_generator);
                }
                break;
            }
            let next = mro.iter().find_map(|c| match &c.kind {
                ClassKind::Project(d) => {
                    d.body
                        .iter()
                        .find(|b| b.name == wanted)
                        .and_then(|b| match &b.value {
                            Value::Class(inner) => {
                                let mut qual = c.qual.clone();
                                qual.push(wanted.to_string());
                                Some((
                                    RClass {
                                        module: c.module.clone(),
                                        summary: c.summary.clone(),
                                        qual,
                                        kind: ClassKind::Project(inner.clone()),
                                    },
                                    d.body.clone(),
                                ))
                            }
                            _ => None,
                        })
                }
                _ => None,
            });
            let Some((inner, body)) = next else {
                return docs;
            };
            class = inner;
            enclosing = body;
        }
        docs
    }

    /// The items of one module, or the reason it must be collected by Python.
    pub fn link_module(&self, path: &Path, relpath: &str) -> LinkResult {
        let summary = self.source.summary(path);
        if let Some(e) = &summary.parse_error {
            return Err(format!("does not parse statically ({e})"));
        }
        if let Some(r) = summary.dynamic_reasons.first() {
            return Err(r.clone());
        }
        if summary
            .hooks
            .iter()
            .any(|h| h == "pytest_generate_tests" || h == "pytest_pycollect_makeitem")
        {
            return Err("module defines a collection hook".into());
        }
        if summary.test_attr == Some(false) {
            return Ok(vec![]);
        }
        if summary
            .marks
            .iter()
            .any(|m| matches!(&m.parametrize, Some(Err(_))))
        {
            return Err("pytestmark is not static".into());
        }
        let mut items = Vec::new();
        let module_marks = summary.marks.clone();
        for b in &summary.bindings {
            let is_fn_name = self.is_test_function_name(&b.name);
            let is_class_name = self.is_test_class_name(&b.name);
            let resolved = match &b.value {
                Value::Import { .. } if is_fn_name || is_class_name => {
                    let (m, s, rb) = self
                        .resolve_name(path, &summary, &b.name, 0)?
                        .expect("binding exists");
                    if let Value::Import { module, name, .. } = &rb.value {
                        let full = format!("{module}.{}", name.clone().unwrap_or_default());
                        if full.starts_with("unittest.") || full.starts_with("pytest.") {
                            continue;
                        }
                        return Err(format!("{} imported from outside the project", b.name));
                    }
                    (m, s, rb)
                }
                _ => (path.to_path_buf(), summary.clone(), b.clone()),
            };
            if b.conditional && (is_fn_name || is_class_name) {
                return Err(format!("{} is defined conditionally", b.name));
            }
            let (m, s, rb) = resolved;
            match &rb.value {
                Value::Function(f) if is_fn_name => {
                    if f.is_fixture || f.test_attr == Some(false) {
                        continue;
                    }
                    if f.is_generator && !f.is_async {
                        return Err(YIELD_TEST.into());
                    }
                    self.check_decorators(&m, &s, f)?;
                    let base = format!("{relpath}::{}", b.name);
                    let known = f.unknown_decorators.is_empty();
                    items.extend(self.expand(&base, &[&f.marks, &module_marks], known)?);
                }
                Value::Class(c) => {
                    let class = RClass {
                        module: m,
                        summary: s,
                        qual: vec![rb.name.clone()],
                        kind: ClassKind::Project(c.clone()),
                    };
                    let node = format!("{relpath}::{}", b.name);
                    items.extend(self.collect_class(
                        &class,
                        &node,
                        is_class_name,
                        &module_marks,
                        &[],
                    )?);
                }
                Value::Unknown if is_fn_name || is_class_name => {
                    return Err(format!("{} is bound to a run-time value", b.name));
                }
                _ => {}
            }
        }
        Ok(items)
    }

    fn collect_class(
        &self,
        class: &RClass,
        node: &str,
        name_matches: bool,
        module_marks: &[Mark],
        enclosing: &[Binding],
    ) -> Result<Vec<StaticItem>, String> {
        if !matches!(class.kind, ClassKind::Project(_)) {
            return Ok(vec![]);
        }
        let mro = self.mro(class, enclosing, 0)?;
        let is_unittest = mro
            .iter()
            .any(|c| matches!(c.kind, ClassKind::UnitTestBase));
        if !is_unittest && !name_matches {
            return Ok(vec![]);
        }
        for c in &mro {
            if let ClassKind::Project(d) = &c.kind {
                if let Some(r) = d.dynamic_reasons.first() {
                    return Err(r.clone());
                }
            }
        }
        // `__test__` and `__init__` are looked up along the MRO, nearest first.
        let test_attr = mro.iter().find_map(|c| match &c.kind {
            ClassKind::Project(d) => d.test_attr,
            _ => None,
        });
        if test_attr == Some(false) {
            return Ok(vec![]);
        }
        let class_bodies: Vec<&ClassDef> = mro
            .iter()
            .filter_map(|c| match &c.kind {
                ClassKind::Project(d) => Some(d),
                _ => None,
            })
            .collect();
        if is_unittest {
            let mut names: Vec<String> = Vec::new();
            for d in &class_bodies {
                for b in &d.body {
                    if b.name.starts_with("test") && !names.contains(&b.name) {
                        match &b.value {
                            Value::Function(_) | Value::Class(_) => names.push(b.name.clone()),
                            Value::Literal | Value::Import { .. } => {}
                            Value::Unknown => {
                                return Err(format!("{} is bound to a run-time value", b.name))
                            }
                        }
                    }
                }
            }
            names.sort();
            if names.is_empty()
                && class_bodies
                    .iter()
                    .any(|d| d.body.iter().any(|b| b.name == "runTest"))
            {
                names.push("runTest".into());
            }
            return Ok(names
                .into_iter()
                .map(|n| StaticItem {
                    kind: ItemKind::TestCaseFunction,
                    ..StaticItem::plain(format!("{node}::{n}"))
                })
                .collect());
        }
        if class_bodies.iter().any(|d| d.has_init || d.has_new) {
            // pytest warns "cannot collect test class because it has a __init__ constructor".
            return Ok(vec![]);
        }
        if class_bodies.iter().any(|d| d.has_abstract_methods) {
            return Err("class may be abstract".into());
        }
        // Class marks along the MRO: own first, then bases.
        let mut class_marks: Vec<Mark> = Vec::new();
        for d in &class_bodies {
            class_marks.extend(d.marks.iter().cloned());
        }
        // PyCollector.collect: dicts along the MRO, seen-set from the most derived,
        // then emitted base-first.
        let mut seen = std::collections::HashSet::new();
        let mut per_class: Vec<Vec<StaticItem>> = Vec::new();
        for (ci, d) in class_bodies.iter().enumerate() {
            let mut values = Vec::new();
            for b in &d.body {
                if !seen.insert(b.name.clone()) {
                    continue;
                }
                if b.conditional
                    && (self.is_test_function_name(&b.name) || self.is_test_class_name(&b.name))
                {
                    return Err(format!("{} is defined conditionally", b.name));
                }
                match &b.value {
                    Value::Function(f) if self.is_test_function_name(&b.name) => {
                        // A property is not callable on the class: never a test.
                        let is_property = f.unknown_decorators.iter().any(|d| {
                            d == "property"
                                || d.ends_with(".setter")
                                || d.ends_with(".getter")
                                || d == "functools.cached_property"
                                || d == "cached_property"
                        });
                        if f.is_fixture || f.test_attr == Some(false) || is_property {
                            continue;
                        }
                        if f.is_generator && !f.is_async {
                            return Err(YIELD_TEST.into());
                        }
                        if !f.decorators_written.is_empty() {
                            let owner = mro.iter().find(|x| matches!(&x.kind, ClassKind::Project(dd) if std::ptr::eq(dd, *d)));
                            if let Some(owner) = owner {
                                self.check_decorators(&owner.module, &owner.summary, f)?;
                            }
                        }
                        let base = format!("{node}::{}", b.name);
                        let known = f.unknown_decorators.is_empty();
                        values.extend(self.expand(
                            &base,
                            &[&f.marks, &class_marks, module_marks],
                            known,
                        )?);
                    }
                    Value::Class(c) => {
                        let owner = &mro[mro.iter().position(|x| matches!(&x.kind, ClassKind::Project(dd) if std::ptr::eq(dd, *d) || dd == *d)).unwrap_or(ci)];
                        let mut qual = owner.qual.clone();
                        qual.push(b.name.clone());
                        let inner = RClass {
                            module: owner.module.clone(),
                            summary: owner.summary.clone(),
                            qual,
                            kind: ClassKind::Project(c.clone()),
                        };
                        let nested = format!("{node}::{}", b.name);
                        let name_ok = self.is_test_class_name(&b.name);
                        values.extend(self.collect_class(
                            &inner,
                            &nested,
                            name_ok,
                            module_marks,
                            &d.body,
                        )?);
                    }
                    Value::Unknown if self.is_test_function_name(&b.name) => {
                        return Err(format!("{} is bound to a run-time value", b.name));
                    }
                    _ => {}
                }
            }
            per_class.push(values);
        }
        Ok(per_class.into_iter().rev().flatten().collect())
    }

    /// Applies parametrize marks (function, class, module order) to one function.
    /// `marks_known`: the function's own marks are all in `mark_lists[0]` (no decorator
    /// that could add one).
    fn expand(
        &self,
        base: &str,
        mark_lists: &[&[Mark]],
        marks_known: bool,
    ) -> Result<Vec<StaticItem>, String> {
        let mut calls: Vec<Vec<String>> = Vec::new();
        let mut call_marks: Vec<Option<Vec<Vec<String>>>> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for marks in mark_lists {
            for m in marks.iter() {
                if !names.contains(&m.name) {
                    names.push(m.name.clone());
                }
                match &m.parametrize {
                    None => {}
                    Some(Err(e)) => return Err(format!("parametrize: {e}")),
                    Some(Ok(p)) => {
                        if p.indirect_or_scoped {
                            return Err(crate::INDIRECT_OR_SCOPED_PARAMETRIZE.into());
                        }
                        calls.push(p.ids.clone());
                        call_marks.push(p.param_marks.clone());
                    }
                }
            }
        }
        let known = marks_known && call_marks.iter().all(Option::is_some);
        let own_marks = mark_lists.first().is_some_and(|m| !m.is_empty());
        if calls.is_empty() {
            return Ok(vec![StaticItem {
                marks: known.then(|| names.into()),
                own_marks,
                ..StaticItem::plain(base.to_string())
            }]);
        }
        let mut ids: Vec<(String, Vec<u32>)> = vec![(String::new(), Vec::new())];
        for (nth, call) in calls.iter().enumerate() {
            let mut next = Vec::with_capacity(ids.len() * call.len());
            for (prefix, index) in &ids {
                for (i, id) in call.iter().enumerate() {
                    let mut idx = index.clone();
                    idx.push(i as u32);
                    // By position, not emptiness: an empty-string parameter has the
                    // empty id, and pytest still joins it with "-" (`[-False]`).
                    let joined = if nth == 0 {
                        id.clone()
                    } else {
                        format!("{prefix}-{id}")
                    };
                    next.push((joined, idx));
                }
            }
            ids = next;
        }
        Ok(ids
            .into_iter()
            .map(|(id, param_index)| {
                let marks = known.then(|| {
                    let mut all = names.clone();
                    for (call, &i) in call_marks.iter().zip(&param_index) {
                        let set = call.as_ref().and_then(|c| c.get(i as usize));
                        for n in set.into_iter().flatten() {
                            if !all.contains(n) {
                                all.push(n.clone());
                            }
                        }
                    }
                    Arc::from(all)
                });
                StaticItem {
                    nodeid: format!("{base}[{id}]"),
                    param_index,
                    marks,
                    own_marks,
                    kind: ItemKind::Function,
                }
            })
            .collect())
    }
}
