//! The fallback of `topo fmt` for a file that uses anchors or aliases: entries are put in
//! canonical order by moving their lines, values and style left as written (a tree
//! written back would expand every alias). [`crate::source::yaml`] gives the position of
//! every key, which is enough to cut a block mapping into one block of lines per entry
//! (the key's line, its value's lines, and the comment lines directly above it) and put
//! the blocks back in the schema's order. A mapping it cannot cut cleanly (anchors, merge
//! keys, two keys on one line) is left as it was.

use std::ops::Range;

use serde_json::Value;

use super::schema_order::{items_of, property, property_order};
use crate::source::Span;
use crate::source::node::{Entry, Node, NodeKind};

/// `text` (whose tree is `tree`) with its block mappings in canonical order.
pub(super) fn rearrange(text: &str, tree: &Node) -> String {
    // A block scalar that keeps its trailing blank lines (`|+`, `>+`) makes blank lines
    // meaningful: such a file keeps its layout (only its end is tidied).
    let keeps_blank_lines = text.contains("|+") || text.contains(">+");
    let doc = Doc::new(text);
    let schema = crate::validate::schema::schema_json();
    let lines: Vec<String> = match &tree.kind {
        NodeKind::Map(_) if !keeps_blank_lines && !doc.is_flow(tree) => {
            let all = 0..doc.lines.len();
            doc.map(tree, all, Some(&schema), &schema, Kind::Top)
        }
        _ => doc.lines.iter().map(|l| l.to_string()).collect(),
    };
    let mut out = lines.join("\n");
    let trimmed = out.trim_end_matches(['\n', ' ', '\t']).len();
    out.truncate(trimmed);
    out.push('\n');
    if out.trim().is_empty() {
        out = String::new();
    }
    out
}

/// What a mapping is inside the file (decides the separators and the `- ` of an item).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The document's mapping: its top comments stay on top, sections get a blank line.
    Top,
    /// The value of a key, on the lines below it.
    Nested,
    /// An item of a block sequence: its first key shares the line with `- `.
    Item { dash: usize },
}

struct Doc<'a> {
    text: &'a str,
    lines: Vec<&'a str>,
    starts: Vec<usize>,
}

/// One entry's block of lines, and where its key sits.
struct Block {
    lines: Vec<String>,
    /// Index in `lines` of the key's line.
    key_line: usize,
    order: (usize, usize),
}

