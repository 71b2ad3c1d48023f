//! The planner: what apply would change to turn a live [`State`] into a desired one.
//!
//! `plan` is a pure function of two States (no I/O), so the same code serves `topo plan`
//! against a broker and `topo diff` between two files, and it is property-tested alone.
//! Changes come out in dependency order: creates, updates and replaces (vhosts, users,
//! permissions, policies, exchanges, queues, bindings, topic permissions, vhost limits, user
//! limits), then deletes in the reverse order. Apply follows it, except that limits which
//! loosen go out before the declares (see [`limits`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::state::links::{LinkKey, LinkState};
use crate::state::password;
use crate::state::{
    Args, BindingKey, BindingState, Credential, EntityKey, ExchangeState, PermissionKey,
    PermissionState, PolicyState, QueueState, Secret, State, TopicPermissions, UserState,
    VhostState,
};
use crate::topology::model::{DestinationType, QueueType};
use pairs::{Side, pairs};

/// How to plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Delete what the live broker has and the desired state lacks, within the vhosts the
    /// desired state names (never `amq.*`, the default exchange, server-named queues).
    pub prune: bool,
}

/// What happens to one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    /// Changed in place.
    Update,
    /// Deleted and created again: RabbitMQ cannot change these properties in place.
    Replace,
    Delete,
}

impl Action {
    /// The plan-line marker: `+`, `~`, `-/+`, `-`.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// Which entity a change is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Vhost(String),
    User(String),
    Permission(PermissionKey),
    Policy(EntityKey),
    /// An operator policy (applied with the policies).
    OperatorPolicy(EntityKey),
    Exchange(EntityKey),
    Queue(EntityKey),
    Binding(BindingKey),
    /// One user's topic permissions in one vhost (every exchange's: see
    /// [`crate::state::TopicPermissions`]).
    TopicPermission(PermissionKey),
    /// A shovel or a federation upstream.
    Link(LinkKey),
    /// One vhost's limits.
    VhostLimits(String),
    /// One user's limits.
    UserLimits(String),
}

impl Target {
    /// The kind as JSON plans name it (`vhost`, `user`, `permission`, `policy`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Vhost(_) => "vhost",
            Target::User(_) => "user",
            Target::Permission(_) => "permission",
            Target::Policy(_) => "policy",
            Target::OperatorPolicy(_) => "operator_policy",
            Target::Exchange(_) => "exchange",
            Target::Queue(_) => "queue",
            Target::Binding(_) => "binding",
            Target::TopicPermission(_) => "topic_permission",
            Target::Link(k) => k.component.kind(),
            Target::VhostLimits(_) => "vhost_limits",
            Target::UserLimits(_) => "user_limits",
        }
    }

    /// The vhost the entity lives in; `None` for users (global).
    pub fn vhost(&self) -> Option<&str> {
        match self {
            Target::Vhost(v) => Some(v),
            Target::User(_) => None,
            Target::Permission(k) => Some(&k.vhost),
            Target::Policy(k)
            | Target::OperatorPolicy(k)
            | Target::Exchange(k)
            | Target::Queue(k) => Some(&k.vhost),
            Target::Binding(k) => Some(&k.vhost),
            Target::TopicPermission(k) => Some(&k.vhost),
            Target::Link(k) => Some(&k.vhost),
            Target::VhostLimits(v) => Some(v),
            Target::UserLimits(_) => None,
        }
    }

    /// Position in dependency order (what must exist before what; see [`rank`]).
    pub fn rank(&self) -> u8 {
        match self {
            Target::Vhost(_) => rank::VHOST,
            Target::User(_) => rank::USER,
            Target::Permission(_) => rank::PERMISSION,
            Target::Policy(_) | Target::OperatorPolicy(_) => rank::POLICY,
            Target::Exchange(_) => rank::EXCHANGE,
            Target::Queue(_) => rank::QUEUE,
            Target::Binding(_) => rank::BINDING,
            Target::TopicPermission(_) => rank::TOPIC_PERMISSION,
            Target::Link(_) => rank::LINK,
            Target::VhostLimits(_) => rank::VHOST_LIMITS,
            Target::UserLimits(_) => rank::USER_LIMITS,
        }
    }
}

/// The dependency ranks of [`Target::rank`] and [`EntityChange::rank`], by name: the plan
/// orders changes by them and apply runs its stages by them, so both read them from here.
pub mod rank {
    pub const VHOST: u8 = 0;
    pub const USER: u8 = 1;
    pub const PERMISSION: u8 = 2;
    /// Policies and operator policies.
    pub const POLICY: u8 = 3;
    /// Exchanges, queues and bindings: the AMQP ranks, applied per vhost.
    pub const EXCHANGE: u8 = 4;
    pub const QUEUE: u8 = 5;
    pub const BINDING: u8 = 6;
    pub const TOPIC_PERMISSION: u8 = 7;
    pub const VHOST_LIMITS: u8 = 8;
    pub const USER_LIMITS: u8 = 9;
    /// Shovels and federation upstreams.
    pub const LINK: u8 = 10;
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Vhost(v) => write!(f, "vhost {v}"),
            Target::User(u) => write!(f, "user {u}"),
            Target::Permission(k) => write!(f, "permission {} in vhost {}", k.user, k.vhost),
            Target::Policy(k) => write!(f, "policy {k}"),
            Target::OperatorPolicy(k) => write!(f, "operator policy {k}"),
            Target::Exchange(k) => write!(f, "exchange {k}"),
            Target::Queue(k) => write!(f, "queue {k}"),
            Target::Binding(k) => write!(f, "binding {k}"),
            Target::TopicPermission(k) => {
                write!(f, "topic permissions of {} in vhost {}", k.user, k.vhost)
            }
            Target::Link(k) => write!(f, "{} {k}", k.component.label()),
            Target::VhostLimits(v) => write!(f, "limits of vhost {v}"),
            Target::UserLimits(u) => write!(f, "limits of user {u}"),
        }
    }
}

/// One field that differs. `None` is "not set"; secrets show as `"***"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// One change to one entity: which entity, what happens to it and everything apply needs
/// to carry it out, so that `apply(plan)` reads nothing but the plan. The entity's key and
/// its definition live in one variant and cannot disagree; a new entity kind is a new
/// variant, and every `match` over it fails to compile until the kind is handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub entity: EntityChange,
    /// Field by field: every set field for a create, the differing ones for an update or
    /// replace, none for a delete.
    pub fields: Vec<FieldChange>,
}

