//! What makes a binding the same binding, once for everyone who asks: `extends` merging
//! (`topology::merge`), the duplicate check (`validate`, TOPO010) and the normalized
//! [`crate::state::BindingKey`] that plan, apply, diff and route compare.
//!
//! RabbitMQ identifies a binding by vhost, source, destination (and its type), routing key
//! and arguments, the arguments as an AMQP table with its keys in sorted order. Table
//! values keep their type: the string `"5"`, the integer `5` and the float `5.0` are three
//! different values to the broker, so they are three different bindings here too. Only
//! key order is canonicalised (at every depth).

use std::collections::BTreeMap;

use serde_json::Value;

/// The canonical text of a binding's arguments (`{}` when there are none).
pub fn binding_arguments<'a>(items: impl IntoIterator<Item = (&'a String, &'a Value)>) -> String {
    let sorted: BTreeMap<&str, Value> = items
        .into_iter()
        .map(|(k, v)| (k.as_str(), sorted_keys(v)))
        .collect();
    serde_json::to_string(&sorted).unwrap_or_else(|_| "{}".to_string())
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
    }
}
