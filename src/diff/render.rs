//! The three renders of a diff, built from the plan renderer's own pieces
//! ([`crate::report`]) so that `topo diff` reads exactly like `topo plan`: text (terminal),
//! json (the plan's JSON contract plus diff keys; docs/review.md) and markdown (pull-request
//! comments, optionally with a Mermaid graph of what changed).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{AppChange, AppKind, Diff, Summary, is_destructive};
use crate::plan::Action;
use crate::report::{
    capitalise, counts_phrase, created_attributes, json as plan_json, text as plan_text,
};

/// `+ create service x (k=v, ...)`: the plan's headline shape for services and transports.
pub fn app_headline(c: &AppChange) -> String {
    let mut line = format!(
        "{} {} {} {}",
        c.action.symbol(),
        c.action.as_str(),
        c.kind.as_str(),
        c.name
    );
    line.push_str(&created_attributes(c.action, &c.fields));
    line
}

/// `field: old -> new` under an update, as the plan prints them.
pub fn app_detail_lines(c: &AppChange) -> Vec<String> {
    if c.action != Action::Update {
        return Vec::new();
    }
    c.fields.iter().map(plan_text::field_line).collect()
}

/// After a broker delete: apply makes it only when asked to prune, so a reader of the
/// diff does not expect `topo apply` to remove it.
const PRUNE_ONLY: &str = " (only with --prune)";

/// Every change as (action, headline, detail lines): broker entities in apply order,
/// then services, then transports.
fn lines(diff: &Diff) -> Vec<(Action, String, Vec<String>)> {
    let mut out: Vec<(Action, String, Vec<String>)> = diff
        .plan
        .changes
        .iter()
        .map(|c| {
            let mut head = plan_text::headline(c);
            if c.action == Action::Delete {
                head.push_str(PRUNE_ONLY);
            }
            (c.action, head, plan_text::detail_lines(c))
        })
        .collect();
    out.extend(
        diff.apps
            .iter()
            .map(|c| (c.action, app_headline(c), app_detail_lines(c))),
    );
    out
}

/// `1 to create, 2 to update; 1 destructive` (non-zero parts only).
pub fn summary_line(s: &Summary, unmanaged: usize) -> String {
    let mut line = counts_phrase(&s.actions)
        .unwrap_or_else(|| "no changes to the broker or the services".to_string());
    if s.destructive > 0 {
        let _ = write!(line, "; {} destructive (delete or replace)", s.destructive);
    }
    if unmanaged > 0 {
        let _ = write!(line, "; {unmanaged} no longer managed");
    }
    line
}

const UNMANAGED_HEAD: &str =
    "No longer in the new file (apply --prune leaves these on the broker):";

/// Terminal text; `color` paints each change line by action, as the plan does.
pub fn text(diff: &Diff, color: bool) -> String {
    let mut out = String::new();
    if diff.is_empty() {
        out.push_str("Diff: no changes: the two topologies are equivalent.\n");
        return out;
    }
    for (action, head, details) in lines(diff) {
        if color {
            let _ = writeln!(
                out,
                "{}{head}{}",
                plan_text::colour(action),
                plan_text::RESET
            );
        } else {
            let _ = writeln!(out, "{head}");
        }
        for d in details {
            let _ = writeln!(out, "    {d}");
        }
    }
    if !diff.unmanaged.is_empty() {
        let _ = writeln!(out, "\n{UNMANAGED_HEAD}");
        for u in &diff.unmanaged {
            let _ = writeln!(out, "    {u}");
        }
    }
    let line = summary_line(&diff.summary(), diff.unmanaged.len());
    if color {
        let _ = writeln!(out, "\n\x1b[1mDiff: {line}.\x1b[0m");
    } else {
        let _ = writeln!(out, "\nDiff: {line}.");
    }
    out
}

