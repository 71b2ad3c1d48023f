//! `topo plan [FILE]`: read the live broker, print what apply would change.
//! Also the pieces apply and export share: loading, credentials, reading with `--wait`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use crate::broker::amqp::Amqp;
use crate::broker::endpoint::{ConnectArgs, Endpoints};
use crate::broker::http::{HttpError, Management};
use crate::broker::read::{self, Scope};
use crate::commands::Hinted;
use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::plan::{Action, Plan, PlanOptions, Target, plan};
use crate::report::{self, Format};
use crate::saved_plan::{self, SavedOptions, SavedPlan};
use crate::state::{Credential, State};
use crate::topology::Topology;

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

    /// Put the file's default vhost here instead (a vhost per developer or pull request).
    #[arg(long, value_name = "NAME")]
    pub vhost: Option<String>,

    /// Also save the plan to this file, for `topo apply PATH` (JSON; no secrets).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: PlanArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let mut prepared = match prepare(args.file, args.vhost.as_deref(), color)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let endpoints = Endpoints::resolve(&args.connect, Some(&prepared.topology), &env)?;
    let opts = PlanOptions { prune: args.prune };
    let rt = runtime()?;
    let (plan, fingerprint, drift) = rt.block_on(async {
        let mgmt = Management::new(&endpoints)?;
        let mut live = read_live(&mgmt, &mut prepared.desired, args.wait).await?;
        let fingerprint = saved_plan::fingerprint(&live, &prepared.desired);
        let plan = make_plan(&mgmt, &endpoints, &prepared.desired, &mut live, &opts).await?;
        let drift = drift(&prepared.desired, &live, &opts);
        anyhow::Ok((plan, fingerprint, drift))
    })?;
    let mut out = std::io::stdout().lock();
    report::render(&mut out, &plan, args.format, color.stdout())?;
    if let Some(line) = drift {
        match args.format {
            Format::Text => writeln!(out, "{line}.")?,
            Format::Markdown => writeln!(out, "\n> [!NOTE]\n> {line}.")?,
            // The JSON document is the contract; the note is talk.
            Format::Json => eprintln!("topo: note: {line}"),
        }
    }
    if let Some(path) = &args.out {
        let saved = SavedPlan {
            topo_plan: saved_plan::FORMAT,
            topo_version: env!("CARGO_PKG_VERSION").to_string(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            file: prepared.path.clone(),
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

/// The process environment, as the loader and credentials see it.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A loaded, valid file and its desired state.
pub(crate) struct Prepared {
    pub topology: Topology,
    pub desired: State,
    /// The file named on the command line.
    pub path: PathBuf,
    /// Every file read, with its digest (for saved plans).
    pub files: Vec<crate::saved_plan::FileDigest>,
}

/// Load and validate FILE; its diagnostics are printed. `Err(status)` when it is not valid.
/// `vhost` (`--vhost`) puts the file's default vhost elsewhere.
pub(crate) fn prepare(
    file: Option<PathBuf>,
    vhost: Option<&str>,
    color: ColorChoice,
) -> anyhow::Result<Result<Prepared, ExitStatus>> {
    let path = crate::cli::resolve_file(file)?;
    let mut valid = match crate::commands::load_valid(&path, color) {
        Ok(v) => v,
        Err(status) => return Ok(Err(status)),
    };
    if let Some(v) = vhost {
        crate::topology::retarget::retarget(&mut valid.topology, v);
    }
    let files = crate::saved_plan::file_digests(&valid.sources);
    let desired = State::from_topology(&valid.topology, &env);
    for (name, user) in &desired.users {
        if let Credential::Env { var, value: None } = &user.credential {
            return Err(Hinted::new(
                format!(
                    "user `{name}` takes its password from environment variable {var}, which is not set"
                ),
                format!("set {var} before running topo (the value is never printed)"),
            )
            .into());
        }
    }
    Ok(Ok(Prepared {
        topology: valid.topology,
        desired,
        path,
        files,
    }))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// A management API error as a user sees it: the message and what to do.
pub(crate) fn http_error(e: HttpError) -> anyhow::Error {
    match e.hint() {
        Some(h) => Hinted::new(e.to_string(), h).into(),
        None => e.into(),
    }
}

/// Read the live state of the vhosts `desired` names, retrying transient failures until
/// `wait` runs out. topo's own permissions are not the file's business (the broker grants
/// them to the creator of a vhost), so they are left out unless the file names them.
///
/// On a broker that cannot keep a vhost's default queue type (3.10), that field of the
/// file is dropped from `desired` with a note: the queues of that vhost already carry
/// their type explicitly, and planning the field would be a perpetual diff.
pub(crate) async fn read_live(
    mgmt: &Management,
    desired: &mut State,
    wait: Option<Duration>,
) -> anyhow::Result<State> {
    let scope = Scope::Vhosts(desired.vhost_names());
    let mut live = read_with_wait(mgmt, &scope, wait).await?;
    if desired
        .vhosts
        .values()
        .any(|v| v.default_queue_type.is_some())
    {
        let version = read::broker_version(mgmt).await.map_err(http_error)?;
        if let Some(v) = version.filter(|v| !read::keeps_vhost_default_queue_type(v)) {
            // Said once: the first reading clears the field, so the read-back never gets here.
            eprintln!(
                "topo: note: RabbitMQ {v} keeps no per-vhost default queue type; the queues \
                 of those vhosts are declared with their type instead"
            );
            for vh in desired.vhosts.values_mut() {
                vh.default_queue_type = None;
            }
        }
    }
    let me = mgmt.user().to_string();
    live.permissions
        .retain(|k, _| k.user != me || desired.permissions.contains_key(k));
    Ok(live)
}

pub(crate) async fn read_with_wait(
    mgmt: &Management,
    scope: &Scope,
    wait: Option<Duration>,
) -> anyhow::Result<State> {
    let deadline = wait.map(|w| Instant::now() + w);
    let mut said = false;
    loop {
        match read::read_state(mgmt, scope).await {
            Ok(s) => return Ok(s),
            Err(e) if e.is_transient() && deadline.is_some_and(|d| Instant::now() < d) => {
                if !said {
                    eprintln!("topo: waiting for the broker ({e})");
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                let e = http_error(e);
                return Err(match wait {
                    Some(w) => e.context(format!(
                        "the broker was not ready within --wait {}",
                        humantime::format_duration(w)
                    )),
                    None => e,
                });
            }
        }
    }
}

/// Plan, with message counts read for the queues the plan replaces or deletes (over
/// AMQP: exact and current; the management API's figure as a fallback).
pub(crate) async fn make_plan(
    mgmt: &Management,
    endpoints: &Endpoints,
    desired: &State,
    live: &mut State,
    opts: &PlanOptions,
) -> anyhow::Result<Plan> {
    let first = plan(desired, live, opts);
    let queues: Vec<_> = first
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Replace | Action::Delete))
        .filter_map(|c| match &c.target {
            Target::Queue(k) => Some(k.clone()),
            _ => None,
        })
        .collect();
    if queues.is_empty() {
        return Ok(first);
    }
    let mut amqp = Amqp::new(endpoints);
    let counted = amqp.message_counts(&queues).await;
    amqp.close().await;
    match counted {
        Ok(counts) => {
            for (k, n) in counts {
                if let Some(q) = live.queues.get_mut(&k) {
                    q.messages = Some(n);
                }
            }
        }
        Err(_) => read::fill_message_counts(mgmt, live, &queues)
            .await
            .map_err(http_error)?,
    }
    Ok(plan(desired, live, opts))
}