/// Which entity, and its change.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityChange {
    Vhost(String, VhostChange),
    User(String, UserChange),
    Permission(PermissionKey, PermissionChange),
    Policy(EntityKey, PolicyChange),
    OperatorPolicy(EntityKey, PolicyChange),
    Exchange(EntityKey, ExchangeChange),
    Queue(EntityKey, QueueChange),
    Binding(BindingKey, BindingChange),
    TopicPermission(PermissionKey, TopicPermissionChange),
    Link(LinkKey, LinkChange),
    VhostLimits(String, LimitsChange),
    UserLimits(String, LimitsChange),
}

/// Vhosts are never deleted: deleting one deletes everything in it, which is not a
/// prune's job. An update carries the file's fields merged over the live ones.
#[derive(Debug, Clone, PartialEq)]
pub enum VhostChange {
    Create(VhostState),
    Update(VhostState),
}

/// Users are global and never deleted (a file rarely names every user of a broker).
#[derive(Debug, Clone, PartialEq)]
pub enum UserChange {
    Create(UserDefinition),
    Update(UserDefinition),
}

/// A user as `PUT /api/users/{name}` replaces it whole: the password always goes with
/// the tags, so a tags-only update never wipes it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserDefinition {
    /// The desired user (what the broker holds afterwards, as the planner sees it).
    pub user: UserState,
    /// What to send as the password, resolved against the live user.
    pub password: UserPassword,
}

/// The password apply sends for a user.
#[derive(Debug, Clone, PartialEq)]
pub enum UserPassword {
    /// Send this hash: the live one when the password is unchanged or not managed, the
    /// file's own hash, or an empty hash (no password) for a new user without one.
    Hash { hash: Secret, algorithm: String },
    /// Hash this password (salted, when applying) and send the hash.
    New(Secret),
}

/// A change to an entity that changes in place: a create or update carries the whole desired
/// entity (the management API's `PUT` replaces it), a delete nothing. Permissions, policies,
/// operator policies and links share it; one shape lets [`diff_map`] build them all.
#[derive(Debug, Clone, PartialEq)]
pub enum InPlaceChange<T> {
    Create(T),
    Update(T),
    Delete,
}

pub type PermissionChange = InPlaceChange<PermissionState>;

/// A user's topic permissions in a vhost, all exchanges at once (the management API
/// deletes them only all at once).
#[derive(Debug, Clone, PartialEq)]
pub enum TopicPermissionChange {
    Create(TopicPermissions),
    /// `topics`: what the user holds afterwards. `clear`: a live exchange's permission goes
    /// (`--prune`), so apply deletes them all first and then sets `topics`. `set`: the
    /// exchanges apply sets, one call each: all of `topics` after a clear, else only those
    /// the file changes (the others already hold their value).
    Update {
        topics: TopicPermissions,
        clear: bool,
        set: TopicPermissions,
    },
    Delete,
}

/// A shovel or federation upstream: `PUT` replaces its value whole, so an update carries
/// the whole desired value.
pub type LinkChange = InPlaceChange<LinkState>;

pub type PolicyChange = InPlaceChange<PolicyState>;

/// Exchanges cannot change in place: a difference is a replace.
#[derive(Debug, Clone, PartialEq)]
pub enum ExchangeChange {
    Create(ExchangeState),
    /// `rebind`: live bindings from or to the exchange that stay; deleting the exchange
    /// drops them, so apply declares them again.
    Replace {
        exchange: ExchangeState,
        rebind: Vec<BindingKey>,
    },
    Delete,
}

/// Queues cannot change in place: a difference is a replace.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueChange {
    Create(QueueDefinition),
    /// `messages`: what the live queue holds (`None`: unknown); `rebind` as for exchanges.
    Replace {
        queue: QueueDefinition,
        messages: Option<u64>,
        rebind: Vec<BindingKey>,
    },
    Delete {
        messages: Option<u64>,
    },
}

/// A queue as apply declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDefinition {
    pub queue: QueueState,
    /// Say `x-queue-type` even for a classic queue: its vhost's default queue type (after
    /// the plan) is not classic, so an implicit type would not be classic.
    pub explicit_type: bool,
}

/// A binding is all identity: its key says everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingChange {
    Create,
    Delete,
}

impl EntityChange {
    pub fn action(&self) -> Action {
        use EntityChange as E;
        match self {
            E::Vhost(_, VhostChange::Create(_))
            | E::User(_, UserChange::Create(_))
            | E::Permission(_, PermissionChange::Create(_))
            | E::Policy(_, PolicyChange::Create(_))
            | E::OperatorPolicy(_, PolicyChange::Create(_))
            | E::Exchange(_, ExchangeChange::Create(_))
            | E::Queue(_, QueueChange::Create(_))
            | E::Binding(_, BindingChange::Create)
            | E::TopicPermission(_, TopicPermissionChange::Create(_))
            | E::Link(_, LinkChange::Create(_)) => Action::Create,
            E::VhostLimits(_, LimitsChange::Create(_))
            | E::UserLimits(_, LimitsChange::Create(_)) => Action::Create,
            E::Vhost(_, VhostChange::Update(_))
            | E::User(_, UserChange::Update(_))
            | E::Permission(_, PermissionChange::Update(_))
            | E::Policy(_, PolicyChange::Update(_))
            | E::OperatorPolicy(_, PolicyChange::Update(_))
            | E::TopicPermission(_, TopicPermissionChange::Update { .. })
            | E::Link(_, LinkChange::Update(_)) => Action::Update,
            E::VhostLimits(_, LimitsChange::Update(_))
            | E::UserLimits(_, LimitsChange::Update(_)) => Action::Update,
            E::Exchange(_, ExchangeChange::Replace { .. })
            | E::Queue(_, QueueChange::Replace { .. }) => Action::Replace,
            E::Permission(_, PermissionChange::Delete)
            | E::Policy(_, PolicyChange::Delete)
            | E::OperatorPolicy(_, PolicyChange::Delete)
            | E::Exchange(_, ExchangeChange::Delete)
            | E::Queue(_, QueueChange::Delete { .. })
            | E::Binding(_, BindingChange::Delete)
            | E::TopicPermission(_, TopicPermissionChange::Delete)
            | E::Link(_, LinkChange::Delete) => Action::Delete,
            E::VhostLimits(_, LimitsChange::Delete(_))
            | E::UserLimits(_, LimitsChange::Delete(_)) => Action::Delete,
        }
    }

