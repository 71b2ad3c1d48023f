//! The broker session plan, apply and export share: the process environment, the async
//! runtime, reading the live state (retrying with `--wait`), and planning against it with
//! exact message counts. Commands decide what to do with the result; nothing here prints
//! to stdout.

pub mod early;

use std::time::{Duration, Instant};

use crate::broker::amqp::Amqp;
use crate::broker::endpoint::Endpoints;
use crate::broker::http::{HttpError, Management};
use crate::broker::read::{self, Scope};
use crate::error::Hinted;
use crate::plan::{Plan, PlanOptions, plan};
use crate::state::{Credential, Secret, State};
use crate::topology::{Topology, Valid};

/// The process environment, as the loader and credentials see it.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A loaded, valid file and its desired state.
pub struct Prepared {
    pub topology: Topology,
    pub desired: State,
    /// The file named on the command line.
    pub entry: std::path::PathBuf,
    /// Every file read, with its digest (for saved plans).
    pub files: Vec<crate::saved_plan::FileDigest>,
    /// Bindings an interrupted apply of this file had yet to re-create, already part of
    /// `desired` (see [`crate::apply::pending`]).
    pub pending: Vec<crate::state::BindingKey>,
}

impl Prepared {
    /// The desired state of a valid file. A user whose password variable is unset or empty
    /// is refused here, before anything is read from the broker.
    pub fn from_valid(valid: Valid) -> anyhow::Result<Prepared> {
        let desired = State::from_topology(&valid.topology, &env);
        for (name, user) in &desired.users {
            if let Credential::Env { var, value } = &user.credential
                && let Some(why) = unusable(value.as_ref().map(Secret::expose))
            {
                return Err(Hinted::new(
                    format!(
                        "user `{name}` takes its password from environment variable {var}, {why}"
                    ),
                    format!("set {var} to the password before running topo (the value is never printed; RabbitMQ refuses a blank password at login)"),
                )
                .into());
            }
        }
        if let Some((what, var, why)) = unusable_uri_variable(&valid.topology) {
            return Err(Hinted::new(
                format!("{what} takes its URI from environment variable {var}, {why}"),
                format!("set {var} to the AMQP URI, credentials included, before running topo (it is never printed)"),
            )
            .into());
        }
        Ok(Prepared {
            files: crate::saved_plan::file_digests(&valid.sources),
            entry: valid.entry,
            topology: valid.topology,
            desired,
            pending: Vec::new(),
        })
    }
}

/// The first shovel or federation upstream whose `uri_env` names an unset or empty
/// variable: what it is, the variable (the first such one of a list), and which it is.
fn unusable_uri_variable(t: &Topology) -> Option<(String, String, &'static str)> {
    let shovels = t.shovels.iter().flat_map(|s| {
        [("source", &s.source), ("destination", &s.destination)]
            .into_iter()
            .filter_map(move |(end, e)| {
                e.uri_env
                    .as_ref()
                    .map(|v| (format!("the {end} of shovel `{}`", s.name), v))
            })
    });
    let upstreams = t.federation_upstreams.iter().filter_map(|u| {
        u.uri_env
            .as_ref()
            .map(|v| (format!("federation upstream `{}`", u.name), v))
    });
    shovels.chain(upstreams).find_map(|(what, vars)| {
        vars.items().into_iter().find_map(|var| {
            unusable(env(var).as_deref()).map(|why| (what.clone(), var.to_string(), why))
        })
    })
}

