//! Semantic rules: what the schema cannot say. Each rule is a small function over the
//! typed topology that reports through [`Ctx`], which turns JSON pointers into positions.
//! Every rule has a stable code (see [`crate::diag::codes`]) and a test in
//! `tests/validate_corpus.rs` with a failing and a passing case.

mod limits;
mod operator_policies;

use std::collections::BTreeSet;

// The file is the user's own input, so the indexes of its entities need no protection from
// crafted collisions (SipHash's job): foldhash (hashbrown's own default) hashes the
// 30,000 keys of a large file several times faster.
use foldhash::{HashMap, HashMapExt, HashSet};

use serde_json::Value;

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::source::Sources;
use crate::source::node::Node;
use crate::state::queue_args::{QUEUE_NAMED_ARGS, QUEUE_TYPE_ARGUMENT, named_arg};
use crate::state::{BindingKey, DEFAULT_VHOST, builtin_exchange_kind};
use crate::topology::model::{
    Binding, DestinationType, ExchangeKind, Queue, QueueType, Runtime, Topology, Transport,
    TransportKind,
};

struct Ctx<'a> {
    tree: &'a Node,
    sources: &'a Sources,
    topo: &'a Topology,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn warning(&mut self, code: Code, pointer: String, message: String) -> &mut Diagnostic {
        let span = self.tree.locate(&pointer);
        self.out
            .push(Diagnostic::warning(code, message).at(span).path(pointer));
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    fn error(&mut self, code: Code, pointer: String, message: String) -> &mut Diagnostic {
        let span = self.tree.locate(&pointer);
        let mut d = Diagnostic::error(code, message).at(span).path(pointer);
        // A literal secret is the offending text itself: never echo its line.
        d.sensitive = code == Code::LiteralSecret;
        self.out.push(d);
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    fn vhost<'b>(&'b self, v: &'b Option<String>) -> &'b str {
        v.as_deref()
            .or(self.topo.vhost.as_deref())
            .unwrap_or(DEFAULT_VHOST)
    }
}

trait DiagExt {
    fn with_hint(&mut self, hint: impl Into<String>) -> &mut Self;
    fn with_opt_hint(&mut self, hint: Option<String>) -> &mut Self;
    fn with_label(&mut self, span: crate::source::Span, text: &str) -> &mut Self;
}

impl DiagExt for Diagnostic {
    fn with_hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
    fn with_opt_hint(&mut self, hint: Option<String>) -> &mut Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
    fn with_label(&mut self, span: crate::source::Span, text: &str) -> &mut Self {
        self.labels.push((span, text.to_string()));
        self
    }
}

/// Run every rule; all problems, in file order of the rules.
pub fn check(topo: &Topology, tree: &Node, sources: &Sources) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        tree,
        sources,
        topo,
        out: Vec::new(),
    };
    names_and_short_strings(&mut cx);
    duplicates(&mut cx);
    reserved_names(&mut cx);
    exchange_references(&mut cx);
    bindings(&mut cx);
    queues(&mut cx);
    users_and_permissions(&mut cx);
    topic_permissions(&mut cx);
    limits::check(&mut cx);
    operator_policies::check(&mut cx);
    patterns(&mut cx);
    services_and_transports(&mut cx);
    literal_secrets(&mut cx);
    deprecated_features(&mut cx);
    cx.out.extend(super::azure_names::check(topo, tree));
    cx.out.extend(super::links::check(topo, tree));
    cx.out.extend(super::service_users::check(topo, tree));
    cx.out
}

fn duplicates(cx: &mut Ctx) {
    let t = cx.topo;
    let mut groups: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "vhosts",
            t.vhosts.iter().map(|v| v.name.clone()).collect(),
            "name",
        ),
        (
            "exchanges",
            t.exchanges
                .iter()
                .map(|x| format!("{}\u{0}{}", cx.vhost(&x.vhost), x.name))
                .collect(),
            "name",
        ),
        (
            "queues",
            t.queues
                .iter()
                .map(|q| format!("{}\u{0}{}", cx.vhost(&q.vhost), q.name))
                .collect(),
            "name",
        ),
        (
            "policies",
            t.policies
                .iter()
                .map(|p| format!("{}\u{0}{}", cx.vhost(&p.vhost), p.name))
                .collect(),
            "name",
        ),
        (
            "shovels",
            t.shovels
                .iter()
                .map(|x| format!("{}\u{0}{}", cx.vhost(&x.vhost), x.name))
                .collect(),
            "name",
        ),
        (
            "federation_upstreams",
            t.federation_upstreams
                .iter()
                .map(|x| format!("{}\u{0}{}", cx.vhost(&x.vhost), x.name))
                .collect(),
            "name",
        ),
        (
            "users",
            t.users.iter().map(|u| u.name.clone()).collect(),
            "name",
        ),
        (
            "permissions",
            t.permissions
                .iter()
                .map(|p| format!("{}\u{0}{}", cx.vhost(&p.vhost), p.user))
                .collect(),
            "user",
        ),
        (
            "topic_permissions",
            t.topic_permissions
                .iter()
                .map(|p| format!("{}\u{0}{}\u{0}{}", cx.vhost(&p.vhost), p.user, p.exchange))
                .collect(),
            "exchange",
        ),
        (
            "operator_policies",
            t.operator_policies
                .iter()
                .map(|p| format!("{}\u{0}{}", cx.vhost(&p.vhost), p.name))
                .collect(),
            "name",
        ),
        (
            "vhost_limits",
            t.vhost_limits
                .iter()
                .map(|l| cx.vhost(&l.vhost).to_string())
                .collect(),
            "vhost",
        ),
        (
            "user_limits",
            t.user_limits.iter().map(|l| l.user.clone()).collect(),
            "user",
        ),
        (
            "services",
            t.services.iter().map(|s| s.name.clone()).collect(),
            "name",
        ),
        (
            "transports",
            t.transports
                .iter()
                .map(|x| format!("{}\u{0}{}\u{0}{:?}\u{0}{:?}", x.from, x.to, x.kind, x.queue))
                .collect(),
            "from",
        ),
    ];
    // Bindings: the identity the normalized state gives them (one per routing key), so
    // that two entries normalization would merge are reported, never silently merged.
    let mut binding_ids: Vec<BindingKey> = Vec::new();
    let mut binding_at = Vec::new();
    for (i, b) in t.bindings.iter().enumerate() {
        for key in BindingKey::of_file(b, cx.vhost(&b.vhost)) {
            binding_ids.push(key);
            binding_at.push(i);
        }
    }
    for (list, ids, field) in groups.drain(..) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(first) = seen.get(id.as_str()).copied() {
                let first_span = cx.tree.locate(&format!("/{list}/{first}"));
                let parts: Vec<&str> = id.split('\u{0}').collect();
                let shown = match (list, parts.as_slice()) {
                    (
                        "exchanges"
                        | "queues"
                        | "policies"
                        | "operator_policies"
                        | "permissions"
                        | "shovels"
                        | "federation_upstreams",
                        [vhost, name],
                    ) => {
                        format!("{name}` in vhost `{vhost}")
                    }
                    ("transports", [from, to, kind, ..]) => format!("{from} -> {to} ({kind})"),
                    ("topic_permissions", [vhost, user, exchange]) => {
                        format!("{user}` on exchange `{exchange}` in vhost `{vhost}")
                    }
                    _ => parts.join(" / "),
                };
                cx.error(
                    Code::Duplicate,
                    format!("/{list}/{i}/{field}"),
                    format!("duplicate entry in `{list}`: `{shown}`"),
                )
                .with_label(first_span, "first declared here")
                .with_hint("each entity may appear once; merge the two entries");
            } else {
                seen.insert(id, i);
            }
        }
    }
    let mut seen: HashMap<&BindingKey, usize> = HashMap::new();
    for (id, &i) in binding_ids.iter().zip(&binding_at) {
        if let Some(first) = seen.get(id).copied() {
            if first != i {
                let first_span = cx.tree.locate(&format!("/bindings/{first}"));
                cx.error(Code::Duplicate, format!("/bindings/{i}"), "duplicate binding".to_string())
                    .with_label(first_span, "first declared here")
                    .with_hint("a binding is identified by vhost, source, destination, routing key and arguments");
            }
        } else {
            seen.insert(id, i);
        }
    }
}

