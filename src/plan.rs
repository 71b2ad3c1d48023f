//! The planner: what apply would change to turn a live [`State`] into a desired one.
//!
//! `plan` is a pure function of two States (no I/O), so the same code serves `topo plan`
//! against a broker and `topo diff` between two files, and it is property-tested alone.
//! Changes come out in apply order: creates, updates and replaces in dependency order
//! (vhosts, users, permissions, policies, exchanges, queues, bindings), then deletes in
//! the reverse order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::state::password;
use crate::state::{
    Args, BindingKey, BindingState, Credential, EntityKey, ExchangeState, PermissionKey,
    PermissionState, PolicyState, QueueState, State, UserState, VhostState,
};
use crate::topology::model::DestinationType;

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
    Exchange(EntityKey),
    Queue(EntityKey),
    Binding(BindingKey),
}

impl Target {
    /// `vhost`, `user`, `permission`, `policy`, `exchange`, `queue` or `binding`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Vhost(_) => "vhost",
            Target::User(_) => "user",
            Target::Permission(_) => "permission",
            Target::Policy(_) => "policy",
            Target::Exchange(_) => "exchange",
            Target::Queue(_) => "queue",
            Target::Binding(_) => "binding",
        }
    }

    /// The vhost the entity lives in; `None` for users (global).
    pub fn vhost(&self) -> Option<&str> {
        match self {
            Target::Vhost(v) => Some(v),
            Target::User(_) => None,
            Target::Permission(k) => Some(&k.vhost),
            Target::Policy(k) | Target::Exchange(k) | Target::Queue(k) => Some(&k.vhost),
            Target::Binding(k) => Some(&k.vhost),
        }
    }

    /// Position in dependency order (what must exist before what).
    pub fn rank(&self) -> u8 {
        match self {
            Target::Vhost(_) => 0,
            Target::User(_) => 1,
            Target::Permission(_) => 2,
            Target::Policy(_) => 3,
            Target::Exchange(_) => 4,
            Target::Queue(_) => 5,
            Target::Binding(_) => 6,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Vhost(v) => write!(f, "vhost {v}"),
            Target::User(u) => write!(f, "user {u}"),
            Target::Permission(k) => write!(f, "permission {} in vhost {}", k.user, k.vhost),
            Target::Policy(k) => write!(f, "policy {k}"),
            Target::Exchange(k) => write!(f, "exchange {k}"),
            Target::Queue(k) => write!(f, "queue {k}"),
            Target::Binding(k) => write!(f, "binding {k}"),
        }
    }
}

/// An entity's full desired definition, carried by creates, updates and replaces so that
/// apply needs nothing but the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    Vhost(VhostState),
    User(UserState),
    Permission(PermissionState),
    Policy(PolicyState),
    Exchange(ExchangeState),
    Queue(QueueState),
    Binding,
}

/// One field that differs. `None` is "not set"; secrets show as `"***"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// One change to one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub action: Action,
    pub target: Target,
    /// Field by field: every set field for a create, the differing ones for an update or
    /// replace, none for a delete.
    pub fields: Vec<FieldChange>,
    /// Messages the live queue holds (replace and delete of queues).
    pub messages: Option<u64>,
    /// The desired definition (not for deletes).
    pub definition: Option<Definition>,
    /// Replace only: live bindings that point at or from the replaced entity and stay;
    /// deleting the entity drops them, so apply declares them again.
    pub rebind: Vec<BindingKey>,
}

impl Change {
    /// Whether carrying this change out may lose messages. An unknown count (`None`)
    /// may: only a count of 0 lets a queue go without `--allow-data-loss`.
    pub fn loses_data(&self) -> bool {
        matches!(self.action, Action::Replace | Action::Delete)
            && matches!(self.target, Target::Queue(_))
            && self.messages != Some(0)
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
        Summary::of(self.changes.iter().map(|c| c.action))
    }

    /// The replaces (apply refuses them without `--allow-replace`).
    pub fn replaces(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action == Action::Replace)
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

    // Vhosts: created when missing, updated on the fields the file manages; never deleted
    // (deleting a vhost deletes everything in it: not a prune's job).
    for name in &scope {
        let want = desired.vhosts.get(name).cloned().unwrap_or_default();
        match live.vhosts.get(name) {
            None => forward.push(create(
                Target::Vhost(name.clone()),
                vhost_fields(&want, None),
                Definition::Vhost(want),
            )),
            Some(have) => {
                let fields = vhost_fields(&want, Some(have));
                if !fields.is_empty() {
                    forward.push(update(
                        Target::Vhost(name.clone()),
                        fields,
                        Definition::Vhost(merge_vhost(&want, have)),
                    ));
                }
            }
        }
    }

