//! YAML text to a located [`Node`] tree, with hard limits.
//!
//! Built on libyaml's event stream ([`super::libyaml`]) rather than a serde deserializer:
//! we need the position of every value and key, duplicate-key detection, and budgets that
//! turn hostile input (alias bombs, deep nesting) into a clear error instead of memory
//! exhaustion. Scalars resolve by the YAML 1.2 core schema (`yes` is a string, `0o17` an
//! integer), whatever YAML version the parser speaks.

use std::collections::HashMap;

use super::libyaml::{Event, Events, Style};
use super::node::{Entry, Node, NodeKind};
use super::{FileId, Span};
use crate::diag::{Code, Diagnostic};

/// Deepest nesting accepted. Topology files need about 6 levels.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may expand to, aliases included (a billion-laughs guard).
pub const MAX_NODES: usize = 5_000_000;

/// The handle libyaml expands `!!` to.
const CORE: &str = "tag:yaml.org,2002:";

enum Frame {
    Seq {
        items: Vec<Node>,
        start: usize,
        anchor: Option<String>,
    },
    Map {
        entries: Vec<Entry>,
        merges: Vec<Node>,
        key: Option<(String, Span)>,
        start: usize,
        anchor: Option<String>,
    },
}

struct Builder {
    file: FileId,
    stack: Vec<Frame>,
    anchors: HashMap<String, (Node, usize)>,
    nodes: usize,
    root: Option<Node>,
}

/// Parse one YAML document. An empty document is `null`.
pub fn parse(text: &str, file: FileId) -> Result<Node, Diagnostic> {
    parse_until(text, file, None)
}

/// The leading entries of a document's top-level mapping, up to the first key `keep`
/// refuses, without reading the rest: a broker command learns where the broker is from a
/// file's first lines while the whole file is still being parsed (`session::early`).
/// `None` when the document is not a mapping or its head does not parse; the whole parse
/// says why.
pub fn parse_head(text: &str, file: FileId, keep: &dyn Fn(&str) -> bool) -> Option<Node> {
    parse_until(text, file, Some(keep))
        .ok()
        .filter(|n| matches!(n.kind, NodeKind::Map(_)))
}

