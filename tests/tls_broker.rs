//! TLS end to end against the real TLS listeners of the RabbitMQ 4.x node that
//! `scripts/rabbitmq4.sh` starts (AMQPS with mutual TLS, management over HTTPS, a CA the
//! script made). Certificates that must be wrong — a foreign CA, an expired client
//! certificate, an expired server certificate — are made here with rcgen; the expired server
//! certificate is shown by a small rustls server of the test's own (a real TLS handshake: a
//! broker's listener cannot be handed a new certificate per test).
//!
//! Endpoints: `TOPO_TEST_TLS_AMQPS_URL`, `TOPO_TEST_TLS_MANAGEMENT_URL`, `TOPO_TEST_TLS_DIR`
//! (`scripts/rabbitmq4.sh env` prints them; defaults are the script's). Without them the
//! tests skip loudly; `TOPO_REQUIRE_TLS=1` (CI) turns the skip into a failure.

#[path = "common/broker.rs"]
mod broker;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use broker::{code, path_str, stderr, stdout, topo_cmd};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};
use topo::broker::endpoint::{ConnectArgs, Endpoints};
use topo::broker::http::Management;

struct Tls {
    amqps: String,
    https: String,
    dir: PathBuf,
}

impl Tls {
    fn ca(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }
    fn client_cert(&self) -> String {
        self.dir.join("client.pem").display().to_string()
    }
    fn client_key(&self) -> String {
        self.dir.join("client.key").display().to_string()
    }
}

/// The TLS broker, or `None` (said loudly) when there is none and it is not required.
fn tls() -> Option<Tls> {
    let var = |k: &str, d: &str| {
        std::env::var(k)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| d.to_string())
    };
    let t = Tls {
        amqps: var("TOPO_TEST_TLS_AMQPS_URL", "amqps://localhost:5681"),
        https: var("TOPO_TEST_TLS_MANAGEMENT_URL", "https://localhost:15681"),
        dir: PathBuf::from(var("TOPO_TEST_TLS_DIR", "/var/lib/topo-ci/tls")),
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("tls test")
        .to_string();
    let missing = if !t.dir.join("ca.pem").exists() {
        Some(format!("no CA at {}", t.dir.display()))
    } else if std::env::var("TOPO_SKIP_BROKER_TESTS").is_ok_and(|v| v == "1") {
        Some("TOPO_SKIP_BROKER_TESTS=1".into())
    } else {
        None
    };
    match missing {
        None => Some(t),
        Some(why) if std::env::var("TOPO_REQUIRE_TLS").is_ok_and(|v| v == "1") => panic!(
            "TOPO_REQUIRE_TLS=1 but {why}: run `scripts/rabbitmq4.sh` (as root) and \
             `eval \"$(scripts/rabbitmq4.sh env)\"`"
        ),
        Some(why) => {
            eprintln!("SKIPPED {test}: {why} (run scripts/rabbitmq4.sh for the TLS listeners)");
            None
        }
    }
}

/// A vhost name of this test, deleted (over HTTPS) at the end whoever created it.
struct Vhost<'a> {
    name: String,
    tls: &'a Tls,
}

impl Drop for Vhost<'_> {
    fn drop(&mut self) {
        let ep = Endpoints::resolve(
            &ConnectArgs {
                amqp_url: Some(self.tls.amqps.clone()),
                management_url: Some(self.tls.https.clone()),
                timeout: Duration::from_secs(10),
                ca_cert: Some(self.tls.dir.join("ca.pem")),
                ..ConnectArgs::default()
            },
            None,
            &|_| None,
        )
        .expect("endpoints");
        let mgmt = Management::new(&ep).expect("client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _ = rt.block_on(mgmt.delete(&["vhosts", &self.name], "cleanup"));
    }
}

