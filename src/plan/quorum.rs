//! Advice on replicated queues for the cluster the plan reads: a quorum queue (or stream)
//! with fewer members than the cluster has nodes loses redundancy the operator probably
//! assumes, and a cluster of fewer than three nodes cannot keep a quorum queue available
//! through the loss of a node (a majority of its members must run).
//!
//! Pure: the desired and live states and the cluster's size in, sentences out. The commands
//! print them as warnings; they never change the plan.

use crate::state::{EntityKey, QueueState, State};
use crate::topology::model::QueueType;

/// At most this many queues are named one by one; the rest are counted.
const NAMED: usize = 10;

/// What the plan knows about the cluster and the file's intent.
#[derive(Debug, Clone, Copy)]
pub struct ClusterView {
    /// Nodes in the cluster (running or not), as the broker reports them.
    pub nodes: usize,
    /// The file or the command line describes a cluster (`broker.nodes` above 1, or more
    /// than one node URL): its quorum queues are meant to survive the loss of a node.
    pub clustered: bool,
}

fn group_arg(kind: QueueType) -> Option<&'static str> {
    match kind {
        QueueType::Quorum => Some("x-quorum-initial-group-size"),
        QueueType::Stream => Some("x-initial-cluster-size"),
        QueueType::Classic => None,
    }
}

fn noun(kind: QueueType) -> &'static str {
    match kind {
        QueueType::Stream => "stream",
        _ => "quorum queue",
    }
}

/// Warnings for the replicated queues of `desired`, given what `live` holds.
pub fn warnings(desired: &State, live: &State, cluster: ClusterView) -> Vec<String> {
    let n = cluster.nodes;
    let mut short: Vec<String> = Vec::new();
    let mut oversized: Vec<String> = Vec::new();
    let mut replicated = 0usize;
    let mut meant_to_survive = cluster.clustered;
    for (key, want) in &desired.queues {
        let Some(arg) = group_arg(want.kind) else {
            continue;
        };
        replicated += 1;
        let group = want
            .arguments
            .get(arg)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        meant_to_survive |= group.is_some_and(|g| g > 1);
        match live.queues.get(key).filter(|q| q.kind == want.kind) {
            Some(have) => {
                if let Some(m) = have.members.as_ref().filter(|m| m.len() < n) {
                    short.push(existing(key, want, m, n));
                }
            }
            None => match group {
                Some(g) if (g as usize) < n => short.push(format!(
                    "{} {key} will get {g} member{} on a cluster of {n} nodes ({} {g})",
                    noun(want.kind),
                    if g == 1 { "" } else { "s" },
                    field(want.kind),
                )),
                Some(g) if g as usize > n => oversized.push(format!(
                    "{} {key} asks for {g} members ({} {g}) but the cluster has {n} node{}: it \
                     gets {n}",
                    noun(want.kind),
                    field(want.kind),
                    if n == 1 { "" } else { "s" },
                )),
                _ => {}
            },
        }
    }
    let mut out = Vec::new();
    let more = short.len().saturating_sub(NAMED);
    out.extend(short.into_iter().take(NAMED));
    if more > 0 {
        out.push(format!(
            "... and {more} more replicated queues with fewer members than the cluster's {n} nodes"
        ));
    }
    out.extend(oversized.into_iter().take(NAMED));
    if replicated > 0 && meant_to_survive && n < 3 {
        out.push(format!(
            "the cluster has {n} node{}: a quorum queue stays available through the loss of a \
             node only with three or more members (a majority must run); {replicated} \
             replicated queue{} in the file",
            if n == 1 { "" } else { "s" },
            if replicated == 1 { "" } else { "s" },
        ));
    }
    out
}

fn field(kind: QueueType) -> &'static str {
    match kind {
        QueueType::Stream => "initial_cluster_size",
        _ => "initial_group_size",
    }
}

fn existing(key: &EntityKey, want: &QueueState, members: &[String], n: usize) -> String {
    format!(
        "{} {key} has {} member{} ({}) on a cluster of {n} nodes; `rabbitmq-queues grow` adds \
         members on the others",
        noun(want.kind),
        members.len(),
        if members.len() == 1 { "" } else { "s" },
        members.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(kind: QueueType, group: Option<u64>, members: Option<&[&str]>) -> QueueState {
        let mut arguments = crate::state::Args::new();
        if let (Some(g), Some(arg)) = (group, group_arg(kind)) {
            arguments.insert(arg.into(), json!(g));
        }
        QueueState {
            kind,
            durable: true,
            auto_delete: false,
            arguments,
            messages: None,
            members: members.map(|m| m.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn state<S: AsRef<str>>(queues: Vec<(S, QueueState)>) -> State {
        let mut s = State::default();
        for (name, queue) in queues {
            s.queues.insert(EntityKey::new("v", name.as_ref()), queue);
        }
        s
    }

    const THREE: ClusterView = ClusterView {
        nodes: 3,
        clustered: true,
    };

    #[test]
    fn a_new_queue_with_a_small_group_is_named() {
        let desired = state(vec![
            ("small", q(QueueType::Quorum, Some(2), None)),
            ("all", q(QueueType::Quorum, None, None)),
            ("st", q(QueueType::Stream, Some(1), None)),
            ("classic", q(QueueType::Classic, None, None)),
        ]);
        let w = warnings(&desired, &State::default(), THREE);
        assert_eq!(
            w,
            vec![
                "quorum queue small@v will get 2 members on a cluster of 3 nodes (initial_group_size 2)",
                "stream st@v will get 1 member on a cluster of 3 nodes (initial_cluster_size 1)",
            ]
        );
    }

    #[test]
    fn a_live_queue_with_fewer_members_than_nodes_is_named_with_its_members() {
        let desired = state(vec![
            ("q", q(QueueType::Quorum, None, None)),
            ("ok", q(QueueType::Quorum, None, None)),
        ]);
        let live = state(vec![
            ("q", q(QueueType::Quorum, None, Some(&["a@h", "b@h"]))),
            (
                "ok",
                q(QueueType::Quorum, None, Some(&["a@h", "b@h", "c@h"])),
            ),
        ]);
        let w = warnings(&desired, &live, THREE);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("quorum queue q@v has 2 members (a@h, b@h) on a cluster of 3"));
    }

    #[test]
    fn a_small_cluster_is_a_warning_only_when_the_file_means_a_cluster() {
        let desired = state(vec![("q", q(QueueType::Quorum, None, None))]);
        let single = ClusterView {
            nodes: 1,
            clustered: false,
        };
        // A developer's single broker and a file that does not ask for more: nothing to say.
        assert!(warnings(&desired, &State::default(), single).is_empty());
        let two = ClusterView {
            nodes: 2,
            clustered: true,
        };
        let w = warnings(&desired, &State::default(), two);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("the cluster has 2 nodes: a quorum queue stays available"));
        // A group size above one also says the queue is meant to be replicated.
        let grouped = state(vec![("q", q(QueueType::Quorum, Some(3), None))]);
        let w = warnings(&grouped, &State::default(), single);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("asks for 3 members"), "{w:?}");
    }

    #[test]
    fn many_short_queues_are_counted_not_listed() {
        let desired = state(
            (0..25)
                .map(|i| (format!("q{i:02}"), q(QueueType::Quorum, Some(1), None)))
                .collect(),
        );
        let w = warnings(&desired, &State::default(), THREE);
        assert_eq!(w.len(), NAMED + 1);
        assert!(w[NAMED].starts_with("... and 15 more"), "{w:?}");
    }
}
