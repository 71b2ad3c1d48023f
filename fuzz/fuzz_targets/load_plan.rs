//! Arbitrary bytes through the whole offline pipeline: load (YAML with positions,
//! `extends` refused, interpolation from a fixed environment, schema, rules), then
//! `State::from_topology` and `plan(desired, empty)`. Anything but a panic, a hang or an
//! allocation past libFuzzer's `-rss_limit_mb` is fine: errors are expected.
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use topo::plan::{PlanOptions, plan};
use topo::state::State;
use topo::topology::{EnvSource, FileSource};
use topo::validate::load_with;

/// The input as `topo.yaml`; every other file (an `extends` base, `.env`) is missing.
struct OneFile<'a>(&'a [u8]);

impl FileSource for OneFile<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.ends_with("topo.yaml") {
            Ok(self.0.to_vec())
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let env = EnvSource::Fixed(HashMap::from([
        ("SET".to_string(), "value".to_string()),
        ("EMPTY".to_string(), String::new()),
    ]));
    let loaded = load_with(Path::new("topo.yaml"), &OneFile(data), &env);
    // Rendering diagnostics exercises every span against its source text.
    let mut sink = Vec::new();
    let _ = topo::diag::render_text(&mut sink, &loaded.sources, &loaded.diagnostics, false);
    if let Ok(valid) = loaded.into_valid() {
        let desired = State::from_topology(&valid.topology, &|_| None);
        let p = plan(&desired, &State::default(), &PlanOptions { prune: true });
        let _ = topo::report::render(&mut sink, &p, &[], topo::report::Format::Json, false);
    }
});
