//! `ModuleSummary`: everything collection needs to know about one file, derived from its
//! text alone (no config, no other files), so it can be cached by content hash.

use serde::{Deserialize, Serialize};

/// Bumped whenever the summary format or the rules that produce it change; part of every
/// cache key, so stale summaries are never read.
pub const SUMMARY_VERSION: u32 = 22;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModuleSummary {
    /// Set when the file could not be decoded or parsed: Python reports the real error.
    pub parse_error: Option<String>,
    /// The module namespace in `__dict__` order (first binding wins the position).
    pub bindings: Vec<Binding>,
    /// `pytestmark` at module level.
    pub marks: Vec<Mark>,
    /// Why this module cannot be collected statically (empty when it can).
    pub dynamic_reasons: Vec<String>,
    /// Module-level `__test__`.
    pub test_attr: Option<bool>,
    /// Hook functions defined at module level (`pytest_*`), e.g. `pytest_generate_tests`.
    pub hooks: Vec<String>,
    /// How a module-level `pytest_configure` uses its `config`: each `config.ATTR`'s
    /// attribute, `""` for another use (the native engine calls the hook with its own
    /// small config object).
    #[serde(default)]
    pub configure_config_uses: Vec<String>,
    /// Fixtures defined in the module (top level and in classes).
    pub fixtures: Vec<FixtureDef>,
    /// `collect_ignore` / `collect_ignore_glob` (conftest): None when absent, Ok for one
    /// unconditional module-level assignment of a literal list of strings, Err when
    /// anything else touches the name (append/extend/+=, conditional or computed
    /// assignment, use in a function, import, namespace tricks, ...).
    pub collect_ignore: Option<Result<Vec<String>, String>>,
    pub collect_ignore_glob: Option<Result<Vec<String>, String>>,
    /// Star imports after the last literal assignment of `collect_ignore` /
    /// `collect_ignore_glob`: the name is bound by them when their module defines it.
    pub collect_ignore_stars: Vec<ImportRef>,
    pub collect_ignore_glob_stars: Vec<ImportRef>,
    /// `pytest_plugins = ...` present.
    pub declares_plugins: bool,
    /// Every import, for the dependency graph: (module, level, imported names).
    pub imports: Vec<ImportRef>,
    /// Doctest item names (`module`-relative qualified names) with examples, sorted.
    pub doctests: Vec<String>,
    /// Why `--doctest-modules` items of this module are only known at run time
    /// (`__doc__` assignments, unknown decorators, ... see `doctest.rs`).
    pub doctest_dynamic: Option<String>,
    /// Module names this module's objects may claim through `__module__` stores (`*`
    /// when computed): imported into that module, `DocTestFinder` visits them there.
    pub module_claims: Vec<String>,
    /// Why pytest's `reorder_items` may interleave this module's items with other
    /// modules' (session/package-scoped parameter keys: fixture `params=` with a wide or
    /// computed scope, `parametrize` with `scope=`/`indirect=`); then the whole session's
    /// order comes from Python.
    pub cross_module_order: Option<String>,
    /// Why importing the module may end in a skip or an error (`runtime_scan::import_abort`).
    /// For a conftest pytest then skips or errors its whole directory.
    pub import_abort: Option<String>,
    /// Calls the clock or a random source somewhere (`runtime_scan::calls_clock_or_random`).
    #[serde(default)]
    pub calls_clock: bool,
    /// The module's docstring, cleaned as `inspect.getdoc` cleans it.
    #[serde(default)]
    pub doc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImportRef {
    /// Dotted module as written (`a.b`), empty for `from . import x`.
    pub module: String,
    /// Relative import level (number of leading dots).
    pub level: u32,
    /// For `from m import a, b`: the names; empty for `import m`.
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Binding {
    pub name: String,
    pub value: Value,
    /// Bound inside `if`/`try`/`with`/loops: whether it exists is only known at run time.
    pub conditional: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Value {
    Function(FunctionDef),
    Class(ClassDef),
    /// `from module import name` (name is the original name) or `import module`.
    Import {
        module: String,
        level: u32,
        name: Option<String>,
    },
    /// A literal or container: never callable, never a test.
    Literal,
    /// Anything else (call result, alias to another name, ...).
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionDef {
    pub is_async: bool,
    /// Its own body yields (pytest refuses such a test: a collection error).
    #[serde(default)]
    pub is_generator: bool,
    pub is_fixture: bool,
    pub is_staticmethod: bool,
    pub is_classmethod: bool,
    pub marks: Vec<Mark>,
    pub test_attr: Option<bool>,
    /// Positional/keyword parameter names (for fixture closures).
    pub params: Vec<String>,
    /// Decorators we do not understand (they might replace the function).
    pub unknown_decorators: Vec<String>,
    /// The same decorators as written (dotted; empty for another expression), to
    /// resolve in the module: a project decorator may apply `parametrize`.
    #[serde(default)]
    pub decorators_written: Vec<String>,
    /// The body (nested functions included) mentions `parametrize`: as a decorator, this
    /// function may parametrize the test it wraps.
    #[serde(default)]
    pub applies_parametrize: bool,
    /// `mock.patch`/`patch.object` decorators without `new`: each passes the test a mock
    /// argument, which pytest's `getfuncargnames` drops (they are not fixtures).
    #[serde(default)]
    pub mock_patch_args: u32,
    /// What Hypothesis's `@given` fills in (its wrapper's signature drops them, so they
    /// are not fixtures): keyword strategies by name, positional ones from the right.
    #[serde(default)]
    pub given_args: Option<GivenArgs>,
    pub lineno: u32,
    /// For a fixture with `params=`: its scope (`dynamic` when computed). A module that
    /// imports it gets a parametrized fixture.
    #[serde(default)]
    pub fixture_param_scope: Option<String>,
    /// Its docstring, cleaned as `inspect.getdoc` cleans it.
    #[serde(default)]
    pub doc: Option<String>,
}

/// The arguments of a `hypothesis.given` decorator.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GivenArgs {
    /// Positional strategies: they take the last positional parameters.
    pub positional: u32,
    /// `@given(...)`: every parameter is inferred from its annotation.
    pub infer_all: bool,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassDef {
    pub bases: Vec<BaseRef>,
    pub body: Vec<Binding>,
    pub marks: Vec<Mark>,
    pub test_attr: Option<bool>,
    pub has_init: bool,
    pub has_new: bool,
    /// Has a metaclass keyword or abstract methods (may be abstract).
    pub maybe_abstract: bool,
    pub has_abstract_methods: bool,
    pub dynamic_reasons: Vec<String>,
    /// Its docstring, cleaned as `inspect.getdoc` cleans it.
    #[serde(default)]
    pub doc: Option<String>,
}

/// A base class expression.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum BaseRef {
    /// `Name` or `a.b.Name`, as written.
    Dotted(String),
    /// A subscript like `Generic[T]`: the subscripted dotted name.
    Generic(String),
    /// Anything else.
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mark {
    pub name: String,
    /// For `parametrize`: the expanded parameter sets, or why they are not static.
    pub parametrize: Option<Result<Parametrize, String>>,
    /// `usefixtures` argument names.
    pub args: Vec<String>,
    /// For `parametrize`: the argument names when they are literal, also when the
    /// parameter sets are not (they are then expanded at run time).
    #[serde(default)]
    pub param_argnames: Vec<String>,
    /// For `parametrize`: `scope=` is given (the native engine has no parameter scopes).
    #[serde(default)]
    pub param_scoped: bool,
    /// For `asyncio`: arguments pytest-asyncio rejects or warns about at collection
    /// (positional ones, `scope=`, any keyword but a literal valid `loop_scope`).
    #[serde(default)]
    pub checked_by_plugin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Parametrize {
    pub argnames: Vec<String>,
    /// Final, unique ids, one per parameter set.
    pub ids: Vec<String>,
    /// `indirect=` or `scope=` were given (can reorder items).
    pub indirect_or_scoped: bool,
    /// Mark names of each parameter set (`pytest.param(..., marks=...)`), for `-m`;
    /// None when some set's marks are not literal.
    #[serde(default)]
    pub param_marks: Option<Vec<Vec<String>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FixtureDef {
    pub name: String,
    pub scope: String,
    pub autouse: bool,
    /// `params=` present.
    pub has_params: bool,
    pub params: Vec<String>,
    /// Class the fixture is defined in, if any.
    pub class: Option<String>,
}
