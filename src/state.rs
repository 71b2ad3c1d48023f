//! The one normalized model of broker state.
//!
//! The file, the live broker and an older git revision of the file all become a [`State`];
//! plan, apply, export, diff and route work on nothing else. Normalization is the single
//! place that knows RabbitMQ's reshaping: defaults filled, named queue fields folded into
//! their `x-` arguments, numbers canonical, bindings expanded from `routing_keys`. Two
//! States that describe the same broker compare equal, so a false diff is a bug here.

pub mod effective;
pub mod limits;
pub mod links;
pub mod password;
pub mod queue_args;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub use crate::topology::identity::BindingArgs;
use crate::topology::model::{
    ApplyTo, DestinationType, Exchange, ExchangeKind, OperatorPolicy, Permission, Policy, Queue,
    QueueType, Topology, User, Vhost,
};
pub use limits::Limits;
use queue_args::{QUEUE_NAMED_ARGS, QUEUE_TYPE_ARGUMENT};

/// Canonical arguments: sorted keys, canonical values (see [`canonical_value`]).
pub type Args = BTreeMap<String, Value>;

pub use crate::topology::model::DEFAULT_VHOST;

/// Exchanges every vhost has, with their types (the default exchange, `""`, aside).
/// Bindings, alternate exchanges and dead-letter exchanges may name them undeclared;
/// routing treats them like declared ones; export leaves them out.
pub const BUILTIN_EXCHANGES: &[(&str, ExchangeKind)] = &[
    ("amq.direct", ExchangeKind::Direct),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
];

/// The type of a builtin exchange, if `name` is one.
pub fn builtin_exchange_kind(name: &str) -> Option<&'static ExchangeKind> {
    BUILTIN_EXCHANGES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, kind)| kind)
}

/// Identity of a vhost-scoped named entity (exchange, queue, policy).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EntityKey {
    pub vhost: String,
    pub name: String,
}

impl EntityKey {
    pub fn new(vhost: impl Into<String>, name: impl Into<String>) -> Self {
        EntityKey {
            vhost: vhost.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.vhost == DEFAULT_VHOST {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}@{}", self.name, self.vhost)
        }
    }
}

/// Identity of a binding, as RabbitMQ has it: everything about a binding is its identity.
///
/// `arguments` is canonical (see [`BindingArgs`]): two keys are equal exactly when the
/// broker holds one binding. Never compute the server's `properties_key`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BindingKey {
    pub vhost: String,
    pub source: String,
    pub destination_type: DestinationType,
    pub destination: String,
    pub routing_key: String,
    pub arguments: BindingArgs,
}

impl BindingKey {
    /// The bindings one entry of a file declares: one per routing key (`routing_keys`,
    /// else `routing_key`, else the empty key), in `vhost` (the entry's, resolved).
    pub fn of_file(b: &crate::topology::model::Binding, vhost: &str) -> Vec<BindingKey> {
        let arguments = BindingArgs::new(&b.arguments);
        let keys: Vec<String> = match (&b.routing_keys, &b.routing_key) {
            (Some(keys), _) => keys.clone(),
            (None, Some(key)) => vec![key.clone()],
            (None, None) => vec![String::new()],
        };
        keys.into_iter()
            .map(|routing_key| BindingKey {
                vhost: vhost.to_string(),
                source: b.source.clone(),
                destination_type: b.destination_type.unwrap_or(DestinationType::Queue),
                destination: b.destination.clone(),
                routing_key,
                arguments: arguments.clone(),
            })
            .collect()
    }
}

impl fmt::Display for BindingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> ", display_exchange(&self.source))?;
        if self.destination_type == DestinationType::Exchange {
            write!(f, "exchange ")?;
        }
        write!(f, "{}", self.destination)?;
        if !self.routing_key.is_empty() {
            write!(f, " [{}]", self.routing_key)?;
        }
        if !self.arguments.is_empty() {
            write!(f, " {}", self.arguments)?;
        }
        if self.vhost != DEFAULT_VHOST {
            write!(f, " @{}", self.vhost)?;
        }
        Ok(())
    }
}

fn display_exchange(name: &str) -> &str {
    if name.is_empty() {
        "(default exchange)"
    } else {
        name
    }
}

/// Identity of a permission: one user in one vhost.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PermissionKey {
    pub vhost: String,
    pub user: String,
}

