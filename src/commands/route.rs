//! `topo route [FILE] --exchange X --routing-key K [--header k=v]...`: the queues a message
//! would reach, offline.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::commands::{Hinted, load_valid};
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::output::TextOrJson as Format;
use crate::plan::policies::conflict_lines;
use crate::render::context::DEFAULT_BROKER_IMAGE;
use crate::route::{self, Message, Numbers};
use crate::state::effective::{Line, Matcher};
use crate::state::{DEFAULT_VHOST, EntityKey, State};
use crate::topology::model::QueueType;

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// Topology file (default: $TOPO_FILE, else ./topo.yaml; `-`: standard input).
    pub file: Option<PathBuf>,

    /// Exchange to publish to; `''` is the default exchange.
    #[arg(long, short = 'e', allow_hyphen_values = true)]
    pub exchange: String,

    /// Routing key of the message.
    #[arg(long, short = 'k', default_value = "", allow_hyphen_values = true)]
    pub routing_key: String,

    /// A message header: `name=value` (a string) or `name:=JSON` (typed: `n:=5`,
    /// `flag:=true`, `CC:=["a.b"]`). Repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
    pub headers: Vec<String>,

    /// Vhost to publish in (default: the file's `vhost`, else `/`).
    #[arg(long)]
    pub vhost: Option<String>,

    /// RabbitMQ version whose routing rules to follow (`3.10`, `4.3.6`): numbers in headers
    /// bindings compare by value up to 3.12 and by type from 3.13 (an integer `1` never
    /// equals a float `1.0` there). Default: the version of the file's `broker.image`, else
    /// that of the image renders default to (the current 4.x).
    #[arg(long, value_name = "VERSION")]
    pub broker_version: Option<String>,

    /// Output format: text (one queue per line) or json.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The `--format json` document (a documented contract: docs/review.md).
#[derive(Serialize)]
struct JsonRoute<'a> {
    vhost: &'a str,
    exchange: &'a str,
    routing_key: &'a str,
    headers: &'a BTreeMap<String, Value>,
    queues: &'a [String],
    exchanges: &'a [String],
    /// Shovels and federation links the message crosses (see `route::links`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    across: &'a [route::links::Hop],
    /// Reached queues whose policy and operator policy disagree, and what they get.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    policy_notes: &'a [String],
}

/// The broker line whose queue types decide which policies apply (see
/// `state::effective`): the flag's version, else the file's image tag, else 4.x.
fn policy_line(flag: Option<&str>, image: Option<&str>) -> Line {
    let tag = image.and_then(|i| i.rsplit_once(':')).map(|(_, t)| t);
    flag.or(tag).map_or(Line::V4, Line::of_version)
}

/// The number rule of headers bindings, and whether the user named the version (flag or the
/// file's image) rather than topo assuming the default image's.
fn numbers_rule(flag: Option<&str>, image: Option<&str>) -> Result<(Numbers, bool), Hinted> {
    if let Some(v) = flag {
        return Numbers::of_version(v).map(|n| (n, true)).ok_or_else(|| {
            Hinted::new(
                format!("--broker-version `{v}` is not a RabbitMQ version"),
                "give the broker's version as numbers, e.g. `--broker-version 3.10` or `4.3.6`",
            )
        });
    }
    if let Some(n) = image.and_then(Numbers::of_image) {
        return Ok((n, true));
    }
    let n = Numbers::of_image(DEFAULT_BROKER_IMAGE).unwrap_or(Numbers::ByType);
    Ok((n, false))
}

/// Parse `name=value` (string) or `name:=JSON` (typed).
pub fn parse_header(arg: &str) -> Result<(String, Value), Hinted> {
    let hint = "write `--header name=value` for a string, `--header name:=JSON` for a typed value";
    let Some(eq) = arg.find('=') else {
        return Err(Hinted::new(format!("header `{arg}` has no `=`"), hint));
    };
    let (name, value) = (&arg[..eq], &arg[eq + 1..]);
    if let Some(name) = name.strip_suffix(':') {
        if name.is_empty() {
            return Err(Hinted::new(format!("header `{arg}` has no name"), hint));
        }
        let parsed: Value = serde_json::from_str(value).map_err(|e| {
            Hinted::new(
                format!("the value of header `{name}` is not JSON: {e}"),
                "quote strings (`name:='\"text\"'`) or use `name=text`",
            )
        })?;
        return Ok((name.to_string(), parsed));
    }
    if name.is_empty() {
        return Err(Hinted::new(format!("header `{arg}` has no name"), hint));
    }
    Ok((name.to_string(), Value::String(value.to_string())))
}

