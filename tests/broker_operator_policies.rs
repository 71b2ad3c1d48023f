//! Operator policies against the real broker (3.10 and 4.x): apply, no false diff,
//! field-level update, prune, export, destroy; and the effective definition the broker
//! reports for a queue (`effective_policy_definition`) against topo's own computation
//! (`state::effective`), for a classic and a quorum queue under a user policy and two
//! operator policies.

#[path = "common/broker.rs"]
mod broker;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::{Value, json};
use topo::state::effective::{Line, effective};
use topo::state::{EntityKey, State};
use topo::topology::{Disk, EnvSource};

fn file_body(cap: i64) -> String {
    format!(
        r#"queues:
  - {{name: q.classic}}
  - {{name: q.quorum, type: quorum}}
policies:
  - {{name: limits, pattern: "^q\\.", apply_to: queues, definition: {{max-length: 1000, message-ttl: 60000}}}}
operator_policies:
  - {{name: cap, pattern: "^q\\.", definition: {{max-length: {cap}, message-ttl: 120000, max-length-bytes: 1048576}}}}
  - {{name: dl, pattern: "^q\\.", priority: 5, definition: {{delivery-limit: 10}}}}
"#
    )
}

/// The broker's operator policies in the test vhost, by name.
fn live(v: &TestVhost) -> BTreeMap<String, Value> {
    v.get(&["operator-policies", &v.name])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p.clone())))
        .collect()
}

/// topo's effective definition of `queue`, from the file alone.
fn topo_effective(path: &Path, queue: &str) -> (Option<String>, Option<String>, Value) {
    let loaded = topo::validate::load_with(path, &Disk, &EnvSource::Fixed(HashMap::new()));
    let topology = loaded.topology.expect("the test file is valid");
    let state = State::from_topology(&topology, &|_| None);
    let vhost = topology
        .vhost
        .clone()
        .expect("the test file names its vhost");
    let key = EntityKey::new(vhost, queue);
    let kind = state.queues[&key].kind;
    let line = if broker::is_4x() { Line::V4 } else { Line::V3 };
    let e = effective(&state, &key, kind, line);
    let def: serde_json::Map<String, Value> = e
        .definition
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    (e.policy, e.operator_policy, Value::Object(def))
}

/// The broker's view of `queue` once its policies show: the management API reports them
/// from queue stats, a moment after the declare.
fn broker_effective(v: &TestVhost, queue: &str, operator: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let q = v.get(&["queues", &v.name, queue]);
        if q["operator_policy"] == json!(operator) || Instant::now() > deadline {
            return q;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn operator_policies_apply_update_prune_export_destroy() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("op.yaml", &file_body(500));
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("+ create operator policy cap@{}", v.name)),
        "{text}"
    );
    let apply = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let got = live(&v);
    assert_eq!(got["cap"]["apply-to"], json!("queues"), "{got:?}");
    assert_eq!(got["cap"]["definition"]["max-length"], json!(500));
    assert_eq!(got["dl"]["priority"], json!(5));
    // The plan says what the classic queue gets where the two policies disagree.
    assert!(
        stderr(&apply).contains("queue q.classic@".to_string().as_str())
            && stderr(&apply)
                .contains("max-length is 500 from operator policy cap (policy limits sets 1000)"),
        "{}",
        stderr(&apply)
    );

    // No false diff, with or without prune, in text and JSON.
    v.assert_no_diff(&file, &[]);

    // The broker's effective definitions are topo's: the classic queue takes `cap` (`dl`
    // sets a key classic queues refuse, so it does not apply there despite its priority),
    // the quorum queue takes `dl`.
    for (queue, operator) in [("q.classic", "cap"), ("q.quorum", "dl")] {
        let (policy, op, want) = topo_effective(&file, queue);
        assert_eq!(op.as_deref(), Some(operator), "{queue}");
        let q = broker_effective(&v, queue, operator);
        assert_eq!(q["policy"], json!(policy), "{queue}: {q}");
        assert_eq!(q["operator_policy"], json!(op), "{queue}: {q}");
        assert_eq!(q["effective_policy_definition"], want, "{queue}: {q}");
    }

    // A field-level update.
    let file = v.file("op.yaml", &file_body(400));
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(text.contains("~ update operator policy cap@"), "{text}");
    assert!(text.contains("definition.max-length: 500 -> 400"), "{text}");
    assert!(!text.contains("message-ttl"), "{text}");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    assert_eq!(live(&v)["cap"]["definition"]["max-length"], json!(400));
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &[])), 0);

    // One the file lacks stays without --prune and goes with it.
    v.put(
        &["operator-policies", &v.name, "extra"],
        &json!({"pattern": "^zzz", "apply-to": "queues", "definition": {"expires": 60000}}),
    );
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &[])), 0);
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &[]);
    assert_eq!(code(&plan), 2);
    assert!(
        stdout(&plan).contains(&format!("- delete operator policy extra@{}", v.name)),
        "{}",
        stdout(&plan)
    );
    let apply = v.topo(&["apply", path_str(&file), "--prune", "--yes"], &[]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert!(!live(&v).contains_key("extra"));

    // Export writes them back, and the export plans as no change.
    let export = v.topo(&["export", "--vhost", &v.name], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let text = stdout(&export);
    assert!(text.contains("operator_policies:"), "{text}");
    assert!(text.contains("name: cap"), "{text}");
    let exported = v.dir.path().join("export.yaml");
    std::fs::write(&exported, &text).expect("write the export");
    let plan = v.topo(&["plan", path_str(&exported), "--prune"], &[]);
    assert_eq!(code(&plan), 0, "{}{}\n{text}", stdout(&plan), stderr(&plan));

    // Destroy removes the file's operator policies. (`--allow-data-loss`: 3.10 refuses the
    // `if-empty` delete of a quorum queue, which topo uses without it.)
    let destroy = v.topo(
        &["destroy", path_str(&file), "--yes", "--allow-data-loss"],
        &[],
    );
    assert_eq!(
        code(&destroy),
        0,
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    assert!(live(&v).is_empty(), "{:?}", live(&v));
}

#[test]
fn operator_policy_keys_the_broker_refuses_are_refused_before_any_change() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    // A queue beside the refused policy: an apply that went ahead would declare it.
    let file = v.file(
        "op.yaml",
        "queues:\n  - {name: beside}\noperator_policies:\n  - {name: bad, pattern: \".*\", definition: {dead-letter-exchange: dlx}}\n",
    );
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 1, "{}", stdout(&plan));
    let err = stderr(&plan);
    assert!(err.contains("TOPO037"), "{err}");
    assert!(err.contains("max-length, max-length-bytes"), "{err}");
    assert!(live(&v).is_empty());

    // Apply refuses the same file before any change: no policy, no queue.
    let apply = v.topo(&["apply", path_str(&file), "--yes"], &[]);
    let err = stderr(&apply);
    assert_eq!(code(&apply), 1, "{}{err}", stdout(&apply));
    assert!(err.contains("TOPO037"), "{err}");
    assert!(!err.contains("applied"), "{err}");
    assert!(live(&v).is_empty(), "{:?}", live(&v));
    assert_eq!(v.get_opt(&["queues", &v.name, "beside"]), None);
}
