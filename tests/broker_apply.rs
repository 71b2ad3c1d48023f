//! apply and plan against the real local RabbitMQ, one vhost per test.

#[path = "common/amqp.rs"]
mod amqp;
#[path = "common/broker.rs"]
mod broker;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::{Value, json};

fn every_entity_type(v: &TestVhost, user: &str) -> String {
    format!(
        r##"vhosts:
  - {{name: {vh}, description: "topo test vhost"}}
exchanges:
  - {{name: orders, type: topic}}
  - {{name: events, type: headers}}
  - {{name: fan, type: fanout, internal: true}}
  - {{name: unrouted, type: fanout}}
  - {{name: main, type: direct, alternate_exchange: unrouted}}
queues:
  - {{name: work, message_ttl: 60000, max_length: 1000, overflow: reject-publish, dead_letter_exchange: orders, dead_letter_routing_key: dead}}
  - {{name: q.quorum, type: quorum, delivery_limit: 5}}
  - {{name: s.stream, type: stream, max_length_bytes: 1000000}}
  - {{name: prio, max_priority: 5, arguments: {{x-queue-mode: lazy}}}}
bindings:
  - {{source: orders, destination: work, routing_keys: ["a.*", "b.#"]}}
  - {{source: events, destination: q.quorum, arguments: {{x-match: all, type: order, version: 2}}}}
  - {{source: orders, destination: fan, destination_type: exchange, routing_key: "#"}}
  - {{source: fan, destination: s.stream}}
  - {{source: main, destination: prio, routing_key: p}}
policies:
  - {{name: limits, pattern: "^work$", apply_to: queues, priority: 1, definition: {{max-length: 500, message-ttl: 1000}}}}
  - {{name: ae, pattern: "^nothing$", apply_to: exchanges, definition: {{alternate-exchange: unrouted}}}}
users:
  - {{name: {user}, password_env: TOPO_TEST_PW, tags: [monitoring]}}
permissions:
  - {{user: {user}, configure: "^$", write: "^orders$", read: "^work$"}}
"##,
        vh = v.name
    )
}

#[test]
fn every_entity_type_applies_and_then_plans_no_changes() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("all");
    let file = v.file("all.yaml", &every_entity_type(&v, &user));
    let env = [("TOPO_TEST_PW", "pw-one")];

    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("+ create queue q.quorum@"), "{text}");
    assert!(!text.contains("pw-one"));

    let apply = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert!(stderr(&apply).contains("the broker matches the file"));

    // No false diff for any entity type, in any format.
    let plan = v.topo(&["plan", path_str(&file), "--format", "json"], &env);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
    let json: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    assert_eq!(json["changed"], json!(false));
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &env);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));

    let again = v.topo(&["apply", path_str(&file)], &env);
    assert_eq!(code(&again), 0);
    assert!(stderr(&again).contains("nothing to do"));

    // What landed is what the file says, as the broker reports it.
    let q = v.get(&["queues", &v.name, "q.quorum"]);
    assert_eq!(q["arguments"]["x-queue-type"], json!("quorum"));
    let s = v.get(&["queues", &v.name, "s.stream"]);
    assert_eq!(s["arguments"]["x-queue-type"], json!("stream"));
    let b = v.get(&["exchanges", &v.name, "orders", "bindings", "source"]);
    assert!(
        b.as_array()
            .unwrap()
            .iter()
            .any(|b| b["destination_type"] == json!("exchange") && b["destination"] == json!("fan"))
    );
    let who = v.get(&["users", &user]);
    assert_eq!(who["tags"], json!(["monitoring"]));
}

