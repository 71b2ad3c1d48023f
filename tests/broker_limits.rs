//! Vhost and user limits against the real broker (3.10 and 4.x): set, change, remove by
//! `-1`, prune, no false diff after apply, export round trip, and the apply order that lets
//! a file raise `max-queues` for its own queues and set `max-connections: 0` on the vhost
//! topo declares into.

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::{Value, json};

fn file_body(user: &str, vhost_limits: &str, user_limits: &str) -> String {
    format!(
        r#"users:
  - {{name: {user}, password_env: TOPO_TEST_PW}}
permissions:
  - {{user: {user}, configure: ".*", write: ".*", read: ".*"}}
vhost_limits:
  - {{{vhost_limits}}}
user_limits:
  - {{user: {user}, {user_limits}}}
"#
    )
}

/// The broker's limits of this test's vhost (`{}` when it has none).
fn vhost_limits(v: &TestVhost) -> Value {
    v.get(&["vhost-limits", &v.name])
        .as_array()
        .and_then(|l| l.first())
        .map(|l| l["value"].clone())
        .unwrap_or_else(|| json!({}))
}

fn user_limits(v: &TestVhost, user: &str) -> Value {
    v.get(&["user-limits", user])
        .as_array()
        .and_then(|l| l.first())
        .map(|l| l["value"].clone())
        .unwrap_or_else(|| json!({}))
}

#[test]
fn limits_set_change_remove_prune_and_export() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("lim");
    let env = [("TOPO_TEST_PW", "lim-secret")];
    let file = v.file(
        "limits.yaml",
        &file_body(
            &user,
            "max-connections: 10, max-queues: 50",
            "max-connections: 3, max-channels: 7",
        ),
    );

    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("+ create limits of vhost {}", v.name)),
        "{text}"
    );
    assert!(
        text.contains(&format!("+ create limits of user {user}")),
        "{text}"
    );

    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert_eq!(
        vhost_limits(&v),
        json!({"max-connections": 10, "max-queues": 50})
    );
    assert_eq!(
        user_limits(&v, &user),
        json!({"max-connections": 3, "max-channels": 7})
    );
    v.assert_no_diff(&file, &env);

    // A field-level change: one limit of each, the others untouched.
    let file = v.file(
        "limits.yaml",
        &file_body(
            &user,
            "max-connections: 20, max-queues: 50",
            "max-connections: 3, max-channels: 9",
        ),
    );
    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(text.contains("~ update limits of vhost"), "{text}");
    assert!(text.contains("max-connections: 10 -> 20"), "{text}");
    assert!(text.contains("max-channels: 7 -> 9"), "{text}");
    assert!(!text.contains("max-queues"), "{text}");
    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert_eq!(
        vhost_limits(&v),
        json!({"max-connections": 20, "max-queues": 50})
    );
    assert_eq!(
        user_limits(&v, &user),
        json!({"max-connections": 3, "max-channels": 9})
    );
    v.assert_no_diff(&file, &env);

    // -1 removes a limit (DELETE, not a stored -1), and then reads as no diff.
    let file = v.file(
        "limits.yaml",
        &file_body(
            &user,
            "max-connections: -1, max-queues: 50",
            "max-connections: -1, max-channels: 9",
        ),
    );
    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2);
    assert!(
        stdout(&plan).contains("max-connections: 20 -> (none)"),
        "{}",
        stdout(&plan)
    );
    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert_eq!(vhost_limits(&v), json!({"max-queues": 50}));
    assert_eq!(user_limits(&v, &user), json!({"max-channels": 9}));
    v.assert_no_diff(&file, &env);

    // Limits the file does not name stay without --prune and go with it. A -1 someone set
    // by hand is no limit, hence no diff either.
    v.put(
        &["vhost-limits", &v.name, "max-connections"],
        &json!({"value": -1}),
    );
    v.put(
        &["user-limits", &user, "max-connections"],
        &json!({"value": 4}),
    );
    let file = v.file(
        "limits.yaml",
        &file_body(&user, "max-queues: 50", "max-channels: 9"),
    );
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &env);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("~ update limits of user {user}")),
        "{text}"
    );
    assert!(text.contains("max-connections: 4 -> (none)"), "{text}");
    assert!(!text.contains("limits of vhost"), "{text}");
    let apply = v.topo(&["apply", path_str(&file), "--prune", "--yes"], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert_eq!(user_limits(&v, &user), json!({"max-channels": 9}));
    v.assert_no_diff(&file, &env);

    // Export writes them back, and the export plans as no change.
    let export = v.topo(&["export", "--vhost", &v.name], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let text = stdout(&export);
    assert!(text.contains("vhost_limits:"), "{text}");
    assert!(text.contains("max-queues: 50"), "{text}");
    assert!(text.contains("user_limits:"), "{text}");
    assert!(text.contains("max-channels: 9"), "{text}");
    let exported = v.dir.path().join("export.yaml");
    std::fs::write(&exported, &text).unwrap();
    let plan = v.topo(&["plan", path_str(&exported), "--prune"], &[]);
    assert_eq!(code(&plan), 0, "{}{}\n{text}", stdout(&plan), stderr(&plan));

    // A file that drops its limits entirely: kept, unless --prune (then deleted).
    let file = v.file(
        "limits.yaml",
        &format!(
            "users:\n  - {{name: {user}, password_env: TOPO_TEST_PW}}\npermissions:\n  - {{user: {user}, configure: \".*\", write: \".*\", read: \".*\"}}\n"
        ),
    );
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &env);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("- delete limits of vhost {}", v.name)),
        "{text}"
    );
    assert!(
        text.contains(&format!("- delete limits of user {user}")),
        "{text}"
    );
    let apply = v.topo(&["apply", path_str(&file), "--prune", "--yes"], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    // The -1 stored by hand above is no limit: read as none, so left alone.
    assert_eq!(vhost_limits(&v), json!({"max-connections": -1}));
    assert_eq!(user_limits(&v, &user), json!({}));
}

