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

/// Write `plan` in `format`; colour applies to text only. `warnings` (advice that does not
/// change the plan, such as quorum queues that do not fit the cluster) go into the JSON
/// document's `warnings` and a markdown warning block; the text plan leaves them to stderr,
/// where the commands print them for every format.
pub fn render(
    out: &mut dyn Write,
    plan: &Plan,
    warnings: &[String],
    format: Format,
    color: bool,
) -> std::io::Result<()> {
    match format {
        Format::Text => text::render(out, plan, color),
        Format::Json => json::render(out, plan, warnings),
        Format::Markdown => markdown::render(out, plan, warnings),
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

/// What the broker has in the file's vhosts and the file lacks, counted from the plan
/// made with pruning: `3 queues and 2 bindings on the broker are not in the file: topo
/// plan --prune lists them`. `None` when there is nothing of the kind.
pub fn drift_line(pruned: &Plan) -> Option<String> {
    use crate::plan::Target;
    let mut counts: Vec<(&str, &str, usize)> = vec![
        ("exchange", "exchanges", 0),
        ("queue", "queues", 0),
        ("binding", "bindings", 0),
        ("policy", "policies", 0),
        ("operator policy", "operator policies", 0),
        ("permission", "permissions", 0),
        ("topic permission", "topic permissions", 0),
        ("shovel", "shovels", 0),
        ("federation upstream", "federation upstreams", 0),
        ("vhost's limits", "vhosts' limits", 0),
        ("user's limits", "users' limits", 0),
    ];
    for c in pruned
        .changes
        .iter()
        .filter(|c| c.action() == Action::Delete)
    {
        let kind = match c.target() {
            Target::Exchange(_) => "exchange",
            Target::Queue(_) => "queue",
            Target::Binding(_) => "binding",
            Target::Policy(_) => "policy",
            Target::OperatorPolicy(_) => "operator policy",
            Target::Permission(_) => "permission",
            Target::TopicPermission(_) => "topic permission",
            Target::Link(k) => k.component.label(),
            Target::VhostLimits(_) => "vhost's limits",
            Target::UserLimits(_) => "user's limits",
            Target::Vhost(_) | Target::User(_) => continue,
        };
        if let Some(e) = counts.iter_mut().find(|(k, _, _)| *k == kind) {
            e.2 += 1;
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(one, many, n)| format!("{n} {}", if *n == 1 { one } else { many }))
        .collect();
    let total: usize = counts.iter().map(|(_, _, n)| n).sum();
    let list = match parts.as_slice() {
        [] => return None,
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    Some(format!(
        "{list} on the broker {} not in the file: topo plan --prune lists them",
        if total == 1 { "is" } else { "are" }
    ))
}

/// First letter upper-case (summary lines open markdown comments).
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, Target};
    use crate::state::EntityKey;

    fn delete(target: Target) -> Change {
        Change::sample(Action::Delete, target, vec![])
    }

    #[test]
    fn drift_counts_deletes_by_kind_in_words() {
        let q = |n: &str| delete(Target::Queue(EntityKey::new("v", n)));
        assert_eq!(drift_line(&Plan::default()), None);
        assert_eq!(
            drift_line(&Plan {
                changes: vec![q("a")]
            })
            .as_deref(),
            Some("1 queue on the broker is not in the file: topo plan --prune lists them")
        );
        let plan = Plan {
            changes: vec![
                q("a"),
                q("b"),
                q("c"),
                delete(Target::Exchange(EntityKey::new("v", "x"))),
                delete(Target::Policy(EntityKey::new("v", "p"))),
            ],
        };
        assert_eq!(
            drift_line(&plan).as_deref(),
            Some(
                "1 exchange, 3 queues and 1 policy on the broker are not in the file: topo plan --prune lists them"
            )
        );
    }

    #[test]
    fn a_policy_note_only_when_a_policy_would_avoid_the_replace() {
        let field = |f: &str, new: Option<i64>| FieldChange {
            field: f.into(),
            old: Some(Value::from(1)),
            new: new.map(Value::from),
        };
        let replace = |fields| {
            Change::sample(
                Action::Replace,
                Target::Queue(EntityKey::new("/", "q")),
                fields,
            )
        };
        let ttl = replace(vec![
            field("arguments.x-message-ttl", Some(5)),
            field("arguments.x-max-length", Some(9)),
        ]);
        let note = text::policy_note(&ttl).unwrap();
        assert!(note.contains("message-ttl, max-length in place"), "{note}");
        let typed = replace(vec![
            field("arguments.x-message-ttl", Some(5)),
            field("type", Some(1)),
        ]);
        assert_eq!(text::policy_note(&typed), None, "the type forces it anyway");
        let removed = replace(vec![field("arguments.x-message-ttl", None)]);
        assert_eq!(text::policy_note(&removed), None);
    }
}
