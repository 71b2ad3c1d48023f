//! `-` reads the topology from standard input wherever a file is taken, through the real
//! binary: relative `extends`, message schemas and `.env` resolve against the current
//! directory (as `docker compose -f -` does), diagnostics name `<stdin>`, and the cases
//! that cannot work (`diff - -`, `diff --git REV -`, a terminal on stdin) say why.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn topo_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_topo"))
        .args(args)
        .current_dir(dir)
        .env_remove("TOPO_FILE")
        .env_remove("STDIN_QUEUE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Written from a thread: a command that stops before reading must not block the test.
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const FILE: &str = "version: 1\nexchanges:\n  - {name: ev, type: topic}\nqueues:\n  - {name: tasks}\n\
                    bindings:\n  - {source: ev, destination: tasks, routing_key: \"task.#\"}\n";

#[test]
fn validate_graph_route_and_config_read_stdin() {
    let d = tempfile::tempdir().unwrap();
    let v = topo_stdin(d.path(), &["validate", "-"], FILE);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    assert!(text(&v.stdout).contains("<stdin>"), "{}", text(&v.stdout));
    assert!(text(&v.stdout).contains("1 queue"), "{}", text(&v.stdout));

    let g = topo_stdin(d.path(), &["graph", "-"], FILE);
    assert_eq!(g.status.code(), Some(0), "{}", text(&g.stderr));
    assert!(text(&g.stdout).contains("tasks"), "{}", text(&g.stdout));

    let r = topo_stdin(
        d.path(),
        &["route", "-", "-e", "ev", "-k", "task.new"],
        FILE,
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert_eq!(text(&r.stdout).trim(), "tasks");

    let c = topo_stdin(d.path(), &["config", "-"], FILE);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c.stderr));
    assert!(
        text(&c.stdout).contains("name: tasks"),
        "{}",
        text(&c.stdout)
    );
}

#[test]
fn a_file_on_stdin_is_one_of_several_to_validate_and_diagnostics_name_stdin() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("ok.yaml"), FILE).unwrap();
    let bad = "version: 1\nqueues:\n  - {name: tasks, durabel: true}\n";
    let out = topo_stdin(d.path(), &["validate", "ok.yaml", "-"], bad);
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("<stdin>:3:"), "file:line:col of stdin: {all}");
    assert!(all.contains("durabel"), "{all}");
}

#[test]
fn extends_and_dotenv_resolve_against_the_current_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("base")).unwrap();
    std::fs::write(
        d.path().join("base/common.yaml"),
        "version: 1\nqueues:\n  - {name: from-base}\n",
    )
    .unwrap();
    std::fs::write(d.path().join(".env"), "STDIN_QUEUE=from-dotenv\n").unwrap();
    let input = "version: 1\nextends: base/common.yaml\nqueues:\n  - {name: \"${STDIN_QUEUE}\"}\n";
    let out = topo_stdin(d.path(), &["config", "-"], input);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("from-base"), "extends from the cwd: {t}");
    assert!(t.contains("from-dotenv"), ".env from the cwd: {t}");
}

#[test]
fn diff_takes_stdin_as_one_side() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("new.yaml"),
        format!("{FILE}  - {{source: ev, destination: tasks, routing_key: \"task.*\"}}\n"),
    )
    .unwrap();
    let out = topo_stdin(d.path(), &["diff", "-", "new.yaml"], FILE);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("task.*"),
        "{}",
        text(&out.stdout)
    );

    let both = topo_stdin(d.path(), &["diff", "-", "-"], FILE);
    assert_eq!(both.status.code(), Some(1));
    assert!(
        text(&both.stderr).contains("standard input can be one side"),
        "{}",
        text(&both.stderr)
    );

    let git = topo_stdin(d.path(), &["diff", "--git", "HEAD", "-"], FILE);
    assert_eq!(git.status.code(), Some(1));
    assert!(
        text(&git.stderr).contains("has no revision"),
        "{}",
        text(&git.stderr)
    );
}

#[test]
fn render_reads_stdin_and_names_it_in_the_header() {
    let d = tempfile::tempdir().unwrap();
    let input = "version: 1\nqueues:\n  - {name: tasks}\nservices:\n  - name: worker\n    image: \"w:1\"\n    runtime: python\n";
    let out = topo_stdin(d.path(), &["render", "compose", "-"], input);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("<stdin>"), "the header names stdin: {t}");
    assert!(t.contains("worker"), "{t}");
}

#[test]
fn empty_stdin_is_reported_not_waited_on() {
    let d = tempfile::tempdir().unwrap();
    let out = topo_stdin(d.path(), &["validate", "-"], "");
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("<stdin>"), "{all}");
}

#[test]
fn a_terminal_on_stdin_is_refused_rather_than_waited_on() {
    let d = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.args(["validate", "-"])
        .current_dir(d.path())
        .env_remove("TOPO_FILE")
        .env("NO_COLOR", "1");
    let mut s = rexpect::session::spawn_command(cmd, Some(30_000)).expect("spawn topo in a pty");
    let out = s.exp_eof().expect("topo ends without input");
    assert!(out.contains("which is a terminal"), "{out}");
    assert!(out.contains("< topo.yaml"), "the hint shows how: {out}");
}
