//! The terminal reporter for test runs: pytest's header, per-file progress, FAILURES and
//! ERRORS sections, short summary, durations and the final counts line. Results may
//! arrive in any order from parallel workers; they are printed in collection order.
//! On a terminal, a live status line under the output shows how many tests finished
//! (a slow early test would otherwise hide all later results until it ends).

use crate::collect_error_title;
use crate::{format_duration, sep, ExitCode, WIDTH};
use fastest_protocol::{CollectionErrorReport, Outcome, PhaseReport, When};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

/// Options that shape the output (pytest's spellings).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// pytest's verbosity: -1 for `-q`, 1 for `-v`.
    pub verbosity: i32,
    /// `-r` characters, already expanded (`a`, `A`, `N` handled).
    pub reportchars: String,
    pub tbstyle: String,
    pub durations: Option<usize>,
    pub durations_min: f64,
    pub color: bool,
    /// Lines between the title and `collected N items` (platform, rootdir, ...).
    pub header: Vec<String>,
    /// `--junitxml` path, announced before the short summary as pytest does.
    pub junit_path: Option<String>,
    /// Items deselected by `-k`/`-m`/`--deselect`/`--lf` (shown in the counts line).
    pub deselected: usize,
    /// Show the live status line after this long (stdout is a terminal); `None`: never.
    pub live_after: Option<Duration>,
    /// Redraw the live status line no more often than this.
    pub live_redraw: Duration,
    /// `--disable-warnings`: no warnings summary (still counted).
    pub disable_warnings: bool,
    /// The short summary's messages whole, not trimmed to the terminal width.
    pub full_messages: bool,
    /// `--continue-on-collection-errors`: collection errors count as errors (exit 1)
    /// instead of interrupting the session (exit 2).
    pub continue_on_collection_errors: bool,
}

/// How a finished test is categorised in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Passed,
    Failed,
    Skipped,
    XFailed,
    XPassed,
    Error,
    /// fastest: a cached pass (not run).
    Cached,
    /// A category a plugin gives its reports (pytest engine): `rerun`, `subtests passed`.
    Plugin(&'static str),
}

/// A plugin's category name, interned (a run sees a handful: `Category` stays `Copy`).
fn plugin_category(name: &str) -> Category {
    match name {
        "passed" => return Category::Passed,
        "failed" => return Category::Failed,
        "skipped" => return Category::Skipped,
        "xfailed" => return Category::XFailed,
        "xpassed" => return Category::XPassed,
        "error" => return Category::Error,
        _ => {}
    }
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.iter().find(|n| **n == name) {
        return Category::Plugin(known);
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    Category::Plugin(leaked)
}

impl Category {
    fn key(self) -> &'static str {
        match self {
            Category::Passed => "passed",
            Category::Failed => "failed",
            Category::Skipped => "skipped",
            Category::XFailed => "xfailed",
            Category::XPassed => "xpassed",
            Category::Error => "error",
            Category::Cached => "cached",
            Category::Plugin(name) => name,
        }
    }
}

/// One phase report's (category, progress letter, verbose word), as pytest's
/// `pytest_report_teststatus` decides it (a plugin's answer when the worker sent one).
pub fn teststatus(r: &PhaseReport) -> Option<(Category, &str, &str)> {
    if let (Some(status), false) = (&r.status, r.cached) {
        let (category, letter, word) = &**status;
        if category.is_empty() && letter.is_empty() && word.is_empty() {
            return None;
        }
        return Some((plugin_category(category), letter, word));
    }
    let xfail = r.wasxfail.is_some();
    match (r.outcome, r.when) {
        (Outcome::Other, _) => None,
        (Outcome::Skipped, _) if xfail => Some((Category::XFailed, "x", "XFAIL")),
        (Outcome::Passed, When::Call) if xfail => Some((Category::XPassed, "X", "XPASS")),
        (Outcome::Passed, When::Call) if r.cached => Some((Category::Cached, "c", "CACHED")),
        (Outcome::Passed, When::Call) => Some((Category::Passed, ".", "PASSED")),
        (Outcome::Passed, _) => None,
        (Outcome::Skipped, _) => Some((Category::Skipped, "s", "SKIPPED")),
        (Outcome::Failed, When::Call) => Some((Category::Failed, "F", "FAILED")),
        (Outcome::Failed, _) => Some((Category::Error, "E", "ERROR")),
    }
}

#[derive(Debug, Default)]
struct Slot {
    reports: Vec<PhaseReport>,
    done: bool,
    /// Not an item after all (its file failed to collect in a worker): never printed.
    dropped: bool,
}

/// Collects events and writes pytest's terminal output to `out`.
pub struct RunReporter<W: Write> {
    out: W,
    opts: RunOptions,
    order: Vec<String>,
    index: HashMap<String, usize>,
    slots: Vec<Slot>,
    /// Next item (in collection order) whose output is not yet printed.
    cursor: usize,
    current_file: Option<String>,
    line_width: usize,
    reported: usize,
    /// Reports in the order printed: the FAILURES/ERRORS/summary sections follow it.
    printed: Vec<PhaseReport>,
    collect_errors: Vec<CollectionErrorReport>,
    extra: Vec<PhaseReport>,
    /// With `true`, the `Exit` line goes after the counts line (pytest prints it at
    /// unconfigure when `pytest.exit` gave another status than "interrupted").
    exit_message: Option<(String, bool)>,
    warnings: Vec<TestWarning>,
    live: LiveStatus,
    /// Text a plugin adds to the terminal summary (coverage), with its colour.
    plugin_summaries: Vec<(String, Option<&'static str>)>,
    /// Failures already shown in the debugger (`--pdb`).
    debugged: HashSet<(String, When)>,
}

/// One recorded warning (see `FromWorker::Warning`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TestWarning {
    nodeid: String,
    location: Option<String>,
    message: String,
}

