//! Scheduling: groups items so shared fixtures are set up once (`--dist`), orders groups
//! longest-first by recorded durations, and deals them to workers.

use fastest_protocol::RunItem;
use std::collections::HashMap;

/// pytest-xdist's `--dist` spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    /// Tests of one module stay together; very large modules are split by class.
    LoadScope,
    /// Tests of one file stay together.
    LoadFile,
    /// Small chunks of consecutive tests.
    Load,
    /// Everything on one worker, in order.
    No,
}

impl Dist {
    pub fn parse(s: &str) -> Option<Dist> {
        Some(match s {
            "loadscope" => Dist::LoadScope,
            "loadfile" => Dist::LoadFile,
            "load" | "worksteal" | "loadgroup" => Dist::Load,
            "no" => Dist::No,
            _ => return None,
        })
    }
}

/// How groups reach workers.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// One shared queue, longest group first: an idle worker takes the next group.
    Shared(Vec<Vec<RunItem>>),
    /// One fixed list per worker (the pytest engine collects its files once, up front).
    Buckets(Vec<Vec<RunItem>>),
    /// Two engines in one run: the first `buckets.len()` workers are configured with
    /// `bucket_config` (the pytest engine) and run one fixed list each; the others share
    /// the queue `shared` with the run's own configuration (the native engine).
    Mixed {
        buckets: Vec<Vec<RunItem>>,
        bucket_config: Box<fastest_protocol::WorkerConfig>,
        shared: Vec<Vec<RunItem>>,
    },
}

/// Duration assumed for a test never run before.
const UNKNOWN_SECONDS: f64 = 0.005;

/// Builds the groups for `items` (in collection order). With `LoadScope` a module that
/// alone holds more than its share of the items or of their recorded duration is split
/// by class, then into consecutive chunks, so one slow module does not hold the run up.
pub fn group(
    items: &[RunItem],
    dist: Dist,
    workers: usize,
    durations: &HashMap<String, f64>,
) -> Vec<Vec<RunItem>> {
    if dist == Dist::No || workers <= 1 {
        return vec![items.to_vec()];
    }
    let key = |nodeid: &str, depth: usize| -> String {
        let mut parts = nodeid.split("::");
        let file = parts.next().unwrap_or_default().to_string();
        let rest: Vec<&str> = parts.collect();
        // The class chain (all but the function) up to `depth` levels.
        let classes = &rest[..rest.len().saturating_sub(1)];
        let mut k = file;
        for c in classes.iter().take(depth) {
            k.push_str("::");
            k.push_str(c);
        }
        k
    };
    match dist {
        Dist::Load => {
            let chunk = (items.len() / (workers * 8)).clamp(1, 200);
            items.chunks(chunk).map(|c| c.to_vec()).collect()
        }
        Dist::LoadFile => contiguous_by(items, |i| key(&i.nodeid, 0)),
        Dist::LoadScope | Dist::No => {
            // Split a module into class groups only when it alone would hold the others up.
            let by_file = contiguous_by(items, |i| key(&i.nodeid, 0));
            let fair_share = items.len().div_ceil(workers * 2).max(1);
            let fair_cost = cost(items, durations) / (workers * 2) as f64;
            let too_big = |g: &[RunItem]| g.len() > fair_share || cost(g, durations) > fair_cost;
            let mut out = Vec::new();
            for g in by_file {
                if too_big(&g) {
                    for sub in contiguous_by(&g, |i| key(&i.nodeid, 1)) {
                        if too_big(&sub) {
                            out.extend(chunks_within(&sub, fair_share, fair_cost, durations));
                        } else {
                            out.push(sub);
                        }
                    }
                } else {
                    out.push(g);
                }
            }
            out
        }
    }
}

