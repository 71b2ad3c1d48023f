//! `topo plan [FILE]`: read the live broker, print what apply would change.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::prepare;
use crate::broker::endpoint::Endpoints;
use crate::broker::http::Management;
use crate::broker::preflight::{broker_facts, check_refusals};
use crate::commands::args::ConnectFlags;
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::plan::{PlanOptions, plan};
use crate::report::{self, Format};
use crate::saved_plan::{self, SavedOptions, SavedPlan};
use crate::session::{
    Lag, cluster_size, describes_cluster, env, make_plan, policy_advice, print_warnings,
    quorum_advice, read_live, reread_if_lagging, runtime, wait_for_amqp,
};
use crate::state::State;
use crate::trace;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Topology file (default: $TOPO_FILE, else ./topo.yaml; `-`: standard input).
    pub file: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Also plan deletes of what the broker has and the file lacks (in the file's vhosts).
    #[arg(long)]
    pub prune: bool,

    /// Wait up to this long for a broker that is still starting (e.g. 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,

    /// Put the file's default vhost here instead (a vhost per developer or pull request).
    #[arg(long, value_name = "NAME")]
    pub vhost: Option<String>,

    /// Also save the plan to this file, for `topo apply PATH` (JSON; no secrets).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectFlags,
}

pub fn run(args: PlanArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let mut prepared = match prepare(args.file, args.vhost.as_deref(), color)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let endpoints = Endpoints::resolve(&args.connect.args(), Some(&prepared.topology), &env)?;
    let clustered = describes_cluster(&prepared.topology, &endpoints);
    let opts = PlanOptions { prune: args.prune };
    let rt = runtime()?;
    let (plan, fingerprint, drift, warnings) = rt.block_on(async {
        let mgmt = Management::new(&endpoints)?;
        let t = Instant::now();
        // What the broker refuses (its version and denied features) is read beside the
        // state, except while waiting for a broker that is starting.
        let (live, facts) = match args.wait {
            None => {
                let (live, facts) = tokio::join!(
                    read_live(&mgmt, &mut prepared.desired, None),
                    broker_facts(&mgmt)
                );
                (live?, facts)
            }
            Some(_) => (
                read_live(&mgmt, &mut prepared.desired, args.wait).await?,
                broker_facts(&mgmt).await,
            ),
        };
        let mut live = live;
        trace::done(t, || "reading the broker".into());
        // Only a saved plan needs it (hashing both states costs ~0.1 s at 10,000 queues).
        let fingerprint = args
            .out
            .is_some()
            .then(|| saved_plan::fingerprint(&live, &prepared.desired));
        wait_for_amqp(&endpoints, args.wait).await?;
        let t = Instant::now();
        check_refusals(&prepared.desired, &live, facts?.as_ref())?;
        // Shovels and upstreams: the plugins they need, and each link's state as a note.
        for note in crate::broker::links::check(&mgmt, &prepared.desired).await? {
            eprintln!("topo: note: {note}");
        }
        trace::done(t, || "what the broker refuses".into());
        let t = Instant::now();
        let plan = make_plan(&mgmt, &endpoints, &prepared.desired, &mut live, &opts).await?;
        trace::done(t, || "planning".into());
        let t = Instant::now();
        let nodes = cluster_size(&mgmt).await;
        trace::done(t, || "cluster size".into());
        // A saved plan keeps the fingerprint of the first reading: if a lagging node made
        // the second differ, applying the saved plan finds it stale and says so (safe).
        let (plan, live) = reread_if_lagging(
            &mgmt,
            &endpoints,
            &mut prepared.desired,
            &opts,
            (plan, live),
            nodes,
            Lag::Plan,
        )
        .await?;
        let mut warnings = quorum_advice(&prepared.desired, &live, nodes, clustered);
        warnings.extend(policy_advice(&mgmt, &prepared.desired, &live, &plan).await);
        print_warnings(&warnings);
        let t = Instant::now();
        let drift = drift(&prepared.desired, &live, &opts);
        trace::done(t, || "counting drift".into());
        anyhow::Ok((plan, fingerprint, drift, warnings))
    })?;
    let mut out = std::io::stdout().lock();
    report::render(&mut out, &plan, &warnings, args.format, color.stdout())?;
    if let Some(line) = drift {
        match args.format {
            Format::Text => writeln!(out, "{line}.")?,
            Format::Markdown => writeln!(out, "\n> [!NOTE]\n> {line}.")?,
            // The JSON document is the contract; the note is talk.
            Format::Json => eprintln!("topo: note: {line}"),
        }
    }
    if let (Some(path), Some(fingerprint)) = (&args.out, fingerprint) {
        let saved = SavedPlan {
            topo_plan: saved_plan::FORMAT,
            topo_version: env!("CARGO_PKG_VERSION").to_string(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            file: prepared.entry.clone(),
            files: prepared.files.clone(),
            options: SavedOptions {
                prune: args.prune,
                vhost: args.vhost.clone(),
            },
            broker: saved_plan::broker_of(&endpoints),
            live_fingerprint: fingerprint,
            plan_digest: saved_plan::plan_digest(&plan),
            plan: report::json::to_value(&plan),
        };
        saved_plan::write(path, &saved)?;
        eprintln!(
            "topo: saved the plan to {}; apply exactly it with: topo apply {}",
            path.display(),
            path.display()
        );
    }
    Ok(if plan.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}

/// Without `--prune`: the line that counts what the broker has in the file's vhosts and
/// the file lacks, so that drift does not hide (the planner with pruning finds it).
pub(crate) fn drift(desired: &State, live: &State, opts: &PlanOptions) -> Option<String> {
    if opts.prune {
        return None;
    }
    report::drift_line(&plan(desired, live, &PlanOptions { prune: true }))
}
