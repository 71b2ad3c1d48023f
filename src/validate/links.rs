//! Shovels and federation upstreams: where each end's URI comes from (a variable, or a
//! URI without a password), what each end names, the plugins the file says the broker
//! runs, and the upstreams federation policies name.

use std::collections::BTreeSet;

use crate::diag::{Code, Diagnostic, closest, did_you_mean};
use crate::source::node::Node;
use crate::state::DEFAULT_VHOST;
use crate::topology::model::{ShovelEnd, Topology, Uris};
use crate::topology::plugins;

/// Every problem of the file's shovels, upstreams and federation policies.
pub fn check(topo: &Topology, tree: &Node) -> Vec<Diagnostic> {
    let mut r = Report {
        tree,
        out: Vec::new(),
    };
    for (i, s) in topo.shovels.iter().enumerate() {
        for (field, end) in [("source", &s.source), ("destination", &s.destination)] {
            let at = format!("/shovels/{i}/{field}");
            uri_source(&mut r, &at, &end.uri, &end.uri_env);
            shovel_end(&mut r, &at, field, &s.name, end);
        }
    }
    for (i, u) in topo.federation_upstreams.iter().enumerate() {
        if u.uri.is_none() && u.uri_env.is_none() {
            r.push(
                Diagnostic::error(
                    Code::LinkUri,
                    format!("federation upstream `{}` has no URI", u.name),
                ),
                format!("/federation_upstreams/{i}"),
                "add `uri_env: VAR` (a URI with credentials) or `uri: amqp:///vhost`",
            );
        }
        uri_source(
            &mut r,
            &format!("/federation_upstreams/{i}"),
            &u.uri,
            &u.uri_env,
        );
    }
    plugins(&mut r, topo);
    federation_policies(&mut r, topo);
    r.out
}

struct Report<'a> {
    tree: &'a Node,
    out: Vec<Diagnostic>,
}

impl Report<'_> {
    fn push(&mut self, d: Diagnostic, pointer: String, hint: impl Into<String>) {
        let span = self.tree.locate(&pointer);
        let mut d = d.at(span).path(pointer).hint(hint);
        d.sensitive = d.code == Code::LiteralSecret;
        self.out.push(d);
    }
}

/// `uri_env` names a variable; `uri` carries no password and is an AMQP URI. Exactly one
/// of them, or neither (then the end is this broker: `amqp://`). Either may be a list (one
/// URI or variable per item), not an empty one.
fn uri_source(r: &mut Report, at: &str, uri: &Option<Uris>, uri_env: &Option<Uris>) {
    for (field, list) in [("uri", uri), ("uri_env", uri_env)] {
        if list.as_ref().is_some_and(|l| l.items().is_empty()) {
            r.push(
                Diagnostic::error(Code::LinkUri, format!("`{field}` is an empty list")),
                format!("{at}/{field}"),
                "give at least one URI (or variable), or leave the key out",
            );
        }
    }
    if let Some(vars) = uri_env {
        for (pointer, var) in vars.located(&format!("{at}/uri_env")) {
            if !crate::topology::names::is_env_name(var) {
                r.push(
                    Diagnostic::error(
                        Code::LiteralSecret,
                        "`uri_env` must name an environment variable, not hold a URI",
                    ),
                    pointer,
                    "write the name of the variable (letters, digits, `_`) that holds the URI \
                     at plan/apply time",
                );
            }
        }
        if uri.is_some() {
            r.push(
                Diagnostic::error(Code::ConflictingFields, "both `uri` and `uri_env` are set"),
                format!("{at}/uri"),
                "keep one: `uri_env` when the URI carries credentials, `uri` otherwise",
            );
        }
        return;
    }
    let Some(uris) = uri else { return };
    for (pointer, uri) in uris.located(&format!("{at}/uri")) {
        literal_uri(r, pointer, uri);
    }
}

