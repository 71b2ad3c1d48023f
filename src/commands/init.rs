//! `topo init [FILE]`: a starting topology (one service, one queue) that validates, and the
//! schema its editor line points at. It never overwrites.
//!
//! The schema is written beside the file rather than pointed at on the web: no address
//! serves it (an editor flags the file with "Unable to load schema" for one that does not
//! answer), a local copy works offline, and it is the schema of the topo that validates the
//! file, where a web copy would follow the newest release. A team that hosts the schema
//! passes `--schema-url`.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::error::Hinted;
use crate::exit::ExitStatus;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write it (default: ./topo.yaml).
    pub file: Option<PathBuf>,
    /// Point the editor line at this address of the schema instead of writing
    /// topology.schema.json beside the file: one your team serves, or a path relative to the
    /// file (a copy shared by several files, e.g. ../schema/topology.schema.json).
    #[arg(long, value_name = "URL")]
    pub schema_url: Option<String>,
}

/// The schema's file name beside the topology (the editor line says `./` and this).
pub const SCHEMA_FILE: &str = "topology.schema.json";

/// The starting file, its editor line pointing at `schema`. A test validates it.
pub fn starter(schema: &str) -> String {
    format!(
        "# yaml-language-server: $schema={schema}
# A topology: what the broker holds and which services use it. Check it with
# `topo validate`, see what it would change with `topo plan`, converge with `topo apply`.
version: 1
name: my-app

queues:
  - name: tasks

services:
  - name: worker
    image: \"${{REGISTRY:-local}}/worker:${{TAG:-dev}}\"
    runtime: python
"
    )
}

pub fn run(args: InitArgs) -> anyhow::Result<ExitStatus> {
    let path = args.file.unwrap_or_else(|| PathBuf::from("topo.yaml"));
    let (line, copy) = match &args.schema_url {
        Some(url) => {
            check_url(url)?;
            (url.clone(), None)
        }
        None => {
            if path.file_name() == Some(OsStr::new(SCHEMA_FILE)) {
                return Err(Hinted::new(
                    format!(
                        "{} is where the schema goes beside the file; nothing was written",
                        path.display()
                    ),
                    "pass another path: topo init topo.yaml",
                )
                .into());
            }
            let dir = path.parent().unwrap_or(Path::new(""));
            (format!("./{SCHEMA_FILE}"), Some(dir.join(SCHEMA_FILE)))
        }
    };
    // A failure removes what this run created, so that `topo init` can run again once the
    // cause is mended rather than refuse a half-made start.
    let mut created = Vec::new();
    let written = write_new(&path, starter(&line).as_bytes(), &mut created)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Hinted::new(
                format!("{} already exists; nothing was written", path.display()),
                "pass another path: topo init other.yaml",
            )
            .into(),
            _ => anyhow::anyhow!("cannot write {}: {e}", path.display()),
        })
        .and_then(|()| match &copy {
            Some(schema) => write_schema(schema, &mut created),
            None => Ok(None),
        });
    let note = match written {
        Ok(note) => note,
        Err(e) => {
            for p in created.iter().rev() {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    eprintln!(
        "topo: wrote {}; next: topo validate {}",
        path.display(),
        path.display()
    );
    if let Some(note) = note {
        eprintln!("{note}");
    }
    Ok(ExitStatus::Success)
}

/// Creates `path`, never over an existing one, holding `bytes`; once created it goes in
/// `created`, written or not.
fn write_new(path: &Path, bytes: &[u8], created: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    created.push(path.to_path_buf());
    f.write_all(bytes)
}

/// Writes the schema unless a file is there: the same one is kept quietly, another one (an
/// older topo's, or the team's own) is kept with a word on how to refresh it. What it says
/// is returned, to be said once everything is written.
fn write_schema(path: &Path, created: &mut Vec<PathBuf>) -> anyhow::Result<Option<String>> {
    let schema = crate::validate::schema::schema_text();
    match write_new(path, schema.as_bytes(), created) {
        Ok(()) => Ok(Some(format!(
            "topo: wrote {} (the schema your editor reads)",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if !path.is_file() {
                return Err(Hinted::new(
                    format!(
                        "{} exists and is not a file; nothing was written",
                        path.display()
                    ),
                    "move it away, or point the editor line elsewhere: topo init --schema-url URL",
                )
                .into());
            }
            let same = std::fs::read(path).is_ok_and(|held| held == schema.as_bytes());
            Ok((!same).then(|| {
                format!(
                    "topo: kept {p}, which is not this topo's schema; to refresh it: topo schema > {p}",
                    p = path.display()
                )
            }))
        }
        Err(e) => anyhow::bail!("cannot write {}: {e}", path.display()),
    }
}

/// The address goes on a comment line, so it cannot hold a space or a line break.
fn check_url(url: &str) -> anyhow::Result<()> {
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Hinted::new(
            format!("--schema-url {url:?} is not an address: it is empty or holds a space or a control character; nothing was written"),
            "pass the schema's address, e.g. --schema-url https://example.com/topology.schema.json",
        )
        .into());
    }
    Ok(())
}
