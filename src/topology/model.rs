//! The typed topology file: what a user writes, as serde and schemars see it.
//!
//! These are *wire* types: they mirror the YAML one to one (field names are those of
//! RabbitMQ's definitions export), reject unknown keys, and leave defaults unfilled
//! (`Option`) so that later stages can tell "not written" from "written as the default"
//! (the validator needs that for "named field and raw `x-` argument both set", and
//! normalization in [`crate::state`] is the one place that fills defaults).
//!
//! Every field carries a doc comment whose first line becomes the JSON Schema `title` and
//! whose body becomes its `description`: editors running yaml-language-server show both.
//! `tests/schema.rs` fails when a field lacks either.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod links;
pub use links::{
    AckMode, DeleteAfter, DeleteAfterMode, FederationUpstream, Shovel, ShovelEnd, Uris,
};

/// The vhost entities go to when neither they nor the file name one.
pub const DEFAULT_VHOST: &str = "/";

/// A RabbitMQ messaging topology
///
/// One file describes the broker entities (vhosts, exchanges, queues, bindings, policies,
/// users, permissions, topic permissions) and the services that use them. See the topo
/// README for the format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "topo topology file")]
pub struct Topology {
    /// Format version
    ///
    /// The version of the topology format. Only `1` is supported.
    #[schemars(extend("enum" = [1]))]
    pub version: u32,

    /// System name
    ///
    /// Lowercase letters, digits and `-`, starting with a letter or digit. Used as the
    /// compose project name and as the prefix of Azure Container App names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub name: Option<String>,

    /// Base topology
    ///
    /// Path, relative to this file, of a topology that this file overlays. Maps merge key
    /// by key, lists of named entities merge by identity, and this file wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,

    /// Default vhost
    ///
    /// The vhost of every entity that names none. Default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Broker connection and deployment
    ///
    /// Where topo connects to the broker (credentials never go here: they come from
    /// `RABBITMQ_USER` / `RABBITMQ_PASSWORD` or URL userinfo given on the command line or
    /// in `TOPO_AMQP_URL` / `TOPO_MANAGEMENT_URL`), and how render targets run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<Broker>,

    /// Virtual hosts
    ///
    /// Vhosts that must exist. The vhosts that entities use are implied; list one here to
    /// set its options (description, default queue type, tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vhosts: Vec<Vhost>,

    /// Exchanges
    ///
    /// Exchanges to declare, identified by vhost and name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<Exchange>,

    /// Queues
    ///
    /// Queues to declare, identified by vhost and name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<Queue>,

    /// Bindings
    ///
    /// Exchange-to-queue and exchange-to-exchange bindings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,

    /// Policies
    ///
    /// Policies, the recommended home for TTLs, length limits and dead-lettering because
    /// they can change in place while queue arguments cannot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,

    /// Operator policies
    ///
    /// Policies an operator sets over the users' ones: limits on queues (length, TTL,
    /// expiry, delivery limit) that the broker combines with the matching user policy,
    /// the lower value winning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_policies: Vec<OperatorPolicy>,

    /// Users
    ///
    /// Broker users. Passwords are never written in the file: `password_env` names the
    /// environment variable that holds one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,

    /// Permissions
    ///
    /// Per-vhost permissions of users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,

    /// Topic permissions
    ///
    /// Per-vhost, per-exchange limits on the routing keys a user may publish with (`write`)
    /// and bind or consume with (`read`), for topic exchanges. Where a user has none for an
    /// exchange, RabbitMQ does not restrict its routing keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic_permissions: Vec<TopicPermission>,

    /// Shovels
    ///
    /// Dynamic shovels (plugin `rabbitmq_shovel`): each moves messages from a queue or
    /// exchange to another, in this broker or between brokers. URIs with credentials come
    /// from environment variables (`uri_env`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shovels: Vec<Shovel>,