#[test]
fn password_is_verified_by_hash_and_a_tags_update_keeps_it() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("pw");
    let body = |tags: &str| {
        format!(
            "users:\n  - {{name: {user}, password_env: TOPO_TEST_PW, tags: [{tags}]}}\npermissions:\n  - {{user: {user}, configure: \".*\", write: \".*\", read: \".*\"}}\n"
        )
    };
    let file = v.file("u.yaml", &body(""));
    let env = [("TOPO_TEST_PW", "first-secret")];
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &env)), 0);
    let hash_before = v.get(&["users", &user])["password_hash"].clone();
    // Same password: no perpetual password update.
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env)), 0);

    // Tags only: the update must not wipe the password.
    let file = v.file("u.yaml", &body("monitoring"));
    let plan = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2);
    assert!(
        stdout(&plan).contains("tags: [] -> [\"monitoring\"]"),
        "{}",
        stdout(&plan)
    );
    assert!(!stdout(&plan).contains("password:"), "{}", stdout(&plan));
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &env)), 0);
    let after = v.get(&["users", &user]);
    assert_eq!(
        after["password_hash"], hash_before,
        "the stored hash is kept"
    );
    assert_eq!(after["tags"], json!(["monitoring"]));

    // A new password shows as an update without the secret, and then works.
    let env2 = [("TOPO_TEST_PW", "second-secret")];
    let plan = v.topo(&["plan", path_str(&file)], &env2);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(
        text.contains("password: *** (hash) -> *** (from $TOPO_TEST_PW)"),
        "{text}"
    );
    assert!(!text.contains("second-secret") && !text.contains("first-secret"));
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &env2)), 0);
    assert_eq!(code(&v.topo(&["plan", path_str(&file)], &env2)), 0);

    // An unset password variable is an error naming the variable.
    let out = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("TOPO_TEST_PW"), "{}", stderr(&out));
}

