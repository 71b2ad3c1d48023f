//! Reading the live broker into a [`State`], normalized exactly like the file is, so that
//! a broker that matches the file plans as "no changes".
//!
//! One `GET /api/definitions/{vhost}` per vhost (fast even at 10,000 queues), plus users,
//! permissions and vhosts. Message counts are fetched separately and only for the queues a
//! plan would replace or delete ([`fill_message_counts`]), because the queue listing is
//! the slow call at scale.

use std::collections::BTreeSet;

use serde_json::Value;

use super::http::{HttpError, Management};
use crate::state::{
    Args, BindingKey, BindingState, Credential, EntityKey, ExchangeState, PermissionKey,
    PermissionState, PolicyState, QueueState, State, UserState, VhostState, args_text,
    canonical_args, parse_queue_type,
};
use crate::topology::model::{DestinationType, QueueType};

/// Which vhosts to read.
#[derive(Debug, Clone)]
pub enum Scope {
    /// These vhosts (those the file names); users are always read whole.
    Vhosts(BTreeSet<String>),
    /// Every vhost (export of a whole broker).
    All,
}

/// The live state of the vhosts in `scope`, plus every user, and the broker's version
/// when a definitions export said it.
pub async fn read_state(
    mgmt: &Management,
    scope: &Scope,
) -> Result<(State, Option<String>), HttpError> {
    let mut state = State::default();
    let vhosts = mgmt.get(&["vhosts"], "listing vhosts").await?;
    let mut present = Vec::new();
    for v in vhosts.as_array().into_iter().flatten() {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let wanted = match scope {
            Scope::All => true,
            Scope::Vhosts(set) => set.contains(name),
        };
        if wanted {
            state.vhosts.insert(name.to_string(), vhost_state(v));
            present.push(name.to_string());
        }
    }

    let mut tasks = tokio::task::JoinSet::new();
    for name in present.clone() {
        let m = mgmt.clone();
        tasks.spawn(async move {
            let what = format!("reading the definitions of vhost {name}");
            let defs = m.get(&["definitions", &name], &what).await;
            (name, defs)
        });
    }
    let users = mgmt.get(&["users"], "listing users");
    let perms = mgmt.get(&["permissions"], "listing permissions");
    let (users, perms) = tokio::join!(users, perms);
    let mut defs = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((name, d)) = joined {
            defs.push((name, d?));
        }
    }
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    let version = defs.iter().find_map(|(_, d)| {
        d.get("rabbit_version")
            .and_then(Value::as_str)
            .map(String::from)
    });
    for (vhost, d) in &defs {
        let default_type = state.vhosts.get(vhost).and_then(|v| v.default_queue_type);
        add_definitions(&mut state, vhost, d, default_type);
    }

    for u in users?.as_array().into_iter().flatten() {
        if let Some((name, user)) = user_state(u) {
            state.users.insert(name, user);
        }
    }
    let present: BTreeSet<String> = present.into_iter().collect();
    for p in perms?.as_array().into_iter().flatten() {
        let (Some(user), Some(vhost)) = (str_of(p, "user"), str_of(p, "vhost")) else {
            continue;
        };
        if !present.contains(&vhost) {
            continue;
        }
        state.permissions.insert(
            PermissionKey { vhost, user },
            PermissionState {
                configure: str_of(p, "configure").unwrap_or_default(),
                write: str_of(p, "write").unwrap_or_default(),
                read: str_of(p, "read").unwrap_or_default(),
            },
        );
    }
    Ok((state, version))
}

/// The broker's version from `/api/overview`.
pub async fn broker_version(mgmt: &Management) -> Result<Option<String>, HttpError> {
    let o = mgmt
        .get(&["overview"], "reading the broker overview")
        .await?;
    Ok(str_of(&o, "rabbitmq_version"))
}

/// Whether a RabbitMQ version keeps a vhost's `default_queue_type` (3.11 and later;
/// 3.10 accepts the field and drops it).
pub fn keeps_vhost_default_queue_type(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (3, 11)
}

