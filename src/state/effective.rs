//! The policy definition RabbitMQ applies to a queue: the winning user policy merged with
//! the winning operator policy, the way `rabbit_policy` merges them (checked against the
//! `effective_policy_definition` both brokers report, by `tests/broker_operator_policies.rs`).
//!
//! - Each side's winner is the highest-priority policy of the queue's vhost whose pattern
//!   matches the queue's name, whose `apply-to` covers the queue (`queues`, `all`, or the
//!   queue's own type on 4.x), and that is *applicable* to the queue's type: none of its
//!   keys is one the type does not support (a classic queue ignores a policy that sets
//!   `delivery-limit`, and on 4.x one that sets `max-in-memory-length`, whatever its
//!   priority: the next one down wins). Ties: the broker's order is its store's; topo
//!   takes the first by name.
//! - A key only one side sets is that side's. A key both set: the lower value for the
//!   numeric ones (`max-length`, `message-ttl`, ... the operator's cap), the operator's
//!   value for the others (`overflow`, 4.x).
//!
//! Queue arguments (`x-max-length`, ...) are not part of it: the broker reports them apart.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{EntityKey, PolicyState, State};
use crate::topology::model::{ApplyTo, QueueType};

/// The keys an operator policy may set (3.10 takes all but `overflow`; 4.x all).
pub const OPERATOR_POLICY_KEYS: &[&str] = &[
    "max-length",
    "max-length-bytes",
    "message-ttl",
    "expires",
    "delivery-limit",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "overflow",
];

/// Keys where, set by both, the lower value applies (`rabbit_policies:merge_policy_value`).
const LOWER_WINS: &[&str] = &[
    "max-length",
    "max-length-bytes",
    "message-ttl",
    "expires",
    "delivery-limit",
    "max-in-memory-length",
    "max-in-memory-bytes",
];

/// The broker line, for the keys each queue type refuses (its `unsupported_policies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// 3.x
    V3,
    /// 4.x and later
    V4,
}

impl Line {
    /// The line of a version string (`3.10.8`, `4.3.6`); 4.x when it cannot tell.
    pub fn of_version(version: &str) -> Line {
        match version
            .trim()
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
        {
            Some(m) if m < 4 => Line::V3,
            _ => Line::V4,
        }
    }
}

/// Policy keys a queue type does not support, from the broker's queue type modules. A
/// policy that sets any of them does not apply to such a queue at all.
fn unsupported(kind: QueueType, line: Line) -> &'static [&'static str] {
    const STREAM_ONLY: [&str; 4] = [
        "max-age",
        "stream-max-segment-size-bytes",
        "queue-leader-locator",
        "initial-cluster-size",
    ];
    match (kind, line) {
        (QueueType::Classic, Line::V3) => &[
            STREAM_ONLY[0],
            STREAM_ONLY[1],
            STREAM_ONLY[2],
            STREAM_ONLY[3],
            "delivery-limit",
            "dead-letter-strategy",
        ],
        (QueueType::Classic, Line::V4) => &[
            "max-age",
            "stream-max-segment-size-bytes",
            "initial-cluster-size",
            "delivery-limit",
            "dead-letter-strategy",
            "max-in-memory-length",
            "max-in-memory-bytes",
            "target-group-size",
            "filter-field-names",
        ],
        (QueueType::Quorum, _) => &[
            "max-priority",
            "queue-mode",
            "ha-mode",
            "ha-params",
            "ha-sync-mode",
            "ha-promote-on-shutdown",
            "ha-promote-on-failure",
            "queue-master-locator",
            "max-age",
            "stream-max-segment-size-bytes",
            "initial-cluster-size",
        ],
        (QueueType::Stream, _) => &[
            "expires",
            "message-ttl",
            "dead-letter-exchange",
            "dead-letter-routing-key",
            "max-length",
            "max-in-memory-length",
            "max-in-memory-bytes",
            "max-priority",
            "overflow",
            "queue-mode",
            "single-active-consumer",
            "delivery-limit",
            "ha-mode",
            "ha-params",
            "ha-sync-mode",
            "ha-promote-on-shutdown",
            "ha-promote-on-failure",
            "queue-master-locator",
        ],
    }
}

