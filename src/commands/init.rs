//! `topo init [FILE]`: a starting topology (one service, one queue) that validates, and the
//! schema its editor line points at. It never overwrites.
//!
//! The schema is written beside the file rather than pointed at on the web: no address
//! serves it (an editor shows "Unable to load schema" on line 1 for one that does not
//! answer), a local copy works offline, and it is the schema of the topo that validates the
//! file, where a web copy would follow the newest release. A team that hosts the schema
//! passes `--schema-url`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::error::Hinted;
use crate::exit::ExitStatus;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write it (default: ./topo.yaml).
    pub file: Option<PathBuf>,
    /// Point the editor line at this address of the schema (one your team serves) instead
    /// of writing topology.schema.json beside the file.
    #[arg(long, value_name = "URL")]
    pub schema_url: Option<String>,
}

/// The schema's file name beside the topology, and what the editor line says when it is there.
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
    if let Some(url) = &args.schema_url {
        check_url(url)?;
    }
    let line = match &args.schema_url {
        Some(url) => url.clone(),
        None => format!("./{SCHEMA_FILE}"),
    };
    let mut f = create_new(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Hinted::new(
            format!("{} already exists; nothing was written", path.display()),
            "pass another path: topo init other.yaml",
        )
        .into(),
        _ => anyhow::anyhow!("cannot create {}: {e}", path.display()),
    })?;
    f.write_all(starter(&line).as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    if args.schema_url.is_none() {
        let dir = path.parent().unwrap_or(Path::new(""));
        write_schema(&dir.join(SCHEMA_FILE))?;
    }
    eprintln!(
        "topo: wrote {}; next: topo validate {}",
        path.display(),
        path.display()
    );
    Ok(ExitStatus::Success)
}

fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Writes the schema unless a file is there: the same one is kept quietly, another one (an
/// older topo's, or the team's own) is kept with a word on how to refresh it.
fn write_schema(path: &Path) -> anyhow::Result<()> {
    let schema = crate::validate::schema::schema_text();
    match create_new(path) {
        Ok(mut f) => {
            f.write_all(schema.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!(
                "topo: wrote {} (the schema your editor reads)",
                path.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let same = std::fs::read(path).is_ok_and(|held| held == schema.as_bytes());
            if !same {
                eprintln!(
                    "topo: kept {p}, which is not this topo's schema; to refresh it: topo schema > {p}",
                    p = path.display()
                );
            }
        }
        Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
    }
    Ok(())
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
