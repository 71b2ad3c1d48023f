//! `topo destroy [FILE]`: remove from the broker what the file declares, under prune's
//! guards.
//!
//! The destroy plan is the planner's own prune of the file's vhosts, run against a live
//! state cut down to the entities the file declares: so it deletes exactly those
//! exchanges, queues, bindings, policies and permissions, in prune's order and with
//! prune's exceptions (never `amq.*`, never topo's own permissions). Users and vhosts are
//! never deleted: users are global and may serve other files, and deleting a vhost would
//! delete what other files and clients keep there. The plan is shown first, a terminal is
//! asked, a non-terminal needs `--yes`, a queue that holds messages needs
//! `--allow-data-loss`, and the apply lock is taken, as for apply.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::prepare;
use crate::apply::{Progress, Via, apply};
use crate::broker::amqp::Amqp;
use crate::broker::endpoint::Endpoints;
use crate::broker::http::Management;
use crate::broker::lock;
use crate::commands::args::ConnectFlags;
use crate::error::Hinted;
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::plan::{Plan, PlanOptions};
use crate::report::{self, Format};
use crate::session::{env, make_plan, read_live, runtime};
use crate::state::{EntityKey, State};
use crate::topology::model::DestinationType;

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Topology file (default: $TOPO_FILE, else ./topo.yaml; `-`: standard input).
    pub file: Option<PathBuf>,

    /// Allow deleting queues that hold messages (the messages are lost).
    #[arg(long)]
    pub allow_data_loss: bool,

    /// Destroy without asking (on a terminal topo asks; elsewhere this flag is required).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    pub yes: bool,

    /// Print the destroy plan and change nothing (exit 0: nothing to destroy, 2: deletes).
    #[arg(long)]
    pub dry_run: bool,

    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Put the file's default vhost here instead (as plan and apply do).
    #[arg(long, value_name = "NAME")]
    pub vhost: Option<String>,

    /// How long to wait for another apply's lock on the same vhosts.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_timeout: Duration,

    /// Wait up to this long for a broker that is still starting (e.g. 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,

    #[command(flatten)]
    pub connect: ConnectFlags,
}

