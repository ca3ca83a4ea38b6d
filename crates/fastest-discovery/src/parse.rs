//! Builds a `ModuleSummary` from Python source with `ruff_python_parser`: bindings in
//! namespace order, marks, statically evaluated parametrize ids, fixtures, imports.

use crate::pyrepr::{ascii_escaped_bytes, ascii_escaped_str, float_repr, imag_repr};
use crate::summary::*;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Number, Stmt, UnaryOp};
use ruff_text_size::{Ranged, TextSize};
use std::collections::HashMap;

/// Summarises one file's bytes. Never fails: undecodable or unparsable input yields a
/// summary with `parse_error` set.
pub fn summarize(bytes: &[u8]) -> ModuleSummary {
    let source = match decode_source(bytes) {
        Ok(s) => s,
        Err(e) => {
            return ModuleSummary {
                parse_error: Some(e),
                ..Default::default()
            }
        }
    };
    let parsed = match ruff_python_parser::parse_module(&source) {
        Ok(p) => p,
        Err(e) => {
            return ModuleSummary {
                parse_error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    let mut s = Summarizer {
        source: &source,
        aliases: HashMap::new(),
        constants: HashMap::new(),
        mark_aliases: HashMap::new(),
        summary: ModuleSummary::default(),
        collect_list_targets: Vec::new(),
    };
    let body = &parsed.syntax().body;
    let doctests = crate::doctest::module_doctests(body, &source);
    s.summary.doctests = doctests.names;
    s.summary.doctest_dynamic = doctests.dynamic;
    s.summary.module_claims = doctests.module_claims;
    s.module_body(body);
    s.check_collect_list_uses(body);
    s.summary.calls_clock = crate::runtime_scan::calls_clock_or_random(body);
    s.summary.doc = crate::doctest::docstring(body).map(|(_, d)| crate::doctest::cleandoc(&d));
    if let Some(why) = crate::runtime_scan::import_abort(body, &s.aliases) {
        // pytest imports the module for its tests and for its doctests alike.
        if s.summary.doctest_dynamic.is_none() {
            s.summary.doctest_dynamic = Some(format!("the module {why}"));
        }
        s.note_dynamic(format!("module {why}"));
        s.summary.import_abort = Some(why);
    }
    s.summary.cross_module_order = crate::runtime_scan::cross_module_order(body, &s.aliases);
    s.summary
}

/// 1-based line of a byte offset.
fn line_of(source: &str, offset: TextSize) -> usize {
    source[..offset.to_usize()].matches('\n').count() + 1
}

const COLLECT_LISTS: &[&str] = &["collect_ignore", "collect_ignore_glob"];

/// Every place a module binds or reads `collect_ignore` / `collect_ignore_glob`, at any
/// depth (function bodies included: a hook may mutate the list before collection).
#[derive(Default)]
struct CollectListUses {
    /// (name, offset of the use).
    uses: Vec<(&'static str, TextSize)>,
}

impl CollectListUses {
    fn note(&mut self, name: &str, at: TextSize) {
        if let Some(n) = COLLECT_LISTS.iter().find(|n| **n == name) {
            self.uses.push((n, at));
        }
    }
}

impl<'a> Visitor<'a> for CollectListUses {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        let at = stmt.range().start();
        match stmt {
            Stmt::FunctionDef(f) => self.note(f.name.id.as_str(), at),
            Stmt::ClassDef(c) => self.note(c.name.id.as_str(), at),
            Stmt::Global(g) => g.names.iter().for_each(|n| self.note(n.id.as_str(), at)),
            Stmt::Nonlocal(g) => g.names.iter().for_each(|n| self.note(n.id.as_str(), at)),
            Stmt::Import(i) => {
                for a in &i.names {
                    let local = match &a.asname {
                        Some(x) => x.id.as_str(),
                        None => a.name.id.split('.').next().unwrap_or_default(),
                    };
                    self.note(local, at);
                }
            }
            Stmt::ImportFrom(i) => {
                for a in &i.names {
                    self.note(a.asname.as_ref().unwrap_or(&a.name).id.as_str(), at);
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Name(n) = expr {
            self.note(n.id.as_str(), n.range.start());
        }
        visitor::walk_expr(self, expr);
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(h) = handler;
        if let Some(n) = &h.name {
            self.note(n.id.as_str(), h.range.start());
        }
        visitor::walk_except_handler(self, handler);
    }
}

/// Python source decoding: UTF-8 (BOM allowed); a PEP 263 cookie naming another
/// codec is handled only for latin-1 style codecs.
pub(crate) fn decode_source(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let head: Vec<&[u8]> = bytes.split(|&b| b == b'\n').take(2).collect();
            let latin1 = head.iter().any(|l| {
                let l = String::from_utf8_lossy(l).to_ascii_lowercase();
                l.trim_start().starts_with('#')
                    && l.contains("coding")
                    && (l.contains("latin-1") || l.contains("iso-8859-1") || l.contains("latin1"))
            });
            if latin1 {
                Ok(bytes.iter().map(|&b| b as char).collect())
            } else {
                Err(format!("invalid utf-8: {e}"))
            }
        }
    }
}

/// A statically known Python value, as far as parametrize ids need it.
#[derive(Debug, Clone)]
enum PyVal {
    Str(String),
    Bytes(Vec<u8>),
    /// Ints, floats, bools, None, complex: already in `str()` form.
    Scalar(String),
    /// Something with a `__name__` (function, class, builtin type, lambda).
    Named(String),
    /// A known value with no id form (container, ...): id falls back to argname+index.
    Opaque,
    /// A tuple or list literal, element-wise (for unpacking argvalues).
    Seq(Vec<PyVal>),
    /// `pytest.param(...)`.
    Param {
        values: Vec<PyVal>,
        id: Option<Box<PyVal>>,
        /// Names of its `marks=` (None: not a literal `pytest.mark.NAME` or list of them).
        marks: Option<Vec<String>>,
    },
}

const BUILTIN_NAMES: &[&str] = &[
    "int",
    "str",
    "float",
    "bool",
    "bytes",
    "list",
    "dict",
    "tuple",
    "set",
    "frozenset",
    "object",
    "type",
    "complex",
    "bytearray",
    "len",
    "repr",
    "print",
    "sorted",
    "min",
    "max",
    "sum",
    "abs",
    "range",
    "Exception",
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "RuntimeError",
    "AttributeError",
    "OSError",
    "IOError",
    "ZeroDivisionError",
    "NotImplementedError",
    "StopIteration",
    "ImportError",
    "LookupError",
    "ArithmeticError",
    "OverflowError",
    "UnicodeError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "BaseException",
    "AssertionError",
    "NameError",
    "FileNotFoundError",
    "PermissionError",
    "memoryview",
    "iter",
    "next",
    "callable",
    "hash",
    "id",
    "map",
    "filter",
    "zip",
    "enumerate",
    "reversed",
];

struct Summarizer<'a> {
    source: &'a str,
    /// Local name → what it refers to: "pytest", "pytest.mark", "pytest.fixture",
    /// "pytest.param", "unittest", "staticmethod"...
    aliases: HashMap<String, String>,
    /// Module-level names bound to statically known values, in definition order.
    constants: HashMap<String, PyVal>,
    /// Module-level names bound to a mark (`needs_x = pytest.mark.skipif(...)`): a
    /// decorator `@needs_x` adds that mark (for `-m`); parametrize/usefixtures excluded.
    mark_aliases: HashMap<String, String>,
    summary: ModuleSummary,
    /// Offsets of the `collect_ignore(_glob)` targets of literal assignments that were
    /// accepted as static: every other use of the names makes them run-time values.
    collect_list_targets: Vec<TextSize>,
}

fn push_binding(bindings: &mut Vec<Binding>, name: &str, value: Value, conditional: bool) {
    if let Some(existing) = bindings.iter_mut().find(|b| b.name == name) {
        existing.value = value;
        existing.conditional |= conditional;
    } else {
        bindings.push(Binding {
            name: name.to_string(),
            value,
            conditional,
        });
    }
}

/// Decorators that make a fixture (pytest-asyncio's takes pytest's arguments and
/// `loop_scope`).
pub(crate) const FIXTURE_DECORATORS: &[&str] = &[
    "pytest.fixture",
    "pytest.yield_fixture",
    "pytest_asyncio.fixture",
];

/// Whether the decorator `canon(...)` is a `mock.patch` or `mock.patch.object` without
/// `new`, which passes the test a mock (pytest's `num_mock_patch_args`).
fn passes_a_mock(canon: &str, call: &ast::ExprCall) -> bool {
    let new_position = match canon {
        "unittest.mock.patch" | "mock.patch" => 1,
        "unittest.mock.patch.object" | "mock.patch.object" => 2,
        _ => return false,
    };
    let has_new = call.arguments.args.len() > new_position
        || call
            .arguments
            .keywords
            .iter()
            .any(|k| k.arg.as_ref().is_some_and(|a| a.id.as_str() == "new"));
    !has_new
}

/// What a `hypothesis.given(...)` call fills in.
fn given_args(call: &ast::ExprCall) -> GivenArgs {
    let args = &call.arguments.args;
    GivenArgs {
        positional: args.len() as u32,
        infer_all: args.len() == 1 && matches!(args[0], Expr::EllipsisLiteral(_)),
        keywords: call
            .arguments
            .keywords
            .iter()
            .filter_map(|k| k.arg.as_ref().map(|a| a.id.to_string()))
            .collect(),
    }
}

/// How a `pytest_configure` hook uses its `config` argument: the attribute named at each
/// `config.attr`, `""` for any other use (the object passed on, stored, ...).
fn config_uses(f: &ast::StmtFunctionDef) -> Vec<String> {
    struct Uses<'n> {
        param: &'n str,
        found: Vec<String>,
    }
    impl<'a> Visitor<'a> for Uses<'_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Attribute(a) if matches!(&*a.value, Expr::Name(n) if n.id.as_str() == self.param) =>
                {
                    self.found.push(a.attr.id.to_string());
                }
                Expr::Name(n) if n.id.as_str() == self.param => self.found.push(String::new()),
                _ => visitor::walk_expr(self, expr),
            }
        }
    }
    let params = &f.parameters;
    let Some(param) = params.posonlyargs.iter().chain(&params.args).next() else {
        return vec![];
    };
    let mut uses = Uses {
        param: param.parameter.name.id.as_str(),
        found: vec![],
    };
    uses.visit_body(&f.body);
    uses.found
}

