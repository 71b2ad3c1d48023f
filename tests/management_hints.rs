//! A `--management-url` that does not lead to the management API gets the hint of what is
//! really there, with real sockets: nothing listening, a server that is not HTTP, an HTTP
//! server that is not RabbitMQ, the broker's AMQP port, the 4.x node's TLS listener with a
//! CA that did not sign it, and a broker whose AMQP port answers while its management port
//! is closed (the plugin is off). And a refused login says where its credentials came from.

#[path = "common/broker.rs"]
mod broker;

#[path = "common/require.rs"]
mod require;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use broker::{TestVhost, code, path_str, stderr, stdout, topo_cmd, with_user};

/// A port nothing listens on (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A server on a fresh loopback port that answers every connection with `reply` (after
/// reading what the client sent) and closes, for as long as the test runs: a plan's first
/// round of reads opens a dozen connections at once and retries some, and a server that
/// stopped accepting would turn the answer under test into "nothing listens" (it did, at 16).
fn answering(reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(reply);
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    });
    port
}

/// `topo plan` of a one-queue file with this management URL (the test broker's AMQP URL).
fn plan_with(v: &TestVhost, mgmt: &str, more: &[(&str, &str)]) -> (i32, String) {
    let file = v.file("f.yaml", "queues:\n  - {name: q}\n");
    let mut env = vec![("TOPO_MANAGEMENT_URL", mgmt)];
    env.extend_from_slice(more);
    let out = topo_cmd(&["plan", path_str(&file)], &env);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!stdout(&out).contains("guest:guest"), "{}", stdout(&out));
    (code(&out), err)
}

