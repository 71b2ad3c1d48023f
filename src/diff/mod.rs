//! `topo diff`: the semantic difference between two topologies, in the change vocabulary of
//! `topo plan` (`+ create`, `~ update`, `-/+ replace`, `- delete`).
//!
//! Both sides are normalized to [`State`] first, so list order, `routing_keys` shorthand
//! and named queue fields versus raw `x-` arguments never show as changes. Broker entities
//! are compared as apply would converge the old state to the new one with `--prune`
//! (removals are deletes); services and transports, which the broker never sees, are
//! compared here by name and by endpoints.

pub mod apps;
pub mod entities;
pub mod git;
pub mod render;

use serde::Serialize;
use serde_json::Value;

use crate::state::State;
use crate::topology::Topology;

/// What a change does, with the sign plan and diff print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// One field that differs; `old`/`new` are `None` where the side does not set it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    pub field: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The kinds of things a diff covers, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Vhost,
    Exchange,
    Queue,
    Binding,
    Policy,
    User,
    Permission,
    Service,
    Transport,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vhost => "vhost",
            Kind::Exchange => "exchange",
            Kind::Queue => "queue",
            Kind::Binding => "binding",
            Kind::Policy => "policy",
            Kind::User => "user",
            Kind::Permission => "permission",
            Kind::Service => "service",
            Kind::Transport => "transport",
        }
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub action: Action,
    pub kind: Kind,
    /// The vhost of broker entities (`None` for vhosts themselves, users, services and
    /// transports).
    pub vhost: Option<String>,
    /// The entity as people name it: `orders.audit`, `orders -> orders.audit [order.#]`.
    pub name: String,
    /// Needs approval: every delete, every replace (a replaced queue loses its messages).
    pub destructive: bool,
    /// Why, for replaces: the immutable fields that changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub details: Vec<Detail>,
}

impl Change {
    pub fn new(action: Action, kind: Kind, vhost: Option<&str>, name: impl Into<String>) -> Change {
        Change {
            action,
            kind,
            vhost: vhost.map(str::to_string),
            name: name.into(),
            destructive: matches!(action, Action::Delete | Action::Replace),
            reason: None,
            details: Vec::new(),
        }
    }
}

/// The whole difference between two topologies.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diff {
    pub changes: Vec<Change>,
}

/// Counts per action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub destructive: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn has_destructive(&self) -> bool {
        self.changes.iter().any(|c| c.destructive)
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
            }
            if c.destructive {
                s.destructive += 1;
            }
        }
        s
    }
}

/// The difference from `old` to `new` (pure: no I/O). Passwords compare by the name of
/// the variable that holds them, never by value.
pub fn diff(old: &Topology, new: &Topology) -> Diff {
    let old_state = State::from_topology(old, &|_| None);
    let new_state = State::from_topology(new, &|_| None);
    let mut changes = entities::diff_states(&old_state, &new_state);
    changes.extend(apps::diff_apps(old, new));
    Diff { changes }
}
