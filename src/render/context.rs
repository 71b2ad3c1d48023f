//! What templates see: the topology turned into deployable units (the broker and one
//! app per service) with their wiring already worked out, in a fixed order.
//!
//! Templates stay simple and every target gets the same wiring: an rmq transport gives
//! both ends the broker's address and credentials and the queue; a tcp transport gives
//! the caller the callee's host and port. Hosts differ per target (a compose service
//! name, an Azure app name), so the context is built for one [`Naming`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::topology::model::{Ingress, Topology, TransportKind};
use crate::topology::names::{self as azure_names, BROKER_SECRETS};

/// The AMQP port of the broker container.
pub const AMQP_PORT: u16 = 5672;
/// Broker image when `broker.image` is not set.
pub const DEFAULT_BROKER_IMAGE: &str = "rabbitmq:3-management";

/// How one container reaches another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// By compose service name (the service name; the broker's hostname).
    Compose,
    /// By Container App name (`{name}-{service}`).
    Azure,
}

#[derive(Debug, Serialize)]
pub struct Context {
    /// The render target (`compose`, `azure`, ...).
    pub target: String,
    /// The topology file as given on the command line.
    pub file: String,
    /// The topology's `name`, if any.
    pub name: Option<String>,
    /// Compose project name: `name`, else `topo`.
    pub project: String,
    /// Default vhost of the topology.
    pub vhost: String,
    pub broker: App,
    pub services: Vec<App>,
    /// Every deploy-time variable the rendered files read, sorted: the broker
    /// credentials, then each service secret's variable.
    pub required_env: Vec<String>,
    /// Variables `topo apply` reads for user passwords (`users[].password_env`), sorted.
    pub apply_env: Vec<String>,
}

/// One container: the broker or a service.
#[derive(Debug, Serialize)]
pub struct App {
    /// Service name (the broker: its hostname); the compose service name.
    pub name: String,
    /// Azure Container App name.
    pub app: String,
    /// The host other containers reach this one at, for the target's naming.
    pub host: String,
    pub image: String,
    pub runtime: Option<&'static str>,
    pub port: Option<u16>,
    /// `none`, `internal` or `external`, as written.
    pub ingress: &'static str,
    /// Publish `port` on the host in compose (ingress internal or external).
    pub publish: bool,
    /// Container Apps ingress, if any.
    pub azure_ingress: Option<AzureIngress>,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub cpu: Option<f64>,
    pub memory: Option<String>,
    /// The first word of `command` (Azure `--command`).
    pub command: Option<String>,
    /// The rest of `command` (Azure `--args`).
    pub args: Vec<String>,
    /// The whole `command`, for compose.
    pub command_line: Option<Vec<String>>,
    /// Consumes a queue: Azure keeps at least one replica.
    pub consumer: bool,
    /// Plain variables, sorted by name.
    pub env: Vec<EnvVar>,
    /// Variables whose value comes from a secret, sorted by name.
    pub secret_env: Vec<SecretEnv>,
    /// The secrets this app needs, sorted by secret name, each once.
    pub secrets: Vec<Secret>,
    /// Pull through the deploy's registry (services; not the broker).
    pub registry: bool,
}

#[derive(Debug, Serialize)]
pub struct AzureIngress {
    /// `internal` or `external`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `tcp` (NestJS TCP, the broker) or `auto` (HTTP).
    pub transport: &'static str,
    pub target_port: u16,
    /// TCP only: the port other apps connect to.
    pub exposed_port: Option<u16>,
}

#[derive(Debug, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct SecretEnv {
    pub name: String,
    /// The deploy-time environment variable that holds the value.
    pub var: String,
    /// The Azure secret name that carries it.
    pub secret: String,
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Secret {
    pub secret: String,
    pub var: String,
}

