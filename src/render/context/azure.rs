//! The Azure Container Apps definitions of an app and of the apply job
//! (`az containerapp [job] create|update --yaml`).

use serde_json::{Value as Json, json};

use super::azure_spec::{self, var};
use super::plugins::{AZURE_PLUGINS_DIR, AZURE_PLUGINS_FILE, Plugins};
use super::{
    APPLY_TOPOLOGY_PATH, App, BROKER_DATA_PATH, BROKER_NODENAME, MANAGEMENT_PORT, REGISTRY_SECRET,
    TOPOLOGY_SECRET,
};

/// What only the broker's app has: the environment storage its data lives on, and the
/// enabled plugins file when the topology lists `broker.plugins`.
pub(super) struct BrokerExtras<'a> {
    pub storage: &'a str,
    pub plugins: Option<&'a Plugins>,
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
pub(super) fn app_definition(a: &App, registry: bool, broker: Option<&BrokerExtras>) -> Json {
    let (mut secrets, registries) = configuration_secrets(a, registry);
    let plugins = broker.and_then(|b| b.plugins);
    if let Some(p) = plugins {
        // Not secret, but a secret is what Container Apps mounts as a file.
        secrets.push(json!({"name": p.config_name, "value": p.content}));
    }
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
        if broker.is_some() {
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
    if let Some(b) = broker {
        let mut mounts = vec![json!({"volumeName": "data", "mountPath": BROKER_DATA_PATH})];
        let mut volumes =
            vec![json!({"name": "data", "storageType": "AzureFile", "storageName": b.storage})];
        if let Some(Json::Array(env)) = c.get_mut("env") {
            env.push(json!({"name": "RABBITMQ_NODENAME", "value": BROKER_NODENAME}));
            if plugins.is_some() {
                env.push(json!({
                    "name": "RABBITMQ_ENABLED_PLUGINS_FILE",
                    "value": format!("{AZURE_PLUGINS_DIR}/{AZURE_PLUGINS_FILE}"),
                }));
            }
        }
        if let Some(p) = plugins {
            mounts.push(json!({"volumeName": "plugins", "mountPath": AZURE_PLUGINS_DIR}));
            volumes.push(json!({
                "name": "plugins",
                "storageType": "Secret",
                "secrets": [{"secretRef": p.config_name, "path": AZURE_PLUGINS_FILE}],
            }));
        }
        c.insert("volumeMounts".into(), Json::Array(mounts));
        template.insert("volumes".into(), Json::Array(volumes));
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
pub(super) fn job_definition(a: &App, registry: bool, topology: &str) -> Json {
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
