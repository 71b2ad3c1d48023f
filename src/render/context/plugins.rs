//! The plugins a rendered broker starts with (`broker.plugins`, see
//! [`crate::topology::plugins`]), as the file RabbitMQ reads at boot.
//!
//! Compose puts the file where the official image keeps its own
//! (`/etc/rabbitmq/enabled_plugins`), from a `content:` config of the compose file. Container
//! Apps has no config files: the file is a secret mounted as a volume, and
//! `RABBITMQ_ENABLED_PLUGINS_FILE` points RabbitMQ at it (a secret volume is a directory of
//! its own; mounted on `/etc/rabbitmq` it would hide the image's `conf.d`). RabbitMQ only
//! reads the file at boot (it writes it only when `RABBITMQ_ENABLED_PLUGINS` is set, which
//! renders never set), so a read-only mount is enough.

use serde::Serialize;

use crate::topology::model::Topology;
use crate::topology::plugins::{enabled_plugins, enabled_plugins_file};

/// Where the official image's RabbitMQ reads its enabled plugins file (compose).
pub const PLUGINS_PATH: &str = "/etc/rabbitmq/enabled_plugins";
/// The compose config, and the Container Apps secret, that carry the file.
pub const PLUGINS_CONFIG_NAME: &str = "rabbitmq-plugins";
/// Container Apps: the directory the secret volume is mounted on, and the file in it.
pub const AZURE_PLUGINS_DIR: &str = "/etc/topo-rabbitmq";
pub const AZURE_PLUGINS_FILE: &str = "enabled_plugins";

/// The broker's enabled plugins, when the file lists `broker.plugins`.
#[derive(Debug, Clone, Serialize)]
pub struct Plugins {
    /// The plugins, sorted: the image's own, the file's, their management extensions.
    pub names: Vec<String>,
    /// The enabled plugins file (`[rabbitmq_management,...].`).
    pub content: String,
    /// Compose config (and Azure secret) name.
    pub config_name: &'static str,
    /// Where compose mounts it in every broker container.
    pub path: &'static str,
}

/// None when the file has no `broker.plugins`: the image's own file stays.
pub fn plugins_of(topo: &Topology) -> Option<Plugins> {
    let names = enabled_plugins(topo)?;
    Some(Plugins {
        content: enabled_plugins_file(&names),
        names,
        config_name: PLUGINS_CONFIG_NAME,
        path: PLUGINS_PATH,
    })
}
