//! What templates see: the topology turned into deployable units (the broker, the apply
//! step and one app per service) with their wiring already worked out, in a fixed order.
//!
//! Templates stay simple and every target gets the same wiring: an rmq transport gives
//! both ends the broker's address and vhost and the queue; a service that names a broker
//! user gets that user's name and password, never the admin's; a tcp transport gives the
//! caller the callee's host and port. Hosts differ per target (a compose service name, an
//! Azure app name), so the context is built for one [`Naming`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value as Json, json};

use super::azure_spec::{self, Spec, var};
use super::references;
use crate::topology::model::{Ingress, Topology, TransportKind};
use crate::topology::names::{self as azure_names, BROKER_SECRETS};

/// The AMQP port of the broker container.
pub const AMQP_PORT: u16 = 5672;
/// The management API port of the broker container.
pub const MANAGEMENT_PORT: u16 = 15672;
/// Broker image when `broker.image` is not set: the current 4.x line with the management
/// plugin, pinned to a minor so a deploy does not move to the next minor on its own.
pub const DEFAULT_BROKER_IMAGE: &str = "rabbitmq:4.3-management";
/// The compose service (and Azure job suffix) of the apply step.
pub const APPLY_NAME: &str = "topo-apply";
/// Where the apply step finds the topology it applies.
pub const APPLY_TOPOLOGY_PATH: &str = "/topology/topology.json";
/// The node name the broker runs as. RabbitMQ keeps its data under a directory named
/// after the node; a Container Apps replica's hostname changes on every restart, so the
/// node is named after `localhost`, which every replica resolves.
pub const BROKER_NODENAME: &str = "rabbit@localhost";
/// Where the broker's persistent storage is mounted in Azure: the message store and
/// definitions, not the Erlang cookie beside them (an Azure Files share cannot give the
/// cookie the owner-only mode RabbitMQ insists on).
pub const BROKER_DATA_PATH: &str = "/var/lib/rabbitmq/mnesia";
/// The Azure secret that carries the topology into the apply job.
pub const TOPOLOGY_SECRET: &str = "topology";
/// The Azure secret of the registry password.
pub const REGISTRY_SECRET: &str = "registry-password";
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
    /// The one-shot step that applies the topology to the broker.
    pub apply: App,
    /// What the apply step applies: the topology with `extends` resolved and `${VAR}`
    /// interpolated, without the parts only renders read (services, transports, broker), as
    /// JSON. Self-contained, so the apply step needs no file of the deploy machine.
    pub topology: String,
    /// Hex SHA-256 of `topology`.
    pub topology_sha256: String,
    /// Azure: the environment storage that holds the broker's data.
    pub storage: String,
    /// Every deploy-time variable the rendered files read, sorted: the broker
    /// credentials, each service user's password variable, each service secret's variable.
    pub required_env: Vec<String>,
    /// Azure: the kept references of service env values, in service and key order.
    pub refs: Vec<RefDef>,
    /// Variables `topo apply` reads for user passwords (`users[].password_env`), sorted.
    pub apply_env: Vec<String>,
    /// `broker.nodes` above 1: the nodes of the broker cluster; none for a single broker.
    pub cluster: Option<Cluster>,
    /// The compose services that are the broker (the one broker, or every cluster node):
    /// what the apply step and the services wait for.
    pub broker_services: Vec<String>,
}

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

