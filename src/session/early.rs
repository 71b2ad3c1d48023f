//! Reading the broker while the file is still being checked.
//!
//! A no-op `topo plan` is a file load and a state read one after the other; half of the
//! load (the schema check, the rules, the desired state) comes after the file is parsed, and
//! at 10,000 queues it took about as long as a third of the state read. The parsed tree
//! already says where the broker is (its `broker` section) and which vhosts the file
//! names, so the read starts there, on the runtime's threads, while the main thread checks
//! the file.
//!
//! The guess is only used when it is provably the read the command would have made: the
//! valid file's `broker` section must equal the one parsed early and its desired state must
//! name exactly the vhosts read. Anything else (a file that turns out invalid, `--vhost`, a
//! list of nodes, a section that does not parse yet) drops the early read, and the command
//! reads as it always did. It only sends GETs.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Instant;

use crate::broker::endpoint::{ConnectArgs, Endpoints};
use crate::broker::failover::Proto;
use crate::broker::http::{HttpError, Management};
use crate::broker::preflight::{BrokerFacts, broker_facts};
use crate::broker::read::{Scope, read_state};
use crate::source::node::{Node, NodeKind};
use crate::state::{DEFAULT_VHOST, State};
use crate::topology::Topology;
use crate::topology::model::Broker;

/// What the early read finds: the live state of the vhosts (not yet settled: see
/// [`super::settle_live`]) and what the broker refuses.
pub type Found = (
    Result<State, HttpError>,
    anyhow::Result<Option<BrokerFacts>>,
);

/// A state read under way.
pub struct EarlyRead {
    broker: Option<Broker>,
    scope: BTreeSet<String>,
    endpoints: Endpoints,
    mgmt: Management,
    task: tokio::task::JoinHandle<Found>,
}

/// What a command gets from an early read it may use: the endpoints and client it read
/// through (the client's memo holds the version and node count read), and the read.
pub struct Taken {
    pub endpoints: Endpoints,
    pub mgmt: Management,
    pub read: tokio::task::JoinHandle<Found>,
}

/// The lists of the file whose entries live in a vhost (their `vhost`, else the file's).
const VHOST_LISTS: &[&str] = &[
    "exchanges",
    "queues",
    "bindings",
    "policies",
    "operator_policies",
    "permissions",
    "topic_permissions",
    "shovels",
    "federation_upstreams",
    "vhost_limits",
];

/// The top-level keys a file's head may hold for [`start_from_head`]: the ones that say
/// where the broker is and which vhosts the file's entries live in, and the ones the
/// canonical order (`topo fmt`) puts between them, which say nothing about the read.
const HEAD_KEYS: &[&str] = &["$schema", "version", "name", "vhost", "broker", "vhosts"];

/// How much of the file [`start_from_head`] reads.
const HEAD_BYTES: u64 = 64 * 1024;

/// Start reading from what the first keys of the file at `path` say, before the file is
/// parsed whole: parsing a 10,000-queue file takes about a third of the read, and a file
/// usually opens with its `vhost` and `broker` (as `topo init` and `topo fmt` write it).
/// The guess is that the entries live in the vhosts named there and the default one;
/// [`EarlyRead::settle`] tells, once the file is parsed, whether it was right. `None` for
/// stdin, a head that says nothing certain (a `${VAR}` in it) or one that does not parse
/// within its first [`HEAD_BYTES`].
pub fn start_from_head(
    rt: &tokio::runtime::Runtime,
    path: &std::path::Path,
    connect: &ConnectArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<EarlyRead> {
    if crate::source::is_stdin(path) {
        return None;
    }
    // The loader reads the whole file next; the head is in its first bytes. A head cut off
    // by the limit does not parse, and then nothing is guessed.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut bytes))
        .ok()?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
    };
    let head = crate::source::yaml::parse_head(text, crate::source::FileId(0), &|key| {
        HEAD_KEYS.contains(&key)
    })?;
    // Interpolation happens after the parse; a head that needs it is not guessed at.
    if mentions_dollar(&head) {
        return None;
    }
    let (broker, scope) = head_guess(&head)?;
    spawn(rt, broker, scope, connect, env)
}

