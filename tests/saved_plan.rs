//! `topo plan -o plan.json` and `topo apply plan.json`, against the real broker (one vhost
//! per test): the saved plan applies exactly, a stale one is refused with nothing changed,
//! and no secret is ever written to it.

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::{Value, json};

#[test]
fn a_saved_plan_applies_and_holds_no_secret() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("saved");
    let pw = "pw-never-in-the-plan-7f3a";
    let body = |tags: &str, queues: &str| {
        format!(
            "queues:\n{queues}users:\n  - {{name: {user}, password_env: SAVED_PW, tags: [{tags}]}}\n\
             permissions:\n  - {{user: {user}, configure: \"^q$\", write: \"^q$\", read: \"^q$\"}}\n"
        )
    };
    let file = v.file("s.yaml", &body("", "  - {name: q}\n"));
    let env = [("SAVED_PW", pw)];
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &env)), 0);
    let hash = v.get(&["users", &user])["password_hash"]
        .as_str()
        .unwrap()
        .to_string();

    // A tags change (the user goes out whole, with its stored hash) and a new queue.
    let file = v.file(
        "s.yaml",
        &body("monitoring", "  - {name: q}\n  - {name: q3}\n"),
    );
    let saved = v.dir.path().join("plan.json");
    let plan = v.topo(&["plan", path_str(&file), "-o", path_str(&saved)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("+ create queue q3@"),
        "{}",
        stdout(&plan)
    );
    assert!(stdout(&plan).contains(&format!("~ update user {user}")));
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(!text.contains(pw), "no password in the saved plan");
    assert!(!text.contains(&hash), "no password hash in the saved plan");
    assert!(!text.contains("guest"), "no credentials in the saved plan");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["topo_plan"], json!(1));
    assert_eq!(json["plan"]["summary"]["create"], json!(1));
    assert!(
        json["live_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // Apply needs the password from the environment again.
    let no_pw = v.topo(&["apply", path_str(&saved)], &[]);
    assert_eq!(code(&no_pw), 1);
    assert!(stderr(&no_pw).contains("SAVED_PW"), "{}", stderr(&no_pw));

    let applied = v.topo(&["apply", path_str(&saved)], &env);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    assert!(stdout(&applied).contains("+ create queue q3@"));
    assert!(v.get_opt(&["queues", &v.name, "q3"]).is_some());
    assert_eq!(v.get(&["users", &user])["tags"], json!(["monitoring"]));
    assert_eq!(
        v.get(&["users", &user])["password_hash"].as_str(),
        Some(hash.as_str()),
        "the password stays"
    );

    // Applied once, the plan is spent: the broker no longer matches what it was made from.
    let again = v.topo(&["apply", path_str(&saved)], &env);
    assert_eq!(code(&again), 1);
    assert!(stderr(&again).contains("stale plan"), "{}", stderr(&again));
}

#[test]
fn a_plan_whose_broker_moved_is_refused_and_changes_nothing() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("m.yaml", "queues:\n  - {name: a}\n");
    let saved = v.dir.path().join("plan.json");
    assert_eq!(
        code(&v.topo(&["plan", path_str(&file), "-o", path_str(&saved)], &[])),
        2
    );
    // Someone else changes the vhost between plan and apply.
    v.put(
        &["exchanges", &v.name, "someone.else"],
        &json!({"type": "fanout"}),
    );
    let out = v.topo(&["apply", path_str(&saved)], &[]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "stale plan: the broker's state changed since the plan was made; nothing was changed"
        ),
        "{err}"
    );
    assert!(err.contains("re-run topo plan -o"), "{err}");
    assert!(
        v.get_opt(&["queues", &v.name, "a"]).is_none(),
        "nothing changed"
    );
}

