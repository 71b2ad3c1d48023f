//! `topo init`'s file opened in the real yaml-language-server (the YAML support of VS Code,
//! Neovim and Helix), spoken to over LSP as an editor does: the schema its first line points
//! at loads, a wrong type and an unknown key are flagged where they are written, and a
//! queue's keys complete with their help. An address that does not answer is flagged on
//! in the file, which shows the empty-diagnostics check can fail.
//!
//! The server comes from tests/yaml_editor's lockfile (`npm ci --prefix tests/yaml_editor`);
//! without it the tests say SKIPPED, and fail when `TOPO_REQUIRE_YAML_EDITOR=1`.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "common/cli.rs"]
mod cli;
#[path = "common/require.rs"]
mod require;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use cli::{text, topo_in};

/// Long enough for node to start and read a schema on a loaded CI machine; a server that
/// says nothing for this long fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(60);

/// A yaml-language-server child and the messages its stdout thread has read.
struct Server {
    child: Child,
    stdin: ChildStdin,
    inbox: Receiver<Value>,
    next_id: u64,
}

impl Server {
    fn start() -> Option<Server> {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/yaml_editor/node_modules/yaml-language-server/bin/yaml-language-server");
        if !bin.is_file() {
            require::skip_or_fail(
                "TOPO_REQUIRE_YAML_EDITOR",
                "topo init's file in yaml-language-server",
                "tests/yaml_editor/node_modules is missing (run `npm ci --prefix tests/yaml_editor`)",
            );
            return None;
        }
        let mut child = Command::new("node")
            .arg(bin)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node (needed with tests/yaml_editor/node_modules)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, inbox) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(msg) = read_message(&mut r) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            stdin,
            inbox,
            next_id: 0,
        };
        server.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        server.notify("initialized", json!({}));
        // The server pulls its settings when told they changed (it ignores any sent along):
        // wait for that request and answer it before a file is opened.
        server.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": null}),
        );
        let pull = server.wait_for("the settings request", |m| {
            m["method"] == "workspace/configuration"
        });
        server.answer(&pull);
        Some(server)
    }

    fn send(&mut self, msg: &Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The result of a request, answering the server's own requests meanwhile.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let reply = self.wait_for(&format!("the answer to {method}"), |m| {
            m.get("method").is_none() && m["id"] == json!(id)
        });
        reply["result"].clone()
    }

    /// Open `path` as an editor does, and the diagnostics the server publishes for it.
    fn open(&mut self, path: &Path) -> Vec<Value> {
        let uri = uri(path);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                "text": std::fs::read_to_string(path).unwrap()}}),
        );
        let published = self.wait_for(&format!("diagnostics for {uri}"), |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        published["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .inbox
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("yaml-language-server: no {what} within {WAIT:?}: {e}"));
            if wanted(&msg) {
                return msg;
            }
            self.answer(&msg);
        }
    }

    /// Answer a request from the server, as an editor would; anything else is left alone.
    /// Settings: the `yaml` section validates and completes, without the schema store (it
    /// would be fetched from the internet, and the file names its own schema); other
    /// sections and other requests (capability registration) get null.
    fn answer(&mut self, msg: &Value) {
        let (Some(method), Some(id)) = (msg.get("method"), msg.get("id")) else {
            return;
        };
        let result = if method == "workspace/configuration" {
            let items = msg["params"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            Value::Array(
                items
                    .iter()
                    .map(|item| match item["section"].as_str() {
                        Some("yaml") => json!({"validate": true, "completion": true,
                            "hover": true, "schemaStore": {"enable": false}}),
                        _ => Value::Null,
                    })
                    .collect(),
            )
        } else {
            Value::Null
        };
        let reply = json!({"jsonrpc": "2.0", "id": id.clone(), "result": result});
        self.send(&reply);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One LSP message (`Content-Length` framing), or None when the stream ends.
fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// `topo init ARGS` in a new directory: the directory and the file it wrote.
fn init(args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let mut all = vec!["init"];
    all.extend_from_slice(args);
    let out = topo_in(d.path(), &all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let file = d.path().canonicalize().unwrap().join("topo.yaml");
    (d, file)
}

fn messages(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["range"]["start"]["line"],
                d["message"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn init_file_loads_its_schema_flags_mistakes_and_completes_keys() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let (_dir, file) = init(&[]);
    let opened = server.open(&file);
    assert!(opened.is_empty(), "{:?}", messages(&opened));

    // The mistakes go under the queue, on the two lines after its name (LSP counts from 0).
    let body = std::fs::read_to_string(&file).unwrap();
    let line = body.lines().position(|l| l == "  - name: tasks").unwrap();
    let wrong = body.replace(
        "  - name: tasks\n",
        "  - name: tasks\n    durable: maybe\n    qeue_type: quorum\n",
    );
    assert_ne!(wrong, body, "the starting file lost its queue");
    let wrong_file = file.with_file_name("wrong.yaml");
    std::fs::write(&wrong_file, wrong).unwrap();
    let flagged = messages(&server.open(&wrong_file));
    assert!(
        flagged.contains(&format!(
            "{}: Incorrect type. Expected one of boolean, null.",
            line + 1
        )),
        "{flagged:?}"
    );
    assert!(
        flagged.contains(&format!("{}: Property qeue_type is not allowed.", line + 2)),
        "{flagged:?}"
    );

    // Completion at the queue's `name` key offers the queue's keys with the schema's help,
    // which comes from the Rust doc comments.
    let completion = server.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri(&file)}, "position": {"line": line, "character": 4}}),
    );
    let items = completion["items"].as_array().cloned().unwrap_or_default();
    let help = |label: &str| {
        items
            .iter()
            .find(|i| i["label"] == label)
            .map(|i| i["documentation"].to_string())
    };
    let durable = help("durable").unwrap_or_else(|| panic!("no durable in {items:?}"));
    assert!(durable.contains("Survives a broker restart"), "{durable}");
    for key in ["type", "message_ttl", "dead_letter_exchange"] {
        assert!(help(key).is_some(), "{key} missing from {items:?}");
    }
}

#[test]
fn a_schema_address_that_does_not_answer_is_flagged() {
    let Some(mut server) = Server::start() else {
        return;
    };
    // A port nothing listens on: refused at once, on any machine.
    let url = "http://127.0.0.1:1/topology.schema.json";
    let (_dir, file) = init(&["--schema-url", url]);
    let flagged = messages(&server.open(&file));
    assert!(
        flagged
            .iter()
            .any(|m| m.contains(": Unable to load schema from 'http://127.0.0.1:1/")),
        "{flagged:?}"
    );
}
