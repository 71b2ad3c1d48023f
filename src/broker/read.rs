//! Reading the live broker into a [`State`], normalized exactly like the file is, so that
//! a broker that matches the file plans as "no changes".
//!
//! Per vhost, the exchange, queue, binding and policy listings, read in parallel with only
//! the columns topo compares and without statistics, then filtered to what a definitions
//! export holds. At 10,000 queues and 20,000 bindings those four calls took 1.5 s against
//! 3.4 s for `GET /api/definitions/{vhost}` (docs/plan-apply.md), and every plan, apply and
//! apply's verification starts with this read. Brokers that stream that export (4.2.9+,
//! 4.3.3+) answer it faster than the listings, so there topo reads it, plus the exchange
//! listing ([`streams_definitions`]). Users, permissions, topic permissions and vhosts come
//! from their own listings. Message counts are fetched separately and only for the queues a
//! plan would replace or delete ([`fill_message_counts`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::http::{HttpError, Management};
use crate::state::limits;
use crate::state::links::{self, Component, LinkKey};
use crate::state::queue_args::QUEUE_TYPE_ARGUMENT;
use crate::state::{
    BindingArgs, BindingKey, BindingState, Credential, EntityKey, ExchangeState, PermissionKey,
    PermissionState, PolicyState, QueueState, State, TopicPermissionState, UserState, VhostState,
    canonical_value, parse_queue_type,
};
use crate::topology::model::{ApplyTo, DestinationType, ExchangeKind, QueueType};

/// One vhost's entities as a definitions export lists them (no vhost field, no
/// statistics), typed.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Definitions {
    pub exchanges: Vec<DefExchange>,
    pub queues: Vec<DefQueue>,
    /// Sorted while the answer streams in (one export is one vhost, and this is
    /// [`BindingKey`]'s order without it), so that keying them after the last byte is a
    /// walk, not a sort.
    pub bindings: BTreeSet<DefBinding>,
    pub policies: Vec<DefPolicy>,
}

#[derive(Debug, serde::Deserialize)]
pub struct DefExchange {
    pub name: String,
    #[serde(rename = "type", default = "direct")]
    pub kind: ExchangeKind,
    #[serde(default = "yes")]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub arguments: CanonicalArgs,
}

