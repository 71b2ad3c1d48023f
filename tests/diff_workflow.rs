//! The documented GitHub Actions workflow (docs/github-actions-topology-diff.yml): its
//! shell steps pass shellcheck, and the diff and approval steps do what the docs say when
//! run here against a real git repository and the real topo binary.

#[path = "common/cli.rs"]
mod cli;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use cli::git;

const WORKFLOW: &str = include_str!("../docs/github-actions-topology-diff.yml");

/// `run: |` blocks by step name (a small reader for this one file's layout).
fn run_blocks() -> BTreeMap<String, String> {
    let mut blocks = BTreeMap::new();
    let mut name = String::new();
    let mut lines = WORKFLOW.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if let Some(n) = t.strip_prefix("- name: ") {
            name = n.to_string();
        }
        if t == "run: |" {
            let indent = line.len() - t.len() + 2;
            let mut body = String::new();
            while let Some(next) = lines.peek() {
                if next.trim().is_empty() || next.len() - next.trim_start().len() >= indent {
                    body.push_str(next.get(indent..).unwrap_or(""));
                    body.push('\n');
                    lines.next();
                } else {
                    break;
                }
            }
            blocks.insert(name.clone(), body);
        }
    }
    blocks
}

#[test]
fn shell_steps_pass_shellcheck() {
    let blocks = run_blocks();
    assert_eq!(blocks.len(), 3, "{:?}", blocks.keys());
    for (name, body) in &blocks {
        assert!(
            !body.contains("${{"),
            "{name}: pass expressions through env, not inline"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("step.sh");
        std::fs::write(&file, format!("#!/bin/bash\nset -eo pipefail\n{body}")).expect("write");
        let out = Command::new("shellcheck")
            .arg(&file)
            .output()
            .expect("shellcheck is needed for this test (apt-get install shellcheck)");
        assert!(
            out.status.success(),
            "{name}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

fn step(dir: &Path, body: &str, env: &[(&str, &str)]) -> (i32, String) {
    let topo_dir = Path::new(env!("CARGO_BIN_EXE_topo"))
        .parent()
        .expect("bin dir");
    let path = format!(
        "{}:{}",
        topo_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-eo")
        .arg("pipefail")
        .arg("-c")
        .arg(body)
        .current_dir(dir)
        .env("PATH", path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn diff_and_approval_steps_work_on_a_real_repository() {
    let has_jq = Command::new("jq").arg("--version").output().is_ok();
    assert!(
        has_jq,
        "jq is needed for this test (GitHub runners have it)"
    );
    let blocks = run_blocks();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("topologies")).expect("mkdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["dev.yaml", "prod.yaml"] {
        std::fs::copy(
            root.join("topologies").join(f),
            d.join("topologies").join(f),
        )
        .expect("copy");
    }
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "base"]);
    // What `actions/checkout` with fetch-depth 0 leaves: the base branch as origin/main.
    git(d, &["update-ref", "refs/remotes/origin/main", "HEAD"]);

    let out_file = d.join("gh-output");
    let summary = d.join("gh-summary");
    let env = [
        ("TOPO_FILE", "topologies/prod.yaml"),
        ("APPROVAL_LABEL", "topology-destructive-approved"),
        ("BASE_REF", "main"),
        ("GITHUB_OUTPUT", out_file.to_str().expect("utf8")),
        ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf8")),
    ];
    let diff_step = &blocks["Diff against the base branch"];

    // No change: not destructive, the comment says so.
    let (code, log) = step(d, diff_step, &env);
    assert_eq!(code, 0, "{log}");
    assert!(
        std::fs::read_to_string(&out_file)
            .expect("output")
            .contains("destructive=false")
    );
    let md = std::fs::read_to_string(d.join("topology-diff.md")).expect("md");
    assert!(md.contains("No changes"), "{md}");

    // A destructive change in the base file (dev.yaml, which prod extends).
    let dev = std::fs::read_to_string(d.join("topologies/dev.yaml")).expect("dev");
    std::fs::write(
        d.join("topologies/dev.yaml"),
        dev.replace("message_ttl: 86400000", "message_ttl: 3600000"),
    )
    .expect("write");
    std::fs::write(&out_file, "").expect("reset");
    let (code, log) = step(d, diff_step, &env);
    assert_eq!(code, 0, "{log}");
    assert!(
        std::fs::read_to_string(&out_file)
            .expect("output")
            .contains("destructive=true")
    );
    let md = std::fs::read_to_string(d.join("topology-diff.md")).expect("md");
    assert!(md.starts_with("<!-- topo-diff -->"), "{md}");
    assert!(md.contains("-/+ replace queue orders.audit"), "{md}");
    assert!(md.contains("```mermaid"), "{md}");

    // Approval: fails without the label, passes with it.
    let approve = &blocks["Require approval for destructive changes"];
    let mut with_labels = env.to_vec();
    with_labels.push(("LABELS", r#"["documentation"]"#));
    let (code, log) = step(d, approve, &with_labels);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("::error::"), "{log}");
    with_labels.pop();
    with_labels.push((
        "LABELS",
        r#"["documentation","topology-destructive-approved"]"#,
    ));
    let (code, log) = step(d, approve, &with_labels);
    assert_eq!(code, 0, "{log}");

    // An invalid file fails the diff step.
    std::fs::write(d.join("topologies/prod.yaml"), "version: 2\n").expect("write");
    let (code, log) = step(d, diff_step, &env);
    assert_eq!(code, 1, "{log}");
}

/// The comment step with a stand-in `gh` that records its calls: create, update (found
/// by the marker), and the short comment for a diff too large for GitHub.
#[test]
fn comment_step_creates_updates_and_shortens() {
    let blocks = run_blocks();
    let step_body = &blocks["Post or update the pull-request comment"];
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let log = d.join("gh.log");
    std::fs::write(
        bin.join("gh"),
        "#!/bin/bash\n\
         printf '%s\\n' \"$*\" >> \"$FAKE_GH_LOG\"\n\
         for a in \"$@\"; do case \"$a\" in body=@*) cp \"${a#body=@}\" \"$FAKE_GH_LOG.body\";; esac; done\n\
         prev=''; for a in \"$@\"; do [ \"$prev\" = --body-file ] && cp \"$a\" \"$FAKE_GH_LOG.body\"; prev=$a; done\n\
         if [ \"$1\" = api ] && [ \"$2\" != --method ]; then printf '%s' \"$FAKE_EXISTING\"; fi\n",
    )
    .expect("write gh");
    let _ = Command::new("chmod").arg("+x").arg(bin.join("gh")).status();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |existing: &str, body: &str| -> (String, String) {
        let _ = std::fs::remove_file(&log);
        std::fs::write(d.join("topology-diff.md"), body).expect("md");
        let out = Command::new("bash")
            .arg("-eo")
            .arg("pipefail")
            .arg("-c")
            .arg(step_body)
            .current_dir(d)
            .env("PATH", &path)
            .env("FAKE_GH_LOG", &log)
            .env("FAKE_EXISTING", existing)
            .env("GH_TOKEN", "x")
            .env("PR", "7")
            .env("REPO", "acme/shop")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "42")
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(format!("{}.body", log.display())).unwrap_or_default(),
        )
    };
    let md =
        "<!-- topo-diff -->\n### topo diff\n\n**1 to create**\n\n```diff\n+ create queue q\n```\n";

    let (calls, body) = run("", md);
    assert!(
        calls.contains("pr comment 7 --repo acme/shop --body-file topology-diff.md"),
        "{calls}"
    );
    assert_eq!(body, md);

    let (calls, body) = run("123", md);
    assert!(
        calls.contains("api --method PATCH repos/acme/shop/issues/comments/123"),
        "{calls}"
    );
    assert!(!calls.contains("pr comment"), "{calls}");
    assert_eq!(body, md);

    let big = format!("{md}{}", "+ create binding a -> b\n".repeat(4000));
    let (_, body) = run("", &big);
    assert!(
        body.starts_with("<!-- topo-diff -->\n### topo diff\n"),
        "{body}"
    );
    assert!(body.contains("too large for a comment"), "{body}");
    assert!(
        body.contains("https://github.com/acme/shop/actions/runs/42"),
        "{body}"
    );
    assert!(body.len() < 1000);
}
