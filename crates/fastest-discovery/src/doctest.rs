//! Static doctest discovery for `--doctest-modules`: simulates `doctest.DocTestFinder`
//! (as pytest's `DoctestModule` runs it) over the module namespace and names the items
//! it would find; whenever the answer depends on run-time values the module gets a
//! reason instead and is collected by Python.
//!
//! The finder walks `module.__dict__` in order; every routine (after `inspect.unwrap`)
//! or class whose module is this one is visited once (by identity) under the name it is
//! first reached by, recursing into classes (methods, static/class methods, properties,
//! nested classes); an object yields an item when its `__doc__` parses to at least one
//! example. Certain statically: `def`/`class` statements with literal docstrings (last
//! definition wins), a short list of docstring-preserving decorators (marks, fixtures,
//! `property`, `staticmethod`, `lru_cache`, ...), aliases and `del`, imports (objects of
//! other modules are skipped, unless a project module they come from assigns
//! `__module__`: see `module_claims`), literals and calls that cannot produce such an
//! object. Run-time (the module is dynamic): any `__doc__` or `__module__` assignment,
//! `__test__`, a `__getattr__` that may answer for `__test__`, module-level namespace
//! writes (`globals()`, `exec`, `vars()`, `sys.modules[...]`, computed `setattr`),
//! other decorators, names bound conditionally or to run-time values that may be such
//! objects, module code that touches them, and docstrings `DocTestParser` rejects.
//! Not seen (assumed not to happen): other modules changing this module's objects, and
//! computed `setattr` inside functions writing `__doc__`.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};
use std::collections::{HashMap, HashSet};

/// The docstring of a module/class/function body (a plain string literal first statement).
pub(crate) fn docstring(body: &[Stmt]) -> Option<(&ast::ExprStringLiteral, String)> {
    match body.first()? {
        Stmt::Expr(e) => match &*e.value {
            Expr::StringLiteral(s) => Some((s, s.value.to_str().to_string())),
            _ => None,
        },
        _ => None,
    }
}

/// `inspect.cleandoc`: tabs expanded, the first line's leading whitespace and the
/// common indentation of the others removed, leading and trailing blank lines dropped
/// (what `inspect.getdoc` returns and `--collect-only -v` prints).
pub fn cleandoc(doc: &str) -> String {
    let expanded = expand_tabs(doc);
    let mut lines: Vec<&str> = expanded.split('\n').collect();
    let margin = lines[1..]
        .iter()
        .filter_map(|l| {
            let content = l.trim_start().chars().count();
            (content > 0).then(|| l.chars().count() - content)
        })
        .min();
    let mut cleaned: Vec<String> = Vec::with_capacity(lines.len());
    if let Some(first) = lines.first_mut() {
        cleaned.push(first.trim_start().to_string());
    }
    for l in &lines[1..] {
        cleaned.push(match margin {
            Some(m) => l.chars().skip(m).collect(),
            None => l.to_string(),
        });
    }
    while cleaned.last().is_some_and(|l| l.is_empty()) {
        cleaned.pop();
    }
    let leading = cleaned.iter().take_while(|l| l.is_empty()).count();
    cleaned[leading..].join("\n")
}

/// `str.expandtabs()`: tab stops every 8 columns, counted from each line start.
fn expand_tabs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let pad = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', pad));
                column += pad;
            }
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// A line whose first non-space text is `>>>`: a cheap "may hold examples" test.
pub fn has_examples(doc: &str) -> bool {
    doc.lines().any(|l| {
        l.replace('\t', "        ")
            .trim_start_matches(' ')
            .starts_with(">>>")
    })
}

/// What `DocTestParser.get_examples` makes of a docstring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Examples {
    None,
    Some,
    /// The parser raises `ValueError` (pytest reports a collection error).
    Broken,
}

