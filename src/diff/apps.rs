//! Services and transports: the parts of a topology the broker never sees, compared with
//! their defaults filled so that writing a default out is not a change.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{AppChange, AppKind};
use crate::plan::{Action, FieldChange};
use crate::topology::Topology;
use crate::topology::model::{Ingress, Pattern, Service, Transport, TransportKind};

/// Maps whose keys are shown one by one (`env.PORT`), not as a whole.
const EXPANDED: &[&str] = &["env", "secrets"];

/// Field-by-field differences of two objects; the maps in [`EXPANDED`] key by key.
pub fn field_details(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<FieldChange> {
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
                        out.push(FieldChange {
                            field: format!("{k}.{ik}"),
                            old: om.get(ik).cloned(),
                            new: nm.get(ik).cloned(),
                        });
                    }
                }
            }
            _ => out.push(FieldChange {
                field: k.clone(),
                old: o.cloned(),
                new: n.cloned(),
            }),
        }
    }
    out
}

/// A service with defaults filled; env values as the strings a container gets.
fn service_view(s: &Service) -> Map<String, Value> {
    let replicas_min = s.replicas.as_ref().and_then(|r| r.min).unwrap_or(1);
    let replicas_max = s
        .replicas
        .as_ref()
        .and_then(|r| r.max)
        .unwrap_or(replicas_min.max(1));
    let env: BTreeMap<&String, String> = s.env.iter().map(|(k, v)| (k, v.to_string())).collect();
    let secrets: BTreeMap<&String, &String> = s.secrets.iter().collect();
    let v = json!({
        "image": s.image,
        "runtime": s.runtime.map(|r| r.as_str()),
        "port": s.port,
        "ingress": s.ingress.unwrap_or(Ingress::None).as_str(),
        "replicas": format!("{replicas_min}..{replicas_max}"),
        "cpu": s.cpu,
        "memory": s.memory,
        "env": env,
        "secrets": secrets,
        "command": s.command,
    });
    match v {
        Value::Object(m) => m.into_iter().filter(|(_, x)| !x.is_null()).collect(),
        _ => Map::new(),
    }
}

/// Identity of a transport: caller, callee, kind and (for rmq) queue.
pub type TransportKey = (String, String, &'static str, String);

fn transport_key(t: &Transport) -> TransportKey {
    let kind = match t.kind {
        TransportKind::Rmq => "rmq",
        TransportKind::Tcp => "tcp",
    };
    (
        t.from.clone(),
        t.to.clone(),
        kind,
        t.queue.clone().unwrap_or_default(),
    )
}

/// How a transport is named in a diff: `from -> to (kind via queue)`.
pub fn transport_name(k: &TransportKey) -> String {
    let (from, to, kind, queue) = k;
    if queue.is_empty() {
        format!("{from} -> {to} ({kind})")
    } else {
        format!("{from} -> {to} ({kind} via {queue})")
    }
}

/// A transport with defaults filled: the effective tcp port is the callee's port.
fn transport_view(t: &Transport, topo: &Topology) -> Map<String, Value> {
    let v = match t.kind {
        TransportKind::Rmq => json!({
            "pattern": match t.pattern.unwrap_or(Pattern::Rpc) {
                Pattern::Rpc => "rpc",
                Pattern::Event => "event",
            },
            "timeout_ms": t.timeout_ms,
            "assert_queue": t.assert_queue.unwrap_or(true),
        }),
        TransportKind::Tcp => json!({
            "port": t.port.or_else(|| {
                topo.services.iter().find(|s| s.name == t.to).and_then(|s| s.port)
            }),
            "timeout_ms": t.timeout_ms,
        }),
    };
    match v {
        Value::Object(m) => m.into_iter().filter(|(_, x)| !x.is_null()).collect(),
        _ => Map::new(),
    }
}

/// Changes to services and transports.
pub fn diff_apps(old: &Topology, new: &Topology) -> Vec<AppChange> {
    let mut out = Vec::new();
    let old_s: BTreeMap<&str, &Service> =
        old.services.iter().map(|s| (s.name.as_str(), s)).collect();
    let new_s: BTreeMap<&str, &Service> =
        new.services.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut names: Vec<&str> = old_s.keys().chain(new_s.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let (o, n) = (old_s.get(name), new_s.get(name));
        let om = o.map(|s| service_view(s)).unwrap_or_default();
        let nm = n.map(|s| service_view(s)).unwrap_or_default();
        let action = match (o, n) {
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            _ if om != nm => Action::Update,
            _ => continue,
        };
        out.push(AppChange {
            action,
            kind: AppKind::Service,
            name: name.to_string(),
            transport: None,
            fields: if action == Action::Delete {
                Vec::new()
            } else {
                field_details(&om, &nm)
            },
        });
    }

    let old_t: BTreeMap<TransportKey, Map<String, Value>> = old
        .transports
        .iter()
        .map(|t| (transport_key(t), transport_view(t, old)))
        .collect();
    let new_t: BTreeMap<TransportKey, Map<String, Value>> = new
        .transports
        .iter()
        .map(|t| (transport_key(t), transport_view(t, new)))
        .collect();
    let mut keys: Vec<&TransportKey> = old_t.keys().chain(new_t.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        let (o, n) = (old_t.get(k), new_t.get(k));
        let action = match (o, n) {
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(o), Some(n)) if o != n => Action::Update,
            _ => continue,
        };
        out.push(AppChange {
            action,
            kind: AppKind::Transport,
            name: transport_name(k),
            transport: Some(k.clone()),
            fields: if action == Action::Delete {
                Vec::new()
            } else {
                field_details(o.unwrap_or(&Map::new()), n.unwrap_or(&Map::new()))
            },
        });
    }
    out
}
