//! Shovels and federation upstreams against the real broker (3.10 and 4.x, with
//! `rabbitmq_shovel` and `rabbitmq_federation` enabled: `.ci/run`, scripts/rabbitmq4.sh):
//! messages really move between two vhosts, plan has no false diff after apply, shows the
//! shovel's state, updates key by key, prunes only with --prune, and no output carries the
//! URI's password.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "common/amqp.rs"]
mod amqp;
#[path = "common/broker.rs"]
mod broker;

use std::time::{Duration, Instant};

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::json;

/// A password that must never be printed (URL-hostile, so it is percent-encoded in URIs).
const LINK_PASSWORD: &str = "l1nk/Pw@9931";

fn encoded(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A user for the links, with the password above and all permissions on `vhosts`.
fn link_user(v: &TestVhost, vhosts: &[&str]) -> String {
    let user = v.user("link");
    v.put(
        &["users", &user],
        &json!({"password": LINK_PASSWORD, "tags": ""}),
    );
    for vh in vhosts {
        v.put(
            &["permissions", vh, &user],
            &json!({"configure": ".*", "write": ".*", "read": ".*"}),
        );
    }
    user
}

/// `amqp://user:password@host:port/vhost` of the test broker.
fn uri(user: &str, vhost: &str) -> String {
    let base = broker::amqp();
    let rest = base.trim_start_matches("amqp://");
    format!(
        "amqp://{user}:{}@{rest}/{}",
        encoded(LINK_PASSWORD),
        encoded(vhost)
    )
}

fn assert_no_password(label: &str, text: &str) {
    for form in [LINK_PASSWORD.to_string(), encoded(LINK_PASSWORD)] {
        assert!(!text.contains(&form), "{label} shows the password: {text}");
    }
}

/// Publish `body` to `exchange` with `key` in `vhost`, as guest, confirmed.
fn publish(vhost: &str, exchange: &str, key: &str, body: &str) {
    assert!(
        amqp::publish("guest", "guest", vhost, exchange, key, body),
        "the broker did not ack {body} to {exchange} in {vhost}"
    );
}

/// The bodies `queue` in `vhost` holds, as guest (see [`amqp::receive`]).
fn receive(vhost: &str, queue: &str, n: usize, within: Duration) -> Vec<String> {
    amqp::receive("guest", "guest", vhost, queue, n, within)
}

/// The link user and its permissions, as the file declares them (its password unmanaged),
/// so that `--prune` keeps them.
fn user_entries(user: &str, a: &str, b: &str) -> String {
    format!(
        r#"users:
  - {{name: {user}}}
permissions:
  - {{user: {user}, vhost: {a}, configure: ".*", write: ".*", read: ".*"}}
  - {{user: {user}, vhost: {b}, configure: ".*", write: ".*", read: ".*"}}
"#
    )
}

fn shovel_file(a: &str, b: &str, user: &str, prefetch: Option<u32>) -> String {
    let prefetch = prefetch
        .map(|n| format!("\n    prefetch_count: {n}"))
        .unwrap_or_default();
    format!(
        r#"broker:
  plugins: [rabbitmq_shovel]
vhosts:
  - {{name: {b}}}
queues:
  - {{name: outbox}}
  - {{name: inbox, vhost: {b}}}
shovels:
  - name: move
    source: {{uri_env: TOPO_TEST_SRC_URI, queue: outbox}}
    destination: {{uri_env: TOPO_TEST_DEST_URI, queue: inbox}}{prefetch}
{}"#,
        user_entries(user, a, b)
    )
}

#[test]
fn a_shovel_moves_messages_between_vhosts_without_showing_its_password() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let a = v.name.clone();
    let b = v.extra_vhost();
    v.create_vhost(&b);
    let user = link_user(&v, &[&a, &b]);
    let (src, dest) = (uri(&user, &a), uri(&user, &b));
    let env = [
        ("TOPO_TEST_SRC_URI", src.as_str()),
        ("TOPO_TEST_DEST_URI", dest.as_str()),
    ];
    let file = v.file("links.yaml", &shovel_file(&a, &b, &user, None));

    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("+ create shovel move@{a}")),
        "{text}"
    );
    assert!(text.contains("amqp://***@"), "{text}");
    assert_no_password("plan", &format!("{text}{}", stderr(&plan)));

    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert_no_password("apply", &format!("{}{}", stdout(&apply), stderr(&apply)));
    let stored = v.get(&["parameters", "shovel", &a, "move"]);
    assert_eq!(
        stored["value"]["src-uri"],
        json!(src),
        "the broker got the real URI"
    );

    // Messages published in A reach B's queue through the shovel.
    for i in 0..3 {
        publish(&a, "", "outbox", &format!("m{i}"));
    }
    let got = receive(&b, "inbox", 3, Duration::from_secs(30));
    assert_eq!(got, ["m0", "m1", "m2"]);

    // No false diff, with or without prune, in text and JSON; the state is a note.
    for extra in [&[][..], &["--prune"][..], &["--format", "json"][..]] {
        let mut args = vec!["plan", path_str(&file)];
        args.extend(extra);
        let plan = v.topo(&args, &env);
        assert_eq!(code(&plan), 0, "{args:?}: {}", stdout(&plan));
        let err = stderr(&plan);
        assert!(
            err.contains(&format!("note: shovel move@{a}: running")),
            "{err}"
        );
        assert_no_password("plan", &format!("{}{err}", stdout(&plan)));
    }
    // Tracing prints paths and timings, never the URIs.
    let traced = v.topo(
        &["plan", path_str(&file)],
        &[env[0], env[1], ("TOPO_TRACE", "1")],
    );
    assert!(stderr(&traced).contains("trace:"), "{}", stderr(&traced));
    assert_no_password("trace", &format!("{}{}", stdout(&traced), stderr(&traced)));

    // One key changes: the update names it alone.
    let file = v.file("links.yaml", &shovel_file(&a, &b, &user, Some(50)));
    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("~ update shovel move@{a}")),
        "{text}"
    );
    assert!(text.contains("src-prefetch-count: 1000 -> 50"), "{text}");
    assert!(!text.contains("src-uri"), "{text}");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &env)), 0);
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);

    // Another password in the variable is a change, shown as `***`.
    let other = uri(&user, &a).replace(&encoded(LINK_PASSWORD), "other-pw");
    let plan = v.topo(
        &["plan", path_str(&file)],
        &[("TOPO_TEST_SRC_URI", &other), env[1]],
    );
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("src-uri: *** -> *** (changed)"),
        "{}",
        stdout(&plan)
    );

    // Export shows the userinfo as `***`, and such a URI does not validate as a file.
    let export = v.topo(&["export", "--vhost", &a], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let text = stdout(&export);
    assert!(text.contains("shovels:"), "{text}");
    assert!(text.contains("amqp://***@"), "{text}");
    assert_no_password("export", &text);
    let exported = v.file("exported.yaml", "");
    std::fs::write(&exported, &text).unwrap();
    let validate = v.topo(&["validate", path_str(&exported)], &[]);
    assert_eq!(code(&validate), 1, "{}", stdout(&validate));
    assert!(
        stderr(&validate).contains("TOPO025"),
        "{}",
        stderr(&validate)
    );

    // A shovel the file lacks stays without --prune and goes with it.
    v.put(
        &["parameters", "shovel", &a, "stray"],
        &json!({"value": {"src-uri": format!("amqp:///{a}"), "src-queue": "outbox",
                          "dest-uri": format!("amqp:///{a}"), "dest-queue": "elsewhere"}}),
    );
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &env);
    assert_eq!(code(&plan), 2);
    assert!(
        stdout(&plan).contains(&format!("- delete shovel stray@{a}")),
        "{}",
        stdout(&plan)
    );
    let apply = v.topo(&["apply", path_str(&file), "--prune", "--yes"], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert!(v.get_opt(&["parameters", "shovel", &a, "stray"]).is_none());
    assert!(v.get_opt(&["parameters", "shovel", &a, "move"]).is_some());
}