    /// Federation upstreams
    ///
    /// Brokers (or vhosts) that federated exchanges and queues of a vhost receive from
    /// (plugin `rabbitmq_federation`). A policy with a `federation-upstream` or
    /// `federation-upstream-set` key makes exchanges or queues federated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federation_upstreams: Vec<FederationUpstream>,
    /// Vhost limits
    ///
    /// Per-vhost limits (`max-connections`, `max-queues`). A limit the file leaves out is
    /// not managed; `-1` (unlimited) removes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vhost_limits: Vec<VhostLimits>,

    /// User limits
    ///
    /// Per-user limits (`max-connections`, `max-channels`). A limit the file leaves out is
    /// not managed; `-1` (unlimited) removes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_limits: Vec<UserLimits>,

    /// Services
    ///
    /// The programs that use the broker. Render targets turn them into containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,

    /// Transports
    ///
    /// How services talk to each other: over RabbitMQ (`rmq`) or direct NestJS TCP (`tcp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<Transport>,
}

/// Broker connection and deployment settings
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// AMQP URL
    ///
    /// `amqp://` or `amqps://` URL of the broker, without credentials, or a list of them
    /// (the nodes of a cluster, tried in turn). Default `amqp://localhost:5672`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amqp_url: Option<UrlList>,

    /// Management API URL
    ///
    /// `http://` or `https://` base URL of the management HTTP API, without credentials,
    /// or a list of them (the nodes of a cluster, in the order of `amqp_url`). Default
    /// `http://localhost:15672`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_url: Option<UrlList>,

    /// Broker image
    ///
    /// Container image render targets run the broker from. Default
    /// `rabbitmq:4.3-management`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Broker nodes
    ///
    /// Number of broker nodes render targets run. Default 1. Above 1, `topo render
    /// compose` runs a cluster of this many nodes (`{hostname}-1` .. `{hostname}-N`) and
    /// `topo render azure` refuses (Container Apps replicas do not form a cluster); plan
    /// and apply then expect quorum queues to survive the loss of a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub nodes: Option<u32>,

    /// Broker deployment
    ///
    /// Resources and naming of the broker container in render targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<BrokerDeploy>,

    /// TLS
    ///
    /// How topo verifies the broker over `amqps://` and `https://`, and the client
    /// certificate it shows. Flags (`--ca-cert`, `--client-cert`, `--client-key`,
    /// `--tls-server-name`) win over these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<BrokerTls>,

    /// AMQP login mechanism
    ///
    /// `plain` (user and password, the default) or `external`: the broker takes the user
    /// name from the client certificate (RabbitMQ's `rabbitmq_auth_mechanism_ssl` plugin);
    /// needs `amqps://` and `tls.client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mechanism: Option<AuthMechanism>,

    /// Broker plugins
    ///
    /// Plugins the file's kinds need the broker to run, e.g. `rabbitmq_shovel` for
    /// `shovels` and `rabbitmq_federation` for `federation_upstreams` (validate warns when
    /// one is missing, and about a name the official RabbitMQ image does not ship). `topo
    /// render` starts the broker it renders with them enabled; topo does not enable plugins
    /// on a live broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<String>>,
}

