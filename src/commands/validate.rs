//! `topo validate FILE...`: every problem of every file, located; no network.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::diag::{self, JsonDiagnostic};
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::output::TextOrJson as Format;
use crate::topology;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Topology files (default: $TOPO_FILE, else ./topo.yaml; `-`: standard input).
    pub files: Vec<PathBuf>,

    /// Output format: text (diagnostics on stderr) or json (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Serialize)]
struct JsonReport {
    valid: bool,
    files: Vec<JsonFile>,
}

#[derive(Serialize)]
struct JsonFile {
    file: String,
    valid: bool,
    diagnostics: Vec<JsonDiagnostic>,
}

pub fn run(args: ValidateArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let files = if args.files.is_empty() {
        vec![crate::commands::resolve_file(None)?]
    } else {
        args.files
    };
    let mut report = JsonReport {
        valid: true,
        files: Vec::new(),
    };
    let mut stdout = std::io::stdout().lock();
    for path in &files {
        let loaded = crate::validate::load(path);
        let ok = !loaded.has_errors();
        report.valid &= ok;
        match args.format {
            Format::Json => report.files.push(JsonFile {
                file: crate::source::display_path(path),
                valid: ok,
                diagnostics: loaded
                    .diagnostics
                    .iter()
                    .map(|d| diag::to_json(&loaded.sources, d))
                    .collect(),
            }),
            Format::Text => {
                let mut stderr = std::io::stderr().lock();
                diag::render_text(
                    &mut stderr,
                    &loaded.sources,
                    &loaded.diagnostics,
                    color.stderr(),
                )?;
                let name = crate::source::display_path(path);
                if ok {
                    let summary = loaded.topology.as_ref().map(summary).unwrap_or_default();
                    writeln!(stdout, "{name}: valid ({summary})")?;
                } else {
                    let n = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
                    writeln!(
                        stderr,
                        "error: {name} is not valid ({n} problem{})",
                        if n == 1 { "" } else { "s" }
                    )?;
                }
            }
        }
    }
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    }
    Ok(if report.valid {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn summary(t: &topology::Topology) -> String {
    let parts = [
        (t.exchanges.len(), "exchange"),
        (t.queues.len(), "queue"),
        (t.bindings.len(), "binding"),
        (t.policies.len(), "policy"),
        (t.operator_policies.len(), "operator policy"),
        (t.users.len(), "user"),
        (t.permissions.len(), "permission"),
        (t.topic_permissions.len(), "topic permission"),
        (t.shovels.len(), "shovel"),
        (t.federation_upstreams.len(), "federation upstream"),
        (t.vhost_limits.len(), "vhost limit entry"),
        (t.user_limits.len(), "user limit entry"),
        (t.services.len(), "service"),
        (t.transports.len(), "transport"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| {
            let plural = if *n == 1 {
                what.to_string()
            } else if what.ends_with('y') {
                format!("{}ies", what.strip_suffix('y').unwrap_or(what))
            } else {
                format!("{what}s")
            };
            format!("{n} {plural}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
