//! Links that move messages between vhosts or brokers: dynamic shovels (`rabbitmq_shovel`)
//! and federation upstreams (`rabbitmq_federation`). Both are runtime parameters of the
//! broker (`/api/parameters/{component}/{vhost}/{name}`) whose value names other brokers by
//! URI, so both take their URIs from the environment (`uri_env`) when they carry
//! credentials: a password never sits in the file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One URI (or variable), or a list: the broker keeps a link's URI as either, and tries a
/// list's URIs in turn
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Uris {
    One(String),
    List(Vec<String>),
}

impl Uris {
    /// The URIs (or variable names), in order.
    pub fn items(&self) -> Vec<&str> {
        match self {
            Uris::One(u) => vec![u.as_str()],
            Uris::List(l) => l.iter().map(String::as_str).collect(),
        }
    }

    /// JSON pointers of the items below `at` (`at` itself for one, `at/i` in a list), with
    /// each item.
    pub fn located(&self, at: &str) -> Vec<(String, &str)> {
        match self {
            Uris::One(u) => vec![(at.to_string(), u.as_str())],
            Uris::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, u)| (format!("{at}/{i}"), u.as_str()))
                .collect(),
        }
    }
}

/// A dynamic shovel: consumes from a queue (or an exchange, through a queue of its own) and
/// republishes to a queue or an exchange, on this broker or another
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shovel {
    /// Shovel name
    ///
    /// Name of the shovel, unique in its vhost.
    #[schemars(length(min = 1))]
    pub name: String,

    /// Vhost
    ///
    /// Vhost the shovel is defined in (it runs there; its URIs say where it connects).
    /// Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Source
    ///
    /// Where the shovel consumes: a `queue`, or an `exchange` (with `routing_key`) that
    /// the shovel binds a queue of its own to.
    pub source: ShovelEnd,

    /// Destination
    ///
    /// Where the shovel publishes: a `queue` (through the default exchange), or an
    /// `exchange` (with `routing_key`; without one, each message keeps its own).
    pub destination: ShovelEnd,

    /// Acknowledgement mode
    ///
    /// `on-confirm` (default: the source message is acknowledged once the destination
    /// confirms it), `on-publish`, or `no-ack` (fastest, may lose messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_mode: Option<AckMode>,

    /// Delete after
    ///
    /// `never` (default), `queue-length` (stop and delete the shovel once it has moved the
    /// messages the source queue held when it started), or a number of messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_delete_after: Option<DeleteAfter>,

    /// Prefetch count
    ///
    /// Unacknowledged messages the shovel holds at once. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch_count: Option<u64>,

    /// Reconnect delay
    ///
    /// Seconds between a lost connection and the next attempt. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_delay: Option<u64>,

    /// Add forwarding headers
    ///
    /// Add an `x-shovelled` header (where the message came from) to each message. Default
    /// false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_forward_headers: Option<bool>,
}

/// One end of a shovel: the broker (by URI) and the queue or exchange there
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShovelEnd {
    /// URI variable
    ///
    /// Name of the environment variable that holds the AMQP URI at plan/apply time, e.g.
    /// `amqp://user:password@host:5672/vhost`. Use it whenever the URI carries a
    /// password; plan, diff and export show its userinfo as `***`. A list names one
    /// variable per URI: the broker tries the URIs in turn (a cluster's nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_env: Option<Uris>,

    /// URI
    ///
    /// AMQP URI without a password: `amqp:///other` is vhost `other` of this broker,
    /// `amqp://` alone its default vhost `/`. Without `uri` and `uri_env`: the shovel's own
    /// vhost of this broker. A URI with a password is refused (TOPO025): use `uri_env`.
    /// A list of URIs: the broker tries them in turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Uris>,

    /// Queue
    ///
    /// Queue to consume from (source) or publish to (destination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,

    /// Exchange
    ///
    /// Exchange to consume from (source: the shovel binds a queue of its own) or publish
    /// to (destination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,

    /// Routing key
    ///
    /// With `exchange`: the binding key (source) or the routing key messages are
    /// published with (destination; default: each message's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

/// How a shovel or a federation link acknowledges what it moved
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AckMode {
    OnConfirm,
    OnPublish,
    NoAck,
}

impl AckMode {
    /// RabbitMQ's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AckMode::OnConfirm => "on-confirm",
            AckMode::OnPublish => "on-publish",
            AckMode::NoAck => "no-ack",
        }
    }
}

/// When a shovel deletes itself: `never`, `queue-length`, or after a number of messages
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DeleteAfter {
    Mode(DeleteAfterMode),
    Count(u64),
}

/// The named `src-delete-after` settings
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteAfterMode {
    Never,
    QueueLength,
}

/// A federation upstream: a broker (by URI) whose exchanges or queues federated ones of
/// this vhost receive from, once a policy names the upstream
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederationUpstream {
    /// Upstream name
    ///
    /// Name of the upstream, unique in its vhost; a policy's `federation-upstream` key
    /// names it.
    #[schemars(length(min = 1))]
    pub name: String,

    /// Vhost
    ///
    /// Vhost of the federated (downstream) exchanges and queues. Default: the file's
    /// `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// URI variable
    ///
    /// Name of the environment variable that holds the upstream's AMQP URI at plan/apply
    /// time. Use it whenever the URI carries a password; plan, diff and export show its
    /// userinfo as `***`. A list names one variable per URI: the broker tries the URIs in
    /// turn (a cluster's nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_env: Option<Uris>,

    /// URI
    ///
    /// The upstream's AMQP URI without a password (`amqp:///other` is vhost `other` of
    /// this broker). A URI with a password is refused (TOPO025): use `uri_env`. A list of
    /// URIs: the broker tries them in turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Uris>,

    /// Upstream exchange
    ///
    /// Exchange of the upstream to federate from. Default: the federated exchange's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,

    /// Upstream queue
    ///
    /// Queue of the upstream to federate from. Default: the federated queue's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,

    /// Maximum hops
    ///
    /// How many federation links a message may cross before it is dropped (loops).
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_hops: Option<u64>,

    /// Expires
    ///
    /// Milliseconds the upstream keeps its queue for a disconnected link. Default: forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,

    /// Message TTL
    ///
    /// Milliseconds a message waits in the upstream's queue for a disconnected link.
    /// Default: forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_ttl: Option<u64>,

    /// Acknowledgement mode
    ///
    /// `on-confirm` (default), `on-publish` or `no-ack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_mode: Option<AckMode>,

    /// Trust user id
    ///
    /// Pass a message's `user-id` through unchecked. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_user_id: Option<bool>,

    /// Prefetch count
    ///
    /// Unacknowledged messages the link holds at once. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch_count: Option<u64>,

    /// Reconnect delay
    ///
    /// Seconds between a lost connection and the next attempt. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_delay: Option<u64>,
}