/// TLS settings of the connections to the broker
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrokerTls {
    /// CA certificate file
    ///
    /// PEM file of the CA (or CAs) that signed the broker's certificate. When set, only
    /// these are trusted, not the system's roots. A relative path is taken from the
    /// directory topo runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,

    /// Client certificate file
    ///
    /// PEM certificate (and chain) topo shows the broker, for brokers that require mutual
    /// TLS. Needs `client_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,

    /// Client key file
    ///
    /// PEM private key of `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,

    /// Server name
    ///
    /// The name the broker's certificate must hold, when the URLs name the broker by an
    /// address or another name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// How topo logs in over AMQP
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMechanism {
    /// User name and password
    Plain,
    /// The client certificate's name
    External,
}

/// One URL, or the URLs of the nodes of a cluster
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum UrlList {
    /// One node
    One(String),
    /// Several nodes, tried in this order
    Many(#[schemars(length(min = 1))] Vec<String>),
}

impl UrlList {
    /// The URLs, in order.
    pub fn urls(&self) -> Vec<&str> {
        match self {
            UrlList::One(u) => vec![u.as_str()],
            UrlList::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// How render targets run the broker container
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrokerDeploy {
    /// Hostname
    ///
    /// Fixed hostname (and compose service / Azure app name) of the broker. RabbitMQ names
    /// its data directory after the hostname, so it must not change. Default `rabbitmq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]*$"))]
    pub hostname: Option<String>,

    /// CPU cores
    ///
    /// CPU cores for the broker container (Azure: e.g. `0.5`, `1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,

    /// Memory
    ///
    /// Memory for the broker container, e.g. `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

/// A virtual host
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vhost {
    /// Vhost name
    ///
    /// Name of the virtual host, e.g. `/` or `orders`.
    pub name: String,

    /// Description
    ///
    /// Free text shown in the management UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Default queue type
    ///
    /// Queue type the broker gives queues declared in this vhost without `x-queue-type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_queue_type: Option<QueueType>,

    /// Tags
    ///
    /// Vhost tags (metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// An exchange type: one of RabbitMQ's four, or a plugin's (`x-consistent-hash`).
///
/// Kept as its text in the file and the JSON Schema (a pattern, not a closed list: plugins
/// add types), and as this enum everywhere else, so that routing and validation `match`
/// on it instead of comparing strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
    /// Any other type, as the broker spells it (a plugin's, e.g. `x-consistent-hash`).
    Plugin(String),
}

impl ExchangeKind {
    /// RabbitMQ's name of the type.
    pub fn as_str(&self) -> &str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
            ExchangeKind::Plugin(name) => name,
        }
    }

    /// The type RabbitMQ names `name` (any name is a type: unknown ones are plugins').
    pub fn parse(name: &str) -> ExchangeKind {
        match name {
            "direct" => ExchangeKind::Direct,
            "fanout" => ExchangeKind::Fanout,
            "topic" => ExchangeKind::Topic,
            "headers" => ExchangeKind::Headers,
            other => ExchangeKind::Plugin(other.to_string()),
        }
    }
}

impl From<&str> for ExchangeKind {
    fn from(name: &str) -> Self {
        ExchangeKind::parse(name)
    }
}

impl std::fmt::Display for ExchangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ExchangeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ExchangeKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(ExchangeKind::parse(&name))
    }
}

/// An exchange
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// Exchange name
    ///
    /// Name of the exchange. Names starting with `amq.` are reserved by RabbitMQ.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,

    /// Vhost
    ///
    /// Vhost of the exchange. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Exchange type
    ///
    /// `direct`, `fanout`, `topic`, `headers`, or a plugin type starting with `x-`
    /// (e.g. `x-consistent-hash`).
    #[serde(rename = "type")]
    #[schemars(
        with = "String",
        regex(pattern = r"^(direct|fanout|topic|headers|x-[A-Za-z0-9._-]+)$")
    )]
    pub kind: ExchangeKind,

    /// Durable
    ///
    /// Survives a broker restart. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable: Option<bool>,

    /// Auto-delete
    ///
    /// Deleted by the broker when its last binding is removed. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_delete: Option<bool>,

    /// Internal
    ///
    /// Publishers cannot publish to it directly; only other exchanges route to it.
    /// Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,

    /// Alternate exchange
    ///
    /// Exchange that receives messages this exchange cannot route
    /// (`alternate-exchange` argument). Must be declared in the same vhost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_exchange: Option<String>,

    /// Arguments
    ///
    /// Raw exchange arguments, as RabbitMQ takes them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub arguments: IndexMap<String, Value>,
}

/// Queue type (`x-queue-type`)
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// Classic queue
    Classic,
    /// Replicated quorum queue
    Quorum,
    /// Append-only stream
    Stream,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }
}

