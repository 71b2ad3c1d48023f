//! Before apply's first change: both connections open (TLS, credentials), topo's user may
//! work in the file's existing vhosts, and the broker's version accepts what the file asks
//! for. A TLS, login, permission or version problem then changes nothing — without this,
//! apply created the vhost over HTTP and only then failed on AMQP.

use std::collections::BTreeSet;

use serde_json::Value;

use super::amqp;
use super::endpoint::Endpoints;
use super::http::Management;
use super::read;
use crate::error::Hinted;
use crate::state::State;
use crate::topology::model::QueueType;

/// What a broker says about itself that decides what it refuses.
#[derive(Debug, Clone, Default)]
pub struct BrokerFacts {
    pub version: String,
    /// Deprecated features this broker denies (`GET /api/deprecated-features`, 4.x).
    pub denied: BTreeSet<String>,
}

fn version_at_least(version: &str, want: [u32; 3]) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let have = [0; 3].map(|_| parts.next().unwrap_or(0));
    have >= want
}

/// What the broker refuses in `desired` (entities `live` does not already hold as they
/// are): one line each, naming the entity, the key and why. Pure, so plan and apply say
/// the same thing.
pub fn refusals(desired: &State, live: &State, facts: &BrokerFacts) -> Vec<String> {
    let version = facts.version.as_str();
    let v4 = version_at_least(version, [4, 0, 0]);
    let denied = |f: &str| facts.denied.contains(f);
    let permit = |f: &str| {
        format!(
            "RabbitMQ {version} denies the deprecated feature {f}; `deprecated_features.permit.{f} = true` in rabbitmq.conf brings it back"
        )
    };
    let mut out = Vec::new();
    for (k, p) in &desired.policies {
        if live.policies.get(k) == Some(p) {
            continue;
        }
        let ha: Vec<&str> = p
            .definition
            .keys()
            .map(String::as_str)
            .filter(|key| key.starts_with("ha-"))
            .collect();
        if v4 && !ha.is_empty() {
            out.push(format!(
                "policy {k}: `{}` (classic queue mirroring was removed in RabbitMQ 4.0; \
                 RabbitMQ {version} refuses the whole policy)",
                ha.join("`, `")
            ));
        }
        if p.definition.contains_key("queue-master-locator") && denied("queue_master_locator") {
            out.push(format!(
                "policy {k}: `queue-master-locator` ({})",
                permit("queue_master_locator")
            ));
        }
    }
    for (k, q) in &desired.queues {
        if live.queues.get(k).is_some_and(|l| l.same_definition(q)) {
            continue;
        }
        let classic = q.kind == QueueType::Classic;
        if classic && !q.durable && denied("transient_nonexcl_queues") {
            out.push(format!(
                "queue {k}: transient and not exclusive ({})",
                permit("transient_nonexcl_queues")
            ));
        }
        if q.arguments.contains_key("x-queue-master-locator") && denied("queue_master_locator") {
            out.push(format!(
                "queue {k}: `x-queue-master-locator` ({})",
                permit("queue_master_locator")
            ));
        }
        if version_at_least(version, [4, 3, 0])
            && q.arguments.get("x-queue-version").and_then(Value::as_i64) == Some(1)
        {
            out.push(format!(
                "queue {k}: `x-queue-version: 1` (RabbitMQ {version} keeps only version 2)"
            ));
        }
        if classic
            && version_at_least(version, [4, 3, 2])
            && q.arguments.contains_key("x-consumer-timeout")
        {
            out.push(format!(
                "queue {k}: `x-consumer-timeout` on a classic queue (quorum queues only from \
                 RabbitMQ 4.3.2; this is {version})"
            ));
        }
    }
    out
}

/// The broker's version and denied features (none before 4.x, which has no such listing).
pub async fn broker_facts(mgmt: &Management) -> anyhow::Result<Option<BrokerFacts>> {
    let Some(version) = read::broker_version(mgmt)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        return Ok(None);
    };
    let mut denied = BTreeSet::new();
    if version_at_least(&version, [3, 13, 0]) {
        let listed = mgmt
            .get_opt(&["deprecated-features"], "reading the deprecated features")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .unwrap_or(Value::Null);
        for f in listed.as_array().into_iter().flatten() {
            if f.get("state").and_then(Value::as_str) == Some("denied")
                && let Some(name) = f.get("name").and_then(Value::as_str)
            {
                denied.insert(name.to_string());
            }
        }
    }
    Ok(Some(BrokerFacts { version, denied }))
}

