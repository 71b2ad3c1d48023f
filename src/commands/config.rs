//! `topo config [FILE]`: the file as topo reads it, after `extends`, `.env` and `${VAR}`,
//! as `docker compose config` prints a project. Secrets show as `***`: password hashes,
//! and URL passwords that an interpolated value may carry. Services' `env` values stay as
//! written (`${TOKEN}`), as renders keep them: they are filled at deploy time.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{load_valid_with, resolve_file};
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::topology::EnvSource;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Topology file (default: $TOPO_FILE, else ./topo.yaml; `-`: standard input).
    pub file: Option<PathBuf>,
}

pub fn run(args: ConfigArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let path = resolve_file(args.file)?;
    // Services' env as written: a value filled from the environment may be a token, and
    // this output goes into tickets and CI logs (renders and diff keep them so too).
    let mut valid = match load_valid_with(&path, &EnvSource::ProcessKeepingServiceEnv, color) {
        Ok(v) => v,
        Err(status) => return Ok(status),
    };
    for u in &mut valid.topology.users {
        if u.password_hash.is_some() {
            u.password_hash = Some("***".into());
        }
    }
    // Merged already: the output stands alone.
    valid.topology.extends = None;
    let header = format!(
        "{} as topo reads it: extends merged, .env and ${{VAR}} resolved (services' env as \
         written); secrets as ***",
        crate::source::display_path(&path)
    );
    let text = crate::export::to_yaml(&valid.topology, &header);
    let mut out = std::io::stdout().lock();
    out.write_all(crate::error::redact(&text).as_bytes())?;
    Ok(ExitStatus::Success)
}
