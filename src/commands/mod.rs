//! One module per command. Shared here: loading a topology for a command (printing its
//! diagnostics when it is not valid), and scrubbing secrets from anything printed.

pub mod apply;
pub mod args;
pub mod config;
pub mod confirm;
pub mod destroy;
pub mod diff;
pub mod export;
pub mod fmt;
pub mod graph;
pub mod init;
pub mod plan;
pub mod render;
pub mod route;
pub mod schema;
pub mod validate;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::error::{Hinted, redact};
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::session::Prepared;
use crate::topology::Valid;

/// A command that stopped after printing its own diagnostics: exit 1, print nothing more.
#[derive(Debug, thiserror::Error)]
#[error("the topology is not valid")]
pub struct AlreadyReported;

/// The topology file: the argument, else `$TOPO_FILE`, else `./topo.yaml`.
pub fn resolve_file(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = arg {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("TOPO_FILE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let default = PathBuf::from("topo.yaml");
    if default.exists() {
        return Ok(default);
    }
    anyhow::bail!("no topology file given: pass FILE, set TOPO_FILE, or create ./topo.yaml")
}

/// Resolve and load FILE for a broker command; its diagnostics are printed.
/// `Err(status)` when it is not valid.
/// `vhost` (`--vhost`) puts the file's default vhost elsewhere.
pub(crate) fn prepare(
    file: Option<PathBuf>,
    vhost: Option<&str>,
    color: ColorChoice,
) -> anyhow::Result<Result<Prepared, ExitStatus>> {
    prepare_with_hook(file, vhost, color, &mut |_| {})
}

/// [`prepare`], handing the parsed file to `parsed` before it is checked (see
/// [`crate::validate::load_with_hook`]).
pub(crate) fn prepare_with_hook(
    file: Option<PathBuf>,
    vhost: Option<&str>,
    color: ColorChoice,
    parsed: &mut dyn FnMut(&crate::source::node::Node),
) -> anyhow::Result<Result<Prepared, ExitStatus>> {
    let path = resolve_file(file)?;
    let t = std::time::Instant::now();
    let loaded = crate::validate::load_with_hook(
        &path,
        &crate::topology::Disk,
        &crate::topology::EnvSource::Process,
        parsed,
    );
    match report_loaded(loaded, color) {
        Ok(mut valid) => {
            crate::trace::done(t, || "loading and checking the file".into());
            if let Some(v) = vhost {
                crate::topology::retarget::retarget(&mut valid.topology, v);
            }
            let t = std::time::Instant::now();
            let mut prepared = Prepared::from_valid(valid)?;
            crate::trace::done(t, || "the file's desired state".into());
            // Bindings an interrupted apply left to re-create are desired until one succeeds.
            let vhosts = prepared.desired.vhost_names();
            let pending: Vec<_> = crate::apply::pending::read(&path)?
                .into_iter()
                .filter(|b| vhosts.contains(&b.vhost))
                .collect();
            if !pending.is_empty() {
                eprintln!(
                    "topo: note: {} binding{} that an interrupted apply had yet to re-create \
                     (listed in {}) {} desired until an apply succeeds",
                    pending.len(),
                    if pending.len() == 1 { "" } else { "s" },
                    crate::apply::pending::path_for(&path).display(),
                    if pending.len() == 1 { "is" } else { "are" },
                );
            }
            for b in &pending {
                prepared
                    .desired
                    .bindings
                    .insert(b.clone(), crate::state::BindingState::default());
            }
            prepared.pending = pending;
            Ok(Ok(prepared))
        }
        Err(status) => Ok(Err(status)),
    }
}

/// Load a topology for a command that needs a valid one; diagnostics go to stderr.
pub fn load_valid(path: &Path, color: ColorChoice) -> Result<Valid, ExitStatus> {
    load_valid_with(path, &crate::topology::EnvSource::Process, color)
}

/// [`load_valid`] with another view of the environment.
pub fn load_valid_with(
    path: &Path,
    env: &crate::topology::EnvSource,
    color: ColorChoice,
) -> Result<Valid, ExitStatus> {
    report_loaded(
        crate::validate::load_with(path, &crate::topology::Disk, env),
        color,
    )
}

/// A loaded topology, valid or not; its diagnostics printed on stderr.
fn report_loaded(loaded: crate::topology::Loaded, color: ColorChoice) -> Result<Valid, ExitStatus> {
    match loaded.into_valid() {
        Ok(valid) => {
            if !valid.diagnostics.is_empty() {
                let mut err = std::io::stderr().lock();
                let _ = crate::diag::render_text(
                    &mut err,
                    &valid.sources,
                    &valid.diagnostics,
                    color.stderr(),
                );
            }
            Ok(valid)
        }
        Err(loaded) => {
            let mut err = std::io::stderr().lock();
            let _ = crate::diag::render_text(
                &mut err,
                &loaded.sources,
                &loaded.diagnostics,
                color.stderr(),
            );
            let n = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
            let _ = writeln!(
                err,
                "error: {} is not valid ({n} problem{})",
                crate::source::display_path(&loaded.entry),
                if n == 1 { "" } else { "s" }
            );
            Err(ExitStatus::Failure)
        }
    }
}
