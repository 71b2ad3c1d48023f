//! `topo route` against the real broker: import a topology into a fresh vhost, publish
//! hundreds of messages (a hand-written table of tricky cases plus generated keys and
//! headers), and check that exactly the predicted queues received each message, once.
//!
//! Needs RabbitMQ (guest/guest) where `TOPO_TEST_AMQP_URL` / `TOPO_TEST_MANAGEMENT_URL` say
//! (default the machine's 127.0.0.1:5672 / 15672), as `.ci/run` starts it.

#[path = "common/broker.rs"]
mod broker;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use topo::route::{Message, Numbers, RouteError, route};
use topo::state::{
    BindingArgs, BindingKey, BindingState, EntityKey, ExchangeState, QueueState, State,
};
use topo::topology::model::{DestinationType, QueueType};

fn mgmt_api() -> String {
    format!("{}/api", broker::mgmt())
}

fn amqp_url() -> String {
    broker::with_user(&broker::amqp(), "guest", "guest")
}

/// Whether the broker tests run (see `broker::available`), asked from a thread of its own:
/// the probe runs a runtime of its own, which cannot start inside the test's.
fn broker_available() -> bool {
    let name = std::thread::current()
        .name()
        .unwrap_or("route test")
        .to_string();
    std::thread::Builder::new()
        .name(name)
        .spawn(broker::available)
        .expect("thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// A hang guard, not a timing assertion: a loaded 2-core CI machine has taken over 20 s for
/// one import on the 4.x node.
const TIMEOUT: Duration = Duration::from_secs(90);

async fn timed<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("http client")
}

/// A vhost of its own, deleted when dropped (also when the test fails).
struct TestVhost {
    name: String,
}

impl TestVhost {
    /// `None` when the broker tests are skipped.
    async fn create() -> Option<TestVhost> {
        if !broker_available() {
            return None;
        }
        let mgmt = mgmt_api();
        let name = format!("topo-test-route-{:016x}", rand::random::<u64>());
        let c = http();
        let r = timed(
            "create vhost",
            c.put(format!("{mgmt}/vhosts/{}", enc(&name)))
                .basic_auth("guest", Some("guest"))
                .json(&json!({}))
                .send(),
        )
        .await
        .expect("create vhost");
        assert!(r.status().is_success(), "create vhost: {}", r.status());
        let vhost = TestVhost { name };
        let r = timed(
            "set permissions",
            c.put(format!("{mgmt}/permissions/{}/guest", enc(&vhost.name)))
                .basic_auth("guest", Some("guest"))
                .json(&json!({"configure": ".*", "write": ".*", "read": ".*"}))
                .send(),
        )
        .await
        .expect("permissions");
        assert!(r.status().is_success(), "permissions: {}", r.status());
        Some(vhost)
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let url = format!("{}/vhosts/{}", mgmt_api(), enc(&self.name));
        // Drop cannot await; a thread with its own runtime does the DELETE.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let _ = tokio::time::timeout(
                    TIMEOUT,
                    http().delete(url).basic_auth("guest", Some("guest")).send(),
                )
                .await;
            });
        })
        .join();
    }
}

/// The broker's definitions for a state's exchanges, queues, bindings and policies.
fn definitions(state: &State, vhost: &str) -> Value {
    let exchanges: Vec<Value> = state
        .exchanges
        .iter()
        .map(|(k, x)| {
            json!({"name": k.name, "vhost": vhost, "type": x.kind, "durable": x.durable,
                   "auto_delete": x.auto_delete, "internal": x.internal, "arguments": x.arguments})
        })
        .collect();
    let queues: Vec<Value> = state
        .queues
        .iter()
        .map(|(k, q)| {
            let mut args = q.arguments.clone();
            args.insert("x-queue-type".into(), json!(q.kind.as_str()));
            json!({"name": k.name, "vhost": vhost, "durable": q.durable,
                   "auto_delete": q.auto_delete, "arguments": args})
        })
        .collect();
    let bindings: Vec<Value> = state
        .bindings
        .keys()
        .map(|b| {
            json!({"source": b.source, "vhost": vhost, "destination": b.destination,
                   "destination_type": b.destination_type.as_str(),
                   "routing_key": b.routing_key, "arguments": b.arguments.map()})
        })
        .collect();
    let policies: Vec<Value> = state
        .policies
        .iter()
        .map(|(k, p)| {
            json!({"name": k.name, "vhost": vhost, "pattern": p.pattern,
                   "apply-to": p.apply_to, "priority": p.priority, "definition": p.definition})
        })
        .collect();
    json!({"exchanges": exchanges, "queues": queues, "bindings": bindings, "policies": policies})
}

