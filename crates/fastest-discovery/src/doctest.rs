//! Static doctest discovery: which docstrings (module, classes, functions, methods,
//! properties) hold `>>>` examples, named as `DocTestFinder` names them.

use ruff_python_ast::{Expr, Stmt};

fn docstring(body: &[Stmt]) -> Option<String> {
    match body.first()? {
        Stmt::Expr(e) => match &*e.value {
            Expr::StringLiteral(s) => Some(s.value.to_str().to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// `doctest.DocTestParser` finds an example on any line whose first non-space text
/// is `>>>` (after tab expansion).
pub fn has_examples(doc: &str) -> bool {
    doc.lines().any(|l| {
        l.replace('\t', "        ")
            .trim_start_matches(' ')
            .starts_with(">>>")
    })
}

/// Names relative to the module ("" is the module itself), unsorted.
pub fn module_doctests(body: &[Stmt]) -> Vec<String> {
    let mut out = Vec::new();
    if docstring(body).is_some_and(|d| has_examples(&d)) {
        out.push(String::new());
    }
    scope(body, "", &mut out, true);
    out.sort();
    out.dedup();
    out
}

fn scope(body: &[Stmt], prefix: &str, out: &mut Vec<String>, module: bool) {
    for stmt in body {
        match stmt {
            Stmt::FunctionDef(f) => {
                let name = format!("{prefix}{}", f.name.id);
                if docstring(&f.body).is_some_and(|d| has_examples(&d)) {
                    out.push(name);
                }
            }
            Stmt::ClassDef(c) => {
                let name = format!("{prefix}{}", c.name.id);
                if docstring(&c.body).is_some_and(|d| has_examples(&d)) {
                    out.push(name.clone());
                }
                scope(&c.body, &format!("{name}."), out, false);
            }
            Stmt::If(i) if module => {
                scope(&i.body, prefix, out, module);
                for c in &i.elif_else_clauses {
                    scope(&c.body, prefix, out, module);
                }
            }
            Stmt::Try(t) if module => {
                scope(&t.body, prefix, out, module);
                scope(&t.orelse, prefix, out, module);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_examples_in_nested_docstrings() {
        let src = "\"\"\"\n>>> 1\n1\n\"\"\"\ndef f():\n    '''>>> f()'''\nclass C:\n    def m(self):\n        '''\n        >>> 2\n        '''\n    def n(self):\n        'no examples'\n";
        let parsed = ruff_python_parser::parse_module(src).unwrap();
        assert_eq!(module_doctests(&parsed.syntax().body), ["", "C.m", "f"]);
    }
}
