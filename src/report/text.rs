//! The terminal rendering: one line per change, fields indented below updates and
//! replaces, a summary last.

use std::io::Write;

use super::{created_attributes, show_value, summary_line};
use crate::plan::{Action, Change, FieldChange, Plan};

pub(crate) const RESET: &str = "\x1b[0m";

/// The terminal colour of each action, shared by plans and diffs.
pub(crate) fn colour(action: Action) -> &'static str {
    match action {
        Action::Create => "\x1b[32m",
        Action::Update => "\x1b[33m",
        Action::Replace => "\x1b[35m",
        Action::Delete => "\x1b[31m",
    }
}

/// The line that heads a change, without colour.
pub fn headline(c: &Change) -> String {
    let mut line = format!("{} {} {}", c.action.symbol(), c.action.as_str(), c.target);
    line.push_str(&created_attributes(c.action, &c.fields));
    if let Some(n) = c.messages
        && matches!(c.action, Action::Replace | Action::Delete)
    {
        line.push_str(&format!(
            " (holds {n} message{})",
            if n == 1 { "" } else { "s" }
        ));
    }
    line
}

/// The indented lines under a change: `field: old -> new`, then what a replace rebinds.
pub fn detail_lines(c: &Change) -> Vec<String> {
    let mut lines = Vec::new();
    if matches!(c.action, Action::Update | Action::Replace) {
        lines.extend(c.fields.iter().map(field_line));
    }
    for b in &c.rebind {
        lines.push(format!("rebind: {b}"));
    }
    if let Some(note) = policy_note(c) {
        lines.push(note);
    }
    lines
}

/// Queue arguments a policy can set, by their policy key: a policy changes them in place,
/// where a queue argument changes only by deleting and declaring the queue again.
const POLICY_KEYS: &[(&str, &str)] = &[
    ("arguments.x-message-ttl", "message-ttl"),
    ("arguments.x-expires", "expires"),
    ("arguments.x-max-length", "max-length"),
    ("arguments.x-max-length-bytes", "max-length-bytes"),
    ("arguments.x-overflow", "overflow"),
    ("arguments.x-dead-letter-exchange", "dead-letter-exchange"),
    (
        "arguments.x-dead-letter-routing-key",
        "dead-letter-routing-key",
    ),
    ("arguments.x-delivery-limit", "delivery-limit"),
];

/// For a queue replaced only because of a TTL, length or dead-letter argument the file
/// sets: the note that a policy could change it in place.
pub fn policy_note(c: &Change) -> Option<String> {
    if c.action != Action::Replace || !matches!(c.target, crate::plan::Target::Queue(_)) {
        return None;
    }
    let policy_key = |field: &str| {
        POLICY_KEYS
            .iter()
            .find(|(arg, _)| *arg == field)
            .map(|(_, k)| *k)
    };
    // Only when nothing else forces the replace (a type change would anyway).
    if c.fields.iter().any(|f| policy_key(&f.field).is_none()) {
        return None;
    }
    let keys: Vec<&str> = c
        .fields
        .iter()
        .filter(|f| f.new.is_some())
        .filter_map(|f| policy_key(&f.field))
        .collect();
    (!keys.is_empty()).then(|| {
        format!(
            "note: a policy can change {} in place (no replace, messages kept): set it in a policy's definition instead of the queue",
            keys.join(", ")
        )
    })
}

/// `field: old -> new`.
pub fn field_line(f: &FieldChange) -> String {
    format!(
        "{}: {} -> {}",
        f.field,
        show_value(f.old.as_ref()),
        show_value(f.new.as_ref())
    )
}

pub fn render(out: &mut dyn Write, plan: &Plan, color: bool) -> std::io::Result<()> {
    for c in &plan.changes {
        let head = headline(c);
        if color {
            writeln!(out, "{}{head}{RESET}", colour(c.action))?;
        } else {
            writeln!(out, "{head}")?;
        }
        for line in detail_lines(c) {
            writeln!(out, "    {line}")?;
        }
    }
    if !plan.is_empty() {
        writeln!(out)?;
    }
    let summary = summary_line(plan);
    if color {
        writeln!(out, "\x1b[1mPlan: {summary}.{RESET}")
    } else {
        writeln!(out, "Plan: {summary}.")
    }
}