/// `str.expandtabs()` (tab size 8; columns restart after `\n` and `\r`).
fn expandtabs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut col = 0usize;
    for c in s.chars() {
        match c {
            '\t' => {
                let n = 8 - col % 8;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            '\n' | '\r' => {
                out.push(c);
                col = 0;
            }
            _ => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// Option flags `doctest` knows, plus the three pytest registers.
const OPTION_FLAGS: &[&str] = &[
    "DONT_ACCEPT_TRUE_FOR_1",
    "DONT_ACCEPT_BLANKLINE",
    "NORMALIZE_WHITESPACE",
    "ELLIPSIS",
    "SKIP",
    "IGNORE_EXCEPTION_DETAIL",
    "REPORT_UDIFF",
    "REPORT_CDIFF",
    "REPORT_NDIFF",
    "REPORT_ONLY_FIRST_FAILURE",
    "FAIL_FAST",
    "ALLOW_UNICODE",
    "ALLOW_BYTES",
    "NUMBER",
];

fn leading_spaces(l: &[char]) -> usize {
    l.iter().take_while(|c| **c == ' ').count()
}

fn starts_with_at(l: &[char], at: usize, pat: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    l.len() >= at + p.len() && l[at..at + p.len()] == p[..]
}

/// `_IS_BLANK_OR_COMMENT`: `^[ ]*(#.*)?$` matched against the whole source.
fn blank_or_comment(source: &str) -> bool {
    let s = source.strip_suffix('\n').unwrap_or(source);
    if s.contains('\n') {
        return false;
    }
    let t = s.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// `DocTestParser._find_options`: Err when a `doctest:` directive names an unknown flag.
fn options_ok(source: &str) -> bool {
    // `#\s*doctest:\s*([^\n'"]*)$` (MULTILINE), searched left to right.
    let chars: Vec<char> = source.chars().collect();
    let mut found = false;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '#' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if !starts_with_at(&chars, j, "doctest:") {
            i += 1;
            continue;
        }
        j += "doctest:".len();
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let start = j;
        while j < chars.len() && !matches!(chars[j], '\n' | '\'' | '"') {
            j += 1;
        }
        if j < chars.len() && chars[j] != '\n' {
            i += 1;
            continue;
        }
        let group: String = chars[start..j].iter().collect();
        for opt in group.replace(',', " ").split_whitespace() {
            let ok =
                (opt.starts_with('+') || opt.starts_with('-')) && OPTION_FLAGS.contains(&&opt[1..]);
            if !ok {
                return false;
            }
            found = true;
        }
        i = j;
    }
    !(found && blank_or_comment(source))
}

/// Parses a docstring as `doctest.DocTestParser.parse` does (after `expandtabs` and
/// removing the common indentation), including the checks that make it raise.
pub fn parse_examples(doc: &str) -> Examples {
    let text = expandtabs(doc);
    let raw: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
    // `_INDENT_RE`: indentation of lines with non-whitespace text.
    let min_indent = raw
        .iter()
        .filter_map(|l| {
            let n = leading_spaces(l);
            l.get(n).filter(|c| !c.is_whitespace()).map(|_| n)
        })
        .min()
        .unwrap_or(0);
    let lines: Vec<Vec<char>> = raw
        .into_iter()
        .map(|l| {
            l.get(min_indent..)
                .map(<[char]>::to_vec)
                .unwrap_or_default()
        })
        .collect();
    let is_ps1 = |l: &[char]| starts_with_at(l, leading_spaces(l), ">>>");
    let is_ps2 = |l: &[char]| starts_with_at(l, leading_spaces(l), "...");
    let is_blank = |l: &[char]| l.iter().all(|c| *c == ' ');
    let mut result = Examples::None;
    let mut i = 0;
    while i < lines.len() {
        if !is_ps1(&lines[i]) {
            i += 1;
            continue;
        }
        let indent = leading_spaces(&lines[i]);
        let mut source_lines = vec![&lines[i]];
        i += 1;
        while i < lines.len() && is_ps2(&lines[i]) {
            source_lines.push(&lines[i]);
            i += 1;
        }
        let mut want_lines = vec![];
        while i < lines.len() && !is_blank(&lines[i]) && !is_ps1(&lines[i]) {
            want_lines.push(&lines[i]);
            i += 1;
        }
        // `_check_prompt_blank`.
        if source_lines
            .iter()
            .any(|l| l.len() >= indent + 4 && l[indent + 3] != ' ')
        {
            return Examples::Broken;
        }
        // `_check_prefix` for continuation and expected-output lines.
        let ps2_prefix: String = " ".repeat(indent) + ".";
        if source_lines[1..]
            .iter()
            .any(|l| !l.is_empty() && !starts_with_at(l, 0, &ps2_prefix))
        {
            return Examples::Broken;
        }
        let want_prefix = " ".repeat(indent);
        if want_lines
            .iter()
            .any(|l| !l.is_empty() && !starts_with_at(l, 0, &want_prefix))
        {
            return Examples::Broken;
        }
        let source: Vec<String> = source_lines
            .iter()
            .map(|l| l.get(indent + 4..).unwrap_or_default().iter().collect())
            .collect();
        let source = source.join("\n");
        if !options_ok(&source) {
            return Examples::Broken;
        }
        if !blank_or_comment(&source) {
            result = Examples::Some;
        }
    }
    result
}

/// What a name in a namespace refers to, as far as the finder is concerned.
#[derive(Debug, Clone)]
enum Slot {
    /// Never a routine or class the finder visits in this module (literal, import, ...).
    Inert,
    /// Not visited itself, but holds references to these objects (a list of functions).
    Holds(Vec<usize>),
    /// A function or class defined by this module.
    Obj(usize),
    /// Only known at run time, and it may matter.
    Unknown(String),
}

#[derive(Debug)]
struct Object {
    examples: Examples,
    /// Class namespace; `None` for functions.
    members: Option<Namespace>,
    /// Module code may change the object after its definition.
    tainted: Option<String>,
    /// A `@property` (its setter/deleter keep the getter's docstring).
    is_property: bool,
    /// A module-level `__getattr__` that raises `AttributeError` for `"__test__"`.
    rejects_test: bool,
}

/// A namespace in `__dict__` order, indexed by name.
#[derive(Debug, Default)]
struct Namespace {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Namespace {
    fn get(&self, name: &str) -> Option<&Entry> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Entry> {
        self.index.get(name).map(|&i| &mut self.entries[i])
    }

    fn push(&mut self, entry: Entry) {
        self.index.insert(entry.name.clone(), self.entries.len());
        self.entries.push(entry);
    }

    fn remove(&mut self, name: &str) {
        if self.index.remove(name).is_some() {
            self.entries.retain(|e| e.name != name);
            self.index = (self.entries.iter().enumerate())
                .map(|(i, e)| (e.name.clone(), i))
                .collect();
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    slot: Slot,
    /// First bound conditionally: its place in `__dict__` order is a run-time fact.
    position_uncertain: bool,
}

/// Decorators that return an object with the function's docstring and module, which
/// the finder visits like the function itself.
const TRANSPARENT_DECORATORS: &[&str] = &[
    "staticmethod",
    "classmethod",
    "property",
    "functools.cached_property",
    "functools.lru_cache",
    "functools.cache",
    "abc.abstractmethod",
    "abc.abstractproperty",
    "abc.abstractclassmethod",
    "abc.abstractstaticmethod",
    "contextlib.contextmanager",
    "contextlib.asynccontextmanager",
    "typing.final",
    "typing_extensions.final",
    "typing.no_type_check",
    "typing.runtime_checkable",
    "typing_extensions.runtime_checkable",
    "dataclasses.dataclass",
    "functools.total_ordering",
    "enum.unique",
    "pytest.fixture",
    "pytest.yield_fixture",
    "pytest_asyncio.fixture",
    "unittest.skip",
    "unittest.skipIf",
    "unittest.skipUnless",
    "unittest.expectedFailure",
];

/// Metaclasses that do not change what the class's `__dict__` holds for the finder.
const PLAIN_METACLASSES: &[&str] = &["abc.ABCMeta", "type", "enum.EnumMeta", "enum.EnumType"];

fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => Some(format!("{}.{}", dotted(&a.value)?, a.attr.id)),
        _ => None,
    }
}

/// Names loaded anywhere inside an expression.
fn loaded_names(expr: &Expr) -> Vec<String> {
    #[derive(Default)]
    struct Names(Vec<String>);
    impl<'a> Visitor<'a> for Names {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(n) = expr {
                self.0.push(n.id.to_string());
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut v = Names::default();
    v.visit_expr(expr);
    v.0
}

/// Walrus targets inside an expression (they bind in the enclosing namespace).
fn walrus_targets(expr: &Expr) -> Vec<(String, Expr)> {
    #[derive(Default)]
    struct W(Vec<(String, Expr)>);
    impl<'a> Visitor<'a> for W {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Named(n) = expr {
                if let Expr::Name(t) = &*n.target {
                    self.0.push((t.id.to_string(), (*n.value).clone()));
                }
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut v = W::default();
    v.visit_expr(expr);
    v.0
}

/// `x.__module__` or `getattr(x, "__module__", ...)`: an object takes over the module of
/// another one (as `functools.wraps` does), so it claims no module that object does not.
fn propagates_module(value: &Expr) -> bool {
    match value {
        Expr::Attribute(a) => a.attr.id.as_str() == "__module__",
        Expr::Call(c) => {
            dotted(&c.func).as_deref() == Some("getattr")
                && matches!(c.arguments.args.get(1), Some(Expr::StringLiteral(s)) if s.value.to_str() == "__module__")
        }
        _ => false,
    }
}

/// Callees whose result the finder never visits as an object of this module (it belongs
/// to `functools`, `operator`, or is a class without docstring examples), whatever the
/// arguments; the result still holds references to them.
const FOREIGN_RESULT_CALLEES: &[&str] = &[
    "functools.partial",
    "functools.partialmethod",
    "operator.itemgetter",
    "operator.attrgetter",
    "operator.methodcaller",
    "collections.namedtuple",
    "typing.NamedTuple",
    "typing.TypeVar",
    "typing.NewType",
    "typing.ParamSpec",
];

/// Whole-file facts gathered before the namespace walk.
struct Prescan {
    /// A reason the module's doctests are decided at run time whatever the namespace holds.
    blocker: Option<String>,
    /// Some string literal other than a module/class-level docstring has `>>>` lines
    /// (nested function docstrings, strings a `type()` call or helper may turn into a
    /// `__doc__`): objects created at run time may carry examples.
    runtime_docs: bool,
    /// Module names objects of this module may claim through `__module__` stores.
    module_claims: Vec<String>,
    /// A function body writes module namespaces (`globals()`, `exec`, `sys.modules[...]`):
    /// calling a function of this module at import time may bind anything.
    function_namespace_writes: bool,
}

struct PrescanVisitor<'s> {
    source: &'s str,
    lines: &'s Lines,
    /// Ranges of the docstrings the namespace walk reads itself.
    tracked_docs: HashSet<TextRange>,
    function_depth: usize,
    out: Prescan,
}

impl PrescanVisitor<'_> {
    /// Records the module name a `__module__` store may claim: the literal, nothing for
    /// a copy of another object's module (`functools.wraps` style) or `__name__`, `*`
    /// for anything else.
    fn claim(&mut self, value: Option<&Expr>) {
        let claim = match value {
            Some(Expr::StringLiteral(s)) => s.value.to_str().to_string(),
            Some(v) if propagates_module(v) => return,
            Some(Expr::Name(n)) if n.id.as_str() == "__name__" => return,
            _ => "*".to_string(),
        };
        if !self.out.module_claims.contains(&claim) {
            self.out.module_claims.push(claim);
        }
    }

    fn block(&mut self, why: String, at: TextSize) {
        if self.out.blocker.is_none() {
            self.out.blocker = Some(format!("{why} (line {})", self.lines.of(at)));
        }
    }

    /// A store to `target` (with `value` when it is a plain assignment).
    fn attribute_store(&mut self, target: &Expr, value: Option<&Expr>) {
        match target {
            Expr::Attribute(a) => match a.attr.id.as_str() {
                "__doc__" => self.block("assigns __doc__".into(), a.range().start()),
                "__module__" => {
                    self.claim(value);
                    self.block("assigns __module__".into(), a.range().start());
                }
                _ => {}
            },
            // A class body's `__module__` (the walk rejects the class itself).
            Expr::Name(n) if n.id.as_str() == "__module__" => self.claim(value),
            Expr::Tuple(t) => t.elts.iter().for_each(|e| self.attribute_store(e, None)),
            Expr::List(t) => t.elts.iter().for_each(|e| self.attribute_store(e, None)),
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for PrescanVisitor<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assign(a) => a
                .targets
                .iter()
                .for_each(|t| self.attribute_store(t, Some(&a.value))),
            Stmt::AugAssign(a) => self.attribute_store(&a.target, None),
            Stmt::AnnAssign(a) => self.attribute_store(&a.target, a.value.as_deref()),
            Stmt::Delete(d) => d.targets.iter().for_each(|t| self.attribute_store(t, None)),
            Stmt::For(f) => self.attribute_store(&f.target, None),
            Stmt::With(w) => w
                .items
                .iter()
                .filter_map(|i| i.optional_vars.as_deref())
                .for_each(|t| self.attribute_store(t, None)),
            _ => {}
        }
        if let Stmt::FunctionDef(_) = stmt {
            self.function_depth += 1;
            visitor::walk_stmt(self, stmt);
            self.function_depth -= 1;
        } else {
            visitor::walk_stmt(self, stmt);
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::StringLiteral(s)
                if !self.tracked_docs.contains(&s.range()) && has_examples(s.value.to_str()) =>
            {
                self.out.runtime_docs = true;
            }
            Expr::FString(f) => {
                let text =
                    self.source[f.range().start().to_usize()..f.range.end().to_usize()].to_string();
                if text.contains(">>>") {
                    self.out.runtime_docs = true;
                }
            }
            Expr::Call(c) => {
                let callee = dotted(&c.func).unwrap_or_default();
                let at = c.range().start();
                match callee.as_str() {
                    "globals" | "exec" if self.function_depth > 0 => {
                        self.out.function_namespace_writes = true
                    }
                    "globals" | "exec" => {
                        self.block(format!("uses {callee}() at module level"), at)
                    }
                    "vars" | "locals" if self.function_depth == 0 => {
                        self.block(format!("uses {callee}() at module level"), at)
                    }
                    "setattr" | "delattr" => match c.arguments.args.get(1) {
                        Some(Expr::StringLiteral(s)) => match s.value.to_str() {
                            "__doc__" => self.block(format!("{callee} of __doc__"), at),
                            "__module__" => {
                                self.claim(c.arguments.args.get(2));
                                self.block(format!("{callee} of __module__"), at)
                            }
                            _ => {}
                        },
                        _ if self.function_depth == 0 => {
                            self.block(format!("{callee} with a computed name"), at)
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
            Expr::Subscript(s) if dotted(&s.value).as_deref() == Some("sys.modules") => {
                if self.function_depth > 0 {
                    self.out.function_namespace_writes = true;
                } else {
                    self.block(
                        "indexes sys.modules at module level".into(),
                        s.range().start(),
                    )
                }
            }
            Expr::Lambda(_) => {
                self.function_depth += 1;
                visitor::walk_expr(self, expr);
                self.function_depth -= 1;
                return;
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

/// Docstring ranges of the module and of every def/class reachable through module and
/// class bodies (not through function bodies): the ones the namespace walk reads.
fn tracked_docstrings(body: &[Stmt], out: &mut HashSet<TextRange>) {
    for stmt in body {
        match stmt {
            Stmt::FunctionDef(f) => {
                if let Some((s, _)) = docstring(&f.body) {
                    out.insert(s.range());
                }
            }
            Stmt::ClassDef(c) => {
                if let Some((s, _)) = docstring(&c.body) {
                    out.insert(s.range());
                }
                tracked_docstrings(&c.body, out);
            }
            Stmt::If(i) => {
                tracked_docstrings(&i.body, out);
                for c in &i.elif_else_clauses {
                    tracked_docstrings(&c.body, out);
                }
            }
            Stmt::Try(t) => {
                tracked_docstrings(&t.body, out);
                for h in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    tracked_docstrings(&h.body, out);
                }
                tracked_docstrings(&t.orelse, out);
                tracked_docstrings(&t.finalbody, out);
            }
            Stmt::With(w) => tracked_docstrings(&w.body, out),
            Stmt::For(f) => {
                tracked_docstrings(&f.body, out);
                tracked_docstrings(&f.orelse, out);
            }
            Stmt::While(w) => {
                tracked_docstrings(&w.body, out);
                tracked_docstrings(&w.orelse, out);
            }
            Stmt::Match(m) => m
                .cases
                .iter()
                .for_each(|c| tracked_docstrings(&c.body, out)),
            _ => {}
        }
    }
}

/// Offsets of line starts, for 1-based line numbers in reasons.
struct Lines(Vec<usize>);

impl Lines {
    fn new(source: &str) -> Lines {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines(starts)
    }

    fn of(&self, offset: TextSize) -> usize {
        self.0.partition_point(|&start| start <= offset.to_usize())
    }
}

/// Objects of this module some expressions refer to.
#[derive(Default)]
struct Refs {
    ids: Vec<usize>,
    /// One of them (or an unknown name) may yield an item.
    matters: bool,
    /// An unknown name is among them.
    unknown: bool,
}

/// The namespace walk.
struct Analyzer<'s> {
    lines: &'s Lines,
    runtime_docs: bool,
    function_namespace_writes: bool,
    objects: Vec<Object>,
    /// `obj_matters` per object, cleared when an object is tainted.
    matters_cache: std::cell::RefCell<HashMap<usize, bool>>,
    /// Something bound so far may matter (monotonic).
    some_matters: bool,
    /// Module namespace first, then the class bodies being executed.
    scopes: Vec<Namespace>,
    /// Local name → dotted import target, for recognising decorators.
    aliases: HashMap<String, String>,
}

/// The doctest items of a module.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModuleDoctests {
    /// Names relative to the module ("" is the module itself), sorted.
    pub names: Vec<String>,
    /// Why Python must collect the module's doctests, if it must.
    pub dynamic: Option<String>,
    /// Module names this module's objects may claim via `__module__` (`*`: unknown).
    pub module_claims: Vec<String>,
}

/// Doctest items of a module body (see the module documentation for the rules).
pub fn module_doctests(body: &[Stmt], source: &str) -> ModuleDoctests {
    let mut tracked = HashSet::new();
    if let Some((s, _)) = docstring(body) {
        tracked.insert(s.range());
    }
    tracked_docstrings(body, &mut tracked);
    let lines = Lines::new(source);
    let mut pre = PrescanVisitor {
        source,
        lines: &lines,
        tracked_docs: tracked,
        function_depth: 0,
        out: Prescan {
            blocker: None,
            runtime_docs: false,
            module_claims: Vec::new(),
            function_namespace_writes: false,
        },
    };
    pre.visit_body(body);
    let pre = pre.out;
    let mut result = ModuleDoctests {
        module_claims: pre.module_claims,
        ..Default::default()
    };
    if let Some(b) = pre.blocker {
        result.dynamic = Some(b);
        return result;
    }
    let mut a = Analyzer {
        lines: &lines,
        runtime_docs: pre.runtime_docs,
        function_namespace_writes: pre.function_namespace_writes,
        objects: Vec::new(),
        matters_cache: Default::default(),
        some_matters: false,
        scopes: vec![Namespace::default()],
        aliases: HashMap::new(),
    };
    a.exec_body(body, false);
    let module_ns = a.scopes.pop().unwrap_or_default();
    match a.finish(body, &module_ns.entries) {
        Ok(names) => result.names = names,
        Err(e) => result.dynamic = Some(e),
    }
    result
}

impl Analyzer<'_> {
    fn line(&self, node: &impl Ranged) -> usize {
        self.lines.of(node.range().start())
    }

    fn lookup(&self, name: &str) -> Option<&Slot> {
        let scope = self.scopes.last()?;
        scope
            .get(name)
            .or_else(|| self.scopes[0].get(name))
            .map(|e| &e.slot)
    }

    /// Whether anything reachable from the object may yield an item (or fail). Members
    /// are created before their class, so this never loops.
    fn obj_matters(&self, id: usize) -> bool {
        if let Some(m) = self.matters_cache.borrow().get(&id) {
            return *m;
        }
        let o = &self.objects[id];
        let m = o.examples != Examples::None
            || o.tainted.is_some()
            || o.members.as_ref().is_some_and(|m| {
                m.entries
                    .iter()
                    .any(|e| e.position_uncertain || self.matters(&e.slot))
            });
        self.matters_cache.borrow_mut().insert(id, m);
        m
    }

    fn matters(&self, slot: &Slot) -> bool {
        match slot {
            Slot::Inert => false,
            Slot::Unknown(_) => true,
            Slot::Obj(id) => self.obj_matters(*id),
            Slot::Holds(ids) => ids.iter().any(|id| self.obj_matters(*id)),
        }
    }

    /// Objects of this module the expressions refer to.
    fn refs(&self, exprs: &[&Expr]) -> Refs {
        let mut r = Refs::default();
        for e in exprs {
            for n in loaded_names(e) {
                match self.lookup(&n) {
                    Some(Slot::Obj(id)) => {
                        r.ids.push(*id);
                        r.matters |= self.obj_matters(*id);
                    }
                    Some(Slot::Holds(h)) => {
                        r.ids.extend(h.iter().copied());
                        r.matters |= h.iter().any(|id| self.obj_matters(*id));
                    }
                    Some(Slot::Unknown(_)) => {
                        r.matters = true;
                        r.unknown = true;
                    }
                    _ => {}
                }
            }
        }
        r
    }

    /// Whether anything bound so far may matter (an over-approximation).
    fn any_matters(&self) -> bool {
        self.some_matters
    }

    /// Module-level code other than a binding (a call, ...): every object of this module
    /// it can reach may be changed (a helper may even give it a docstring).
    fn side_effects(&mut self, exprs: &[&Expr], at: &impl Ranged) {
        self.taint(exprs, at);
        self.walrus(exprs, at);
    }

    fn taint(&mut self, exprs: &[&Expr], at: &impl Ranged) {
        let ids = self.refs(exprs).ids;
        let line = self.line(at);
        for id in ids {
            let o = &mut self.objects[id];
            if o.tainted.is_none() {
                o.tainted = Some(format!("module code at line {line} may change it"));
                self.some_matters = true;
                self.matters_cache.borrow_mut().clear();
            }
        }
    }

    fn walrus(&mut self, exprs: &[&Expr], at: &impl Ranged) {
        for e in exprs {
            for (name, value) in walrus_targets(e) {
                let slot = self.value_slot(&value);
                self.bind(&name, slot, true, at);
            }
        }
    }

    /// An attribute or subscript store (`f.x = v`, `d[k] = v`) binds nothing; it only
    /// matters when the stored value does (a class gains a member with examples, a
    /// container an alias) or docstrings are made at run time. (`__doc__`/`__module__`
    /// stores are rejected before the walk.)
    fn store(&mut self, target: &Expr, value: &Slot, exprs: &[&Expr], at: &impl Ranged) {
        if self.matters(value) || self.runtime_docs {
            let mut all = vec![target];
            all.extend(exprs.iter().copied());
            self.taint(&all, at);
        }
        let mut all = vec![target];
        all.extend(exprs.iter().copied());
        self.walrus(&all, at);
    }

    /// Binds `name` in the current scope. A conditional binding that may matter (or
    /// replaces something that may) becomes unknown.
    fn bind(&mut self, name: &str, slot: Slot, conditional: bool, at: &impl Ranged) {
        let line = self.line(at);
        let old = self.lookup_current(name).cloned();
        let slot = if conditional
            && (self.matters(&slot) || old.as_ref().is_some_and(|o| self.matters(o)))
        {
            Slot::Unknown(format!("{name} is bound conditionally (line {line})"))
        } else {
            slot
        };
        if self.scopes.len() == 1 {
            // A new binding shadows an import of the same name (imports re-add it).
            self.aliases.remove(name);
        }
        if self.matters(&slot) {
            self.some_matters = true;
        }
        let scope = self.scopes.last_mut().expect("a scope");
        match scope.get_mut(name) {
            Some(e) => e.slot = slot,
            None => scope.push(Entry {
                name: name.to_string(),
                slot,
                position_uncertain: conditional,
            }),
        }
    }

    fn lookup_current(&self, name: &str) -> Option<&Slot> {
        self.scopes.last()?.get(name).map(|e| &e.slot)
    }

    fn unbind(&mut self, name: &str, conditional: bool, at: &impl Ranged) {
        let line = self.line(at);
        let matters = self.lookup_current(name).is_some_and(|s| self.matters(s));
        let scope = self.scopes.last_mut().expect("a scope");
        if conditional {
            if let Some(e) = scope.get_mut(name) {
                e.position_uncertain = true;
                if matters {
                    e.slot =
                        Slot::Unknown(format!("{name} is deleted conditionally (line {line})"));
                }
            }
        } else {
            scope.remove(name);
        }
    }

    /// Import alias resolution for decorator names (`mark.skip` → `pytest.mark.skip`).
    fn canonical(&self, expr: &Expr) -> Option<String> {
        let d = dotted(expr)?;
        let (head, rest) = match d.split_once('.') {
            Some((h, r)) => (h.to_string(), Some(r.to_string())),
            None => (d.clone(), None),
        };
        let base = self.aliases.get(&head).cloned().unwrap_or(head);
        Some(match rest {
            Some(r) => format!("{base}.{r}"),
            None => base,
        })
    }

    /// The slot a value expression produces.
    fn value_slot(&mut self, value: &Expr) -> Slot {
        let line = self.line(value);
        match value {
            Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::NumberLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::EllipsisLiteral(_)
            | Expr::FString(_)
            | Expr::Lambda(_) => Slot::Inert,
            Expr::Name(n) => match self.lookup(n.id.as_str()) {
                Some(s) => s.clone(),
                // A builtin, or a name a star import brought: not of this module.
                None => Slot::Inert,
            },
            Expr::List(_)
            | Expr::Tuple(_)
            | Expr::Set(_)
            | Expr::Dict(_)
            | Expr::ListComp(_)
            | Expr::SetComp(_)
            | Expr::DictComp(_)
            | Expr::Generator(_) => {
                // A container is never visited; it only holds references.
                let r = self.refs(&[value]);
                if r.unknown {
                    Slot::Unknown(format!("a value at line {line} is only known at run time"))
                } else if r.ids.is_empty() {
                    Slot::Inert
                } else {
                    Slot::Holds(r.ids)
                }
            }
            Expr::Call(c) => self.call_slot(c, value),
            _ => {
                let r = self.refs(&[value]);
                if r.matters || (self.runtime_docs && !r.ids.is_empty()) {
                    Slot::Unknown(format!("a value at line {line} is only known at run time"))
                } else if r.ids.is_empty() {
                    Slot::Inert
                } else {
                    Slot::Holds(r.ids)
                }
            }
        }
    }

    /// The result of a call: unknown when it could be a function or class of this
    /// module with examples: an argument that may matter, a callee of this module while
    /// something with examples exists (its body may wrap it), docstrings made at run time.
    fn call_slot(&mut self, call: &ast::ExprCall, at: &Expr) -> Slot {
        let line = self.line(at);
        let mut exprs: Vec<&Expr> = vec![&call.func];
        exprs.extend(call.arguments.args.iter());
        exprs.extend(call.arguments.keywords.iter().map(|k| &k.value));
        let r = self.refs(&exprs);
        let callee = self.refs(&[&call.func]);
        let local_callee = !callee.ids.is_empty() || callee.unknown;
        if local_callee && self.function_namespace_writes {
            return Slot::Unknown(format!(
                "a call at line {line} runs code that writes module namespaces"
            ));
        }
        // An instance of a class of this module: whatever it is, its `__doc__` is the
        // class's own docstring (instances' `__doc__` stores are rejected before the
        // walk), so without examples there it yields nothing. `__new__` may return
        // anything else.
        if let Expr::Name(n) = &*call.func {
            if let Some(Slot::Obj(cid)) = self.lookup(n.id.as_str()).cloned() {
                let c = &self.objects[cid];
                let plain_class = c
                    .members
                    .as_ref()
                    .is_some_and(|m| m.get("__new__").is_none() && c.tainted.is_none())
                    && c.examples == Examples::None;
                let args: Vec<&Expr> = exprs[1..].to_vec();
                let args = self.refs(&args);
                if plain_class && !args.matters && !self.runtime_docs {
                    let mut ids = args.ids;
                    ids.push(cid);
                    return Slot::Holds(ids);
                }
            }
        }
        let foreign = !local_callee
            && self
                .canonical(&call.func)
                .is_some_and(|c| FOREIGN_RESULT_CALLEES.contains(&c.as_str()));
        if foreign && !r.unknown {
            return if r.ids.is_empty() {
                Slot::Inert
            } else {
                Slot::Holds(r.ids)
            };
        }
        if r.matters || (local_callee && self.any_matters()) {
            return Slot::Unknown(format!(
                "a call at line {line} may return a function or class with a doctest"
            ));
        }
        if self.runtime_docs {
            return Slot::Unknown(format!(
                "a call at line {line} may build a docstring at run time"
            ));
        }
        if r.ids.is_empty() {
            Slot::Inert
        } else {
            Slot::Holds(r.ids)
        }
    }

    /// Applies one decorator to the slot of the object being defined.
    fn decorate(&mut self, dec: &ast::Decorator, slot: Slot, in_class: bool) -> Slot {
        let (callee, call) = match &dec.expression {
            Expr::Call(c) => (&*c.func, Some(c)),
            other => (other, None),
        };
        let canon = self.canonical(callee).unwrap_or_default();
        let line = self.line(dec);
        // Decorator arguments are evaluated like any expression.
        let args_matter = call.is_some_and(|c| {
            let exprs: Vec<&Expr> = c
                .arguments
                .args
                .iter()
                .chain(c.arguments.keywords.iter().map(|k| &k.value))
                .collect();
            self.refs(&exprs).matters
        });
        // A property outside a class body is not visited (not a routine): not transparent.
        let class_only = matches!(canon.as_str(), "property" | "functools.cached_property");
        let abc_register = canon.starts_with("collections.abc.") && canon.ends_with(".register");
        let transparent = (TRANSPARENT_DECORATORS.contains(&canon.as_str())
            && (in_class || !class_only))
            || abc_register
            || canon.starts_with("pytest.mark.")
            || canon.starts_with("unittest.mock.patch")
            || canon.starts_with("mock.patch");
        if transparent && !args_matter {
            if canon == "property" && in_class {
                if let Slot::Obj(id) = slot {
                    self.objects[id].is_property = true;
                }
            }
            return slot;
        }
        if canon == "typing.overload" || canon == "typing_extensions.overload" {
            // Returns `typing._overload_dummy`, which is not of this module.
            return Slot::Inert;
        }
        // `@x.setter` / `.getter` / `.deleter` on a property of this class: a copy of the
        // property, with the getter's docstring.
        if let (true, None, Expr::Attribute(a)) = (in_class, call, callee) {
            if matches!(a.attr.id.as_str(), "setter" | "getter" | "deleter") {
                if let Expr::Name(n) = &*a.value {
                    if let Some(Slot::Obj(pid)) = self.lookup(n.id.as_str()).cloned() {
                        let new_has_examples = match &slot {
                            Slot::Obj(id) => self.objects[*id].examples != Examples::None,
                            _ => true,
                        };
                        if self.objects[pid].is_property && !new_has_examples {
                            return Slot::Obj(pid);
                        }
                    }
                }
            }
        }
        let what = match &slot {
            Slot::Obj(id) if self.objects[*id].members.is_some() => "class",
            _ => "function",
        };
        Slot::Unknown(format!(
            "decorator {} at line {line} may replace the {what} or its docstring",
            if canon.is_empty() {
                "expression"
            } else {
                &canon
            }
        ))
    }

    fn new_object(&mut self, examples: Examples, members: Option<Namespace>) -> usize {
        self.objects.push(Object {
            examples,
            members,
            tainted: None,
            is_property: false,
            rejects_test: false,
        });
        self.objects.len() - 1
    }

    fn examples_of(body: &[Stmt]) -> Examples {
        docstring(body).map_or(Examples::None, |(_, d)| parse_examples(&d))
    }

    fn exec_body(&mut self, body: &[Stmt], conditional: bool) {
        for stmt in body {
            self.exec(stmt, conditional);
        }
    }

    fn bind_target(&mut self, target: &Expr, value: Option<&Expr>, conditional: bool) {
        match target {
            Expr::Name(n) => {
                let slot = match value {
                    Some(v) => self.value_slot(v),
                    None => Slot::Inert,
                };
                self.bind(n.id.as_str(), slot, conditional, target);
            }
            Expr::Tuple(_) | Expr::List(_) => {
                let elts = match target {
                    Expr::Tuple(t) => &t.elts,
                    Expr::List(t) => &t.elts,
                    _ => unreachable!(),
                };
                let values = match value {
                    Some(Expr::Tuple(t)) => Some(&t.elts),
                    Some(Expr::List(t)) => Some(&t.elts),
                    _ => None,
                };
                let exact = values.filter(|v| {
                    v.len() == elts.len()
                        && !v.iter().chain(elts.iter()).any(|e| e.is_starred_expr())
                });
                match exact {
                    Some(vals) => {
                        for (t, v) in elts.iter().zip(vals.iter()) {
                            self.bind_target(t, Some(v), conditional);
                        }
                    }
                    None => {
                        let slot = match value {
                            Some(v) => self.unpacked_slot(v),
                            None => Slot::Inert,
                        };
                        for t in elts {
                            self.bind_unpacked(t, slot.clone(), conditional);
                        }
                    }
                }
            }
            Expr::Starred(s) => self.bind_target(&s.value, value, conditional),
            other => match value {
                Some(v) => {
                    let slot = self.value_slot(v);
                    self.store(other, &slot, &[v], other);
                }
                None => self.store(other, &Slot::Inert, &[], other),
            },
        }
    }

    /// The slot of an element taken out of `value` (unpacking, iteration).
    fn unpacked_slot(&mut self, value: &Expr) -> Slot {
        let r = self.refs(&[value]);
        if r.matters || (self.runtime_docs && !r.ids.is_empty()) {
            Slot::Unknown(format!(
                "a value unpacked at line {} is only known at run time",
                self.line(value)
            ))
        } else {
            Slot::Inert
        }
    }

    fn bind_unpacked(&mut self, target: &Expr, slot: Slot, conditional: bool) {
        match target {
            Expr::Name(n) => self.bind(n.id.as_str(), slot, conditional, target),
            Expr::Tuple(t) => t
                .elts
                .iter()
                .for_each(|e| self.bind_unpacked(e, slot.clone(), conditional)),
            Expr::List(t) => t
                .elts
                .iter()
                .for_each(|e| self.bind_unpacked(e, slot.clone(), conditional)),
            Expr::Starred(s) => self.bind_unpacked(&s.value, slot, conditional),
            other => self.store(other, &slot, &[], other),
        }
    }

    fn exec(&mut self, stmt: &Stmt, conditional: bool) {
        let in_class = self.scopes.len() > 1;
        match stmt {
            Stmt::FunctionDef(f) => {
                let id = self.new_object(Self::examples_of(&f.body), None);
                if !in_class && f.name.id.as_str() == "__getattr__" {
                    self.objects[id].rejects_test = getattr_rejects_test(f);
                }
                // Default values and annotations are evaluated now.
                let mut slot = Slot::Obj(id);
                for dec in f.decorator_list.iter().rev() {
                    slot = self.decorate(dec, slot, in_class);
                }
                self.bind(f.name.id.as_str(), slot, conditional, stmt);
            }
            Stmt::ClassDef(c) => {
                let line = self.line(stmt);
                let mut blockers: Vec<String> = Vec::new();
                if let Some(args) = &c.arguments {
                    for kw in &args.keywords {
                        if kw.arg.as_ref().map(|a| a.id.as_str()) == Some("metaclass") {
                            let m = self.canonical(&kw.value).unwrap_or_default();
                            let plain = PLAIN_METACLASSES.contains(&m.as_str());
                            if !plain {
                                blockers.push(format!("metaclass at line {line}"));
                            }
                        }
                    }
                    // A base of this module with `__init_subclass__` may add members.
                    for base in args.args.iter() {
                        if let Some(Slot::Obj(bid)) =
                            dotted(base).and_then(|d| self.lookup(&d).cloned())
                        {
                            let hooks = self.objects[bid]
                                .members
                                .as_ref()
                                .is_some_and(|m| m.get("__init_subclass__").is_some());
                            if hooks {
                                blockers
                                    .push(format!("base with __init_subclass__ at line {line}"));
                            }
                        }
                    }
                }
                self.scopes.push(Namespace::default());
                self.exec_body(&c.body, false);
                let members = self.scopes.pop().unwrap_or_default();
                for special in ["__doc__", "__module__"] {
                    if members.get(special).is_some() {
                        blockers.push(format!("class body binds {special} (line {line})"));
                    }
                }
                let id = self.new_object(Self::examples_of(&c.body), Some(members));
                let mut slot = Slot::Obj(id);
                if let Some(b) = blockers.into_iter().next() {
                    self.objects[id].tainted = Some(b);
                }
                for dec in c.decorator_list.iter().rev() {
                    slot = self.decorate(dec, slot, in_class);
                }
                self.bind(c.name.id.as_str(), slot, conditional, stmt);
            }
            Stmt::Import(i) => {
                for alias in &i.names {
                    let full = alias.name.id.to_string();
                    let (local, target) = match &alias.asname {
                        Some(a) => (a.id.to_string(), full.clone()),
                        None => {
                            let head = full.split('.').next().unwrap_or_default().to_string();
                            (head.clone(), head)
                        }
                    };
                    self.bind(&local, Slot::Inert, conditional, stmt);
                    if !in_class {
                        self.aliases.insert(local.clone(), target);
                    }
                }
            }
            Stmt::ImportFrom(i) => {
                let module = i.module.as_ref().map(|m| m.id.to_string());
                for alias in &i.names {
                    let orig = alias.name.id.to_string();
                    if orig == "*" {
                        // Any name may be rebound: what mattered is no longer certain.
                        let line = self.line(stmt);
                        let matters: Vec<String> = self
                            .scopes
                            .last()
                            .into_iter()
                            .flat_map(|ns| ns.entries.iter())
                            .filter(|e| self.matters(&e.slot))
                            .map(|e| e.name.clone())
                            .collect();
                        let scope = self.scopes.last_mut().expect("a scope");
                        for e in (scope.entries.iter_mut()).filter(|e| matters.contains(&e.name)) {
                            e.slot = Slot::Unknown(format!(
                                "{} may be rebound by the star import at line {line}",
                                e.name
                            ));
                        }
                        continue;
                    }
                    let local = alias.asname.as_ref().unwrap_or(&alias.name).id.to_string();
                    self.bind(&local, Slot::Inert, conditional, stmt);
                    if let (Some(m), 0, false) = (&module, i.level, in_class) {
                        self.aliases.insert(local.clone(), format!("{m}.{orig}"));
                    }
                }
            }
            Stmt::Assign(a) => {
                for t in &a.targets {
                    self.bind_target(t, Some(&a.value), conditional);
                }
            }
            Stmt::AnnAssign(a) => {
                if let Some(v) = &a.value {
                    self.bind_target(&a.target, Some(v), conditional);
                }
            }
            Stmt::AugAssign(a) => match &*a.target {
                Expr::Name(n) => {
                    let old = self.lookup(n.id.as_str()).cloned().unwrap_or(Slot::Inert);
                    let value_matters = self.refs(&[&a.value]).matters;
                    let slot = if self.matters(&old) || value_matters {
                        Slot::Unknown(format!("{} is changed at line {}", n.id, self.line(stmt)))
                    } else {
                        old
                    };
                    self.bind(n.id.as_str(), slot, conditional, stmt);
                }
                other => {
                    let value = self.value_slot(&a.value);
                    let target = self.value_slot(other);
                    let slot = if self.matters(&target) { target } else { value };
                    self.store(other, &slot, &[&a.value], stmt);
                }
            },
            Stmt::Delete(d) => {
                for t in &d.targets {
                    match t {
                        Expr::Name(n) => self.unbind(n.id.as_str(), conditional, stmt),
                        // Deleting a member of something that matters changes its items.
                        other => {
                            let slot = self.value_slot(other);
                            self.store(other, &slot, &[], stmt);
                        }
                    }
                }
            }
            Stmt::TypeAlias(t) => {
                if let Expr::Name(n) = &*t.name {
                    self.bind(n.id.as_str(), Slot::Inert, conditional, stmt);
                }
            }
            Stmt::Expr(e) if !matches!(&*e.value, Expr::StringLiteral(_)) => {
                self.side_effects(&[&e.value], stmt);
            }
            Stmt::If(i) => {
                self.side_effects(&[&i.test], stmt);
                self.exec_body(&i.body, true);
                for clause in &i.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        self.side_effects(&[test], stmt);
                    }
                    self.exec_body(&clause.body, true);
                }
            }
            Stmt::Try(t) => {
                self.exec_body(&t.body, true);
                for h in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    if let Some(ty) = &h.type_ {
                        self.side_effects(&[ty], stmt);
                    }
                    self.exec_body(&h.body, true);
                }
                self.exec_body(&t.orelse, true);
                self.exec_body(&t.finalbody, conditional);
            }
            Stmt::With(w) => {
                for item in &w.items {
                    self.side_effects(&[&item.context_expr], stmt);
                    if let Some(v) = &item.optional_vars {
                        let slot = self.unpacked_slot(&item.context_expr);
                        self.bind_unpacked(v, slot, true);
                    }
                }
                self.exec_body(&w.body, true);
            }
            Stmt::For(f) => {
                self.side_effects(&[&f.iter], stmt);
                let slot = self.unpacked_slot(&f.iter);
                self.bind_unpacked(&f.target, slot, true);
                self.exec_body(&f.body, true);
                self.exec_body(&f.orelse, true);
            }
            Stmt::While(w) => {
                self.side_effects(&[&w.test], stmt);
                self.exec_body(&w.body, true);
                self.exec_body(&w.orelse, true);
            }
            Stmt::Match(m) => {
                self.side_effects(&[&m.subject], stmt);
                let slot = self.unpacked_slot(&m.subject);
                for case in &m.cases {
                    for name in pattern_names(&case.pattern) {
                        self.bind(&name, slot.clone(), true, stmt);
                    }
                    self.exec_body(&case.body, true);
                }
            }
            Stmt::Raise(r) => {
                let exprs: Vec<&Expr> = r.exc.iter().chain(r.cause.iter()).map(|b| &**b).collect();
                self.side_effects(&exprs, stmt);
            }
            Stmt::Assert(a) => self.side_effects(&[&a.test], stmt),
            _ => {}
        }
    }

    /// Walks the final namespace like `DocTestFinder._find` and names the items.
    fn finish(&self, body: &[Stmt], module_ns: &[Entry]) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        match Self::examples_of(body) {
            Examples::Broken => {
                return Err("the module docstring does not parse as a doctest".into())
            }
            Examples::Some => names.push(String::new()),
            Examples::None => {}
        }
        // `getattr(module, "__test__", {})`: a `__test__` of any kind (or a module
        // `__getattr__` that may answer for it) is Python's business.
        for special in ["__test__", "__doc__"] {
            if module_ns.iter().any(|e| e.name == special) {
                return Err(format!("module binds {special}"));
            }
        }
        if let Some(e) = module_ns.iter().find(|e| e.name == "__getattr__") {
            let rejects = matches!(e.slot, Slot::Obj(id) if self.objects[id].rejects_test);
            if !rejects {
                return Err("module __getattr__ may answer for __test__".into());
            }
        }
        // An object reachable under two names is named after the first in `__dict__`
        // order; when that order is a run-time fact so is the name.
        let mut reach: HashMap<usize, (usize, bool)> = HashMap::new();
        count_reach(module_ns, &self.objects, &mut reach, &mut HashSet::new());
        let mut seen = HashSet::new();
        self.walk(module_ns, "", &mut seen, &reach, &mut names)?;
        names.sort();
        Ok(names)
    }

    fn walk(
        &self,
        ns: &[Entry],
        prefix: &str,
        seen: &mut HashSet<usize>,
        reach: &HashMap<usize, (usize, bool)>,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        for e in ns {
            let id = match &e.slot {
                Slot::Inert | Slot::Holds(_) => continue,
                Slot::Unknown(r) => return Err(r.clone()),
                Slot::Obj(id) => *id,
            };
            if !seen.insert(id) {
                continue;
            }
            let o = &self.objects[id];
            if !self.obj_matters(id) {
                continue;
            }
            let name = format!("{prefix}{}", e.name);
            if let Some(t) = &o.tainted {
                return Err(format!("{name}: {t}"));
            }
            if reach
                .get(&id)
                .is_some_and(|(n, uncertain)| *n > 1 && *uncertain)
            {
                return Err(format!(
                    "{name} is reachable under names bound conditionally"
                ));
            }
            match o.examples {
                Examples::Broken => {
                    return Err(format!(
                        "the docstring of {name} does not parse as a doctest"
                    ))
                }
                Examples::Some => out.push(name.clone()),
                Examples::None => {}
            }
            if let Some(members) = &o.members {
                self.walk(&members.entries, &format!("{name}."), seen, reach, out)?;
            }
        }
        Ok(())
    }
}

/// For every object: how many namespace entries refer to it, and whether one of them has
/// an uncertain position.
fn count_reach(
    ns: &[Entry],
    objects: &[Object],
    reach: &mut HashMap<usize, (usize, bool)>,
    visiting: &mut HashSet<usize>,
) {
    for e in ns {
        if let Slot::Obj(id) = e.slot {
            let r = reach.entry(id).or_insert((0, false));
            r.0 += 1;
            r.1 |= e.position_uncertain;
            if visiting.insert(id) {
                if let Some(m) = &objects[id].members {
                    count_reach(&m.entries, objects, reach, visiting);
                }
            }
        }
    }
}

/// Whether a module `__getattr__(name)` certainly raises `AttributeError` for
/// `"__test__"`: its body, run with that name, reaches `raise AttributeError(...)`
/// through plain statements and `if`s that compare the name with string literals.
fn getattr_rejects_test(f: &ast::StmtFunctionDef) -> bool {
    let Some(param) = f
        .parameters
        .posonlyargs
        .iter()
        .chain(f.parameters.args.iter())
        .next()
        .map(|p| p.parameter.name.id.to_string())
    else {
        return false;
    };
    const NAME: &str = "__test__";
    /// `Some(truth)` of a test on the name, when static.
    fn test_value(test: &Expr, param: &str) -> Option<bool> {
        match test {
            Expr::Compare(c) if c.ops.len() == 1 && c.comparators.len() == 1 => {
                let Expr::Name(n) = &*c.left else { return None };
                if n.id.as_str() != param {
                    return None;
                }
                let strings: Vec<String> = match &c.comparators[0] {
                    Expr::StringLiteral(s) => vec![s.value.to_str().to_string()],
                    Expr::Tuple(t) => literal_strings(&t.elts)?,
                    Expr::List(t) => literal_strings(&t.elts)?,
                    Expr::Set(t) => literal_strings(&t.elts)?,
                    _ => return None,
                };
                let hit = strings.iter().any(|s| s == NAME);
                match c.ops[0] {
                    ast::CmpOp::Eq | ast::CmpOp::In => Some(hit),
                    ast::CmpOp::NotEq | ast::CmpOp::NotIn => Some(!hit),
                    _ => None,
                }
            }
            Expr::UnaryOp(u) if u.op == ast::UnaryOp::Not => {
                test_value(&u.operand, param).map(|v| !v)
            }
            _ => None,
        }
    }
    fn literal_strings(elts: &[Expr]) -> Option<Vec<String>> {
        elts.iter()
            .map(|e| match e {
                Expr::StringLiteral(s) => Some(s.value.to_str().to_string()),
                _ => None,
            })
            .collect()
    }
    /// `Some(true)`: raises AttributeError; `Some(false)`: returns or may; `None`: falls
    /// through the end of `body`.
    fn run(body: &[Stmt], param: &str) -> Option<bool> {
        for stmt in body {
            match stmt {
                Stmt::Raise(r) => {
                    let is_attr_error = r.exc.as_deref().is_some_and(|e| {
                        let callee = match e {
                            Expr::Call(c) => &*c.func,
                            other => other,
                        };
                        dotted(callee).as_deref() == Some("AttributeError")
                    });
                    return Some(is_attr_error);
                }
                Stmt::Return(_) => return Some(false),
                Stmt::If(i) => {
                    let mut branches = vec![(Some(&*i.test), &i.body)];
                    for c in &i.elif_else_clauses {
                        branches.push((c.test.as_ref(), &c.body));
                    }
                    let mut taken = None;
                    for (test, body) in branches {
                        match test.map(|t| test_value(t, param)) {
                            None => {
                                taken = Some(body);
                                break;
                            }
                            Some(Some(true)) => {
                                taken = Some(body);
                                break;
                            }
                            Some(Some(false)) => continue,
                            Some(None) => return Some(false),
                        }
                    }
                    if let Some(body) = taken {
                        if let Some(done) = run(body, param) {
                            return Some(done);
                        }
                    }
                }
                Stmt::Expr(_) | Stmt::Import(_) | Stmt::ImportFrom(_) | Stmt::Pass(_) => {}
                Stmt::Assign(a)
                    if a.targets
                        .iter()
                        .all(|t| matches!(t, Expr::Name(n) if n.id.as_str() != param)) => {}
                Stmt::AnnAssign(a) if matches!(&*a.target, Expr::Name(n) if n.id.as_str() != param) =>
                    {}
                _ => return Some(false),
            }
        }
        None
    }
    run(&f.body, &param) == Some(true)
}

/// Names a `match` pattern binds.
fn pattern_names(p: &ast::Pattern) -> Vec<String> {
    let mut out = Vec::new();
    fn go(p: &ast::Pattern, out: &mut Vec<String>) {
        match p {
            ast::Pattern::MatchAs(m) => {
                if let Some(n) = &m.name {
                    out.push(n.id.to_string());
                }
                if let Some(p) = &m.pattern {
                    go(p, out);
                }
            }
            ast::Pattern::MatchStar(m) => {
                if let Some(n) = &m.name {
                    out.push(n.id.to_string());
                }
            }
            ast::Pattern::MatchSequence(s) => s.patterns.iter().for_each(|p| go(p, out)),
            ast::Pattern::MatchMapping(m) => {
                m.patterns.iter().for_each(|p| go(p, out));
                if let Some(r) = &m.rest {
                    out.push(r.id.to_string());
                }
            }
            ast::Pattern::MatchClass(c) => {
                c.arguments.patterns.iter().for_each(|p| go(p, out));
                c.arguments
                    .keywords
                    .iter()
                    .for_each(|k| go(&k.pattern, out));
            }
            ast::Pattern::MatchOr(o) => o.patterns.iter().for_each(|p| go(p, out)),
            ast::Pattern::MatchValue(_) | ast::Pattern::MatchSingleton(_) => {}
        }
    }
    go(p, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str) -> ModuleDoctests {
        let parsed = ruff_python_parser::parse_module(src).unwrap();
        module_doctests(&parsed.syntax().body, src)
    }

    fn names(src: &str) -> Vec<String> {
        let r = scan(src);
        assert_eq!(r.dynamic, None, "{src}");
        r.names
    }

    fn dynamic(src: &str) -> String {
        scan(src)
            .dynamic
            .unwrap_or_else(|| panic!("expected dynamic: {src}"))
    }

    #[test]
    fn cleandoc_matches_inspect() {
        // Values from CPython 3.11's inspect.cleandoc.
        assert_eq!(
            cleandoc("First line.\n\n    More text here.\n    "),
            "First line.\n\nMore text here."
        );
        assert_eq!(
            cleandoc("\n    Indented.\n      Deeper.\n"),
            "Indented.\n  Deeper."
        );
        assert_eq!(cleandoc("  one"), "one");
        assert_eq!(cleandoc("a\n\tb"), "a\nb");
        assert_eq!(cleandoc("\n\n"), "");
    }

    #[test]
    fn finds_examples_in_nested_docstrings() {
        let src = "\"\"\"\n>>> 1\n1\n\"\"\"\ndef f():\n    '''>>> f()'''\nclass C:\n    def m(self):\n        '''\n        >>> 2\n        '''\n    def n(self):\n        'no examples'\n";
        assert_eq!(names(src), ["", "C.m", "f"]);
    }

    #[test]
    fn parser_rules_follow_doctest() {
        assert_eq!(parse_examples("text\n>>> 1\n1\n"), Examples::Some);
        assert_eq!(parse_examples("  x\n\t>>> 1\n"), Examples::Some);
        assert_eq!(
            parse_examples(">>>\n>>> # only a comment\n"),
            Examples::None
        );
        assert_eq!(parse_examples("a >>> b"), Examples::None);
        assert_eq!(parse_examples(">>>1"), Examples::Broken);
        assert_eq!(parse_examples("    >>> x\n  1\n"), Examples::Broken);
        assert_eq!(parse_examples("  >>> if x:\n  ...   y\n"), Examples::Some);
        assert_eq!(parse_examples("  >>> if x:\n ...   y\n"), Examples::Broken);
        assert_eq!(parse_examples(">>> x  # doctest: +SKIP\n"), Examples::Some);
        assert_eq!(
            parse_examples(">>> x  # doctest: +ELLIPSIS, +NUMBER\n"),
            Examples::Some
        );
        assert_eq!(
            parse_examples(">>> x  # doctest: +BOGUS\n"),
            Examples::Broken
        );
        assert_eq!(parse_examples(">>> # doctest: +SKIP\n"), Examples::Broken);
        assert_eq!(
            parse_examples(">>> x = '# doctest: +BOGUS'\n"),
            Examples::Some
        );
    }

    #[test]
    fn the_last_definition_wins_and_aliases_are_visited_once() {
        assert!(names("def f():\n    '>>> 1'\ndef f():\n    'plain'\n").is_empty());
        assert_eq!(names("def f():\n    '>>> 1'\ng = f\n"), ["f"]);
        assert_eq!(names("def _f():\n    '>>> 1'\ng = _f\ndel _f\n"), ["g"]);
        assert!(names("def f():\n    '>>> 1'\ndel f\n").is_empty());
    }

    #[test]
    fn plain_modules_stay_static() {
        let src = "import os\nfrom x import y as z\nimport pytest\nX = [1, 2]\nlog = logging.getLogger(__name__)\n\n@pytest.mark.slow\n@pytest.mark.parametrize('a', [1])\ndef test_a(a):\n    pass\n\n@pytest.fixture\ndef fx():\n    return 1\n\nclass TestC:\n    @property\n    def p(self):\n        '>>> 1'\n    @p.setter\n    def p(self, v):\n        pass\n    @staticmethod\n    def s():\n        pass\n\nif __name__ == '__main__':\n    import doctest\n    doctest.testmod()\ntry:\n    import yaml\nexcept ImportError:\n    yaml = None\n@some_decorator\ndef g():\n    pass\n";
        let r = scan(src);
        assert_eq!(
            r.dynamic.as_deref().map(|d| d.contains("some_decorator")),
            Some(true)
        );
        let src = src.replace("@some_decorator\n", "");
        assert_eq!(names(&src), ["TestC.p"]);
    }

    #[test]
    fn run_time_docstrings_are_dynamic() {
        // toolz.functoolz / toolz.curried.exceptions.
        assert!(dynamic("def f():\n    pass\nf.__doc__ = '>>> 1'\n").contains("__doc__"));
        assert!(
            dynamic("def f():\n    pass\nsetattr(f, '__doc__', g.__doc__)\n").contains("__doc__")
        );
        dynamic("@curry\ndef f():\n    '>>> 1'\n");
        dynamic("f = curry(g)\ndef g():\n    '>>> 1'\nh = curry(g)\n");
        dynamic("__test__ = {'x': '>>> 1'}\n");
        dynamic("__test__ = False\n");
        dynamic("__doc__ = '>>> 1'\n");
        dynamic("class C:\n    __doc__ = '>>> 1'\n");
        dynamic("def make():\n    def inner():\n        '>>> 1'\n    return inner\nf = make()\n");
        dynamic("X = type('X', (), {'__doc__': '>>> 1'})\n");
        dynamic("if X:\n    def f():\n        '>>> 1'\n");
        dynamic("try:\n    from _speedups import f\nexcept ImportError:\n    def f():\n        '>>> 1'\n");
        dynamic("def f():\n    '>>> 1'\nregister(f)\n");
        dynamic("class C:\n    pass\ndef f():\n    '>>> 1'\nC.g = f\n");
        dynamic("class C:\n    def m(self):\n        '>>> 1'\ndel C.m\n");
        dynamic("def f():\n    '>>> 1'\nfrom helpers import *\n");
        dynamic("class C:\n    x = property(lambda self: 1, doc='>>> 1')\n");
        dynamic("def f():\n    '>>>1'\n");
        dynamic("globals()['f'] = g\n");
        dynamic("def f():\n    '>>> 1'\ndef __getattr__(name):\n    return 1\n");
        dynamic("def __getattr__(name):\n    if name.startswith('_'):\n        raise AttributeError(name)\n    return 1\n");
        dynamic("def __getattr__(name):\n    if name in ('__test__', 'x'):\n        return {}\n    raise AttributeError(name)\n");
        // Calling code that writes module namespaces.
        dynamic("def setup():\n    globals()['f'] = 1\nx = setup()\n");
    }

    #[test]
    fn module_claims() {
        assert!(scan(
            "class W:\n    def __init__(self, f):\n        self.__module__ = f.__module__\n"
        )
        .dynamic
        .is_some());
        assert!(
            scan("def w(f):\n    g.__module__ = getattr(f, '__module__', None)\n")
                .module_claims
                .is_empty()
        );
        assert_eq!(scan("def set_module(m):\n    def d(f):\n        f.__module__ = m\n        return f\n    return d\n").module_claims, ["*"]);
        assert_eq!(
            scan("class C:\n    __module__ = 'pkg'\n").module_claims,
            ["pkg"]
        );
    }

    #[test]
    fn run_time_values_that_cannot_matter_stay_static() {
        assert_eq!(names("from functools import partial\ndef drop(n, s):\n    '>>> 1'\nrest = partial(drop, 1)\n"), ["drop"]);
        // Deprecation / lazy-import `__getattr__`s that reject unknown names.
        assert_eq!(names("def f():\n    '>>> 1'\ndef __getattr__(name):\n    import warnings\n    if name == 'Old':\n        return f\n    raise AttributeError(name)\n"), ["f"]);
        assert_eq!(names("def __getattr__(name):\n    if name not in ('__version__',):\n        raise AttributeError(name)\n    return 1\n"), Vec::<String>::new());
        // Instances of a class without examples in its own docstring.
        assert_eq!(
            names("class T:\n    def m(self):\n        '>>> 1'\nX = T()\n"),
            ["T.m"]
        );
        dynamic("class T:\n    '>>> 1'\nX = T()\n");
        dynamic(
            "def f():\n    '>>> 1'\nclass T:\n    def __new__(cls):\n        return f\nX = T()\n",
        );
        dynamic("def partial(f):\n    '>>> 1'\nrest = partial(partial)\n");
        assert_eq!(
            names("from toolz import curry\nx = curry(len)\nimport os\np = os.path.join('a', 'b')\ndef f():\n    '>>> 1'\n"),
            ["f"]
        );
        assert_eq!(
            names("if X:\n    Y = 1\nelse:\n    Y = 2\ndef f():\n    '>>> 1'\n"),
            ["f"]
        );
        // Plain attribute stores (`__test__` on a test, counters) change no docstring.
        assert_eq!(
            names("def f():\n    '>>> 1'\nf.__test__ = False\nf.calls = 0\n"),
            ["f"]
        );
        // A helper may give `f` a docstring: module code touching it is not followed.
        dynamic("def f():\n    pass\nregister(f)\n");
    }
}