/// Longest AMQP short string, in bytes. Entity names, vhost names, routing keys, exchange
/// types, and the keys of argument and header tables travel as short strings; the client
/// library panics on a longer one, so validate refuses it first.
pub const MAX_SHORT_STRING: usize = 255;

/// Why a short string does not fit, as a sentence part, or `None` when it fits.
pub fn short_string_problem(s: &str) -> Option<String> {
    (s.len() > MAX_SHORT_STRING).then(|| {
        format!(
            "is {} bytes; AMQP carries it as a short string of at most {MAX_SHORT_STRING} bytes",
            s.len()
        )
    })
}

/// The start of a long value, enough to recognise it in a message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

const SHORT_STRING_HINT: &str = "RabbitMQ refuses names, routing keys, header names and argument keys over 255 bytes of UTF-8: shorten it";

/// Empty or blank names (often an empty `${VAR}`), and everything AMQP sends as a short
/// string checked against its 255-byte limit, before a broker ever sees them.
/// Names must have visible characters; names, types, keys and argument keys that AMQP
/// carries as short strings must fit in 255 bytes.
fn names_and_short_strings(cx: &mut Ctx) {
    let names = entity_names(cx.topo);
    blank_names(cx, &names);
    short_strings(cx, names);
}

/// Every name of the file, with its pointer and what it names.
fn entity_names(t: &Topology) -> Vec<(String, &'static str, &str)> {
    let mut names: Vec<(String, &'static str, &str)> = Vec::new();
    if let Some(v) = &t.vhost {
        names.push(("/vhost".into(), "vhost", v));
    }
    for (i, v) in t.vhosts.iter().enumerate() {
        names.push((format!("/vhosts/{i}/name"), "vhost", &v.name));
    }
    for (i, x) in t.exchanges.iter().enumerate() {
        names.push((format!("/exchanges/{i}/name"), "exchange name", &x.name));
        if let Some(v) = &x.vhost {
            names.push((format!("/exchanges/{i}/vhost"), "vhost", v));
        }
    }
    for (i, q) in t.queues.iter().enumerate() {
        names.push((format!("/queues/{i}/name"), "queue name", &q.name));
        if let Some(v) = &q.vhost {
            names.push((format!("/queues/{i}/vhost"), "vhost", v));
        }
    }
    for (i, b) in t.bindings.iter().enumerate() {
        names.push((
            format!("/bindings/{i}/destination"),
            "binding destination",
            &b.destination,
        ));
        if let Some(v) = &b.vhost {
            names.push((format!("/bindings/{i}/vhost"), "vhost", v));
        }
    }
    for (i, p) in t.policies.iter().enumerate() {
        names.push((format!("/policies/{i}/name"), "policy name", &p.name));
        if let Some(v) = &p.vhost {
            names.push((format!("/policies/{i}/vhost"), "vhost", v));
        }
    }
    for (i, u) in t.users.iter().enumerate() {
        names.push((format!("/users/{i}/name"), "user name", &u.name));
    }
    for (i, p) in t.permissions.iter().enumerate() {
        names.push((format!("/permissions/{i}/user"), "permission user", &p.user));
        if let Some(v) = &p.vhost {
            names.push((format!("/permissions/{i}/vhost"), "vhost", v));
        }
    }
    for (i, s) in t.services.iter().enumerate() {
        names.push((format!("/services/{i}/name"), "service name", &s.name));
    }
    names
}

fn blank_names(cx: &mut Ctx, names: &[(String, &str, &str)]) {
    for (pointer, what, name) in names {
        if name.trim().is_empty() {
            let from_var = source_has_reference(cx, pointer);
            let shown = if name.is_empty() { "empty" } else { "blank" };
            cx.error(Code::SchemaType, pointer.clone(), format!("{what} is {shown}"))
                .with_hint(if from_var {
                    "the variable it comes from is set but empty: give it a value, or use `${VAR:?message}` to require one".to_string()
                } else {
                    format!("give the {what} a name of visible characters")
                });
        }
    }
}

/// What AMQP sends as a short string: at most 255 bytes.
fn short_strings(cx: &mut Ctx, names: Vec<(String, &'static str, &str)>) {
    let t = cx.topo;
    let mut short: Vec<(String, &str, &str)> = names
        .into_iter()
        .filter(|(_, what, _)| {
            matches!(
                *what,
                "vhost" | "exchange name" | "queue name" | "binding destination"
            )
        })
        .collect();
    let mut keys: Vec<(String, &str, &str)> = Vec::new();
    let exchanges = exchange_index(t);
    for (i, x) in t.exchanges.iter().enumerate() {
        short.push((
            format!("/exchanges/{i}/type"),
            "exchange type",
            x.kind.as_str(),
        ));
        table_keys(
            &format!("/exchanges/{i}/arguments"),
            "argument key",
            &x.arguments,
            &mut keys,
        );
    }
    for (i, q) in t.queues.iter().enumerate() {
        table_keys(
            &format!("/queues/{i}/arguments"),
            "argument key",
            &q.arguments,
            &mut keys,
        );
    }
    for (i, b) in t.bindings.iter().enumerate() {
        short.push((format!("/bindings/{i}/source"), "binding source", &b.source));
        let vhost = cx.vhost(&b.vhost);
        let topic = exchanges
            .get(&(vhost, b.source.as_str()))
            .copied()
            .or_else(|| builtin_exchange_kind(&b.source))
            == Some(&ExchangeKind::Topic);
        // Topic keys are checked (length included) by TOPO017.
        if !topic {
            if let Some(k) = &b.routing_key {
                short.push((format!("/bindings/{i}/routing_key"), "routing key", k));
            }
            for (k, key) in b.routing_keys.iter().flatten().enumerate() {
                short.push((
                    format!("/bindings/{i}/routing_keys/{k}"),
                    "routing key",
                    key,
                ));
            }
        }
        table_keys(
            &format!("/bindings/{i}/arguments"),
            "header or argument name",
            &b.arguments,
            &mut keys,
        );
    }
    for (pointer, what, value) in short {
        if let Some(why) = short_string_problem(value) {
            cx.error(
                Code::SchemaType,
                pointer,
                format!("{what} `{}` {why}", shorten(value)),
            )
            .with_hint(SHORT_STRING_HINT);
        }
    }
    for (pointer, what, key) in keys {
        if let Some(why) = short_string_problem(key) {
            let span = cx.tree.locate_key(&pointer);
            cx.out.push(
                Diagnostic::error(Code::SchemaType, format!("{what} `{}` {why}", shorten(key)))
                    .at(span)
                    .path(pointer)
                    .hint(SHORT_STRING_HINT),
            );
        }
    }
}

/// Every key of an argument table, nested tables included (AMQP field-table keys).
fn table_keys<'a>(
    base: &str,
    what: &'static str,
    table: &'a indexmap::IndexMap<String, Value>,
    out: &mut Vec<(String, &'static str, &'a str)>,
) {
    fn walk<'a>(base: &str, v: &'a Value, out: &mut Vec<(String, &'static str, &'a str)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = format!("{base}/{}", crate::source::node::pointer_segment(k));
                    out.push((p.clone(), "argument key", k));
                    walk(&p, v, out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(&format!("{base}/{i}"), v, out);
                }
            }
            _ => {}
        }
    }
    for (k, v) in table {
        let p = format!("{base}/{}", crate::source::node::pointer_segment(k));
        out.push((p.clone(), what, k));
        walk(&p, v, out);
    }
}

