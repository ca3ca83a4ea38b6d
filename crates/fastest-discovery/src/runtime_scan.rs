//! Scans a parsed module for things whose effect on collection only the run can tell:
//! import-time code that may abort the import (`pytest.skip(allow_module_level=True)`,
//! `pytest.importorskip`, `raise`, ...), parametrization whose scope can reorder items
//! across modules (session/package-scoped fixture params, `indirect=`, `scope=`), and
//! calls of the clock or a random source (ids made from them may differ next time).

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use std::collections::HashMap;

/// Calls that end the import of a module at collection time (skip, error or exit).
const ABORTING_CALLS: &[&str] = &[
    "pytest.skip",
    "pytest.importorskip",
    "pytest.fail",
    "pytest.xfail",
    "pytest.exit",
    "sys.exit",
];

/// Scopes whose parametrization keys include the module path (or class): `reorder_items`
/// can only move items within one module for them.
const MODULE_LOCAL_SCOPES: &[&str] = &["function", "class", "module"];

/// Resolves a dotted expression through the module's import aliases, as `Summarizer` does.
fn canonical(aliases: &HashMap<String, String>, expr: &Expr) -> Option<String> {
    fn dotted(expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(n) => Some(n.id.to_string()),
            Expr::Attribute(a) => Some(format!("{}.{}", dotted(&a.value)?, a.attr.id)),
            _ => None,
        }
    }
    let d = dotted(expr)?;
    let (head, rest) = match d.split_once('.') {
        Some((h, r)) => (h.to_string(), Some(r.to_string())),
        None => (d.clone(), None),
    };
    let base = aliases.get(&head).cloned().unwrap_or(head);
    Some(match rest {
        Some(r) => format!("{base}.{r}"),
        None => base,
    })
}

/// Every call in an expression tree, lambdas excluded (their bodies do not run at import).
struct Calls<'a> {
    aliases: &'a HashMap<String, String>,
    found: Option<String>,
}