/// One literal `uri`: an AMQP URI without a password.
fn literal_uri(r: &mut Report, pointer: String, uri: &str) {
    match url::Url::parse(uri) {
        Ok(u) if u.password().is_some_and(|p| !p.is_empty()) => r.push(
            Diagnostic::error(Code::LiteralSecret, "`uri` contains a password"),
            pointer,
            "passwords never go in the file: put the whole URI in an environment variable and \
             name it with `uri_env`",
        ),
        Ok(u) if u.username() == "***" || u.username() == "%2A%2A%2A" => r.push(
            Diagnostic::error(
                Code::LiteralSecret,
                "`uri` has its credentials left out (`***`, as topo export writes them)",
            ),
            pointer,
            "put the URI with its credentials in an environment variable and name it with \
             `uri_env`",
        ),
        Ok(u) if u.scheme() == "amqp" || u.scheme() == "amqps" => {}
        Ok(u) => r.push(
            Diagnostic::error(
                Code::LinkUri,
                format!("`{}://` is not an AMQP URI", u.scheme()),
            ),
            pointer,
            "write `amqp://host:5672/vhost` or `amqps://...` (`amqp:///vhost` is a vhost of this broker)",
        ),
        Err(e) => r.push(
            Diagnostic::error(Code::LinkUri, format!("`uri` is not a URI: {e}")),
            pointer,
            "write `amqp://host:5672/vhost` or `amqps://...` (`amqp:///vhost` is a vhost of this broker)",
        ),
    }
}

/// A source consumes from exactly one of a queue and an exchange; a destination publishes
/// to at most one; a routing key goes with an exchange.
fn shovel_end(r: &mut Report, at: &str, field: &str, shovel: &str, end: &ShovelEnd) {
    let before = r.out.len();
    match (&end.queue, &end.exchange) {
        (Some(_), Some(_)) => r.push(
            Diagnostic::error(
                Code::ShovelEnd,
                format!("the {field} of shovel `{shovel}` names both a queue and an exchange"),
            ),
            format!("{at}/exchange"),
            "keep one: a shovel end is a queue or an exchange",
        ),
        (None, None) if field == "source" => r.push(
            Diagnostic::error(
                Code::ShovelEnd,
                format!("the source of shovel `{shovel}` names no queue and no exchange"),
            ),
            at.to_string(),
            "add `queue: NAME` (consume from it) or `exchange: NAME` with `routing_key`",
        ),
        _ => {}
    }
    if end.routing_key.is_some() && end.exchange.is_none() {
        r.push(
            Diagnostic::error(
                Code::ShovelEnd,
                format!("the {field} of shovel `{shovel}` has a routing key but no exchange"),
            ),
            format!("{at}/routing_key"),
            "a routing key goes with `exchange`; to publish to a queue, `queue` is enough",
        );
    }
    // The end's line may hold a literal URI with a password (TOPO025 says so): these point
    // there too, so they show where, never the line.
    if end
        .uri
        .as_ref()
        .is_some_and(|u| u.items().iter().any(|u| u.contains('@')))
    {
        for d in &mut r.out[before..] {
            d.sensitive = true;
        }
    }
}

/// Shovels need `rabbitmq_shovel`, upstreams `rabbitmq_federation`: a file that uses one
/// and does not list it under `broker.plugins` gets a warning (plan then checks the live
/// broker).
fn plugins(r: &mut Report, topo: &Topology) {
    let named: BTreeSet<&str> = topo
        .broker
        .as_ref()
        .and_then(|b| b.plugins.as_ref())
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let uses = [
        ("shovels", !topo.shovels.is_empty(), "rabbitmq_shovel"),
        (
            "federation_upstreams",
            !topo.federation_upstreams.is_empty(),
            "rabbitmq_federation",
        ),
    ];
    unknown_plugins(r, topo);
    for (list, used, plugin) in uses {
        if used && !named.contains(plugin) {
            let hint = did_you_mean(plugin, named.iter().copied()).unwrap_or_else(|| {
                format!(
                    "add `{plugin}` to `broker.plugins` (and enable it on the broker: \
                     `rabbitmq-plugins enable {plugin} {plugin}_management`)"
                )
            });
            // At the list's key: an entry's line can hold a literal URI.
            let pointer = format!("/{list}");
            let span = r.tree.locate_key(&pointer);
            r.out.push(
                Diagnostic::warning(
                    Code::PluginNotNamed,
                    format!(
                        "`{list}` need plugin `{plugin}`, which `broker.plugins` does not list"
                    ),
                )
                .at(span)
                .path(pointer)
                .hint(hint),
            );
        }
    }
}

