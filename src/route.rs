//! Offline routing: which queues a published message reaches, decided the way RabbitMQ
//! decides it, from a [`State`] alone (the rules of 3.10 and of 3.13 and later differ in one
//! place, numbers in headers bindings: [`Numbers`]).
//!
//! This module mirrors the broker's own routing (`rabbit_exchange:route/2` and the exchange
//! type modules) rather than a textbook description of it, because reviewers use it to
//! answer "will this binding change lose messages?" and a near miss is worse than no answer.
//! The quirks it keeps on purpose, each checked against a real broker by
//! `tests/route_broker.rs`:
//!
//! - topic keys split on `.`; the empty key is zero words (so `*` does not match it, `#`
//!   does), and `a..b` has an empty middle word that `*` matches;
//! - headers bindings: `x-match` defaults to `all`; `all`/`any` ignore binding arguments that
//!   start with `x-`, `all-with-x`/`any-with-x` do not (but never `x-match` itself); a binding
//!   argument of JSON `null` (AMQP void) matches on presence; values compare by type
//!   (string `"1"` never equals integer `1`); an integer and a float are equal when their
//!   values are on 3.12 and older, never on 3.13 and later ([`Numbers`]);
//! - the alternate exchange of an exchange is tried only when that exchange's own bindings
//!   matched nothing (not when its destinations did), from the `alternate-exchange` argument
//!   or else the highest-priority policy that sets it;
//! - exchange-to-exchange bindings are followed to any depth, each exchange visited once, each
//!   queue counted once; destinations that do not exist are skipped;
//! - the default exchange (`""`) routes to the queue named by the routing key;
//! - `CC` and `BCC` headers (arrays of strings) add routing keys; `BCC` is removed from the
//!   headers before headers exchanges see them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;
use serde_json::Value;

use crate::state::effective::Matcher;
use crate::state::{
    BUILTIN_EXCHANGES, BindingKey, EntityKey, ExchangeState, State, builtin_exchange_kind,
};
use crate::topology::model::{DestinationType, ExchangeKind};

pub mod links;

/// How a headers exchange compares a number in a binding with a number in a message: the
/// one routing rule that differs between the broker versions topo meets.
///
/// RabbitMQ 3.12 and older compare with Erlang's `==` (`1 == 1.0`); 3.13 rewrote the
/// headers exchange over its message containers and compares with `=:=`, so an integer
/// never equals a float there, while integers of any width still equal each other (a
/// publisher's 32-bit `1` matches a binding's 64-bit `1`). Seen on the real brokers by
/// `tests/route_broker.rs`: 3.10.8 routes a float header `1.0` to a binding `1`, 4.3.6 does
/// not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// 3.12 and older: integers and floats compare by value.
    ByValue,
    /// 3.13 and later: an integer equals only an integer, a float only a float.
    ByType,
}

impl Numbers {
    /// The rule of a RabbitMQ version (`3.10.8`, `4.3`, `4`); `None` when `version` does not
    /// start with a number.
    pub fn of_version(version: &str) -> Option<Numbers> {
        let mut parts = version.trim().split(['.', '-', '+']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(if (major, minor) >= (3, 13) {
            Numbers::ByType
        } else {
            Numbers::ByValue
        })
    }

    /// The rule of the broker a container image runs (`rabbitmq:3.13-management`,
    /// `registry/rabbitmq:4.3.6`); `None` when its tag names no version (`latest`, a digest).
    pub fn of_image(image: &str) -> Option<Numbers> {
        let last = image.rsplit('/').next().unwrap_or(image);
        let (_, tag) = last.split_once(':')?;
        Numbers::of_version(tag)
    }
}

/// A message as a publisher sends it.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub routing_key: String,
    /// Header values as JSON: strings, numbers, booleans, `null` (void), arrays, objects.
    pub headers: BTreeMap<String, Value>,
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routed {
    /// Queue names (all in the vhost published to), sorted, each once.
    pub queues: Vec<String>,
    /// Exchanges the message passed through (the exchange published to first, then
    /// breadth-first), for explaining a route.
    pub exchanges: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no exchange `{name}` in vhost `{vhost}`")]
    UnknownExchange {
        vhost: String,
        name: String,
        suggestion: Option<String>,
    },
    #[error("exchange `{0}` is internal: publishers cannot publish to it directly")]
    Internal(String),
    #[error(
        "exchange `{exchange}` has plugin type `{kind}`, whose routing topo cannot predict offline"
    )]
    PluginType { exchange: String, kind: String },
    #[error("header `{0}` must be an array of strings (the broker rejects the message otherwise)")]
    BadRoutingHeader(String),
}