pub fn run(args: RouteArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let mut headers = BTreeMap::new();
    for h in &args.headers {
        let (k, v) = parse_header(h)?;
        headers.insert(k, v);
    }
    // A broker would never accept these, so no route could exist: refuse, as apply does.
    let limited = [
        ("routing key", &args.routing_key),
        ("exchange", &args.exchange),
    ];
    let names = headers.keys().map(|k| ("header name", k));
    for (what, value) in limited.into_iter().chain(names) {
        if let Some(why) = crate::validate::rules::short_string_problem(value) {
            return Err(Hinted::new(
                format!("the {what} {why}"),
                "RabbitMQ refuses routing keys, exchange and header names over 255 bytes",
            )
            .into());
        }
    }
    let path = crate::commands::resolve_file(args.file)?;
    let valid = match load_valid(&path, color) {
        Ok(v) => v,
        Err(status) => return Ok(status),
    };
    let vhost = args
        .vhost
        .or_else(|| valid.topology.vhost.clone())
        .unwrap_or_else(|| DEFAULT_VHOST.to_string());
    let state = State::from_topology(&valid.topology, &|_| None);
    let msg = Message {
        routing_key: args.routing_key.clone(),
        headers,
    };
    let image = valid
        .topology
        .broker
        .as_ref()
        .and_then(|b| b.image.as_deref());
    let (numbers, told) = numbers_rule(args.broker_version.as_deref(), image)?;
    let routed =
        route::route(&state, &vhost, &args.exchange, &msg, numbers).map_err(|e| {
            match e.hint() {
                Some(h) => anyhow::Error::new(Hinted::new(e.to_string(), h)),
                None => anyhow::Error::new(e),
            }
        })?;
    if !told {
        // Nothing named the broker's version and the answer depends on it: say so, once.
        let other = match numbers {
            Numbers::ByType => Numbers::ByValue,
            Numbers::ByValue => Numbers::ByType,
        };
        if let Ok(r) = route::route(&state, &vhost, &args.exchange, &msg, other)
            && r.queues != routed.queues
        {
            eprintln!(
                "topo: note: routed as RabbitMQ 3.13 and later route it (the image renders \
                 default to, {DEFAULT_BROKER_IMAGE}); RabbitMQ 3.12 and older compare numbers \
                 in headers bindings by value and would deliver to: {}. Pass --broker-version \
                 or set broker.image to say which broker this is",
                if r.queues.is_empty() {
                    "no queue".to_string()
                } else {
                    r.queues.join(", ")
                }
            );
        }
    }

    let line = policy_line(args.broker_version.as_deref(), image);
    // One matcher for every queue reached: it compiles the policies' patterns once.
    let matcher = Matcher::new(&state);
    let policy_notes: Vec<String> = routed
        .queues
        .iter()
        .flat_map(|q| {
            let key = EntityKey::new(vhost.clone(), q.clone());
            let kind = state
                .queues
                .get(&key)
                .map_or(QueueType::Classic, |q| q.kind);
            conflict_lines(&key, &matcher.effective(&key, kind, line))
        })
        .collect();
    let hops = route::links::across(&state, &vhost, &args.exchange, &msg, &routed, numbers);

    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let doc = JsonRoute {
                vhost: &vhost,
                exchange: &args.exchange,
                routing_key: &args.routing_key,
                headers: &msg.headers,
                queues: &routed.queues,
                exchanges: &routed.exchanges,
                policy_notes: &policy_notes,
                across: &hops,
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Text => {
            for q in &routed.queues {
                writeln!(out, "{q}")?;
            }
            for n in &policy_notes {
                eprintln!("topo: note: {n}");
            }
            for hop in &hops {
                match (&hop.vhost, &hop.elsewhere) {
                    (Some(v), _) if !hop.queues.is_empty() => {
                        for q in &hop.queues {
                            writeln!(out, "{q} (vhost {v}, through {})", hop.through)?;
                        }
                    }
                    (Some(v), _) => eprintln!(
                        "topo: note: {} takes it to vhost {v}, where no queue receives it",
                        hop.through
                    ),
                    (None, Some(e)) => eprintln!(
                        "topo: note: {} takes it to {e}, another broker: not followed",
                        hop.through
                    ),
                    (None, None) => {}
                }
            }
            let arrives = hops
                .iter()
                .any(|h| !h.queues.is_empty() || h.elsewhere.is_some());
            if routed.queues.is_empty() && !arrives {
                eprintln!(
                    "no queue receives this message: the broker drops it (or returns it to a \
                     publisher that set `mandatory`)"
                );
            }
        }
    }
    Ok(ExitStatus::Success)
}
