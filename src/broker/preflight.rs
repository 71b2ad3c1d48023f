//! Before apply's first change: both connections open (TLS, credentials), topo's user may
//! work in the file's existing vhosts, and the broker's version accepts what the file asks
//! for. A TLS, login, permission or version problem then changes nothing — without this,
//! apply created the vhost over HTTP and only then failed on AMQP.

use serde_json::Value;

use super::amqp;
use super::endpoint::Endpoints;
use super::http::Management;
use super::read;
use crate::error::Hinted;
use crate::state::State;

/// What the broker refuses in `desired`, by its version: one line each, naming the entity,
/// the key and the version. Pure, so plan and apply say the same thing.
pub fn refusals(desired: &State, version: &str) -> Vec<String> {
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    let mut out = Vec::new();
    if major >= 4 {
        for (k, p) in &desired.policies {
            let ha: Vec<&str> = p
                .definition
                .keys()
                .map(String::as_str)
                .filter(|key| key.starts_with("ha-"))
                .collect();
            if !ha.is_empty() {
                out.push(format!(
                    "policy {k}: `{}` (classic queue mirroring was removed in RabbitMQ 4.0; \
                     RabbitMQ {version} refuses the whole policy)",
                    ha.join("`, `")
                ));
            }
        }
    }
    out
}

/// The refusals as one error, or `Ok` when there are none.
pub fn check_refusals(desired: &State, version: Option<&str>) -> anyhow::Result<()> {
    let Some(version) = version else {
        return Ok(());
    };
    let found = refusals(desired, version);
    if found.is_empty() {
        return Ok(());
    }
    Err(Hinted::new(
        format!(
            "RabbitMQ {version} refuses what the file asks for; nothing was changed:\n  {}",
            found.join("\n  ")
        ),
        "remove the ha-* keys (use quorum queues for replication: type: quorum), or \
         target a RabbitMQ 3.x broker",
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
    let version = read::broker_version(mgmt)
        .await
        .map_err(|e| anyhow::anyhow!("preflight: {e}"))?;
    check_refusals(desired, version.as_deref())?;

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
    let opened = tokio::time::timeout(ep.timeout, amqp::connect(ep, &target)).await;
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
    Err(Hinted::new(
        format!(
            "cannot connect over AMQP to {} (vhost {target}): {}; nothing was changed",
            ep.amqp,
            amqp::explain_connect(&detail, &me, &target)
        ),
        "apply needs both the management API and AMQP: check --amqp-url (TOPO_AMQP_URL), the \
         credentials and the TLS settings",
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
                apply_to: "queues".into(),
                priority: 0,
                definition: serde_json::from_value(def).unwrap(),
            },
        );
        s
    }

    #[test]
    fn ha_keys_are_refused_on_4x_with_the_version() {
        let s =
            with_policy(json!({"ha-mode": "all", "ha-sync-mode": "automatic", "message-ttl": 1}));
        let found = refusals(&s, "4.3.6");
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("`ha-mode`, `ha-sync-mode`"), "{found:?}");
        assert!(found[0].contains("RabbitMQ 4.3.6"), "{found:?}");
        assert!(refusals(&s, "3.10.8").is_empty());
        let err = check_refusals(&s, Some("4.0.5")).unwrap_err();
        assert!(format!("{err:#}").contains("nothing was changed"));
        assert!(check_refusals(&with_policy(json!({"message-ttl": 1})), Some("4.3.6")).is_ok());
    }
}
