//! A broker of several nodes (`broker.nodes` above 1), rendered as one container per node
//! that find each other by classic peer discovery.

use serde::Serialize;

use super::{AMQP_PORT, MANAGEMENT_PORT};
use crate::topology::model::Topology;
use crate::topology::names as azure_names;

/// The deploy-time variable that holds a cluster's shared Erlang cookie. Nodes of one
/// cluster authenticate each other (and the CLI tools of the health check) with it, so it is
/// a secret like a password: compose reads it from the environment or `.env` into a compose
/// secret, and it is never written into the rendered file.
pub const ERLANG_COOKIE_VAR: &str = "RABBITMQ_ERLANG_COOKIE";
/// The compose secret that carries the cookie.
pub const ERLANG_COOKIE_SECRET: &str = "erlang-cookie";
/// Where the official image's RabbitMQ (and the CLI tools, through the image's
/// `/root/.erlang.cookie` link) read the cookie: `$HOME/.erlang.cookie` of user rabbitmq.
pub const ERLANG_COOKIE_PATH: &str = "/var/lib/rabbitmq/.erlang.cookie";
/// Where a cluster's peer-discovery configuration goes: the official image reads every
/// `conf.d/*.conf` after its own `10-defaults.conf`, so the image's defaults stay.
pub const CLUSTER_CONF_PATH: &str = "/etc/rabbitmq/conf.d/20-topo-cluster.conf";
/// The compose config that carries it.
pub const CLUSTER_CONF_NAME: &str = "rabbitmq-cluster";

/// A broker of several nodes (`broker.nodes` above 1), rendered as one container per node.
#[derive(Debug, Serialize)]
pub struct Cluster {
    /// `broker.nodes`.
    pub size: u32,
    pub nodes: Vec<ClusterNode>,
    /// `rabbitmq.conf` lines that make the nodes find each other (classic peer discovery
    /// with every node's name).
    pub conf: String,
    /// Where `conf` goes in each node's container.
    pub conf_path: &'static str,
    /// Name of the compose config that carries `conf`.
    pub conf_name: &'static str,
    /// The variable that holds the shared Erlang cookie at deploy time.
    pub cookie_var: &'static str,
    /// Name of the compose secret that carries it, and where it lands.
    pub cookie_secret: &'static str,
    pub cookie_path: &'static str,
}

/// One node of a cluster.
#[derive(Debug, Serialize)]
pub struct ClusterNode {
    /// Compose service name and hostname: `{hostname}-{i}`, i from 1. Stable, since
    /// RabbitMQ names a node (and its data directory) after the host.
    pub name: String,
    /// The Erlang node name, `rabbit@{name}`.
    pub node_name: String,
    /// Host ports the node's AMQP and management ports are published on (5672 + i - 1,
    /// 15672 + i - 1), so that each node can be reached from the host.
    pub amqp_port: u16,
    pub management_port: u16,
    /// The node's own named volume for `/var/lib/rabbitmq`.
    pub volume: String,
}

/// The nodes of `broker.nodes` above 1, named `{hostname}-1` .. `{hostname}-N`, and the
/// peer-discovery configuration that names them all. Classic peer discovery (a fixed list
/// of node names) is the backend that needs nothing but the names: compose gives each
/// container a stable hostname, so the list is known when rendering.
pub fn cluster_of(topo: &Topology) -> anyhow::Result<Option<Cluster>> {
    let Some(size) = azure_names::cluster_size(topo) else {
        return Ok(None);
    };
    // Node i is published on 5672 + i - 1 and 15672 + i - 1: check the last fits before
    // making any.
    let last = u16::try_from(size - 1)
        .ok()
        .and_then(|o| MANAGEMENT_PORT.checked_add(o));
    if last.is_none() {
        return Err(crate::error::Hinted::new(
            format!("broker.nodes is {size}: the nodes' published ports would pass 65535"),
            "a cluster has a handful of nodes (3, 5 or 7); lower `broker.nodes`",
        )
        .into());
    }
    let nodes: Vec<ClusterNode> = (1..=size)
        .map(|i| {
            let name = azure_names::broker_node_name(topo, i);
            // Fits: checked above for the largest offset.
            let offset = (i - 1) as u16;
            ClusterNode {
                node_name: format!("rabbit@{name}"),
                volume: format!("{name}-data"),
                name,
                amqp_port: AMQP_PORT + offset,
                management_port: MANAGEMENT_PORT + offset,
            }
        })
        .collect();
    let mut conf = String::from(
        "# Written by `topo render`: the nodes of this cluster find each other by name.\n\
         cluster_formation.peer_discovery_backend = classic_config\n",
    );
    for (i, n) in nodes.iter().enumerate() {
        conf.push_str(&format!(
            "cluster_formation.classic_config.nodes.{} = {}\n",
            i + 1,
            n.node_name
        ));
    }
    Ok(Some(Cluster {
        size,
        nodes,
        conf,
        conf_path: CLUSTER_CONF_PATH,
        conf_name: CLUSTER_CONF_NAME,
        cookie_var: ERLANG_COOKIE_VAR,
        cookie_secret: ERLANG_COOKIE_SECRET,
        cookie_path: ERLANG_COOKIE_PATH,
    }))
}
