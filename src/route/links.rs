//! Following a message off its vhost: through a shovel whose source it reached, or to the
//! exchanges that federate from one it passed. Offline, from the file: an end is followed
//! when it is on this broker (a URI without a host, `amqp:///vhost`, or no URI at all); an end
//! elsewhere (another host, or a URI from a `uri_env` variable, which the file does not hold)
//! is named, not followed.
//!
//! What it assumes of the plugins: a shovel that consumes from an exchange binds its queue
//! with `src-exchange-key` (default `#`), matched as the exchange type matches (headers
//! exchanges are not followed); a shovel that publishes to neither a queue nor an exchange
//! republishes to the exchange the message came through, with its routing key; a federated
//! exchange receives what its upstream exchange routes with a key its own bindings match
//! (the link binds the upstream with them), up to the upstream's `max-hops`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::{Message, Numbers, Routed, route, topic_matches};
use crate::state::State;
use crate::state::links::{Component, LinkState};
use crate::topology::model::ExchangeKind;

/// One step off the vhost: what carried the message, where to, and what it reached there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// `shovel move@orders`, `federation upstream origin@downstream`.
    pub through: String,
    /// The vhost it arrives in (on this broker), or `None` when it leaves the broker.
    pub vhost: Option<String>,
    /// Queues it reaches there, sorted.
    pub queues: Vec<String>,
    /// Where it goes when it leaves this broker: the URI as plan shows it, or its variable.
    pub elsewhere: Option<String>,
}

/// How deep to follow links into links (a shovel into a federated exchange, ...).
const MAX_DEPTH: usize = 4;

/// The hops a message routed in `vhost` (published to `exchange`) takes across shovels and
/// federation links, followed on this broker up to [`MAX_DEPTH`] links deep.
pub fn across(
    state: &State,
    vhost: &str,
    exchange: &str,
    msg: &Message,
    routed: &Routed,
    numbers: Numbers,
) -> Vec<Hop> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    follow(
        state, numbers, vhost, exchange, msg, routed, 0, &mut seen, &mut out,
    );
    out
}

/// Where a hop arrives and what it routes to there: the vhost, the exchange, the message
/// as it arrives (a shovel may change its routing key), and where it went.
type Next = (String, String, Message, Routed);

/// Where a URI value points: `Ok(vhost)` on this broker, else `Err` with how to show it.
fn local_vhost(uri: Option<&Value>) -> Result<String, String> {
    let text = match uri {
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).unwrap_or_default(),
        Some(v) => v.as_str().unwrap_or_default(),
        None => "",
    };
    match url::Url::parse(text) {
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            let path = u.path().trim_start_matches('/');
            let vhost = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
            Ok(if vhost.is_empty() {
                "/".to_string()
            } else {
                vhost.into_owned()
            })
        }
        _ => Err(text.replace("*** (from $", "$").replace(')', "")),
    }
}

fn text<'a>(l: &'a LinkState, key: &str) -> Option<&'a str> {
    l.value.get(key).and_then(Value::as_str)
}

// The walk's state travels as arguments: a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn follow(
    state: &State,
    numbers: Numbers,
    vhost: &str,
    exchange: &str,
    msg: &Message,
    routed: &Routed,
    depth: usize,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<Hop>,
) {
    if depth >= MAX_DEPTH {
        return;
    }
    // Each arrival: the hop, and how to route on from there.
    let mut arrivals: Vec<(Hop, Option<Next>)> = Vec::new();
    for (k, l) in &state.links {
        let through = format!("{} {k}", k.component.label());
        if seen.contains(&through) {
            continue;
        }
        match k.component {
            Component::Shovel => {
                if local_vhost(l.value.get("src-uri")).as_deref() != Ok(vhost) {
                    continue;
                }
                if !takes(state, vhost, l, msg, routed) {
                    continue;
                }
                seen.insert(through.clone());
                arrivals.push(shovel_arrival(state, l, exchange, msg, numbers, through));
            }
            Component::FederationUpstream => {
                if local_vhost(l.value.get("uri")).as_deref() != Ok(vhost) {
                    continue;
                }
                for downstream in federated(state, &k.vhost, &k.name) {
                    let upstream = text(l, "exchange").unwrap_or(&downstream).to_string();
                    if !routed.exchanges.contains(&upstream) {
                        continue;
                    }
                    let Ok(r) = route(state, &k.vhost, &downstream, msg, numbers) else {
                        continue;
                    };
                    // The link binds the upstream exchange with the downstream's own keys:
                    // a message none of them matches does not cross.
                    if r.exchanges.len() <= 1 && r.queues.is_empty() {
                        continue;
                    }
                    seen.insert(through.clone());
                    let hop = Hop {
                        through: format!("{through} (exchange {downstream})"),
                        vhost: Some(k.vhost.clone()),
                        queues: r.queues.clone(),
                        elsewhere: None,
                    };
                    arrivals.push((hop, Some((k.vhost.clone(), downstream, msg.clone(), r))));
                }
            }
        }
    }
    for (hop, next) in arrivals {
        out.push(hop);
        if let Some((vh, x, m, r)) = next {
            follow(state, numbers, &vh, &x, &m, &r, depth + 1, seen, out);
        }
    }
}