impl RouteError {
    /// Advice shown under the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            RouteError::UnknownExchange {
                name, suggestion, ..
            } => {
                if name == "amq.default" {
                    Some("the default exchange is `\"\"` (publish with `--exchange ''`)".into())
                } else {
                    suggestion.clone()
                }
            }
            RouteError::Internal(_) => Some(
                "publish to an exchange bound to it instead; the broker closes the channel with \
                 ACCESS_REFUSED"
                    .into(),
            ),
            RouteError::PluginType { .. } => None,
            RouteError::BadRoutingHeader(_) => {
                Some("give it as JSON, e.g. --header 'CC:=[\"key.a\",\"key.b\"]'".into())
            }
        }
    }
}

/// The routing keys a message carries: its own and those of `CC` and `BCC`.
fn routing_keys(msg: &Message) -> Result<Vec<String>, RouteError> {
    let mut keys = vec![msg.routing_key.clone()];
    for header in ["CC", "BCC"] {
        match msg.headers.get(header) {
            None => {}
            Some(Value::Array(items)) => {
                // The broker keeps only the string elements.
                keys.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
            Some(_) => return Err(RouteError::BadRoutingHeader(header.into())),
        }
    }
    Ok(keys)
}

/// Builtin exchanges as state, so routing treats them like declared ones.
fn builtin(name: &str) -> Option<ExchangeState> {
    builtin_exchange_kind(name).map(|kind| ExchangeState {
        kind: kind.clone(),
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: BTreeMap::new(),
    })
}

/// The queues a message published to `exchange` in `vhost` reaches.
pub fn route(
    state: &State,
    vhost: &str,
    exchange: &str,
    msg: &Message,
    numbers: Numbers,
) -> Result<Routed, RouteError> {
    let keys = routing_keys(msg)?;
    if exchange.is_empty() {
        let queues: BTreeSet<String> = keys
            .iter()
            .filter(|k| {
                state
                    .queues
                    .contains_key(&EntityKey::new(vhost, k.as_str()))
            })
            .cloned()
            .collect();
        return Ok(Routed {
            queues: queues.into_iter().collect(),
            exchanges: vec![String::new()],
        });
    }
    let Some(first) = lookup(state, vhost, exchange) else {
        let names = exchange_names(state, vhost);
        return Err(RouteError::UnknownExchange {
            vhost: vhost.to_string(),
            name: exchange.to_string(),
            suggestion: crate::diag::did_you_mean(exchange, names.iter().map(String::as_str)),
        });
    };
    if first.internal {
        return Err(RouteError::Internal(exchange.to_string()));
    }

    let mut visible = msg.headers.clone();
    visible.remove("BCC");
    let by_source = bindings_by_source(state, vhost);

    let mut seen: BTreeSet<String> = BTreeSet::from([exchange.to_string()]);
    let mut work: VecDeque<(String, ExchangeState)> =
        VecDeque::from([(exchange.to_string(), first)]);
    let mut visited = Vec::new();
    let mut queues = BTreeSet::new();
    while let Some((name, x)) = work.pop_front() {
        visited.push(name.clone());
        let dests = match_bindings(
            &name,
            &x,
            by_source.get(name.as_str()),
            &keys,
            &visible,
            numbers,
        )?;
        let mut next: Vec<(DestinationType, String)> = Vec::new();
        if dests.is_empty()
            && let Some(ae) = alternate_exchange(state, vhost, &name, &x)
        {
            next.push((DestinationType::Exchange, ae));
        }
        next.extend(dests);
        for (kind, dest) in next {
            match kind {
                DestinationType::Queue => {
                    if state
                        .queues
                        .contains_key(&EntityKey::new(vhost, dest.as_str()))
                    {
                        queues.insert(dest);
                    }
                }
                DestinationType::Exchange => {
                    if seen.contains(&dest) {
                        continue;
                    }
                    seen.insert(dest.clone());
                    if let Some(dx) = lookup(state, vhost, &dest) {
                        work.push_back((dest, dx));
                    }
                }
            }
        }
    }
    Ok(Routed {
        queues: queues.into_iter().collect(),
        exchanges: visited,
    })
}

fn lookup(state: &State, vhost: &str, name: &str) -> Option<ExchangeState> {
    state
        .exchanges
        .get(&EntityKey::new(vhost, name))
        .cloned()
        .or_else(|| builtin(name))
}

/// Exchange names a user could have meant, for "did you mean".
pub fn exchange_names(state: &State, vhost: &str) -> Vec<String> {
    let mut names: Vec<String> = state
        .exchanges
        .keys()
        .filter(|k| k.vhost == vhost)
        .map(|k| k.name.clone())
        .collect();
    names.extend(BUILTIN_EXCHANGES.iter().map(|(n, _)| (*n).to_string()));
    names
}

fn bindings_by_source<'a>(state: &'a State, vhost: &str) -> BTreeMap<&'a str, Vec<&'a BindingKey>> {
    let mut map: BTreeMap<&str, Vec<&BindingKey>> = BTreeMap::new();
    for key in state.bindings.keys().filter(|k| k.vhost == vhost) {
        map.entry(key.source.as_str()).or_default().push(key);
    }
    map
}

