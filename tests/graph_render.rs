//! `topo graph`: snapshots of both renders for the shipped example and richer fixtures,
//! structural checks that everything the file declares is drawn, and validity checks
//! with Graphviz (`dot`) and, when installed, the real Mermaid parser.

use std::path::Path;
use std::process::Command;

use topo::graph::{EdgeKind, Graph, NodeKind, node_id, to_dot, to_mermaid};
use topo::state::State;
use topo::topology::Topology;
use topo::validate::load;

#[path = "common/require.rs"]
mod require;

const FIXTURES: &[(&str, &str)] = &[
    ("dev", "topologies/dev.yaml"),
    ("prod", "topologies/prod.yaml"),
    ("lab", "tests/fixtures/routing-lab.yaml"),
    ("vhosts", "tests/fixtures/graph/vhosts.yaml"),
    ("links", "tests/fixtures/graph/links.yaml"),
];

fn topology(path: &str) -> Topology {
    match load(Path::new(path)).into_valid() {
        Ok(v) => v.topology,
        Err(l) => panic!("{path} not valid: {:?}", l.diagnostics),
    }
}

#[test]
fn snapshots() {
    for (name, path) in FIXTURES {
        let g = Graph::from_topology(&topology(path));
        insta::assert_snapshot!(format!("{name}_mermaid"), to_mermaid(&g));
        insta::assert_snapshot!(format!("{name}_dot"), to_dot(&g));
    }
}

#[test]
fn every_entity_and_binding_is_drawn() {
    let topo = topology("tests/fixtures/routing-lab.yaml");
    let state = State::from_topology(&topo, &|_| None);
    let g = Graph::from_topology(&topo);
    for k in state.queues.keys() {
        let id = node_id(NodeKind::Queue, Some(&k.vhost), &k.name);
        assert_eq!(
            g.nodes.get(&id).map(|n| n.name.as_str()),
            Some(k.name.as_str())
        );
    }
    for k in state.exchanges.keys() {
        assert!(
            g.nodes
                .contains_key(&node_id(NodeKind::Exchange, Some(&k.vhost), &k.name))
        );
    }
    for s in &topo.services {
        assert!(
            g.nodes
                .contains_key(&node_id(NodeKind::Service, None, &s.name))
        );
    }
    // One edge per binding (after `routing_keys` expansion), labelled with its key.
    let bindings: Vec<_> = g
        .edges
        .keys()
        .filter(|e| e.0 == EdgeKind::Binding)
        .collect();
    assert_eq!(bindings.len(), state.bindings.len());
    for b in state.bindings.keys() {
        assert!(
            bindings
                .iter()
                .any(|(_, _, _, label)| label.starts_with(&b.routing_key)),
            "binding {b} has no edge"
        );
    }
    // Builtin source exchanges are drawn too.
    assert!(
        g.nodes
            .contains_key(&node_id(NodeKind::Exchange, Some("/"), "amq.topic"))
    );
    // The graph lists services, transports, alternate exchanges.
    let kinds: std::collections::BTreeSet<EdgeKind> = g.edges.keys().map(|e| e.0).collect();
    for k in [
        EdgeKind::Binding,
        EdgeKind::Alternate,
        EdgeKind::Sends,
        EdgeKind::Consumes,
        EdgeKind::Tcp,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing");
    }
}

#[test]
fn mermaid_has_no_raw_specials_in_labels() {
    let g = Graph::from_topology(&topology("tests/fixtures/routing-lab.yaml"));
    let text = to_mermaid(&g);
    for line in text.lines().skip(1) {
        // Inside a quoted label only entity codes may carry `#`; a raw quote would end it.
        if let Some(start) = line.find('"') {
            let end = line.rfind('"').expect("closing quote");
            let inner = &line[start + 1..end];
            let inner = inner.replace("\"| ", "").replace("|\"", "");
            assert!(!inner.contains('"'), "raw quote in {line}");
            for (i, _) in inner.match_indices('#') {
                let rest = &inner[i..];
                assert!(rest.find(';').is_some(), "raw # in {line}");
            }
        }
    }
}

#[test]
fn dot_output_is_valid_graphviz() {
    let Ok(status) = Command::new("dot").arg("-V").output() else {
        panic!("Graphviz `dot` is needed for this test (apt-get install graphviz)");
    };
    assert!(status.status.success());
    for (name, path) in FIXTURES {
        let dot = to_dot(&Graph::from_topology(&topology(path)));
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("g.dot");
        std::fs::write(&file, &dot).expect("write");
        let out = Command::new("dot")
            .arg("-Tsvg")
            .arg(&file)
            .output()
            .expect("dot");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Every node label made it through the quoting.
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(svg.contains("<svg"), "{name}");
    }
}