#[test]
fn an_unset_uri_variable_stops_before_the_broker() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let b = v.extra_vhost();
    let file = v.file("links.yaml", &shovel_file(&v.name, &b, "nobody", None));
    // Nothing listens on port 1: had topo asked the broker first, it would fail on that.
    let plan = v.topo(
        &["plan", path_str(&file)],
        &[
            ("TOPO_TEST_DEST_URI", "amqp://"),
            ("TOPO_MANAGEMENT_URL", "http://127.0.0.1:1"),
            ("TOPO_AMQP_URL", "amqp://127.0.0.1:1"),
        ],
    );
    assert_eq!(code(&plan), 1, "{}", stdout(&plan));
    assert!(
        stderr(&plan).contains("TOPO_TEST_SRC_URI, which is not set"),
        "{}",
        stderr(&plan)
    );
}

#[test]
fn a_federated_exchange_receives_what_its_upstream_gets() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let a = v.name.clone();
    let b = v.extra_vhost();
    v.create_vhost(&b);
    let user = link_user(&v, &[&a, &b]);
    let up = uri(&user, &a);
    let env = [("TOPO_TEST_UPSTREAM_URI", up.as_str())];
    let body = format!(
        r#"broker:
  plugins: [rabbitmq_federation]
vhosts:
  - {{name: {b}}}
exchanges:
  - {{name: events, type: direct}}
  - {{name: events, vhost: {b}, type: direct}}
queues:
  - {{name: mirror, vhost: {b}}}
bindings:
  - {{source: events, vhost: {b}, destination: mirror, routing_key: k}}
federation_upstreams:
  - {{name: origin, vhost: {b}, uri_env: TOPO_TEST_UPSTREAM_URI, exchange: events}}
policies:
  - name: federate
    vhost: {b}
    pattern: "^events$"
    apply_to: exchanges
    definition: {{federation-upstream: origin}}
{}"#,
        user_entries(&user, &a, &b)
    );
    let file = v.file("fed.yaml", &body);
    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("+ create federation upstream origin@{b}")),
        "{text}"
    );
    assert_no_password("plan", &format!("{text}{}", stderr(&plan)));
    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));

    // The link comes up, then a message published upstream (A) arrives in B.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let links = v.get(&["federation-links", &b]);
        let running = links
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["status"] == json!("running"));
        if running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no running federation link: {links}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The link binds its queue upstream once it runs; publish until one arrives.
    let mut got = Vec::new();
    for i in 0..20 {
        publish(&a, "events", "k", &format!("f{i}"));
        got = receive(&b, "mirror", 1, Duration::from_secs(1));
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1, "nothing crossed the federation link");
    assert!(got[0].starts_with('f'), "{got:?}");

    // No false diff; the link's state is a note; export hides the userinfo.
    for extra in [&[][..], &["--prune"][..]] {
        let mut args = vec!["plan", path_str(&file)];
        args.extend(extra);
        let plan = v.topo(&args, &env);
        assert_eq!(code(&plan), 0, "{args:?}: {}", stdout(&plan));
        let err = stderr(&plan);
        assert!(
            err.contains(&format!(
                "note: federation upstream origin@{b} (link of events): running"
            )),
            "{err}"
        );
    }
    let export = v.topo(&["export", "--vhost", &b], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let text = stdout(&export);
    assert!(text.contains("federation_upstreams:"), "{text}");
    assert!(text.contains("uri: \"amqp://***@"), "{text}");
    assert_no_password("export", &text);
}

