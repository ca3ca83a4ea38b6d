//! Integration tests for third-party plugins a pytest user passes options to: pytest-html's
//! `--html` report (written once from every test's report, also with `-n 2` and from the
//! cache), a Django app's suite through pytest-django's `--ds`, and pytest-timeout's
//! `--timeout` with its `timeout` marks, compared with real pytest running the same plugins.
//!
//! The plugins come from `$FASTEST_TEST_PLUGINS_SITE` (default `.venv-test/plugins-site`,
//! installed by `bash scripts/test.sh`), put on `PYTHONPATH` for both pytest and fastest.

mod common;

use common::{copy_dir, junit_outcomes, python, repo_root, report_from_collected};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A directory of packages `scripts/test.sh` installs apart (`$ENV`, else `default` under
/// the repository), checked to hold `entries`: put on PYTHONPATH only by the tests that
/// need those plugins.
fn installed_site(env: &str, default: &str, entries: &[&str]) -> PathBuf {
    let site = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(default));
    for entry in entries {
        assert!(
            site.join(entry).exists(),
            "{entry} missing under {}: run `bash scripts/test.sh` once",
            site.display()
        );
    }
    site
}

fn plugins_site() -> PathBuf {
    installed_site(
        "FASTEST_TEST_PLUGINS_SITE",
        ".venv-test/plugins-site",
        &["pytest_html", "pytest_django"],
    )
}

fn project(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("tests/run_fixtures").join(name),
        dir.path(),
        &[".fastest_cache"],
    );
    dir
}

/// pytest-mock alone (`scripts/test.sh` installs it apart from the other plugins, which
/// would make the runs pick the pytest engine).
fn mock_site() -> PathBuf {
    installed_site(
        "FASTEST_TEST_MOCK_SITE",
        ".venv-test/mock-site",
        &["pytest_mock"],
    )
}

/// pytest with `args` in `dir`, `site` on PYTHONPATH.
fn pytest_with_site(dir: &Path, site: &Path, args: &[&str]) -> Output {
    run_with_site(
        Command::new(python())
            .current_dir(dir)
            .args(["-m", "pytest", "-p", "no:cacheprovider"])
            .args(args),
        site,
    )
}

/// fastest with `args` in `dir`, `site` on PYTHONPATH.
fn fastest_with_site(dir: &Path, site: &Path, args: &[&str]) -> Output {
    run_with_site(
        Command::new(env!("CARGO_BIN_EXE_fastest"))
            .current_dir(dir)
            .arg("--python")
            .arg(python())
            .args(args),
        site,
    )
}

fn run_with_site(cmd: &mut Command, site: &Path) -> Output {
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1")
        .env("PYTHONPATH", site)
        .env_remove("PYTEST_ADDOPTS")
        .stdin(Stdio::null())
        .output()
        .expect("process starts")
}

/// fastest with the plugins site (pytest-html, pytest-django, ...) on PYTHONPATH.
fn fastest(dir: &Path, args: &[&str]) -> Output {
    fastest_with_site(dir, &plugins_site(), args)
}

/// pytest with the plugins site on PYTHONPATH.
fn pytest(dir: &Path, args: &[&str]) -> Output {
    pytest_with_site(dir, &plugins_site(), args)
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The results table of a pytest-html report: test id → results (its JSON data blob).
fn html_results(path: &Path) -> BTreeMap<String, Vec<String>> {
    let page =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let start = page.find("data-jsonblob=\"").expect("a data blob") + "data-jsonblob=\"".len();
    let end = start + page[start..].find('"').expect("end of the blob");
    let blob = unescape(&page[start..end]);
    let data: serde_json::Value = serde_json::from_str(&blob).expect("the blob is JSON");
    data["tests"]
        .as_object()
        .expect("a tests table")
        .iter()
        .map(|(id, rows)| {
            let results = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["result"].as_str().unwrap().to_string())
                .collect();
            (id.clone(), results)
        })
        .collect()
}

