//! `topo plan [FILE]`: read the live broker, print what apply would change.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::prepare_with_hook;
use crate::broker::endpoint::Endpoints;
use crate::broker::http::{HttpError, Management};
use crate::broker::preflight::{broker_facts, check_refusals};
use crate::commands::args::ConnectFlags;
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::plan::{PlanOptions, plan};
use crate::report::{self, Format};
use crate::saved_plan::{self, SavedOptions, SavedPlan};
use crate::session::{
    Lag, cluster_size, describes_cluster, early, env, operator_policies_in_play, policy_advice_for,
    policy_line, print_warnings, quorum_advice, read_live, reread_if_lagging, runtime, settle_live,
    wait_for_amqp, with_message_counts,
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
    let rt = runtime()?;
    let connect = args.connect.args();
    // The state read starts from the file's first keys, while the file is parsed and
    // checked, and is started again once it is parsed if those keys told wrong
    // (`session::early`); not with `--vhost` (the file's vhosts move) or `--wait` (which
    // waits for the broker first).
    let guess = args.vhost.is_none() && args.wait.is_none();
    let path = super::resolve_file(args.file)?;
    let began = Instant::now();
    let mut early = guess
        .then(|| early::start_from_head(&rt, &path, &connect, &env))
        .flatten();
    let prepared = prepare_with_hook(Some(path), args.vhost.as_deref(), color, &mut |tree| {
        if guess {
            early = early::EarlyRead::settle(early.take(), began, &rt, tree, &connect, &env);
        }
    })?;
    let mut prepared = match prepared {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let taken = early.and_then(|e| e.take(&prepared.topology, &prepared.desired));
    let (endpoints, early_read) = match taken {
        Some(t) => (t.endpoints, Some((t.mgmt, t.read))),
        None => (
            Endpoints::resolve(&connect, Some(&prepared.topology), &env)?,
            None,
        ),
    };
    let clustered = describes_cluster(&prepared.topology, &endpoints);
    let opts = PlanOptions { prune: args.prune };
    let (plan, fingerprint, drift, warnings, live) = rt.block_on(async {
        let (mgmt, early_read) = match early_read {
            Some((mgmt, read)) => (mgmt, Some(read)),
            None => (Management::new(&endpoints)?, None),
        };
        let t = Instant::now();
        // The check looks at the file's links only (the state read may still change the
        // desired vhosts).
        let links = State {
            links: prepared.desired.links.clone(),
            ..State::default()
        };
        // What the broker refuses (its version and denied features) and the status of the
        // file's shovels and upstreams are read beside the state, except while waiting for a
        // broker that is starting. Errors keep their order: the state read's first (a
        // refused login says so there), then the refusals, then the links'.
        let (live, facts, link_notes) = match (args.wait, early_read) {
            (None, Some(read)) => {
                let (found, links) = tokio::join!(read, crate::broker::links::check(&mgmt, &links));
                let (live, facts) = found.map_err(|e| {
                    anyhow::anyhow!("reading the broker failed: {e} (a bug in topo)")
                })?;
                let live = live.map_err(HttpError::into_user_error)?;
                let live = settle_live(&mgmt, &mut prepared.desired, live).await?;
                (live, facts, links)
            }
            (None, None) => {
                let (live, facts, links) = tokio::join!(
                    read_live(&mgmt, &mut prepared.desired, None),
                    broker_facts(&mgmt),
                    crate::broker::links::check(&mgmt, &links)
                );
                (live?, facts, links)
            }
            (Some(_), _) => {
                let live = read_live(&mgmt, &mut prepared.desired, args.wait).await?;
                let facts = broker_facts(&mgmt).await;
                (live, facts, Ok(Vec::new()))
            }
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
        let facts = facts?;
        // What the broker refuses, the plan and the drift count (a second planning, with
        // prune) are pure and independent: side by side on the two cores the broker's
        // export no longer needs, they take the time of the longest (tens of ms each at
        // 10,000 queues). Message counts touch only the data-loss marks, never what is
        // deleted, so the drift count does not wait for them. A refusal still ends the
        // command before anything is printed.
        let (refused, first, drift_count) = std::thread::scope(|s| {
            let counting = s.spawn(|| drift(&prepared.desired, &live, &opts));
            let refusing =
                s.spawn(|| check_refusals(&prepared.desired, &live, facts.as_ref()).err());
            let first = crate::plan::plan(&prepared.desired, &live, &opts);
            (refusing.join(), first, counting.join())
        });
        let bug = |what: &str| anyhow::anyhow!("{what} failed (a bug in topo)");
        if let Some(refusal) = refused.map_err(|_| bug("checking what the broker refuses"))? {
            return Err(refusal);
        }
        // Shovels and upstreams: the plugins they need, and each link's state as a note.
        let link_notes = match args.wait {
            None => link_notes?,
            // Read once the broker is up.
            Some(_) => crate::broker::links::check(&mgmt, &prepared.desired).await?,
        };
        for note in link_notes {
            eprintln!("topo: note: {note}");
        }
        let drift_count = drift_count.map_err(|_| bug("counting the drift"))?;
        let plan = with_message_counts(
            &mgmt,
            &endpoints,
            &prepared.desired,
            &mut live,
            &opts,
            first,
        )
        .await?;
        trace::done(t, || "the refusal check and planning".into());
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
        let t = Instant::now();
        let desired = &prepared.desired;
        // The version is read already (memoized); asked only where the advice needs it.
        let line = if operator_policies_in_play(desired, &live) {
            policy_line(&mgmt).await
        } else {
            crate::state::effective::Line::V4
        };
        // A cluster may have read again (a lagging node): count on what the plan is from.
        let drift = if nodes < 2 {
            drift_count
        } else {
            drift(desired, &live, &opts)
        };
        let mut warnings = quorum_advice(desired, &live, nodes, clustered);
        warnings.extend(policy_advice_for(line, desired, &live, &plan));
        print_warnings(&warnings);
        trace::done(t, || "advice".into());
        anyhow::Ok((plan, fingerprint, drift, warnings, live))
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
    let status = if plan.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    };
    // The process ends right after: freeing both states entry by entry (at 10,000 queues
    // and 20,000 bindings, tens of ms of a no-op plan) would be work nobody needs.
    std::mem::forget((prepared, live, plan));
    Ok(status)
}

/// Without `--prune`: the line that counts what the broker has in the file's vhosts and
/// the file lacks, so that drift does not hide (the planner with pruning finds it).
pub(crate) fn drift(desired: &State, live: &State, opts: &PlanOptions) -> Option<String> {
    if opts.prune {
        return None;
    }
    report::drift_line(&plan(desired, live, &PlanOptions { prune: true }))
}
