//! The canonical text of a topology, written from its tree with the file's comments put
//! back ([`super::comments`]). The style it settles:
//!
//! - two spaces per level; a sequence under a key is indented two spaces under it and a
//!   mapping item starts on its `- ` line (`queues:` / `  - name: a` / `    type: quorum`),
//!   as every example in the docs is written;
//! - keys in the schema's order ([`super::schema_order`]); free-form maps keep theirs;
//! - scalars plain unless YAML needs quotes, then double quotes ([`super::scalar`]); a
//!   multi-line string as a literal block (`|`, `|-`, `|+`);
//! - a collection written in flow style stays so, on one line (`{name: a, type: quorum}`),
//!   unless it holds a comment; an empty one is `{}` or `[]`;
//! - one blank line between top-level sections (none between one-line values such as
//!   `version` and `name`); inside them, a blank line between two items is kept (as one),
//!   none elsewhere; one space before a comment at the end of a line; no trailing spaces.

use serde_json::Value;

use super::comments::{At, Comments, Lines};
use super::scalar::{self, Context};
use super::schema_order::{items_of, property, property_order};
use crate::source::node::{Entry, Node, NodeKind};
use crate::source::yaml;

/// `root` (a non-empty block mapping parsed from `lines.text`) in canonical form.
pub(super) fn write(lines: &Lines, comments: &Comments, root: &Node, schema: &Value) -> String {
    let mut w = Writer {
        lines,
        comments,
        root: schema,
        out: comments.header.clone(),
    };
    if let NodeKind::Map(entries) = &root.kind {
        w.map(root, entries, 0, Some(schema), Place::Top);
    }
    let mut text = w.out.join("\n");
    text.push('\n');
    text
}

struct Writer<'a> {
    lines: &'a Lines<'a>,
    comments: &'a Comments,
    root: &'a Value,
    out: Vec<String>,
}

