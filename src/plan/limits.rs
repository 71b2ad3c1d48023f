//! Vhost and user limits in a plan: one entity per vhost or user, one field per limit.
//!
//! A limit the file leaves out is not managed; `-1` in the file means "no limit" and plans a
//! removal only where the broker has one; `--prune` removes the limits the file does not
//! name on its own vhosts and users. Each change carries its management API calls, marked
//! as loosening or tightening, so that apply can loosen before it declares queues (a raised
//! `max-queues`) and tighten after (a `max-connections` of 0 must not lock topo out of the
//! vhost it is declaring into).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Change, EntityChange, FieldChange, change_of, field};
use crate::state::Limits;
use crate::state::limits::effective;

/// Whose limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Vhost,
    User,
}

impl Owner {
    /// The management API's collection: `vhost-limits` or `user-limits`.
    pub fn api_path(self) -> &'static str {
        match self {
            Owner::Vhost => "vhost-limits",
            Owner::User => "user-limits",
        }
    }
}

/// One management API call of a limits change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitCall {
    /// `PUT .../{name}` with `{"value": value}`. `tightens`: the broker has no limit there
    /// or a higher one.
    Set {
        name: String,
        value: i64,
        tightens: bool,
    },
    /// `DELETE .../{name}`: no limit afterwards (always loosens).
    Remove(String),
}

impl LimitCall {
    pub fn tightens(&self) -> bool {
        matches!(self, LimitCall::Set { tightens: true, .. })
    }
}

/// The calls that turn one vhost's or user's live limits into the file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitsChange {
    /// The broker has no limit there yet.
    Create(Vec<LimitCall>),
    Update(Vec<LimitCall>),
    /// `--prune`: the file names no limit for this vhost or user.
    Delete(Vec<LimitCall>),
}

impl LimitsChange {
    pub fn calls(&self) -> &[LimitCall] {
        match self {
            LimitsChange::Create(c) | LimitsChange::Update(c) | LimitsChange::Delete(c) => c,
        }
    }
}

/// Creates and updates into `forward`, prune deletes into `deletes`. `prunable`: whether
/// `--prune` covers this vhost or user.
pub(super) fn plan_limits(
    desired: &BTreeMap<String, Limits>,
    live: &BTreeMap<String, Limits>,
    prunable: impl Fn(&str) -> bool,
    entity: impl Fn(String, LimitsChange) -> EntityChange,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) {
    let none = Limits::new();
    for (owner, want) in desired {
        let have = live.get(owner).unwrap_or(&none);
        let (calls, fields) = limit_calls(want, have, prunable(owner));
        if calls.is_empty() {
            continue;
        }
        let change = if have.is_empty() {
            LimitsChange::Create(calls)
        } else {
            LimitsChange::Update(calls)
        };
        forward.push(change_of(entity(owner.clone(), change), fields));
    }
    for (owner, have) in live {
        if desired.contains_key(owner) || have.is_empty() || !prunable(owner) {
            continue;
        }
        let calls = have.keys().cloned().map(LimitCall::Remove).collect();
        deletes.push(change_of(
            entity(owner.clone(), LimitsChange::Delete(calls)),
            Vec::new(),
        ));
    }
}

/// The calls and plan fields for one vhost or user; `prune`: limits the file does not name
/// go too.
fn limit_calls(want: &Limits, have: &Limits, prune: bool) -> (Vec<LimitCall>, Vec<FieldChange>) {
    let mut calls = Vec::new();
    let mut fields = Vec::new();
    for (name, value) in want {
        let old = have.get(name).copied();
        match (effective(Some(*value)), old) {
            (Some(new), old) if old != Some(new) => {
                calls.push(LimitCall::Set {
                    name: name.clone(),
                    value: new,
                    tightens: old.is_none_or(|o| new < o),
                });
                fields.push(field(name, old.map(Value::from), Some(Value::from(new))));
            }
            (None, Some(old)) => {
                calls.push(LimitCall::Remove(name.clone()));
                fields.push(field(name, Some(Value::from(old)), None));
            }
            _ => {}
        }
    }
    if prune {
        for (name, old) in have {
            if !want.contains_key(name) {
                calls.push(LimitCall::Remove(name.clone()));
                fields.push(field(name, Some(Value::from(*old)), None));
            }
        }
    }
    (calls, fields)
}

