//! The live broker as a topology file: [`State`] back to the file model, then YAML.
//!
//! The file is built as JSON and deserialized into [`Topology`] (so an export is always a
//! well-formed file), then written as block YAML by a small emitter: the loader's YAML
//! crate only parses.
//!
//! Passwords and password hashes are never exported: users come with their tags only, so
//! applying an export leaves existing passwords alone (a user created from it has none
//! until its `password_env` is added).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::state::{DEFAULT_VHOST, State};
use crate::topology::Topology;
use crate::topology::model::{DestinationType, QueueType};

/// The topology of `state`. With `vhost`, the file's `vhost:` is that vhost and entities
/// name none; otherwise every entity outside `/` names its vhost.
pub fn to_topology(state: &State, vhost: Option<&str>) -> anyhow::Result<Topology> {
    let mut top = Map::new();
    top.insert("version".into(), json!(1));
    if let Some(v) = vhost
        && v != DEFAULT_VHOST
    {
        top.insert("vhost".into(), json!(v));
    }
    let file_vhost = vhost.unwrap_or(DEFAULT_VHOST);
    let with_vhost = |m: &mut Map<String, Value>, v: &str| {
        if v != file_vhost {
            m.insert("vhost".into(), json!(v));
        }
    };

    let vhosts: Vec<Value> = state
        .vhosts
        .iter()
        .filter_map(|(name, v)| {
            let mut m = Map::new();
            if let Some(d) = v.description.as_ref().filter(|d| !d.is_empty()) {
                if name == DEFAULT_VHOST && d == "Default virtual host" {
                    return None;
                }
                m.insert("description".into(), json!(d));
            }
            if let Some(t) = v.default_queue_type {
                m.insert("default_queue_type".into(), json!(t.as_str()));
            }
            if let Some(t) = v.tags.as_ref().filter(|t| !t.is_empty()) {
                m.insert("tags".into(), json!(t));
            }
            if m.is_empty() {
                return None;
            }
            m.insert("name".into(), json!(name));
            Some(Value::Object(m))
        })
        .collect();
    insert_list(&mut top, "vhosts", vhosts);

    let mut exchanges = Vec::new();
    for (k, x) in &state.exchanges {
        if k.name.is_empty() || k.name.starts_with("amq.") {
            continue;
        }
        let mut m = Map::new();
        m.insert("name".into(), json!(k.name));
        with_vhost(&mut m, &k.vhost);
        m.insert("type".into(), json!(x.kind));
        if !x.durable {
            m.insert("durable".into(), json!(false));
        }
        if x.auto_delete {
            m.insert("auto_delete".into(), json!(true));
        }
        if x.internal {
            m.insert("internal".into(), json!(true));
        }
        let mut args = x.arguments.clone();
        if let Some(Value::String(ae)) = args.get("alternate-exchange").cloned() {
            args.remove("alternate-exchange");
            m.insert("alternate_exchange".into(), json!(ae));
        }
        if !args.is_empty() {
            m.insert("arguments".into(), json!(args));
        }
        exchanges.push(Value::Object(m));
    }
    insert_list(&mut top, "exchanges", exchanges);

    let mut queues = Vec::new();
    for (k, q) in &state.queues {
        if k.name.starts_with("amq.") {
            continue;
        }
        let mut m = Map::new();
        m.insert("name".into(), json!(k.name));
        with_vhost(&mut m, &k.vhost);
        if q.kind != QueueType::Classic {
            m.insert("type".into(), json!(q.kind.as_str()));
        }
        if !q.durable {
            m.insert("durable".into(), json!(false));
        }
        if q.auto_delete {
            m.insert("auto_delete".into(), json!(true));
        }
        let mut raw = Map::new();
        for (arg, v) in &q.arguments {
            match named_queue_field(arg, v) {
                Some(field) => {
                    m.insert(field.into(), v.clone());
                }
                None => {
                    raw.insert(arg.clone(), v.clone());
                }
            }
        }
        if !raw.is_empty() {
            m.insert("arguments".into(), Value::Object(raw));
        }
        queues.push(Value::Object(m));
    }
    insert_list(&mut top, "queues", queues);

    let mut bindings = Vec::new();
    for b in state.bindings.keys() {
        if b.source.is_empty() {
            continue;
        }
        let mut m = Map::new();
        m.insert("source".into(), json!(b.source));
        m.insert("destination".into(), json!(b.destination));
        if b.destination_type == DestinationType::Exchange {
            m.insert("destination_type".into(), json!("exchange"));
        }
        if !b.routing_key.is_empty() {
            m.insert("routing_key".into(), json!(b.routing_key));
        }
        let args = b.arguments_map();
        if !args.is_empty() {
            m.insert("arguments".into(), json!(args));
        }
        with_vhost(&mut m, &b.vhost);
        bindings.push(Value::Object(m));
    }
    insert_list(&mut top, "bindings", bindings);

    let mut policies = Vec::new();
    for (k, p) in &state.policies {
        let mut m = Map::new();
        m.insert("name".into(), json!(k.name));
        with_vhost(&mut m, &k.vhost);
        m.insert("pattern".into(), json!(p.pattern));
        if p.apply_to != "all" {
            m.insert("apply_to".into(), json!(p.apply_to));
        }
        if p.priority != 0 {
            m.insert("priority".into(), json!(p.priority));
        }
        m.insert("definition".into(), json!(p.definition));
        policies.push(Value::Object(m));
    }
    insert_list(&mut top, "policies", policies);

    // Users that hold permissions in the exported vhosts; tags only (see module docs).
    let users_here: BTreeSet<&String> = state
        .permissions
        .keys()
        .chain(state.topic_permissions.keys())
        .map(|k| &k.user)
        .collect();
    let users: Vec<Value> = state
        .users
        .iter()
        .filter(|(name, _)| users_here.contains(name))
        .map(|(name, u)| {
            let mut m = Map::new();
            m.insert("name".into(), json!(name));
            if !u.tags.is_empty() {
                m.insert("tags".into(), json!(u.tags));
            }
            Value::Object(m)
        })
        .collect();
    insert_list(&mut top, "users", users);

    let perms: Vec<Value> = state
        .permissions
        .iter()
        .filter(|(k, _)| state.users.contains_key(&k.user))
        .map(|(k, p)| {
            let mut m = Map::new();
            m.insert("user".into(), json!(k.user));
            with_vhost(&mut m, &k.vhost);
            m.insert("configure".into(), json!(p.configure));
            m.insert("write".into(), json!(p.write));
            m.insert("read".into(), json!(p.read));
            Value::Object(m)
        })
        .collect();
    insert_list(&mut top, "permissions", perms);

    let mut topic_perms = Vec::new();
    for (k, topics) in &state.topic_permissions {
        if !state.users.contains_key(&k.user) {
            continue;
        }
        for (exchange, t) in topics {
            let mut m = Map::new();
            m.insert("user".into(), json!(k.user));
            with_vhost(&mut m, &k.vhost);
            m.insert("exchange".into(), json!(exchange));
            m.insert("write".into(), json!(t.write));
            m.insert("read".into(), json!(t.read));
            topic_perms.push(Value::Object(m));
        }
    }
    insert_list(&mut top, "topic_permissions", topic_perms);

    serde_json::from_value(Value::Object(top))
        .map_err(|e| anyhow::anyhow!("the live broker does not fit the topology format: {e}"))
}

