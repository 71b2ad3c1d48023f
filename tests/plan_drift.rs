//! Drift that does not hide: without `--prune`, plan and apply count what the broker has
//! in the file's vhosts and the file lacks (real broker, one vhost per test).

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::json;

#[test]
fn plan_counts_what_only_prune_would_delete() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file(
        "d.yaml",
        "exchanges:\n  - {name: x, type: fanout}\nqueues:\n  - {name: keep}\n",
    );
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    let clean = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&clean), 0);
    assert!(
        !stdout(&clean).contains("not in the file"),
        "{}",
        stdout(&clean)
    );

    for q in ["s1", "s2", "s3"] {
        v.put(&["queues", &v.name, q], &json!({"durable": true}));
    }
    v.post(
        &["bindings", &v.name, "e", "x", "q", "s1"],
        &json!({"routing_key": ""}),
    );
    v.post(
        &["bindings", &v.name, "e", "x", "q", "s2"],
        &json!({"routing_key": ""}),
    );
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 0, "no changes without --prune");
    let text = stdout(&plan);
    assert!(
        text.ends_with(
            "3 queues and 2 bindings on the broker are not in the file: topo plan --prune lists them.\n"
        ),
        "{text}"
    );
    let json = v.topo(&["plan", path_str(&file), "--format", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(
        doc["changed"],
        json!(false),
        "stdout stays the JSON contract"
    );
    assert!(stderr(&json).contains("topo: note: 3 queues and 2 bindings"));

    let pruned = v.topo(&["plan", path_str(&file), "--prune"], &[]);
    assert_eq!(code(&pruned), 2);
    assert!(!stdout(&pruned).contains("not in the file"));
    assert_eq!(
        stdout(&pruned).matches("- delete").count(),
        5,
        "{}",
        stdout(&pruned)
    );

    let apply = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&apply), 0);
    assert!(stderr(&apply).contains("3 queues and 2 bindings on the broker are not in the file"));
}
