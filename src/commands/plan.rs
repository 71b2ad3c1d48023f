//! `topo plan [FILE]`: read the live broker, print what apply would change.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::prepare;
use crate::broker::endpoint::Endpoints;
use crate::broker::http::Management;
use crate::commands::args::ConnectFlags;
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::plan::PlanOptions;
use crate::report::{self, Format};
use crate::session::{
    Lag, cluster_size, describes_cluster, env, make_plan, print_quorum_advice, read_live,
    reread_if_lagging, runtime, wait_for_amqp,
};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Topology file (default: $TOPO_FILE, else ./topo.yaml).
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

    #[command(flatten)]
    pub connect: ConnectFlags,
}

pub fn run(args: PlanArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let mut prepared = match prepare(args.file, color)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let endpoints = Endpoints::resolve(&args.connect.args(), Some(&prepared.topology), &env)?;
    let clustered = describes_cluster(&prepared.topology, &endpoints);
    let opts = PlanOptions { prune: args.prune };
    let rt = runtime()?;
    let plan = rt.block_on(async {
        let mgmt = Management::new(&endpoints)?;
        let mut live = read_live(&mgmt, &mut prepared.desired, args.wait).await?;
        wait_for_amqp(&endpoints, args.wait).await?;
        let facts = crate::broker::preflight::broker_facts(&mgmt).await?;
        crate::broker::preflight::check_refusals(&prepared.desired, &live, facts.as_ref())?;
        let plan = make_plan(&mgmt, &endpoints, &prepared.desired, &mut live, &opts).await?;
        let nodes = cluster_size(&mgmt).await;
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
        print_quorum_advice(&prepared.desired, &live, nodes, clustered);
        anyhow::Ok(plan)
    })?;
    let mut out = std::io::stdout().lock();
    report::render(&mut out, &plan, args.format, color.stdout())?;
    Ok(if plan.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}
