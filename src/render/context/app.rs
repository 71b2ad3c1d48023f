//! One deployable unit as templates see it ([`App`]), its environment variables and how
//! they split into plain values, secrets and kept references.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::azure_spec::Spec;
use crate::topology::names as azure_names;

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

/// Where one environment variable's value comes from.
pub(super) enum Value {
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

/// An app's variables, split: plain ones, those from secrets, the secrets themselves (each
/// once), and compose's kept references.
pub(super) type Split = (Vec<EnvVar>, Vec<SecretEnv>, Vec<Secret>, Vec<EnvVar>);

pub(super) fn split_env(env: BTreeMap<String, Value>) -> Split {
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
                    value: super::super::escape::yaml_printable(&json),
                });
            }
        }
    }
    (plain, secret_env, secrets.into_iter().collect(), raw)
}
