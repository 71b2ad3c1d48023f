//! A picture of a topology: services, transports, exchanges, bindings and queues, as Mermaid
//! (GitHub renders it in pull-request comments) or Graphviz DOT.
//!
//! The picture is a small model ([`Graph`]) built from the file and its normalized
//! [`State`], then rendered. Keeping the model separate lets `topo diff` overlay two of them
//! and draw only what changed, with the same ids and shapes as the full picture.
//!
//! Node ids are derived from kind, vhost and name by an injective escaping (every byte
//! outside `[A-Za-z0-9]` becomes `_hh`), so they are stable across runs and never collide,
//! whatever a name contains (`.`, `-`, `#`, quotes, spaces).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::state::{DEFAULT_VHOST, EntityKey, State};

mod links;
use crate::topology::model::{DestinationType, Pattern, QueueType, Topology, TransportKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeKind {
    Service,
    Exchange,
    Queue,
    /// A queue or exchange of another broker, at the far end of a shovel or federation link.
    Remote,
}

/// How a node or edge changed, for diff pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    Added,
    Changed,
    Replaced,
    Removed,
}

impl Mark {
    fn sign(self) -> &'static str {
        match self {
            Mark::Added => "+",
            Mark::Changed => "~",
            Mark::Replaced => "-/+",
            Mark::Removed => "-",
        }
    }
    fn class(self) -> &'static str {
        match self {
            Mark::Added => "added",
            Mark::Changed => "changed",
            Mark::Replaced => "replaced",
            Mark::Removed => "removed",
        }
    }
    fn color(self) -> &'static str {
        match self {
            Mark::Added => "#2da44e",
            Mark::Changed => "#bf8700",
            Mark::Replaced => "#bc4c00",
            Mark::Removed => "#cf222e",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// `None` for services (they live outside the broker).
    pub vhost: Option<String>,
    pub name: String,
    /// The second line of the label: exchange type, queue type, runtime and port.
    pub detail: String,
    /// Everything that defines the node, to tell a changed node from an unchanged one.
    pub signature: String,
    pub mark: Option<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    /// Exchange to queue or exchange; label: routing key or header arguments.
    Binding,
    /// Exchange to its alternate exchange.
    Alternate,
    /// Queue to its dead-letter exchange.
    DeadLetter,
    /// Service sends to a queue (rmq transport).
    Sends,
    /// Queue delivers to the consuming service (rmq transport).
    Consumes,
    /// Service calls a service over TCP.
    Tcp,
    /// A shovel moves messages from a queue or exchange to another (see [`links`]).
    Shovel,
    /// A federated exchange or queue receives from its upstream's.
    Federation,
}

/// Identity of an edge: kind, endpoints (node ids) and label.
pub type EdgeKey = (EdgeKind, String, String, String);

/// Nodes by id and edges, both in a stable order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub nodes: BTreeMap<String, Node>,
    pub edges: BTreeMap<EdgeKey, Option<Mark>>,
}

/// `[A-Za-z0-9]` kept, every other byte as `_hh`: injective, so ids never collide.
fn escape_id(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            let _ = write!(out, "_{b:02x}");
        }
    }
    out
}

/// The stable id of a node.
pub fn node_id(kind: NodeKind, vhost: Option<&str>, name: &str) -> String {
    let prefix = match kind {
        NodeKind::Service => "s",
        NodeKind::Exchange => "x",
        NodeKind::Queue => "q",
        NodeKind::Remote => "r",
    };
    match vhost {
        None | Some(DEFAULT_VHOST) => format!("{prefix}_{}", escape_id(name)),
        // `__` cannot occur inside an escaped part (a `_` is always followed by hex).
        Some(v) => format!("{prefix}_{}__{}", escape_id(v), escape_id(name)),
    }
}

fn exchange_node(graph: &mut Graph, state: &State, vhost: &str, name: &str) -> String {
    let id = node_id(NodeKind::Exchange, Some(vhost), name);
    if !graph.nodes.contains_key(&id) {
        let key = EntityKey::new(vhost, name);
        let (detail, signature) = match state.exchanges.get(&key) {
            Some(x) => {
                let mut detail = x.kind.to_string();
                if x.internal {
                    detail.push_str(", internal");
                }
                (detail, serde_json::to_string(x).unwrap_or_default())
            }
            None => {
                let kind =
                    crate::state::builtin_exchange_kind(name).map_or("undeclared", |k| k.as_str());
                (format!("{kind}, builtin"), String::new())
            }
        };
        graph.nodes.insert(
            id.clone(),
            Node {
                kind: NodeKind::Exchange,
                vhost: Some(vhost.to_string()),
                name: name.to_string(),
                detail,
                signature,
                mark: None,
            },
        );
    }
    id
}

