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

use crate::state::links::Component;
use crate::state::queue_args::named_arg;
use crate::state::{
    BindingKey, DEFAULT_VHOST, EntityKey, ExchangeState, Limits, PermissionKey, PermissionState,
    PolicyState, QueueState, State, TopicPermissionState, TopicPermissions, UserState, VhostState,
};
use crate::topology::Topology;

mod links;
use crate::topology::model::{ApplyTo, DestinationType, QueueType};

/// The topology of `state`. With `vhost`, the file's `vhost:` is that vhost and entities
/// name none; otherwise every entity outside `/` names its vhost.
pub fn to_topology(state: &State, vhost: Option<&str>) -> anyhow::Result<Topology> {
    // Every kind, so that a new one does not compile until export decides how to write it.
    let State {
        vhosts,
        exchanges,
        queues,
        bindings,
        policies,
        users,
        permissions,
        topic_permissions,
        links,
        vhost_limits,
        user_limits,
        operator_policies,
    } = state;
    let mut top = Map::new();
    top.insert("version".into(), json!(1));
    if let Some(v) = vhost
        && v != DEFAULT_VHOST
    {
        top.insert("vhost".into(), json!(v));
    }
    let here = Here(vhost.unwrap_or(DEFAULT_VHOST));

    let list = vhosts.iter().filter_map(|(n, v)| vhost_entry(n, v));
    insert_list(&mut top, "vhosts", list.collect());
    let list = exchanges
        .iter()
        .filter_map(|(k, x)| exchange_entry(here, k, x));
    insert_list(&mut top, "exchanges", list.collect());
    let list = queues.iter().filter_map(|(k, q)| queue_entry(here, k, q));
    insert_list(&mut top, "queues", list.collect());
    let list = bindings.keys().filter_map(|b| binding_entry(here, b));
    insert_list(&mut top, "bindings", list.collect());
    let list = policies.iter().map(|(k, p)| policy_entry(here, k, p));
    insert_list(&mut top, "policies", list.collect());
    let list = operator_policies
        .iter()
        .map(|(k, p)| operator_policy_entry(here, k, p));
    insert_list(&mut top, "operator_policies", list.collect());
    // Users that hold permissions or topic permissions in the exported vhosts; tags only
    // (see module docs).
    let users_here: BTreeSet<&String> = permissions
        .keys()
        .chain(topic_permissions.keys())
        .map(|k| &k.user)
        .collect();
    let exported = |name: &String| users_here.contains(name) && users.contains_key(name);
    let list = users
        .iter()
        .filter(|(name, _)| users_here.contains(name))
        .map(|(name, u)| user_entry(name, u));
    insert_list(&mut top, "users", list.collect());
    let list = permissions
        .iter()
        .filter(|(k, _)| users.contains_key(&k.user))
        .map(|(k, p)| permission_entry(here, k, p));
    insert_list(&mut top, "permissions", list.collect());
    let list = topic_permissions
        .iter()
        .filter(|(k, _)| users.contains_key(&k.user))
        .flat_map(|(k, topics)| topic_permission_entries(here, k, topics));
    insert_list(&mut top, "topic_permissions", list.collect());
    for component in Component::ALL {
        let list = links
            .iter()
            .filter(|(k, _)| k.component == component)
            .map(|(k, l)| links::link_entry(here, k, l));
        let key = match component {
            Component::Shovel => "shovels",
            Component::FederationUpstream => "federation_upstreams",
        };
        insert_list(&mut top, key, list.collect());
    }
    // Live limits are never negative (see `state::limits`); the read covers the exported
    // vhosts only. User limits go with the users exported above.
    let list = vhost_limits
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(v, l)| limits_entry("vhost", v, l, here));
    insert_list(&mut top, "vhost_limits", list.collect());
    let list = user_limits
        .iter()
        .filter(|(u, l)| !l.is_empty() && exported(u))
        .map(|(u, l)| limits_entry("user", u, l, here));
    insert_list(&mut top, "user_limits", list.collect());

    serde_json::from_value(Value::Object(top))
        .map_err(|e| anyhow::anyhow!("the live broker does not fit the topology format: {e}"))
}

