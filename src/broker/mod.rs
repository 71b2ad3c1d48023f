//! The adapters to a live broker. Everything that does I/O against RabbitMQ lives here;
//! the rest of topo works on [`crate::state::State`] values.

pub mod amqp;
pub mod cache;
pub mod cluster;
pub mod endpoint;
pub mod failover;
pub mod http;
pub mod links;
pub mod lock;
pub mod preflight;
pub mod read;
pub mod tls;
