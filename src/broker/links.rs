//! What the broker says about the file's shovels and federation upstreams beyond their
//! definitions: whether it runs the plugins they need, and how each link is doing.
//!
//! A broker without a plugin still lists its parameters (as empty), so reading alone cannot
//! tell; the plugins' management extensions answer `/api/shovels` and
//! `/api/federation-links`, and a broker without them answers 404 there.

use std::collections::BTreeSet;

use serde_json::Value;

use super::http::Management;
use crate::error::Hinted;
use crate::state::State;
use crate::state::links::Component;

/// The status endpoint of a component's management extension.
fn status_path(c: Component) -> &'static str {
    match c {
        Component::Shovel => "shovels",
        Component::FederationUpstream => "federation-links",
    }
}

/// Refuses a file whose shovels or upstreams need a plugin the broker does not run, naming
/// the plugin to enable; else the state of each link the broker reports, as note lines
/// (`shovel s@v: running`, `... terminated: reason`).
pub async fn check(mgmt: &Management, desired: &State) -> anyhow::Result<Vec<String>> {
    let mut notes = Vec::new();
    for c in Component::ALL {
        let vhosts: BTreeSet<&str> = desired
            .links
            .keys()
            .filter(|k| k.component == c)
            .map(|k| k.vhost.as_str())
            .collect();
        for vhost in vhosts {
            let what = format!("reading the {} status of vhost {vhost}", c.label());
            let status = mgmt
                .get_opt(&[status_path(c), vhost], &what)
                .await
                .map_err(|e| match e.hint() {
                    Some(h) => anyhow::Error::from(Hinted::new(e.to_string(), h)),
                    None => e.into(),
                })?;
            let Some(status) = status else {
                // A vhost the broker does not have yet (apply creates it) answers 404 too: ask
                // the endpoint without a vhost, which answers whenever the plugin runs.
                if plugin_runs(mgmt, c).await? {
                    continue;
                }
                let [plugin, management] = c.plugins();
                return Err(Hinted::new(
                    format!(
                        "the broker does not run plugin {plugin} (or {management}): the file's \
                         {}s cannot be applied; nothing was changed",
                        c.label()
                    ),
                    format!(
                        "enable them on every node: `rabbitmq-plugins enable {plugin} \
                         {management}`, and list {plugin} under `broker.plugins`"
                    ),
                )
                .into());
            };
            for k in desired
                .links
                .keys()
                .filter(|k| k.component == c && k.vhost == vhost)
            {
                notes.extend(link_notes(c, &k.to_string(), &k.name, &status));
            }
        }
    }
    Ok(notes)
}

/// Whether the component's management extension answers at all (its listing over every
/// vhost), which tells a missing plugin from a vhost that is not on the broker yet.
async fn plugin_runs(mgmt: &Management, c: Component) -> anyhow::Result<bool> {
    let what = format!("reading the {} status of the broker", c.label());
    Ok(mgmt.get_opt(&[status_path(c)], &what).await?.is_some())
}

/// The status lines of one shovel (by `name`) or of the links of one upstream.
fn link_notes(c: Component, shown: &str, name: &str, status: &Value) -> Vec<String> {
    let entries = status.as_array().into_iter().flatten();
    let field = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(String::from);
    let mut out = Vec::new();
    for e in entries {
        let key = match c {
            Component::Shovel => "name",
            Component::FederationUpstream => "upstream",
        };
        if field(e, key).as_deref() != Some(name) {
            continue;
        }
        let state = field(e, "status")
            .or_else(|| field(e, "state"))
            .unwrap_or_else(|| "unknown".into());
        // A terminated shovel's reason and a federation link's error can quote a URI.
        let why = field(e, "reason")
            .or_else(|| field(e, "error"))
            .or_else(|| e.get("reason").map(Value::to_string))
            .map(|r| format!(": {}", crate::error::redact(&r)))
            .unwrap_or_default();
        let of = match c {
            Component::Shovel => String::new(),
            Component::FederationUpstream => field(e, "exchange")
                .or_else(|| field(e, "queue"))
                .map(|x| format!(" (link of {x})"))
                .unwrap_or_default(),
        };
        out.push(format!("{} {shown}{of}: {state}{why}", c.label()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terminated_shovels_say_why_without_passwords() {
        let status = json!([
            {"name": "s", "vhost": "v", "state": "terminated",
             "reason": "{auth_failure, amqp://u:secret@h/v}"},
            {"name": "other", "vhost": "v", "state": "running"}
        ]);
        let notes = link_notes(Component::Shovel, "s@v", "s", &status);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].starts_with("shovel s@v: terminated: "),
            "{notes:?}"
        );
        assert!(!notes[0].contains("secret"), "{notes:?}");
    }

    #[test]
    fn federation_links_per_exchange() {
        let status = json!([
            {"upstream": "u", "exchange": "x", "status": "running"},
            {"upstream": "u", "exchange": "y", "status": "error", "error": "econnrefused"}
        ]);
        let notes = link_notes(Component::FederationUpstream, "u@v", "u", &status);
        assert_eq!(
            notes,
            vec![
                "federation upstream u@v (link of x): running",
                "federation upstream u@v (link of y): error: econnrefused"
            ]
        );
    }
}
