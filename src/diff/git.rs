//! Reading topology files as they are at a git revision, for `topo diff --git REV FILE`.
//!
//! Loading goes through [`FileSource`], so `extends` bases and the `.env` beside the file
//! are read at the same revision as the file itself: the old side of a diff is exactly
//! what was committed, never a mix with the working tree.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Hinted;
use crate::topology::{FileSource, MAX_FILE_BYTES};

/// How long one git command may take before topo gives up on it.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Files at revision `rev` of the repository that holds the working directory given.
#[derive(Debug)]
pub struct GitSource {
    rev: String,
    /// Canonical repository root.
    toplevel: PathBuf,
    /// Canonical directory relative paths are resolved against.
    cwd: PathBuf,
}

/// Run git with a time limit; stdout on success, stderr text on failure.
fn git(dir: &Path, args: &[&str]) -> std::io::Result<Result<Vec<u8>, String>> {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run git: {e}")))?;
    // Read both pipes on threads so a large file cannot fill a pipe and stall git.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + GIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "`git {}` did not finish within {}s",
                    args.join(" "),
                    GIT_TIMEOUT.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if status.success() {
        Ok(Ok(out))
    } else {
        Ok(Err(String::from_utf8_lossy(&err).trim().to_string()))
    }
}

/// `a/b/../c` → `a/c` without touching the disk (the file may not exist in the work tree).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl GitSource {
    /// A source for revision `rev` of the repository around `file`.
    pub fn new(rev: &str, file: &Path) -> Result<GitSource, Hinted> {
        let cwd = std::env::current_dir()
            .and_then(std::fs::canonicalize)
            .map_err(|e| Hinted::new(format!("cannot read the current directory: {e}"), ""))?;
        let file_dir = cwd.join(file.parent().unwrap_or(Path::new("")));
        let file_dir = std::fs::canonicalize(&file_dir).unwrap_or(file_dir);
        let top = match git(&file_dir, &["rev-parse", "--show-toplevel"]) {
            Ok(Ok(out)) => String::from_utf8_lossy(&out).trim().to_string(),
            Ok(Err(msg)) => {
                return Err(Hinted::new(
                    format!("`{}` is not in a git repository: {msg}", file.display()),
                    "run topo diff --git inside the repository, or compare two files: topo diff OLD NEW",
                ));
            }
            Err(e) => {
                return Err(Hinted::new(
                    e.to_string(),
                    "topo diff --git needs git on the PATH",
                ));
            }
        };
        let toplevel = std::fs::canonicalize(&top).unwrap_or_else(|_| PathBuf::from(top));
        let spec = format!("{rev}^{{commit}}");
        match git(
            &toplevel,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        ) {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {
                return Err(Hinted::new(
                    format!("unknown git revision `{rev}`"),
                    "give a branch, tag or commit that exists here (in CI, fetch it first: \
                     `git fetch origin main` and use `origin/main`)",
                ));
            }
            Err(e) => return Err(Hinted::new(e.to_string(), "")),
        }
        Ok(GitSource {
            rev: rev.to_string(),
            toplevel,
            cwd,
        })
    }

    /// The path of a file inside the repository, `/`-separated, as `git show` wants it.
    fn repo_path(&self, path: &Path) -> std::io::Result<String> {
        let abs = normalize(&self.cwd.join(path));
        // Resolve symlinks in the directory part where it exists on disk, so a path through
        // a symlinked directory still lands inside the (canonical) repository root.
        let abs = match (abs.parent().map(std::fs::canonicalize), abs.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            _ => abs,
        };
        let rel = abs.strip_prefix(&self.toplevel).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("`{}` is outside the git repository", path.display()),
            )
        })?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Ok(parts.join("/"))
    }
}

impl FileSource for GitSource {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let rel = self.repo_path(path)?;
        let object = format!("{}:{rel}", self.rev);
        match git(&self.toplevel, &["show", "--end-of-options", &object])? {
            Ok(bytes) => {
                if bytes.len() as u64 > MAX_FILE_BYTES {
                    return Err(std::io::Error::other(format!(
                        "the file is larger than {} MiB at revision {}",
                        MAX_FILE_BYTES / (1024 * 1024),
                        self.rev
                    )));
                }
                Ok(bytes)
            }
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("`{rel}` does not exist at revision {}", self.rev),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::{Path, PathBuf};

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("/r/a/./b/../c.yaml")),
            PathBuf::from("/r/a/c.yaml")
        );
        assert_eq!(normalize(Path::new("/r/a/../../x")), PathBuf::from("/x"));
    }
}
