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
//! before, with its located errors. So does JSON that libyaml reads otherwise or refuses
//! ([`yaml_reads_it_as_json`]): the line breaks NEL, LS and PS inside a string, characters
//! YAML does not allow raw, surrogate escapes, its 1,024-byte limit on a key, a key on
//! another line than its `:`, a tab around the document. `topo fmt` and the renders, which
//! parse with libyaml alone, then agree with every other command on what a file holds.
//!
//! Numbers, `true`, `false` and `null` resolve through the YAML parser's own core-schema
//! rules on their text, and every span is the one libyaml gives (the tests compare both
//! trees), so nothing after the parse can tell which parser read the file.

use jiter::{Jiter, Peek};

use super::node::{Entry, Node, NodeKind};
use super::yaml::{MAX_DEPTH, MAX_NODES, json_raw_not_yaml, resolve_plain};
use super::{FileId, Span};

/// The tree of `text` when it is one JSON object (a topology is a mapping), else `None`.
pub fn parse(text: &str, file: FileId) -> Option<Node> {
    let start = text.find(|c: char| !c.is_ascii_whitespace())?;
    if !text[start..].starts_with('{') || !yaml_reads_it_as_json(text) {
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
    // libyaml refuses a tab that starts a line outside a flow collection.
    let outside = [&text[..start], text.get(node.span.end as usize..)?];
    if outside.iter().any(|t| t.contains('\t')) {
        return None;
    }
    Some(node)
}

/// Whether libyaml would read every character of `text` as JSON does: none of the
/// characters JSON leaves raw that YAML forbids or reads as a line break
/// ([`json_raw_not_yaml`]; JSON refuses the C0 controls itself) and no surrogate escape
/// (`\ud83d\udc07`, which libyaml refuses). ASCII text (as generated files mostly are) can
/// only hold DEL of those.
fn yaml_reads_it_as_json(text: &str) -> bool {
    let surrogate = text.match_indices("\\u").any(|(i, _)| {
        text.as_bytes().get(i + 2..i + 4).is_some_and(|b| {
            b[0].eq_ignore_ascii_case(&b'd')
                && matches!(b[1].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
        })
    });
    !surrogate
        && if text.is_ascii() {
            !text.bytes().any(|b| b == 0x7f)
        } else {
            !text.chars().any(json_raw_not_yaml)
        }
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
            // libyaml takes a key only within 1,024 bytes of its `:`, on the same line.
            let colon = self.jiter.current_index();
            let between = self.text.get(range.end..colon)?;
            if colon - range.start > 1000 || between.contains(['\n', '\r']) {
                return None;
            }
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
        // What libyaml reads otherwise or refuses, though it is JSON: libyaml says.
        let long_key = format!("{{\"{}\": 1}}", "k".repeat(1100));
        for text in [
            "\t{}",
            "{}\n\t\n",
            "{\"a\": \"x\u{85}y\"}",
            "{\"a\": \"x \u{2028} y\"}",
            "{\"a\": \"x\u{7f}\"}",
            "{\"a\": \"x\u{9f}\"}",
            "{\"a\": \"\u{fffe}\"}",
            r#"{"a": "\ud83d\udc07"}"#,
            r#"{"a": "\uDBFF\uDFFF"}"#,
            "{\"a\"\n: 1}",
            long_key.as_str(),
        ] {
            assert_eq!(parse(text, FileId(0)), None, "{text:?}");
        }
        // The same characters escaped are plain JSON, and read the same by both.
        same(r#"{"a": "x\u0085y \u2028 \u007f \ufffe"}"#);
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
            "[ -~\u{e9}\u{1f407}\u{85}\u{2028}\u{7f}\u{9f}\u{fffe}\t\n\"\\\\]{0,12}"
                .prop_map(serde_json::Value::String),
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
        /// Any JSON object, compact or pretty, reads to the tree (and spans) libyaml gives,
        /// or is left to libyaml: always when libyaml refuses it.
        #[test]
        fn any_json_object_gives_the_yaml_tree(doc in document(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            };
            let text = text.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let json = parse(&text, FileId(0));
            match super::super::yaml::parse(&text, FileId(0)) {
                Ok(yaml) => prop_assert!(json.is_none() || json == Some(yaml), "{}", text),
                Err(d) => prop_assert!(json.is_none(), "{}: {}", text, d.message),
            }
            // Plain ASCII without DEL is always read here.
            if text.is_ascii() && !text.contains('\u{7f}') {
                prop_assert!(json.is_some(), "{}", text);
            }
        }
    }
}
