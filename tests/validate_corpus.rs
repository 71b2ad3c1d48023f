//! The corpus of broken and valid topology files under `tests/corpus/validate/`.
//!
//! Each `bad/TOPOnnn-*.yaml` must report (at least) code TOPOnnn, and its full diagnostics
//! (messages, file:line:column, snippets, hints) are snapshot-tested. Each `ok/*.yaml` must
//! load without any diagnostic. Every code has both a failing and a passing case.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use topo::diag::{Code, render_text, to_json};
use topo::topology::{Disk, EnvSource, Loaded};
use topo::validate::load_with;

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/validate")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Loaded {
    // Relative path so that snapshots do not depend on where the repository lives.
    let rel = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .to_path_buf();
    load_with(&rel, &Disk, &EnvSource::Fixed(HashMap::new()))
}

fn rendered(loaded: &Loaded) -> String {
    let mut out = Vec::new();
    render_text(&mut out, &loaded.sources, &loaded.diagnostics, false).expect("render");
    String::from_utf8(out).expect("utf-8")
}

fn codes_in_name(path: &Path) -> Vec<String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let rest = stem.strip_prefix("TOPO").unwrap_or_default();
    rest.split('-')
        .take_while(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
        .map(|p| format!("TOPO{p}"))
        .collect()
}

#[test]
fn broken_files_report_their_code_with_location() {
    let mut files = corpus("bad");
    files.extend(corpus("dotenv"));
    assert!(files.len() >= 28, "corpus is missing files");
    for path in files {
        let loaded = load(&path);
        let want = codes_in_name(&path);
        let got: BTreeSet<&str> = loaded.diagnostics.iter().map(|d| d.code.as_str()).collect();
        for code in &want {
            assert!(
                got.contains(code.as_str()),
                "{}: expected {code}, got {got:?}\n{}",
                path.display(),
                rendered(&loaded)
            );
        }
        assert!(loaded.has_errors(), "{}: no error", path.display());
        for d in &loaded.diagnostics {
            assert!(
                d.span.is_some(),
                "{}: diagnostic without a location: {}",
                path.display(),
                d.message
            );
            assert!(
                d.hint.is_some(),
                "{}: diagnostic without a hint: {}",
                path.display(),
                d.message
            );
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        insta::assert_snapshot!(format!("validate_{name}"), rendered(&loaded));
    }
}

/// Each `warn/TOPOnnn-*.yaml` reports TOPOnnn as located warnings with hints, and no error:
/// the file is valid (RabbitMQ 3.x takes it) but a later broker may not.
#[test]
fn warning_files_warn_with_location_and_stay_valid() {
    let files = corpus("warn");
    assert!(!files.is_empty(), "no warning corpus");
    for path in files {
        let loaded = load(&path);
        assert!(
            !loaded.has_errors(),
            "{}:\n{}",
            path.display(),
            rendered(&loaded)
        );
        assert!(loaded.topology.is_some(), "{}", path.display());
        for code in codes_in_name(&path) {
            assert!(
                loaded.diagnostics.iter().any(|d| d.code.as_str() == code),
                "{}: expected {code}\n{}",
                path.display(),
                rendered(&loaded)
            );
        }
        for d in &loaded.diagnostics {
            assert!(
                d.span.is_some() && d.hint.is_some(),
                "{}: {}",
                path.display(),
                d.message
            );
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        insta::assert_snapshot!(format!("validate_{name}"), rendered(&loaded));
    }
}

#[test]
fn valid_files_have_no_diagnostics() {
    let mut files = corpus("ok");
    files.push(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/validate/extends-ok/overlay.yaml"),
    );
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/dev.yaml"));
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/prod.yaml"));
    for path in files {
        let loaded = load(&path);
        assert!(
            loaded.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            rendered(&loaded)
        );
        assert!(loaded.topology.is_some());
    }
}

#[test]
fn every_code_has_a_failing_and_a_passing_case() {
    let mut bad: BTreeSet<String> = corpus("bad")
        .iter()
        .flat_map(|p| codes_in_name(p))
        .collect();
    bad.extend(corpus("dotenv").iter().flat_map(|p| codes_in_name(p)));
    bad.extend(corpus("warn").iter().flat_map(|p| codes_in_name(p)));
    bad.insert(Code::Extends.to_string()); // also extends-cycle, tested below
    let mut ok: BTreeSet<String> = corpus("ok").iter().flat_map(|p| codes_in_name(p)).collect();
    ok.insert(Code::Extends.to_string()); // extends-ok/overlay.yaml
    ok.insert(Code::Dotenv.to_string()); // extends-ok/.env
    // `Code::ALL` is the enum itself (one list makes both): a new code fails here until
    // the corpus has a failing and a passing case for it.
    for code in Code::ALL {
        assert!(bad.contains(code.as_str()), "no failing case for {code}");
        assert!(ok.contains(code.as_str()), "no passing case for {code}");
    }
}

#[test]
fn extends_overlays_by_identity_and_dotenv_feeds_interpolation() {
    let path = Path::new("tests/corpus/validate/extends-ok/overlay.yaml");
    let loaded = load_with(path, &Disk, &EnvSource::Fixed(HashMap::new()));
    let topo = loaded.topology.expect("valid");
    let names: Vec<&str> = topo.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["audit", "extra"]);
    assert_eq!(
        topo.queues[0].kind,
        Some(topo::topology::model::QueueType::Quorum)
    );
    assert_eq!(
        topo.queues[0].message_ttl,
        Some(1000),
        "base fields survive the overlay"
    );
    assert_eq!(topo.services[0].image, "local/api:2.0-from-dotenv");
    assert_eq!(topo.services[0].port, Some(3000));
    // The environment wins over .env.
    let env = EnvSource::Fixed([("TAG".to_string(), "from-env".to_string())].into());
    let topo = load_with(path, &Disk, &env).topology.expect("valid");
    assert_eq!(topo.services[0].image, "local/api:from-env");
}

#[test]
fn extends_cycle_is_reported_at_the_extends_value() {
    let loaded = load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/validate/extends-cycle/a.yaml"),
    );
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.code == Code::Extends)
        .expect("cycle reported");
    assert!(d.message.contains("cycle"), "{}", d.message);
    let span = d.span.expect("located");
    let file = loaded.sources.get(span.file).expect("file");
    assert_eq!(file.slice(span), "a.yaml");
    assert!(file.name.ends_with("b.yaml"));
}

