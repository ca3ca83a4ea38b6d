//! Reporter stage: pytest's terminal formats, JUnit XML, report-log and exit codes.

pub mod junit;
pub mod run;
pub mod tree;

/// pytest's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    TestsFailed = 1,
    Interrupted = 2,
    InternalError = 3,
    UsageError = 4,
    NoTestsCollected = 5,
}

/// What a `--collect-only` run found.
#[derive(Debug, Default, Clone)]
pub struct CollectReport {
    pub items: Vec<String>,
    /// Collection errors in collection order.
    pub errors: Vec<fastest_protocol::CollectionErrorReport>,
    /// Collectors that skipped themselves at import.
    pub skipped: Vec<fastest_protocol::CollectionSkip>,
    pub deselected: usize,
    /// Items before deselection.
    pub collected: usize,
    pub seconds: f64,
    pub quiet: u8,
    /// More -v than -q: the collected line follows `collecting ... `.
    pub verbose: bool,
    /// Lines between the title and the collected line (platform, rootdir, ...).
    pub header: Vec<String>,
    /// Where each of `items` sits among pytest's collectors (filled for the tree
    /// printed without -q).
    pub tree: Vec<tree::TreeItem>,
    /// Short summary lines carry whole messages (`full_summary_messages`).
    pub full_messages: bool,
}

/// pytest's `_get_line_with_reprcrash_message`: whole messages in the short summary with
/// -vv or on CI (`running_on_ci`: `CI` or `BUILD_NUMBER` set and non-empty), unless
/// `--force-short-summary`.
pub fn full_summary_messages(verbosity: i32, force_short_summary: bool) -> bool {
    (verbosity >= 2
        || ["CI", "BUILD_NUMBER"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty())))
        && !force_short_summary
}

/// pytest's `collected N items` line: the errors, deselected, skipped and selected counts
/// after it, in pytest's order.
pub fn collected_line(selected: usize, deselected: usize, errors: usize, skipped: usize) -> String {
    let total = selected + deselected;
    let mut line = format!("collected {}", plural(total, "item"));
    if errors > 0 {
        line.push_str(&format!(" / {}", plural(errors, "error")));
    }
    if deselected > 0 {
        line.push_str(&format!(" / {deselected} deselected"));
    }
    if skipped > 0 {
        line.push_str(&format!(" / {skipped} skipped"));
    }
    if deselected > 0 {
        line.push_str(&format!(" / {selected} selected"));
    }
    line
}

/// pytest's terminal width when not on a tty.
pub const WIDTH: usize = 80;

/// pytest's `TerminalWriter.sep`.
pub fn sep(ch: char, title: &str) -> String {
    if title.is_empty() {
        return ch.to_string().repeat(WIDTH);
    }
    let n = WIDTH.saturating_sub(title.chars().count() + 2) / 2;
    let fill = ch.to_string().repeat(n.max(1));
    let mut line = format!("{fill} {title} {fill}");
    if line.chars().count() < WIDTH {
        line.push(ch);
    }
    line
}

/// The title of a collection error's section: pytest's `ERROR collecting` and the
/// report's `head_line`, which for a collector is the path part of its node id (a
/// session-level error has none: "test session").
pub fn collect_error_title(nodeid: &str) -> String {
    match nodeid.split("::").next().unwrap_or_default() {
        "" => "ERROR collecting test session".to_string(),
        path => format!("ERROR collecting {path}"),
    }
}

