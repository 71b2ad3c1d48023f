//! Issue 10, offline: bad input at the edges ends in located errors, never a panic, and
//! never a knock-on error. Broker-side edges are in `tests/broker_edges.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use topo::diag::{Code, Diagnostic, render_text};
use topo::topology::{Disk, EnvSource, Loaded};
use topo::validate::load_with;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn load_text(text: &str, env: &[(&str, &str)]) -> Loaded {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "t.yaml", text);
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load_with(&p, &Disk, &EnvSource::Fixed(env))
}

fn rendered(loaded: &Loaded) -> String {
    let mut out = Vec::new();
    render_text(&mut out, &loaded.sources, &loaded.diagnostics, false).expect("render");
    String::from_utf8(out).expect("utf-8")
}

fn errors(loaded: &Loaded) -> Vec<&Diagnostic> {
    loaded.diagnostics.iter().filter(|d| d.is_error()).collect()
}

/// (line, column) of a diagnostic.
fn at(loaded: &Loaded, d: &Diagnostic) -> (usize, usize) {
    let span = d.span.expect("located");
    loaded
        .sources
        .get(span.file)
        .expect("file")
        .line_col(span.start)
}

fn topo(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("TOPO_FILE")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs topo")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- item 1: AMQP short strings ----

#[test]
fn amqp_short_strings_over_255_bytes_are_located_errors() {
    let long_key = "k".repeat(300);
    // 200 characters but 400 bytes: the schema's maxLength counts characters.
    let wide_name = "é".repeat(200);
    let long_header = "h".repeat(256);
    let long_arg = "x-".to_string() + &"a".repeat(260);
    let yaml = format!(
        "version: 1
exchanges:
  - {{name: d, type: direct}}
  - {{name: hx, type: headers}}
queues:
  - name: {wide_name}
  - name: q
    arguments: {{{long_arg}: 1}}
bindings:
  - {{source: d, destination: q, routing_key: {long_key}}}
  - {{source: hx, destination: q, arguments: {{x-match: all, {long_header}: v}}}}
"
    );
    let loaded = load_text(&yaml, &[]);
    let errs = errors(&loaded);
    let msgs: Vec<String> = errs.iter().map(|d| d.message.clone()).collect();
    assert_eq!(errs.len(), 4, "{}", rendered(&loaded));
    for d in &errs {
        assert_eq!(d.code, Code::SchemaType, "{}", d.message);
        assert!(d.message.contains("255 bytes"), "{}", d.message);
        assert!(d.hint.is_some());
    }
    let lines: Vec<usize> = errs.iter().map(|d| at(&loaded, d).0).collect();
    assert!(lines.contains(&6), "queue name, {msgs:?}");
    assert!(lines.contains(&8), "queue argument key, {msgs:?}");
    assert!(lines.contains(&10), "routing key, {msgs:?}");
    assert!(lines.contains(&11), "header name, {msgs:?}");
    // The routing key error points at the key itself.
    let key_err = errs
        .iter()
        .find(|d| at(&loaded, d).0 == 10)
        .expect("key error");
    let (_, col) = at(&loaded, key_err);
    assert_eq!(col, 46, "{}", rendered(&loaded));
}

#[test]
fn amqp_short_string_limits_cover_vhosts_and_exchange_names() {
    let long = "v".repeat(256);
    let yaml = format!(
        "version: 1\nvhost: {long}\nexchanges:\n  - {{name: e{}, type: fanout}}\n",
        "ü".repeat(130)
    );
    let loaded = load_text(&yaml, &[]);
    let errs = errors(&loaded);
    assert_eq!(errs.len(), 2, "{}", rendered(&loaded));
    assert!(errs.iter().any(|d| d.message.contains("vhost")));
    assert!(errs.iter().any(|d| d.message.contains("exchange")));
}

#[test]
fn route_refuses_a_routing_key_or_header_over_255_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "t.yaml",
        "version: 1\nexchanges:\n  - {name: d, type: direct}\n  - {name: h, type: headers}\nqueues:\n  - {name: q}\nbindings:\n  - {source: d, destination: q, routing_key: a}\n  - {source: h, destination: q, arguments: {x-match: any, a: b}}\n",
    );
    let long = "k".repeat(256);
    let out = topo(
        &["route", "t.yaml", "-e", "d", "-k", &long],
        dir.path(),
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("255 bytes"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let header = format!("{long}=v");
    let out = topo(
        &["route", "t.yaml", "-e", "h", "-H", &header],
        dir.path(),
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("255 bytes"), "{err}");
    // 255 bytes exactly is fine.
    let ok = "k".repeat(255);
    let out = topo(&["route", "t.yaml", "-e", "d", "-k", &ok], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

// ---- item 3: empty and blank names ----

#[test]
fn empty_and_blank_names_are_errors() {
    let loaded = load_text(
        "version: 1\nvhost: \"\"\nqueues:\n  - {name: \"   \"}\npolicies:\n  - {name: \" \", pattern: q, definition: {max-length: 1}}\n",
        &[],
    );
    let errs = errors(&loaded);
    assert_eq!(errs.len(), 3, "{}", rendered(&loaded));
    assert!(errs.iter().any(|d| d.message == "vhost is empty"));
    assert!(errs.iter().any(|d| d.message == "queue name is blank"));
    assert!(errs.iter().any(|d| d.message == "policy name is blank"));
    assert_eq!(at(&loaded, errs[0]).0, 2);
}

#[test]
fn a_variable_set_to_empty_is_named_in_the_hint() {
    let loaded = load_text(
        "version: 1\nvhost: ${VHOST}\nqueues:\n  - {name: q}\n",
        &[("VHOST", "")],
    );
    let errs = errors(&loaded);
    assert_eq!(errs.len(), 1, "{}", rendered(&loaded));
    assert_eq!(errs[0].message, "vhost is empty");
    assert!(
        errs[0]
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("set but empty"),
        "{:?}",
        errs[0].hint
    );
}

// ---- item 2: non-UTF-8 environment ----

#[cfg(unix)]
#[test]
fn a_non_utf8_variable_the_file_does_not_use_is_ignored_and_a_used_one_is_located() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "t.yaml",
        "version: 1\nqueues:\n  - {name: q}\n  - {name: \"${QNAME}\"}\n",
    );
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let run = |vars: &[(&str, &std::ffi::OsStr)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
        cmd.args(["validate", "t.yaml"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("runs topo")
    };
    let out = run(&[
        ("UNRELATED_BINARY", bad),
        ("QNAME", std::ffi::OsStr::new("jobs")),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = run(&[("QNAME", bad)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("`QNAME` is not valid UTF-8"), "{err}");
    assert!(err.contains("t.yaml:4:13"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

// ---- item 4: every unset variable at once, no knock-on ----

#[test]
fn every_unset_variable_is_reported_at_once_without_knock_on_errors() {
    let loaded = load_text(
        "version: 1
queues:
  - {name: \"${QUEUE}\"}
services:
  - name: api
    image: \"${REGISTRY}/api:${TAG:?set TAG}\"
    port: ${PORT}
",
        &[],
    );
    let codes_seen: Vec<Code> = loaded.diagnostics.iter().map(|d| d.code).collect();
    assert!(
        codes_seen.iter().all(|c| *c == Code::Interpolation),
        "{}",
        rendered(&loaded)
    );
    let msgs: Vec<&str> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(msgs.len(), 4, "{}", rendered(&loaded));
    for name in ["QUEUE", "REGISTRY", "TAG", "PORT"] {
        assert!(
            msgs.iter().any(|m| m.contains(&format!("`{name}`"))),
            "{name}: {msgs:?}"
        );
    }
    let tag = loaded
        .diagnostics
        .iter()
        .find(|d| d.message.contains("`TAG`"))
        .expect("TAG");
    assert_eq!(at(&loaded, tag), (6, 29), "{}", rendered(&loaded));
}

// ---- item 12: URL parse errors never echo the URL ----

#[test]
fn a_url_that_does_not_parse_is_never_echoed() {
    use topo::broker::endpoint::{ConnectArgs, Endpoints};
    let cases = [
        "amqp://bob:se/cr3t@host:5672",
        "amqp://bob:se?cr3t@host:5672",
        "amqp://bob:se#cr3t@host:5672",
        "amqp://bob:123/cr3t@host",
        "amqp://bob:secr3t@ho st",
    ];
    for url in cases {
        for (amqp, mgmt) in [
            (Some(url.to_string()), None),
            (None, Some(url.replace("amqp://", "http://"))),
        ] {
            let args = ConnectArgs {
                amqp_url: amqp,
                management_url: mgmt,
                timeout: std::time::Duration::from_secs(1),
                ..ConnectArgs::default()
            };
            let err = Endpoints::resolve(&args, None, &|_| None).expect_err(url);
            let shown = format!("{err:#} {err:?}");
            assert!(!shown.contains("cr3t"), "{url}: {shown}");
            assert!(shown.contains("not valid"), "{url}: {shown}");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "t.yaml", "version: 1\nqueues:\n  - {name: q}\n");
    let out = topo(
        &[
            "plan",
            "t.yaml",
            "--amqp-url",
            "amqp://bob:p4ss/w0rd@localhost",
        ],
        dir.path(),
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("w0rd") && !err.contains("p4ss"), "{err}");
    assert!(err.contains("percent-encoded"), "{err}");
}

// ---- item 13: a `.env` line that does not parse is not quoted ----

#[test]
fn a_dotenv_line_that_does_not_parse_is_located_without_its_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        ".env",
        "A=1\nTOKEN=\"unterminated s3cr3t-value\nB=2\n",
    );
    let p = write(dir.path(), "t.yaml", "version: 1\nqueues:\n  - {name: q}\n");
    let loaded = load_with(&p, &Disk, &EnvSource::Fixed(HashMap::new()));
    let shown = rendered(&loaded);
    assert!(loaded.has_errors(), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    let d = &loaded.diagnostics[0];
    assert_eq!(d.code, Code::Dotenv);
    assert!(d.message.contains("line 2"), "{shown}");
    let json = serde_json::to_string(&topo::diag::to_json(&loaded.sources, d)).expect("json");
    assert!(!json.contains("s3cr3t"), "{json}");
    let out = topo(&["validate", "t.yaml"], dir.path(), &[]);
    let all = text(&out.stderr) + &text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(!all.contains("s3cr3t"), "{all}");
}

// ---- item 16: the raw password hash never prints ----

#[test]
fn a_password_hash_never_shows_in_debug_or_serialized_state() {
    let hash = "kI3GCqW5JLMJa4iX1lo7X8D6XbYqlLtmdKf8BMVbWR0lNm1H";
    let loaded = load_text(
        &format!("version: 1\nusers:\n  - {{name: app, password_hash: \"{hash}\"}}\n"),
        &[],
    );
    let topo = loaded.topology.as_ref().expect("valid");
    let state = topo::state::State::from_topology(topo, &|_| None);
    let user = state.users.get("app").expect("user");
    let debug = format!("{state:?} {user:?}");
    assert!(!debug.contains(hash), "{debug}");
    let json = serde_json::to_string(&user.credential).expect("json");
    assert!(!json.contains(hash), "{json}");
    assert!(json.contains("***"), "{json}");
}

// ---- item 6: an unknown message count may hold messages ----

#[test]
fn a_queue_whose_count_is_unknown_needs_allow_data_loss() {
    use topo::plan::{PlanOptions, plan};
    let desired_file = load_text("version: 1\nqueues:\n  - {name: kept}\n", &[]);
    let live_file = load_text(
        "version: 1\nqueues:\n  - {name: kept}\n  - {name: gone}\n  - {name: empty}\n",
        &[],
    );
    let desired =
        topo::state::State::from_topology(desired_file.topology.as_ref().unwrap(), &|_| None);
    let mut live =
        topo::state::State::from_topology(live_file.topology.as_ref().unwrap(), &|_| None);
    for (key, q) in live.queues.iter_mut() {
        // `gone` could not be counted (stats off, a failed passive declare): None.
        q.messages = if key.name == "empty" { Some(0) } else { None };
    }
    let p = plan(&desired, &live, &PlanOptions { prune: true });
    let losses: Vec<String> = p.data_loss().map(|c| c.target().to_string()).collect();
    assert_eq!(losses.len(), 1, "{losses:?}");
    assert!(losses[0].contains("gone"), "{losses:?}");
}

// ---- item 15: diff compares the source text of service env ----

#[test]
fn diff_compares_service_env_as_written_and_never_prints_its_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = |var: &str| {
        format!(
            "version: 1\nservices:\n  - name: api\n    image: reg/api:1\n    env: {{API_TOKEN: \"${{{var}}}\", DB: \"https://app:${{PW}}@db\"}}\n"
        )
    };
    write(dir.path(), "old.yaml", &svc("TOKEN"));
    write(dir.path(), "new.yaml", &svc("TOKEN2"));
    for format in ["text", "json", "markdown"] {
        let out = topo(
            &["diff", "old.yaml", "new.yaml", "--format", format],
            dir.path(),
            // TOKEN2 is unset where the review runs: that is no error.
            &[("TOKEN", "tok-s3cret-1"), ("PW", "pw-s3cret-2")],
        );
        let all = text(&out.stdout) + &text(&out.stderr);
        assert_ne!(out.status.code(), Some(1), "{format}: {all}");
        assert!(!all.contains("s3cret"), "{format}: {all}");
        assert!(all.contains("${TOKEN2}"), "{format}: {all}");
    }
}