/// A short text of binding arguments: `x-match` first, then the rest sorted.
fn args_label(args: &BTreeMap<String, Value>) -> String {
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts = Vec::new();
    if let Some(m) = args.get("x-match") {
        parts.push(format!("x-match={}", show(m)));
    }
    for (k, v) in args.iter().filter(|(k, _)| *k != "x-match") {
        parts.push(format!("{k}={}", show(v)));
    }
    parts.join(", ")
}

impl Graph {
    /// The picture of one topology.
    pub fn from_topology(topo: &Topology) -> Graph {
        let state = State::from_topology(topo, &|_| None);
        let mut g = Graph::default();
        let default_vhost = topo.vhost.as_deref().unwrap_or(DEFAULT_VHOST);

        for s in &topo.services {
            let mut detail = s
                .runtime
                .map(|r| r.as_str().to_string())
                .unwrap_or_default();
            if let Some(p) = s.port {
                if !detail.is_empty() {
                    detail.push(' ');
                }
                let _ = write!(detail, ":{p}");
            }
            g.nodes.insert(
                node_id(NodeKind::Service, None, &s.name),
                Node {
                    kind: NodeKind::Service,
                    vhost: None,
                    name: s.name.clone(),
                    detail,
                    signature: serde_json::to_string(s).unwrap_or_default(),
                    mark: None,
                },
            );
        }
        for k in state.exchanges.keys() {
            exchange_node(&mut g, &state, &k.vhost, &k.name);
        }
        for (k, q) in &state.queues {
            let detail = if q.kind == QueueType::Classic {
                String::new()
            } else {
                q.kind.as_str().to_string()
            };
            g.nodes.insert(
                node_id(NodeKind::Queue, Some(&k.vhost), &k.name),
                Node {
                    kind: NodeKind::Queue,
                    vhost: Some(k.vhost.clone()),
                    name: k.name.clone(),
                    detail,
                    signature: serde_json::to_string(q).unwrap_or_default(),
                    mark: None,
                },
            );
        }

        for b in state.bindings.keys() {
            let from = exchange_node(&mut g, &state, &b.vhost, &b.source);
            let to = match b.destination_type {
                DestinationType::Exchange => {
                    exchange_node(&mut g, &state, &b.vhost, &b.destination)
                }
                DestinationType::Queue => node_id(NodeKind::Queue, Some(&b.vhost), &b.destination),
            };
            let args = b.arguments.map();
            let label = match (b.routing_key.is_empty(), args.is_empty()) {
                (_, false) if b.routing_key.is_empty() => args_label(args),
                (_, false) => format!("{} {}", b.routing_key, args_label(args)),
                (_, true) => b.routing_key.clone(),
            };
            g.edges.insert((EdgeKind::Binding, from, to, label), None);
        }
        for (k, x) in &state.exchanges {
            if let Some(ae) = x
                .arguments
                .get("alternate-exchange")
                .and_then(Value::as_str)
            {
                let from = node_id(NodeKind::Exchange, Some(&k.vhost), &k.name);
                let to = exchange_node(&mut g, &state, &k.vhost, ae);
                g.edges
                    .insert((EdgeKind::Alternate, from, to, "alternate".into()), None);
            }
        }
        for (k, q) in &state.queues {
            let dlx = q
                .arguments
                .get("x-dead-letter-exchange")
                .and_then(Value::as_str);
            if let Some(dlx) = dlx.filter(|d| !d.is_empty()) {
                let from = node_id(NodeKind::Queue, Some(&k.vhost), &k.name);
                let to = exchange_node(&mut g, &state, &k.vhost, dlx);
                let label = match q
                    .arguments
                    .get("x-dead-letter-routing-key")
                    .and_then(Value::as_str)
                {
                    Some(rk) => format!("dead-letter {rk}"),
                    None => "dead-letter".into(),
                };
                g.edges
                    .insert((EdgeKind::DeadLetter, from, to, label), None);
            }
        }

        links::add_links(&mut g, &state);

        for t in &topo.transports {
            let from = node_id(NodeKind::Service, None, &t.from);
            let to = node_id(NodeKind::Service, None, &t.to);
            match t.kind {
                TransportKind::Rmq => {
                    let Some(queue) = &t.queue else { continue };
                    let q = node_id(NodeKind::Queue, Some(default_vhost), queue);
                    let mut label = match t.pattern.unwrap_or(Pattern::Rpc) {
                        Pattern::Rpc => "rpc".to_string(),
                        Pattern::Event => "event".to_string(),
                    };
                    if let Some(ms) = t.timeout_ms {
                        let _ = write!(label, " {ms}ms");
                    }
                    g.edges
                        .insert((EdgeKind::Sends, from, q.clone(), label), None);
                    g.edges
                        .insert((EdgeKind::Consumes, q, to, "consumes".into()), None);
                }
                TransportKind::Tcp => {
                    let port = t.port.or_else(|| {
                        topo.services
                            .iter()
                            .find(|s| s.name == t.to)
                            .and_then(|s| s.port)
                    });
                    let label = match port {
                        Some(p) => format!("tcp :{p}"),
                        None => "tcp".into(),
                    };
                    g.edges.insert((EdgeKind::Tcp, from, to, label), None);
                }
            }
        }
        g
    }