/// How a plugin's summary line is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
}

/// The live status line: drawn on the line below the cursor and erased (ESC [J) before
/// any other output, so the normal output reads exactly as without it.
#[derive(Debug)]
struct LiveStatus {
    started: Instant,
    shown: bool,
    last_draw: Option<Instant>,
    finished: usize,
    failed: usize,
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RED_BOLD: &str = "\x1b[31m\x1b[1m";
const RESET: &str = "\x1b[0m";

impl<W: Write> RunReporter<W> {
    pub fn new(out: W, opts: RunOptions, order: Vec<String>) -> Self {
        let index = order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let slots = order.iter().map(|_| Slot::default()).collect();
        RunReporter {
            out,
            opts,
            order,
            index,
            slots,
            cursor: 0,
            current_file: None,
            line_width: 0,
            reported: 0,
            printed: Vec::new(),
            collect_errors: Vec::new(),
            extra: Vec::new(),
            exit_message: None,
            warnings: Vec::new(),
            live: LiveStatus {
                started: Instant::now(),
                shown: false,
                last_draw: None,
                finished: 0,
                failed: 0,
            },
            plugin_summaries: Vec::new(),
            debugged: HashSet::new(),
        }
    }

    /// Leaves items out before any is reported (the tests of a module that failed to
    /// import: pytest never collected them), with the new count of deselected items.
    pub fn leave_out(&mut self, drop: impl Fn(&str) -> bool, deselected: usize) {
        debug_assert!(self.cursor == 0 && self.slots.iter().all(|s| s.reports.is_empty()));
        self.order.retain(|id| !drop(id));
        self.index = self
            .order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        self.slots = self.order.iter().map(|_| Slot::default()).collect();
        self.opts.deselected = deselected;
    }

    /// An item that turned out not to exist (its file failed to collect in a worker
    /// after the run began): it prints nothing and holds up no other item's output.
    pub fn drop_item(&mut self, nodeid: &str) {
        if let Some(&i) = self.index.get(nodeid) {
            self.slots[i].dropped = true;
        }
        self.finish(nodeid);
    }

    /// Text for the terminal summary, where pytest prints its plugins' sections
    /// (after the junitxml line, before durations): pytest-cov's report.
    /// The line pytest's `Exit` prints before the counts line (`Ending::Exit`).
    pub fn set_exit_message(&mut self, message: String) {
        self.exit_message = Some((message, false));
    }

    /// A test that started and never finished (it called `pytest.exit()`): at `-v` pytest
    /// has written its node id at its start, so the line stands without a result.
    pub fn started_but_unfinished(&mut self, nodeid: &str) {
        if self.opts.verbosity > 0 {
            self.clear_live();
            let _ = writeln!(self.out, "{nodeid} ");
        }
    }

    /// As `set_exit_message`, printed after the counts line.
    pub fn set_exit_message_last(&mut self, message: String) {
        self.exit_message = Some((message, true));
    }

    pub fn plugin_summary(&mut self, text: String, tone: Tone) {
        let color = match tone {
            Tone::Plain => None,
            Tone::Good => Some(GREEN),
            Tone::Bad => Some(RED_BOLD),
        };
        self.plugin_summaries.push((text, color));
    }

    /// A worker is about to use the terminal (a debugger): erase the live line and
    /// flush, so its output follows ours. With `post_mortem`, the debugger shows the
    /// failure just reported for `nodeid`, which the FAILURES/ERRORS sections then leave
    /// out (pytest's `_pdbshown`).
    pub fn before_interaction(&mut self, nodeid: &str, post_mortem: bool) {
        self.clear_live();
        let _ = self.out.flush();
        if !post_mortem {
            return;
        }
        let last = match self.index.get(nodeid) {
            Some(&i) => self.slots[i].reports.last(),
            None => self.extra.iter().rev().find(|r| r.nodeid == nodeid),
        };
        if let Some(r) = last {
            self.debugged.insert((r.nodeid.clone(), r.when));
        }
    }

    /// A message written at the end of the test loop, as a plugin writes it with
    /// `terminalreporter.write("\nERROR: ...\n")` (pytest-cov's fail-under): in the
    /// middle of an unfinished progress line, whose `[100%]` then follows on its own line.
    pub fn loop_end_message(&mut self, text: &str) {
        self.clear_live();
        let open_line = self.opts.verbosity <= 0 && self.line_width > 0;
        let painted = if self.opts.color {
            format!("{RED_BOLD}{text}{RESET}")
        } else {
            text.to_string()
        };
        if self.opts.verbosity > 0 {
            // pytest had not ended the last verbose line yet: its "\n" ends it, and the
            // line break pytest writes at the end of the session follows as a blank line.
            let _ = write!(self.out, "{painted}\n\n");
        } else if open_line && self.current_file.is_some() {
            let _ = write!(self.out, "\n{painted}\n");
            // The progress line's `[100%]` then fills a line of its own.
            self.line_width = 0;
            let p = self.progress();
            let _ = writeln!(self.out, "{:>fill$}", p, fill = WIDTH - 1);
        } else {
            let _ = write!(self.out, "\n{painted}\n");
        }
    }

    /// Lines between the title and `collected N items` (platform, rootdir, ...).
    pub fn set_header_lines(&mut self, lines: Vec<String>) {
        self.opts.header = lines;
    }