/// Overflow behaviour of a queue at its length limit (`x-overflow`)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Drop (or dead-letter) the oldest message
    DropHead,
    /// Refuse new messages
    RejectPublish,
    /// Refuse new messages and dead-letter them
    RejectPublishDlx,
}

impl Overflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::DropHead => "drop-head",
            Overflow::RejectPublish => "reject-publish",
            Overflow::RejectPublishDlx => "reject-publish-dlx",
        }
    }
}

/// A queue
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Queue name
    ///
    /// Name of the queue. Names starting with `amq.` are reserved by RabbitMQ.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,

    /// Vhost
    ///
    /// Vhost of the queue. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Queue type
    ///
    /// `classic`, `quorum` or `stream` (`x-queue-type`). Default `classic` (or the vhost's
    /// `default_queue_type`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<QueueType>,

    /// Durable
    ///
    /// Survives a broker restart. Default `true`; quorum queues and streams must be durable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable: Option<bool>,

    /// Auto-delete
    ///
    /// Deleted by the broker when its last consumer goes. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_delete: Option<bool>,

    /// Exclusive
    ///
    /// Always `false` here: an exclusive queue belongs to the connection that declared it,
    /// so a deployer cannot own one. Present so that writing it gets a clear error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,

    /// Message TTL (ms)
    ///
    /// `x-message-ttl`: how long a message may stay in the queue, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_ttl: Option<u64>,

    /// Queue expiry (ms)
    ///
    /// `x-expires`: the queue is deleted after this many milliseconds unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub expires: Option<u64>,

    /// Maximum length (messages)
    ///
    /// `x-max-length`: maximum number of ready messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,

    /// Maximum length (bytes)
    ///
    /// `x-max-length-bytes`: maximum total size of ready message bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length_bytes: Option<u64>,

    /// Overflow behaviour
    ///
    /// `x-overflow`: what happens at the length limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,

    /// Dead-letter exchange
    ///
    /// `x-dead-letter-exchange`: where rejected and expired messages go. Must be declared
    /// in the same vhost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,

    /// Dead-letter routing key
    ///
    /// `x-dead-letter-routing-key`: routing key dead-lettered messages get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,

    /// Maximum priority
    ///
    /// `x-max-priority`: makes a classic queue a priority queue (1 to 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 255))]
    pub max_priority: Option<u8>,

    /// Delivery limit
    ///
    /// `x-delivery-limit`: quorum queues dead-letter a message redelivered more often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_limit: Option<u64>,

    /// Single active consumer
    ///
    /// `x-single-active-consumer`: only one consumer receives at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_active_consumer: Option<bool>,

    /// Initial group size (quorum queues)
    ///
    /// `x-quorum-initial-group-size`: how many nodes of the cluster get a member of the
    /// quorum queue when it is declared. Default: every node (up to the broker's
    /// `quorum_queue.initial_group_size` setting). `topo plan` warns when it is smaller than
    /// the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub initial_group_size: Option<u32>,

    /// Initial cluster size (streams)
    ///
    /// `x-initial-cluster-size`: how many nodes of the cluster get a replica of the stream
    /// when it is declared. Default: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub initial_cluster_size: Option<u32>,

    /// Arguments
    ///
    /// Raw queue arguments (`x-...`), as RabbitMQ takes them. Prefer the named fields.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub arguments: IndexMap<String, Value>,
    /// Message schema
    ///
    /// Path, relative to the file that names it, of a JSON Schema file for the bodies of
    /// the messages in this queue. `topo render asyncapi` uses it as their payload
    /// (a transport's own `message_schema` wins); `topo validate` checks that it exists
    /// and is a JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub message_schema: Option<String>,
}

/// What a binding's destination is
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DestinationType {
    /// A queue
    Queue,
    /// An exchange (exchange-to-exchange binding)
    Exchange,
}

impl DestinationType {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationType::Queue => "queue",
            DestinationType::Exchange => "exchange",
        }
    }
}