/// The destinations of one exchange's own bindings that match the message.
fn match_bindings(
    name: &str,
    x: &ExchangeState,
    bindings: Option<&Vec<&BindingKey>>,
    keys: &[String],
    headers: &BTreeMap<String, Value>,
    numbers: Numbers,
) -> Result<Vec<(DestinationType, String)>, RouteError> {
    let bindings = bindings.map(Vec::as_slice).unwrap_or(&[]);
    let matches: Box<dyn Fn(&BindingKey) -> bool> = match &x.kind {
        ExchangeKind::Direct => Box::new(|b: &BindingKey| keys.contains(&b.routing_key)),
        ExchangeKind::Fanout => Box::new(|_: &BindingKey| true),
        ExchangeKind::Topic => {
            Box::new(|b: &BindingKey| keys.iter().any(|k| topic_matches(&b.routing_key, k)))
        }
        ExchangeKind::Headers => {
            Box::new(|b: &BindingKey| headers_match(b.arguments.map(), headers, numbers))
        }
        ExchangeKind::Plugin(other) => {
            return Err(RouteError::PluginType {
                exchange: name.to_string(),
                kind: other.to_string(),
            });
        }
    };
    Ok(bindings
        .iter()
        .filter(|b| matches(b))
        .map(|b| (b.destination_type, b.destination.clone()))
        .collect())
}

/// The alternate exchange: the exchange's argument, else the winning policy's.
fn alternate_exchange(state: &State, vhost: &str, name: &str, x: &ExchangeState) -> Option<String> {
    if let Some(v) = x.arguments.get("alternate-exchange") {
        return v.as_str().map(str::to_string);
    }
    effective_policy(state, vhost, name)?
        .get("alternate-exchange")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The definition of the policy that applies to exchange `name`: the winner by the rules
/// plan and graph use ([`Matcher::exchange_policy`]: priority, first by name on a tie,
/// patterns read as PCRE like the broker's).
fn effective_policy<'a>(
    state: &'a State,
    vhost: &str,
    name: &str,
) -> Option<&'a BTreeMap<String, Value>> {
    Matcher::new(state)
        .exchange_policy(&EntityKey::new(vhost, name))
        .map(|(_, p)| &p.definition)
}

/// RabbitMQ's words of a topic key: none for the empty key, else the `.`-separated parts
/// (empty ones included).
fn words(key: &str) -> Vec<&str> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split('.').collect()
    }
}

