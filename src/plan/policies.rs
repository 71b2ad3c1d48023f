//! Where a user policy and an operator policy both set a key on a queue of the file and
//! disagree, what the queue gets (see [`crate::state::effective`]): plan adds these to its
//! warnings, route prints them beside the queues it reaches.

use crate::state::effective::{Effective, Line, Matcher, Source};
use crate::state::{EntityKey, State};

/// At most this many queues are named one by one; the rest are counted.
const NAMED: usize = 10;

/// `queue q: max-length is 50 from operator policy cap (policy limits sets 100)`, one per
/// key the two policies set differently.
pub fn conflict_lines(queue: &EntityKey, e: &Effective) -> Vec<String> {
    e.conflicts()
        .filter_map(|(k, v)| {
            let (other, other_from) = v.overridden.as_ref()?;
            Some(format!(
                "queue {queue}: {k} is {} from {} ({} sets {other})",
                v.value,
                source(&v.from),
                source(other_from)
            ))
        })
        .collect()
}

fn source(s: &Source) -> String {
    match s {
        Source::Policy(n) => format!("policy {n}"),
        Source::OperatorPolicy(n) => format!("operator policy {n}"),
    }
}

/// The lines for every queue of `desired`, with the policies of `after` (the broker once
/// the plan is carried out). Quiet when `after` has no operator policy.
pub fn notes(desired: &State, after: &State, line: Line) -> Vec<String> {
    if after.operator_policies.is_empty() {
        return Vec::new();
    }
    let matcher = Matcher::new(after);
    let mut out = Vec::new();
    let mut more = 0usize;
    for key in desired.queues.keys() {
        let Some(q) = after.queues.get(key).or_else(|| desired.queues.get(key)) else {
            continue;
        };
        let lines = conflict_lines(key, &matcher.effective(key, q.kind, line));
        if lines.is_empty() {
            continue;
        }
        if out.len() >= NAMED {
            more += 1;
        } else {
            out.extend(lines);
        }
    }
    if more > 0 {
        out.push(format!(
            "{more} more queues get a value from an operator policy other than their policy's"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Args, PolicyState, QueueState};
    use crate::topology::model::{ApplyTo, QueueType};
    use serde_json::json;

    #[test]
    fn a_capped_queue_is_named_with_both_values() {
        let mut s = State::default();
        let q = EntityKey::new("/", "orders");
        s.queues.insert(
            q.clone(),
            QueueState {
                kind: QueueType::Quorum,
                durable: true,
                auto_delete: false,
                arguments: Args::new(),
                messages: None,
                members: None,
            },
        );
        let p = |n: i64| PolicyState {
            pattern: ".*".into(),
            apply_to: ApplyTo::Queues,
            priority: 0,
            definition: [("max-length".to_string(), json!(n))].into_iter().collect(),
        };
        s.policies.insert(EntityKey::new("/", "limits"), p(1000));
        assert!(notes(&s, &s, Line::V4).is_empty());
        s.operator_policies
            .insert(EntityKey::new("/", "cap"), p(500));
        assert_eq!(
            notes(&s, &s, Line::V4),
            ["queue orders: max-length is 500 from operator policy cap (policy limits sets 1000)"]
        );
    }
}