impl<'a, 'b> Visitor<'b> for Calls<'a> {
    fn visit_expr(&mut self, expr: &'b Expr) {
        match expr {
            Expr::Lambda(_) => {}
            Expr::Call(c) => {
                if let Some(name) = canonical(self.aliases, &c.func) {
                    if self.found.is_none() && ABORTING_CALLS.contains(&name.as_str()) {
                        self.found = Some(format!("calls {name}() at import time"));
                    }
                }
                visitor::walk_expr(self, expr);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// `__name__ == "__main__"` (either operand order).
fn is_main_guard(test: &Expr) -> bool {
    let Expr::Compare(c) = test else {
        return false;
    };
    if c.ops.len() != 1 || !matches!(c.ops[0], ast::CmpOp::Eq) {
        return false;
    }
    let is_name = |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == "__name__");
    let is_main = |e: &Expr| matches!(e, Expr::StringLiteral(s) if s.value.to_str() == "__main__");
    let (l, r) = (&*c.left, &c.comparators[0]);
    (is_name(l) && is_main(r)) || (is_main(l) && is_name(r))
}

/// Why importing the module may end in a skip or an error: a `raise` or an aborting call
/// in code run at import (module level, nested blocks and class bodies; not function
/// bodies). `None` when there is none.
pub fn import_abort(body: &[Stmt], aliases: &HashMap<String, String>) -> Option<String> {
    for stmt in body {
        let nested: Vec<&[Stmt]> = match stmt {
            Stmt::FunctionDef(_) => continue,
            Stmt::Raise(_) => {
                return Some("raises at import time".into());
            }
            Stmt::ClassDef(c) => vec![&c.body],
            Stmt::If(i) => {
                // `if __name__ == "__main__":` never runs when pytest imports the module.
                let mut v: Vec<&[Stmt]> = if is_main_guard(&i.test) {
                    vec![]
                } else {
                    vec![&i.body]
                };
                v.extend(i.elif_else_clauses.iter().map(|c| c.body.as_slice()));
                v
            }
            Stmt::Try(t) => {
                let mut v: Vec<&[Stmt]> = vec![&t.body, &t.orelse, &t.finalbody];
                for h in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    v.push(&h.body);
                }
                v
            }
            Stmt::With(w) => vec![&w.body],
            Stmt::For(f) => vec![&f.body, &f.orelse],
            Stmt::While(w) => vec![&w.body, &w.orelse],
            Stmt::Match(m) => m.cases.iter().map(|c| c.body.as_slice()).collect(),
            Stmt::Expr(_) | Stmt::Assign(_) | Stmt::AnnAssign(_) | Stmt::AugAssign(_) => {
                let mut calls = Calls {
                    aliases,
                    found: None,
                };
                calls.visit_stmt(stmt);
                if calls.found.is_some() {
                    return calls.found;
                }
                continue;
            }
            _ => continue,
        };
        for b in nested {
            if let Some(why) = import_abort(b, aliases) {
                return Some(why);
            }
        }
    }
    None
}

/// A cross-module reason the native engine can run: pytest orders the items by the
/// fixture's parameter (Python collects them), and the worker tears the session value down
/// and sets it up again whenever the parameter changes between two items it runs.
pub const SESSION_FIXTURE_PARAMS: &str = "a fixture with params= has scope \"session\"";

/// The other one: `indirect=` parametrization (the worker keys a fixture's value by the
/// parameter it was made with, as pytest's `cache_key`, whatever the fixture's scope).
pub const INDIRECT_PARAMS: &str = "indirect parametrize takes the scope of its fixtures";

/// Whether the native engine runs a session Python collects for this reason.
pub fn native_runs_reordered(why: &str) -> bool {
    why == SESSION_FIXTURE_PARAMS || why == INDIRECT_PARAMS
}

/// Finds parametrization that `reorder_items` may interleave with other modules' items.
struct CrossModule<'a> {
    aliases: &'a HashMap<String, String>,
    found: Option<String>,
}

impl CrossModule<'_> {
    /// Keeps the first reason, except that a reason the native engine cannot run
    /// replaces one it can ([`native_runs_reordered`]): those are reported only when
    /// they are the only kind.
    fn note(&mut self, why: String) {
        let replaces = match self.found.as_deref() {
            None => true,
            Some(found) => native_runs_reordered(found) && !native_runs_reordered(&why),
        };
        if replaces {
            self.found = Some(why);
        }
    }

    /// `Some(reason)` unless `scope` is a literal module-local scope.
    fn wide_scope(scope: Option<&Expr>) -> Option<String> {
        match scope {
            None => None,
            Some(Expr::StringLiteral(s)) if MODULE_LOCAL_SCOPES.contains(&s.value.to_str()) => None,
            Some(Expr::StringLiteral(s)) => Some(format!("scope \"{}\"", s.value.to_str())),
            Some(_) => Some("a scope computed at run time".into()),
        }
    }

    fn call(&mut self, c: &ast::ExprCall) {
        let name = canonical(self.aliases, &c.func).unwrap_or_default();
        let kw = |k: &str| {
            c.arguments
                .keywords
                .iter()
                .find(|x| x.arg.as_ref().is_some_and(|a| a.id.as_str() == k))
                .map(|x| &x.value)
        };
        if crate::parse::FIXTURE_DECORATORS.contains(&name.as_str()) {
            if kw("params").is_none() {
                return;
            }
            let scope = kw("scope").or(c.arguments.args.first());
            if let Some(why) = Self::wide_scope(scope) {
                self.note(format!("a fixture with params= has {why}"));
            }
            return;
        }
        let is_parametrize = name.ends_with(".parametrize")
            || matches!(&*c.func, Expr::Attribute(a) if a.attr.id.as_str() == "parametrize");
        if !is_parametrize {
            return;
        }
        if let Some(why) = Self::wide_scope(kw("scope")) {
            self.note(format!("parametrize with {why}"));
        } else if kw("scope").is_none()
            && (c.arguments.args.len() > 2
                || kw("indirect")
                    .is_some_and(|v| !matches!(v, Expr::BooleanLiteral(b) if !b.value)))
        {
            self.note(INDIRECT_PARAMS.into());
        }
    }
}

impl<'b> Visitor<'b> for CrossModule<'_> {
    fn visit_expr(&mut self, expr: &'b Expr) {
        if let Expr::Call(c) = expr {
            self.call(c);
        }
        visitor::walk_expr(self, expr);
    }
}

