//! Arbitrary bytes through the whole offline pipeline: load (YAML with positions,
//! `extends` refused, interpolation from a fixed environment, schema, rules), then
//! `State::from_topology` and `plan(desired, empty)`. Anything but a panic, a hang or an
//! allocation past libFuzzer's `-rss_limit_mb` is fine: errors are expected.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The pipeline itself is shared with tests/fuzz_corpus.rs.
#[path = "../pipeline.rs"]
mod pipeline;

fuzz_target!(|data: &[u8]| {
    pipeline::run(data);
});
