//! `topo graph [FILE]`: a Mermaid (default) or DOT picture of the topology.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::commands::load_valid;
use crate::exit::ExitStatus;
use crate::graph::{Graph, to_dot, to_mermaid};
use crate::output::ColorChoice;

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Topology file (default: $TOPO_FILE, else ./topo.yaml; `-`: standard input).
    pub file: Option<PathBuf>,

    /// Output format: mermaid (GitHub renders it in Markdown) or dot (Graphviz).
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

pub fn run(args: GraphArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let path = crate::commands::resolve_file(args.file)?;
    let valid = match load_valid(&path, color) {
        Ok(v) => v,
        Err(status) => return Ok(status),
    };
    let graph = Graph::from_topology(&valid.topology);
    let text = match args.format {
        GraphFormat::Mermaid => to_mermaid(&graph),
        GraphFormat::Dot => to_dot(&graph),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(ExitStatus::Success)
}