impl<'a> Vhost<'a> {
    fn new(tls: &'a Tls) -> Vhost<'a> {
        Vhost {
            name: format!("topo-test-tls-{:08x}", rand::random::<u32>()),
            tls,
        }
    }

    fn exists(&self) -> bool {
        let out = topo(
            self.tls,
            &["export", "--vhost", &self.name],
            &self.tls.good_flags(),
        );
        code(&out) == 0
    }
}

impl Tls {
    /// The flags of a correct mutual-TLS setup.
    fn good_flags(&self) -> Vec<String> {
        vec![
            "--ca-cert".into(),
            self.ca(),
            "--client-cert".into(),
            self.client_cert(),
            "--client-key".into(),
            self.client_key(),
        ]
    }
}

/// topo with the TLS URLs (unless `args` give others) and extra flags.
fn topo(t: &Tls, args: &[&str], flags: &[String]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    topo_cmd(
        &all,
        &[
            ("TOPO_AMQP_URL", &t.amqps),
            ("TOPO_MANAGEMENT_URL", &t.https),
            ("SSL_CERT_FILE", "/nonexistent-so-only-flags-count"),
        ],
    )
}

fn file(dir: &Path, vhost: &str) -> PathBuf {
    let p = dir.join("tls.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nvhost: {vhost}\nvhosts:\n  - {{name: {vhost}}}\nexchanges:\n  - {{name: orders, type: topic}}\nqueues:\n  - {{name: work}}\nbindings:\n  - {{source: orders, destination: work, routing_key: \"a.#\"}}\n"
        ),
    )
    .expect("write");
    p
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn failed_with(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(code(out), 1, "{err}");
    assert!(err.contains(needle), "wanted {needle:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("guest:guest"), "{err}");
}

#[test]
fn right_ca_works_for_plan_apply_and_export() {
    let Some(t) = tls() else { return };
    let v = Vhost::new(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = file(dir.path(), &v.name);
    let good = t.good_flags();

    let out = topo(&t, &["plan", path_str(&f)], &good);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = topo(&t, &["apply", path_str(&f)], &good);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let out = topo(&t, &["plan", path_str(&f)], &good);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = topo(&t, &["export", "--vhost", &v.name], &good);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("work"), "{}", stdout(&out));

    // The same from the file's broker section, no flags.
    let f2 = dir.path().join("tls-file.yaml");
    let body = std::fs::read_to_string(&f).expect("read");
    std::fs::write(
        &f2,
        format!(
            "{body}broker:\n  tls: {{ca_file: {}, client_cert: {}, client_key: {}}}\n",
            t.ca(),
            t.client_cert(),
            t.client_key()
        ),
    )
    .expect("write");
    let out = topo(&t, &["plan", path_str(&f2)], &[]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
}

#[test]
fn certificate_login_with_auth_mechanism_external() {
    let Some(t) = tls() else { return };
    let v = Vhost::new(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = file(dir.path(), &v.name);
    let mut flags = t.good_flags();
    flags.extend(["--auth-mechanism".into(), "external".into()]);
    // The client certificate's common name is `guest`: the broker logs it in by that.
    let out = topo(&t, &["apply", path_str(&f)], &flags);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    // external over plain amqp:// cannot work: refused before anything is read.
    let out = topo_cmd(
        &["plan", path_str(&f), "--auth-mechanism", "external"],
        &[("TOPO_AMQP_URL", "amqp://localhost:5682")],
    );
    failed_with(&out, "needs an amqps:// URL and a client certificate");
}

#[test]
fn a_wrong_ca_is_named_and_changes_nothing() {
    let Some(t) = tls() else { return };
    let v = Vhost::new(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = file(dir.path(), &v.name);
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "some other CA");
    let key = KeyPair::generate().expect("key");
    let other = params.self_signed(&key).expect("CA");
    let other_ca = write(dir.path(), "other-ca.pem", &other.pem());
    let flags = vec![
        "--ca-cert".into(),
        other_ca,
        "--client-cert".into(),
        t.client_cert(),
        "--client-key".into(),
        t.client_key(),
    ];
    for cmd in ["plan", "apply"] {
        let out = topo(&t, &[cmd, path_str(&f)], &flags);
        failed_with(&out, "not signed by a CA topo trusts");
        failed_with(&out, "--ca-cert");
    }
    assert!(!v.exists(), "a failed apply created the vhost");
}

#[test]
fn a_wrong_host_name_is_named_and_the_server_name_override_fixes_it() {
    let Some(t) = tls() else { return };
    let v = Vhost::new(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = file(dir.path(), &v.name);
    // The broker's certificate names only `localhost`.
    let by_address = |u: &str| u.replace("localhost", "127.0.0.1");
    let env = [
        ("TOPO_AMQP_URL", by_address(&t.amqps)),
        ("TOPO_MANAGEMENT_URL", by_address(&t.https)),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |extra: &[&str]| {
        let flags = t.good_flags();
        let mut all = vec!["apply", path_str(&f)];
        all.extend(flags.iter().map(String::as_str));
        all.extend_from_slice(extra);
        topo_cmd(&all, &env)
    };
    let out = run(&[]);
    failed_with(&out, "--tls-server-name");
    assert!(!v.exists(), "a failed apply created the vhost");
    let out = run(&["--tls-server-name", "localhost"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
}

#[test]
fn a_missing_client_certificate_is_named_and_changes_nothing() {
    let Some(t) = tls() else { return };
    let v = Vhost::new(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = file(dir.path(), &v.name);
    // The management API does not ask for one; the AMQPS listener does (mutual TLS).
    let out = topo(&t, &["apply", path_str(&f)], &["--ca-cert".into(), t.ca()]);
    failed_with(&out, "asks for a client certificate");
    assert!(!v.exists(), "a failed apply created the vhost");
}

#[test]
fn an_expired_client_certificate_is_named() {
    let Some(t) = tls() else { return };
    let v = Vhost::new(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = file(dir.path(), &v.name);
    // Issued by the broker's own CA, but expired in 2021.
    let issuer = broker_ca(&t);
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, "guest");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("sign");
    let flags = vec![
        "--ca-cert".into(),
        t.ca(),
        "--client-cert".into(),
        write(dir.path(), "expired.pem", &cert.pem()),
        "--client-key".into(),
        write(dir.path(), "expired.key", &key.serialize_pem()),
    ];
    let out = topo(&t, &["apply", path_str(&f)], &flags);
    failed_with(&out, "expired");
    assert!(!v.exists(), "a failed apply created the vhost");
}

/// The broker's CA, as an rcgen issuer (to sign the test's own certificates with it).
fn broker_ca(t: &Tls) -> Issuer<'static, KeyPair> {
    let ca_pem = std::fs::read_to_string(t.dir.join("ca.pem")).expect("ca");
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(t.dir.join("ca.key")).expect("key"))
        .expect("CA key");
    Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer")
}

/// A TLS server on 127.0.0.1 that shows `cert` and then does nothing: each connection is
/// taken through the handshake until the client gives up. Runs until the test process ends.
fn tls_server(cert: &rcgen::Certificate, key: &KeyPair) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
                let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                while conn.is_handshaking() {
                    if conn.complete_io(&mut tcp).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn with_flags<'a>(args: &[&'a str], flags: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    all
}

#[test]
fn an_expired_server_certificate_is_named_and_changes_nothing() {
    let Some(t) = tls() else { return };
    let v = Vhost::new(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = file(dir.path(), &v.name);
    // Issued by the broker's own CA for `localhost`, so expiry is its only fault.
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &broker_ca(&t)).expect("sign");
    let port = tls_server(&cert, &key);
    let good = t.good_flags();

    // Over HTTPS: plan reads nothing.
    let https = format!("https://localhost:{port}");
    let out = topo_cmd(
        &with_flags(&["plan", path_str(&f)], &good),
        &[
            ("TOPO_AMQP_URL", &t.amqps),
            ("TOPO_MANAGEMENT_URL", &https),
            ("SSL_CERT_FILE", "/nonexistent-so-only-flags-count"),
        ],
    );
    failed_with(&out, "the broker's certificate has expired");

    // Over AMQPS, with the management API the real broker's: apply's preflight stops
    // before the vhost is created.
    let amqps = format!("amqps://localhost:{port}");
    let out = topo_cmd(
        &with_flags(&["apply", path_str(&f)], &good),
        &[
            ("TOPO_AMQP_URL", &amqps),
            ("TOPO_MANAGEMENT_URL", &t.https),
            ("SSL_CERT_FILE", "/nonexistent-so-only-flags-count"),
        ],
    );
    failed_with(&out, "the broker's certificate has expired");
    assert!(!v.exists(), "a failed apply created the vhost");
}