/// The vhost the exported file names at its top (`/` without `--vhost`): entities there
/// name no vhost of their own.
#[derive(Clone, Copy)]
struct Here<'a>(&'a str);

impl Here<'_> {
    fn vhost(self, m: &mut Map<String, Value>, v: &str) {
        if v != self.0 {
            m.insert("vhost".into(), json!(v));
        }
    }
}

// One entry per entity kind. Each destructures its state without `..`, so that a field
// added to the state does not compile until export writes it (or says why not).

fn vhost_entry(name: &str, v: &VhostState) -> Option<Value> {
    let VhostState {
        description,
        default_queue_type,
        tags,
    } = v;
    let mut m = Map::new();
    if let Some(d) = description.as_ref().filter(|d| !d.is_empty()) {
        if name == DEFAULT_VHOST && d == "Default virtual host" {
            return None;
        }
        m.insert("description".into(), json!(d));
    }
    if let Some(t) = default_queue_type {
        m.insert("default_queue_type".into(), json!(t.as_str()));
    }
    if let Some(t) = tags.as_ref().filter(|t| !t.is_empty()) {
        m.insert("tags".into(), json!(t));
    }
    if m.is_empty() {
        return None;
    }
    m.insert("name".into(), json!(name));
    Some(Value::Object(m))
}

fn exchange_entry(here: Here, k: &EntityKey, x: &ExchangeState) -> Option<Value> {
    let ExchangeState {
        kind,
        durable,
        auto_delete,
        internal,
        arguments,
    } = x;
    if k.name.is_empty() || k.name.starts_with("amq.") {
        return None;
    }
    let mut m = Map::new();
    m.insert("name".into(), json!(k.name));
    here.vhost(&mut m, &k.vhost);
    m.insert("type".into(), json!(kind));
    if !durable {
        m.insert("durable".into(), json!(false));
    }
    if *auto_delete {
        m.insert("auto_delete".into(), json!(true));
    }
    if *internal {
        m.insert("internal".into(), json!(true));
    }
    let mut args = arguments.clone();
    if let Some(Value::String(ae)) = args.get("alternate-exchange").cloned() {
        args.remove("alternate-exchange");
        m.insert("alternate_exchange".into(), json!(ae));
    }
    if !args.is_empty() {
        m.insert("arguments".into(), json!(args));
    }
    Some(Value::Object(m))
}

fn queue_entry(here: Here, k: &EntityKey, q: &QueueState) -> Option<Value> {
    let QueueState {
        kind,
        durable,
        auto_delete,
        arguments,
        // Live facts, not part of a declaration (members go into a comment).
        messages: _,
        members: _,
    } = q;
    if k.name.starts_with("amq.") {
        return None;
    }
    let mut m = Map::new();
    m.insert("name".into(), json!(k.name));
    here.vhost(&mut m, &k.vhost);
    if *kind != QueueType::Classic {
        m.insert("type".into(), json!(kind.as_str()));
    }
    if !durable {
        m.insert("durable".into(), json!(false));
    }
    if *auto_delete {
        m.insert("auto_delete".into(), json!(true));
    }
    let mut raw = Map::new();
    for (arg, v) in arguments {
        match named_arg(arg).filter(|named| (named.fits)(v)) {
            Some(named) => {
                m.insert(named.field.into(), v.clone());
            }
            None => {
                raw.insert(arg.clone(), v.clone());
            }
        }
    }
    if !raw.is_empty() {
        m.insert("arguments".into(), Value::Object(raw));
    }
    Some(Value::Object(m))
}

