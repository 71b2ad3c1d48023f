//! `topo export [--vhost V] [-o PATH]`: the live broker as a topology file.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::broker::endpoint::Endpoints;
use crate::broker::http::Management;
use crate::broker::read::Scope;
use crate::commands::args::ConnectFlags;
use crate::error::Hinted;
use crate::exit::ExitStatus;
use crate::export::{to_topology, to_yaml};
use crate::session::{env, read_with_wait, runtime};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export only this vhost (default: every vhost).
    #[arg(long)]
    pub vhost: Option<String>,

    /// Write to this file instead of stdout (atomically). An existing file is replaced
    /// only with --force (it may be the topology the broker came from); `.env` never.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,

    /// Overwrite an existing output file (never `.env`).
    #[arg(long)]
    pub force: bool,

    /// Wait up to this long for a broker that is still starting (e.g. 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,

    #[command(flatten)]
    pub connect: ConnectFlags,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitStatus> {
    // Refuse before reading the broker: nothing to wait for when the answer is no.
    if let Some(path) = &args.output
        && !args.force
        && (path.exists() || path.is_symlink())
    {
        return Err(Hinted::new(
            format!("refusing to overwrite `{}`", path.display()),
            "pass --force to replace it, or export to a new file and compare",
        )
        .into());
    }
    let endpoints = Endpoints::resolve(&args.connect.args(), None, &env)?;
    let rt = runtime()?;
    let (state, source) = rt.block_on(async {
        let mgmt = Management::new(&endpoints)?;
        let scope = match &args.vhost {
            Some(v) => Scope::Vhosts([v.clone()].into_iter().collect()),
            None => Scope::All,
        };
        let state = read_with_wait(&mgmt, &scope, args.wait).await?;
        // The node that answered, which with a list of nodes need not be the first.
        anyhow::Ok((state, mgmt.base()))
    })?;
    if let Some(v) = &args.vhost
        && !state.vhosts.contains_key(v)
    {
        return Err(Hinted::new(
            format!("the broker has no vhost `{v}`"),
            "list the vhosts with `topo export` (all of them) or the management UI",
        )
        .into());
    }
    let topo = to_topology(&state, args.vhost.as_deref())?;
    let header = format!(
        "Exported by topo {} from {}{}.\nPasswords are not exported: add password_env to users that need one.",
        env!("CARGO_PKG_VERSION"),
        source,
        args.vhost
            .as_ref()
            .map(|v| format!(", vhost {v}"))
            .unwrap_or_default()
    );
    let mut text = to_yaml(&topo, &header);
    text.push_str(&crate::export::members_comment(
        &state,
        args.vhost.as_deref(),
    ));
    match &args.output {
        // An exported file carries no render marker, so this replaces an existing file
        // only with --force, through a temporary file and a rename.
        Some(path) => super::render::write_output(path, &text, args.force)?,
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    Ok(ExitStatus::Success)
}
