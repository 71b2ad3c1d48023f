//! JSON text to the same located [`Node`] tree that [`super::yaml`] builds, in a fraction
//! of the time.
//!
//! JSON is YAML, and topologies often arrive as JSON: the file topo renders for its apply
//! job (`/topology/topology.json`), and what scripts and other tools generate. libyaml
//! reads JSON as flow YAML, token by token: at 10,000 queues that was the largest part of
//! a no-op plan's CPU (about 140 ms of it), spent while the broker's export was streaming
//! in on the same two cores. [jiter] reads such a file several times faster.
//!
//! Only a document that needs no YAML judgement is read here. Anything else (a comment, a
//! YAML-only spelling, a duplicate or `<<` key, nesting or size past the YAML parser's
//! limits, text after the document) gives `None`, and the YAML parser reads the file as
//! before, with its located errors. Numbers, `true`, `false` and `null` resolve through the
//! YAML parser's own core-schema rules on their text, and every span is the one libyaml
//! gives (the tests compare both trees), so nothing after the parse can tell which parser
//! read the file.

use jiter::{Jiter, Peek};

use super::node::{Entry, Node, NodeKind};
use super::yaml::{MAX_DEPTH, MAX_NODES, resolve_plain};
use super::{FileId, Span};

/// The tree of `text` when it is one JSON object (a topology is a mapping), else `None`.
pub fn parse(text: &str, file: FileId) -> Option<Node> {
    if text.bytes().find(|b| !b.is_ascii_whitespace()) != Some(b'{') {
        return None;
    }
    let mut reader = Reader {
        text,
        jiter: Jiter::new(text.as_bytes()),
        file,
        nodes: 0,
    };
    let peek = reader.jiter.peek().ok()?;
    let node = reader.value(peek, 0)?;
    reader.jiter.finish().ok()?;
    Some(node)
}

struct Reader<'t> {
    text: &'t str,
    jiter: Jiter<'t>,
    file: FileId,
    /// Nodes made so far, counted as the YAML parser counts them (keys included).
    nodes: usize,
}

impl Reader<'_> {
    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.jiter.current_index())
    }

    fn count(&mut self) -> Option<()> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(())
    }

    /// The value `peek` announced; the reader stands on its first byte.
    fn value(&mut self, peek: Peek, depth: usize) -> Option<Node> {
        self.count()?;
        let start = self.jiter.current_index();
        let kind = match peek {
            Peek::Object => return self.map(start, depth + 1),
            Peek::Array => return self.seq(start, depth + 1),
            Peek::String => NodeKind::Str {
                value: self.jiter.known_str().ok()?.to_owned(),
                plain: false,
            },
            // `true`, `false`, `null` and numbers are plain scalars in YAML: their text
            // resolves by the same rules here (`1e3` a float, `-0` an integer).
            _ => {
                self.jiter.known_skip(peek).ok()?;
                let text = self.text.get(start..self.jiter.current_index())?;
                resolve_plain(text)
            }
        };
        Some(Node::new(kind, self.span(start)))
    }

    fn seq(&mut self, start: usize, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut items = Vec::new();
        let mut next = self.jiter.known_array().ok()?;
        while let Some(peek) = next {
            items.push(self.value(peek, depth)?);
            next = self.jiter.array_step().ok()?;
        }
        Some(Node::new(NodeKind::Seq(items), self.span(start)))
    }

    fn map(&mut self, start: usize, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut entries: Vec<Entry> = Vec::new();
        let base = self.text.as_ptr() as usize;
        let mut key = self
            .jiter
            .next_object_bytes()
            .ok()?
            .map(|k| key_range(base, k));
        while let Some(range) = key {
            // The YAML parser says where a key was first defined; `<<` merges there.
            let name = self.key(range.clone())?;
            if name == "<<" || entries.iter().any(|e| e.key == name) {
                return None;
            }
            self.count()?;
            let key_span = Span::new(self.file, range.start - 1, range.end + 1);
            let peek = self.jiter.peek().ok()?;
            let value = self.value(peek, depth)?;
            entries.push(Entry {
                key: name,
                key_span,
                value,
            });
            key = self
                .jiter
                .next_key_bytes()
                .ok()?
                .map(|k| key_range(base, k));
        }
        Some(Node::new(NodeKind::Map(entries), self.span(start)))
    }

    /// A key's text, its escapes decoded.
    fn key(&self, range: std::ops::Range<usize>) -> Option<String> {
        let raw = self.text.get(range.clone())?;
        if !raw.contains('\\') {
            return Some(raw.to_owned());
        }
        serde_json::from_str(self.text.get(range.start - 1..range.end + 1)?).ok()
    }
}