    diff_map(
        &desired.users,
        &live.users,
        |n| Target::User(n.clone()),
        |_| false,
        user_fields,
        |u| Definition::User(u.clone()),
        &mut forward,
        &mut deletes,
    );
    // Users are global: prune never deletes them (a file rarely names every user of a
    // broker, and deleting the operator's own login is unrecoverable).

    diff_map(
        &desired.permissions,
        &live.permissions,
        |k| Target::Permission(k.clone()),
        |k| opts.prune && scope.contains(&k.vhost),
        permission_fields,
        |s| Definition::Permission(s.clone()),
        &mut forward,
        &mut deletes,
    );

    diff_map(
        &desired.policies,
        &live.policies,
        |k| Target::Policy(k.clone()),
        |k| opts.prune && scope.contains(&k.vhost),
        policy_fields,
        |s| Definition::Policy(s.clone()),
        &mut forward,
        &mut deletes,
    );

    for (key, want) in &desired.exchanges {
        let target = Target::Exchange(key.clone());
        match live.exchanges.get(key) {
            None => forward.push(create(
                target,
                exchange_fields(want, None),
                Definition::Exchange(want.clone()),
            )),
            Some(have) if have != want => {
                forward.push(replace(
                    target,
                    exchange_fields(want, Some(have)),
                    None,
                    Definition::Exchange(want.clone()),
                ));
            }
            Some(_) => {}
        }
    }
    for key in live.exchanges.keys() {
        if !desired.exchanges.contains_key(key) && prunable_exchange(opts, &scope, key) {
            deletes.push(delete(Target::Exchange(key.clone()), None));
        }
    }

    for (key, want) in &desired.queues {
        let target = Target::Queue(key.clone());
        match live.queues.get(key) {
            None => forward.push(create(
                target,
                queue_fields(want, None),
                Definition::Queue(want.clone()),
            )),
            Some(have) if !have.same_definition(want) => {
                forward.push(replace(
                    target,
                    queue_fields(want, Some(have)),
                    have.messages,
                    Definition::Queue(want.clone()),
                ));
            }
            Some(_) => {}
        }
    }
    for (key, have) in &live.queues {
        if !desired.queues.contains_key(key) && prunable_queue(opts, &scope, key) {
            deletes.push(delete(Target::Queue(key.clone()), have.messages));
        }
    }

    for key in desired.bindings.keys() {
        if !live.bindings.contains_key(key) {
            forward.push(create(
                Target::Binding(key.clone()),
                binding_fields(key),
                Definition::Binding,
            ));
        }
    }
    let mut deleted_bindings: BTreeSet<&BindingKey> = BTreeSet::new();
    for key in live.bindings.keys() {
        if !desired.bindings.contains_key(key) && prunable_binding(opts, &scope, desired, live, key)
        {
            deleted_bindings.insert(key);
            deletes.push(delete(Target::Binding(key.clone()), None));
        }
    }

    // A replaced entity loses its bindings with it: declare again the ones that stay.
    // Indexed once by source and destination, so N replaces cost N lookups, not N scans.
    if forward.iter().any(|c| c.action == Action::Replace) {
        type Ends<'a> = HashMap<(&'a str, DestinationType, &'a str), Vec<&'a BindingKey>>;
        let mut by_source: HashMap<(&str, &str), Vec<&BindingKey>> = HashMap::new();
        let mut by_destination: Ends = HashMap::new();
        for b in live
            .bindings
            .keys()
            .filter(|b| !deleted_bindings.contains(b))
        {
            by_source.entry((&b.vhost, &b.source)).or_default().push(b);
            by_destination
                .entry((&b.vhost, b.destination_type, &b.destination))
                .or_default()
                .push(b);
        }
        let none = Vec::new();
        for change in &mut forward {
            if change.action != Action::Replace {
                continue;
            }
            let mut rebind: Vec<&BindingKey> = match &change.target {
                Target::Queue(k) => by_destination
                    .get(&(k.vhost.as_str(), DestinationType::Queue, k.name.as_str()))
                    .unwrap_or(&none)
                    .clone(),
                Target::Exchange(k) => {
                    let mut v = by_source
                        .get(&(k.vhost.as_str(), k.name.as_str()))
                        .unwrap_or(&none)
                        .clone();
                    v.extend(
                        by_destination
                            .get(&(k.vhost.as_str(), DestinationType::Exchange, k.name.as_str()))
                            .unwrap_or(&none),
                    );
                    v
                }
                _ => continue,
            };
            rebind.sort();
            rebind.dedup();
            change.rebind = rebind.into_iter().cloned().collect();
        }
    }