#[derive(Debug, serde::Deserialize)]
pub struct DefQueue {
    pub name: String,
    #[serde(default = "yes")]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    /// Exclusive queues belong to a connection; exports leave them out, and so does topo.
    #[serde(default)]
    pub exclusive: bool,
    /// The queue's actual type, as the queue listing reports it.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub arguments: CanonicalArgs,
    /// Quorum queue members and stream replicas (absent for classic queues).
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

/// A binding of one vhost, typed and canonical as it is parsed; its fields in
/// [`BindingKey`]'s order, which it sorts by.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(from = "ListedBinding")]
pub struct DefBinding {
    pub source: String,
    pub destination_type: DestinationType,
    pub destination: String,
    pub routing_key: String,
    pub arguments: BindingArgs,
}

/// A binding as the export and the listing spell it.
#[derive(serde::Deserialize)]
struct ListedBinding {
    #[serde(default)]
    source: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    destination_type: String,
    #[serde(default)]
    routing_key: String,
    /// Sorted as it is parsed: [`BindingArgs`] wants them sorted.
    #[serde(default)]
    arguments: BTreeMap<String, Value>,
}

impl DefBinding {
    /// The state's key of this binding in `vhost`.
    pub fn into_key(self, vhost: &str) -> BindingKey {
        BindingKey {
            vhost: vhost.to_string(),
            source: self.source,
            destination_type: self.destination_type,
            destination: self.destination,
            routing_key: self.routing_key,
            arguments: self.arguments,
        }
    }
}

impl From<ListedBinding> for DefBinding {
    fn from(b: ListedBinding) -> DefBinding {
        DefBinding {
            source: b.source,
            destination_type: match b.destination_type.as_str() {
                "exchange" => DestinationType::Exchange,
                _ => DestinationType::Queue,
            },
            destination: b.destination,
            routing_key: b.routing_key,
            arguments: BindingArgs::new(b.arguments.iter()),
        }
    }
}

/// Arguments in the state's canonical form ([`crate::state::canonical_args`]), made while the answer is
/// parsed: the export is parsed as it streams in, so this costs nothing after its last
/// byte, and the arguments go into a sorted map directly (no insertion-ordered map to copy
/// from, with a hash of every key).
#[derive(Debug, Default)]
pub struct CanonicalArgs(pub crate::state::Args);

impl<'de> serde::Deserialize<'de> for CanonicalArgs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut args = <crate::state::Args as serde::Deserialize>::deserialize(d)?;
        for (name, value) in args.iter_mut() {
            *value = canonical_value(name, value);
        }
        Ok(CanonicalArgs(args))
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct DefPolicy {
    pub name: String,
    #[serde(default)]
    pub pattern: String,
    /// RabbitMQ spells its `apply-to` values as the file does (`classic_queues`, ...).
    #[serde(rename = "apply-to", default = "all")]
    pub apply_to: ApplyTo,
    #[serde(default)]
    pub priority: Value,
    #[serde(default)]
    pub definition: CanonicalArgs,
}

fn yes() -> bool {
    true
}
fn direct() -> ExchangeKind {
    ExchangeKind::Direct
}
fn all() -> ApplyTo {
    ApplyTo::All
}

/// Which vhosts to read.
#[derive(Debug, Clone)]
pub enum Scope {
    /// These vhosts (those the file names); users are always read whole.
    Vhosts(BTreeSet<String>),
    /// Every vhost (export of a whole broker).
    All,
}

/// The shovels or federation upstreams of a parameter listing, in the vhosts read.
fn add_links(state: &mut State, component: Component, listing: &Value, present: &BTreeSet<String>) {
    for p in listing.as_array().into_iter().flatten() {
        let (Some(vhost), Some(name), Some(value)) = (
            str_of(p, "vhost"),
            str_of(p, "name"),
            p.get("value").and_then(Value::as_object),
        ) else {
            continue;
        };
        if !present.contains(&vhost) {
            continue;
        }
        let key = LinkKey {
            component,
            vhost,
            name,
        };
        state.links.insert(key, links::normalize(component, value));
    }
}

/// The live state of the vhosts in `scope`, plus every user. Two rounds of calls at most:
/// the global listings (users, permissions, topic permissions, limits, operator policies,
/// shovels, federation upstreams) go out with the first (the
/// vhosts, the version, the nodes), and the vhosts' entities follow as soon as the first
/// round says how to read them.
pub async fn read_state(mgmt: &Management, scope: &Scope) -> Result<State, HttpError> {
    let mut state = State::default();
    let globals = async {
        tokio::join!(
            mgmt.get(&["users"], "listing users"),
            mgmt.get(&["permissions"], "listing permissions"),
            mgmt.get(&["topic-permissions"], "listing topic permissions"),
            // One listing each for every vhost's and every user's limits (3.10 and 4.x answer
            // `[{"vhost": V, "value": {...}}]` and `[{"user": U, "value": {...}}]` alike).
            mgmt.get(&["vhost-limits"], "listing vhost limits"),
            mgmt.get(&["user-limits"], "listing user limits"),
            mgmt.get(&["operator-policies"], "listing operator policies"),
            // A broker without the plugin answers an empty list (plan says to enable it:
            // see `crate::broker::links`).
            mgmt.get(&["parameters", "shovel"], "listing shovels"),
            mgmt.get(
                &["parameters", "federation-upstream"],
                "listing federation upstreams"
            ),
        )
    };
    let vhosts = read_vhosts(mgmt, scope);
    let (
        (
            users,
            perms,
            topic_perms,
            vhost_limits,
            user_limits,
            operator_policies,
            shovels,
            upstreams,
        ),
        vhosts,
    ) = tokio::join!(globals, vhosts);
    let (vhosts, defs) = vhosts?;
    let t = std::time::Instant::now();
    let mut present = Vec::new();
    for (name, v) in vhosts {
        state.vhosts.insert(name.clone(), v);
        present.push(name);
    }
    for (vhost, d) in defs {
        let default_type = state.vhosts.get(&vhost).and_then(|v| v.default_queue_type);
        add_definitions(&mut state, &vhost, d, default_type);
    }
    crate::trace::done(t, || "  the vhosts' entities, normalized".into());
    for u in users?.as_array().into_iter().flatten() {
        if let Some((name, user)) = user_state(u) {
            state.users.insert(name, user);
        }
    }
    let present: BTreeSet<String> = present.into_iter().collect();
    for p in perms?.as_array().into_iter().flatten() {
        let (Some(user), Some(vhost)) = (str_of(p, "user"), str_of(p, "vhost")) else {
            continue;
        };
        if !present.contains(&vhost) {
            continue;
        }
        state.permissions.insert(
            PermissionKey { vhost, user },
            PermissionState {
                configure: str_of(p, "configure").unwrap_or_default(),
                write: str_of(p, "write").unwrap_or_default(),
                read: str_of(p, "read").unwrap_or_default(),
            },
        );
    }
    for p in topic_perms?.as_array().into_iter().flatten() {
        let (Some(user), Some(vhost), Some(exchange)) =
            (str_of(p, "user"), str_of(p, "vhost"), str_of(p, "exchange"))
        else {
            continue;
        };
        if !present.contains(&vhost) {
            continue;
        }
        state
            .topic_permissions
            .entry(PermissionKey { vhost, user })
            .or_default()
            .insert(
                exchange,
                TopicPermissionState {
                    write: str_of(p, "write").unwrap_or_default(),
                    read: str_of(p, "read").unwrap_or_default(),
                },
            );
    }
    for l in vhost_limits?.as_array().into_iter().flatten() {
        if let Some(vhost) = str_of(l, "vhost").filter(|v| present.contains(v)) {
            state
                .vhost_limits
                .insert(vhost, limits::of_live(l.get("value")));
        }
    }
    for l in user_limits?.as_array().into_iter().flatten() {
        if let Some(user) = str_of(l, "user") {
            state
                .user_limits
                .insert(user, limits::of_live(l.get("value")));
        }
    }
    for p in operator_policies?.as_array().into_iter().flatten() {
        let Some(vhost) = str_of(p, "vhost").filter(|v| present.contains(v)) else {
            continue;
        };
        // The same shape as a policy; one the broker answers otherwise is left out.
        if let Ok(p) = serde_json::from_value::<DefPolicy>(p.clone()) {
            state
                .operator_policies
                .insert(EntityKey::new(vhost, p.name.clone()), policy_state(p));
        }
    }
    state.vhost_limits.retain(|_, l| !l.is_empty());
    state.user_limits.retain(|_, l| !l.is_empty());
    // Last: a user who may not read them may not list users either, and that error says
    // what to do (the administrator tag).
    for (component, listing) in [
        (Component::Shovel, shovels?),
        (Component::FederationUpstream, upstreams?),
    ] {
        add_links(&mut state, component, &listing, &present);
    }
    Ok(state)
}

/// The vhosts of `scope` and their entities, sorted by vhost.
async fn read_vhosts(
    mgmt: &Management,
    scope: &Scope,
) -> Result<(Vec<(String, VhostState)>, Vec<(String, Definitions)>), HttpError> {
    let (vhosts, version, nodes) = tokio::join!(
        // Name, description, tags and default queue type are all the plan compares; the
        // per-vhost message rates are left out.
        mgmt.get_typed_query::<Value>(&["vhosts"], &[("disable_stats", "true")], "listing vhosts"),
        broker_version(mgmt),
        super::cluster::node_count(mgmt)
    );
    let vhosts = vhosts?;
    // The streamed export is the cheaper read, but it does not carry quorum queue members and
    // stream replicas; on a cluster, where those matter, the queue listing is read instead. A
    // user who may not list the nodes (no monitoring tag) gets the listing: always correct.
    let clustered = nodes.map_or(true, |n| n > 1);
    let streamed = !clustered && version?.is_some_and(|v| streams_definitions(&v));
    let mut present = Vec::new();
    for v in vhosts.as_array().into_iter().flatten() {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let wanted = match scope {
            Scope::All => true,
            Scope::Vhosts(set) => set.contains(name),
        };
        if wanted {
            present.push((name.to_string(), vhost_state(v)));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (name, _) in &present {
        let m = mgmt.clone();
        let name = name.clone();
        tasks.spawn(async move {
            let defs = if streamed {
                read_vhost_streamed(&m, &name).await
            } else {
                read_vhost(&m, &name).await
            };
            (name, defs)
        });
    }
    let mut defs = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (name, d) = joined.map_err(|e| lost_task("reading the vhosts' entities", e))?;
        defs.push((name, d?));
    }
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((present, defs))
}

/// One vhost's exchanges, queues, bindings and policies: four listings at once, reduced to
/// what its definitions export would hold.
/// Whether the broker streams `GET /api/definitions/{vhost}` from its metadata store (4.2.9+
/// and 4.3.3+). There that export is several times faster than the listings: at 1,000
/// queues and 2,000 bindings on 4.3.6, 30-110 ms against 150 ms for the queue listing and
/// 550-660 ms for the binding listing (docs/plan-apply.md). On 3.x it is the other way round.
pub fn streams_definitions(version: &str) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let v = [0; 3].map(|_| parts.next().unwrap_or(0));
    v >= [4, 3, 3] || ([4, 2, 9]..[4, 3, 0]).contains(&v)
}

/// One vhost from its streamed definitions export (queues, bindings, policies) and the
/// exchange listing: the export leaves out internal exchanges and the `internal` flag.
async fn read_vhost_streamed(m: &Management, vhost: &str) -> Result<Definitions, HttpError> {
    let what = |kind: &str| format!("reading the {kind} of vhost {vhost}");
    let definitions = what("definitions");
    let export = ["definitions", vhost];
    let (defs, exchanges) = tokio::try_join!(
        super::cache::get_kept::<Definitions>(m, &export, &definitions),
        m.get_typed_query::<Vec<DefExchange>>(
            &["exchanges", vhost],
            &[
                ("disable_stats", "true"),
                (
                    "columns",
                    "name,type,durable,auto_delete,internal,arguments"
                ),
            ],
            &what("exchanges"),
        ),
    )?;
    // The export has no exclusive queues, but may list bindings to them: keep bindings to
    // the queues it lists, as 3.x's export did.
    let mut defs = defs;
    let queues: BTreeSet<&str> = defs.queues.iter().map(|q| q.name.as_str()).collect();
    defs.bindings.retain(|b| {
        b.destination_type != DestinationType::Queue || queues.contains(b.destination.as_str())
    });
    Ok(as_exported(Definitions { exchanges, ..defs }))
}

async fn read_vhost(m: &Management, vhost: &str) -> Result<Definitions, HttpError> {
    let what = |kind: &str| format!("listing the {kind} of vhost {vhost}");
    let no_stats = ("disable_stats", "true");
    let (exchanges, queues, bindings, policies) = tokio::try_join!(
        m.get_typed_query::<Vec<DefExchange>>(
            &["exchanges", vhost],
            &[
                no_stats,
                (
                    "columns",
                    "name,type,durable,auto_delete,internal,arguments"
                ),
            ],
            &what("exchanges"),
        ),
        m.get_typed_query::<Vec<DefQueue>>(
            &["queues", vhost],
            &[
                no_stats,
                (
                    "columns",
                    "name,type,durable,auto_delete,exclusive,arguments,members"
                ),
            ],
            &what("queues"),
        ),
        m.get_typed_query::<BTreeSet<DefBinding>>(
            &["bindings", vhost],
            &[(
                "columns",
                "source,destination,destination_type,routing_key,arguments",
            )],
            &what("bindings"),
        ),
        m.get_typed_query::<Vec<DefPolicy>>(&["policies", vhost], &[], &what("policies")),
    )?;
    Ok(as_exported(Definitions {
        exchanges,
        queues,
        bindings,
        policies,
    }))
}

/// Leave out what a definitions export leaves out: the default and `amq.*` exchanges,
/// exclusive queues, the default exchange's implicit bindings and bindings to queues left
/// out.
fn as_exported(mut d: Definitions) -> Definitions {
    d.exchanges
        .retain(|x| !x.name.is_empty() && !x.name.starts_with("amq."));
    let exclusive: BTreeSet<String> = d
        .queues
        .iter()
        .filter(|q| q.exclusive)
        .map(|q| q.name.clone())
        .collect();
    d.queues.retain(|q| !q.exclusive);
    let left_out = |b: &DefBinding| {
        b.source.is_empty()
            || (b.destination_type == DestinationType::Queue && exclusive.contains(&b.destination))
    };
    d.bindings.retain(|b| !left_out(b));
    d
}

/// The broker's version from `/api/overview`, read once per run. Without statistics: the
/// full overview aggregates the message rates and totals of the whole cluster (0.37-0.70 s
/// on a busy 3.10.8 here, against 0.02-0.27 s with `disable_stats=true`, which 3.10 and 4.3
/// both honour), and every state read waits for this answer before it reads the vhosts.
pub async fn broker_version(mgmt: &Management) -> Result<Option<String>, HttpError> {
    mgmt.memo()
        .version
        .get_or_try_init(|| async {
            let o: Value = mgmt
                .get_typed_query(
                    &["overview"],
                    &[("disable_stats", "true")],
                    "reading the broker overview",
                )
                .await?;
            Ok(str_of(&o, "rabbitmq_version"))
        })
        .await
        .cloned()
}

/// Whether a RabbitMQ version keeps a vhost's `default_queue_type` (3.11 and later;
/// 3.10 accepts the field and drops it).
pub fn keeps_vhost_default_queue_type(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (3, 11)
}

/// Fill `messages` of the given live queues (those a plan replaces or deletes).
pub async fn fill_message_counts(
    mgmt: &Management,
    state: &mut State,
    queues: &[EntityKey],
) -> Result<(), HttpError> {
    let mut tasks = tokio::task::JoinSet::new();
    for key in queues.iter().cloned() {
        let m = mgmt.clone();
        tasks.spawn(async move {
            let what = format!("reading the message count of queue {key}");
            let q = m.get_opt(&["queues", &key.vhost, &key.name], &what).await;
            (key, q)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (key, q) = joined.map_err(|e| lost_task("reading message counts", e))?;
        if let Some(live) = state.queues.get_mut(&key) {
            // Gone is empty; a listing without `messages` (statistics off or not yet
            // collected) is unknown, which the planner treats as "may hold messages".
            live.messages = match q? {
                None => Some(0),
                Some(v) => v.get("messages").and_then(Value::as_u64),
            };
        }
    }
    Ok(())
}

/// A reading task that died: an error, never a silently missing vhost or count (which
/// would plan creates, or deletes without the data-loss guard).
fn lost_task(what: &str, e: tokio::task::JoinError) -> HttpError {
    HttpError::Body {
        what: what.into(),
        detail: e.to_string(),
    }
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

/// Tags come as a list (3.9+) or a comma-separated string (older).
fn tags_of(v: Option<&Value>) -> Vec<String> {
    let mut tags: Vec<String> = match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(s)) => s.split(',').map(|t| t.trim().to_string()).collect(),
        _ => Vec::new(),
    };
    tags.retain(|t| !t.is_empty());
    tags.sort();
    tags.dedup();
    tags
}

fn vhost_state(v: &Value) -> VhostState {
    VhostState {
        description: str_of(v, "description"),
        default_queue_type: v
            .get("default_queue_type")
            .and_then(Value::as_str)
            .and_then(parse_queue_type),
        tags: Some(tags_of(v.get("tags"))),
    }
}

fn user_state(u: &Value) -> Option<(String, UserState)> {
    let name = str_of(u, "name")?;
    let hash = str_of(u, "password_hash").unwrap_or_default();
    let credential = if hash.is_empty() {
        Credential::None
    } else {
        Credential::Hash {
            hash: crate::state::Secret::new(hash),
            algorithm: str_of(u, "hashing_algorithm"),
        }
    };
    Some((
        name,
        UserState {
            tags: tags_of(u.get("tags")),
            credential,
        },
    ))
}

/// Add one vhost's definitions export.
pub fn add_definitions(
    state: &mut State,
    vhost: &str,
    defs: Definitions,
    default_type: Option<QueueType>,
) {
    // The bindings (usually the most entries) are keyed on a thread of their own beside
    // the rest: the export's last byte is in, so the broker no longer needs the second core.
    let Definitions {
        exchanges,
        queues,
        bindings,
        policies,
    } = defs;
    let mut live_bindings = std::mem::take(&mut state.bindings);
    std::thread::scope(|s| {
        s.spawn(|| add_bindings(&mut live_bindings, vhost, bindings));
        add_entities(state, vhost, exchanges, queues, policies, default_type);
    });
    state.bindings = live_bindings;
}

fn add_entities(
    state: &mut State,
    vhost: &str,
    exchanges: Vec<DefExchange>,
    queues: Vec<DefQueue>,
    policies: Vec<DefPolicy>,
    default_type: Option<QueueType>,
) {
    let exchanges = exchanges.into_iter().map(|x| {
        (
            EntityKey::new(vhost, x.name),
            ExchangeState {
                kind: x.kind,
                durable: x.durable,
                auto_delete: x.auto_delete,
                internal: x.internal,
                arguments: x.arguments.0,
            },
        )
    });
    extend(&mut state.exchanges, exchanges);
    let queues = queues.into_iter().map(|q| {
        let mut arguments = q.arguments.0;
        let kind = arguments
            .remove(QUEUE_TYPE_ARGUMENT)
            .and_then(|t| t.as_str().and_then(parse_queue_type))
            .or_else(|| q.kind.as_deref().and_then(parse_queue_type))
            .or(default_type)
            .unwrap_or(QueueType::Classic);
        (
            EntityKey::new(vhost, q.name),
            QueueState {
                kind,
                durable: q.durable,
                auto_delete: q.auto_delete,
                arguments,
                messages: None,
                members: q.members,
            },
        )
    });
    extend(&mut state.queues, queues);
    let policies = policies
        .into_iter()
        .map(|p| (EntityKey::new(vhost, p.name.clone()), policy_state(p)));
    extend(&mut state.policies, policies);
}

fn add_bindings(
    live: &mut BTreeMap<BindingKey, BindingState>,
    vhost: &str,
    bindings: BTreeSet<DefBinding>,
) {
    // In key order already: collected into an empty map, the sort finds one run.
    let bindings = bindings
        .into_iter()
        .map(|b| (b.into_key(vhost), BindingState {}));
    extend(live, bindings);
}

/// Add entries to a map, the last of equal keys winning as with `insert`. Into an empty
/// map (the first vhost read) they are sorted and the tree is built in one go, which at
/// 20,000 bindings costs a fraction of inserting them one by one.
fn extend<K: Ord, V>(map: &mut BTreeMap<K, V>, items: impl Iterator<Item = (K, V)>) {
    if map.is_empty() {
        *map = items.collect();
    } else {
        map.extend(items);
    }
}

fn policy_state(p: DefPolicy) -> PolicyState {
    PolicyState {
        pattern: p.pattern,
        apply_to: p.apply_to,
        priority: number(&p.priority).unwrap_or(0),
        definition: p.definition.0,
    }
}

fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The export's bindings, as parsed, come out in the state's key order (what lets the
    /// map be built without a sort), whatever order the broker listed them in.
    #[test]
    fn parsed_bindings_are_in_the_state_key_order() {
        let defs: Definitions = serde_json::from_value(json!({"bindings": [
            {"source": "b", "destination": "q", "destination_type": "queue", "routing_key": "k"},
            {"source": "a", "destination": "z", "destination_type": "exchange", "routing_key": ""},
            {"source": "a", "destination": "q", "destination_type": "queue", "routing_key": "k",
             "arguments": {"y": 1, "x": "2"}},
            {"source": "a", "destination": "q", "destination_type": "queue", "routing_key": "k"},
            {"source": "a", "destination": "q", "destination_type": "queue", "routing_key": "j"},
        ]}))
        .expect("parses");
        let keys: Vec<BindingKey> = defs.bindings.into_iter().map(|b| b.into_key("v")).collect();
        assert_eq!(keys.len(), 5);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:#?}");
    }

    #[test]
    fn definitions_normalize_like_the_file() {
        let defs = json!({
            "queues": [
                {"name": "q", "durable": true, "auto_delete": false,
                 "arguments": {"x-queue-type": "quorum", "x-message-ttl": "1000"}},
                {"name": "c", "durable": true, "auto_delete": false, "arguments": {}}
            ],
            "exchanges": [{"name": "x", "type": "topic", "durable": true, "auto_delete": false,
                           "internal": false, "arguments": {}}],
            "bindings": [{"source": "x", "destination": "q", "destination_type": "queue",
                          "routing_key": "a.#", "arguments": {"b": 1.0, "a": "x"}}],
            "policies": [{"name": "p", "pattern": ".*", "apply-to": "queues",
                          "definition": {"max-length": "10"}, "priority": "2"}]
        });
        let mut s = State::default();
        add_definitions(
            &mut s,
            "v",
            serde_json::from_value(defs.clone()).unwrap(),
            None,
        );
        let q = &s.queues[&EntityKey::new("v", "q")];
        assert_eq!(q.kind, QueueType::Quorum);
        assert_eq!(q.arguments.get("x-message-ttl"), Some(&json!(1000)));
        assert!(!q.arguments.contains_key("x-queue-type"));
        let b = s.bindings.keys().next().unwrap();
        // Keys sorted; values keep their type (a float stays a float: the broker keeps a
        // double apart from an integer).
        assert_eq!(b.arguments.as_str(), r#"{"a":"x","b":1.0}"#);
        let p = &s.policies[&EntityKey::new("v", "p")];
        assert_eq!(
            (p.priority, p.definition["max-length"].clone()),
            (2, json!(10))
        );

        let mut s = State::default();
        add_definitions(
            &mut s,
            "v",
            serde_json::from_value(defs).unwrap(),
            Some(QueueType::Quorum),
        );
        assert_eq!(s.queues[&EntityKey::new("v", "c")].kind, QueueType::Quorum);
    }

    #[test]
    fn listings_reduce_to_what_an_export_holds() {
        let d: Definitions = serde_json::from_value(json!({
            "exchanges": [{"name": ""}, {"name": "amq.topic", "type": "topic"}, {"name": "x"}],
            "queues": [
                {"name": "amq.gen-1", "exclusive": true, "durable": false},
                {"name": "q", "type": "quorum"}
            ],
            "bindings": [
                {"source": "", "destination": "q", "destination_type": "queue", "routing_key": "q"},
                {"source": "x", "destination": "amq.gen-1", "destination_type": "queue"},
                {"source": "x", "destination": "q", "destination_type": "queue"},
                {"source": "x", "destination": "amq.gen-1", "destination_type": "exchange"}
            ]
        }))
        .unwrap();
        let d = as_exported(d);
        let names: Vec<&str> = d.exchanges.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["x"]);
        let names: Vec<&str> = d.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["q"]);
        let kept: Vec<(&str, &str)> = d
            .bindings
            .iter()
            .map(|b| (b.destination.as_str(), b.destination_type.as_str()))
            .collect();
        assert_eq!(kept, [("q", "queue"), ("amq.gen-1", "exchange")]);
        // The listing's type column types a queue whose arguments do not say it.
        let mut s = State::default();
        add_definitions(&mut s, "v", d, None);
        assert_eq!(s.queues[&EntityKey::new("v", "q")].kind, QueueType::Quorum);
    }

    #[test]
    fn streamed_definitions_by_version() {
        for (v, want) in [
            ("3.10.8", false),
            ("4.2.8", false),
            ("4.2.9", true),
            ("4.3.0", false),
            ("4.3.2", false),
            ("4.3.3", true),
            ("4.3.6", true),
            ("4.4.0-rc.1", true),
        ] {
            assert_eq!(streams_definitions(v), want, "{v}");
        }
    }

    #[test]
    fn default_queue_type_support_by_version() {
        assert!(!keeps_vhost_default_queue_type("3.10.8"));
        assert!(keeps_vhost_default_queue_type("3.11.0"));
        assert!(keeps_vhost_default_queue_type("4.0.5"));
    }

    #[test]
    fn tags_both_shapes() {
        assert_eq!(tags_of(Some(&json!("b, a,"))), vec!["a", "b"]);
        assert_eq!(tags_of(Some(&json!(["x"]))), vec!["x"]);
    }
}
