//! The JSON Schema layer: generated from the Rust types, checked with the `jsonschema`
//! crate, and every error mapped back to the file position of the offending value.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::diag::{Code, Diagnostic, closest, did_you_mean};
use crate::source::node::Node;
use crate::topology::model::Topology;

/// The schema's name (`$id`). Nothing fetches it: `$ref`s are local (`#/$defs/...`) and
/// editors read the copy `topo init` writes beside the file, so it does not need to answer.
pub const SCHEMA_ID: &str = "https://topo.dev/schema/topology.schema.json";

/// The schema document, as `topo schema` prints it and `schema/topology.schema.json` holds it.
pub fn schema_json() -> Value {
    let schema = schemars::schema_for!(Topology);
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    split_titles(&mut value);
    if let Value::Object(map) = &mut value {
        map.insert("$id".into(), Value::from(SCHEMA_ID));
    }
    value
}

/// Doc comments are written "Title\n\nDescription"; editors show `title` as the short
/// label and `description` as help, so split them where schemars left both in one.
fn split_titles(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if !map.contains_key("title") {
                let split = map
                    .get("description")
                    .and_then(Value::as_str)
                    .and_then(|d| {
                        let (title, body) = d.split_once("\n\n")?;
                        (!title.contains('\n'))
                            .then(|| (title.trim().to_string(), body.trim().to_string()))
                    });
                if let Some((title, body)) = split {
                    map.insert("title".into(), Value::from(title));
                    map.insert("description".into(), Value::from(body));
                }
            }
            for v in map.values_mut() {
                split_titles(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(split_titles),
        _ => {}
    }
}

/// The schema as committed (pretty JSON with a trailing newline).
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema_json()).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema, generated once per process.
fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(schema_json)
}

/// Generate and compile the schema on a thread of its own, while the file is read and
/// parsed: about 10 ms that [`check`] then finds done (or waits for, if it comes first).
/// Once per process: `topo diff` and the tests load many files.
pub fn prepare() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("topo-schema".into())
            .spawn(|| {
                validator();
            });
    });
}

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(schema()).ok())
        .as_ref()
}

/// Check a document against the schema; one diagnostic per problem, located.
pub fn check(tree: &Node, value: &Value) -> Vec<Diagnostic> {
    let Some(validator) = validator() else {
        return vec![Diagnostic::error(
            Code::SchemaType,
            "internal error: the topology schema does not compile",
        )];
    };
    let schema = schema();
    let errors: Vec<_> = validator.iter_errors(value).collect();
    // A misspelt key is one mistake: the key it was meant to be is then "missing" too, which
    // is a knock-on of the same typo. Keys that an unknown key is a near miss of, by object.
    let meant: Vec<(String, String)> = errors
        .iter()
        .filter_map(|err| match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let pointer = err.instance_path().to_string();
                let allowed = allowed_keys(schema, &pointer);
                Some(
                    unexpected
                        .iter()
                        .filter_map(|key| closest(key, allowed.iter().map(String::as_str)))
                        .map(|k| (pointer.clone(), k.to_string()))
                        .collect::<Vec<_>>(),
                )
            }
            _ => None,
        })
        .flatten()
        .collect();
    let mut out = Vec::new();
    for err in errors {
        let pointer = err.instance_path().to_string();
        let d = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(schema, &pointer);
                for key in unexpected {
                    let key_pointer =
                        format!("{pointer}/{}", crate::source::node::pointer_segment(key));
                    let (message, hint) = match closest(key, allowed.iter().map(String::as_str)) {
                        Some(near) => (
                            format!(
                                "unknown key `{key}`{}, did you mean `{near}`?",
                                where_(&pointer)
                            ),
                            format!("rename `{key}` to `{near}`"),
                        ),
                        None if allowed.is_empty() => (
                            format!("unknown key `{key}`{}", where_(&pointer)),
                            "remove it".to_string(),
                        ),
                        None => (
                            format!("unknown key `{key}`{}", where_(&pointer)),
                            format!("known keys here: {}", allowed.join(", ")),
                        ),
                    };
                    out.push(
                        Diagnostic::error(Code::UnknownKey, message)
                            .at(tree.locate_key(&key_pointer))
                            .path(key_pointer)
                            .hint(hint),
                    );
                }
                continue;
            }
            ValidationErrorKind::Required { property }
                if property
                    .as_str()
                    .is_some_and(|name| meant.iter().any(|(p, k)| *p == pointer && k == name)) =>
            {
                continue;
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                Diagnostic::error(
                    Code::MissingKey,
                    format!("missing required key `{name}`{}", where_(&pointer)),
                )
                .at(tree.locate(&pointer))
                .hint(format!("add `{name}: ...`"))
            }
            ValidationErrorKind::Enum { options } if pointer == "/version" => {
                let _ = options;
                Diagnostic::error(
                    Code::Version,
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
                    Code::SchemaType,
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
                    Code::SchemaType,
                    format!("invalid value `{got}`{}", where_(&pointer)),
                )
                .at(tree.locate(&pointer))
                .hint(hint)
            }
            _ => {
                let got = err.instance();
                if let (Some(choices), Some(word)) = (enum_choices(schema, &pointer), got.as_str())
                {
                    Diagnostic::error(
                        Code::SchemaType,
                        format!(
                            "`{word}` is not one of: {}{}",
                            choices.join(", "),
                            where_(&pointer)
                        ),
                    )
                    .at(tree.locate(&pointer))
                    .hint(
                        did_you_mean(word, choices.iter().map(String::as_str))
                            .unwrap_or_else(|| type_hint(schema, &pointer)),
                    )
                } else if let (ValidationErrorKind::Type { .. }, Some(word)) = (
                    err.kind(),
                    got.as_str()
                        .and_then(yaml11_bool)
                        .filter(|_| expected_types(schema, &pointer) == "true or false"),
                ) {
                    let text = got.as_str().unwrap_or_default();
                    Diagnostic::error(
                        Code::SchemaType,
                        format!(
                            "expected true or false{}, found the text \"{text}\"",
                            where_(&pointer)
                        ),
                    )
                    .at(tree.locate(&pointer))
                    .hint(format!(
                        "write `{word}`: topo reads YAML 1.2, where only true and false are \
                         booleans and `{text}` is text"
                    ))
                } else if let ValidationErrorKind::Type { .. } = err.kind() {
                    Diagnostic::error(
                        Code::SchemaType,
                        format!(
                            "expected {}{}, found {}",
                            expected_types(schema, &pointer),
                            where_(&pointer),
                            describe(got)
                        ),
                    )
                    .at(tree.locate(&pointer))
                    .hint(type_hint(schema, &pointer))
                } else {
                    Diagnostic::error(Code::SchemaType, format!("{err}{}", where_(&pointer)))
                        .at(tree.locate(&pointer))
                        .hint(type_hint(schema, &pointer))
                }
            }
        };
        out.push(d.path(pointer));
    }
    out
}