/// HTML character references: named (`&quot;`) and numeric (`&#34;`, `&#x27;`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "quot" => Some('"'),
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn generated_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.contains("Generated html report"))
        .unwrap_or_else(|| panic!("no 'Generated html report' line\n{}", text(o)))
        .to_string()
}

#[test]
fn html_report_lists_every_test_as_pytest_html_does() {
    let dir = project("html_report");
    let reference = pytest(
        dir.path(),
        &["--html=ref/report.html", "--self-contained-html"],
    );
    let expected = html_results(&dir.path().join("ref/report.html"));
    assert_eq!(expected.len(), 9, "{}", text(&reference));
    let uri = format!("file://{}", dir.path().join("ours/report.html").display());
    for (args, label) in [
        (&["-n", "2"][..], "two workers"),
        (&["-n", "2"][..], "second run, passes from the cache"),
        (&["--engine", "native", "--no-cache"][..], "native engine"),
        (&["--engine", "pytest", "--no-cache"][..], "pytest engine"),
    ] {
        let _ = std::fs::remove_dir_all(dir.path().join("ours"));
        let mut all = vec!["--html", "ours/report.html", "--self-contained-html"];
        all.extend_from_slice(args);
        let ours = fastest(dir.path(), &all);
        assert_eq!(
            html_results(&dir.path().join("ours/report.html")),
            expected,
            "{label}\n{}",
            text(&ours)
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{label}");
        let line = generated_line(&ours);
        assert!(line.contains(&uri), "{label}: {line}");
        if label.starts_with("second run") {
            assert!(text(&ours).contains("5 cached"), "{}", text(&ours));
        }
    }
}

#[test]
fn django_app_suite_matches_pytest_django() {
    let dir = project("django_app");
    let reference = pytest(dir.path(), &["--ds=mysite.settings", "--junitxml=ref.xml"]);
    let expected = junit_outcomes(&dir.path().join("ref.xml"));
    assert_eq!(expected.len(), 11, "{}", text(&reference));
    for args in [
        &["--ds=mysite.settings", "-n", "2"][..],
        &["--ds", "mysite.settings", "-n", "1", "--engine", "pytest"],
    ] {
        let mut all = vec!["--junitxml=ours.xml", "--no-cache"];
        all.extend_from_slice(args);
        let ours = fastest(dir.path(), &all);
        assert_eq!(
            junit_outcomes(&dir.path().join("ours.xml")),
            expected,
            "{args:?}\n{}",
            text(&ours)
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
        assert!(
            text(&ours).contains("engine: pytest"),
            "pytest-django's fixtures need the pytest engine\n{}",
            text(&ours)
        );
    }
}

#[test]
fn pytest_timeout_times_tests_out_with_its_marks() {
    let dir = project("timeouts");
    let reference = pytest(dir.path(), &["--timeout=1", "--junitxml=ref.xml"]);
    let expected = junit_outcomes(&dir.path().join("ref.xml"));
    assert_eq!(expected.len(), 6, "{}", text(&reference));
    let ours = fastest(
        dir.path(),
        &[
            "--timeout",
            "1",
            "-n",
            "2",
            "--junitxml=ours.xml",
            "--no-cache",
        ],
    );
    assert_eq!(
        junit_outcomes(&dir.path().join("ours.xml")),
        expected,
        "{}",
        text(&ours)
    );
    assert_eq!(ours.status.code(), reference.status.code());
    let out = text(&ours);
    assert!(out.contains("Timeout (>1.0s) from pytest-timeout"), "{out}");
    // The marked file stays with pytest-timeout; the unmarked one may run natively.
    assert!(
        out.contains("(auto: pytest-timeout's timeout mark on test_marked_with_a_longer_limit)"),
        "{out}"
    );
}

#[test]
fn pytest_mock_fixtures_run_natively_with_pytest_mocks_outcomes() {
    let dir = project("mock_plugin");
    let site = mock_site();
    let reference = pytest_with_site(dir.path(), &site, &["--junitxml=ref.xml"]);
    let expected = junit_outcomes(&dir.path().join("ref.xml"));
    assert_eq!(expected.len(), 11, "{}", text(&reference));
    for workers in ["1", "2"] {
        let ours = fastest_with_site(
            dir.path(),
            &site,
            &["--no-cache", "-n", workers, "--junitxml=ours.xml"],
        );
        let out = text(&ours);
        assert!(
            out.contains("engine: native (auto)"),
            "pytest-mock alone keeps the native engine:\n{out}"
        );
        assert_eq!(
            junit_outcomes(&dir.path().join("ours.xml")),
            expected,
            "-n {workers}\n{out}"
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{out}");
        // pytest-mock's wrapped assert_called_* failure, as under pytest.
        assert!(out.contains("pytest introspection follows"), "{out}");
    }
}

/// Hypothesis alone (`scripts/test.sh` installs it apart from the other plugins).
fn hypothesis_site() -> PathBuf {
    installed_site(
        "FASTEST_TEST_HYPOTHESIS_SITE",
        ".venv-test/hypothesis-site",
        &["hypothesis", "_hypothesis_pytestplugin.py"],
    )
}

/// Hypothesis's pytest plugin changes outcomes (a `@given` test taking a function-scoped
/// fixture fails a health check; parametrized `@given` methods pass only because the
/// plugin suppresses another), marks tests, and words failures: the native engine
/// reproduces it, test by test against pytest with the same Hypothesis.
#[test]
fn hypothesis_tests_run_natively_with_the_plugins_outcomes() {
    let dir = project("hypothesis_plugin");
    let site = hypothesis_site();
    let pytest_run = |args: &[&str]| pytest_with_site(dir.path(), &site, args);
    let fastest_run = |args: &[&str]| {
        let args: Vec<&str> = std::iter::once("--no-cache")
            .chain(args.iter().copied())
            .collect();
        fastest_with_site(dir.path(), &site, &args)
    };
    let reference = pytest_run(&["--junitxml=ref.xml"]);
    let expected = junit_outcomes(&dir.path().join("ref.xml"));
    assert_eq!(expected.len(), 16, "{}", text(&reference));
    for workers in ["1", "2"] {
        let ours = fastest_run(&["-n", workers, "--junitxml=ours.xml"]);
        let out = text(&ours);
        assert!(
            out.contains("engine: native (auto)"),
            "Hypothesis keeps the native engine:\n{out}"
        );
        assert_eq!(
            junit_outcomes(&dir.path().join("ours.xml")),
            expected,
            "-n {workers}\n{out}"
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{out}");
        // The health check's failure shows no harness frame, as pytest shows none of its own.
        assert!(
            out.contains("uses a function-scoped fixture 'per_test'")
                && out.contains("All traceback entries are hidden"),
            "{out}"
        );
    }
    // The plugin's `hypothesis` mark selects the same tests.
    let ids = |o: &Output| {
        let mut ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("::"))
            .map(str::to_string)
            .collect();
        ids.sort();
        ids
    };
    let selection = ["--co", "-q", "-m", "not hypothesis"];
    let theirs = ids(&pytest_run(&selection));
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    assert_eq!(ids(&fastest_run(&selection)), theirs);
    // With one of the plugin's options the plugin itself runs: the pytest engine.
    let seeded = fastest_run(&["--hypothesis-seed=1", "--junitxml=seeded.xml"]);
    assert!(
        text(&seeded).contains("engine: pytest (auto: plugins installed: hypothesis)"),
        "{}",
        text(&seeded)
    );
    assert_eq!(junit_outcomes(&dir.path().join("seeded.xml")), expected);
}

/// pytest-asyncio alone (`scripts/test.sh` installs it apart from the other plugins).
fn asyncio_site() -> PathBuf {
    installed_site(
        "FASTEST_TEST_ASYNCIO_SITE",
        ".venv-test/asyncio-site",
        &["pytest_asyncio"],
    )
}

/// `--collect-only`'s tree names the item types pytest-asyncio gives async tests
/// (`<Coroutine ...>`: every async test in auto mode, those marked `asyncio` in strict
/// mode), as pytest prints it.
#[test]
fn collect_only_tree_shows_pytest_asyncios_item_types() {
    let dir = project("asyncio_plugin");
    let site = asyncio_site();
    for mode in ["strict", "auto"] {
        let mode_arg = format!("asyncio_mode={mode}");
        let args = ["--collect-only", "-o", &mode_arg];
        // The count line and the tree (pytest's warnings summary after it, for the
        // async generator test, is a known difference of `--collect-only`).
        let tree = |o: &Output| {
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let lines: Vec<&str> = out
                .lines()
                .skip_while(|l| !l.starts_with("collect"))
                .collect();
            let end = lines
                .iter()
                .skip(2)
                .position(|l| l.is_empty() || l.starts_with('='))
                .map_or(lines.len(), |i| i + 2);
            lines[..end].join("\n")
        };
        let reference = tree(&pytest_with_site(dir.path(), &site, &args));
        let ours = tree(&fastest_with_site(dir.path(), &site, &args));
        assert!(reference.contains("<Coroutine "), "{mode}: {reference}");
        assert_eq!(ours, reference, "{mode}");
    }
}

/// pytest-asyncio's semantics natively (strict and auto mode, loop scopes, async fixtures
/// and their teardown, context variables, async generator tests, the sync-test warning),
/// test by test against pytest with the same pytest-asyncio.
#[test]
fn asyncio_tests_run_natively_with_pytest_asyncios_outcomes() {
    let dir = project("asyncio_plugin");
    let site = asyncio_site();
    for (mode, failed) in [("strict", 3), ("auto", 2)] {
        let mode_arg = format!("asyncio_mode={mode}");
        let reference =
            pytest_with_site(dir.path(), &site, &["-o", &mode_arg, "--junitxml=ref.xml"]);
        let expected = junit_outcomes(&dir.path().join("ref.xml"));
        assert_eq!(expected.len(), 15, "{}", text(&reference));
        let failures = expected.values().filter(|o| o.as_str() == "failed").count();
        assert_eq!(failures, failed, "{mode}: {}", text(&reference));
        for workers in ["1", "2"] {
            let ours = fastest_with_site(
                dir.path(),
                &site,
                &[
                    "--no-cache",
                    "-o",
                    &mode_arg,
                    "-n",
                    workers,
                    "--junitxml=ours.xml",
                ],
            );
            let out = text(&ours);
            assert!(
                out.contains("engine: native (auto)"),
                "pytest-asyncio keeps the native engine:\n{out}"
            );
            assert_eq!(
                junit_outcomes(&dir.path().join("ours.xml")),
                expected,
                "{mode}, -n {workers}\n{out}"
            );
            assert_eq!(ours.status.code(), reference.status.code(), "{out}");
            assert!(out.contains("but it is not an async function"), "{out}");
        }
    }
}

/// pytest-benchmark alone (`scripts/test.sh` installs it apart from the other plugins).
fn benchmark_site() -> PathBuf {
    installed_site(
        "FASTEST_TEST_BENCHMARK_SITE",
        ".venv-test/benchmark-site",
        &["pytest_benchmark"],
    )
}

/// pytest-benchmark disabled (`--benchmark-disable`) or skipping (`--benchmark-skip`):
/// its fixture runs natively, as the plugin's own BenchmarkFixture, with the plugin's
/// errors, warning, mark check and skips; the report reads as pytest's (object addresses
/// aside). Benchmarking for real stays with the plugin on the pytest engine.
#[test]
fn benchmark_fixture_runs_natively_when_benchmarks_are_disabled() {
    let dir = project("benchmark_plugin");
    let site = benchmark_site();
    for mode in ["--benchmark-disable", "--benchmark-skip"] {
        let reference = pytest_with_site(dir.path(), &site, &[mode, "-rs", "--junitxml=ref.xml"]);
        let expected = junit_outcomes(&dir.path().join("ref.xml"));
        assert_eq!(expected.len(), 9, "{}", text(&reference));
        for workers in ["1", "2"] {
            let ours = fastest_with_site(
                dir.path(),
                &site,
                &[
                    "--no-cache",
                    mode,
                    "-rs",
                    "-n",
                    workers,
                    "--junitxml=ours.xml",
                ],
            );
            let out = text(&ours);
            assert!(out.contains("engine: native (auto)"), "{mode}: {out}");
            assert_eq!(
                junit_outcomes(&dir.path().join("ours.xml")),
                expected,
                "{mode} -n {workers}\n{out}"
            );
            assert_eq!(ours.status.code(), reference.status.code(), "{out}");
            if workers == "1" {
                let tail = |s: &str| mask_addresses(&report_from_collected(s));
                assert_eq!(tail(&out), tail(&text(&reference)), "{mode}");
            }
        }
    }
    // Benchmarking for real: the plugin runs, on the pytest engine (its results table is
    // not relayed: README, partial).
    let real = fastest_with_site(dir.path(), &site, &["--no-cache", "-k", "test_grouped"]);
    assert!(
        text(&real).contains("engine: pytest (auto: fixture benchmark not defined in the project)"),
        "{}",
        text(&real)
    );
}

/// `0x...` object addresses, which differ between any two runs.
fn mask_addresses(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push_str("0x?");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

fn rerun_site() -> PathBuf {
    installed_site(
        "FASTEST_TEST_RERUN_SITE",
        ".venv-test/rerun-site",
        &["pytest_rerunfailures.py"],
    )
}

/// The report without what differs by design (header lines, timings, object addresses).
fn comparable_report(s: &str) -> String {
    let body: Vec<String> = s
        .lines()
        .take_while(|l| !l.starts_with("--- stderr:"))
        .filter(|l| {
            ![
                "platform ",
                "rootdir:",
                "engine:",
                "fastest-",
                "cachedir:",
                "plugins:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| match l.rfind(" in ") {
            Some(i) if l[i + 4..].trim_end_matches('=').trim().ends_with('s') => l[..i].to_string(),
            _ => l.to_string(),
        })
        .collect();
    mask_addresses(&body.join("\n"))
}

/// Reports whose status a plugin decides (pytest-rerunfailures' `rerun`, pytest 9's
/// subtests) are shown with the plugin's category, letter and word: the same progress,
/// `-v` lines, short summary and count line as pytest's, at every verbosity; a test that
/// passes on a rerun is neither lost nor failed.
#[test]
fn plugin_report_statuses_read_as_pytests() {
    let dir = project("plugin_statuses");
    let site = rerun_site();
    for verbosity in ["-q", "-rA", "-vrA"] {
        let args = ["--reruns", "2", verbosity];
        let reference = pytest_with_site(dir.path(), &site, &args);
        let ours = fastest_with_site(
            dir.path(),
            &site,
            &[&["--no-cache", "-n", "1"][..], &args[..]].concat(),
        );
        let expected = comparable_report(&text(&reference));
        // pytest counts passed subtests unless the verbosity is the default.
        assert!(
            expected.contains("1 rerun")
                && expected.contains("SUBFAILED[case] (i=1)")
                && expected.contains("subtests passed") == (verbosity != "-rA"),
            "the reference shows the plugins' categories:\n{expected}"
        );
        assert_eq!(comparable_report(&text(&ours)), expected, "{verbosity}");
        assert_eq!(ours.status.code(), reference.status.code(), "{verbosity}");
    }
}

/// pytest 9 reports each unittest `subTest` apart, from inside the test: the native engine
/// gives the same progress (the letters pytest's capture swallows included in the line
/// width), `-v` lines, PASSES sections, short summary (`SUBFAILED[msg] (i=2)`,
/// `SUBSKIPPED(k=1)`) and count line (`1 failed, 4 passed, 1 skipped, 5 subtests
/// passed`); the pytest engine the same but for the captured letters in PASSES.
#[test]
fn unittest_subtests_read_as_pytest_9s() {
    let dir = project("unittest_subtests");
    // No third-party plugin: pytest's own subtests support only.
    let site = dir.path().join("no-plugins");
    std::fs::create_dir(&site).unwrap();
    for (engine, verbosities) in [
        ("native", &["-q", "", "-v", "-rA", "-qrA"][..]),
        ("pytest", &["-q", "", "-v"][..]),
    ] {
        for verbosity in verbosities {
            let args: Vec<&str> = [*verbosity].into_iter().filter(|a| !a.is_empty()).collect();
            let reference = pytest_with_site(dir.path(), &site, &args);
            let ours = fastest_with_site(
                dir.path(),
                &site,
                &[
                    &["--no-cache", "-n", "1", "--engine", engine][..],
                    &args[..],
                ]
                .concat(),
            );
            let expected = comparable_report(&text(&reference));
            // At the default verbosity passing and skipped subtests are not counted.
            let counted = verbosity.contains('q') || verbosity.contains('v');
            assert!(
                expected.contains("SUBFAILED[msg] (i=2)")
                    && expected.contains("5 subtests passed") == counted,
                "the reference reports subtests apart:\n{expected}"
            );
            assert_eq!(
                comparable_report(&text(&ours)),
                expected,
                "{engine} engine, {verbosity:?}"
            );
            assert_eq!(ours.status.code(), reference.status.code(), "{verbosity}");
        }
    }
}

fn pytest8_site() -> PathBuf {
    installed_site(
        "FASTEST_TEST_PYTEST8_SITE",
        ".venv-test/pytest8-site",
        &["pytest", "_pytest"],
    )
}

#[test]
fn native_engine_matches_pytest_8() {
    // The native engine uses pytest's own objects (marks, rewriting, caches), whose
    // internals differ between pytest 8 and 9: pytest 8's MarkGenerator reads
    // `config.option.strict_markers`, pytest 9's the ini.
    let site = pytest8_site();
    for (fixture, args) in [
        ("outcomes", &[][..]),
        ("semantics", &[][..]),
        ("fixture_order", &[][..]),
        ("indirect_params", &[][..]),
        ("marker_registry", &[][..]),
        ("marker_registry", &["--strict-markers"][..]),
    ] {
        let dir = project(fixture);
        let mut pytest_args = vec!["--junitxml=ref.xml"];
        pytest_args.extend(args);
        let reference = pytest_with_site(dir.path(), &site, &pytest_args);
        assert!(
            text(&reference).contains("pytest-8.3.5"),
            "pytest 8 must be the one imported:\n{}",
            text(&reference)
        );
        let mut ours_args = vec!["--no-cache", "-n", "1", "--junitxml=ours.xml"];
        ours_args.extend(args);
        let ours = fastest_with_site(dir.path(), &site, &ours_args);
        let out = text(&ours);
        assert!(
            out.contains("pytest-8.3.5") && out.contains("engine: native"),
            "{out}"
        );
        assert_eq!(
            junit_outcomes(&dir.path().join("ours.xml")),
            junit_outcomes(&dir.path().join("ref.xml")),
            "{fixture} {args:?}\n{out}"
        );
        assert_eq!(
            ours.status.code(),
            reference.status.code(),
            "{fixture} {args:?}\n{out}"
        );
    }
}

#[test]
fn naming_an_installed_plugin_the_native_engine_handles_keeps_it_native() {
    // `-p pytest_mock` with pytest-mock installed changes nothing for pytest (its entry
    // point loaded it already), so the run stays native with pytest's outcomes; any
    // other plugin named with -p selects the pytest engine (tests/run_compat.rs).
    let dir = project("mock_plugin");
    let site = mock_site();
    let reference = pytest_with_site(
        dir.path(),
        &site,
        &["-p", "pytest_mock", "--junitxml=ref.xml"],
    );
    let ours = fastest_with_site(
        dir.path(),
        &site,
        &["-p", "pytest_mock", "--no-cache", "--junitxml=ours.xml"],
    );
    let out = text(&ours);
    assert!(out.contains("engine: native (auto)"), "{out}");
    assert_eq!(
        junit_outcomes(&dir.path().join("ours.xml")),
        junit_outcomes(&dir.path().join("ref.xml")),
        "{out}"
    );
    assert_eq!(ours.status.code(), reference.status.code(), "{out}");
}
