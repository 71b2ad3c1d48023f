//! `extends`: overlay one located tree on another.
//!
//! Maps merge key by key; the lists of named entities merge by identity (the same identity
//! the broker uses: vhost and name; for a binding everything about it); any other value is
//! replaced by the overlay's. Merging happens on located trees, so every value keeps the
//! file and position it came from, and errors later point into the right file.

use crate::source::node::{Entry, Node, NodeKind};
use crate::topology::identity::binding_arguments;
use crate::topology::model::DEFAULT_VHOST;

/// Merge `overlay` onto `base` (both whole documents).
pub fn merge_documents(base: Node, overlay: Node) -> Node {
    let default_vhost = overlay
        .get("vhost")
        .or_else(|| base.get("vhost"))
        .and_then(Node::as_str)
        .unwrap_or(DEFAULT_VHOST)
        .to_string();
    merge(base, overlay, None, &default_vhost)
}

fn merge(base: Node, overlay: Node, list: Option<&str>, default_vhost: &str) -> Node {
    match (base.kind, overlay.kind) {
        (NodeKind::Map(mut base_entries), NodeKind::Map(over_entries)) => {
            for over in over_entries {
                match base_entries.iter().position(|e| e.key == over.key) {
                    Some(i) => {
                        let old = base_entries.remove(i);
                        let key = over.key.clone();
                        let value = merge(
                            old.value,
                            over.value,
                            Some(key.as_str()).filter(|_| list.is_none()),
                            default_vhost,
                        );
                        base_entries.insert(
                            i,
                            Entry {
                                key: over.key,
                                key_span: over.key_span,
                                value,
                            },
                        );
                    }
                    None => base_entries.push(over),
                }
            }
            Node::new(NodeKind::Map(base_entries), overlay.span)
        }
        (NodeKind::Seq(mut base_items), NodeKind::Seq(over_items))
            if list.is_some_and(is_entity_list) =>
        {
            let list = list.unwrap_or_default();
            for item in over_items {
                let id = identity(list, &item, default_vhost);
                let at = id.as_ref().and_then(|id| {
                    base_items
                        .iter()
                        .position(|b| identity(list, b, default_vhost).as_ref() == Some(id))
                });
                match at {
                    Some(i) => {
                        let old = base_items.remove(i);
                        base_items.insert(i, merge(old, item, Some("entity"), default_vhost));
                    }
                    None => base_items.push(item),
                }
            }
            Node::new(NodeKind::Seq(base_items), overlay.span)
        }
        (_, kind) => Node::new(kind, overlay.span),
    }
}

fn is_entity_list(key: &str) -> bool {
    matches!(
        key,
        "vhosts"
            | "exchanges"
            | "queues"
            | "bindings"
            | "policies"
            | "operator_policies"
            | "users"
            | "permissions"
            | "topic_permissions"
            | "shovels"
            | "federation_upstreams"
            | "vhost_limits"
            | "user_limits"
            | "services"
            | "transports"
    )
}

/// The identity of an entity in one of the top-level lists, as text.
fn identity(list: &str, item: &Node, default_vhost: &str) -> Option<String> {
    let s = |k: &str| item.get(k).map(text).unwrap_or_default();
    let vhost = item
        .get("vhost")
        .map(text)
        .unwrap_or_else(|| default_vhost.to_string());
    let id = match list {
        "vhosts" | "users" | "services" => s("name"),
        "exchanges"
        | "queues"
        | "policies"
        | "operator_policies"
        | "shovels"
        | "federation_upstreams" => {
            format!("{vhost}\u{0}{}", s("name"))
        }
        "permissions" => format!("{vhost}\u{0}{}", s("user")),
        "vhost_limits" => vhost.clone(),
        "user_limits" => s("user"),
        "topic_permissions" => format!("{vhost}\u{0}{}\u{0}{}", s("user"), s("exchange")),
        "transports" => format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            s("from"),
            s("to"),
            s("kind"),
            s("queue")
        ),
        "bindings" => {
            let dtype = item
                .get("destination_type")
                .map(text)
                .unwrap_or_else(|| "queue".into());
            format!(
                "{vhost}\u{0}{}\u{0}{}\u{0}{dtype}\u{0}{}\u{0}{}\u{0}{}",
                s("source"),
                s("destination"),
                s("routing_key"),
                item.get("routing_keys")
                    .map(|n| n.to_json().to_string())
                    .unwrap_or_default(),
                match item.get("arguments").map(Node::to_json) {
                    Some(serde_json::Value::Object(m)) => binding_arguments(&m),
                    Some(other) => other.to_string(),
                    None => binding_arguments([]),
                },
            )
        }
        _ => return None,
    };
    matches!(item.kind, NodeKind::Map(_)).then_some(id)
}

fn text(n: &Node) -> String {
    match &n.kind {
        NodeKind::Str { value, .. } => value.clone(),
        _ => n.to_json().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use crate::source::yaml::parse;

    fn merged(base: &str, over: &str) -> serde_json::Value {
        let b = parse(base, FileId(0)).expect("base");
        let o = parse(over, FileId(1)).expect("overlay");
        merge_documents(b, o).to_json()
    }

    #[test]
    fn entities_merge_by_identity_and_overlay_wins() {
        let v = merged(
            "queues:\n- {name: a}\n- {name: b, max_length: 5}\nservices:\n- {name: s, image: x, env: {A: '1', B: '2'}}\n",
            "queues:\n- {name: b, type: quorum}\n- {name: c}\nservices:\n- {name: s, image: y, env: {B: '3'}}\n",
        );
        assert_eq!(
            v["queues"],
            serde_json::json!([{"name": "a"}, {"name": "b", "max_length": 5, "type": "quorum"}, {"name": "c"}])
        );
        assert_eq!(v["services"][0]["image"], "y");
        assert_eq!(
            v["services"][0]["env"],
            serde_json::json!({"A": "1", "B": "3"})
        );
    }

    #[test]
    fn same_name_other_vhost_is_another_entity() {
        let v = merged(
            "queues:\n- {name: a}\n",
            "queues:\n- {name: a, vhost: other}\n",
        );
        assert_eq!(v["queues"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn plain_lists_are_replaced() {
        let v = merged(
            "users:\n- {name: u, tags: [a, b]}\n",
            "users:\n- {name: u, tags: [c]}\n",
        );
        assert_eq!(v["users"][0]["tags"], serde_json::json!(["c"]));
    }
}