#[test]
fn json_diagnostics_carry_file_line_column() {
    let loaded = load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/validate/bad/TOPO012-undeclared-queue.yaml"),
    );
    let json: Vec<_> = loaded
        .diagnostics
        .iter()
        .map(|d| to_json(&loaded.sources, d))
        .collect();
    let value = serde_json::to_value(&json).expect("json");
    insta::assert_json_snapshot!("validate_json_TOPO012", value);
    assert_eq!(value[0]["line"], 7);
    assert_eq!(value[0]["column"], 35);
    assert_eq!(value[0]["path"], "/bindings/0/destination");
}

/// Errors in a merged document point into the file that holds the offending text.
#[test]
fn extends_errors_are_located_in_their_own_file() {
    let loaded = load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/validate/extends-bad/overlay.yaml"),
    );
    let located: Vec<(String, &str, String)> = loaded
        .diagnostics
        .iter()
        .map(|d| {
            let span = d.span.expect("located");
            let file = loaded.sources.get(span.file).expect("file");
            (
                file.name.rsplit('/').next().unwrap_or_default().to_string(),
                d.code.as_str(),
                file.slice(span).to_string(),
            )
        })
        .collect();
    assert!(
        located.contains(&(
            "base.yaml".into(),
            Code::Interpolation.as_str(),
            "${API_TAG}".into()
        )),
        "{located:?}"
    );
    insta::assert_snapshot!("validate_extends_bad", rendered(&loaded));
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.yaml");
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(topo::topology::MAX_FILE_BYTES + 1)
        .expect("sparse file");
    let loaded = load_with(&path, &Disk, &EnvSource::Fixed(HashMap::new()));
    assert_eq!(loaded.diagnostics.len(), 1);
    assert_eq!(loaded.diagnostics[0].code, Code::File);
    assert!(
        loaded.diagnostics[0].message.contains("up to 64 MiB"),
        "{}",
        loaded.diagnostics[0].message
    );
}

