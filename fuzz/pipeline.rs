//! The fuzz target's pipeline, one input at a time: shared by the target
//! (`fuzz/fuzz_targets/load_plan.rs`) and by `tests/fuzz_corpus.rs`, which runs every kept
//! input through it on each `cargo test`, so the two cannot drift apart.
//!
//! Include with `#[path = ".../fuzz/pipeline.rs"] mod pipeline;`.

use std::collections::HashMap;
use std::path::Path;

use topo::plan::{PlanOptions, plan};
use topo::state::State;
use topo::topology::{EnvSource, FileSource};
use topo::validate::load_with;

/// The input as `topo.yaml`; every other file (an `extends` base, `.env`) is missing.
pub struct OneFile<'a>(pub &'a [u8]);

impl FileSource for OneFile<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.ends_with("topo.yaml") {
            Ok(self.0.to_vec())
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    }
}

/// Load (interpolating from a fixed environment), validate, render the diagnostics (which
/// exercises every span against its source text), then plan a valid file against an empty
/// broker and render the plan. Returns the number of diagnostics.
pub fn run(data: &[u8]) -> usize {
    let env = EnvSource::Fixed(HashMap::from([
        ("SET".to_string(), "value".to_string()),
        ("EMPTY".to_string(), String::new()),
    ]));
    let loaded = load_with(Path::new("topo.yaml"), &OneFile(data), &env);
    let mut sink = Vec::new();
    let _ = topo::diag::render_text(&mut sink, &loaded.sources, &loaded.diagnostics, false);
    let n = loaded.diagnostics.len();
    if let Ok(valid) = loaded.into_valid() {
        let desired = State::from_topology(&valid.topology, &|_| None);
        let p = plan(&desired, &State::default(), &PlanOptions { prune: true });
        let _ = topo::report::render(&mut sink, &p, &[], topo::report::Format::Json, false);
    }
    n
}
