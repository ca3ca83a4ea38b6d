//! pytest's `--collect-only` tree (`_printcollecteditems` at verbosity 0 and above): each
//! item under the chain of collectors above it, a collector printed once for the run of
//! items it holds.

use std::sync::Arc;

/// Where one item sits in the tree: `str()` of each collector above it (outermost first,
/// the session left out) and the item's own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeItem {
    pub parents: Arc<[String]>,
    pub own: String,
}

/// pytest's `node.name` as the node id spells it: the last `::` part before any
/// parameter id (which may itself hold `::`) with that id, or for a node id without `::`
/// the file name.
pub fn node_name(nodeid: &str) -> &str {
    let Some((_, rest)) = nodeid.split_once("::") else {
        return nodeid.rsplit('/').next().unwrap_or(nodeid);
    };
    let head_end = rest.find('[').unwrap_or(rest.len());
    let start = rest[..head_end].rfind("::").map_or(0, |i| i + 2);
    &rest[start..]
}

/// `str(item)` of an item of type `kind`: pytest's `Node.__repr__`.
pub fn item_line(kind: &str, nodeid: &str) -> String {
    format!("<{kind} {}>", node_name(nodeid))
}

/// The tree lines (two spaces of indent per level). Collectors are compared by their
/// line where pytest compares node objects: two collectors that print alike and follow
/// each other are one here (pytest makes one node per path and name, so they are one
/// there too).
pub fn render(items: &[TreeItem]) -> String {
    let mut out = String::new();
    let mut stack: Vec<&str> = Vec::new();
    for item in items {
        let needed = &item.parents;
        while !stack.is_empty()
            && (stack.len() > needed.len()
                || stack
                    .iter()
                    .zip(needed.iter())
                    .any(|(a, b)| *a != b.as_str()))
        {
            stack.pop();
        }
        for col in &needed[stack.len()..] {
            push_line(&mut out, stack.len(), col);
            stack.push(col);
        }
        push_line(&mut out, stack.len(), &item.own);
    }
    out
}

/// A node's line, then the lines of its docstring (after `\n`s in `text`) one level
/// deeper, as pytest prints them with `-v`.
fn push_line(out: &mut String, depth: usize, text: &str) {
    for (i, line) in text.split('\n').enumerate() {
        for _ in 0..depth + usize::from(i > 0) {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
}

/// `text` followed by the lines of `doc` (split as Python's `str.splitlines`), each
/// after a `\n`: how a tree entry carries the docstring printed under it.
pub fn with_doc(text: &str, doc: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(doc) = doc.filter(|d| !d.is_empty()) {
        for line in python_splitlines(doc) {
            out.push('\n');
            out.push_str(line);
        }
    }
    out
}

/// Python's `str.splitlines()`.
fn python_splitlines(text: &str) -> Vec<&str> {
    let is_break = |c: char| {
        matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    };
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_break(c) {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = chars.peek() {
                    chars.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(parents: &[&str], own: &str) -> TreeItem {
        TreeItem {
            parents: parents.iter().map(|s| s.to_string()).collect(),
            own: own.to_string(),
        }
    }

    #[test]
    fn collectors_print_once_per_run_of_items() {
        let items = [
            item(
                &["<Dir demo>", "<Dir tests>", "<Module test_a.py>"],
                "<Function test_x>",
            ),
            item(
                &[
                    "<Dir demo>",
                    "<Dir tests>",
                    "<Module test_a.py>",
                    "<Class TestA>",
                ],
                "<Function test_m[1]>",
            ),
            item(
                &[
                    "<Dir demo>",
                    "<Dir tests>",
                    "<Module test_a.py>",
                    "<Class TestA>",
                ],
                "<Function test_m[2]>",
            ),
            item(
                &["<Dir demo>", "<Dir tests>", "<Module test_a.py>"],
                "<Function test_y>",
            ),
            item(
                &["<Dir demo>", "<Package pkg>", "<Module test_b.py>"],
                "<Function test_z>",
            ),
        ];
        insta::assert_snapshot!(render(&items), @r"
        <Dir demo>
          <Dir tests>
            <Module test_a.py>
              <Function test_x>
              <Class TestA>
                <Function test_m[1]>
                <Function test_m[2]>
              <Function test_y>
          <Package pkg>
            <Module test_b.py>
              <Function test_z>
        ");
    }

    #[test]
    fn docstrings_print_one_level_below_their_node() {
        let items = [item(
            &[
                "<Dir demo>",
                &with_doc("<Module test_a.py>", Some("Module doc.")),
            ],
            &with_doc("<Function test_x>", Some("First.\n\nMore.")),
        )];
        insta::assert_snapshot!(render(&items), @r"
        <Dir demo>
          <Module test_a.py>
            Module doc.
            <Function test_x>
              First.
              
              More.
        ");
        assert_eq!(python_splitlines("a\r\nb\x0cc\n"), ["a", "b", "c"]);
        assert_eq!(with_doc("<Class A>", Some("")), "<Class A>");
    }

    #[test]
    fn names_come_from_the_node_id() {
        assert_eq!(
            node_name("t/test_a.py::TestA::test_m[a::b]"),
            "test_m[a::b]"
        );
        assert_eq!(node_name("t/test_a.py::TestA::test_m"), "test_m");
        assert_eq!(
            item_line("Function", "t/test_a.py::test_m[1]"),
            "<Function test_m[1]>"
        );
        assert_eq!(node_name("t/data.case"), "data.case");
    }
}
