//! What the broker says about its cluster: the nodes it knows and which of them run.
//! Used by `--wait` (wait for the whole cluster, not just the node that answered first) and
//! by the plan's advice on quorum queues and streams.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::failover::Proto;
use super::http::{HttpError, Management};

/// One node of the cluster, as `GET /api/nodes` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Node {
    pub name: String,
    #[serde(default)]
    pub running: bool,
    /// Milliseconds since the node started.
    #[serde(default)]
    pub uptime: Option<u64>,
}

/// The nodes of the cluster the management API belongs to (one for a single broker).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Nodes the cluster has, running or not.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    pub fn down(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| !n.running)
            .map(|n| n.name.as_str())
            .collect()
    }
}

pub async fn read_cluster(mgmt: &Management) -> Result<Cluster, HttpError> {
    let nodes: Vec<Node> = mgmt
        .get_typed_query(
            &["nodes"],
            &[("columns", "name,running,uptime")],
            "listing the cluster's nodes",
        )
        .await?;
    Ok(Cluster { nodes })
}

/// How many nodes the cluster has, read once per run (the state read decides by it how to
/// read, the plan's advice and the lag re-read by it what to say and do). `--wait` polls
/// [`read_cluster`] itself; by the time this is first asked, the wait is over.
pub async fn node_count(mgmt: &Management) -> Result<usize, HttpError> {
    mgmt.memo()
        .nodes
        .get_or_try_init(|| seen(mgmt))
        .await
        .map(|&(count, _)| count)
}

/// When the broker's only node started, in ms since the Unix epoch on this machine's clock
/// (now minus its uptime, so never earlier than the true start); `None` for a cluster or a
/// broker that does not say. From the same read as [`node_count`].
pub async fn single_node_start(mgmt: &Management) -> Option<u64> {
    mgmt.memo()
        .nodes
        .get_or_try_init(|| seen(mgmt))
        .await
        .ok()?
        .1
}

/// The node count and the start of a single node, from one `GET /api/nodes`.
async fn seen(mgmt: &Management) -> Result<(usize, Option<u64>), HttpError> {
    let cluster = read_cluster(mgmt).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let started = match cluster.nodes.as_slice() {
        [node] => node.uptime.map(|up| now.saturating_sub(up)),
        _ => None,
    };
    Ok((cluster.size(), started))
}

/// Why the cluster is not ready yet (`None`: ready): a node it knows is down, or it has fewer
/// nodes than the command line listed.
pub fn not_ready(cluster: &Cluster, listed: usize) -> Option<String> {
    let down = cluster.down();
    if !down.is_empty() {
        return Some(format!("{} not running", down.join(", ")));
    }
    if cluster.size() < listed {
        return Some(format!(
            "{} of the {listed} listed nodes in the cluster",
            cluster.size()
        ));
    }
    None
}

/// Why waiting for the cluster stopped.
#[derive(Debug)]
pub enum WaitError {
    /// An answer that waiting does not change (credentials, permissions), or, at the
    /// deadline, the last failure to reach any node.
    Http(HttpError),
    /// The deadline passed with the cluster answering; why it was not ready then.
    NotReady(String),
}

/// Waits until every node of the cluster runs (and as many nodes as were listed have
/// joined), polling through whichever node answers, until `deadline`.
pub async fn wait_for_cluster(mgmt: &Management, deadline: Instant) -> Result<Cluster, WaitError> {
    let listed = mgmt.nodes().list(Proto::Management).len();
    let mut said: Option<String> = None;
    loop {
        let (why, failure) = match read_cluster(mgmt).await {
            Ok(c) => match not_ready(&c, listed) {
                None => return Ok(c),
                Some(why) => (format!("the cluster ({why})"), WaitError::NotReady(why)),
            },
            Err(e) if e.is_transient() => (format!("the broker ({e})"), WaitError::Http(e)),
            Err(e) => return Err(WaitError::Http(e)),
        };
        if Instant::now() >= deadline {
            return Err(failure);
        }
        if said.as_deref() != Some(why.as_str()) {
            eprintln!("topo: waiting for {why}");
            said = Some(why);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, running: bool) -> Node {
        Node {
            name: name.into(),
            running,
            uptime: None,
        }
    }

    #[test]
    fn ready_when_every_node_runs_and_all_listed_joined() {
        let three = Cluster {
            nodes: vec![node("a", true), node("b", true), node("c", true)],
        };
        assert_eq!(not_ready(&three, 3), None);
        assert_eq!(not_ready(&three, 1), None);
        let one_down = Cluster {
            nodes: vec![node("a", true), node("b", false), node("c", true)],
        };
        assert_eq!(not_ready(&one_down, 3).as_deref(), Some("b not running"));
        let alone = Cluster {
            nodes: vec![node("a", true)],
        };
        assert_eq!(
            not_ready(&alone, 3).as_deref(),
            Some("1 of the 3 listed nodes in the cluster")
        );
    }
}
