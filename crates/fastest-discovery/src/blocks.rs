//! Code blocks of one file for dependency keys: a hash per function (by dotted qualname,
//! as `python/fastest_harness/deps.py` names its probes) and one for the module
//! skeleton (the file with every function body cut out: imports, constants, class
//! bodies, decorators and signatures). Comment text is left out of every hash (line
//! breaks are kept, so an edit that moves code to other lines still counts).

use ruff_python_ast::token::TokenKind;
use ruff_python_ast::Stmt;
use ruff_text_size::{Ranged, TextRange};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when block boundaries or hashing change; part of the cache key.
pub const BLOCKS_VERSION: u32 = 3;

/// The name of the module-level block (what runs at import).
pub const MODULE_BLOCK: &str = "<module>";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileBlocks {
    /// Hash of the skeleton; for a file that does not parse, of the whole file (every
    /// block then has this hash: any edit changes all of them).
    pub skeleton: [u8; 32],
    /// Function qualname → hash of its whole text (decorators included). Several
    /// definitions under one name hash together, in order.
    pub functions: BTreeMap<String, [u8; 32]>,
    pub parse_error: bool,
}

impl FileBlocks {
    /// The current hash of a block, `None` when the block no longer exists.
    pub fn block(&self, qualname: &str) -> Option<[u8; 32]> {
        if qualname == MODULE_BLOCK || self.parse_error {
            return Some(self.skeleton);
        }
        self.functions.get(qualname).copied()
    }
}

/// Splits `bytes` into blocks.
pub fn file_blocks(bytes: &[u8]) -> FileBlocks {
    let whole = || FileBlocks {
        skeleton: *blake3::hash(bytes).as_bytes(),
        functions: BTreeMap::new(),
        parse_error: true,
    };
    let Ok(source) = crate::parse::decode_source(bytes) else {
        return whole();
    };
    let Ok(parsed) = ruff_python_parser::parse_module(&source) else {
        return whole();
    };
    // A coding cookie (a comment on line 1 or 2) decides how the file decodes: it stays.
    let second_line_end = source
        .match_indices('\n')
        .nth(1)
        .map_or(source.len(), |(i, _)| i);
    let comments: Vec<TextRange> = parsed
        .tokens()
        .iter()
        .filter(|t| t.kind() == TokenKind::Comment)
        .map(|t| t.range())
        .filter(|r| {
            let text = &source[usize::from(r.start())..usize::from(r.end())];
            usize::from(r.start()) >= second_line_end
                || !(text.contains("coding:") || text.contains("coding="))
        })
        .collect();
    let mut walker = Walker {
        source: &source,
        comments: &comments,
        prefix: Vec::new(),
        functions: BTreeMap::new(),
        cuts: Vec::new(),
    };
    walker.body(&parsed.syntax().body, true);
    let mut skeleton = blake3::Hasher::new();
    let mut at = 0usize;
    walker.cuts.sort_by_key(|r| r.start());
    for cut in &walker.cuts {
        let (start, end) = (usize::from(cut.start()), usize::from(cut.end()));
        if start >= at {
            hash_without_comments(&mut skeleton, &source, at..start, &comments);
            skeleton.update(b"\0body\0");
            at = end;
        }
    }
    hash_without_comments(&mut skeleton, &source, at..source.len(), &comments);
    FileBlocks {
        skeleton: *skeleton.finalize().as_bytes(),
        functions: walker
            .functions
            .into_iter()
            .map(|(k, h)| (k, *h.finalize().as_bytes()))
            .collect(),
        parse_error: false,
    }
}

/// Feeds `source[range]` to `hasher` without the text of the comments in it (`comments`
/// sorted by position, as the tokens come).
fn hash_without_comments(
    hasher: &mut blake3::Hasher,
    source: &str,
    range: std::ops::Range<usize>,
    comments: &[TextRange],
) {
    let first = comments.partition_point(|c| usize::from(c.end()) <= range.start);
    let mut at = range.start;
    for comment in &comments[first..] {
        let (start, end) = (usize::from(comment.start()), usize::from(comment.end()));
        if start >= range.end {
            break;
        }
        // With the blanks that separate a trailing comment from the code.
        let before = &source[at..start.max(at)];
        hasher.update(before.trim_end_matches([' ', '\t']).as_bytes());
        at = end.min(range.end).max(at);
    }
    hasher.update(&source.as_bytes()[at..range.end.max(at)]);
}

struct Walker<'a> {
    source: &'a str,
    /// Comment tokens of the file, in order.
    comments: &'a [TextRange],
    prefix: Vec<String>,
    functions: BTreeMap<String, blake3::Hasher>,
    /// Function bodies not nested in another function: cut from the skeleton.
    cuts: Vec<TextRange>,
}