#[test]
fn limits_loosen_before_declares_and_tighten_after() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    // Room for one queue: topo's apply lock (an exclusive queue). The file raises the limit
    // and declares two queues, so the raise must land before the declares.
    v.put(
        &["vhost-limits", &v.name, "max-queues"],
        &json!({"value": 1}),
    );
    let file = v.file(
        "limits.yaml",
        "queues:\n  - {name: a}\n  - {name: b}\nvhost_limits:\n  - {max-queues: 5, max-connections: 0}\n",
    );
    let apply = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    // validate said what max-connections 0 means for the next apply.
    assert!(
        stderr(&apply).contains("cannot connect to it"),
        "{}",
        stderr(&apply)
    );
    assert_eq!(
        vhost_limits(&v),
        json!({"max-connections": 0, "max-queues": 5})
    );
    let queues = v.get(&["queues", &v.name]);
    assert_eq!(queues.as_array().map(Vec::len), Some(2), "{queues}");
    // The tightened limit holds after topo's own declares: plans (management API only)
    // still read, and an apply that needs the vhost's AMQP side stops with the broker's
    // reason, changing nothing.
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 0, "{}{}", stdout(&plan), stderr(&plan));
    let file = v.file(
        "limits.yaml",
        "queues:\n  - {name: a}\n  - {name: b}\n  - {name: c}\nvhost_limits:\n  - {max-queues: 5, max-connections: 0}\n",
    );
    let apply = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&apply), 1, "{}\n{}", stdout(&apply), stderr(&apply));
    // The broker's reason, not a missing permission (RabbitMQ says NOT_ALLOWED for both).
    let err = stderr(&apply);
    assert!(
        err.contains(&format!(
            "the broker refused the connection of user `guest` to vhost `{}`: connection \
             limit (0) is reached",
            v.name
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        err.contains("raise or remove that `max-connections`"),
        "{err}"
    );
    assert!(!err.contains("set its permissions"), "{err}");
    let queues = v.get(&["queues", &v.name]);
    assert_eq!(queues.as_array().map(Vec::len), Some(2), "{queues}");
}
