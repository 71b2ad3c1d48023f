//! `topo diff OLD NEW` and `topo diff --git REV [FILE]`: the semantic difference of two
//! topologies, offline.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::diff::git::GitSource;
use crate::diff::{self, Diff, render};
use crate::error::Hinted;
use crate::exit::ExitStatus;
use crate::graph::{Graph, to_mermaid};
use crate::output::ColorChoice;
use crate::report::Format;
use crate::topology::{Disk, EnvSource, FileSource, Topology};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old and the new topology file (either may be `-`, standard input); with
    /// `--git`, only the file (default: $TOPO_FILE, else ./topo.yaml).
    #[arg(value_name = "FILE", num_args = 0..=2)]
    pub files: Vec<PathBuf>,

    /// Compare FILE as it is at this git revision (e.g. `origin/main`) with the working
    /// tree; `extends` bases are read at the same revision.
    #[arg(long, value_name = "REV")]
    pub git: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// With `--format markdown`: add a Mermaid graph of what changed.
    #[arg(long)]
    pub graph: bool,

    /// Exit 1 (after printing the diff) when a change of this class is present.
    #[arg(long, value_enum, value_name = "CLASS")]
    pub fail_on: Option<FailOn>,

    /// Put both files' default vhost here instead (as plan and apply do).
    #[arg(long, value_name = "NAME")]
    pub vhost: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any delete or replace.
    Destructive,
}

/// Load one side; print its diagnostics to stderr; `None` when it is not valid.
fn load_side(
    path: &Path,
    label: &str,
    files: &dyn FileSource,
    color: ColorChoice,
) -> Result<Topology, ExitStatus> {
    let loaded = crate::validate::load_with(path, files, &EnvSource::ProcessKeepingServiceEnv);
    let mut err = std::io::stderr().lock();
    if !loaded.diagnostics.is_empty() {
        let _ = crate::diag::render_text(
            &mut err,
            &loaded.sources,
            &loaded.diagnostics,
            color.stderr(),
        );
    }
    match loaded.into_valid() {
        Ok(v) => Ok(v.topology),
        Err(l) => {
            let n = l.diagnostics.iter().filter(|d| d.is_error()).count();
            let _ = writeln!(
                err,
                "error: {label} is not valid ({n} problem{}); topo diff compares valid topologies only",
                if n == 1 { "" } else { "s" }
            );
            Err(ExitStatus::Failure)
        }
    }
}

/// The Mermaid picture of what changed, marked with the diff's replaces; `None` when no
/// change is drawable (policies, users and permissions have no node).
pub fn change_graph(old: &Topology, new: &Topology, diff: &Diff) -> Option<String> {
    let g = Graph::diff(
        &Graph::from_topology(old),
        &Graph::from_topology(new),
        &diff.replaced_ids(),
    );
    (!g.is_empty()).then(|| to_mermaid(&g))
}

/// The topology with nothing in it (what a file added since REV is compared with).
fn empty_topology() -> Topology {
    Topology {
        version: 1,
        ..Topology::default()
    }
}

pub fn run(args: DiffArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let usage = "use `topo diff OLD NEW` or `topo diff --git REV [FILE]`";
    let (mut old_topo, mut new_topo, old_label, new_label) = match &args.git {
        Some(rev) => {
            if args.files.len() > 1 {
                return Err(Hinted::new("--git takes one FILE, not two", usage).into());
            }
            let file = crate::commands::resolve_file(args.files.first().cloned())?;
            if crate::source::is_stdin(&file) {
                return Err(Hinted::new(
                    "--git compares a file of the repository at REV; standard input (`-`) has no revision",
                    "name the file in the repository, or compare two files: git show REV:FILE | topo diff - FILE",
                )
                .into());
            }
            let source = GitSource::new(rev, &file)?;
            let old_label = format!("{} at {rev}", crate::source::display_path(&file));
            let new_label = crate::source::display_path(&file);
            let old = match source.read(&file) {
                // A file added since REV: compared with nothing, everything is a create.
                Err(e) if e.to_string().contains("does not exist at revision") => {
                    eprintln!(
                        "topo: note: {} did not exist at {rev}: every entity is a create",
                        crate::source::display_path(&file)
                    );
                    empty_topology()
                }
                _ => match load_side(&file, &old_label, &source, color) {
                    Ok(t) => t,
                    Err(s) => return Ok(s),
                },
            };
            let new = match load_side(&file, &new_label, &Disk, color) {
                Ok(t) => t,
                Err(s) => return Ok(s),
            };
            (old, new, old_label, new_label)
        }
        None => {
            let [old_path, new_path] = args.files.as_slice() else {
                return Err(Hinted::new("topo diff needs two files", usage).into());
            };
            if crate::source::is_stdin(old_path) && crate::source::is_stdin(new_path) {
                return Err(Hinted::new(
                    "both files are `-`: standard input can be one side of the diff only",
                    "pipe one file in and name the other: topo diff - new.yaml",
                )
                .into());
            }
            let old_label = crate::source::display_path(old_path);
            let new_label = crate::source::display_path(new_path);
            let old = load_side(old_path, &old_label, &Disk, color);
            let new = load_side(new_path, &new_label, &Disk, color);
            match (old, new) {
                (Ok(o), Ok(n)) => (o, n, old_label, new_label),
                _ => return Ok(ExitStatus::Failure),
            }
        }
    };

    if let Some(v) = &args.vhost {
        crate::topology::retarget::retarget(&mut old_topo, v);
        crate::topology::retarget::retarget(&mut new_topo, v);
    }
    let d = diff::diff(&old_topo, &new_topo);
    let text = match args.format {
        Format::Text => render::text(&d, color.stdout()),
        Format::Json => render::json(&d, &old_label, &new_label),
        Format::Markdown => {
            let graph = if args.graph {
                change_graph(&old_topo, &new_topo, &d)
            } else {
                None
            };
            render::markdown(&d, &old_label, &new_label, graph.as_deref())
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;

    let n = d.summary().destructive;
    if args.fail_on == Some(FailOn::Destructive) && n > 0 {
        eprintln!(
            "error: {n} destructive change{} (delete or replace) and --fail-on destructive",
            if n == 1 { "" } else { "s" }
        );
        return Ok(ExitStatus::Failure);
    }
    Ok(if d.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}