    /// The entity, as plans name it.
    pub fn target(&self) -> Target {
        use EntityChange as E;
        match self {
            E::Vhost(n, _) => Target::Vhost(n.clone()),
            E::User(n, _) => Target::User(n.clone()),
            E::Permission(k, _) => Target::Permission(k.clone()),
            E::Policy(k, _) => Target::Policy(k.clone()),
            E::OperatorPolicy(k, _) => Target::OperatorPolicy(k.clone()),
            E::Exchange(k, _) => Target::Exchange(k.clone()),
            E::Queue(k, _) => Target::Queue(k.clone()),
            E::Binding(k, _) => Target::Binding(k.clone()),
            E::TopicPermission(k, _) => Target::TopicPermission(k.clone()),
            E::Link(k, _) => Target::Link(k.clone()),
            E::VhostLimits(v, _) => Target::VhostLimits(v.clone()),
            E::UserLimits(u, _) => Target::UserLimits(u.clone()),
        }
    }

    /// Position in dependency order (as [`Target::rank`], without building the target).
    pub fn rank(&self) -> u8 {
        use EntityChange as E;
        match self {
            E::Vhost(..) => rank::VHOST,
            E::User(..) => rank::USER,
            E::Permission(..) => rank::PERMISSION,
            E::Policy(..) | E::OperatorPolicy(..) => rank::POLICY,
            E::Exchange(..) => rank::EXCHANGE,
            E::Queue(..) => rank::QUEUE,
            E::Binding(..) => rank::BINDING,
            E::TopicPermission(..) => rank::TOPIC_PERMISSION,
            E::Link(..) => rank::LINK,
            E::VhostLimits(..) => rank::VHOST_LIMITS,
            E::UserLimits(..) => rank::USER_LIMITS,
        }
    }

    /// The vhost the entity lives in; `None` for users (global).
    pub fn vhost(&self) -> Option<&str> {
        use EntityChange as E;
        match self {
            E::Vhost(v, _) => Some(v),
            E::User(..) => None,
            E::Permission(k, _) => Some(&k.vhost),
            E::Policy(k, _) | E::OperatorPolicy(k, _) | E::Exchange(k, _) | E::Queue(k, _) => {
                Some(&k.vhost)
            }
            E::Binding(k, _) => Some(&k.vhost),
            E::TopicPermission(k, _) => Some(&k.vhost),
            E::Link(k, _) => Some(&k.vhost),
            E::VhostLimits(v, _) => Some(v),
            E::UserLimits(..) => None,
        }
    }
}

impl Change {
    pub fn action(&self) -> Action {
        self.entity.action()
    }

    pub fn target(&self) -> Target {
        self.entity.target()
    }

    pub fn rank(&self) -> u8 {
        self.entity.rank()
    }

    /// Messages the live queue holds (replaces and deletes of queues; `None` otherwise or
    /// when unknown).
    pub fn messages(&self) -> Option<u64> {
        match &self.entity {
            EntityChange::Queue(_, QueueChange::Replace { messages, .. })
            | EntityChange::Queue(_, QueueChange::Delete { messages }) => *messages,
            EntityChange::Queue(_, QueueChange::Create(_))
            | EntityChange::Vhost(..)
            | EntityChange::User(..)
            | EntityChange::Permission(..)
            | EntityChange::Policy(..)
            | EntityChange::OperatorPolicy(..)
            | EntityChange::Exchange(..)
            | EntityChange::Binding(..)
            | EntityChange::TopicPermission(..)
            | EntityChange::Link(..) => None,
            EntityChange::VhostLimits(..) | EntityChange::UserLimits(..) => None,
        }
    }

    /// The queue a replace or delete empties, if this change is one.
    pub fn emptied_queue(&self) -> Option<&EntityKey> {
        match &self.entity {
            EntityChange::Queue(k, QueueChange::Replace { .. } | QueueChange::Delete { .. }) => {
                Some(k)
            }
            EntityChange::Queue(_, QueueChange::Create(_))
            | EntityChange::Vhost(..)
            | EntityChange::User(..)
            | EntityChange::Permission(..)
            | EntityChange::Policy(..)
            | EntityChange::OperatorPolicy(..)
            | EntityChange::Exchange(..)
            | EntityChange::Binding(..)
            | EntityChange::TopicPermission(..)
            | EntityChange::Link(..) => None,
            EntityChange::VhostLimits(..) | EntityChange::UserLimits(..) => None,
        }
    }

    /// Replaces only: the live bindings apply declares again after the replace.
    pub fn rebind(&self) -> &[BindingKey] {
        match &self.entity {
            EntityChange::Queue(_, QueueChange::Replace { rebind, .. })
            | EntityChange::Exchange(_, ExchangeChange::Replace { rebind, .. }) => rebind,
            EntityChange::Queue(_, QueueChange::Create(_) | QueueChange::Delete { .. })
            | EntityChange::Exchange(_, ExchangeChange::Create(_) | ExchangeChange::Delete)
            | EntityChange::Vhost(..)
            | EntityChange::User(..)
            | EntityChange::Permission(..)
            | EntityChange::Policy(..)
            | EntityChange::OperatorPolicy(..)
            | EntityChange::Binding(..)
            | EntityChange::TopicPermission(..)
            | EntityChange::Link(..) => &[],
            EntityChange::VhostLimits(..) | EntityChange::UserLimits(..) => &[],
        }
    }

    /// Whether carrying this change out may lose messages. An unknown count (`None`)
    /// may: only a count of 0 lets a queue go without `--allow-data-loss`.
    pub fn loses_data(&self) -> bool {
        self.emptied_queue().is_some() && self.messages() != Some(0)
    }
}

impl Change {
    /// The same change with message counts left out (they move with traffic).
    pub fn without_messages(&self) -> Change {
        let mut c = self.clone();
        match &mut c.entity {
            EntityChange::Queue(_, QueueChange::Replace { messages, .. })
            | EntityChange::Queue(_, QueueChange::Delete { messages }) => *messages = None,
            EntityChange::Queue(_, QueueChange::Create(_))
            | EntityChange::Vhost(..)
            | EntityChange::User(..)
            | EntityChange::Permission(..)
            | EntityChange::Policy(..)
            | EntityChange::OperatorPolicy(..)
            | EntityChange::Exchange(..)
            | EntityChange::Binding(..)
            | EntityChange::TopicPermission(..)
            | EntityChange::Link(..) => {}
            EntityChange::VhostLimits(..) | EntityChange::UserLimits(..) => {}
        }
        c
    }
}

