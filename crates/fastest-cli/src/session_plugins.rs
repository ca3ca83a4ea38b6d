//! Session-report plugins (pytest-html): their options are kept from the workers and the
//! finished run is replayed into them once, as pytest-xdist's controller does.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use fastest_protocol::{PhaseReport, SessionReplayRequest, SessionReplayResult};

/// Options of plugins that write one report for the whole session from every test's
/// report, and whether each takes a value. Given to every worker, each would write its
/// own partial report over the same file.
const REPLAYED_OPTIONS: &[(&str, bool)] = &[
    // pytest-html
    ("--html", true),
    ("--self-contained-html", false),
    ("--css", true),
];

/// True for a replayed option that takes a value (`--html PATH`): the command line
/// parser must keep the next argument with it instead of reading it as a test path.
pub fn takes_value(option: &str) -> bool {
    REPLAYED_OPTIONS
        .iter()
        .any(|(name, value)| *name == option && *value)
}

/// Splits forwarded plugin options into those the workers get and those only the replay
/// step gets. Values given as a separate argument (`--html PATH`) stay with their option.
pub fn split_replayed(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut workers = Vec::new();
    let mut replayed = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, _)) => (name, true),
            None => (arg.as_str(), false),
        };
        match REPLAYED_OPTIONS.iter().find(|(option, _)| *option == name) {
            Some((_, takes_value)) => {
                replayed.push(arg.clone());
                if *takes_value && !inline_value {
                    if let Some(value) = iter.next() {
                        replayed.push(value.clone());
                    }
                }
            }
            None => workers.push(arg.clone()),
        }
    }
    (workers, replayed)
}

/// What the replay step needs besides the run's results.
pub struct Replay<'a> {
    pub python: &'a Path,
    pub harness: &'a Path,
    pub cwd: &'a Path,
    /// Where the request and result files are written (removed afterwards).
    pub work_dir: &'a Path,
    pub args: Vec<String>,
}

impl Replay<'_> {
    /// Replays the run; returns what the plugins wrote in the terminal summary.
    pub fn run(
        &self,
        order: &[String],
        results: &std::collections::HashMap<String, Vec<PhaseReport>>,
        collect_errors: &[fastest_protocol::CollectionErrorReport],
        failed: usize,
        exitstatus: i32,
        duration: f64,
    ) -> Result<String, String> {
        let request = SessionReplayRequest {
            args: self.args.clone(),
            order: order.to_vec(),
            results: order
                .iter()
                .filter_map(|id| results.get(id).map(|r| (id.clone(), r.clone())))
                .collect::<BTreeMap<_, _>>(),
            collect_errors: collect_errors
                .iter()
                .map(|e| (e.nodeid.clone(), e.longrepr.clone()))
                .collect(),
            failed,
            exitstatus,
            width: fastest_report::WIDTH,
            duration,
        };
        std::fs::create_dir_all(self.work_dir)
            .map_err(|e| format!("creating {}: {e}", self.work_dir.display()))?;
        let request_path = self.work_dir.join("replay-request.json");
        let result_path = self.work_dir.join("replay-result.json");
        let _ = std::fs::remove_file(&result_path);
        std::fs::write(
            &request_path,
            serde_json::to_vec(&request).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("writing {}: {e}", request_path.display()))?;
        let output = Command::new(self.python)
            .args(["-m", "fastest_harness.session_plugins"])
            .arg(&request_path)
            .arg(&result_path)
            .current_dir(self.cwd)
            .env(
                "PYTHONPATH",
                fastest_runner::harness_pythonpath(self.harness),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("could not start {}: {e}", self.python.display()))?;
        let text = std::fs::read_to_string(&result_path).map_err(|_| {
            format!(
                "the plugin report step failed (exit {:?}): {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })?;
        let _ = std::fs::remove_file(&request_path);
        let _ = std::fs::remove_file(&result_path);
        let result: SessionReplayResult =
            serde_json::from_str(&text).map_err(|e| format!("plugin report step: {e}"))?;
        match result.error {
            Some(e) => Err(e),
            None => Ok(result.summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> (Vec<String>, Vec<String>) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        split_replayed(&args)
    }

    #[test]
    fn html_options_go_to_the_replay_only() {
        let (workers, replayed) = split(&[
            "--html=out/report.html",
            "--timeout-method=thread",
            "--self-contained-html",
        ]);
        assert_eq!(workers, vec!["--timeout-method=thread"]);
        assert_eq!(
            replayed,
            vec!["--html=out/report.html", "--self-contained-html"]
        );
    }

    #[test]
    fn a_separate_value_stays_with_its_option() {
        let (workers, replayed) = split(&["--html", "r.html", "--ds", "app.settings"]);
        assert_eq!(workers, vec!["--ds", "app.settings"]);
        assert_eq!(replayed, vec!["--html", "r.html"]);
    }

    #[test]
    fn similar_names_are_not_taken() {
        let (workers, replayed) = split(&["--html-report=x", "--cssfile"]);
        assert_eq!(workers, vec!["--html-report=x", "--cssfile"]);
        assert!(replayed.is_empty());
    }
}