    /// The overlay of two pictures, reduced to what changed and what it touches.
    ///
    /// A node only in `new` is added, only in `old` removed, in both with another
    /// signature changed (or replaced when its id is in `replaced`). Edges are added or
    /// removed. Unchanged nodes stay only as endpoints of changed edges or neighbours of
    /// changed nodes, so a large topology gives a small picture.
    pub fn diff(old: &Graph, new: &Graph, replaced: &BTreeSet<String>) -> Graph {
        let mut all = Graph::default();
        for (id, n) in &new.nodes {
            let mark = match old.nodes.get(id) {
                None => Some(Mark::Added),
                Some(_) if replaced.contains(id) => Some(Mark::Replaced),
                Some(o) if o.signature != n.signature || o.detail != n.detail => {
                    Some(Mark::Changed)
                }
                Some(_) => None,
            };
            all.nodes.insert(id.clone(), Node { mark, ..n.clone() });
        }
        for (id, n) in &old.nodes {
            if !new.nodes.contains_key(id) {
                all.nodes.insert(
                    id.clone(),
                    Node {
                        mark: Some(Mark::Removed),
                        ..n.clone()
                    },
                );
            }
        }
        for e in new.edges.keys() {
            let mark = (!old.edges.contains_key(e)).then_some(Mark::Added);
            all.edges.insert(e.clone(), mark);
        }
        for e in old.edges.keys() {
            if !new.edges.contains_key(e) {
                all.edges.insert(e.clone(), Some(Mark::Removed));
            }
        }

        let changed: BTreeSet<&String> = all
            .nodes
            .iter()
            .filter(|(_, n)| n.mark.is_some())
            .map(|(id, _)| id)
            .collect();
        let mut keep: BTreeSet<String> = changed.iter().map(|s| (*s).clone()).collect();
        for ((_, from, to, _), mark) in &all.edges {
            if mark.is_some() || changed.contains(from) || changed.contains(to) {
                keep.insert(from.clone());
                keep.insert(to.clone());
            }
        }
        let edges = all
            .edges
            .into_iter()
            .filter(|((_, from, to, _), mark)| {
                mark.is_some() || changed.contains(from) || changed.contains(to)
            })
            .collect();
        let nodes = all
            .nodes
            .into_iter()
            .filter(|(id, _)| keep.contains(id))
            .collect();
        Graph { nodes, edges }
    }

