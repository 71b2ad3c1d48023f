//! The AMQP connection is cut in the middle of an apply (a TCP proxy in the test drops it
//! after some traffic): apply ends with exit 1 and says what was done; a re-run converges.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "common/broker.rs"]
mod broker;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use broker::{TestVhost, code, path_str, stderr, stdout, topo_cmd};

/// Forward one AMQP connection to the broker and cut it once the client has sent
/// `cut_after` bytes. Returns the proxy's port.
fn cutting_proxy(cut_after: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        drop(listener); // no second chance: reconnects are refused
        let server = TcpStream::connect(broker::amqp_addr()).unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (mut s_read, mut c_write) = (server.try_clone().unwrap(), client.try_clone().unwrap());
        let back = thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n) = s_read.read(&mut buf) {
                if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let mut buf = [0u8; 16384];
        while let Ok(n) = c_read.read(&mut buf) {
            if n == 0 {
                break;
            }
            if sent.fetch_add(n, Ordering::SeqCst) + n > cut_after {
                break;
            }
            if s_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
        let _ = back.join();
    });
    port
}

#[test]
fn a_connection_lost_mid_apply_is_reported_and_a_rerun_converges() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let mut body = String::from("exchanges:\n  - {name: hub, type: topic}\nqueues:\n");
    for i in 0..400 {
        body.push_str(&format!("  - {{name: q.{i}, message_ttl: 60000}}\n"));
    }
    body.push_str("bindings:\n");
    for i in 0..400 {
        body.push_str(&format!(
            "  - {{source: hub, destination: q.{i}, routing_key: \"k.{i}.#\"}}\n"
        ));
    }
    let file = v.file("big.yaml", &body);

    let port = cutting_proxy(16 * 1024);
    let amqp = format!("amqp://127.0.0.1:{port}");
    let out = topo_cmd(
        // The proxy forwards one connection: the apply lock's own is left out.
        &["apply", path_str(&file), "--timeout", "10s", "--no-lock"],
        &[("TOPO_AMQP_URL", &amqp)],
    );
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("apply stopped"), "{err}");
    assert!(err.contains("already done:"), "{err}");
    assert!(err.contains("run topo apply again"), "{err}");
    assert!(!err.contains("guest:guest"), "{err}");

    // Part landed, not all: the plan still has work; the re-run finishes it.
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 2, "{}", stdout(&plan));
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = v.topo(&["plan", path_str(&file)], &[]);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
}

