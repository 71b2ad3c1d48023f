//! Carrying out a [`Plan`] against a live broker, in dependency order: vhosts, users,
//! permissions and policies through the management API; exchanges, queues and bindings
//! over AMQP, pipelined; topic permissions through the management API once the exchanges
//! exist; then deletes in reverse order. A replace deletes the entity,
//! declares it again and re-creates the bindings the broker dropped with it.
//!
//! A failure stops the apply and says which change failed and what had already landed;
//! every step is idempotent, so running apply again converges.

pub mod pending;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::broker::amqp::{Amqp, AmqpError, OVERLOAD_RETRIES, Op};
use crate::broker::http::{HttpError, Management};
use crate::plan::limits::{LimitCall, Owner};
use crate::plan::{
    Action, BindingChange, Change, EntityChange, ExchangeChange, LinkChange, PermissionChange,
    Plan, PolicyChange, QueueChange, TopicPermissionChange, UserChange, UserDefinition,
    UserPassword, VhostChange, rank,
};
use crate::state::password;
use crate::state::queue_args::QUEUE_TYPE_ARGUMENT;
use crate::state::{BindingKey, PolicyState};
use crate::topology::model::QueueType;

/// Concurrent management API calls.
const HTTP_PARALLEL: usize = 16;
/// Entities per `POST /api/definitions/{vhost}` (the listener cuts a request at 60 s).
const DEFINITIONS_CHUNK: usize = 2000;

/// How exchanges, queues and bindings are created (see docs/plan-apply.md for the
/// measurements that chose the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// Pipelined AMQP declares.
    #[default]
    Amqp,
    /// The broker's definitions import of just the missing entities, chunked.
    Definitions,
}