    /// Whether the picture has nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.edges.is_empty()
    }

    /// Broker vhosts drawn, when they need grouping (more than one, or not `/`).
    fn vhost_groups(&self) -> Option<BTreeSet<&str>> {
        let vhosts: BTreeSet<&str> = self
            .nodes
            .values()
            .filter_map(|n| n.vhost.as_deref())
            .collect();
        (vhosts.len() > 1 || vhosts.iter().any(|v| *v != DEFAULT_VHOST)).then_some(vhosts)
    }

    /// Nodes in drawing order: services, exchanges, queues; each by vhost and name.
    fn ordered(&self) -> Vec<(&String, &Node)> {
        let mut v: Vec<(&String, &Node)> = self.nodes.iter().collect();
        v.sort_by(|a, b| (a.1.kind, &a.1.vhost, &a.1.name).cmp(&(b.1.kind, &b.1.vhost, &b.1.name)));
        v
    }

    /// Nodes as both formats draw them: first those outside any vhost group (all of them
    /// when the graph needs no groups), then one group per vhost, each in drawing order.
    fn node_groups(&self) -> Vec<NodeGroup<'_>> {
        let ordered = self.ordered();
        let Some(vhosts) = self.vhost_groups() else {
            return vec![(None, ordered)];
        };
        let mut groups = vec![(
            None,
            ordered
                .iter()
                .filter(|(_, n)| n.vhost.is_none())
                .copied()
                .collect(),
        )];
        for vh in vhosts {
            let nodes = ordered
                .iter()
                .filter(|(_, n)| n.vhost.as_deref() == Some(vh))
                .copied()
                .collect();
            groups.push((Some(vh), nodes));
        }
        groups
    }

    /// Edges in drawing order: by kind, then endpoints and label.
    fn ordered_edges(&self) -> Vec<(&EdgeKey, &Option<Mark>)> {
        self.edges.iter().collect()
    }
}

/// A vhost group of nodes (`None`: drawn outside any group), as the renderers draw it.
type NodeGroup<'a> = (Option<&'a str>, Vec<(&'a String, &'a Node)>);

/// An edge's label with the diff mark's sign in front, when the edge is marked.
fn edge_label(label: &str, mark: Option<Mark>) -> String {
    match mark {
        Some(m) if label.is_empty() => m.sign().to_string(),
        Some(m) => format!("{} {label}", m.sign()),
        None => label.to_string(),
    }
}

/// Text for inside a Mermaid `"..."` label: entity codes for the characters Mermaid
/// would otherwise read as syntax or HTML.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn label_with_mark(n: &Node) -> (String, String) {
    let name = match n.mark {
        Some(m) => format!("{} {}", m.sign(), n.name),
        None => n.name.clone(),
    };
    (name, n.detail.clone())
}

/// Mermaid `flowchart LR`.
pub fn to_mermaid(g: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let node_line = |out: &mut String, id: &str, n: &Node, indent: &str| {
        let (name, detail) = label_with_mark(n);
        let mut text = mermaid_text(&name);
        if !detail.is_empty() {
            let _ = write!(text, "<br/>{}", mermaid_text(&detail));
        }
        let (open, close) = match n.kind {
            NodeKind::Service => ("[", "]"),
            NodeKind::Exchange => ("{{", "}}"),
            NodeKind::Queue => ("[(", ")]"),
            NodeKind::Remote => ("[/", "/]"),
        };
        let _ = writeln!(out, "{indent}{id}{open}\"{text}\"{close}");
    };
    for (vhost, nodes) in g.node_groups() {
        let indent = if let Some(vh) = vhost {
            let _ = writeln!(
                out,
                "  subgraph vh_{}[\"vhost {}\"]",
                escape_id(vh),
                mermaid_text(vh)
            );
            "    "
        } else {
            "  "
        };
        for (id, n) in nodes {
            node_line(&mut out, id, n, indent);
        }
        if vhost.is_some() {
            out.push_str("  end\n");
        }
    }
    let mut link_styles = Vec::new();
    for (i, ((kind, from, to, label), mark)) in g.ordered_edges().into_iter().enumerate() {
        let label = edge_label(label, *mark);
        let arrow = match kind {
            EdgeKind::Binding | EdgeKind::Sends | EdgeKind::Consumes => "-->",
            EdgeKind::Alternate | EdgeKind::DeadLetter => "-.->",
            EdgeKind::Tcp => "==>",
            EdgeKind::Shovel | EdgeKind::Federation => "-.->",
        };
        if label.is_empty() {
            let _ = writeln!(out, "  {from} {arrow} {to}");
        } else {
            let _ = writeln!(out, "  {from} {arrow}|\"{}\"| {to}", mermaid_text(&label));
        }
        if let Some(m) = mark {
            link_styles.push(format!(
                "  linkStyle {i} stroke:{},stroke-width:3px",
                m.color()
            ));
        }
    }
    for s in link_styles {
        out.push_str(&s);
        out.push('\n');
    }
    let marks: BTreeSet<Mark> = g.nodes.values().filter_map(|n| n.mark).collect();
    for m in &marks {
        let dash = if *m == Mark::Removed {
            ",stroke-dasharray:5 5"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  classDef {} stroke:{},stroke-width:3px{dash}",
            m.class(),
            m.color()
        );
    }
    for m in &marks {
        let ids: Vec<&str> = g
            .nodes
            .iter()
            .filter(|(_, n)| n.mark == Some(*m))
            .map(|(id, _)| id.as_str())
            .collect();
        let _ = writeln!(out, "  class {} {}", ids.join(","), m.class());
    }
    out
}

