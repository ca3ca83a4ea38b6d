//! The collectors pytest puts above a statically collected item, as `--collect-only`
//! prints them: the rootdir and each directory (`Package` when it holds `__init__.py`,
//! else `Dir`), the file (`Module`, `DoctestModule`, `DoctestTextfile`) and its classes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::link::{ItemKind, StaticItem};

/// Builds collector chains for the items of one run, remembering which directories are
/// packages.
pub struct StaticTree {
    rootdir: PathBuf,
    packages: HashMap<PathBuf, bool>,
}

impl StaticTree {
    pub fn new(rootdir: &Path) -> Self {
        StaticTree {
            rootdir: rootdir.to_path_buf(),
            packages: HashMap::new(),
        }
    }

    fn directory(&mut self, dir: &Path) -> String {
        let package = *self
            .packages
            .entry(dir.to_path_buf())
            .or_insert_with(|| dir.join("__init__.py").is_file());
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = if package { "Package" } else { "Dir" };
        format!("<{kind} {name}>")
    }

    /// `str()` of each collector above `item` (outermost first) and the item's node type.
    pub fn chain(&mut self, item: &StaticItem) -> (Vec<String>, &'static str) {
        let (file, rest) = item
            .nodeid
            .split_once("::")
            .unwrap_or((item.nodeid.as_str(), ""));
        let mut chain = Vec::new();
        let root = self.rootdir.clone();
        chain.push(self.directory(&root));
        let components: Vec<&str> = file.split('/').collect();
        let mut dir = root;
        for part in &components[..components.len() - 1] {
            dir.push(part);
            chain.push(self.directory(&dir));
        }
        let file_name = components[components.len() - 1];
        let (file_kind, own) = match item.kind {
            ItemKind::Doctest if file_name.ends_with(".py") => ("DoctestModule", "DoctestItem"),
            ItemKind::Doctest => ("DoctestTextfile", "DoctestItem"),
            ItemKind::Function => ("Module", "Function"),
            ItemKind::TestCaseFunction => ("Module", "TestCaseFunction"),
        };
        chain.push(format!("<{file_kind} {file_name}>"));
        if item.kind != ItemKind::Doctest {
            // Classes: the parts between the file and the function (a parameter id may
            // hold `::` itself).
            let head = &rest[..rest.find('[').unwrap_or(rest.len())];
            let classes: Vec<&str> = head.split("::").collect();
            let n = classes.len().saturating_sub(1);
            for (i, class) in classes[..n].iter().enumerate() {
                let kind = if i + 1 == n && item.kind == ItemKind::TestCaseFunction {
                    "UnitTestCase"
                } else {
                    "Class"
                };
                chain.push(format!("<{kind} {class}>"));
            }
        }
        (chain, own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_name_directories_files_and_classes_as_pytest() {
        let root = tempfile::tempdir().unwrap();
        let proj = root.path().join("proj");
        std::fs::create_dir_all(proj.join("tests/pkg")).unwrap();
        std::fs::write(proj.join("tests/pkg/__init__.py"), "").unwrap();
        let mut tree = StaticTree::new(&proj);
        let item = |nodeid: &str, kind| StaticItem {
            kind,
            ..StaticItem::plain(nodeid.to_string())
        };
        assert_eq!(
            tree.chain(&item(
                "tests/pkg/test_a.py::TestA::Inner::test_m[x::y]",
                ItemKind::Function
            )),
            (
                vec![
                    "<Dir proj>".to_string(),
                    "<Dir tests>".into(),
                    "<Package pkg>".into(),
                    "<Module test_a.py>".into(),
                    "<Class TestA>".into(),
                    "<Class Inner>".into(),
                ],
                "Function"
            )
        );
        assert_eq!(
            tree.chain(&item(
                "tests/pkg/test_a.py::TestU::test_u",
                ItemKind::TestCaseFunction
            ))
            .0
            .last()
            .unwrap(),
            "<UnitTestCase TestU>"
        );
        assert_eq!(
            tree.chain(&item(
                "tests/pkg/test_a.py::pkg.test_a.helper",
                ItemKind::Doctest
            )),
            (
                vec![
                    "<Dir proj>".to_string(),
                    "<Dir tests>".into(),
                    "<Package pkg>".into(),
                    "<DoctestModule test_a.py>".into(),
                ],
                "DoctestItem"
            )
        );
        assert_eq!(
            tree.chain(&item("README.txt::README.txt", ItemKind::Doctest))
                .0,
            vec![
                "<Dir proj>".to_string(),
                "<DoctestTextfile README.txt>".into()
            ]
        );
    }
}
