//! `topo render asyncapi`: snapshots of the shipped topologies' documents, the check that
//! every exchange, queue and transport of a file appears, and validation of the documents
//! by the official AsyncAPI parser (`@asyncapi/parser`, installed by
//! `npm ci --prefix tests/asyncapi`) over the shipped and generated topologies.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use topo::asyncapi::{self, Format, Options};
use topo::topology::model::{Pattern, Topology, TransportKind};
use topo::topology::{Disk, EnvSource, Valid};

#[path = "common/require.rs"]
mod require;
use topo::validate::load_with;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The topo binary in the repository root, with a fixed environment.
fn topo(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.current_dir(root())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run topo")
}

const FIXED_ENV: &[(&str, &str)] = &[("REGISTRY", "registry.example"), ("TAG", "1.2.3")];

/// dev.yaml extended with message schemas on a transport and a queue.
const SHOP: &str = "tests/fixtures/asyncapi/shop.yaml";

fn render(args: &[&str]) -> String {
    let mut all = vec!["render", "asyncapi"];
    all.extend_from_slice(args);
    let out = topo(&all, FIXED_ENV);
    assert!(
        out.status.success(),
        "topo {all:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn load(path: &Path) -> Valid {
    let loaded = load_with(path, &Disk, &EnvSource::Fixed(HashMap::new()));
    match loaded.into_valid() {
        Ok(v) => v,
        Err(l) => {
            let mut out = Vec::new();
            topo::diag::render_text(&mut out, &l.sources, &l.diagnostics, false).expect("render");
            panic!(
                "{} is not valid:\n{}",
                path.display(),
                String::from_utf8_lossy(&out)
            );
        }
    }
}

/// The document of a loaded topology, through the library (as the command builds it).
fn document(valid: &Valid, file: &str, service: Option<&str>) -> asyncapi::Document {
    let schemas =
        asyncapi::read_schemas(&valid.topology, &valid.tree, &valid.sources).expect("schemas");
    asyncapi::build::build(&valid.topology, &schemas, Options { file, service }).expect("build")
}

fn yaml_value(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("the document is YAML")
}

/// Follow a `$ref` inside the document.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.strip_prefix('#').expect("local ref"))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

/// Every exchange, queue and transport of the topology is in the document, the way
/// docs/asyncapi.md says: exchanges and queues as channels with their AMQP binding,
/// transports as a send and a receive (with request/reply for RPC).
fn assert_covers(topo: &Topology, doc: &Value) {
    let default_vhost = topo.vhost.as_deref().unwrap_or("/");
    let channels = doc["channels"].as_object().expect("channels");
    let amqp = |c: &Value| c.pointer("/bindings/amqp").cloned().unwrap_or(Value::Null);
    for x in &topo.exchanges {
        let vhost = x.vhost.as_deref().unwrap_or(default_vhost);
        let found = channels.values().any(|c| {
            let b = amqp(c);
            b["is"] == "routingKey"
                && b["exchange"]["name"] == *x.name
                && b["exchange"]["vhost"] == vhost
        });
        assert!(found, "exchange `{}` ({vhost}) has no channel", x.name);
    }
    for q in &topo.queues {
        let vhost = q.vhost.as_deref().unwrap_or(default_vhost);
        let found = channels.values().any(|c| {
            let b = amqp(c);
            b["is"] == "queue"
                && b["queue"]["name"] == *q.name
                && b["queue"]["vhost"] == vhost
                && c["address"] == *q.name
        });
        assert!(found, "queue `{}` ({vhost}) has no channel", q.name);
    }
    let ops = doc["operations"].as_object().expect("operations");
    for t in &topo.transports {
        for (action, service) in [("send", &t.from), ("receive", &t.to)] {
            let matching: Vec<&Value> = ops
                .values()
                .filter(|op| {
                    op["action"] == action
                        && op["tags"]
                            .as_array()
                            .is_some_and(|tags| tags.iter().any(|g| g["name"] == **service))
                        && {
                            let ch = deref(doc, &op["channel"]);
                            match t.kind {
                                TransportKind::Rmq => {
                                    amqp(ch)["queue"]["name"]
                                        == *t.queue.as_deref().unwrap_or_default()
                                        && op["summary"].as_str().is_some_and(|s| {
                                            s.contains(&format!(
                                                "`{}`",
                                                if action == "send" { &t.to } else { &t.from }
                                            ))
                                        })
                                }
                                TransportKind::Tcp => ch["servers"].as_array().is_some_and(|s| {
                                    s.iter().any(|r| {
                                        let server = deref(doc, r);
                                        server["protocol"] == "tcp"
                                            && server["host"].as_str().is_some_and(|h| {
                                                h.split(':').next() == Some(t.to.as_str())
                                            })
                                    })
                                }),
                            }
                        }
                })
                .collect();
            assert_eq!(
                matching.len(),
                1,
                "transport {} -> {} ({:?} {:?}): expected one {action} of `{service}`",
                t.from,
                t.to,
                t.kind,
                t.queue
            );
            let op = matching[0];
            // Every message the operation names is in its channel.
            for m in op["messages"].as_array().expect("messages") {
                let msg = deref(doc, deref(doc, m));
                assert!(msg.get("payload").is_some(), "message without payload: {m}");
            }
            let rpc =
                t.kind == TransportKind::Tcp || t.pattern.unwrap_or(Pattern::Rpc) == Pattern::Rpc;
            assert_eq!(
                op.get("reply").is_some(),
                rpc,
                "reply of {} -> {}",
                t.from,
                t.to
            );
            if rpc && t.kind == TransportKind::Rmq {
                assert_eq!(
                    op["reply"]["address"]["location"],
                    "$message.header#/reply_to"
                );
                let reply_channel = deref(doc, &op["reply"]["channel"]);
                assert!(
                    reply_channel.get("address").is_none(),
                    "a reply channel has no fixed address"
                );
                let request = deref(doc, deref(doc, &op["messages"][0]));
                assert_eq!(
                    request["correlationId"]["location"],
                    "$message.header#/correlation_id"
                );
                let reply = deref(doc, deref(doc, &op["reply"]["messages"][0]));
                assert_eq!(
                    reply["correlationId"]["location"],
                    "$message.header#/correlation_id"
                );
            }
        }
    }
}

#[test]
fn snapshots_of_shipped_topologies() {
    for file in ["dev", "prod"] {
        let text = render(&[&format!("topologies/{file}.yaml")]);
        insta::assert_snapshot!(format!("asyncapi_{file}"), text);
    }
    let text = render(&["topologies/dev.yaml", "--service", "python-service"]);
    insta::assert_snapshot!("asyncapi_dev_python_service", text);
    let text = render(&[SHOP]);
    insta::assert_snapshot!("asyncapi_shop_with_schemas", text);
}

#[test]
fn shipped_topologies_are_covered_in_yaml_and_json_alike() {
    for file in ["topologies/dev.yaml", "topologies/prod.yaml", SHOP] {
        let yaml = yaml_value(&render(&[file]));
        let json: Value = serde_json::from_str(&render(&[file, "--format", "json"])).expect("json");
        assert_eq!(yaml, json, "{file}: YAML and JSON differ");
        assert_eq!(yaml["asyncapi"], "3.0.0");
        let valid = load(&root().join(file));
        assert_covers(&valid.topology, &yaml);
    }
}

#[test]
fn message_schemas_are_embedded_with_their_references_inside() {
    let doc = yaml_value(&render(&[SHOP]));
    let send = &doc["operations"]["api-gateway-to-python-service.python-service-queue.send"];
    let msg = deref(&doc, deref(&doc, &send["messages"][0]));
    assert_eq!(msg["payload"]["$ref"], "#/components/schemas/analyze");
    let schema = &doc["components"]["schemas"]["analyze"];
    assert_eq!(
        schema["properties"]["data"]["$ref"],
        "#/components/schemas/analyze/$defs/text"
    );
    assert_eq!(
        deref(&doc, &schema["properties"]["data"])["required"][0],
        "text"
    );
    // The other NestJS caller of the same queue has no schema: the NestJS envelope.
    let send = &doc["operations"]["service-a-to-python-service.python-service-queue.send"];
    let msg = deref(&doc, deref(&doc, &send["messages"][0]));
    assert_eq!(
        msg["payload"]["$ref"],
        "#/components/schemas/nestjs-request"
    );
    assert_eq!(
        doc["components"]["schemas"]["nestjs-request"]["required"],
        serde_json::json!(["pattern", "data", "id"])
    );
    // A queue no transport uses still carries its schema's message.
    let audit = &doc["channels"]["queue.orders.audit"];
    let msg = deref(&doc, &audit["messages"]["audit-event-event"]);
    assert_eq!(msg["payload"]["$ref"], "#/components/schemas/audit-event");
    assert_eq!(
        doc["components"]["schemas"]["audit-event"]["title"],
        "AuditEvent"
    );
}

/// `topo diff --git` reads a topology at a revision, and its message schemas with it:
/// here the schema exists only in the commit, so reading it from disk would fail.
#[test]
fn message_schemas_are_read_from_the_revision_the_topology_comes_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(d)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        d.join("t.yaml"),
        "version: 1\nqueues:\n  - {name: q, message_schema: s.json}\n",
    )
    .expect("write");
    std::fs::write(d.join("s.json"), "{\"type\": \"object\"}\n").expect("write");
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    std::fs::remove_file(d.join("s.json")).expect("rm");
    std::fs::write(d.join("t.yaml"), "version: 1\nqueues:\n  - {name: q}\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_topo"))
        .current_dir(d)
        .args(["diff", "--git", "HEAD", "t.yaml"])
        .env("NO_COLOR", "1")
        .output()
        .expect("topo diff");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 2)) && !err.contains("TOPO032"),
        "exit {:?}:\n{err}",
        out.status.code()
    );
}