fn insert_list(top: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        top.insert(key.into(), Value::Array(items));
    }
}

/// The file's named field for a queue argument, when the value fits it.
fn named_queue_field(arg: &str, v: &Value) -> Option<&'static str> {
    let uint = v.as_u64().is_some();
    match arg {
        "x-message-ttl" if uint => Some("message_ttl"),
        "x-expires" if v.as_u64().is_some_and(|n| n >= 1) => Some("expires"),
        "x-max-length" if uint => Some("max_length"),
        "x-max-length-bytes" if uint => Some("max_length_bytes"),
        "x-overflow"
            if matches!(
                v.as_str(),
                Some("drop-head" | "reject-publish" | "reject-publish-dlx")
            ) =>
        {
            Some("overflow")
        }
        "x-dead-letter-exchange" if v.is_string() => Some("dead_letter_exchange"),
        "x-dead-letter-routing-key" if v.is_string() => Some("dead_letter_routing_key"),
        "x-max-priority" if v.as_u64().is_some_and(|n| (1..=255).contains(&n)) => {
            Some("max_priority")
        }
        "x-delivery-limit" if uint => Some("delivery_limit"),
        "x-single-active-consumer" if v.is_boolean() => Some("single_active_consumer"),
        "x-quorum-initial-group-size" if v.as_u64().is_some_and(|n| n >= 1) => {
            Some("initial_group_size")
        }
        "x-initial-cluster-size" if v.as_u64().is_some_and(|n| n >= 1) => {
            Some("initial_cluster_size")
        }
        _ => None,
    }
}