/// A vhost. `None` fields are not managed (the file did not set them).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct VhostState {
    pub description: Option<String>,
    pub default_queue_type: Option<QueueType>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExchangeState {
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    /// Includes `alternate-exchange` when set.
    pub arguments: Args,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueState {
    pub kind: QueueType,
    pub durable: bool,
    pub auto_delete: bool,
    /// `x-` arguments other than `x-queue-type` (that is `kind`).
    pub arguments: Args,
    /// Messages the live queue holds; `None` for desired state. Not part of equality
    /// as the planner sees it: use [`QueueState::same_definition`].
    pub messages: Option<u64>,
    /// The nodes holding a member (quorum queue) or replica (stream) of the live queue,
    /// where the broker reports them; `None` for desired state and classic queues. Not
    /// part of the definition either: the broker places them.
    #[serde(skip)]
    pub members: Option<Vec<String>>,
}

impl QueueState {
    /// Whether two queues are the same declaration (message counts aside).
    pub fn same_definition(&self, other: &QueueState) -> bool {
        self.kind == other.kind
            && self.durable == other.durable
            && self.auto_delete == other.auto_delete
            && self.arguments == other.arguments
    }
}

/// A binding carries nothing beyond its key; the struct exists so maps read alike.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct BindingState {}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyState {
    pub pattern: String,
    /// RabbitMQ's `apply-to` (the file's default, `all`, filled in).
    pub apply_to: ApplyTo,
    pub priority: i64,
    pub definition: Args,
}

/// A secret value that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that must send it (the management API).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// What is known of a user's password.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// Desired: not managed by the file. Live: the user has no password.
    None,
    /// Desired: the password is in environment variable `var` (`value` is `None` where
    /// the variable is unset, e.g. in an offline diff).
    Env { var: String, value: Option<Secret> },
    /// A RabbitMQ password hash and, when known, its hashing algorithm. The hash is a
    /// [`Secret`]: anyone holding it can try passwords offline, so it never prints.
    Hash {
        hash: Secret,
        algorithm: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserState {
    /// Sorted, deduplicated.
    pub tags: Vec<String>,
    pub credential: Credential,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermissionState {
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// A user's topic permission on one exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicPermissionState {
    pub write: String,
    pub read: String,
}

/// One user's topic permissions in one vhost, by exchange. They are one entity because
/// the management API deletes them together (`DELETE /api/topic-permissions/{vhost}/{user}`
/// clears every exchange's, on 3.10 and 4.x alike), so a plan changes them together.
pub type TopicPermissions = BTreeMap<String, TopicPermissionState>;

/// Broker state, desired or live, in one canonical shape.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct State {
    pub vhosts: BTreeMap<String, VhostState>,
    pub exchanges: BTreeMap<EntityKey, ExchangeState>,
    pub queues: BTreeMap<EntityKey, QueueState>,
    pub bindings: BTreeMap<BindingKey, BindingState>,
    pub policies: BTreeMap<EntityKey, PolicyState>,
    /// Operator policies, in the policies' shape (`apply_to` defaults to `queues`).
    pub operator_policies: BTreeMap<EntityKey, PolicyState>,
    pub users: BTreeMap<String, UserState>,
    pub permissions: BTreeMap<PermissionKey, PermissionState>,
    pub topic_permissions: BTreeMap<PermissionKey, TopicPermissions>,
    /// Shovels and federation upstreams (see [`links`]).
    pub links: BTreeMap<links::LinkKey, links::LinkState>,
    /// Limits by vhost (see [`limits`]).
    pub vhost_limits: BTreeMap<String, Limits>,
    /// Limits by user (see [`limits`]).
    pub user_limits: BTreeMap<String, Limits>,
}

/// Queue arguments whose values are numbers; the broker and clients send some as strings.
const NUMERIC_ARGS: &[&str] = &[
    "x-message-ttl",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-delivery-limit",
    "x-quorum-initial-group-size",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "message-ttl",
    "expires",
    "max-length",
    "max-length-bytes",
    "delivery-limit",
    "priority",
];

/// The canonical form of one argument value: integral floats become integers, and
/// numeric strings become numbers for arguments RabbitMQ reads as numbers.
pub fn canonical_value(name: &str, value: &Value) -> Value {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    Value::from(f as i64)
                } else {
                    Value::from(f)
                }
            } else {
                value.clone()
            }
        }
        Value::String(s) if NUMERIC_ARGS.contains(&name) => match s.trim().parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => value.clone(),
        },
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| canonical_value(name, v)).collect())
        }
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), canonical_value(k, v)))
                .collect();
            Value::Object(sorted.into_iter().collect())
        }
        _ => value.clone(),
    }
}

/// Canonical arguments from any key/value iterator.
pub fn canonical_args<'a>(items: impl IntoIterator<Item = (&'a String, &'a Value)>) -> Args {
    items
        .into_iter()
        .map(|(k, v)| (k.clone(), canonical_value(k, v)))
        .collect()
}