fn binding_entry(here: Here, b: &BindingKey) -> Option<Value> {
    let BindingKey {
        vhost,
        source,
        destination_type,
        destination,
        routing_key,
        arguments,
    } = b;
    // The default exchange's bindings are implicit: the broker makes one per queue.
    if source.is_empty() {
        return None;
    }
    let mut m = Map::new();
    m.insert("source".into(), json!(source));
    m.insert("destination".into(), json!(destination));
    if *destination_type == DestinationType::Exchange {
        m.insert("destination_type".into(), json!("exchange"));
    }
    if !routing_key.is_empty() {
        m.insert("routing_key".into(), json!(routing_key));
    }
    if !arguments.is_empty() {
        m.insert("arguments".into(), json!(arguments.map()));
    }
    here.vhost(&mut m, vhost);
    Some(Value::Object(m))
}

fn policy_entry(here: Here, k: &EntityKey, p: &PolicyState) -> Value {
    let PolicyState {
        pattern,
        apply_to,
        priority,
        definition,
    } = p;
    let mut m = Map::new();
    m.insert("name".into(), json!(k.name));
    here.vhost(&mut m, &k.vhost);
    m.insert("pattern".into(), json!(pattern));
    if *apply_to != ApplyTo::All {
        m.insert("apply_to".into(), json!(apply_to.as_str()));
    }
    if *priority != 0 {
        m.insert("priority".into(), json!(priority));
    }
    m.insert("definition".into(), json!(definition));
    Value::Object(m)
}

/// An operator policy, as a policy entry whose `apply_to` defaults to `queues`.
fn operator_policy_entry(here: Here, k: &EntityKey, p: &PolicyState) -> Value {
    let mut v = policy_entry(here, k, p);
    if let Value::Object(m) = &mut v {
        match p.apply_to {
            ApplyTo::Queues => {
                m.remove("apply_to");
            }
            ApplyTo::All => {
                m.insert("apply_to".into(), json!(ApplyTo::All.as_str()));
            }
            ApplyTo::Exchanges
            | ApplyTo::ClassicQueues
            | ApplyTo::QuorumQueues
            | ApplyTo::Streams => {}
        }
    }
    v
}

fn user_entry(name: &str, u: &UserState) -> Value {
    let UserState {
        tags,
        // Never exported (see the module docs).
        credential: _,
    } = u;
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    if !tags.is_empty() {
        m.insert("tags".into(), json!(tags));
    }
    Value::Object(m)
}

fn permission_entry(here: Here, k: &PermissionKey, p: &PermissionState) -> Value {
    let PermissionState {
        configure,
        write,
        read,
    } = p;
    let mut m = Map::new();
    m.insert("user".into(), json!(k.user));
    here.vhost(&mut m, &k.vhost);
    m.insert("configure".into(), json!(configure));
    m.insert("write".into(), json!(write));
    m.insert("read".into(), json!(read));
    Value::Object(m)
}

/// One file entry per exchange of a user's topic permissions in a vhost.
fn topic_permission_entries(
    here: Here,
    k: &PermissionKey,
    topics: &TopicPermissions,
) -> Vec<Value> {
    topics
        .iter()
        .map(|(exchange, t)| {
            let TopicPermissionState { write, read } = t;
            let mut m = Map::new();
            m.insert("user".into(), json!(k.user));
            here.vhost(&mut m, &k.vhost);
            m.insert("exchange".into(), json!(exchange));
            m.insert("write".into(), json!(write));
            m.insert("read".into(), json!(read));
            Value::Object(m)
        })
        .collect()
}

/// One `vhost_limits` or `user_limits` entry (`owner` is `vhost` or `user`).
fn limits_entry(owner: &str, name: &str, limits: &Limits, here: Here) -> Value {
    let mut m = Map::new();
    if owner == "vhost" {
        here.vhost(&mut m, name);
    } else {
        m.insert(owner.into(), json!(name));
    }
    for (k, v) in limits {
        m.insert(k.clone(), json!(v));
    }
    Value::Object(m)
}

fn insert_list(top: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        top.insert(key.into(), Value::Array(items));
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
