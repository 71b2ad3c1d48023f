//! Real-broker test helper: a uniquely named vhost (`topo-test-<random>`) that is deleted
//! on drop, with the users a test created, plus a way to run the topo binary against it.
//!
//! Include with `#[path = "common/broker.rs"] mod broker;`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use topo::broker::endpoint::{ConnectArgs, Endpoints};
use topo::broker::http::Management;

pub const MGMT: &str = "http://127.0.0.1:15672";
pub const AMQP: &str = "amqp://127.0.0.1:5672";

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
    pub fn new() -> TestVhost {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ep = Endpoints::resolve(
            &ConnectArgs {
                amqp_url: Some(AMQP.into()),
                management_url: Some(MGMT.into()),
                timeout: Duration::from_secs(30),
            },
            None,
            &|_| None,
        )
        .unwrap();
        let mgmt = Management::new(&ep).unwrap();
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
}

pub fn topo_cmd(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.args(args)
        .env_remove("TOPO_FILE")
        .env_remove("RABBITMQ_USER")
        .env_remove("RABBITMQ_PASSWORD")
        .env_remove("NO_COLOR")
        .env("TOPO_AMQP_URL", AMQP)
        .env("TOPO_MANAGEMENT_URL", MGMT);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
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