#[test]
fn a_plan_whose_files_changed_is_refused_and_changes_nothing() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let base = v.file("base.yaml", "queues:\n  - {name: a}\n");
    let file = v.dir.path().join("over.yaml");
    std::fs::write(&file, "extends: base.yaml\nqueues:\n  - {name: b}\n").unwrap();
    let saved = v.dir.path().join("plan.json");
    let out = v.topo(&["plan", path_str(&file), "-o", path_str(&saved)], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(
        json["files"].as_array().unwrap().len(),
        2,
        "both files: {json}"
    );

    // The base file of the chain changes.
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, text.replace("{name: a}", "{name: a2}")).unwrap();
    let out = v.topo(&["apply", path_str(&saved)], &[]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("stale plan:"), "{err}");
    assert!(
        err.contains("base.yaml changed since the plan was made"),
        "{err}"
    );
    assert!(
        v.get_opt(&["queues", &v.name, "b"]).is_none(),
        "nothing changed"
    );
}

#[test]
fn a_saved_plan_fixes_its_options_and_is_its_own_approval() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("p.yaml", "queues:\n  - {name: keep}\n");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    v.put(&["queues", &v.name, "stray"], &json!({"durable": true}));
    let saved = v.dir.path().join("plan.json");
    let out = v.topo(
        &["plan", path_str(&file), "--prune", "-o", path_str(&saved)],
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("- delete queue stray@"));

    let flags = v.topo(&["apply", path_str(&saved), "--prune"], &[]);
    assert_eq!(code(&flags), 1);
    assert!(
        stderr(&flags).contains("is a saved plan"),
        "{}",
        stderr(&flags)
    );

    // Reviewed when saved: applying it asks nothing, even without a terminal.
    let out = v.topo(&["apply", path_str(&saved)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_none());
    assert!(v.get_opt(&["queues", &v.name, "keep"]).is_some());
}

#[test]
fn a_saved_plan_is_for_the_broker_it_was_made_against() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("b.yaml", "queues:\n  - {name: a}\n");
    let saved = v.dir.path().join("plan.json");
    assert_eq!(
        code(&v.topo(&["plan", path_str(&file), "-o", path_str(&saved)], &[])),
        2
    );
    // The same broker under another name is another target as far as the plan knows.
    let out = v.topo(
        &["apply", path_str(&saved)],
        &[(
            "TOPO_MANAGEMENT_URL",
            &broker::mgmt().replace("127.0.0.1", "localhost"),
        )],
    );
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!("it was made against {}/", broker::mgmt())),
        "{}",
        stderr(&out)
    );
    assert!(v.get_opt(&["queues", &v.name, "a"]).is_none());
}

/// `-` on the broker commands: plan and apply read the topology from standard input, and
/// `topo apply -` also takes a saved plan piped in.
#[test]
fn plan_and_apply_read_stdin() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let run = |args: &[&str], input: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_topo"))
            .args(args)
            .current_dir(v.dir.path())
            .env_remove("TOPO_FILE")
            .env("TOPO_AMQP_URL", broker::amqp())
            .env("TOPO_MANAGEMENT_URL", broker::mgmt())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_string();
        let w = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let out = child.wait_with_output().unwrap();
        let _ = w.join();
        out
    };
    let body = format!(
        "version: 1\nvhost: {}\nqueues:\n  - {{name: piped}}\n",
        v.name
    );
    let plan = run(&["plan", "-"], &body);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("+ create queue piped@"),
        "{}",
        stdout(&plan)
    );
    let applied = run(&["apply", "-"], &body);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    assert!(v.get_opt(&["queues", &v.name, "piped"]).is_some());

    // A saved plan piped into apply.
    let file = v.file("s.yaml", "queues:\n  - {name: piped}\n  - {name: saved}\n");
    let saved = v.dir.path().join("plan.json");
    let p = v.topo(&["plan", path_str(&file), "-o", path_str(&saved)], &[]);
    assert_eq!(code(&p), 2, "{}", stderr(&p));
    let text = std::fs::read_to_string(&saved).unwrap();
    let applied = run(&["apply", "-"], &text);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    assert!(v.get_opt(&["queues", &v.name, "saved"]).is_some());
}
