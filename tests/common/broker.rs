//! Real-broker test helper: a uniquely named vhost (`topo-test-<random>`) that is deleted
//! on drop, with the users a test created, plus a way to run the topo binary against it.
//!
//! The broker comes from the environment, so the same tests run against the machine's
//! RabbitMQ 3.10 and the 4.x node of `scripts/rabbitmq4.sh` (`.ci/passes/20-rabbitmq4.sh`):
//! `TOPO_TEST_AMQP_URL` (default `amqp://127.0.0.1:5672`) and `TOPO_TEST_MANAGEMENT_URL`
//! (default `http://127.0.0.1:15672`). Userinfo in them is ignored: the tests log in as
//! `guest`/`guest` (some check that very name in messages). Without a broker a test fails
//! with one line saying what to start; `TOPO_SKIP_BROKER_TESTS=1` skips them, loudly.
//!
//! Include with `#[path = "common/broker.rs"] mod broker;`.
#![allow(dead_code)]
// Test support: a failed set-up step is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use topo::broker::endpoint::{ConnectArgs, Endpoints};
use topo::broker::http::Management;

/// A URL from the environment, without userinfo or a trailing slash.
fn base_url(var: &str, default: &str) -> String {
    let text = std::env::var(var)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_string());
    let mut url =
        url::Url::parse(&text).unwrap_or_else(|e| panic!("{var}={text} is not a URL: {e}"));
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.as_str().trim_end_matches('/').to_string()
}

/// The test broker's AMQP URL (no credentials, no vhost).
pub fn amqp() -> String {
    base_url("TOPO_TEST_AMQP_URL", "amqp://127.0.0.1:5672")
}

/// The test broker's management API URL (no credentials, no trailing slash).
pub fn mgmt() -> String {
    base_url("TOPO_TEST_MANAGEMENT_URL", "http://127.0.0.1:15672")
}

/// `url` with `user:password@` put in.
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let mut u = url::Url::parse(url).expect("test URL");
    u.set_username(user).expect("userinfo");
    u.set_password(Some(password)).expect("userinfo");
    u.as_str().trim_end_matches('/').to_string()
}

/// `host:port` of the test broker's AMQP listener (for proxies in front of it).
pub fn amqp_addr() -> String {
    let u = url::Url::parse(&amqp()).expect("AMQP URL");
    format!(
        "{}:{}",
        u.host_str().unwrap_or("127.0.0.1"),
        u.port().unwrap_or(5672)
    )
}

/// The test broker's version (`/api/overview`), probed once per test binary.
fn probe() -> &'static Result<String, String> {
    static PROBE: OnceLock<Result<String, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mgmt =
            Management::new(&endpoints(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        rt.block_on(mgmt.get(&["overview"], "probe"))
            .map_err(|e| e.to_string())
            .map(|o| {
                o["rabbitmq_version"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_string()
            })
    })
}

/// Whether this broker test should run: true when the broker answers. When it does not,
/// skips loudly under `TOPO_SKIP_BROKER_TESTS=1` and otherwise fails with what to start.
pub fn available() -> bool {
    let test = std::thread::current()
        .name()
        .unwrap_or("broker test")
        .to_string();
    if std::env::var("TOPO_SKIP_BROKER_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED {test}: TOPO_SKIP_BROKER_TESTS=1 (this test needs RabbitMQ)");
        return false;
    }
    if let Err(e) = probe() {
        panic!(
            "no RabbitMQ for the broker tests at {} ({e}): start one (`bash .ci/run` does; or \
             `rabbitmq-plugins enable rabbitmq_management && rabbitmq-server -detached`), point \
             TOPO_TEST_MANAGEMENT_URL / TOPO_TEST_AMQP_URL at yours, or set \
             TOPO_SKIP_BROKER_TESTS=1 to skip",
            mgmt()
        );
    }
    true
}

/// The test broker's version, e.g. `3.10.8` or `4.3.6`.
pub fn version() -> String {
    match probe() {
        Ok(v) => v.clone(),
        Err(e) => panic!("no RabbitMQ at {}: {e}", mgmt()),
    }
}

/// Whether the test broker is RabbitMQ 4 or later (where tests expect 4.x behaviour).
pub fn is_4x() -> bool {
    version()
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 4)
}

fn endpoints(timeout: Duration) -> Endpoints {
    Endpoints::resolve(
        &ConnectArgs {
            amqp_url: Some(amqp()),
            management_url: Some(mgmt()),
            timeout,
            ..ConnectArgs::default()
        },
        None,
        &|_| None,
    )
    .expect("test endpoints")
}

pub struct TestVhost {
    pub name: String,
    pub dir: tempfile::TempDir,
    users: RefCell<Vec<String>>,
    extra_vhosts: RefCell<Vec<String>>,
    rt: tokio::runtime::Runtime,
    mgmt: Management,
}

fn suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

impl TestVhost {
    /// A fresh vhost, or `None` when the broker tests are skipped (see [`available`]).
    pub fn try_new() -> Option<TestVhost> {
        available().then(TestVhost::new)
    }