/// Whether a shovel consumes the message: its source queue got it, or its source exchange
/// routed it with a key the shovel's binding matches.
fn takes(state: &State, vhost: &str, l: &LinkState, msg: &Message, routed: &Routed) -> bool {
    if let Some(q) = text(l, "src-queue") {
        return routed.queues.iter().any(|r| r == q);
    }
    let Some(x) = text(l, "src-exchange") else {
        return false;
    };
    if !routed.exchanges.iter().any(|r| r == x) {
        return false;
    }
    let key = text(l, "src-exchange-key").unwrap_or("#");
    let kind = state
        .exchanges
        .get(&crate::state::EntityKey::new(vhost, x))
        .map(|e| e.kind.clone())
        .or_else(|| crate::state::builtin_exchange_kind(x).cloned());
    match kind {
        Some(ExchangeKind::Fanout) => true,
        Some(ExchangeKind::Direct) => key == msg.routing_key,
        Some(ExchangeKind::Topic) => topic_matches(key, &msg.routing_key),
        _ => false,
    }
}

/// Where a shovel delivers a message it took.
fn shovel_arrival(
    state: &State,
    l: &LinkState,
    exchange: &str,
    msg: &Message,
    numbers: Numbers,
    through: String,
) -> (Hop, Option<Next>) {
    let dest = match local_vhost(l.value.get("dest-uri")) {
        Ok(v) => v,
        Err(shown) => {
            let hop = Hop {
                through,
                vhost: None,
                queues: Vec::new(),
                elsewhere: Some(shown),
            };
            return (hop, None);
        }
    };
    if let Some(q) = text(l, "dest-queue") {
        let exists = state
            .queues
            .contains_key(&crate::state::EntityKey::new(dest.as_str(), q));
        let hop = Hop {
            through,
            vhost: Some(dest),
            queues: if exists {
                vec![q.to_string()]
            } else {
                Vec::new()
            },
            elsewhere: None,
        };
        return (hop, None);
    }
    let (x, m) = match text(l, "dest-exchange") {
        Some(x) => {
            let mut m = msg.clone();
            if let Some(k) = text(l, "dest-exchange-key") {
                m.routing_key = k.to_string();
            }
            (x.to_string(), m)
        }
        None => (exchange.to_string(), msg.clone()),
    };
    let routed = route(state, &dest, &x, &m, numbers).unwrap_or(Routed {
        queues: Vec::new(),
        exchanges: Vec::new(),
    });
    let hop = Hop {
        through,
        vhost: Some(dest.clone()),
        queues: routed.queues.clone(),
        elsewhere: None,
    };
    (hop, Some((dest, x, m, routed)))
}

/// The exchanges of `vhost` that federate from upstream `name`: matched by the pattern of
/// the highest-priority policy for exchanges that names it (or every upstream).
fn federated(state: &State, vhost: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for x in state.exchanges.keys().filter(|x| x.vhost == vhost) {
        let Some(def) = super::effective_policy(state, vhost, &x.name) else {
            continue;
        };
        let named = def.get("federation-upstream").and_then(Value::as_str) == Some(name);
        let all = def.get("federation-upstream-set").and_then(Value::as_str) == Some("all");
        if named || all {
            out.push(x.name.clone());
        }
    }
    out
}
