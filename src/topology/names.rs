//! The names a topology gives what it deploys (Container App names, secret names, env
//! keys) and the rules those names and values must follow. Both `render` (which builds the
//! names) and `validate` (which refuses what could not be passed intact) use this one copy.

use crate::topology::model::Topology;

/// The broker's hostname when `broker.deploy.hostname` is not set.
pub const DEFAULT_BROKER_HOSTNAME: &str = "rabbitmq";

/// Longest Container App name Azure accepts.
pub const MAX_APP_NAME: usize = 32;

/// Secret names the rendered script defines for the broker credentials.
pub const BROKER_SECRETS: [(&str, &str); 2] = [
    ("RABBITMQ_USER", "rabbitmq-user"),
    ("RABBITMQ_PASSWORD", "rabbitmq-password"),
];

/// The Container App name of a service (or of the broker, given its hostname):
/// `{name}-{service}`, or the service name alone when the topology has no `name`.
pub fn app_name(topo_name: Option<&str>, service: &str) -> String {
    match topo_name {
        Some(n) if !n.is_empty() => format!("{n}-{service}"),
        _ => service.to_string(),
    }
}

/// The broker's hostname (also its compose service name).
pub fn broker_hostname(topo: &Topology) -> &str {
    topo.broker
        .as_ref()
        .and_then(|b| b.deploy.as_ref())
        .and_then(|d| d.hostname.as_deref())
        .unwrap_or(DEFAULT_BROKER_HOSTNAME)
}

/// `broker.nodes` when it asks for a cluster (above 1).
pub fn cluster_size(topo: &Topology) -> Option<u32> {
    topo.broker
        .as_ref()
        .and_then(|b| b.nodes)
        .filter(|n| *n > 1)
}

/// The compose service (and hostname) of node `i` (from 1) of a clustered broker:
/// `{hostname}-{i}`.
pub fn broker_node_name(topo: &Topology, i: u32) -> String {
    format!("{}-{i}", broker_hostname(topo))
}

/// Whether `service` is the name of one of the broker's cluster nodes (worked out from the
/// name, so a huge `broker.nodes` costs nothing here).
pub fn is_broker_node(topo: &Topology, service: &str) -> bool {
    let Some(n) = cluster_size(topo) else {
        return false;
    };
    service
        .strip_prefix(broker_hostname(topo))
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|i| !i.starts_with('0'))
        .and_then(|i| i.parse::<u32>().ok())
        .is_some_and(|i| (1..=n).contains(&i))
}

/// Why `name` breaks Azure's Container App naming rule, if it does: 2 to 32 characters,
/// lowercase letters, digits and `-`, starting with a letter, ending with a letter or
/// digit, no `--`.
pub fn app_name_problem(name: &str) -> Option<String> {
    let n = name.chars().count();
    if !(2..=MAX_APP_NAME).contains(&n) {
        return Some(format!(
            "is {n} characters long; Azure allows 2 to {MAX_APP_NAME}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("may only hold lowercase letters, digits and `-`".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("must start with a lowercase letter".into());
    }
    if name.ends_with('-') {
        return Some("must end with a letter or digit".into());
    }
    if name.contains("--") {
        return Some("must not contain `--`".into());
    }
    None
}

/// The Azure secret name that carries the deploy-time variable `var`: lowercase, `_` as
/// `-`, runs of `-` collapsed and trimmed (`DB_PASSWORD` -> `db-password`). `None` when
/// nothing usable is left.
pub fn secret_name(var: &str) -> Option<String> {
    let mut out = String::with_capacity(var.len());
    for c in var.chars() {
        let c = match c {
            '_' | '-' => '-',
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => return None,
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    let ok = out.starts_with(|c: char| c.is_ascii_lowercase()) && out.len() <= 253;
    ok.then_some(out)
}

/// A shell/compose environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why an image reference cannot be passed as it is, if it cannot. References hold
/// letters, digits and `._-/:@`; anything else (spaces, quotes, `$`, newlines) is not an
/// image a registry serves, and a leading `-` or `@` would read as an option or a file
/// name to `az`.
pub fn image_problem(image: &str) -> Option<String> {
    if image.is_empty() {
        return Some("is empty".into());
    }
    if !image.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("must start with a letter or digit".into());
    }
    if let Some(c) = image
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@".contains(*c)))
    {
        return Some(format!(
            "contains {c:?}; image references hold only letters, digits and `._-/:@`"
        ));
    }
    None
}

/// Why a memory size is not a number with an optional unit (`1Gi`, `0.5Gi`, `512Mi`), if
/// it is not. Anything else could not mean a size, and `az` reads a leading `@` as a file.
pub fn memory_problem(memory: &str) -> Option<String> {
    let digits = memory.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &memory[digits.len()..];
    let number_ok = !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !digits.ends_with('.');
    (!number_ok || unit.len() > 2).then(|| format!("`{memory}` is not a size like `1Gi`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(yaml: &str) -> Topology {
        let node = crate::source::yaml::parse(yaml, crate::source::FileId(0)).unwrap();
        serde::Deserialize::deserialize(&node.to_json()).unwrap()
    }

    #[test]
    fn cluster_node_names() {
        let t = topo("version: 1\nbroker: {nodes: 3, deploy: {hostname: mq}}\n");
        assert_eq!(cluster_size(&t), Some(3));
        assert_eq!(broker_node_name(&t, 2), "mq-2");
        for (name, is) in [
            ("mq-1", true),
            ("mq-3", true),
            ("mq-4", false),
            ("mq-0", false),
            ("mq-01", false),
            ("mq", false),
            ("mq-", false),
            ("mq-x", false),
            ("rabbitmq-1", false),
        ] {
            assert_eq!(is_broker_node(&t, name), is, "{name}");
        }
        // One node is not a cluster: the broker keeps its hostname.
        let one = topo("version: 1\nbroker: {nodes: 1}\n");
        assert_eq!(cluster_size(&one), None);
        assert!(!is_broker_node(&one, "rabbitmq-1"));
        // A huge size costs nothing to check against.
        let huge = topo("version: 1\nbroker: {nodes: 4000000000}\n");
        assert!(is_broker_node(&huge, "rabbitmq-3999999999"));
    }
}
