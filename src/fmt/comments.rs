//! The file's comments, found in the text (the YAML parser drops them) and tied to the
//! entry they belong to, so they move with it when entries are put in order:
//!
//! - a comment at the end of a line belongs to the last entry or item that starts on it;
//! - a comment line belongs to the next entry or item, unless it sits further right than
//!   that one (then it closes the collection it is indented into, and stays at its end);
//! - the comments above the first top-level key are the file's header and stay on top.
//!
//! A `#` is a comment when it starts a line or follows a space or tab outside every scalar
//! (YAML's rule); the parser's scalar spans say where the scalars are.

use std::collections::{HashMap, HashSet};

use crate::source::Span;
use crate::source::node::{Node, NodeKind};

/// What a comment is tied to: an entry (by its key's offset), a sequence item (by its
/// offset), or a collection (by its offset), for the comments that close it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum At {
    Entry(u32),
    Item(u32),
    Map(u32),
    Seq(u32),
}

/// The comments of a file, tied to where they go.
#[derive(Default)]
pub(super) struct Comments {
    /// The header's lines, top first ("" for one blank line between groups or before the
    /// first key).
    pub header: Vec<String>,
    leading: HashMap<At, Vec<(usize, String)>>,
    trailing: HashMap<At, String>,
    closing: HashMap<At, Vec<String>>,
    blank_before: HashSet<At>,
    /// Offsets of every comment, in order.
    offsets: Vec<u32>,
}

struct Comment {
    offset: u32,
    line: usize,
    col: usize,
    text: String,
    whole_line: bool,
}

struct Point {
    at: At,
    offset: u32,
    line: usize,
    col: usize,
    /// The collections around the point, outermost first, with their content's column.
    chain: Vec<(At, usize)>,
}

/// Line and column of byte offsets in one text.
pub(super) struct Lines<'a> {
    pub text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    pub fn line(&self, offset: u32) -> usize {
        match self.starts.binary_search(&(offset as usize)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    pub fn col(&self, offset: u32) -> usize {
        let o = (offset as usize).min(self.text.len());
        let start = self.starts[self.line(offset)].min(o);
        self.text.get(start..o).map_or(0, |s| s.chars().count())
    }

    fn get(&self, line: usize) -> &'a str {
        let start = self.starts[line];
        let end = self.starts.get(line + 1).map_or(self.text.len(), |e| e - 1);
        &self.text[start..end.max(start)]
    }

    fn is_blank(&self, line: usize) -> bool {
        line < self.starts.len() && self.get(line).trim().is_empty()
    }

    /// Whether `node` is written `{...}` or `[...]`.
    pub fn is_flow(&self, node: &Node) -> bool {
        matches!(
            self.text.get(node.span.start as usize..),
            Some(s) if s.starts_with(['{', '['])
        )
    }
}

impl Comments {
    /// The comments of `text`, whose tree is `root` (a block mapping).
    pub fn find(lines: &Lines, root: &Node) -> Comments {
        let mut scalars = Vec::new();
        scalar_spans(root, &mut scalars);
        scalars.sort_unstable();
        let found = scan(lines, &scalars);
        let mut c = Comments {
            offsets: found.iter().map(|c| c.offset).collect(),
            ..Comments::default()
        };
        let mut points = Vec::new();
        c.points(lines, root, &mut Vec::new(), &mut points);
        c.attach(lines, found, &points);
        c
    }

    /// The text of every comment in `text` (whose tree is `root`), in order.
    pub fn all(lines: &Lines, root: &Node) -> Vec<String> {
        let mut scalars = Vec::new();
        scalar_spans(root, &mut scalars);
        scalars.sort_unstable();
        scan(lines, &scalars).into_iter().map(|c| c.text).collect()
    }

    /// Whether `node` stays in flow style: it was written so and holds no comment (one
    /// that does is written in block style, where its comments have a line to go on).
    pub fn keeps_flow(&self, lines: &Lines, node: &Node) -> bool {
        lines.is_flow(node) && !self.any_within(node.span)
    }

    fn any_within(&self, span: Span) -> bool {
        let i = self.offsets.partition_point(|o| *o < span.start);
        self.offsets.get(i).is_some_and(|o| *o < span.end)
    }

    pub fn leading(&self, at: At) -> impl Iterator<Item = &str> {
        self.leading
            .get(&at)
            .into_iter()
            .flatten()
            .map(|(_, t)| t.as_str())
    }

    pub fn trailing(&self, at: At) -> Option<&str> {
        self.trailing.get(&at).map(String::as_str)
    }