/// [`parse`], or with `stop`, the top-level mapping closed at the first key `stop` refuses.
fn parse_until(
    text: &str,
    file: FileId,
    stop: Option<&dyn Fn(&str) -> bool>,
) -> Result<Node, Diagnostic> {
    let mut b = Builder {
        file,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
    };
    let mut documents = 0usize;
    let syntax = |message: String, at: usize| {
        let at = at.min(text.len());
        if let Some(tab) = tab_in_indentation(text, at) {
            return Diagnostic::error(Code::YamlSyntax, "invalid YAML: a tab in the indentation")
                .at(Span::new(file, tab, tab + 1))
                .hint("YAML indents with spaces only: replace the tab with spaces");
        }
        Diagnostic::error(Code::YamlSyntax, format!("invalid YAML: {message}"))
            .at(Span::new(file, at, at + 1))
            .hint("check indentation, quoting and the `:` after each key")
    };
    let events = Events::new(text.as_bytes()).map_err(|e| syntax(e.message, e.at))?;
    for event in events {
        let (event, start, end) = event.map_err(|e| syntax(e.message, e.at))?;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::error(Code::YamlStructure, "more than one YAML document in the file")
                        .at(Span::new(file, start, end.max(start + 3)))
                        .hint("a topology is one document: remove the extra `---` or split into files joined with `extends`"));
                }
            }
            Event::Alias { anchor } => {
                let unknown = || {
                    Diagnostic::error(
                        Code::YamlStructure,
                        format!("alias `*{anchor}` to an unknown anchor"),
                    )
                    .at(Span::new(file, start, end))
                    .hint(format!("define `&{anchor}` before using `*{anchor}`"))
                };
                // Count first, clone after: an alias that would pass the budget is refused
                // before its copy is made, so memory stays within what the budget implies.
                let size = b
                    .anchors
                    .get(&anchor)
                    .map(|(_, n)| *n)
                    .ok_or_else(unknown)?;
                b.count(size, start, end)?;
                let node = b
                    .anchors
                    .get(&anchor)
                    .map(|(n, _)| n.clone())
                    .ok_or_else(unknown)?;
                b.push(node)?;
            }
            Event::Scalar {
                value,
                style,
                anchor,
                tag,
            } => {
                if let Some(keep) = stop
                    && b.stack.len() == 1
                    && matches!(b.stack.last(), Some(Frame::Map { key: None, .. }))
                    && !keep(&value)
                {
                    return Ok(b.close_head(start));
                }
                let kind = resolve_scalar(value, style, tag.as_deref()).map_err(|msg| {
                    Diagnostic::error(Code::YamlStructure, msg)
                        .at(Span::new(file, start, end))
                        .hint("topo reads plain YAML values; remove the tag")
                })?;
                b.count(1, start, end)?;
                let node = Node::new(kind, Span::new(file, start, end));
                b.remember(anchor, &node, 1);
                b.push(node)?;
            }
            Event::SequenceStart { anchor, tag } => {
                check_collection_tag(tag.as_deref(), "seq").map_err(|m| {
                    Diagnostic::error(Code::YamlStructure, m)
                        .at(Span::new(file, start, end))
                        .hint("remove the tag")
                })?;
                b.open(
                    Frame::Seq {
                        items: Vec::new(),
                        start,
                        anchor,
                    },
                    start,
                    end,
                )?;
            }
            Event::MappingStart { anchor, tag } => {
                check_collection_tag(tag.as_deref(), "map").map_err(|m| {
                    Diagnostic::error(Code::YamlStructure, m)
                        .at(Span::new(file, start, end))
                        .hint("remove the tag")
                })?;
                b.open(
                    Frame::Map {
                        entries: Vec::new(),
                        merges: Vec::new(),
                        key: None,
                        start,
                        anchor,
                    },
                    start,
                    end,
                )?;
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    start: s,
                    anchor,
                }) = b.stack.pop()
                {
                    b.count(1, s, end)?;
                    let node = Node::new(NodeKind::Seq(items), Span::new(file, s, end));
                    b.remember_sized(anchor, &node);
                    b.push(node)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut entries,
                    merges,
                    start: s,
                    anchor,
                    ..
                }) = b.stack.pop()
                {
                    apply_merges(&mut entries, merges);
                    b.count(1, s, end)?;
                    let node = Node::new(NodeKind::Map(entries), Span::new(file, s, end));
                    b.remember_sized(anchor, &node);
                    b.push(node)?;
                }
            }
        }
    }
    Ok(b.root
        .unwrap_or_else(|| Node::new(NodeKind::Null, Span::new(file, 0, 0))))
}

/// Whether the document defines an anchor or uses an alias: a tree written back would
/// expand every alias (`topo fmt` then only moves lines).
pub fn uses_anchors(text: &str) -> bool {
    let Ok(events) = Events::new(text.as_bytes()) else {
        return false;
    };
    events.map_while(Result::ok).any(|(event, _, _)| {
        matches!(
            event,
            Event::Alias { .. }
                | Event::Scalar {
                    anchor: Some(_),
                    ..
                }
                | Event::SequenceStart {
                    anchor: Some(_),
                    ..
                }
                | Event::MappingStart {
                    anchor: Some(_),
                    ..
                }
        )
    })
}