/// Which policy a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Policy(String),
    OperatorPolicy(String),
}

/// One key of the effective definition. `overridden`: where both sides set the key, the
/// losing side's value and its policy.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveValue {
    pub value: Value,
    pub from: Source,
    pub overridden: Option<(Value, Source)>,
}

/// What applies to one queue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effective {
    pub policy: Option<String>,
    pub operator_policy: Option<String>,
    pub definition: BTreeMap<String, EffectiveValue>,
}

impl Effective {
    /// The keys where the two policies disagree: shown by plan and route.
    pub fn conflicts(&self) -> impl Iterator<Item = (&String, &EffectiveValue)> {
        self.definition
            .iter()
            .filter(|(_, v)| v.overridden.is_some())
    }
}

/// The effective policy definition of queue `key` of type `kind` in `state` (for many
/// queues, build a [`Matcher`] once).
pub fn effective(state: &State, key: &EntityKey, kind: QueueType, line: Line) -> Effective {
    Matcher::new(state).effective(key, kind, line)
}

/// A state's policies and operator policies with their patterns compiled once: a plan
/// asks for every queue of the file, and compiling per queue would cost thousands of
/// compiles at 10,000 queues.
pub struct Matcher<'a> {
    policies: Vec<Compiled<'a>>,
    operator_policies: Vec<Compiled<'a>>,
}

/// One policy and its pattern (`None`: a pattern that does not compile matches nothing).
type Compiled<'a> = (&'a EntityKey, &'a PolicyState, Option<fancy_regex::Regex>);

