//! One apply at a time, against the real broker (one vhost per test): the lock is an
//! exclusive queue the broker holds for the apply's connection. An apply waiting at its
//! confirmation question (in a pseudo-terminal) holds the lock; a second apply gives up
//! after `--lock-timeout` naming the holder, or waits and then runs; a holder killed with
//! SIGKILL loses the lock because the broker drops its connection; `--lock-timeout 2s`
//! gives up after two seconds, names the holder as the lock records it and changes nothing.

#[path = "common/broker.rs"]
mod broker;

use std::process::Stdio;

use broker::{TestVhost, code, path_str, pty_topo, stderr, topo_command};
use rexpect::process::Signal;
use serde_json::json;

/// A vhost with a stray queue, so that `apply --prune` asks (and holds the lock meanwhile).
fn setup(v: &TestVhost) -> std::path::PathBuf {
    let file = v.file("l.yaml", "queues:\n  - {name: keep}\n");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    v.put(&["queues", &v.name, "stray"], &json!({"durable": true}));
    file
}

#[test]
fn a_second_apply_gives_up_naming_the_holder_and_a_killed_holder_lets_go() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = setup(&v);
    let mut holder = pty_topo(&["apply", path_str(&file), "--prune"]);
    holder.exp_string("Enter a value:").unwrap();

    let second = v.topo(
        &[
            "apply",
            path_str(&file),
            "--prune",
            "--yes",
            "--lock-timeout",
            "1s",
        ],
        &[],
    );
    assert_eq!(code(&second), 1);
    let err = stderr(&second);
    assert!(
        err.contains(&format!(
            "another topo apply holds the lock on vhost {}",
            v.name
        )),
        "{err}"
    );
    assert!(err.contains("broker user guest, pid "), "{err}");
    assert!(err.contains("since 20"), "the start time: {err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_some());
    let lock = v.get(&["queues", &v.name, "topo.apply-lock"]);
    assert_eq!(lock["exclusive"], json!(true));

    // A crash: the broker drops the dead process's connection, and the lock with it.
    holder.process_mut().signal(Signal::SIGKILL).unwrap();
    let _ = holder.process().wait();
    let after = v.topo(
        &[
            "apply",
            path_str(&file),
            "--prune",
            "--yes",
            "--lock-timeout",
            "30s",
        ],
        &[],
    );
    assert_eq!(code(&after), 0, "{}", stderr(&after));
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_none());
    assert!(
        v.get_opt(&["queues", &v.name, "topo.apply-lock"]).is_none(),
        "released at the end"
    );
}

#[test]
fn two_applies_at_once_take_turns() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = setup(&v);
    let mut first = pty_topo(&["apply", path_str(&file), "--prune"]);
    first.exp_string("Enter a value:").unwrap();

    // The second waits for the lock while the first is asking.
    let second = topo_command(&[
        "apply",
        path_str(&file),
        "--prune",
        "--yes",
        "--lock-timeout",
        "60s",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        v.get_opt(&["queues", &v.name, "stray"]).is_some(),
        "the second apply has not run past the lock"
    );
    first.send_line("yes").unwrap();
    let out = first.exp_eof().unwrap();
    assert!(out.contains("the broker matches the file"), "{out}");

    let second = second.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{err}");
    // It planned after the first had finished: nothing was left for it to delete.
    assert!(err.contains("nothing to do"), "{err}");
}

/// The host name the lock records (as topo reads it).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn lock_timeout_2s_gives_up_in_the_bound_names_the_holder_and_changes_nothing() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = setup(&v);
    let mut holder = pty_topo(&["apply", path_str(&file), "--prune"]);
    holder.exp_string("Enter a value:").unwrap();
    let recorded = v.get(&["queues", &v.name, "topo.apply-lock"])["arguments"]["topo-lock-holder"]
        .as_str()
        .unwrap_or_else(|| panic!("the lock records no holder"))
        .to_string();
    assert!(
        recorded.starts_with(&format!("host {}, broker user guest, pid ", hostname())),
        "{recorded}"
    );

    // A second apply that would add a queue and delete the stray one.
    let more = v.file(
        "more.yaml",
        "queues:\n  - {name: keep}\n  - {name: added}\n",
    );
    let second = v.topo(
        &[
            "apply",
            path_str(&more),
            "--prune",
            "--yes",
            "--lock-timeout",
            "2s",
        ],
        &[],
    );
    let err = stderr(&second);
    assert_eq!(code(&second), 1, "{err}");
    // The holder as the lock records it: host, user, pid and start time.
    assert!(
        err.contains(&format!(
            "another topo apply holds the lock on vhost {}: {recorded}; waited 2s; nothing was changed",
            v.name
        )),
        "{err}"
    );
    assert!(err.contains("--lock-timeout"), "the hint: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // Nothing changed: no new queue, the stray one kept, the holder's lock untouched.
    assert!(v.get_opt(&["queues", &v.name, "added"]).is_none());
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_some());
    let lock = v.get(&["queues", &v.name, "topo.apply-lock"]);
    assert_eq!(
        lock["arguments"]["topo-lock-holder"].as_str(),
        Some(recorded.as_str())
    );

    // The holder, told no, changes nothing either and lets go.
    holder.send_line("no").unwrap();
    let _ = holder.exp_eof();
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_some());
    let free = v.topo(&["apply", path_str(&more), "--lock-timeout", "30s"], &[]);
    assert_eq!(code(&free), 0, "{}", stderr(&free));
    assert!(v.get_opt(&["queues", &v.name, "added"]).is_some());
}