/// The offset of a tab in the leading whitespace of the line of a syntax error, or of the
/// line before it (libyaml reports a tab-indented line at its first token or at the next
/// line, with "found character that cannot start any token"; the tab is the news).
fn tab_in_indentation(text: &str, at: usize) -> Option<usize> {
    let at = (0..=at.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let line_start = |i: usize| text[..i].rfind('\n').map_or(0, |n| n + 1);
    let this = line_start(at);
    let before = this.checked_sub(1).map(line_start);
    [Some(this), before]
        .into_iter()
        .flatten()
        .find_map(|start| {
            text[start..]
                .bytes()
                .take_while(|b| *b == b' ' || *b == b'\t')
                .position(|b| b == b'\t')
                .map(|i| start + i)
        })
}

impl Builder {
    fn count(&mut self, n: usize, start: usize, end: usize) -> Result<(), Diagnostic> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(Diagnostic::error(
                Code::YamlStructure,
                format!("the document expands to more than {MAX_NODES} values (aliases included)"),
            )
            .at(Span::new(self.file, start, end))
            .hint("this looks like an alias bomb; write the values out or reduce aliases"));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, start: usize, end: usize) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::error(
                Code::YamlStructure,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            )
            .at(Span::new(self.file, start, end))
            .hint("a topology file needs only a few levels; check for runaway brackets"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn remember(&mut self, anchor: Option<String>, node: &Node, size: usize) {
        if let Some(a) = anchor {
            self.anchors.insert(a, (node.clone(), size));
        }
    }

    fn remember_sized(&mut self, anchor: Option<String>, node: &Node) {
        if let Some(a) = anchor {
            let size = node.size();
            self.anchors.insert(a, (node.clone(), size));
        }
    }

    /// The top-level mapping as read so far, ending at `end`.
    fn close_head(&mut self, end: usize) -> Node {
        match self.stack.pop() {
            Some(Frame::Map { entries, start, .. }) => {
                Node::new(NodeKind::Map(entries), Span::new(self.file, start, end))
            }
            _ => Node::new(NodeKind::Null, Span::new(self.file, 0, 0)),
        }
    }

    fn push(&mut self, node: Node) -> Result<(), Diagnostic> {
        let file = self.file;
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                None => {
                    let name = match &node.kind {
                        NodeKind::Str { value, .. } => value.clone(),
                        NodeKind::Int(i) => i.to_string(),
                        NodeKind::Float(f) => f.to_string(),
                        NodeKind::Bool(b) => b.to_string(),
                        NodeKind::Null => "null".to_string(),
                        NodeKind::Seq(_) | NodeKind::Map(_) => {
                            return Err(Diagnostic::error(
                                Code::YamlStructure,
                                "a mapping key must be a plain value",
                            )
                            .at(node.span));
                        }
                    };
                    *key = Some((name, node.span));
                    Ok(())
                }
                Some((name, key_span)) => {
                    if name == "<<" {
                        merges.push(node);
                        return Ok(());
                    }
                    if let Some(first) = entries.iter().find(|e| e.key == name) {
                        return Err(Diagnostic::error(
                            Code::YamlStructure,
                            format!("duplicate key `{name}`"),
                        )
                        .at(key_span)
                        .label(first.key_span, "first defined here")
                        .hint("remove one of them; YAML keys must be unique in a mapping"));
                    }
                    let _ = file;
                    entries.push(Entry {
                        key: name,
                        key_span,
                        value: node,
                    });
                    Ok(())
                }
            },
        }
    }
}

/// `<<: *base` and `<<: [*a, *b]`: merged keys never override explicit ones, and earlier
/// merge sources win over later ones (YAML merge-key semantics).
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<Node>) {
    for merge in merges {
        let sources: Vec<Node> = match merge.kind {
            NodeKind::Seq(items) => items,
            other => vec![Node::new(other, merge.span)],
        };
        for source in sources {
            if let NodeKind::Map(src) = source.kind {
                for e in src {
                    if !entries.iter().any(|x| x.key == e.key) {
                        entries.push(e);
                    }
                }
            }
        }
    }
}

