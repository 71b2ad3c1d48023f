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
