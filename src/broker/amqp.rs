//! Declaring exchanges, queues and bindings over AMQP (lapin), pipelined: many requests in
//! flight on a few channels per vhost rather than one round trip each.
//!
//! A broker refusal (PRECONDITION_FAILED, NOT_FOUND) closes the channel it came on; the
//! stage then stops, waits for what is in flight, and reports the refused entity with the
//! broker's own text (which names the argument) and how many operations landed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, ExchangeUnbindOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use super::endpoint::Endpoints;
use super::failover::Proto;
use crate::state::queue_args::QUEUE_TYPE_ARGUMENT;
use crate::state::{Args, BindingKey, EntityKey, ExchangeState, QueueState};
use crate::topology::model::{self, DestinationType, QueueType};

/// Channels per vhost connection and requests in flight across them. The broker runs
/// each channel's methods one after another in one process, so the channel count bounds
/// its parallelism. At 10,000 queues the queue stage is bound by the broker's CPU with 8
/// or 32 channels alike; 32 made the bindings stage a little faster, 64 gained nothing
/// more (docs/plan-apply.md).
const CHANNELS: usize = 32;
const IN_FLIGHT: usize = 2048;
/// Operations per set of channels. lapin remembers every entity a channel declared or
/// bound (for its connection recovery, which topo does not use) until the channel closes:
/// fresh channels per batch keep that memory bounded instead of growing with the file.
const BATCH: usize = 4096;
/// Quorum queue and stream declares in flight at once (classic declares, bindings and the
/// rest stay pipelined up to [`IN_FLIGHT`]). Each such declare starts a Raft cluster and
/// writes the metadata store; a single busy 4.3 node fed 3,000 of them at once answered
/// `INTERNAL_ERROR ... cluster_not_formed` (ra's start timed out) and closed the
/// connection. Halved after every such failure (see [`Amqp::run`]). At 10,000 queues (3,000
/// quorum) on 4.3.6, busy machine, the queue stage took 45 s with 16 and 27 s with 64
/// (docs/plan-apply.md).
const HEAVY_IN_FLIGHT: usize = 64;
/// How many times one stage is run again, on a fresh connection, after the broker failed
/// internally for a passing reason ([`AmqpError::Overloaded`]); the pause before each retry
/// doubles from [`RETRY_PAUSE`].
pub const OVERLOAD_RETRIES: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// One AMQP operation.
#[derive(Debug, Clone)]
pub enum Op {
    DeclareExchange(EntityKey, ExchangeState),
    /// The flag: the vhost's default queue type is not classic, so a classic queue must
    /// say `x-queue-type: classic` (otherwise it stays implicit, as clients declare it).
    DeclareQueue(EntityKey, QueueState, bool),
    Bind(BindingKey),
    Unbind(BindingKey),
    DeleteQueue(EntityKey),
    DeleteExchange(EntityKey),
}

impl Op {
    /// [`Op::describe`] cut to a readable length (the refused value may be kilobytes).
    fn describe_short(&self) -> String {
        let d = self.describe();
        match d.char_indices().nth(100) {
            Some((i, _)) => format!("{}…", &d[..i]),
            None => d,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Op::DeclareExchange(k, _) => format!("declare exchange {k}"),
            Op::DeclareQueue(k, _, _) => format!("declare queue {k}"),
            Op::Bind(b) => format!("bind {b}"),
            Op::Unbind(b) => format!("unbind {b}"),
            Op::DeleteQueue(k) => format!("delete queue {k}"),
            Op::DeleteExchange(k) => format!("delete exchange {k}"),
        }
    }
}

/// Why an AMQP stage stopped.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("cannot connect over AMQP to {url} (vhost {vhost}): {detail}")]
    Connect {
        url: String,
        vhost: String,
        detail: String,
    },
    #[error("the broker refused to {op}: {detail}")]
    Refused { op: String, detail: String },
    /// ACCESS_REFUSED, read: which permission of which user refused what.
    #[error(
        "the broker refused to {op}: user `{user}` has no `{permission}` permission on \
         {resource} in vhost `{vhost}` (ACCESS_REFUSED)"
    )]
    AccessRefused {
        op: String,
        user: String,
        /// `configure`, `write` or `read`.
        permission: &'static str,
        /// `queue 'q'` or `exchange 'x'`, as the broker named it.
        resource: String,
        vhost: String,
    },
    #[error("{op} timed out after {secs}s")]
    Timeout { op: String, secs: u64 },
    /// The broker failed internally for a reason that passes (INTERNAL_ERROR, a 541 that
    /// closes the connection): a quorum queue's Raft cluster that did not form in time, its
    /// metadata store not answering. Not the file's fault; [`Amqp::run`] runs the rest of the
    /// stage again a few times before it gives up with this.
    #[error("the broker failed to {op}: {cause} ({detail})")]
    Overloaded {
        op: String,
        /// What the broker's reason means, in words.
        cause: &'static str,
        detail: String,
    },
    #[error("the AMQP connection was lost during {op}: {detail}")]
    Lost { op: String, detail: String },
    /// Refused by topo before sending: AMQP cannot carry the value (a short string over
    /// 255 bytes), and the client library would panic on it.
    #[error("cannot {op}: {detail}")]
    Invalid { op: String, detail: String },
    /// The apply lock's connection went (its node died): going on would be an apply
    /// without the lock (see [`super::lock`]).
    #[error("{detail}")]
    LockLost { detail: String },
}

