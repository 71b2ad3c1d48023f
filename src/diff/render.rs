//! The three renders of a diff: text (terminal), json (bots; a documented contract in
//! docs/review.md) and markdown (pull-request comments, optionally with a Mermaid graph
//! of what changed).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::{Action, Change, Diff, Summary};
use crate::state::DEFAULT_VHOST;

/// A value as a diff line shows it: JSON text, so `"1"` and `1` stay apart.
fn show(v: &Option<Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(v) => v.to_string(),
    }
}

fn vhost_suffix(c: &Change) -> String {
    match c.vhost.as_deref() {
        Some(v) if v != DEFAULT_VHOST => format!(" (vhost {v})"),
        _ => String::new(),
    }
}

fn summary_line(s: &Summary) -> String {
    let mut line = format!(
        "{} to create, {} to update, {} to replace, {} to delete",
        s.create, s.update, s.replace, s.delete
    );
    if s.destructive > 0 {
        let _ = write!(line, "; {} destructive (delete or replace)", s.destructive);
    }
    line
}

/// Terminal text; `color` adds ANSI colours per action.
pub fn text(diff: &Diff, color: bool) -> String {
    let mut out = String::new();
    if diff.is_empty() {
        out.push_str("No changes: the two topologies are equivalent.\n");
        return out;
    }
    let paint = |a: Action, s: &str| -> String {
        if !color {
            return s.to_string();
        }
        let code = match a {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace => "35",
            Action::Delete => "31",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    };
    for c in &diff.changes {
        let head = format!(
            "{} {} {} {}{}",
            c.action.sign(),
            c.action.verb(),
            c.kind.as_str(),
            c.name,
            vhost_suffix(c)
        );
        out.push_str(&paint(c.action, &head));
        if c.destructive {
            out.push_str("  (destructive)");
        }
        out.push('\n');
        for d in &c.details {
            match c.action {
                Action::Create => {
                    let _ = writeln!(out, "    {}: {}", d.field, show(&d.new));
                }
                _ => {
                    let _ = writeln!(out, "    {}: {} -> {}", d.field, show(&d.old), show(&d.new));
                }
            }
        }
        if let Some(r) = &c.reason {
            let _ = writeln!(out, "    why: {r}");
        }
    }
    let _ = writeln!(out, "\nDiff: {}.", summary_line(&diff.summary()));
    out
}

/// The `--format json` document.
#[derive(Serialize)]
struct JsonDiff<'a> {
    old: &'a str,
    new: &'a str,
    has_changes: bool,
    destructive: bool,
    summary: Summary,
    changes: &'a [Change],
}

pub fn json(diff: &Diff, old: &str, new: &str) -> String {
    let doc = JsonDiff {
        old,
        new,
        has_changes: !diff.is_empty(),
        destructive: diff.has_destructive(),
        summary: diff.summary(),
        changes: &diff.changes,
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Inline code in a Markdown table cell, whatever the text holds.
fn code(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// The marker a pipeline uses to find and update its earlier comment.
pub const MARKDOWN_MARKER: &str = "<!-- topo-diff -->";

/// Markdown for a pull-request comment. `graph` is a Mermaid picture of what changed.
pub fn markdown(diff: &Diff, old: &str, new: &str, graph: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKDOWN_MARKER}");
    let _ = writeln!(out, "### Topology diff: {} → {}\n", code(old), code(new));
    if diff.is_empty() {
        out.push_str("No changes: the two topologies are equivalent.\n");
        return out;
    }
    let s = diff.summary();
    let _ = writeln!(out, "**{}**\n", summary_line(&s).replace("; ", "** · **"));
    if s.destructive > 0 {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> {} destructive change{} (delete or replace). A replaced queue \
             loses the messages it holds. Review before approving.\n",
            s.destructive,
            if s.destructive == 1 { "" } else { "s" }
        );
    }
    out.push_str("| | change | kind | name | details |\n|---|---|---|---|---|\n");
    for c in &diff.changes {
        let mut details: Vec<String> = c
            .details
            .iter()
            .map(|d| match c.action {
                Action::Create => format!("{}: {}", code(&d.field), code(&show(&d.new))),
                _ => format!(
                    "{}: {} → {}",
                    code(&d.field),
                    code(&show(&d.old)),
                    code(&show(&d.new))
                ),
            })
            .collect();
        if let Some(r) = &c.reason {
            details.push(format!("_{r}_"));
        }
        let mut name = code(&c.name);
        if let Some(v) = c.vhost.as_deref().filter(|v| *v != DEFAULT_VHOST) {
            let _ = write!(name, " in vhost {}", code(v));
        }
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {} | {} |",
            code(c.action.sign()),
            c.action.verb(),
            if c.destructive { " ⚠️" } else { "" },
            c.kind.as_str(),
            name,
            details.join("<br>")
        );
    }
    if let Some(g) = graph {
        let _ = write!(
            out,
            "\n<details><summary>Graph of what changed</summary>\n\n```mermaid\n{g}```\n\n</details>\n"
        );
    }
    out
}
