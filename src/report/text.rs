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
    let mut line = format!(
        "{} {} {}",
        c.action().symbol(),
        c.action().as_str(),
        c.target()
    );
    line.push_str(&created_attributes(c.action(), &c.fields));
    if let Some(n) = c.messages()
        && matches!(c.action(), Action::Replace | Action::Delete)
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
    if matches!(c.action(), Action::Update | Action::Replace) {
        lines.extend(c.fields.iter().map(field_line));
    }
    for b in c.rebind() {
        lines.push(format!("rebind: {b}"));
    }
    lines
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
            writeln!(out, "{}{head}{RESET}", colour(c.action()))?;
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