/// Whether `body` names `parametrize` anywhere (`pytest.mark.parametrize`,
/// `metafunc.parametrize`, a `parametrize` imported by name).
fn mentions_parametrize(body: &[Stmt]) -> bool {
    struct Finder(bool);
    impl<'a> Visitor<'a> for Finder {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Attribute(a) if a.attr.id.as_str() == "parametrize" => self.0 = true,
                Expr::Name(n) if n.id.as_str() == "parametrize" => self.0 = true,
                _ => visitor::walk_expr(self, expr),
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_body(body);
    finder.0
}

/// Whether a function body yields itself (nested functions, classes and lambdas are
/// their own scopes).
fn yields(body: &[Stmt]) -> bool {
    struct Finder(bool);
    impl<'a> Visitor<'a> for Finder {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
                visitor::walk_stmt(self, stmt);
            }
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Yield(_) | Expr::YieldFrom(_) => self.0 = true,
                Expr::Lambda(_) => {}
                _ => visitor::walk_expr(self, expr),
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_body(body);
    finder.0
}

fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => Some(format!("{}.{}", dotted(&a.value)?, a.attr.id)),
        _ => None,
    }
}

/// Reasons `parametrize` gives for not expanding statically when its argument names are
/// literal and only the parameter sets or ids are not: the native engine expands these at
/// run time with pytest's own id rules.
pub const RUNTIME_PARAMETRIZE_REASONS: &[&str] = &[
    "argvalues not a literal sequence",
    "ids element not literal",
    "ids is not a literal list",
    "parameter set is not a sequence",
    "parameter set length differs from argnames",
    "pytest.param id not a string",
    "unsupported ids value",
];

/// The argument names of a `parametrize(...)` call when literal (positional or keyword).
fn literal_argnames(call: &ast::ExprCall) -> Option<Vec<String>> {
    let expr = call.arguments.args.first().or_else(|| {
        call.arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.id.as_str() == "argnames"))
            .map(|k| &k.value)
    })?;
    match expr {
        Expr::StringLiteral(s) => Some(
            s.value
                .to_str()
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        other => string_list(other),
    }
}

fn string_list(expr: &Expr) -> Option<Vec<String>> {
    let elts = match expr {
        Expr::List(l) => &l.elts,
        Expr::Tuple(t) => &t.elts,
        _ => return None,
    };
    elts.iter()
        .map(|e| match e {
            Expr::StringLiteral(s) => Some(s.value.to_str().to_string()),
            _ => None,
        })
        .collect()
}

impl<'a> Summarizer<'a> {
    /// Resolves a dotted expression through import aliases: `mark.skip` with
    /// `from pytest import mark` gives `pytest.mark.skip`.
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

    fn text(&self, range: ruff_text_size::TextRange) -> &str {
        &self.source[range.start().to_usize()..range.end().to_usize()]
    }

    fn module_body(&mut self, body: &[Stmt]) {
        let mut bindings = Vec::new();
        self.walk_scope(body, &mut bindings, false, true);
        self.summary.bindings = bindings;
    }

