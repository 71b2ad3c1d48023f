//! `topo fmt`: canonical order with comments kept, `--check` for CI, `-` as a filter; and
//! two properties over generated files in any key order and style: formatting twice is
//! formatting once, and the formatted file loads as the same topology.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;
use topo::source::FileId;
use topo::topology::{EnvSource, FileSource};

fn topo_in(dir: &Path, args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_topo"))
        .args(args)
        .current_dir(dir)
        .env_remove("TOPO_FILE")
        .env("NO_COLOR", "1")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = input {
        let mut stdin = child.stdin.take().unwrap();
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const MESSY: &str = "# my topology\n\nqueues:\n  # work to do\n  - durable: true\n    name: tasks   # the main one\n  - {type: quorum, name: audit}\nversion: 1\n";
const TIDY: &str = "# my topology\n\nversion: 1\n\nqueues:\n  # work to do\n  - name: tasks   # the main one\n    durable: true\n  - {name: audit, type: quorum}\n";

#[test]
fn fmt_rewrites_in_place_and_check_lists_what_would_change() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.yaml"), MESSY).unwrap();
    std::fs::write(d.path().join("b.yaml"), TIDY).unwrap();

    let check = topo_in(d.path(), &["fmt", "--check", "a.yaml", "b.yaml"], None);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check.stderr));
    assert_eq!(
        text(&check.stdout),
        "a.yaml\n",
        "only the file that would change"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.yaml")).unwrap(),
        MESSY,
        "--check changes nothing"
    );

    let run = topo_in(d.path(), &["fmt", "a.yaml", "b.yaml"], None);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "a.yaml\n");
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.yaml")).unwrap(),
        TIDY
    );

    let again = topo_in(d.path(), &["fmt", "--check", "a.yaml", "b.yaml"], None);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    assert_eq!(text(&again.stdout), "");
}

#[test]
fn fmt_reads_stdin_and_writes_stdout() {
    let d = tempfile::tempdir().unwrap();
    let out = topo_in(d.path(), &["fmt", "-"], Some(MESSY));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), TIDY);
    let check = topo_in(d.path(), &["fmt", "--check", "-"], Some(MESSY));
    assert_eq!(check.status.code(), Some(2));
    assert_eq!(text(&check.stdout), "<stdin>\n");
}

#[test]
fn a_broken_file_is_reported_and_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let broken = "version: 1\nqueues:\n  - {name: a\n";
    std::fs::write(d.path().join("x.yaml"), broken).unwrap();
    let out = topo_in(d.path(), &["fmt", "x.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("x.yaml:"), "file:line:col: {err}");
    assert!(err.contains("was not formatted"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("x.yaml")).unwrap(),
        broken
    );
}

#[test]
fn the_starter_file_is_formatted() {
    let d = tempfile::tempdir().unwrap();
    let init = topo_in(d.path(), &["init"], None);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr));
    let check = topo_in(d.path(), &["fmt", "--check"], None);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

/// One in-memory file (no `.env`).
struct Mem(String);

impl FileSource for Mem {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.ends_with("topo.yaml") {
            Ok(self.0.clone().into_bytes())
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no"))
        }
    }
}

fn load(text: &str) -> topo::topology::Topology {
    let loaded = topo::validate::load_with(
        Path::new("topo.yaml"),
        &Mem(text.to_string()),
        &EnvSource::Fixed(HashMap::new()),
    );
    let messages: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    match loaded.into_valid() {
        Ok(v) => v.topology,
        Err(_) => panic!("not valid: {messages:?}\n{text}"),
    }
}

