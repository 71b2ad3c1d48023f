//! What makes a binding the same binding, once for everyone who asks: `extends` merging
//! (`topology::merge`), the duplicate check (`validate`, TOPO010) and the normalized
//! [`crate::state::BindingKey`] that plan, apply, diff and route compare.
//!
//! RabbitMQ identifies a binding by vhost, source, destination (and its type), routing key
//! and arguments, the arguments as an AMQP table with its keys in sorted order. Table
//! values keep their type: the string `"5"`, the integer `5` and the float `5.0` are three
//! different values to the broker, so they are three different bindings here too. Only
//! key order is canonicalised (at every depth).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::Serialize;
use serde_json::Value;

/// A binding's arguments in canonical form: a map with its keys sorted at every depth and
/// every value's type kept, built once (from the file or the broker) and then only read.
///
/// It also keeps its canonical JSON text, made once at construction: equality, order and
/// hashing use that text (so bindings sort as they always have, and comparing two keys
/// serializes nothing), `Display` shows it, and `Serialize` writes it (the form saved
/// plans and the JSON reports have always had).
#[derive(Debug, Clone)]
pub struct BindingArgs {
    map: BTreeMap<String, Value>,
    text: String,
}

impl BindingArgs {
    /// The canonical arguments of any key/value list.
    pub fn new<'a>(items: impl IntoIterator<Item = (&'a String, &'a Value)>) -> BindingArgs {
        let map: BTreeMap<String, Value> = items
            .into_iter()
            .map(|(k, v)| (k.clone(), sorted_keys(v)))
            .collect();
        // A map of strings to JSON values always serializes; "{}" is never reached. Most
        // bindings have no arguments: no serializer for those.
        let text = if map.is_empty() {
            "{}".to_string()
        } else {
            serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_string())
        };
        BindingArgs { map, text }
    }

    /// The arguments as a map (keys sorted at every depth).
    pub fn map(&self) -> &BTreeMap<String, Value> {
        &self.map
    }

    /// The canonical JSON text (`{}` when there are none).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Default for BindingArgs {
    fn default() -> Self {
        BindingArgs::new([])
    }
}

impl PartialEq for BindingArgs {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for BindingArgs {}

impl PartialOrd for BindingArgs {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BindingArgs {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl Hash for BindingArgs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Display for BindingArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for BindingArgs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// The canonical text of a binding's arguments (`{}` when there are none), for identities
/// kept as text (`extends` merging).
pub fn binding_arguments<'a>(items: impl IntoIterator<Item = (&'a String, &'a Value)>) -> String {
    BindingArgs::new(items).text
}

/// `value` with the keys of every nested table in sorted order; nothing else changes.
fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: Value) -> String {
        match v {
            Value::Object(m) => binding_arguments(&m),
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn key_order_is_canonical_and_value_types_are_kept() {
        assert_eq!(
            text(json!({"b": 1, "a": {"y": 1, "x": 2}})),
            text(json!({"a": {"x": 2, "y": 1}, "b": 1}))
        );
        let five = [json!({"k": "5"}), json!({"k": 5}), json!({"k": 5.0})];
        let texts: std::collections::BTreeSet<String> = five.into_iter().map(text).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert_eq!(text(json!({})), "{}");
        assert_eq!(BindingArgs::default().as_str(), "{}");
        let map = json!({"b": {"y": 1, "x": 2}, "a": "5"});
        let args = match &map {
            Value::Object(m) => BindingArgs::new(m),
            _ => unreachable!("test input is an object"),
        };
        assert_eq!(args.as_str(), r#"{"a":"5","b":{"x":2,"y":1}}"#);
        assert_eq!(args.map().get("a"), Some(&json!("5")));
        assert_eq!(args.map().keys().collect::<Vec<_>>(), ["a", "b"]);
    }
}
