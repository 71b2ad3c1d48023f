//! `topo route` as a user runs it: outputs, exit codes and errors.

use std::process::{Command, Output};

use serde_json::{Value, json};

fn topo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_topo"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("TOPO_FILE")
        .output()
        .expect("run topo")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const LAB: &str = "tests/fixtures/routing-lab.yaml";

#[test]
fn text_is_one_queue_per_line() {
    let out = topo(&[
        "route",
        LAB,
        "--exchange",
        "direct.jobs",
        "--routing-key",
        "fanout",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "q.broadcast\nq.loop\n");
}

#[test]
fn json_lists_queues_and_the_path() {
    let out = topo(&[
        "route",
        LAB,
        "-e",
        "events",
        "-k",
        "nothing.here",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v,
        json!({
            "vhost": "/",
            "exchange": "events",
            "routing_key": "nothing.here",
            "headers": {},
            "queues": ["q.all", "q.unrouted"],
            "exchanges": ["events", "events.unrouted", "everything"]
        })
    );
}

#[test]
fn typed_and_string_headers() {
    let typed = topo(&["route", LAB, "-e", "by-header", "-H", "size:=1"]);
    assert_eq!(text(&typed.stdout), "q.h-any\n", "{}", text(&typed.stderr));
    let string = topo(&["route", LAB, "-e", "by-header", "-H", "size=1"]);
    assert_eq!(string.status.code(), Some(0));
    assert_eq!(text(&string.stdout), "");
    assert!(text(&string.stderr).contains("no queue receives this message"));
    let cc = topo(&[
        "route",
        LAB,
        "-e",
        "events",
        "-k",
        "zz.zz",
        "-H",
        r#"CC:=["order.x"]"#,
    ]);
    assert_eq!(text(&cc.stdout), "q.order\n", "{}", text(&cc.stderr));
}

#[test]
fn default_exchange_on_the_shipped_example() {
    let out = topo(&[
        "route",
        "topologies/dev.yaml",
        "-e",
        "",
        "-k",
        "orders.dead",
    ]);
    assert_eq!(text(&out.stdout), "orders.dead\n", "{}", text(&out.stderr));
    let out = topo(&[
        "route",
        "topologies/dev.yaml",
        "-e",
        "orders",
        "-k",
        "order.created",
    ]);
    assert_eq!(text(&out.stdout), "orders.audit\n");
}

#[test]
fn unknown_exchange_suggests_a_name() {
    let out = topo(&["route", "topologies/dev.yaml", "-e", "ordrs", "-k", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("no exchange `ordrs` in vhost `/`"), "{err}");
    assert!(err.contains("did you mean `orders`?"), "{err}");
}

#[test]
fn amq_default_points_at_the_empty_name() {
    let out = topo(&[
        "route",
        "topologies/dev.yaml",
        "-e",
        "amq.default",
        "-k",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--exchange ''"));
}

#[test]
fn internal_exchange_is_an_error() {
    let out = topo(&["route", LAB, "-e", "inner", "-k", "a.audit"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("exchange `inner` is internal"));
}

#[test]
fn bad_header_is_an_error() {
    for bad in ["novalue", "=x", "n:=not json"] {
        let out = topo(&["route", LAB, "-e", "events", "-H", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(
            text(&out.stderr).contains("hint:"),
            "{bad}: {}",
            text(&out.stderr)
        );
    }
    let out = topo(&["route", LAB, "-e", "events", "-H", "CC=order.x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("must be an array of strings"));
}

#[test]
fn invalid_file_is_reported_and_nothing_routed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "version: 1\nexchanges:\n  - {name: x, type: nope}\n").expect("write");
    let out = topo(&["route", path.to_str().expect("utf8"), "-e", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("is not valid"));
}

#[test]
fn the_files_vhost_is_the_default_and_names_are_exact() {
    let file = "tests/fixtures/graph/vhosts.yaml";
    let out = topo(&["route", file, "-e", "in|bound", "-k", "new&used"]);
    assert_eq!(text(&out.stdout), "<orders>\n", "{}", text(&out.stderr));
    let out = topo(&[
        "route", file, "--vhost", "ops/eu", "-e", "audit", "--format", "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["vhost"], "ops/eu");
    assert_eq!(v["queues"], json!(["`trail`"]));
    let out = topo(&["route", file, "--vhost", "ops/eu", "-e", "in|bound"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no exchange `in|bound` in vhost `ops/eu`"));
}

#[test]
fn numbers_follow_the_broker_version() {
    // The lab binds `size: 1` (an integer); the message carries the float `1.0`.
    let route = |extra: &[&str]| {
        let mut args = vec!["route", LAB, "-e", "by-header", "-H", "size:=1.0"];
        args.extend_from_slice(extra);
        topo(&args)
    };
    let old = route(&["--broker-version", "3.10"]);
    assert_eq!(text(&old.stdout), "q.h-any\n", "{}", text(&old.stderr));
    assert!(!text(&old.stderr).contains("note"), "{}", text(&old.stderr));
    let new = route(&["--broker-version", "4.3.6"]);
    assert_eq!(new.status.code(), Some(0));
    assert_eq!(text(&new.stdout), "");
    assert!(
        !text(&new.stderr).contains("3.12 and older"),
        "{}",
        text(&new.stderr)
    );

    // Nothing says which broker: the default image's (4.x) rule, and a note that 3.12 and
    // older would deliver elsewhere.
    let guessed = route(&[]);
    assert_eq!(guessed.status.code(), Some(0));
    assert_eq!(text(&guessed.stdout), "");
    let err = text(&guessed.stderr);
    assert!(
        err.contains("3.12 and older") && err.contains("q.h-any"),
        "{err}"
    );
    assert!(err.contains("--broker-version"), "{err}");
    // Where both rules agree there is no note.
    let same = topo(&["route", LAB, "-e", "by-header", "-H", "size:=1"]);
    assert!(
        !text(&same.stderr).contains("note"),
        "{}",
        text(&same.stderr)
    );

    // The file's broker.image names the version.
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = std::fs::read_to_string(LAB).expect("lab");
    let f = dir.path().join("lab-3.yaml");
    std::fs::write(
        &f,
        format!("{lab}\nbroker:\n  image: rabbitmq:3.12-management\n"),
    )
    .expect("write");
    let by_image = topo(&[
        "route",
        f.to_str().expect("utf-8"),
        "-e",
        "by-header",
        "-H",
        "size:=1.0",
    ]);
    assert_eq!(
        text(&by_image.stdout),
        "q.h-any\n",
        "{}",
        text(&by_image.stderr)
    );
    assert!(
        !text(&by_image.stderr).contains("note"),
        "{}",
        text(&by_image.stderr)
    );

    let bad = route(&["--broker-version", "latest"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("is not a RabbitMQ version"),
        "{}",
        text(&bad.stderr)
    );
}

const LINKS: &str = "tests/fixtures/graph/links.yaml";

#[test]
fn a_message_crosses_a_shovel_into_another_vhost() {
    let out = topo(&["route", LINKS, "-e", "", "-k", "outbox"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "outbox\ninbox (vhost archive, through shovel to-archive@orders)\n"
    );
}

#[test]
fn a_message_crosses_a_federation_link_and_leaves_through_a_shovel() {
    let out = topo(&["route", LINKS, "-e", "events", "-k", "order.created"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "audit (vhost downstream, through federation upstream origin@downstream (exchange \
         events))\n"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("shovel offsite@orders takes it to $OFFSITE_URI, another broker"),
        "{err}"
    );
    assert!(!err.contains("no queue receives"), "{err}");

    // A key the downstream's bindings do not match does not cross (nor does the shovel
    // take it: its binding key is `order.created`).
    let out = topo(&["route", LINKS, "-e", "events", "-k", "invoice.paid"]);
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("no queue receives"));

    let out = topo(&[
        "route",
        LINKS,
        "-e",
        "events",
        "-k",
        "order.created",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["queues"], json!([]));
    assert_eq!(
        v["across"],
        json!([
            {"through": "shovel offsite@orders", "vhost": null, "queues": [],
             "elsewhere": "$OFFSITE_URI"},
            {"through": "federation upstream origin@downstream (exchange events)",
             "vhost": "downstream", "queues": ["audit"], "elsewhere": null}
        ])
    );
}
