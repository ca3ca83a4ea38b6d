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

/// Text content as ElementTree writes it (`_escape_cdata`): `&`, `<`, `>` only; the
/// control characters XML 1.0 forbids as pytest's `bin_xml_escape` writes them.
fn escape(text: &str) -> String {
    escape_as(text, false)
}

/// An attribute value as ElementTree writes it (`_escape_attrib`): also `"`, and
/// newlines, carriage returns and tabs as character references (a parser would read
/// them raw as spaces).
fn escape_attr(text: &str) -> String {
    escape_as(text, true)
}

fn escape_as(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#09;"),
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
            escape_attr(&classname),
            escape_attr(&n),
            escape(name)
        ));
    }
    for skip in collect_skips {
        let (classname, n) = junit_names(&skip.nodeid);
        skipped += 1;
        let (path, line, reason) = &skip.skip;
        cases.push_str(&format!(
            "<testcase classname=\"{}\" name=\"{}\" time=\"0.000\"><skipped message=\"collection skipped\">{}</skipped></testcase>",
            escape_attr(&classname),
            escape_attr(&n),
            escape(&format!("({}, {line}, {})", py_str_repr(path), py_str_repr(reason)))
        ));
    }
    for (nodeid, reports) in tests {
        let (classname, name) = junit_names(nodeid);
        let time: f64 = reports.iter().map(|r| r.duration).sum();
        let mut body = String::new();
        // pytest adds `user_properties` when the teardown report is logged; they come
        // first in the testcase.
        let properties: Vec<&(String, String)> = reports
            .iter()
            .filter(|r| r.when == When::Teardown)
            .flat_map(|r| &r.user_properties)
            .collect();
        if !properties.is_empty() {
            body.push_str("<properties>");
            for (name, value) in properties {
                body.push_str(&format!(
                    "<property name=\"{}\" value=\"{}\" />",
                    escape_attr(name),
                    escape_attr(value)
                ));
            }
            body.push_str("</properties>");
        }
        for r in reports {
            match (r.outcome, r.when) {
                (Outcome::Failed, When::Call) => {
                    failures += 1;
                    body.push_str(&format!(
                        "<failure message=\"{}\">{}</failure>",
                        escape_attr(&r.message),
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
                        escape_attr(&r.message),
                        escape(r.longrepr.trim())
                    ));
                }
                (Outcome::Skipped, _) => {
                    skipped += 1;
                    if let Some(reason) = &r.wasxfail {
                        body.push_str(&format!(
                            "<skipped type=\"pytest.xfail\" message=\"{}\" />",
                            escape_attr(reason)
                        ));
                    } else {
                        let (path, line, reason) = r.skip.clone().unwrap_or_default();
                        let reason = reason.strip_prefix("Skipped: ").unwrap_or(&reason);
                        body.push_str(&format!(
                            "<skipped type=\"pytest.skip\" message=\"{}\">{}:{}: {}</skipped>",
                            escape_attr(reason),
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
                escape_attr(&classname),
                escape_attr(&name)
            ));
        } else {
            cases.push_str(&format!(
                "<testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\">{body}</testcase>",
                escape_attr(&classname),
                escape_attr(&name)
            ));
        }
    }
    let total = tests.len() + collect_errors.len() + collect_skips.len();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites name=\"pytest tests\"><testsuite name=\"pytest\" errors=\"{errors}\" failures=\"{failures}\" skipped=\"{skipped}\" tests=\"{total}\" time=\"{seconds:.3}\" timestamp=\"{timestamp}\" hostname=\"{}\">{cases}</testsuite></testsuites>",
        escape_attr(hostname)
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
            user_properties: Vec::new(),
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
            xml.contains("<testcase classname=\"\" name=\"tests.test_bench\" time=\"0.000\"><skipped message=\"collection skipped\">('/src/tests/test_bench.py', 16, \"Skipped: pytest-benchmark isn't installed\")</skipped></testcase>"),
            "{xml}"
        );
    }
}