/// A `broker.plugins` name the official image does not ship: renders write it into the
/// broker's enabled plugins file, and a broker that lacks it starts without it (logging only
/// "enabled plugins were not found"), so a typo would go unnoticed until a shovel does not
/// move. A warning, not an error: a custom `broker.image` may carry other plugins.
fn unknown_plugins(r: &mut Report, topo: &Topology) {
    const PREFIX: &str = "rabbitmq_";
    let named = topo.broker.as_ref().and_then(|b| b.plugins.as_ref());
    for (i, name) in named.into_iter().flatten().enumerate() {
        if plugins::is_shipped(name) {
            continue;
        }
        // Compared without the prefix every shipped name has: with it, any two names look
        // alike (`rabbitmq_delayed_message_exchange` and `rabbitmq_random_exchange`).
        let bare = |n: &'static str| n.strip_prefix(PREFIX).unwrap_or(n);
        let hint = closest(
            name.strip_prefix(PREFIX).unwrap_or(name),
            plugins::SHIPPED_PLUGINS.iter().map(|n| bare(n)),
        )
        .map_or_else(
            || {
                "the official RabbitMQ image ships no plugin of this name: check the spelling \
                 (`rabbitmq-plugins list`), or keep it if `broker.image` carries it"
                    .to_string()
            },
            |c| format!("did you mean `{PREFIX}{c}`?"),
        );
        let pointer = format!("/broker/plugins/{i}");
        let span = r.tree.locate(&pointer);
        r.out.push(
            Diagnostic::warning(
                Code::UnknownPlugin,
                format!("plugin `{name}` is not one the official RabbitMQ image ships"),
            )
            .at(span)
            .path(pointer)
            .hint(hint),
        );
    }
}

/// A policy's `federation-upstream` names an upstream of its vhost; a
/// `federation-upstream-set` other than `all` names a set, which topo does not manage.
fn federation_policies(r: &mut Report, topo: &Topology) {
    let default_vhost = topo.vhost.as_deref().unwrap_or(DEFAULT_VHOST);
    let vh = |v: &Option<String>| v.as_deref().unwrap_or(default_vhost).to_string();
    for (i, p) in topo.policies.iter().enumerate() {
        let vhost = vh(&p.vhost);
        let here: Vec<&str> = topo
            .federation_upstreams
            .iter()
            .filter(|u| vh(&u.vhost) == vhost)
            .map(|u| u.name.as_str())
            .collect();
        if let Some(v) = p.definition.get("federation-upstream") {
            let name = v.as_str().unwrap_or_default();
            if !here.contains(&name) {
                let hint = did_you_mean(name, here.iter().copied()).unwrap_or_else(|| {
                    format!("declare `{name}` under `federation_upstreams` in vhost `{vhost}`")
                });
                r.push(
                    Diagnostic::error(
                        Code::UndeclaredUpstream,
                        format!(
                            "policy `{}` federates from upstream `{name}`, not declared in \
                             vhost `{vhost}`",
                            p.name
                        ),
                    ),
                    format!("/policies/{i}/definition/federation-upstream"),
                    hint,
                );
            }
        }
        if let Some(v) = p.definition.get("federation-upstream-set") {
            let set = v.as_str().unwrap_or_default();
            if set != "all" {
                r.push(
                    Diagnostic::warning(
                        Code::UndeclaredUpstream,
                        format!(
                            "policy `{}` names upstream set `{set}`, which topo does not manage",
                            p.name
                        ),
                    ),
                    format!("/policies/{i}/definition/federation-upstream-set"),
                    "use `all` (every upstream of the vhost) or `federation-upstream: NAME`, or \
                     make sure the set exists on the broker",
                );
            } else if here.is_empty() {
                r.push(
                    Diagnostic::error(
                        Code::UndeclaredUpstream,
                        format!(
                            "policy `{}` federates from every upstream of vhost `{vhost}`, \
                             which has none",
                            p.name
                        ),
                    ),
                    format!("/policies/{i}/definition/federation-upstream-set"),
                    format!("declare one under `federation_upstreams` in vhost `{vhost}`"),
                );
            }
        }
    }
}