/// Why a variable's value cannot be used, if it cannot: unset, or set to nothing (a CI
/// secret that was never defined usually arrives as an empty string, and the broker would
/// take it as a password nobody can log in with, or refuse it as a URI).
fn unusable(value: Option<&str>) -> Option<&'static str> {
    match value {
        None => Some("which is not set"),
        Some("") => Some("which is empty"),
        Some(_) => None,
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// Read the live state of the vhosts `desired` names, retrying transient failures until
/// `wait` runs out. topo's own permissions are not the file's business (the broker grants
/// them to the creator of a vhost), so they are left out unless the file names them.
///
/// On a broker that cannot keep a vhost's default queue type (3.10), that field of the
/// file is dropped from `desired` with a note: the queues of that vhost already carry
/// their type explicitly, and planning the field would be a perpetual diff.
pub async fn read_live(
    mgmt: &Management,
    desired: &mut State,
    wait: Option<Duration>,
) -> anyhow::Result<State> {
    let scope = Scope::Vhosts(desired.vhost_names());
    let live = read_with_wait(mgmt, &scope, wait).await?;
    settle_live(mgmt, desired, live).await
}

/// The second half of [`read_live`], for a state read of the file's vhosts however it was
/// started ([`early`] starts it before the file is checked).
pub async fn settle_live(
    mgmt: &Management,
    desired: &mut State,
    mut live: State,
) -> anyhow::Result<State> {
    if desired
        .vhosts
        .values()
        .any(|v| v.default_queue_type.is_some())
    {
        let version = read::broker_version(mgmt)
            .await
            .map_err(HttpError::into_user_error)?;
        if let Some(v) = version.filter(|v| !read::keeps_vhost_default_queue_type(v)) {
            // Said once: the first reading clears the field, so the read-back never gets here.
            eprintln!(
                "topo: note: RabbitMQ {v} keeps no per-vhost default queue type; the queues \
                 of those vhosts are declared with their type instead"
            );
            for vh in desired.vhosts.values_mut() {
                vh.default_queue_type = None;
            }
        }
    }
    let me = mgmt.user().to_string();
    live.permissions
        .retain(|k, _| k.user != me || desired.permissions.contains_key(k));
    Ok(live)
}

/// With `--wait`, wait for AMQP too: during boot the management port can answer before
/// the AMQP listener does. Any answer from AMQP (even a refused login or vhost, which the
/// later steps explain) ends the wait; no answer until the deadline is an error.
pub async fn wait_for_amqp(ep: &Endpoints, wait: Option<Duration>) -> anyhow::Result<()> {
    let Some(wait) = wait else {
        return Ok(());
    };
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Each node of a list gets the timeout (amqp::connect tries them in turn).
        let limit = ep
            .amqp_connect_limit()
            .min(left.max(Duration::from_secs(1)));
        let why = match tokio::time::timeout(limit, crate::broker::amqp::connect(ep, "/")).await {
            Ok(Ok(conn)) => {
                let _ =
                    tokio::time::timeout(ep.timeout, conn.close(200, "topo: ready".into())).await;
                return Ok(());
            }
            Ok(Err(e)) if matches!(e.kind(), lapin::ErrorKind::ProtocolError(_)) => return Ok(()),
            Ok(Err(e)) => crate::error::redact(&e.to_string()),
            Err(_) => format!("no answer within {}s", limit.as_secs()),
        };
        if Instant::now() >= deadline {
            return Err(Hinted::new(
                format!(
                    "AMQP at {} was not ready within --wait {}: {why}",
                    ep.amqp,
                    humantime::format_duration(wait)
                ),
                "check that the AMQP listener is up and --amqp-url (TOPO_AMQP_URL) names it",
            )
            .into());
        }
        if !said {
            eprintln!("topo: waiting for AMQP at {} ({why})", ep.amqp);
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn read_with_wait(
    mgmt: &Management,
    scope: &Scope,
    wait: Option<Duration>,
) -> anyhow::Result<State> {
    let deadline = wait.map(|w| Instant::now() + w);
    if let (Some(d), Some(w)) = (deadline, wait) {
        wait_for_cluster(mgmt, d, w).await?;
    }
    let mut said = false;
    loop {
        match read::read_state(mgmt, scope).await {
            Ok(s) => return Ok(s),
            Err(e) if e.is_transient() && deadline.is_some_and(|d| Instant::now() < d) => {
                if !said {
                    eprintln!("topo: waiting for the broker ({e})");
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                let e = e.into_user_error();
                return Err(match wait {
                    Some(w) => e.context(format!(
                        "the broker was not ready within --wait {}",
                        humantime::format_duration(w)
                    )),
                    None => e,
                });
            }
        }
    }
}

/// Whether the file or the command line describes a cluster (then its quorum queues are
/// meant to survive the loss of a node).
pub fn describes_cluster(topo: &Topology, endpoints: &Endpoints) -> bool {
    use crate::broker::failover::Proto;
    topo.broker
        .as_ref()
        .and_then(|b| b.nodes)
        .is_some_and(|n| n > 1)
        || endpoints.nodes.several(Proto::Amqp)
        || endpoints.nodes.several(Proto::Management)
}

/// Nodes of the cluster behind the management API (1 when it cannot be told: the number
/// only feeds advice and the lag re-read).
pub async fn cluster_size(mgmt: &Management) -> usize {
    match crate::broker::cluster::node_count(mgmt).await {
        Ok(n) => n.max(1),
        Err(_) => 1,
    }
}

/// Warnings about quorum queues and streams that do not fit the cluster. The plan itself
/// is unchanged; they go to stderr and into the JSON plan's `warnings`.
pub fn quorum_advice(desired: &State, live: &State, nodes: usize, clustered: bool) -> Vec<String> {
    use crate::plan::quorum::{ClusterView, warnings};
    warnings(desired, live, ClusterView { nodes, clustered })
}

/// Whether the file or the broker has operator policies: without any there is no policy
/// advice to give, and no need to ask the broker which rules combine them.
pub fn operator_policies_in_play(desired: &State, live: &State) -> bool {
    !desired.operator_policies.is_empty() || !live.operator_policies.is_empty()
}

/// Queues of the file whose user policy and operator policy set a key differently, with
/// the value each gets (once the plan is carried out). Advice, like [`quorum_advice`].
pub async fn policy_advice(
    mgmt: &Management,
    desired: &State,
    live: &State,
    plan: &crate::plan::Plan,
) -> Vec<String> {
    if !operator_policies_in_play(desired, live) {
        return Vec::new();
    }
    policy_advice_for(policy_line(mgmt).await, desired, live, plan)
}

/// [`policy_advice`] once the broker's line is known: pure, so that a command can run it
/// beside other work (plan counts drift meanwhile).
pub fn policy_advice_for(
    line: crate::state::effective::Line,
    desired: &State,
    live: &State,
    plan: &crate::plan::Plan,
) -> Vec<String> {
    if !operator_policies_in_play(desired, live) {
        return Vec::new();
    }
    // A plan without changes leaves the broker as it is: no copy of its state (at 10,000
    // queues the clone cost tens of ms of every no-op plan).
    if plan.changes.is_empty() {
        return crate::plan::policies::notes(desired, live, line);
    }
    let after = crate::plan::apply_to_state(plan, live);
    crate::plan::policies::notes(desired, &after, line)
}

/// The broker's release line for the policy advice (4.x when it cannot be told).
pub async fn policy_line(mgmt: &Management) -> crate::state::effective::Line {
    use crate::state::effective::Line;
    match read::broker_version(mgmt).await {
        Ok(Some(v)) => Line::of_version(&v),
        _ => Line::V4,
    }
}

/// A plan's warnings on stderr (talk), whatever the format of stdout.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("topo: warning: {w}");
    }
}

/// Which reading a lag re-read follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// `topo plan`: one more reading, one second later.
    Plan,
    /// apply's read-back: up to three more, after 0.5, 1 and 2 seconds.
    Verify,
}

/// On a cluster, a reading through one node can briefly miss writes just made through
/// another (RabbitMQ 4.x reads its metadata store locally), which would show as a false
/// difference. A plan with changes on a cluster of several nodes is therefore read again
/// after a pause, up to a bound, until it stops changing or comes out empty; what happened
/// is said on stderr. A single broker is never re-read.
pub async fn reread_if_lagging(
    mgmt: &Management,
    endpoints: &Endpoints,
    desired: &mut State,
    opts: &PlanOptions,
    (mut plan, mut live): (Plan, State),
    nodes: usize,
    lag: Lag,
) -> anyhow::Result<(Plan, State)> {
    if nodes < 2 {
        return Ok((plan, live));
    }
    let pauses: &[u64] = match lag {
        Lag::Plan => &[1000],
        Lag::Verify => &[500, 1000, 2000],
    };
    for &ms in pauses {
        if plan.is_empty() {
            break;
        }
        if lag == Lag::Verify {
            eprintln!(
                "topo: the read-back through {} differs in {} change{}; reading again in {:.1}s                  (a node of the cluster may lag behind the writes)",
                mgmt.base(),
                plan.changes.len(),
                if plan.changes.len() == 1 { "" } else { "s" },
                ms as f64 / 1000.0
            );
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let mut again = read_live(mgmt, desired, None).await?;
        let next = make_plan(mgmt, endpoints, desired, &mut again, opts).await?;
        let changed = next != plan;
        if changed && lag == Lag::Plan {
            eprintln!(
                "topo: note: a second reading through {}, {:.1}s later, differed from the first                  (a node lagging behind recent writes); this plan is from the second",
                mgmt.base(),
                ms as f64 / 1000.0
            );
        }
        plan = next;
        live = again;
        if !changed {
            break;
        }
    }
    Ok((plan, live))
}

/// `--wait` waits for the whole cluster: every node it knows running, and as many nodes as
/// were listed joined (a single broker is a cluster of one).
async fn wait_for_cluster(
    mgmt: &Management,
    deadline: Instant,
    wait: Duration,
) -> anyhow::Result<()> {
    use crate::broker::cluster::{WaitError, wait_for_cluster};
    match wait_for_cluster(mgmt, deadline).await {
        Ok(_) => Ok(()),
        Err(WaitError::Http(e)) if e.is_transient() => Err(e.into_user_error().context(format!(
            "the broker was not ready within --wait {}",
            humantime::format_duration(wait)
        ))),
        Err(WaitError::Http(e)) => Err(e.into_user_error()),
        Err(WaitError::NotReady(why)) => Err(Hinted::new(
            format!(
                "the cluster was not ready within --wait {}: {why}",
                humantime::format_duration(wait)
            ),
            "start the missing nodes, or leave out --wait to use the nodes that answer",
        )
        .into()),
    }
}

/// Plan, with message counts read for the queues the plan replaces or deletes (over
/// AMQP: exact and current; the management API's figure as a fallback).
pub async fn make_plan(
    mgmt: &Management,
    endpoints: &Endpoints,
    desired: &State,
    live: &mut State,
    opts: &PlanOptions,
) -> anyhow::Result<Plan> {
    let first = plan(desired, live, opts);
    with_message_counts(mgmt, endpoints, desired, live, opts, first).await
}

/// `first` (the plan of `desired` against `live`), planned again once the queues it would
/// empty have their message counts: the export does not carry them, and `--allow-data-loss`
/// needs them. Split from [`make_plan`] so that a caller can work out `first` beside other
/// pure work (plan's drift count).
pub async fn with_message_counts(
    mgmt: &Management,
    endpoints: &Endpoints,
    desired: &State,
    live: &mut State,
    opts: &PlanOptions,
    first: Plan,
) -> anyhow::Result<Plan> {
    let queues: Vec<_> = first
        .changes
        .iter()
        .filter_map(|c| c.emptied_queue().cloned())
        .collect();
    if queues.is_empty() {
        return Ok(first);
    }
    let mut amqp = Amqp::new(endpoints);
    let counted = amqp.message_counts(&queues).await;
    amqp.close().await;
    match counted {
        Ok(counts) => {
            for (k, n) in counts {
                if let Some(q) = live.queues.get_mut(&k) {
                    q.messages = Some(n);
                }
            }
        }
        Err(_) => read::fill_message_counts(mgmt, live, &queues)
            .await
            .map_err(HttpError::into_user_error)?,
    }
    Ok(plan(desired, live, opts))
}