/// pytest's `format_session_duration`.
pub fn format_duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.2}s")
    } else {
        let total = seconds as u64;
        format!(
            "{seconds:.2}s ({}:{:02}:{:02})",
            total / 3600,
            (total / 60) % 60,
            total % 60
        )
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl CollectReport {
    pub fn exit_code(&self) -> ExitCode {
        if !self.errors.is_empty() {
            ExitCode::Interrupted
        } else if self.items.is_empty() {
            ExitCode::NoTestsCollected
        } else {
            ExitCode::Ok
        }
    }

    /// The count line pytest ends a `--collect-only` run with (without timing).
    pub fn count_line(&self) -> String {
        let main = if self.collected == 0 {
            "no tests collected".to_string()
        } else if self.deselected == 0 {
            format!("{} collected", plural(self.collected, "test"))
        } else if self.deselected == self.collected {
            format!("no tests collected ({} deselected)", self.deselected)
        } else {
            format!(
                "{}/{} tests collected ({} deselected)",
                self.collected - self.deselected,
                self.collected,
                self.deselected
            )
        };
        let mut parts = vec![main];
        if !self.errors.is_empty() {
            parts.push(plural(self.errors.len(), "error"));
        }
        parts.join(", ")
    }

    /// Renders the output of `pytest --collect-only`: with -q the node ids, with -qq
    /// per-file counts, else the session header and the tree of collectors.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.quiet == 0 {
            out.push_str(&sep('=', "test session starts"));
            out.push('\n');
            for line in &self.header {
                out.push_str(line);
                out.push('\n');
            }
            if self.verbose {
                out.push_str("collecting ... ");
            }
            let collected = collected_line(
                self.items.len(),
                self.deselected,
                self.errors.len(),
                self.skipped.len(),
            );
            out.push_str(&collected);
            out.push_str("\n\n");
            if !self.tree.is_empty() {
                out.push_str(&tree::render(&self.tree));
                out.push('\n');
            }
        } else if self.quiet >= 2 {
            let mut counts: Vec<(String, usize)> = Vec::new();
            for item in &self.items {
                let file = item.split("::").next().unwrap_or(item).to_string();
                match counts.last_mut() {
                    Some((f, n)) if *f == file => *n += 1,
                    _ => counts.push((file, 1)),
                }
            }
            for (f, n) in counts {
                out.push_str(&format!("{f}: {n}\n"));
            }
        } else {
            for item in &self.items {
                out.push_str(item);
                out.push('\n');
            }
        }
        if self.quiet > 0 {
            // pytest always separates the item list (even an empty one) from what follows.
            out.push('\n');
        }
        if !self.errors.is_empty() {
            out.push_str(&sep('=', "ERRORS"));
            out.push('\n');
            for e in &self.errors {
                out.push_str(&sep('_', &collect_error_title(&e.nodeid)));
                out.push('\n');
                out.push_str(e.longrepr.trim_end());
                out.push('\n');
            }
            out.push_str(&sep('=', "short test summary info"));
            out.push('\n');
            for e in &self.errors {
                let message = e.message.as_deref().unwrap_or_default();
                out.push_str(&run::with_message(
                    "ERROR",
                    &e.nodeid,
                    message,
                    self.full_messages,
                ));
                out.push('\n');
            }
            let n = self.errors.len();
            out.push_str(&sep(
                '!',
                &format!("Interrupted: {} during collection", plural(n, "error")),
            ));
            out.push('\n');
        }
        let last = format!("{} in {}", self.count_line(), format_duration(self.seconds));
        if self.quiet == 0 {
            out.push_str(&sep('=', &last));
        } else {
            out.push_str(&last);
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_match_pytest_width() {
        assert_eq!(
            sep('=', "ERRORS"),
            "==================================== ERRORS ===================================="
        );
        assert_eq!(
            sep('!', "Interrupted: 1 error during collection"),
            "!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!"
        );
        assert_eq!(
            sep('_', "ERROR collecting tests/test_bad.py"),
            "______________________ ERROR collecting tests/test_bad.py ______________________"
        );
    }

    #[test]
    fn renders_collect_only_quiet() {
        let r = CollectReport {
            items: vec!["t.py::a".into()],
            collected: 1,
            quiet: 1,
            ..Default::default()
        };
        insta::assert_snapshot!(r.render(), @r"
        t.py::a

        1 test collected in 0.00s
        ");
        assert_eq!(r.exit_code(), ExitCode::Ok);
        let empty = CollectReport {
            quiet: 1,
            ..Default::default()
        };
        assert_eq!(empty.render(), "\nno tests collected in 0.00s\n");
        assert_eq!(empty.exit_code(), ExitCode::NoTestsCollected);
    }

    #[test]
    fn deselection_and_errors_in_count_line() {
        let r = CollectReport {
            items: vec!["a".into()],
            collected: 3,
            deselected: 2,
            errors: vec![fastest_protocol::CollectionErrorReport {
                nodeid: "x.py".into(),
                longrepr: "E".into(),
                message: None,
            }],
            ..Default::default()
        };
        assert_eq!(
            r.count_line(),
            "1/3 tests collected (2 deselected), 1 error"
        );
        assert_eq!(r.exit_code(), ExitCode::Interrupted);
        assert_eq!(format_duration(61.5), "61.50s (0:01:01)");
    }

    #[test]
    fn collected_line_counts_in_pytest_order() {
        assert_eq!(collected_line(1, 0, 0, 0), "collected 1 item");
        assert_eq!(
            collected_line(6, 1, 2, 2),
            "collected 7 items / 2 errors / 1 deselected / 2 skipped / 6 selected"
        );
        assert_eq!(
            collect_error_title("t/test_a.py::TestA"),
            "ERROR collecting t/test_a.py"
        );
        assert_eq!(collect_error_title(""), "ERROR collecting test session");
    }

    #[test]
    fn renders_collect_only_tree_with_header() {
        let r = CollectReport {
            items: vec!["t.py::a".into()],
            collected: 1,
            header: vec!["rootdir: /r".into()],
            tree: vec![tree::TreeItem {
                parents: vec!["<Dir r>".to_string(), "<Module t.py>".into()].into(),
                own: "<Function a>".into(),
            }],
            ..Default::default()
        };
        insta::assert_snapshot!(r.render(), @r"
        ============================= test session starts ==============================
        rootdir: /r
        collected 1 item

        <Dir r>
          <Module t.py>
            <Function a>

        ========================== 1 test collected in 0.00s ===========================
        ");
    }
}
