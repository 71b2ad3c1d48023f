//! Issue 10 against the real RabbitMQ (see tests/common/broker.rs): the AMQP layer refuses what AMQP cannot
//! carry instead of panicking, and guards fail closed. Each test has its own vhost.

#[path = "common/broker.rs"]
mod broker;

use std::time::Duration;

use broker::TestVhost;
use topo::broker::amqp::{Amqp, AmqpError, Op};
use topo::broker::endpoint::{ConnectArgs, Endpoints};
use topo::state::{BindingKey, EntityKey};
use topo::topology::model::DestinationType;

fn endpoints() -> Endpoints {
    Endpoints::resolve(
        &ConnectArgs {
            amqp_url: Some(broker::amqp()),
            management_url: Some(broker::mgmt()),
            timeout: Duration::from_secs(10),
            ..ConnectArgs::default()
        },
        None,
        &|_| None,
    )
    .expect("endpoints")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn amqp_layer_refuses_short_strings_over_255_bytes_without_panicking() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let rt = rt();
    let mut amqp = Amqp::new(&endpoints());
    let binding = |key: String, args: &str| BindingKey {
        vhost: v.name.clone(),
        source: "amq.direct".into(),
        destination_type: DestinationType::Exchange,
        destination: "amq.fanout".into(),
        routing_key: key,
        arguments: args.into(),
    };
    let cases = vec![
        Op::Bind(binding("k".repeat(256), "")),
        Op::Bind(binding(
            "k".into(),
            &format!("{{\"{}\":1}}", "h".repeat(300)),
        )),
        Op::DeleteQueue(EntityKey {
            vhost: v.name.clone(),
            name: "q".repeat(256),
        }),
    ];
    for op in cases {
        let what = op.describe();
        let r = rt.block_on(amqp.run(&v.name, vec![op], &|_| {}));
        let f = r.expect_err("refused");
        assert_eq!(f.done, 0, "{what}");
        assert!(
            matches!(&f.error, AmqpError::Invalid { detail, .. } if detail.contains("255 bytes")),
            "{what}: {}",
            f.error
        );
    }
    // A vhost name AMQP cannot open is a connect error, not a panic.
    let long = "v".repeat(256);
    let r = rt.block_on(amqp.run(
        &long,
        vec![Op::DeleteQueue(EntityKey {
            vhost: long.clone(),
            name: "q".into(),
        })],
        &|_| {},
    ));
    let f = r.expect_err("refused");
    assert!(f.error.to_string().contains("255 bytes"), "{}", f.error);
    // And exactly 255 bytes works against the real broker.
    let r = rt.block_on(amqp.run(
        &v.name,
        vec![Op::Bind(binding("k".repeat(255), ""))],
        &|_| {},
    ));
    assert_eq!(r.expect("255 bytes is fine"), 1);
    rt.block_on(amqp.close());
}

#[test]
fn a_count_that_fails_for_another_reason_than_not_found_is_an_error() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let rt = rt();
    let ep = endpoints();
    // An exclusive queue of another connection: a passive declare of it is refused with
    // RESOURCE_LOCKED, which says nothing about how many messages it holds.
    let owner = rt
        .block_on(lapin::Connection::connect(
            &ep.amqp_uri(&v.name),
            lapin::ConnectionProperties::default(),
        ))
        .expect("connect");
    let chan = rt.block_on(owner.create_channel()).expect("channel");
    rt.block_on(chan.queue_declare(
        "locked".into(),
        lapin::options::QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        lapin::types::FieldTable::default(),
    ))
    .expect("declare");
    let mut amqp = Amqp::new(&ep);
    let key = |n: &str| EntityKey {
        vhost: v.name.clone(),
        name: n.into(),
    };
    let r = rt.block_on(amqp.message_counts(&[key("locked")]));
    assert!(r.is_err(), "a refused count must not read as 0: {r:?}");
    // A queue that does not exist is empty.
    let r = rt
        .block_on(amqp.message_counts(&[key("missing")]))
        .expect("counted");
    assert_eq!(r[0].1, 0);
    rt.block_on(amqp.close());
    let _ = rt.block_on(owner.close(200, "done".into()));
}

#[test]
fn deletes_without_allow_data_loss_are_if_empty_at_the_broker() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    v.put(
        &["queues", &v.name, "full"],
        &serde_json::json!({"durable": true}),
    );
    v.publish("full", 1);
    let rt = rt();
    let mut amqp = Amqp::new(&endpoints());
    amqp.delete_only_empty_queues(true);
    let del = || {
        vec![Op::DeleteQueue(EntityKey {
            vhost: v.name.clone(),
            name: "full".into(),
        })]
    };
    let f = rt
        .block_on(amqp.run(&v.name, del(), &|_| {}))
        .expect_err("the broker keeps a queue that holds messages");
    assert!(f.error.to_string().contains("not empty"), "{}", f.error);
    assert!(v.get_opt(&["queues", &v.name, "full"]).is_some());
    amqp.delete_only_empty_queues(false);
    assert_eq!(
        rt.block_on(amqp.run(&v.name, del(), &|_| {}))
            .expect("deleted"),
        1
    );
    assert!(v.get_opt(&["queues", &v.name, "full"]).is_none());
    rt.block_on(amqp.close());
}