/// A DOT quoted string.
fn dot_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Graphviz DOT.
pub fn to_dot(g: &Graph) -> String {
    let mut out = String::from(
        "digraph topology {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    let node_line = |out: &mut String, id: &str, n: &Node, indent: &str| {
        let (name, detail) = label_with_mark(n);
        let label = if detail.is_empty() {
            dot_quote(&name)
        } else {
            // `\n` is DOT's line break inside a label.
            let name = dot_quote(&name);
            format!("{}\\n{}", &name[..name.len() - 1], &dot_quote(&detail)[1..])
        };
        let shape = match n.kind {
            NodeKind::Service => "box",
            NodeKind::Exchange => "hexagon",
            NodeKind::Queue => "cylinder",
            NodeKind::Remote => "parallelogram",
        };
        let mut style = Vec::new();
        if n.kind == NodeKind::Service {
            style.push("rounded");
        }
        if n.mark == Some(Mark::Removed) {
            style.push("dashed");
        }
        let mut attrs = format!("label={label}, shape={shape}");
        if !style.is_empty() {
            let _ = write!(attrs, ", style={}", dot_quote(&style.join(",")));
        }
        if let Some(m) = n.mark {
            let _ = write!(attrs, ", color={}, penwidth=2", dot_quote(m.color()));
        }
        let _ = writeln!(out, "{indent}{} [{attrs}];", dot_quote(id));
    };
    for (vhost, nodes) in g.node_groups() {
        let indent = if let Some(vh) = vhost {
            let _ = writeln!(
                out,
                "  subgraph {} {{",
                dot_quote(&format!("cluster_{}", escape_id(vh)))
            );
            let _ = writeln!(out, "    label={};", dot_quote(&format!("vhost {vh}")));
            "    "
        } else {
            "  "
        };
        for (id, n) in nodes {
            node_line(&mut out, id, n, indent);
        }
        if vhost.is_some() {
            out.push_str("  }\n");
        }
    }
    for ((kind, from, to, label), mark) in g.ordered_edges() {
        let label = edge_label(label, *mark);
        let mut attrs = Vec::new();
        if !label.is_empty() {
            attrs.push(format!("label={}", dot_quote(&label)));
        }
        match kind {
            EdgeKind::Alternate | EdgeKind::DeadLetter => attrs.push("style=dashed".into()),
            EdgeKind::Tcp => attrs.push("style=bold".into()),
            EdgeKind::Shovel | EdgeKind::Federation => {
                attrs.push("style=dotted".into());
                attrs.push("penwidth=2".into());
            }
            _ => {}
        }
        if let Some(m) = mark {
            attrs.push(format!("color={}", dot_quote(m.color())));
            attrs.push("penwidth=2".into());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(out, "  {} -> {}{attrs};", dot_quote(from), dot_quote(to));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_injective_and_plain() {
        let names = ["a.b", "a_2eb", "a-b", "a b", "a\"b", "a#b", "a__b", "ä"];
        let ids: BTreeSet<String> = names
            .iter()
            .map(|n| node_id(NodeKind::Queue, Some("/"), n))
            .collect();
        assert_eq!(ids.len(), names.len());
        for id in &ids {
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
        }
        assert_ne!(
            node_id(NodeKind::Queue, Some("v"), "x"),
            node_id(NodeKind::Queue, Some("/"), "v__x")
        );
        assert_ne!(
            node_id(NodeKind::Queue, Some("/"), "x"),
            node_id(NodeKind::Exchange, Some("/"), "x")
        );
    }

    #[test]
    fn mermaid_text_escapes_syntax() {
        assert_eq!(
            mermaid_text("say \"hi\" #2 | <b>"),
            "say #quot;hi#quot; #35;2 #124; #lt;b#gt;"
        );
    }

    #[test]
    fn dot_quote_escapes() {
        assert_eq!(dot_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
