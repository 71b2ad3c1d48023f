//! `broker.plugins`: which names the official RabbitMQ image ships, and the plugins a
//! rendered broker starts with.
//!
//! validate warns about a name the image does not ship (a typo would otherwise deploy a
//! broker that logs "enabled plugins were not found" and runs without it), and renders
//! write the list into the broker's enabled plugins file.

use crate::topology::model::Topology;

/// The plugins `rabbitmq-plugins list` shows in the official image's RabbitMQ (the
/// generic-unix build, which Debian packages too): the union of 3.10.8 and 4.3.6, read from
/// both brokers' plugin directories (libraries such as `rabbitmq_aws` or
/// `rabbitmq_prelaunch` are not plugins and are left out). Sorted.
pub const SHIPPED_PLUGINS: &[&str] = &[
    "rabbitmq_amqp1_0",
    "rabbitmq_auth_backend_cache",
    "rabbitmq_auth_backend_http",
    "rabbitmq_auth_backend_internal_loopback",
    "rabbitmq_auth_backend_ldap",
    "rabbitmq_auth_backend_oauth2",
    "rabbitmq_auth_mechanism_ssl",
    "rabbitmq_consistent_hash_exchange",
    "rabbitmq_event_exchange",
    "rabbitmq_exchange_federation",
    "rabbitmq_federation",
    "rabbitmq_federation_common",
    "rabbitmq_federation_management",
    "rabbitmq_federation_prometheus",
    "rabbitmq_jms_topic_exchange",
    "rabbitmq_management",
    "rabbitmq_management_agent",
    "rabbitmq_mqtt",
    "rabbitmq_peer_discovery_aws",
    "rabbitmq_peer_discovery_common",
    "rabbitmq_peer_discovery_consul",
    "rabbitmq_peer_discovery_etcd",
    "rabbitmq_peer_discovery_k8s",
    "rabbitmq_prometheus",
    "rabbitmq_queue_federation",
    "rabbitmq_random_exchange",
    "rabbitmq_recent_history_exchange",
    "rabbitmq_sharding",
    "rabbitmq_shovel",
    "rabbitmq_shovel_management",
    "rabbitmq_shovel_prometheus",
    "rabbitmq_stomp",
    "rabbitmq_stream",
    "rabbitmq_stream_management",
    "rabbitmq_top",
    "rabbitmq_tracing",
    "rabbitmq_trust_store",
    "rabbitmq_web_dispatch",
    "rabbitmq_web_mqtt",
    "rabbitmq_web_mqtt_examples",
    "rabbitmq_web_stomp",
    "rabbitmq_web_stomp_examples",
];

/// What the official `-management` image enables on its own: management (the variant's
/// point, and what topo talks to) and Prometheus metrics (enabled in the base image). A
/// rendered enabled plugins file replaces the image's, so it keeps these.
pub const IMAGE_PLUGINS: &[&str] = &["rabbitmq_management", "rabbitmq_prometheus"];

/// Whether the official image ships a plugin of this name.
pub fn is_shipped(name: &str) -> bool {
    SHIPPED_PLUGINS.binary_search(&name).is_ok()
}

/// The plugins a rendered broker starts with, sorted and without repeats: the image's own
/// ([`IMAGE_PLUGINS`]), every name of `broker.plugins`, and each one's management extension
/// where the image ships one (`rabbitmq_shovel_management` with `rabbitmq_shovel`): the
/// broker runs the management API, and topo's plan reads shovel and federation status
/// there. None when the file has no `broker.plugins` (the image's own file stays).
pub fn enabled_plugins(topo: &Topology) -> Option<Vec<String>> {
    let named = topo.broker.as_ref()?.plugins.as_ref()?;
    let mut out: Vec<String> = IMAGE_PLUGINS.iter().map(|p| p.to_string()).collect();
    for p in named {
        out.push(p.clone());
        let management = format!("{p}_management");
        if is_shipped(&management) {
            out.push(management);
        }
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// The enabled plugins file RabbitMQ reads at boot: one Erlang list of atoms and a full
/// stop (`[rabbitmq_management,rabbitmq_shovel].`). Names are atoms quoted when they are
/// not plain lower-case words, so no name can break the term.
pub fn enabled_plugins_file(plugins: &[String]) -> String {
    let atoms: Vec<String> = plugins.iter().map(|p| atom(p)).collect();
    format!("[{}].\n", atoms.join(","))
}

/// An Erlang atom: bare when it starts with a lower-case letter and holds only letters,
/// digits, `_` and `@`; else single-quoted with `\` and `'` escaped.
fn atom(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
    if bare {
        name.to_string()
    } else {
        let escaped = name.replace('\\', "\\\\").replace('\'', "\\'");
        format!("'{escaped}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_is_sorted_for_binary_search() {
        let mut sorted = SHIPPED_PLUGINS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, SHIPPED_PLUGINS);
        assert!(IMAGE_PLUGINS.iter().all(|p| is_shipped(p)));
    }

    #[test]
    fn the_file_is_one_erlang_term() {
        let list = vec!["rabbitmq_management".to_string(), "rabbitmq_shovel".into()];
        assert_eq!(
            enabled_plugins_file(&list),
            "[rabbitmq_management,rabbitmq_shovel].\n"
        );
        assert_eq!(
            enabled_plugins_file(&["My-Plugin's".to_string()]),
            "['My-Plugin\\'s'].\n"
        );
    }
}
