//! What templates see: the topology turned into deployable units (the broker, the apply
//! step and one app per service) with their wiring already worked out, in a fixed order.
//!
//! Templates stay simple and every target gets the same wiring: an rmq transport gives
//! both ends the broker's address and vhost and the queue; a service that names a broker
//! user gets that user's name and password, never the admin's; a tcp transport gives the
//! caller the callee's host and port. Hosts differ per target (a compose service name, an
//! Azure app name), so the context is built for one [`Naming`].

mod app;
mod azure;
mod cluster;
mod plugins;
#[cfg(test)]
mod tests;
mod wiring;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value as Json;

use super::azure_spec::{self, Spec};
use super::references;
use crate::topology::model::{Ingress, Service, Topology};
use crate::topology::names::{self as azure_names, BROKER_SECRETS};
pub use app::{App, AzureIngress, EnvVar, Secret, SecretEnv, compose_memory, env_prefix};
use app::{Value, split_env};
use azure::{app_definition, job_definition};
pub use cluster::{
    CLUSTER_CONF_NAME, CLUSTER_CONF_PATH, Cluster, ClusterNode, ERLANG_COOKIE_PATH,
    ERLANG_COOKIE_SECRET, ERLANG_COOKIE_VAR,
};
pub use plugins::{
    AZURE_PLUGINS_DIR, AZURE_PLUGINS_FILE, PLUGINS_CONFIG_NAME, PLUGINS_PATH, Plugins,
};

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
    /// interpolated, without the parts only renders read (services, transports, broker but
    /// its `plugins`), as JSON. Self-contained, so the apply step needs no file of the
    /// deploy machine.
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
    /// `broker.plugins` given: the enabled plugins file every broker node starts with;
    /// none leaves the image's own.
    pub plugins: Option<Plugins>,
}

/// The source text of service env values that hold `${...}`, by (service index, key).
pub type RawEnv = BTreeMap<(usize, String), String>;

/// A kept reference of the azure script: `local=SHELL` before the definitions.
#[derive(Debug, Serialize)]
pub struct RefDef {
    pub local: String,
    pub shell: String,
}

/// What the apply step applies: the resolved tree without the render-only sections. Of
/// `broker`, only `plugins` stays: the broker the render starts runs them, and validate
/// checks the file's shovels and upstreams against that list (TOPO042).
pub fn apply_document(tree: &Json) -> String {
    let mut doc = tree.clone();
    if let Json::Object(m) = &mut doc {
        let plugins = m.get("broker").and_then(|b| b.get("plugins")).cloned();
        for key in ["extends", "services", "transports", "broker"] {
            m.remove(key);
        }
        if let Some(p) = plugins {
            m.insert("broker".into(), serde_json::json!({ "plugins": p }));
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
    refuse_unrenderable(topo)?;
    let name = topo.name.clone();
    let host_of = |service: &str| match naming {
        Naming::Compose => service.to_string(),
        Naming::Azure => azure_names::app_name(name.as_deref(), service),
    };
    let hostname = azure_names::broker_hostname(topo).to_string();
    let cluster = cluster::cluster_of(topo)?;
    // Services and the apply step reach a cluster through its first node (and get the
    // list of all of them).
    let broker_hosts: Vec<String> = match &cluster {
        Some(c) => c.nodes.iter().map(|n| host_of(&n.name)).collect(),
        None => vec![host_of(&hostname)],
    };
    let broker_host = broker_hosts[0].clone();
    let node_hosts = cluster.as_ref().map(|_| broker_hosts.join(","));
    let vhost = topo.vhost.clone().unwrap_or_else(|| "/".to_string());
    let mut wiring = wiring::wire(topo, &host_of, &broker_host, node_hosts.as_deref(), &vhost);

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
        let wired = wiring.env.remove(s.name.as_str()).unwrap_or_default();
        let mut vars = ServiceVars {
            topo,
            raw_env,
            naming,
            required: &mut required,
            refs: &mut refs,
        };
        let env = vars.env(index, s, wired);
        let tcp_port = wiring.tcp_targets.get(s.name.as_str()).copied();
        let consumer = wiring.consumed.contains_key(s.name.as_str());
        let host = host_of(&s.name);
        services.push(service_app(
            s,
            env,
            name.as_deref(),
            host,
            tcp_port,
            consumer,
        ));
    }
    let mut broker = broker_app(topo, name.as_deref(), &hostname, &broker_host);
    let (mut apply, topology, topology_sha256) = apply_app(
        tree,
        name.as_deref(),
        naming,
        &broker_hosts,
        &apply_env,
        host_of(APPLY_NAME),
    )?;

    let storage = broker.app.clone();
    let plugins = plugins::plugins_of(topo);
    if naming == Naming::Azure {
        let broker_extras = azure::BrokerExtras {
            storage: &storage,
            plugins: plugins.as_ref(),
        };
        broker.spec = Some(Spec::new(app_definition(
            &broker,
            false,
            Some(&broker_extras),
        )));
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
        plugins,
    })
}