/// How a value is written after its key or `- `.
enum Form<'n> {
    /// On the same line.
    Inline(String),
    /// A literal block scalar: its header on the line, its lines below.
    Literal(&'static str, Vec<&'n str>),
    Map(&'n [Entry]),
    Seq(&'n [Node]),
}

/// Where a block mapping sits.
#[derive(Clone, Copy)]
enum Place<'c> {
    Top,
    Nested,
    /// An item of a sequence: its first key goes on the `- ` line, which also takes the
    /// item's own comment.
    Item(Option<&'c str>),
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn with_comment(line: String, comment: Option<&str>) -> String {
    match comment {
        Some(c) => format!("{line} {c}"),
        None => line,
    }
}

impl Writer<'_> {
    fn map(
        &mut self,
        node: &Node,
        entries: &[Entry],
        indent: usize,
        schema: Option<&Value>,
        place: Place,
    ) {
        let sorted = self.in_order(entries, schema);
        let mut prev_simple: Option<bool> = None;
        for (n, e) in sorted.iter().enumerate() {
            let at = At::Entry(e.key_span.start);
            let child = schema.and_then(|s| property(self.root, s, &e.key));
            let form = self.form(&e.value, child);
            if let Place::Top = place {
                let simple = matches!(form, Form::Inline(_));
                if prev_simple.is_some_and(|p| !(p && simple)) {
                    self.out.push(String::new());
                }
                prev_simple = Some(simple);
            }
            let first_of_item = matches!(place, Place::Item(_)) && n == 0;
            let (lead, dash) = if first_of_item {
                (indent.saturating_sub(2), "- ")
            } else {
                (indent, "")
            };
            for c in self.comments.leading(at) {
                self.out.push(format!("{}{c}", pad(lead)));
            }
            let mut comment = self.comments.trailing(at).map(str::to_string);
            if let (true, Place::Item(Some(c))) = (first_of_item, place) {
                comment = Some(match comment {
                    Some(mine) => format!("{c} {mine}"),
                    None => c.to_string(),
                });
            }
            let head = format!(
                "{}{dash}{}:",
                pad(indent - dash.len()),
                scalar::string(&e.key, Context::Block)
            );
            self.value(head, form, comment.as_deref(), indent, &e.value, child);
        }
        for c in self.comments.closing(At::Map(node.span.start)) {
            self.out.push(format!("{}{c}", pad(indent)));
        }
    }

    /// The line `head` (a key and its `:`, or a `-`) with `form` after it, and the lines
    /// of the value below it.
    fn value(
        &mut self,
        head: String,
        form: Form,
        comment: Option<&str>,
        indent: usize,
        node: &Node,
        schema: Option<&Value>,
    ) {
        let inner = indent + 2;
        match form {
            Form::Inline(s) => self.out.push(with_comment(format!("{head} {s}"), comment)),
            Form::Literal(header, content) => {
                self.out
                    .push(with_comment(format!("{head} {header}"), comment));
                for l in content {
                    self.out.push(if l.is_empty() {
                        String::new()
                    } else {
                        format!("{}{l}", pad(inner))
                    });
                }
            }
            Form::Map(entries) => {
                self.out.push(with_comment(head, comment));
                self.map(node, entries, inner, schema, Place::Nested);
            }
            Form::Seq(items) => {
                self.out.push(with_comment(head, comment));
                let item_schema = schema.and_then(|s| items_of(self.root, s));
                self.seq(node, items, inner, item_schema);
            }
        }
    }

    /// A block sequence whose dashes are at column `indent`.
    fn seq(&mut self, node: &Node, items: &[Node], indent: usize, schema: Option<&Value>) {
        for (i, item) in items.iter().enumerate() {
            let at = At::Item(item.span.start);
            if i > 0 && self.comments.blank_before(at) {
                self.out.push(String::new());
            }
            for c in self.comments.leading(at) {
                self.out.push(format!("{}{c}", pad(indent)));
            }
            let comment = self.comments.trailing(at);
            match self.form(item, schema) {
                Form::Map(entries) => {
                    self.map(item, entries, indent + 2, schema, Place::Item(comment))
                }
                form => {
                    let head = format!("{}-", pad(indent));
                    self.value(head, form, comment, indent, item, schema);
                }
            }
        }
        for c in self.comments.closing(At::Seq(node.span.start)) {
            self.out.push(format!("{}{c}", pad(indent)));
        }
    }

    fn form<'n>(&self, node: &'n Node, schema: Option<&Value>) -> Form<'n> {
        match &node.kind {
            NodeKind::Map(entries) if entries.is_empty() => Form::Inline("{}".into()),
            NodeKind::Seq(items) if items.is_empty() => Form::Inline("[]".into()),
            NodeKind::Map(_) | NodeKind::Seq(_) if self.comments.keeps_flow(self.lines, node) => {
                Form::Inline(self.flow(node, schema))
            }
            NodeKind::Map(entries) => Form::Map(entries),
            NodeKind::Seq(items) => Form::Seq(items),
            NodeKind::Str { value, plain } => match scalar::literal(value) {
                Some((header, lines)) if !keeps_plain(value, *plain) => {
                    Form::Literal(header, lines)
                }
                _ => Form::Inline(self.string(value, *plain, Context::Block)),
            },
            _ => Form::Inline(self.scalar(node)),
        }
    }

    /// A mapping's entries in the schema's order (keys it does not know last, as written):
    /// the same order for a block mapping and a flow one.
    fn in_order<'e>(&self, entries: &'e [Entry], schema: Option<&Value>) -> Vec<&'e Entry> {
        let order = property_order(self.root, schema);
        let mut sorted: Vec<(usize, &Entry)> = entries
            .iter()
            .map(|e| {
                let rank = order.iter().position(|k| *k == e.key).unwrap_or(usize::MAX);
                (rank, e)
            })
            .collect();
        sorted.sort_by_key(|(rank, _)| *rank);
        sorted.into_iter().map(|(_, e)| e).collect()
    }

    /// A collection on one line, `{key: value, ...}` in canonical order or `[a, b]`.
    fn flow(&self, node: &Node, schema: Option<&Value>) -> String {
        match &node.kind {
            NodeKind::Map(entries) => {
                let parts: Vec<String> = self
                    .in_order(entries, schema)
                    .iter()
                    .map(|e| {
                        let child = schema.and_then(|s| property(self.root, s, &e.key));
                        let key = scalar::string(&e.key, Context::Flow);
                        format!("{key}: {}", self.flow(&e.value, child))
                    })
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            NodeKind::Seq(items) => {
                let item = schema.and_then(|s| items_of(self.root, s));
                let parts: Vec<String> = items.iter().map(|i| self.flow(i, item)).collect();
                format!("[{}]", parts.join(", "))
            }
            NodeKind::Str { value, plain } => self.string(value, *plain, Context::Flow),
            _ => self.scalar(node),
        }
    }

    /// A string in one line. One with a `$` keeps the author's choice of plain or quoted:
    /// a plain `${PORT}` takes the type of what it interpolates to, a quoted one stays a
    /// string.
    fn string(&self, value: &str, plain: bool, ctx: Context) -> String {
        if keeps_plain(value, plain) {
            return value.to_string();
        }
        if value.contains('$') && !plain {
            return scalar::quoted(value);
        }
        scalar::string(value, ctx)
    }

    /// A null, boolean or number: `null`, `true`/`false`, a number as written when it was
    /// written plain (`0x10`, `1.0` stay), else in decimal.
    fn scalar(&self, node: &Node) -> String {
        let written = self
            .lines
            .text
            .get(node.span.start as usize..node.span.end as usize)
            .unwrap_or("")
            .trim();
        match &node.kind {
            NodeKind::Null => "null".into(),
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Int(i) => match yaml::resolve_plain(written) {
                NodeKind::Int(j) if j == *i => written.to_string(),
                _ => i.to_string(),
            },
            NodeKind::Float(f) => match yaml::resolve_plain(written) {
                NodeKind::Float(g) if g.to_bits() == f.to_bits() => written.to_string(),
                _ if f.is_nan() => ".nan".into(),
                _ if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
                _ => format!("{f:?}"),
            },
            NodeKind::Str { value, plain } => self.string(value, *plain, Context::Block),
            NodeKind::Map(_) | NodeKind::Seq(_) => self.flow(node, None),
        }
    }
}

/// A plain string with a `$` in it is written as it was: quoting it would stop it taking
/// the type of what it interpolates to.
fn keeps_plain(value: &str, plain: bool) -> bool {
    plain && value.contains('$') && !value.contains('\n')
}