impl<'a> Doc<'a> {
    fn new(text: &'a str) -> Doc<'a> {
        let lines: Vec<&str> = text.split('\n').collect();
        let mut starts = Vec::with_capacity(lines.len());
        let mut at = 0;
        for l in &lines {
            starts.push(at);
            at += l.len() + 1;
        }
        Doc {
            text,
            lines,
            starts,
        }
    }

    fn byte(&self, offset: u32) -> usize {
        let mut i = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    fn line_of(&self, offset: u32) -> usize {
        let b = self.byte(offset);
        match self.starts.binary_search(&b) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    fn col_of(&self, offset: u32) -> usize {
        let b = self.byte(offset);
        b - self.starts[self.line_of(offset)]
    }

    fn slice(&self, span: Span) -> &'a str {
        let (a, b) = (self.byte(span.start), self.byte(span.end));
        &self.text[a..b.max(a)]
    }

    fn is_flow(&self, node: &Node) -> bool {
        matches!(self.slice(node.span).chars().next(), Some('{' | '['))
    }

    fn copy(&self, range: Range<usize>) -> Vec<String> {
        self.lines[range].iter().map(|l| l.to_string()).collect()
    }

    /// A comment-only line at or left of column `col`: it belongs to what follows it. A
    /// `#` line further right may be the content of a block scalar.
    fn is_comment_at(&self, line: usize, col: usize) -> bool {
        let l = self.lines[line];
        let indent = l.len() - l.trim_start().len();
        l.trim_start().starts_with('#') && indent <= col
    }

    fn is_blank(&self, line: usize) -> bool {
        self.lines[line].trim().is_empty()
    }

    /// The lines of block mapping `node`, which fills `region`, with its entries in
    /// canonical order (and their values formatted in turn).
    fn map(
        &self,
        node: &Node,
        region: Range<usize>,
        schema: Option<&Value>,
        root: &Value,
        kind: Kind,
    ) -> Vec<String> {
        let NodeKind::Map(entries) = &node.kind else {
            return self.copy(region);
        };
        let Some(keys) = self.key_lines(entries, &region, kind) else {
            return self.copy(region);
        };
        let col = self.col_of(entries[0].key_span.start);

        // What follows the last entry and is only blank lines and comments stays last.
        let last_key = keys[keys.len() - 1];
        let mut end = region.end;
        while end > last_key + 1 && (self.is_blank(end - 1) || self.is_comment_at(end - 1, col)) {
            end -= 1;
        }
        // Each key takes the comment lines directly above it, except that the comments
        // at the very top of the file (nothing but blank lines above them) stay on top.
        let lead = |i: usize| -> usize {
            let floor = if i == 0 {
                region.start
            } else {
                keys[i - 1] + 1
            };
            let mut s = keys[i];
            while s > floor && self.is_comment_at(s - 1, col) {
                s -= 1;
            }
            if kind == Kind::Top && i == 0 && (region.start..s).all(|l| self.is_blank(l)) {
                return keys[i];
            }
            s
        };
        let first = lead(0);
        let order = property_order(root, schema);
        let mut blocks = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let start = lead(i);
            let stop = if i + 1 < entries.len() {
                lead(i + 1)
            } else {
                end
            };
            let mut stop = stop;
            while stop > keys[i] + 1 && self.is_blank(stop - 1) {
                stop -= 1;
            }
            let child = schema.and_then(|s| property(root, s, &e.key));
            let mut lines = self.copy(start..keys[i] + 1);
            if let Some(l) = lines.last_mut() {
                self.rewrite_flow(l, keys[i], &e.value, child, root);
            }
            lines.extend(self.value(e, keys[i], keys[i] + 1..stop, child, root));
            let key_line = keys[i] - start;
            if let Kind::Item { dash } = kind
                && i == 0
            {
                set_char(&mut lines[key_line], dash, ' ');
            }
            let rank = order.iter().position(|k| *k == e.key).unwrap_or(usize::MAX);
            blocks.push(Block {
                lines,
                key_line,
                order: (rank, i),
            });
        }
        blocks.sort_by_key(|b| b.order);
        if let Kind::Item { dash } = kind
            && let Some(b) = blocks.first_mut()
        {
            set_char(&mut b.lines[b.key_line], dash, '-');
        }

        let mut out = self.copy(region.start..first);
        let mut prev_simple = None;
        for b in blocks {
            let simple = b.lines.iter().filter(|l| !is_comment(l)).count() == 1;
            if kind == Kind::Top && prev_simple.is_some_and(|p: bool| !(p && simple)) {
                out.push(String::new());
            }
            prev_simple = Some(simple);
            out.extend(b.lines);
        }
        out.extend(self.copy(end..region.end));
        out
    }

    /// The line of each entry's key, when the mapping is plain block style: one key per
    /// line, all in one column, in order, inside `region`, nothing but indentation (and an
    /// item's `- `) before a key. `None` otherwise (the mapping is left as it is).
    fn key_lines(
        &self,
        entries: &[Entry],
        region: &Range<usize>,
        kind: Kind,
    ) -> Option<Vec<usize>> {
        let first = entries.first()?;
        let col = self.col_of(first.key_span.start);
        let mut keys = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if e.key == "<<" {
                return None;
            }
            let line = self.line_of(e.key_span.start);
            if !region.contains(&line)
                || self.col_of(e.key_span.start) != col
                || keys.last().is_some_and(|l| *l >= line)
                || self.line_of(e.value.span.start) < line
            {
                return None;
            }
            let before = &self.lines[line][..col];
            let ok = match kind {
                Kind::Item { dash } if i == 0 => {
                    before.len() > dash
                        && before[..dash].trim().is_empty()
                        && before[dash..].starts_with('-')
                        && before[dash + 1..].trim().is_empty()
                }
                Kind::Item { .. } | Kind::Top | Kind::Nested => before.trim().is_empty(),
            };
            if !ok {
                return None;
            }
            keys.push(line);
        }
        Some(keys)
    }

    /// The lines after a key's line (its value's), formatted where the value is a block
    /// mapping or a sequence of mappings; the key's own line keeps its text except for a
    /// flow mapping written on it.
    fn value(
        &self,
        e: &Entry,
        key_line: usize,
        below: Range<usize>,
        schema: Option<&Value>,
        root: &Value,
    ) -> Vec<String> {
        let value_line = self.line_of(e.value.span.start);
        match &e.value.kind {
            NodeKind::Map(_) if !self.is_flow(&e.value) && value_line > key_line => {
                self.map(&e.value, below, schema, root, Kind::Nested)
            }
            NodeKind::Seq(items) if !self.is_flow(&e.value) => {
                let item = schema.and_then(|s| items_of(root, s));
                self.seq(items, below, item, root)
            }
            _ => self.copy(below),
        }
    }