/// Where a key's bytes (between its quotes, a slice of the text at `base`) are.
fn key_range(base: usize, key: &[u8]) -> std::ops::Range<usize> {
    let start = key.as_ptr() as usize - base;
    start..start + key.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both(text: &str) -> (Option<Node>, Node) {
        let yaml = super::super::yaml::parse(text, FileId(0))
            .unwrap_or_else(|d| panic!("YAML reads {text:?}: {}", d.message));
        (parse(text, FileId(0)), yaml)
    }

    #[track_caller]
    fn same(text: &str) {
        let (json, yaml) = both(text);
        assert_eq!(json.as_ref(), Some(&yaml), "{text}");
    }

    #[test]
    fn json_gives_the_yaml_tree_with_its_spans() {
        same(r#"{"a": 1, "b": [true, false, null], "c": {"d": "e"}}"#);
        same(
            "{\n  \"version\": 1,\n  \"queues\": [\n    {\"name\": \"q\", \"durable\": false}\n  ]\n}\n",
        );
        same(r#"{"n": -0, "f": 1.5, "e": 1e3, "E": -2.5E-3, "big": 123456789012345678901234}"#);
        same(r#"{"esc": "tab\tnl\nquote\"slash\/u\u00e9", "k\u00e9y": "v", "": ""}"#);
        same("{\"unicode\": \"caf\u{e9} \u{1f407}\", \"after\": [[], {}, [[1]]]}");
        same("  \n{}  \n");
        same("{\n\t\"a\": [\n\t\t1\n\t]\n}");
    }

    #[test]
    fn what_needs_yaml_is_left_to_yaml() {
        for text in [
            "version: 1",
            "[1, 2]",
            "{a: 1}",
            "{\"a\": 1} # comment",
            "{\"a\": 1, \"a\": 2}",
            "{\"<<\": {\"a\": 1}}",
            "{\"a\": [1, 2,]}",
            "{\"a\": 'single'}",
            "{\"a\": 1}\n---\n{}",
            "{\"a\": .inf}",
        ] {
            assert_eq!(parse(text, FileId(0)), None, "{text}");
        }
        // JSON's whitespace, where libyaml refuses a tab before the document's first line.
        assert!(parse("\t{}", FileId(0)).is_some());
        let deep = format!(
            "{}{}",
            "{\"a\": ".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(parse(&deep, FileId(0)), None);
    }

    #[test]
    fn the_benchmark_topology_gives_the_yaml_tree() {
        let mut text = String::from("{\"version\": 1, \"vhost\": \"v\", \"queues\": [");
        for i in 0..300 {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!(
                "\n  {{\"name\": \"q.{i}\", \"type\": \"quorum\", \"arguments\": {{\"x-max-length\": {i}, \"x-message-ttl\": {}.5}}}}",
                i * 7
            ));
        }
        text.push_str("\n]}\n");
        same(&text);
    }

    fn leaf() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e12f64..1e12).prop_map(serde_json::Value::from),
            "[ -~\u{e9}\u{1f407}\t\n\"\\\\]{0,12}".prop_map(serde_json::Value::String),
        ]
    }

    fn document() -> impl Strategy<Value = serde_json::Value> {
        leaf()
            .prop_recursive(4, 40, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                    prop::collection::btree_map("[a-z\u{e9}\"\\\\ ]{0,6}", inner, 0..6)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
            .prop_map(|v| serde_json::json!({ "root": v }))
    }

    proptest! {
        /// Any JSON object, compact or pretty, reads to the tree (and spans) libyaml gives.
        #[test]
        fn any_json_object_gives_the_yaml_tree(doc in document(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            };
            let text = text.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (json, yaml) = both(&text);
            prop_assert_eq!(json.as_ref(), Some(&yaml), "{}", text);
        }
    }
}
