//! Plans as people and programs read them: `text` (the terminal), `json` (a documented
//! contract for bots; see docs/plan-apply.md) and `markdown` (pull-request comments).
//! Renderers take a writer: stdout is data.

pub mod json;
pub mod markdown;
pub mod text;

use std::io::Write;

use serde_json::Value;

use crate::plan::{Action, FieldChange, Plan};

/// `--format` of plan (and diff).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    Markdown,
}

/// Write `plan` in `format`; colour applies to text only.
pub fn render(
    out: &mut dyn Write,
    plan: &Plan,
    format: Format,
    color: bool,
) -> std::io::Result<()> {
    match format {
        Format::Text => text::render(out, plan, color),
        Format::Json => json::render(out, plan),
        Format::Markdown => markdown::render(out, plan),
    }
}

/// A value as a plan line shows it: strings bare when they are plain words, JSON otherwise;
/// `(none)` for an unset field.
pub fn show_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(none)".to_string(),
        Some(Value::String(s))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.#*/@$ ()".contains(c))
                && !s.starts_with(' ')
                && !s.ends_with(' ') =>
        {
            s.clone()
        }
        Some(v) => v.to_string(),
    }
}

/// `1 to create, 2 to update, ...` (only the non-zero parts), or `no changes`.
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary();
    counts_phrase(&s).unwrap_or_else(|| "no changes: the broker matches the file".to_string())
}

/// `1 to create, 2 to update, ...` (non-zero parts only); `None` when all are zero.
/// Shared by the plan and the diff so both count in the same words.
pub fn counts_phrase(s: &crate::plan::Summary) -> Option<String> {
    let parts: Vec<String> = [
        (s.create, "to create"),
        (s.update, "to update"),
        (s.replace, "to replace"),
        (s.delete, "to delete"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// ` (field=value, ...)`: the attributes a create line shows; empty for other actions.
pub fn created_attributes(action: Action, fields: &[FieldChange]) -> String {
    if action != Action::Create || fields.is_empty() {
        return String::new();
    }
    let attrs: Vec<String> = fields
        .iter()
        .map(|f| format!("{}={}", f.field, show_value(f.new.as_ref())))
        .collect();
    format!(" ({})", attrs.join(", "))
}

/// First letter upper-case (summary lines open markdown comments).
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