#[test]
fn replace_is_refused_then_recreates_bindings_and_guards_messages() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let base = "exchanges:\n  - {name: x, type: direct}\nbindings:\n  - {source: x, destination: q, routing_key: k}\n";
    let file = v.file(
        "r.yaml",
        // A TTL far longer than the test: RabbitMQ 4.x expires messages promptly, 3.10 only
        // lazily, and the messages must still be there when apply counts them.
        &format!("{base}queues:\n  - {{name: q, message_ttl: 3600000}}\n"),
    );
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    // A binding the file does not name: other tools lose it on replace.
    v.post(
        &["bindings", &v.name, "e", "x", "q", "q"],
        &json!({"routing_key": "extra"}),
    );
    v.publish("q", 3);

    let file = v.file(
        "r.yaml",
        &format!("{base}queues:\n  - {{name: q, type: quorum}}\n"),
    );
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(text.contains("-/+ replace queue q@"), "{text}");
    assert!(text.contains("(holds 3 messages)"), "{text}");
    assert!(text.contains("type: classic -> quorum"), "{text}");
    assert!(
        text.contains("arguments.x-message-ttl: 3600000 -> (none)"),
        "{text}"
    );
    assert!(text.contains("rebind: x -> q [extra]"), "{text}");

    let refused = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&refused), 1);
    assert!(
        stderr(&refused).contains("--allow-replace"),
        "{}",
        stderr(&refused)
    );
    let refused = v.topo(&["apply", path_str(&file), "--allow-replace"], &[]);
    assert_eq!(code(&refused), 1);
    assert!(
        stderr(&refused).contains("--allow-data-loss"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("3 messages"),
        "{}",
        stderr(&refused)
    );
    let q = v.get(&["queues", &v.name, "q"]);
    assert_eq!(
        q["arguments"]["x-message-ttl"],
        json!(3600000),
        "nothing changed"
    );

    let done = v.topo(
        &[
            "apply",
            path_str(&file),
            "--allow-replace",
            "--allow-data-loss",
            "--yes",
        ],
        &[],
    );
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    let q = v.get(&["queues", &v.name, "q"]);
    assert_eq!(q["arguments"]["x-queue-type"], json!("quorum"));
    let keys: Vec<String> = v
        .get(&["queues", &v.name, "q", "bindings"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["source"] == json!("x"))
        .map(|b| b["routing_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 2, "both bindings were re-created: {keys:?}");
    assert!(keys.contains(&"k".to_string()) && keys.contains(&"extra".to_string()));
}

#[test]
fn prune_is_opt_in_scoped_and_guards_messages() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("p.yaml", "queues:\n  - {name: keep}\n");
    assert_eq!(code(&v.topo(&["apply", path_str(&file)], &[])), 0);
    // Things the file does not name, made by someone else.
    v.put(&["queues", &v.name, "stray"], &json!({"durable": true}));
    v.put(
        &["exchanges", &v.name, "stray.x"],
        &json!({"type": "fanout"}),
    );
    v.put(
        &["policies", &v.name, "stray-policy"],
        &json!({"pattern": "^zzz$", "definition": {"max-length": 1}}),
    );
    v.publish("stray", 2);

    assert_eq!(
        code(&v.topo(&["plan", path_str(&file)], &[])),
        0,
        "no deletes without --prune"
    );
    let plan = v.topo(&["plan", path_str(&file), "--prune"], &[]);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert!(text.contains("- delete queue stray@"), "{text}");
    assert!(text.contains("(holds 2 messages)"), "{text}");
    assert!(text.contains("- delete exchange stray.x@"), "{text}");
    assert!(text.contains("- delete policy stray-policy@"), "{text}");
    assert!(!text.contains("amq."), "{text}");
    assert!(!text.contains("delete user") && !text.contains("delete permission guest"));

    let refused = v.topo(&["apply", path_str(&file), "--prune"], &[]);
    assert_eq!(code(&refused), 1);
    assert!(stderr(&refused).contains("--allow-data-loss"));
    let done = v.topo(
        &[
            "apply",
            path_str(&file),
            "--prune",
            "--allow-data-loss",
            "--yes",
        ],
        &[],
    );
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    assert!(v.get_opt(&["queues", &v.name, "stray"]).is_none());
    assert!(v.get_opt(&["queues", &v.name, "keep"]).is_some());
    assert!(v.get_opt(&["exchanges", &v.name, "amq.topic"]).is_some());
    assert!(
        v.get_opt(&["permissions", &v.name, "guest"]).is_some(),
        "topo's own access stays"
    );
}

#[test]
fn precondition_failed_names_the_entity_and_argument() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file(
        "bad.yaml",
        "exchanges:\n  - {name: ok.x, type: fanout}\nqueues:\n  - {name: bad, arguments: {x-max-length: -1}}\n",
    );
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("declare queue bad@"), "{err}");
    assert!(err.contains("x-max-length"), "{err}");
    assert!(err.contains("PRECONDITION"), "{err}");
    assert!(err.contains("already done"), "{err}");
    assert!(err.contains("exchanges in"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn a_queue_redeclared_by_a_client_is_not_a_diff() {
    // Clients declare the same queue with numbers as strings or floats; the broker keeps
    // what came first. Either way the plan must be empty.
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    v.put(
        &["queues", &v.name, "shared"],
        &json!({"durable": true, "arguments": {"x-message-ttl": 5000, "x-max-length": 10}}),
    );
    let file = v.file(
        "s.yaml",
        "queues:\n  - {name: shared, message_ttl: 5000, arguments: {x-max-length: \"10\"}}\n",
    );
    let out = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn the_definitions_import_path_converges_too() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("via");
    let file = v.file("all.yaml", &every_entity_type(&v, &user));
    let env = [("TOPO_TEST_PW", "pw-two")];
    let out = v.topo(&["apply", path_str(&file), "--via", "definitions"], &env);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("importing definitions"),
        "{}",
        stderr(&out)
    );
    let out = v.topo(&["plan", path_str(&file)], &env);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn vhost_default_queue_type_gives_queues_their_type_without_a_perpetual_diff() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let other = v.extra_vhost();
    let file = v.file(
        "vq.yaml",
        &format!(
            "vhosts:\n  - {{name: {other}, default_queue_type: quorum, description: d, tags: [a, b]}}\nqueues:\n  - {{name: q1, vhost: {other}}}\n  - {{name: q2, vhost: {other}, type: classic}}\n"
        ),
    );
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let out = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(v.get(&["queues", &other, "q1"])["type"], json!("quorum"));
    assert_eq!(v.get(&["queues", &other, "q2"])["type"], json!("classic"));
    let vh = v.get(&["vhosts", &other]);
    assert_eq!(
        (vh["description"].clone(), vh["tags"].clone()),
        (json!("d"), json!(["a", "b"]))
    );
}

/// More operations in one stage than topo sends on one set of channels (it retires its
/// channels every 4,096 to bound the AMQP client's memory): every binding still lands,
/// from many sources at once, and the verification agrees.
#[test]
fn a_stage_larger_than_one_batch_lands_whole() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let mut yaml = format!("vhosts:\n  - {{name: {}}}\nexchanges:\n", v.name);
    for x in 0..10 {
        yaml.push_str(&format!("  - {{name: t{x}, type: topic}}\n"));
    }
    yaml.push_str("queues:\n");
    for q in 0..100 {
        yaml.push_str(&format!("  - {{name: q{q}}}\n"));
    }
    yaml.push_str("bindings:\n");
    for x in 0..10 {
        for q in 0..100 {
            yaml.push_str(&format!(
                "  - {{source: t{x}, destination: q{q}, routing_keys: [a.{q}, b.{q}, c.{q}, d.{q}, e.{q}]}}\n"
            ));
        }
    }
    let file = v.file("big.yaml", &yaml);

    let apply = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    assert!(
        stderr(&apply).contains("applied 5110 changes"),
        "{}",
        stderr(&apply)
    );
    assert!(stderr(&apply).contains("the broker matches the file"));

    let bindings = v.get(&["bindings", &v.name]);
    let from_file = bindings
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["source"].as_str().is_some_and(|s| s.starts_with('t')))
        .count();
    assert_eq!(from_file, 5000);
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
}

