//! A file that narrows the permissions or tags of topo's own user: apply changes them last,
//! after the declares and the other management calls, so the run that narrows them still
//! succeeds; a later declare that the narrowed permission refuses says which permission of
//! which user refused what. Against the real broker, as a throwaway administrator (never
//! guest, which other tests use).

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, topo_cmd, with_user};
use serde_json::json;

/// A throwaway administrator with full permissions on the test vhost, and the URLs that
/// log in as it.
fn admin(v: &TestVhost, password: &str) -> (String, [(&'static str, String); 2]) {
    let user = v.user("own");
    v.put(
        &["users", &user],
        &json!({"password": password, "tags": "administrator"}),
    );
    v.put(
        &["permissions", &v.name, &user],
        &json!({"configure": ".*", "write": ".*", "read": ".*"}),
    );
    let env = [
        (
            "TOPO_MANAGEMENT_URL",
            with_user(&broker::mgmt(), &user, password),
        ),
        ("TOPO_AMQP_URL", with_user(&broker::amqp(), &user, password)),
    ];
    (user, env)
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    topo_cmd(args, &env)
}

#[test]
fn own_permissions_go_last_and_access_refused_names_the_permission() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let (me, env) = admin(&v, "own-pw-61");
    let body = |queues: &str| {
        format!(
            "exchanges:\n  - {{name: ev, type: topic}}\nqueues:\n{queues}bindings:\n  - {{source: ev, destination: q1, routing_key: \"a.#\"}}\nusers:\n  - {{name: {me}, password_env: OWN_PW, tags: [administrator]}}\npermissions:\n  - {{user: {me}, configure: \"^$\", write: \".*\", read: \".*\"}}\n"
        )
    };
    let mut env = env.to_vec();
    env.push(("OWN_PW", "own-pw-61".to_string()));
    let file = v.file("f.yaml", &body("  - {name: q1}\n"));
    let out = run(&["apply", path_str(&file)], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Everything declared, and the narrowed permission in place after.
    assert!(v.get_opt(&["queues", &v.name, "q1"]).is_some());
    assert!(v.get_opt(&["exchanges", &v.name, "ev"]).is_some());
    let perm = v.get(&["permissions", &v.name, &me]);
    assert_eq!(perm["configure"], "^$", "{perm}");
    // Converged: the re-run has nothing to do.
    let out = run(&["plan", path_str(&file)], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // A new queue: the live `configure: "^$"` refuses its declare, and the error says so.
    // (It refuses the apply lock's queue too, so that run goes without the lock.)
    let file = v.file("f.yaml", &body("  - {name: q1}\n  - {name: q2}\n"));
    let out = run(&["apply", path_str(&file), "--no-lock"], &env);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains(&format!(
            "user `{me}` has no `configure` permission on queue 'q2' in vhost `{}`",
            v.name
        )),
        "{err}"
    );
    assert!(err.contains("ACCESS_REFUSED"), "{err}");
    assert!(!err.contains("fix the named argument"), "{err}");
    assert!(!err.contains("own-pw-61"), "{err}");
}

#[test]
fn a_binding_refused_for_read_names_the_read_permission() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let (me, env) = admin(&v, "own-pw-62");
    let file = v.file(
        "f.yaml",
        "exchanges:\n  - {name: ev, type: fanout}\nqueues:\n  - {name: q1}\n",
    );
    let out = run(&["apply", path_str(&file)], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // No read on anything: binding ev -> q1 needs read on the source exchange.
    v.put(
        &["permissions", &v.name, &me],
        &json!({"configure": ".*", "write": ".*", "read": "^$"}),
    );
    let file = v.file(
        "f.yaml",
        "exchanges:\n  - {name: ev, type: fanout}\nqueues:\n  - {name: q1}\nbindings:\n  - {source: ev, destination: q1}\n",
    );
    let out = run(&["apply", path_str(&file)], &env);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains(&format!(
            "user `{me}` has no `read` permission on exchange 'ev'"
        )),
        "{err}"
    );
}

/// Taking the administrator tag from topo's own user would lock it out halfway (the
/// verification needs the tag): refused before any change. A tag that keeps it goes last.
#[test]
fn own_administrator_tag_is_not_taken_and_other_tags_go_last() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let (me, env) = admin(&v, "own-pw-63");
    let file_with = |tags: &str| {
        v.file(
            "f.yaml",
            &format!(
                "queues:\n  - {{name: q1}}\nusers:\n  - {{name: {me}, password_env: OWN_PW, tags: [{tags}]}}\npolicies:\n  - {{name: ttl, pattern: \"^q1$\", definition: {{message-ttl: 60000}}}}\n"
            ),
        )
    };
    let mut env = env.to_vec();
    env.push(("OWN_PW", "own-pw-63".to_string()));
    let file = file_with("management");
    let out = run(&["apply", path_str(&file)], &env);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains(&format!(
            "refusing to take the `administrator` tag from `{me}`"
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(v.get_opt(&["queues", &v.name, "q1"]).is_none());

    let file = file_with("administrator, monitoring");
    let out = run(&["apply", path_str(&file)], &env);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    // The own user's change is the last step.
    // Plain progress lines: `topo: STAGE: N (at 0.1s)`.
    let steps: Vec<&str> = err.lines().filter(|l| l.contains(" (at ")).collect();
    assert!(
        steps
            .last()
            .is_some_and(|l| l.contains("topo's own user and permissions")),
        "{err}"
    );
    assert!(v.get_opt(&["policies", &v.name, "ttl"]).is_some());
    let user = v.get(&["users", &me]);
    let tags = user["tags"].to_string();
    assert!(tags.contains("monitoring"), "{user}");
}
