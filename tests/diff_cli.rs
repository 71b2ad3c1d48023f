//! `topo diff` as a user and a pipeline run it: exit codes, `--fail-on`, formats, errors,
//! and `--git` against real git repositories.

#[path = "common/cli.rs"]
mod cli;

use std::path::Path;
use std::process::Output;

use cli::{git, text, topo_in};
use serde_json::Value;

fn topo(args: &[&str]) -> Output {
    topo_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn fixture(name: &str) -> (String, String) {
    (
        format!("tests/fixtures/diff/{name}/old.yaml"),
        format!("tests/fixtures/diff/{name}/new.yaml"),
    )
}

#[test]
fn exit_codes_follow_the_contract() {
    let (o, n) = fixture("reorder");
    assert_eq!(topo(&["diff", &o, &n]).status.code(), Some(0));
    let (o, n) = fixture("policy");
    let out = topo(&["diff", &o, &n]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).starts_with("~ update policy audit-limit"));
}

#[test]
fn fail_on_destructive() {
    // Not destructive: still 2.
    let (o, n) = fixture("policy");
    assert_eq!(
        topo(&["diff", &o, &n, "--fail-on", "destructive"])
            .status
            .code(),
        Some(2)
    );
    // Destructive: the diff is printed, then exit 1 with the reason.
    let (o, n) = fixture("queue-argument");
    let out = topo(&[
        "diff",
        &o,
        &n,
        "--fail-on",
        "destructive",
        "--format",
        "markdown",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("-/+ replace queue orders.audit"));
    assert!(text(&out.stderr).contains("1 destructive change"));
    // No changes: 0.
    let (o, n) = fixture("shorthand");
    assert_eq!(
        topo(&["diff", &o, &n, "--fail-on", "destructive"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn json_is_a_document() {
    let (o, n) = fixture("deletes");
    let out = topo(&["diff", &o, &n, "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["changed"], true);
    assert_eq!(v["destructive"], true);
    assert_eq!(v["summary"]["delete"], 5);
    assert_eq!(v["summary"]["destructive"], 5);
    assert_eq!(v["unmanaged"][0], "user legacy");
    let changes = v["changes"].as_array().expect("changes");
    assert!(
        changes
            .iter()
            .all(|c| c["action"].is_string() && c["target"]["kind"].is_string())
    );
    assert!(
        changes
            .iter()
            .all(|c| c["destructive"] == (c["action"] == "delete"))
    );
}

#[test]
fn markdown_graph_only_when_asked() {
    let (o, n) = fixture("apps");
    let plain = text(&topo(&["diff", &o, &n, "--format", "markdown"]).stdout);
    assert!(!plain.contains("```mermaid"));
    let with = text(&topo(&["diff", &o, &n, "--format", "markdown", "--graph"]).stdout);
    assert!(with.contains("```mermaid\nflowchart LR\n"));
    assert!(with.starts_with("<!-- topo-diff -->\n"));
}

#[test]
fn invalid_side_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "version: 1\nqueues:\n  - {name: q, typo: 1}\n").expect("write");
    let out = topo(&["diff", "topologies/dev.yaml", bad.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("typo"), "{err}");
    assert!(err.contains("is not valid"), "{err}");
}

#[test]
fn wrong_arguments_are_explained() {
    let out = topo(&["diff", "topologies/dev.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("topo diff --git REV"));
}

/// A repository with `topo/base.yaml` and `topo/app.yaml` (which extends it), committed.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("topo")).expect("mkdir");
    std::fs::write(
        d.join("topo/base.yaml"),
        "version: 1\nexchanges:\n  - {name: orders, type: topic}\nqueues:\n  - {name: audit, message_ttl: 1000}\nbindings:\n  - {source: orders, destination: audit, routing_key: \"#\"}\n",
    )
    .expect("write");
    std::fs::write(
        d.join("topo/app.yaml"),
        "version: 1\nextends: base.yaml\nqueues:\n  - {name: extra}\n",
    )
    .expect("write");
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "base"]);
    dir
}

#[test]
fn git_reads_extends_at_the_same_revision() {
    let dir = repo();
    let d = dir.path();
    // Unchanged working tree: no changes.
    let out = topo_in(d, &["diff", "--git", "HEAD", "topo/app.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Change only the base in the working tree: the diff shows it, because the old side
    // read base.yaml at HEAD.
    std::fs::write(
        d.join("topo/base.yaml"),
        "version: 1\nexchanges:\n  - {name: orders, type: topic}\nqueues:\n  - {name: audit, message_ttl: 2000}\nbindings:\n  - {source: orders, destination: audit, routing_key: \"#\"}\n",
    )
    .expect("write");
    let out = topo_in(d, &["diff", "--git", "HEAD", "topo/app.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("-/+ replace queue audit"), "{stdout}");
    assert!(
        stdout.contains("arguments.x-message-ttl: 1000 -> 2000"),
        "{stdout}"
    );
    // From a subdirectory, with a path relative to it, and with the file from TOPO_FILE.
    let out = topo_in(&d.join("topo"), &["diff", "--git", "HEAD", "app.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // An absolute path, and a path through a symlinked directory.
    let abs = d.join("topo/app.yaml");
    let out = topo_in(d, &["diff", "--git", "HEAD", abs.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let link_dir = tempfile::tempdir().expect("tempdir");
    let link = link_dir.path().join("repo-link");
    std::os::unix::fs::symlink(d, &link).expect("symlink");
    let out = topo_in(&link, &["diff", "--git", "HEAD", "topo/app.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Commit, then compare with the previous commit by name.
    git(d, &["commit", "-q", "-am", "ttl"]);
    let out = topo_in(
        d,
        &[
            "diff",
            "--git",
            "HEAD~1",
            "topo/app.yaml",
            "--format",
            "json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["old"], "topo/app.yaml at HEAD~1");
    assert_eq!(v["summary"]["replace"], 1);
}

#[test]
fn git_errors_are_clear() {
    let dir = repo();
    let d = dir.path();
    let out = topo_in(d, &["diff", "--git", "no-such-branch", "topo/app.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown git revision `no-such-branch`"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    // A file that did not exist at the revision.
    std::fs::write(d.join("topo/new.yaml"), "version: 1\n").expect("write");
    // (Issue 15: compared with nothing, an empty file has no changes, and says why.)
    let out = topo_in(d, &["diff", "--git", "HEAD", "topo/new.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("did not exist at HEAD: every entity is a create"),
        "{err}"
    );

    // Not a repository.
    let plain = tempfile::tempdir().expect("tempdir");
    std::fs::write(plain.path().join("t.yaml"), "version: 1\n").expect("write");
    let out = topo_in(plain.path(), &["diff", "--git", "HEAD", "t.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not in a git repository"));

    // A revision name cannot smuggle in a git option.
    let target = d.join("smuggled");
    let rev = format!("--git=--output={}", target.display());
    let out = topo_in(d, &["diff", &rev, "topo/app.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!target.exists());
}
