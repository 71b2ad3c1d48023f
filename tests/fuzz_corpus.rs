//! The fuzz target's pipeline (`fuzz/pipeline.rs`, shared with the target) over every input the fuzzer
//! found worth keeping (`tests/corpus/fuzz/`: crashes turned regressions) and over the
//! hostile shapes it is seeded with: load, validate, render the diagnostics, normalize and
//! plan against an empty broker. Any outcome but a panic or a hang is fine; a panic fails.

#[path = "../fuzz/pipeline.rs"]
mod pipeline;

use std::collections::HashMap;
use std::path::Path;

use pipeline::OneFile;
use topo::topology::EnvSource;
use topo::validate::load_with;

#[test]
fn every_kept_fuzz_input_goes_through_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/corpus/fuzz") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|f| f == "README.md") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        pipeline::run(&bytes);
        n += 1;
    }
    assert!(n > 0, "no fuzz regression inputs in {}", dir.display());
}

/// A billion laughs: ten aliases of ten aliases, twelve levels deep, is 10^12 values. It is
/// refused at the budget, counted before any copy is made, so this ends at once instead of
/// exhausting memory; the error names the budget.
#[test]
fn an_alias_bomb_is_refused_at_the_budget() {
    let mut bomb = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..13 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let env = EnvSource::Fixed(HashMap::new());
    let loaded = load_with(Path::new("topo.yaml"), &OneFile(bomb.as_bytes()), &env);
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.message.contains("expands to more than 5000000 values")),
        "{:?}",
        loaded.diagnostics
    );
    // One alias that alone is over the budget: refused before its copy, not after.
    let mut wide = String::from("version: 1\nbig: &big [");
    wide.push_str(&"x, ".repeat(1000));
    wide.push_str("x]\nlevel1: &l1 [");
    wide.push_str(&"*big, ".repeat(5000));
    wide.push_str("*big]\nboom: [*l1]\n");
    let loaded = load_with(Path::new("topo.yaml"), &OneFile(wide.as_bytes()), &env);
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.message.contains("expands to more than")),
        "{:?}",
        loaded.diagnostics
    );
}
