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
            "fastest-timing: {:8.2} ms  {phase} (runner cpu {:.2} ms)",
            origin.elapsed().as_secs_f64() * 1000.0,
            own_cpu_seconds() * 1000.0
        );
    }
}

/// CPU time (user and system) of the runner process itself, workers not included.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
