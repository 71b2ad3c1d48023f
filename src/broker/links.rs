//! What the broker says about the file's shovels and federation upstreams beyond their
//! definitions: whether it runs the plugins they need, and how each link is doing.
//!
//! A broker without a plugin still lists its parameters (as empty), so reading alone cannot
//! tell; the plugins' management extensions answer `/api/shovels` and
//! `/api/federation-links`, and a broker without them answers 404 there.

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
///
/// One listing over every vhost per component: it answers whenever the plugin runs, where a
/// per-vhost listing also answers 404 for a vhost apply has yet to create.
pub async fn check(mgmt: &Management, desired: &State) -> anyhow::Result<Vec<String>> {
    let mut notes = Vec::new();
    for c in Component::ALL {
        let mut links = desired.links.keys().filter(|k| k.component == c).peekable();
        if links.peek().is_none() {
            continue;
        }
        let what = format!("reading the {} status of the broker", c.label());
        let Some(status) = mgmt
            .get_opt(&[status_path(c)], &what)
            .await
            .map_err(super::http::HttpError::into_user_error)?
        else {
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
        for k in links {
            notes.extend(link_notes(c, &k.to_string(), &k.vhost, &k.name, &status));
        }
    }
    Ok(notes)
}

/// The status lines of one shovel (by `vhost` and `name`) or of the links of one upstream.
fn link_notes(c: Component, shown: &str, vhost: &str, name: &str, status: &Value) -> Vec<String> {
    let entries = status.as_array().into_iter().flatten();
    let field = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(String::from);
    let mut out = Vec::new();
    for e in entries {
        let key = match c {
            Component::Shovel => "name",
            Component::FederationUpstream => "upstream",
        };
        if field(e, key).as_deref() != Some(name) || field(e, "vhost").as_deref() != Some(vhost) {
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
        let notes = link_notes(Component::Shovel, "s@v", "v", "s", &status);
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
            {"upstream": "u", "vhost": "v", "exchange": "x", "status": "running"},
            {"upstream": "u", "vhost": "v", "exchange": "y", "status": "error", "error": "econnrefused"},
            {"upstream": "u", "vhost": "elsewhere", "exchange": "x", "status": "running"}
        ]);
        let notes = link_notes(Component::FederationUpstream, "u@v", "v", "u", &status);
        assert_eq!(
            notes,
            vec![
                "federation upstream u@v (link of x): running",
                "federation upstream u@v (link of y): error: econnrefused"
            ]
        );
    }
}