/// `live` cut down to what `desired` declares (users and vhost metadata aside), and the
/// desired state of a destroy: the file's vhosts and nothing in them.
pub fn destroy_states(desired: &State, live: &State, me: &str) -> (State, State) {
    let mut empty = State::default();
    for v in desired.vhost_names() {
        // No field set: the planner manages none of the vhost's metadata.
        empty.vhosts.insert(v, Default::default());
    }
    let mut cut = State {
        vhosts: live.vhosts.clone(),
        ..State::default()
    };
    cut.exchanges = declared(&live.exchanges, &desired.exchanges);
    cut.queues = declared(&live.queues, &desired.queues);
    cut.policies = declared(&live.policies, &desired.policies);
    cut.operator_policies = declared(&live.operator_policies, &desired.operator_policies);
    cut.permissions = declared(&live.permissions, &desired.permissions);
    cut.permissions.retain(|k, _| k.user != me);
    // The API deletes a user's topic permissions in a vhost all at once: those of a user the
    // file gives some in that vhost go whole.
    cut.topic_permissions = declared(&live.topic_permissions, &desired.topic_permissions);
    cut.links = declared(&live.links, &desired.links);
    // Vhost and user limits stay, as vhost metadata and users do: `cut` has none, so the
    // plan leaves them.
    // A binding goes when the file declares it, or when its queue or exchange goes (the
    // broker drops those with them; the planner lists them so the count is honest). Looked
    // up by key, not by scanning the cut entities per binding: a large vhost has thousands.
    let key = |vhost: &str, name: &str| EntityKey::new(vhost, name);
    cut.bindings = live
        .bindings
        .iter()
        .filter(|(k, _)| {
            desired.bindings.contains_key(*k)
                || cut.exchanges.contains_key(&key(&k.vhost, &k.source))
                || (k.destination_type == DestinationType::Queue
                    && cut.queues.contains_key(&key(&k.vhost, &k.destination)))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (empty, cut)
}

/// The entries of `live` that `desired` declares (has the key of).
fn declared<K: Ord + Clone, V: Clone, W>(
    live: &BTreeMap<K, V>,
    desired: &BTreeMap<K, W>,
) -> BTreeMap<K, V> {
    live.iter()
        .filter(|(k, _)| desired.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn run(args: DestroyArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let prepared = match prepare(args.file, args.vhost.as_deref(), color)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let endpoints = Endpoints::resolve(&args.connect.args(), Some(&prepared.topology), &env)?;
    let mut desired = prepared.desired;
    drop(prepared.topology);
    let opts = PlanOptions { prune: true };
    let rt = runtime()?;
    rt.block_on(async {
        let mgmt = Management::new(&endpoints)?;
        let held = if args.dry_run {
            None
        } else {
            let vhosts: Vec<String> = desired.vhost_names().into_iter().collect();
            Some(
                lock::acquire(&endpoints, &mgmt, &vhosts, args.lock_timeout)
                    .await
                    .map_err(|e| {
                        Hinted::new(
                            format!("{e}; nothing was changed"),
                            "wait for the other apply, or pass --lock-timeout 5m",
                        )
                    })?,
            )
        };
        let live = read_live(&mgmt, &mut desired, args.wait).await?;
        let (empty, mut cut) = destroy_states(&desired, &live, mgmt.user());
        let plan = make_plan(&mgmt, &endpoints, &empty, &mut cut, &opts).await?;
        {
            let mut out = std::io::stdout().lock();
            report::render(&mut out, &plan, &[], args.format, color.stdout())?;
        }
        if args.dry_run {
            return Ok(if plan.is_empty() {
                ExitStatus::Success
            } else {
                ExitStatus::Changes
            });
        }
        if plan.is_empty() {
            eprintln!("topo: nothing to destroy: the broker has none of the file's entities");
            return Ok(ExitStatus::Success);
        }
        refuse_data_loss(&plan, args.allow_data_loss)?;
        super::confirm::confirm(&plan, args.yes, "destroy")?;

        let progress = Progress::new(plan.changes.len());
        let mut amqp = Amqp::new(&endpoints);
        amqp.delete_only_empty_queues(!args.allow_data_loss);
        let result = apply(&plan, &mgmt, &mut amqp, Via::Amqp, &progress).await;
        progress.finish();
        amqp.close().await;
        if let Err(f) = result {
            let msg = format!("destroy stopped: {f}");
            return Err(match f.hint {
                Some(h) => Hinted::new(msg, h).into(),
                None => anyhow::anyhow!(msg),
            });
        }
        let n = plan.changes.len();
        let after = read_live(&mgmt, &mut desired, None).await?;
        let (empty, mut cut) = destroy_states(&desired, &after, mgmt.user());
        let left = make_plan(&mgmt, &endpoints, &empty, &mut cut, &opts).await?;
        if !left.is_empty() {
            return Err(Hinted::new(
                format!(
                    "after destroy, {} of the file's entities are still on the broker",
                    left.changes.len()
                ),
                "another client may have declared them again; run topo destroy again",
            )
            .into());
        }
        if let Some(l) = held {
            l.release(endpoints.timeout).await;
        }
        eprintln!(
            "topo: destroyed {n} entit{}; users and vhosts are kept",
            if n == 1 { "y" } else { "ies" }
        );
        Ok(ExitStatus::Success)
    })
}

fn refuse_data_loss(plan: &Plan, allowed: bool) -> anyhow::Result<()> {
    let losses: Vec<String> = plan
        .data_loss()
        .map(|c| match c.messages() {
            Some(n) => format!("{} ({n} messages)", c.target()),
            None => format!("{} (message count unknown)", c.target()),
        })
        .collect();
    if losses.is_empty() || allowed {
        return Ok(());
    }
    Err(Hinted::new(
        format!(
            "refusing to delete messages: {}; nothing was changed",
            losses.join(", ")
        ),
        "drain the queues first, or pass --allow-data-loss",
    )
    .into())
}