#[cfg(test)]
impl Change {
    /// A change of `action` to `target` with plain default definitions, for the tests of
    /// code that reads plans. Panics on a change the planner never makes (a vhost delete).
    pub(crate) fn sample(action: Action, target: Target, fields: Vec<FieldChange>) -> Change {
        use crate::topology::model::{ApplyTo, ExchangeKind};
        use EntityChange as E;
        let exchange = || ExchangeState {
            kind: ExchangeKind::Direct,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: Args::new(),
        };
        let queue = || QueueDefinition {
            queue: QueueState {
                kind: QueueType::Classic,
                durable: true,
                auto_delete: false,
                arguments: Args::new(),
                messages: None,
                members: None,
            },
            explicit_type: false,
        };
        let policy = || PolicyState {
            pattern: ".*".into(),
            apply_to: ApplyTo::All,
            priority: 0,
            definition: Args::new(),
        };
        let entity = match (target, action) {
            (Target::Vhost(n), Action::Create) => {
                E::Vhost(n, VhostChange::Create(Default::default()))
            }
            (Target::Vhost(n), Action::Update) => {
                E::Vhost(n, VhostChange::Update(Default::default()))
            }
            (Target::Policy(k), Action::Create) => E::Policy(k, PolicyChange::Create(policy())),
            (Target::Policy(k), Action::Update) => E::Policy(k, PolicyChange::Update(policy())),
            (Target::Policy(k), Action::Delete) => E::Policy(k, PolicyChange::Delete),
            (Target::Permission(k), Action::Delete) => E::Permission(k, PermissionChange::Delete),
            (Target::TopicPermission(k), Action::Delete) => {
                E::TopicPermission(k, TopicPermissionChange::Delete)
            }
            (Target::Link(k), Action::Delete) => E::Link(k, LinkChange::Delete),
            (Target::Exchange(k), Action::Create) => {
                E::Exchange(k, ExchangeChange::Create(exchange()))
            }
            (Target::Exchange(k), Action::Replace) => E::Exchange(
                k,
                ExchangeChange::Replace {
                    exchange: exchange(),
                    rebind: Vec::new(),
                },
            ),
            (Target::Exchange(k), Action::Delete) => E::Exchange(k, ExchangeChange::Delete),
            (Target::Queue(k), Action::Create) => E::Queue(k, QueueChange::Create(queue())),
            (Target::Queue(k), Action::Replace) => E::Queue(
                k,
                QueueChange::Replace {
                    queue: queue(),
                    messages: None,
                    rebind: Vec::new(),
                },
            ),
            (Target::Queue(k), Action::Delete) => {
                E::Queue(k, QueueChange::Delete { messages: None })
            }
            (Target::Binding(k), Action::Create) => E::Binding(k, BindingChange::Create),
            (Target::Binding(k), Action::Delete) => E::Binding(k, BindingChange::Delete),
            (t, a) => panic!("the planner never makes a {} of {t}", a.as_str()),
        };
        Change { entity, fields }
    }
}

/// The changes, in apply order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
}

/// How many changes of each action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

impl Summary {
    /// Counts of these actions.
    pub fn of(actions: impl IntoIterator<Item = Action>) -> Summary {
        let mut s = Summary::default();
        for a in actions {
            match a {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
            }
        }
        s
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn summary(&self) -> Summary {
        Summary::of(self.changes.iter().map(Change::action))
    }

    /// The replaces (apply refuses them without `--allow-replace`).
    pub fn replaces(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.action() == Action::Replace)
    }

    /// Replaces and deletes of queues that hold messages (apply refuses them without
    /// `--allow-data-loss`).
    pub fn data_loss(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.loses_data())
    }
}

/// The changes that turn `live` into `desired`.
pub fn plan(desired: &State, live: &State, opts: &PlanOptions) -> Plan {
    let scope: BTreeSet<String> = desired.vhost_names();
    let mut forward: Vec<Change> = Vec::new();
    let mut deletes: Vec<Change> = Vec::new();

    plan_vhosts(desired, live, &scope, &mut forward);
    // Users are global: prune never deletes them (a file rarely names every user of a
    // broker, and deleting the operator's own login is unrecoverable).
    for (name, want) in &desired.users {
        let have = live.users.get(name);
        let fields = user_fields(want, have);
        if have.is_some() && fields.is_empty() {
            continue;
        }
        let def = UserDefinition {
            user: want.clone(),
            password: password_to_send(&want.credential, have.map(|h| &h.credential)),
        };
        let change = match have {
            None => UserChange::Create(def),
            Some(_) => UserChange::Update(def),
        };
        forward.push(change_of(EntityChange::User(name.clone(), change), fields));
    }
    diff_map(
        &desired.permissions,
        &live.permissions,
        |k| opts.prune && scope.contains(&k.vhost),
        permission_fields,
        EntityChange::Permission,
        &mut forward,
        &mut deletes,
    );
    diff_map(
        &desired.policies,
        &live.policies,
        |k| opts.prune && scope.contains(&k.vhost),
        policy_fields,
        EntityChange::Policy,
        &mut forward,
        &mut deletes,
    );
    diff_map(
        &desired.operator_policies,
        &live.operator_policies,
        |k| opts.prune && scope.contains(&k.vhost),
        policy_fields,
        EntityChange::OperatorPolicy,
        &mut forward,
        &mut deletes,
    );
    plan_topic_permissions(desired, live, opts, &scope, &mut forward, &mut deletes);
    links::plan_links(desired, live, opts, &scope, &mut forward, &mut deletes);
    limits::plan_limits(
        &desired.vhost_limits,
        &live.vhost_limits,
        |v| opts.prune && scope.contains(v),
        EntityChange::VhostLimits,
        &mut forward,
        &mut deletes,
    );
    // Users are the file's own when it declares them: prune leaves other users' limits.
    limits::plan_limits(
        &desired.user_limits,
        &live.user_limits,
        |u| opts.prune && desired.users.contains_key(u),
        EntityChange::UserLimits,
        &mut forward,
        &mut deletes,
    );
    plan_exchanges(desired, live, opts, &scope, &mut forward, &mut deletes);
    plan_queues(desired, live, opts, &scope, &mut forward, &mut deletes);
    let deleted_bindings = plan_bindings(desired, live, opts, &scope, &mut forward, &mut deletes);
    fill_rebinds(live, &deleted_bindings, &mut forward);

    forward.sort_by(|a, b| {
        a.rank()
            .cmp(&b.rank())
            .then_with(|| a.target().cmp(&b.target()))
    });
    deletes.sort_by(|a, b| {
        b.rank()
            .cmp(&a.rank())
            .then_with(|| a.target().cmp(&b.target()))
    });
    forward.extend(deletes);
    Plan { changes: forward }
}