/// `limits` after `change`, as the broker keeps them (no entry once none is left).
pub(super) fn apply_limits(map: &mut BTreeMap<String, Limits>, owner: &str, change: &LimitsChange) {
    let limits = map.entry(owner.to_string()).or_default();
    for call in change.calls() {
        match call {
            LimitCall::Set { name, value, .. } => {
                limits.insert(name.clone(), *value);
            }
            LimitCall::Remove(name) => {
                limits.remove(name);
            }
        }
    }
    if limits.is_empty() {
        map.remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, Target, plan};
    use crate::state::State;

    fn limits(items: &[(&str, i64)]) -> Limits {
        items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn with_vhost(items: &[(&str, i64)]) -> State {
        let mut s = State::default();
        s.vhosts.insert("v".into(), Default::default());
        s.vhost_limits.insert("v".into(), limits(items));
        s
    }

    fn calls(p: &crate::plan::Plan) -> Vec<LimitCall> {
        p.changes
            .iter()
            .flat_map(|c| match &c.entity {
                EntityChange::VhostLimits(_, l) | EntityChange::UserLimits(_, l) => {
                    l.calls().to_vec()
                }
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn minus_one_against_no_limit_is_no_change() {
        let desired = with_vhost(&[("max-connections", -1)]);
        let live = with_vhost(&[]);
        assert!(plan(&desired, &live, &PlanOptions::default()).is_empty());
    }

    #[test]
    fn minus_one_removes_a_live_limit() {
        let desired = with_vhost(&[("max-connections", -1)]);
        let live = with_vhost(&[("max-connections", 10)]);
        let p = plan(&desired, &live, &PlanOptions::default());
        assert_eq!(calls(&p), vec![LimitCall::Remove("max-connections".into())]);
        assert_eq!(p.changes[0].fields[0].old, Some(Value::from(10)));
        assert_eq!(p.changes[0].fields[0].new, None);
    }

    #[test]
    fn set_and_change_mark_tightening() {
        let desired = with_vhost(&[("max-connections", 5), ("max-queues", 20)]);
        let live = with_vhost(&[("max-connections", 10), ("max-queues", 10)]);
        let p = plan(&desired, &live, &PlanOptions::default());
        assert_eq!(
            calls(&p),
            vec![
                LimitCall::Set {
                    name: "max-connections".into(),
                    value: 5,
                    tightens: true
                },
                LimitCall::Set {
                    name: "max-queues".into(),
                    value: 20,
                    tightens: false
                },
            ]
        );
        assert_eq!(p.changes[0].target(), Target::VhostLimits("v".into()));
    }

    #[test]
    fn unnamed_limits_stay_unless_pruned() {
        let desired = with_vhost(&[("max-connections", 5)]);
        let live = with_vhost(&[("max-connections", 5), ("max-queues", 10)]);
        assert!(plan(&desired, &live, &PlanOptions::default()).is_empty());
        let p = plan(&desired, &live, &PlanOptions { prune: true });
        assert_eq!(calls(&p), vec![LimitCall::Remove("max-queues".into())]);
    }

    #[test]
    fn prune_deletes_limits_of_the_files_users_only() {
        let mut desired = State::default();
        desired.users.insert(
            "mine".into(),
            crate::state::UserState {
                tags: Vec::new(),
                credential: crate::state::Credential::None,
            },
        );
        let mut live = desired.clone();
        live.user_limits
            .insert("mine".into(), limits(&[("max-channels", 3)]));
        live.user_limits
            .insert("theirs".into(), limits(&[("max-channels", 3)]));
        let p = plan(&desired, &live, &PlanOptions { prune: true });
        let targets: Vec<Target> = p.changes.iter().map(|c| c.target()).collect();
        assert_eq!(targets, vec![Target::UserLimits("mine".into())]);
        assert_eq!(p.changes[0].action(), crate::plan::Action::Delete);
        assert!(plan(&desired, &live, &PlanOptions::default()).is_empty());
    }

    #[test]
    fn carried_out_plan_leaves_nothing() {
        let desired = with_vhost(&[("max-connections", -1), ("max-queues", 7)]);
        let live = with_vhost(&[("max-connections", 3), ("max-queues", 9)]);
        let p = plan(&desired, &live, &PlanOptions { prune: true });
        let after = crate::plan::apply_to_state(&p, &live);
        assert_eq!(
            after.vhost_limits.get("v"),
            Some(&limits(&[("max-queues", 7)]))
        );
        assert!(plan(&desired, &after, &PlanOptions { prune: true }).is_empty());
    }
}