/// A name, key or table key as an AMQP short string, or why it cannot be one.
fn short(s: &str, what: &str) -> Result<ShortString, String> {
    ShortString::try_new(s).map_err(|_| {
        format!(
            "the {what} is {} bytes; AMQP short strings are at most 255 bytes",
            s.len()
        )
    })
}

/// Operations that landed before a stage stopped, and why it stopped.
#[derive(Debug)]
pub struct StageFailure {
    pub done: usize,
    pub error: AmqpError,
}

/// One connection per vhost, and its current set of channels (empty between batches).
pub struct Amqp {
    ep: Endpoints,
    conns: BTreeMap<String, (Connection, Vec<Channel>)>,
    only_empty: bool,
    /// Quorum and stream declares allowed in flight ([`HEAVY_IN_FLIGHT`], less after an
    /// overload).
    heavy: usize,
    /// The apply lock this apply holds, checked before each batch.
    lock: Option<super::lock::Watch>,
}

impl Amqp {
    pub fn new(ep: &Endpoints) -> Amqp {
        super::http::install_crypto();
        Amqp {
            ep: ep.clone(),
            conns: BTreeMap::new(),
            only_empty: false,
            heavy: heavy_in_flight(),
            lock: None,
        }
    }

    /// Stop, rather than go on, once the apply lock's connection is gone.
    pub fn hold_lock(&mut self, watch: super::lock::Watch) {
        self.lock = Some(watch);
    }

    /// Delete queues with `if-empty`, so that the broker itself refuses to drop messages
    /// that arrived after they were counted (apply without `--allow-data-loss`).
    pub fn delete_only_empty_queues(&mut self, on: bool) {
        self.only_empty = on;
    }

    /// The vhost's open channels, or `want` new ones (at most [`CHANNELS`]).
    async fn channels(&mut self, vhost: &str, want: usize) -> Result<Vec<Channel>, AmqpError> {
        if let Some((conn, chans)) = self.conns.get(vhost)
            && conn.status().connected()
            && !chans.is_empty()
            && chans.iter().all(|c| c.status().connected())
        {
            return Ok(chans.clone());
        }
        let err = |url: String, detail: String| AmqpError::Connect {
            url,
            vhost: vhost.to_string(),
            detail: crate::error::redact(&detail),
        };
        // The vhost travels as a short string in connection.open.
        short(vhost, "vhost name")
            .map_err(|d| err(self.ep.nodes.current(Proto::Amqp).1.to_string(), d))?;
        // Keep a healthy connection whose channels were retired; otherwise connect anew.
        let conn = match self.conns.remove(vhost) {
            Some((conn, _)) if conn.status().connected() => conn,
            _ => self.connect(vhost).await?,
        };
        let url = self.ep.nodes.current(Proto::Amqp).1.to_string();
        let err = |detail: String| err(url.clone(), detail);
        let want = want.clamp(1, CHANNELS);
        let mut chans = Vec::with_capacity(want);
        for _ in 0..want {
            match tokio::time::timeout(self.ep.timeout, conn.create_channel()).await {
                Ok(Ok(c)) => chans.push(c),
                Ok(Err(e)) => return Err(err(e.to_string())),
                Err(_) => return Err(err("opening a channel timed out".into())),
            }
        }
        self.conns.insert(vhost.to_string(), (conn, chans.clone()));
        Ok(chans)
    }

    /// A connection to the vhost through the node in use, else through the next nodes in
    /// turn (each once, each within the timeout). A refused login or vhost is the same on
    /// every node of a cluster: that ends the search.
    async fn connect(&self, vhost: &str) -> Result<Connection, AmqpError> {
        connect(&self.ep, vhost).await.map_err(|e| {
            let nodes = &self.ep.nodes;
            let url = if nodes.several(Proto::Amqp) {
                format!("any node ({})", nodes.describe(Proto::Amqp))
            } else {
                nodes.current(Proto::Amqp).1.to_string()
            };
            AmqpError::Connect {
                url,
                vhost: vhost.to_string(),
                detail: crate::error::redact(&explain_connect(&e.to_string(), &self.ep, vhost)),
            }
        })
    }

    /// Close the vhost's channels (keeping its connection), which frees what lapin
    /// remembered about them. Errors are ignored: the batch's work is already confirmed.
    async fn retire_channels(&mut self, vhost: &str) {
        let Some((_, chans)) = self.conns.get_mut(vhost) else {
            return;
        };
        let timeout = self.ep.timeout;
        let mut closes = tokio::task::JoinSet::new();
        for c in std::mem::take(chans) {
            closes.spawn(async move {
                let _ =
                    tokio::time::timeout(timeout, c.close(200, "topo: batch done".into())).await;
            });
        }
        closes.join_all().await;
    }