/// The real Mermaid parser, from `npm ci --prefix tests/graph_mermaid` (CI's
/// .ci/setup/45-mermaid.sh, which sets TOPO_REQUIRE_MERMAID=1); without it the test says
/// SKIPPED, and fails when it is required.
#[test]
fn mermaid_output_parses_with_mermaid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root
        .join("tests/graph_mermaid/node_modules/mermaid")
        .is_dir()
    {
        require::skip_or_fail(
            "TOPO_REQUIRE_MERMAID",
            "parsing by the Mermaid parser",
            "tests/graph_mermaid/node_modules is missing (run `npm ci --prefix tests/graph_mermaid`)",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (name, path) in FIXTURES {
        let file = dir.path().join(format!("{name}.mmd"));
        std::fs::write(&file, to_mermaid(&Graph::from_topology(&topology(path)))).expect("write");
        files.push(file);
    }
    // The change pictures `topo diff --format markdown --graph` embeds.
    for pair in ["queue-argument", "apps", "deletes"] {
        let old = topology(&format!("tests/fixtures/diff/{pair}/old.yaml"));
        let new = topology(&format!("tests/fixtures/diff/{pair}/new.yaml"));
        let d = topo::diff::diff(&old, &new);
        let g = topo::commands::diff::change_graph(&old, &new, &d).expect("a picture");
        let file = dir.path().join(format!("diff-{pair}.mmd"));
        std::fs::write(&file, g).expect("write");
        files.push(file);
    }
    let out = Command::new("node")
        .arg(root.join("tests/graph_mermaid/check.mjs"))
        .args(&files)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Federation edges come from the policy that wins for each exchange and queue (priority,
/// then the first by name), read with the broker's PCRE patterns: a higher-priority policy
/// without federation keys shadows a federation policy (nothing drawn), and a federation
/// policy above another one federates (drawn).
#[test]
fn federation_edges_follow_the_winning_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("topo.yaml");
    std::fs::write(
        &path,
        r#"version: 1
vhost: orders
broker:
  plugins: [rabbitmq_federation]
vhosts:
  - {name: shadowed}
  - {name: federated}
exchanges:
  - {name: events, type: topic}
  - {name: events, vhost: shadowed, type: topic}
  - {name: ae, vhost: shadowed, type: fanout}
  - {name: events, vhost: federated, type: topic}
  - {name: ae, vhost: federated, type: fanout}
queues:
  - {name: audit, vhost: federated}
  - {name: inbox, vhost: federated}
federation_upstreams:
  - {name: origin, vhost: shadowed, uri: "amqp:///orders"}
  - {name: origin, vhost: federated, uri: "amqp:///orders"}
policies:
  # shadowed: the federation policy loses to a higher-priority one without federation.
  - {name: federate, vhost: shadowed, pattern: "^events$", apply_to: exchanges, priority: 0, definition: {federation-upstream: origin}}
  - {name: divert, vhost: shadowed, pattern: "^ev", apply_to: exchanges, priority: 5, definition: {alternate-exchange: ae}}
  # federated: the federation policy (a PCRE lookahead) wins over a lower one.
  - {name: federate, vhost: federated, pattern: "^ev(?=ents$)", apply_to: exchanges, priority: 5, definition: {federation-upstream: origin}}
  - {name: divert, vhost: federated, pattern: ".*", apply_to: all, priority: 0, definition: {alternate-exchange: ae}}
  # queues: `cap` shadows `federate-audit`; `federate-inbox` wins over `divert`.
  - {name: federate-audit, vhost: federated, pattern: "^audit$", apply_to: queues, priority: 1, definition: {federation-upstream: origin}}
  - {name: cap, vhost: federated, pattern: "^aud", apply_to: queues, priority: 3, definition: {max-length: 10}}
  - {name: federate-inbox, vhost: federated, pattern: "^inbox$", apply_to: queues, priority: 4, definition: {federation-upstream-set: all}}
"#,
    )
    .expect("write topology");
    let g = Graph::from_topology(&topology(path.to_str().expect("utf-8 path")));
    let federation: std::collections::BTreeSet<(String, String)> = g
        .edges
        .keys()
        .filter(|e| e.0 == EdgeKind::Federation)
        .map(|(_, _, to, label)| (to.clone(), label.clone()))
        .collect();
    assert_eq!(
        federation,
        vec![
            (
                node_id(NodeKind::Exchange, Some("federated"), "events"),
                "federation origin (federate)".to_string()
            ),
            (
                node_id(NodeKind::Queue, Some("federated"), "inbox"),
                "federation origin (federate-inbox)".to_string()
            ),
        ]
        .into_iter()
        .collect(),
        "{federation:?}"
    );
}
