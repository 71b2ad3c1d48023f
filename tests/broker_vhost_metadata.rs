//! Vhost metadata against the real broker (3.10 and 4.x): description, tags and default
//! queue type are created, one changes without the others being lost (the vhost PUT sends
//! them all), fields the file leaves out stay, and nothing reads as a diff afterwards. 3.10
//! keeps no default queue type: topo says so, and the queues of such a vhost still converge.

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::{Value, json};

fn file(v: &TestVhost, name: &str, vhost_entry: &str) -> std::path::PathBuf {
    let path = v.dir.path().join("meta.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\nvhost: {name}\nvhosts:\n  - {{name: {name}, {vhost_entry}}}\nqueues:\n  - {{name: jobs}}\n"
        ),
    )
    .expect("write the topology file");
    path
}

fn live(v: &TestVhost, name: &str) -> Value {
    v.get(&["vhosts", name])
}

fn tags(vhost: &Value) -> Vec<String> {
    let mut t: Vec<String> = match &vhost["tags"] {
        Value::Array(items) => items
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        Value::String(s) => s
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    t.sort();
    t
}

#[test]
fn vhost_metadata_create_change_one_field_and_no_false_diff() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let name = v.extra_vhost();
    let keeps_type = broker::is_4x();
    let path = file(
        &v,
        &name,
        "description: first, tags: [team-a, billing], default_queue_type: quorum",
    );
    let apply = v.topo(&["apply", path_str(&path)], &[]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let got = live(&v, &name);
    assert_eq!(got["description"], json!("first"), "{got}");
    assert_eq!(tags(&got), ["billing", "team-a"], "{got}");
    if keeps_type {
        assert_eq!(got["default_queue_type"], json!("quorum"), "{got}");
    } else {
        // 3.10 drops it, and topo says so rather than planning it forever.
        assert!(
            stderr(&apply).contains("keeps no per-vhost default queue type"),
            "{}",
            stderr(&apply)
        );
    }
    // The queue without a type gets the vhost's default where the broker keeps one; on
    // 3.10 it is declared quorum itself. Either way it is quorum, and no diff.
    let queue = v.get(&["queues", &name, "jobs"]);
    assert_eq!(queue["type"], json!("quorum"), "{queue}");
    v.assert_no_diff(&path, &[]);

    // One field changes: the plan names only it, and the others survive the PUT.
    let path = file(
        &v,
        &name,
        "description: second, tags: [team-a, billing], default_queue_type: quorum",
    );
    let plan = v.topo(&["plan", path_str(&path)], &[]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains(&format!("~ update vhost {name}")), "{text}");
    assert!(text.contains("description: first -> second"), "{text}");
    assert!(!text.contains("tags"), "{text}");
    assert!(!text.contains("default_queue_type"), "{text}");
    let apply = v.topo(&["apply", path_str(&path)], &[]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let got = live(&v, &name);
    assert_eq!(got["description"], json!("second"), "{got}");
    assert_eq!(tags(&got), ["billing", "team-a"], "{got}");
    if keeps_type {
        assert_eq!(got["default_queue_type"], json!("quorum"), "{got}");
    }
    v.assert_no_diff(&path, &[]);

    // A field the file leaves out is not managed: it stays as it is, with no diff; a tags
    // change keeps the description. (The default queue type stays in the file: without it,
    // the file's typeless queue means classic, a replace.)
    let path = file(&v, &name, "tags: [team-b], default_queue_type: quorum");
    let plan = v.topo(&["plan", path_str(&path)], &[]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("tags:"), "{text}");
    assert!(!text.contains("description"), "{text}");
    let apply = v.topo(&["apply", path_str(&path)], &[]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let got = live(&v, &name);
    assert_eq!(got["description"], json!("second"), "{got}");
    assert_eq!(tags(&got), ["team-b"], "{got}");
    if keeps_type {
        assert_eq!(got["default_queue_type"], json!("quorum"), "{got}");
    }
    v.assert_no_diff(&path, &[]);

    // Export carries the metadata back.
    let export = v.topo(&["export", "--vhost", &name], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let text = stdout(&export);
    assert!(text.contains("description: second"), "{text}");
    assert!(text.contains("team-b"), "{text}");
    if keeps_type {
        assert!(text.contains("default_queue_type: quorum"), "{text}");
    }
}
