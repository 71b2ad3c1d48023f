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

use std::time::{Duration, Instant};

use lapin::Connection;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};

use super::endpoint::Endpoints;
use super::http::Management;

/// The lock queue's name in each vhost.
pub const LOCK_QUEUE: &str = "topo.apply-lock";
/// The queue argument that says who holds the lock.
const HOLDER_ARG: &str = "topo-lock-holder";

/// Held locks; dropping them (or the process dying) releases them.
pub struct Lock {
    conns: Vec<Connection>,
    waited: bool,
}

impl Lock {
    /// Whether another holder had to be waited for (what was read before may be stale).
    pub fn waited(&self) -> bool {
        self.waited
    }

    /// Release now (closing the connections deletes the queues).
    pub async fn release(self, timeout: Duration) {
        for c in self.conns {
            let _ = tokio::time::timeout(timeout, c.close(200, "topo: apply done".into())).await;
        }
    }
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
            LockError::Held { .. } | LockError::TimedOut { .. } => false,
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
        conns: Vec::new(),
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
                lock.conns.push(c)
            }
            Err(TakeError::Locked) => {
                let holder = read_holder(mgmt, vhost).await;
                lock.release(ep.timeout).await;
                return Err(LockError::Held {
                    vhost: vhost.clone(),
                    holder,
                    waited: humantime::format_duration(Duration::from_secs(
                        started.elapsed().as_secs(),
                    ))
                    .to_string(),
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

/// The holder as the lock queue records it, else what the broker says of its owner.
async fn read_holder(mgmt: &Management, vhost: &str) -> String {
    match mgmt
        .get_opt(&["queues", vhost, LOCK_QUEUE], "read the apply lock")
        .await
    {
        Ok(Some(q)) => {
            if let Some(h) = q
                .get("arguments")
                .and_then(|a| a.get(HOLDER_ARG))
                .and_then(|h| h.as_str())
            {
                return h.to_string();
            }
            match q
                .get("owner_pid_details")
                .and_then(|o| o.get("name"))
                .and_then(|n| n.as_str())
            {
                Some(conn) => format!("connection {conn}"),
                None => "a connection the broker did not name".into(),
            }
        }
        Ok(None) => "a holder that has just let go (try again)".into(),
        Err(e) => format!("unknown ({e})"),
    }
}