/// One container: the broker, the apply step or a service.
#[derive(Debug, Serialize)]
pub struct App {
    /// Service name (the broker: its hostname); the compose service name.
    pub name: String,
    /// Azure Container App (or job) name.
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
    /// `memory` in compose's spelling (`1Gi` -> `1g`).
    pub compose_memory: Option<String>,
    /// The first word of `command`.
    pub command: Option<String>,
    /// The rest of `command`.
    pub args: Vec<String>,
    /// The whole `command`, for compose.
    pub command_line: Option<Vec<String>>,
    /// Consumes a queue: Azure keeps at least one replica.
    pub consumer: bool,
    /// The broker user the service connects as.
    pub user: Option<String>,
    /// Plain variables, sorted by name.
    pub env: Vec<EnvVar>,
    /// Variables whose value comes from a secret, sorted by name.
    pub secret_env: Vec<SecretEnv>,
    /// The secrets this app needs, sorted by secret name, each once.
    pub secrets: Vec<Secret>,
    /// Compose: variables whose value keeps `${...}` references, as JSON text.
    pub raw_env: Vec<EnvVar>,
    /// Pull through the deploy's registry (services and the apply step; not the broker).
    pub registry: bool,
    /// Azure: the Container Apps definition without and with the deploy's registry.
    pub spec: Option<Spec>,
    pub spec_registry: Option<Spec>,
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

/// A memory size in compose's spelling: compose reads `b`, `k`, `m`, `g` (powers of
/// 1024) and refuses Kubernetes' and Azure's `Ki`, `Mi`, `Gi`.
pub fn compose_memory(memory: &str) -> String {
    let digits = memory.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = memory[digits.len()..].to_ascii_lowercase();
    let unit = unit.strip_suffix('i').unwrap_or(&unit);
    let unit = unit
        .strip_suffix('b')
        .filter(|u| !u.is_empty())
        .unwrap_or(unit);
    format!("{digits}{unit}")
}

enum Value {
    Plain(String),
    /// From the deploy-time variable of this name, through the secret named after it.
    Secret(String),
    /// From the script variable `var`, through the secret `secret` (a kept reference).
    Named {
        var: String,
        secret: String,
    },
    /// Compose text written as it is (a kept reference, already in compose's syntax).
    Raw(String),
}

/// The source text of service env values that hold `${...}`, by (service index, key).
pub type RawEnv = BTreeMap<(usize, String), String>;

/// A kept reference of the azure script: `local=SHELL` before the definitions.
#[derive(Debug, Serialize)]
pub struct RefDef {
    pub local: String,
    pub shell: String,
}

/// What the apply step applies: the resolved tree without the render-only sections.
pub fn apply_document(tree: &Json) -> String {
    let mut doc = tree.clone();
    if let Json::Object(m) = &mut doc {
        for key in ["extends", "services", "transports", "broker"] {
            m.remove(key);
        }
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
/// Build the context of one render. `tree` is the resolved topology (after `extends` and
/// interpolation) as JSON, for the apply step's document.
pub fn build(
    topo: &Topology,
    tree: &Json,
    raw_env: &RawEnv,
    target: &str,
    file: &str,
    naming: Naming,
) -> anyhow::Result<Context> {
    let name = topo.name.clone();
    let host_of = |service: &str| match naming {
        Naming::Compose => service.to_string(),
        Naming::Azure => azure_names::app_name(name.as_deref(), service),
    };
    let hostname = azure_names::broker_hostname(topo).to_string();
    let cluster = cluster_of(topo)?;
    // Services and the apply step reach a cluster through its first node (and get the
    // list of all of them).
    let broker_host = match &cluster {
        Some(c) => host_of(&c.nodes[0].name),
        None => host_of(&hostname),
    };
    let node_hosts: Option<String> = cluster.as_ref().map(|c| {
        c.nodes
            .iter()
            .map(|n| host_of(&n.name))
            .collect::<Vec<_>>()
            .join(",")
    });
    let vhost = topo.vhost.clone().unwrap_or_else(|| "/".to_string());
    let password_var = |user: &str| {
        topo.users
            .iter()
            .find(|u| u.name == user)
            .and_then(|u| u.password_env.clone())
    };
    if let Some(s) = topo.services.iter().find(|s| s.name == APPLY_NAME) {
        return Err(crate::error::Hinted::new(
            format!(
                "service `{}` has the name of the apply step renders add",
                s.name
            ),
            format!(
                "rename the service: `{APPLY_NAME}` applies the topology before the services start"
            ),
        )
        .into());
    }
    if let Some(u) = topo.users.iter().find(|u| u.password_hash.is_some()) {
        return Err(crate::error::Hinted::new(
            format!("user `{}` has a `password_hash`, which a render would have to write into the deploy file", u.name),
            "give the user a `password_env` instead: renders pass the variable's value at deploy time",
        )
        .into());
    }

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
                    if let Some(hosts) = &node_hosts {
                        env.insert("RABBITMQ_HOSTS".into(), Value::Plain(hosts.clone()));
                    }
                    env.insert("RABBITMQ_PORT".into(), Value::Plain(AMQP_PORT.to_string()));
                    env.insert("RABBITMQ_VHOST".into(), Value::Plain(vhost.clone()));
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
    let apply_env: BTreeSet<String> = topo
        .users
        .iter()
        .filter_map(|u| u.password_env.clone())
        .collect();
    required.extend(apply_env.iter().cloned());
    if cluster.is_some() {
        required.insert(ERLANG_COOKIE_VAR.to_string());
    }
    let mut refs = Vec::new();
    let mut services = Vec::with_capacity(topo.services.len());
    for (index, s) in topo.services.iter().enumerate() {
        let mut env = wiring.remove(s.name.as_str()).unwrap_or_default();
        // Least privilege: the service's own user, never the admin credentials.
        if let Some(user) = &s.user {
            env.insert("RABBITMQ_USER".into(), Value::Plain(user.clone()));
            if let Some(pw) = password_var(user) {
                env.insert("RABBITMQ_PASSWORD".into(), Value::Secret(pw));
            }
        }
        for (k, v) in &s.env {
            let segs = raw_env
                .get(&(index, k.clone()))
                .map(|raw| references::parse(raw))
                .filter(|segs| references::has_reference(segs));
            let value = match segs {
                None => Value::Plain(v.to_string()),
                Some(segs) => {
                    let mut needs = Vec::new();
                    references::required(&segs, &mut needs);
                    required.extend(needs.into_iter().map(|(n, _)| n));
                    match naming {
                        Naming::Compose => Value::Raw(references::compose(&segs)),
                        Naming::Azure => {
                            let local = format!("topo_ref_{}", refs.len() + 1);
                            refs.push(RefDef {
                                local: local.clone(),
                                shell: references::bash(&segs),
                            });
                            Value::Named {
                                var: local,
                                secret: format!("env-{}", k.to_ascii_lowercase().replace('_', "-")),
                            }
                        }
                    }
                }
            };
            env.insert(k.clone(), value);
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
        let (plain, secret_env, secrets, raw) = split_env(env);
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
            compose_memory: s.memory.as_deref().map(compose_memory),
            memory: s.memory.clone(),
            command,
            args,
            command_line: s.command.clone().filter(|c| !c.is_empty()),
            consumer,
            user: s.user.clone(),
            env: plain,
            secret_env,
            secrets,
            raw_env: raw,
            registry: true,
            spec: None,
            spec_registry: None,
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
    let (plain, secret_env, secrets, _) = split_env(broker_env);
    let broker_memory = deploy.and_then(|d| d.memory.clone());
    let mut broker = App {
        name: hostname.clone(),
        app: azure_names::app_name(name.as_deref(), &hostname),
        host: broker_host.clone(),
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
        compose_memory: broker_memory.as_deref().map(compose_memory),
        memory: broker_memory,
        command: None,
        args: Vec::new(),
        command_line: None,
        consumer: true,
        user: None,
        env: plain,
        secret_env,
        secrets,
        raw_env: Vec::new(),
        registry: false,
        spec: None,
        spec_registry: None,
    };

    // The apply step: the admin credentials and every user's password, nothing else.
    let mut apply_vars = BTreeMap::new();
    // Every node, in order: topo uses the first that answers, pairs the two lists node by
    // node, and `--wait` waits for all of them (docs/clusters.md).
    let apply_hosts: Vec<String> = match &cluster {
        Some(c) => c.nodes.iter().map(|n| host_of(&n.name)).collect(),
        None => vec![broker_host.clone()],
    };
    let url_list = |scheme: &str, port: u16| {
        apply_hosts
            .iter()
            .map(|h| format!("{scheme}://{h}:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    apply_vars.insert(
        "TOPO_AMQP_URL".to_string(),
        Value::Plain(url_list("amqp", AMQP_PORT)),
    );
    apply_vars.insert(
        "TOPO_MANAGEMENT_URL".to_string(),
        Value::Plain(url_list("http", MANAGEMENT_PORT)),
    );
    apply_vars.insert("NO_COLOR".to_string(), Value::Plain("1".into()));
    for (v, _) in BROKER_SECRETS {
        apply_vars.insert(v.to_string(), Value::Secret(v.to_string()));
    }
    for v in &apply_env {
        apply_vars.insert(v.clone(), Value::Secret(v.clone()));
    }
    let topology = apply_document(tree);
    let topology_sha256 = azure_spec::sha256(&topology);
    apply_vars.insert(
        "TOPO_TOPOLOGY_SHA256".to_string(),
        Value::Plain(topology_sha256.clone()),
    );
    let (plain, secret_env, secrets, _) = split_env(apply_vars);
    let apply_command = vec![
        "apply".to_string(),
        "--wait".to_string(),
        "5m".to_string(),
        "--".to_string(),
        APPLY_TOPOLOGY_PATH.to_string(),
    ];
    let job = azure_names::app_name(name.as_deref(), APPLY_NAME);
    if naming == Naming::Azure
        && let Some(why) = azure_names::app_name_problem(&job)
    {
        return Err(crate::error::Hinted::new(
            format!("the apply job's Azure name `{job}` {why}"),
            "Container Apps jobs are named `{name}-topo-apply`; shorten the topology's `name`",
        )
        .into());
    }
    let mut apply = App {
        name: APPLY_NAME.to_string(),
        app: job,
        host: host_of(APPLY_NAME),
        image: "topo".to_string(),
        runtime: None,
        port: None,
        ingress: "none",
        publish: false,
        azure_ingress: None,
        min_replicas: 0,
        max_replicas: 1,
        cpu: Some(0.25),
        memory: Some("0.5Gi".to_string()),
        compose_memory: None,
        command: None,
        args: Vec::new(),
        command_line: Some(apply_command),
        consumer: false,
        user: None,
        env: plain,
        secret_env,
        secrets,
        raw_env: Vec::new(),
        registry: true,
        spec: None,
        spec_registry: None,
    };

    let storage = broker.app.clone();
    if naming == Naming::Azure {
        broker.spec = Some(Spec::new(app_definition(&broker, false, Some(&storage))));
        for s in &mut services {
            s.spec = Some(Spec::new(app_definition(s, false, None)));
            s.spec_registry = Some(Spec::new(app_definition(s, true, None)));
        }
        apply.spec = Some(Spec::new(job_definition(&apply, false, &topology)));
        apply.spec_registry = Some(Spec::new(job_definition(&apply, true, &topology)));
    }

    Ok(Context {
        target: target.to_string(),
        file: file.to_string(),
        project: name.clone().unwrap_or_else(|| "topo".to_string()),
        name,
        vhost,
        broker,
        services,
        apply,
        topology,
        topology_sha256,
        storage,
        required_env: required.into_iter().collect(),
        refs,
        apply_env: apply_env.into_iter().collect(),
        broker_services: match &cluster {
            Some(c) => c.nodes.iter().map(|n| n.name.clone()).collect(),
            None => vec![hostname],
        },
        cluster,
    })
}

/// The nodes of `broker.nodes` above 1, named `{hostname}-1` .. `{hostname}-N`, and the
/// peer-discovery configuration that names them all. Classic peer discovery (a fixed list
/// of node names) is the backend that needs nothing but the names: compose gives each
/// container a stable hostname, so the list is known when rendering.
fn cluster_of(topo: &Topology) -> anyhow::Result<Option<Cluster>> {
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

/// The container of an app: image, command, variables, resources.
fn container(a: &App, image: Json) -> serde_json::Map<String, Json> {
    let mut c = serde_json::Map::new();
    c.insert("name".into(), json!(a.name));
    c.insert("image".into(), image);
    if let Some(cmd) = &a.command_line {
        c.insert("command".into(), json!(cmd));
    }
    let env: Vec<Json> = a
        .env
        .iter()
        .map(|e| json!({"name": e.name, "value": e.value}))
        .chain(
            a.secret_env
                .iter()
                .map(|e| json!({"name": e.name, "secretRef": e.secret})),
        )
        .collect();
    if !env.is_empty() {
        c.insert("env".into(), Json::Array(env));
    }
    if let Some(r) = azure_spec::resources(a.cpu, a.memory.as_deref()) {
        c.insert("resources".into(), r);
    }
    c
}

/// Secrets (values from the environment) and, with a registry, its credentials.
fn configuration_secrets(a: &App, registry: bool) -> (Vec<Json>, Option<Json>) {
    let mut secrets: Vec<Json> = a
        .secrets
        .iter()
        .map(|s| json!({"name": s.secret, "value": var(&s.var)}))
        .collect();
    let registries = registry.then(|| {
        secrets.push(json!({"name": REGISTRY_SECRET, "value": var("AZURE_REGISTRY_PASSWORD")}));
        json!([{
            "server": var("AZURE_REGISTRY_SERVER"),
            "username": var("AZURE_REGISTRY_USERNAME"),
            "passwordSecretRef": REGISTRY_SECRET,
        }])
    });
    (secrets, registries)
}

/// A Container App (`az containerapp create|update --yaml`).
fn app_definition(a: &App, registry: bool, storage: Option<&str>) -> Json {
    let (secrets, registries) = configuration_secrets(a, registry);
    let mut config = serde_json::Map::new();
    config.insert("activeRevisionsMode".into(), json!("Single"));
    if !secrets.is_empty() {
        config.insert("secrets".into(), Json::Array(secrets));
    }
    if let Some(r) = registries {
        config.insert("registries".into(), r);
    }
    if let Some(i) = &a.azure_ingress {
        let mut ing = serde_json::Map::new();
        ing.insert("external".into(), json!(i.kind == "external"));
        ing.insert("transport".into(), json!(i.transport));
        ing.insert("targetPort".into(), json!(i.target_port));
        if let Some(p) = i.exposed_port {
            ing.insert("exposedPort".into(), json!(p));
        }
        if storage.is_some() {
            // The broker: the management API on a second port, inside the environment only.
            ing.insert(
                "additionalPortMappings".into(),
                json!([{"external": false, "targetPort": MANAGEMENT_PORT, "exposedPort": MANAGEMENT_PORT}]),
            );
        }
        config.insert("ingress".into(), Json::Object(ing));
    }
    let mut c = container(a, json!(a.image));
    let mut template = serde_json::Map::new();
    if let Some(storage) = storage {
        if let Some(Json::Array(env)) = c.get_mut("env") {
            env.push(json!({"name": "RABBITMQ_NODENAME", "value": BROKER_NODENAME}));
        }
        c.insert(
            "volumeMounts".into(),
            json!([{"volumeName": "data", "mountPath": BROKER_DATA_PATH}]),
        );
        template.insert(
            "volumes".into(),
            json!([{"name": "data", "storageType": "AzureFile", "storageName": storage}]),
        );
    }
    template.insert("containers".into(), json!([Json::Object(c)]));
    template.insert(
        "scale".into(),
        json!({"minReplicas": a.min_replicas, "maxReplicas": a.max_replicas}),
    );
    json!({
        "properties": {
            "configuration": Json::Object(config),
            "template": Json::Object(template),
        }
    })
}

/// The apply job (`az containerapp job create|update --yaml`): a manual trigger, one
/// replica, no retry (a failed apply is reported, not repeated), the topology mounted
/// from a secret.
fn job_definition(a: &App, registry: bool, topology: &str) -> Json {
    let (mut secrets, registries) = configuration_secrets(a, registry);
    secrets.insert(0, json!({"name": TOPOLOGY_SECRET, "value": topology}));
    let mut config = serde_json::Map::new();
    config.insert("triggerType".into(), json!("Manual"));
    config.insert("replicaTimeout".into(), json!(900));
    config.insert("replicaRetryLimit".into(), json!(0));
    config.insert(
        "manualTriggerConfig".into(),
        json!({"parallelism": 1, "replicaCompletionCount": 1}),
    );
    config.insert("secrets".into(), Json::Array(secrets));
    if let Some(r) = registries {
        config.insert("registries".into(), r);
    }
    let mut c = container(a, var("TOPO_IMAGE"));
    // The image's entrypoint is topo: the command line is its arguments.
    if let Some(cmd) = c.remove("command") {
        c.insert("args".into(), cmd);
    }
    let dir = APPLY_TOPOLOGY_PATH.rsplit_once('/').map_or("/", |(d, _)| d);
    let file = APPLY_TOPOLOGY_PATH.rsplit('/').next().unwrap_or_default();
    c.insert(
        "volumeMounts".into(),
        json!([{"volumeName": "topology", "mountPath": dir}]),
    );
    json!({
        "properties": {
            "configuration": Json::Object(config),
            "template": {
                "containers": [Json::Object(c)],
                "volumes": [{
                    "name": "topology",
                    "storageType": "Secret",
                    "secrets": [{"secretRef": TOPOLOGY_SECRET, "path": file}],
                }],
            },
        }
    })
}

type Split = (Vec<EnvVar>, Vec<SecretEnv>, Vec<Secret>, Vec<EnvVar>);

fn split_env(env: BTreeMap<String, Value>) -> Split {
    let mut raw = Vec::new();
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
            Value::Named { var, secret } => {
                secrets.insert(Secret {
                    secret: secret.clone(),
                    var: var.clone(),
                });
                secret_env.push(SecretEnv { name, var, secret });
            }
            Value::Raw(text) => {
                let json = serde_json::to_string(&text).unwrap_or_default();
                raw.push(EnvVar {
                    name,
                    value: super::escape::yaml_printable(&json),
                });
            }
        }
    }
    (plain, secret_env, secrets.into_iter().collect(), raw)
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
        let ctx = build(
            &topo(T),
            &Json::Null,
            &RawEnv::new(),
            "azure",
            "t.yaml",
            Naming::Azure,
        )
        .unwrap();
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
            let ctx = build(&topo(T), &Json::Null, &RawEnv::new(), "x", "t.yaml", naming).unwrap();
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
        let ctx = build(
            &topo(&yaml),
            &Json::Null,
            &RawEnv::new(),
            "x",
            "t.yaml",
            Naming::Compose,
        )
        .unwrap();
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