    pub fn closing(&self, at: At) -> impl Iterator<Item = &str> {
        self.closing
            .get(&at)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn blank_before(&self, at: At) -> bool {
        self.blank_before.contains(&at)
    }

    /// The entries and items of the tree in the order of the text, with the collections
    /// around each; nothing inside a collection kept in flow style.
    fn points(
        &self,
        lines: &Lines,
        node: &Node,
        chain: &mut Vec<(At, usize)>,
        out: &mut Vec<Point>,
    ) {
        if self.keeps_flow(lines, node) {
            return;
        }
        match &node.kind {
            NodeKind::Map(entries) if !entries.is_empty() => {
                let col = lines.col(entries[0].key_span.start);
                chain.push((At::Map(node.span.start), col));
                for e in entries {
                    let o = e.key_span.start;
                    out.push(Point {
                        at: At::Entry(o),
                        offset: o,
                        line: lines.line(o),
                        col: lines.col(o),
                        chain: chain.clone(),
                    });
                    self.points(lines, &e.value, chain, out);
                }
                chain.pop();
            }
            NodeKind::Seq(items) if !items.is_empty() => {
                let col = lines.col(node.span.start);
                chain.push((At::Seq(node.span.start), col));
                for item in items {
                    let o = item.span.start;
                    out.push(Point {
                        at: At::Item(o),
                        offset: o,
                        line: lines.line(o),
                        col,
                        chain: chain.clone(),
                    });
                    self.points(lines, item, chain, out);
                }
                chain.pop();
            }
            _ => {}
        }
    }

    fn attach(&mut self, lines: &Lines, found: Vec<Comment>, points: &[Point]) {
        let Some(first) = points.first() else {
            self.header = found.into_iter().map(|c| c.text).collect();
            return;
        };
        // The comments right above the first key go with it when a header (comments and
        // a blank line) sits above them; else they are the header.
        let before_first: Vec<&Comment> = found
            .iter()
            .take_while(|c| c.offset < first.offset && c.whole_line)
            .collect();
        let mut adjacent = before_first.len();
        let mut next_line = first.line;
        while adjacent > 0 && before_first[adjacent - 1].line + 1 == next_line {
            adjacent -= 1;
            next_line = before_first[adjacent].line;
        }
        let header_len = if adjacent == 0 || adjacent == before_first.len() {
            before_first.len()
        } else {
            adjacent
        };
        let mut last_header_line = None;
        for (i, c) in found.into_iter().enumerate() {
            if i < header_len {
                if let Some(prev) = last_header_line
                    && (prev + 1..c.line).any(|l| lines.is_blank(l))
                {
                    self.header.push(String::new());
                }
                last_header_line = Some(c.line);
                self.header.push(c.text);
                continue;
            }
            let after = points.partition_point(|p| p.offset <= c.offset);
            let before = after.checked_sub(1).map(|i| &points[i]);
            if !c.whole_line {
                // The last point starting on the comment's line, else the one before it.
                let on_line = points[..after]
                    .iter()
                    .rev()
                    .take_while(|p| p.line >= c.line)
                    .find(|p| p.line == c.line);
                match on_line.or(before) {
                    Some(p) => match self.trailing.get_mut(&p.at) {
                        Some(t) => {
                            t.push(' ');
                            t.push_str(&c.text);
                        }
                        None => {
                            self.trailing.insert(p.at, c.text);
                        }
                    },
                    None => self.header.push(c.text),
                }
                continue;
            }
            let next = points.get(after).and_then(|n| {
                points[after..]
                    .iter()
                    .take_while(|p| p.offset == n.offset)
                    .find(|p| p.col >= c.col)
            });
            match (next, before) {
                (Some(n), _) => self.leading.entry(n.at).or_default().push((c.line, c.text)),
                (None, Some(p)) => {
                    let closes = p
                        .chain
                        .iter()
                        .rev()
                        .find(|(_, col)| *col <= c.col)
                        .or(p.chain.first())
                        .map(|(at, _)| *at);
                    if let Some(at) = closes {
                        self.closing.entry(at).or_default().push(c.text);
                    }
                }
                (None, None) => match points.get(after) {
                    Some(n) => self.leading.entry(n.at).or_default().push((c.line, c.text)),
                    None => self.header.push(c.text),
                },
            }
        }
        if let Some(l) = last_header_line
            && (l + 1..first.line).any(|l| lines.is_blank(l))
        {
            self.header.push(String::new());
        }
        // A blank line above an item (or above its comments) is kept, as one.
        for p in points {
            let At::Item(_) = p.at else { continue };
            let top = self
                .leading
                .get(&p.at)
                .and_then(|l| l.first())
                .map_or(p.line, |(line, _)| *line);
            if top > 0 && lines.is_blank(top - 1) {
                self.blank_before.insert(p.at);
            }
        }
    }
}

/// The spans of every scalar and key in the tree.
fn scalar_spans(node: &Node, out: &mut Vec<(u32, u32)>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for e in entries {
                out.push((e.key_span.start, e.key_span.end));
                scalar_spans(&e.value, out);
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|i| scalar_spans(i, out)),
        _ => out.push((node.span.start, node.span.end)),
    }
}

/// Every comment of the text, in order.
fn scan(lines: &Lines, scalars: &[(u32, u32)]) -> Vec<Comment> {
    let inside = |o: u32| {
        let i = scalars.partition_point(|(s, _)| *s <= o);
        i > 0 && scalars[i - 1].1 > o
    };
    let mut out = Vec::new();
    for line in 0..lines.starts.len() {
        let text = lines.get(line);
        let start = lines.starts[line];
        let mut prev = None;
        for (i, ch) in text.char_indices() {
            let at = u32::try_from(start + i).unwrap_or(u32::MAX);
            if ch == '#' && prev.is_none_or(|p: char| p == ' ' || p == '\t') && !inside(at) {
                out.push(Comment {
                    offset: at,
                    line,
                    col: text[..i].chars().count(),
                    text: text[i..].trim_end().to_string(),
                    whole_line: text[..i].trim().is_empty(),
                });
                break;
            }
            prev = Some(ch);
        }
    }
    out
}
