//! Binding identity is one rule (`topology::identity`), used by `extends` merging, the
//! duplicate check and the normalized state: what normalization makes equal is a duplicate
//! (TOPO010) at validate, and normalization never makes equal what the broker keeps apart.

#[path = "common/broker.rs"]
mod broker;

use std::collections::HashMap;
use std::path::Path;

use broker::{TestVhost, code, path_str, stderr, stdout};
use topo::diag::Code;
use topo::state::State;
use topo::topology::{EnvSource, FileSource, Loaded};
use topo::validate::load_with;

/// A one-file in-memory file system (no `.env`).
struct Mem(String);

impl FileSource for Mem {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.ends_with("topo.yaml") {
            Ok(self.0.clone().into_bytes())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not found",
            ))
        }
    }
}

fn load(bindings: &str) -> Loaded {
    let text = format!(
        "version: 1\nexchanges:\n  - {{name: h, type: headers}}\nqueues:\n  - {{name: q}}\nbindings:\n{bindings}"
    );
    load_with(
        Path::new("topo.yaml"),
        &Mem(text),
        &EnvSource::Fixed(HashMap::new()),
    )
}

fn duplicates(l: &Loaded) -> usize {
    l.diagnostics
        .iter()
        .filter(|d| d.code == Code::Duplicate)
        .count()
}

#[test]
fn bindings_that_normalize_to_one_are_a_duplicate() {
    // Argument order, and a routing key listed once alone and once in `routing_keys`.
    let l = load(
        "  - {source: h, destination: q, arguments: {x-match: any, a: 1, b: \"x\"}}\n  - {source: h, destination: q, arguments: {b: \"x\", a: 1, x-match: any}}\n",
    );
    assert_eq!(duplicates(&l), 1, "{:?}", l.diagnostics);
    let l = load(
        "  - {source: h, destination: q, routing_key: k}\n  - {source: h, destination: q, routing_keys: [j, k]}\n",
    );
    assert_eq!(duplicates(&l), 1, "{:?}", l.diagnostics);
}

#[test]
fn values_of_different_types_are_different_bindings() {
    let l = load(
        "  - {source: h, destination: q, arguments: {x-match: any, v: \"5\"}}\n  - {source: h, destination: q, arguments: {x-match: any, v: 5}}\n  - {source: h, destination: q, arguments: {x-match: any, v: 5.5}}\n  - {source: h, destination: q, arguments: {x-match: any, priority: \"5\"}}\n  - {source: h, destination: q, arguments: {x-match: any, priority: 5}}\n",
    );
    assert_eq!(duplicates(&l), 0, "{:?}", l.diagnostics);
    let valid = match l.into_valid() {
        Ok(v) => v,
        Err(l) => panic!("not valid: {:?}", l.diagnostics),
    };
    let state = State::from_topology(&valid.topology, &|_| None);
    assert_eq!(state.bindings.len(), 5, "{:?}", state.bindings.keys());
}

/// On the real broker: the bindings the file keeps apart are apart there too (they read
/// back as as many bindings), and the file plans no changes against what apply made.
#[test]
fn the_broker_keeps_apart_what_normalization_keeps_apart() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file(
        "t.yaml",
        r#"exchanges:
  - {name: h, type: headers}
queues:
  - {name: q}
bindings:
  - {source: h, destination: q, arguments: {x-match: any, v: "5"}}
  - {source: h, destination: q, arguments: {x-match: any, v: 5}}
  - {source: h, destination: q, arguments: {x-match: any, v: 5.5}}
  - {source: h, destination: q, arguments: {x-match: any, v: 5.0}}
  - {source: h, destination: q, arguments: {x-match: any, priority: "5"}}
  - {source: h, destination: q, arguments: {x-match: any, priority: 5}}
  - {source: h, destination: q, arguments: {v: 5, x-match: all, w: {b: 1, a: "2"}}}
"#,
    );
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed = v.get(&["exchanges", &v.name, "h", "bindings", "source"]);
    let n = listed.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(n, 7, "the broker holds each binding once: {listed}");
    let out = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}