fn check_collection_tag(tag: Option<&str>, expected: &str) -> Result<(), String> {
    match tag {
        None | Some("!") => Ok(()),
        Some(t) if t.strip_prefix(CORE) == Some(expected) => Ok(()),
        Some(t) => Err(format!("unsupported YAML tag `{}`", short_tag(t))),
    }
}

fn short_tag(t: &str) -> String {
    match t.strip_prefix(CORE) {
        Some(rest) => format!("!!{rest}"),
        None => t.to_string(),
    }
}

/// Whether `c` is one of the characters JSON leaves raw that YAML forbids or reads as a
/// line break: DEL, C1 controls, NEL, the Unicode line and paragraph separators, BOM,
/// non-characters. Inside a string, `\uXXXX` means the same to both.
pub fn json_raw_not_yaml(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// Resolve a scalar by the YAML 1.2 core schema, honouring `!!str`-style core tags.
fn resolve_scalar(value: String, style: Style, tag: Option<&str>) -> Result<NodeKind, String> {
    if let Some(t) = tag {
        // `!` alone is the non-specific tag: a string.
        if t == "!" {
            return Ok(NodeKind::Str {
                value: value.to_string(),
                plain: false,
            });
        }
        let Some(core) = t.strip_prefix(CORE) else {
            return Err(format!("unsupported YAML tag `{t}`"));
        };
        return match core {
            "str" => Ok(NodeKind::Str {
                value,
                plain: false,
            }),
            "int" => parse_int(&value)
                .map(NodeKind::Int)
                .ok_or_else(|| format!("`{value}` is not an integer")),
            "float" => parse_float(&value)
                .or_else(|| parse_int(&value).map(|i| i as f64))
                .map(NodeKind::Float)
                .ok_or_else(|| format!("`{value}` is not a number")),
            "bool" => parse_bool(&value)
                .map(NodeKind::Bool)
                .ok_or_else(|| format!("`{value}` is not a boolean")),
            "null" => Ok(NodeKind::Null),
            other => Err(format!("unsupported YAML tag `!!{other}` on a scalar")),
        };
    }
    if style != Style::Plain {
        return Ok(NodeKind::Str {
            value,
            plain: false,
        });
    }
    Ok(resolve_plain_owned(value))
}

/// [`resolve_plain`] that keeps the string it was given (no copy for text values).
fn resolve_plain_owned(value: String) -> NodeKind {
    match resolve_plain_kind(&value) {
        Some(kind) => kind,
        None => NodeKind::Str { value, plain: true },
    }
}

/// The core-schema type of a plain scalar's text.
pub fn resolve_plain(value: &str) -> NodeKind {
    resolve_plain_kind(value).unwrap_or_else(|| NodeKind::Str {
        value: value.to_string(),
        plain: true,
    })
}

/// The non-string core-schema type of a plain scalar, if it has one.
fn resolve_plain_kind(value: &str) -> Option<NodeKind> {
    if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
        return Some(NodeKind::Null);
    }
    if let Some(b) = parse_bool(value) {
        return Some(NodeKind::Bool(b));
    }
    if let Some(i) = parse_int(value) {
        return Some(NodeKind::Int(i));
    }
    parse_float(value).map(NodeKind::Float)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(v: &str) -> Option<i64> {
    if let Some(oct) = v.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    if let Some(hex) = v.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<i64>().ok()
}

fn parse_float(v: &str) -> Option<f64> {
    match v {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let ok_mantissa = {
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        match frac {
            Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
            None => !int.is_empty() && digits(int),
        }
    };
    let ok_exp = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        }
    };
    if ok_mantissa && ok_exp {
        v.parse::<f64>().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Node, Diagnostic> {
        parse(text, FileId(0))
    }

    #[test]
    fn core_schema_scalars() {
        let cases: &[(&str, NodeKind)] = &[
            ("a: 1", NodeKind::Int(1)),
            ("a: -12", NodeKind::Int(-12)),
            ("a: 0x1f", NodeKind::Int(31)),
            ("a: 1.5", NodeKind::Float(1.5)),
            ("a: true", NodeKind::Bool(true)),
            ("a: ~", NodeKind::Null),
            ("a:", NodeKind::Null),
            (
                "a: yes",
                NodeKind::Str {
                    value: "yes".into(),
                    plain: true,
                },
            ),
            (
                "a: '1'",
                NodeKind::Str {
                    value: "1".into(),
                    plain: false,
                },
            ),
            (
                "a: !!str 1",
                NodeKind::Str {
                    value: "1".into(),
                    plain: false,
                },
            ),
            (
                "a: 1.2.3",
                NodeKind::Str {
                    value: "1.2.3".into(),
                    plain: true,
                },
            ),
        ];
        for (text, want) in cases {
            let node = p(text).unwrap_or_else(|d| panic!("{text}: {}", d.message));
            assert_eq!(
                &node.get("a").map(|n| n.kind.clone()),
                &Some(want.clone()),
                "{text}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = p("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(err.code, Code::YamlStructure);
        assert!(err.message.contains("duplicate key `a`"));
    }

    #[test]
    fn merge_keys_merge() {
        let node = p("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n").expect("parses");
        let item = node.get("item").expect("item");
        assert_eq!(item.get("x").map(|n| &n.kind), Some(&NodeKind::Int(1)));
        assert_eq!(item.get("y").map(|n| &n.kind), Some(&NodeKind::Int(3)));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = p(&doc).expect_err("bomb");
        assert!(
            err.message.contains("expands to more than"),
            "{}",
            err.message
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = p(&doc).expect_err("deep");
        // The scanner's own recursion limit may trip before ours does; both are clean errors.
        assert!(
            err.message.contains("nesting deeper") || err.message.contains("recursion limit"),
            "{}",
            err.message
        );
        let ours = format!("a: {}{}", "[".repeat(70), "]".repeat(70));
        let err = p(&ours).expect_err("deep");
        assert!(err.message.contains("nesting deeper"), "{}", err.message);
    }

    #[test]
    fn spans_point_at_values() {
        let text = "queues:\n  - name: orders\n";
        let node = p(text).expect("parses");
        let span = node.locate("/queues/0/name");
        assert_eq!(&text[span.start as usize..span.end as usize], "orders");
    }

    /// The head ends at the first refused key, whatever follows it (even text that does
    /// not parse), in block and in flow (JSON) style, and holds what the whole parse holds.
    #[test]
    fn the_head_stops_at_the_first_refused_key() {
        let keep = |k: &str| ["version", "vhost", "broker"].contains(&k);
        for text in [
            "version: 1\nvhost: app\nbroker: {management_url: 'http://h:1'}\nqueues: [oops\n",
            "{\"version\": 1, \"vhost\": \"app\", \"broker\": {\"management_url\": \"http://h:1\"}, \"queues\": [",
        ] {
            let head = parse_head(text, FileId(0), &keep).expect("the head parses");
            assert!(p(text).is_err(), "the whole file does not parse: {text}");
            let keys: Vec<_> = match &head.kind {
                NodeKind::Map(entries) => entries.iter().map(|e| e.key.as_str()).collect(),
                _ => panic!("a mapping"),
            };
            assert_eq!(keys, ["version", "vhost", "broker"], "{text}");
            assert_eq!(
                head.get("broker")
                    .and_then(|b| b.get("management_url"))
                    .and_then(Node::as_str),
                Some("http://h:1")
            );
        }
        let whole = "version: 1\nvhost: app\n";
        assert_eq!(
            parse_head(whole, FileId(0), &keep).map(|n| n.to_json()),
            p(whole).ok().map(|n| n.to_json())
        );
        assert!(parse_head("- a\n- b\n", FileId(0), &keep).is_none());
        assert!(parse_head("version: 1\nvhost: [\n", FileId(0), &keep).is_none());
    }
}