    /// The session header, up to and including the `collected N items` line.
    pub fn header(&mut self, collected_line: &str) {
        if self.opts.verbosity >= 0 {
            let title = sep('=', "test session starts");
            let _ = writeln!(self.out, "{}", self.bold(&title));
            for line in &self.opts.header {
                let _ = writeln!(self.out, "{line}");
            }
            // pytest -v (not on a tty) writes the collecting message on the same line.
            let prefix = if self.opts.verbosity > 0 {
                "collecting ... "
            } else {
                ""
            };
            let _ = writeln!(self.out, "{prefix}{}", self.bold(collected_line));
            let _ = writeln!(self.out);
        }
        let _ = self.out.flush();
    }

    pub fn collect_error(&mut self, error: CollectionErrorReport) {
        self.collect_errors.push(error);
    }

    /// A warning raised by test code (or at collection, `nodeid` empty).
    pub fn test_warning(&mut self, nodeid: String, location: Option<String>, message: String) {
        let w = TestWarning {
            nodeid,
            location,
            message,
        };
        // Outside a test, several workers may see the same one (each imports the module).
        if w.nodeid.is_empty() && self.warnings.contains(&w) {
            return;
        }
        self.warnings.push(w);
    }

    /// pytest's "warnings summary": grouped by message in order of occurrence (here:
    /// collection order, whatever order workers ran in), each under its locations, or
    /// per-file counts when there are ten or more.
    fn write_warnings_summary(&mut self) {
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.sort_by_key(|w| self.index.get(&w.nodeid).map_or(0, |i| i + 1));
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for w in &warnings {
            let locations = match groups.iter_mut().find(|(m, _)| *m == w.message) {
                Some((_, locations)) => locations,
                None => {
                    groups.push((w.message.clone(), Vec::new()));
                    &mut groups.last_mut().expect("just pushed").1
                }
            };
            if let Some(loc) = &w.location {
                locations.push(loc.clone());
            }
        }
        let _ = writeln!(
            self.out,
            "{}",
            self.paint(YELLOW, &sep('=', "warnings summary"))
        );
        for (message, locations) in &groups {
            if locations.is_empty() {
                let _ = writeln!(self.out, "{}", message.trim_end());
            } else {
                if locations.len() < 10 {
                    let _ = writeln!(self.out, "{}", locations.join("\n"));
                } else {
                    let mut per_file: Vec<(String, usize)> = Vec::new();
                    for loc in locations {
                        let file = loc.split("::").next().unwrap_or(loc).to_string();
                        match per_file.iter_mut().find(|(f, _)| *f == file) {
                            Some((_, n)) => *n += 1,
                            None => per_file.push((file, 1)),
                        }
                    }
                    for (file, n) in per_file {
                        let s = if n > 1 { "s" } else { "" };
                        let _ = writeln!(self.out, "{file}: {n} warning{s}");
                    }
                }
                let indented: Vec<String> = message.lines().map(|l| format!("  {l}")).collect();
                let _ = writeln!(self.out, "{}", indented.join("\n").trim_end());
            }
            let _ = writeln!(self.out);
        }
        let _ = writeln!(
            self.out,
            "-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html"
        );
        self.warnings = warnings;
    }

    pub fn report(&mut self, r: PhaseReport) {
        match self.index.get(&r.nodeid) {
            Some(&i) => self.slots[i].reports.push(r),
            None => self.extra.push(r),
        }
    }

    /// A test is complete (all phases reported, or it crashed): print what is ready.
    pub fn finish(&mut self, nodeid: &str) {
        if let Some(&i) = self.index.get(nodeid) {
            if !self.slots[i].done {
                self.live.finished += 1;
                if self.slots[i]
                    .reports
                    .iter()
                    .any(|r| r.outcome == Outcome::Failed)
                {
                    self.live.failed += 1;
                }
            }
            self.slots[i].done = true;
        }
        let ready = self.cursor < self.slots.len() && self.slots[self.cursor].done;
        if ready {
            self.clear_live();
        }
        while self.cursor < self.slots.len() && self.slots[self.cursor].done {
            if !self.slots[self.cursor].dropped {
                self.print_item(self.cursor);
            }
            self.cursor += 1;
        }
        self.draw_live(ready);
        let _ = self.out.flush();
    }

    /// Erases the live status line (everything below the cursor).
    fn clear_live(&mut self) {
        if self.live.shown {
            let _ = write!(self.out, "\x1b[J");
            self.live.shown = false;
        }
    }

    /// Draws the live status line below the current output line and puts the cursor back
    /// where it was; `now` forces a redraw (the line was just erased).
    fn draw_live(&mut self, now: bool) {
        let Some(after) = self.opts.live_after else {
            return;
        };
        let elapsed = self.live.started.elapsed();
        if elapsed < after || self.cursor >= self.slots.len() {
            return;
        }
        let due = self
            .live
            .last_draw
            .is_none_or(|t| t.elapsed() >= self.opts.live_redraw);
        if !now && !due {
            return;
        }
        let total = self.order.len().max(1);
        let width = 20;
        let filled = self.live.finished * width / total;
        let mut line = format!(
            "[{}{}] {}/{} tests",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.live.finished,
            total
        );
        if self.live.failed > 0 {
            line.push_str(&format!(", {} failed", self.live.failed));
        }
        line.push_str(&format!(", {:.0}s", elapsed.as_secs_f64()));
        let column = if self.opts.verbosity <= 0 {
            self.line_width
        } else {
            0
        };
        let back = if column > 0 {
            format!("\x1b[{column}C")
        } else {
            String::new()
        };
        let _ = write!(self.out, "\x1b[J\n{line}\x1b[1A\r{back}");
        self.live.shown = true;
        self.live.last_draw = Some(Instant::now());
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.opts.color && !text.is_empty() {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.paint(BOLD, text)
    }

    fn color_of(cat: Category) -> &'static str {
        match cat {
            Category::Passed | Category::Cached => GREEN,
            Category::Failed | Category::Error => RED,
            _ => YELLOW,
        }
    }

