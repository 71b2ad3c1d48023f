//! A service's broker user (`services[].user`) and whether its permissions cover what the
//! service's transports do.
//!
//! Render targets hand each service only its own user's credentials, never the admin's.
//! That is only safe to deploy when the user can do what the clients will do at start: a
//! permission gap would otherwise show up as an `ACCESS_REFUSED` in production logs, so it
//! is reported here, at the pattern that refuses it.
//!
//! What the clients do (as the NestJS RMQ transport and aio-pika do it, tried on the real
//! broker for topologies/dev.yaml):
//! - the callee consumes its queue (read) and, when clients assert queues, declares it
//!   (configure); with the rpc pattern it publishes replies through the default exchange,
//!   which RabbitMQ checks as write on `amq.default`;
//! - the caller publishes to the queue through the default exchange (write on
//!   `amq.default`) and, when clients assert queues, declares it (configure).

use std::collections::BTreeSet;

use crate::diag::{Code, Diagnostic};
use crate::source::node::Node;
use crate::topology::model::{Pattern, Topology, TransportKind};

/// The resource RabbitMQ checks for a publish to the default exchange.
const DEFAULT_EXCHANGE: &str = "amq.default";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Access {
    Configure,
    Write,
    Read,
}

impl Access {
    fn field(self) -> &'static str {
        match self {
            Access::Configure => "configure",
            Access::Write => "write",
            Access::Read => "read",
        }
    }
}

/// What one service needs: (access, resource, why), in transport order, each once.
fn needs(topo: &Topology, service: &str) -> Vec<(Access, String, String)> {
    let mut out: Vec<(Access, String, String)> = Vec::new();
    let mut push = |a: Access, r: &str, why: String| {
        if !out.iter().any(|(x, y, _)| *x == a && y == r) {
            out.push((a, r.to_string(), why));
        }
    };
    for t in topo
        .transports
        .iter()
        .filter(|t| t.kind == TransportKind::Rmq)
    {
        let Some(queue) = t.queue.as_deref() else {
            continue;
        };
        let asserts = t.assert_queue.unwrap_or(true);
        if t.to == service {
            push(Access::Read, queue, format!("it consumes `{queue}`"));
            if asserts {
                push(
                    Access::Configure,
                    queue,
                    format!("its client declares `{queue}` on start"),
                );
            }
            if t.pattern.unwrap_or(Pattern::Rpc) == Pattern::Rpc {
                push(
                    Access::Write,
                    DEFAULT_EXCHANGE,
                    format!("it replies to rpc calls on `{queue}` through the default exchange"),
                );
            }
        }
        if t.from == service {
            push(
                Access::Write,
                DEFAULT_EXCHANGE,
                format!("it sends to `{queue}` through the default exchange"),
            );
            if asserts {
                push(
                    Access::Configure,
                    queue,
                    format!("its client declares `{queue}` on start"),
                );
            }
        }
    }
    out
}

/// Whether RabbitMQ's permission regex `pattern` grants `resource`. RabbitMQ searches
/// (not anchors) the pattern in the name, as `Regex::is_match` does.
fn grants(pattern: &str, resource: &str) -> Option<bool> {
    regex::Regex::new(pattern)
        .ok()
        .map(|r| r.is_match(resource))
}