/// What a render cannot write: a service named like the apply step, a password hash.
fn refuse_unrenderable(topo: &Topology) -> anyhow::Result<()> {
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
    Ok(())
}

/// What the variables of one service draw on, and what they add to the render's lists.
struct ServiceVars<'a> {
    topo: &'a Topology,
    raw_env: &'a RawEnv,
    naming: Naming,
    /// Every deploy-time variable the rendered files read.
    required: &'a mut BTreeSet<String>,
    /// Azure: the kept references, in service and key order.
    refs: &'a mut Vec<RefDef>,
}

impl ServiceVars<'_> {
    /// Service `index`'s variables: its wiring, its user, its `env` (kept references
    /// as the target writes them) and its `secrets`, later ones winning.
    fn env(
        &mut self,
        index: usize,
        s: &Service,
        mut env: BTreeMap<String, Value>,
    ) -> BTreeMap<String, Value> {
        let naming = self.naming;
        let raw_env = self.raw_env;
        // Least privilege: the service's own user, never the admin credentials.
        if let Some(user) = &s.user {
            env.insert("RABBITMQ_USER".into(), Value::Plain(user.clone()));
            if let Some(pw) = self.password_var(user) {
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
                    self.required.extend(needs.into_iter().map(|(n, _)| n));
                    match naming {
                        Naming::Compose => Value::Raw(references::compose(&segs)),
                        Naming::Azure => {
                            let local = format!("topo_ref_{}", self.refs.len() + 1);
                            self.refs.push(RefDef {
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
            self.required.insert(var.clone());
        }
        env
    }

    /// The variable that holds `user`'s password, if the file names one.
    fn password_var(&self, user: &str) -> Option<String> {
        self.topo
            .users
            .iter()
            .find(|u| u.name == user)
            .and_then(|u| u.password_env.clone())
    }
}

/// One service as an app: `host` is where the others reach it, `tcp_port` the port a tcp
/// transport reaches it at, `consumer` whether it consumes a queue.
fn service_app(
    s: &Service,
    env: BTreeMap<String, Value>,
    name: Option<&str>,
    host: String,
    tcp_port: Option<u16>,
    consumer: bool,
) -> App {
    let ingress = s.ingress.unwrap_or(Ingress::None);
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
    App {
        name: s.name.clone(),
        app: azure_names::app_name(name, &s.name),
        host,
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
    }
}

/// The broker, with the admin credentials from the deploy's variables.
fn broker_app(topo: &Topology, name: Option<&str>, hostname: &str, broker_host: &str) -> App {
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
    App {
        name: hostname.to_string(),
        app: azure_names::app_name(name, hostname),
        host: broker_host.to_string(),
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
    }
}

/// The apply step, the document it applies and that document's SHA-256.
fn apply_app(
    tree: &Json,
    name: Option<&str>,
    naming: Naming,
    broker_hosts: &[String],
    apply_env: &BTreeSet<String>,
    host: String,
) -> anyhow::Result<(App, String, String)> {
    // The apply step: the admin credentials and every user's password, nothing else.
    let mut apply_vars = BTreeMap::new();
    // Every node, in order: topo uses the first that answers, pairs the two lists node by
    // node, and `--wait` waits for all of them (docs/clusters.md).
    let url_list = |scheme: &str, port: u16| {
        broker_hosts
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
    for v in apply_env {
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
    let job = azure_names::app_name(name, APPLY_NAME);
    if naming == Naming::Azure
        && let Some(why) = azure_names::app_name_problem(&job)
    {
        return Err(crate::error::Hinted::new(
            format!("the apply job's Azure name `{job}` {why}"),
            "Container Apps jobs are named `{name}-topo-apply`; shorten the topology's `name`",
        )
        .into());
    }
    let apply = App {
        name: APPLY_NAME.to_string(),
        app: job,
        host,
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
    Ok((apply, topology, topology_sha256))
}