    fn progress(&self) -> String {
        let total = self.order.len().max(1);
        format!(" [{:>3}%]", self.reported * 100 / total)
    }

    fn print_item(&mut self, i: usize) {
        let nodeid = self.order[i].clone();
        let reports = std::mem::take(&mut self.slots[i].reports);
        // Progress pytest wrote into the test's capture is not on its progress line.
        let visible = || reports.iter().filter(|r| !r.progress_captured);
        let statuses: Vec<(Category, &str, &str)> = visible().filter_map(teststatus).collect();
        if self.opts.verbosity <= 0 {
            let file = nodeid.split("::").next().unwrap_or(&nodeid).to_string();
            if self.opts.verbosity == 0 && self.current_file.as_deref() != Some(file.as_str()) {
                self.end_progress_line();
                let _ = write!(self.out, "{file} ");
                self.line_width = file.chars().count() + 1;
                self.current_file = Some(file);
            } else if self.opts.verbosity < 0 && self.current_file.is_none() {
                self.current_file = Some(String::new());
            }
            self.reported += 1;
            for (cat, letter, _) in &statuses {
                let _ = write!(self.out, "{}", self.paint(Self::color_of(*cat), letter));
                self.line_width += letter.len();
            }
            // pytest's terminal writer counted the letters that went into the capture.
            for r in reports.iter().filter(|r| r.progress_captured) {
                self.line_width += teststatus(r).map_or(0, |(_, letter, _)| letter.len());
            }
            // pytest wraps a line that would run into the progress column.
            if self.line_width + 7 + 1 >= WIDTH {
                let p = self.progress();
                let _ = writeln!(self.out, "{p}");
                self.line_width = 0;
            }
        } else {
            self.reported += 1;
            if reports
                .iter()
                .any(|r| r.progress_captured && teststatus(r).is_some())
            {
                // pytest wrote `nodeid ` before the test ran; the captured words after it
                // moved its terminal writer on, so the test's line starts anew.
                let _ = writeln!(self.out, "{nodeid} ");
            }
            for (r, (cat, _, word)) in visible().filter_map(|r| teststatus(r).map(|st| (r, st))) {
                let mut line = format!("{nodeid} {}", self.paint(Self::color_of(cat), word));
                let mut shown = nodeid.chars().count() + 1 + word.len();
                let p = self.progress();
                if let Some(reason) = raw_skip_reason(r) {
                    // pytest reserves `len(" [100%]")` whatever the progress text.
                    let available = WIDTH.saturating_sub(shown + " [100%]".len() + 1);
                    if let Some(text) = format_trimmed(&reason, available) {
                        shown += text.chars().count();
                        line.push_str(&text);
                    }
                }
                // `p` starts with its space: pytest's `rjust` adds none when the line is full.
                let pad = (WIDTH - 1).saturating_sub(shown + p.len());
                line.push_str(&" ".repeat(pad));
                line.push_str(&p);
                let _ = writeln!(self.out, "{line}");
            }
        }
        self.printed.extend(reports);
    }

    fn end_progress_line(&mut self) {
        if self.current_file.is_some() && self.line_width > 0 {
            let p = self.progress();
            let fill = WIDTH.saturating_sub(self.line_width + 1);
            let _ = writeln!(self.out, "{:>fill$}", p, fill = fill);
        }
        self.line_width = 0;
    }

