//! Topic permissions against the real broker (3.10 and 4.x): apply, no false diff, the
//! broker enforcing them, field-level update, prune, export.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "common/amqp.rs"]
mod amqp;
#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::{Value, json};

fn file_body(user: &str, write: &str) -> String {
    format!(
        r#"exchanges:
  - {{name: telemetry, type: topic}}
users:
  - {{name: {user}, password_env: TOPO_TEST_PW}}
permissions:
  - {{user: {user}, configure: "^$", write: ".*", read: ".*"}}
topic_permissions:
  - {{user: {user}, exchange: telemetry, write: "{write}", read: ".*"}}
  - {{user: {user}, exchange: amq.topic, write: "^public\\.", read: "^$"}}
"#
    )
}

/// Whether the broker takes a publish of `user` to `exchange` with `key` (confirmed), or
/// refuses it (the channel closes with ACCESS_REFUSED).
fn publish_allowed(v: &TestVhost, user: &str, exchange: &str, key: &str) -> bool {
    amqp::publish(user, "tp-secret", &v.name, exchange, key, "x")
}

fn live(v: &TestVhost, user: &str) -> Vec<Value> {
    // 404 when the user has none in the vhost.
    let mut got: Vec<Value> = v
        .get_opt(&["topic-permissions", &v.name, user])
        .and_then(|l| l.as_array().cloned())
        .unwrap_or_default();
    got.sort_by_key(|p| p["exchange"].as_str().unwrap_or_default().to_string());
    got
}

#[test]
fn topic_permissions_apply_enforce_update_and_prune() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("tp");
    let env = [("TOPO_TEST_PW", "tp-secret")];
    let file = v.file("tp.yaml", &file_body(&user, "^sensors\\\\.{username}\\\\."));

    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!(
            "+ create topic permissions of {user} in vhost {}",
            v.name
        )),
        "{text}"
    );
    assert!(text.contains("telemetry.write"), "{text}");

    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let got = live(&v, &user);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["exchange"], json!("amq.topic"));
    assert_eq!(got[0]["write"], json!("^public\\."));
    assert_eq!(got[1]["write"], json!("^sensors\\.{username}\\."));

    // No false diff, with or without prune, in text and JSON.
    v.assert_no_diff(&file, &env);

    // The broker enforces what topo set ({username} expanded by the broker).
    assert!(publish_allowed(
        &v,
        &user,
        "telemetry",
        &format!("sensors.{user}.t")
    ));
    assert!(!publish_allowed(
        &v,
        &user,
        "telemetry",
        "sensors.someone-else.t"
    ));
    assert!(publish_allowed(&v, &user, "amq.topic", "public.news"));
    assert!(!publish_allowed(&v, &user, "amq.topic", "private.news"));

    // A field-level update: only telemetry's write pattern changes.
    let file = v.file("tp.yaml", &file_body(&user, ".*"));
    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(text.contains("~ update topic permissions of"), "{text}");
    assert!(text.contains("telemetry.write"), "{text}");
    assert!(!text.contains("amq.topic.write"), "{text}");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &env)), 0);
    assert!(publish_allowed(&v, &user, "telemetry", "anything"));
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);

    // One the file lacks stays without --prune, goes with it (the others stay).
    v.put(
        &["topic-permissions", &v.name, &user],
        &json!({"exchange": "amq.direct", "write": ".*", "read": ".*"}),
    );
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &env);
    assert_eq!(code(&plan), 2);
    assert!(
        stdout(&plan).contains("amq.direct.write: .* -> (none)"),
        "{}",
        stdout(&plan)
    );
    let apply = v.topo(&["apply", path_str(&file), "--prune", "--yes"], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let exchanges: Vec<Value> = live(&v, &user)
        .iter()
        .map(|p| p["exchange"].clone())
        .collect();
    assert_eq!(exchanges, [json!("amq.topic"), json!("telemetry")]);

    // Export gives them back, and the export plans as no change.
    let export = v.topo(&["export", "--vhost", &v.name], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let text = stdout(&export);
    assert!(text.contains("topic_permissions:"), "{text}");
    assert!(text.contains("exchange: telemetry"), "{text}");
}

#[test]
fn a_user_the_file_gives_no_topic_permissions_loses_them_under_prune_only() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("tpo");
    let other = v.user("tpx");
    let env = [("TOPO_TEST_PW", "tp-secret")];
    let file = v.file("tp.yaml", &file_body(&user, ".*"));
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &env)), 0);
    v.put(&["users", &other], &json!({"password": "x", "tags": ""}));
    v.put(
        &["topic-permissions", &v.name, &other],
        &json!({"exchange": "amq.topic", "write": ".*", "read": ".*"}),
    );
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &env);
    assert_eq!(code(&plan), 2);
    assert!(
        stdout(&plan).contains(&format!(
            "- delete topic permissions of {other} in vhost {}",
            v.name
        )),
        "{}",
        stdout(&plan)
    );
    let apply = v.topo(&["apply", path_str(&file), "--prune", "--yes"], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert!(live(&v, &other).is_empty());
    assert_eq!(live(&v, &user).len(), 2);
}
