//! `topo diff` renders (text, json, markdown) for the fixture pairs under
//! tests/fixtures/diff/, snapshotted, plus the properties that make a diff semantic.

use std::path::Path;

use proptest::prelude::*;
use topo::diff::{Action, Kind, diff, render};
use topo::topology::{Topology, load};

fn topology(path: &str) -> Topology {
    match load(Path::new(path)).into_valid() {
        Ok(v) => v.topology,
        Err(l) => panic!("{path} not valid: {:?}", l.diagnostics),
    }
}

fn pair(name: &str) -> (Topology, Topology, String, String) {
    let old = format!("tests/fixtures/diff/{name}/old.yaml");
    let new = format!("tests/fixtures/diff/{name}/new.yaml");
    (topology(&old), topology(&new), old, new)
}

const PAIRS: &[&str] = &[
    "reorder",
    "shorthand",
    "queue-argument",
    "policy",
    "apps",
    "deletes",
];

#[test]
fn snapshots() {
    for name in PAIRS {
        let (old, new, old_path, new_path) = pair(name);
        let d = diff(&old, &new);
        insta::assert_snapshot!(format!("{name}_text"), render::text(&d, false));
        insta::assert_snapshot!(
            format!("{name}_json"),
            render::json(&d, &old_path, &new_path)
        );
        let graph = topo::commands::diff::change_graph(&old, &new, &d);
        insta::assert_snapshot!(
            format!("{name}_markdown"),
            render::markdown(&d, &old_path, &new_path, graph.as_deref())
        );
    }
}

#[test]
fn order_and_shorthand_are_not_changes() {
    for name in ["reorder", "shorthand"] {
        let (old, new, _, _) = pair(name);
        assert!(diff(&old, &new).is_empty(), "{name}");
        assert!(diff(&new, &old).is_empty(), "{name} reversed");
    }
}

#[test]
fn queue_argument_change_is_a_destructive_replace() {
    let (old, new, _, _) = pair("queue-argument");
    let d = diff(&old, &new);
    assert_eq!(d.changes.len(), 1);
    let c = &d.changes[0];
    assert_eq!(
        (c.action, c.kind, c.name.as_str()),
        (Action::Replace, Kind::Queue, "orders.audit")
    );
    assert!(c.destructive && d.has_destructive());
    assert_eq!(c.details[0].field, "arguments.x-message-ttl");
}

#[test]
fn policy_change_is_an_update_and_not_destructive() {
    let (old, new, _, _) = pair("policy");
    let d = diff(&old, &new);
    assert_eq!(d.changes.len(), 1, "{:?}", d.changes);
    assert_eq!(d.changes[0].action, Action::Update);
    assert!(!d.has_destructive());
}

#[test]
fn deletes_are_destructive_and_reverse_to_creates() {
    let (old, new, _, _) = pair("deletes");
    let forward = diff(&old, &new);
    let back = diff(&new, &old);
    let count =
        |d: &topo::diff::Diff, a: Action| d.changes.iter().filter(|c| c.action == a).count();
    assert_eq!(
        count(&forward, Action::Delete),
        count(&back, Action::Create)
    );
    assert_eq!(
        count(&forward, Action::Update),
        count(&back, Action::Update)
    );
    assert!(
        forward
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .all(|c| c.destructive)
    );
    assert!(!back.has_destructive());
}

#[test]
fn markdown_escapes_table_cells() {
    let (old, new, _, _) = pair("deletes");
    let md = render::markdown(&diff(&old, &new), "a|b", "`x`", None);
    assert!(md.contains("`a\\|b`"), "{md}");
    assert!(md.contains("`` `x` ``"), "{md}");
    // Every table row has the same number of unescaped cell separators.
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    assert!(rows.iter().all(|r| cells(r) == cells(rows[0])), "{md}");
}

fn lab() -> Topology {
    topology("tests/fixtures/routing-lab.yaml")
}

/// Apply a permutation (from a seed) to a list.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut s = seed | 1;
    for i in (1..items.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        items.swap(i, (s % (i as u64 + 1)) as usize);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any reordering of any list is no change at all.
    #[test]
    fn reordering_never_changes_anything(seed in any::<u64>()) {
        let old = lab();
        let mut new = old.clone();
        shuffle(&mut new.exchanges, seed);
        shuffle(&mut new.queues, seed.rotate_left(7));
        shuffle(&mut new.bindings, seed.rotate_left(13));
        shuffle(&mut new.policies, seed.rotate_left(19));
        shuffle(&mut new.services, seed.rotate_left(23));
        shuffle(&mut new.transports, seed.rotate_left(29));
        prop_assert!(diff(&old, &new).is_empty());
    }

    /// Dropping any binding is exactly one destructive binding delete, and back a create.
    #[test]
    fn dropping_a_binding_is_one_delete(i in 0usize..29) {
        let old = lab();
        let mut new = old.clone();
        let i = i % new.bindings.len();
        let removed = new.bindings.remove(i);
        let keys = removed.routing_keys.as_ref().map(Vec::len).unwrap_or(1);
        let d = diff(&old, &new);
        prop_assert_eq!(d.changes.len(), keys);
        prop_assert!(d.changes.iter().all(|c| c.kind == Kind::Binding && c.action == Action::Delete && c.destructive));
        let back = diff(&new, &old);
        prop_assert!(back.changes.iter().all(|c| c.action == Action::Create && !c.destructive));
    }
}