/// A binding from an exchange to a queue or exchange
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Source exchange
    ///
    /// The exchange messages come from. Cannot be the default exchange.
    pub source: String,

    /// Destination
    ///
    /// The queue (or, with `destination_type: exchange`, exchange) messages go to.
    #[schemars(length(min = 1))]
    pub destination: String,

    /// Destination type
    ///
    /// `queue` (default) or `exchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_type: Option<DestinationType>,

    /// Routing key
    ///
    /// Binding key. For topic exchanges, words separated by `.` with `*` (one word) and
    /// `#` (zero or more words). Default empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,

    /// Routing keys
    ///
    /// Shorthand for one binding per key. Not together with `routing_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_keys: Option<Vec<String>>,

    /// Arguments
    ///
    /// Binding arguments; for headers exchanges the headers to match and `x-match`
    /// (`all`, `any`, `all-with-x`, `any-with-x`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub arguments: IndexMap<String, Value>,

    /// Vhost
    ///
    /// Vhost of the binding. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
}

/// What a policy applies to
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTo {
    /// All queues
    Queues,
    /// All exchanges
    Exchanges,
    /// Queues and exchanges
    All,
    /// Classic queues only
    ClassicQueues,
    /// Quorum queues only
    QuorumQueues,
    /// Streams only
    Streams,
}

impl ApplyTo {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
            ApplyTo::ClassicQueues => "classic_queues",
            ApplyTo::QuorumQueues => "quorum_queues",
            ApplyTo::Streams => "streams",
        }
    }
}

/// A policy
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy name
    ///
    /// Name of the policy, unique in its vhost.
    #[schemars(length(min = 1))]
    pub name: String,

    /// Vhost
    ///
    /// Vhost of the policy. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Pattern
    ///
    /// Regular expression matched against queue and exchange names.
    pub pattern: String,

    /// Applies to
    ///
    /// `queues`, `exchanges`, `all` (default), `classic_queues`, `quorum_queues` or
    /// `streams`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_to: Option<ApplyTo>,

    /// Priority
    ///
    /// The policy with the highest priority wins where several match. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,

    /// Definition
    ///
    /// The policy's keys, e.g. `message-ttl`, `dead-letter-exchange`, `max-length`.
    pub definition: IndexMap<String, Value>,
}

/// An operator policy
///
/// Set by an operator, applied to queues over the user policies: where both set a numeric
/// key the lower value wins. Only the keys the broker takes for operator policies are
/// allowed (see `topo validate`, TOPO037).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorPolicy {
    /// Policy name
    ///
    /// Name of the operator policy, unique in its vhost.
    #[schemars(length(min = 1))]
    pub name: String,

    /// Vhost
    ///
    /// Vhost of the operator policy. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Pattern
    ///
    /// Regular expression matched against queue names.
    pub pattern: String,

    /// Applies to
    ///
    /// `queues` (default); on RabbitMQ 4.x also `classic_queues`, `quorum_queues` or
    /// `streams`. Operator policy keys are queue settings, so `exchanges` and `all` are
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_to: Option<ApplyTo>,

    /// Priority
    ///
    /// The operator policy with the highest priority wins where several match. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,

    /// Definition
    ///
    /// `max-length`, `max-length-bytes`, `message-ttl`, `expires`, `delivery-limit`,
    /// `max-in-memory-length`, `max-in-memory-bytes` and (RabbitMQ 4.x) `overflow`.
    pub definition: IndexMap<String, Value>,
}