/// Import the state and check the broker took all of it (an import skips silently).
async fn import(state: &State, vhost: &str) {
    let c = http();
    let mgmt = mgmt_api();
    let defs = definitions(state, vhost);
    let r = timed(
        "import definitions",
        c.post(format!("{mgmt}/definitions/{}", enc(vhost)))
            .basic_auth("guest", Some("guest"))
            .json(&defs)
            .send(),
    )
    .await
    .expect("import");
    assert!(r.status().is_success(), "import: {}", r.status());
    let r = timed(
        "read definitions",
        c.get(format!("{mgmt}/definitions/{}", enc(vhost)))
            .basic_auth("guest", Some("guest"))
            .send(),
    )
    .await
    .expect("read back");
    let back: Value = timed("read body", r.json()).await.expect("json");
    for kind in ["queues", "bindings", "policies"] {
        let want = defs[kind].as_array().map(Vec::len).unwrap_or(0);
        let got = back[kind].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(got, want, "{kind} on the broker after import");
    }
    // Exchanges from their own listing: RabbitMQ 4.2.9+ / 4.3.3+ leave internal exchanges
    // out of the definitions export (3.10 lists them), as topo's reader knows.
    let r = timed(
        "list exchanges",
        c.get(format!("{mgmt}/exchanges/{}", enc(vhost)))
            .basic_auth("guest", Some("guest"))
            .send(),
    )
    .await
    .expect("list exchanges");
    let listed: Value = timed("read body", r.json()).await.expect("json");
    let got = listed
        .as_array()
        .map(|xs| {
            xs.iter()
                .filter_map(|x| x["name"].as_str())
                .filter(|n| !n.is_empty() && !n.starts_with("amq."))
                .count()
        })
        .unwrap_or(0);
    let want = defs["exchanges"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(got, want, "exchanges on the broker after import");
}

/// One message to publish, and what route predicts for it.
struct Case {
    exchange: String,
    msg: Message,
    want: Option<Vec<String>>,
    /// Where 3.13 and later route it, when that differs from `want` (3.12 and older).
    want_by_type: Option<Vec<String>>,
}

fn case(exchange: &str, key: &str, headers: Value, want: &[&str]) -> Case {
    Case {
        exchange: exchange.into(),
        msg: Message {
            routing_key: key.into(),
            headers: serde_json::from_value(headers).expect("headers"),
        },
        want: Some(want.iter().map(|s| s.to_string()).collect()),
        want_by_type: None,
    }
}

/// A case the broker versions route differently: `old` on 3.12 and older (numbers compare
/// by value), `new` on 3.13 and later (an integer never equals a float).
fn case_by_version(exchange: &str, key: &str, headers: Value, old: &[&str], new: &[&str]) -> Case {
    let mut c = case(exchange, key, headers, old);
    c.want_by_type = Some(new.iter().map(|s| s.to_string()).collect());
    c
}

/// Hand-written cases, each with the queues a reader of RabbitMQ's docs expects.
fn tricky() -> Vec<Case> {
    let none = json!({});
    vec![
        // topic: `*` is one word, `#` zero or more, empty key is zero words
        case("events", "a", none.clone(), &["q.star"]),
        case("events", "", none.clone(), &["q.empty-key"]),
        case("events", "order.created", none.clone(), &["q.order"]),
        case("events", "order.a.b.done", none.clone(), &["q.order"]),
        case("events", "order.done", none.clone(), &["q.order"]),
        case("events", "order", none.clone(), &["q.star"]),
        case("events", "x.mid", none.clone(), &["q.mid"]),
        case("events", "x.mid.y.z", none.clone(), &["q.mid"]),
        case("events", "tail", none.clone(), &["q.star", "q.tail"]),
        case("events", "a..tail", none.clone(), &["q.tail"]),
        case("events", ".", none.clone(), &["q.all", "q.unrouted"]),
        // exchange-to-exchange into an internal exchange
        case("events", "a.b.audit", none.clone(), &["q.inner"]),
        // alternate exchange only when nothing matched, followed recursively
        case(
            "events",
            "nothing.here",
            none.clone(),
            &["q.all", "q.unrouted"],
        ),
        // CC and BCC add routing keys
        case(
            "events",
            "nothing.here",
            json!({"CC": ["order.x"]}),
            &["q.order"],
        ),
        case(
            "events",
            "nothing.here",
            json!({"BCC": ["a", "x.mid"]}),
            &["q.mid", "q.star"],
        ),
        // direct, and exchange-to-exchange with a cycle
        case("direct.jobs", "run", none.clone(), &["q.jobs"]),
        case("direct.jobs", "", none.clone(), &["q.jobs"]),
        case("direct.jobs", "RUN", none.clone(), &[]),
        case(
            "direct.jobs",
            "fanout",
            none.clone(),
            &["q.broadcast", "q.loop"],
        ),
        case("loop-a", "", none.clone(), &["q.broadcast", "q.loop"]),
        // alternate exchange from the higher-priority policy
        case("policy-ae", "job", none.clone(), &["q.jobs"]),
        case("policy-ae", "other", none.clone(), &["q.fallback"]),
        // builtin exchange
        case("amq.topic", "amq.x.y", none.clone(), &["q.amq"]),
        case("amq.topic", "other", none.clone(), &[]),
        // default exchange
        case("", "q.jobs", none.clone(), &["q.jobs"]),
        case("", "no-such-queue", none.clone(), &[]),
        case("", "say \"hi\" #2", none.clone(), &["say \"hi\" #2"]),
        case("odd.name-#1", "it's", none.clone(), &["say \"hi\" #2"]),
        // headers: all / any / with-x / types
        case(
            "by-header",
            "",
            json!({"format": "pdf", "type": "report"}),
            &["q.h-all", "q.h-any"],
        ),
        case("by-header", "", json!({"format": "pdf"}), &["q.h-any"]),
        case("by-header", "", json!({"size": 1}), &["q.h-any"]),
        // The binding's `size: 1` is an integer: a float header equals it on 3.x only.
        case_by_version("by-header", "", json!({"size": 1.0}), &["q.h-any"], &[]),
        case_by_version(
            "by-header",
            "",
            json!({"size": 1.0, "format": "pdf"}),
            &["q.h-any"],
            &["q.h-any"],
        ),
        case("by-header", "", json!({"size": 1.5}), &[]),
        case("by-header", "", json!({"size": "1"}), &[]),
        case(
            "by-header",
            "",
            json!({"x-tenant": "acme"}),
            &["q.h-allx", "q.h-anyx"],
        ),
        case("by-header", "", json!({"lang": "en"}), &["q.h-anyx"]),
        case("by-header", "", json!({"urgent": true}), &["q.h-bool"]),
        case("by-header", "", json!({"urgent": "true"}), &[]),
        case("by-header", "", json!({"x-only": "1"}), &[]),
        case(
            "by-header",
            "order.new",
            json!({"forward": "yes"}),
            &["q.order"],
        ),
        case("by-header", "zzz", json!({"forward": "yes"}), &["q.star"]),
        // CC is a header like any other to a headers exchange; BCC is stripped first
        case("by-header", "", json!({"CC": ["cc.key"]}), &["q.h-cc"]),
        case("by-header", "", json!({"BCC": ["bcc.key"]}), &[]),
        // a void binding argument (declared over AMQP below) matches on presence
        case("by-header", "", json!({"present": "x"}), &["q.h-void"]),
        case("by-header", "", json!({"present": 5}), &["q.h-void"]),
        case("by-header", "", json!({"present": false}), &["q.h-void"]),
        case("by-header", "", json!({"absent": 5}), &[]),
    ]
}

/// Generated cases: random keys over a small vocabulary (so bindings match often) and
/// random headers of every type.
fn generated(seed: u64, n: usize, exchanges: &[String]) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let words = [
        "order", "done", "mid", "tail", "audit", "a", "x", "", "run", "fanout", "job", "amq",
        "q.jobs", "*", "#",
    ];
    let header_names = [
        "format", "type", "size", "x-tenant", "lang", "urgent", "forward", "x-only",
    ];
    let values = [
        json!("pdf"),
        json!("report"),
        json!("1"),
        json!(1),
        json!(1.0),
        json!(2.5),
        json!(true),
        json!(false),
        json!("acme"),
        json!("en"),
        json!("yes"),
    ];
    let mut cases = Vec::new();
    for _ in 0..n {
        let exchange = exchanges[rng.random_range(0..exchanges.len())].clone();
        let n_words = rng.random_range(0..5);
        let key: Vec<&str> = (0..n_words)
            .map(|_| words[rng.random_range(0..words.len())])
            .collect();
        let mut headers = BTreeMap::new();
        for _ in 0..rng.random_range(0..4) {
            let name = header_names[rng.random_range(0..header_names.len())];
            headers.insert(
                name.to_string(),
                values[rng.random_range(0..values.len())].clone(),
            );
        }
        if rng.random_range(0..10) == 0 {
            let cc: Vec<&str> = (0..rng.random_range(1..3))
                .map(|_| words[rng.random_range(0..words.len())])
                .collect();
            headers.insert(
                if rng.random_bool(0.5) { "CC" } else { "BCC" }.to_string(),
                json!(cc),
            );
        }
        cases.push(Case {
            exchange,
            msg: Message {
                routing_key: key.join("."),
                headers,
            },
            want: None,
            want_by_type: None,
        });
    }
    cases
}