/// A file that brings its own vhost: the plugin check asks the status endpoint of a vhost the
/// broker does not have yet (404), which must not read as a missing plugin.
#[test]
fn a_shovel_in_a_vhost_that_apply_creates_is_planned_and_applied() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let fresh = v.extra_vhost();
    let local = format!("amqp:///{}", encoded(&fresh));
    let file = v.file(
        "fresh.yaml",
        &format!(
            r#"broker:
  plugins: [rabbitmq_shovel]
vhosts:
  - {{name: {fresh}}}
queues:
  - {{name: from, vhost: {fresh}}}
  - {{name: to, vhost: {fresh}}}
shovels:
  - name: local
    vhost: {fresh}
    source: {{uri: "{local}", queue: from}}
    destination: {{uri: "{local}", queue: to}}
"#
        ),
    );
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 2, "{}\n{}", stdout(&plan), stderr(&plan));
    assert!(
        stdout(&plan).contains(&format!("+ create shovel local@{fresh}")),
        "{}",
        stdout(&plan)
    );
    let apply = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let stored = v.get(&["parameters", "shovel", &fresh, "local"]);
    assert_eq!(stored["value"]["src-queue"], json!("from"));
    let again = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&again), 0, "{}\n{}", stdout(&again), stderr(&again));
}