/// Consecutive chunks of at most `max_items` items, each closed once it reaches
/// `max_cost` seconds of recorded duration.
fn chunks_within(
    items: &[RunItem],
    max_items: usize,
    max_cost: f64,
    durations: &HashMap<String, f64>,
) -> Vec<Vec<RunItem>> {
    let mut out: Vec<Vec<RunItem>> = vec![Vec::new()];
    let mut spent = 0.0;
    for i in items {
        let current = out.last_mut().expect("one chunk at least");
        current.push(i.clone());
        spent += durations.get(&i.nodeid).copied().unwrap_or(UNKNOWN_SECONDS);
        if current.len() >= max_items || spent >= max_cost {
            out.push(Vec::new());
            spent = 0.0;
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

fn contiguous_by(items: &[RunItem], key: impl Fn(&RunItem) -> String) -> Vec<Vec<RunItem>> {
    let mut out: Vec<Vec<RunItem>> = Vec::new();
    let mut last: Option<String> = None;
    for i in items {
        let k = key(i);
        if last.as_ref() != Some(&k) {
            out.push(Vec::new());
            last = Some(k);
        }
        out.last_mut().expect("pushed").push(i.clone());
    }
    out
}

fn cost(group: &[RunItem], durations: &HashMap<String, f64>) -> f64 {
    group
        .iter()
        .map(|i| durations.get(&i.nodeid).copied().unwrap_or(UNKNOWN_SECONDS))
        .sum()
}

/// Longest group first, for a shared queue.
pub fn shared_plan(groups: Vec<Vec<RunItem>>, durations: &HashMap<String, f64>) -> Plan {
    Plan::Shared(longest_first(groups, durations))
}

/// The groups, longest first.
pub fn longest_first(
    mut groups: Vec<Vec<RunItem>>,
    durations: &HashMap<String, f64>,
) -> Vec<Vec<RunItem>> {
    // Stable sort keeps collection order among equal (e.g. all unknown) costs.
    groups.sort_by(|a, b| cost(b, durations).total_cmp(&cost(a, durations)));
    groups
}

/// Longest-processing-time-first into `workers` buckets; each bucket keeps collection
/// order so module fixtures behave as under pytest.
pub fn bucket_plan(
    groups: Vec<Vec<RunItem>>,
    workers: usize,
    durations: &HashMap<String, f64>,
) -> Plan {
    Plan::Buckets(buckets(groups, workers, durations))
}

/// The groups dealt into at most `workers` non-empty buckets (see [`bucket_plan`]).
pub fn buckets(
    groups: Vec<Vec<RunItem>>,
    workers: usize,
    durations: &HashMap<String, f64>,
) -> Vec<Vec<RunItem>> {
    let workers = workers.max(1).min(groups.len().max(1));
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| cost(&groups[b], durations).total_cmp(&cost(&groups[a], durations)));
    let mut loads = vec![0.0f64; workers];
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); workers];
    for g in order {
        let (w, _) = loads
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .expect("at least one worker");
        loads[w] += cost(&groups[g], durations);
        members[w].push(g);
    }
    members
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|mut m| {
            m.sort_unstable();
            m.into_iter().flat_map(|g| groups[g].clone()).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(ids: &[&str]) -> Vec<RunItem> {
        ids.iter()
            .map(|i| RunItem {
                nodeid: i.to_string(),
                param_index: vec![],
            })
            .collect()
    }

    #[test]
    fn loadfile_keeps_files_together_and_buckets_balance_by_duration() {
        let all = items(&["a.py::t1", "a.py::t2", "b.py::t1", "c.py::T::t1"]);
        let groups = group(&all, Dist::LoadFile, 2, &HashMap::new());
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].len(), 2);
        let durations: HashMap<String, f64> =
            [("b.py::t1".to_string(), 10.0)].into_iter().collect();
        match bucket_plan(groups, 2, &durations) {
            Plan::Buckets(b) => {
                assert_eq!(b.len(), 2);
                // The slow file gets a worker of its own; the rest share the other.
                assert!(b.iter().any(|x| x.len() == 1 && x[0].nodeid == "b.py::t1"));
                assert!(b.iter().any(|x| x.len() == 3 && x[0].nodeid == "a.py::t1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loadscope_splits_a_dominant_module_by_class() {
        let all = items(&[
            "a.py::A::t1",
            "a.py::A::t2",
            "a.py::B::t1",
            "a.py::B::t2",
            "b.py::t",
        ]);
        let groups = group(&all, Dist::LoadScope, 2, &HashMap::new());
        let firsts: Vec<&str> = groups.iter().map(|g| g[0].nodeid.as_str()).collect();
        assert_eq!(firsts, ["a.py::A::t1", "a.py::B::t1", "b.py::t"]);
        assert_eq!(group(&all, Dist::No, 2, &HashMap::new()).len(), 1);
    }

    #[test]
    fn loadscope_splits_a_module_that_holds_most_of_the_recorded_time() {
        // No module has more than its share of the items, but `slow.py` holds nearly all
        // the recorded time: it is split so both workers share it; the rest stay whole.
        let all = items(&[
            "slow.py::t1",
            "slow.py::t2",
            "a.py::t1",
            "a.py::t2",
            "b.py::t1",
            "b.py::t2",
            "c.py::t1",
            "c.py::t2",
            "d.py::t1",
            "d.py::t2",
        ]);
        let durations: HashMap<String, f64> = [("slow.py::t1", 2.0), ("slow.py::t2", 2.0)]
            .iter()
            .map(|(id, secs)| (id.to_string(), *secs))
            .collect();
        let groups = group(&all, Dist::LoadScope, 2, &durations);
        let sizes: Vec<(&str, usize)> = groups
            .iter()
            .map(|g| (g[0].nodeid.as_str(), g.len()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("slow.py::t1", 1),
                ("slow.py::t2", 1),
                ("a.py::t1", 2),
                ("b.py::t1", 2),
                ("c.py::t1", 2),
                ("d.py::t1", 2),
            ]
        );
        // Without recorded durations every module stays whole.
        assert_eq!(group(&all, Dist::LoadScope, 2, &HashMap::new()).len(), 5);
        match bucket_plan(groups, 2, &durations) {
            Plan::Buckets(b) => {
                let slow_per_worker: Vec<usize> = b
                    .iter()
                    .map(|w| w.iter().filter(|i| i.nodeid.starts_with("slow")).count())
                    .collect();
                assert_eq!(slow_per_worker, [1, 1]);
            }
            other => panic!("{other:?}"),
        }
    }
}
