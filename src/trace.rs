//! `TOPO_TRACE=1`: timings on stderr, one line per management API call (method, path,
//! status, size, time to the last byte, time to parse) and per phase of plan and apply. For
//! finding where a slow run's time goes on a real broker (docs/plan-apply.md, Performance);
//! off unless set, and it prints paths and sizes only, never credentials or bodies.

use std::sync::OnceLock;
use std::time::Instant;

/// Whether `TOPO_TRACE` is set to anything but empty or `0` (read once).
pub fn on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TOPO_TRACE").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// Print how long `what` took since `start`, when tracing is on.
pub fn done(start: Instant, what: impl FnOnce() -> String) {
    if on() {
        eprintln!(
            "topo: trace: {:>8.1} ms  {}",
            start.elapsed().as_secs_f64() * 1000.0,
            what()
        );
    }
}