/// Why apply stopped.
#[derive(Debug, thiserror::Error)]
#[error(
    "{failed}\n  already done: {done}\n  requests in flight at that moment may or may not have landed; all steps are idempotent: fix the cause and run topo apply again (it converges)"
)]
pub struct ApplyFailure {
    /// The step that failed, with the broker's reason.
    pub failed: String,
    /// What landed before it, counted by step.
    pub done: String,
    pub hint: Option<String>,
    /// Bindings of replaced queues and exchanges that may be gone: their entity was
    /// deleted, and the stage that re-creates them did not finish (see [`pending`]).
    pub unbound: Vec<BindingKey>,
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise (CI logs).
///
/// The bar is per stage: its length is the stage's operations and it moves as the broker
/// confirms them, so a 10,000-queue stage shows how far it got rather than sitting on one
/// overall count. It is drawn as soon as the first stage starts (the first change), and a
/// steady tick keeps the elapsed time moving while a stage waits on the broker.
pub struct Progress {
    /// The bar's look, on a terminal only.
    style: Option<ProgressStyle>,
    /// The current stage's bar: a new one per stage, so that no redraw ever mixes one
    /// stage's name with another's counts.
    bar: std::sync::Mutex<Option<ProgressBar>>,
    /// When the apply started: a plain line says how far into the apply its stage began.
    /// (Not a count of the whole: a stage's operations are not the plan's changes, a replace
    /// is a delete and a declare, a topic permission one call per exchange, so a running
    /// "x of y" read 9332 of 9328.)
    started: std::time::Instant,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        let style = (std::io::stderr().is_terminal() && total > 0).then(|| {
            // The counts before the bar: a narrow terminal cuts the line's end, and the
            // counts are what says how far the stage got.
            ProgressStyle::with_template("{spinner} {msg} {pos}/{len} [{wide_bar}] {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ")
        });
        Progress {
            style,
            bar: std::sync::Mutex::new(None),
            started: std::time::Instant::now(),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A poisoned lock only means a panic elsewhere; the bar itself is still usable.
        self.bar.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A stage of `n` operations starts (nothing is shown for an empty one).
    fn stage(&self, name: &str, n: usize) {
        if n == 0 {
            return;
        }
        match &self.style {
            Some(style) => {
                let b = ProgressBar::with_draw_target(
                    Some(n as u64),
                    indicatif::ProgressDrawTarget::stderr(),
                )
                .with_style(style.clone())
                .with_message(name.to_string());
                b.enable_steady_tick(Duration::from_millis(100));
                if let Some(old) = self.current().replace(b) {
                    old.finish_and_clear();
                }
            }
            None => eprintln!(
                "topo: {name}: {n} (at {:.1}s)",
                self.started.elapsed().as_secs_f64()
            ),
        }
    }

    /// `n` more operations of the current stage were confirmed.
    fn advance(&self, n: usize) {
        if let Some(b) = self.current().as_ref() {
            b.inc(n as u64);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = self.current().take() {
            b.finish_and_clear();
        }
    }
}

/// What landed so far, by step, for the failure message.
#[derive(Default)]
struct Ledger {
    steps: Vec<(String, usize)>,
}

impl Ledger {
    fn add(&mut self, step: &str, n: usize) {
        if n > 0 {
            self.steps.push((step.to_string(), n));
        }
    }
    fn text(&self) -> String {
        if self.steps.is_empty() {
            return "nothing".into();
        }
        self.steps
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Carry out `plan` (already checked against `--allow-replace` / `--allow-data-loss`).
/// The plan carries everything needed: nothing is read from the broker here. A failure
/// lists the bindings that a replace deleted and that were not re-created yet.
pub async fn apply(
    plan: &Plan,
    mgmt: &Management,
    amqp: &mut Amqp,
    via: Via,
    progress: &Progress,
) -> Result<usize, ApplyFailure> {
    let mut unbound_in = BTreeSet::new();
    apply_tracked(plan, mgmt, amqp, via, progress, &mut unbound_in)
        .await
        .map_err(|mut f| {
            let mut unbound: Vec<BindingKey> = plan
                .changes
                .iter()
                .filter(|c| c.entity.vhost().is_some_and(|v| unbound_in.contains(v)))
                .flat_map(|c| c.rebind().iter().cloned())
                .collect();
            unbound.sort();
            unbound.dedup();
            f.unbound = unbound;
            f
        })
}

/// [`apply`], keeping in `unbound_in` the vhosts where replaced entities were deleted and
/// their bindings not re-created yet.
async fn apply_tracked(
    plan: &Plan,
    mgmt: &Management,
    amqp: &mut Amqp,
    via: Via,
    progress: &Progress,
    unbound_in: &mut BTreeSet<String>,
) -> Result<usize, ApplyFailure> {
    let mut ledger = Ledger::default();
    let me = mgmt.user();
    let forward = |rank: u8| -> Vec<&Change> {
        plan.changes
            .iter()
            .filter(|c| c.action() != Action::Delete && c.rank() == rank && !own(plan, c, me))
            .collect()
    };
    let deletes = |rank: u8| -> Vec<&Change> {
        plan.changes
            .iter()
            .filter(|c| c.action() == Action::Delete && c.rank() == rank && !own(plan, c, me))
            .collect()
    };

    // 1. Management API: vhosts, users, permissions, policies.
    for (rank, step) in [
        (rank::VHOST, "vhosts"),
        (rank::USER, "users"),
        (rank::PERMISSION, "permissions"),
        (rank::POLICY, "policies"),
    ] {
        let changes = forward(rank);
        let calls: Vec<HttpCall> = changes.iter().filter_map(|c| http_put(c)).collect();
        progress.stage(step, calls.len());
        run_http(mgmt, calls, step, &mut ledger, progress).await?;
    }
    // Limits that loosen (removed, raised) before the declares that may need them.
    let limits = [forward(rank::VHOST_LIMITS), forward(rank::USER_LIMITS)].concat();
    run_limits(
        mgmt,
        &limits,
        false,
        "raising limits",
        &mut ledger,
        progress,
    )
    .await?;

    // Shovels and federation upstreams go before the queues and exchanges they move
    // messages between (a shovel left running would declare its source queue again).
    let step = "deleting shovels and federation upstreams";
    let calls: Vec<HttpCall> = deletes(rank::LINK)
        .iter()
        .filter_map(|c| http_delete(c))
        .collect();
    progress.stage(step, calls.len());
    run_http(mgmt, calls, step, &mut ledger, progress).await?;

    // 2. AMQP, per vhost, stage by stage.
    let mut per_vhost: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in &plan.changes {
        if (rank::EXCHANGE..=rank::BINDING).contains(&c.rank())
            && let Some(v) = c.entity.vhost()
        {
            per_vhost.entry(v).or_default().push(c);
        }
    }
    for (vhost, changes) in &per_vhost {
        let imported = via == Via::Definitions;
        if imported {
            import_creates(mgmt, vhost, changes, &mut ledger, progress).await?;
        }
        for stage in Stage::ALL {
            let step = stage.label();
            // Built stage by stage: the ops copy their definitions, and at 10,000 queues
            // holding every stage's copies at once is tens of MiB.
            let ops = stage_ops(stage, changes, imported);
            let n = ops.len();
            progress.stage(&format!("{step} in {vhost}"), n);
            let last = AtomicUsize::new(0);
            let tick = |d: usize| {
                let prev = last.swap(d, Ordering::Relaxed);
                if d > prev {
                    progress.advance(d - prev);
                }
            };
            // From the first delete of a replaced entity until the bindings stage is done,
            // its bindings may exist nowhere but in this plan.
            match stage {
                Stage::DeleteReplaced if n > 0 => {
                    unbound_in.insert(vhost.to_string());
                }
                _ => {}
            }
            match amqp.run(vhost, ops, &tick).await {
                Ok(done) => {
                    ledger.add(&format!("{step} in {vhost}"), done);
                    if let Stage::Bindings = stage {
                        unbound_in.remove(*vhost);
                    }
                }
                Err(f) => {
                    ledger.add(&format!("{step} in {vhost}"), f.done);
                    let hint = match &f.error {
                        AmqpError::Refused { detail, .. } if detail.contains("inequivalent") => {
                            Some(
                                "the broker has this entity with other properties and cannot \
                                 change them in place: run topo plan to see the replace, then \
                                 apply --allow-replace"
                                    .to_string(),
                            )
                        }
                        AmqpError::Refused { detail, .. } if detail.contains("not empty") => Some(
                            "messages arrived after topo counted them, and the broker kept \
                                 them: run topo plan again, drain the queue, or pass \
                                 --allow-data-loss"
                                .to_string(),
                        ),
                        AmqpError::AccessRefused {
                            user,
                            permission,
                            vhost,
                            ..
                        } => Some(access_hint(plan, user, permission, vhost)),
                        AmqpError::Overloaded { cause, .. } => Some(format!(
                            "{cause}, and was still after {OVERLOAD_RETRIES} retries with \
                             fewer quorum declares at once; nothing in the file is wrong: let \
                             the broker settle (check its CPU, memory and log), then run topo \
                             apply again"
                        )),
                        AmqpError::Refused { .. } => Some(
                            "the broker rejected a value of the file: fix the named argument"
                                .to_string(),
                        ),
                        AmqpError::Lost { .. } | AmqpError::Timeout { .. } => Some(
                            "check that the broker is up, then run topo apply again".to_string(),
                        ),
                        AmqpError::LockLost { .. } => Some(
                            "the lock's node went away; once it is back (RabbitMQ keeps the \
                             lock's queue until then), run topo apply again: it converges"
                                .to_string(),
                        ),
                        AmqpError::Connect { .. } | AmqpError::Invalid { .. } => None,
                    };
                    return Err(ApplyFailure {
                        failed: f.error.to_string(),
                        done: ledger.text(),
                        hint,
                        unbound: Vec::new(),
                    });
                }
            }
        }
    }

    // 3. Topic permissions: the clears an update needs before its sets, then the sets.
    let changes = forward(rank::TOPIC_PERMISSION);
    let (clears, sets) = topic_permission_calls(&changes);
    progress.stage("topic permissions", clears.len() + sets.len());
    run_http(
        mgmt,
        clears,
        "clearing topic permissions",
        &mut ledger,
        progress,
    )
    .await?;
    run_http(mgmt, sets, "topic permissions", &mut ledger, progress).await?;

    // Shovels and federation upstreams, once the queues and exchanges they name exist: a
    // shovel declares a missing source queue itself, as a classic queue.
    let step = "shovels and federation upstreams";
    let calls: Vec<HttpCall> = forward(rank::LINK)
        .iter()
        .filter_map(|c| http_put(c))
        .collect();
    progress.stage(step, calls.len());
    run_http(mgmt, calls, step, &mut ledger, progress).await?;
    // Limits that tighten (new, lowered) once topo's own declares are done: a vhost's
    // `max-connections: 0` would otherwise refuse topo's own connection to it.
    run_limits(mgmt, &limits, true, "limits", &mut ledger, progress).await?;

    // 4. Management API deletes: topic permissions, policies, then permissions.
    let gone = [deletes(rank::USER_LIMITS), deletes(rank::VHOST_LIMITS)].concat();
    run_limits(mgmt, &gone, false, "deleting limits", &mut ledger, progress).await?;
    for (rank, step) in [
        (rank::TOPIC_PERMISSION, "deleting topic permissions"),
        (rank::POLICY, "deleting policies"),
        (rank::PERMISSION, "deleting permissions"),
    ] {
        let changes = deletes(rank);
        let calls: Vec<HttpCall> = changes.iter().filter_map(|c| http_delete(c)).collect();
        progress.stage(step, calls.len());
        run_http(mgmt, calls, step, &mut ledger, progress).await?;
    }

    // 4. topo's own user (tags, password) and permissions, last: a file that narrows them
    // (`configure: "^$"`, no administrator tag) would otherwise refuse every step after.
    let own_changes: Vec<&Change> = plan.changes.iter().filter(|c| own(plan, c, me)).collect();
    let step = "topo's own user and permissions";
    progress.stage(step, own_changes.len());
    let calls: Vec<HttpCall> = own_changes
        .iter()
        .filter_map(|c| http_put(c).or_else(|| http_delete(c)))
        .collect();
    run_http(mgmt, calls, step, &mut ledger, progress).await?;
    Ok(plan.changes.len())
}

/// What to do about an ACCESS_REFUSED: widen that permission, said with the file's value
/// when the file sets it (topo applies its own user's permissions last, so it is the live
/// value that refused).
fn access_hint(plan: &Plan, user: &str, permission: &str, vhost: &str) -> String {
    let in_file = plan.changes.iter().find_map(|c| match &c.entity {
        EntityChange::Permission(k, PermissionChange::Create(p) | PermissionChange::Update(p))
            if k.user == user && k.vhost == vhost =>
        {
            Some(match permission {
                "configure" => p.configure.clone(),
                "write" => p.write.clone(),
                _ => p.read.clone(),
            })
        }
        _ => None,
    });
    let file = in_file
        .map(|re| {
            format!(
                " (the file sets it to `{re}`, which topo applies after the declares, so the \
                 broker's current value refused)"
            )
        })
        .unwrap_or_default();
    format!(
        "widen the `{permission}` permission of `{user}` in vhost `{vhost}`{file}: \
         `rabbitmqctl set_permissions -p {vhost} {user} CONFIGURE WRITE READ`, or apply as a \
         user that has it"
    )
}

/// Whether a change is to topo's own user (`me`) or its permissions, and so waits until
/// the end of apply. Not a permission topo lacks on a vhost that exists: that one is the
/// grant the declares need (preflight counts on it), so it goes first like the others.
fn own(plan: &Plan, c: &Change, me: &str) -> bool {
    match &c.entity {
        EntityChange::User(name, _) => name == me,
        EntityChange::Permission(k, PermissionChange::Create(_)) if k.user == me => {
            // On a vhost this plan creates, the broker grants its creator full permissions,
            // so the file's entry narrows them: last. On an existing vhost it is a grant.
            plan.changes.iter().any(|other| {
                matches!(&other.entity, EntityChange::Vhost(v, VhostChange::Create(_)) if *v == k.vhost)
            })
        }
        EntityChange::Permission(k, _) => k.user == me,
        _ => false,
    }
}

/// Create the missing exchanges, queues and bindings of one vhost through the broker's
/// definitions import, in chunks. Only creates: the import silently keeps an existing
/// entity whose properties differ, so replaces always go through AMQP.
async fn import_creates(
    mgmt: &Management,
    vhost: &str,
    changes: &[&Change],
    ledger: &mut Ledger,
    progress: &Progress,
) -> Result<(), ApplyFailure> {
    let mut exchanges = Vec::new();
    let mut queues = Vec::new();
    let mut bindings = Vec::new();
    for c in changes {
        match &c.entity {
            EntityChange::Exchange(k, ExchangeChange::Create(x)) => exchanges.push(json!({
                "name": k.name, "vhost": vhost, "type": x.kind, "durable": x.durable,
                "auto_delete": x.auto_delete, "internal": x.internal, "arguments": x.arguments,
            })),
            EntityChange::Queue(k, QueueChange::Create(d)) => {
                let q = &d.queue;
                let mut args = serde_json::to_value(&q.arguments).unwrap_or_else(|_| json!({}));
                if q.kind != QueueType::Classic || d.explicit_type {
                    args[QUEUE_TYPE_ARGUMENT] = json!(q.kind.as_str());
                }
                queues.push(json!({
                    "name": k.name, "vhost": vhost, "durable": q.durable,
                    "auto_delete": q.auto_delete, "arguments": args,
                }))
            }
            EntityChange::Binding(b, BindingChange::Create) => bindings.push(json!({
                "source": b.source, "vhost": vhost, "destination": b.destination,
                "destination_type": b.destination_type.as_str(), "routing_key": b.routing_key,
                "arguments": b.arguments.map(),
            })),
            // Only creates are imported: replaces, deletes and the management API's
            // entities go their own way.
            EntityChange::Exchange(_, ExchangeChange::Replace { .. } | ExchangeChange::Delete)
            | EntityChange::Queue(_, QueueChange::Replace { .. } | QueueChange::Delete { .. })
            | EntityChange::Binding(_, BindingChange::Delete)
            | EntityChange::Vhost(..)
            | EntityChange::User(..)
            | EntityChange::Permission(..)
            | EntityChange::Policy(..)
            | EntityChange::OperatorPolicy(..)
            | EntityChange::TopicPermission(..)
            | EntityChange::Link(..) => {}
            EntityChange::VhostLimits(..) | EntityChange::UserLimits(..) => {}
        }
    }
    progress.stage(
        "importing definitions",
        exchanges.len() + queues.len() + bindings.len(),
    );
    for (kind, items) in [
        ("exchanges", exchanges),
        ("queues", queues),
        ("bindings", bindings),
    ] {
        for chunk in items.chunks(DEFINITIONS_CHUNK) {
            let mut body = json!({"exchanges": [], "queues": [], "bindings": []});
            body[kind] = Value::Array(chunk.to_vec());
            let what = format!("importing {} {kind} into vhost {vhost}", chunk.len());
            if let Err(e) = mgmt.post(&["definitions", vhost], &body, &what).await {
                return Err(ApplyFailure {
                    hint: e.hint(),
                    failed: e.to_string(),
                    done: ledger.text(),
                    unbound: Vec::new(),
                });
            }
            ledger.add(&format!("{kind} imported into {vhost}"), chunk.len());
            progress.advance(chunk.len());
        }
    }
    Ok(())
}

/// The AMQP stages of one vhost. Each needs the one before it to have finished.
#[derive(Debug, Clone, Copy)]
enum Stage {
    DeleteReplaced,
    Exchanges,
    Queues,
    Bindings,
    Unbinding,
    DeleteQueues,
    DeleteExchanges,
}

impl Stage {
    const ALL: [Stage; 7] = [
        Stage::DeleteReplaced,
        Stage::Exchanges,
        Stage::Queues,
        Stage::Bindings,
        Stage::Unbinding,
        Stage::DeleteQueues,
        Stage::DeleteExchanges,
    ];

    fn label(self) -> &'static str {
        match self {
            Stage::DeleteReplaced => "deleting replaced entities",
            Stage::Exchanges => "exchanges",
            Stage::Queues => "queues",
            Stage::Bindings => "bindings",
            Stage::Unbinding => "unbinding",
            Stage::DeleteQueues => "deleting queues",
            Stage::DeleteExchanges => "deleting exchanges",
        }
    }
}

/// The operations of one stage. `imported`: the creates already went through the
/// definitions import.
fn stage_ops(stage: Stage, changes: &[&Change], imported: bool) -> Vec<Op> {
    if let Stage::Bindings = stage {
        let mut binds: Vec<&BindingKey> = Vec::new();
        let mut rebinds: Vec<&BindingKey> = Vec::new();
        for c in changes {
            if let EntityChange::Binding(b, BindingChange::Create) = &c.entity
                && !imported
            {
                binds.push(b);
            }
            rebinds.extend(c.rebind());
        }
        rebinds.sort();
        rebinds.dedup();
        binds.extend(rebinds);
        return spread_by_source(binds)
            .into_iter()
            .map(|b| Op::Bind(b.clone()))
            .collect();
    }
    let mut ops = Vec::new();
    let mut unbinds = Vec::new();
    for c in changes {
        entity_ops(stage, c, imported, &mut ops, &mut unbinds);
    }
    if !unbinds.is_empty() {
        ops.extend(
            spread_by_source(unbinds)
                .into_iter()
                .map(|b| Op::Unbind(b.clone())),
        );
    }
    ops
}

/// What one change does in one stage (the bindings stage aside: see [`stage_ops`]).
/// Every kind and step is named, so a new one does not compile until it is placed.
fn entity_ops<'a>(
    stage: Stage,
    c: &'a Change,
    imported: bool,
    ops: &mut Vec<Op>,
    unbinds: &mut Vec<&'a BindingKey>,
) {
    use EntityChange as E;
    match (&c.entity, stage) {
        (E::Exchange(k, ExchangeChange::Replace { .. }), Stage::DeleteReplaced) => {
            ops.push(Op::DeleteExchange(k.clone()))
        }
        (E::Queue(k, QueueChange::Replace { .. }), Stage::DeleteReplaced) => {
            ops.push(Op::DeleteQueue(k.clone()))
        }
        (E::Exchange(k, ExchangeChange::Create(x)), Stage::Exchanges) if !imported => {
            ops.push(Op::DeclareExchange(k.clone(), x.clone()))
        }
        (E::Exchange(k, ExchangeChange::Replace { exchange, .. }), Stage::Exchanges) => {
            ops.push(Op::DeclareExchange(k.clone(), exchange.clone()))
        }
        (E::Queue(k, QueueChange::Create(q)), Stage::Queues) if !imported => ops.push(
            Op::DeclareQueue(k.clone(), q.queue.clone(), q.explicit_type),
        ),
        (E::Queue(k, QueueChange::Replace { queue, .. }), Stage::Queues) => ops.push(
            Op::DeclareQueue(k.clone(), queue.queue.clone(), queue.explicit_type),
        ),
        (E::Binding(b, BindingChange::Delete), Stage::Unbinding) => unbinds.push(b),
        (E::Queue(k, QueueChange::Delete { .. }), Stage::DeleteQueues) => {
            ops.push(Op::DeleteQueue(k.clone()))
        }
        (E::Exchange(k, ExchangeChange::Delete), Stage::DeleteExchanges) => {
            ops.push(Op::DeleteExchange(k.clone()))
        }
        (
            E::Exchange(
                _,
                ExchangeChange::Create(_) | ExchangeChange::Replace { .. } | ExchangeChange::Delete,
            )
            | E::Queue(
                _,
                QueueChange::Create(_) | QueueChange::Replace { .. } | QueueChange::Delete { .. },
            )
            | E::Binding(_, BindingChange::Create | BindingChange::Delete)
            // The management API's entities have no AMQP stage.
            | E::Vhost(..)
            | E::User(..)
            | E::Permission(..)
            | E::Policy(..)
            | E::OperatorPolicy(..)
            | E::TopicPermission(..)
            | E::Link(..)
            | E::VhostLimits(..)
            | E::UserLimits(..),
            Stage::DeleteReplaced
            | Stage::Exchanges
            | Stage::Queues
            | Stage::Bindings
            | Stage::Unbinding
            | Stage::DeleteQueues
            | Stage::DeleteExchanges,
        ) => {}
    }
}

/// Reorder bindings so that consecutive ones have different sources: take one binding of
/// each source exchange in turn. The broker changes an exchange's bindings under a lock
/// on that exchange, so the planner's sorted order (all bindings of one exchange
/// together) made the parallel channels wait on each other; spread out, 20,000 bindings
/// went in about 1.2x faster (docs/plan-apply.md).
fn spread_by_source(bindings: Vec<&BindingKey>) -> Vec<&BindingKey> {
    let total = bindings.len();
    let mut groups: BTreeMap<&str, std::collections::VecDeque<&BindingKey>> = BTreeMap::new();
    for b in bindings {
        groups.entry(b.source.as_str()).or_default().push_back(b);
    }
    let mut groups: Vec<_> = groups.into_values().collect();
    let mut out = Vec::with_capacity(total);
    while !groups.is_empty() {
        groups.retain_mut(|g| match g.pop_front() {
            Some(b) => {
                out.push(b);
                true
            }
            None => false,
        });
    }
    out
}

/// One management API call: method, path segments, body, description.
struct HttpCall {
    delete: bool,
    path: Vec<String>,
    body: Value,
    what: String,
}

/// The management API call of one change, if it has one. Every kind and step is named.
fn http_put(c: &Change) -> Option<HttpCall> {
    use EntityChange as E;
    let (path, body) = match &c.entity {
        E::Vhost(name, VhostChange::Create(v) | VhostChange::Update(v)) => {
            let mut body = json!({});
            if let Some(d) = &v.description {
                body["description"] = json!(d);
            }
            if let Some(t) = &v.tags {
                body["tags"] = json!(t.join(","));
            }
            if let Some(q) = v.default_queue_type {
                body["default_queue_type"] = json!(q.as_str());
            }
            (vec!["vhosts".into(), name.clone()], body)
        }
        E::User(name, UserChange::Create(u) | UserChange::Update(u)) => {
            (vec!["users".into(), name.clone()], user_body(u))
        }
        E::Permission(k, PermissionChange::Create(p) | PermissionChange::Update(p)) => (
            vec!["permissions".into(), k.vhost.clone(), k.user.clone()],
            json!({"configure": p.configure, "write": p.write, "read": p.read}),
        ),
        E::Policy(k, PolicyChange::Create(p) | PolicyChange::Update(p)) => (
            vec!["policies".into(), k.vhost.clone(), k.name.clone()],
            policy_body(p),
        ),
        E::OperatorPolicy(k, PolicyChange::Create(p) | PolicyChange::Update(p)) => (
            vec!["operator-policies".into(), k.vhost.clone(), k.name.clone()],
            policy_body(p),
        ),
        // `body` is `None` only for a URI whose variable is unset, which
        // `session::Prepared` refuses before planning.
        E::Link(k, LinkChange::Create(l) | LinkChange::Update(l)) => (
            vec![
                "parameters".into(),
                k.component.as_str().into(),
                k.vhost.clone(),
                k.name.clone(),
            ],
            l.body(k.component)?,
        ),
        E::Permission(_, PermissionChange::Delete)
        | E::Policy(_, PolicyChange::Delete)
        | E::OperatorPolicy(_, PolicyChange::Delete)
        | E::Link(_, LinkChange::Delete)
        | E::Exchange(..)
        | E::Queue(..)
        | E::Binding(..)
        // One call per exchange: see `topic_permission_calls`.
        | E::TopicPermission(..)
        // One call per limit: see `limit_calls`.
        | E::VhostLimits(..)
        | E::UserLimits(..) => return None,
    };
    Some(HttpCall {
        delete: false,
        path,
        body,
        what: format!("{} {}", c.action().as_str(), c.target()),
    })
}

fn http_delete(c: &Change) -> Option<HttpCall> {
    use EntityChange as E;
    let path = match &c.entity {
        E::Permission(k, PermissionChange::Delete) => {
            vec!["permissions".into(), k.vhost.clone(), k.user.clone()]
        }
        E::Policy(k, PolicyChange::Delete) => {
            vec!["policies".into(), k.vhost.clone(), k.name.clone()]
        }
        E::OperatorPolicy(k, PolicyChange::Delete) => {
            vec!["operator-policies".into(), k.vhost.clone(), k.name.clone()]
        }
        E::TopicPermission(k, TopicPermissionChange::Delete) => {
            vec!["topic-permissions".into(), k.vhost.clone(), k.user.clone()]
        }
        E::Link(k, LinkChange::Delete) => vec![
            "parameters".into(),
            k.component.as_str().into(),
            k.vhost.clone(),
            k.name.clone(),
        ],
        E::TopicPermission(
            _,
            TopicPermissionChange::Create(_) | TopicPermissionChange::Update { .. },
        )
        | E::Permission(_, PermissionChange::Create(_) | PermissionChange::Update(_))
        | E::Policy(_, PolicyChange::Create(_) | PolicyChange::Update(_))
        | E::OperatorPolicy(_, PolicyChange::Create(_) | PolicyChange::Update(_))
        | E::Link(_, LinkChange::Create(_) | LinkChange::Update(_))
        | E::Vhost(..)
        | E::User(..)
        | E::Exchange(..)
        | E::Queue(..)
        | E::Binding(..)
        | E::VhostLimits(..)
        | E::UserLimits(..) => return None,
    };
    Some(HttpCall {
        delete: true,
        path,
        body: Value::Null,
        what: format!("delete {}", c.target()),
    })
}

/// The calls of topic permission creates and updates: the clears (one `DELETE` per user and
/// vhost an update clears, which removes every exchange's) and the sets (one `PUT` per
/// exchange: the API takes one exchange at a time).
fn topic_permission_calls(changes: &[&Change]) -> (Vec<HttpCall>, Vec<HttpCall>) {
    let (mut clears, mut sets) = (Vec::new(), Vec::new());
    for c in changes {
        let EntityChange::TopicPermission(k, change) = &c.entity else {
            continue;
        };
        let path = vec![
            "topic-permissions".to_string(),
            k.vhost.clone(),
            k.user.clone(),
        ];
        let topics = match change {
            TopicPermissionChange::Create(topics) => topics,
            TopicPermissionChange::Update { clear, set, .. } => {
                if *clear {
                    clears.push(HttpCall {
                        delete: true,
                        path: path.clone(),
                        body: Value::Null,
                        what: format!("clear {}", c.target()),
                    });
                }
                set
            }
            TopicPermissionChange::Delete => continue,
        };
        for (exchange, t) in topics {
            sets.push(HttpCall {
                delete: false,
                path: path.clone(),
                body: json!({"exchange": exchange, "write": t.write, "read": t.read}),
                what: format!(
                    "{} {} (exchange {exchange})",
                    c.action().as_str(),
                    c.target()
                ),
            });
        }
    }
    (clears, sets)
}

/// The limit calls of `changes` that loosen or tighten (see [`limit_calls`]), in rounds:
/// the broker keeps one vhost's (or user's) limits as one map and each call rewrites it
/// whole, so two calls for the same owner at once lose one (seen on 4.3.6). A round holds
/// at most one call per owner; rounds run one after the other, calls within one at once.
async fn run_limits(
    mgmt: &Management,
    changes: &[&Change],
    tightening: bool,
    step: &str,
    ledger: &mut Ledger,
    progress: &Progress,
) -> Result<(), ApplyFailure> {
    let per_owner: Vec<Vec<HttpCall>> =
        changes.iter().map(|c| limit_calls(c, tightening)).collect();
    progress.stage(step, per_owner.iter().map(Vec::len).sum());
    let mut per_owner: Vec<std::vec::IntoIter<HttpCall>> =
        per_owner.into_iter().map(Vec::into_iter).collect();
    loop {
        let round: Vec<HttpCall> = per_owner.iter_mut().filter_map(Iterator::next).collect();
        if round.is_empty() {
            return Ok(());
        }
        run_http(mgmt, round, step, ledger, progress).await?;
    }
}

/// The calls of one limit change that loosen (`tightening` false: removes and raises) or
/// tighten (new and lowered limits): one `PUT` or `DELETE` per limit, as the API takes them.
fn limit_calls(c: &Change, tightening: bool) -> Vec<HttpCall> {
    let (owner, kind, change) = match &c.entity {
        EntityChange::VhostLimits(v, l) => (v, Owner::Vhost, l),
        EntityChange::UserLimits(u, l) => (u, Owner::User, l),
        _ => return Vec::new(),
    };
    let calls = change.calls().iter().filter(|k| k.tightens() == tightening);
    calls
        .map(|call| {
            let (name, delete, body, what) = match call {
                LimitCall::Set { name, value, .. } => (
                    name,
                    false,
                    json!({ "value": value }),
                    format!("{name} = {value}"),
                ),
                LimitCall::Remove(name) => (name, true, Value::Null, format!("remove {name}")),
            };
            HttpCall {
                delete,
                path: vec![kind.api_path().to_string(), owner.clone(), name.clone()],
                body,
                what: format!("{} {} ({what})", c.action().as_str(), c.target()),
            }
        })
        .collect()
}

/// A policy or operator policy as `PUT /api/policies/...` and `/api/operator-policies/...`
/// take it.
fn policy_body(p: &PolicyState) -> Value {
    json!({"pattern": p.pattern, "definition": p.definition, "priority": p.priority,
           "apply-to": p.apply_to.as_str()})
}

/// The whole user, as `PUT /api/users/{name}` replaces it: the password (as a hash) always
/// goes with the tags, so a tags-only update never wipes it.
fn user_body(u: &UserDefinition) -> Value {
    let tags = u.user.tags.join(",");
    let (hash, algorithm) = match &u.password {
        UserPassword::Hash { hash, algorithm } => (hash.expose().to_string(), algorithm.clone()),
        UserPassword::New(pw) => (
            password::hash_sha256(pw.expose()),
            password::SHA256.to_string(),
        ),
    };
    json!({"password_hash": hash, "hashing_algorithm": algorithm, "tags": tags})
}

async fn run_http(
    mgmt: &Management,
    calls: Vec<HttpCall>,
    step: &str,
    ledger: &mut Ledger,
    progress: &Progress,
) -> Result<(), ApplyFailure> {
    let mut done = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    let mut first: Option<(String, HttpError)> = None;
    let mut iter = calls.into_iter();
    loop {
        while tasks.len() < HTTP_PARALLEL && first.is_none() {
            let Some(call) = iter.next() else { break };
            let m = mgmt.clone();
            tasks.spawn(async move {
                let segs: Vec<&str> = call.path.iter().map(String::as_str).collect();
                let r = if call.delete {
                    m.delete(&segs, &call.what).await
                } else {
                    m.put(&segs, &call.body, &call.what).await
                };
                (call.what, r)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined {
            Ok((_, Ok(()))) => {
                done += 1;
                progress.advance(1);
            }
            Ok((what, Err(e))) => {
                if first.is_none() {
                    first = Some((what, e));
                }
            }
            Err(e) => {
                if first.is_none() {
                    first = Some((
                        step.to_string(),
                        HttpError::Body {
                            what: step.into(),
                            detail: e.to_string(),
                        },
                    ));
                }
            }
        }
    }
    ledger.add(step, done);
    match first {
        None => Ok(()),
        Some((_, e)) => Err(ApplyFailure {
            hint: e.hint(),
            failed: e.to_string(),
            done: ledger.text(),
            unbound: Vec::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Secret;

    #[test]
    fn user_body_sends_the_planned_hash_or_a_fresh_one_never_the_password() {
        let stored = password::hash_sha256("old");
        let user = crate::state::UserState {
            tags: vec!["monitoring".into()],
            credential: crate::state::Credential::None,
        };
        let kept = UserDefinition {
            user: user.clone(),
            password: UserPassword::Hash {
                hash: Secret::new(stored.clone()),
                algorithm: password::SHA256.into(),
            },
        };
        let body = user_body(&kept);
        assert_eq!(body["password_hash"], json!(stored));
        assert_eq!(body["tags"], json!("monitoring"));
        let fresh = UserDefinition {
            user,
            password: UserPassword::New(Secret::new("new")),
        };
        let body = user_body(&fresh);
        let h = body["password_hash"].as_str().unwrap();
        assert!(password::matches(h, Some(password::SHA256), "new"));
        assert!(!body.to_string().contains("\"new\""));
    }

    fn binding(source: &str, n: usize) -> BindingKey {
        BindingKey {
            vhost: "v".into(),
            source: source.into(),
            destination_type: crate::topology::model::DestinationType::Queue,
            destination: format!("q{n}"),
            routing_key: String::new(),
            arguments: Default::default(),
        }
    }

    proptest::proptest! {
        /// Spreading keeps every binding exactly once, keeps each source's own order, and
        /// never puts two bindings of one source side by side while another source waits.
        #[test]
        fn spread_by_source_is_a_fair_permutation(sources in proptest::collection::vec(0u8..6, 0..200)) {
            let all: Vec<BindingKey> = sources
                .iter()
                .enumerate()
                .map(|(i, s)| binding(&format!("x{s}"), i))
                .collect();
            let out = spread_by_source(all.iter().collect());
            let mut sorted_in: Vec<&BindingKey> = all.iter().collect();
            let mut sorted_out = out.clone();
            sorted_in.sort();
            sorted_out.sort();
            proptest::prop_assert_eq!(sorted_in, sorted_out);
            for s in 0u8..6 {
                let name = format!("x{s}");
                let order_in: Vec<&str> = all.iter().filter(|b| b.source == name).map(|b| b.destination.as_str()).collect();
                let order_out: Vec<&str> = out.iter().filter(|b| b.source == name).map(|b| b.destination.as_str()).collect();
                proptest::prop_assert_eq!(order_in, order_out);
            }
            for (i, pair) in out.windows(2).enumerate() {
                if pair[0].source == pair[1].source {
                    // Allowed only once every other source has run out.
                    proptest::prop_assert!(out[i + 1..].iter().all(|b| b.source == pair[0].source));
                }
            }
        }
    }

    #[test]
    fn bindings_stage_spreads_sources_and_adds_rebinds_once() {
        let a0 = binding("a", 0);
        let a1 = binding("a", 1);
        let b2 = binding("b", 2);
        let create = |b: &BindingKey| Change {
            entity: EntityChange::Binding(b.clone(), BindingChange::Create),
            fields: vec![],
        };
        let replace = Change {
            entity: EntityChange::Queue(
                crate::state::EntityKey::new("v", "q9"),
                QueueChange::Replace {
                    queue: crate::plan::QueueDefinition {
                        queue: crate::state::QueueState {
                            kind: QueueType::Classic,
                            durable: true,
                            auto_delete: false,
                            arguments: Default::default(),
                            messages: None,
                            members: None,
                        },
                        explicit_type: false,
                    },
                    messages: Some(0),
                    rebind: vec![binding("b", 9), binding("b", 9)],
                },
            ),
            fields: vec![],
        };
        let changes = [create(&a0), create(&a1), create(&b2), replace];
        let refs: Vec<&Change> = changes.iter().collect();
        let ops = stage_ops(Stage::Bindings, &refs, false);
        let order: Vec<String> = ops
            .iter()
            .map(|op| match op {
                Op::Bind(b) => format!("{}>{}", b.source, b.destination),
                other => panic!("not a bind: {other:?}"),
            })
            .collect();
        assert_eq!(order, ["a>q0", "b>q2", "a>q1", "b>q9"]);
        // After an import the creates are done; only the re-binds of the replace remain.
        let ops = stage_ops(Stage::Bindings, &refs, true);
        assert!(
            matches!(&ops[..], [Op::Bind(b)] if b.source == "b" && b.destination == "q9"),
            "{ops:?}"
        );
    }
}
