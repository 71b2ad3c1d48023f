//! One apply at a time: a lock that the broker itself holds.
//!
//! The lock is an exclusive queue, `topo.apply-lock`, in each vhost of the file that
//! exists. RabbitMQ lets one connection at a time hold an exclusive queue and deletes it
//! when that connection closes for any reason, a crash or SIGKILL included, so a lock is
//! never left behind and needs no lease or clean-up. A second apply's declare is refused
//! with RESOURCE_LOCKED; it retries until `--lock-timeout` runs out, then names the holder
//! from the queue's `topo-lock-holder` argument (host, user, process, start time). The
//! state read leaves exclusive queues out, so the lock never shows in plans or exports
//! and `--prune` never touches it. Vhosts are locked in sorted order, so two applies over
//! overlapping vhosts cannot deadlock.
//!
//! A vhost that does not exist yet cannot hold a queue: the apply that creates it is not
//! locked there (creating a vhost is idempotent, and the next apply is locked).
//!
//! On a cluster the queue lives on the node the lock's connection went through. Measured on
//! RabbitMQ 4.3 (three nodes, Khepri): when that node dies, the other nodes keep listing the
//! queue (on the dead node, state `running`) and answer every declare with RESOURCE_LOCKED
//! until the node is back, minutes later as at once; then it is gone. So the apply that held
//! it cannot take it again through another node, and does not go on without it: the
//! [`Watch`] stops it at its next batch, or before a batch would run again elsewhere. A new
//! apply waits up to `--lock-timeout` (the node may come back) and then names the dead node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::Connection;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};

use super::endpoint::Endpoints;
use super::failover::Proto;
use super::http::Management;

/// The lock queue's name in each vhost.
pub const LOCK_QUEUE: &str = "topo.apply-lock";
/// The queue argument that says who holds the lock.
const HOLDER_ARG: &str = "topo-lock-holder";

/// Held locks; dropping them (or the process dying) releases them.
pub struct Lock {
    held: Vec<Held>,
    waited: bool,
}

/// One vhost's lock: the connection that owns its queue, and the node it went through.
#[derive(Clone)]
struct Held {
    vhost: String,
    conn: Arc<Connection>,
    node: String,
}

impl Lock {
    /// Whether another holder had to be waited for (what was read before may be stale).
    pub fn waited(&self) -> bool {
        self.waited
    }

    /// What the apply checks, while it runs, that it still holds the lock.
    pub fn watch(&self) -> Watch {
        Watch {
            held: self.held.clone(),
        }
    }

    /// Release now. The queue is deleted before its connection closes: 4.x removes an
    /// exclusive queue asynchronously after its owner's connection closed, so without the
    /// delete the lock could still be listed (and refuse the next apply) after topo exited.
    /// A failed delete still leaves the close, which releases the lock as before.
    pub async fn release(self, timeout: Duration) {
        for h in self.held {
            if let Ok(Ok(chan)) = tokio::time::timeout(timeout, h.conn.create_channel()).await {
                let delete = chan.queue_delete(LOCK_QUEUE.into(), QueueDeleteOptions::default());
                let _ = tokio::time::timeout(timeout, delete).await;
            }
            let _ =
                tokio::time::timeout(timeout, h.conn.close(200, "topo: apply done".into())).await;
        }
    }
}

/// Whether the lock's connections still stand. A lock whose connection is gone may be held
/// by another apply by now, or (on a cluster whose node died) by no live process at all.
#[derive(Clone)]
pub struct Watch {
    held: Vec<Held>,
}

impl Watch {
    /// The connections' state as the client last saw it (no round trip: checked before
    /// every batch of declares).
    pub fn check(&self) -> Result<(), String> {
        match self.held.iter().find(|h| !h.conn.status().connected()) {
            Some(h) => Err(lost(h, "closed")),
            None => Ok(()),
        }
    }