/// `service-a` -> `SERVICE_A`: the prefix of the variables that point at a service.
pub fn env_prefix(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

enum Value {
    Plain(String),
    Secret(String),
}

/// Build the context of one render.
pub fn build(topo: &Topology, target: &str, file: &str, naming: Naming) -> Context {
    let name = topo.name.clone();
    let host_of = |service: &str| match naming {
        Naming::Compose => service.to_string(),
        Naming::Azure => azure_names::app_name(name.as_deref(), service),
    };
    let hostname = azure_names::broker_hostname(topo).to_string();
    let broker_host = host_of(&hostname);
    let vhost = topo.vhost.clone().unwrap_or_else(|| "/".to_string());

    // Wiring, per service name.
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
                    env.insert("RABBITMQ_HOST".into(), Value::Plain(broker_host.clone()));
                    env.insert("RABBITMQ_PORT".into(), Value::Plain(AMQP_PORT.to_string()));
                    env.insert("RABBITMQ_VHOST".into(), Value::Plain(vhost.clone()));
                    for (var, _) in BROKER_SECRETS {
                        env.insert(var.into(), Value::Secret(var.into()));
                    }
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

    let mut required: BTreeSet<String> =
        BROKER_SECRETS.iter().map(|(v, _)| v.to_string()).collect();
    let mut services = Vec::with_capacity(topo.services.len());
    for s in &topo.services {
        let mut env = wiring.remove(s.name.as_str()).unwrap_or_default();
        for (k, v) in &s.env {
            env.insert(k.clone(), Value::Plain(v.to_string()));
        }
        for (k, var) in &s.secrets {
            env.insert(k.clone(), Value::Secret(var.clone()));
            required.insert(var.clone());
        }
        let ingress = s.ingress.unwrap_or(Ingress::None);
        let tcp_port = tcp_targets.get(s.name.as_str()).copied();
        let azure_ingress = match (tcp_port, ingress, s.port) {
            (Some(p), _, port) => Some(AzureIngress {
                kind: if ingress == Ingress::External {
                    "external"
                } else {
                    "internal"
                },
                transport: "tcp",
                target_port: port.unwrap_or(p),
                exposed_port: Some(port.unwrap_or(p)),
            }),
            (None, Ingress::None, _) | (None, _, None) => None,
            (None, i, Some(port)) => Some(AzureIngress {
                kind: i.as_str(),
                transport: "auto",
                target_port: port,
                exposed_port: None,
            }),
        };
        let consumer = consumed.contains_key(s.name.as_str());
        let replicas = s.replicas.as_ref();
        let mut min = replicas.and_then(|r| r.min).unwrap_or(1);
        if consumer {
            min = min.max(1);
        }
        let max = replicas.and_then(|r| r.max).unwrap_or(1).max(min);
        let (command, args) = match s.command.as_deref() {
            Some([first, rest @ ..]) => (Some(first.clone()), rest.to_vec()),
            _ => (None, Vec::new()),
        };
        let (plain, secret_env, secrets) = split_env(env);
        services.push(App {
            name: s.name.clone(),
            app: azure_names::app_name(name.as_deref(), &s.name),
            host: host_of(&s.name),
            image: s.image.clone(),
            runtime: s.runtime.map(|r| r.as_str()),
            port: s.port.or(tcp_port),
            ingress: ingress.as_str(),
            publish: ingress != Ingress::None && s.port.is_some(),
            azure_ingress,
            min_replicas: min,
            max_replicas: max,
            cpu: s.cpu,
            memory: s.memory.clone(),
            command,
            args,
            command_line: s.command.clone().filter(|c| !c.is_empty()),
            consumer,
            env: plain,
            secret_env,
            secrets,
            registry: true,
        });
    }

    let deploy = topo.broker.as_ref().and_then(|b| b.deploy.as_ref());
    let mut broker_env = BTreeMap::new();
    broker_env.insert(
        "RABBITMQ_DEFAULT_USER".to_string(),
        Value::Secret("RABBITMQ_USER".into()),
    );
    broker_env.insert(
        "RABBITMQ_DEFAULT_PASS".to_string(),
        Value::Secret("RABBITMQ_PASSWORD".into()),
    );
    let (plain, secret_env, secrets) = split_env(broker_env);
    let broker = App {
        name: hostname.clone(),
        app: azure_names::app_name(name.as_deref(), &hostname),
        host: broker_host,
        image: topo
            .broker
            .as_ref()
            .and_then(|b| b.image.clone())
            .unwrap_or_else(|| DEFAULT_BROKER_IMAGE.to_string()),
        runtime: None,
        port: Some(AMQP_PORT),
        ingress: "internal",
        publish: true,
        azure_ingress: Some(AzureIngress {
            kind: "internal",
            transport: "tcp",
            target_port: AMQP_PORT,
            exposed_port: Some(AMQP_PORT),
        }),
        min_replicas: 1,
        max_replicas: 1,
        cpu: deploy.and_then(|d| d.cpu),
        memory: deploy.and_then(|d| d.memory.clone()),
        command: None,
        args: Vec::new(),
        command_line: None,
        consumer: true,
        env: plain,
        secret_env,
        secrets,
        registry: false,
    };

    let apply_env: BTreeSet<String> = topo
        .users
        .iter()
        .filter_map(|u| u.password_env.clone())
        .collect();
    Context {
        target: target.to_string(),
        file: file.to_string(),
        project: name.clone().unwrap_or_else(|| "topo".to_string()),
        name,
        vhost,
        broker,
        services,
        required_env: required.into_iter().collect(),
        apply_env: apply_env.into_iter().collect(),
    }
}

fn split_env(env: BTreeMap<String, Value>) -> (Vec<EnvVar>, Vec<SecretEnv>, Vec<Secret>) {
    let mut plain = Vec::new();
    let mut secret_env = Vec::new();
    let mut secrets = BTreeSet::new();
    for (name, value) in env {
        match value {
            Value::Plain(value) => plain.push(EnvVar { name, value }),
            Value::Secret(var) => {
                // Validation (TOPO030) guarantees a name; fall back to the variable
                // itself so a render never panics on an unvalidated topology.
                let secret =
                    azure_names::secret_name(&var).unwrap_or_else(|| var.to_ascii_lowercase());
                secrets.insert(Secret {
                    secret: secret.clone(),
                    var: var.clone(),
                });
                secret_env.push(SecretEnv { name, var, secret });
            }
        }
    }
    (plain, secret_env, secrets.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(yaml: &str) -> Topology {
        let node = crate::source::yaml::parse(yaml, crate::source::FileId(0)).unwrap();
        serde::Deserialize::deserialize(&node.to_json()).unwrap()
    }

    const T: &str = "version: 1
name: shop
queues: [{name: q1}, {name: q2}]
services:
  - {name: gw, image: gw, port: 80, ingress: external}
  - {name: worker, image: w, replicas: {min: 0, max: 3}}
  - {name: idle, image: i, replicas: {min: 0}}
  - {name: tcp-only, image: t}
transports:
  - {from: gw, to: worker, kind: rmq, queue: q1}
  - {from: gw, to: worker, kind: rmq, queue: q2, pattern: event}
  - {from: gw, to: tcp-only, kind: tcp, port: 4000}
";

    #[test]
    fn consumers_keep_a_replica_others_may_scale_to_zero() {
        let ctx = build(&topo(T), "azure", "t.yaml", Naming::Azure);
        let by = |n: &str| ctx.services.iter().find(|s| s.name == n).unwrap();
        assert!(by("worker").consumer);
        assert_eq!(
            (by("worker").min_replicas, by("worker").max_replicas),
            (1, 3)
        );
        assert_eq!((by("idle").min_replicas, by("idle").max_replicas), (0, 1));
    }

    #[test]
    fn wiring_per_naming() {
        for (naming, host, broker) in [
            (Naming::Compose, "tcp-only", "rabbitmq"),
            (Naming::Azure, "shop-tcp-only", "shop-rabbitmq"),
        ] {
            let ctx = build(&topo(T), "x", "t.yaml", naming);
            let gw = &ctx.services[0];
            let env: BTreeMap<&str, &str> = gw
                .env
                .iter()
                .map(|e| (e.name.as_str(), e.value.as_str()))
                .collect();
            assert_eq!(env["TCP_ONLY_HOST"], host);
            assert_eq!(env["TCP_ONLY_PORT"], "4000");
            assert_eq!(env["RABBITMQ_HOST"], broker);
            // Every queue from caller to callee, in file order.
            assert_eq!(env["WORKER_QUEUE"], "q1,q2");
            let worker = &ctx.services[1];
            let queue = worker
                .env
                .iter()
                .find(|e| e.name == "RABBITMQ_QUEUE")
                .unwrap();
            assert_eq!(queue.value, "q1,q2");
            // A tcp target without a port of its own listens on the transport's port.
            let t = &ctx.services[3];
            let ing = t.azure_ingress.as_ref().unwrap();
            assert_eq!(
                (ing.transport, ing.target_port, ing.exposed_port),
                ("tcp", 4000, Some(4000))
            );
            assert!(ctx.services[1].azure_ingress.is_none());
            assert_eq!(
                ctx.services[0].azure_ingress.as_ref().unwrap().kind,
                "external"
            );
        }
    }

    #[test]
    fn user_env_and_secrets_win_over_wiring() {
        let yaml = format!("{T}  - {{from: idle, to: gw, kind: tcp}}\n").replace(
            "{name: idle, image: i, replicas: {min: 0}}",
            "{name: idle, image: i, env: {GW_HOST: custom}, secrets: {GW_PORT: PORT_VAR}}",
        );
        let ctx = build(&topo(&yaml), "x", "t.yaml", Naming::Compose);
        let idle = &ctx.services[2];
        assert_eq!(
            idle.env.iter().find(|e| e.name == "GW_HOST").unwrap().value,
            "custom"
        );
        assert!(idle.env.iter().all(|e| e.name != "GW_PORT"));
        assert_eq!(idle.secret_env[0].var, "PORT_VAR");
        assert!(ctx.required_env.contains(&"PORT_VAR".to_string()));
    }
}