/// Where the broker placed the members of quorum queues and the replicas of streams, as a
/// comment after the topology (the format has no field for them: the broker decides). Empty
/// when no queue reports members (classic queues, a single node's 3.x broker).
pub fn members_comment(state: &State, vhost: Option<&str>) -> String {
    let mut out = String::new();
    for (key, q) in &state.queues {
        if vhost.is_some_and(|v| v != key.vhost) {
            continue;
        }
        let Some(members) = q.members.as_ref().filter(|m| !m.is_empty()) else {
            continue;
        };
        if out.is_empty() {
            out.push_str(
                "\n# Members of quorum queues and streams, as the broker reports them (the broker\n\
                 # places them; not part of the format):\n",
            );
        }
        // A name may hold any character: a line break must not end the comment.
        let line = format!("{} {key}: {}", q.kind.as_str(), members.join(", "));
        out.push_str("#   ");
        for c in line.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// A topology as YAML text, with a header comment.
pub fn to_yaml(topo: &Topology, header: &str) -> String {
    let value = serde_json::to_value(topo).unwrap_or(Value::Null);
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    emit_map_body(&mut out, &value, 0);
    out
}

fn emit_map_body(out: &mut String, v: &Value, indent: usize) {
    if let Value::Object(m) = v {
        for (i, (k, val)) in m.iter().enumerate() {
            if i > 0 || indent > 0 {
                out.push_str(&" ".repeat(indent));
            }
            out.push_str(&scalar_str(k));
            out.push(':');
            emit_value_after_key(out, val, indent);
        }
    }
}

fn emit_value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map_body(out, v, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_list(out, a, indent);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn emit_list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                let mut first = true;
                for (k, val) in m {
                    if !first {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    first = false;
                    out.push_str(&scalar_str(k));
                    out.push(':');
                    emit_value_after_key(out, val, indent + 2);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                out.push_str(&inline(item));
                out.push('\n');
                let _ = a;
            }
            other => {
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

/// A value on one line: scalars, and flow style for empty or nested collections.
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => value_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", scalar_str(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string value: `${` written as `$${`, since loading interpolates values (never keys)
/// and would otherwise expand, or fail on, text the broker holds literally.
fn value_str(s: &str) -> String {
    if s.contains("${") {
        scalar_str(&s.replace("${", "$${"))
    } else {
        scalar_str(s)
    }
}

/// A string plain when YAML reads it back as the same string, double-quoted otherwise
/// (JSON string syntax is valid YAML).
fn scalar_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_quote_when_needed() {
        assert_eq!(scalar_str("orders.audit"), "orders.audit");
        assert_eq!(scalar_str("order.#"), "\"order.#\"");
        assert_eq!(scalar_str("^$"), "\"^$\"");
        assert_eq!(scalar_str("yes"), "\"yes\"");
        assert_eq!(scalar_str("123"), "\"123\"");
        assert_eq!(scalar_str(""), "\"\"");
        assert_eq!(scalar_str("x-match"), "x-match");
    }

    #[test]
    fn values_escape_interpolation_and_keys_do_not() {
        assert_eq!(inline(&Value::from("a ${B} $${c}")), "\"a $${B} $$${c}\"");
        assert_eq!(inline(&Value::from("cost $5")), "\"cost $5\"");
        let m = serde_json::json!({"${k}": "${v}"});
        assert_eq!(inline(&m), "{\"${k}\": \"$${v}\"}");
    }
}