fn reserved_names(cx: &mut Ctx) {
    let t = cx.topo;
    for (i, x) in t.exchanges.iter().enumerate() {
        if x.name.starts_with("amq.") {
            cx.error(
                Code::ReservedName,
                format!("/exchanges/{i}/name"),
                format!("exchange name `{}` is reserved", x.name),
            )
            .with_hint(
                "names starting with `amq.` belong to RabbitMQ; the broker refuses to declare them",
            );
        }
    }
    for (i, q) in t.queues.iter().enumerate() {
        if q.name.starts_with("amq.") {
            cx.error(
                Code::ReservedName,
                format!("/queues/{i}/name"),
                format!("queue name `{}` is reserved", q.name),
            )
            .with_hint("names starting with `amq.` are for server-named queues; pick another name");
        }
    }
}

/// Declared exchanges by (vhost, name), and their types; borrowed, so lookups allocate
/// nothing (rules run on every binding of files with tens of thousands).
type ExchangeIndex<'a> = HashMap<(&'a str, &'a str), &'a ExchangeKind>;

fn default_vhost(topo: &Topology) -> &str {
    topo.vhost.as_deref().unwrap_or(DEFAULT_VHOST)
}

fn exchange_index(topo: &Topology) -> ExchangeIndex<'_> {
    let default = default_vhost(topo);
    topo.exchanges
        .iter()
        .map(|x| {
            (
                (x.vhost.as_deref().unwrap_or(default), x.name.as_str()),
                &x.kind,
            )
        })
        .collect()
}

fn exchange_names_in<'a>(
    index: &'a ExchangeIndex<'a>,
    vhost: &'a str,
) -> impl Iterator<Item = &'a str> {
    index
        .keys()
        .filter(move |(v, _)| *v == vhost)
        .map(|(_, n)| *n)
}

fn exchange_references(cx: &mut Ctx) {
    let index = exchange_index(cx.topo);
    let t = cx.topo;
    for (i, x) in t.exchanges.iter().enumerate() {
        let vhost = cx.vhost(&x.vhost).to_string();
        let ae = x.alternate_exchange.clone().or_else(|| {
            x.arguments
                .get("alternate-exchange")
                .and_then(Value::as_str)
                .map(String::from)
        });
        if let Some(ae) = ae
            && !index.contains_key(&(vhost.as_str(), ae.as_str()))
            && builtin_exchange_kind(&ae).is_none()
        {
            let field = if x.alternate_exchange.is_some() {
                "alternate_exchange".to_string()
            } else {
                "arguments/alternate-exchange".to_string()
            };
            let hint = did_you_mean(&ae, exchange_names_in(&index, &vhost)).unwrap_or_else(|| {
                format!("declare exchange `{ae}` under `exchanges` (vhost `{vhost}`)")
            });
            cx.error(
                Code::UndeclaredExchange,
                format!("/exchanges/{i}/{field}"),
                format!("alternate exchange `{ae}` is not declared"),
            )
            .with_hint(hint);
        }
        if x.alternate_exchange.is_some() && x.arguments.contains_key("alternate-exchange") {
            cx.error(
                Code::NamedAndRaw,
                format!("/exchanges/{i}/arguments/alternate-exchange"),
                "`alternate_exchange` and the raw argument `alternate-exchange` are both set"
                    .into(),
            )
            .with_hint("keep the named field `alternate_exchange` and remove the raw argument");
        }
    }
    for (i, q) in t.queues.iter().enumerate() {
        let vhost = cx.vhost(&q.vhost).to_string();
        let (dlx, field) = match (
            &q.dead_letter_exchange,
            q.arguments
                .get("x-dead-letter-exchange")
                .and_then(Value::as_str),
        ) {
            (Some(d), _) => (d.clone(), "dead_letter_exchange".to_string()),
            (None, Some(d)) => (
                d.to_string(),
                "arguments/x-dead-letter-exchange".to_string(),
            ),
            (None, None) => continue,
        };
        // "" is the default exchange: dead-lettering straight to a queue by routing key.
        if dlx.is_empty()
            || builtin_exchange_kind(&dlx).is_some()
            || index.contains_key(&(vhost.as_str(), dlx.as_str()))
        {
            continue;
        }
        let hint = did_you_mean(&dlx, exchange_names_in(&index, &vhost)).unwrap_or_else(|| {
            format!("declare exchange `{dlx}` under `exchanges` (vhost `{vhost}`)")
        });
        cx.error(
            Code::UndeclaredExchange,
            format!("/queues/{i}/{field}"),
            format!("dead-letter exchange `{dlx}` is not declared"),
        )
        .with_hint(hint);
    }
}

/// Declared queues by (vhost, name).
type QueueIndex<'a> = HashSet<(&'a str, &'a str)>;

fn queue_index(topo: &Topology) -> QueueIndex<'_> {
    let default = default_vhost(topo);
    topo.queues
        .iter()
        .map(|q| (q.vhost.as_deref().unwrap_or(default), q.name.as_str()))
        .collect()
}

