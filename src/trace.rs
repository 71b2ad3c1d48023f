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

/// Print how long `what` took since `start`, when tracing is on, with the process's
/// resident memory then (where a large file's memory goes: every page touched for the first
/// time is a page fault, and on a virtual machine those cost as much as the parse).
pub fn done(start: Instant, what: impl FnOnce() -> String) {
    if on() {
        eprintln!(
            "topo: trace: {:>8.1} ms  {} (at {:.1} ms{})",
            start.elapsed().as_secs_f64() * 1000.0,
            what(),
            began().elapsed().as_secs_f64() * 1000.0,
            resident().map_or(String::new(), |mib| format!(", resident {mib} MiB")),
        );
    }
}

/// When the process began, near enough: the first call (`cli::main` makes it first).
pub fn began() -> Instant {
    static BEGAN: OnceLock<Instant> = OnceLock::new();
    *BEGAN.get_or_init(Instant::now)
}

/// The resident set in MiB, from `/proc/self/statm` (Linux; `None` elsewhere).
fn resident() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / (1024 * 1024))
}