/// Fill `messages` of the given live queues (those a plan replaces or deletes).
pub async fn fill_message_counts(
    mgmt: &Management,
    state: &mut State,
    queues: &[EntityKey],
) -> Result<(), HttpError> {
    let mut tasks = tokio::task::JoinSet::new();
    for key in queues.iter().cloned() {
        let m = mgmt.clone();
        tasks.spawn(async move {
            let what = format!("reading the message count of queue {key}");
            let q = m.get_opt(&["queues", &key.vhost, &key.name], &what).await;
            (key, q)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok((key, q)) = joined
            && let Some(live) = state.queues.get_mut(&key)
        {
            let count = q?
                .as_ref()
                .and_then(|v| v.get("messages"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            live.messages = Some(count);
        }
    }
    Ok(())
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

fn obj_args(v: &Value, key: &str) -> Args {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| canonical_args(m.iter()))
        .unwrap_or_default()
}

/// Tags come as a list (3.9+) or a comma-separated string (older).
fn tags_of(v: Option<&Value>) -> Vec<String> {
    let mut tags: Vec<String> = match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(s)) => s.split(',').map(|t| t.trim().to_string()).collect(),
        _ => Vec::new(),
    };
    tags.retain(|t| !t.is_empty());
    tags.sort();
    tags.dedup();
    tags
}

fn vhost_state(v: &Value) -> VhostState {
    VhostState {
        description: str_of(v, "description"),
        default_queue_type: v
            .get("default_queue_type")
            .and_then(Value::as_str)
            .and_then(parse_queue_type),
        tags: Some(tags_of(v.get("tags"))),
    }
}

fn user_state(u: &Value) -> Option<(String, UserState)> {
    let name = str_of(u, "name")?;
    let hash = str_of(u, "password_hash").unwrap_or_default();
    let credential = if hash.is_empty() {
        Credential::None
    } else {
        Credential::Hash {
            hash,
            algorithm: str_of(u, "hashing_algorithm"),
        }
    };
    Some((
        name,
        UserState {
            tags: tags_of(u.get("tags")),
            credential,
        },
    ))
}

/// Add one vhost's definitions export (entities carry no vhost field there).
pub fn add_definitions(
    state: &mut State,
    vhost: &str,
    defs: &Value,
    default_type: Option<QueueType>,
) {
    let list = |k: &str| {
        defs.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for x in list("exchanges") {
        let Some(name) = str_of(&x, "name") else {
            continue;
        };
        state.exchanges.insert(
            EntityKey::new(vhost, name),
            ExchangeState {
                kind: str_of(&x, "type").unwrap_or_else(|| "direct".into()),
                durable: x.get("durable").and_then(Value::as_bool).unwrap_or(true),
                auto_delete: x
                    .get("auto_delete")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                internal: x.get("internal").and_then(Value::as_bool).unwrap_or(false),
                arguments: obj_args(&x, "arguments"),
            },
        );
    }
    for q in list("queues") {
        let Some(name) = str_of(&q, "name") else {
            continue;
        };
        let mut arguments = obj_args(&q, "arguments");
        let kind = arguments
            .remove("x-queue-type")
            .and_then(|t| t.as_str().and_then(parse_queue_type))
            .or(default_type)
            .unwrap_or(QueueType::Classic);
        state.queues.insert(
            EntityKey::new(vhost, name),
            QueueState {
                kind,
                durable: q.get("durable").and_then(Value::as_bool).unwrap_or(true),
                auto_delete: q
                    .get("auto_delete")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                arguments,
                messages: None,
            },
        );
    }
    for b in list("bindings") {
        let destination_type = match b.get("destination_type").and_then(Value::as_str) {
            Some("exchange") => DestinationType::Exchange,
            _ => DestinationType::Queue,
        };
        state.bindings.insert(
            BindingKey {
                vhost: vhost.to_string(),
                source: str_of(&b, "source").unwrap_or_default(),
                destination_type,
                destination: str_of(&b, "destination").unwrap_or_default(),
                routing_key: str_of(&b, "routing_key").unwrap_or_default(),
                arguments: args_text(&obj_args(&b, "arguments")),
            },
            BindingState {},
        );
    }
    for p in list("policies") {
        let Some(name) = str_of(&p, "name") else {
            continue;
        };
        state.policies.insert(
            EntityKey::new(vhost, name),
            PolicyState {
                pattern: str_of(&p, "pattern").unwrap_or_default(),
                apply_to: str_of(&p, "apply-to").unwrap_or_else(|| "all".into()),
                priority: p.get("priority").and_then(number).unwrap_or(0),
                definition: obj_args(&p, "definition"),
            },
        );
    }
}

fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn definitions_normalize_like_the_file() {
        let defs = json!({
            "queues": [
                {"name": "q", "durable": true, "auto_delete": false,
                 "arguments": {"x-queue-type": "quorum", "x-message-ttl": "1000"}},
                {"name": "c", "durable": true, "auto_delete": false, "arguments": {}}
            ],
            "exchanges": [{"name": "x", "type": "topic", "durable": true, "auto_delete": false,
                           "internal": false, "arguments": {}}],
            "bindings": [{"source": "x", "destination": "q", "destination_type": "queue",
                          "routing_key": "a.#", "arguments": {"b": 1.0, "a": "x"}}],
            "policies": [{"name": "p", "pattern": ".*", "apply-to": "queues",
                          "definition": {"max-length": "10"}, "priority": "2"}]
        });
        let mut s = State::default();
        add_definitions(&mut s, "v", &defs, None);
        let q = &s.queues[&EntityKey::new("v", "q")];
        assert_eq!(q.kind, QueueType::Quorum);
        assert_eq!(q.arguments.get("x-message-ttl"), Some(&json!(1000)));
        assert!(!q.arguments.contains_key("x-queue-type"));
        let b = s.bindings.keys().next().unwrap();
        assert_eq!(b.arguments, r#"{"a":"x","b":1}"#);
        let p = &s.policies[&EntityKey::new("v", "p")];
        assert_eq!(
            (p.priority, p.definition["max-length"].clone()),
            (2, json!(10))
        );

        let mut s = State::default();
        add_definitions(&mut s, "v", &defs, Some(QueueType::Quorum));
        assert_eq!(s.queues[&EntityKey::new("v", "c")].kind, QueueType::Quorum);
    }

    #[test]
    fn default_queue_type_support_by_version() {
        assert!(!keeps_vhost_default_queue_type("3.10.8"));
        assert!(keeps_vhost_default_queue_type("3.11.0"));
        assert!(keeps_vhost_default_queue_type("4.0.5"));
    }

    #[test]
    fn tags_both_shapes() {
        assert_eq!(tags_of(Some(&json!("b, a,"))), vec!["a", "b"]);
        assert_eq!(tags_of(Some(&json!(["x"]))), vec!["x"]);
    }
}