    /// Walks statements of a module or class body, recording bindings in order.
    fn walk_scope(
        &mut self,
        body: &[Stmt],
        out: &mut Vec<Binding>,
        conditional: bool,
        module: bool,
    ) {
        for stmt in body {
            self.walk_stmt(stmt, out, conditional, module);
        }
    }

    fn note_dynamic(&mut self, reason: String) {
        if !self.summary.dynamic_reasons.contains(&reason) {
            self.summary.dynamic_reasons.push(reason);
        }
    }

    fn walk_stmt(&mut self, stmt: &Stmt, out: &mut Vec<Binding>, conditional: bool, module: bool) {
        match stmt {
            Stmt::FunctionDef(f) => {
                let mut def = self.function_def(f);
                let name = f.name.id.to_string();
                if module {
                    if name.starts_with("pytest_") {
                        self.summary.hooks.push(name.clone());
                    }
                    if name == "pytest_configure" {
                        // Every definition counts (one per branch of an `if`).
                        self.summary.configure_config_uses.extend(config_uses(f));
                    }
                    self.constants
                        .insert(name.clone(), PyVal::Named(name.clone()));
                }
                if def.is_fixture {
                    self.record_fixture(f, None);
                    def.fixture_param_scope = self
                        .summary
                        .fixtures
                        .last()
                        .filter(|fx| fx.has_params)
                        .map(|fx| fx.scope.clone());
                }
                push_binding(out, &name, Value::Function(def), conditional);
            }
            Stmt::ClassDef(c) => {
                let name = c.name.id.to_string();
                let class = self.class_def(c);
                if module {
                    self.constants
                        .insert(name.clone(), PyVal::Named(name.clone()));
                }
                push_binding(out, &name, Value::Class(class), conditional);
            }
            Stmt::Import(i) => {
                for alias in &i.names {
                    let full = alias.name.id.to_string();
                    self.summary.imports.push(ImportRef {
                        module: full.clone(),
                        level: 0,
                        names: vec![],
                    });
                    let (local, target) = match &alias.asname {
                        Some(a) => (a.id.to_string(), full.clone()),
                        None => {
                            let head = full.split('.').next().unwrap().to_string();
                            (head.clone(), head)
                        }
                    };
                    self.aliases.insert(local.clone(), target.clone());
                    push_binding(
                        out,
                        &local,
                        Value::Import {
                            module: target,
                            level: 0,
                            name: None,
                        },
                        conditional,
                    );
                }
            }
            Stmt::ImportFrom(i) => {
                let module_name = i
                    .module
                    .as_ref()
                    .map(|m| m.id.to_string())
                    .unwrap_or_default();
                self.summary.imports.push(ImportRef {
                    module: module_name.clone(),
                    level: i.level,
                    names: i.names.iter().map(|a| a.name.id.to_string()).collect(),
                });
                for alias in &i.names {
                    let orig = alias.name.id.to_string();
                    if orig == "*" {
                        if module {
                            self.note_dynamic(format!("star import from {module_name}"));
                            let star = ImportRef {
                                module: module_name.clone(),
                                level: i.level,
                                names: vec!["*".into()],
                            };
                            self.summary.collect_ignore_stars.push(star.clone());
                            self.summary.collect_ignore_glob_stars.push(star);
                        }
                        continue;
                    }
                    let local = alias
                        .asname
                        .as_ref()
                        .map(|a| a.id.to_string())
                        .unwrap_or(orig.clone());
                    if i.level == 0 {
                        self.aliases
                            .insert(local.clone(), format!("{module_name}.{orig}"));
                    }
                    self.constants.remove(&local);
                    push_binding(
                        out,
                        &local,
                        Value::Import {
                            module: module_name.clone(),
                            level: i.level,
                            name: Some(orig),
                        },
                        conditional,
                    );
                }
            }
            Stmt::Assign(a) => {
                for target in &a.targets {
                    self.assign(target, Some(&a.value), out, conditional, module);
                }
                if module {
                    self.track_mark_alias(&a.targets, &a.value);
                }
                self.check_namespace_tricks(stmt, module);
            }
            Stmt::AnnAssign(a) => {
                self.assign(&a.target, a.value.as_deref(), out, conditional, module);
            }
            Stmt::AugAssign(a) => {
                if let Expr::Name(n) = &*a.target {
                    let name = n.id.as_str();
                    if name == "collect_ignore"
                        || name == "collect_ignore_glob"
                        || name == "pytestmark"
                    {
                        self.set_collect_list_dynamic(name, "augmented assignment");
                    }
                    self.constants.remove(name);
                    push_binding(out, name, Value::Unknown, conditional);
                }
            }
            Stmt::Delete(d) => {
                for t in &d.targets {
                    if let Expr::Name(n) = t {
                        if conditional {
                            if let Some(b) = out.iter_mut().find(|b| b.name == n.id.as_str()) {
                                b.conditional = true;
                            }
                        } else {
                            out.retain(|b| b.name != n.id.as_str());
                        }
                        self.constants.remove(n.id.as_str());
                    }
                }
            }
            Stmt::If(i) => {
                self.walk_scope(&i.body, out, true, module);
                for clause in &i.elif_else_clauses {
                    self.walk_scope(&clause.body, out, true, module);
                }
            }
            Stmt::Try(t) => {
                // The `try` body normally runs to completion; handlers only on errors.
                self.walk_scope(&t.body, out, true, module);
                for h in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    self.walk_scope(&h.body, out, true, module);
                }
                self.walk_scope(&t.orelse, out, true, module);
                self.walk_scope(&t.finalbody, out, conditional, module);
            }
            Stmt::With(w) => self.walk_scope(&w.body, out, true, module),
            Stmt::For(f) => {
                self.bind_targets(&f.target, out);
                self.walk_scope(&f.body, out, true, module);
                self.walk_scope(&f.orelse, out, true, module);
            }
            Stmt::While(w) => {
                self.walk_scope(&w.body, out, true, module);
                self.walk_scope(&w.orelse, out, true, module);
            }
            Stmt::Match(m) => {
                for case in &m.cases {
                    self.walk_scope(&case.body, out, true, module);
                }
            }
            Stmt::Expr(_) => self.check_namespace_tricks(stmt, module),
            Stmt::Global(_) | Stmt::Nonlocal(_) => {}
            _ => {}
        }
    }

    /// Module-level code that writes the namespace by other means than binding.
    fn check_namespace_tricks(&mut self, stmt: &Stmt, module: bool) {
        if !module {
            return;
        }
        let text = self.text(ruff_text_size::Ranged::range(stmt)).to_string();
        for trick in ["globals()", "setattr(", "exec(", "locals()", "vars()"] {
            if text.contains(trick) {
                self.note_dynamic(format!("module namespace written via {trick}"));
                for name in COLLECT_LISTS {
                    self.set_collect_list_dynamic(
                        name,
                        &format!("may be written via {trick} (line {})", self.line(stmt)),
                    );
                }
            }
        }
    }

    fn line(&self, node: &impl Ranged) -> usize {
        line_of(self.source, node.range().start())
    }

    /// After the whole module is summarised: any use of `collect_ignore(_glob)` other
    /// than the accepted literal assignments (`.append`, `.extend`, `+=`, reads, hooks
    /// that mutate it, `global`, imports, ...) leaves the list to Python.
    fn check_collect_list_uses(&mut self, body: &[Stmt]) {
        let mut uses = CollectListUses::default();
        uses.visit_body(body);
        for (name, at) in uses.uses {
            if self.collect_list_targets.contains(&at) {
                continue;
            }
            let current = match name {
                "collect_ignore" => &self.summary.collect_ignore,
                _ => &self.summary.collect_ignore_glob,
            };
            if !matches!(current, Some(Err(_))) {
                let why = format!(
                    "is used at line {} beyond a literal assignment (e.g. .append/.extend)",
                    line_of(self.source, at)
                );
                self.set_collect_list_dynamic(name, &why);
            }
        }
    }

    fn bind_targets(&mut self, target: &Expr, out: &mut Vec<Binding>) {
        match target {
            Expr::Name(n) => {
                self.constants.remove(n.id.as_str());
                push_binding(out, n.id.as_str(), Value::Unknown, true);
            }
            Expr::Tuple(t) => t.elts.iter().for_each(|e| self.bind_targets(e, out)),
            Expr::List(t) => t.elts.iter().for_each(|e| self.bind_targets(e, out)),
            _ => {}
        }
    }

    fn set_collect_list_dynamic(&mut self, name: &str, why: &str) {
        let v = Some(Err(why.to_string()));
        match name {
            "collect_ignore" => self.summary.collect_ignore = v,
            "collect_ignore_glob" => self.summary.collect_ignore_glob = v,
            _ => {
                self.summary.marks = vec![Mark {
                    name: "<dynamic pytestmark>".into(),
                    parametrize: Some(Err(format!("pytestmark built by {why}"))),
                    args: vec![],
                    param_argnames: vec![],
                    param_scoped: false,
                    checked_by_plugin: false,
                }]
            }
        }
    }

    fn assign(
        &mut self,
        target: &Expr,
        value: Option<&Expr>,
        out: &mut Vec<Binding>,
        conditional: bool,
        module: bool,
    ) {
        let Expr::Name(n) = target else {
            if let (Expr::Tuple(_) | Expr::List(_), true) = (target, module) {
                self.bind_targets(target, out);
            }
            return;
        };
        let name = n.id.as_str();
        let Some(value) = value else { return };
        if module {
            match name {
                "pytestmark" => {
                    self.summary.marks = self.marks_from_value(value);
                }
                "__test__" => self.summary.test_attr = bool_literal(value),
                "collect_ignore" | "collect_ignore_glob" => {
                    let parsed = if conditional {
                        Err("assigned conditionally".to_string())
                    } else {
                        string_list(value).ok_or_else(|| "not a literal list".to_string())
                    };
                    if parsed.is_ok() {
                        self.collect_list_targets.push(n.range.start());
                    }
                    // An unconditional assignment replaces whatever star imports bound.
                    let stars = if name == "collect_ignore" {
                        self.summary.collect_ignore = Some(parsed);
                        &mut self.summary.collect_ignore_stars
                    } else {
                        self.summary.collect_ignore_glob = Some(parsed);
                        &mut self.summary.collect_ignore_glob_stars
                    };
                    if !conditional {
                        stars.clear();
                    }
                }
                "pytest_plugins" => self.summary.declares_plugins = true,
                _ => {}
            }
            match self.eval(value) {
                Some(v) if !conditional => {
                    self.constants.insert(name.to_string(), v);
                }
                _ => {
                    self.constants.remove(name);
                }
            }
        }
        let kind = match value {
            Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::NumberLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::List(_)
            | Expr::Tuple(_)
            | Expr::Dict(_)
            | Expr::Set(_)
            | Expr::FString(_)
            | Expr::ListComp(_)
            | Expr::DictComp(_)
            | Expr::SetComp(_) => Value::Literal,
            Expr::Lambda(_) => Value::Function(FunctionDef {
                is_async: false,
                is_generator: false,
                is_fixture: false,
                is_staticmethod: false,
                is_classmethod: false,
                marks: vec![],
                test_attr: None,
                params: vec![],
                unknown_decorators: vec![],
                decorators_written: vec![],
                applies_parametrize: false,
                mock_patch_args: 0,
                given_args: None,
                lineno: 0,
                fixture_param_scope: None,
                doc: None,
            }),
            _ => Value::Unknown,
        };
        push_binding(out, name, kind, conditional);
    }

    fn track_mark_alias(&mut self, targets: &[Expr], value: &Expr) {
        let callee = match value {
            Expr::Call(c) => &*c.func,
            other => other,
        };
        let mark = self
            .canonical(callee)
            .and_then(|c| c.strip_prefix("pytest.mark.").map(str::to_string))
            .filter(|m| !m.contains('.') && m != "parametrize" && m != "usefixtures");
        for t in targets {
            if let Expr::Name(n) = t {
                match &mark {
                    Some(m) => self.mark_aliases.insert(n.id.to_string(), m.clone()),
                    None => self.mark_aliases.remove(n.id.as_str()),
                };
            }
        }
    }

    fn function_def(&mut self, f: &ast::StmtFunctionDef) -> FunctionDef {
        let mut def = FunctionDef {
            is_async: f.is_async,
            is_generator: yields(&f.body),
            is_fixture: false,
            is_staticmethod: false,
            is_classmethod: false,
            marks: vec![],
            test_attr: None,
            params: f
                .parameters
                .posonlyargs
                .iter()
                .chain(f.parameters.args.iter())
                .chain(f.parameters.kwonlyargs.iter())
                .filter(|p| p.default.is_none())
                .map(|p| p.parameter.name.id.to_string())
                .collect(),
            unknown_decorators: vec![],
            decorators_written: vec![],
            applies_parametrize: mentions_parametrize(&f.body),
            mock_patch_args: 0,
            given_args: None,
            lineno: 0,
            fixture_param_scope: None,
            doc: crate::doctest::docstring(&f.body).map(|(_, d)| crate::doctest::cleandoc(&d)),
        };
        // Decorators apply bottom-up: the closest to `def` adds its mark first.
        for dec in f.decorator_list.iter().rev() {
            let expr = &dec.expression;
            let (callee, call) = match expr {
                Expr::Call(c) => (&*c.func, Some(c)),
                other => (other, None),
            };
            let canon = self.canonical(callee).unwrap_or_default();
            if FIXTURE_DECORATORS.contains(&canon.as_str()) {
                def.is_fixture = true;
            } else if canon == "staticmethod" {
                def.is_staticmethod = true;
            } else if canon == "classmethod" {
                def.is_classmethod = true;
            } else if let Some(mark) = canon.strip_prefix("pytest.mark.") {
                def.marks.push(self.mark(mark, call));
            } else if let (Some(mark), None) = (self.mark_aliases.get(&canon), call) {
                let mark = mark.clone();
                def.marks.push(self.mark(&mark, None));
            } else {
                if call.is_some_and(|c| passes_a_mock(&canon, c)) {
                    def.mock_patch_args += 1;
                }
                if let (Some(call), true) = (call, canon == "hypothesis.given") {
                    def.given_args = Some(given_args(call));
                }
                def.unknown_decorators.push(canon);
                def.decorators_written
                    .push(dotted(callee).unwrap_or_default());
            }
        }
        def
    }

    fn record_fixture(&mut self, f: &ast::StmtFunctionDef, class: Option<&str>) {
        let mut fixture = FixtureDef {
            name: f.name.id.to_string(),
            scope: "function".into(),
            autouse: false,
            has_params: false,
            params: f
                .parameters
                .args
                .iter()
                .map(|p| p.parameter.name.id.to_string())
                .collect(),
            class: class.map(str::to_string),
        };
        for dec in &f.decorator_list {
            if let Expr::Call(c) = &dec.expression {
                let canon = self.canonical(&c.func).unwrap_or_default();
                if !FIXTURE_DECORATORS.contains(&canon.as_str()) || canon == "pytest.yield_fixture"
                {
                    continue;
                }
                for kw in &c.arguments.keywords {
                    let Some(arg) = &kw.arg else { continue };
                    match arg.id.as_str() {
                        "scope" => {
                            fixture.scope = match &kw.value {
                                Expr::StringLiteral(s) => s.value.to_str().to_string(),
                                _ => "dynamic".into(),
                            }
                        }
                        "autouse" => fixture.autouse = bool_literal(&kw.value) != Some(false),
                        "params" => fixture.has_params = true,
                        "name" => {
                            if let Expr::StringLiteral(s) = &kw.value {
                                fixture.name = s.value.to_str().to_string();
                            }
                        }
                        _ => {}
                    }
                }
                // `@pytest.fixture("module")` (old positional scope).
                if let Some(Expr::StringLiteral(s)) = c.arguments.args.first() {
                    fixture.scope = s.value.to_str().to_string();
                }
            }
        }
        self.summary.fixtures.push(fixture);
    }

    fn class_def(&mut self, c: &ast::StmtClassDef) -> ClassDef {
        let mut class = ClassDef {
            bases: vec![],
            body: vec![],
            marks: vec![],
            test_attr: None,
            has_init: false,
            has_new: false,
            maybe_abstract: false,
            has_abstract_methods: false,
            dynamic_reasons: vec![],
            doc: crate::doctest::docstring(&c.body).map(|(_, d)| crate::doctest::cleandoc(&d)),
        };
        if let Some(args) = &c.arguments {
            for base in args.args.iter() {
                class.bases.push(match base {
                    Expr::Subscript(s) => match self.canonical(&s.value) {
                        Some(d) => BaseRef::Generic(d),
                        None => BaseRef::Unknown,
                    },
                    other => match self.canonical(other) {
                        Some(d) => BaseRef::Dotted(d),
                        None => BaseRef::Unknown,
                    },
                });
            }
            for kw in &args.keywords {
                if kw.arg.as_ref().map(|a| a.id.as_str()) == Some("metaclass") {
                    class.maybe_abstract = true;
                }
            }
        }
        for dec in c.decorator_list.iter().rev() {
            let (callee, call) = match &dec.expression {
                Expr::Call(call) => (&*call.func, Some(call)),
                other => (other, None),
            };
            let canon = self.canonical(callee).unwrap_or_default();
            if let Some(mark) = canon.strip_prefix("pytest.mark.") {
                class.marks.push(self.mark(mark, call));
            } else {
                class
                    .dynamic_reasons
                    .push(format!("class decorator {canon}"));
            }
        }
        let mut body = Vec::new();
        // Class bodies see module constants but their own names shadow them.
        for stmt in &c.body {
            match stmt {
                Stmt::FunctionDef(f) => {
                    let name = f.name.id.as_str();
                    if name == "__init__" {
                        class.has_init = true;
                    }
                    if name == "__new__" {
                        class.has_new = true;
                    }
                    let def = self.function_def(f);
                    if def
                        .unknown_decorators
                        .iter()
                        .any(|d| d.ends_with("abstractmethod"))
                    {
                        class.has_abstract_methods = true;
                    }
                    if def.is_fixture {
                        self.record_fixture(f, Some(c.name.id.as_str()));
                    }
                    push_binding(&mut body, name, Value::Function(def), false);
                }
                Stmt::Assign(a) => {
                    for t in &a.targets {
                        if let Expr::Name(n) = t {
                            match n.id.as_str() {
                                "pytestmark" => class.marks.extend(self.marks_from_value(&a.value)),
                                "__test__" => class.test_attr = bool_literal(&a.value),
                                _ => {}
                            }
                        }
                        self.assign(t, Some(&a.value), &mut body, false, false);
                    }
                }
                other => self.walk_stmt(other, &mut body, false, false),
            }
        }
        class.body = body;
        class
    }

    fn marks_from_value(&mut self, value: &Expr) -> Vec<Mark> {
        let items: Vec<&Expr> = match value {
            Expr::List(l) => l.elts.iter().collect(),
            Expr::Tuple(t) => t.elts.iter().collect(),
            other => vec![other],
        };
        let mut marks = Vec::new();
        for item in items {
            let (callee, call) = match item {
                Expr::Call(c) => (&*c.func, Some(c)),
                other => (other, None),
            };
            match self.canonical(callee) {
                Some(c) if c.starts_with("pytest.mark.") => {
                    let m = self.mark(&c["pytest.mark.".len()..], call);
                    marks.push(m);
                }
                _ => marks.push(Mark {
                    name: "<unknown>".into(),
                    parametrize: Some(Err("pytestmark holds a non-literal mark".into())),
                    args: vec![],
                    param_argnames: vec![],
                    param_scoped: false,
                    checked_by_plugin: false,
                }),
            }
        }
        marks
    }

    /// `marks=` of `pytest.param`: `pytest.mark.NAME`, `pytest.mark.NAME(...)` or a list
    /// or tuple of them; None for anything else.
    fn param_mark_names(&self, expr: &Expr) -> Option<Vec<String>> {
        let one = |e: &Expr| -> Option<String> {
            let target = match e {
                Expr::Call(c) => &*c.func,
                other => other,
            };
            self.canonical(target)?
                .strip_prefix("pytest.mark.")
                .filter(|n| !n.contains('.'))
                .map(str::to_string)
        };
        match expr {
            Expr::List(l) => l.elts.iter().map(one).collect(),
            Expr::Tuple(t) => t.elts.iter().map(one).collect(),
            other => one(other).map(|n| vec![n]),
        }
    }

    fn mark(&mut self, name: &str, call: Option<&ast::ExprCall>) -> Mark {
        let mut mark = Mark {
            name: name.to_string(),
            parametrize: None,
            args: vec![],
            param_argnames: vec![],
            param_scoped: false,
            checked_by_plugin: false,
        };
        if name == "usefixtures" {
            if let Some(c) = call {
                mark.args = c
                    .arguments
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        Expr::StringLiteral(s) => Some(s.value.to_str().to_string()),
                        _ => None,
                    })
                    .collect();
            }
        }
        if name == "asyncio" {
            mark.checked_by_plugin = call.is_some_and(|c| {
                !c.arguments.args.is_empty()
                    || c.arguments.keywords.iter().any(|k| {
                        k.arg.as_ref().is_none_or(|a| a.id.as_str() != "loop_scope")
                            || !matches!(&k.value, Expr::StringLiteral(v)
                                if ["function", "class", "module", "package", "session"]
                                    .contains(&v.value.to_str()))
                    })
            });
        }
        if name == "parametrize" {
            mark.parametrize = Some(match call {
                Some(c) => self.parametrize(c),
                None => Err("bare parametrize mark".into()),
            });
            mark.param_scoped = call.is_some_and(|c| {
                c.arguments
                    .keywords
                    .iter()
                    .any(|k| k.arg.as_ref().is_some_and(|a| a.id.as_str() == "scope"))
            });
            mark.param_argnames = match &mark.parametrize {
                Some(Ok(p)) => p.argnames.clone(),
                _ => call.and_then(literal_argnames).unwrap_or_default(),
            };
        }
        mark
    }

    fn parametrize(&mut self, call: &ast::ExprCall) -> Result<Parametrize, String> {
        let args = &call.arguments;
        let mut argnames_expr = args.args.first();
        let mut argvalues_expr = args.args.get(1);
        let mut ids_expr = None;
        let mut indirect_or_scoped = false;
        for kw in &args.keywords {
            match kw.arg.as_ref().map(|a| a.id.as_str()) {
                Some("argnames") => argnames_expr = Some(&kw.value),
                Some("argvalues") => argvalues_expr = Some(&kw.value),
                Some("ids") => ids_expr = Some(&kw.value),
                Some("indirect") => {
                    if bool_literal(&kw.value) != Some(false) {
                        indirect_or_scoped = true
                    }
                }
                Some("scope") => indirect_or_scoped = true,
                _ => return Err("unknown parametrize keyword".into()),
            }
        }
        if args.args.len() > 2 {
            indirect_or_scoped = true;
        }
        let (argnames, force_tuple) = match argnames_expr.ok_or("no argnames")? {
            Expr::StringLiteral(s) => {
                let names: Vec<String> = s
                    .value
                    .to_str()
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect();
                let single = names.len() == 1;
                (names, single)
            }
            other => (string_list(other).ok_or("argnames not literal")?, false),
        };
        let values = match self.eval(argvalues_expr.ok_or("no argvalues")?) {
            Some(PyVal::Seq(v)) => v,
            _ => return Err("argvalues not a literal sequence".into()),
        };
        let ids_list: Option<Vec<Option<PyVal>>> = match ids_expr {
            None | Some(Expr::NoneLiteral(_)) => None,
            Some(e @ (Expr::List(_) | Expr::Tuple(_))) => {
                let elts = match e {
                    Expr::List(l) => &l.elts,
                    Expr::Tuple(t) => &t.elts,
                    _ => unreachable!(),
                };
                let mut out = Vec::new();
                for el in elts {
                    match el {
                        Expr::NoneLiteral(_) => out.push(None),
                        other => out.push(Some(self.eval(other).ok_or("ids element not literal")?)),
                    }
                }
                Some(out)
            }
            Some(_) => return Err("ids is not a literal list".into()),
        };
        // Each parameter set: (explicit id, values).
        let mut sets: Vec<(Option<PyVal>, Vec<PyVal>)> = Vec::new();
        let mut param_marks: Option<Vec<Vec<String>>> = Some(Vec::new());
        for v in values {
            let set_marks = match &v {
                PyVal::Param { marks, .. } => marks.clone(),
                _ => Some(Vec::new()),
            };
            param_marks = match (param_marks, set_marks) {
                (Some(mut all), Some(m)) => {
                    all.push(m);
                    Some(all)
                }
                _ => None,
            };
            let (id, vals) = match v {
                PyVal::Param { values, id, .. } => {
                    let vals = if force_tuple {
                        vec![match values.len() {
                            1 => values.into_iter().next().unwrap(),
                            _ => PyVal::Opaque,
                        }]
                    } else {
                        values
                    };
                    (id.map(|b| *b), vals)
                }
                other if force_tuple => (None, vec![other]),
                PyVal::Seq(items) => (None, items),
                _ => return Err("parameter set is not a sequence".into()),
            };
            if vals.len() != argnames.len() {
                return Err("parameter set length differs from argnames".into());
            }
            sets.push((id, vals));
        }
        let mut ids = Vec::new();
        if sets.is_empty() {
            // pytest parametrizes with NOTSET and skips.
            // One id for the whole empty set, however many argnames.
            ids.push("NOTSET".to_string());
        }
        for (idx, (explicit, vals)) in sets.iter().enumerate() {
            if let Some(e) = explicit {
                ids.push(id_from_value(e).ok_or("pytest.param id not a string")?);
                continue;
            }
            if let Some(Some(Some(v))) = ids_list.as_ref().map(|l| l.get(idx)) {
                ids.push(id_from_value(v).ok_or("unsupported ids value")?);
                continue;
            }
            let parts: Vec<String> = vals
                .iter()
                .zip(&argnames)
                .map(|(v, n)| id_from_value(v).unwrap_or_else(|| format!("{n}{idx}")))
                .collect();
            ids.push(parts.join("-"));
        }
        Ok(Parametrize {
            argnames,
            ids: make_unique(ids),
            indirect_or_scoped,
            param_marks,
        })
    }

    /// Static evaluation of the expression forms parametrize arguments use.
    fn eval(&self, expr: &Expr) -> Option<PyVal> {
        Some(match expr {
            Expr::StringLiteral(s) => PyVal::Str(s.value.to_str().to_string()),
            Expr::BytesLiteral(b) => PyVal::Bytes(b.value.bytes().collect()),
            Expr::NumberLiteral(n) => PyVal::Scalar(number_str(&n.value, false)?),
            Expr::BooleanLiteral(b) => PyVal::Scalar(if b.value { "True" } else { "False" }.into()),
            Expr::NoneLiteral(_) => PyVal::Scalar("None".into()),
            Expr::UnaryOp(u) => match (&u.op, &*u.operand) {
                (UnaryOp::USub, Expr::NumberLiteral(n)) => {
                    PyVal::Scalar(number_str(&n.value, true)?)
                }
                (UnaryOp::UAdd, Expr::NumberLiteral(n)) => {
                    PyVal::Scalar(number_str(&n.value, false)?)
                }
                _ => return None,
            },
            Expr::Tuple(t) => {
                PyVal::Seq(t.elts.iter().map(|e| self.eval(e)).collect::<Option<_>>()?)
            }
            Expr::List(t) => {
                PyVal::Seq(t.elts.iter().map(|e| self.eval(e)).collect::<Option<_>>()?)
            }
            Expr::Dict(d) => {
                for item in &d.items {
                    if let Some(k) = &item.key {
                        self.eval(k)?;
                    }
                    self.eval(&item.value)?;
                }
                PyVal::Opaque
            }
            Expr::Set(s) => {
                s.elts.iter().try_for_each(|e| self.eval(e).map(|_| ()))?;
                PyVal::Opaque
            }
            Expr::Lambda(_) => PyVal::Named("<lambda>".into()),
            Expr::Name(n) => {
                let id = n.id.as_str();
                if let Some(v) = self.constants.get(id) {
                    v.clone()
                } else if BUILTIN_NAMES.contains(&id) {
                    PyVal::Named(id.to_string())
                } else {
                    return None;
                }
            }
            Expr::Call(c) => {
                let callee = self.canonical(&c.func)?;
                match callee.as_str() {
                    "pytest.param" => {
                        let values = c
                            .arguments
                            .args
                            .iter()
                            .map(|a| self.eval(a))
                            .collect::<Option<Vec<_>>>()?;
                        let mut id = None;
                        let mut marks = Some(Vec::new());
                        for kw in &c.arguments.keywords {
                            match kw.arg.as_ref()?.id.as_str() {
                                "id" => {
                                    if !matches!(kw.value, Expr::NoneLiteral(_)) {
                                        id = Some(Box::new(self.eval(&kw.value)?));
                                    }
                                }
                                "marks" => marks = self.param_mark_names(&kw.value),
                                _ => return None,
                            }
                        }
                        PyVal::Param { values, id, marks }
                    }
                    "range" => {
                        let nums: Vec<i64> = c
                            .arguments
                            .args
                            .iter()
                            .map(|a| match self.eval(a) {
                                Some(PyVal::Scalar(s)) => s.parse::<i64>().ok(),
                                _ => None,
                            })
                            .collect::<Option<_>>()?;
                        if !c.arguments.keywords.is_empty() {
                            return None;
                        }
                        let (start, stop, step) = match nums.as_slice() {
                            [stop] => (0, *stop, 1),
                            [a, b] => (*a, *b, 1),
                            [a, b, s] if *s != 0 => (*a, *b, *s),
                            _ => return None,
                        };
                        let mut out = Vec::new();
                        let mut i = start;
                        while (step > 0 && i < stop) || (step < 0 && i > stop) {
                            out.push(PyVal::Scalar(i.to_string()));
                            i += step;
                            if out.len() > 100_000 {
                                return None;
                            }
                        }
                        PyVal::Seq(out)
                    }
                    _ => return None,
                }
            }
            _ => return None,
        })
    }
}