fn bad(name: &str) -> Loaded {
    load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/validate/bad")
            .join(name),
    )
}

/// One typo is one error: the misspelt key, with the key it was meant to be, and not also
/// "missing `type`" for the same mistake.
#[test]
fn a_misspelt_required_key_is_one_error_with_its_correction() {
    let loaded = bad("TOPO004-typo-not-missing.yaml");
    let all = rendered(&loaded);
    assert_eq!(loaded.diagnostics.len(), 1, "{all}");
    let d = &loaded.diagnostics[0];
    assert_eq!(d.code, Code::UnknownKey);
    assert!(
        d.message.contains("unknown key `tpye`") && d.message.contains("did you mean `type`?"),
        "{all}"
    );
    assert!(all.contains("TOPO004-typo-not-missing.yaml:4:5"), "{all}");
    // A key with no near miss still leaves the required one missing.
    let far = load_with(
        Path::new("t.yaml"),
        &OneFile(b"version: 1\nexchanges:\n  - {name: x, zzzzzz: topic}\n"),
        &EnvSource::Fixed(HashMap::new()),
    );
    let got: BTreeSet<Code> = far.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        got,
        BTreeSet::from([Code::UnknownKey, Code::MissingKey]),
        "{}",
        rendered(&far)
    );
}

#[test]
fn a_tab_in_the_indentation_is_named_at_its_line_and_column() {
    let loaded = bad("TOPO001-tab-indentation.yaml");
    let all = rendered(&loaded);
    assert_eq!(loaded.diagnostics.len(), 1, "{all}");
    assert!(loaded.diagnostics[0].message.contains("tab"), "{all}");
    assert!(all.contains("TOPO001-tab-indentation.yaml:4:1"), "{all}");
}

#[test]
fn an_empty_or_comment_only_file_says_it_is_empty() {
    for name in ["TOPO029-empty.yaml", "TOPO029-only-comments.yaml"] {
        let loaded = bad(name);
        let all = rendered(&loaded);
        assert_eq!(loaded.diagnostics.len(), 1, "{all}");
        assert!(loaded.diagnostics[0].message.contains("is empty"), "{all}");
    }
    // `null` written out is a value, not an empty file: the schema says what it expects.
    let null = load_with(
        Path::new("t.yaml"),
        &OneFile(b"~\n"),
        &EnvSource::Fixed(HashMap::new()),
    );
    assert!(
        null.diagnostics
            .iter()
            .all(|d| !d.message.contains("empty")),
        "{}",
        rendered(&null)
    );
}

#[test]
fn yaml_1_1_booleans_say_to_write_true_or_false() {
    let loaded = bad("TOPO003-yaml11-booleans.yaml");
    let hints: Vec<&str> = loaded
        .diagnostics
        .iter()
        .filter_map(|d| d.hint.as_deref())
        .collect();
    assert_eq!(hints.len(), 3, "{}", rendered(&loaded));
    assert!(hints[0].starts_with("write `true`"), "{hints:?}");
    assert!(hints[1].starts_with("write `false`"), "{hints:?}");
    assert!(hints[2].starts_with("write `false`"), "{hints:?}");
    assert!(hints.iter().all(|h| h.contains("YAML 1.2")), "{hints:?}");
}

/// The text given as `t.yaml`.
struct OneFile<'a>(&'a [u8]);

impl topo::topology::FileSource for OneFile<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path == Path::new("t.yaml") {
            Ok(self.0.to_vec())
        } else {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }
}