impl State {
    /// The desired state a topology describes. `env` looks up the environment variables
    /// that hold user passwords (pass `|_| None` offline).
    ///
    /// Assumes a topology that passed validation: duplicates are resolved last-wins
    /// rather than reported.
    pub fn from_topology(topo: &Topology, env: &dyn Fn(&str) -> Option<String>) -> State {
        let default_vhost = topo.vhost.as_deref().unwrap_or(DEFAULT_VHOST);
        let vh = |v: &Option<String>| v.as_deref().unwrap_or(default_vhost).to_string();
        let vhost_default_type = |vhost: &str| {
            topo.vhosts
                .iter()
                .find(|v| v.name == vhost)
                .and_then(|v| v.default_queue_type)
        };
        let mut state = State::default();
        for v in &topo.vhosts {
            state.vhosts.insert(v.name.clone(), vhost_state(v));
        }
        for x in &topo.exchanges {
            let key = EntityKey::new(vh(&x.vhost), &x.name);
            state.exchanges.insert(key, exchange_state(x));
        }
        for q in &topo.queues {
            let key = EntityKey::new(vh(&q.vhost), &q.name);
            let queue = queue_state(q, vhost_default_type(&key.vhost));
            state.queues.insert(key, queue);
        }
        for b in &topo.bindings {
            for key in BindingKey::of_file(b, &vh(&b.vhost)) {
                state.bindings.insert(key, BindingState {});
            }
        }
        for p in &topo.policies {
            let key = EntityKey::new(vh(&p.vhost), &p.name);
            state.policies.insert(key, policy_state(p));
        }
        for p in &topo.operator_policies {
            let key = EntityKey::new(vh(&p.vhost), &p.name);
            state
                .operator_policies
                .insert(key, operator_policy_state(p));
        }
        for u in &topo.users {
            state.users.insert(u.name.clone(), user_state(u, env));
        }
        for p in &topo.permissions {
            let key = PermissionKey {
                vhost: vh(&p.vhost),
                user: p.user.clone(),
            };
            state.permissions.insert(key, permission_state(p));
        }

        for p in &topo.topic_permissions {
            state
                .topic_permissions
                .entry(PermissionKey {
                    vhost: vh(&p.vhost),
                    user: p.user.clone(),
                })
                .or_default()
                .insert(
                    p.exchange.clone(),
                    TopicPermissionState {
                        write: p.write.clone(),
                        read: p.read.clone(),
                    },
                );
        }
        for l in &topo.vhost_limits {
            state
                .vhost_limits
                .entry(vh(&l.vhost))
                .or_default()
                .extend(limits::of_vhost(l));
        }
        for l in &topo.user_limits {
            state
                .user_limits
                .entry(l.user.clone())
                .or_default()
                .extend(limits::of_user(l));
        }

        state.links = links::from_topology(topo, env);

        state
    }

