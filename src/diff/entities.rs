//! Broker entities: the changes that would take a broker from one [`State`] to another with
//! pruning, classified as RabbitMQ allows them (queue and exchange properties are
//! immutable, so any change to them is a replace; bindings are all identity; policies,
//! users, permissions and vhost metadata update in place).

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Action, Change, Detail, Kind};
use crate::state::{BindingKey, Credential, DEFAULT_VHOST, State, UserState};
use crate::topology::model::DestinationType;

/// Maps whose keys are shown one by one (`arguments.x-message-ttl`), not as a whole.
const EXPANDED: &[&str] = &["arguments", "definition", "env", "secrets"];

/// The JSON object of a value, with `kind` shown as `type` and ignored fields removed.
fn object<T: Serialize>(v: &T, drop: &[&str]) -> Map<String, Value> {
    let mut map = match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for d in drop {
        map.remove(*d);
    }
    if let Some(k) = map.remove("kind") {
        map.insert("type".into(), k);
    }
    map
}

/// Field-by-field differences of two objects; the maps in [`EXPANDED`] key by key.
pub fn field_details(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<Detail> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let (o, n) = (old.get(k), new.get(k));
        if o == n {
            continue;
        }
        match (o, n) {
            (o @ (Some(Value::Object(_)) | None), n @ (Some(Value::Object(_)) | None))
                if EXPANDED.contains(&k.as_str()) =>
            {
                let empty = Map::new();
                let om = o.and_then(Value::as_object).unwrap_or(&empty);
                let nm = n.and_then(Value::as_object).unwrap_or(&empty);
                let inner: BTreeSet<&String> = om.keys().chain(nm.keys()).collect();
                for ik in inner {
                    if om.get(ik) != nm.get(ik) {
                        out.push(Detail {
                            field: format!("{k}.{ik}"),
                            old: om.get(ik).cloned(),
                            new: nm.get(ik).cloned(),
                        });
                    }
                }
            }
            _ => out.push(Detail {
                field: k.clone(),
                old: o.cloned(),
                new: n.cloned(),
            }),
        }
    }
    out
}

fn vhost_of(v: &str) -> Option<&str> {
    Some(v)
}

/// How a binding is named in a diff: `source -> destination [key] {args}`.
pub fn binding_name(b: &BindingKey) -> String {
    let source = if b.source.is_empty() {
        "(default exchange)"
    } else {
        &b.source
    };
    let mut s = format!("{source} -> ");
    if b.destination_type == DestinationType::Exchange {
        s.push_str("exchange ");
    }
    s.push_str(&b.destination);
    if !b.routing_key.is_empty() {
        s.push_str(&format!(" [{}]", b.routing_key));
    }
    if b.arguments != "{}" {
        s.push_str(&format!(" {}", b.arguments));
    }
    s
}

/// A user's credential as a diff may show it: the variable name, never a value or hash.
fn credential_view(u: &UserState) -> Value {
    match &u.credential {
        Credential::None => Value::Null,
        Credential::Env { var, .. } => Value::from(format!("from ${var}")),
        Credential::Hash { hash, .. } => {
            // Two different hashes must still compare different, without printing either.
            use sha2::Digest;
            let digest = sha2::Sha256::digest(hash.as_bytes());
            Value::from(format!(
                "hash #{:02x}{:02x}{:02x}",
                digest[0], digest[1], digest[2]
            ))
        }
    }
}

