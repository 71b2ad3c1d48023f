//! The Dockerfile of the topo image (what rendered deploys run their apply step with).
//! There is no Docker engine here to build it: hadolint (`$TOPO_HADOLINT`, required in CI
//! by TOPO_REQUIRE_HADOLINT=1) lints it, and the build context is checked to hold every
//! file the build reads.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

mod render_common;

use std::process::Command;

use render_common::*;

fn dockerfile() -> String {
    std::fs::read_to_string(root().join("Dockerfile")).unwrap()
}

#[test]
fn hadolint_passes() {
    let Some(hadolint) = real_hadolint() else {
        return;
    };
    let out = Command::new(hadolint)
        .arg("--no-color")
        .arg(root().join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn small_non_root_image_with_topo_as_entrypoint() {
    let text = dockerfile();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a final stage");
    let final_stage = &text[text.rfind("\nFROM ").unwrap()..];
    assert!(final_stage.contains("distroless/cc"), "{final_stage}");
    assert!(final_stage.contains("\nUSER 65532:65532"), "{final_stage}");
    assert!(final_stage.contains("ENTRYPOINT [\"/usr/local/bin/topo\"]"));
    assert!(
        text.contains("--locked"),
        "the build uses the committed Cargo.lock"
    );
}

/// Every file the release build reads is copied into the build stage and not excluded
/// by .dockerignore: the manifest, the lock file, src/ and what src/ includes.
#[test]
fn the_build_context_holds_what_the_build_reads() {
    let text = dockerfile();
    let copied: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let ignored: Vec<String> = std::fs::read_to_string(root().join(".dockerignore"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty() && !l.starts_with('!'))
        .map(str::to_string)
        .collect();
    let mut needed = vec!["Cargo.toml".to_string(), "Cargo.lock".to_string()];
    // Files src/ includes at compile time, relative to the repository root.
    let include = regex::Regex::new(r#"include_(?:str|bytes)!\("([^"]+)"\)"#).unwrap();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            for c in include.captures_iter(&source) {
                let target = path.parent().unwrap().join(&c[1]);
                let target = std::fs::canonicalize(&target).unwrap();
                let rel = target
                    .strip_prefix(std::fs::canonicalize(root()).unwrap())
                    .unwrap();
                needed.push(rel.display().to_string());
            }
        }
    }
    assert!(needed.iter().any(|n| n.starts_with("templates/")));
    needed.push("src/main.rs".to_string());
    for n in &needed {
        let first = n.split('/').next().unwrap();
        assert!(
            copied.iter().any(|c| c == n || c == first),
            "the build reads `{n}`, which the Dockerfile does not COPY ({copied:?})"
        );
        assert!(
            !ignored.iter().any(|i| i == first || i == n),
            "`{n}` is excluded by .dockerignore"
        );
    }
    // No build script or other file the manifest points at.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for key in ["build =", "readme =", "license-file ="] {
        assert!(
            !manifest.contains(key),
            "Cargo.toml has `{key}`: copy that file too"
        );
    }
}
