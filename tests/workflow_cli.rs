//! Offline workflow commands of issue 15: `diff --vhost`, `diff --git REV FILE` for a file
//! that did not exist at REV (a real git repository), `destroy` and `apply` help.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "common/cli.rs"]
mod cli;

use std::process::Command;

use cli::{git, text, topo_in};

#[test]
fn diff_vhost_moves_both_sides() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("old.yaml"),
        "version: 1\nqueues:\n  - {name: a}\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("new.yaml"),
        "version: 1\nqueues:\n  - {name: a}\n  - {name: b}\n",
    )
    .unwrap();
    let out = topo_in(
        d.path(),
        &["diff", "old.yaml", "new.yaml", "--vhost", "pr-7"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("+ create queue b@pr-7"), "{t}");
    assert!(!t.contains("queue a"), "{t}");
}

#[test]
fn diff_git_of_a_file_added_since_rev_is_all_creates() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIPPED: git is not on the PATH");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    git(d.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(d.path().join("other.yaml"), "version: 1\n").unwrap();
    git(d.path(), &["add", "-A"]);
    git(d.path(), &["commit", "-q", "-m", "base"]);
    std::fs::write(
        d.path().join("new.yaml"),
        "version: 1\nexchanges:\n  - {name: x, type: topic}\nqueues:\n  - {name: q}\n",
    )
    .unwrap();
    let out = topo_in(d.path(), &["diff", "--git", "main", "new.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("+ create exchange x"), "{t}");
    assert!(t.contains("+ create queue q"), "{t}");
    assert!(t.contains("+ create vhost /"), "the vhost too: {t}");
    assert!(t.contains("Diff: 3 to create."), "{t}");
    assert!(
        text(&out.stderr).contains("new.yaml did not exist at main: every entity is a create"),
        "{}",
        text(&out.stderr)
    );
    // A revision that does not exist is still an error.
    let bad = topo_in(d.path(), &["diff", "--git", "nope", "new.yaml"]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn help_documents_the_workflow_flags() {
    let d = tempfile::tempdir().unwrap();
    let apply = text(&topo_in(d.path(), &["apply", "--help"]).stdout);
    for flag in [
        "--yes",
        "auto-approve",
        "--lock-timeout",
        "--no-lock",
        "--vhost",
    ] {
        assert!(apply.contains(flag), "{flag}: {apply}");
    }
    let plan = text(&topo_in(d.path(), &["plan", "--help"]).stdout);
    assert!(plan.contains("--out") && plan.contains("--vhost"), "{plan}");
    let destroy = topo_in(d.path(), &["destroy", "--help"]);
    assert_eq!(destroy.status.code(), Some(0));
}

#[test]
fn init_writes_a_file_that_validates_and_never_overwrites() {
    let d = tempfile::tempdir().unwrap();
    let out = topo_in(d.path(), &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(d.path().join("topo.yaml")).unwrap();
    assert!(body.starts_with("# yaml-language-server: $schema=./topology.schema.json\n"));
    let schema = std::fs::read_to_string(d.path().join("topology.schema.json")).unwrap();
    assert_eq!(
        schema,
        text(&topo_in(d.path(), &["schema"]).stdout),
        "the line points at this topo's schema"
    );
    assert_eq!(schema, include_str!("../schema/topology.schema.json"));
    let valid = topo_in(d.path(), &["validate"]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stderr));
    assert!(text(&valid.stdout).contains("1 queue") && text(&valid.stdout).contains("1 service"));

    std::fs::write(d.path().join("topo.yaml"), "mine").unwrap();
    std::fs::write(d.path().join("topology.schema.json"), "{}").unwrap();
    let again = topo_in(d.path(), &["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists; nothing was written"));
    for (file, held) in [("topo.yaml", "mine"), ("topology.schema.json", "{}")] {
        assert_eq!(std::fs::read_to_string(d.path().join(file)).unwrap(), held);
    }

    // A new file beside a schema that is not this topo's: written, the schema kept and named.
    exits_saying(
        &topo_in(d.path(), &["init", "second.yaml"]),
        0,
        "kept topology.schema.json, which is not this topo's schema; to refresh it: topo schema > topology.schema.json",
    );
    let held = std::fs::read_to_string(d.path().join("topology.schema.json")).unwrap();
    assert_eq!(held, "{}");
}

/// `out` ended with `code` and its stderr says `words`.
fn exits_saying(out: &std::process::Output, code: i32, words: &str) {
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{said}");
    assert!(said.contains(words), "{said}");
}

#[test]
fn init_in_a_folder_writes_the_schema_beside_the_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("topologies")).unwrap();
    let out = topo_in(d.path(), &["init", "topologies/dev.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(d.path().join("topologies/topology.schema.json").is_file());
    assert!(!d.path().join("topology.schema.json").exists());
    let valid = topo_in(d.path(), &["validate", "topologies/dev.yaml"]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stderr));
}

#[test]
fn init_that_cannot_write_the_schema_leaves_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    // The schema's place is taken by a folder: refused, and topo.yaml is not left half-made.
    std::fs::create_dir(d.path().join("topology.schema.json")).unwrap();
    exits_saying(
        &topo_in(d.path(), &["init"]),
        1,
        "topology.schema.json exists and is not a file; nothing was written",
    );
    assert!(!d.path().join("topo.yaml").exists());
    // Once mended, init runs again.
    std::fs::remove_dir(d.path().join("topology.schema.json")).unwrap();
    let again = topo_in(d.path(), &["init"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));

    // The file may not take the schema's own name.
    let e = tempfile::tempdir().unwrap();
    exits_saying(
        &topo_in(e.path(), &["init", "topology.schema.json"]),
        1,
        "is where the schema goes",
    );
    assert_eq!(std::fs::read_dir(e.path()).unwrap().count(), 0);
}

#[test]
fn init_schema_url_points_at_a_served_schema_and_writes_no_copy() {
    let d = tempfile::tempdir().unwrap();
    let url = "https://schemas.example.com/topo/topology.schema.json";
    let out = topo_in(d.path(), &["init", "--schema-url", url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(d.path().join("topo.yaml")).unwrap();
    assert!(
        body.starts_with(&format!("# yaml-language-server: $schema={url}\n")),
        "{body}"
    );
    assert!(!d.path().join("topology.schema.json").exists());

    // An address that would break the comment line: refused, nothing written.
    let e = tempfile::tempdir().unwrap();
    for bad in ["", "https://a b", "https://a\nversion: 2"] {
        let out = topo_in(e.path(), &["init", "--schema-url", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert!(
            text(&out.stderr).contains("is not an address")
                && text(&out.stderr).contains("nothing was written"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(std::fs::read_dir(e.path()).unwrap().count(), 0, "{bad:?}");
    }
}

#[test]
fn config_prints_the_resolved_file_with_secrets_hidden() {
    let d = tempfile::tempdir().unwrap();
    let hash = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR";
    std::fs::write(
        d.path().join("base.yaml"),
        format!(
            "version: 1\nqueues:\n  - {{name: from-base}}\nusers:\n  - {{name: ops, password_hash: \"{hash}\"}}\n"
        ),
    )
    .unwrap();
    std::fs::write(d.path().join(".env"), "QNAME=from-dotenv\n").unwrap();
    std::fs::write(
        d.path().join("topo.yaml"),
        "extends: base.yaml\nversion: 1\nqueues:\n  - {name: \"${QNAME}\"}\n",
    )
    .unwrap();
    let out = topo_in(d.path(), &["config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("name: from-base"), "extends merged: {t}");
    assert!(
        t.contains("name: from-dotenv"),
        ".env and ${{VAR}} resolved: {t}"
    );
    assert!(!t.contains("extends:"), "{t}");
    assert!(!t.contains(hash), "no password hash: {t}");
    assert!(t.contains("***"), "{t}");
}

#[test]
fn an_unset_or_empty_secret_variable_is_refused_before_the_broker_is_asked() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("topo.yaml"),
        "version: 1\nusers:\n  - {name: app, password_env: TOPO_T_APP_PW}\n\
         shovels:\n  - name: s\n    source: {uri_env: TOPO_T_SRC_URI, queue: a}\n    destination: {queue: b}\n",
    )
    .unwrap();
    // Nothing listens on port 1: a refusal that reached the broker would say so instead.
    let plan = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
        cmd.arg("plan")
            .current_dir(d.path())
            .env("NO_COLOR", "1")
            .env("TOPO_MANAGEMENT_URL", "http://127.0.0.1:1")
            .env("TOPO_AMQP_URL", "amqp://127.0.0.1:1")
            .env_remove("TOPO_FILE")
            .env_remove("TOPO_T_APP_PW")
            .env_remove("TOPO_T_SRC_URI");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{vars:?}: {}",
            text(&out.stderr)
        );
        text(&out.stderr)
    };
    let unset = plan(&[]);
    assert!(
        unset.contains("user `app` takes its password from environment variable TOPO_T_APP_PW, which is not set"),
        "{unset}"
    );
    let empty = plan(&[("TOPO_T_APP_PW", "")]);
    assert!(
        empty.contains("TOPO_T_APP_PW, which is empty")
            && empty.contains("RabbitMQ refuses a blank password at login"),
        "{empty}"
    );
    let uri = plan(&[("TOPO_T_APP_PW", "s3cret"), ("TOPO_T_SRC_URI", "")]);
    assert!(
        uri.contains("the source of shovel `s` takes its URI from environment variable TOPO_T_SRC_URI, which is empty"),
        "{uri}"
    );
    assert!(!uri.contains("s3cret"), "{uri}");
}