impl<'a> Matcher<'a> {
    pub fn new(state: &'a State) -> Matcher<'a> {
        let compile = |m: &'a BTreeMap<EntityKey, PolicyState>| -> Vec<Compiled<'a>> {
            m.iter()
                .map(|(k, p)| (k, p, fancy_regex::Regex::new(&p.pattern).ok()))
                .collect()
        };
        Matcher {
            policies: compile(&state.policies),
            operator_policies: compile(&state.operator_policies),
        }
    }

    /// What applies to queue `key` of type `kind`.
    pub fn effective(&self, key: &EntityKey, kind: QueueType, line: Line) -> Effective {
        let policy = winner(&self.policies, key, kind, line);
        let operator = winner(&self.operator_policies, key, kind, line);
        merged(policy, operator)
    }

    /// The user policy that wins for queue `key` of type `kind` (its name and state): the
    /// one whose keys (federation's, say) the queue gets; a lower-priority policy that also
    /// matches gives it nothing.
    pub fn queue_policy(
        &self,
        key: &EntityKey,
        kind: QueueType,
        line: Line,
    ) -> Option<(&'a String, &'a PolicyState)> {
        winner(&self.policies, key, kind, line)
    }

    /// The user policy that wins for exchange `key`: the highest priority of its vhost
    /// whose pattern matches and whose `apply-to` is `exchanges` or `all`; of equal
    /// priorities the first by name, as for queues. Operator policies never apply to
    /// exchanges.
    pub fn exchange_policy(&self, key: &EntityKey) -> Option<(&'a String, &'a PolicyState)> {
        let mut best: Option<(&String, &PolicyState)> = None;
        for (k, p, re) in &self.policies {
            let (k, p) = (*k, *p);
            let applies = k.vhost == key.vhost
                && matches!(p.apply_to, ApplyTo::Exchanges | ApplyTo::All)
                && re
                    .as_ref()
                    .is_some_and(|re| re.is_match(&key.name).unwrap_or(false));
            if applies && best.is_none_or(|(_, b)| p.priority > b.priority) {
                best = Some((&k.name, p));
            }
        }
        best
    }
}

fn merged(
    policy: Option<(&String, &PolicyState)>,
    operator: Option<(&String, &PolicyState)>,
) -> Effective {
    let mut out = Effective {
        policy: policy.map(|(n, _)| n.clone()),
        operator_policy: operator.map(|(n, _)| n.clone()),
        definition: BTreeMap::new(),
    };
    if let Some((name, p)) = policy {
        for (k, v) in &p.definition {
            out.definition.insert(
                k.clone(),
                EffectiveValue {
                    value: v.clone(),
                    from: Source::Policy(name.clone()),
                    overridden: None,
                },
            );
        }
    }
    if let Some((name, p)) = operator {
        for (k, op) in &p.definition {
            let from_op = Source::OperatorPolicy(name.clone());
            let merged = match out.definition.remove(k) {
                None => EffectiveValue {
                    value: op.clone(),
                    from: from_op,
                    overridden: None,
                },
                Some(user) => merge(k, user, op.clone(), from_op),
            };
            out.definition.insert(k.clone(), merged);
        }
    }
    out
}

/// A key both sides set.
fn merge(key: &str, user: EffectiveValue, op: Value, from_op: Source) -> EffectiveValue {
    let lower_is_user = LOWER_WINS.contains(&key)
        && matches!((user.value.as_i64(), op.as_i64()), (Some(u), Some(o)) if u < o);
    let (value, from, other) = if lower_is_user {
        (user.value, user.from, (op, from_op))
    } else {
        (op, from_op, (user.value, user.from))
    };
    // The same value from both is no conflict worth a word.
    let overridden = (other.0 != value).then_some(other);
    EffectiveValue {
        value,
        from,
        overridden,
    }
}

/// The name and definition of the policy (of `policies`) that wins for the queue.
fn winner<'a>(
    policies: &[Compiled<'a>],
    queue: &EntityKey,
    kind: QueueType,
    line: Line,
) -> Option<(&'a String, &'a PolicyState)> {
    let refused = unsupported(kind, line);
    let mut best: Option<(&String, &PolicyState)> = None;
    for (k, p, re) in policies {
        let (k, p) = (*k, *p);
        let applies = k.vhost == queue.vhost
            && covers(p.apply_to, kind)
            && !p.definition.keys().any(|d| refused.contains(&d.as_str()))
            && re
                .as_ref()
                .is_some_and(|re| re.is_match(&queue.name).unwrap_or(false));
        // Strictly higher only: of equal priorities the first by name stays.
        if applies && best.is_none_or(|(_, b)| p.priority > b.priority) {
            best = Some((&k.name, p));
        }
    }
    best
}

fn covers(apply_to: ApplyTo, kind: QueueType) -> bool {
    match apply_to {
        ApplyTo::Queues | ApplyTo::All => true,
        ApplyTo::Exchanges => false,
        ApplyTo::ClassicQueues => kind == QueueType::Classic,
        ApplyTo::QuorumQueues => kind == QueueType::Quorum,
        ApplyTo::Streams => kind == QueueType::Stream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(pattern: &str, priority: i64, def: Value) -> PolicyState {
        PolicyState {
            pattern: pattern.into(),
            apply_to: ApplyTo::Queues,
            priority,
            definition: super::super::canonical_args(def.as_object().into_iter().flatten()),
        }
    }

    fn state() -> State {
        let mut s = State::default();
        let k = |n: &str| EntityKey::new("v", n);
        s.policies.insert(
            k("limits"),
            policy(
                "^q",
                0,
                json!({"max-length": 100, "message-ttl": 5000, "overflow": "reject-publish", "expires": 3600000}),
            ),
        );
        s.operator_policies.insert(
            k("cap"),
            policy(
                "^q",
                0,
                json!({"max-length": 50, "message-ttl": 9000, "overflow": "drop-head"}),
            ),
        );
        s
    }

    fn values(e: &Effective) -> BTreeMap<&str, Value> {
        e.definition
            .iter()
            .map(|(k, v)| (k.as_str(), v.value.clone()))
            .collect()
    }

    #[test]
    fn numeric_keys_take_the_lower_value_and_others_the_operators() {
        let e = effective(
            &state(),
            &EntityKey::new("v", "q1"),
            QueueType::Quorum,
            Line::V4,
        );
        assert_eq!(e.policy.as_deref(), Some("limits"));
        assert_eq!(e.operator_policy.as_deref(), Some("cap"));
        let v = values(&e);
        assert_eq!(v["max-length"], json!(50));
        assert_eq!(v["message-ttl"], json!(5000));
        assert_eq!(v["overflow"], json!("drop-head"));
        assert_eq!(v["expires"], json!(3600000));
        let ml = &e.definition["max-length"];
        assert_eq!(ml.from, Source::OperatorPolicy("cap".into()));
        assert_eq!(
            ml.overridden,
            Some((json!(100), Source::Policy("limits".into())))
        );
        let ttl = &e.definition["message-ttl"];
        assert_eq!(ttl.from, Source::Policy("limits".into()));
        assert_eq!(e.conflicts().count(), 3);
    }

    #[test]
    fn a_policy_with_a_key_the_queue_type_refuses_does_not_apply() {
        let mut s = state();
        s.operator_policies.insert(
            EntityKey::new("v", "dl"),
            policy("^q", 5, json!({"delivery-limit": 3})),
        );
        // A classic queue takes no delivery-limit: `dl` is passed over despite its priority.
        let e = effective(&s, &EntityKey::new("v", "q1"), QueueType::Classic, Line::V3);
        assert_eq!(e.operator_policy.as_deref(), Some("cap"));
        let e = effective(&s, &EntityKey::new("v", "q1"), QueueType::Quorum, Line::V3);
        assert_eq!(e.operator_policy.as_deref(), Some("dl"));
        assert_eq!(values(&e)["max-length"], json!(100));
    }

    #[test]
    fn priority_pattern_vhost_and_apply_to_choose_the_winner() {
        let mut s = state();
        s.operator_policies.insert(
            EntityKey::new("v", "high"),
            policy("^q", 9, json!({"max-length": 10})),
        );
        s.operator_policies.insert(
            EntityKey::new("other", "elsewhere"),
            policy(".*", 99, json!({"max-length": 1})),
        );
        let mut streams_only = policy(".*", 50, json!({"max-length-bytes": 1}));
        streams_only.apply_to = ApplyTo::Streams;
        s.operator_policies
            .insert(EntityKey::new("v", "streams"), streams_only);
        let e = effective(&s, &EntityKey::new("v", "q1"), QueueType::Quorum, Line::V4);
        assert_eq!(e.operator_policy.as_deref(), Some("high"));
        assert_eq!(values(&e)["max-length"], json!(10));
        let e = effective(&s, &EntityKey::new("v", "x"), QueueType::Quorum, Line::V4);
        assert_eq!(e, Effective::default());
    }

    #[test]
    fn the_exchange_winner_follows_priority_apply_to_and_pcre_patterns() {
        let mut s = State::default();
        let mut p = |name: &str, pattern: &str, priority: i64, apply_to: ApplyTo| {
            let mut st = policy(pattern, priority, json!({"alternate-exchange": name}));
            st.apply_to = apply_to;
            s.policies.insert(EntityKey::new("v", name), st);
        };
        p("low", ".*", 0, ApplyTo::All);
        p("queues-only", ".*", 9, ApplyTo::Queues);
        // A lookahead: Erlang's re (PCRE) takes it; the `regex` crate refuses it.
        p("lookahead", "^ev(?=ents)", 5, ApplyTo::Exchanges);
        p("tie-b", "^tie", 3, ApplyTo::Exchanges);
        p("tie-a", "^tie", 3, ApplyTo::Exchanges);
        let m = Matcher::new(&s);
        let win = |name: &str| {
            m.exchange_policy(&EntityKey::new("v", name))
                .map(|(n, _)| n.clone())
        };
        assert_eq!(win("events").as_deref(), Some("lookahead"));
        assert_eq!(win("evil").as_deref(), Some("low"));
        assert_eq!(win("tie").as_deref(), Some("tie-a"));
        assert_eq!(m.exchange_policy(&EntityKey::new("other", "events")), None);
    }

    #[test]
    fn the_same_value_on_both_sides_is_no_conflict() {
        let mut s = state();
        s.operator_policies.insert(
            EntityKey::new("v", "cap"),
            policy("^q", 0, json!({"max-length": 100})),
        );
        let e = effective(&s, &EntityKey::new("v", "q1"), QueueType::Quorum, Line::V4);
        assert_eq!(e.conflicts().count(), 0);
    }
}