/// An apply that stops after a replaced queue was deleted and before its bindings were
/// re-created: the bindings the file does not name (another client's) are listed and kept
/// beside the file, and the re-run re-creates them. The stop is real: the broker refuses a
/// binding of the file (topo's user may not read its source exchange) in the stage that
/// also re-creates the old queue's bindings.
#[test]
fn bindings_of_a_replaced_queue_survive_an_apply_that_stops_before_rebinding() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let user = v.user("rebind");
    v.put(
        &["users", &user],
        &serde_json::json!({"password": "rebind-pw-71", "tags": "administrator"}),
    );
    let grant = |read: &str| {
        v.put(
            &["permissions", &v.name, &user],
            &serde_json::json!({"configure": ".*", "write": ".*", "read": read}),
        );
    };
    grant(".*");
    let env = [
        (
            "TOPO_MANAGEMENT_URL",
            broker::with_user(&broker::mgmt(), &user, "rebind-pw-71"),
        ),
        (
            "TOPO_AMQP_URL",
            broker::with_user(&broker::amqp(), &user, "rebind-pw-71"),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, u)| (*k, u.as_str())).collect();
    let file = v.file("t.yaml", "queues:\n  - {name: work}\n");
    let out = topo_cmd(&["apply", path_str(&file)], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Another client's exchange and binding to the queue: not in the file.
    v.put(
        &["exchanges", &v.name, "side"],
        &serde_json::json!({"type": "direct", "durable": true}),
    );
    v.post(
        &["bindings", &v.name, "e", "side", "q", "work"],
        &serde_json::json!({"routing_key": "extra"}),
    );
    let side_bound = || {
        v.get(&["bindings", &v.name, "e", "side", "q", "work"])
            .as_array()
            .is_some_and(|a| a.iter().any(|b| b["routing_key"] == "extra"))
    };
    assert!(side_bound());

    // The queue changes (a replace), and the file binds it from an exchange topo's user may
    // not read: the bindings stage stops.
    grant("^(side|work)$");
    let file = v.file(
        "t.yaml",
        "exchanges:\n  - {name: locked, type: fanout}\nqueues:\n  - {name: work, message_ttl: 60000}\nbindings:\n  - {source: locked, destination: work}\n",
    );
    let out = topo_cmd(
        &["apply", path_str(&file), "--allow-replace", "--yes"],
        &env,
    );
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("apply stopped"), "{err}");
    assert!(err.contains("side -> work [extra]"), "{err}");
    let pending = file.with_file_name("t.yaml.pending-bindings.yaml");
    let kept = std::fs::read_to_string(&pending).expect("pending bindings written");
    assert!(
        kept.contains("source: side") && kept.contains("routing_key: extra"),
        "{kept}"
    );
    assert!(err.contains(&pending.display().to_string()), "{err}");
    // Whatever landed of the stage before it stopped, the binding may be gone: make sure it
    // is, as after a cut connection.
    if side_bound() {
        v.delete(&["bindings", &v.name, "e", "side", "q", "work", "extra"]);
    }
    assert!(!side_bound());

    // The plan of the same file, which does not name the binding, now has it to create.
    grant(".*");
    let plan = topo_cmd(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("side -> work [extra]"),
        "{}",
        stdout(&plan)
    );
    // The re-run re-creates it, and the pending file goes.
    let out = topo_cmd(&["apply", path_str(&file)], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(side_bound(), "the re-run did not re-create the binding");
    assert!(!pending.exists(), "the pending file stayed");
    let plan = topo_cmd(&["plan", path_str(&file)], &env);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
    assert!(!stderr(&plan).contains("rebind-pw-71"));
}

/// Pending bindings are settled per vhost: an apply with `--vhost` elsewhere re-creates that
/// vhost's entries and clears them, and the file keeps the original vhost's for its own run
/// (which then clears the file).
#[test]
fn an_apply_elsewhere_keeps_the_original_vhosts_pending_bindings() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let other = v.extra_vhost();
    v.create_vhost(&other);
    let file = v.file(
        "t.yaml",
        "exchanges:\n  - {name: hub, type: topic}\nqueues:\n  - {name: work}\n",
    );
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pending = file.with_file_name("t.yaml.pending-bindings.yaml");
    let entry = |vhost: &str, key: &str| {
        format!(
            "  - {{vhost: {vhost}, source: hub, destination: work, destination_type: queue, \
             routing_key: {key}}}\n"
        )
    };
    std::fs::write(
        &pending,
        format!(
            "about: an interrupted apply's\npending_bindings_format: 1\nbindings:\n{}{}",
            entry(&v.name, "here"),
            entry(&other, "there")
        ),
    )
    .unwrap();
    let bound = |vhost: &str, key: &str| {
        v.get(&["bindings", vhost, "e", "hub", "q", "work"])
            .as_array()
            .is_some_and(|a| a.iter().any(|b| b["routing_key"] == key))
    };

    let out = v.topo(&["apply", path_str(&file), "--vhost", &other], &[]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(bound(&other, "there"), "{err}");
    assert!(!bound(&other, "here"), "{err}");
    assert!(
        !bound(&v.name, "here"),
        "the run elsewhere touched the original vhost"
    );
    assert!(err.contains("keeps 1 binding for other vhosts"), "{err}");
    let kept = std::fs::read_to_string(&pending).expect("the original vhost's entry survives");
    assert!(
        kept.contains(&v.name) && kept.contains("routing_key: here"),
        "{kept}"
    );
    assert!(!kept.contains("there"), "{kept}");

    // The original vhost's run re-creates its entry, and the file goes.
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(bound(&v.name, "here"));
    assert!(!pending.exists(), "the pending file stayed");
}