/// The refusals as one error, or `Ok` when there are none.
pub fn check_refusals(
    desired: &State,
    live: &State,
    facts: Option<&BrokerFacts>,
) -> anyhow::Result<()> {
    let Some(facts) = facts else {
        return Ok(());
    };
    let found = refusals(desired, live, facts);
    if found.is_empty() {
        return Ok(());
    }
    Err(Hinted::new(
        format!(
            "RabbitMQ {} refuses what the file asks for; nothing was changed:\n  {}",
            facts.version,
            found.join("\n  ")
        ),
        "change the file (topo validate warns about each of these as TOPO031), or permit the \
         feature on every node of the broker",
    )
    .into())
}

/// Check both connections and the file against the broker. `live` is the state just read
/// (so the HTTP side has already logged in); returns the broker's version.
pub async fn check(
    mgmt: &Management,
    ep: &Endpoints,
    desired: &State,
    live: &State,
) -> anyhow::Result<Option<String>> {
    let facts = broker_facts(mgmt)
        .await
        .map_err(|e| e.context("preflight"))?;
    check_refusals(desired, live, facts.as_ref())?;
    let version = facts.map(|f| f.version);

    // Permissions of topo's own user on the file's vhosts that exist (a vhost topo creates
    // grants them to its creator; one the file grants them on gets them first).
    let me = mgmt.user().to_string();
    let mine = mgmt
        .get_opt(
            &["users", &me, "permissions"],
            "reading topo's own permissions",
        )
        .await
        .map_err(|e| anyhow::anyhow!("preflight: {e}"))?
        .unwrap_or(Value::Null);
    let allowed: Vec<&str> = mine
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("vhost").and_then(Value::as_str))
        .collect();
    let mut missing = Vec::new();
    for vhost in desired.vhost_names() {
        let exists = live.vhosts.contains_key(&vhost);
        let granted_by_file = desired
            .permissions
            .keys()
            .any(|k| k.vhost == vhost && k.user == me);
        if exists && !granted_by_file && !allowed.contains(&vhost.as_str()) {
            missing.push(vhost);
        }
    }
    if !missing.is_empty() {
        return Err(Hinted::new(
            format!(
                "user `{me}` has no permissions on vhost{} {}; nothing was changed",
                if missing.len() == 1 { "" } else { "s" },
                missing
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "grant them (rabbitmqctl set_permissions -p VHOST {me} '.*' '.*' '.*'), or add \
                 a permission for {me} to the file"
            ),
        )
        .into());
    }

    // AMQP: TLS, the login, and a vhost: one of the file's that exists, else `/`, where a
    // refusal of the vhost alone still proves the connection and the login.
    let target = desired
        .vhost_names()
        .into_iter()
        .find(|v| live.vhosts.contains_key(v))
        .unwrap_or_else(|| "/".to_string());
    let opened = tokio::time::timeout(ep.amqp_connect_limit(), amqp::connect(ep, &target)).await;
    let detail = match opened {
        Ok(Ok(conn)) => {
            let _ =
                tokio::time::timeout(ep.timeout, conn.close(200, "topo: preflight".into())).await;
            return Ok(version);
        }
        Ok(Err(e)) => crate::error::redact(&e.to_string()),
        Err(_) => format!("no answer within {}s", ep.timeout.as_secs()),
    };
    let vhost_only = detail.contains("NOT_ALLOWED") || detail.contains("NOT-ALLOWED");
    if vhost_only && !desired.vhost_names().contains(&target) {
        return Ok(version);
    }
    let hint = if amqp::connection_limit(&detail).is_some() {
        "apply connects over AMQP to each vhost it changes (two connections: its lock and its \
         declares): raise or remove that `max-connections` (vhost_limits, user_limits; \
         rabbitmqctl clear_vhost_limits), then run the apply again"
    } else {
        "apply needs both the management API and AMQP: check --amqp-url (TOPO_AMQP_URL), the \
         credentials and the TLS settings"
    };
    Err(Hinted::new(
        format!(
            "cannot connect over AMQP to {} (vhost {target}): {}; nothing was changed",
            ep.nodes.describe(super::failover::Proto::Amqp),
            amqp::explain_connect(&detail, ep, &target)
        ),
        hint,
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EntityKey, PolicyState};
    use serde_json::json;

    fn with_policy(def: serde_json::Value) -> State {
        let mut s = State::default();
        s.policies.insert(
            EntityKey {
                vhost: "/".into(),
                name: "p".into(),
            },
            PolicyState {
                pattern: ".*".into(),
                apply_to: crate::topology::model::ApplyTo::Queues,
                priority: 0,
                definition: serde_json::from_value(def).unwrap(),
            },
        );
        s
    }

    fn facts(version: &str, denied: &[&str]) -> BrokerFacts {
        BrokerFacts {
            version: version.into(),
            denied: denied.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn ha_keys_are_refused_on_4x_with_the_version() {
        let s =
            with_policy(json!({"ha-mode": "all", "ha-sync-mode": "automatic", "message-ttl": 1}));
        let none = State::default();
        let found = refusals(&s, &none, &facts("4.3.6", &[]));
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("`ha-mode`, `ha-sync-mode`"), "{found:?}");
        assert!(found[0].contains("RabbitMQ 4.3.6"), "{found:?}");
        assert!(refusals(&s, &none, &facts("3.10.8", &[])).is_empty());
        // Already on the broker as it is: nothing to send, nothing refused.
        assert!(refusals(&s, &s, &facts("4.3.6", &[])).is_empty());
        let err = check_refusals(&s, &none, Some(&facts("4.0.5", &[]))).unwrap_err();
        assert!(format!("{err:#}").contains("nothing was changed"));
        let ok = with_policy(json!({"message-ttl": 1}));
        assert!(check_refusals(&ok, &none, Some(&facts("4.3.6", &[]))).is_ok());
    }

    #[test]
    fn deprecated_features_are_refused_only_where_denied() {
        use crate::state::QueueState;
        let mut s = State::default();
        let key = |n: &str| EntityKey {
            vhost: "/".into(),
            name: n.into(),
        };
        let classic = |durable: bool, args: serde_json::Value| QueueState {
            kind: QueueType::Classic,
            durable,
            auto_delete: false,
            arguments: serde_json::from_value(args).unwrap(),
            messages: None,
            members: None,
        };
        s.queues.insert(key("transient"), classic(false, json!({})));
        s.queues.insert(
            key("located"),
            classic(true, json!({"x-queue-master-locator": "min-masters"})),
        );
        s.queues
            .insert(key("v1"), classic(true, json!({"x-queue-version": 1})));
        s.queues.insert(
            key("timeout"),
            classic(true, json!({"x-consumer-timeout": 60000})),
        );
        let none = State::default();
        // 4.3.6 as Debian ships it: transient queues permitted, the master locator denied.
        let found = refusals(&s, &none, &facts("4.3.6", &["queue_master_locator"]));
        let text = found.join("\n");
        assert_eq!(found.len(), 3, "{text}");
        assert!(
            text.contains("deprecated_features.permit.queue_master_locator"),
            "{text}"
        );
        assert!(text.contains("x-queue-version: 1"), "{text}");
        assert!(text.contains("x-consumer-timeout"), "{text}");
        let found = refusals(&s, &none, &facts("4.3.6", &["transient_nonexcl_queues"]));
        assert!(
            found
                .iter()
                .any(|l| l.contains("permit.transient_nonexcl_queues")),
            "{found:?}"
        );
        assert!(refusals(&s, &none, &facts("4.2.9", &[])).is_empty());
        assert!(refusals(&s, &none, &facts("3.10.8", &[])).is_empty());
        assert_eq!(
            refusals(&s, &none, &facts("4.3.1", &[])).len(),
            1,
            "x-queue-version only"
        );
    }
}
