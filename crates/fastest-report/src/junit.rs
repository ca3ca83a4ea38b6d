//! `--junitxml`: the xunit2 XML pytest writes, one `<testcase>` per test.

use fastest_protocol::{CollectionSkip, Outcome, PhaseReport, When};

/// pytest's `mangle_test_address` → (classname, name).
pub fn junit_names(nodeid: &str) -> (String, String) {
    let (path, params) = match nodeid.find('[') {
        Some(i) => (&nodeid[..i], &nodeid[i..]),
        None => (nodeid, ""),
    };
    let mut names: Vec<String> = path.split("::").map(str::to_string).collect();
    let file = names[0].replace('/', ".");
    names[0] = file.strip_suffix(".py").map(str::to_string).unwrap_or(file);
    let last = names.len() - 1;
    names[last].push_str(params);
    let name = names.pop().expect("non-empty");
    (names.join("."), name)
}

/// Python's `repr()` of a str (pytest writes a collection skip's longrepr tuple as is).
fn py_str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 forbids most control characters; pytest writes them as #xNN.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("#x{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Renders the document for `tests` (each: node id and its phase reports, in order).
pub fn render(
    tests: &[(String, Vec<PhaseReport>)],
    collect_errors: &[fastest_protocol::CollectionErrorReport],
    collect_skips: &[CollectionSkip],
    seconds: f64,
    timestamp: &str,
    hostname: &str,
) -> String {
    let (mut failures, mut errors, mut skipped) = (0, 0, 0);
    let mut cases = String::new();
    for e in collect_errors {
        let (nodeid, name) = (&e.nodeid, &e.longrepr);
        let (classname, n) = junit_names(nodeid);
        errors += 1;
        cases.push_str(&format!(
            "<testcase classname=\"{}\" name=\"{}\" time=\"0.000\"><error message=\"collection failure\">{}</error></testcase>",
            escape(&classname),
            escape(&n),
            escape(name)
        ));
    }
    for skip in collect_skips {
        let (classname, n) = junit_names(&skip.nodeid);
        skipped += 1;
        let (path, line, reason) = &skip.skip;
        cases.push_str(&format!(
            "<testcase classname=\"{}\" name=\"{}\" time=\"0.000\"><skipped message=\"collection skipped\">{}</skipped></testcase>",
            escape(&classname),
            escape(&n),
            escape(&format!("({}, {line}, {})", py_str_repr(path), py_str_repr(reason)))
        ));
    }
    for (nodeid, reports) in tests {
        let (classname, name) = junit_names(nodeid);
        let time: f64 = reports.iter().map(|r| r.duration).sum();
        let mut body = String::new();
        for r in reports {
            match (r.outcome, r.when) {
                (Outcome::Failed, When::Call) => {
                    failures += 1;
                    body.push_str(&format!(
                        "<failure message=\"{}\">{}</failure>",
                        escape(&r.message),
                        escape(r.longrepr.trim())
                    ));
                }
                (Outcome::Failed, when) => {
                    errors += 1;
                    let phase = if when == When::Setup {
                        "setup"
                    } else {
                        "teardown"
                    };
                    body.push_str(&format!(
                        "<error message=\"failed on {phase} with &quot;{}&quot;\">{}</error>",
                        escape(&r.message),
                        escape(r.longrepr.trim())
                    ));
                }
                (Outcome::Skipped, _) => {
                    skipped += 1;
                    if let Some(reason) = &r.wasxfail {
                        body.push_str(&format!(
                            "<skipped type=\"pytest.xfail\" message=\"{}\" />",
                            escape(reason)
                        ));
                    } else {
                        let (path, line, reason) = r.skip.clone().unwrap_or_default();
                        let reason = reason.strip_prefix("Skipped: ").unwrap_or(&reason);
                        body.push_str(&format!(
                            "<skipped type=\"pytest.skip\" message=\"{}\">{}:{}: {}</skipped>",
                            escape(reason),
                            escape(&path),
                            line,
                            escape(reason)
                        ));
                    }
                }
                _ => {}
            }
        }
        if body.is_empty() {
            cases.push_str(&format!(
                "<testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\" />",
                escape(&classname),
                escape(&name)
            ));
        } else {
            cases.push_str(&format!(
                "<testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\">{body}</testcase>",
                escape(&classname),
                escape(&name)
            ));
        }
    }
    let total = tests.len() + collect_errors.len() + collect_skips.len();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites name=\"pytest tests\"><testsuite name=\"pytest\" errors=\"{errors}\" failures=\"{failures}\" skipped=\"{skipped}\" tests=\"{total}\" time=\"{seconds:.3}\" timestamp=\"{timestamp}\" hostname=\"{}\">{cases}</testsuite></testsuites>",
        escape(hostname)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_pytest_mangling() {
        assert_eq!(
            junit_names("tests/test_a.py::TestX::test_y[a/b::c]"),
            ("tests.test_a.TestX".into(), "test_y[a/b::c]".into())
        );
        assert_eq!(junit_names("t.py::f"), ("t".into(), "f".into()));
    }

    #[test]
    fn failures_and_skips_are_typed_and_escaped() {
        let fail = PhaseReport {
            nodeid: "t.py::f".into(),
            when: When::Call,
            outcome: Outcome::Failed,
            longrepr: "E   assert '<' == 1".into(),
            message: "assert '<' == 1".into(),
            skip: None,
            wasxfail: None,
            sections: vec![],
            duration: 0.25,
            location: None,
            cached: false,
            status: None,
            progress_captured: false,
        };
        let skip = PhaseReport {
            nodeid: "t.py::g".into(),
            when: When::Setup,
            outcome: Outcome::Skipped,
            skip: Some(("t.py".into(), 3, "Skipped: nope".into())),
            longrepr: String::new(),
            message: String::new(),
            ..fail.clone()
        };
        let xml = render(
            &[
                ("t.py::f".into(), vec![fail]),
                ("t.py::g".into(), vec![skip]),
            ],
            &[],
            &[],
            1.0,
            "2026-01-01T00:00:00",
            "h",
        );
        assert!(xml.contains("failures=\"1\" skipped=\"1\" tests=\"2\""));
        assert!(xml
            .contains("<failure message=\"assert '&lt;' == 1\">E   assert '&lt;' == 1</failure>"));
        assert!(
            xml.contains("<skipped type=\"pytest.skip\" message=\"nope\">t.py:3: nope</skipped>")
        );
    }

    #[test]
    fn a_module_skipped_at_import_is_one_testcase_as_pytest_writes_it() {
        let skip = CollectionSkip {
            nodeid: "tests/test_bench.py".into(),
            skip: (
                "/src/tests/test_bench.py".into(),
                16,
                "Skipped: pytest-benchmark isn't installed".into(),
            ),
        };
        let xml = render(&[], &[], &[skip], 1.0, "2026-01-01T00:00:00", "h");
        assert!(xml.contains("skipped=\"1\" tests=\"1\""), "{xml}");
        assert!(
            xml.contains("<testcase classname=\"\" name=\"tests.test_bench\" time=\"0.000\"><skipped message=\"collection skipped\">('/src/tests/test_bench.py', 16, &quot;Skipped: pytest-benchmark isn't installed&quot;)</skipped></testcase>"),
            "{xml}"
        );
    }
}