/// Vhosts: created when missing, updated on the fields the file manages; never deleted
/// (deleting a vhost deletes everything in it: not a prune's job).
fn plan_vhosts(desired: &State, live: &State, scope: &BTreeSet<String>, out: &mut Vec<Change>) {
    for name in scope {
        let want = desired.vhosts.get(name).cloned().unwrap_or_default();
        match live.vhosts.get(name) {
            None => {
                let fields = vhost_fields(&want, None);
                out.push(change_of(
                    EntityChange::Vhost(name.clone(), VhostChange::Create(want)),
                    fields,
                ));
            }
            Some(have) => {
                let fields = vhost_fields(&want, Some(have));
                if !fields.is_empty() {
                    let merged = merge_vhost(&want, have);
                    out.push(change_of(
                        EntityChange::Vhost(name.clone(), VhostChange::Update(merged)),
                        fields,
                    ));
                }
            }
        }
    }
}

/// Topic permissions, per user and vhost. Exchanges the live user has and the file lacks
/// stay, unless `--prune` (then the update clears them all and sets the file's); a user and
/// vhost the file has none for lose them all under `--prune` only.
fn plan_topic_permissions(
    desired: &State,
    live: &State,
    opts: &PlanOptions,
    scope: &BTreeSet<String>,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) {
    for (key, want) in &desired.topic_permissions {
        let pruning = opts.prune && scope.contains(&key.vhost);
        let (change, fields) = match live.topic_permissions.get(key) {
            None => (
                TopicPermissionChange::Create(want.clone()),
                topic_permission_fields(want, None, false),
            ),
            Some(have) => {
                let clear = pruning && have.keys().any(|x| !want.contains_key(x));
                let fields = topic_permission_fields(want, Some(have), clear);
                if fields.is_empty() {
                    continue;
                }
                let (topics, set) = if clear {
                    (want.clone(), want.clone())
                } else {
                    let changed: TopicPermissions = want
                        .iter()
                        .filter(|(x, t)| have.get(*x) != Some(*t))
                        .map(|(x, t)| (x.clone(), t.clone()))
                        .collect();
                    let mut merged = have.clone();
                    merged.extend(changed.iter().map(|(x, t)| (x.clone(), t.clone())));
                    (merged, changed)
                };
                (TopicPermissionChange::Update { topics, clear, set }, fields)
            }
        };
        forward.push(change_of(
            EntityChange::TopicPermission(key.clone(), change),
            fields,
        ));
    }
    for key in live.topic_permissions.keys() {
        if opts.prune && scope.contains(&key.vhost) && !desired.topic_permissions.contains_key(key)
        {
            deletes.push(change_of(
                EntityChange::TopicPermission(key.clone(), TopicPermissionChange::Delete),
                Vec::new(),
            ));
        }
    }
}

fn plan_exchanges(
    desired: &State,
    live: &State,
    opts: &PlanOptions,
    scope: &BTreeSet<String>,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) {
    for (key, side) in pairs(&desired.exchanges, &live.exchanges) {
        let change = match side {
            Side::Desired(want) => (ExchangeChange::Create(want.clone()), want, None),
            Side::Both(want, have) if have != want => (
                ExchangeChange::Replace {
                    exchange: want.clone(),
                    rebind: Vec::new(),
                },
                want,
                Some(have),
            ),
            Side::Both(..) => continue,
            Side::Live(have) => {
                if prunable_exchange(opts, scope, key) && !plugin_internal(&have.arguments) {
                    deletes.push(change_of(
                        EntityChange::Exchange(key.clone(), ExchangeChange::Delete),
                        Vec::new(),
                    ));
                }
                continue;
            }
        };
        let fields = exchange_fields(change.1, change.2);
        forward.push(change_of(
            EntityChange::Exchange(key.clone(), change.0),
            fields,
        ));
    }
}

fn plan_queues(
    desired: &State,
    live: &State,
    opts: &PlanOptions,
    scope: &BTreeSet<String>,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) {
    // Only a change clones the desired queue: a no-op plan compares and moves on.
    let definition = |key: &EntityKey, want: &QueueState| QueueDefinition {
        queue: want.clone(),
        explicit_type: default_queue_type_after(desired, live, &key.vhost)
            .is_some_and(|t| t != QueueType::Classic),
    };
    for (key, side) in pairs(&desired.queues, &live.queues) {
        let (change, want, have) = match side {
            Side::Desired(want) => (QueueChange::Create(definition(key, want)), want, None),
            Side::Both(want, have) if !have.same_definition(want) => (
                QueueChange::Replace {
                    queue: definition(key, want),
                    messages: have.messages,
                    rebind: Vec::new(),
                },
                want,
                Some(have),
            ),
            Side::Both(..) => continue,
            Side::Live(have) => {
                if prunable_queue(opts, scope, key) && !plugin_internal(&have.arguments) {
                    deletes.push(change_of(
                        EntityChange::Queue(
                            key.clone(),
                            QueueChange::Delete {
                                messages: have.messages,
                            },
                        ),
                        Vec::new(),
                    ));
                }
                continue;
            }
        };
        let fields = queue_fields(want, have);
        forward.push(change_of(EntityChange::Queue(key.clone(), change), fields));
    }
}

/// A vhost's default queue type once the plan has been carried out: the file's when it
/// manages it, else the live one.
fn default_queue_type_after(desired: &State, live: &State, vhost: &str) -> Option<QueueType> {
    desired
        .vhosts
        .get(vhost)
        .and_then(|v| v.default_queue_type)
        .or_else(|| live.vhosts.get(vhost).and_then(|v| v.default_queue_type))
}

/// Binding creates and deletes; returns the deleted ones (they are not re-bound).
fn plan_bindings<'a>(
    desired: &'a State,
    live: &'a State,
    opts: &PlanOptions,
    scope: &BTreeSet<String>,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) -> BTreeSet<&'a BindingKey> {
    let mut deleted: BTreeSet<&BindingKey> = BTreeSet::new();
    for (key, side) in pairs(&desired.bindings, &live.bindings) {
        match side {
            Side::Desired(_) => forward.push(change_of(
                EntityChange::Binding(key.clone(), BindingChange::Create),
                Vec::new(),
            )),
            Side::Live(_) if prunable_binding(opts, scope, desired, live, key) => {
                deleted.insert(key);
                deletes.push(change_of(
                    EntityChange::Binding(key.clone(), BindingChange::Delete),
                    Vec::new(),
                ));
            }
            Side::Live(_) | Side::Both(..) => {}
        }
    }
    deleted
}

