//! Shovels and federation upstreams as file entries.
//!
//! A URI is written as plan shows it: without its userinfo (`amqp://***@host/vhost`), so an
//! export never holds a password. Such a URI does not validate (TOPO025) until it is moved
//! to a variable named by `uri_env`; a URI without userinfo (`amqp://`, this broker) is
//! written as it is and round-trips. A list of URIs (the broker tries them in turn) is
//! written as a list, each URI shown so. Keys the broker holds that the format has no field
//! for (a protocol other than `amqp091`, settings newer than the format) are left out.

use serde_json::{Map, Value, json};

use super::Here;
use crate::state::links::{Component, LinkKey, LinkState};

/// The file entry of one link; the key tells which list it goes in.
pub(super) fn link_entry(here: Here, k: &LinkKey, l: &LinkState) -> Value {
    let LinkState {
        value,
        // Never exported: see the module docs.
        uris: _,
    } = l;
    let mut m = Map::new();
    m.insert("name".into(), json!(k.name));
    here.vhost(&mut m, &k.vhost);
    let get = |key: &str| value.get(key).filter(|v| !is_default(k.component, key, v));
    match k.component {
        Component::Shovel => {
            for (prefix, field) in [("src", "source"), ("dest", "destination")] {
                let mut end = Map::new();
                if let Some(u) = value.get(&format!("{prefix}-uri")) {
                    end.insert("uri".into(), uris(u));
                }
                for (key, name) in [
                    ("queue", "queue"),
                    ("exchange", "exchange"),
                    ("exchange-key", "routing_key"),
                ] {
                    if let Some(v) = value.get(&format!("{prefix}-{key}")) {
                        end.insert(name.into(), v.clone());
                    }
                }
                m.insert(field.into(), Value::Object(end));
            }
            for (key, name) in [
                ("ack-mode", "ack_mode"),
                ("src-delete-after", "src_delete_after"),
                ("src-prefetch-count", "prefetch_count"),
                ("reconnect-delay", "reconnect_delay"),
                ("dest-add-forward-headers", "add_forward_headers"),
            ] {
                if let Some(v) = get(key) {
                    m.insert(name.into(), v.clone());
                }
            }
        }
        Component::FederationUpstream => {
            if let Some(u) = value.get("uri") {
                m.insert("uri".into(), uris(u));
            }
            for key in [
                "exchange",
                "queue",
                "max-hops",
                "expires",
                "message-ttl",
                "ack-mode",
                "trust-user-id",
                "prefetch-count",
                "reconnect-delay",
            ] {
                if let Some(v) = get(key) {
                    m.insert(key.replace('-', "_"), v.clone());
                }
            }
        }
    }
    Value::Object(m)
}

/// The shown URI, or every shown URI of a list (an empty list is this broker).
fn uris(v: &Value) -> Value {
    match v {
        Value::Array(items) if items.is_empty() => json!("amqp://"),
        other => other.clone(),
    }
}

/// The defaults normalization fills in, left out of the export to keep it short.
fn is_default(component: Component, key: &str, v: &Value) -> bool {
    let probe = crate::state::links::normalize(component, &Map::new());
    probe.value.get(key) == Some(v)
}
