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
const TIDY: &str = "# my topology\n\nversion: 1\n\nqueues:\n  # work to do\n  - name: tasks # the main one\n    durable: true\n  - {name: audit, type: quorum}\n";

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
    assert!(err.contains("x.yaml:4:1"), "file:line:col: {err}");
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

/// The files the repository ships as examples are in the style `topo fmt` writes: a user who
/// copies one and adds `topo fmt --check` to CI starts green.
#[test]
fn the_shipped_topologies_are_formatted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut args = vec!["fmt", "--check"];
    args.extend(files.iter().map(String::as_str));
    let check = topo_in(&dir, &args, None);
    assert_eq!(
        check.status.code(),
        Some(0),
        "run `topo fmt topologies/*.yaml`: {}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
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

/// How a generated file is written: the things `topo fmt` makes canonical.
#[derive(Debug, Clone)]
struct Style {
    /// Columns a sequence's dashes sit right of its key (0: not indented).
    seq_indent: usize,
    /// Spaces after a `-` (the item's keys line up after them).
    dash_gap: usize,
    /// Names plain, in single or in double quotes.
    quote: u8,
    /// Spaces at the ends of lines.
    trailing: bool,
    /// Extra blank lines between sections and items.
    blanks: usize,
}

fn style() -> impl Strategy<Value = Style> {
    (0usize..=4, 1usize..=3, 0u8..3, any::<bool>(), 0usize..3).prop_map(
        |(seq_indent, dash_gap, quote, trailing, blanks)| Style {
            seq_indent,
            dash_gap,
            quote,
            trailing,
            blanks,
        },
    )
}

impl Style {
    fn name(&self, n: &str) -> String {
        match self.quote {
            0 => n.to_string(),
            1 => format!("'{n}'"),
            _ => format!("\"{n}\""),
        }
    }

    fn end(&self) -> &'static str {
        if self.trailing { "  \n" } else { "\n" }
    }
}

/// A sequence item's `key: value` pairs written in block or flow style at column `indent`,
/// each block key maybe with a comment above it or after it.
fn write_map(
    out: &mut String,
    st: &Style,
    indent: usize,
    pairs: &[(String, String)],
    flow: bool,
    comments: &[bool],
) {
    let pad = " ".repeat(indent);
    if flow {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        out.push_str(&format!("{pad}- {{{}}}{}", body.join(", "), st.end()));
        return;
    }
    let keys = " ".repeat(indent + 1 + st.dash_gap);
    let dash = format!("{pad}-{}", " ".repeat(st.dash_gap));
    for (i, (k, v)) in pairs.iter().enumerate() {
        let c = comments.get(i).copied().unwrap_or(false);
        if c && i > 0 {
            out.push_str(&format!("{keys}# about {k}\n"));
        }
        let lead = if i == 0 { &dash } else { &keys };
        let tail = if c && i == 0 { "  # first" } else { "" };
        out.push_str(&format!("{lead}{k}: {v}{tail}{}", st.end()));
    }
}

#[derive(Debug, Clone)]
struct Shape {
    sections: Vec<usize>,
    queues: Vec<(Vec<usize>, bool, Vec<bool>, u32)>,
    exchanges: Vec<(Vec<usize>, bool)>,
    header: bool,
    blank: Vec<bool>,
    style: Style,
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
        style(),
    )
        .prop_map(
            |(sections, queues, exchanges, header, blank, style)| Shape {
                sections,
                queues,
                exchanges,
                header,
                blank,
                style,
            },
        )
}

fn render(s: &Shape) -> String {
    let st = &s.style;
    let mut out = String::new();
    if s.header {
        out.push_str("# generated\n\n");
    }
    let blanks = "\n".repeat(st.blanks);
    for (n, section) in s.sections.iter().enumerate() {
        if s.blank[n] {
            out.push('\n');
            out.push_str(&blanks);
        }
        match section {
            0 => out.push_str(&format!("version: 1{}", st.end())),
            1 => out.push_str(&format!("name: {}{}", st.name("gen"), st.end())),
            2 => {
                out.push_str(&format!("# the queues\nqueues:{}", st.end()));
                for (i, (order, flow, comments, ttl)) in s.queues.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&blanks);
                    }
                    let fields = [
                        ("name".to_string(), st.name(&format!("q{i}"))),
                        ("durable".to_string(), "true".to_string()),
                        ("message_ttl".to_string(), ttl.to_string()),
                        (
                            "arguments".to_string(),
                            "{x-max-priority: 5, x-dead-letter-exchange: e0}".to_string(),
                        ),
                    ];
                    let pairs: Vec<(String, String)> =
                        order.iter().map(|j| fields[*j].clone()).collect();
                    write_map(&mut out, st, st.seq_indent, &pairs, *flow, comments);
                }
            }
            3 => {
                out.push_str("exchanges:\n");
                for (i, (order, flow)) in s.exchanges.iter().enumerate() {
                    let fields = [
                        ("name".to_string(), st.name(&format!("e{i}"))),
                        ("type".to_string(), "topic".to_string()),
                        ("durable".to_string(), "true".to_string()),
                    ];
                    let pairs: Vec<(String, String)> =
                        order.iter().map(|j| fields[*j].clone()).collect();
                    write_map(&mut out, st, st.seq_indent, &pairs, *flow, &[]);
                }
            }
            _ => {
                let pad = " ".repeat(st.seq_indent);
                out.push_str(&format!(
                    "bindings:\n{pad}- routing_key: \"a.#\"\n{pad}  destination: {}\n{pad}  source: e0\n",
                    st.name("q0")
                ));
            }
        }
    }
    out
}

