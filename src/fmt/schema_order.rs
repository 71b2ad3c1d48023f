//! The canonical key order of a mapping: the JSON Schema's (the model's field order), found
//! by following the schema along the path of keys.

use serde_json::Value;

/// The alternatives a schema stands for, `$ref`s followed (`anyOf` of an optional field,
/// `oneOf` of a choice).
fn alternatives<'v>(root: &'v Value, s: &'v Value, out: &mut Vec<&'v Value>, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        if let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            alternatives(root, target, out, depth + 1);
        }
        return;
    }
    let mut branched = false;
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            branched = true;
            for b in list {
                alternatives(root, b, out, depth + 1);
            }
        }
    }
    if !branched || s.get("properties").is_some() || s.get("items").is_some() {
        out.push(s);
    }
}

/// The keys of a mapping in the schema's order (empty for a free-form map such as
/// `arguments`, whose keys keep the author's order).
pub(super) fn property_order(root: &Value, schema: Option<&Value>) -> Vec<String> {
    let mut alts = Vec::new();
    if let Some(s) = schema {
        alternatives(root, s, &mut alts, 0);
    }
    let mut keys: Vec<String> = Vec::new();
    for a in alts {
        if let Some(props) = a.get("properties").and_then(Value::as_object) {
            for k in props.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys
}

pub(super) fn property<'v>(root: &'v Value, schema: &'v Value, key: &str) -> Option<&'v Value> {
    let mut alts = Vec::new();
    alternatives(root, schema, &mut alts, 0);
    alts.into_iter()
        .find_map(|a| a.get("properties").and_then(|p| p.get(key)))
}

pub(super) fn items_of<'v>(root: &'v Value, schema: &'v Value) -> Option<&'v Value> {
    let mut alts = Vec::new();
    alternatives(root, schema, &mut alts, 0);
    alts.into_iter().find_map(|a| a.get("items"))
}