/// A link URI the broker holds as a list (it tries them in turn) is kept whole: a file's
/// `uri_env` list is applied as a list, plans no change afterwards, and export writes every
/// URI of it, and of a list set outside topo, not only the first.
#[test]
fn a_list_of_uris_is_applied_planned_and_exported_whole() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let a = v.name.clone();
    let b = v.extra_vhost();
    v.create_vhost(&b);
    let user = link_user(&v, &[&a, &b]);
    let first = uri(&user, &a);
    let second = format!("{first}?heartbeat=10");
    let env = [
        ("TOPO_TEST_UP1", first.as_str()),
        ("TOPO_TEST_UP2", second.as_str()),
    ];
    let body = format!(
        r#"broker:
  plugins: [rabbitmq_federation]
vhosts:
  - {{name: {b}}}
federation_upstreams:
  - {{name: origin, vhost: {b}, uri_env: [TOPO_TEST_UP1, TOPO_TEST_UP2]}}
"#
    );
    let file = v.file("fed-list.yaml", &body);
    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert_no_password("apply", &format!("{}{}", stdout(&apply), stderr(&apply)));
    let stored = v.get(&["parameters", "federation-upstream", &b, "origin"]);
    assert_eq!(stored["value"]["uri"], json!([first, second]));

    // No false diff; another order is a change.
    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 0, "{}\n{}", stdout(&plan), stderr(&plan));
    let swapped = [("TOPO_TEST_UP1", env[1].1), ("TOPO_TEST_UP2", env[0].1)];
    let plan = v.topo(&["plan", path_str(&file)], &swapped);
    assert_eq!(code(&plan), 2, "{}", stdout(&plan));
    assert_no_password("plan", &format!("{}{}", stdout(&plan), stderr(&plan)));

    // A list set outside topo, without credentials: exported whole, and it round-trips.
    let here = format!("amqp:///{}", encoded(&a));
    let there = format!("amqp:///{}", encoded(&b));
    v.put(
        &["parameters", "federation-upstream", &b, "manual"],
        &json!({"value": {"uri": [&here, &there]}}),
    );
    let export = v.topo(&["export", "--vhost", &b], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let text = stdout(&export);
    assert_no_password("export", &text);
    assert_eq!(text.matches("amqp://***@").count(), 2, "{text}");
    assert!(text.contains("heartbeat=10"), "{text}");
    assert!(text.contains(&here) && text.contains(&there), "{text}");
    let doc = topo::source::yaml::parse(&text, topo::source::FileId(0))
        .unwrap_or_else(|d| panic!("export does not parse: {}\n{text}", d.message))
        .to_json();
    let uri_of = |name: &str| {
        doc["federation_upstreams"]
            .as_array()
            .and_then(|l| l.iter().find(|u| u["name"] == name))
            .map(|u| u["uri"].clone())
    };
    assert_eq!(uri_of("manual"), Some(json!([&here, &there])), "{text}");
    let origin = uri_of("origin").unwrap_or_default();
    assert_eq!(origin.as_array().map(Vec::len), Some(2), "{text}");
    // The list round-trips through the file's model.
    let model: topo::topology::model::FederationUpstream = serde_json::from_value(json!({
        "name": "manual", "uri": uri_of("manual")
    }))
    .unwrap();
    assert_eq!(
        model.uri,
        Some(topo::topology::model::Uris::List(vec![here, there]))
    );
}
