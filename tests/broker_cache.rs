//! The copies of definitions exports that topo keeps between runs (src/broker/cache.rs),
//! against the real broker. On RabbitMQ 4.3.5+, which tags its export with an `ETag`, the
//! second plan is answered by a 304 and the copy; a change made beside topo is still
//! planned; a copy of another broker incarnation, a damaged copy and `TOPO_NO_CACHE` are
//! not used; and no copy holds a shovel's password. On brokers without the tag (3.10, the
//! listings path) nothing is kept and plans are as before.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "common/broker.rs"]
mod broker;

use std::path::{Path, PathBuf};
use std::process::Output;

use broker::{TestVhost, code, path_str, stderr, stdout};
use serde_json::{Value, json};

/// A password that must never reach a copy.
const SHOVEL_PASSWORD: &str = "c0py-Pw-77120";

const FROM_COPY: &str = "unchanged (304), from the kept copy";

/// One test at a time: the broker's tag moves with a change to any vhost, so a test that
/// expects a 304 must not run beside one that declares (other test binaries run after
/// this one, not beside it).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the test broker tags `GET /api/definitions/{vhost}` (4.3.5+; topo reads that
/// export from 4.3.3 and 4.2.9, and through listings before).
fn tags_exports() -> bool {
    let version = broker::version();
    let v: Vec<u32> = version
        .split(['.', '-', '+'])
        .map(|p| p.parse().unwrap_or(0))
        .chain([0, 0, 0])
        .take(3)
        .collect();
    v >= vec![4, 3, 5]
}

fn plan(v: &TestVhost, file: &Path, cache: &Path, extra: &[(&str, &str)]) -> Output {
    let mut envs = vec![("TOPO_CACHE_DIR", path_str(cache)), ("TOPO_TRACE", "1")];
    envs.extend_from_slice(extra);
    v.topo(&["plan", path_str(file)], &envs)
}

