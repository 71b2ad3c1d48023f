//! The AsyncAPI 3.0.0 document, as serde types: the subset topo writes, with the field
//! names and shapes of the specification and of the AMQP 0-9-1 bindings 0.3.0.
//!
//! Typed rather than templated so that a name with quotes or newlines cannot change the
//! document's structure, and so that a field the specification does not have cannot be
//! written by mistake.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

/// The AsyncAPI version written.
pub const ASYNCAPI_VERSION: &str = "3.0.0";
/// The AMQP bindings version written.
pub const AMQP_BINDING_VERSION: &str = "0.3.0";

/// An AsyncAPI document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub asyncapi: &'static str,
    /// Marks the file as rendered (so `-o` may replace it); a specification extension.
    #[serde(rename = "x-generated-by")]
    pub generated_by: String,
    pub info: Info,
    pub default_content_type: &'static str,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub servers: IndexMap<String, Server>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub channels: IndexMap<String, Channel>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub operations: IndexMap<String, Operation>,
    #[serde(skip_serializing_if = "Components::is_empty")]
    pub components: Components,
}

#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub title: String,
    pub version: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub host: String,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pathname: Option<String>,
    pub title: String,
    pub description: String,
}

/// A `$ref` to another part of the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ref {
    #[serde(rename = "$ref")]
    pub target: String,
}

impl Ref {
    /// A reference to `#/section/key/...`, each segment escaped as a JSON pointer.
    pub fn to(segments: &[&str]) -> Ref {
        let mut target = String::from("#");
        for s in segments {
            target.push('/');
            target.push_str(&s.replace('~', "~0").replace('/', "~1"));
        }
        Ref { target }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    /// `None` for a channel whose address is known only at run time (a reply queue named
    /// by `reply_to`); the specification then wants it absent or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Ref>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub parameters: IndexMap<String, Parameter>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub messages: IndexMap<String, Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<ChannelBindings>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelBindings {
    pub amqp: AmqpChannel,
}

/// The AMQP channel binding: a routing key on an exchange, or a queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmqpChannel {
    pub is: AmqpIs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<AmqpExchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<AmqpQueue>,
    pub binding_version: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AmqpIs {
    RoutingKey,
    Queue,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmqpExchange {
    pub name: String,
    /// Only the types the binding knows (`topic`, `direct`, `fanout`, `headers`); a
    /// plugin type is left out here and named in the channel's description.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub durable: bool,
    pub auto_delete: bool,
    pub vhost: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmqpQueue {
    pub name: String,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub vhost: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub name: String,
    pub title: String,
    pub summary: String,
    pub content_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    pub payload: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<MessageBindings>,
}

/// A runtime expression (`$message.header#/correlation_id`) and what it means.
#[derive(Debug, Clone, Serialize)]
pub struct Location {
    pub description: String,
    pub location: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageBindings {
    pub amqp: AmqpMessage,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmqpMessage {
    pub binding_version: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Send,
    Receive,
}

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub action: Action,
    pub channel: Ref,
    pub title: String,
    pub summary: String,
    pub description: String,
    pub messages: Vec<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// AsyncAPI 3's request/reply: where the reply goes and what it is.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Location>,
    pub channel: Ref,
    pub messages: Vec<Ref>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Components {
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub messages: IndexMap<String, Message>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub schemas: IndexMap<String, Value>,
}

impl Components {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.schemas.is_empty()
    }
}
