//! export round trip: apply a file, export the vhost, apply the export to an empty vhost,
//! and plan the original file against that vhost: no changes.

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};

const BODY: &str = r##"exchanges:
  - {name: orders, type: topic}
  - {name: events, type: headers}
  - {name: fan, type: fanout, internal: true}
  - {name: unrouted, type: fanout}
  - {name: main, type: direct, alternate_exchange: unrouted, arguments: {x-custom: "yes"}}
queues:
  - {name: work, message_ttl: 60000, max_length: 1000, overflow: reject-publish, dead_letter_exchange: orders}
  - {name: q.quorum, type: quorum, delivery_limit: 5}
  - {name: s.stream, type: stream}
  - {name: prio, max_priority: 5, arguments: {x-queue-mode: lazy}}
  - {name: "0-numeric-looking"}
bindings:
  - {source: orders, destination: work, routing_keys: ["a.*", "b.#", ""]}
  - {source: events, destination: q.quorum, arguments: {x-match: any, type: order, version: 2}}
  - {source: orders, destination: fan, destination_type: exchange, routing_key: "#"}
  - {source: fan, destination: s.stream}
policies:
  - {name: limits, pattern: "^work$", apply_to: queues, priority: 1, definition: {max-length: 500}}
"##;

#[test]
fn export_then_apply_elsewhere_plans_no_changes() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let original = v.file("orig.yaml", BODY);
    let out = v.topo(&["apply", path_str(&original)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let exported = v.dir.path().join("export.yaml");
    let out = v.topo(
        &["export", "--vhost", &v.name, "-o", path_str(&exported)],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.starts_with("# Exported by topo"), "{text}");
    assert!(!text.contains("password_hash"), "no credentials: {text}");
    let out = v.topo(&["validate", path_str(&exported)], &[]);
    assert_eq!(code(&out), 0, "{}\n{text}", stderr(&out));

    // The same export, pointed at an empty vhost.
    let other = v.extra_vhost();
    v.create_vhost(&other);
    let moved = v.dir.path().join("moved.yaml");
    let retargeted = text.replace(&format!("vhost: {}", v.name), &format!("vhost: {other}"));
    assert_ne!(retargeted, text);
    std::fs::write(&moved, retargeted).unwrap();
    let out = v.topo(&["apply", path_str(&moved)], &[]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));

    // The original file, against the vhost built from the export.
    let orig_there = v.dir.path().join("orig-there.yaml");
    std::fs::write(&orig_there, format!("version: 1\nvhost: {other}\n{BODY}")).unwrap();
    let out = v.topo(&["plan", path_str(&orig_there), "--prune"], &[]);
    assert_eq!(code(&out), 0, "{}\n--- export:\n{text}", stdout(&out));
}

#[test]
fn export_of_a_missing_vhost_is_an_error() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let out = v.topo(&["export", "--vhost", "topo-test-does-not-exist"], &[]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no vhost `topo-test-does-not-exist`"));
}