fn copies(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The one copy in `dir`, as its header and its body.
fn the_copy(dir: &Path) -> (PathBuf, Value, Value) {
    let files = copies(dir);
    assert_eq!(files.len(), 1, "one copy expected: {files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    (
        files[0].clone(),
        serde_json::from_str(header).unwrap(),
        serde_json::from_str(body).unwrap(),
    )
}

fn write_copy(path: &Path, header: &Value, body: &Value) {
    std::fs::write(path, format!("{header}\n{body}")).unwrap();
}

fn topology(v: &TestVhost) -> PathBuf {
    v.file(
        "t.yaml",
        r##"exchanges:
  - {name: events, type: topic}
queues:
  - {name: orders, type: classic}
  - {name: audit, type: classic}
bindings:
  - {source: events, destination: orders, routing_key: "order.#"}
  - {source: events, destination: audit, routing_key: "#"}
policies:
  - {name: ttl, pattern: "^audit$", apply_to: queues, definition: {message-ttl: 60000}}
"##,
    )
}

/// A shovel beside the file's entities, made over HTTP, whose URI carries a password: the
/// export lists it under `parameters`.
fn add_shovel(v: &TestVhost) {
    let user = v.user("copy");
    v.put(
        &["users", &user],
        &json!({"password": SHOVEL_PASSWORD, "tags": ""}),
    );
    v.put(
        &["permissions", &v.name, &user],
        &json!({"configure": ".*", "write": ".*", "read": ".*"}),
    );
    let base = broker::amqp();
    let uri = format!(
        "amqp://{user}:{SHOVEL_PASSWORD}@{}/{}",
        base.trim_start_matches("amqp://"),
        percent_encoding::utf8_percent_encode(&v.name, percent_encoding::NON_ALPHANUMERIC)
    );
    v.put(
        &["parameters", "shovel", &v.name, "copy-shovel"],
        &json!({"value": {"src-uri": uri, "src-queue": "orders",
                          "dest-uri": uri, "dest-queue": "audit"}}),
    );
}

#[test]
fn a_kept_copy_answers_a_plan_only_while_the_broker_says_it_holds() {
    let _alone = alone();
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path();
    let file = topology(&v);
    let envs = [("TOPO_CACHE_DIR", path_str(dir))];
    let applied = v.topo(&["apply", path_str(&file)], &envs);
    assert_eq!(
        code(&applied),
        0,
        "{}{}",
        stdout(&applied),
        stderr(&applied)
    );
    add_shovel(&v);

    let first = plan(&v, &file, dir, &[]);
    assert_eq!(code(&first), 0, "{}{}", stdout(&first), stderr(&first));
    assert!(!stderr(&first).contains(FROM_COPY), "{}", stderr(&first));
    if !tags_exports() {
        // No `ETag` (3.10 reads listings; 4.3.3 and 4.3.4 stream the export untagged).
        let second = plan(&v, &file, dir, &[]);
        assert_eq!(code(&second), 0, "{}", stderr(&second));
        assert!(!stderr(&second).contains(FROM_COPY), "{}", stderr(&second));
        assert!(
            copies(dir).is_empty(),
            "nothing to revalidate, nothing kept"
        );
        return;
    }
    let (path, header, body) = the_copy(dir);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(SHOVEL_PASSWORD) && !text.contains("copy-shovel"),
        "the copy holds the export's parameters: {text}"
    );
    assert_eq!(body["queues"].as_array().map(Vec::len), Some(2), "{body}");

    // Unchanged: a 304, and the copy.
    let second = plan(&v, &file, dir, &[]);
    assert_eq!(code(&second), 0, "{}{}", stdout(&second), stderr(&second));
    assert!(stderr(&second).contains(FROM_COPY), "{}", stderr(&second));

    // The copy really is what answered: one that lost a queue while keeping its tag plans
    // that queue again (nothing but the copy can have told that).
    let mut lost = body.clone();
    lost["queues"]
        .as_array_mut()
        .unwrap()
        .retain(|q| q["name"] != "audit");
    write_copy(&path, &header, &lost);
    let tampered = plan(&v, &file, dir, &[]);
    assert_eq!(
        code(&tampered),
        2,
        "{}{}",
        stdout(&tampered),
        stderr(&tampered)
    );
    assert!(stdout(&tampered).contains("audit"), "{}", stdout(&tampered));
    write_copy(&path, &header, &body);

    // A copy of another broker (wiped and rebuilt), or made before the node last started
    // (a restored backup counts its index up again), is not sent: the whole export is read.
    for (field, value) in [
        ("cluster_id", json!("rabbitmq-cluster-id-elsewhere")),
        ("asked_ms", json!(0)),
    ] {
        let mut other = header.clone();
        other[field] = value;
        write_copy(&path, &other, &lost);
        let p = plan(&v, &file, dir, &[]);
        assert_eq!(code(&p), 0, "{field}: {}{}", stdout(&p), stderr(&p));
        assert!(!stderr(&p).contains(FROM_COPY), "{field}: {}", stderr(&p));
        // And the fresh answer is kept in its place.
        let (_, renewed, _) = the_copy(dir);
        assert_eq!(renewed["cluster_id"], header["cluster_id"]);
        assert_ne!(renewed["asked_ms"], json!(0));
    }

    // A damaged copy under a valid tag: the broker says 304, topo reads the whole export.
    let (_, header, _) = the_copy(dir);
    std::fs::write(&path, format!("{header}\n{{\"queues\": [")).unwrap();
    let damaged = plan(&v, &file, dir, &[]);
    assert_eq!(
        code(&damaged),
        0,
        "{}{}",
        stdout(&damaged),
        stderr(&damaged)
    );

    // A change made beside topo moves the tag: the plan sees it.
    let again = plan(&v, &file, dir, &[]);
    assert!(stderr(&again).contains(FROM_COPY), "{}", stderr(&again));
    v.delete(&["queues", &v.name, "orders"]);
    let changed = plan(&v, &file, dir, &[]);
    assert_eq!(
        code(&changed),
        2,
        "{}{}",
        stdout(&changed),
        stderr(&changed)
    );
    assert!(
        !stderr(&changed).contains(FROM_COPY),
        "{}",
        stderr(&changed)
    );
    assert!(stdout(&changed).contains("orders"), "{}", stdout(&changed));
    // apply converges from the fresh read, and its own read keeps the copy current.
    let reapplied = v.topo(&["apply", path_str(&file)], &envs);
    assert_eq!(code(&reapplied), 0, "{}", stderr(&reapplied));
    let after = plan(&v, &file, dir, &[]);
    assert_eq!(code(&after), 0, "{}{}", stdout(&after), stderr(&after));
}

#[test]
fn no_copy_is_kept_or_used_with_topo_no_cache() {
    let _alone = alone();
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let file = topology(&v);
    let envs = [("TOPO_CACHE_DIR", path_str(cache.path()))];
    let applied = v.topo(&["apply", path_str(&file)], &envs);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let kept = copies(cache.path()).len();
    assert_eq!(
        kept,
        usize::from(tags_exports()),
        "{:?}",
        copies(cache.path())
    );

    let off = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let p = plan(&v, &file, off.path(), &[("TOPO_NO_CACHE", "1")]);
        assert_eq!(code(&p), 0, "{}{}", stdout(&p), stderr(&p));
        assert!(!stderr(&p).contains(FROM_COPY), "{}", stderr(&p));
    }
    assert!(copies(off.path()).is_empty(), "{:?}", copies(off.path()));
}