#[test]
fn a_service_document_holds_its_own_operations_only() {
    let whole = yaml_value(&render(&["topologies/dev.yaml"]));
    let valid = load(&root().join("topologies/dev.yaml"));
    let mut seen = 0;
    for s in &valid.topology.services {
        let doc = yaml_value(&render(&["topologies/dev.yaml", "--service", &s.name]));
        let ops = doc["operations"].as_object().cloned().unwrap_or_default();
        for (key, op) in &ops {
            assert_eq!(
                op["tags"][0]["name"], *s.name,
                "{key} in {}'s document",
                s.name
            );
            assert_eq!(
                op, &whole["operations"][key],
                "{key} differs from the whole document"
            );
            seen += 1;
        }
        // Everything it references is there, and nothing it does not use.
        let text = serde_json::to_string(&doc).expect("json");
        for (name, _) in doc["channels"].as_object().cloned().unwrap_or_default() {
            let r = format!("#/channels/{name}\"");
            assert!(text.contains(&r), "{}: unused channel {name}", s.name);
        }
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        for r in refs {
            assert!(doc.pointer(&r[1..]).is_some(), "{}: dangling {r}", s.name);
        }
    }
    assert_eq!(seen, whole["operations"].as_object().map_or(0, |o| o.len()));
    assert_eq!(
        whole["operations"].as_object().map(|o| o.len()),
        Some(2 * valid.topology.transports.len())
    );
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                if k == "$ref"
                    && let Value::String(r) = c
                {
                    out.push(r.clone());
                }
                collect_refs(c, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

#[test]
fn bad_invocations_fail_with_a_hint_and_write_nothing() {
    let out = topo(
        &[
            "render",
            "asyncapi",
            "topologies/dev.yaml",
            "--service",
            "python-servce",
        ],
        FIXED_ENV,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("service `python-servce` is not in the topology"),
        "{err}"
    );
    assert!(err.contains("python-service"), "{err}");
    assert!(out.stdout.is_empty());

    let out = topo(
        &[
            "render",
            "compose",
            "topologies/dev.yaml",
            "--format",
            "json",
        ],
        FIXED_ENV,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("options of `topo render asyncapi`"));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("t.yaml"),
        "version: 1\nqueues:\n  - {name: q, message_schema: nowhere.json}\n",
    )
    .expect("write");
    let out = topo(
        &[
            "render",
            "asyncapi",
            &dir.path().join("t.yaml").to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TOPO032") && err.contains("t.yaml:3:"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn output_file_is_replaced_on_rerender_and_json_carries_the_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("asyncapi.json");
    let path = out_path.to_string_lossy().to_string();
    for _ in 0..2 {
        let out = topo(
            &[
                "render",
                "asyncapi",
                "topologies/dev.yaml",
                "--format",
                "json",
                "-o",
                &path,
            ],
            FIXED_ENV,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&out_path).expect("written");
    let head: Vec<&str> = text.lines().take(5).collect();
    assert!(
        head.iter()
            .any(|l| l.contains(topo::commands::render::GENERATED_MARKER)),
        "{head:?}"
    );
    std::fs::write(&out_path, "{}\n").expect("hand-written");
    let out = topo(
        &["render", "asyncapi", "topologies/dev.yaml", "-o", &path],
        FIXED_ENV,
    );
    assert_eq!(out.status.code(), Some(1), "a hand-written file is kept");
    assert_eq!(std::fs::read_to_string(&out_path).expect("kept"), "{}\n");
}

#[test]
fn servers_carry_scheme_host_and_vhost_never_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("t.yaml"),
        "version: 1\nvhost: orders/eu\nbroker: {amqp_url: \"amqps://mq.internal.example\"}\n\
         users:\n  - {name: app, password_env: APP_PASSWORD}\n\
         queues:\n  - {name: q}\n",
    )
    .expect("write");
    let file = dir.path().join("t.yaml").to_string_lossy().to_string();
    let out = topo(
        &["render", "asyncapi", &file],
        &[
            ("APP_PASSWORD", "s3cret-pass"),
            ("RABBITMQ_PASSWORD", "s3cret-pass"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!text.contains("s3cret-pass"));
    let doc = yaml_value(&text);
    let server = &doc["servers"]["rabbitmq"];
    assert_eq!(server["protocol"], "amqps");
    assert_eq!(server["host"], "mq.internal.example:5671");
    assert_eq!(server["pathname"], "/orders%2Feu");
    assert_eq!(
        doc["channels"]["queue.q"]["bindings"]["amqp"]["queue"]["vhost"],
        "orders/eu"
    );
}

/// A generated topology: exchanges of every type (a plugin type too), queues of every
/// type in two vhosts, bindings, services of every runtime, rmq transports (rpc and event)
/// and tcp ones, message schemas on queues and transports, names with odd characters.
fn generate(seed: u64, dir: &Path) -> PathBuf {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut y = format!("version: 1\nname: gen{seed}\n");
    let other = "tenant two";
    let kinds = ["direct", "topic", "fanout", "headers", "x-consistent-hash"];
    let n_ex = rng.random_range(1..=5);
    y.push_str("exchanges:\n");
    let mut exchanges = Vec::new();
    for i in 0..n_ex {
        let kind = kinds[rng.random_range(0..kinds.len())];
        let name = match i % 3 {
            0 => format!("events.{i}"),
            1 => format!("ex {i}/v1"),
            _ => format!("shared-{i}"),
        };
        let vhost = if rng.random_bool(0.25) {
            Some(other)
        } else {
            None
        };
        let vh = vhost
            .map(|v| format!(", vhost: \"{v}\""))
            .unwrap_or_default();
        y.push_str(&format!(
            "  - {{name: \"{name}\", type: {kind}{vh}, durable: {}}}\n",
            rng.random_bool(0.8)
        ));
        exchanges.push((name, kind, vhost));
    }
    let n_q = rng.random_range(2..=6);
    y.push_str("queues:\n");
    let mut queues = Vec::new();
    let mut plain = Vec::new();
    let mut schemas = 0;
    for i in 0..n_q {
        let name = if i == 0 {
            exchanges[0].0.clone()
        } else {
            format!("q.{seed}.{i}")
        };
        let vhost = if i > 1 && rng.random_bool(0.25) {
            Some(other)
        } else {
            None
        };
        let vh = vhost
            .map(|v| format!(", vhost: \"{v}\""))
            .unwrap_or_default();
        let ty = if i < 2 || vhost.is_some() {
            "classic"
        } else {
            ["classic", "quorum", "stream"][rng.random_range(0..3)]
        };
        let schema = if rng.random_bool(0.3) {
            schemas += 1;
            let f = format!("schemas/q{schemas}.json");
            write_schema(dir, &f, &format!("queue {i}"));
            format!(", message_schema: {f}")
        } else {
            String::new()
        };
        y.push_str(&format!(
            "  - {{name: \"{name}\", type: {ty}{vh}{schema}}}\n"
        ));
        if ty == "classic" && vhost.is_none() {
            plain.push(name.clone());
        }
        queues.push((name, vhost));
    }
    let mut bindings = String::new();
    for (xname, kind, xv) in &exchanges {
        for (qname, qv) in &queues {
            if qv != xv || !rng.random_bool(0.5) {
                continue;
            }
            let vh = xv.map(|v| format!(", vhost: \"{v}\"")).unwrap_or_default();
            let extra = match *kind {
                "topic" => ", routing_keys: [\"order.*\", \"audit.#\", \"exact.key\"]".to_string(),
                "direct" => ", routing_key: \"k1\"".to_string(),
                "headers" => ", arguments: {x-match: any, region: eu}".to_string(),
                "x-consistent-hash" => ", routing_key: \"10\"".to_string(),
                _ => String::new(),
            };
            bindings.push_str(&format!(
                "  - {{source: \"{xname}\", destination: \"{qname}\"{extra}{vh}}}\n"
            ));
        }
    }
    if !bindings.is_empty() {
        y.push_str("bindings:\n");
        y.push_str(&bindings);
    }
    let runtimes = ["nestjs", "python", "node", "other"];
    let n_s = rng.random_range(2..=4);
    y.push_str("services:\n");
    for i in 0..n_s {
        let rt = runtimes[rng.random_range(0..runtimes.len())];
        y.push_str(&format!(
            "  - {{name: svc-{i}, image: img{i}, runtime: {rt}, port: {}}}\n",
            3000 + i
        ));
    }
    y.push_str("transports:\n");
    let mut pairs = std::collections::BTreeSet::new();
    for _ in 0..rng.random_range(1..=6) {
        let from = rng.random_range(0..n_s);
        let to = (from + rng.random_range(1..n_s)) % n_s;
        if rng.random_bool(0.3) {
            if pairs.insert((from, to, None)) {
                y.push_str(&format!(
                    "  - {{from: svc-{from}, to: svc-{to}, kind: tcp}}\n"
                ));
            }
            continue;
        }
        let q = &plain[rng.random_range(0..plain.len())];
        if !pairs.insert((from, to, Some(q.clone()))) {
            continue;
        }
        let pattern = if rng.random_bool(0.5) { "rpc" } else { "event" };
        let schema = if rng.random_bool(0.3) {
            schemas += 1;
            let f = format!("schemas/t{schemas}.json");
            write_schema(dir, &f, &format!("transport {from}-{to}"));
            format!(", message_schema: {f}")
        } else {
            String::new()
        };
        y.push_str(&format!(
            "  - {{from: svc-{from}, to: svc-{to}, kind: rmq, queue: \"{q}\", pattern: {pattern}, timeout_ms: 5000{schema}}}\n"
        ));
    }
    let path = dir.join(format!("gen{seed}.yaml"));
    std::fs::write(&path, y).expect("write topology");
    path
}

fn write_schema(dir: &Path, rel: &str, what: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://schemas.example/{rel}"),
        "title": what,
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
        "$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string"}, "next": {"$ref": "#/$defs/item"}}}}
    });
    std::fs::write(path, serde_json::to_string_pretty(&schema).expect("json")).expect("write");
}