    forward.sort_by(|a, b| {
        a.target
            .rank()
            .cmp(&b.target.rank())
            .then_with(|| a.target.cmp(&b.target))
    });
    deletes.sort_by(|a, b| {
        b.target
            .rank()
            .cmp(&a.target.rank())
            .then_with(|| a.target.cmp(&b.target))
    });
    forward.extend(deletes);
    Plan { changes: forward }
}

/// The state `live` becomes when `plan` is carried out: the planner's own model of apply,
/// used to check that plan and apply agree (`plan(a, apply_to_state(plan(a, b), b))` is
/// empty).
pub fn apply_to_state(plan: &Plan, live: &State) -> State {
    let mut s = live.clone();
    for c in &plan.changes {
        match (&c.target, &c.definition) {
            (Target::Vhost(n), Some(Definition::Vhost(d))) => {
                s.vhosts.insert(n.clone(), d.clone());
            }
            (Target::User(n), Some(Definition::User(d))) => {
                s.users.insert(n.clone(), d.clone());
            }
            (Target::Permission(k), Some(Definition::Permission(d))) => {
                s.permissions.insert(k.clone(), d.clone());
            }
            (Target::Policy(k), Some(Definition::Policy(d))) => {
                s.policies.insert(k.clone(), d.clone());
            }
            (Target::Exchange(k), Some(Definition::Exchange(d))) => {
                s.exchanges.insert(k.clone(), d.clone());
            }
            (Target::Queue(k), Some(Definition::Queue(d))) => {
                let mut d = d.clone();
                d.messages = if c.action == Action::Replace {
                    Some(0)
                } else {
                    d.messages
                };
                s.queues.insert(k.clone(), d);
            }
            (Target::Binding(k), Some(Definition::Binding)) => {
                s.bindings.insert(k.clone(), BindingState {});
            }
            (target, None) if c.action == Action::Delete => match target {
                Target::Vhost(n) => {
                    s.vhosts.remove(n);
                }
                Target::User(n) => {
                    s.users.remove(n);
                }
                Target::Permission(k) => {
                    s.permissions.remove(k);
                }
                Target::Policy(k) => {
                    s.policies.remove(k);
                }
                Target::Exchange(k) => {
                    s.exchanges.remove(k);
                }
                Target::Queue(k) => {
                    s.queues.remove(k);
                }
                Target::Binding(k) => {
                    s.bindings.remove(k);
                }
            },
            _ => {}
        }
    }
    s
}

// ---- prune scope -------------------------------------------------------------------

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

fn create(target: Target, fields: Vec<FieldChange>, definition: Definition) -> Change {
    Change {
        action: Action::Create,
        target,
        fields,
        messages: None,
        definition: Some(definition),
        rebind: Vec::new(),
    }
}

fn update(target: Target, fields: Vec<FieldChange>, definition: Definition) -> Change {
    Change {
        action: Action::Update,
        target,
        fields,
        messages: None,
        definition: Some(definition),
        rebind: Vec::new(),
    }
}

fn replace(
    target: Target,
    fields: Vec<FieldChange>,
    messages: Option<u64>,
    definition: Definition,
) -> Change {
    Change {
        action: Action::Replace,
        target,
        fields,
        messages,
        definition: Some(definition),
        rebind: Vec::new(),
    }
}

fn delete(target: Target, messages: Option<u64>) -> Change {
    Change {
        action: Action::Delete,
        target,
        fields: Vec::new(),
        messages,
        definition: None,
        rebind: Vec::new(),
    }
}

/// Creates, updates and deletes of a map whose entities change in place.
#[allow(clippy::too_many_arguments)]
fn diff_map<K: Ord, V>(
    desired: &BTreeMap<K, V>,
    live: &BTreeMap<K, V>,
    target: impl Fn(&K) -> Target,
    prunable: impl Fn(&K) -> bool,
    fields: impl Fn(&V, Option<&V>) -> Vec<FieldChange>,
    definition: impl Fn(&V) -> Definition,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) {
    for (k, want) in desired {
        match live.get(k) {
            None => forward.push(create(target(k), fields(want, None), definition(want))),
            Some(have) => {
                let d = fields(want, Some(have));
                if !d.is_empty() {
                    forward.push(update(target(k), d, definition(want)));
                }
            }
        }
    }
    for k in live.keys() {
        if !desired.contains_key(k) && prunable(k) {
            deletes.push(delete(target(k), None));
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

fn policy_fields(want: &PolicyState, have: Option<&PolicyState>) -> Vec<FieldChange> {
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

/// A binding is all identity: its target already says everything.
fn binding_fields(_: &BindingKey) -> Vec<FieldChange> {
    Vec::new()
}

pub mod quorum;

#[cfg(test)]
mod tests;