fn bindings(cx: &mut Ctx) {
    let exchanges = exchange_index(cx.topo);
    let queues = queue_index(cx.topo);
    let t = cx.topo;
    for (i, b) in t.bindings.iter().enumerate() {
        let vhost = cx.vhost(&b.vhost).to_string();
        let at = |f: &str| format!("/bindings/{i}/{f}");
        if b.source.is_empty() || b.source == "amq.default" {
            cx.error(Code::DefaultExchange, at("source"), "bindings to the default exchange are not allowed".into())
                .with_hint("every queue is bound to the default exchange by its name already; publish with the queue name as routing key");
            continue;
        }
        let source_type = binding_source(cx, &exchanges, i, &vhost, b);
        binding_destination(cx, &exchanges, &queues, i, &vhost, b);
        routing_key_fields(cx, i, b);
        keys_for_source_type(cx, i, b, source_type);
    }
}

/// The binding's source exchange, declared or builtin; its type, if it is one.
fn binding_source<'a>(
    cx: &mut Ctx,
    exchanges: &ExchangeIndex<'a>,
    i: usize,
    vhost: &str,
    b: &Binding,
) -> Option<&'a ExchangeKind> {
    let at = |f: &str| format!("/bindings/{i}/{f}");
    match exchanges
        .get(&(vhost, b.source.as_str()))
        .copied()
        .or_else(|| builtin_exchange_kind(&b.source))
    {
        Some(t) => Some(t),
        None => {
            let hint =
                did_you_mean(&b.source, exchange_names_in(exchanges, vhost)).unwrap_or_else(|| {
                    format!(
                        "declare exchange `{}` under `exchanges` (vhost `{vhost}`)",
                        b.source
                    )
                });
            cx.error(
                Code::UndeclaredExchange,
                at("source"),
                format!("binding source exchange `{}` is not declared", b.source),
            )
            .with_hint(hint);
            None
        }
    }
}

/// The binding's destination, a declared queue or a declared or builtin exchange.
fn binding_destination(
    cx: &mut Ctx,
    exchanges: &ExchangeIndex,
    queues: &QueueIndex,
    i: usize,
    vhost: &str,
    b: &Binding,
) {
    let at = |f: &str| format!("/bindings/{i}/{f}");
    match b.destination_type.unwrap_or(DestinationType::Queue) {
        DestinationType::Queue => {
            if !queues.contains(&(vhost, b.destination.as_str())) {
                let names = queues.iter().filter(|(v, _)| *v == vhost).map(|(_, n)| *n);
                let hint = did_you_mean(&b.destination, names).unwrap_or_else(|| {
                    format!(
                        "declare queue `{}` under `queues`, or set `destination_type: exchange`",
                        b.destination
                    )
                });
                cx.error(
                    Code::UndeclaredQueue,
                    at("destination"),
                    format!(
                        "binding destination queue `{}` is not declared",
                        b.destination
                    ),
                )
                .with_hint(hint);
            }
        }
        DestinationType::Exchange => {
            let known = exchanges.contains_key(&(vhost, b.destination.as_str()))
                || builtin_exchange_kind(&b.destination).is_some();
            if !known {
                let hint = did_you_mean(&b.destination, exchange_names_in(exchanges, vhost))
                    .unwrap_or_else(|| {
                        format!("declare exchange `{}` under `exchanges`", b.destination)
                    });
                cx.error(
                    Code::UndeclaredExchange,
                    at("destination"),
                    format!(
                        "binding destination exchange `{}` is not declared",
                        b.destination
                    ),
                )
                .with_hint(hint);
            }
        }
    }
}

/// `routing_key` and `routing_keys`: one of them, and not an empty list.
fn routing_key_fields(cx: &mut Ctx, i: usize, b: &Binding) {
    let at = |f: &str| format!("/bindings/{i}/{f}");
    if b.routing_key.is_some() && b.routing_keys.is_some() {
        cx.error(
            Code::ConflictingFields,
            at("routing_keys"),
            "`routing_key` and `routing_keys` are both set".into(),
        )
        .with_hint("use `routing_keys` for several keys, `routing_key` for one");
    }
    if b.routing_keys.as_ref().is_some_and(Vec::is_empty) {
        cx.error(
            Code::ConflictingFields,
            at("routing_keys"),
            "`routing_keys` is empty: no binding would be made".into(),
        )
        .with_hint("list at least one key, or remove the binding");
    }
}

/// What the source's type asks of a binding: topic keys, or headers' `x-match`.
fn keys_for_source_type(cx: &mut Ctx, i: usize, b: &Binding, source_type: Option<&ExchangeKind>) {
    let at = |f: &str| format!("/bindings/{i}/{f}");
    match source_type {
        Some(ExchangeKind::Topic) => {
            let keys: Vec<(String, String)> = match (&b.routing_keys, &b.routing_key) {
                (Some(keys), _) => keys
                    .iter()
                    .enumerate()
                    .map(|(k, key)| (format!("routing_keys/{k}"), key.clone()))
                    .collect(),
                (None, Some(key)) => vec![("routing_key".into(), key.clone())],
                (None, None) => vec![],
            };
            for (field, key) in keys {
                if let Err(why) = check_topic_key(&key) {
                    cx.error(Code::TopicKey, at(&field), format!("invalid topic binding key `{key}`: {why}"))
                        .with_hint("words are separated by `.`; `*` matches one word and `#` zero or more, each as a whole word (e.g. `order.*.created`, `order.#`)");
                }
            }
        }
        Some(ExchangeKind::Headers) => {
            match b.arguments.get("x-match") {
                None => {
                    cx.error(Code::HeadersMatch, at("source"), "headers binding without `x-match`".into())
                    .with_hint("add `arguments: {x-match: all, ...}` (or `any`, `all-with-x`, `any-with-x`)");
                }
                Some(v)
                    if !matches!(
                        v.as_str(),
                        Some("all" | "any" | "all-with-x" | "any-with-x")
                    ) =>
                {
                    let got = v
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string());
                    cx.error(
                        Code::HeadersMatch,
                        at("arguments/x-match"),
                        format!("invalid `x-match` value `{got}`"),
                    )
                    .with_opt_hint(did_you_mean(
                        &got,
                        ["all", "any", "all-with-x", "any-with-x"],
                    ))
                    .with_hint("x-match is `all`, `any`, `all-with-x` or `any-with-x`");
                }
                Some(_) => {}
            }
        }
        _ => {}
    }
}

/// RabbitMQ's topic binding keys: `.`-separated words; `*` and `#` only as whole words.
pub fn check_topic_key(key: &str) -> Result<(), String> {
    if key.len() > 255 {
        return Err("longer than 255 bytes".into());
    }
    for word in key.split('.') {
        if word.len() > 1 && (word.contains('*') || word.contains('#')) {
            return Err(format!("`{word}` mixes a wildcard with other characters"));
        }
    }
    Ok(())
}