/// A replaced entity loses its bindings with it: declare again the ones that stay.
/// Indexed once by source and destination, so N replaces cost N lookups, not N scans.
fn fill_rebinds(live: &State, deleted: &BTreeSet<&BindingKey>, forward: &mut [Change]) {
    if !forward.iter().any(|c| c.action() == Action::Replace) {
        return;
    }
    type Ends<'a> = HashMap<(&'a str, DestinationType, &'a str), Vec<&'a BindingKey>>;
    let mut by_source: HashMap<(&str, &str), Vec<&BindingKey>> = HashMap::new();
    let mut by_destination: Ends = HashMap::new();
    for b in live.bindings.keys().filter(|b| !deleted.contains(b)) {
        by_source.entry((&b.vhost, &b.source)).or_default().push(b);
        by_destination
            .entry((&b.vhost, b.destination_type, &b.destination))
            .or_default()
            .push(b);
    }
    let none = Vec::new();
    let to = |k: &EntityKey, t: DestinationType| -> Vec<&BindingKey> {
        by_destination
            .get(&(k.vhost.as_str(), t, k.name.as_str()))
            .unwrap_or(&none)
            .clone()
    };
    let sorted = |mut v: Vec<&BindingKey>| -> Vec<BindingKey> {
        v.sort();
        v.dedup();
        v.into_iter().cloned().collect()
    };
    for change in forward.iter_mut() {
        match &mut change.entity {
            EntityChange::Queue(k, QueueChange::Replace { rebind, .. }) => {
                *rebind = sorted(to(k, DestinationType::Queue));
            }
            EntityChange::Exchange(k, ExchangeChange::Replace { rebind, .. }) => {
                let mut v = by_source
                    .get(&(k.vhost.as_str(), k.name.as_str()))
                    .unwrap_or(&none)
                    .clone();
                v.extend(to(k, DestinationType::Exchange));
                *rebind = sorted(v);
            }
            // Nothing else drops bindings.
            EntityChange::Queue(_, QueueChange::Create(_) | QueueChange::Delete { .. })
            | EntityChange::Exchange(_, ExchangeChange::Create(_) | ExchangeChange::Delete)
            | EntityChange::Vhost(..)
            | EntityChange::User(..)
            | EntityChange::Permission(..)
            | EntityChange::Policy(..)
            | EntityChange::OperatorPolicy(..)
            | EntityChange::Binding(..)
            | EntityChange::TopicPermission(..)
            | EntityChange::Link(..) => {}
            EntityChange::VhostLimits(..) | EntityChange::UserLimits(..) => {}
        }
    }
}

/// The password to send for a user, resolved against the live one: an unchanged password
/// keeps the stored hash (no needless rehash), an unmanaged one keeps whatever is there.
fn password_to_send(want: &Credential, have: Option<&Credential>) -> UserPassword {
    let keep = |hash: &Secret, algorithm: &Option<String>| UserPassword::Hash {
        hash: hash.clone(),
        algorithm: algorithm.clone().unwrap_or_else(|| password::SHA256.into()),
    };
    match (want, have) {
        (
            Credential::Env {
                value: Some(pw), ..
            },
            Some(Credential::Hash { hash, algorithm }),
        ) if password::matches(hash.expose(), algorithm.as_deref(), pw.expose()) => {
            keep(hash, algorithm)
        }
        (
            Credential::Env {
                value: Some(pw), ..
            },
            _,
        ) => UserPassword::New(pw.clone()),
        (Credential::Hash { hash, algorithm }, _) => keep(hash, algorithm),
        (
            Credential::Env { value: None, .. } | Credential::None,
            Some(Credential::Hash { hash, algorithm }),
        ) => keep(hash, algorithm),
        (
            Credential::Env { value: None, .. } | Credential::None,
            None | Some(Credential::None | Credential::Env { .. }),
        ) => UserPassword::Hash {
            hash: Secret::new(""),
            algorithm: password::SHA256.into(),
        },
    }
}

/// The state `live` becomes when `plan` is carried out: the planner's own model of apply,
/// used to check that plan and apply agree (`plan(a, apply_to_state(plan(a, b), b))` is
/// empty). It models what the broker does, not only what apply asks: deleting a queue or
/// an exchange drops every binding from or to it, and apply's rebinds are declared after
/// the replaces, as apply's bindings stage does.
pub fn apply_to_state(plan: &Plan, live: &State) -> State {
    let mut s = live.clone();
    let mut rebinds: Vec<&BindingKey> = Vec::new();
    for c in plan.changes.iter().filter(|c| c.action() != Action::Delete) {
        apply_change(&mut s, c);
        rebinds.extend(c.rebind());
    }
    for b in rebinds {
        s.bindings.insert(b.clone(), BindingState {});
    }
    for c in plan.changes.iter().filter(|c| c.action() == Action::Delete) {
        apply_change(&mut s, c);
    }
    s
}

/// One change, as the broker takes it.
fn apply_change(s: &mut State, c: &Change) {
    use EntityChange as E;
    match &c.entity {
        E::Vhost(n, VhostChange::Create(d) | VhostChange::Update(d)) => {
            s.vhosts.insert(n.clone(), d.clone());
        }
        E::User(n, UserChange::Create(d) | UserChange::Update(d)) => {
            s.users.insert(n.clone(), d.user.clone());
        }
        E::Permission(k, PermissionChange::Create(d) | PermissionChange::Update(d)) => {
            s.permissions.insert(k.clone(), d.clone());
        }
        E::Permission(k, PermissionChange::Delete) => {
            s.permissions.remove(k);
        }
        E::Policy(k, PolicyChange::Create(d) | PolicyChange::Update(d)) => {
            s.policies.insert(k.clone(), d.clone());
        }
        E::Policy(k, PolicyChange::Delete) => {
            s.policies.remove(k);
        }
        E::OperatorPolicy(k, PolicyChange::Create(d) | PolicyChange::Update(d)) => {
            s.operator_policies.insert(k.clone(), d.clone());
        }
        E::OperatorPolicy(k, PolicyChange::Delete) => {
            s.operator_policies.remove(k);
        }
        E::Exchange(k, ExchangeChange::Create(d)) => {
            s.exchanges.insert(k.clone(), d.clone());
        }
        E::Exchange(k, ExchangeChange::Replace { exchange, .. }) => {
            drop_exchange(s, k);
            s.exchanges.insert(k.clone(), exchange.clone());
        }
        E::Exchange(k, ExchangeChange::Delete) => drop_exchange(s, k),
        E::Queue(k, QueueChange::Create(d)) => {
            s.queues.insert(k.clone(), d.queue.clone());
        }
        E::Queue(k, QueueChange::Replace { queue, .. }) => {
            drop_queue(s, k);
            let mut q = queue.queue.clone();
            q.messages = Some(0);
            s.queues.insert(k.clone(), q);
        }
        E::Queue(k, QueueChange::Delete { .. }) => drop_queue(s, k),
        E::Binding(k, BindingChange::Create) => {
            s.bindings.insert(k.clone(), BindingState {});
        }
        E::Binding(k, BindingChange::Delete) => {
            s.bindings.remove(k);
        }
        E::TopicPermission(
            k,
            TopicPermissionChange::Create(topics) | TopicPermissionChange::Update { topics, .. },
        ) => {
            s.topic_permissions.insert(k.clone(), topics.clone());
        }
        E::TopicPermission(k, TopicPermissionChange::Delete) => {
            s.topic_permissions.remove(k);
        }
        E::Link(k, LinkChange::Create(l) | LinkChange::Update(l)) => {
            s.links.insert(k.clone(), l.clone());
        }
        E::Link(k, LinkChange::Delete) => {
            s.links.remove(k);
        }
        E::VhostLimits(v, l) => limits::apply_limits(&mut s.vhost_limits, v, l),
        E::UserLimits(u, l) => limits::apply_limits(&mut s.user_limits, u, l),
    }
}

