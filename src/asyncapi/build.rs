//! From the typed topology to an AsyncAPI document: a pure function of the topology, the
//! message schema files already read, and the options.
//!
//! The mapping (docs/asyncapi.md has the user's view):
//! - the broker is one `amqp`/`amqps` server; each `tcp` transport's callee is a `tcp`
//!   server (NestJS TCP);
//! - every exchange is a channel whose address is the routing key (`is: routingKey`),
//!   every queue a channel whose address is the queue name (`is: queue`, what a client
//!   publishing through the default exchange uses); an RPC queue also gets a reply channel
//!   without an address, since the caller names it at run time in `reply_to`;
//! - every transport is a `send` on the caller's side and a `receive` on the callee's,
//!   with AsyncAPI 3's `reply` for RPC.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::doc::*;
use crate::topology::message_schema::Owner;
use crate::topology::model::{
    Binding, DestinationType, Exchange, Pattern, Queue, QueueType, Runtime, Topology, Transport,
    TransportKind,
};

/// The vhost of entities that name none and of a file that names none.
const DEFAULT_VHOST: &str = "/";
/// Where topo connects when the file has no `broker.amqp_url`.
const DEFAULT_AMQP_URL: &str = "amqp://localhost:5672";
/// `info.version`: the topology has no API version of its own.
pub const INFO_VERSION: &str = "1.0.0";

/// A `message_schema` file, read and parsed.
#[derive(Debug, Clone)]
pub struct LoadedSchema {
    pub path: PathBuf,
    pub schema: Value,
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The topology file as the user named it (for the description and the marker).
    pub file: &'a str,
    /// Only this service's operations (and what they use).
    pub service: Option<&'a str>,
}

/// Why a document cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("service `{0}` is not in the topology")]
    UnknownService(String, Vec<String>),
}

/// The AsyncAPI document of a topology (or of one of its services).
pub fn build(
    topo: &Topology,
    schemas: &BTreeMap<Owner, LoadedSchema>,
    opts: Options,
) -> Result<Document, BuildError> {
    if let Some(s) = opts.service
        && !topo.services.iter().any(|x| x.name == s)
    {
        let names = topo.services.iter().map(|x| x.name.clone()).collect();
        return Err(BuildError::UnknownService(s.to_string(), names));
    }
    let mut b = Builder::new(topo, schemas, opts);
    b.servers();
    for x in &topo.exchanges {
        b.exchange_channel(x);
    }
    for q in &topo.queues {
        b.queue_channel(q);
    }
    for (i, t) in topo.transports.iter().enumerate() {
        b.transport(i, t);
    }
    b.queue_schema_messages();
    let mut doc = b.doc;
    if let Some(service) = opts.service {
        let keep: BTreeSet<&String> = b
            .op_owner
            .iter()
            .filter(|(_, s)| s == service)
            .map(|(k, _)| k)
            .collect();
        doc.operations.retain(|k, _| keep.contains(k));
        prune(&mut doc);
    }
    Ok(doc)
}

struct Builder<'a> {
    topo: &'a Topology,
    schemas: &'a BTreeMap<Owner, LoadedSchema>,
    doc: Document,
    broker_server: String,
    /// Channel key of each queue of the default vhost, by name (transports name those).
    queue_channel: HashMap<String, String>,
    /// Channel key of every queue, in file order.
    queue_keys: Vec<String>,
    /// Component schema key of each schema file, by path.
    schema_key: HashMap<PathBuf, String>,
    /// The server key of each `tcp` callee.
    tcp_servers: HashMap<String, String>,
    /// The channel key of each `tcp` callee.
    tcp_channels: HashMap<String, String>,
    /// The service each operation belongs to.
    op_owner: Vec<(String, String)>,
}

/// Where a request body's schema comes from.
#[derive(Debug, Clone, PartialEq)]
enum Payload {
    /// A `message_schema` file: its component schema key.
    File(String),
    /// The NestJS envelope `{pattern, data, id}` (`id` only when a reply is expected).
    Nest,
    /// Anything: the file says nothing about the body.
    Open,
}

/// How a message travels, which decides its headers and correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Carrier {
    AmqpRpc,
    AmqpEvent,
    Tcp,
}