/// Start reading `scope` from the broker `broker` names (with the flags and environment),
/// on `rt`. `None` when the endpoints do not resolve or are several nodes; the command then
/// reads as usual.
fn spawn(
    rt: &tokio::runtime::Runtime,
    broker: Option<Broker>,
    scope: BTreeSet<String>,
    connect: &ConnectArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<EarlyRead> {
    let topology = Topology {
        broker: broker.clone(),
        ..Topology::default()
    };
    let endpoints = Endpoints::resolve(connect, Some(&topology), env).ok()?;
    // Several nodes: which one answers is the failover's business, said on stderr.
    if endpoints.nodes.several(Proto::Management) {
        return None;
    }
    let _in_runtime = rt.enter();
    let mgmt = Management::new(&endpoints).ok()?;
    let (m, s) = (mgmt.clone(), Scope::Vhosts(scope.clone()));
    let task = rt.spawn(async move { tokio::join!(read_state(&m, &s), broker_facts(&m)) });
    Some(EarlyRead {
        broker,
        scope,
        endpoints,
        mgmt,
        task,
    })
}

/// The broker section and the vhosts a parsed tree names.
fn guess(tree: &Node) -> Option<(Option<Broker>, BTreeSet<String>)> {
    let broker = match tree.get("broker") {
        None => None,
        Some(b) => Some(serde_json::from_value::<Broker>(b.to_json()).ok()?),
    };
    Some((broker, vhost_scope(tree)?))
}

/// What a file's head says: its broker section, and its vhosts with its default vhost,
/// which its entries (not read yet) are guessed to use.
fn head_guess(head: &Node) -> Option<(Option<Broker>, BTreeSet<String>)> {
    let (broker, mut scope) = guess(head)?;
    scope.insert(default_vhost(head)?.to_string());
    Some((broker, scope))
}

fn mentions_dollar(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Str { value, .. } => value.contains('$'),
        NodeKind::Seq(items) => items.iter().any(mentions_dollar),
        NodeKind::Map(entries) => entries.iter().any(|e| mentions_dollar(&e.value)),
        _ => false,
    }
}