/// Why items of this module may be reordered together with other modules' items by
/// pytest's `reorder_items` (session- or package-scoped parameter keys): a fixture with
/// `params=` whose scope is not function/class/module, or a `parametrize` (mark or
/// `metafunc.parametrize`, anywhere in the file) with such a `scope=` or with `indirect=`
/// and no scope (it takes the scope of fixtures that may be defined anywhere).
pub fn cross_module_order(body: &[Stmt], aliases: &HashMap<String, String>) -> Option<String> {
    let mut v = CrossModule {
        aliases,
        found: None,
    };
    v.visit_body(body);
    v.found
}

#[cfg(test)]
mod tests {
    use crate::parse::summarize;

    fn abort(src: &str) -> Vec<String> {
        summarize(src.as_bytes()).dynamic_reasons
    }

    fn order(src: &str) -> Option<String> {
        summarize(src.as_bytes()).cross_module_order
    }

    #[test]
    fn import_time_aborts() {
        assert_eq!(
            abort("import pytest\nif x:\n    pytest.skip('no', allow_module_level=True)\n"),
            ["module calls pytest.skip() at import time"]
        );
        assert_eq!(
            abort("import pytest as p\nnp = p.importorskip('numpy')\n"),
            ["module calls pytest.importorskip() at import time"]
        );
        assert_eq!(
            abort("try:\n    import a\nexcept ImportError:\n    raise\n"),
            ["module raises at import time"]
        );
        assert_eq!(
            abort("import sys\nclass T:\n    sys.exit(1)\n"),
            ["module calls sys.exit() at import time"]
        );
        // A main guard never runs under pytest; its else branch does.
        assert!(abort("import sys\nif __name__ == '__main__':\n    sys.exit(main())\n").is_empty());
        assert_eq!(
            abort("if '__main__' == __name__:\n    pass\nelse:\n    raise ImportError\n"),
            ["module raises at import time"]
        );
        // Function bodies and lambdas do not run at import; other modules' `skip` neither.
        assert!(abort(
            "import pytest\nfrom unittest import skip\ndef f():\n    raise ValueError\n\
             g = lambda: pytest.skip('x')\n@skip('r')\ndef test_a():\n    pass\n"
        )
        .is_empty());
    }

    #[test]
    fn doctests_of_an_aborting_module_are_dynamic() {
        let s = summarize(b"\"\"\"\n>>> 1\n1\n\"\"\"\nimport sys\nif sys.platform == 'x':\n    raise ImportError\n");
        assert_eq!(
            s.doctest_dynamic.as_deref(),
            Some("the module raises at import time")
        );
    }

    #[test]
    fn cross_module_parametrization() {
        let fx = |args: &str| {
            order(&format!(
                "import pytest\n@pytest.fixture({args})\ndef f(request):\n    pass\n"
            ))
        };
        assert_eq!(fx("params=[1]"), None);
        assert_eq!(fx("scope='module', params=[1]"), None);
        assert_eq!(fx("'class', params=[1]"), None);
        assert_eq!(fx("scope='session'"), None);
        assert_eq!(
            fx("scope='session', params=[1]").as_deref(),
            Some(super::SESSION_FIXTURE_PARAMS)
        );
        // Another kind of reason in the same file wins over the session fixture's.
        assert_eq!(
            order(
                "import pytest\n@pytest.fixture(scope='session', params=[1])\ndef f():\n    pass\n\
                 @pytest.fixture(scope='package', params=[1])\ndef g():\n    pass\n\
                 @pytest.fixture(scope='session', params=[2])\ndef h():\n    pass\n"
            )
            .as_deref(),
            Some("a fixture with params= has scope \"package\"")
        );
        assert_eq!(
            fx("scope='package', params=[1]").as_deref(),
            Some("a fixture with params= has scope \"package\"")
        );
        assert_eq!(
            fx("scope=pick, params=[1]").as_deref(),
            Some("a fixture with params= has a scope computed at run time")
        );
        let pz = |args: &str| {
            order(&format!(
                "import pytest\n@pytest.mark.parametrize('a', [1], {args})\ndef test_a(a):\n    pass\n"
            ))
        };
        assert_eq!(pz("ids=['x']"), None);
        assert_eq!(pz("indirect=False"), None);
        assert_eq!(pz("indirect=True, scope='function'"), None);
        assert!(pz("indirect=['a']").is_some());
        assert!(pz("scope='session'").is_some());
        // metafunc.parametrize inside a hook counts too.
        assert!(order(
            "def pytest_generate_tests(metafunc):\n    metafunc.parametrize('a', [1], scope='session')\n"
        )
        .is_some());
    }
}