/// The `hint:` lines of an error output.
fn hint(err: &str) -> String {
    err.lines()
        .filter(|l| l.trim_start().starts_with("hint:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn nothing_listening_a_wrong_server_and_the_amqp_port_get_different_hints() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let mut hints = Vec::new();

    // 1. Nothing listens on the port (a typo in it); the broker itself is up.
    let dead = free_port();
    let (status, err) = plan_with(&v, &format!("http://127.0.0.1:{dead}"), &[]);
    assert_eq!(status, 1, "{err}");
    let h = hint(&err);
    assert!(
        h.contains(&format!("nothing listens at 127.0.0.1:{dead}")),
        "{err}"
    );
    assert!(h.contains("check the port of --management-url"), "{err}");
    assert!(!h.contains("rabbitmq-plugins"), "{err}");
    hints.push(h);

    // 2. Something answers that does not speak HTTP at all.
    let port = answering(b"SSH-2.0-OpenSSH_9.2\r\n");
    let (status, err) = plan_with(&v, &format!("http://127.0.0.1:{port}"), &[]);
    assert_eq!(status, 1, "{err}");
    let h = hint(&err);
    assert!(h.contains("does not speak HTTP"), "{err}");
    assert!(h.contains("not RabbitMQ's management API"), "{err}");
    hints.push(h);

    // 3. An HTTP server that is not RabbitMQ: a page for everything (with its length, or
    // chunked: an answer of no stated size is parsed as it arrives), or 404 for everything.
    for reply in [
        &b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>hello</html>\r\n"[..],
        &b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n14\r\n<html>hello</html>\r\n\r\n0\r\n\r\n"[..],
        &b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<h1>404</h1>\n"[..],
    ] {
        let port = answering(reply);
        let (status, err) = plan_with(&v, &format!("http://127.0.0.1:{port}"), &[]);
        assert_eq!(status, 1, "{err}");
        assert!(
            err.contains("answers, but not as RabbitMQ's management API"),
            "{err}"
        );
        let h = hint(&err);
        assert!(h.contains("must point at RabbitMQ's management API"), "{err}");
        hints.push(h);
    }

    // 4. The broker's own AMQP port, given as the management URL.
    let amqp = broker::amqp_addr();
    let (status, err) = plan_with(&v, &format!("http://{amqp}"), &[]);
    assert_eq!(status, 1, "{err}");
    let h = hint(&err);
    assert!(
        h.contains(&format!("{amqp} is an AMQP port, not the management API")),
        "{err}"
    );
    hints.push(h);

    // 5. The broker's AMQP port answers and the management port beside it (15671, the
    // TLS one, which no test broker opens) is closed: the plugin is off.
    if std::net::TcpStream::connect("127.0.0.1:15671").is_err() {
        let (status, err) = plan_with(&v, "http://127.0.0.1:15671", &[]);
        assert_eq!(status, 1, "{err}");
        let h = hint(&err);
        assert!(
            h.contains("rabbitmq-plugins enable rabbitmq_management"),
            "{err}"
        );
        hints.push(h);
    } else {
        eprintln!("SKIPPED the plugin-off case: something listens on 127.0.0.1:15671");
    }

    // Each case its own advice (the three non-RabbitMQ HTTP servers share theirs).
    let distinct: std::collections::BTreeSet<&String> = hints.iter().collect();
    assert_eq!(distinct.len(), hints.len() - 2, "{hints:#?}");
}

/// The 4.x node's HTTPS listener with a CA that did not sign its certificate: the hint
/// names the TLS reason, not the plugin.
#[test]
fn a_tls_failure_is_named_as_such() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let https = std::env::var("TOPO_TEST_TLS_MANAGEMENT_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let dir = std::env::var("TOPO_TEST_TLS_DIR").map(PathBuf::from).ok();
    let (Some(https), Some(_dir)) = (https, dir) else {
        require::skip_or_fail(
            "TOPO_REQUIRE_TLS",
            "a_tls_failure_is_named_as_such",
            "TOPO_TEST_TLS_MANAGEMENT_URL/TOPO_TEST_TLS_DIR unset: no TLS listener (scripts/rabbitmq4.sh)",
        );
        return;
    };
    // A CA of its own, which signed nothing the broker holds.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).expect("ca");
    let foreign = v.dir.path().join("foreign-ca.pem");
    std::fs::write(&foreign, ca.pem()).expect("write");
    let (status, err) = plan_with(
        &v,
        &https,
        &[("TOPO_CA_CERT", foreign.to_str().expect("utf-8"))],
    );
    assert_eq!(status, 1, "{err}");
    let h = hint(&err);
    assert!(h.contains("not signed by a CA topo trusts"), "{err}");
    assert!(!h.contains("rabbitmq-plugins"), "{err}");
    assert!(!h.contains("nothing listens"), "{err}");
}

/// Flags, variables, and the words that must name where the credentials came from.
type Case = (Vec<String>, Vec<(&'static str, String)>, &'static str);

/// A refused login names where its credentials came from (never the password).
#[test]
fn a_refused_login_says_where_the_credentials_came_from() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file("f.yaml", "queues:\n  - {name: q}\n");
    let file = path_str(&file);
    let bad_url = with_user(&broker::mgmt(), "nosuchuser", "cred-pw-51");
    let cases: Vec<Case> = vec![
        (
            vec!["--management-url".into(), bad_url.clone()],
            vec![],
            "the URL given with --management-url",
        ),
        (
            vec![],
            vec![("TOPO_MANAGEMENT_URL", bad_url.clone())],
            "the URL in TOPO_MANAGEMENT_URL",
        ),
        (
            vec![],
            vec![
                ("RABBITMQ_USER", "nosuchuser".into()),
                ("RABBITMQ_PASSWORD", "cred-pw-51".into()),
            ],
            "the variables RABBITMQ_USER and RABBITMQ_PASSWORD",
        ),
    ];
    for (flags, env, from) in cases {
        let mut args = vec!["plan", file];
        args.extend(flags.iter().map(String::as_str));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = topo_cmd(&args, &env);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{err}");
        assert!(
            err.contains("refused the credentials of user `nosuchuser`"),
            "{err}"
        );
        assert!(err.contains(from), "{from}: {err}");
        assert!(!err.contains("cred-pw-51") && !stdout(&out).contains("cred-pw-51"));
    }

    // In the file: `broker.management_url` with the user in it, and no flag or variable.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\nbroker:\n  management_url: \"{bad_url}\"\nvhosts:\n  - name: {}\nqueues:\n  - {{name: q, vhost: {}}}\n",
            v.name, v.name
        ),
    )
    .expect("write");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.args(["plan", path_str(&path)])
        .env_remove("TOPO_MANAGEMENT_URL")
        .env_remove("RABBITMQ_USER")
        .env_remove("RABBITMQ_PASSWORD")
        .env("TOPO_AMQP_URL", broker::amqp());
    let out = cmd.output().expect("run topo");
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("`broker.management_url`"), "{err}");
    assert!(!err.contains("cred-pw-51") && !stdout(&out).contains("cred-pw-51"));
}
