//! A YAML document as a tree of located values.
//!
//! The schema check, the deserializer and the semantic rules all see JSON values; this
//! tree is what lets them point back at the text. Diagnostics name a JSON pointer
//! (`/bindings/3/destination`) and [`Node::locate`] turns it into a [`Span`].

use serde_json::{Map, Value};

use super::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; `plain` is true for an unquoted scalar, whose type is re-resolved after
    /// `${VAR}` interpolation (so `port: ${PORT:-3000}` is a number, as in compose).
    Str {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl Node {
    pub fn new(kind: NodeKind, span: Span) -> Node {
        Node { kind, span }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The JSON value of this tree.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeKind::Str { value, .. } => Value::String(value.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for e in entries {
                    map.insert(e.key.clone(), e.value.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// The node a JSON pointer names, or the deepest one on its way.
    fn walk(&self, pointer: &str) -> (&Node, Option<Span>, bool) {
        let mut node = self;
        let mut key_span = None;
        if pointer.is_empty() || pointer == "/" {
            return (node, None, true);
        }
        for raw in pointer.trim_start_matches('/').split('/') {
            let seg = raw.replace("~1", "/").replace("~0", "~");
            let next = match &node.kind {
                NodeKind::Map(entries) => entries
                    .iter()
                    .find(|e| e.key == seg)
                    .map(|e| (&e.value, Some(e.key_span))),
                NodeKind::Seq(items) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|n| (n, None)),
                _ => None,
            };
            match next {
                Some((n, k)) => {
                    node = n;
                    key_span = k;
                }
                None => return (node, key_span, false),
            }
        }
        (node, key_span, true)
    }

    /// The span of the value a JSON pointer names (or of the nearest existing parent).
    pub fn locate(&self, pointer: &str) -> Span {
        self.walk(pointer).0.span
    }

    /// The span of the key of the entry a pointer names (falls back to the value).
    pub fn locate_key(&self, pointer: &str) -> Span {
        let (node, key, _) = self.walk(pointer);
        key.unwrap_or(node.span)
    }

    /// Number of nodes in this tree, for the alias-expansion budget.
    pub fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|e| e.value.size()).sum(),
            _ => 0,
        }
    }
}

/// Escape one JSON pointer segment. Borrowed when there is nothing to escape: the loader
/// builds a pointer for every key of the file, and almost no key holds `~` or `/`.
pub fn pointer_segment(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['~', '/']) {
        s.replace('~', "~0").replace('/', "~1").into()
    } else {
        s.into()
    }
}
