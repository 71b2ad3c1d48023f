//! docs/topology-format.md carries a reference of every key, generated from the JSON Schema
//! (itself generated from the Rust types), so the page and the schema cannot drift apart.
//!
//! After a change to the model: `TOPO_UPDATE_DOCS=1 cargo test --test format_doc`, then commit
//! docs/topology-format.md.

use std::fmt::Write as _;

use serde_json::{Map, Value};

const BEGIN: &str =
    "<!-- BEGIN generated reference: TOPO_UPDATE_DOCS=1 cargo test --test format_doc -->";
const END: &str = "<!-- END generated reference -->";

/// The sections of the reference, in the order a reader meets them in a file.
const ORDER: &[&str] = &[
    "Broker",
    "BrokerDeploy",
    "BrokerTls",
    "Vhost",
    "Exchange",
    "Queue",
    "Binding",
    "Policy",
    "User",
    "Permission",
    "Service",
    "Replicas",
    "Transport",
];

fn doc_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/topology-format.md")
}

/// A one-line, table-safe version of a schema description.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// The values of an enum definition (`oneOf` of `const`s), if it is one.
fn enum_values(defs: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    let one_of = defs.get(name)?.get("oneOf")?.as_array()?;
    one_of
        .iter()
        .map(|v| {
            v.get("const")
                .and_then(Value::as_str)
                .map(|s| format!("`{s}`"))
        })
        .collect()
}

/// How a property's type reads to a person: `string`, `integer`, `list of Queue`, one of the
/// enum values, and so on. `null` (an optional key) is left out: the default column says it.
fn type_of(defs: &Map<String, Value>, v: &Value) -> String {
    if let Some(name) = ref_name(v) {
        if let Some(values) = enum_values(defs, name) {
            return values.join(", ");
        }
        if defs.get(name).and_then(|d| d.get("properties")).is_some() {
            return format!("[{name}](#{})", name.to_lowercase());
        }
        return match defs.get(name) {
            Some(d) => type_of(defs, d),
            None => name.to_string(),
        };
    }
    if let Some(values) = v.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|x| format!("`{x}`"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = v.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .map(|a| type_of(defs, a))
                .collect();
            return parts.join(" or ");
        }
    }
    let types: Vec<&str> = match v.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    let parts: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => match v.get("items") {
                Some(items) => format!("list of {}", type_of(defs, items)),
                None => "list".to_string(),
            },
            "object" => match v.get("additionalProperties") {
                Some(Value::Object(_)) => {
                    format!("map of {}", type_of(defs, &v["additionalProperties"]))
                }
                _ => "map".to_string(),
            },
            other => other.to_string(),
        })
        .collect();
    if parts.is_empty() {
        "any".to_string()
    } else {
        parts.join(" or ")
    }
}

/// The default as the schema states it (`default`), else as the description states it
/// ("Default `x`"), else "required" or "optional".
fn default_of(v: &Value, required: bool) -> String {
    if required {
        return "required".to_string();
    }
    if let Some(d) = v.get("default") {
        return format!("`{d}`");
    }
    let text = cell(v.get("description").and_then(Value::as_str).unwrap_or(""));
    for marker in ["Default `", "Default: `"] {
        if let Some(at) = text.find(marker) {
            let rest = &text[at + marker.len()..];
            if let Some(end) = rest.find('`') {
                return format!("`{}`", &rest[..end]);
            }
        }
    }
    for marker in ["Default: ", "Default "] {
        if let Some(at) = text.find(marker) {
            let rest = &text[at + marker.len()..];
            let end = rest.find(['.', ';', '(']).unwrap_or(rest.len());
            return rest[..end].trim().to_string();
        }
    }
    "optional".to_string()
}

fn table(out: &mut String, defs: &Map<String, Value>, object: &Value) {
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
    let Some(props) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, v) in props {
        let title = v.get("title").and_then(Value::as_str).unwrap_or("");
        let description = v.get("description").and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(
            out,
            "| `{key}` | {} | {} | **{}.** {} |",
            type_of(defs, v),
            default_of(v, required.contains(&key.as_str())),
            cell(title),
            cell(description)
        );
    }
}

fn generate() -> String {
    let schema = topo::validate::schema::schema_json();
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = String::new();
    out.push_str(BEGIN);
    out.push_str("\n\n### The file (top level)\n\n");
    table(&mut out, defs, &schema);
    let mut names: Vec<&str> = ORDER.to_vec();
    // Any object a later change adds lands at the end rather than being left out.
    let mut rest: Vec<&str> = defs
        .iter()
        .filter(|(k, v)| v.get("properties").is_some() && !ORDER.contains(&k.as_str()))
        .map(|(k, _)| k.as_str())
        .collect();
    rest.sort_unstable();
    names.extend(rest);
    for name in names {
        let Some(def) = defs.get(name) else { continue };
        if def.get("properties").is_none() {
            continue;
        }
        let description = def.get("description").and_then(Value::as_str).unwrap_or("");
        let _ = write!(out, "\n### {name}\n\n{}\n\n", cell(description));
        table(&mut out, defs, def);
    }
    out.push('\n');
    out.push_str(END);
    out
}

#[test]
fn the_format_reference_matches_the_schema() {
    let path = doc_path();
    let page = std::fs::read_to_string(&path).expect("docs/topology-format.md exists");
    let (Some(begin), Some(end)) = (page.find(BEGIN), page.find(END)) else {
        panic!("docs/topology-format.md lacks the generated-reference markers");
    };
    let current = &page[begin..end + END.len()];
    let generated = generate();
    if current == generated {
        return;
    }
    if std::env::var_os("TOPO_UPDATE_DOCS").is_some() {
        let updated = format!(
            "{}{}{}",
            &page[..begin],
            generated,
            &page[end + END.len()..]
        );
        std::fs::write(&path, updated).expect("write docs/topology-format.md");
        return;
    }
    panic!(
        "docs/topology-format.md is stale against the schema: run \
         `TOPO_UPDATE_DOCS=1 cargo test --test format_doc` and commit it"
    );
}

/// Every key of every object of the schema has its own row on the page (a guard against a
/// generator that silently drops a section).
#[test]
fn every_schema_key_has_a_row() {
    let schema = topo::validate::schema::schema_json();
    let page = std::fs::read_to_string(doc_path()).expect("docs/topology-format.md exists");
    let mut objects = vec![("top level".to_string(), &schema)];
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        objects.extend(defs.iter().map(|(k, v)| (k.clone(), v)));
    }
    let mut missing = Vec::new();
    let mut rows = 0;
    for (name, object) in objects {
        let Some(props) = object.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let section = if name == "top level" {
            "### The file (top level)".to_string()
        } else {
            format!("### {name}\n")
        };
        let Some(at) = page.find(&section) else {
            missing.push(format!("section {name}"));
            continue;
        };
        let body = &page[at + section.len()..];
        let body = &body[..body.find("\n### ").unwrap_or(body.len())];
        for key in props.keys() {
            rows += 1;
            if !body.contains(&format!("| `{key}` |")) {
                missing.push(format!("{name}.{key}"));
            }
        }
    }
    assert!(rows > 80, "only {rows} keys found in the schema");
    assert!(missing.is_empty(), "not on the page: {missing:?}");
}