/// A broker user
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name
    ///
    /// The user's login name.
    #[schemars(length(min = 1))]
    pub name: String,

    /// Password variable
    ///
    /// Name of the environment variable that holds the password at plan/apply time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub password_env: Option<String>,

    /// Password hash
    ///
    /// A RabbitMQ password hash (base64 of salt and SHA-256 digest), as exported by the
    /// broker. Not together with `password_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,

    /// Tags
    ///
    /// User tags such as `administrator`, `monitoring`, `management`. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A user's permissions in one vhost
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// User
    ///
    /// A user declared under `users`.
    pub user: String,

    /// Vhost
    ///
    /// Vhost the permissions apply to. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Configure
    ///
    /// Regular expression of resources the user may declare and delete (`^$` for none).
    pub configure: String,

    /// Write
    ///
    /// Regular expression of resources the user may publish to.
    pub write: String,

    /// Read
    ///
    /// Regular expression of resources the user may consume from.
    pub read: String,
}

/// A user's topic permissions on one topic exchange of one vhost
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicPermission {
    /// User
    ///
    /// A user declared under `users`.
    pub user: String,

    /// Vhost
    ///
    /// Vhost of the exchange. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Exchange
    ///
    /// A topic exchange declared under `exchanges`, or `amq.topic`.
    #[schemars(length(min = 1))]
    pub exchange: String,

    /// Write
    ///
    /// Regular expression (as Erlang's `re` reads it) that the routing key of a message
    /// the user publishes to the exchange must match. `{username}`, `{vhost}` and
    /// `{client_id}` expand at check time.
    pub write: String,

    /// Read
    ///
    /// Regular expression that the routing key of a binding from the exchange (and of a
    /// consumer's topic subscription, for MQTT and STOMP) must match.
    pub read: String,
}

/// Limits of one vhost, named as the broker names them
///
/// RabbitMQ reads a negative value as "no limit"; topo takes `-1` for that and removes the
/// limit (`DELETE /api/vhost-limits/{vhost}/{name}`), so `-1` and "no limit set" never differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VhostLimits {
    /// Vhost
    ///
    /// The vhost the limits apply to. Default: the file's `vhost`, else `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,

    /// Max connections
    ///
    /// Client connections the vhost accepts at once; `0` refuses every connection, `-1`
    /// removes the limit.
    #[serde(
        rename = "max-connections",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = -1))]
    pub max_connections: Option<i64>,

    /// Max queues
    ///
    /// Queues the vhost may hold; declaring one more fails. `-1` removes the limit.
    #[serde(
        rename = "max-queues",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = -1))]
    pub max_queues: Option<i64>,
}

/// Limits of one user, named as the broker names them
///
/// As for [`VhostLimits`], `-1` removes a limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserLimits {
    /// User
    ///
    /// A user declared under `users`.
    #[schemars(length(min = 1))]
    pub user: String,

    /// Max connections
    ///
    /// Connections the user may have open at once (over every vhost). `-1` removes the limit.
    #[serde(
        rename = "max-connections",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = -1))]
    pub max_connections: Option<i64>,

    /// Max channels
    ///
    /// Channels the user may have open at once, over all its connections. `-1` removes
    /// the limit.
    #[serde(
        rename = "max-channels",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = -1))]
    pub max_channels: Option<i64>,
}

/// The runtime of a service, a hint for templates and client rules
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// NestJS (microservices over TCP and RMQ)
    Nestjs,
    /// Python (aio-pika)
    Python,
    /// Plain Node.js
    Node,
    /// Anything else
    Other,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Nestjs => "nestjs",
            Runtime::Python => "python",
            Runtime::Node => "node",
            Runtime::Other => "other",
        }
    }
}

/// How a service is reachable
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ingress {
    /// Not reachable over HTTP/TCP from other apps
    None,
    /// Reachable inside the environment
    Internal,
    /// Reachable from outside
    External,
}

impl Ingress {
    pub fn as_str(self) -> &'static str {
        match self {
            Ingress::None => "none",
            Ingress::Internal => "internal",
            Ingress::External => "external",
        }
    }
}

/// Replica bounds of a service
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replicas {
    /// Minimum replicas
    ///
    /// At least this many instances run. Default 1 (queue consumers need 1 or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,

    /// Maximum replicas
    ///
    /// At most this many instances run. Default 1 (or `min` when that is larger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max: Option<u32>,
}