    /// A round trip on each lock connection (a channel opened and closed): when a batch's
    /// connection was just lost, the client may not have noticed yet that the lock's
    /// connection to the same node went too.
    pub async fn probe(&self, timeout: Duration) -> Result<(), String> {
        self.check()?;
        for h in &self.held {
            match tokio::time::timeout(timeout, h.conn.create_channel()).await {
                Ok(Ok(ch)) => {
                    let _ = tokio::time::timeout(timeout, ch.close(200, "lock probe".into())).await;
                }
                Ok(Err(e)) => return Err(lost(h, &e.to_string())),
                Err(_) => {
                    return Err(lost(
                        h,
                        &format!("it did not answer within {}s", timeout.as_secs()),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn lost(h: &Held, why: &str) -> String {
    format!(
        "lost the apply lock on vhost {}: its connection through {} is gone ({}); stopped \
         rather than go on without it",
        h.vhost,
        h.node,
        crate::error::redact(why)
    )
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another topo apply holds the lock on vhost {vhost}: {holder}; waited {waited}")]
    Held {
        vhost: String,
        holder: String,
        waited: String,
    },
    /// The lock's queue is on a cluster node that is not running: its holder lost that node,
    /// and the broker keeps the queue (and refuses it to everyone) until the node is back.
    #[error(
        "the apply lock on vhost {vhost} is held through node {node}, which is not running: \
         {holder}; that apply lost its node, and the broker keeps the lock until {node} is back; \
         waited {waited}"
    )]
    HeldByDeadNode {
        vhost: String,
        holder: String,
        node: String,
        waited: String,
    },
    /// The broker did not answer in time: not a refusal, so no permission is to blame.
    #[error("cannot take the apply lock on vhost {vhost}: {detail}")]
    TimedOut { vhost: String, detail: String },
    /// The broker answered and said no (permissions, a closed connection, ...).
    #[error("cannot take the apply lock on vhost {vhost}: {detail}")]
    Broker { vhost: String, detail: String },
}

impl LockError {
    /// Whether the broker refused topo's user (then permissions are worth checking).
    pub fn is_access_refused(&self) -> bool {
        match self {
            LockError::Broker { detail, .. } => {
                detail.contains("ACCESS_REFUSED")
                    || detail.contains("403")
                    || detail.contains("not allowed")
                    || detail.contains("refused the credentials")
            }
            LockError::Held { .. }
            | LockError::HeldByDeadNode { .. }
            | LockError::TimedOut { .. } => false,
        }
    }
}

/// Who this process is, as the lock records it.
pub fn holder_text(user: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into());
    format!(
        "host {host}, broker user {user}, pid {}, since {}",
        std::process::id(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    )
}

/// Take the lock in each of `vhosts` that exists on the broker, waiting up to `wait`.
pub async fn acquire(
    ep: &Endpoints,
    mgmt: &Management,
    vhosts: &[String],
    wait: Duration,
) -> Result<Lock, LockError> {
    let holder = holder_text(mgmt.user());
    let started = Instant::now();
    let deadline = started + wait;
    let mut lock = Lock {
        held: Vec::new(),
        waited: false,
    };
    let mut sorted: Vec<&String> = vhosts.iter().collect();
    sorted.sort();
    for vhost in sorted {
        let exists = mgmt
            .get_opt(&["vhosts", vhost], "read the vhost")
            .await
            .map_err(|e| match e {
                super::http::HttpError::Timeout { .. } => LockError::TimedOut {
                    vhost: vhost.clone(),
                    detail: e.to_string(),
                },
                _ => LockError::Broker {
                    vhost: vhost.clone(),
                    detail: e.to_string(),
                },
            })?;
        if exists.is_none() {
            continue;
        }
        let conn = take_one(ep, vhost, &holder, deadline).await;
        match conn {
            Ok((c, waited)) => {
                lock.waited |= waited;
                lock.held.push(Held {
                    vhost: vhost.clone(),
                    conn: Arc::new(c),
                    // The node search settled on the node that answered.
                    node: crate::error::redact(ep.nodes.current(Proto::Amqp).1.as_str()),
                })
            }
            Err(TakeError::Locked) => {
                let (holder, dead) = read_holder(mgmt, vhost).await;
                lock.release(ep.timeout).await;
                let waited =
                    humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
                        .to_string();
                return Err(match dead {
                    Some(node) => LockError::HeldByDeadNode {
                        vhost: vhost.clone(),
                        holder,
                        node,
                        waited,
                    },
                    None => LockError::Held {
                        vhost: vhost.clone(),
                        holder,
                        waited,
                    },
                });
            }
            Err(TakeError::TimedOut(detail)) => {
                lock.release(ep.timeout).await;
                return Err(LockError::TimedOut {
                    vhost: vhost.clone(),
                    detail,
                });
            }
            Err(TakeError::Other(detail)) => {
                lock.release(ep.timeout).await;
                return Err(LockError::Broker {
                    vhost: vhost.clone(),
                    detail,
                });
            }
        }
    }
    Ok(lock)
}

enum TakeError {
    Locked,
    /// No answer within `--timeout`.
    TimedOut(String),
    Other(String),
}

/// Declare the exclusive queue on a connection of its own, retrying while another
/// connection holds it and the deadline allows.
async fn take_one(
    ep: &Endpoints,
    vhost: &str,
    holder: &str,
    deadline: Instant,
) -> Result<(Connection, bool), TakeError> {
    let t = ep.timeout;
    let conn = match tokio::time::timeout(t, connect_named(ep, vhost)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(TakeError::Other(crate::error::redact(&e.to_string()))),
        Err(_) => {
            return Err(TakeError::TimedOut(format!(
                "connecting got no answer within {}s",
                t.as_secs()
            )));
        }
    };
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from(HOLDER_ARG),
        AMQPValue::LongString(holder.into()),
    );
    let opts = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let mut waited = false;
    loop {
        let chan = match tokio::time::timeout(t, conn.create_channel()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(TakeError::Other(e.to_string())),
            Err(_) => {
                return Err(TakeError::TimedOut(format!(
                    "opening a channel got no answer within {}s",
                    t.as_secs()
                )));
            }
        };
        let declared =
            tokio::time::timeout(t, chan.queue_declare(LOCK_QUEUE.into(), opts, args.clone()))
                .await;
        match declared {
            Ok(Ok(_)) => {
                // The channel may go; the queue belongs to the connection.
                let _ = tokio::time::timeout(t, chan.close(200, "lock taken".into())).await;
                return Ok((conn, waited));
            }
            Ok(Err(e)) if is_locked(&e) => {
                if Instant::now() >= deadline {
                    let _ = tokio::time::timeout(t, conn.close(200, "lock busy".into())).await;
                    return Err(TakeError::Locked);
                }
                waited = true;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(Err(e)) => return Err(TakeError::Other(e.to_string())),
            Err(_) => {
                return Err(TakeError::TimedOut(format!(
                    "the lock declare got no answer within {}s",
                    t.as_secs()
                )));
            }
        }
    }
}

/// The lock's own connection goes through the same node search as every other AMQP
/// connection (a stopped first node of a cluster must not make the lock fail), and over TLS
/// through the shared configuration.
async fn connect_named(ep: &Endpoints, vhost: &str) -> lapin::Result<Connection> {
    super::amqp::connect(ep, vhost).await
}

fn is_locked(e: &lapin::Error) -> bool {
    let text = e.to_string();
    text.contains("RESOURCE_LOCKED") || text.contains("405")
}

/// The holder as the lock queue records it (else what the broker says of its owner), and
/// the queue's node when the broker reports that node as not running.
async fn read_holder(mgmt: &Management, vhost: &str) -> (String, Option<String>) {
    let q = match mgmt
        .get_opt(&["queues", vhost, LOCK_QUEUE], "read the apply lock")
        .await
    {
        Ok(Some(q)) => q,
        Ok(None) => return ("a holder that has just let go (try again)".into(), None),
        Err(e) => return (format!("unknown ({e})"), None),
    };
    let holder = match (
        q.get("arguments")
            .and_then(|a| a.get(HOLDER_ARG))
            .and_then(|h| h.as_str()),
        q.get("owner_pid_details")
            .and_then(|o| o.get("name"))
            .and_then(|n| n.as_str()),
    ) {
        (Some(h), _) => h.to_string(),
        (None, Some(conn)) => format!("connection {conn}"),
        (None, None) => "a connection the broker did not name".into(),
    };
    let dead = match q.get("node").and_then(|n| n.as_str()) {
        Some(node) => node_down(mgmt, node).await.then(|| node.to_string()),
        None => None,
    };
    (holder, dead)
}

/// Whether the broker lists `node` as not running. A node it cannot tell about (an error, a
/// single broker without the field) counts as running: the plain "held" message then stands.
async fn node_down(mgmt: &Management, node: &str) -> bool {
    match mgmt.get_opt(&["nodes", node], "read the lock's node").await {
        Ok(Some(n)) => n.get("running").and_then(|r| r.as_bool()) == Some(false),
        _ => false,
    }
}