    /// Prints everything after the progress lines; returns pytest's exit code.
    pub fn finish_run(&mut self, seconds: f64, how: Ending) -> ExitCode {
        self.clear_live();
        // Anything that never finished (stopped or interrupted) is not printed. pytest
        // writes a line's percentage when the next file starts or the last item of the
        // session is reported: a run that stops mid-way leaves its last line without one.
        if self.opts.verbosity <= 0 && self.line_width > 0 {
            if matches!(how, Ending::Completed) || self.reported >= self.order.len() {
                self.end_progress_line();
            } else {
                let _ = writeln!(self.out);
                self.line_width = 0;
            }
        }
        let printed = std::mem::take(&mut self.printed);
        // pytest's blank line at session finish; with no progress output at all the
        // header's blank line already stands there.
        if self.opts.verbosity >= 0 && !printed.is_empty() {
            let _ = writeln!(self.out);
        }
        let extra = std::mem::take(&mut self.extra);
        let all: Vec<&PhaseReport> = printed.iter().chain(extra.iter()).collect();
        let mut counts: HashMap<Category, usize> = HashMap::new();
        // Plugins' categories follow pytest's own in the count line (its KNOWN_TYPES end
        // with the subtests ones), the others in order of appearance.
        let mut plugin_categories: Vec<Category> =
            ["subtests passed", "subtests failed", "subtests skipped"]
                .map(plugin_category)
                .to_vec();
        let mut unknown_category = false;
        for r in &all {
            if let Some((cat, _, _)) = teststatus(r) {
                *counts.entry(cat).or_default() += 1;
                if matches!(cat, Category::Plugin(_)) && !plugin_categories.contains(&cat) {
                    plugin_categories.push(cat);
                    unknown_category = true;
                }
            }
        }
        let collect_errors = std::mem::take(&mut self.collect_errors);
        *counts.entry(Category::Error).or_default() += collect_errors.len();
        if matches!(how, Ending::Interrupted) {
            let _ = writeln!(self.out, "{}", sep('!', "KeyboardInterrupt"));
        }

        let debugged = std::mem::take(&mut self.debugged);
        let shown = |r: &&&PhaseReport| !debugged.contains(&(r.nodeid.clone(), r.when));
        let errors: Vec<&&PhaseReport> = all
            .iter()
            .filter(|r| r.outcome == Outcome::Failed && r.when != When::Call)
            .filter(shown)
            .collect();
        if !collect_errors.is_empty() || !errors.is_empty() {
            let _ = writeln!(self.out, "{}", sep('=', "ERRORS"));
            for e in &collect_errors {
                let _ = writeln!(self.out, "{}", sep('_', &collect_error_title(&e.nodeid)));
                let _ = writeln!(self.out, "{}", e.longrepr.trim_end());
            }
            for r in &errors {
                let when = if r.when == When::Setup {
                    "setup"
                } else {
                    "teardown"
                };
                let title = format!("ERROR at {when} of {}", headline(r));
                let _ = writeln!(self.out, "{}", sep('_', &title));
                self.write_failure_body(r);
            }
        }
        let failures: Vec<&&PhaseReport> = all
            .iter()
            .filter(|r| r.outcome == Outcome::Failed && r.when == When::Call)
            .filter(shown)
            .collect();
        if !failures.is_empty() && self.opts.tbstyle != "no" {
            let _ = writeln!(self.out, "{}", sep('=', "FAILURES"));
            for r in &failures {
                if self.opts.tbstyle == "line" {
                    let _ = writeln!(self.out, "{}", r.longrepr.trim_end());
                    continue;
                }
                let _ = writeln!(self.out, "{}", sep('_', &headline(r)));
                self.write_failure_body(r);
                // pytest then shows the output of the test's teardown.
                for t in all
                    .iter()
                    .filter(|t| t.nodeid == r.nodeid && t.when == When::Teardown)
                {
                    self.write_sections(t.sections.iter().filter(|(t, _)| t.contains("teardown")));
                }
            }
        }
        if !self.warnings.is_empty() && !self.opts.disable_warnings {
            self.write_warnings_summary();
        }
        if self.opts.reportchars.contains('P') && self.opts.tbstyle != "no" {
            let passes: Vec<&&PhaseReport> = all
                .iter()
                .filter(|r| {
                    r.outcome == Outcome::Passed && r.when == When::Call && r.wasxfail.is_none()
                })
                .collect();
            if !passes.is_empty() {
                let _ = writeln!(self.out, "{}", sep('=', "PASSES"));
                for r in passes {
                    if !r.sections.is_empty() {
                        let _ = writeln!(self.out, "{}", sep('_', &headline(r)));
                        self.write_sections(r.sections.iter());
                    }
                }
            }
        }
        // pytest's order: junitxml's line, plugins' summaries (pytest-cov), durations.
        if let (Some(path), true) = (&self.opts.junit_path, self.opts.verbosity >= 0) {
            let _ = writeln!(
                self.out,
                "{}",
                sep('-', &format!("generated xml file: {path}"))
            );
        }
        for (text, color) in std::mem::take(&mut self.plugin_summaries) {
            match color {
                Some(c) => {
                    let painted = self.paint(c, &text);
                    let _ = write!(self.out, "{painted}");
                }
                None => {
                    let _ = write!(self.out, "{text}");
                }
            }
        }
        if let Some(n) = self.opts.durations {
            self.write_durations(&all, n);
        }
        self.write_short_summary(&all, &collect_errors);

        let mut parts: Vec<(Category, String)> = Vec::new();
        for cat in [
            Category::Failed,
            Category::Passed,
            Category::Skipped,
            Category::XFailed,
            Category::XPassed,
            Category::Error,
            Category::Cached,
        ]
        .into_iter()
        .chain(plugin_categories.iter().copied())
        {
            let n = counts.get(&cat).copied().unwrap_or(0);
            if cat == Category::XFailed && self.opts.deselected > 0 {
                parts.push((cat, format!("{} deselected", self.opts.deselected)));
            }
            if cat == Category::Error && !self.warnings.is_empty() {
                let n = self.warnings.len();
                let s = if n == 1 { "" } else { "s" };
                // Counted as XPassed: the same yellow, and not a failure.
                parts.push((Category::XPassed, format!("{n} warning{s}")));
            }
            if n > 0 {
                let word = if cat == Category::Error && n != 1 {
                    "errors".to_string()
                } else {
                    cat.key().to_string()
                };
                parts.push((cat, format!("{n} {word}")));
            }
        }
        let main_color = if counts.get(&Category::Failed).copied().unwrap_or(0) > 0
            || counts.get(&Category::Error).copied().unwrap_or(0) > 0
        {
            RED
        } else if counts.get(&Category::XPassed).copied().unwrap_or(0) > 0
            || unknown_category
            || !self.warnings.is_empty()
            || counts.get(&Category::Skipped).copied().unwrap_or(0) > 0
            || parts.is_empty()
        {
            YELLOW
        } else {
            GREEN
        };
        let body = if parts.is_empty() {
            "no tests ran".to_string()
        } else {
            parts
                .iter()
                .map(|(_, s)| s.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line = format!("{body} in {}", format_duration(seconds));
        if let Ending::Stopped(n) = how {
            let _ = writeln!(
                self.out,
                "{}",
                sep('!', &format!("stopping after {n} failures"))
            );
        }
        if matches!(how, Ending::Stepwise) {
            let _ = writeln!(
                self.out,
                "{}",
                sep(
                    '!',
                    "Interrupted: Test failed, continuing from this test next run."
                )
            );
        }
        if let (Ending::Exit, Some((message, false))) = (how, &self.exit_message) {
            let _ = writeln!(self.out, "{}", message.trim_end());
        }
        // pytest's `session.Interrupted` for collection errors (`pytest_runtestloop`).
        let collection_interrupted =
            !collect_errors.is_empty() && !self.opts.continue_on_collection_errors;
        if collection_interrupted && !matches!(how, Ending::Interrupted) {
            let n = collect_errors.len();
            let s = if n == 1 { "" } else { "s" };
            let _ = writeln!(
                self.out,
                "{}",
                sep('!', &format!("Interrupted: {n} error{s} during collection"))
            );
        }
        if self.opts.verbosity < 0 {
            let _ = writeln!(self.out, "{}", self.paint(main_color, &line));
        } else {
            let _ = writeln!(self.out, "{}", self.paint(main_color, &sep('=', &line)));
        }
        if let (Ending::Exit, Some((message, true))) = (how, self.exit_message.take()) {
            let _ = writeln!(self.out, "{}", message.trim_end());
        }
        let _ = self.out.flush();

        let failed = counts.get(&Category::Failed).copied().unwrap_or(0)
            + counts.get(&Category::Error).copied().unwrap_or(0);
        if matches!(how, Ending::Interrupted | Ending::Stepwise | Ending::Exit)
            || collection_interrupted
        {
            ExitCode::Interrupted
        } else if failed > 0 {
            ExitCode::TestsFailed
        } else if all.is_empty() && self.order.is_empty() {
            ExitCode::NoTestsCollected
        } else {
            ExitCode::Ok
        }
    }

    fn write_failure_body(&mut self, r: &PhaseReport) {
        if self.opts.tbstyle != "no" {
            let _ = writeln!(self.out, "{}", r.longrepr.trim_end_matches('\n'));
        }
        self.write_sections(r.sections.iter());
    }

    /// Captured-output sections: `---- Captured stdout call ----` and the text.
    fn write_sections<'a>(&mut self, sections: impl Iterator<Item = &'a (String, String)>) {
        for (title, text) in sections {
            let _ = writeln!(self.out, "{}", sep('-', title));
            let _ = write!(self.out, "{text}");
            if !text.ends_with('\n') {
                let _ = writeln!(self.out);
            }
        }
    }

    fn write_durations(&mut self, all: &[&PhaseReport], n: usize) {
        let mut ds: Vec<&&PhaseReport> = all.iter().collect();
        ds.sort_by(|a, b| b.duration.total_cmp(&a.duration));
        let title = if n == 0 {
            "slowest durations".to_string()
        } else {
            format!("slowest {n} durations")
        };
        let _ = writeln!(self.out, "{}", sep('=', &title));
        let limit = if n == 0 { ds.len() } else { n.min(ds.len()) };
        let mut hidden = 0;
        for r in ds.iter().take(limit) {
            if self.opts.verbosity < 2 && r.duration < self.opts.durations_min {
                hidden += 1;
                continue;
            }
            let when = match r.when {
                When::Setup => "setup",
                When::Call => "call",
                When::Teardown => "teardown",
            };
            let _ = writeln!(self.out, "{:.2}s {when:<8} {}", r.duration, r.nodeid);
        }
        if hidden > 0 {
            let _ = writeln!(
                self.out,
                "\n({hidden} durations < {}s hidden.  Use -vv to show these durations.)",
                self.opts.durations_min
            );
        }
    }

    fn write_short_summary(
        &mut self,
        all: &[&PhaseReport],
        collect_errors: &[CollectionErrorReport],
    ) {
        let mut lines: Vec<String> = Vec::new();
        let full = self.opts.full_messages;
        for ch in self.opts.reportchars.chars() {
            match ch {
                'f' => {
                    for r in all
                        .iter()
                        .filter(|r| r.outcome == Outcome::Failed && r.when == When::Call)
                    {
                        // A plugin's word when it gave one (`SUBFAILED[msg] (i=1)`).
                        let word = r.status.as_ref().map_or("FAILED", |s| s.2.as_str());
                        lines.push(with_message(word, &r.nodeid, &r.message, full));
                    }
                }
                'E' => {
                    for e in collect_errors {
                        let message = e.message.as_deref().unwrap_or_default();
                        lines.push(with_message("ERROR", &e.nodeid, message, full));
                    }
                    for r in all
                        .iter()
                        .filter(|r| r.outcome == Outcome::Failed && r.when != When::Call)
                    {
                        lines.push(with_message("ERROR", &r.nodeid, &r.message, full));
                    }
                }
                's' => {
                    // pytest folds identical (path, line, reason) skips of its `skipped`
                    // category into one line, worded as the first of them (a subtest's
                    // `SUBSKIPPED(k=1)`).
                    let mut folded: Vec<((String, u32, String), &str, usize)> = Vec::new();
                    for r in all.iter().filter(|r| {
                        r.wasxfail.is_none()
                            && teststatus(r).is_some_and(|(cat, _, _)| cat == Category::Skipped)
                    }) {
                        if let Some(key) = &r.skip {
                            match folded.iter_mut().find(|(k, _, _)| k == key) {
                                Some((_, _, n)) => *n += 1,
                                None => {
                                    let word =
                                        r.status.as_ref().map_or("SKIPPED", |s| s.2.as_str());
                                    folded.push((key.clone(), word, 1));
                                }
                            }
                        }
                    }
                    for ((path, line, reason), word, n) in folded {
                        let reason = reason.strip_prefix("Skipped: ").unwrap_or(&reason);
                        if line == 0 {
                            lines.push(format!("{word} [{n}] {path}: {reason}"));
                        } else {
                            lines.push(format!("{word} [{n}] {path}:{line}: {reason}"));
                        }
                    }
                }
                'x' => {
                    for r in all
                        .iter()
                        .filter(|r| r.outcome == Outcome::Skipped && r.wasxfail.is_some())
                    {
                        lines.push(with_reason("XFAIL", &r.nodeid, r.wasxfail.as_deref()));
                    }
                }
                'X' => {
                    for r in all.iter().filter(|r| {
                        r.outcome == Outcome::Passed && r.when == When::Call && r.wasxfail.is_some()
                    }) {
                        lines.push(with_reason("XPASS", &r.nodeid, r.wasxfail.as_deref()));
                    }
                }
                'p' => {
                    // pytest lists its `passed` category (not a plugin's: subtests).
                    for r in all.iter().filter(|r| {
                        r.outcome == Outcome::Passed
                            && r.when == When::Call
                            && r.wasxfail.is_none()
                            && r.status.is_none()
                    }) {
                        lines.push(format!("PASSED {}", r.nodeid));
                    }
                }
                _ => {}
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(self.out, "{}", sep('=', "short test summary info"));
            for l in lines {
                let _ = writeln!(self.out, "{l}");
            }
        }
    }
}

/// How the run ended, for the lines pytest prints before the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    /// `-x` / `--maxfail=N` stopped it after N failures.
    Stopped(usize),
    /// `--sw` stopped at a failure (pytest's stepwise plugin: an interruption, exit 2).
    Stepwise,
    Interrupted,
    /// pytest's `Exit` ended the session (quitting the debugger): its message line
    /// (`exit_message`) is shown before the counts line, exit 2.
    Exit,
}

/// pytest's `head_line`: the location's domain, else the node id's tail.
fn headline(r: &PhaseReport) -> String {
    match &r.location {
        Some((_, _, domain)) if !domain.is_empty() => domain.clone(),
        _ => r.nodeid.split("::").skip(1).collect::<Vec<_>>().join("."),
    }
}

/// The reason `-v` shows after SKIPPED / XFAIL (pytest's `_get_raw_skip_reason`).
fn raw_skip_reason(r: &PhaseReport) -> Option<String> {
    if let Some(x) = &r.wasxfail {
        if r.outcome != Outcome::Skipped {
            return None;
        }
        return Some(x.strip_prefix("reason: ").unwrap_or(x).to_string());
    }
    if r.outcome == Outcome::Skipped {
        let (_, _, reason) = r.skip.clone()?;
        let reason = match reason.strip_prefix("Skipped: ") {
            Some(rest) => rest.to_string(),
            None if reason == "Skipped" => String::new(),
            None => reason,
        };
        return Some(reason);
    }
    None
}

/// pytest's `_format_trimmed(" ({})", msg, available_width)`.
fn format_trimmed(msg: &str, available: usize) -> Option<String> {
    let msg = msg.lines().next().unwrap_or("");
    let format_width = 3; // " ()"
    let ellipsis = 3;
    if format_width + ellipsis > available {
        return None;
    }
    if format_width + msg.chars().count() > available {
        let keep = available - ellipsis - format_width;
        let cut: String = msg.chars().take(keep).collect();
        return Some(format!(" ({cut}...)"));
    }
    Some(format!(" ({msg})"))
}

/// `XFAIL nodeid - reason`: pytest does not trim these.
fn with_reason(word: &str, nodeid: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) if !r.is_empty() => format!("{word} {nodeid} - {r}"),
        _ => format!("{word} {nodeid}"),
    }
}