fn bool_literal(e: &Expr) -> Option<bool> {
    match e {
        Expr::BooleanLiteral(b) => Some(b.value),
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => Some(i.as_i64() != Some(0)),
            _ => None,
        },
        _ => None,
    }
}

fn number_str(n: &Number, negate: bool) -> Option<String> {
    let sign = if negate { "-" } else { "" };
    Some(match n {
        Number::Int(i) => match i.as_i64() {
            Some(0) => "0".into(),
            Some(v) => format!("{sign}{v}"),
            None => {
                let s = i.to_string();
                if !s.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                format!("{sign}{s}")
            }
        },
        Number::Float(f) => float_repr(if negate { -f } else { *f }),
        Number::Complex { real, imag } if *real == 0.0 => {
            if negate {
                // str(-1j) is "(-0-1j)".
                return None;
            }
            imag_repr(*imag)
        }
        Number::Complex { .. } => return None,
    })
}

/// pytest's `_idval_from_value`.
fn id_from_value(v: &PyVal) -> Option<String> {
    match v {
        PyVal::Str(s) => Some(ascii_escaped_str(s)),
        PyVal::Bytes(b) => Some(ascii_escaped_bytes(b)),
        PyVal::Scalar(s) => Some(s.clone()),
        PyVal::Named(n) => Some(n.clone()),
        PyVal::Opaque | PyVal::Seq(_) | PyVal::Param { .. } => None,
    }
}

