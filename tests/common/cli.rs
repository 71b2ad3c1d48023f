//! Offline CLI test helpers: the topo binary run in a directory without the caller's
//! topology file or colours, its output as text, and git for the `--git` tests.
//!
//! Include with `#[path = "common/cli.rs"] mod cli;`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// topo with `args` in `dir`, uncoloured, without `$TOPO_FILE`.
pub fn topo_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_topo"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("TOPO_FILE")
        .output()
        .expect("run topo")
}

/// Output bytes as text (lossy: a test reads it, never trusts it to be UTF-8).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `git args` in `dir` with a fixed author, asserted to succeed.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}
