//! `topo render compose`: the file validates against the Compose Specification's JSON
//! Schema (vendored in ../shared/vendor), passes the checks the schema misses, and carries
//! every value through YAML and compose interpolation unchanged.

mod render_common;

use std::collections::BTreeSet;

use render_common::*;
use serde_json::Value;
use topo::source::FileId;

fn compose_schema() -> jsonschema::Validator {
    let path = root().join("../shared/vendor/compose-spec.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft7::new(&schema).expect("compose schema compiles")
}

/// Parse rendered YAML with topo's own loader.
fn parse(text: &str) -> Value {
    topo::source::yaml::parse(text, FileId(0))
        .unwrap_or_else(|d| panic!("rendered YAML does not parse: {}\n{text}", d.message))
        .to_json()
}

/// Schema errors plus what the schema cannot see.
fn problems(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = compose_schema()
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    let services = doc["services"].as_object().cloned().unwrap_or_default();
    let volumes: BTreeSet<String> = doc["volumes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for (name, svc) in &services {
        if let Some(deps) = svc.get("depends_on") {
            let entries: Vec<(String, Option<String>)> = match deps {
                Value::Array(a) => a
                    .iter()
                    .map(|d| (d.as_str().unwrap_or_default().to_string(), None))
                    .collect(),
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.get("condition")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        )
                    })
                    .collect(),
                _ => vec![],
            };
            for (dep, condition) in entries {
                match services.get(&dep) {
                    None => out.push(format!("{name}: depends_on undeclared service `{dep}`")),
                    Some(target) => {
                        if condition.as_deref() == Some("service_healthy")
                            && target.get("healthcheck").is_none()
                        {
                            out.push(format!(
                                "{name}: service_healthy on `{dep}`, which has no healthcheck"
                            ));
                        }
                    }
                }
            }
        }
        for v in svc
            .get("volumes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let source = match &v {
                Value::String(s) => s.split(':').next().unwrap_or_default().to_string(),
                Value::Object(m) => m
                    .get("source")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            let is_path =
                source.starts_with('/') || source.starts_with('.') || source.starts_with('~');
            if !source.is_empty() && !is_path && !volumes.contains(&source) {
                out.push(format!("{name}: named volume `{source}` is not declared"));
            }
        }
    }
    out
}

#[test]
fn shipped_topologies_render_valid_compose_files() {
    for file in ["topologies/dev.yaml", "topologies/prod.yaml"] {
        let text = render(&root(), "compose", file, FIXED_ENV);
        let doc = parse(&text);
        let p = problems(&doc);
        assert!(p.is_empty(), "{file}:\n{}\n{text}", p.join("\n"));
        let services = doc["services"].as_object().unwrap();
        assert_eq!(
            services.keys().collect::<Vec<_>>(),
            [
                "rabbitmq",
                "api-gateway",
                "service-a",
                "service-b",
                "python-service"
            ]
        );
        let broker = &services["rabbitmq"];
        assert_eq!(broker["hostname"], "rabbitmq");
        assert!(broker["healthcheck"]["test"].is_array());
        assert_eq!(
            broker["environment"]["RABBITMQ_DEFAULT_PASS"],
            "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD in .env or the environment}"
        );
        for (name, svc) in services.iter().filter(|(n, _)| *n != "rabbitmq") {
            assert_eq!(
                svc["depends_on"]["rabbitmq"]["condition"], "service_healthy",
                "{name}"
            );
        }
        let gw = &services["api-gateway"]["environment"];
        assert_eq!(gw["SERVICE_A_HOST"], "service-a");
        assert_eq!(gw["SERVICE_A_PORT"], "3003");
        assert_eq!(gw["RABBITMQ_HOST"], "rabbitmq");
        assert_eq!(gw["PYTHON_SERVICE_QUEUE"], "python-service-queue");
        assert_eq!(
            services["python-service"]["environment"]["RABBITMQ_QUEUE"],
            "python-service-queue"
        );
    }
    let prod = parse(&render(
        &root(),
        "compose",
        "topologies/prod.yaml",
        FIXED_ENV,
    ));
    assert_eq!(
        prod["services"]["rabbitmq"]["image"],
        "rabbitmq:3.13-management"
    );
    assert_eq!(
        prod["services"]["api-gateway"]["image"],
        "registry.example/api-gateway:1.2.3"
    );
}