/// pytest's `make_unique_parameterset_ids` suffixing of duplicates.
pub fn make_unique(mut ids: Vec<String>) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id.clone()).or_default() += 1;
    }
    if counts.len() == ids.len() {
        return ids;
    }
    let mut suffixes: HashMap<String, usize> = HashMap::new();
    for index in 0..ids.len() {
        let id = ids[index].clone();
        if counts[&id] > 1 {
            let suffix = if id.chars().last().is_some_and(|c| c.is_ascii_digit()) {
                "_"
            } else {
                ""
            };
            let counter = suffixes.entry(id.clone()).or_default();
            let mut new_id = format!("{id}{suffix}{counter}");
            while ids.contains(&new_id) {
                *counter += 1;
                new_id = format!("{id}{suffix}{counter}");
            }
            ids[index] = new_id;
            *counter += 1;
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_patch_decorators_without_new_pass_a_mock_and_parametrize_helpers_are_seen() {
        let src = "from unittest import mock\nfrom unittest.mock import patch\nimport pytest\n\
                   @mock.patch('a.b')\n@patch.object(X, 'y')\n@patch('c', new=1)\n\
                   @patch.object(X, 'z', 2)\ndef test_a(self, m1, m2, fx):\n    pass\n\
                   def each(*cases):\n    def deco(f):\n        return pytest.mark.parametrize('c', cases)(f)\n    return deco\n\
                   def plain(f):\n    return f\n";
        let s = summarize(src.as_bytes());
        let function = |name: &str| match &s.bindings.iter().find(|b| b.name == name).unwrap().value
        {
            Value::Function(f) => f.clone(),
            _ => panic!("{name} is not a function"),
        };
        assert_eq!(function("test_a").mock_patch_args, 2);
        assert_eq!(
            function("test_a").decorators_written,
            ["patch.object", "patch", "patch.object", "mock.patch"]
        );
        assert!(function("each").applies_parametrize);
        assert!(!function("plain").applies_parametrize);
    }

    #[test]
    fn how_pytest_configure_uses_its_config_is_recorded() {
        let uses = |src: &str| summarize(src.as_bytes()).configure_config_uses;
        assert_eq!(
            uses("def pytest_configure(config):\n    config.addinivalue_line('markers', 'a')\n"),
            ["addinivalue_line"]
        );
        assert_eq!(
            uses("def pytest_configure(cfg):\n    x = cfg.getoption('v')\n    f(cfg)\n"),
            ["getoption", ""]
        );
        assert!(uses("def pytest_configure():\n    pass\n").is_empty());
        assert!(uses("def other(config):\n    config.x\n").is_empty());
    }

    #[test]
    fn hypothesis_given_arguments_are_recorded() {
        let src = r#"
from hypothesis import given, strategies as st
import hypothesis
@given(st.text(), st.integers())
def test_pos(fx, a, b):
    pass
@hypothesis.given(x=st.text())
def test_kw(x, fx):
    pass
@given(...)
def test_infer(a: int):
    pass
def test_plain(fx):
    pass
"#;
        let s = summarize(src.as_bytes());
        let given = |name: &str| match &s.bindings.iter().find(|b| b.name == name).unwrap().value {
            Value::Function(f) => f.given_args.clone(),
            _ => panic!("{name} is not a function"),
        };
        let pos = given("test_pos").unwrap();
        assert_eq!((pos.positional, pos.infer_all), (2, false));
        assert_eq!(given("test_kw").unwrap().keywords, ["x"]);
        assert!(given("test_infer").unwrap().infer_all);
        assert_eq!(given("test_plain"), None);
    }

    fn ids_of(src: &str, func: &str) -> Vec<String> {
        let s = summarize(src.as_bytes());
        let b = s.bindings.iter().find(|b| b.name == func).unwrap();
        let Value::Function(f) = &b.value else {
            panic!()
        };
        f.marks[0].parametrize.clone().unwrap().unwrap().ids
    }

    #[test]
    fn parametrize_ids_follow_pytest() {
        let src = "import pytest\n@pytest.mark.parametrize('x', [0, 1.5, -2, 'a b', None, True, b'q', (1, 2), int, 1e20, []])\ndef test_a(x): pass\n";
        assert_eq!(
            ids_of(src, "test_a"),
            ["0", "1.5", "-2", "a b", "None", "True", "q", "x7", "int", "1e+20", "x10"]
        );
        let src = "import pytest\n@pytest.mark.parametrize('a,b', [(1, 2), pytest.param(3, 4, id='c'), (1, 2)])\ndef test_b(a, b): pass\n";
        assert_eq!(ids_of(src, "test_b"), ["1-2_0", "c", "1-2_1"]);
        let src = "from pytest import mark\n@mark.parametrize('e', ['1', '1', 'a', 'a0'], ids=['x', None, 'x', 'y'])\ndef test_c(e): pass\n";
        assert_eq!(ids_of(src, "test_c"), ["x0", "1", "x1", "y"]);
        let src = "import pytest\nVALS = [3, 4]\n@pytest.mark.parametrize('e', VALS)\ndef test_d(e): pass\n";
        assert_eq!(ids_of(src, "test_d"), ["3", "4"]);
    }

    #[test]
    fn non_literal_parametrize_is_dynamic() {
        let s = summarize(
            b"import pytest\n@pytest.mark.parametrize('x', make())\ndef test_a(x): pass\n",
        );
        let Value::Function(f) = &s.bindings[1].value else {
            panic!()
        };
        assert!(f.marks[0].parametrize.as_ref().unwrap().is_err());
    }

    #[test]
    fn namespace_order_keeps_first_position() {
        let s =
            summarize(b"def test_b(): pass\ndef test_a(): pass\ndef test_b(): pass\ndel test_a\n");
        let names: Vec<_> = s.bindings.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["test_b"]);
    }

    #[test]
    fn collect_ignore_is_static_only_as_one_literal_assignment() {
        let s = summarize(b"collect_ignore = ['a.py']\ncollect_ignore_glob = ('*_x.py',)\n");
        assert_eq!(s.collect_ignore, Some(Ok(vec!["a.py".to_string()])));
        assert_eq!(s.collect_ignore_glob, Some(Ok(vec!["*_x.py".to_string()])));
        assert_eq!(summarize(b"x = 1\n").collect_ignore, None);
        for src in [
            "collect_ignore = []\nif X:\n    collect_ignore.extend(['a.py'])\n",
            "collect_ignore = []\ncollect_ignore.append('a.py')\n",
            "collect_ignore = []\ncollect_ignore += ['a.py']\n",
            "if X:\n    collect_ignore = ['a.py']\n",
            "collect_ignore = make()\n",
            "collect_ignore = ['a.py']\ndef pytest_configure(config):\n    collect_ignore.append('b.py')\n",
            "def pytest_configure(config):\n    global collect_ignore\n    collect_ignore = ['b.py']\n",
            "from helpers import collect_ignore\n",
            "collect_ignore = ['a.py']\nother = collect_ignore\n",
            "globals()['collect_ignore'] = ['a.py']\n",
            "collect_ignore = ['a.py']\ndel collect_ignore\n",
        ] {
            let s = summarize(src.as_bytes());
            assert!(
                matches!(s.collect_ignore, Some(Err(_))),
                "{src:?} gave {:?}",
                s.collect_ignore
            );
        }
        let s = summarize(b"collect_ignore = []\ncollect_ignore.append('a')\n");
        let Some(Err(why)) = s.collect_ignore else {
            panic!()
        };
        assert!(why.contains("line 2"), "{why}");
    }

    #[test]
    fn star_imports_after_the_literal_may_rebind_collect_ignore() {
        let s = summarize(b"from helpers import *\ncollect_ignore = ['a.py']\n");
        assert_eq!(s.collect_ignore, Some(Ok(vec!["a.py".to_string()])));
        assert!(s.collect_ignore_stars.is_empty());
        assert_eq!(s.collect_ignore_glob_stars.len(), 1);
        let s = summarize(b"collect_ignore = ['a.py']\nfrom .helpers import *\n");
        assert_eq!(s.collect_ignore_stars[0].module, "helpers");
        assert_eq!(s.collect_ignore_stars[0].level, 1);
    }

    #[test]
    fn syntax_errors_are_recorded_not_raised() {
        assert!(summarize(b"def test(:\n").parse_error.is_some());
        assert!(summarize(b"x = '\xff'\n").parse_error.is_some());
    }
}