    /// Every vhost the state touches: listed ones and those its entities live in.
    ///
    /// Every map is sorted by vhost first, so a run of one vhost's entries is copied once
    /// (every plan asks, and at 10,000 queues and 20,000 bindings a copy per entry showed in
    /// the no-op plan's profile).
    pub fn vhost_names(&self) -> std::collections::BTreeSet<String> {
        fn add<'a>(
            names: &mut std::collections::BTreeSet<String>,
            vhosts: impl Iterator<Item = &'a String>,
        ) {
            let mut last: Option<&str> = None;
            for v in vhosts {
                if last != Some(v.as_str()) {
                    if !names.contains(v) {
                        names.insert(v.clone());
                    }
                    last = Some(v);
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        add(&mut names, self.vhosts.keys());
        add(&mut names, self.exchanges.keys().map(|k| &k.vhost));
        add(&mut names, self.queues.keys().map(|k| &k.vhost));
        add(&mut names, self.bindings.keys().map(|k| &k.vhost));
        add(&mut names, self.policies.keys().map(|k| &k.vhost));
        add(&mut names, self.operator_policies.keys().map(|k| &k.vhost));
        add(&mut names, self.permissions.keys().map(|k| &k.vhost));
        add(&mut names, self.topic_permissions.keys().map(|k| &k.vhost));
        add(&mut names, self.links.keys().map(|k| &k.vhost));
        add(&mut names, self.vhost_limits.keys());
        names
    }
}

// One conversion per entity kind. Each destructures its file entry without `..`, so that a
// field added to the model does not compile until normalization decides what it means.

fn vhost_state(v: &Vhost) -> VhostState {
    let Vhost {
        name: _,
        description,
        default_queue_type,
        tags,
    } = v;
    VhostState {
        description: description.clone(),
        default_queue_type: *default_queue_type,
        tags: tags.as_ref().map(|t| sorted_unique(t)),
    }
}

fn exchange_state(x: &Exchange) -> ExchangeState {
    let Exchange {
        name: _,
        vhost: _,
        kind,
        durable,
        auto_delete,
        internal,
        alternate_exchange,
        arguments,
    } = x;
    let mut arguments = canonical_args(arguments);
    if let Some(ae) = alternate_exchange {
        arguments.insert("alternate-exchange".into(), Value::from(ae.clone()));
    }
    ExchangeState {
        kind: kind.clone(),
        durable: durable.unwrap_or(true),
        auto_delete: auto_delete.unwrap_or(false),
        internal: internal.unwrap_or(false),
        arguments,
    }
}

/// A queue of the file; `vhost_default` is its vhost's `default_queue_type`, if the file
/// sets one.
fn queue_state(q: &Queue, vhost_default: Option<QueueType>) -> QueueState {
    let Queue {
        name: _,
        vhost: _,
        kind,
        durable,
        auto_delete,
        // Refused by validation (TOPO019); never declared.
        exclusive: _,
        // Folded into `arguments` through the table below.
        message_ttl: _,
        expires: _,
        max_length: _,
        max_length_bytes: _,
        overflow: _,
        dead_letter_exchange: _,
        dead_letter_routing_key: _,
        max_priority: _,
        delivery_limit: _,
        single_active_consumer: _,
        initial_group_size: _,
        initial_cluster_size: _,
        arguments,
        // For renders only; the broker never sees it.
        message_schema: _,
    } = q;
    let mut arguments = canonical_args(arguments);
    let raw_type = arguments.remove(QUEUE_TYPE_ARGUMENT);
    for named in QUEUE_NAMED_ARGS {
        if let Some(value) = (named.value)(q) {
            arguments.insert(named.argument.to_string(), value);
        }
    }
    let kind = kind
        .or_else(|| {
            raw_type
                .as_ref()
                .and_then(|t| parse_queue_type(t.as_str()?))
        })
        .or(vhost_default)
        .unwrap_or(QueueType::Classic);
    QueueState {
        kind,
        durable: durable.unwrap_or(true),
        auto_delete: auto_delete.unwrap_or(false),
        arguments,
        messages: None,
        members: None,
    }
}

fn policy_state(p: &Policy) -> PolicyState {
    let Policy {
        name: _,
        vhost: _,
        pattern,
        apply_to,
        priority,
        definition,
    } = p;
    PolicyState {
        pattern: pattern.clone(),
        apply_to: apply_to.unwrap_or(ApplyTo::All),
        priority: priority.unwrap_or(0),
        definition: canonical_args(definition),
    }
}

fn operator_policy_state(p: &OperatorPolicy) -> PolicyState {
    let OperatorPolicy {
        name: _,
        vhost: _,
        pattern,
        apply_to,
        priority,
        definition,
    } = p;
    PolicyState {
        pattern: pattern.clone(),
        apply_to: apply_to.unwrap_or(ApplyTo::Queues),
        priority: priority.unwrap_or(0),
        definition: canonical_args(definition),
    }
}

fn user_state(u: &User, env: &dyn Fn(&str) -> Option<String>) -> UserState {
    let User {
        name: _,
        password_env,
        password_hash,
        tags,
    } = u;
    let credential = match (password_env, password_hash) {
        (Some(var), _) => Credential::Env {
            var: var.clone(),
            value: env(var).map(Secret::new),
        },
        (None, Some(hash)) => Credential::Hash {
            hash: Secret::new(hash.clone()),
            algorithm: None,
        },
        (None, None) => Credential::None,
    };
    UserState {
        tags: sorted_unique(tags.as_deref().unwrap_or(&[])),
        credential,
    }
}

fn permission_state(p: &Permission) -> PermissionState {
    let Permission {
        user: _,
        vhost: _,
        configure,
        write,
        read,
    } = p;
    PermissionState {
        configure: configure.clone(),
        write: write.clone(),
        read: read.clone(),
    }
}

/// `classic` / `quorum` / `stream` from RabbitMQ's spelling.
pub fn parse_queue_type(s: &str) -> Option<QueueType> {
    match s {
        "classic" => Some(QueueType::Classic),
        "quorum" => Some(QueueType::Quorum),
        "stream" => Some(QueueType::Stream),
        _ => None,
    }
}

fn sorted_unique(items: &[String]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().filter(|s| !s.is_empty()).cloned().collect();
    v.sort();
    v.dedup();
    v
}
