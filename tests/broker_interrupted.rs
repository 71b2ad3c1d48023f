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