/// Arguments a queue type cannot take: (argument, why).
fn unsupported_args(kind: QueueType) -> &'static [&'static str] {
    match kind {
        QueueType::Classic => &[
            "x-delivery-limit",
            "x-quorum-initial-group-size",
            "x-initial-cluster-size",
        ],
        QueueType::Quorum => &[
            "x-initial-cluster-size",
            "x-max-priority",
            "x-queue-mode",
            "x-queue-master-locator",
            "x-queue-version",
        ],
        QueueType::Stream => &[
            "x-message-ttl",
            "x-expires",
            "x-overflow",
            "x-dead-letter-exchange",
            "x-dead-letter-routing-key",
            "x-max-priority",
            "x-delivery-limit",
            "x-single-active-consumer",
            "x-max-length",
            "x-queue-mode",
            "x-quorum-initial-group-size",
        ],
    }
}

/// Effective queue type: named field, raw argument, vhost default, classic.
fn queue_type(cx: &Ctx, q: &Queue) -> QueueType {
    let raw = q
        .arguments
        .get(QUEUE_TYPE_ARGUMENT)
        .and_then(Value::as_str)
        .and_then(crate::state::parse_queue_type);
    let vhost = cx.vhost(&q.vhost);
    let vdefault = cx
        .topo
        .vhosts
        .iter()
        .find(|v| v.name == vhost)
        .and_then(|v| v.default_queue_type);
    q.kind.or(raw).or(vdefault).unwrap_or(QueueType::Classic)
}

/// Pointer of the field that sets argument `arg` on queue `i` (named field or raw).
fn queue_arg_pointer(q: &Queue, i: usize, arg: &str) -> String {
    if q.arguments.contains_key(arg) {
        return format!("/queues/{i}/arguments/{arg}");
    }
    match named_arg(arg) {
        Some(named) => format!("/queues/{i}/{}", named.field),
        None => format!("/queues/{i}"),
    }
}

/// Every `x-` argument the queue sets, named fields included (not `x-queue-type`).
fn queue_args(q: &Queue) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = QUEUE_NAMED_ARGS
        .iter()
        .filter(|named| (named.value)(q).is_some())
        .map(|named| named.argument.to_string())
        .collect();
    set.extend(
        q.arguments
            .keys()
            .filter(|k| k.as_str() != QUEUE_TYPE_ARGUMENT)
            .cloned(),
    );
    set
}

fn queues(cx: &mut Ctx) {
    let t = cx.topo;
    for (i, q) in t.queues.iter().enumerate() {
        let at = |f: &str| format!("/queues/{i}/{f}");
        if q.exclusive == Some(true) {
            cx.error(Code::ExclusiveQueue, at("exclusive"), format!("queue `{}` is exclusive", q.name))
                .with_hint("an exclusive queue belongs to the connection that declares it and vanishes with it; let the client declare it, and remove it from the topology");
        }
        let type_field = q.kind.is_some().then_some(("type", QUEUE_TYPE_ARGUMENT));
        let named_fields = QUEUE_NAMED_ARGS
            .iter()
            .filter(|named| (named.value)(q).is_some())
            .map(|named| (named.field, named.argument));
        for (field, arg) in type_field.into_iter().chain(named_fields) {
            if q.arguments.contains_key(arg) {
                cx.error(
                    Code::NamedAndRaw,
                    at(&format!("arguments/{arg}")),
                    format!("`{field}` and the raw argument `{arg}` are both set"),
                )
                .with_hint(format!(
                    "keep the named field `{field}` and remove `{arg}` from `arguments`"
                ));
            }
        }
        let kind = queue_type(cx, q);
        if kind != QueueType::Classic {
            let name = kind.as_str();
            if q.durable == Some(false) {
                cx.error(
                    Code::QueueTypeDurability,
                    at("durable"),
                    format!("{name} queue `{}` cannot be non-durable", q.name),
                )
                .with_hint(format!(
                    "{name} queues are always durable: remove `durable: false`"
                ));
            }
            if q.auto_delete == Some(true) {
                cx.error(
                    Code::QueueTypeDurability,
                    at("auto_delete"),
                    format!("{name} queue `{}` cannot be auto-delete", q.name),
                )
                .with_hint(format!(
                    "{name} queues do not support auto-delete: remove `auto_delete: true`"
                ));
            }
        }
        let args = queue_args(q);
        for bad in unsupported_args(kind) {
            if args.contains(*bad) {
                cx.error(
                    Code::QueueTypeArgument,
                    queue_arg_pointer(q, i, bad),
                    format!("{} queue `{}` does not support `{bad}`", kind.as_str(), q.name),
                )
                .with_hint(match (kind, *bad) {
                    (_, "x-quorum-initial-group-size" | "x-initial-cluster-size") => "`initial_group_size` sizes a quorum queue, `initial_cluster_size` a stream: use the one of the queue's type, or remove it",
                    (QueueType::Stream, _) => "streams keep messages by size and age: use `x-max-length-bytes` and `x-max-age`",
                    (QueueType::Quorum, _) => "quorum queues have no priorities or queue modes; remove the argument or use a classic queue",
                    (QueueType::Classic, _) => "`delivery_limit` is a quorum-queue feature: set `type: quorum` or remove it",
                });
            }
        }
        if kind == QueueType::Quorum && q.overflow.map(|o| o.as_str()) == Some("reject-publish-dlx")
        {
            cx.error(
                Code::QueueTypeArgument,
                at("overflow"),
                format!(
                    "quorum queue `{}` does not support overflow `reject-publish-dlx`",
                    q.name
                ),
            )
            .with_hint("use `drop-head` or `reject-publish`");
        }
    }
}

fn users_and_permissions(cx: &mut Ctx) {
    let t = cx.topo;
    let users: BTreeSet<&str> = t.users.iter().map(|u| u.name.as_str()).collect();
    for (i, u) in t.users.iter().enumerate() {
        if u.password_env.is_some() && u.password_hash.is_some() {
            cx.error(
                Code::ConflictingFields,
                format!("/users/{i}/password_hash"),
                format!(
                    "user `{}` has both `password_env` and `password_hash`",
                    u.name
                ),
            )
            .with_hint("keep one: `password_env` names the variable holding the password");
        }
    }
    // Vhosts the file declares or uses for entities; a permission elsewhere is a typo.
    let vhosts = known_vhosts(cx);
    for (i, p) in t.permissions.iter().enumerate() {
        user_and_vhost_known(
            cx,
            ("permissions", "permission"),
            i,
            &p.user,
            &p.vhost,
            &users,
            &vhosts,
        );
    }
}

