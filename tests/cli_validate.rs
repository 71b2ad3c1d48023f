//! `topo validate` and `topo schema` as a user runs them: exit codes, streams, formats.

use std::path::Path;
use std::process::{Command, Output};

fn topo(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("TOPO_FILE")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs topo")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn shipped_topologies_validate() {
    let out = topo(
        &["validate", "topologies/dev.yaml", "topologies/prod.yaml"],
        root(),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("topologies/dev.yaml: valid (2 exchanges, 3 queues"),
        "{stdout}"
    );
    assert!(stdout.contains("topologies/prod.yaml: valid"), "{stdout}");
}

#[test]
fn broken_file_exits_1_with_located_errors_on_stderr() {
    let file = "tests/corpus/validate/bad/TOPO012-undeclared-queue.yaml";
    let out = topo(&["validate", file], root(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{file}:7:35")), "{stderr}");
    assert!(stderr.contains("did you mean `orders.audit`?"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "piped output must not be coloured"
    );
    assert!(out.stdout.is_empty());
}

/// A topology written as JSON (as `topo render` writes `topology.json`) is read by the JSON
/// fast path: its errors point where the YAML parser would have (checked against it), and what is not plain JSON (a duplicate
/// key) still gets the YAML parser's located error.
#[test]
fn a_json_file_gets_located_errors_like_yaml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = "{\n  \"version\": 1,\n  \"exchanges\": [{\"name\": \"orders\", \"type\": \"topic\"}],\n  \
                \"queues\": [{\"name\": \"orders.audit\"}],\n  \
                \"bindings\": [{\"source\": \"orders\", \"destination\": \"orders.audti\"}]\n}\n";
    let validate = |text: &str| {
        std::fs::write(dir.path().join("t.json"), text).expect("writes");
        topo(&["validate", "t.json"], dir.path(), &[])
    };
    let out = validate(json);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("t.json:5:52"), "{stderr}");
    assert!(stderr.contains("did you mean `orders.audit`?"), "{stderr}");

    let valid = json.replace("orders.audti", "orders.audit");
    let out = validate(&valid);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let twice = valid.replace("\"version\": 1,", "\"version\": 1, \"version\": 1,");
    let out = validate(&twice);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("duplicate key `version`"), "{stderr}");
    assert!(stderr.contains("t.json:2:17"), "{stderr}");
}

#[test]
fn json_format_is_machine_readable() {
    let file = "tests/corpus/validate/bad/TOPO017-topic-key.yaml";
    let out = topo(
        &["validate", "--format", "json", file, "topologies/dev.yaml"],
        root(),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["valid"], false);
    assert_eq!(v["files"][0]["valid"], false);
    assert_eq!(v["files"][1]["valid"], true);
    let d = &v["files"][0]["diagnostics"][0];
    assert_eq!(d["code"], "TOPO017");
    assert_eq!(d["file"], file);
    assert_eq!(d["line"], 7);
    assert!(d["column"].as_u64().is_some_and(|c| c > 1));
}

#[test]
fn file_defaults_to_topo_file_then_topo_yaml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = topo(&["validate"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pass FILE, set TOPO_FILE, or create ./topo.yaml"),
        "{}",
        text(&out.stderr)
    );

    let dev = root().join("topologies/dev.yaml");
    let out = topo(
        &["validate"],
        dir.path(),
        &[("TOPO_FILE", dev.to_str().expect("utf-8 path"))],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    std::fs::write(
        dir.path().join("topo.yaml"),
        "version: 1\nqueues: [{name: q}]\n",
    )
    .expect("write");
    let out = topo(&["validate"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("topo.yaml: valid (1 queue)"));
}

#[test]
fn secrets_never_reach_the_output() {
    let file = "tests/corpus/validate/bad/TOPO025-literal-secret.yaml";
    for format in ["text", "json"] {
        let out = topo(&["validate", "--format", format, file], root(), &[]);
        assert_eq!(out.status.code(), Some(1));
        let all = text(&out.stdout) + &text(&out.stderr);
        for secret in ["hunter2", "tok3n", "s3cr3t"] {
            assert!(
                !all.contains(secret),
                "{format} output shows `{secret}`:\n{all}"
            );
        }
        assert!(
            all.contains("TOPO025-literal-secret.yaml:8:20") || all.contains("\"line\": 8"),
            "{all}"
        );
    }
}

#[test]
fn hostile_inputs_end_in_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bomb = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb.yaml", bomb.into_bytes(), "alias bomb"),
        (
            "deep.yaml",
            format!(
                "version: 1\nq: {}{}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
            .into_bytes(),
            "too long",
        ),
        (
            "binary.yaml",
            (0u8..=255).cycle().take(4096).collect(),
            "UTF-8",
        ),
        ("empty.yaml", Vec::new(), "empty.yaml` is empty"),
        ("list.yaml", b"- a\n- b\n".to_vec(), "expected a mapping"),
    ];
    for (name, bytes, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let out = topo(&["validate", name], dir.path(), &[]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expect), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = topo(&["schema"], root(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let committed =
        std::fs::read(root().join("schema/topology.schema.json")).expect("committed schema");
    assert_eq!(out.stdout, committed);
}

#[test]
fn help_lists_the_commands() {
    let out = topo(&["--help"], root(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for cmd in ["validate", "schema", "completions"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = topo(&["completions", "bash"], root(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("_topo()"));
}

/// A usage error must not exit 2, which means "changes present" for plan and diff.
#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let out = topo(&["validate", "--no-such-flag"], root(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--no-such-flag"));
    let out = topo(&["nosuchcommand"], root(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let out = topo(&["validate", "--help"], root(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let out = topo(&["--version"], root(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("topo "));
}

/// A link URI that does not parse (here a port out of range) still shows no password: the
/// diagnostic on its line is shown by location only.
#[test]
fn an_unparsable_link_uri_with_a_password_is_not_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("links.yaml");
    std::fs::write(
        &file,
        "version: 1\nbroker: {plugins: [rabbitmq_federation]}\nexchanges: [{name: events, type: topic}]\n\
         federation_upstreams:\n  - name: origin\n    uri: amqp://u:s3cr3t-pw@h:99999/v\n    exchange: events\n",
    )
    .expect("write");
    let out = topo(
        &["validate", file.to_str().expect("utf-8 path")],
        dir.path(),
        &[],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("links.yaml:6"), "located: {all}");
    assert!(!all.contains("s3cr3t-pw"), "{all}");
}