/// The changes from `old` to `new`, removals included.
pub fn diff_states(old: &State, new: &State) -> Vec<Change> {
    let mut out = Vec::new();

    // Vhosts: created when first used, deleted when nothing names them any more.
    let (old_v, new_v) = (old.vhost_names(), new.vhost_names());
    for v in new_v.union(&old_v) {
        let (o, n) = (old_v.contains(v), new_v.contains(v));
        let mut c = match (o, n) {
            (false, true) => Change::new(Action::Create, Kind::Vhost, None, v),
            (true, false) => Change::new(Action::Delete, Kind::Vhost, None, v),
            _ => {
                // Only the fields the new file manages count.
                let Some(nv) = new.vhosts.get(v) else {
                    continue;
                };
                let ov = old.vhosts.get(v).cloned().unwrap_or_default();
                let mut om = object(&ov, &[]);
                let nm = object(nv, &[]);
                om.retain(|k, x| !x.is_null() && nm.get(k).is_some_and(|y| !y.is_null()));
                let nm: Map<String, Value> = nm.into_iter().filter(|(_, x)| !x.is_null()).collect();
                let details = field_details(&om, &nm);
                if details.is_empty() {
                    continue;
                }
                let mut c = Change::new(Action::Update, Kind::Vhost, None, v);
                c.details = details;
                out.push(c);
                continue;
            }
        };
        if let Some(nv) = new.vhosts.get(v).filter(|_| !o) {
            let nm: Map<String, Value> = object(nv, &[])
                .into_iter()
                .filter(|(_, x)| !x.is_null())
                .collect();
            c.details = field_details(&Map::new(), &nm);
        }
        if c.action == Action::Delete && v == DEFAULT_VHOST {
            // The default vhost is never deleted by topo; the entities in it are listed.
            continue;
        }
        out.push(c);
    }

    // Exchanges and queues: every property is immutable.
    for k in new
        .exchanges
        .keys()
        .chain(old.exchanges.keys())
        .collect::<BTreeSet<_>>()
    {
        let (o, n) = (old.exchanges.get(k), new.exchanges.get(k));
        let change = match (o, n) {
            (None, Some(n)) => {
                let mut c =
                    Change::new(Action::Create, Kind::Exchange, vhost_of(&k.vhost), &k.name);
                c.details = field_details(&Map::new(), &object(n, &[]));
                c
            }
            (Some(_), None) => {
                Change::new(Action::Delete, Kind::Exchange, vhost_of(&k.vhost), &k.name)
            }
            (Some(o), Some(n)) if o != n => {
                let mut c =
                    Change::new(Action::Replace, Kind::Exchange, vhost_of(&k.vhost), &k.name);
                c.details = field_details(&object(o, &[]), &object(n, &[]));
                c.reason = Some(
                    "an exchange's type, flags and arguments cannot change in place: it is \
                     deleted and declared again, with its bindings"
                        .into(),
                );
                c
            }
            _ => continue,
        };
        out.push(change);
    }
    for k in new
        .queues
        .keys()
        .chain(old.queues.keys())
        .collect::<BTreeSet<_>>()
    {
        let (o, n) = (old.queues.get(k), new.queues.get(k));
        let change = match (o, n) {
            (None, Some(n)) => {
                let mut c = Change::new(Action::Create, Kind::Queue, vhost_of(&k.vhost), &k.name);
                c.details = field_details(&Map::new(), &object(n, &["messages"]));
                c
            }
            (Some(_), None) => {
                Change::new(Action::Delete, Kind::Queue, vhost_of(&k.vhost), &k.name)
            }
            (Some(o), Some(n)) if !o.same_definition(n) => {
                let mut c = Change::new(Action::Replace, Kind::Queue, vhost_of(&k.vhost), &k.name);
                c.details = field_details(&object(o, &["messages"]), &object(n, &["messages"]));
                c.reason = Some(
                    "a queue's type, flags and arguments cannot change in place: it is deleted \
                     and declared again, and the messages it holds are lost"
                        .into(),
                );
                c
            }
            _ => continue,
        };
        out.push(change);
    }

    // Bindings: everything is identity, so only creates and deletes.
    for b in new
        .bindings
        .keys()
        .filter(|b| !old.bindings.contains_key(b))
    {
        out.push(Change::new(
            Action::Create,
            Kind::Binding,
            vhost_of(&b.vhost),
            binding_name(b),
        ));
    }
    for b in old
        .bindings
        .keys()
        .filter(|b| !new.bindings.contains_key(b))
    {
        out.push(Change::new(
            Action::Delete,
            Kind::Binding,
            vhost_of(&b.vhost),
            binding_name(b),
        ));
    }

    // Policies, users, permissions: updated in place.
    for k in new
        .policies
        .keys()
        .chain(old.policies.keys())
        .collect::<BTreeSet<_>>()
    {
        let (o, n) = (old.policies.get(k), new.policies.get(k));
        let om = o.map(|p| object(p, &[])).unwrap_or_default();
        let nm = n.map(|p| object(p, &[])).unwrap_or_default();
        let action = match (o, n) {
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(o), Some(n)) if o != n => Action::Update,
            _ => continue,
        };
        let mut c = Change::new(action, Kind::Policy, vhost_of(&k.vhost), &k.name);
        if action != Action::Delete {
            c.details = field_details(&om, &nm);
        }
        out.push(c);
    }
    for name in new
        .users
        .keys()
        .chain(old.users.keys())
        .collect::<BTreeSet<_>>()
    {
        let (o, n) = (old.users.get(name), new.users.get(name));
        let view = |u: &UserState| {
            let mut m = Map::new();
            m.insert("tags".into(), Value::from(u.tags.clone()));
            m.insert("password".into(), credential_view(u));
            m
        };
        let action = match (o, n) {
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(o), Some(n)) if view(o) != view(n) => Action::Update,
            _ => continue,
        };
        let mut c = Change::new(action, Kind::User, None, name);
        if action != Action::Delete {
            c.details = field_details(
                &o.map(view).unwrap_or_default(),
                &n.map(view).unwrap_or_default(),
            );
        }
        out.push(c);
    }
    for k in new
        .permissions
        .keys()
        .chain(old.permissions.keys())
        .collect::<BTreeSet<_>>()
    {
        let (o, n) = (old.permissions.get(k), new.permissions.get(k));
        let action = match (o, n) {
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(o), Some(n)) if o != n => Action::Update,
            _ => continue,
        };
        let mut c = Change::new(action, Kind::Permission, vhost_of(&k.vhost), &k.user);
        if action != Action::Delete {
            c.details = field_details(
                &o.map(|p| object(p, &[])).unwrap_or_default(),
                &n.map(|p| object(p, &[])).unwrap_or_default(),
            );
        }
        out.push(c);
    }
    out
}