/// `FAILED nodeid - message`, trimmed to the terminal width as pytest does.
pub(crate) fn with_message(word: &str, nodeid: &str, message: &str, full: bool) -> String {
    let base = format!("{word} {nodeid}");
    if full {
        return if message.is_empty() {
            base
        } else {
            format!("{base} - {message}")
        };
    }
    let first = message.lines().next().unwrap_or("");
    if first.is_empty() {
        return base;
    }
    let available = WIDTH.saturating_sub(base.chars().count());
    let msg = format!(" - {first}");
    if msg.chars().count() <= available {
        return format!("{base}{msg}");
    }
    let ellipsis = "...";
    if available > ellipsis.len() + 3 {
        let keep: String = msg.chars().take(available - ellipsis.len()).collect();
        format!("{base}{keep}{ellipsis}")
    } else {
        base
    }
}

/// Expands pytest's `-r` characters: default `fE`, `a` = `sxXEf`, `A` = `PpsxXEf`, `N` = none.
pub fn expand_reportchars(arg: Option<&str>) -> String {
    let arg = arg.unwrap_or("fE");
    let mut out = String::new();
    for ch in arg.chars() {
        match ch {
            'a' => out.push_str("sxXEf"),
            'A' => out.push_str("PpsxXEf"),
            'N' => out.clear(),
            'w' | 'W' => {}
            c => {
                if !out.contains(c) {
                    out.push(c)
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: &str, when: When, outcome: Outcome) -> PhaseReport {
        PhaseReport {
            nodeid: id.into(),
            when,
            outcome,
            longrepr: if outcome == Outcome::Failed {
                "E   assert 1 == 2".into()
            } else {
                String::new()
            },
            message: if outcome == Outcome::Failed {
                "assert 1 == 2".into()
            } else {
                String::new()
            },
            skip: None,
            wasxfail: None,
            sections: vec![],
            duration: 0.0,
            location: Some(("t.py".into(), 0, id.rsplit("::").next().unwrap().into())),
            cached: false,
            status: None,
            progress_captured: false,
            user_properties: Vec::new(),
        }
    }

    fn options(verbosity: i32, live_after: Option<Duration>) -> RunOptions {
        RunOptions {
            verbosity,
            reportchars: expand_reportchars(None),
            tbstyle: "auto".into(),
            durations: None,
            durations_min: 0.005,
            color: false,
            header: vec!["rootdir: /r".into()],
            junit_path: None,
            deselected: 0,
            live_after,
            live_redraw: Duration::ZERO,
            disable_warnings: false,
            full_messages: false,
            continue_on_collection_errors: false,
        }
    }

    #[test]
    fn out_of_order_results_print_in_collection_order_like_pytest() {
        let order = vec!["t.py::a".to_string(), "t.py::b".to_string()];
        let opts = options(0, None);
        let mut r = RunReporter::new(Vec::new(), opts, order);
        r.header("collected 2 items");
        for (id, outcome) in [("t.py::b", Outcome::Failed), ("t.py::a", Outcome::Passed)] {
            r.report(rep(id, When::Setup, Outcome::Passed));
            r.report(rep(id, When::Call, outcome));
            r.report(rep(id, When::Teardown, Outcome::Passed));
            r.finish(id);
        }
        let code = r.finish_run(0.5, Ending::Completed);
        assert_eq!(code, ExitCode::TestsFailed);
        let text = String::from_utf8(r.out).unwrap();
        insta::assert_snapshot!(text, @r"
        ============================= test session starts ==============================
        rootdir: /r
        collected 2 items

        t.py .F                                                                  [100%]

        =================================== FAILURES ===================================
        ______________________________________ b _______________________________________
        E   assert 1 == 2
        =========================== short test summary info ============================
        FAILED t.py::b - assert 1 == 2
        ========================= 1 failed, 1 passed in 0.50s ==========================
        ");
    }

    /// What a terminal shows after `bytes`: printable text, `\n` (with the tty's
    /// newline translation), `\r`, and the escapes the live line uses (ESC[J, ESC[nA,
    /// ESC[nC; colours ignored).
    fn screen(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let mut lines: Vec<Vec<char>> = vec![Vec::new()];
        let (mut row, mut col) = (0usize, 0usize);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => {
                    row += 1;
                    col = 0;
                    if lines.len() <= row {
                        lines.push(Vec::new());
                    }
                }
                '\r' => col = 0,
                '\x1b' => {
                    assert_eq!(chars.next(), Some('['));
                    let mut arg = String::new();
                    while let Some(d) = chars.next_if(|d| d.is_ascii_digit() || *d == ';') {
                        arg.push(d);
                    }
                    let n: usize = arg.parse().unwrap_or(1);
                    match chars.next() {
                        Some('J') => {
                            lines[row].truncate(col);
                            lines.truncate(row + 1);
                        }
                        Some('A') => row -= n,
                        Some('C') => col += n,
                        Some('m') => {}
                        other => panic!("unexpected escape {other:?}"),
                    }
                }
                c => {
                    let line = &mut lines[row];
                    while line.len() < col {
                        line.push(' ');
                    }
                    if col < line.len() {
                        line[col] = c;
                    } else {
                        line.push(c);
                    }
                    col += 1;
                }
            }
        }
        let rows: Vec<String> = lines.into_iter().map(|l| l.into_iter().collect()).collect();
        rows.join("\n").trim_end_matches('\n').to_string()
    }

    #[test]
    fn live_status_line_leaves_the_same_output_as_without_it() {
        let order: Vec<String> = (0..6).map(|i| format!("t.py::t{i}")).collect();
        for verbosity in [-1, 0, 1] {
            let mut plain = RunReporter::new(Vec::new(), options(verbosity, None), order.clone());
            let mut live = RunReporter::new(
                Vec::new(),
                options(verbosity, Some(Duration::ZERO)),
                order.clone(),
            );
            let mut mid_run = String::new();
            for r in [&mut plain, &mut live] {
                r.header("collected 6 items");
            }
            // t0 is slow: t1..t5 finish first and wait for it.
            for (step, id) in [1, 2, 3, 0, 4, 5].iter().enumerate() {
                for r in [&mut plain, &mut live] {
                    let id = &order[*id];
                    let outcome = if id.ends_with('3') {
                        Outcome::Failed
                    } else {
                        Outcome::Passed
                    };
                    r.report(rep(id, When::Setup, Outcome::Passed));
                    r.report(rep(id, When::Call, outcome));
                    r.report(rep(id, When::Teardown, Outcome::Passed));
                    r.finish(id);
                }
                if step == 2 {
                    mid_run = screen(&live.out);
                }
            }
            // Head-of-line blocking: nothing printed yet, but the status line counts.
            assert!(
                mid_run.ends_with("[##########----------] 3/6 tests, 1 failed, 0s"),
                "{mid_run}"
            );
            plain.finish_run(0.5, Ending::Completed);
            live.finish_run(0.5, Ending::Completed);
            assert!(live.out.windows(3).any(|w| w == b"\x1b[J"));
            let expected = String::from_utf8(plain.out).unwrap();
            assert_eq!(screen(&live.out), expected.trim_end_matches('\n'));
        }
    }

    #[test]
    fn reportchars_expand_like_pytest() {
        assert_eq!(expand_reportchars(None), "fE");
        assert_eq!(expand_reportchars(Some("a")), "sxXEf");
        assert_eq!(expand_reportchars(Some("N")), "");
        assert_eq!(
            with_message("FAILED", "t.py::x", &"y".repeat(100), false)
                .chars()
                .count(),
            WIDTH
        );
    }
}