/// Topic permissions: a declared user, a vhost the file knows, a topic exchange of the
/// file (or `amq.topic`) in that vhost.
fn topic_permissions(cx: &mut Ctx) {
    let t = cx.topo;
    let users: BTreeSet<&str> = t.users.iter().map(|u| u.name.as_str()).collect();
    let vhosts = known_vhosts(cx);
    for (i, p) in t.topic_permissions.iter().enumerate() {
        user_and_vhost_known(
            cx,
            ("topic_permissions", "topic permission"),
            i,
            &p.user,
            &p.vhost,
            &users,
            &vhosts,
        );
        let vhost = cx.vhost(&p.vhost).to_string();
        if p.exchange == "amq.topic" {
            continue;
        }
        let pointer = format!("/topic_permissions/{i}/exchange");
        let declared = t
            .exchanges
            .iter()
            .find(|x| x.name == p.exchange && cx.vhost(&x.vhost) == vhost);
        match declared {
            Some(x) if x.kind == ExchangeKind::Topic => {}
            Some(x) => {
                let kind = x.kind.as_str().to_string();
                cx.error(
                    Code::NotTopicExchange,
                    pointer,
                    format!(
                        "topic permission on exchange `{}`, which is a {kind} exchange",
                        p.exchange
                    ),
                )
                .with_hint(
                    "RabbitMQ checks topic permissions on topic exchanges only: name a topic \
                     exchange, or use `permissions` to limit this one",
                );
            }
            None if builtin_exchange_kind(&p.exchange).is_some() => {
                cx.error(
                    Code::NotTopicExchange,
                    pointer,
                    format!(
                        "topic permission on `{}`, which is not a topic exchange",
                        p.exchange
                    ),
                )
                .with_hint("the built-in topic exchange is `amq.topic`");
            }
            None => {
                let names = t
                    .exchanges
                    .iter()
                    .filter(|x| x.kind == ExchangeKind::Topic && cx.vhost(&x.vhost) == vhost)
                    .map(|x| x.name.as_str())
                    .chain(["amq.topic"]);
                let hint = did_you_mean(&p.exchange, names).unwrap_or_else(|| {
                    format!(
                        "declare `{}` under `exchanges` with `type: topic` in vhost `{vhost}`",
                        p.exchange
                    )
                });
                cx.error(
                    Code::UndeclaredExchange,
                    pointer,
                    format!(
                        "topic permission on exchange `{}`, not declared in vhost `{vhost}`",
                        p.exchange
                    ),
                )
                .with_hint(hint);
            }
        }
    }
}

/// Vhosts the file declares or uses for entities.
/// A permission-like entry (section, and what the messages call it) names a declared user
/// and a vhost the file knows: TOPO013 / TOPO014 with "did you mean".
fn user_and_vhost_known(
    cx: &mut Ctx,
    (section, what): (&str, &str),
    i: usize,
    user: &str,
    vhost: &Option<String>,
    users: &BTreeSet<&str>,
    vhosts: &BTreeSet<String>,
) {
    user_known(cx, (section, what), i, user, users);
    vhost_known(cx, (section, what), i, vhost, vhosts);
}

/// TOPO013 when `user` (at `/{section}/{i}/user`) is not declared under `users`.
fn user_known(
    cx: &mut Ctx,
    (section, what): (&str, &str),
    i: usize,
    user: &str,
    users: &BTreeSet<&str>,
) {
    if !users.contains(user) {
        let hint = did_you_mean(user, users.iter().copied())
            .unwrap_or_else(|| format!("declare user `{user}` under `users`"));
        cx.error(
            Code::UndeclaredUser,
            format!("/{section}/{i}/user"),
            format!("{what} for undeclared user `{user}`"),
        )
        .with_hint(hint);
    }
}

/// TOPO014 when `vhost` (at `/{section}/{i}/vhost`, resolved) is one the file neither
/// declares nor uses.
fn vhost_known(
    cx: &mut Ctx,
    (section, what): (&str, &str),
    i: usize,
    vhost: &Option<String>,
    vhosts: &BTreeSet<String>,
) {
    let vhost = cx.vhost(vhost).to_string();
    if !vhosts.contains(&vhost) {
        let hint = did_you_mean(&vhost, vhosts.iter().map(String::as_str))
            .unwrap_or_else(|| format!("add `{{name: {vhost}}}` under `vhosts`"));
        cx.error(
            Code::UndeclaredVhost,
            format!("/{section}/{i}/vhost"),
            format!("{what} for vhost `{vhost}` that the topology neither declares nor uses"),
        )
        .with_hint(hint);
    }
}

fn known_vhosts(cx: &Ctx) -> BTreeSet<String> {
    let t = cx.topo;
    // Names first, owned once each: every entity names its vhost.
    let mut vhosts: BTreeSet<&str> = t.vhosts.iter().map(|v| v.name.as_str()).collect();
    vhosts.insert(t.vhost.as_deref().unwrap_or(DEFAULT_VHOST));
    vhosts.extend(t.exchanges.iter().map(|x| cx.vhost(&x.vhost)));
    vhosts.extend(t.queues.iter().map(|x| cx.vhost(&x.vhost)));
    vhosts.extend(t.bindings.iter().map(|x| cx.vhost(&x.vhost)));
    vhosts.extend(t.policies.iter().map(|x| cx.vhost(&x.vhost)));
    vhosts.extend(t.operator_policies.iter().map(|x| cx.vhost(&x.vhost)));
    vhosts.into_iter().map(String::from).collect()
}

/// Why RabbitMQ would refuse `pattern` as a regular expression, or `None`.
///
/// The broker compiles patterns with Erlang's `re`, which is PCRE. fancy-regex is the
/// closest well-kept Rust engine: on top of the `regex` crate's syntax it has look-around,
/// backreferences, atomic groups and possessive quantifiers, as PCRE does. Known gaps: PCRE
/// takes a `{` that starts no quantifier as a literal (the topic permission variables
/// `{username}`, `{vhost}` and `{client_id}` are replaced by a literal before the check, so
/// those pass), and fancy-regex refuses a few PCRE-only constructs (`\Q...\E`, recursion
/// `(?R)`, callouts, `(*VERB)`s). So a refusal here may be a pattern PCRE takes; the hint
/// says so. What it accepts, PCRE accepts.
pub fn regex_problem(pattern: &str) -> Option<String> {
    let expanded = pattern
        .replace("{username}", "u")
        .replace("{vhost}", "v")
        .replace("{client_id}", "c");
    fancy_regex::Regex::new(&expanded)
        .err()
        .map(|e| e.to_string())
}

/// Every pattern the broker compiles as a regular expression: permissions, topic
/// permissions, policies.
fn patterns(cx: &mut Ctx) {
    let t = cx.topo;
    let mut found: Vec<(String, &str)> = Vec::new();
    for (i, p) in t.permissions.iter().enumerate() {
        for (field, pat) in [
            ("configure", &p.configure),
            ("write", &p.write),
            ("read", &p.read),
        ] {
            found.push((format!("/permissions/{i}/{field}"), pat));
        }
    }
    for (i, p) in t.topic_permissions.iter().enumerate() {
        for (field, pat) in [("write", &p.write), ("read", &p.read)] {
            found.push((format!("/topic_permissions/{i}/{field}"), pat));
        }
    }
    for (i, p) in t.policies.iter().enumerate() {
        found.push((format!("/policies/{i}/pattern"), &p.pattern));
    }
    for (i, p) in t.operator_policies.iter().enumerate() {
        found.push((format!("/operator_policies/{i}/pattern"), &p.pattern));
    }
    for (pointer, pat) in found {
        if let Some(problem) = regex_problem(pat) {
            cx.error(
                Code::InvalidRegex,
                pointer,
                format!("`{pat}` is not a regular expression: {problem}"),
            )
            .with_hint(
                "RabbitMQ refuses it (it compiles patterns with Erlang's PCRE): fix the \
                 pattern, e.g. escape a literal `(`, `[` or `.` with `\\`",
            );
        }
    }
}

