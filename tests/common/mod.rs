//! Helpers shared by the integration tests (`mod common;`): the repository root, the
//! reference interpreter, copying fixture projects, reading JUnit outcomes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference interpreter: `$FASTEST_TEST_PYTHON`, default `.venv-test/bin/python`
/// (created by `bash scripts/test.sh`).
pub fn python() -> PathBuf {
    let p = std::env::var_os("FASTEST_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-test/bin/python"));
    let p = if p.is_relative() && p.components().count() > 1 {
        repo_root().join(p)
    } else {
        p
    };
    assert!(
        p.components().count() == 1 || p.exists(),
        "reference interpreter {} missing: run `bash scripts/test.sh`",
        p.display()
    );
    p
}

/// Copies a fixture project; `skip` names directories left out (besides `__pycache__`).
pub fn copy_dir(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name != "__pycache__" && !skip.contains(&name.as_ref()) {
                copy_dir(&e.path(), &dest, skip);
            }
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `classname::name` → outcome (`passed`, `failed`, `error`, `skipped`, `xfailed`, joined
/// with `+` when a test has several) of every test case in a JUnit XML file.
pub fn junit_outcomes(path: &Path) -> BTreeMap<String, String> {
    let xml =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for case in xml.split("<testcase").skip(1) {
        let attr = |name: &str| -> String {
            let key = format!(" {name}=\"");
            let start = case.find(&key).expect("attribute present") + key.len();
            case[start..start + case[start..].find('"').unwrap()].to_string()
        };
        let key = format!("{}::{}", attr("classname"), attr("name"));
        let body = case.split("</testcase>").next().unwrap_or("");
        let outcome = if body.contains("<failure") {
            "failed"
        } else if body.contains("<error") {
            "error"
        } else if body.contains("type=\"pytest.xfail\"") {
            "xfailed"
        } else if body.contains("<skipped") {
            "skipped"
        } else {
            "passed"
        };
        out.entry(key).or_default().push(outcome);
    }
    out.into_iter()
        .map(|(k, mut v)| {
            v.sort();
            v.dedup();
            (k, v.join("+"))
        })
        .collect()
}

/// A terminal report from its `collected` line on, without what differs between two runs
/// of the same tests: the run time of `=`-framed summary lines and the JUnit file's name.
pub fn report_from_collected(report: &str) -> String {
    let start = report.find("collected").expect("a collected line");
    report[start..]
        .lines()
        .filter(|l| !l.contains("generated xml file"))
        .map(|l| match (l.starts_with('='), l.rfind(" in ")) {
            (true, Some(i)) => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
