//! Shovels and federation links in the picture: an edge from where a link takes messages to
//! where it delivers them, across vhosts. An end on this broker (a URI without a host:
//! `amqp:///vhost`, or no URI) is the queue or exchange node of that vhost; an end elsewhere
//! is a node of its own, labelled with the URI as plan shows it (userinfo `***`), or with
//! the variable a `uri_env` names (the graph is drawn offline, from the file alone).

use serde_json::Value;

use super::{EdgeKind, Graph, Node, NodeKind, exchange_node, node_id};
use crate::state::effective::{Line, Matcher};
use crate::state::links::{Component, LinkState};
use crate::state::{PolicyState, State};

/// Where one end of a link is.
enum End {
    /// A vhost of this broker.
    Local(String),
    /// Another broker (or an unknown one): how to show it.
    Remote(String),
}

/// The end a URI value names.
fn end_of(uri: Option<&Value>) -> End {
    let text = match uri {
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).unwrap_or_default(),
        Some(v) => v.as_str().unwrap_or_default(),
        None => "",
    };
    match url::Url::parse(text) {
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            let path = u.path().trim_start_matches('/');
            let vhost = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
            End::Local(if vhost.is_empty() {
                "/".into()
            } else {
                vhost.into_owned()
            })
        }
        _ => End::Remote(text.replace("*** (from $", "$").replace(')', "")),
    }
}

/// The node of a queue or exchange at an end, added when missing.
fn end_node(g: &mut Graph, state: &State, end: &End, queue: bool, name: &str) -> String {
    match end {
        End::Local(vhost) if queue => {
            let id = node_id(NodeKind::Queue, Some(vhost), name);
            g.nodes.entry(id.clone()).or_insert_with(|| Node {
                kind: NodeKind::Queue,
                vhost: Some(vhost.clone()),
                name: name.to_string(),
                detail: "undeclared".into(),
                signature: String::new(),
                mark: None,
            });
            id
        }
        End::Local(vhost) => exchange_node(g, state, vhost, name),
        End::Remote(shown) => {
            let what = if queue { "queue" } else { "exchange" };
            let label = format!("{what} {name}");
            let id = node_id(NodeKind::Remote, None, &format!("{shown} {label}"));
            g.nodes.entry(id.clone()).or_insert_with(|| Node {
                kind: NodeKind::Remote,
                vhost: None,
                name: label,
                detail: shown.clone(),
                signature: String::new(),
                mark: None,
            });
            id
        }
    }
}

fn text<'a>(l: &'a LinkState, key: &str) -> Option<&'a str> {
    l.value.get(key).and_then(Value::as_str)
}

/// Every shovel and federation link of `state`, as edges.
pub(super) fn add_links(g: &mut Graph, state: &State) {
    for (k, l) in &state.links {
        if k.component != Component::Shovel {
            continue;
        }
        let mut ends = Vec::new();
        for prefix in ["src", "dest"] {
            let end = end_of(l.value.get(&format!("{prefix}-uri")));
            let queue = text(l, &format!("{prefix}-queue"));
            let exchange = text(l, &format!("{prefix}-exchange"));
            let id = match (queue, exchange) {
                (Some(q), _) => end_node(g, state, &end, true, q),
                (None, Some(x)) => end_node(g, state, &end, false, x),
                // A destination without either: each message keeps its exchange.
                (None, None) => end_node(g, state, &end, false, "(its own exchange)"),
            };
            ends.push(id);
        }
        if let [from, to] = ends.as_slice() {
            let mut label = format!("shovel {}", k.name);
            if let Some(key) = text(l, "src-exchange-key") {
                label = format!("{label} [{key}]");
            }
            g.edges
                .insert((EdgeKind::Shovel, from.clone(), to.clone(), label), None);
        }
    }
    federation(g, state);
}

/// Federation: each exchange (or queue) whose *winning* policy (the one the broker applies:
/// highest priority, then the first by name; patterns read as PCRE, like the broker's) names
/// an upstream receives from that upstream's exchange (or queue) of the same name, unless
/// the upstream names another. A federation policy shadowed by a higher-priority policy
/// without federation keys federates nothing, and draws nothing. Queues are judged as 4.x
/// judges them (the graph is drawn from the file, without a broker's version).
fn federation(g: &mut Graph, state: &State) {
    let matcher = Matcher::new(state);
    let mut exchanges = Vec::new();
    for x in state.exchanges.keys() {
        if let Some((policy, p)) = matcher.exchange_policy(x) {
            exchanges.push((x, policy, p));
        }
    }
    let mut queues = Vec::new();
    for (q, qs) in &state.queues {
        if let Some((policy, p)) = matcher.queue_policy(q, qs.kind, Line::V4) {
            queues.push((q, policy, p));
        }
    }
    for (k, l) in &state.links {
        if k.component != Component::FederationUpstream {
            continue;
        }
        let end = end_of(l.value.get("uri"));
        for (x, policy, p) in exchanges.iter().filter(|(x, ..)| x.vhost == k.vhost) {
            if !names_upstream(p, &k.name) {
                continue;
            }
            let label = format!("federation {} ({policy})", k.name);
            let upstream = text(l, "exchange").unwrap_or(&x.name).to_string();
            let from = end_node(g, state, &end, false, &upstream);
            let to = exchange_node(g, state, &k.vhost, &x.name);
            g.edges
                .insert((EdgeKind::Federation, from, to, label), None);
        }
        for (q, policy, p) in queues.iter().filter(|(q, ..)| q.vhost == k.vhost) {
            if !names_upstream(p, &k.name) {
                continue;
            }
            let label = format!("federation {} ({policy})", k.name);
            let upstream = text(l, "queue").unwrap_or(&q.name).to_string();
            let from = end_node(g, state, &end, true, &upstream);
            let to = node_id(NodeKind::Queue, Some(&k.vhost), &q.name);
            g.edges
                .insert((EdgeKind::Federation, from, to, label), None);
        }
    }
}

/// Whether a policy federates from upstream `name`: it names it, or every upstream.
fn names_upstream(p: &PolicyState, name: &str) -> bool {
    let key = |k: &str| p.definition.get(k).and_then(Value::as_str);
    key("federation-upstream") == Some(name) || key("federation-upstream-set") == Some("all")
}