/// Whether a topic binding key matches a routing key (`*` one word, `#` zero or more).
pub fn topic_matches(binding: &str, routing_key: &str) -> bool {
    let b = words(binding);
    let k = words(routing_key);
    // can[i][j]: binding words i.. match key words j.. ; filled from the end.
    let mut can = vec![vec![false; k.len() + 1]; b.len() + 1];
    can[b.len()][k.len()] = true;
    for i in (0..b.len()).rev() {
        for j in (0..=k.len()).rev() {
            can[i][j] = match b[i] {
                "#" => can[i + 1][j] || (j < k.len() && can[i][j + 1]),
                "*" => j < k.len() && can[i + 1][j + 1],
                w => j < k.len() && k[j] == w && can[i + 1][j + 1],
            };
        }
    }
    can[0][0]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

/// Whether a headers binding's arguments match the message headers.
pub fn headers_match(
    args: &BTreeMap<String, Value>,
    headers: &BTreeMap<String, Value>,
    numbers: Numbers,
) -> bool {
    let kind = match args.get("x-match").and_then(Value::as_str) {
        Some("any") => MatchKind::Any,
        Some("all-with-x") => MatchKind::AllWithX,
        Some("any-with-x") => MatchKind::AnyWithX,
        // `all`, absent, or anything else (the broker's legacy default).
        _ => MatchKind::All,
    };
    let with_x = matches!(kind, MatchKind::AllWithX | MatchKind::AnyWithX);
    let mut results = args
        .iter()
        .filter(|(k, _)| *k != "x-match" && (with_x || !k.starts_with("x-")))
        .map(|(k, want)| match (want, headers.get(k)) {
            (_, None) => false,
            (Value::Null, Some(_)) => true,
            (want, Some(got)) => amqp_equal(want, got, numbers),
        });
    match kind {
        MatchKind::All | MatchKind::AllWithX => results.all(|r| r),
        MatchKind::Any | MatchKind::AnyWithX => results.any(|r| r),
    }
}

/// The broker's equality of AMQP field values: integers compare numerically whatever
/// their width, floats too, an integer with a float as `numbers` says, everything else only
/// with its own type.
fn amqp_equal(a: &Value, b: &Value, numbers: Numbers) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ if numbers == Numbers::ByType && x.is_f64() != y.is_f64() => false,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| amqp_equal(a, b, numbers))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| amqp_equal(v, w, numbers)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn topic_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("#", "", true),
            ("#", "a", true),
            ("#", "a.b.c", true),
            ("#", ".", true),
            ("*", "", false),
            ("*", "a", true),
            ("*", "a.b", false),
            ("", "", true),
            ("", "a", false),
            ("a.*", "a.", true),
            ("a.*", "a", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("a.#", "ab", false),
            ("#.a", "a", true),
            ("#.a", "b.a", true),
            ("#.a", "b.a.c", false),
            ("a.#.b", "a.b", true),
            ("a.#.b", "a.x.y.b", true),
            ("a.#.b", "a.x.y.c", false),
            ("*.*", "a.", true),
            ("*.*", ".", true),
            ("a.*.c", "a..c", true),
            ("#.#", "", true),
            ("#.*", "", false),
            ("#.*", "a", true),
            ("*.#.*", "a", false),
            ("*.#.*", "a.b", true),
            ("order.*", "order.created", true),
            ("order.*", "Order.created", false),
        ];
        for (b, k, want) in cases {
            assert_eq!(topic_matches(b, k), *want, "binding {b:?} key {k:?}");
        }
    }

    fn state(yaml_exchanges: &[(&str, &str)], bindings: &[(&str, &str, &str)]) -> State {
        let mut s = State::default();
        for (name, kind) in yaml_exchanges {
            s.exchanges.insert(
                EntityKey::new("/", *name),
                ExchangeState {
                    kind: (*kind).into(),
                    durable: true,
                    auto_delete: false,
                    internal: false,
                    arguments: BTreeMap::new(),
                },
            );
        }
        for (src, dst, key) in bindings {
            s.queues.insert(
                EntityKey::new("/", *dst),
                crate::state::QueueState {
                    kind: crate::topology::model::QueueType::Classic,
                    durable: true,
                    auto_delete: false,
                    arguments: BTreeMap::new(),
                    messages: None,
                    members: None,
                },
            );
            s.bindings.insert(
                BindingKey {
                    vhost: "/".into(),
                    source: (*src).into(),
                    destination_type: DestinationType::Queue,
                    destination: (*dst).into(),
                    routing_key: (*key).into(),
                    arguments: Default::default(),
                },
                crate::state::BindingState {},
            );
        }
        s
    }

    fn msg(key: &str) -> Message {
        Message {
            routing_key: key.into(),
            headers: BTreeMap::new(),
        }
    }

    #[test]
    fn plugin_types_are_refused_not_guessed() {
        let s = state(&[("hash", "x-consistent-hash")], &[("hash", "q", "1")]);
        assert_eq!(
            route(&s, "/", "hash", &msg("k"), Numbers::ByType),
            Err(RouteError::PluginType {
                exchange: "hash".into(),
                kind: "x-consistent-hash".into()
            })
        );
    }

    #[test]
    fn vhosts_do_not_mix() {
        let s = state(&[("d", "direct")], &[("d", "q", "k")]);
        assert_eq!(
            route(&s, "/", "d", &msg("k"), Numbers::ByType).map(|r| r.queues),
            Ok(vec!["q".to_string()])
        );
        assert!(matches!(
            route(&s, "other", "d", &msg("k"), Numbers::ByType),
            Err(RouteError::UnknownExchange { .. })
        ));
        // The default exchange only finds queues of the vhost published in.
        assert_eq!(
            route(&s, "other", "", &msg("q"), Numbers::ByType).map(|r| r.queues),
            Ok(vec![])
        );
    }

    #[test]
    fn builtin_exchanges_exist_in_every_vhost() {
        let s = state(&[], &[]);
        assert_eq!(
            route(&s, "any", "amq.fanout", &msg(""), Numbers::ByType).map(|r| r.queues),
            Ok(vec![])
        );
        assert!(matches!(
            route(&s, "/", "amq.defualt", &msg(""), Numbers::ByType),
            Err(RouteError::UnknownExchange { .. })
        ));
    }

    /// The textbook recursive matcher, as a reference for the table-filling one.
    fn naive(b: &[&str], k: &[&str]) -> bool {
        match b.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => naive(rest, k) || (!k.is_empty() && naive(b, &k[1..])),
            Some((&"*", rest)) => !k.is_empty() && naive(rest, &k[1..]),
            Some((w, rest)) => k.first() == Some(w) && naive(rest, &k[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn topic_matches_the_reference(
            b in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "", "*", "#"]), 0..6),
            k in proptest::collection::vec(proptest::sample::select(vec!["a", "b", ""]), 0..6),
        ) {
            let (bk, kk) = (b.join("."), k.join("."));
            proptest::prop_assert_eq!(topic_matches(&bk, &kk), naive(&words(&bk), &words(&kk)));
        }
    }

    fn m(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn headers_table() {
        // (binding arguments, headers, matches on 3.12 and older, on 3.13 and later)
        let cases = [
            (
                json!({"x-match": "all", "a": "1"}),
                json!({"a": "1"}),
                true,
                true,
            ),
            (
                json!({"x-match": "all", "a": "1"}),
                json!({"a": 1}),
                false,
                false,
            ),
            (json!({"a": "1", "b": "2"}), json!({"a": "1"}), false, false),
            (
                json!({"x-match": "any", "a": "1", "b": "2"}),
                json!({"a": "1"}),
                true,
                true,
            ),
            (
                json!({"x-match": "any", "x-a": "1"}),
                json!({"x-a": "1"}),
                false,
                false,
            ),
            (json!({"x-match": "all", "x-a": "1"}), json!({}), true, true),
            (json!({"x-match": "any"}), json!({"a": "1"}), false, false),
            (
                json!({"x-match": "all-with-x", "x-a": "1"}),
                json!({"x-a": "1"}),
                true,
                true,
            ),
            (
                json!({"x-match": "all-with-x", "x-a": "1"}),
                json!({}),
                false,
                false,
            ),
            (
                json!({"x-match": "any-with-x", "x-a": "1", "b": 2}),
                json!({"b": 2.0}),
                true,
                false,
            ),
            (json!({"a": null}), json!({"a": false}), true, true),
            (json!({"a": null}), json!({}), false, false),
            (json!({"a": true}), json!({"a": "true"}), false, false),
            (json!({"a": 1}), json!({"a": 1.0}), true, false),
            (json!({"a": 1.0}), json!({"a": 1}), true, false),
            (json!({"a": 1.5}), json!({"a": 1.5}), true, true),
            (json!({"a": 2}), json!({"a": 2}), true, true),
            (
                json!({"a": [1, "x"]}),
                json!({"a": [1.0, "x"]}),
                true,
                false,
            ),
        ];
        for (args, headers, old, new) in cases {
            for (numbers, want) in [(Numbers::ByValue, old), (Numbers::ByType, new)] {
                assert_eq!(
                    headers_match(&m(args.clone()), &m(headers.clone()), numbers),
                    want,
                    "{args} vs {headers} ({numbers:?})"
                );
            }
        }
    }

    #[test]
    fn number_rules_by_version_and_image() {
        for (v, want) in [
            ("3.10.8", Some(Numbers::ByValue)),
            ("3.12", Some(Numbers::ByValue)),
            ("3.13.0", Some(Numbers::ByType)),
            ("3.13", Some(Numbers::ByType)),
            ("4", Some(Numbers::ByType)),
            ("4.3.6", Some(Numbers::ByType)),
            ("3", Some(Numbers::ByValue)),
            ("latest", None),
            ("", None),
        ] {
            assert_eq!(Numbers::of_version(v), want, "{v}");
        }
        for (image, want) in [
            ("rabbitmq:3.10-management", Some(Numbers::ByValue)),
            ("rabbitmq:4.3-management", Some(Numbers::ByType)),
            ("rabbitmq:4-management-alpine", Some(Numbers::ByType)),
            (
                "registry.example:5000/rabbitmq:3.12.1",
                Some(Numbers::ByValue),
            ),
            ("registry.example:5000/rabbitmq", None),
            ("rabbitmq:management", None),
            ("rabbitmq", None),
        ] {
            assert_eq!(Numbers::of_image(image), want, "{image}");
        }
    }
}