/// A client's exclusive reply queue (named, so only its exclusivity tells) and its
/// binding are not the file's business: listed by the broker, left out of the plan (even with --prune) and the export.
#[test]
fn exclusive_client_queues_stay_out_of_plan_and_export() {
    use lapin::options::{QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;

    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("x.yaml", "exchanges:\n  - {name: x, type: fanout}\n");
    let apply = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let conn = rt.block_on(amqp::connect("guest", "guest", &v.name));
    let ch = rt.block_on(conn.create_channel()).unwrap();
    let q = rt
        .block_on(ch.queue_declare(
            "client.replies".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .unwrap();
    let qname = q.name().to_string();
    rt.block_on(ch.queue_bind(
        qname.as_str().into(),
        "x".into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .unwrap();
    let listed = v.get(&["queues", &v.name]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == json!(qname)),
        "the broker lists the exclusive queue: {listed}"
    );

    let plan = v.topo(&["plan", "--prune", path_str(&file)], &[]);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
    let export = v.topo(&["export", "--vhost", &v.name], &[]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    assert!(!stdout(&export).contains(&qname), "{}", stdout(&export));

    let _ = rt.block_on(conn.close(200, "done".into()));
}

/// The state read starts from the file's first keys (`vhost`, `broker`) before the file is
/// parsed whole. A file whose entries live in that vhost is read once; one whose entries
/// live elsewhere is read again from the parsed tree. Both plans see what the broker holds
/// in the vhosts the entries use: no false diff, and a queue added outside topo is counted.
#[test]
fn plan_reads_the_vhosts_the_entries_use_whatever_the_first_keys_say() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let other = v.extra_vhost();
    v.create_vhost(&other);
    let right = v.file("right.yaml", "queues:\n  - name: here\n");
    let wrong = v.file(
        "wrong.yaml",
        &format!("queues:\n  - name: there\n    vhost: {other}\n"),
    );
    let traced = [("TOPO_TRACE", "1")];
    for file in [&right, &wrong] {
        let apply = v.topo(&["apply", path_str(file)], &[]);
        assert_eq!(code(&apply), 0, "{}", stderr(&apply));
        let plan = v.topo(&["plan", path_str(file)], &traced);
        assert_eq!(code(&plan), 0, "{}\n{}", stdout(&plan), stderr(&plan));
        let err = stderr(&plan);
        let (said, not) = if file == &right {
            ("first keys: kept", "first keys: dropped")
        } else {
            ("first keys: dropped, read again", "first keys: kept")
        };
        assert!(err.contains(said) && !err.contains(not), "{err}");
        // Once when the guess was right. (The dropped read of a wrong guess may or may not
        // have finished its call when it was stopped.)
        if file == &right {
            assert_eq!(err.matches("GET /api/vhosts?").count(), 1, "{err}");
        }
    }
    v.put(&["queues", &other, "stray"], &json!({"durable": true}));
    let plan = v.topo(&["plan", path_str(&wrong)], &[]);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
    assert!(
        stdout(&plan).contains("1 queue on the broker is not in the file"),
        "{}",
        stdout(&plan)
    );
}