/// The boolean a YAML 1.1 word meant (`yes`, `off`, `y`, ...), which YAML 1.2 reads as text.
fn yaml11_bool(word: &str) -> Option<&'static str> {
    match word.to_ascii_lowercase().as_str() {
        "yes" | "y" | "on" => Some("true"),
        "no" | "n" | "off" => Some("false"),
        _ => None,
    }
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
        } else if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
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

/// The allowed words where the schema has an enum (plain or one `const` per variant).
fn enum_choices(schema: &Value, pointer: &str) -> Option<Vec<String>> {
    let node = node_at(schema, pointer)?;
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        );
    }
    let branches = node.get("oneOf")?.as_array()?;
    branches
        .iter()
        .map(|b| b.get("const").and_then(Value::as_str).map(String::from))
        .collect()
}

/// "an integer", "true or false", ... from the schema's `type` at a pointer.
fn expected_types(schema: &Value, pointer: &str) -> String {
    let mut types: Vec<&str> = Vec::new();
    let mut collect = |node: &Value| match node.get("type") {
        Some(Value::String(t)) => types.push(t_name(t)),
        Some(Value::Array(ts)) => types.extend(ts.iter().filter_map(Value::as_str).map(t_name)),
        _ => {}
    };
    if let Some(node) = node_at(schema, pointer) {
        collect(node);
        for b in node
            .get("anyOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect(resolve(schema, b));
        }
    }
    types.retain(|t| *t != "null");
    types.dedup();
    if types.is_empty() {
        "another kind of value".into()
    } else {
        types.join(" or ")
    }
}

fn t_name(t: &str) -> &'static str {
    match t {
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "string" => "text",
        "array" => "a list",
        "object" => "a mapping",
        _ => "null",
    }
}

/// A found value, briefly: `the text "one day"`, `a list`, ...
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => format!("the text \"{s}\""),
        Value::String(_) => "a long text".into(),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("`{b}`"),
        Value::Null => "nothing (null)".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// The keys the schema allows in the object at a pointer.
fn allowed_keys(schema: &Value, pointer: &str) -> Vec<String> {
    node_at(schema, pointer)
        .and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}