/// A mapping's `key: value` pairs written in block or flow style, each block key maybe
/// with a comment above it or after it.
fn write_map(
    out: &mut String,
    indent: &str,
    pairs: &[(String, String)],
    flow: bool,
    comments: &[bool],
) {
    if flow {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        out.push_str(&format!("{indent}- {{{}}}\n", body.join(", ")));
        return;
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        let c = comments.get(i).copied().unwrap_or(false);
        if c && i > 0 {
            out.push_str(&format!("{indent}  # about {k}\n"));
        }
        let lead = if i == 0 { "- " } else { "  " };
        let tail = if c && i == 0 { "  # first" } else { "" };
        out.push_str(&format!("{indent}{lead}{k}: {v}{tail}\n"));
    }
}

#[derive(Debug, Clone)]
struct Shape {
    sections: Vec<usize>,
    queues: Vec<(Vec<usize>, bool, Vec<bool>, u32)>,
    exchanges: Vec<(Vec<usize>, bool)>,
    header: bool,
    blank: Vec<bool>,
}

fn shape() -> impl Strategy<Value = Shape> {
    let perm = |n: usize| Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
    (
        perm(5),
        prop::collection::vec(
            (
                perm(4),
                any::<bool>(),
                prop::collection::vec(any::<bool>(), 4),
                1u32..100_000,
            ),
            1..4,
        ),
        prop::collection::vec((perm(3), any::<bool>()), 1..3),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 5),
    )
        .prop_map(|(sections, queues, exchanges, header, blank)| Shape {
            sections,
            queues,
            exchanges,
            header,
            blank,
        })
}

fn render(s: &Shape) -> String {
    let mut out = String::new();
    if s.header {
        out.push_str("# generated\n\n");
    }
    for (n, section) in s.sections.iter().enumerate() {
        if s.blank[n] {
            out.push('\n');
        }
        match section {
            0 => out.push_str("version: 1\n"),
            1 => out.push_str("name: gen\n"),
            2 => {
                out.push_str("# the queues\nqueues:\n");
                for (i, (order, flow, comments, ttl)) in s.queues.iter().enumerate() {
                    let fields = [
                        ("name".to_string(), format!("q{i}")),
                        ("durable".to_string(), "true".to_string()),
                        ("message_ttl".to_string(), ttl.to_string()),
                        (
                            "arguments".to_string(),
                            "{x-max-priority: 5, x-dead-letter-exchange: e0}".to_string(),
                        ),
                    ];
                    let pairs: Vec<(String, String)> =
                        order.iter().map(|j| fields[*j].clone()).collect();
                    write_map(&mut out, "  ", &pairs, *flow, comments);
                }
            }
            3 => {
                out.push_str("exchanges:\n");
                for (i, (order, flow)) in s.exchanges.iter().enumerate() {
                    let fields = [
                        ("name".to_string(), format!("e{i}")),
                        ("type".to_string(), "topic".to_string()),
                        ("durable".to_string(), "true".to_string()),
                    ];
                    let pairs: Vec<(String, String)> =
                        order.iter().map(|j| fields[*j].clone()).collect();
                    write_map(&mut out, "  ", &pairs, *flow, &[]);
                }
            }
            _ => {
                out.push_str(
                    "bindings:\n  - routing_key: \"a.#\"\n    destination: q0\n    source: e0\n",
                );
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fmt_is_idempotent_and_keeps_the_topology(s in shape()) {
        let text = render(&s);
        let once = topo::fmt::format(&text, FileId(0)).map_err(|d| TestCaseError::fail(d.message))?;
        let twice = topo::fmt::format(&once, FileId(0)).map_err(|d| TestCaseError::fail(d.message))?;
        prop_assert_eq!(&twice, &once, "fmt(fmt(x)) == fmt(x)\n--- input\n{}", text);
        prop_assert_eq!(load(&once), load(&text), "the same topology\n--- input\n{}\n--- output\n{}", text, once);
        prop_assert!(once.contains("# the queues"), "comments are kept: {}", once);
        // Canonical: version comes first whatever the input's order.
        let first_key = once.lines().find(|l| !l.is_empty() && !l.starts_with('#'));
        prop_assert_eq!(first_key, Some("version: 1"));
    }
}
