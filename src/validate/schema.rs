//! The JSON Schema layer: generated from the Rust types, checked with the `jsonschema`
//! crate, and every error mapped back to the file position of the offending value.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::diag::{Diagnostic, codes, did_you_mean};
use crate::source::node::Node;
use crate::topology::model::Topology;

/// The schema document, as `topo schema` prints it and `schema/topology.schema.json` holds it.
pub fn schema_json() -> Value {
    let schema = schemars::schema_for!(Topology);
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert(
            "$id".into(),
            Value::from("https://topo.dev/schema/topology.schema.json"),
        );
    }
    value
}

/// The schema as committed (pretty JSON with a trailing newline).
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema_json()).unwrap_or_default();
    text.push('\n');
    text
}

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(&schema_json()).ok())
        .as_ref()
}

/// Check a document against the schema; one diagnostic per problem, located.
pub fn check(tree: &Node, value: &Value) -> Vec<Diagnostic> {
    let Some(validator) = validator() else {
        return vec![Diagnostic::error(
            codes::SCHEMA_TYPE,
            "internal error: the topology schema does not compile",
        )];
    };
    let schema = schema_json();
    let mut out = Vec::new();
    for err in validator.iter_errors(value) {
        let pointer = err.instance_path().to_string();
        let d = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(&schema, &pointer);
                for key in unexpected {
                    let key_pointer =
                        format!("{pointer}/{}", crate::source::node::pointer_segment(key));
                    let hint = did_you_mean(key, allowed.iter().map(String::as_str))
                        .unwrap_or_else(|| {
                            if allowed.is_empty() {
                                "remove it".to_string()
                            } else {
                                format!("known keys here: {}", allowed.join(", "))
                            }
                        });
                    out.push(
                        Diagnostic::error(
                            codes::UNKNOWN_KEY,
                            format!("unknown key `{key}`{}", where_(&pointer)),
                        )
                        .at(tree.locate_key(&key_pointer))
                        .path(key_pointer)
                        .hint(hint),
                    );
                }
                continue;
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                Diagnostic::error(
                    codes::MISSING_KEY,
                    format!("missing required key `{name}`{}", where_(&pointer)),
                )
                .at(tree.locate(&pointer))
                .hint(format!("add `{name}: ...`"))
            }
            ValidationErrorKind::Enum { options } if pointer == "/version" => {
                let _ = options;
                Diagnostic::error(
                    codes::VERSION,
                    format!("unsupported topology version {}", err.instance()),
                )
                .at(tree.locate(&pointer))
                .hint("supported versions: 1")
            }
            ValidationErrorKind::Enum { options } => {
                let choices: Vec<String> = options
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|v| {
                                v.as_str()
                                    .map(String::from)
                                    .unwrap_or_else(|| v.to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let got = err
                    .instance()
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| err.instance().to_string());
                Diagnostic::error(
                    codes::SCHEMA_TYPE,
                    format!(
                        "`{got}` is not one of: {}{}",
                        choices.join(", "),
                        where_(&pointer)
                    ),
                )
                .at(tree.locate(&pointer))
                .maybe_hint(did_you_mean(&got, choices.iter().map(String::as_str)))
            }
            ValidationErrorKind::Pattern { pattern } => {
                let got = err.instance().as_str().unwrap_or_default().to_string();
                let hint = pattern_hint(&pointer, &got)
                    .unwrap_or_else(|| format!("it must match `{pattern}`"));
                Diagnostic::error(
                    codes::SCHEMA_TYPE,
                    format!("invalid value `{got}`{}", where_(&pointer)),
                )
                .at(tree.locate(&pointer))
                .hint(hint)
            }
            _ => Diagnostic::error(codes::SCHEMA_TYPE, format!("{err}{}", where_(&pointer)))
                .at(tree.locate(&pointer))
                .hint(type_hint(&schema, &pointer)),
        };
        out.push(d.path(pointer));
    }
    out
}

/// " at `queues[2].name`" for a pointer, empty for the root.
fn where_(pointer: &str) -> String {
    if pointer.is_empty() {
        " at the top level".into()
    } else {
        format!(" at `{}`", dotted(pointer))
    }
}

/// `/queues/2/name` as `queues[2].name`.
pub fn dotted(pointer: &str) -> String {
    let mut s = String::new();
    for seg in pointer.trim_start_matches('/').split('/') {
        if seg.parse::<usize>().is_ok() {
            s.push_str(&format!("[{seg}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(&seg.replace("~1", "/").replace("~0", "~"));
        }
    }
    s
}

fn pattern_hint(pointer: &str, got: &str) -> Option<String> {
    let field = pointer.rsplit('/').next().unwrap_or_default();
    let parent = pointer
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match (parent, field) {
        ("exchanges", "type") => Some(
            did_you_mean(got, ["direct", "fanout", "topic", "headers"])
                .unwrap_or_else(|| "exchange types are `direct`, `fanout`, `topic`, `headers`, or a plugin type `x-...`".into()),
        ),
        ("services", "name") | ("", "name") | ("name", _) => {
            Some("use lowercase letters, digits and `-`, starting with a letter (Azure Container Apps' rule)".into())
        }
        ("users", "password_env") | ("services", _) => Some("an environment variable name: letters, digits and `_`".into()),
        _ => None,
    }
}

/// The title of the schema node at a pointer, as a hint of what the value should be.
fn type_hint(schema: &Value, pointer: &str) -> String {
    match node_at(schema, pointer) {
        Some(node) => {
            let desc = node
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let first = desc
                .split("\n\n")
                .next()
                .unwrap_or_default()
                .replace('\n', " ");
            if first.is_empty() {
                "see schema/topology.schema.json".into()
            } else {
                first
            }
        }
        None => "see schema/topology.schema.json".into(),
    }
}

/// Follow a JSON pointer through the schema (properties, items, `$ref`, nullable anyOf).
fn node_at<'a>(schema: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = resolve(schema, schema);
    if pointer.is_empty() {
        return Some(node);
    }
    for seg in pointer.trim_start_matches('/').split('/') {
        node = resolve(schema, node);
        let next = if seg.parse::<usize>().is_ok() && node.get("items").is_some() {
            node.get("items")
        } else {
            node.get("properties")
                .and_then(|p| p.get(seg))
                .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()))
        }?;
        node = next;
    }
    Some(resolve(schema, node))
}

fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let path = r.trim_start_matches('#');
            match root.pointer(path) {
                Some(n) => node = n,
                None => return node,
            }
        } else if let Some(branches) = node
            .get("anyOf")
            .or_else(|| node.get("oneOf"))
            .and_then(Value::as_array)
        {
            match branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
            {
                Some(b) => node = b,
                None => return node,
            }
        } else {
            return node;
        }
    }
    node
}

/// The keys the schema allows in the object at a pointer.
fn allowed_keys(schema: &Value, pointer: &str) -> Vec<String> {
    node_at(schema, pointer)
        .and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}
