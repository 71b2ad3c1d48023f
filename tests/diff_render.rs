//! `topo diff` renders (text, json, markdown) for the fixture pairs under
//! tests/fixtures/diff/, snapshotted, plus the properties that make a diff semantic.

use std::path::Path;

use proptest::prelude::*;
use topo::diff::{AppKind, diff, render};
use topo::plan::{Action, Target};
use topo::topology::Topology;
use topo::validate::load;

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
        assert!(
            diff(&old, &new).is_empty(),
            "{name}: {:?}",
            diff(&old, &new)
        );
        assert!(diff(&new, &old).is_empty(), "{name} reversed");
    }
}

#[test]
fn queue_argument_change_is_a_destructive_replace() {
    let (old, new, _, _) = pair("queue-argument");
    let d = diff(&old, &new);
    assert_eq!(d.plan.changes.len(), 1, "{:?}", d.plan);
    assert!(d.apps.is_empty());
    let c = &d.plan.changes[0];
    assert_eq!(c.action, Action::Replace);
    assert!(matches!(&c.target, Target::Queue(k) if k.name == "orders.audit"));
    assert!(d.has_destructive());
    assert_eq!(c.fields[0].field, "arguments.x-message-ttl");
    // The bindings that stay are declared again after the replace, and the diff says so.
    assert_eq!(c.rebind.len(), 2);
}

#[test]
fn policy_change_is_an_update_and_not_destructive() {
    let (old, new, _, _) = pair("policy");
    let d = diff(&old, &new);
    assert_eq!(d.plan.changes.len(), 1, "{:?}", d.plan);
    assert_eq!(d.plan.changes[0].action, Action::Update);
    assert!(!d.has_destructive());
}

#[test]
fn deletes_are_destructive_and_reverse_to_creates() {
    let (old, new, _, _) = pair("deletes");
    let forward = diff(&old, &new);
    let back = diff(&new, &old);
    let count =
        |d: &topo::diff::Diff, a: Action| d.plan.changes.iter().filter(|c| c.action == a).count();
    assert_eq!(count(&forward, Action::Delete), 5);
    assert_eq!(forward.summary().destructive, 5);
    // Back: everything deleted is created again (plus what the old file had outside the
    // new file's vhosts and users, which a prune never deletes).
    assert!(count(&back, Action::Create) >= count(&forward, Action::Delete));
    assert_eq!(
        count(&forward, Action::Update),
        count(&back, Action::Update)
    );
    assert!(!back.has_destructive());
    assert_eq!(
        forward.unmanaged,
        vec![
            "user legacy".to_string(),
            "vhost reports and its 1 exchange, 1 queue, 1 binding".to_string()
        ]
    );
}

#[test]
fn markdown_quotes_names_and_fences() {
    let (old, new, _, _) = pair("deletes");
    let md = render::markdown(&diff(&old, &new), "a|b", "`x`", None);
    assert!(md.contains("`a|b`"), "{md}");
    assert!(md.contains("`` `x` ``"), "{md}");
    // One fenced block, opened and closed.
    assert_eq!(md.matches("```").count(), 2, "{md}");
}

#[test]
fn services_and_transports_are_compared_with_defaults() {
    let (old, new, _, _) = pair("apps");
    let d = diff(&old, &new);
    assert!(d.plan.is_empty());
    let names: Vec<(Action, AppKind, &str)> = d
        .apps
        .iter()
        .map(|c| (c.action, c.kind, c.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            (Action::Update, AppKind::Service, "api-gateway"),
            (Action::Delete, AppKind::Service, "legacy"),
            (Action::Update, AppKind::Service, "python-service"),
            (Action::Update, AppKind::Service, "service-a"),
            (Action::Create, AppKind::Service, "service-b"),
            (
                Action::Delete,
                AppKind::Transport,
                "api-gateway -> legacy (tcp)"
            ),
            (
                Action::Update,
                AppKind::Transport,
                "api-gateway -> python-service (rmq via python-service-queue)"
            ),
            (
                Action::Update,
                AppKind::Transport,
                "api-gateway -> service-a (tcp)"
            ),
            (
                Action::Create,
                AppKind::Transport,
                "api-gateway -> service-b (tcp)"
            ),
            (
                Action::Create,
                AppKind::Transport,
                "service-a -> python-service (rmq via python-service-queue)"
            ),
        ]
    );
    // env PORT 3000 vs "3000" and written-out default replicas are no change.
    let gw = &d.apps[0];
    assert_eq!(gw.fields.len(), 1, "{:?}", gw.fields);
    assert_eq!(gw.fields[0].field, "image");
}

#[test]
fn password_variable_rename_is_shown_without_secrets() {
    let (old, new, _, _) = pair("deletes");
    let text = render::text(&diff(&old, &new), false);
    assert!(
        text.contains("password: *** (from $APP_PASSWORD) -> *** (from $APP_PASSWORD_V2)"),
        "{text}"
    );
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
        prop_assert_eq!(d.plan.changes.len(), keys);
        prop_assert!(d.plan.changes.iter().all(|c| matches!(c.target, Target::Binding(_)) && c.action == Action::Delete));
        prop_assert_eq!(d.summary().destructive, keys);
        let back = diff(&new, &old);
        prop_assert!(back.plan.changes.iter().all(|c| c.action == Action::Create));
        prop_assert!(!back.has_destructive());
    }
}
