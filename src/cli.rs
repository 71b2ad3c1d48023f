//! Command-line arguments (clap derive) and dispatch. Nothing else happens here: each
//! command is a module under [`crate::commands`].

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands;
use crate::exit::ExitStatus;
use crate::output::ColorChoice;

/// Declarative topology-as-code for RabbitMQ.
///
/// One reviewed YAML file describes exchanges, queues, bindings, policies, users and the
/// services that use them; topo validates it, converges a live broker to it, renders deploy
/// files from it and shows reviewers what a change does.
#[derive(Debug, Parser)]
#[command(name = "topo", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// When to use colour: auto (terminal and no NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check topology files against the schema and the semantic rules (no network).
    Validate(commands::validate::ValidateArgs),
    /// Print the JSON Schema of the topology file.
    Schema,
    /// Show what apply would change on the live broker (exit 0: none, 2: changes).
    Plan(commands::plan::PlanArgs),
    /// Converge the live broker to the file.
    Apply(commands::apply::ApplyArgs),
    /// Print the file as topo reads it: extends merged, .env and ${VAR} resolved, secrets ***.
    Config(commands::config::ConfigArgs),
    /// Rewrite topology files in canonical key order and layout, comments kept (--check: CI).
    Fmt(commands::fmt::FmtArgs),
    /// Write a starting topology file (one service, one queue) that validates, and the schema
    /// beside it that its editor line points at.
    Init(commands::init::InitArgs),
    /// Remove from the broker what the file declares (not users, not vhosts), after a plan.
    Destroy(commands::destroy::DestroyArgs),
    /// Write the live broker's topology as a topology file.
    Export(commands::export::ExportArgs),
    /// Semantic diff of two topology files, or of a file against a git revision (offline).
    Diff(commands::diff::DiffArgs),
    /// Draw services, transports, exchanges, bindings and queues (Mermaid or DOT).
    Graph(commands::graph::GraphArgs),
    /// Which queues a message reaches, as RabbitMQ routes it (offline).
    Route(commands::route::RouteArgs),
    /// Render deploy files (compose, azure, env-example, or your own) from templates.
    Render(commands::render::RenderArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Parse, run, report the error chain once, exit.
pub fn main() -> ExitCode {
    crate::trace::began();
    // clap exits 2 on a usage error, which would read as "changes present" for plan and
    // diff: report it ourselves and exit 1 (help and --version still exit 0).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Failure.into()
            } else {
                ExitStatus::Success.into()
            };
        }
    };
    let color = cli.color;
    let result = run(cli);
    crate::trace::done(crate::trace::began(), || {
        "the command, ended and freed".into()
    });
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            report_error(&err, color);
            ExitStatus::Failure.into()
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Validate(args) => commands::validate::run(args, cli.color),
        Command::Schema => commands::schema::run(),
        Command::Plan(args) => commands::plan::run(args, cli.color),
        Command::Apply(args) => commands::apply::run(args, cli.color),
        Command::Destroy(args) => commands::destroy::run(args, cli.color),
        Command::Init(args) => commands::init::run(args),
        Command::Fmt(args) => commands::fmt::run(args, cli.color),
        Command::Config(args) => commands::config::run(args, cli.color),
        Command::Export(args) => commands::export::run(args),
        Command::Diff(args) => commands::diff::run(args, cli.color),
        Command::Graph(args) => commands::graph::run(args, cli.color),
        Command::Route(args) => commands::route::run(args, cli.color),
        Command::Render(args) => commands::render::run(args, cli.color),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "topo", &mut std::io::stdout());
            Ok(ExitStatus::Success)
        }
    }
}

/// `error: ...` then each cause on its own `caused by:` line (and a hint where one exists).
pub fn report_error(err: &anyhow::Error, color: ColorChoice) {
    let (red, bold, reset) = if color.stderr() {
        ("\x1b[31;1m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let mut text = format!("{red}error{reset}{bold}: {err}{reset}\n");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    if let Some(h) = err.downcast_ref::<crate::error::Hinted>() {
        text.push_str(&format!("  hint: {}\n", h.hint));
    }
    eprint!("{}", crate::error::redact(&text));
}