/// An environment variable value
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvValue {
    /// Text
    String(String),
    /// Whole number
    Integer(i64),
    /// Number
    Number(f64),
    /// true or false
    Bool(bool),
}

impl std::fmt::Display for EnvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvValue::String(s) => f.write_str(s),
            EnvValue::Integer(i) => write!(f, "{i}"),
            EnvValue::Number(n) => write!(f, "{n}"),
            EnvValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A program that uses the broker
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Service name
    ///
    /// Lowercase letters, digits and `-`, starting with a letter, at most 32 characters
    /// (Azure Container Apps' rule). Also the compose service name and hostname.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]*$"), length(max = 32))]
    pub name: String,

    /// Image
    ///
    /// Container image, e.g. `${REGISTRY:-local}/api-gateway:${TAG:-dev}`.
    #[schemars(length(min = 1))]
    pub image: String,

    /// Runtime
    ///
    /// `nestjs`, `python`, `node` or `other`: a hint for templates and for the check that
    /// clients declare their queues the way the file does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,

    /// Port
    ///
    /// The port the service listens on (HTTP for ingress, NestJS TCP for tcp transports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,

    /// Ingress
    ///
    /// `none` (default), `internal` or `external`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Ingress>,

    /// Replicas
    ///
    /// `{min, max}`; default `{min: 1, max: 1}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Replicas>,

    /// CPU cores
    ///
    /// CPU cores per instance (Azure: e.g. `0.25`, `0.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,

    /// Memory
    ///
    /// Memory per instance, e.g. `0.5Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,

    /// Environment
    ///
    /// Plain environment variables. Never secrets: use `secrets` for those.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, EnvValue>,

    /// Broker user
    ///
    /// The user (from `users`) the service connects to the broker as. Render targets give
    /// the service this user's name and password (from its `password_env`) and never the
    /// broker's admin credentials; `topo validate` checks that the user's permissions
    /// cover what the service's transports do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub user: Option<String>,

    /// Secrets
    ///
    /// Maps an environment variable of the service to the name of the environment
    /// variable (or Azure secret) that supplies it at deploy time. Never a literal.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, String>,

    /// Command
    ///
    /// Command and arguments that replace the image's default, as a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// Kind of a transport
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Through a RabbitMQ queue
    Rmq,
    /// Direct NestJS TCP
    Tcp,
}

/// Messaging pattern of an rmq transport
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Request and reply through reply_to and correlation_id
    Rpc,
    /// Fire and forget
    Event,
}

/// How one service talks to another
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Caller
    ///
    /// The service that sends.
    pub from: String,

    /// Callee
    ///
    /// The service that receives.
    pub to: String,

    /// Kind
    ///
    /// `rmq` (through `queue`) or `tcp` (direct NestJS TCP).
    pub kind: TransportKind,

    /// Queue
    ///
    /// For `rmq`: the declared queue the caller sends to and the callee consumes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,

    /// Pattern
    ///
    /// For `rmq`: `rpc` (default; reply through reply_to and correlation_id) or `event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,

    /// Port
    ///
    /// For `tcp`: the callee's port. Default: the callee service's `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,

    /// Timeout (ms)
    ///
    /// How long the caller waits for a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,

    /// Clients assert the queue
    ///
    /// Whether the clients declare (assert) the queue on start, as the NestJS RMQ client
    /// and aio-pika's `declare_queue` do. Default `true`, and then topo checks that the
    /// queue is declared the way those clients declare it (durable classic, no
    /// arguments). Set `false` when the clients run with `noAssert` / passive declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assert_queue: Option<bool>,
    /// Message schema
    ///
    /// Path, relative to the file that names it, of a JSON Schema file for the bodies the
    /// caller sends (for a NestJS caller, the whole `{pattern, data, id}` envelope).
    /// `topo render asyncapi` uses it as the message payload, over the queue's
    /// `message_schema`; `topo validate` checks that it exists and is a JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub message_schema: Option<String>,
}