impl EarlyRead {
    /// Once the file is parsed: keep `read` (started from its head at `began`) if the
    /// parsed `tree` calls for the same read (same broker section, same vhosts), else stop
    /// it (it only sent GETs) and start the one the tree calls for.
    pub fn settle(
        read: Option<EarlyRead>,
        began: Instant,
        rt: &tokio::runtime::Runtime,
        tree: &Node,
        connect: &ConnectArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<EarlyRead> {
        let (broker, scope) = guess(tree)?;
        if let Some(read) = read {
            if read.broker == broker && read.scope == scope {
                crate::trace::done(began, || {
                    "  the read from the file's first keys: kept".into()
                });
                return Some(read);
            }
            read.task.abort();
            crate::trace::done(began, || {
                "  the read from the file's first keys: dropped, read again".into()
            });
        }
        spawn(rt, broker, scope, connect, env)
    }

    /// The read, if it is the one the valid `topology` and its `desired` state call for;
    /// else it is stopped.
    pub fn take(self, topology: &Topology, desired: &State) -> Option<Taken> {
        if topology.broker != self.broker || desired.vhost_names() != self.scope {
            self.task.abort();
            return None;
        }
        Some(Taken {
            endpoints: self.endpoints,
            mgmt: self.mgmt,
            read: self.task,
        })
    }
}

/// The vhosts a parsed file names, as [`State::vhost_names`] will find them; `None` when a
/// vhost field is not a string (the checks will say what is wrong).
fn vhost_scope(tree: &Node) -> Option<BTreeSet<String>> {
    let default = default_vhost(tree)?;
    let mut scope = BTreeSet::new();
    for v in items(tree, "vhosts") {
        scope.insert(v.get("name")?.as_str()?.to_string());
    }
    for list in VHOST_LISTS {
        for item in items(tree, list) {
            let vhost = match item.get("vhost") {
                None => default,
                Some(v) => v.as_str()?,
            };
            if !scope.contains(vhost) {
                scope.insert(vhost.to_string());
            }
        }
    }
    Some(scope)
}

/// The vhost of the file's entries that name none.
fn default_vhost(tree: &Node) -> Option<&str> {
    match tree.get("vhost") {
        None => Some(DEFAULT_VHOST),
        Some(v) => v.as_str(),
    }
}

fn items<'a>(tree: &'a Node, key: &str) -> &'a [Node] {
    match tree.get(key).map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(yaml: &str) -> Node {
        crate::source::yaml::parse(yaml, crate::source::FileId(0)).expect("test YAML parses")
    }

    /// The early scope is the desired state's, for a file that uses the default vhost,
    /// its own default, explicit vhosts and vhost-less lists (users).
    #[test]
    fn scope_matches_the_desired_state() {
        for yaml in [
            "version: 1\nqueues: [{name: q}]\n",
            "version: 1\nvhost: app\nqueues: [{name: q}]\nusers: [{name: u}]\n",
            "version: 1\nvhosts: [{name: a}]\nexchanges: [{name: x, type: topic, vhost: b}]\n\
             bindings: [{source: x, destination: q, vhost: b}]\npermissions: \
             [{user: u, vhost: c, configure: '', write: '', read: ''}]\n",
        ] {
            let t = tree(yaml);
            let topology: Topology =
                serde_json::from_value(t.to_json()).expect("test file fits the model");
            let desired = State::from_topology(&topology, &|_| None);
            assert_eq!(vhost_scope(&t), Some(desired.vhost_names()), "{yaml}");
        }
    }

    #[test]
    fn a_vhost_that_is_not_a_string_gives_no_guess() {
        assert_eq!(vhost_scope(&tree("version: 1\nvhost: [a]\n")), None);
        assert_eq!(
            vhost_scope(&tree("version: 1\nqueues: [{name: q, vhost: 3}]\n")),
            None
        );
    }

    /// A file that opens with its vhost and broker is guessed right from its head; one
    /// whose entries live elsewhere, or whose broker section comes later, is not, and the
    /// read is started again from the whole tree.
    #[test]
    fn the_head_guess_fits_only_the_file_it_describes() {
        let head_of = |yaml: &str| {
            crate::source::yaml::parse_head(yaml, crate::source::FileId(0), &|k| {
                HEAD_KEYS.contains(&k)
            })
            .map(|h| head_guess(&h))
        };
        let right = "version: 1\nvhost: app\nbroker: {plugins: [rabbitmq_shovel]}\n\
                     queues: [{name: q}]\nusers: [{name: u}]\n";
        let (broker, scope) = head_of(right).flatten().expect("a guess");
        assert_eq!(guess(&tree(right)), Some((broker, scope)));
        for wrong in [
            "version: 1\nvhost: app\nqueues: [{name: q, vhost: other}]\n",
            "version: 1\nqueues: [{name: q}]\nbroker: {plugins: [rabbitmq_shovel]}\n",
            "version: 1\nvhost: app\nvhosts: [{name: b}]\n",
        ] {
            let from_head = head_of(wrong).flatten();
            assert!(from_head.is_some(), "{wrong}");
            assert_ne!(from_head, guess(&tree(wrong)), "{wrong}");
        }
        assert!(mentions_dollar(&tree(
            "broker: {management_url: '${URL}'}\n"
        )));
        assert!(!mentions_dollar(&tree(right)));
    }
}
