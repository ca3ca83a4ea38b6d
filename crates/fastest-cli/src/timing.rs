//! Phase timings on stderr when `FASTEST_TIMINGS` is set: where a run's wall time goes.

use std::sync::OnceLock;
use std::time::Instant;

fn origin() -> &'static Option<Instant> {
    static ORIGIN: OnceLock<Option<Instant>> = OnceLock::new();
    ORIGIN.get_or_init(|| std::env::var_os("FASTEST_TIMINGS").map(|_| Instant::now()))
}

/// Starts the clock (call first thing in `main`); a no-op unless `FASTEST_TIMINGS` is set.
pub fn start() {
    let _ = origin();
}

/// Prints the milliseconds since `start` with `phase` when timings are on.
pub fn mark(phase: &str) {
    if let Some(origin) = origin() {
        eprintln!(
            "fastest-timing: {:8.2} ms  {phase}",
            origin.elapsed().as_secs_f64() * 1000.0
        );
    }
}