fn services_and_transports(cx: &mut Ctx) {
    let t = cx.topo;
    service_fields(cx);
    let services: HashMap<&str, usize> = t
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let queues: HashMap<&str, (usize, &Queue)> = t
        .queues
        .iter()
        .enumerate()
        .filter(|(_, q)| cx.vhost(&q.vhost) == cx.vhost(&None))
        .map(|(i, q)| (q.name.as_str(), (i, q)))
        .collect();
    for (i, tr) in t.transports.iter().enumerate() {
        transport_ends(cx, i, tr, &services);
        match tr.kind {
            TransportKind::Tcp => tcp_transport(cx, i, tr, &services),
            TransportKind::Rmq => rmq_transport(cx, i, tr, &services, &queues),
        }
    }
}

/// A service's own fields: replicas in order, a port where there is ingress.
fn service_fields(cx: &mut Ctx) {
    let t = cx.topo;
    for (i, s) in t.services.iter().enumerate() {
        if let Some(r) = &s.replicas
            && let (Some(min), Some(max)) = (r.min, r.max)
            && min > max
        {
            cx.error(
                Code::ConflictingFields,
                format!("/services/{i}/replicas/min"),
                format!(
                    "service `{}`: replicas min {min} is above max {max}",
                    s.name
                ),
            )
            .with_hint("make `min` at most `max`");
        }
        if s.port.is_none()
            && matches!(
                s.ingress,
                Some(
                    crate::topology::model::Ingress::Internal
                        | crate::topology::model::Ingress::External
                )
            )
        {
            cx.error(
                Code::TcpNoPort,
                format!("/services/{i}/ingress"),
                format!("service `{}` has ingress but no `port`", s.name),
            )
            .with_hint("set `port:` to the port the service listens on");
        }
    }
}

/// Both ends of a transport are declared services.
fn transport_ends(cx: &mut Ctx, i: usize, tr: &Transport, services: &HashMap<&str, usize>) {
    let at = |f: &str| format!("/transports/{i}/{f}");
    for (field, name) in [("from", &tr.from), ("to", &tr.to)] {
        if !services.contains_key(name.as_str()) {
            let hint = did_you_mean(name, services.keys().copied())
                .unwrap_or_else(|| format!("declare service `{name}` under `services`"));
            cx.error(
                Code::UndeclaredService,
                at(field),
                format!("transport {field} undeclared service `{name}`"),
            )
            .with_hint(hint);
        }
    }
}

/// A tcp transport: no rmq fields, and a port to reach the callee at.
fn tcp_transport(cx: &mut Ctx, i: usize, tr: &Transport, services: &HashMap<&str, usize>) {
    let t = cx.topo;
    let at = |f: &str| format!("/transports/{i}/{f}");
    if tr.queue.is_some() || tr.pattern.is_some() || tr.assert_queue.is_some() {
        let field = if tr.queue.is_some() {
            "queue"
        } else if tr.pattern.is_some() {
            "pattern"
        } else {
            "assert_queue"
        };
        cx.error(
            Code::TransportFields,
            at(field),
            format!("`{field}` is for rmq transports, not tcp"),
        )
        .with_hint("remove it, or set `kind: rmq`");
    }
    let target_port = services
        .get(tr.to.as_str())
        .and_then(|&s| t.services[s].port);
    if tr.port.is_none() && target_port.is_none() && services.contains_key(tr.to.as_str()) {
        let span = cx
            .tree
            .locate(&format!("/services/{}", services[tr.to.as_str()]));
        cx.error(
            Code::TcpNoPort,
            at("to"),
            format!("tcp transport to service `{}`, which has no port", tr.to),
        )
        .with_label(span, "service declared here")
        .with_hint(format!(
            "set `port:` on service `{}` or on the transport",
            tr.to
        ));
    }
}

/// An rmq transport: a declared queue of the file's vhost, which the client's own
/// declaration must match (unless `assert_queue: false`).
fn rmq_transport(
    cx: &mut Ctx,
    i: usize,
    tr: &Transport,
    services: &HashMap<&str, usize>,
    queues: &HashMap<&str, (usize, &Queue)>,
) {
    let at = |f: &str| format!("/transports/{i}/{f}");
    if tr.port.is_some() {
        cx.error(
            Code::TransportFields,
            at("port"),
            "`port` is for tcp transports, not rmq".into(),
        )
        .with_hint("rmq transports reach the callee through `queue`; remove `port`");
    }
    let Some(qname) = &tr.queue else {
        cx.error(
            Code::TransportFields,
            format!("/transports/{i}"),
            "rmq transport without `queue`".into(),
        )
        .with_hint("name the declared queue the caller sends to: `queue: ...`");
        return;
    };
    let Some(&(qi, q)) = queues.get(qname.as_str()) else {
        let hint = did_you_mean(qname, queues.keys().copied())
            .unwrap_or_else(|| format!("declare queue `{qname}` under `queues`"));
        cx.error(
            Code::UndeclaredQueue,
            at("queue"),
            format!("transport queue `{qname}` is not declared"),
        )
        .with_hint(hint);
        return;
    };
    if tr.assert_queue == Some(false) {
        return;
    }
    client_queue_mismatch(cx, i, tr, qi, q, services);
}