/// Delete an exchange as the broker does: with every binding from or to it.
fn drop_exchange(s: &mut State, k: &EntityKey) {
    s.exchanges.remove(k);
    s.bindings.retain(|b, _| {
        b.vhost != k.vhost
            || (b.source != k.name
                && !(b.destination_type == DestinationType::Exchange && b.destination == k.name))
    });
}

/// Delete a queue as the broker does: with every binding to it.
fn drop_queue(s: &mut State, k: &EntityKey) {
    s.queues.remove(k);
    s.bindings.retain(|b, _| {
        b.vhost != k.vhost
            || !(b.destination_type == DestinationType::Queue && b.destination == k.name)
    });
}

// ---- prune scope -------------------------------------------------------------------

/// An exchange or queue a plugin declared for its own use: federation's upstream exchange
/// and queue carry `x-internal-purpose: federation`. The plugin re-creates them from a
/// federation policy, so pruning them would only break the link until it does.
fn plugin_internal(arguments: &Args) -> bool {
    arguments.contains_key("x-internal-purpose")
}

fn prunable_exchange(opts: &PlanOptions, scope: &BTreeSet<String>, key: &EntityKey) -> bool {
    opts.prune
        && scope.contains(&key.vhost)
        && !key.name.is_empty()
        && !key.name.starts_with("amq.")
}

fn prunable_queue(opts: &PlanOptions, scope: &BTreeSet<String>, key: &EntityKey) -> bool {
    // Exclusive queues never reach a live State (the definitions export leaves them out);
    // `amq.` names are server-named or reserved.
    opts.prune && scope.contains(&key.vhost) && !key.name.starts_with("amq.")
}

fn prunable_binding(
    opts: &PlanOptions,
    scope: &BTreeSet<String>,
    desired: &State,
    live: &State,
    key: &BindingKey,
) -> bool {
    if !opts.prune || !scope.contains(&key.vhost) || key.source.is_empty() {
        return false;
    }
    // Bindings to or from a plugin's own entities are the plugin's (see `plugin_internal`).
    let internal_exchange = |name: &str| {
        live.exchanges
            .get(&EntityKey::new(key.vhost.clone(), name))
            .is_some_and(|x| plugin_internal(&x.arguments))
    };
    let internal = internal_exchange(&key.source)
        || match key.destination_type {
            DestinationType::Exchange => internal_exchange(&key.destination),
            DestinationType::Queue => live
                .queues
                .get(&EntityKey::new(key.vhost.clone(), key.destination.clone()))
                .is_some_and(|q| plugin_internal(&q.arguments)),
        };
    if internal {
        return false;
    }
    // Bindings to queues a client owns (exclusive, server-named: neither live nor desired
    // knows them) are the client's.
    match key.destination_type {
        DestinationType::Queue => {
            let queue = EntityKey::new(key.vhost.clone(), key.destination.clone());
            !key.destination.starts_with("amq.")
                && (live.queues.contains_key(&queue) || desired.queues.contains_key(&queue))
        }
        DestinationType::Exchange => true,
    }
}

// ---- constructors ------------------------------------------------------------------

fn change_of(entity: EntityChange, fields: Vec<FieldChange>) -> Change {
    Change { entity, fields }
}

/// Creates, updates and deletes of a map whose entities change in place.
fn diff_map<K: Ord + Clone, V: Clone>(
    desired: &BTreeMap<K, V>,
    live: &BTreeMap<K, V>,
    prunable: impl Fn(&K) -> bool,
    fields: impl Fn(&V, Option<&V>) -> Vec<FieldChange>,
    entity: impl Fn(K, InPlaceChange<V>) -> EntityChange,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) {
    for (k, side) in pairs(desired, live) {
        match side {
            Side::Desired(want) => {
                let create = InPlaceChange::Create(want.clone());
                forward.push(change_of(entity(k.clone(), create), fields(want, None)));
            }
            Side::Both(want, have) => {
                let d = fields(want, Some(have));
                if !d.is_empty() {
                    let update = InPlaceChange::Update(want.clone());
                    forward.push(change_of(entity(k.clone(), update), d));
                }
            }
            Side::Live(_) if prunable(k) => deletes.push(change_of(
                entity(k.clone(), InPlaceChange::Delete),
                Vec::new(),
            )),
            Side::Live(_) => {}
        }
    }
}

// ---- fields ------------------------------------------------------------------------

fn field(name: &str, old: Option<Value>, new: Option<Value>) -> FieldChange {
    FieldChange {
        field: name.to_string(),
        old,
        new,
    }
}

/// `old -> new` for one scalar field when it differs; with no live entity (a create),
/// every field shows, from nothing.
fn cmp<T: PartialEq + Serialize>(out: &mut Vec<FieldChange>, name: &str, new: &T, old: Option<&T>) {
    if old != Some(new) {
        out.push(field(name, old.and_then(to_value), to_value(new)));
    }
}

/// Like [`cmp`] for a field the file may leave unmanaged (`None`): only a set field counts.
fn cmp_managed<T: PartialEq + Serialize>(
    out: &mut Vec<FieldChange>,
    name: &str,
    new: &Option<T>,
    old: Option<&Option<T>>,
) {
    if new.is_some() {
        cmp(out, name, new, old);
    }
}

fn to_value<T: Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok()
}

/// One `prefix.key` field per argument that differs (every argument for a create).
fn args_diff(out: &mut Vec<FieldChange>, prefix: &str, new: &Args, old: Option<&Args>) {
    let none = Args::new();
    let old = old.unwrap_or(&none);
    let keys: BTreeSet<&String> = new.keys().chain(old.keys()).collect();
    for k in keys {
        let (n, o) = (new.get(k), old.get(k));
        if n != o {
            out.push(field(&format!("{prefix}.{k}"), o.cloned(), n.cloned()));
        }
    }
}