#[test]
fn the_extra_checks_catch_what_the_schema_misses() {
    // The checks above are only worth something if they fail on bad files.
    let bad = parse(
        "services:\n  a:\n    image: x\n    depends_on: {b: {condition: service_healthy}, c: {condition: service_started}}\n    volumes: [\"data:/d\"]\n  b:\n    image: y\n",
    );
    assert!(
        compose_schema().is_valid(&bad),
        "the schema alone accepts it"
    );
    // ...and the schema itself rejects what it should.
    let unknown_key = parse("services:\n  a:\n    image: x\n    imagee: y\n");
    assert!(!compose_schema().is_valid(&unknown_key));
    let p = problems(&bad);
    assert_eq!(p.len(), 3, "{p:?}");
}

/// Values with quotes, `$`, newlines and the like come out of compose's interpolation as
/// they went in: YAML-escaped, and `$` doubled.
#[test]
fn hostile_values_survive_yaml_and_compose_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    let values = [
        r#"it's "quoted" \ back"#,
        "a: b # not a comment",
        "$(touch /tmp/x) `id`",
        "line1\nline2\n",
        "${HOME} and $HOME and $$",
        "- [not, a, list]",
        "yes",
        "",
        "\t tab",
        "unicode é ✓ \u{2028} line sep \u{85} nel \u{7f} del \u{feff}",
    ];
    let mut yaml = String::from(
        "version: 1\nname: shop\nservices:\n  - name: api\n    image: api:1\n    command: [\"sh\", \"-c\", \"echo $HOME\"]\n    env:\n",
    );
    for (i, v) in values.iter().enumerate() {
        // YAML forbids raw non-printable characters in a file (libyaml refuses them): write
        // them as escapes, which YAML's double-quoted strings share with JSON.
        let json = serde_json::to_string(&v.replace("${", "$${"))
            .unwrap()
            .replace('\u{7f}', "\\u007f")
            .replace('\u{85}', "\\u0085")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{feff}', "\\ufeff");
        yaml.push_str(&format!("      V{i}: {json}\n"));
    }
    let file = write_topology(dir.path(), "topo.yaml", &yaml);
    let text = render(dir.path(), "compose", &file, &[]);
    // Compose's YAML parser refuses raw non-printable characters (ours is lenient): they
    // must be written as escapes.
    assert!(
        !text.chars().any(|c| matches!(
            c,
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
        )),
        "raw non-printable character in the compose file"
    );
    let doc = parse(&text);
    assert!(problems(&doc).is_empty(), "{:?}", problems(&doc));
    let env = &doc["services"]["api"]["environment"];
    for (i, v) in values.iter().enumerate() {
        let got = env[format!("V{i}")].as_str().unwrap();
        // Compose turns `$$` back into `$`; a lone `$` would have been interpolated.
        assert!(
            !got.replace("$$", "").contains('$'),
            "unescaped $ in {got:?}"
        );
        assert_eq!(got.replace("$$", "$"), *v);
    }
    assert_eq!(doc["services"]["api"]["command"][2], "echo $$HOME");
}

#[test]
fn secrets_are_required_references_never_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nname: shop\nservices:\n  - {name: api, image: api:1, secrets: {DB_PASSWORD: SHOP_DB_PASSWORD}}\n",
    );
    let text = render(
        dir.path(),
        "compose",
        &file,
        &[("SHOP_DB_PASSWORD", "hunter2-value")],
    );
    assert!(!text.contains("hunter2-value"));
    let doc = parse(&text);
    assert_eq!(
        doc["services"]["api"]["environment"]["DB_PASSWORD"],
        "${SHOP_DB_PASSWORD:?set SHOP_DB_PASSWORD in .env or the environment}"
    );
    let example = render(dir.path(), "env-example", &file, &[]);
    let keys: Vec<&str> = example
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        keys,
        ["RABBITMQ_PASSWORD=", "RABBITMQ_USER=", "SHOP_DB_PASSWORD="]
    );
}

#[test]
fn renders_are_byte_identical_across_runs() {
    for target in ["compose", "azure", "env-example"] {
        let a = render(&root(), target, "topologies/prod.yaml", FIXED_ENV);
        let b = render(&root(), target, "topologies/prod.yaml", FIXED_ENV);
        assert_eq!(a, b, "{target}");
        assert!(
            a.ends_with('\n') && !a.ends_with("\n\n"),
            "{target}: one trailing newline"
        );
    }
}
