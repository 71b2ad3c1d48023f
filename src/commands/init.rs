//! `topo init [FILE]`: a starting topology (one service, one queue) that validates, with
//! the editor's `$schema` line pointing at the published schema. It never overwrites.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::error::Hinted;
use crate::exit::ExitStatus;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write it (default: ./topo.yaml).
    pub file: Option<PathBuf>,
}

/// Where the schema is published: the `$id` of schema/topology.schema.json.
pub const SCHEMA_URL: &str = crate::validate::schema::SCHEMA_ID;

/// The starting file. A test validates it.
pub fn starter() -> String {
    format!(
        "# yaml-language-server: $schema={SCHEMA_URL}
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
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Hinted::new(
                format!("{} already exists; nothing was written", path.display()),
                "pass another path: topo init other.yaml",
            )
            .into());
        }
        Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
    };
    f.write_all(starter().as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    eprintln!(
        "topo: wrote {}; next: topo validate {}",
        path.display(),
        path.display()
    );
    Ok(ExitStatus::Success)
}
