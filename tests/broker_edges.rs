//! Issue 10 against the real RabbitMQ (see tests/common/broker.rs): the AMQP layer refuses what AMQP cannot
//! carry instead of panicking, and guards fail closed. Each test has its own vhost.

#[path = "common/broker.rs"]
mod broker;

use std::time::Duration;

use broker::{TestVhost, code, path_str, stderr};
use topo::broker::amqp::{Amqp, AmqpError, Op};
use topo::broker::endpoint::{ConnectArgs, Endpoints};
use topo::state::{BindingArgs, BindingKey, EntityKey};
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
        arguments: BindingArgs::new(
            &serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(args)
                .unwrap_or_default(),
        ),
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

#[test]
fn export_refuses_to_overwrite_a_file_without_force() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("topo.yaml", "queues:\n  - {name: q}\n");
    let before = std::fs::read_to_string(&file).expect("read");
    // Refused before the broker is read: even an unreachable broker gives the same answer.
    for env in [
        vec![],
        vec![
            ("TOPO_MANAGEMENT_URL", "http://127.0.0.1:1"),
            ("TOPO_AMQP_URL", "amqp://127.0.0.1:1"),
        ],
    ] {
        let out = v.topo(&["export", "--vhost", &v.name, "-o", path_str(&file)], &env);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("refusing to overwrite"),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&file).expect("read"), before);
    }
    let out = v.topo(
        &[
            "export",
            "--vhost",
            &v.name,
            "-o",
            path_str(&file),
            "--force",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.starts_with("# Exported by topo"), "{text}");
    // Atomic: no temporary file left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(v.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // `.env` is never overwritten, not even with --force.
    let dotenv = v.dir.path().join(".env");
    std::fs::write(&dotenv, "A=1\n").expect("write");
    let out = v.topo(
        &[
            "export",
            "--vhost",
            &v.name,
            "-o",
            path_str(&dotenv),
            "--force",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&dotenv).expect("read"), "A=1\n");
}

/// Forward every connection to `127.0.0.1:port` to the broker's AMQP listener, but only
/// from `after` on (before that nothing listens there, as during a broker's boot).
fn late_amqp_proxy(after: Duration) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let port = free_port();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) else {
            return;
        };
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(broker::amqp_addr()) else {
                return;
            };
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    port
}

#[test]
fn wait_covers_amqp_when_the_management_api_answers_first() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("f.yaml", "queues:\n  - {name: q}\n");
    let port = late_amqp_proxy(Duration::from_secs(3));
    let url = format!("amqp://127.0.0.1:{port}");
    let out = v.topo(
        &["apply", path_str(&file), "--wait", "30s"],
        &[("TOPO_AMQP_URL", &url)],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting for AMQP"),
        "{}",
        stderr(&out)
    );
    assert!(v.get_opt(&["queues", &v.name, "q"]).is_some());

    // Nothing ever listens: the wait ends at its deadline with a clear error.
    let dead = free_port();
    let url = format!("amqp://127.0.0.1:{dead}");
    let out = v.topo(
        &["plan", path_str(&file), "--wait", "2s"],
        &[("TOPO_AMQP_URL", &url)],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was not ready within --wait 2s"),
        "{}",
        stderr(&out)
    );
}

/// A port nothing listens on (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// RabbitMQ answers NOT_ALLOWED both for a vhost it does not have and for a user without
/// access: the first is said as such, not as a permissions problem.
#[test]
fn a_missing_vhost_is_not_explained_as_a_permission() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let absent = format!("{}-absent", v.name);
    let rt = rt();
    let mut amqp = Amqp::new(&endpoints());
    let op = Op::DeleteQueue(EntityKey {
        vhost: absent.clone(),
        name: "q".into(),
    });
    let f = rt
        .block_on(amqp.run(&absent, vec![op], &|_| {}))
        .expect_err("no such vhost");
    let said = f.error.to_string();
    assert!(
        said.contains(&format!("vhost `{absent}` does not exist on the broker")),
        "{said}"
    );
    assert!(!said.contains("permissions"), "{said}");
    rt.block_on(amqp.close());
}
