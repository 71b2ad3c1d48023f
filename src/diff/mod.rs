//! `topo diff`: the semantic difference between two topologies, in the change vocabulary of
//! `topo plan` (`+ create`, `~ update`, `-/+ replace`, `- delete`).
//!
//! Broker entities go through the planner itself: the diff is `plan(new, old)` with
//! pruning, exactly what `topo apply --prune` of the new file would do to a broker that
//! matches the old one. Both sides are normalized to [`State`] first, so list order,
//! `routing_keys` shorthand and named queue fields versus raw `x-` arguments never show
//! as changes. Services and transports, which the broker never sees, are compared here
//! by name and by endpoints, and reported in the same shape.

pub mod apps;
pub mod git;
pub mod render;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::plan::{self, Action, FieldChange, Plan, PlanOptions, Target};
use crate::state::State;
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    Service,
    Transport,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Service => "service",
            AppKind::Transport => "transport",
        }
    }
}

/// A change to a service or transport.
#[derive(Debug, Clone, PartialEq)]
pub struct AppChange {
    pub action: Action,
    pub kind: AppKind,
    /// `api-gateway`, or `api-gateway -> python-service (rmq via python-service-queue)`.
    pub name: String,
    /// For transports: (from, to, kind, queue).
    pub transport: Option<apps::TransportKey>,
    pub fields: Vec<FieldChange>,
}

/// The whole difference between two topologies.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diff {
    /// Broker entities, as the planner sees them.
    pub plan: Plan,
    /// Services and transports.
    pub apps: Vec<AppChange>,
    /// What the old file managed and the new one does not, that `apply --prune` leaves on
    /// the broker (users, and vhosts the new file no longer names).
    pub unmanaged: Vec<String>,
}

/// Counts per action, and how many need approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub actions: crate::plan::Summary,
    /// Deletes and replaces.
    pub destructive: usize,
}

/// Whether a change needs approval: every delete, every replace (a replaced queue loses
/// the messages it holds; a replaced exchange drops its bindings for a moment).
pub fn is_destructive(action: Action) -> bool {
    matches!(action, Action::Delete | Action::Replace)
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.plan.is_empty() && self.apps.is_empty() && self.unmanaged.is_empty()
    }

    pub fn has_destructive(&self) -> bool {
        self.summary().destructive > 0
    }

    fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.plan
            .changes
            .iter()
            .map(|c| c.action())
            .chain(self.apps.iter().map(|c| c.action))
    }

    pub fn summary(&self) -> Summary {
        let actions = crate::plan::Summary::of(self.actions());
        Summary {
            // What `is_destructive` says: deletes and replaces.
            destructive: actions.replace + actions.delete,
            actions,
        }
    }

    /// Node ids (see [`crate::graph::node_id`]) of the queues and exchanges replaced.
    pub fn replaced_ids(&self) -> BTreeSet<String> {
        use crate::graph::{NodeKind, node_id};
        self.plan
            .replaces()
            .filter_map(|c| match &c.target() {
                Target::Queue(k) => Some(node_id(NodeKind::Queue, Some(&k.vhost), &k.name)),
                Target::Exchange(k) => Some(node_id(NodeKind::Exchange, Some(&k.vhost), &k.name)),
                _ => None,
            })
            .collect()
    }
}

/// The normalized state of a file for diffing. A user's password is known offline only by
/// the variable that holds it, so the variable's *name* stands in for its value: a new
/// variable name is a change, and no secret is ever read.
pub fn diff_state(topo: &Topology) -> State {
    State::from_topology(topo, &|var| Some(var.to_string()))
}

/// The difference from `old` to `new` (pure: no I/O).
pub fn diff(old: &Topology, new: &Topology) -> Diff {
    let mut old_state = diff_state(old);
    let new_state = diff_state(new);
    // A broker that matches the old file has every vhost that file uses, listed or not.
    for v in old_state.vhost_names() {
        old_state.vhosts.entry(v).or_default();
    }
    // A file holds no messages: its queues' counts are `None`, so the plan shows none.
    let plan = plan::plan(&new_state, &old_state, &PlanOptions { prune: true });

    let mut unmanaged = Vec::new();
    for user in old_state.users.keys() {
        if !new_state.users.contains_key(user) {
            unmanaged.push(format!("user {user}"));
        }
    }
    let new_vhosts = new_state.vhost_names();
    for v in old_state.vhost_names() {
        if new_vhosts.contains(&v) {
            continue;
        }
        let count = |n: usize, what: &str| match n {
            0 => None,
            1 => Some(format!("1 {what}")),
            n if what == "policy" => Some(format!("{n} policies")),
            n => Some(format!("{n} {what}s")),
        };
        let parts: Vec<String> = [
            count(
                old_state.exchanges.keys().filter(|k| k.vhost == v).count(),
                "exchange",
            ),
            count(
                old_state.queues.keys().filter(|k| k.vhost == v).count(),
                "queue",
            ),
            count(
                old_state.bindings.keys().filter(|k| k.vhost == v).count(),
                "binding",
            ),
            count(
                old_state.policies.keys().filter(|k| k.vhost == v).count(),
                "policy",
            ),
            count(
                old_state
                    .permissions
                    .keys()
                    .filter(|k| k.vhost == v)
                    .count(),
                "permission",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            unmanaged.push(format!("vhost {v}"));
        } else {
            unmanaged.push(format!("vhost {v} and its {}", parts.join(", ")));
        }
    }

    Diff {
        plan,
        apps: apps::diff_apps(old, new),
        unmanaged,
    }
}