impl Walker<'_> {
    fn body(&mut self, stmts: &[Stmt], top: bool) {
        for stmt in stmts {
            self.stmt(stmt, top);
        }
    }

    fn stmt(&mut self, stmt: &Stmt, top: bool) {
        match stmt {
            Stmt::FunctionDef(f) => {
                self.prefix.push(f.name.to_string());
                let qual = self.prefix.join(".");
                let start = f
                    .decorator_list
                    .first()
                    .map(|d| d.start())
                    .unwrap_or(f.start())
                    .min(f.start());
                let range = usize::from(start)..usize::from(f.end());
                let h = self.functions.entry(qual).or_default();
                // One definition's end, so several under one name stay apart.
                hash_without_comments(h, self.source, range, self.comments);
                h.update(b"\0def\0");
                if top {
                    // From just after the header's `:`, so comments before the first
                    // statement belong to the body, not the skeleton.
                    let header = f
                        .returns
                        .as_ref()
                        .map(|r| r.end())
                        .unwrap_or(f.parameters.end());
                    let colon = self.source[usize::from(header)..]
                        .find(':')
                        .map(|i| header + ruff_text_size::TextSize::from(i as u32 + 1));
                    if let (Some(first), Some(colon)) = (f.body.first(), colon) {
                        self.cuts
                            .push(TextRange::new(colon.min(first.start()), f.end()));
                    }
                }
                self.body(&f.body, false);
                self.prefix.pop();
            }
            Stmt::ClassDef(c) => {
                self.prefix.push(c.name.to_string());
                self.body(&c.body, top);
                self.prefix.pop();
            }
            Stmt::If(i) => {
                self.body(&i.body, top);
                for clause in &i.elif_else_clauses {
                    self.body(&clause.body, top);
                }
            }
            Stmt::Try(t) => {
                self.body(&t.body, top);
                for h in &t.handlers {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(h) = h;
                    self.body(&h.body, top);
                }
                self.body(&t.orelse, top);
                self.body(&t.finalbody, top);
            }
            Stmt::With(w) => self.body(&w.body, top),
            Stmt::For(f) => {
                self.body(&f.body, top);
                self.body(&f.orelse, top);
            }
            Stmt::While(w) => {
                self.body(&w.body, top);
                self.body(&w.orelse, top);
            }
            Stmt::Match(m) => {
                for case in &m.cases {
                    self.body(&case.body, top);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "import os\nX = 1\n\ndef f():\n    return X\n\nclass C:\n    y = 2\n    @staticmethod\n    def m():\n        def inner():\n            pass\n        return inner\n";

    #[test]
    fn names_match_the_probes() {
        let b = file_blocks(SRC.as_bytes());
        let names: Vec<&str> = b.functions.keys().map(|s| s.as_str()).collect();
        assert_eq!(names, ["C.m", "C.m.inner", "f"]);
    }

    #[test]
    fn body_edit_changes_only_that_function() {
        let a = file_blocks(SRC.as_bytes());
        let b = file_blocks(SRC.replace("return X", "return X + 1").as_bytes());
        assert_ne!(a.block("f"), b.block("f"));
        assert_eq!(a.block("C.m"), b.block("C.m"));
        assert_eq!(a.block(MODULE_BLOCK), b.block(MODULE_BLOCK));
    }

    #[test]
    fn a_comment_at_the_top_of_a_body_is_part_of_the_body() {
        let a = file_blocks(SRC.as_bytes());
        let b = file_blocks(
            SRC.replace("def f():\n", "def f():\n    # note\n")
                .as_bytes(),
        );
        // A new line moves the body's code: the body changed, the skeleton did not.
        assert_ne!(a.block("f"), b.block("f"));
        assert_eq!(a.block(MODULE_BLOCK), b.block(MODULE_BLOCK));
    }

    #[test]
    fn editing_a_comment_changes_no_block_but_moving_code_does() {
        let src = "X = 1  # size\n\ndef f():\n    # why\n    return X  # tail\n";
        let a = file_blocks(src.as_bytes());
        let b = file_blocks(
            src.replace("# size", "# the size, in bytes")
                .replace("# why", "# because")
                .replace("# tail", "#")
                .as_bytes(),
        );
        assert_eq!(a.block("f"), b.block("f"));
        assert_eq!(a.block(MODULE_BLOCK), b.block(MODULE_BLOCK));
        // A comment line added above `f` moves it: the skeleton changes.
        let c = file_blocks(src.replace("\ndef f", "# new line\n\ndef f").as_bytes());
        assert_ne!(a.block(MODULE_BLOCK), c.block(MODULE_BLOCK));
        // The coding cookie is not just a comment.
        let latin = "# -*- coding: latin-1 -*-\nX = 1\n";
        assert_ne!(
            file_blocks(latin.as_bytes()).block(MODULE_BLOCK),
            file_blocks(latin.replace("latin-1", "utf-8").as_bytes()).block(MODULE_BLOCK)
        );
        // A `#` inside a string is not a comment.
        let d = file_blocks(src.replace("return X", "return '#' + str(X)").as_bytes());
        let e = file_blocks(src.replace("return X", "return '# ' + str(X)").as_bytes());
        assert_ne!(d.block("f"), e.block("f"));
    }

    #[test]
    fn constant_and_class_attribute_edits_change_the_skeleton() {
        let a = file_blocks(SRC.as_bytes());
        for edited in [SRC.replace("X = 1", "X = 2"), SRC.replace("y = 2", "y = 3")] {
            let b = file_blocks(edited.as_bytes());
            assert_ne!(a.block(MODULE_BLOCK), b.block(MODULE_BLOCK));
            assert_eq!(a.block("f"), b.block("f"));
        }
    }

    #[test]
    fn nested_edit_changes_the_outer_function_and_a_removed_function_is_gone() {
        let a = file_blocks(SRC.as_bytes());
        let b = file_blocks(
            SRC.replace("            pass", "            return 1")
                .as_bytes(),
        );
        assert_ne!(a.block("C.m"), b.block("C.m"));
        assert_ne!(a.block("C.m.inner"), b.block("C.m.inner"));
        assert_eq!(a.block(MODULE_BLOCK), b.block(MODULE_BLOCK));
        let c = file_blocks(SRC.replace("def f():\n    return X\n", "").as_bytes());
        assert_eq!(c.block("f"), None);
    }

    #[test]
    fn unparsable_file_changes_everything_on_any_edit() {
        let a = file_blocks(b"def f(:\n");
        let b = file_blocks(b"def f(: \n");
        assert!(a.parse_error);
        assert_ne!(a.block("f"), b.block("f"));
    }
}