impl<'a> Builder<'a> {
    fn new(
        topo: &'a Topology,
        schemas: &'a BTreeMap<Owner, LoadedSchema>,
        opts: Options,
    ) -> Builder<'a> {
        let system = topo.name.clone().unwrap_or_else(|| "topo".to_string());
        let (title, scope) = match opts.service {
            Some(s) => (
                format!("{system}: {s}"),
                format!("the messages service `{s}` sends and receives"),
            ),
            None => (
                system.clone(),
                "its exchanges, queues and the messages its services exchange".to_string(),
            ),
        };
        let description = format!(
            "The messaging topology of `{system}` as deployed by topo from `{}`: {scope}. \
             Regenerate it with `topo render asyncapi` rather than editing it.",
            opts.file
        );
        Builder {
            topo,
            schemas,
            doc: Document {
                asyncapi: ASYNCAPI_VERSION,
                generated_by: format!(
                    "Generated by `topo render asyncapi` from {}; do not edit",
                    opts.file
                ),
                info: Info {
                    title,
                    version: INFO_VERSION.to_string(),
                    description,
                },
                default_content_type: "application/json",
                servers: IndexMap::new(),
                channels: IndexMap::new(),
                operations: IndexMap::new(),
                components: Components::default(),
            },
            broker_server: String::new(),
            queue_channel: HashMap::new(),
            queue_keys: Vec::new(),
            schema_key: HashMap::new(),
            tcp_servers: HashMap::new(),
            tcp_channels: HashMap::new(),
            op_owner: Vec::new(),
        }
    }

    fn default_vhost(&self) -> &'a str {
        self.topo.vhost.as_deref().unwrap_or(DEFAULT_VHOST)
    }

    fn vhost_of(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or(self.default_vhost())
    }

    fn servers(&mut self) {
        let url_text = self
            .topo
            .broker
            .as_ref()
            .and_then(|b| b.amqp_url.as_ref())
            // A cluster's list: the first node stands for the server.
            .and_then(|l| l.urls().first().copied())
            .unwrap_or(DEFAULT_AMQP_URL);
        let (protocol, host) = match url::Url::parse(url_text) {
            Ok(u) => {
                let protocol = u.scheme().to_string();
                let port = u
                    .port()
                    .unwrap_or(if protocol == "amqps" { 5671 } else { 5672 });
                let host = u.host_str().unwrap_or("localhost");
                (protocol, format!("{host}:{port}"))
            }
            Err(_) => ("amqp".to_string(), "localhost:5672".to_string()),
        };
        let vhost = self.default_vhost();
        let key = unique(&self.doc.servers, "rabbitmq");
        self.doc.servers.insert(
            key.clone(),
            Server {
                host,
                protocol,
                protocol_version: Some("0.9.1".into()),
                pathname: Some(format!("/{}", encode_vhost(vhost))),
                title: "RabbitMQ".into(),
                description: format!(
                    "The broker, vhost `{vhost}` (entities in other vhosts say so in their \
                     bindings). Credentials are not part of this document: each service gets \
                     its own at deploy time."
                ),
            },
        );
        self.broker_server = key;
        let mut seen = BTreeSet::new();
        for t in &self.topo.transports {
            if t.kind != TransportKind::Tcp || !seen.insert(t.to.as_str()) {
                continue;
            }
            let port = t.port.or_else(|| self.service_port(&t.to));
            let host = match port {
                Some(p) => format!("{}:{p}", t.to),
                None => t.to.clone(),
            };
            let key = unique(&self.doc.servers, &key_of(&t.to));
            self.tcp_servers.insert(t.to.clone(), key.clone());
            self.doc.servers.insert(
                key,
                Server {
                    host,
                    protocol: "tcp".into(),
                    protocol_version: None,
                    pathname: None,
                    title: format!("{} (NestJS TCP)", t.to),
                    description: format!(
                        "Service `{}` listening for NestJS TCP microservice messages \
                         (length-prefixed JSON).",
                        t.to
                    ),
                },
            );
        }
    }

    fn service_port(&self, name: &str) -> Option<u16> {
        self.topo
            .services
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.port)
    }

    fn runtime(&self, name: &str) -> Option<Runtime> {
        self.topo
            .services
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.runtime)
    }

    fn exchange_channel(&mut self, x: &Exchange) {
        let vhost = self.vhost_of(&x.vhost);
        let kind = x.kind.as_str();
        let binding_kind =
            matches!(kind, "topic" | "direct" | "fanout" | "headers").then(|| kind.to_string());
        let by_key = !matches!(kind, "fanout" | "headers");
        let bindings: Vec<&Binding> = self
            .topo
            .bindings
            .iter()
            .filter(|b| b.source == x.name && self.vhost_of(&b.vhost) == vhost)
            .collect();
        let mut lines = vec![format!(
            "Exchange `{}` ({kind}) in vhost `{vhost}`.",
            x.name
        )];
        if x.internal == Some(true) {
            lines.push("Internal: only other exchanges route to it; publishers cannot.".into());
        }
        if let Some(ae) = &x.alternate_exchange {
            lines.push(format!("Messages it cannot route go to exchange `{ae}`."));
        }
        if binding_kind.is_none() {
            lines.push(format!(
                "`{kind}` is a plugin exchange type, which the AMQP binding cannot name."
            ));
        }
        let mut routes = Vec::new();
        let mut examples = Vec::new();
        for b in &bindings {
            let dest = match b.destination_type.unwrap_or(DestinationType::Queue) {
                DestinationType::Queue => format!("queue `{}`", b.destination),
                DestinationType::Exchange => format!("exchange `{}`", b.destination),
            };
            if kind == "headers" {
                let args = serde_json::to_string(&b.arguments).unwrap_or_default();
                routes.push(format!("headers matching `{args}` → {dest}"));
                continue;
            }
            for k in binding_keys(b) {
                if by_key {
                    routes.push(format!("`{k}` → {dest}"));
                    let wild = kind == "topic" && k.split('.').any(|w| w == "*" || w == "#");
                    if !wild && !k.is_empty() && !examples.contains(&k) {
                        examples.push(k);
                    }
                } else {
                    routes.push(format!("every message → {dest}"));
                }
            }
        }
        if routes.is_empty() {
            lines.push("No bindings in the file: messages published here are dropped.".into());
        } else {
            lines.push(format!("Bindings: {}.", routes.join("; ")));
        }
        let mut parameters = IndexMap::new();
        let address = if by_key {
            let what = if kind == "topic" {
                "Binding keys are patterns (`*` one word, `#` zero or more)"
            } else {
                "Binding keys must equal it"
            };
            parameters.insert(
                "routingKey".to_string(),
                Parameter {
                    description: format!(
                        "The routing key the message is published with. {what}: {}.",
                        if routes.is_empty() {
                            "none in the file".to_string()
                        } else {
                            routes.join("; ")
                        }
                    ),
                    examples,
                },
            );
            Some("{routingKey}".to_string())
        } else {
            lines.push(format!("A {kind} exchange ignores the routing key."));
            None
        };
        let key = unique(
            &self.doc.channels,
            &self.entity_key("exchange", &x.name, vhost),
        );
        let channel = Channel {
            address,
            title: format!("exchange {}", x.name),
            description: lines.join(" "),
            servers: vec![Ref::to(&["servers", &self.broker_server])],
            parameters,
            messages: IndexMap::new(),
            bindings: Some(ChannelBindings {
                amqp: AmqpChannel {
                    is: AmqpIs::RoutingKey,
                    exchange: Some(AmqpExchange {
                        name: x.name.clone(),
                        kind: binding_kind,
                        durable: x.durable.unwrap_or(true),
                        auto_delete: x.auto_delete.unwrap_or(false),
                        vhost: vhost.to_string(),
                    }),
                    queue: None,
                    binding_version: AMQP_BINDING_VERSION,
                },
            }),
        };
        self.doc.channels.insert(key, channel);
    }

    /// A channel key that says what the entity is and, outside the default vhost, where.
    fn entity_key(&self, what: &str, name: &str, vhost: &str) -> String {
        if vhost == self.default_vhost() {
            key_of(&format!("{what}.{name}"))
        } else {
            key_of(&format!("{what}.{vhost}.{name}"))
        }
    }

    fn queue_type(&self, q: &Queue, vhost: &str) -> QueueType {
        q.kind
            .or_else(|| {
                self.topo
                    .vhosts
                    .iter()
                    .find(|v| v.name == vhost)
                    .and_then(|v| v.default_queue_type)
            })
            .unwrap_or(QueueType::Classic)
    }

    fn queue_channel(&mut self, q: &Queue) {
        let vhost = self.vhost_of(&q.vhost);
        let mut lines = vec![format!(
            "Queue `{}` ({}) in vhost `{vhost}`; publish to it through the default exchange \
             with its name as the routing key.",
            q.name,
            self.queue_type(q, vhost).as_str()
        )];
        let from: Vec<String> = self
            .topo
            .bindings
            .iter()
            .filter(|b| {
                b.destination == q.name
                    && b.destination_type.unwrap_or(DestinationType::Queue)
                        == DestinationType::Queue
                    && self.vhost_of(&b.vhost) == vhost
            })
            .flat_map(|b| {
                let keys = binding_keys(b);
                keys.into_iter()
                    .map(|k| match k.as_str() {
                        "" => format!("exchange `{}` (empty key)", b.source),
                        _ => format!("exchange `{}` with `{k}`", b.source),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        if !from.is_empty() {
            lines.push(format!("Bound from {}.", from.join(", ")));
        }
        if let Some(ttl) = q.message_ttl {
            lines.push(format!("Messages expire after {ttl} ms."));
        }
        if let Some(dlx) = &q.dead_letter_exchange {
            lines.push(format!("Dead letters go to exchange `{dlx}`."));
        }
        let key = unique(
            &self.doc.channels,
            &self.entity_key("queue", &q.name, vhost),
        );
        if vhost == self.default_vhost() {
            self.queue_channel.insert(q.name.clone(), key.clone());
        }
        self.queue_keys.push(key.clone());
        let channel = Channel {
            address: Some(q.name.clone()),
            title: format!("queue {}", q.name),
            description: lines.join(" "),
            servers: vec![Ref::to(&["servers", &self.broker_server])],
            parameters: IndexMap::new(),
            messages: IndexMap::new(),
            bindings: Some(ChannelBindings {
                amqp: AmqpChannel {
                    is: AmqpIs::Queue,
                    exchange: None,
                    queue: Some(AmqpQueue {
                        name: q.name.clone(),
                        durable: q.durable.unwrap_or(true),
                        exclusive: false,
                        auto_delete: q.auto_delete.unwrap_or(false),
                        vhost: vhost.to_string(),
                    }),
                    binding_version: AMQP_BINDING_VERSION,
                },
            }),
        };
        self.doc.channels.insert(key, channel);
    }

    /// A queue with a `message_schema` that no transport uses still says what its
    /// messages are (publishers and consumers outside the file's transports use it).
    fn queue_schema_messages(&mut self) {
        for qi in 0..self.topo.queues.len() {
            let Some(file) = self.schemas.get(&Owner::Queue(qi)) else {
                continue;
            };
            let Some(key) = self.queue_keys.get(qi).cloned() else {
                continue;
            };
            if self
                .doc
                .channels
                .get(&key)
                .is_none_or(|c| !c.messages.is_empty())
            {
                continue;
            }
            let payload = Payload::File(self.file_schema(file));
            let msg = self.request_message(&payload, Carrier::AmqpEvent);
            self.channel_message(&key, &msg);
        }
    }

    /// The request payload of transport `i`.
    fn payload(&mut self, i: usize, t: &Transport) -> Payload {
        let queue_index = t.queue.as_ref().and_then(|name| {
            self.topo
                .queues
                .iter()
                .position(|q| &q.name == name && self.vhost_of(&q.vhost) == self.default_vhost())
        });
        let file = self
            .schemas
            .get(&Owner::Transport(i))
            .or_else(|| queue_index.and_then(|qi| self.schemas.get(&Owner::Queue(qi))));
        if let Some(f) = file {
            return Payload::File(self.file_schema(f));
        }
        if t.kind == TransportKind::Tcp || self.runtime(&t.from) == Some(Runtime::Nestjs) {
            Payload::Nest
        } else {
            Payload::Open
        }
    }

    /// The component key of a schema file, embedding it on first use.
    fn file_schema(&mut self, f: &LoadedSchema) -> String {
        if let Some(k) = self.schema_key.get(&f.path) {
            return k.clone();
        }
        let stem = f
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("schema");
        let key = unique(&self.doc.components.schemas, &key_of(stem));
        let embedded = embed(
            &f.schema,
            &format!("#/components/schemas/{}", pointer_escape(&key)),
        );
        self.doc.components.schemas.insert(key.clone(), embedded);
        self.schema_key.insert(f.path.clone(), key.clone());
        key
    }

    /// A built-in schema under `components/schemas`, added on first use.
    fn builtin_schema(&mut self, key: &str) -> Value {
        if !self.doc.components.schemas.contains_key(key) {
            let schema = builtin(key);
            self.doc.components.schemas.insert(key.to_string(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{key}")})
    }

    /// The request message of a transport: its component key, added on first use.
    fn request_message(&mut self, payload: &Payload, carrier: Carrier) -> String {
        let (base, title, body) = match payload {
            Payload::File(k) => (
                k.clone(),
                format!("{k} (message_schema)"),
                json!({"$ref": format!("#/components/schemas/{}", pointer_escape(k))}),
            ),
            Payload::Nest if carrier == Carrier::AmqpEvent => (
                "nestjs".into(),
                "NestJS event {pattern, data}".into(),
                self.builtin_schema("nestjs-event"),
            ),
            Payload::Nest => (
                "nestjs".into(),
                "NestJS request {pattern, data, id}".into(),
                self.builtin_schema("nestjs-request"),
            ),
            Payload::Open => (
                "message".into(),
                "Message".into(),
                json!({"type": "object"}),
            ),
        };
        let (suffix, summary) = match carrier {
            Carrier::AmqpRpc => (
                "request",
                "A request; the reply goes to the queue named in reply_to, carrying the same correlation_id.",
            ),
            Carrier::AmqpEvent => ("event", "An event: no reply is sent."),
            Carrier::Tcp => (
                "tcp-request",
                "A NestJS TCP request; the reply comes back on the same connection with the same id.",
            ),
        };
        let key = format!("{base}-{suffix}");
        if self.doc.components.messages.contains_key(&key) {
            return key;
        }
        let headers =
            (carrier == Carrier::AmqpRpc).then(|| self.builtin_schema("amqp-request-headers"));
        let correlation_id = match carrier {
            Carrier::AmqpRpc => Some(Location {
                description: "The AMQP correlation_id property, echoed by the reply.".into(),
                location: "$message.header#/correlation_id".into(),
            }),
            Carrier::Tcp if *payload == Payload::Nest => Some(Location {
                description: "The envelope's id, echoed by the reply.".into(),
                location: "$message.payload#/id".into(),
            }),
            _ => None,
        };
        let amqp = carrier != Carrier::Tcp;
        self.doc.components.messages.insert(
            key.clone(),
            Message {
                name: key.clone(),
                title,
                summary: summary.into(),
                content_type: "application/json",
                headers,
                payload: body,
                correlation_id,
                bindings: amqp.then_some(MessageBindings {
                    amqp: AmqpMessage {
                        binding_version: AMQP_BINDING_VERSION,
                    },
                }),
            },
        );
        key
    }

    /// The reply message of an RPC: what the caller reads back.
    fn reply_message(&mut self, caller_is_nest: bool, carrier: Carrier) -> String {
        let tcp = carrier == Carrier::Tcp;
        let key = match (caller_is_nest || tcp, tcp) {
            (true, false) => "nestjs-reply",
            (true, true) => "nestjs-tcp-reply",
            (false, _) => "message-reply",
        };
        if self.doc.components.messages.contains_key(key) {
            return key.to_string();
        }
        let (title, payload) = if caller_is_nest || tcp {
            (
                "NestJS reply {response, err, isDisposed}",
                self.builtin_schema("nestjs-reply"),
            )
        } else {
            ("Reply", json!({"type": "object"}))
        };
        let (headers, correlation_id) = if tcp {
            (
                None,
                Location {
                    description: "The request's id.".into(),
                    location: "$message.payload#/id".into(),
                },
            )
        } else {
            (
                Some(self.builtin_schema("amqp-reply-headers")),
                Location {
                    description: "The request's correlation_id.".into(),
                    location: "$message.header#/correlation_id".into(),
                },
            )
        };
        self.doc.components.messages.insert(
            key.to_string(),
            Message {
                name: key.to_string(),
                title: title.into(),
                summary: "The reply to a request.".into(),
                content_type: "application/json",
                headers,
                payload,
                correlation_id: Some(correlation_id),
                bindings: (!tcp).then_some(MessageBindings {
                    amqp: AmqpMessage {
                        binding_version: AMQP_BINDING_VERSION,
                    },
                }),
            },
        );
        key.to_string()
    }

    /// Put component message `msg` into channel `channel`; the operation reference.
    fn channel_message(&mut self, channel: &str, msg: &str) -> Ref {
        if let Some(c) = self.doc.channels.get_mut(channel) {
            c.messages
                .entry(msg.to_string())
                .or_insert_with(|| Ref::to(&["components", "messages", msg]));
        }
        Ref::to(&["channels", channel, "messages", msg])
    }

    /// The reply channel of an RPC queue, added on first use.
    fn reply_channel(&mut self, queue: &str, queue_channel: &str) -> String {
        let key = format!("{queue_channel}.reply");
        if !self.doc.channels.contains_key(&key) {
            self.doc.channels.insert(
                key.clone(),
                Channel {
                    address: None,
                    title: format!("replies to {queue}"),
                    description: format!(
                        "Where replies to requests on `{queue}` go: the queue the caller names \
                         in each request's reply_to (the NestJS client uses direct reply-to, \
                         `amq.rabbitmq.reply-to`; aio-pika an exclusive queue of its own). The \
                         callee publishes the reply through the default exchange with reply_to \
                         as the routing key."
                    ),
                    servers: vec![Ref::to(&["servers", &self.broker_server])],
                    parameters: IndexMap::new(),
                    messages: IndexMap::new(),
                    bindings: None,
                },
            );
        }
        key
    }

    fn transport(&mut self, i: usize, t: &Transport) {
        match t.kind {
            TransportKind::Rmq => self.rmq_transport(i, t),
            TransportKind::Tcp => self.tcp_transport(i, t),
        }
    }

    fn rmq_transport(&mut self, i: usize, t: &Transport) {
        let Some(queue) = t.queue.as_deref() else {
            return; // validation refuses an rmq transport without a queue
        };
        let Some(channel) = self.queue_channel.get(queue).cloned() else {
            return; // nor one whose queue is not declared
        };
        let rpc = t.pattern.unwrap_or(Pattern::Rpc) == Pattern::Rpc;
        let carrier = if rpc {
            Carrier::AmqpRpc
        } else {
            Carrier::AmqpEvent
        };
        let payload = self.payload(i, t);
        let msg = self.request_message(&payload, carrier);
        let msg_ref = self.channel_message(&channel, &msg);
        let reply = rpc.then(|| {
            let caller_is_nest = self.runtime(&t.from) == Some(Runtime::Nestjs);
            let reply_msg = self.reply_message(caller_is_nest, carrier);
            let reply_channel = self.reply_channel(queue, &channel);
            let reply_ref = self.channel_message(&reply_channel, &reply_msg);
            Reply {
                address: Some(Location {
                    description: "The reply_to property of the request.".into(),
                    location: "$message.header#/reply_to".into(),
                }),
                channel: Ref::to(&["channels", &reply_channel]),
                messages: vec![reply_ref],
            }
        });
        let how = if rpc {
            match t.timeout_ms {
                Some(ms) => format!(
                    "RPC: the caller waits up to {ms} ms for the reply on its reply_to queue."
                ),
                None => "RPC: the caller waits for the reply on its reply_to queue.".into(),
            }
        } else {
            "Event: fire and forget.".into()
        };
        let base = key_of(&format!("{}-to-{}.{queue}", t.from, t.to));
        self.operation_pair(
            t,
            &base,
            &channel,
            msg_ref,
            reply,
            &format!("through queue `{queue}`"),
            &how,
        );
    }

    fn tcp_transport(&mut self, i: usize, t: &Transport) {
        let server = self
            .tcp_servers
            .get(&t.to)
            .cloned()
            .unwrap_or_else(|| self.broker_server.clone());
        let channel = match self.tcp_channels.get(&t.to) {
            Some(k) => k.clone(),
            None => {
                let key = unique(&self.doc.channels, &key_of(&format!("tcp.{}", t.to)));
                self.doc.channels.insert(
                    key.clone(),
                    Channel {
                        address: None,
                        title: format!("{} over NestJS TCP", t.to),
                        description: format!(
                            "Direct NestJS TCP connection to `{}`: a request and its reply \
                             travel on the same connection, matched by the envelope's id.",
                            t.to
                        ),
                        servers: vec![Ref::to(&["servers", &server])],
                        parameters: IndexMap::new(),
                        messages: IndexMap::new(),
                        bindings: None,
                    },
                );
                self.tcp_channels.insert(t.to.clone(), key.clone());
                key
            }
        };
        let payload = self.payload(i, t);
        let msg = self.request_message(&payload, Carrier::Tcp);
        let msg_ref = self.channel_message(&channel, &msg);
        let reply_msg = self.reply_message(true, Carrier::Tcp);
        let reply_ref = self.channel_message(&channel, &reply_msg);
        let reply = Reply {
            address: None,
            channel: Ref::to(&["channels", &channel]),
            messages: vec![reply_ref],
        };
        let how = match t.timeout_ms {
            Some(ms) => format!("Request and reply; the caller waits up to {ms} ms."),
            None => "Request and reply.".into(),
        };
        let base = key_of(&format!("{}-to-{}.tcp", t.from, t.to));
        self.operation_pair(
            t,
            &base,
            &channel,
            msg_ref,
            Some(reply),
            "over NestJS TCP",
            &how,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn operation_pair(
        &mut self,
        t: &Transport,
        base: &str,
        channel: &str,
        msg: Ref,
        reply: Option<Reply>,
        via: &str,
        how: &str,
    ) {
        for (action, service, verb) in [
            (
                Action::Send,
                &t.from,
                format!("`{}` sends to `{}` {via}", t.from, t.to),
            ),
            (
                Action::Receive,
                &t.to,
                format!("`{}` receives from `{}` {via}", t.to, t.from),
            ),
        ] {
            let suffix = match action {
                Action::Send => "send",
                Action::Receive => "receive",
            };
            let key = unique(&self.doc.operations, &format!("{base}.{suffix}"));
            self.doc.operations.insert(
                key.clone(),
                Operation {
                    action,
                    channel: Ref::to(&["channels", channel]),
                    title: format!("{} {suffix}", service),
                    summary: format!("{verb}."),
                    description: how.to_string(),
                    messages: vec![msg.clone()],
                    reply: reply.clone(),
                    tags: vec![Tag {
                        name: service.clone(),
                    }],
                },
            );
            self.op_owner.push((key, service.clone()));
        }
    }
}

/// The keys a binding binds with (`routing_keys`, else `routing_key`, else empty).
fn binding_keys(b: &Binding) -> Vec<String> {
    match (&b.routing_keys, &b.routing_key) {
        (Some(keys), _) => keys.clone(),
        (None, Some(k)) => vec![k.clone()],
        (None, None) => vec![String::new()],
    }
}

/// A map key the AsyncAPI tools accept everywhere (`[A-Za-z0-9._-]`, what component keys
/// must match): other characters become `_`.
fn key_of(s: &str) -> String {
    let k: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if k.is_empty() { "_".into() } else { k }
}

/// `base`, or `base-2`, `base-3`, ... when the map has it already.
fn unique<V>(map: &IndexMap<String, V>, base: &str) -> String {
    if !map.contains_key(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|k| !map.contains_key(k))
        .unwrap_or_else(|| base.to_string())
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The vhost as the path of an AMQP URI: every byte but unreserved ones percent-encoded
/// (`/` is `%2F`).
fn encode_vhost(vhost: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(vhost, SET).to_string()
}

/// A schema file as it sits under `components/schemas`: its internal references
/// (`#/...`) re-rooted at `root`, and `$id` dropped (the embedded copy is not at that
/// address, and a base URI would re-root the references again).
fn embed(schema: &Value, root: &str) -> Value {
    fn walk(v: &Value, root: &str, top: bool) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !(top && k.as_str() == "$id"))
                    .map(|(k, child)| {
                        let child = match (k.as_str(), child) {
                            ("$ref", Value::String(r)) if r.starts_with('#') => {
                                Value::String(format!("{root}{}", &r[1..]))
                            }
                            _ => walk(child, root, false),
                        };
                        (k.clone(), child)
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| walk(i, root, false)).collect())
            }
            other => other.clone(),
        }
    }
    walk(schema, root, true)
}

/// The schemas topo knows without a `message_schema`: the NestJS envelopes, as the
/// NestJS ClientProxy writes them, and the AMQP properties of request/reply.
fn builtin(key: &str) -> Value {
    let pattern = json!({
        "description": "The pattern the handler is registered for (@MessagePattern / @EventPattern): a string, or an object such as {\"cmd\": \"analyze\"} (which the NestJS client sends as its JSON text).",
        "oneOf": [{"type": "string"}, {"type": "object"}]
    });
    let data = json!({"description": "The argument of send() / emit()."});
    match key {
        "nestjs-request" => json!({
            "title": "NestJS request",
            "type": "object",
            "required": ["pattern", "data", "id"],
            "properties": {
                "pattern": pattern,
                "data": data,
                "id": {"type": "string", "description": "Request id, echoed by the reply."}
            }
        }),
        "nestjs-event" => json!({
            "title": "NestJS event",
            "type": "object",
            "required": ["pattern", "data"],
            "properties": {"pattern": pattern, "data": data}
        }),
        "nestjs-reply" => json!({
            "title": "NestJS reply",
            "type": "object",
            "properties": {
                "id": {"type": "string", "description": "The request's id (TCP; AMQP replies match by correlation_id)."},
                "response": {"description": "The handler's result."},
                "err": {"description": "The error, when the handler failed."},
                "isDisposed": {"type": "boolean", "description": "true on the last reply of the request."}
            }
        }),
        "amqp-request-headers" => json!({
            "title": "AMQP request properties",
            "description": "The AMQP basic properties of a request, as header names (AsyncAPI has no place of its own for them).",
            "type": "object",
            "required": ["reply_to", "correlation_id"],
            "properties": {
                "reply_to": {"type": "string", "description": "The queue the reply is published to (through the default exchange)."},
                "correlation_id": {"type": "string", "description": "Echoed by the reply, so the caller matches it to the request."}
            }
        }),
        "amqp-reply-headers" => json!({
            "title": "AMQP reply properties",
            "type": "object",
            "required": ["correlation_id"],
            "properties": {
                "correlation_id": {"type": "string", "description": "The request's correlation_id."}
            }
        }),
        _ => json!({"type": "object"}),
    }
}

/// Drop the channels, servers, messages and schemas no kept operation reaches.
fn prune(doc: &mut Document) {
    let mut refs: BTreeSet<String> = BTreeSet::new();
    for op in doc.operations.values() {
        collect_refs(&serde_json::to_value(op).unwrap_or(Value::Null), &mut refs);
    }
    let channels: BTreeSet<String> = refs
        .iter()
        .filter_map(|r| first_segment(r, "#/channels/"))
        .collect();
    doc.channels.retain(|k, _| channels.contains(k));
    for c in doc.channels.values() {
        collect_refs(&serde_json::to_value(c).unwrap_or(Value::Null), &mut refs);
    }
    let servers: BTreeSet<String> = refs
        .iter()
        .filter_map(|r| first_segment(r, "#/servers/"))
        .collect();
    doc.servers.retain(|k, _| servers.contains(k));
    let messages: BTreeSet<String> = refs
        .iter()
        .filter_map(|r| first_segment(r, "#/components/messages/"))
        .collect();
    doc.components.messages.retain(|k, _| messages.contains(k));
    for m in doc.components.messages.values() {
        collect_refs(&serde_json::to_value(m).unwrap_or(Value::Null), &mut refs);
    }
    let schemas: BTreeSet<String> = refs
        .iter()
        .filter_map(|r| first_segment(r, "#/components/schemas/"))
        .collect();
    doc.components.schemas.retain(|k, _| schemas.contains(k));
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref"
                    && let Value::String(r) = child
                {
                    out.insert(r.clone());
                }
                collect_refs(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

/// The first pointer segment after `prefix`, unescaped.
fn first_segment(r: &str, prefix: &str) -> Option<String> {
    let rest = r.strip_prefix(prefix)?;
    let seg = rest.split('/').next()?;
    Some(seg.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_safe_and_unique() {
        assert_eq!(key_of("queue.a b/c"), "queue.a_b_c");
        assert_eq!(key_of(""), "_");
        let mut m: IndexMap<String, ()> = IndexMap::new();
        m.insert("a".into(), ());
        m.insert("a-2".into(), ());
        assert_eq!(unique(&m, "a"), "a-3");
        assert_eq!(unique(&m, "b"), "b");
    }

    #[test]
    fn vhosts_encode_as_amqp_uri_paths() {
        assert_eq!(encode_vhost("/"), "%2F");
        assert_eq!(encode_vhost("orders"), "orders");
        assert_eq!(encode_vhost("a b"), "a%20b");
    }

    #[test]
    fn embedded_schemas_keep_their_references_inside() {
        let s = json!({"$id": "x", "$ref": "#/$defs/a", "$defs": {"a": {"items": {"$ref": "#"}}}});
        let e = embed(&s, "#/components/schemas/order");
        assert_eq!(
            e,
            json!({"$ref": "#/components/schemas/order/$defs/a",
                   "$defs": {"a": {"items": {"$ref": "#/components/schemas/order"}}}})
        );
    }
}