    /// Run `ops` (all in `vhost`, independent of each other) pipelined, in batches on
    /// fresh channels; `progress` is called with the number of operations finished so far.
    ///
    /// What did not finish runs again, on a fresh connection, when that can help (every
    /// operation is idempotent: the same declares with the same arguments): through the next
    /// node when the connection to this one was lost (at most once per other node), and
    /// after a pause, with fewer quorum declares at once, when the broker failed internally
    /// for a passing reason (at most [`OVERLOAD_RETRIES`] times per stage; said on stderr).
    pub async fn run(
        &mut self,
        vhost: &str,
        ops: Vec<Op>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<usize, StageFailure> {
        let mut done = 0usize;
        let mut ops = ops.into_iter().peekable();
        let mut overloads = 0u32;
        while ops.peek().is_some() {
            let mut batch: Vec<Op> = ops.by_ref().take(BATCH).collect();
            let mut failovers = self.ep.nodes.list(Proto::Amqp).len() - 1;
            loop {
                // Every attempt, a retry included, runs under the lock or not at all.
                if let Some(Err(detail)) = self.lock.as_ref().map(super::lock::Watch::check) {
                    return Err(StageFailure {
                        done,
                        error: AmqpError::LockLost { detail },
                    });
                }
                let at = done;
                let tick = |d: usize| progress(at + d);
                let len = batch.len();
                match self.run_batch(vhost, batch, &tick).await {
                    Ok(n) => {
                        done += n;
                        break;
                    }
                    Err(f) if failovers > 0 && matches!(f.error, AmqpError::Lost { .. }) => {
                        done += f.done;
                        // The lock's connection most likely went through the same node.
                        if let Some(w) = &self.lock
                            && let Err(detail) = w.probe(self.ep.timeout).await
                        {
                            return Err(StageFailure {
                                done,
                                error: AmqpError::LockLost {
                                    detail: format!("{detail}; the batch had failed: {}", f.error),
                                },
                            });
                        }
                        failovers -= 1;
                        let (i, _) = self.ep.nodes.current(Proto::Amqp);
                        let next = self.ep.nodes.advance(Proto::Amqp, i);
                        self.ep.nodes.report_failure(
                            Proto::Amqp,
                            i,
                            &format!(
                                "{} ({} of {} operations of this batch had landed); running the other {} again",
                                f.error,
                                f.done,
                                len,
                                f.rest.len()
                            ),
                            next,
                        );
                        self.conns.remove(vhost);
                        batch = f.rest;
                    }
                    Err(f)
                        if overloads < OVERLOAD_RETRIES
                            && matches!(f.error, AmqpError::Overloaded { .. }) =>
                    {
                        done += f.done;
                        overloads += 1;
                        self.heavy = (self.heavy / 2).max(1);
                        let pause = RETRY_PAUSE * 2u32.pow(overloads - 1);
                        eprintln!(
                            "topo: {}; {} operations of vhost {vhost} had not finished: \
                             reconnecting in {}s and running them again, at most {} quorum \
                             declares at once (retry {overloads} of {OVERLOAD_RETRIES})",
                            f.error,
                            f.rest.len(),
                            pause.as_secs(),
                            self.heavy
                        );
                        self.conns.remove(vhost);
                        tokio::time::sleep(pause).await;
                        batch = f.rest;
                    }
                    Err(f) => {
                        return Err(StageFailure {
                            done: done + f.done,
                            error: f.error,
                        });
                    }
                }
            }
            self.retire_channels(vhost).await;
        }
        Ok(done)
    }

    /// One batch on the vhost's channels. On failure, the operations that did not finish
    /// (refused, cut off, or never sent) come back, so that a retry runs only those.
    async fn run_batch(
        &mut self,
        vhost: &str,
        ops: Vec<Op>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<usize, BatchFailure> {
        if ops.is_empty() {
            return Ok(0);
        }
        let chans = match self.channels(vhost, ops.len()).await {
            Ok(c) => c,
            Err(error) => {
                return Err(BatchFailure {
                    done: 0,
                    error,
                    rest: ops,
                });
            }
        };
        let timeout = self.ep.timeout;
        let only_empty = self.only_empty;
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let heavy = Arc::new(Semaphore::new(self.heavy));
        let mut tasks = tokio::task::JoinSet::new();
        let mut outcome = Outcome::default();
        let mut ops = ops.into_iter().enumerate();
        for (i, op) in ops.by_ref() {
            // Collect what finished; stop issuing once something failed.
            while let Some(res) = tasks.try_join_next() {
                outcome.record(res);
            }
            if outcome.error.is_some() {
                outcome.rest.push(op);
                break;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                outcome.rest.push(op);
                break;
            };
            let chan = chans[i % chans.len()].clone();
            // Quorum and stream declares wait for their own, smaller budget inside the task,
            // so that the classic declares behind them keep flowing.
            let heavy = is_heavy(&op).then(|| heavy.clone());
            tasks.spawn(async move {
                let _slot = match heavy {
                    Some(h) => h.acquire_owned().await.ok(),
                    None => None,
                };
                let r = run_op(&chan, &op, timeout, only_empty).await;
                drop(permit);
                (r, op)
            });
            if i % 256 == 0 {
                progress(outcome.done);
            }
        }
        outcome.rest.extend(ops.map(|(_, op)| op));
        while let Some(res) = tasks.join_next().await {
            outcome.record(res);
        }
        progress(outcome.done);
        match outcome.error {
            None => Ok(outcome.done),
            Some(error) => {
                // The refused channel is closed; reconnect next time.
                self.conns.remove(vhost);
                Err(BatchFailure {
                    done: outcome.done,
                    error,
                    rest: outcome.rest,
                })
            }
        }
    }

    /// Messages in each queue, exactly and now (a passive declare; the management API's
    /// counts lag by its stats interval). A queue that is gone (NOT_FOUND) counts as
    /// empty; any other failure is an error, never "0 messages".
    pub async fn message_counts(
        &mut self,
        queues: &[EntityKey],
    ) -> Result<Vec<(EntityKey, u64)>, AmqpError> {
        let mut out = Vec::with_capacity(queues.len());
        for key in queues {
            let chans = self.channels(&key.vhost, 1).await?;
            let chan = &chans[0];
            let name = short(&key.name, "queue name").map_err(|detail| AmqpError::Invalid {
                op: format!("count the messages of queue {key}"),
                detail,
            })?;
            let fut = chan.queue_declare(
                name,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            );
            match tokio::time::timeout(self.ep.timeout, fut).await {
                Ok(Ok(q)) => out.push((key.clone(), u64::from(q.message_count()))),
                Ok(Err(e)) => {
                    // The refusal closed the channel: reconnect for the next one.
                    self.conns.remove(&key.vhost);
                    let not_found = matches!(
                        e.kind(),
                        lapin::ErrorKind::ProtocolError(p) if p.get_id() == 404
                    );
                    if !not_found {
                        return Err(AmqpError::Lost {
                            op: format!("count the messages of queue {key}"),
                            detail: crate::error::redact(&e.to_string()),
                        });
                    }
                    out.push((key.clone(), 0));
                }
                Err(_) => {
                    return Err(AmqpError::Timeout {
                        op: format!("count the messages of queue {key}"),
                        secs: self.ep.timeout.as_secs(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Close every connection politely (errors ignored: the work is done).
    pub async fn close(self) {
        for (_, (conn, _)) in self.conns {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                conn.close(200, ShortString::from("topo done")),
            )
            .await;
        }
    }
}

/// Why a batch stopped: what landed, the error that explains it, and the operations that
/// did not finish.
struct BatchFailure {
    done: usize,
    error: AmqpError,
    rest: Vec<Op>,
}

/// What a batch's operations came to so far.
#[derive(Default)]
struct Outcome {
    done: usize,
    error: Option<AmqpError>,
    rest: Vec<Op>,
}

impl Outcome {
    fn record(&mut self, res: Result<(Result<(), AmqpError>, Op), tokio::task::JoinError>) {
        match res {
            Ok((Ok(()), _)) => self.done += 1,
            Ok((Err(e), op)) => {
                self.rest.push(op);
                // The error that explains wins over the channel-closed errors it caused.
                if self
                    .error
                    .as_ref()
                    .is_none_or(|old| weight(&e) > weight(old))
                {
                    self.error = Some(e);
                }
            }
            // A task that died has lost its operation; it is counted as not done, and the
            // stage fails rather than retrying without it.
            Err(join) => {
                let e = AmqpError::Invalid {
                    op: "an AMQP operation".into(),
                    detail: join.to_string(),
                };
                if self
                    .error
                    .as_ref()
                    .is_none_or(|old| weight(&e) > weight(old))
                {
                    self.error = Some(e);
                }
            }
        }
    }
}

/// How well an error explains a failed batch: a refusal (the file's or the user's
/// business) over a broker-internal failure, over a timeout, over a lost connection (which
/// the others cause: a refusal closes its channel, a 541 the whole connection).
fn weight(e: &AmqpError) -> u8 {
    match e {
        AmqpError::Lost { .. } => 0,
        AmqpError::Timeout { .. } => 1,
        AmqpError::Overloaded { .. } => 2,
        AmqpError::Refused { .. }
        | AmqpError::AccessRefused { .. }
        | AmqpError::Invalid { .. }
        | AmqpError::Connect { .. }
        | AmqpError::LockLost { .. } => 3,
    }
}

/// [`HEAVY_IN_FLIGHT`], or `TOPO_QUORUM_IN_FLIGHT` when set to a number from 1 up: a
/// tuning knob for a broker with more cores, and what `bench/apply.sh` compares against
/// (`TOPO_QUORUM_IN_FLIGHT=2048` is the former unbounded pipeline).
fn heavy_in_flight() -> usize {
    std::env::var("TOPO_QUORUM_IN_FLIGHT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(HEAVY_IN_FLIGHT)
}

/// Whether an operation starts a Raft cluster on the broker (a quorum queue or a stream):
/// those get the smaller budget [`HEAVY_IN_FLIGHT`].
fn is_heavy(op: &Op) -> bool {
    matches!(op, Op::DeclareQueue(_, q, _) if q.kind != QueueType::Classic)
}

/// What a broker's INTERNAL_ERROR means when it is a failure that passes, in words (`None`:
/// it is not one, e.g. a denied deprecated feature, which the file must change). RabbitMQ
/// puts the Erlang reason at the end of its text: `Cannot declare quorum queue 'q' ...:
/// cluster_not_formed`, or a `timeout` of its metadata store (Khepri on 4.x).
pub fn overload_cause(detail: &str) -> Option<&'static str> {
    if !detail.contains("INTERNAL_ERROR") {
        return None;
    }
    if detail.contains("cluster_not_formed") {
        Some("the broker is overloaded: the queue's Raft cluster did not form in time")
    } else if detail.contains("timeout") {
        Some("the broker is overloaded: its metadata store did not answer in time")
    } else if detail.contains("nodedown") || detail.contains("noproc") {
        Some("a broker process it needed was down or restarting")
    } else {
        None
    }
}

async fn run_op(
    chan: &Channel,
    op: &Op,
    timeout: Duration,
    only_empty: bool,
) -> Result<(), AmqpError> {
    let invalid = |detail: String| AmqpError::Invalid {
        op: op.describe_short(),
        detail,
    };
    let ready = prepare(op).map_err(invalid)?;
    let fut = async {
        match (op, ready) {
            (Op::DeclareExchange(_, x), Ready::Entity(name, args)) => chan
                .exchange_declare(
                    name,
                    exchange_kind(&x.kind),
                    ExchangeDeclareOptions {
                        passive: false,
                        durable: x.durable,
                        auto_delete: x.auto_delete,
                        internal: x.internal,
                        nowait: false,
                    },
                    args,
                )
                .await
                .map(|_| ()),
            (Op::DeclareQueue(_, q, _), Ready::Entity(name, args)) => chan
                .queue_declare(
                    name,
                    QueueDeclareOptions {
                        passive: false,
                        durable: q.durable,
                        exclusive: false,
                        auto_delete: q.auto_delete,
                        nowait: false,
                    },
                    args,
                )
                .await
                .map(|_| ()),
            (Op::Bind(b), Ready::Binding(dest, source, key, args)) => match b.destination_type {
                DestinationType::Queue => {
                    chan.queue_bind(dest, source, key, QueueBindOptions::default(), args)
                        .await
                }
                DestinationType::Exchange => {
                    chan.exchange_bind(dest, source, key, ExchangeBindOptions::default(), args)
                        .await
                }
            },
            (Op::Unbind(b), Ready::Binding(dest, source, key, args)) => match b.destination_type {
                DestinationType::Queue => chan.queue_unbind(dest, source, key, args).await,
                DestinationType::Exchange => {
                    chan.exchange_unbind(dest, source, key, ExchangeUnbindOptions::default(), args)
                        .await
                }
            },
            (Op::DeleteQueue(_), Ready::Entity(name, _)) => chan
                .queue_delete(
                    name,
                    QueueDeleteOptions {
                        if_empty: only_empty,
                        ..QueueDeleteOptions::default()
                    },
                )
                .await
                .map(|_| ()),
            (Op::DeleteExchange(_), Ready::Entity(name, _)) => chan
                .exchange_delete(name, ExchangeDeleteOptions::default())
                .await
                .map(|_| ()),
            // `prepare` pairs each op with its own shape.
            _ => Ok(()),
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(AmqpError::Timeout {
            op: op.describe(),
            secs: timeout.as_secs(),
        }),
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            let detail = crate::error::redact(&e.to_string());
            if let lapin::ErrorKind::ProtocolError(_) = e.kind() {
                if let Some(cause) = overload_cause(&detail) {
                    return Err(AmqpError::Overloaded {
                        op: op.describe(),
                        cause,
                        detail,
                    });
                }
                if let Some(refused) = access_refused(op, &detail) {
                    return Err(refused);
                }
            }
            Err(match e.kind() {
                lapin::ErrorKind::ProtocolError(_) => AmqpError::Refused {
                    op: op.describe(),
                    detail: match deprecated_feature(op) {
                        Some(f) if detail.contains("INTERNAL_ERROR") || detail.contains("541") => {
                            format!(
                                "{detail} (RabbitMQ 4.3 denies the deprecated feature `{f}` and \
                                 closes the connection with 541: change the file, or set \
                                 `deprecated_features.permit.{f} = true` in rabbitmq.conf on \
                                 every node)"
                            )
                        }
                        _ => detail,
                    },
                },
                _ => AmqpError::Lost {
                    op: op.describe(),
                    detail,
                },
            })
        }
    }
}

/// An ACCESS_REFUSED channel close read into which permission refused what. RabbitMQ 3.x's
/// reason is `ACCESS_REFUSED - access to queue 'q' in vhost 'v' refused for user 'u'`, which
/// does not say which permission, but the operation does: declares and deletes need
/// `configure` on the entity, a binding `write` on its destination and `read` on its source.
/// 4.x names it (`ACCESS_REFUSED - configure access to queue ...`), and then its word wins.
fn access_refused(op: &Op, detail: &str) -> Option<AmqpError> {
    static REASON: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = REASON
        .get_or_init(|| {
            regex::Regex::new(
                r"ACCESS_REFUSED - (?:(configure|write|read) )?access to (queue|exchange) '(.*)' in vhost '(.*)' refused for user '(.*)'",
            )
            .ok()
        })
        .as_ref()?;
    let caps = re.captures(detail)?;
    let (kind, name, vhost, user) = (&caps[2], &caps[3], &caps[4], &caps[5]);
    let named = caps.get(1).map(|m| match m.as_str() {
        "configure" => "configure",
        "write" => "write",
        _ => "read",
    });
    let inferred = match op {
        Op::DeclareExchange(..)
        | Op::DeclareQueue(..)
        | Op::DeleteQueue(_)
        | Op::DeleteExchange(_) => "configure",
        Op::Bind(b) | Op::Unbind(b) => {
            let is_destination = name == b.destination
                && (kind == "queue") == (b.destination_type == DestinationType::Queue);
            if is_destination { "write" } else { "read" }
        }
    };
    let permission = named.unwrap_or(inferred);
    Some(AmqpError::AccessRefused {
        op: op.describe(),
        user: user.to_string(),
        permission,
        resource: format!("{kind} '{name}'"),
        vhost: vhost.to_string(),
    })
}

/// The deprecated feature (RabbitMQ's name for it) an operation uses, if any: RabbitMQ 4.3
/// denies these by default and answers with a connection error (541 INTERNAL_ERROR) that
/// does not say which.
pub fn deprecated_feature(op: &Op) -> Option<&'static str> {
    match op {
        Op::DeclareQueue(_, q, _) if q.arguments.contains_key("x-queue-master-locator") => {
            Some("queue_master_locator")
        }
        Op::DeclareQueue(_, q, _) if !q.durable && q.kind == QueueType::Classic => {
            Some("transient_nonexcl_queues")
        }
        _ => None,
    }
}

/// Open an AMQP connection to `vhost`. Over `amqps://` the handshake uses the endpoints'
/// shared TLS configuration (lapin's own would trust only its built-in roots).
///
/// With a list of nodes: through the node in use, else through the next ones in turn, each
/// once and each within the timeout (so the whole call can take the timeout once per node:
/// see [`Endpoints::amqp_connect_limit`]). A refusal (login, vhost) is the same on every node
/// of a cluster and ends the search; the last error is the answer when no node connects.
pub async fn connect(ep: &Endpoints, vhost: &str) -> lapin::Result<Connection> {
    let nodes = &ep.nodes;
    let total = nodes.list(Proto::Amqp).len();
    let (mut at, _) = nodes.current(Proto::Amqp);
    let mut tried = 0;
    loop {
        let node = nodes.list(Proto::Amqp)[at].clone();
        let error = match tokio::time::timeout(ep.timeout, connect_node(ep, &node, vhost)).await {
            Ok(Ok(c)) => {
                nodes.settle(Proto::Amqp, at);
                nodes.announce(Proto::Amqp, at);
                return Ok(c);
            }
            Err(_) => lapin::Error::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {}s", ep.timeout.as_secs()),
            )),
            Ok(Err(e)) => e,
        };
        let text = error.to_string();
        let refused = matches!(error.kind(), lapin::ErrorKind::ProtocolError(_))
            || [
                "ACCESS_REFUSED",
                "ACCESS-REFUSED",
                "NOT_ALLOWED",
                "NOT-ALLOWED",
            ]
            .iter()
            .any(|w| text.contains(w));
        tried += 1;
        if refused || tried >= total {
            return Err(error);
        }
        let next = nodes.advance(Proto::Amqp, at);
        nodes.report_failure(Proto::Amqp, at, &crate::error::redact(&text), next);
        at = next;
    }
}

/// A connection to one node of the cluster (see [`connect`]).
pub async fn connect_node(ep: &Endpoints, node: &Url, vhost: &str) -> lapin::Result<Connection> {
    let uri = ep.amqp_uri_at(node, vhost);
    let props = ConnectionProperties::default().with_connection_name("topo".into());
    let Some(tls) = ep.tls.clone().filter(|_| node.scheme() == "amqps") else {
        return Connection::connect(&uri, props).await;
    };
    let parsed: lapin::uri::AMQPUri = uri
        .parse()
        .map_err(|e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let server_name = ep.amqp_server_name_for(node);
    let connector = Arc::new(lapin::tcp::RustlsConnector::from(tls));
    Connection::connector(
        parsed,
        lapin::runtime::default_runtime()?,
        async move |uri: lapin::uri::AMQPUri, runtime| {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((uri.authority.host.as_str(), uri.authority.port))
                    .await?
                    .collect();
            let plain = lapin::tcp::AsyncTcpStream::connect(&runtime, addrs).await?;
            Ok(plain.into_rustls(&connector, &server_name).await?)
        },
        props,
    )
    .await
}

/// An op's short strings and tables, converted before anything is sent.
enum Ready {
    Entity(ShortString, FieldTable),
    Binding(ShortString, ShortString, ShortString, FieldTable),
}

fn prepare(op: &Op) -> Result<Ready, String> {
    Ok(match op {
        Op::DeclareExchange(k, x) => {
            short(x.kind.as_str(), "exchange type")?;
            Ready::Entity(short(&k.name, "exchange name")?, field_table(&x.arguments)?)
        }
        Op::DeclareQueue(k, q, explicit_classic) => {
            let mut args = field_table(&q.arguments)?;
            if q.kind != QueueType::Classic || *explicit_classic {
                args.insert(
                    QUEUE_TYPE_ARGUMENT.into(),
                    AMQPValue::LongString(q.kind.as_str().into()),
                );
            }
            Ready::Entity(short(&k.name, "queue name")?, args)
        }
        Op::Bind(b) | Op::Unbind(b) => Ready::Binding(
            short(&b.destination, "binding destination")?,
            short(&b.source, "binding source")?,
            short(&b.routing_key, "routing key")?,
            field_table(b.arguments.map())?,
        ),
        Op::DeleteQueue(k) => Ready::Entity(short(&k.name, "queue name")?, FieldTable::default()),
        Op::DeleteExchange(k) => {
            Ready::Entity(short(&k.name, "exchange name")?, FieldTable::default())
        }
    })
}

/// The broker's reason when it refused a connection for a `max-connections` limit (the
/// vhost's or the user's), e.g. `connection limit (0) is reached`. RabbitMQ says NOT_ALLOWED
/// as for a missing permission, so this is told apart first: the cure is the limit.
pub(crate) fn connection_limit(detail: &str) -> Option<&str> {
    let at = detail.find("connection limit")?;
    let start = detail[..at].rfind(['-', ':']).map_or(at, |i| i + 1);
    let reason = detail[start..]
        .split(['"', '\n'])
        .next()
        .unwrap_or_default();
    Some(reason.trim())
}

pub(crate) fn explain_connect(detail: &str, ep: &Endpoints, vhost: &str) -> String {
    let user = &ep.user;
    if detail.contains("ACCESS_REFUSED") || detail.contains("ACCESS-REFUSED") {
        format!(
            "the broker refused the credentials of user `{user}`; they came from {}",
            ep.credentials_from
        )
    } else if (detail.contains("NOT_ALLOWED") || detail.contains("NOT-ALLOWED"))
        && detail.contains(&format!("vhost {vhost} not found"))
    {
        // RabbitMQ's words for a vhost it does not have (3.10 and 4.3 alike); the same code
        // as a refused permission or a connection limit, whose cures are others. Checked
        // before the limit, whose words a vhost's name may hold. A name the broker escapes
        // (3.x may, past ASCII) falls through to the permission's explanation.
        format!(
            "vhost `{vhost}` does not exist on the broker (topo plan shows whether the file \
             creates it; --vhost or the file's `vhost` may name another)"
        )
    } else if let Some(reason) = connection_limit(detail) {
        format!(
            "the broker refused the connection of user `{user}` to vhost `{vhost}`: {reason} \
             (a `max-connections` limit of the vhost or the user)"
        )
    } else if detail.contains("NOT_ALLOWED") || detail.contains("NOT-ALLOWED") {
        format!("user `{user}` has no access to vhost `{vhost}` (set its permissions)")
    } else if let Some(hint) = super::tls::explain(detail) {
        format!("{detail}: {hint}")
    } else {
        detail.to_string()
    }
}

fn exchange_kind(kind: &model::ExchangeKind) -> ExchangeKind {
    match kind {
        model::ExchangeKind::Direct => ExchangeKind::Direct,
        model::ExchangeKind::Fanout => ExchangeKind::Fanout,
        model::ExchangeKind::Topic => ExchangeKind::Topic,
        model::ExchangeKind::Headers => ExchangeKind::Headers,
        model::ExchangeKind::Plugin(other) => ExchangeKind::Custom(other.clone()),
    }
}

/// Canonical JSON arguments as an AMQP table; a key over 255 bytes (at any depth) is an
/// error rather than the client library's panic.
pub fn field_table(args: &Args) -> Result<FieldTable, String> {
    let mut t = FieldTable::default();
    for (k, v) in args {
        t.insert(short(k, "argument or header name")?, amqp_value(v)?);
    }
    Ok(t)
}

fn amqp_value(v: &Value) -> Result<AMQPValue, String> {
    Ok(match v {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AMQPValue::LongLongInt(i),
            None => AMQPValue::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => AMQPValue::LongString(s.as_str().into()),
        Value::Array(a) => AMQPValue::FieldArray(FieldArray::from(
            a.iter().map(amqp_value).collect::<Result<Vec<_>, _>>()?,
        )),
        Value::Object(m) => {
            let mut t = FieldTable::default();
            for (k, v) in m {
                t.insert(short(k, "argument or header name")?, amqp_value(v)?);
            }
            AMQPValue::FieldTable(t)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind() -> Op {
        Op::Bind(BindingKey {
            vhost: "v".into(),
            source: "ev".into(),
            destination_type: DestinationType::Queue,
            destination: "q1".into(),
            routing_key: String::new(),
            arguments: Default::default(),
        })
    }

    fn permission(op: &Op, detail: &str) -> Option<(&'static str, String)> {
        match access_refused(op, detail)? {
            AmqpError::AccessRefused {
                permission, user, ..
            } => Some((permission, user)),
            _ => None,
        }
    }

    /// A connection refused for a limit is not a missing permission (RabbitMQ says
    /// NOT_ALLOWED for both): its reason is the broker's own words.
    #[test]
    fn a_connection_limit_is_told_apart_from_a_missing_permission() {
        let vhost = "protocol error: AMQP soft error: NOT-ALLOWED: NOT_ALLOWED - access to \
                     vhost 'v' refused for user 'guest': connection limit (0) is reached";
        assert_eq!(
            connection_limit(vhost),
            Some("connection limit (0) is reached")
        );
        let user = "NOT_ALLOWED - connection refused for user 'u': user connection limit (2) \
                    is reached";
        assert_eq!(
            connection_limit(user),
            Some("user connection limit (2) is reached")
        );
        let permission = "NOT_ALLOWED - access to vhost 'v' refused for user 'u'";
        assert_eq!(connection_limit(permission), None);
    }

    /// A busy node's passing failures are told apart from what the file must change: the
    /// 541 a denied deprecated feature gets, a refused argument, a missing exchange.
    #[test]
    fn internal_errors_that_pass_are_told_apart_from_refusals() {
        let not_formed = "protocol error: AMQP hard error: INTERNAL-ERROR: INTERNAL_ERROR - \
                          Cannot declare quorum queue 'q.7' in vhost 'v' on node 'rabbit@h': \
                          cluster_not_formed";
        assert!(overload_cause(not_formed).is_some_and(|c| c.contains("Raft cluster")));
        let store = "INTERNAL_ERROR - failed to declare queue 'q.8' in vhost 'v': timeout";
        assert!(overload_cause(store).is_some_and(|c| c.contains("metadata store")));
        let deprecated = "protocol error: AMQP hard error: INTERNAL-ERROR: INTERNAL_ERROR - \
                          Feature `transient_nonexcl_queues` is deprecated. By default, this \
                          feature is not permitted anymore.";
        assert_eq!(overload_cause(deprecated), None);
        let refused = "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'q' in \
                       vhost 'v': {value_negative,-1}";
        assert_eq!(overload_cause(refused), None);
        assert_eq!(
            overload_cause("NOT_FOUND - no exchange 'x' in vhost 'v' (timeout)"),
            None
        );
        // The explaining error of a batch: the refusal, else the overload, over the lost
        // connections they cause.
        let lost = AmqpError::Lost {
            op: "declare queue v/q".into(),
            detail: "connection closed".into(),
        };
        let overloaded = AmqpError::Overloaded {
            op: "declare queue v/q".into(),
            cause: "x",
            detail: not_formed.into(),
        };
        let refusal = AmqpError::Refused {
            op: "declare queue v/q".into(),
            detail: refused.into(),
        };
        assert!(weight(&overloaded) > weight(&lost));
        assert!(weight(&refusal) > weight(&overloaded));
        let quorum = |kind| {
            Op::DeclareQueue(
                EntityKey::new("v", "q"),
                QueueState {
                    kind,
                    durable: true,
                    auto_delete: false,
                    arguments: Default::default(),
                    messages: None,
                    members: None,
                },
                false,
            )
        };
        assert!(is_heavy(&quorum(QueueType::Quorum)) && is_heavy(&quorum(QueueType::Stream)));
        assert!(!is_heavy(&quorum(QueueType::Classic)) && !is_heavy(&bind()));
    }

    /// 3.x leaves the permission out (read off the operation); 4.x names it (taken as named).
    #[test]
    fn access_refused_reads_both_brokers_reasons() {
        let delete = Op::DeleteQueue(EntityKey {
            vhost: "v".into(),
            name: "q2".into(),
        });
        let three = "ACCESS_REFUSED - access to queue 'q2' in vhost 'v' refused for user 'u'";
        assert_eq!(permission(&delete, three), Some(("configure", "u".into())));
        let four = "protocol error: AMQP soft error: ACCESS-REFUSED: ACCESS_REFUSED - configure \
                    access to queue 'q2' in vhost 'v' refused for user 'u'";
        assert_eq!(permission(&delete, four), Some(("configure", "u".into())));
        let three = "ACCESS_REFUSED - access to exchange 'ev' in vhost 'v' refused for user 'u'";
        assert_eq!(permission(&bind(), three), Some(("read", "u".into())));
        let four =
            "ACCESS_REFUSED - read access to exchange 'ev' in vhost 'v' refused for user 'u'";
        assert_eq!(permission(&bind(), four), Some(("read", "u".into())));
        let four = "ACCESS_REFUSED - write access to queue 'q1' in vhost 'v' refused for user 'u'";
        assert_eq!(permission(&bind(), four), Some(("write", "u".into())));
        assert_eq!(permission(&bind(), "NOT_FOUND - no exchange 'ev'"), None);
    }
}