/// Calls whose result differs between runs, by the called name: the harness's
/// `deps._VOLATILE_CALLS` (`time` and `strftime` count only as `time.time()`,
/// `time.strftime(...)` or an argument-less `time()`).
const VOLATILE_CALLS: &[&str] = &[
    "now",
    "utcnow",
    "today",
    "time_ns",
    "perf_counter",
    "perf_counter_ns",
    "monotonic",
    "monotonic_ns",
    "process_time",
    "localtime",
    "gmtime",
    "ctime",
    "urandom",
    "uuid1",
    "uuid4",
    "getrandbits",
    "randint",
    "randrange",
    "random",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "uniform",
    "gauss",
    "randbytes",
    "token_hex",
    "token_bytes",
    "token_urlsafe",
];

/// Whether the module's import-time code (everything but function bodies) calls the
/// clock or a random source (the harness's `deps.calls_volatile` rule): a hint that
/// Python's collection of it reads the clock, so the runner checks it under a shifted
/// clock at once. Helpers called at import are missed here; the harness finds those.
pub fn calls_clock_or_random(body: &[Stmt]) -> bool {
    struct Finder(bool);
    impl<'a> Visitor<'a> for Finder {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                // A body runs when called, mostly by a test: its decorators, defaults
                // and annotations run at import.
                Stmt::FunctionDef(f) => {
                    for d in &f.decorator_list {
                        self.visit_decorator(d);
                    }
                    self.visit_parameters(&f.parameters);
                    if let Some(r) = &f.returns {
                        self.visit_annotation(r);
                    }
                }
                _ => visitor::walk_stmt(self, stmt),
            }
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            if self.0 {
                return;
            }
            if let Expr::Call(call) = expr {
                self.0 = match &*call.func {
                    Expr::Name(n) => {
                        VOLATILE_CALLS.contains(&n.id.as_str())
                            || (n.id.as_str() == "time" && call.arguments.args.is_empty())
                    }
                    Expr::Attribute(a) => {
                        VOLATILE_CALLS.contains(&a.attr.id.as_str())
                            || (matches!(a.attr.id.as_str(), "time" | "strftime")
                                && matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "time"))
                    }
                    _ => false,
                };
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut finder = Finder(false);
    finder.visit_body(body);
    finder.0
}

#[cfg(test)]
mod clock_tests {
    use super::calls_clock_or_random;

    fn scan(source: &str) -> bool {
        calls_clock_or_random(
            &ruff_python_parser::parse_module(source)
                .unwrap()
                .syntax()
                .body,
        )
    }

    #[test]
    fn import_time_clock_and_random_calls_are_found() {
        assert!(scan("import datetime\nNOW = datetime.datetime.now()\n"));
        assert!(scan("import pytest, uuid\n@pytest.mark.parametrize('v', [uuid.uuid4()])\ndef test(v): pass\n"));
        assert!(scan("import time\nclass T:\n    started = time.time()\n"));
        assert!(scan("from time import time\ndef test(at=time()): pass\n"));
        assert!(scan(
            "import random\nwith open('x'):\n    SEED = random.random()\n"
        ));
    }

    #[test]
    fn calls_in_function_bodies_and_deterministic_namesakes_are_not() {
        assert!(!scan(
            "import datetime\ndef test():\n    assert datetime.datetime.now()\n"
        ));
        assert!(!scan("import datetime\nT = datetime.time(12, 0)\n"));
        assert!(!scan("# sample (versions)\nX = 1\n"));
        assert!(!scan("X = d.strftime('%Y')\n"));
    }
}
