//! `topo render` on the command line: targets, `-o` and its overwrite rules,
//! `--templates`, and the validate-time name and value checks (TOPO030).

mod render_common;

use render_common::*;

const SMALL: &str = "version: 1\nname: shop\nservices:\n  - {name: api, image: api:1, port: 8080, ingress: external}\n";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn output_file_is_written_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    write_topology(dir.path(), "topo.yaml", SMALL);
    let out = topo(
        dir.path(),
        &["render", "compose", "-o", "compose.yaml"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing on stdout with -o");
    let first = std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap();
    assert!(first.contains("\"api\":"));
    // A file topo rendered is replaced without --force.
    std::fs::write(
        dir.path().join("topo.yaml"),
        SMALL.replace("api:1", "api:2"),
    )
    .unwrap();
    let out = topo(
        dir.path(),
        &["render", "compose", "-o", "compose.yaml"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let second = std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap();
    assert!(second.contains("\"api:2\""));
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn azure_script_written_with_o_is_executable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write_topology(dir.path(), "topo.yaml", SMALL);
    let out = topo(dir.path(), &["render", "azure", "-o", "deploy.sh"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(dir.path().join("deploy.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111);
}

#[test]
fn hand_written_files_need_force_and_dotenv_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    write_topology(dir.path(), "topo.yaml", SMALL);
    std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
    let out = topo(
        dir.path(),
        &["render", "compose", "-o", "compose.yaml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap(),
        "services: {}\n"
    );
    let out = topo(
        dir.path(),
        &["render", "compose", "-o", "compose.yaml", "--force"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    std::fs::write(dir.path().join(".env"), "RABBITMQ_PASSWORD=keep-me\n").unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["render", "env-example", "-o", ".env"];
        args.extend_from_slice(extra);
        let out = topo(dir.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(".env"), "{}", stderr(&out));
    }
    // Nor through a symlink with another name.
    std::os::unix::fs::symlink(".env", dir.path().join("env-link")).unwrap();
    let out = topo(
        dir.path(),
        &["render", "env-example", "-o", "env-link", "--force"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".env")).unwrap(),
        "RABBITMQ_PASSWORD=keep-me\n"
    );
    // A new .env may be created.
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    std::fs::remove_file(dir.path().join("env-link")).unwrap();
    let out = topo(dir.path(), &["render", "env-example", "-o", ".env"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn user_templates_override_and_add_targets() {
    let dir = tempfile::tempdir().unwrap();
    write_topology(dir.path(), "topo.yaml", SMALL);
    let t = dir.path().join("tpl");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(t.join("compose.yaml.j2"), "mine: {{ project }}\n").unwrap();
    std::fs::write(
        t.join("k8s.sh.j2"),
        "{% for s in services %}kubectl run {{ s.name }} --image={{ s.image ~ \" x\" }}\n{% endfor %}",
    )
    .unwrap();
    let out = topo(
        dir.path(),
        &["render", "compose", "--templates", "tpl"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mine: \"shop\"\n");
    // A new target; its `.sh` name gets shell quoting.
    let out = topo(dir.path(), &["render", "k8s", "--templates", "tpl"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "kubectl run api --image='api:1 x'\n"
    );
    // Built-ins the directory does not replace are still there.
    let out = topo(dir.path(), &["render", "azure", "--templates", "tpl"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Unknown targets list the known ones.
    let out = topo(dir.path(), &["render", "helm", "--templates", "tpl"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("helm") && err.contains("azure, compose, env-example, k8s"),
        "{err}"
    );
    // Two templates for one target are ambiguous.
    std::fs::write(t.join("compose.yml.j2"), "x: 1\n").unwrap();
    let out = topo(
        dir.path(),
        &["render", "compose", "--templates", "tpl"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("several templates"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn template_errors_are_reported_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    write_topology(dir.path(), "topo.yaml", SMALL);
    let t = dir.path().join("tpl");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(t.join("bad.sh.j2"), "{{ services }}\n").unwrap();
    std::fs::write(t.join("undef.sh.j2"), "{{ nope }}\n").unwrap();
    std::fs::write(t.join("syntax.txt.j2"), "{% for %}\n").unwrap();
    for (target, want) in [
        ("bad", "loop over its items"),
        ("undef", "undefined"),
        ("syntax", "does not parse"),
    ] {
        let out = topo(dir.path(), &["render", target, "--templates", "tpl"], &[]);
        assert_eq!(out.status.code(), Some(1), "{target}");
        assert!(stderr(&out).contains(want), "{target}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
}

#[test]
fn invalid_topology_renders_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nservices:\n  - {name: api}\n",
    );
    let out = topo(dir.path(), &["render", "compose"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = topo(dir.path(), &["render", "compose", "missing.yaml"], &[]);
    assert_eq!(out.status.code(), Some(1));
}

/// Values that cannot be passed safely, and names Azure refuses, fail `topo validate`.
#[test]
fn validate_rejects_unsafe_values_and_bad_azure_names() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "image with command substitution",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: \"api:$(id)\"}\n",
            "/services/0/image",
        ),
        (
            "image with a newline",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: \"api\\n:1\"}\n",
            "/services/0/image",
        ),
        (
            "image with a space",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: \"api 1\"}\n",
            "/services/0/image",
        ),
        (
            "image that reads as an option",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: \"--rm\"}\n",
            "/services/0/image",
        ),
        (
            "memory that is not a size",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: api, memory: \"@/etc/passwd\"}\n",
            "/services/0/memory",
        ),
        (
            "broker image with a space",
            "version: 1\nname: shop\nbroker: {image: \"rabbitmq latest\"}\n",
            "/broker/image",
        ),
        (
            "env key that is not a variable name",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: api, env: {\"A-B\": x}}\n",
            "/services/0/env/A-B",
        ),
        (
            "env key with a space",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: api, env: {\"A B\": x}}\n",
            "/services/0/env/A B",
        ),
        (
            "env value with NUL",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: api, env: {A: \"x\\0y\"}}\n",
            "/services/0/env/A",
        ),
        (
            "app name over 32 characters",
            "version: 1\nname: a-rather-long-system\nservices:\n  - {name: payments-gateway-api, image: api}\n",
            "/services/0/name",
        ),
        (
            "system name starting with a digit",
            "version: 1\nname: 1shop\nservices:\n  - {name: api, image: api}\n",
            "/name",
        ),
        (
            "service named like the broker",
            "version: 1\nname: shop\nservices:\n  - {name: rabbitmq, image: api}\n",
            "/services/0/name",
        ),
        (
            "two variables, one Azure secret",
            "version: 1\nname: shop\nservices:\n  - {name: api, image: api, secrets: {A: DB_PASS, B: DB__PASS}}\n",
            "/services/0/secrets/B",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, yaml, pointer) in cases {
        write_topology(dir.path(), "topo.yaml", yaml);
        let out = topo(
            dir.path(),
            &["validate", "--format", "json", "topo.yaml"],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{what}: accepted");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let diags = report["files"][0]["diagnostics"].as_array().unwrap();
        assert!(
            diags
                .iter()
                .any(|d| d["code"] == "TOPO030" && d["path"] == *pointer && d["line"].is_number()),
            "{what}: no located TOPO030 at {pointer}: {diags:#?}"
        );
        let out = topo(dir.path(), &["render", "azure", "topo.yaml"], &[]);
        assert_eq!(out.status.code(), Some(1), "{what}: rendered");
        assert!(out.stdout.is_empty());
    }
    // Hostile names never get as far as TOPO030: the schema's name patterns refuse them.
    for yaml in [
        "version: 1\nname: shop\nservices:\n  - {name: \"a$(id)\", image: api}\n",
        "version: 1\nname: \"shop`id`\"\nservices:\n  - {name: api, image: api}\n",
        "version: 1\nname: shop\nservices:\n  - {name: \"a b\", image: api}\n",
        "version: 1\nname: shop\nbroker: {deploy: {hostname: \"rabbit\\nmq\"}}\n",
    ] {
        write_topology(dir.path(), "topo.yaml", yaml);
        let out = topo(dir.path(), &["render", "azure", "topo.yaml"], &[]);
        assert_eq!(out.status.code(), Some(1), "{yaml}");
        assert!(out.stdout.is_empty());
    }
    // And the shipped topologies pass.
    for file in ["topologies/dev.yaml", "topologies/prod.yaml"] {
        let out = topo(&root(), &["validate", file], FIXED_ENV);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
    }
}

#[test]
fn what_a_render_changes_is_said_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nname: shop\nqueues: [{name: q}]\nservices:\n  - {name: a, image: a}\n  - {name: b, image: b, replicas: {min: 0, max: 2}}\ntransports:\n  - {from: a, to: b, kind: rmq, queue: q}\n",
    );
    let out = topo(dir.path(), &["render", "azure", "topo.yaml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("service `b` consumes a queue: min replicas raised from 0 to 1"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(r#""scale":{"minReplicas":1,"maxReplicas":2}"#)
    );
    // `broker.nodes` is rendered by compose (a cluster, no note) and refused by azure
    // (tests/render_azure.rs), never passed over with a note.
    write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nname: shop\nbroker: {nodes: 3}\nservices:\n  - {name: a, image: a}\n",
    );
    let out = topo(dir.path(), &["render", "compose", "topo.yaml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("broker.nodes"), "{}", stderr(&out));
}
