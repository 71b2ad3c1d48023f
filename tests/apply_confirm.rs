//! The question before a destructive apply: asked in a real pseudo-terminal (rexpect),
//! refused without a terminal, skipped by `--yes` / `--auto-approve`; against the real
//! broker, each test in its own vhost.

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, pty_topo, stderr};
use rexpect::process::WaitStatus;
use serde_json::json;

fn exit_code(p: &rexpect::session::PtySession) -> i32 {
    match p.process().wait().expect("wait for topo") {
        WaitStatus::Exited(_, c) => c,
        other => panic!("topo did not exit normally: {other:?}"),
    }
}

/// A vhost holding queue `keep` and a stray queue `stray` that `--prune` deletes.
fn with_stray(v: &TestVhost) -> std::path::PathBuf {
    let file = v.file("c.yaml", "queues:\n  - {name: keep}\n");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    v.put(&["queues", &v.name, "stray"], &json!({"durable": true}));
    file
}

#[test]
fn a_destructive_plan_without_a_terminal_is_refused_unless_yes() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = with_stray(&v);
    // Test processes get no terminal on stdin (Command::output gives a null stdin).
    let refused = v.topo(&["apply", path_str(&file), "--prune"], &[]);
    assert_eq!(code(&refused), 1);
    let err = stderr(&refused);
    assert!(
        err.contains("refusing to delete 1 entity without confirmation"),
        "{err}"
    );
    assert!(err.contains("--yes (or --auto-approve)"), "{err}");
    assert!(
        v.get_opt(&["queues", &v.name, "stray"]).is_some(),
        "nothing changed"
    );

    let done = v.topo(
        &["apply", path_str(&file), "--prune", "--auto-approve"],
        &[],
    );
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_none());
}

#[test]
fn on_a_terminal_apply_asks_and_only_yes_goes_on() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = with_stray(&v);

    let mut p = pty_topo(&["apply", path_str(&file), "--prune"]);
    p.exp_string("- delete queue stray@").unwrap();
    p.exp_string("This plan will delete 1 entity on the broker.")
        .unwrap();
    p.exp_string("Enter a value:").unwrap();
    p.send_line("no").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(
        rest.contains("apply cancelled; nothing was changed"),
        "{rest}"
    );
    assert_eq!(exit_code(&p), 1);
    assert!(
        v.get_opt(&["queues", &v.name, "stray"]).is_some(),
        "nothing changed"
    );

    let mut p = pty_topo(&["apply", path_str(&file), "--prune"]);
    p.exp_string("Enter a value:").unwrap();
    p.send_line("yes").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("the broker matches the file"), "{rest}");
    assert_eq!(exit_code(&p), 0);
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_none());
}

#[test]
fn on_a_terminal_a_plan_that_only_creates_runs_without_a_question() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("c.yaml", "queues:\n  - {name: fresh}\n");
    let mut p = pty_topo(&["apply", path_str(&file)]);
    let all = p.exp_eof().unwrap();
    assert!(!all.contains("Enter a value"), "{all}");
    assert!(all.contains("the broker matches the file"), "{all}");
    assert_eq!(exit_code(&p), 0);
    assert!(v.get_opt(&["queues", &v.name, "fresh"]).is_some());
}

#[test]
fn yes_skips_the_question_on_a_terminal() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = with_stray(&v);
    let mut p = pty_topo(&["apply", path_str(&file), "--prune", "-y"]);
    let all = p.exp_eof().unwrap();
    assert!(!all.contains("Enter a value"), "{all}");
    assert_eq!(exit_code(&p), 0, "{all}");
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_none());
}