/// Documents of generated topologies, and of every service of the first
/// `service_seeds`; each is checked for coverage here and returned (file name, text) for
/// the parser.
fn generated_documents(dir: &Path, service_seeds: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for seed in 0..12 {
        let path = generate(seed, dir);
        let valid = load(&path);
        let file = path.to_string_lossy().to_string();
        let doc = document(&valid, &file, None);
        let text = asyncapi::to_text(&doc, Format::Yaml).expect("yaml");
        assert_covers(&valid.topology, &yaml_value(&text));
        out.push((format!("gen{seed}.yaml"), text));
        if seed >= service_seeds {
            continue;
        }
        for s in &valid.topology.services {
            let doc = document(&valid, &file, Some(&s.name));
            let format = if seed % 2 == 0 {
                Format::Json
            } else {
                Format::Yaml
            };
            let ext = if format == Format::Json {
                "json"
            } else {
                "yaml"
            };
            out.push((
                format!("gen{seed}-{}.{ext}", s.name),
                asyncapi::to_text(&doc, format).expect("text"),
            ));
        }
    }
    out
}

#[test]
fn generated_topologies_are_covered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = generated_documents(dir.path(), 12);
    assert!(docs.len() > 30, "{} documents", docs.len());
}

/// Run the official parser over files; (success, stdout + stderr).
fn parse_with_official_parser(files: &[PathBuf]) -> Option<(bool, String)> {
    let project = root().join("tests/asyncapi");
    if !project.join("node_modules/@asyncapi/parser").is_dir() {
        require::skip_or_fail(
            "TOPO_REQUIRE_ASYNCAPI",
            "validation by @asyncapi/parser",
            "tests/asyncapi/node_modules is missing (run `npm ci --prefix tests/asyncapi`)",
        );
        return None;
    }
    let out = Command::new("node")
        .current_dir(&project)
        .arg("validate.mjs")
        .args(files)
        .output()
        .expect("run node (needed with tests/asyncapi/node_modules)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn the_official_parser_accepts_every_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut docs: BTreeMap<String, String> = BTreeMap::new();
    docs.insert("shop.yaml".into(), render(&[SHOP]));
    for file in ["dev", "prod"] {
        let path = format!("topologies/{file}.yaml");
        docs.insert(format!("{file}.yaml"), render(&[&path]));
        docs.insert(format!("{file}.json"), render(&[&path, "--format", "json"]));
        let valid = load(&root().join(&path));
        for s in &valid.topology.services {
            docs.insert(
                format!("{file}-{}.yaml", s.name),
                render(&[&path, "--service", &s.name]),
            );
        }
    }
    // Each parse costs the parser about a second of CPU: every generated topology's
    // whole document, and the service documents of two (the coverage test checks all).
    docs.extend(generated_documents(dir.path(), 2));
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let mut files = Vec::new();
    for (name, text) in &docs {
        let p = out_dir.join(name);
        std::fs::write(&p, text).expect("write");
        files.push(p);
    }
    // A broken document first: the harness must see the parser's errors, or a pass
    // below would mean nothing.
    let broken = out_dir.join("broken.yaml");
    std::fs::write(
        &broken,
        docs["dev.yaml"].replace(
            "$ref: '#/channels/queue.python-service-queue'",
            "$ref: '#/channels/nowhere'",
        ),
    )
    .expect("write");
    let Some((ok, text)) = parse_with_official_parser(std::slice::from_ref(&broken)) else {
        return;
    };
    assert!(
        !ok && text.contains("\"severity\":\"error\""),
        "the broken document passed:\n{text}"
    );

    let Some((ok, text)) = parse_with_official_parser(&files) else {
        return;
    };
    assert!(ok, "@asyncapi/parser rejects a document:\n{text}");
    let parsed = text
        .lines()
        .filter(|l| l.contains("\"parsed\":true"))
        .count();
    assert_eq!(parsed, files.len(), "{text}");
    // Nothing above information level (the only one is "3.1.0 exists").
    let noisy: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"severity\":\"warning\"") || l.contains("\"severity\":\"error\""))
        .collect();
    assert!(noisy.is_empty(), "{}", noisy.join("\n"));
}
