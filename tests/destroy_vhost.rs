//! `--vhost NAME` (the file's default vhost put elsewhere) and `topo destroy FILE`, against
//! the real broker (each test in its own vhosts).

#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::json;

const BODY: &str = "exchanges:\n  - {name: x, type: direct}\nqueues:\n  - {name: q}\n\
bindings:\n  - {source: x, destination: q, routing_key: k}\n\
policies:\n  - {name: p, pattern: \"^q$\", apply_to: queues, definition: {max-length: 10}}\n";

#[test]
fn vhost_puts_the_file_elsewhere_and_destroy_removes_only_the_file() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("destroy");
    let file = v.file(
        "d.yaml",
        &format!("{BODY}users:\n  - {{name: {user}, tags: []}}\n"),
    );
    // Another vhost per developer: the file is not edited.
    let dev = v.extra_vhost();
    let out = v.topo(&["apply", path_str(&file), "--vhost", &dev], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("+ create queue q@{dev}")),
        "{}",
        stdout(&out)
    );
    assert!(v.get_opt(&["queues", &dev, "q"]).is_some());
    assert!(
        v.get_opt(&["queues", &v.name, "q"]).is_none(),
        "the file's own vhost untouched"
    );
    assert_eq!(
        code(&v.topo(&["plan", path_str(&file), "--vhost", &dev], &[])),
        0
    );

    // Something the file does not declare, in the same vhost.
    v.put(&["queues", &dev, "not-mine"], &json!({"durable": true}));
    let dry = v.topo(
        &["destroy", path_str(&file), "--vhost", &dev, "--dry-run"],
        &[],
    );
    assert_eq!(code(&dry), 2, "{}", stderr(&dry));
    let text = stdout(&dry);
    assert!(text.contains(&format!("- delete queue q@{dev}")), "{text}");
    assert!(
        text.contains(&format!("- delete exchange x@{dev}")),
        "{text}"
    );
    assert!(text.contains(&format!("- delete policy p@{dev}")), "{text}");
    assert!(text.contains("- delete binding x -> q [k]"), "{text}");
    assert!(
        !text.contains("not-mine")
            && !text.contains("delete user")
            && !text.contains("delete vhost"),
        "{text}"
    );

    let refused = v.topo(&["destroy", path_str(&file), "--vhost", &dev], &[]);
    assert_eq!(code(&refused), 1);
    assert!(
        stderr(&refused).contains("without confirmation"),
        "{}",
        stderr(&refused)
    );
    assert!(
        v.get_opt(&["queues", &dev, "q"]).is_some(),
        "nothing changed"
    );

    let done = v.topo(&["destroy", path_str(&file), "--vhost", &dev, "--yes"], &[]);
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    assert!(stderr(&done).contains("users and vhosts are kept"));
    assert!(v.get_opt(&["queues", &dev, "q"]).is_none());
    assert!(v.get_opt(&["exchanges", &dev, "x"]).is_none());
    assert!(v.get_opt(&["policies", &dev, "p"]).is_none());
    assert!(
        v.get_opt(&["queues", &dev, "not-mine"]).is_some(),
        "not the file's"
    );
    assert!(v.get_opt(&["users", &user]).is_some(), "users are kept");
    assert!(v.get_opt(&["vhosts", &dev]).is_some(), "vhosts are kept");
    assert!(
        v.get_opt(&["permissions", &dev, "guest"]).is_some(),
        "topo's own access stays"
    );

    let again = v.topo(&["destroy", path_str(&file), "--vhost", &dev, "--yes"], &[]);
    assert_eq!(code(&again), 0);
    assert!(stderr(&again).contains("nothing to destroy"));
}

#[test]
fn destroy_guards_messages() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("m.yaml", "queues:\n  - {name: full}\n");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    v.publish("full", 2);
    let refused = v.topo(&["destroy", path_str(&file), "--yes"], &[]);
    assert_eq!(code(&refused), 1);
    assert!(
        stderr(&refused).contains("--allow-data-loss"),
        "{}",
        stderr(&refused)
    );
    assert!(v.get_opt(&["queues", &v.name, "full"]).is_some());
    let done = v.topo(
        &["destroy", path_str(&file), "--yes", "--allow-data-loss"],
        &[],
    );
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    assert!(v.get_opt(&["queues", &v.name, "full"]).is_none());
}