pub fn check(topo: &Topology, tree: &Node) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let users: BTreeSet<&str> = topo.users.iter().map(|u| u.name.as_str()).collect();
    let vhost = topo.vhost.as_deref().unwrap_or("/");
    for (i, s) in topo.services.iter().enumerate() {
        let needs = needs(topo, &s.name);
        // A service without a user gets no broker credentials from renders (never the
        // admin's); nothing to check.
        let Some(user) = s.user.as_deref() else {
            continue;
        };
        let at = format!("/services/{i}/user");
        let Some(u) = topo.users.iter().find(|u| u.name == user) else {
            let hint =
                crate::diag::did_you_mean(user, users.iter().copied()).unwrap_or_else(|| {
                    format!("declare `{{name: {user}, password_env: ...}}` under `users`")
                });
            out.push(
                Diagnostic::error(
                    Code::ServiceUser,
                    format!("service `{}` connects as undeclared user `{user}`", s.name),
                )
                .at(tree.locate(&at))
                .path(at)
                .hint(hint),
            );
            continue;
        };
        if u.password_env.is_none() {
            out.push(
                Diagnostic::error(
                    Code::ServiceUser,
                    format!(
                        "service `{}` connects as `{user}`, whose password renders cannot pass on (no `password_env`)",
                        s.name
                    ),
                )
                .at(tree.locate(&at))
                .path(at.clone())
                .hint(format!(
                    "give user `{user}` a `password_env`: the variable is the service's password at deploy time"
                )),
            );
        }
        let permission = topo
            .permissions
            .iter()
            .enumerate()
            .find(|(_, p)| p.user == user && p.vhost.as_deref().unwrap_or(vhost) == vhost);
        let Some((pi, p)) = permission else {
            if !needs.is_empty() {
                out.push(
                    Diagnostic::error(
                        Code::ServiceUser,
                        format!(
                            "service `{}` connects as `{user}`, who has no permissions in vhost `{vhost}`",
                            s.name
                        ),
                    )
                    .at(tree.locate(&at))
                    .path(at)
                    .hint(format!(
                        "add `{{user: {user}, configure: ..., write: ..., read: ...}}` under `permissions`"
                    )),
                );
            }
            continue;
        };
        for (access, resource, why) in needs {
            let pattern = match access {
                Access::Configure => &p.configure,
                Access::Write => &p.write,
                Access::Read => &p.read,
            };
            if grants(pattern, &resource) == Some(false) {
                let field = access.field();
                let pointer = format!("/permissions/{pi}/{field}");
                out.push(
                    Diagnostic::error(
                        Code::ServiceUser,
                        format!(
                            "user `{user}` of service `{}` may not {field} `{resource}`, which it needs: {why}",
                            s.name
                        ),
                    )
                    .at(tree.locate(&pointer))
                    .path(pointer)
                    .label(tree.locate(&at), "the service connects as this user")
                    .hint(format!(
                        "widen the {field} pattern to match `{resource}`, e.g. `^{}$`",
                        regex::escape(&resource)
                    )),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diags(yaml: &str) -> Vec<Diagnostic> {
        let node = crate::source::yaml::parse(yaml, crate::source::FileId(0)).unwrap();
        let topo: Topology = serde::Deserialize::deserialize(&node.to_json()).unwrap();
        check(&topo, &node)
    }

    const BASE: &str = "version: 1
queues: [{name: q}]
users: [{name: w, password_env: W_PW}, {name: c, password_env: C_PW}]
services:
  - {name: caller, image: c, user: c}
  - {name: worker, image: w, user: w}
transports:
  - {from: caller, to: worker, kind: rmq, queue: q}
";

    #[test]
    fn exact_permissions_pass() {
        let yaml = format!(
            "{BASE}permissions:\n  - {{user: w, configure: '^q$', write: '^amq\\.default$', read: '^q$'}}\n  - {{user: c, configure: '^q$', write: '^amq\\.default$', read: '^$'}}\n"
        );
        let d = diags(&yaml);
        assert!(
            d.is_empty(),
            "{:?}",
            d.iter().map(|d| &d.message).collect::<Vec<_>>()
        );
    }

    #[test]
    fn each_missing_grant_is_located_at_its_pattern() {
        let yaml = format!(
            "{BASE}permissions:\n  - {{user: w, configure: '^q$', write: '^$', read: '^other$'}}\n  - {{user: c, configure: '^$', write: '^amq\\.default$', read: '^$'}}\n"
        );
        let d = diags(&yaml);
        let paths: Vec<&str> = d.iter().filter_map(|d| d.path.as_deref()).collect();
        assert_eq!(
            paths,
            [
                "/permissions/1/configure",
                "/permissions/0/read",
                "/permissions/0/write"
            ],
            "{:?}",
            d.iter().map(|d| &d.message).collect::<Vec<_>>()
        );
        assert!(d.iter().all(|d| d.is_error()));
    }

    #[test]
    fn event_callee_needs_no_reply_write_and_no_assert_no_configure() {
        let yaml = BASE.replace(
            "queue: q}",
            "queue: q, pattern: event, assert_queue: false}",
        ) + "permissions:\n  - {user: w, configure: '^$', write: '^$', read: '^q$'}\n  - {user: c, configure: '^$', write: '^amq\\.default$', read: '^$'}\n";
        assert!(diags(&yaml).is_empty());
    }

    #[test]
    fn undeclared_user_no_password_env_no_permissions() {
        let yaml = BASE
            .replace("user: c}", "user: cc}")
            .replace("{name: w, password_env: W_PW}", "{name: w}");
        let d = diags(&yaml);
        let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert!(msgs[0].contains("undeclared user `cc`"), "{msgs:?}");
        assert!(msgs[1].contains("no `password_env`"), "{msgs:?}");
        assert!(msgs[2].contains("no permissions"), "{msgs:?}");
    }

    #[test]
    fn a_service_without_user_is_not_checked() {
        let d = diags(&BASE.replace(", user: c}", "}").replace(", user: w}", "}"));
        assert!(d.is_empty());
    }
}