/// Only the fields the file manages (`Some`) count.
fn vhost_fields(want: &VhostState, have: Option<&VhostState>) -> Vec<FieldChange> {
    // Every field, so that a new one does not compile until it is compared (or said not to
    // be); the same in each of these.
    let VhostState {
        description: _,
        default_queue_type: _,
        tags: _,
    } = want;
    let mut out = Vec::new();
    cmp_managed(
        &mut out,
        "description",
        &want.description,
        have.map(|h| &h.description),
    );
    cmp_managed(
        &mut out,
        "default_queue_type",
        &want.default_queue_type,
        have.map(|h| &h.default_queue_type),
    );
    cmp_managed(&mut out, "tags", &want.tags, have.map(|h| &h.tags));
    out
}

fn merge_vhost(want: &VhostState, have: &VhostState) -> VhostState {
    VhostState {
        description: want
            .description
            .clone()
            .or_else(|| have.description.clone()),
        default_queue_type: want.default_queue_type.or(have.default_queue_type),
        tags: want.tags.clone().or_else(|| have.tags.clone()),
    }
}

/// How a credential shows in a plan: never the secret, only where it comes from.
fn credential_shown(c: &Credential) -> Option<Value> {
    match c {
        Credential::None => None,
        Credential::Env { var, .. } => Some(Value::from(format!("*** (from ${var})"))),
        Credential::Hash { .. } => Some(Value::from("*** (hash)")),
    }
}

fn user_fields(want: &UserState, have: Option<&UserState>) -> Vec<FieldChange> {
    let UserState {
        tags: _,
        credential: _,
    } = want;
    let mut out = Vec::new();
    cmp(&mut out, "tags", &want.tags, have.map(|h| &h.tags));
    let password_changes = match have {
        None => credential_shown(&want.credential).is_some(),
        Some(h) => !credential_unchanged(&want.credential, &h.credential),
    };
    if password_changes {
        out.push(field(
            "password",
            have.and_then(|h| credential_shown(&h.credential)),
            credential_shown(&want.credential),
        ));
    }
    out
}

/// Whether the live credential already satisfies the desired one. Desired `None` and an
/// env variable with no value (offline) are not managed, so they never differ.
pub fn credential_unchanged(want: &Credential, have: &Credential) -> bool {
    match (want, have) {
        (Credential::None, _) => true,
        (Credential::Env { value: None, .. }, _) => true,
        (
            Credential::Env {
                value: Some(pw), ..
            },
            Credential::Hash { hash, algorithm },
        ) => password::matches(hash.expose(), algorithm.as_deref(), pw.expose()),
        (Credential::Env { value: Some(a), .. }, Credential::Env { value: Some(b), .. }) => a == b,
        (Credential::Hash { hash: a, .. }, Credential::Hash { hash: b, .. }) => a == b,
        _ => false,
    }
}

fn permission_fields(want: &PermissionState, have: Option<&PermissionState>) -> Vec<FieldChange> {
    let PermissionState {
        configure: _,
        write: _,
        read: _,
    } = want;
    let mut out = Vec::new();
    cmp(
        &mut out,
        "configure",
        &want.configure,
        have.map(|h| &h.configure),
    );
    cmp(&mut out, "write", &want.write, have.map(|h| &h.write));
    cmp(&mut out, "read", &want.read, have.map(|h| &h.read));
    out
}

/// `EXCHANGE.write` and `EXCHANGE.read` per exchange that differs; with `clear`, the live
/// exchanges the file lacks show as going.
fn topic_permission_fields(
    want: &TopicPermissions,
    have: Option<&TopicPermissions>,
    clear: bool,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for (x, t) in want {
        let h = have.and_then(|h| h.get(x));
        cmp(
            &mut out,
            &format!("{x}.write"),
            &t.write,
            h.map(|h| &h.write),
        );
        cmp(&mut out, &format!("{x}.read"), &t.read, h.map(|h| &h.read));
    }
    if clear {
        for (x, t) in have.into_iter().flatten() {
            if !want.contains_key(x) {
                out.push(field(&format!("{x}.write"), to_value(&t.write), None));
                out.push(field(&format!("{x}.read"), to_value(&t.read), None));
            }
        }
    }
    out
}

fn policy_fields(want: &PolicyState, have: Option<&PolicyState>) -> Vec<FieldChange> {
    let PolicyState {
        pattern: _,
        apply_to: _,
        priority: _,
        definition: _,
    } = want;
    let mut out = Vec::new();
    cmp(&mut out, "pattern", &want.pattern, have.map(|h| &h.pattern));
    cmp(
        &mut out,
        "apply_to",
        &want.apply_to,
        have.map(|h| &h.apply_to),
    );
    cmp(
        &mut out,
        "priority",
        &want.priority,
        have.map(|h| &h.priority),
    );
    args_diff(
        &mut out,
        "definition",
        &want.definition,
        have.map(|h| &h.definition),
    );
    out
}

fn exchange_fields(want: &ExchangeState, have: Option<&ExchangeState>) -> Vec<FieldChange> {
    let ExchangeState {
        kind: _,
        durable: _,
        auto_delete: _,
        internal: _,
        arguments: _,
    } = want;
    let mut out = Vec::new();
    cmp(&mut out, "type", &want.kind, have.map(|h| &h.kind));
    cmp(&mut out, "durable", &want.durable, have.map(|h| &h.durable));
    cmp(
        &mut out,
        "auto_delete",
        &want.auto_delete,
        have.map(|h| &h.auto_delete),
    );
    cmp(
        &mut out,
        "internal",
        &want.internal,
        have.map(|h| &h.internal),
    );
    args_diff(
        &mut out,
        "arguments",
        &want.arguments,
        have.map(|h| &h.arguments),
    );
    out
}

fn queue_fields(want: &QueueState, have: Option<&QueueState>) -> Vec<FieldChange> {
    let QueueState {
        kind: _,
        durable: _,
        auto_delete: _,
        arguments: _,
        // Live facts, not part of the definition: a count and the broker's placement.
        messages: _,
        members: _,
    } = want;
    let mut out = Vec::new();
    cmp(&mut out, "type", &want.kind, have.map(|h| &h.kind));
    cmp(&mut out, "durable", &want.durable, have.map(|h| &h.durable));
    cmp(
        &mut out,
        "auto_delete",
        &want.auto_delete,
        have.map(|h| &h.auto_delete),
    );
    args_diff(
        &mut out,
        "arguments",
        &want.arguments,
        have.map(|h| &h.arguments),
    );
    out
}

pub mod limits;
mod links;
mod pairs;
pub mod policies;
pub mod quorum;

pub use limits::{LimitCall, LimitsChange};

#[cfg(test)]
mod tests;