/// The NestJS RMQ client and aio-pika's `declare_queue(name, durable=True)` assert the
/// queue as a durable classic queue without arguments; anything else fails at run time
/// with PRECONDITION_FAILED.
fn client_queue_mismatch(
    cx: &mut Ctx,
    i: usize,
    tr: &Transport,
    qi: usize,
    q: &Queue,
    services: &HashMap<&str, usize>,
) {
    let t = cx.topo;
    let asserting: Vec<(&str, Runtime)> = [&tr.from, &tr.to]
        .into_iter()
        .filter_map(|n| {
            services
                .get(n.as_str())
                .map(|&s| (n.as_str(), t.services[s].runtime))
        })
        .filter_map(|(n, r)| match r {
            Some(rt @ (Runtime::Nestjs | Runtime::Python | Runtime::Node)) => Some((n, rt)),
            _ => None,
        })
        .collect();
    let Some((client, runtime)) = asserting.first().copied() else {
        return;
    };
    let vhost = cx.vhost(&q.vhost);
    let vdefault = t
        .vhosts
        .iter()
        .find(|v| v.name == vhost)
        .and_then(|v| v.default_queue_type)
        .unwrap_or(QueueType::Classic);
    let kind = queue_type(cx, q);
    let args = queue_args(q);
    let mut differences = Vec::new();
    let mut pointer = format!("/queues/{qi}/name");
    if kind != vdefault {
        differences.push(format!("type {}", kind.as_str()));
        pointer = if q.kind.is_some() {
            format!("/queues/{qi}/type")
        } else {
            format!("/queues/{qi}/arguments/x-queue-type")
        };
    }
    if q.durable == Some(false) {
        differences.push("durable: false".into());
        pointer = format!("/queues/{qi}/durable");
    }
    if q.auto_delete == Some(true) {
        differences.push("auto_delete: true".into());
        pointer = format!("/queues/{qi}/auto_delete");
    }
    if let Some(a) = args.iter().next() {
        if differences.is_empty() {
            pointer = queue_arg_pointer(q, qi, a);
        }
        differences.push(format!(
            "arguments {}",
            args.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if differences.is_empty() {
        return;
    }
    let transport_span = cx.tree.locate(&format!("/transports/{i}"));
    let client_desc = match runtime {
        Runtime::Python => "aio-pika's declare_queue(durable=True)",
        _ => "the NestJS RMQ client (queueOptions {durable: true})",
    };
    cx.error(
        Code::ClientQueueMismatch,
        pointer,
        format!(
            "queue `{}` is declared with {}, but `{client}` ({}) asserts it as a durable classic queue without arguments: it will fail with PRECONDITION_FAILED",
            q.name,
            differences.join(", "),
            runtime.as_str()
        ),
    )
    .with_label(transport_span, &format!("used by this transport, asserted by {client_desc}"))
    .with_hint("declare it as a durable classic queue and move TTL, length limits and dead-lettering into a policy; or give the clients the same arguments and set `assert_queue: false` on the transport");
}

/// Env names that hold secrets; their values must come from the environment.
fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// `scheme://user:password@host`: a URL that carries a password.
pub fn has_userinfo_password(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) => u.password().is_some_and(|p| !p.is_empty()),
        Err(_) => false,
    }
}

fn literal_secrets(cx: &mut Ctx) {
    let t = cx.topo;
    if let Some(b) = &t.broker {
        for (field, value) in [
            ("amqp_url", &b.amqp_url),
            ("management_url", &b.management_url),
        ] {
            if value.as_ref().is_some_and(|list| {
                list.urls().into_iter().any(|v| {
                    url::Url::parse(v)
                        .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
                })
            }) {
                cx.error(Code::LiteralSecret, format!("/broker/{field}"), format!("`broker.{field}` contains credentials"))
                    .with_hint("credentials never go in the file: set RABBITMQ_USER / RABBITMQ_PASSWORD, or put userinfo in TOPO_AMQP_URL / TOPO_MANAGEMENT_URL");
            }
        }
    }
    for (i, s) in t.services.iter().enumerate() {
        for (key, value) in &s.env {
            let pointer = format!(
                "/services/{i}/env/{}",
                crate::source::node::pointer_segment(key)
            );
            let text = value.to_string();
            let literal = !source_has_reference(cx, &pointer);
            if literal && !text.is_empty() && is_secret_name(key) {
                cx.error(Code::LiteralSecret, pointer.clone(), format!("service `{}` has a literal secret in env `{key}`", s.name))
                    .with_hint(format!("move it to `secrets: {{{key}: SOME_ENV_VAR}}` so it comes from the environment at deploy time"));
            } else if literal && has_userinfo_password(&text) {
                cx.error(
                    Code::LiteralSecret,
                    pointer,
                    format!("service `{}` env `{key}` is a URL with a password", s.name),
                )
                .with_hint("pass the password through `secrets`, not inside a URL in `env`");
            }
        }
        for (key, var) in &s.secrets {
            let valid_name = var
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                cx.error(
                    Code::LiteralSecret,
                    format!("/services/{i}/secrets/{}", crate::source::node::pointer_segment(key)),
                    format!("secret `{key}` of service `{}` must name an environment variable, not hold a value", s.name),
                )
                .with_hint("write the name of the variable (letters, digits, `_`) that holds the secret at deploy time");
            }
        }
    }
}

/// Whether the source text of the value at a pointer used `${...}` (then it is a reference,
/// not a literal).
fn source_has_reference(cx: &Ctx, pointer: &str) -> bool {
    let span = cx.tree.locate(pointer);
    cx.sources
        .get(span.file)
        .is_some_and(|f| f.slice(span).contains("${"))
}

/// What RabbitMQ 4.x deprecates or removes, as warnings: 3.x takes all of it, 4.x refuses
/// it by version or by its `deprecated_features.permit.*` settings, and `plan` against such
/// a broker turns the warning into an error (`broker::preflight`).
fn deprecated_features(cx: &mut Ctx) {
    let t = cx.topo;
    for (i, q) in t.queues.iter().enumerate() {
        let kind = queue_type(cx, q);
        if kind == QueueType::Classic && q.durable == Some(false) && q.exclusive != Some(true) {
            cx.warning(
                Code::DeprecatedFeature,
                format!("/queues/{i}/durable"),
                format!("transient non-exclusive queue `{}` is deprecated in RabbitMQ 4.x", q.name),
            )
            .with_hint("make it durable (RabbitMQ 4.3 denies transient_nonexcl_queues by default and closes the connection with 541), or let its client declare it exclusive");
        }
        if q.arguments.contains_key("x-queue-master-locator") {
            cx.warning(
                Code::DeprecatedFeature,
                format!("/queues/{i}/arguments/x-queue-master-locator"),
                format!("queue `{}`: `x-queue-master-locator` is deprecated in RabbitMQ 4.x (queue_master_locator)", q.name),
            )
            .with_hint("use `x-queue-leader-locator` (client-local or balanced); RabbitMQ 4.3 denies the old one by default and closes the connection with 541");
        }
        if q.arguments.get("x-queue-version").and_then(Value::as_i64) == Some(1) {
            cx.warning(
                Code::DeprecatedFeature,
                format!("/queues/{i}/arguments/x-queue-version"),
                format!("queue `{}`: `x-queue-version: 1` is gone in RabbitMQ 4.x", q.name),
            )
            .with_hint("remove it or use 2: 4.0-4.2 ignore 1, 4.3 refuses it (406 unsupported queue version)");
        }
        if kind == QueueType::Classic && q.arguments.contains_key("x-consumer-timeout") {
            cx.warning(
                Code::DeprecatedFeature,
                format!("/queues/{i}/arguments/x-consumer-timeout"),
                format!("classic queue `{}`: `x-consumer-timeout` is quorum-only from RabbitMQ 4.3.2", q.name),
            )
            .with_hint("use a quorum queue, or a `consumer-timeout` policy; 4.3.2 and later refuse it on classic queues (406)");
        }
    }
    for (i, p) in t.policies.iter().enumerate() {
        for key in p.definition.keys() {
            if key.starts_with("ha-") || key == "queue-master-locator" {
                cx.warning(
                    Code::DeprecatedFeature,
                    format!("/policies/{i}/definition/{key}"),
                    format!("policy `{}`: `{key}` is removed or denied in RabbitMQ 4.x", p.name),
                )
                .with_hint(if key.starts_with("ha-") {
                    "classic queue mirroring is gone in 4.0 and 4.x refuses the whole policy: use quorum queues (type: quorum) for replication"
                } else {
                    "use `queue-leader-locator`; RabbitMQ 4.3 refuses `queue-master-locator` (400)"
                });
            }
        }
    }
}
