//! Faults end in a clear message and exit 1, never a hang, a panic or a leaked secret.

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, mgmt, path_str, stderr, stdout, topo_cmd, with_user};
use serde_json::json;

fn assert_clean_failure(out: &std::process::Output, secret: &str) {
    let err = stderr(out);
    assert_eq!(code(out), 1, "stderr: {err}");
    assert!(
        err.starts_with("error: ") || err.contains("\nerror: "),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains(secret), "secret leaked: {err}");
    assert!(!stdout(out).contains(secret));
}

#[test]
fn wrong_password_is_named_and_not_printed() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("f.yaml", "queues:\n  - {name: q}\n");
    let out = topo_cmd(
        &["plan", path_str(&file)],
        &[(
            "TOPO_MANAGEMENT_URL",
            &with_user(&mgmt(), "guest", "not-the-pw-42"),
        )],
    );
    assert_clean_failure(&out, "not-the-pw-42");
    let err = stderr(&out);
    assert!(
        err.contains("refused the credentials of user `guest`"),
        "{err}"
    );
    assert!(err.contains("RABBITMQ_USER"), "{err}");

    let out = topo_cmd(
        &["apply", path_str(&file)],
        &[
            ("RABBITMQ_USER", "guest"),
            ("RABBITMQ_PASSWORD", "env-pw-43"),
        ],
    );
    assert_clean_failure(&out, "env-pw-43");
}

#[test]
fn broker_down_fails_fast_and_wait_retries_until_its_deadline() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("f.yaml", "queues:\n  - {name: q}\n");
    let down = [
        ("TOPO_MANAGEMENT_URL", "http://127.0.0.1:1"),
        ("TOPO_AMQP_URL", "amqp://127.0.0.1:1"),
    ];
    let out = topo_cmd(&["apply", path_str(&file)], &down);
    assert_clean_failure(&out, "guest:guest");
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach the management API at http://127.0.0.1:1/"),
        "{err}"
    );
    assert!(err.contains("is the broker running"), "{err}");

    let started = std::time::Instant::now();
    let out = topo_cmd(&["plan", path_str(&file), "--wait", "2s"], &down);
    assert_clean_failure(&out, "guest:guest");
    let err = stderr(&out);
    assert!(err.contains("waiting for the broker"), "{err}");
    assert!(err.contains("not ready within --wait 2s"), "{err}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it did wait"
    );
}

#[test]
fn management_plugin_off_is_told_apart_from_broker_down() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("f.yaml", "queues:\n  - {name: q}\n");
    // The AMQP port answers, the management port beside it (15671, which no test broker
    // opens) does not: the plugin is off. Any other closed port is a wrong port.
    let out = topo_cmd(
        &["plan", path_str(&file)],
        &[("TOPO_MANAGEMENT_URL", "http://127.0.0.1:15671")],
    );
    assert_clean_failure(&out, "guest:guest");
    assert!(stderr(&out).contains("rabbitmq-plugins enable rabbitmq_management"));
    let out = topo_cmd(
        &["plan", path_str(&file)],
        &[("TOPO_MANAGEMENT_URL", "http://127.0.0.1:1")],
    );
    assert_clean_failure(&out, "guest:guest");
    assert!(
        !stderr(&out).contains("rabbitmq-plugins"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing listens at 127.0.0.1:1"));
}

#[test]
fn missing_tags_and_vhost_permissions_are_explained() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("f.yaml", "queues:\n  - {name: q}\n");
    let user = v.user("limited");
    v.put(
        &["users", &user],
        &json!({"password": "lim-pw-44", "tags": "management"}),
    );
    let url = with_user(&mgmt(), &user, "lim-pw-44");
    let out = topo_cmd(&["plan", path_str(&file)], &[("TOPO_MANAGEMENT_URL", &url)]);
    assert_clean_failure(&out, "lim-pw-44");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("user `{user}` is not allowed")),
        "{err}"
    );
    assert!(err.contains("Not administrator user"), "{err}");
    assert!(err.contains("the `administrator` tag"), "{err}");

    // An administrator without permissions on the vhost: apply's preflight says so, before
    // any change.
    v.put(
        &["users", &user],
        &json!({"password": "lim-pw-44", "tags": "administrator"}),
    );
    let amqp = with_user(&broker::amqp(), &user, "lim-pw-44");
    let out = topo_cmd(
        &["apply", path_str(&file)],
        &[("TOPO_MANAGEMENT_URL", &url), ("TOPO_AMQP_URL", &amqp)],
    );
    assert_clean_failure(&out, "lim-pw-44");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("has no permissions on vhost `{}`", v.name)),
        "{err}"
    );
}

#[test]
fn invalid_file_changes_nothing() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file(
        "f.yaml",
        "queues:\n  - {name: q, type: quorum, durable: false}\n",
    );
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 1);
    assert!(v.get_opt(&["queues", &v.name, "q"]).is_none());
}

#[test]
fn apply_changes_nothing_when_amqp_fails() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let new_vhost = v.extra_vhost();
    let file = v.file(
        "f.yaml",
        &format!(
            "vhosts:\n  - {{name: {new_vhost}}}\nqueues:\n  - {{name: q, vhost: {new_vhost}}}\n"
        ),
    );
    // The management API answers; nothing listens where the AMQP URL points.
    let out = topo_cmd(
        &["apply", path_str(&file)],
        &[("TOPO_AMQP_URL", "amqp://127.0.0.1:1")],
    );
    assert_clean_failure(&out, "guest:guest");
    let err = stderr(&out);
    assert!(err.contains("cannot connect over AMQP"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        v.get_opt(&["vhosts", &new_vhost]).is_none(),
        "the vhost was created before AMQP was checked"
    );
}

#[test]
fn ha_policy_keys_are_refused_before_any_change_on_4x() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file(
        "f.yaml",
        "queues:\n  - {name: q}\npolicies:\n  - {name: mirror, pattern: \"^q$\", definition: {ha-mode: all, message-ttl: 1000}}\n",
    );
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    let apply = v.topo(&["apply", path_str(&file)], &[]);
    if broker::is_4x() {
        // 4.x answers 400 to such a policy and stores nothing, valid keys included: topo says
        // so first, with the version, and creates nothing.
        for out in [&plan, &apply] {
            assert_clean_failure(out, "guest:guest");
            let err = stderr(out);
            assert!(
                err.contains(&format!("RabbitMQ {}", broker::version())),
                "{err}"
            );
            assert!(err.contains("`ha-mode`"), "{err}");
        }
        assert!(v.get_opt(&["queues", &v.name, "q"]).is_none());
    } else {
        // 3.x still mirrors classic queues: the policy applies.
        assert_eq!(code(&plan), 2, "{}", stderr(&plan));
        assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    }
}

#[test]
fn deprecated_features_warn_at_validate_and_fail_plan_where_the_broker_denies_them() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file(
        "f.yaml",
        "queues:\n  - {name: q, arguments: {x-queue-master-locator: min-masters}}\n",
    );
    let out = v.topo(&["validate", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "a warning, not an error: {}", stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("TOPO031"), "{said}");
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    if broker::is_4x() {
        // RabbitMQ 4.3 denies queue_master_locator by default (GET /api/deprecated-features
        // says so): plan fails before any change, naming the setting that permits it.
        assert_clean_failure(&plan, "guest:guest");
        let err = stderr(&plan);
        assert!(err.contains("x-queue-master-locator"), "{err}");
        assert!(
            err.contains("deprecated_features.permit.queue_master_locator"),
            "{err}"
        );
    } else {
        // 3.x has no such deprecation: the queue plans as any other.
        assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    }
}