    /// A block sequence's lines with each mapping item formatted (items keep their order).
    fn seq(
        &self,
        items: &[Node],
        region: Range<usize>,
        schema: Option<&Value>,
        root: &Value,
    ) -> Vec<String> {
        let starts: Vec<usize> = items.iter().map(|i| self.line_of(i.span.start)).collect();
        let in_order =
            starts.windows(2).all(|w| w[0] < w[1]) && starts.iter().all(|l| region.contains(l));
        if !in_order || items.is_empty() {
            return self.copy(region);
        }
        let mut out = self.copy(region.start..starts[0]);
        for (i, item) in items.iter().enumerate() {
            let line = starts[i];
            let next = starts.get(i + 1).copied().unwrap_or(region.end);
            let dash = self.lines[line].find('-');
            // What trails an item (blank lines, comments left of its keys) stays after it.
            let mut end = next;
            let keys_col = match &item.kind {
                NodeKind::Map(entries) if !entries.is_empty() => {
                    self.col_of(entries[0].key_span.start)
                }
                _ => 0,
            };
            while end > line + 1
                && (self.is_blank(end - 1) || self.is_comment_at(end - 1, keys_col))
            {
                end -= 1;
            }
            match (&item.kind, dash) {
                (NodeKind::Map(_), _) if self.is_flow(item) => {
                    let mut lines = self.copy(line..end);
                    self.rewrite_flow(&mut lines[0], line, item, schema, root);
                    out.extend(lines);
                }
                (NodeKind::Map(_), Some(dash)) => {
                    out.extend(self.map(item, line..end, schema, root, Kind::Item { dash }))
                }
                _ => out.extend(self.copy(line..end)),
            }
            out.extend(self.copy(end..next));
        }
        out
    }

    /// Put `node`, when it is a one-line flow mapping on line `line`, in canonical order
    /// in `text` (that line's copy).
    fn rewrite_flow(
        &self,
        text: &mut String,
        line: usize,
        node: &Node,
        schema: Option<&Value>,
        root: &Value,
    ) {
        if !matches!(node.kind, NodeKind::Map(_))
            || !self.is_flow(node)
            || self.line_of(node.span.start) != line
            || self.line_of(node.span.end) != line
        {
            return;
        }
        let Some(flow) = self.flow_map(node, schema, root) else {
            return;
        };
        let (a, b) = (self.col_of(node.span.start), self.col_of(node.span.end));
        if a <= b && b <= text.len() && text.is_char_boundary(a) && text.is_char_boundary(b) {
            *text = format!("{}{flow}{}", &text[..a], &text[b..]);
        }
    }

    /// A one-line flow mapping written `{key: value, ...}` in canonical order, or `None`
    /// when it is not one this can rewrite safely (comments, anchors, an empty value).
    fn flow_map(&self, node: &Node, schema: Option<&Value>, root: &Value) -> Option<String> {
        let NodeKind::Map(entries) = &node.kind else {
            return None;
        };
        let whole = self.slice(node.span);
        if whole.contains(['#', '\n', '&', '*']) || !whole.ends_with('}') {
            return None;
        }
        let order = property_order(root, schema);
        let mut parts = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let inside = |s: Span| s.start >= node.span.start && s.end <= node.span.end;
            if e.key == "<<" || !inside(e.key_span) || !inside(e.value.span) {
                return None;
            }
            let (k, v) = (self.slice(e.key_span), self.slice(e.value.span));
            if k.is_empty() || v.is_empty() {
                return None;
            }
            let rank = order.iter().position(|o| *o == e.key).unwrap_or(usize::MAX);
            parts.push(((rank, i), format!("{k}: {v}")));
        }
        parts.sort_by_key(|p| p.0);
        let body: Vec<String> = parts.into_iter().map(|p| p.1).collect();
        Some(format!("{{{}}}", body.join(", ")))
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn set_char(line: &mut String, at: usize, c: char) {
    if at < line.len() && line.is_char_boundary(at) && line.is_char_boundary(at + 1) {
        line.replace_range(at..at + 1, c.encode_utf8(&mut [0; 4]));
    }
}