async fn publish(ch: &Channel, id: usize, case: &Case) -> bool {
    let mut headers =
        topo::broker::amqp::field_table(&case.msg.headers).expect("short header names");
    headers.insert(
        ShortString::from("topo-test-id"),
        AMQPValue::LongString(LongString::from(id.to_string())),
    );
    let confirm = timed(
        "publish",
        ch.basic_publish(
            ShortString::from(case.exchange.as_str()),
            ShortString::from(case.msg.routing_key.as_str()),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            id.to_string().as_bytes(),
            BasicProperties::default().with_headers(headers),
        ),
    )
    .await
    .expect("basic.publish");
    let confirmation = timed("confirm", confirm).await.expect("confirm");
    assert!(confirmation.is_ack(), "message {id} not acked");
    confirmation.take_message().is_some()
}

async fn connect(vhost: &str) -> (Connection, Channel) {
    let conn = timed(
        "connect",
        Connection::connect(
            &format!("{}/{}", amqp_url(), enc(vhost)),
            ConnectionProperties::default(),
        ),
    )
    .await
    .expect("connect");
    let ch = timed("channel", conn.create_channel())
        .await
        .expect("channel");
    (conn, ch)
}

/// The number rule of the test broker, from its version (3.10.8: by value; 4.x: by type),
/// said once per test so a run shows which rules were checked.
fn numbers_of_this_broker() -> Numbers {
    let name = std::thread::current()
        .name()
        .unwrap_or("route test")
        .to_string();
    let version = std::thread::Builder::new()
        .name(name)
        .spawn(broker::version)
        .expect("thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    let numbers = Numbers::of_version(&version)
        .unwrap_or_else(|| panic!("the broker's version {version:?} is not a version"));
    eprintln!("note: RabbitMQ {version}: route checked with header numbers compared {numbers:?}");
    numbers
}

/// How many cases `route` sends elsewhere under the 3.12 rule than under the 3.13 one.
fn telling_apart(state: &State, cases: &[Case]) -> usize {
    cases
        .iter()
        .filter(|c| {
            let by = |n| route(state, "/", &c.exchange, &c.msg, n).map(|r| r.queues);
            by(Numbers::ByValue) != by(Numbers::ByType)
        })
        .count()
}

/// Publish every case (confirms, mandatory), drain every queue, and compare with route.
/// Returns route's predictions and the mismatches, one line each.
async fn compare(
    state: &State,
    ch: &Channel,
    cases: &[Case],
    numbers: Numbers,
) -> (Vec<BTreeSet<String>>, Vec<String>) {
    timed(
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    .expect("confirm.select");

    // Route must answer and agree with the hand-written expectations, and the broker must
    // return exactly the messages route says reach no queue.
    let mut predicted: Vec<BTreeSet<String>> = Vec::new();
    for (id, c) in cases.iter().enumerate() {
        let mut visible = c.msg.clone();
        visible
            .headers
            .insert("topo-test-id".into(), json!(id.to_string()));
        let routed = route(state, "/", &c.exchange, &visible, numbers)
            .unwrap_or_else(|e| panic!("route failed for case {id}: {e}"));
        let want = match numbers {
            Numbers::ByType => c.want_by_type.as_ref().or(c.want.as_ref()),
            Numbers::ByValue => c.want.as_ref(),
        };
        if let Some(want) = want {
            assert_eq!(
                &routed.queues, want,
                "case {id}: exchange {:?} key {:?} headers {:?}",
                c.exchange, c.msg.routing_key, c.msg.headers
            );
        }
        let returned = publish(ch, id, c).await;
        assert_eq!(
            returned,
            routed.queues.is_empty(),
            "case {id}: exchange {:?} key {:?} headers {:?}: broker returned={returned} but \
             route predicted {:?}",
            c.exchange,
            c.msg.routing_key,
            c.msg.headers,
            routed.queues
        );
        predicted.push(routed.queues.into_iter().collect());
    }

    // Drain every queue; each message must be where route said, once.
    let mut actual: Vec<BTreeSet<String>> = vec![BTreeSet::new(); cases.len()];
    for q in state.queues.keys() {
        loop {
            let got = timed(
                "basic.get",
                ch.basic_get(
                    ShortString::from(q.name.as_str()),
                    BasicGetOptions { no_ack: true },
                ),
            )
            .await
            .expect("basic.get");
            let Some(m) = got else { break };
            let id: usize = String::from_utf8_lossy(&m.delivery.data)
                .parse()
                .expect("message id");
            assert!(
                actual[id].insert(q.name.clone()),
                "message {id} reached {} twice",
                q.name
            );
        }
    }
    let mut mismatches = Vec::new();
    for (id, c) in cases.iter().enumerate() {
        if predicted[id] != actual[id] {
            mismatches.push(format!(
                "case {id}: exchange {:?} key {:?} headers {:?}: route {:?}, broker {:?}",
                c.exchange, c.msg.routing_key, c.msg.headers, predicted[id], actual[id]
            ));
        }
    }
    (predicted, mismatches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_predicts_the_broker() {
    let loaded = topo::validate::load(Path::new("tests/fixtures/routing-lab.yaml"));
    let valid = match loaded.into_valid() {
        Ok(v) => v,
        Err(l) => panic!("fixture not valid: {:?}", l.diagnostics),
    };
    let mut state = State::from_topology(&valid.topology, &|_| None);
    let Some(vhost) = TestVhost::create().await else {
        return;
    };
    import(&state, &vhost.name).await;
    let (conn, ch) = connect(&vhost.name).await;

    // A binding argument without a value (AMQP void) cannot be imported from JSON; bind it
    // over AMQP and add it to the state route sees.
    let mut void_args = FieldTable::default();
    void_args.insert("x-match".into(), AMQPValue::LongString("all".into()));
    void_args.insert("present".into(), AMQPValue::Void);
    timed(
        "queue.bind",
        ch.queue_bind(
            "q.h-void".into(),
            "by-header".into(),
            "".into(),
            QueueBindOptions::default(),
            void_args,
        ),
    )
    .await
    .expect("queue.bind with a void argument");
    state.bindings.insert(
        BindingKey {
            vhost: "/".into(),
            source: "by-header".into(),
            destination_type: DestinationType::Queue,
            destination: "q.h-void".into(),
            routing_key: String::new(),
            arguments: BindingArgs::new(
                &serde_json::from_value::<serde_json::Map<String, serde_json::Value>>(
                    json!({"x-match": "all", "present": null}),
                )
                .expect("args"),
            ),
        },
        BindingState {},
    );

    let mut cases = tricky();
    let mut publishable: Vec<String> = state
        .exchanges
        .iter()
        .filter(|(_, x)| !x.internal)
        .map(|(k, _)| k.name.clone())
        .collect();
    publishable.extend(["", "amq.topic", "amq.direct"].map(String::from));
    cases.extend(generated(0x5eed_0001, 400, &publishable));

    // A case must route differently under the two rules, or the rule that differs between
    // the brokers goes unchecked.
    let differ = telling_apart(&state, &cases);
    assert!(differ >= 1, "no case tells the number rules apart");
    let numbers = numbers_of_this_broker();
    let (predicted, mismatches) = compare(&state, &ch, &cases, numbers).await;
    let _ = timed("close", conn.close(200, "done".into())).await;
    assert!(
        mismatches.is_empty(),
        "{} of {} messages routed differently:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    // The generated set must exercise both outcomes, or it proves little.
    let routed = predicted.iter().filter(|p| !p.is_empty()).count();
    assert!(routed > 100 && routed < cases.len() - 20, "routed {routed}");
}

/// A random topology: topic, direct, fanout and headers exchanges (some internal, some with
/// alternate exchanges), random binding keys with wildcards and empty words, random header
/// bindings of every match kind and value type, and exchange-to-exchange bindings that may
/// form cycles.
fn random_state(seed: u64) -> State {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = State::default();
    let kinds = [
        "topic", "topic", "topic", "direct", "fanout", "headers", "headers",
    ];
    let exchanges: Vec<String> = (0..kinds.len()).map(|i| format!("x{i}")).collect();
    for (i, kind) in kinds.iter().enumerate() {
        let mut arguments = BTreeMap::new();
        if rng.random_range(0..3) == 0 {
            let ae = &exchanges[rng.random_range(0..exchanges.len())];
            arguments.insert("alternate-exchange".to_string(), json!(ae));
        }
        s.exchanges.insert(
            EntityKey::new("/", exchanges[i].clone()),
            ExchangeState {
                kind: (*kind).into(),
                durable: true,
                auto_delete: false,
                internal: i > 0 && rng.random_range(0..5) == 0,
                arguments,
            },
        );
    }
    let queues: Vec<String> = (0..12).map(|i| format!("rq{i}")).collect();
    for q in &queues {
        s.queues.insert(
            EntityKey::new("/", q.clone()),
            QueueState {
                kind: QueueType::Classic,
                durable: true,
                auto_delete: false,
                arguments: BTreeMap::new(),
                messages: None,
                members: None,
            },
        );
    }
    let words = ["a", "b", "c", "", "*", "#"];
    let header_names = ["h1", "h2", "x-h"];
    let values = [json!("v"), json!("1"), json!(1), json!(true), json!(2.5)];
    let matches = ["all", "any", "all-with-x", "any-with-x"];
    for _ in 0..45 {
        let source = rng.random_range(0..exchanges.len());
        let to_exchange = rng.random_range(0..5) == 0;
        let destination = if to_exchange {
            exchanges[rng.random_range(0..exchanges.len())].clone()
        } else {
            queues[rng.random_range(0..queues.len())].clone()
        };
        let (routing_key, arguments) = if kinds[source] == "headers" {
            let mut args = BTreeMap::new();
            args.insert(
                "x-match".to_string(),
                json!(matches[rng.random_range(0..matches.len())]),
            );
            for _ in 0..rng.random_range(0..3) {
                args.insert(
                    header_names[rng.random_range(0..header_names.len())].to_string(),
                    values[rng.random_range(0..values.len())].clone(),
                );
            }
            (String::new(), BindingArgs::new(&args))
        } else {
            let n = rng.random_range(0..4);
            let key: Vec<&str> = (0..n)
                .map(|_| words[rng.random_range(0..words.len())])
                .collect();
            let key = if kinds[source] == "topic" {
                key.join(".")
            } else {
                key.into_iter()
                    .filter(|w| *w != "*" && *w != "#")
                    .collect::<Vec<_>>()
                    .join(".")
            };
            (key, BindingArgs::default())
        };
        s.bindings.insert(
            BindingKey {
                vhost: "/".into(),
                source: exchanges[source].clone(),
                destination_type: if to_exchange {
                    DestinationType::Exchange
                } else {
                    DestinationType::Queue
                },
                destination,
                routing_key,
                arguments,
            },
            BindingState {},
        );
    }
    s
}

fn random_messages(seed: u64, n: usize, state: &State) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let exchanges: Vec<String> = state
        .exchanges
        .iter()
        .filter(|(_, x)| !x.internal)
        .map(|(k, _)| k.name.clone())
        .collect();
    let words = ["a", "b", "c", "", "rq1"];
    let header_names = ["h1", "h2", "x-h", "other"];
    let values = [
        json!("v"),
        json!("1"),
        json!(1),
        json!(1.0),
        json!(true),
        json!(2.5),
    ];
    (0..n)
        .map(|_| {
            let nw = rng.random_range(0..4);
            let key: Vec<&str> = (0..nw)
                .map(|_| words[rng.random_range(0..words.len())])
                .collect();
            let mut headers = BTreeMap::new();
            for _ in 0..rng.random_range(0..3) {
                headers.insert(
                    header_names[rng.random_range(0..header_names.len())].to_string(),
                    values[rng.random_range(0..values.len())].clone(),
                );
            }
            Case {
                exchange: exchanges[rng.random_range(0..exchanges.len())].clone(),
                msg: Message {
                    routing_key: key.join("."),
                    headers,
                },
                want: None,
                want_by_type: None,
            }
        })
        .collect()
}

/// Random topologies and random messages: route and the broker must agree on every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_predicts_the_broker_on_random_topologies() {
    let mut routed = 0;
    let mut total = 0;
    let mut differ = 0;
    for seed in [11u64, 22, 33] {
        let state = random_state(seed);
        let Some(vhost) = TestVhost::create().await else {
            return;
        };
        import(&state, &vhost.name).await;
        let (conn, ch) = connect(&vhost.name).await;
        let cases = random_messages(seed ^ 0xabc, 150, &state);
        differ += telling_apart(&state, &cases);
        let (predicted, mismatches) = compare(&state, &ch, &cases, numbers_of_this_broker()).await;
        let _ = timed("close", conn.close(200, "done".into())).await;
        assert!(
            mismatches.is_empty(),
            "seed {seed}: {} of {} messages routed differently:\n{}",
            mismatches.len(),
            cases.len(),
            mismatches.join("\n")
        );
        routed += predicted.iter().filter(|p| !p.is_empty()).count();
        total += cases.len();
    }
    assert!(
        routed > total / 5 && routed < total,
        "routed {routed} of {total}"
    );
    // Random float and integer headers against random number bindings: the rule that
    // differs between the brokers must have been met.
    assert!(differ > 0, "no random case tells the number rules apart");
    eprintln!("note: {differ} of {total} random cases route differently by broker version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_exchange_is_refused_by_both() {
    let loaded = topo::validate::load(Path::new("tests/fixtures/routing-lab.yaml"));
    let valid = loaded.into_valid().ok().expect("fixture valid");
    let state = State::from_topology(&valid.topology, &|_| None);
    assert_eq!(
        route(&state, "/", "inner", &Message::default(), Numbers::ByType),
        Err(RouteError::Internal("inner".into()))
    );
    let Some(vhost) = TestVhost::create().await else {
        return;
    };
    import(&state, &vhost.name).await;
    let (conn, ch) = connect(&vhost.name).await;
    timed(
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    .expect("confirm.select");
    let published = timed(
        "publish",
        ch.basic_publish(
            ShortString::from("inner"),
            ShortString::from("a.audit"),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        ),
    )
    .await;
    let refused = match published {
        Err(_) => true,
        Ok(confirm) => timed("confirm", confirm).await.is_err(),
    };
    let _ = timed("close", conn.close(200, "done".into())).await;
    assert!(
        refused,
        "the broker accepted a publish to an internal exchange"
    );
}