/// What a formatted file must look like whatever the input's style.
fn assert_canonical(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        text.ends_with('\n') && !text.ends_with("\n\n"),
        "one final newline: {text:?}"
    );
    for line in text.lines() {
        prop_assert!(!line.ends_with([' ', '\t']), "no trailing spaces: {line:?}");
        let indent = line.len() - line.trim_start().len();
        prop_assert!(indent % 2 == 0, "two spaces a level: {line:?}");
        prop_assert!(!line.contains('\''), "one quote style: {line:?}");
    }
    prop_assert!(!text.contains("\n\n\n"), "no runs of blank lines: {text:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fmt_is_idempotent_and_keeps_the_topology(s in shape()) {
        let text = render(&s);
        let once = topo::fmt::format(&text, FileId(0)).map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.message)))?;
        let twice = topo::fmt::format(&once, FileId(0)).map_err(|d| TestCaseError::fail(d.message))?;
        prop_assert_eq!(&twice, &once, "fmt(fmt(x)) == fmt(x)\n--- input\n{}", text);
        prop_assert_eq!(load(&once), load(&text), "the same topology\n--- input\n{}\n--- output\n{}", text, once);
        prop_assert!(once.contains("# the queues"), "comments are kept: {}", once);
        assert_canonical(&once)?;
        // Canonical: version comes first whatever the input's order.
        let first_key = once.lines().find(|l| !l.is_empty() && !l.starts_with('#'));
        prop_assert_eq!(first_key, Some("version: 1"));
        // One style whatever the input's: the same file written two ways formats the same.
        let plain = Shape { style: Style { seq_indent: 2, dash_gap: 1, quote: 0, trailing: false, blanks: s.style.blanks }, ..s.clone() };
        let other = topo::fmt::format(&render(&plain), FileId(0)).map_err(|d| TestCaseError::fail(d.message))?;
        prop_assert_eq!(&other, &once, "style does not survive fmt\n--- input\n{}", text);
    }

    /// Any string, written in double quotes as a value, reads back as the same string
    /// after fmt (whatever quoting fmt picks), and formatting it again changes nothing.
    #[test]
    fn any_string_survives_fmt(v in "\\PC{0,12}|[-?:,\\[\\]{}#&*!|>'\"%@` ]{1,3}[a-z0-9.:#$ ]{0,6}") {
        let quoted = serde_json::to_string(&v).unwrap();
        let text = format!("version: 1\nqueues:\n  - name: q\n    arguments:\n      x-note: {quoted}\n      x-flow: {{k: {quoted}}}\n");
        let once = topo::fmt::format(&text, FileId(0)).map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.message)))?;
        let twice = topo::fmt::format(&once, FileId(0)).map_err(|d| TestCaseError::fail(d.message))?;
        prop_assert_eq!(&twice, &once);
        let before = topo::source::yaml::parse(&text, FileId(0)).unwrap().to_json();
        let after = topo::source::yaml::parse(&once, FileId(0)).unwrap().to_json();
        prop_assert_eq!(after, before, "{}", once);
    }
}

/// Every topology file in the repository: fmt is idempotent, keeps the values, and a file
/// that validates loads as the same topology once formatted.
#[test]
fn every_file_in_the_repository_formats_idempotently() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["tests/corpus", "tests/fixtures", "examples", "topologies"] {
        collect_yaml(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found {} files", files.len());
    let (mut formatted, mut validated) = (0, 0);
    for path in &files {
        // The bad corpus holds files that are not UTF-8 (fmt refuses those before parsing).
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if topo::source::yaml::parse(&text, FileId(0)).is_err() {
            // Not YAML (the corpus of bad files): fmt must say so, never panic.
            assert!(topo::fmt::format(&text, FileId(0)).is_err());
            continue;
        }
        let once = topo::fmt::format(&text, FileId(0))
            .unwrap_or_else(|d| panic!("{}: {}", path.display(), d.message));
        formatted += 1;
        let twice = topo::fmt::format(&once, FileId(0))
            .unwrap_or_else(|d| panic!("{}: {}\n{once}", path.display(), d.message));
        assert_eq!(twice, once, "{}: fmt(fmt(x)) == fmt(x)", path.display());
        let env = EnvSource::Fixed(HashMap::new());
        let original = topo::validate::load_with(path, &topo::topology::Disk, &env);
        if let Ok(valid) = original.into_valid() {
            let swapped = Swap {
                path: path.clone(),
                text: once.clone(),
            };
            let again = topo::validate::load_with(path, &swapped, &env)
                .into_valid()
                .unwrap_or_else(|_| panic!("{} no longer validates:\n{once}", path.display()));
            assert_eq!(again.topology, valid.topology, "{}", path.display());
            validated += 1;
        }
    }
    eprintln!("{formatted} files formatted, {validated} of them valid topologies");
    assert!(
        formatted > 40 && validated > 20,
        "{formatted} formatted, {validated} validated"
    );
}

fn collect_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_yaml(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// The disk, except one file whose text is given.
struct Swap {
    path: std::path::PathBuf,
    text: String,
}

impl FileSource for Swap {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path == self.path {
            Ok(self.text.clone().into_bytes())
        } else {
            topo::topology::Disk.read(path)
        }
    }
}