    fn new() -> TestVhost {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mgmt = Management::new(&endpoints(Duration::from_secs(30))).unwrap();
        let v = TestVhost {
            name: format!("topo-test-{}", suffix()),
            dir: tempfile::tempdir().unwrap(),
            users: RefCell::new(Vec::new()),
            extra_vhosts: RefCell::new(Vec::new()),
            rt,
            mgmt,
        };
        v.create_vhost(&v.name.clone());
        v
    }

    /// Another vhost, deleted with this one.
    pub fn extra_vhost(&self) -> String {
        let name = format!("topo-test-{}", suffix());
        self.extra_vhosts.borrow_mut().push(name.clone());
        name
    }

    pub fn create_vhost(&self, name: &str) {
        self.put(&["vhosts", name], &json!({}));
        self.put(
            &["permissions", name, "guest"],
            &json!({"configure": ".*", "write": ".*", "read": ".*"}),
        );
    }

    /// A unique user name, deleted at the end.
    pub fn user(&self, prefix: &str) -> String {
        let name = format!("topo-test-{prefix}-{}", suffix());
        self.users.borrow_mut().push(name.clone());
        name
    }

    /// A fixed user name (from a shipped file), deleted at the end.
    pub fn user_named(&self, name: &str) {
        self.users.borrow_mut().push(name.to_string());
    }

    pub fn get(&self, path: &[&str]) -> Value {
        self.rt.block_on(self.mgmt.get(path, "test get")).unwrap()
    }

    pub fn get_opt(&self, path: &[&str]) -> Option<Value> {
        self.rt
            .block_on(self.mgmt.get_opt(path, "test get"))
            .unwrap()
    }

    pub fn put(&self, path: &[&str], body: &Value) {
        self.rt
            .block_on(self.mgmt.put(path, body, "test put"))
            .unwrap()
    }

    pub fn post(&self, path: &[&str], body: &Value) {
        self.rt
            .block_on(self.mgmt.post(path, body, "test post"))
            .unwrap()
    }

    pub fn delete(&self, path: &[&str]) {
        self.rt
            .block_on(self.mgmt.delete(path, "test delete"))
            .unwrap()
    }

    /// Publish `n` persistent messages to `queue` through the default exchange.
    pub fn publish(&self, queue: &str, n: usize) {
        for i in 0..n {
            let body = json!({"properties": {"delivery_mode": 2}, "routing_key": queue,
                              "payload": format!("m{i}"), "payload_encoding": "string"});
            let r = self.rt.block_on(self.mgmt.post(
                &["exchanges", &self.name, "amq.default", "publish"],
                &body,
                "test publish",
            ));
            r.unwrap();
        }
    }

    /// Write a topology file for this vhost: `vhost:` is set, then `body`.
    pub fn file(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("version: 1\nvhost: {}\n{body}", self.name)).unwrap();
        path
    }

    /// Run topo with the test broker's URLs and nothing from the caller's environment.
    pub fn topo(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        topo_cmd(args, envs)
    }

    /// `topo plan FILE` has nothing to do (exit 0) in text, with `--prune`, and in JSON: no
    /// false diff once an apply is done.
    pub fn assert_no_diff(&self, file: &Path, envs: &[(&str, &str)]) {
        for extra in [&[][..], &["--prune"][..], &["--format", "json"][..]] {
            let mut args = vec!["plan", path_str(file)];
            args.extend(extra);
            let plan = self.topo(&args, envs);
            assert_eq!(
                code(&plan),
                0,
                "{args:?}: {}{}",
                stdout(&plan),
                stderr(&plan)
            );
        }
    }
}

/// The topo binary with `args`, pointed at the test broker, with none of the caller's
/// topology, credentials or colour settings.
pub fn topo_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.args(args)
        .env_remove("TOPO_FILE")
        .env_remove("RABBITMQ_USER")
        .env_remove("RABBITMQ_PASSWORD")
        .env_remove("NO_COLOR")
        .env("TOPO_AMQP_URL", amqp())
        .env("TOPO_MANAGEMENT_URL", mgmt())
        // The copies of exports a run keeps (src/broker/cache.rs): out of the home directory,
        // one file per test vhost.
        .env(
            "TOPO_CACHE_DIR",
            std::env::temp_dir().join("topo-test-cache"),
        )
        .env_remove("TOPO_NO_CACHE");
    cmd
}

/// Run [`topo_command`] with `envs` added, to its end.
pub fn topo_cmd(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = topo_command(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// [`topo_command`] in a pseudo-terminal (stdin, stdout and stderr are the terminal),
/// uncoloured; each expect waits up to 60 s.
pub fn pty_topo(args: &[&str]) -> rexpect::session::PtySession {
    let mut cmd = topo_command(args);
    cmd.env("NO_COLOR", "1").env("TERM", "xterm");
    rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawn topo in a pty")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = self
            .rt
            .block_on(self.mgmt.delete(&["vhosts", &self.name], "cleanup"));
        for v in self.extra_vhosts.borrow().iter() {
            let _ = self
                .rt
                .block_on(self.mgmt.delete(&["vhosts", v], "cleanup"));
        }
        for u in self.users.borrow().iter() {
            let _ = self.rt.block_on(self.mgmt.delete(&["users", u], "cleanup"));
        }
    }
}
