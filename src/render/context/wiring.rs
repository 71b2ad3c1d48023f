//! The wiring transports give the services: every rmq end gets the broker's address and
//! vhost, the caller each callee's queues, a consumer `RABBITMQ_QUEUE`; a tcp caller gets
//! the callee's host and port.

use std::collections::BTreeMap;

use super::AMQP_PORT;
use super::app::{Value, env_prefix};
use crate::topology::model::{Topology, TransportKind};

/// What the transports of a topology wire, per service name.
pub(super) struct Wiring<'a> {
    /// The variables each service gets.
    pub env: BTreeMap<&'a str, BTreeMap<String, Value>>,
    /// The queues each service consumes, in file order, each once.
    pub consumed: BTreeMap<&'a str, Vec<&'a str>>,
    /// The port each tcp callee is reached at.
    pub tcp_targets: BTreeMap<&'a str, u16>,
}

/// The wiring of `topo`'s transports; `host_of` names a service's host for the target.
pub(super) fn wire<'a>(
    topo: &'a Topology,
    host_of: &dyn Fn(&str) -> String,
    broker_host: &str,
    vhost: &str,
) -> Wiring<'a> {
    let mut wiring: BTreeMap<&str, BTreeMap<String, Value>> = BTreeMap::new();
    let mut consumed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut tcp_targets: BTreeMap<&str, u16> = BTreeMap::new();
    let port_of = |service: &str| {
        topo.services
            .iter()
            .find(|s| s.name == service)
            .and_then(|s| s.port)
    };
    for t in &topo.transports {
        match t.kind {
            TransportKind::Rmq => {
                let Some(queue) = t.queue.as_deref() else {
                    continue;
                };
                for end in [t.from.as_str(), t.to.as_str()] {
                    let env = wiring.entry(end).or_default();
                    env.insert(
                        "RABBITMQ_HOST".into(),
                        Value::Plain(broker_host.to_string()),
                    );
                    env.insert("RABBITMQ_PORT".into(), Value::Plain(AMQP_PORT.to_string()));
                    env.insert("RABBITMQ_VHOST".into(), Value::Plain(vhost.to_string()));
                }
                let prefix = env_prefix(&t.to);
                let caller = wiring.entry(t.from.as_str()).or_default();
                // Several queues from one caller to one callee: all of them, in file order.
                let key = format!("{prefix}_QUEUE");
                let joined = match caller.get(&key) {
                    Some(Value::Plain(prev)) if !prev.split(',').any(|q| q == queue) => {
                        format!("{prev},{queue}")
                    }
                    Some(Value::Plain(prev)) => prev.clone(),
                    _ => queue.to_string(),
                };
                caller.insert(key, Value::Plain(joined));
                if let Some(ms) = t.timeout_ms {
                    caller.insert(format!("{prefix}_TIMEOUT_MS"), Value::Plain(ms.to_string()));
                }
                let queues = consumed.entry(t.to.as_str()).or_default();
                if !queues.contains(&queue) {
                    queues.push(queue);
                }
            }
            TransportKind::Tcp => {
                let Some(port) = t.port.or_else(|| port_of(&t.to)) else {
                    continue;
                };
                let prefix = env_prefix(&t.to);
                let caller = wiring.entry(t.from.as_str()).or_default();
                caller.insert(format!("{prefix}_HOST"), Value::Plain(host_of(&t.to)));
                caller.insert(format!("{prefix}_PORT"), Value::Plain(port.to_string()));
                tcp_targets.entry(t.to.as_str()).or_insert(port);
            }
        }
    }
    for (service, queues) in &consumed {
        wiring
            .entry(service)
            .or_default()
            .insert("RABBITMQ_QUEUE".into(), Value::Plain(queues.join(",")));
    }

    Wiring {
        env: wiring,
        consumed,
        tcp_targets,
    }
}