fn app_target(c: &AppChange) -> Value {
    match (&c.kind, &c.transport) {
        (AppKind::Transport, Some((from, to, kind, queue))) => {
            let mut v = json!({"kind": "transport", "from": from, "to": to, "transport": kind});
            if !queue.is_empty() {
                v["queue"] = Value::from(queue.clone());
            }
            v
        }
        _ => json!({"kind": c.kind.as_str(), "name": c.name}),
    }
}

/// The diff as JSON: the plan's document (`changed`, `summary`, `changes` with `action`,
/// `target`, `description`, `fields`, `rebind?`) with services and transports as further
/// changes, plus `old`, `new`, `destructive`, `summary.destructive`, a `destructive` flag
/// on each change, and `unmanaged`.
pub fn json_value(diff: &Diff, old: &str, new: &str) -> Value {
    let mut doc = plan_json::to_value(&diff.plan);
    let mut changes: Vec<Value> = match doc.get_mut("changes").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    for (v, c) in changes.iter_mut().zip(&diff.plan.changes) {
        v["destructive"] = Value::from(is_destructive(c.action));
        if c.action == Action::Delete {
            v["prune_only"] = Value::from(true);
        }
    }
    for c in &diff.apps {
        changes.push(json!({
            "action": c.action.as_str(),
            "target": app_target(c),
            "description": format!("{} {}", c.kind.as_str(), c.name),
            "fields": c.fields,
            "destructive": is_destructive(c.action),
        }));
    }
    let summary = diff.summary();
    json!({
        "old": old,
        "new": new,
        "changed": !diff.is_empty(),
        "destructive": summary.destructive > 0,
        "summary": summary,
        "changes": changes,
        "unmanaged": diff.unmanaged,
    })
}

pub fn json(diff: &Diff, old: &str, new: &str) -> String {
    let mut s =
        serde_json::to_string_pretty(&json_value(diff, old, new)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Inline code for Markdown, whatever the text holds.
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// The marker a pipeline uses to find and update its earlier comment.
pub const MARKDOWN_MARKER: &str = "<!-- topo-diff -->";

/// Markdown for a pull-request comment, in the plan's Markdown layout; `graph` is a
/// Mermaid picture of what changed.
pub fn markdown(diff: &Diff, old: &str, new: &str, graph: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKDOWN_MARKER}");
    let _ = writeln!(out, "### topo diff: {} → {}\n", code(old), code(new));
    if diff.is_empty() {
        out.push_str("**No changes: the two topologies are equivalent.**\n");
        return out;
    }
    let s = diff.summary();
    let _ = writeln!(out, "**{}**\n", capitalise(&summary_line(&s, 0)));
    let all = lines(diff);
    if s.destructive > 0 {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> {} destructive change{} need{} approval (a replaced queue loses the \
             messages it holds; deletes remove entities apply --prune manages):",
            s.destructive,
            if s.destructive == 1 { "" } else { "s" },
            if s.destructive == 1 { "s" } else { "" },
        );
        for (_, head, _) in all.iter().filter(|(a, _, _)| is_destructive(*a)) {
            let _ = writeln!(out, "> - {}", code(head));
        }
        out.push('\n');
    }
    if !all.is_empty() {
        out.push_str("```diff\n");
        for (_, head, details) in &all {
            let _ = writeln!(out, "{}", head.replace("```", "'''"));
            for d in details {
                let _ = writeln!(out, "    {}", d.replace("```", "'''"));
            }
        }
        out.push_str("```\n");
    }
    if !diff.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "\n> [!NOTE]\n> No longer in the new file; `apply --prune` leaves these on the broker:"
        );
        for u in &diff.unmanaged {
            let _ = writeln!(out, "> - {u}");
        }
    }
    if let Some(g) = graph {
        let _ = write!(
            out,
            "\n<details><summary>Graph of what changed</summary>\n\n```mermaid\n{g}```\n\n</details>\n"
        );
    }
    out
}
