//! Where `topo validate` spends its time, phase by phase, on one file:
//! `cargo run --release --example phase_timings -- FILE` (used with bench/validate.sh).

use std::time::Instant;

use serde::Deserialize;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: phase_timings FILE");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let t = Instant::now();
    let events = topo::source::libyaml::Events::new(text.as_bytes())
        .map(|e| e.count())
        .unwrap_or(0);
    eprintln!("yaml events only   {:>8.1?} ({events} events)", t.elapsed());
    let t = Instant::now();
    let Ok(tree) = topo::source::yaml::parse(&text, topo::source::FileId(0)) else {
        eprintln!("{path}: not valid YAML");
        std::process::exit(1);
    };
    eprintln!("located tree       {:>8.1?}", t.elapsed());
    let t = Instant::now();
    let value = tree.to_json();
    eprintln!("to JSON value      {:>8.1?}", t.elapsed());
    let t = Instant::now();
    let diags = topo::validate::schema::check(&tree, &value);
    eprintln!(
        "schema check       {:>8.1?} ({} problems)",
        t.elapsed(),
        diags.len()
    );
    let t = Instant::now();
    let Ok(topology) = topo::topology::Topology::deserialize(&value) else {
        eprintln!("{path}: does not deserialize");
        std::process::exit(1);
    };
    eprintln!("deserialize        {:>8.1?}", t.elapsed());
    let t = Instant::now();
    let sources = topo::source::Sources::default();
    let diags = topo::validate::rules::check(&topology, &tree, &sources);
    eprintln!(
        "semantic rules     {:>8.1?} ({} problems)",
        t.elapsed(),
        diags.len()
    );
    let t = Instant::now();
    let loaded = topo::validate::load(std::path::Path::new(&path));
    eprintln!(
        "whole load         {:>8.1?} ({} problems)",
        t.elapsed(),
        loaded.diagnostics.len()
    );
}
