//! `topo apply [FILE]`: converge the live broker to the file, then check it by reading
//! the state back and planning again.

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
use crate::plan::PlanOptions;
use crate::report::{self, Format};
use crate::saved_plan::{self, SavedPlan, Stale};
use crate::session::{
    Lag, cluster_size, describes_cluster, env, make_plan, policy_advice, print_warnings,
    quorum_advice, read_live, reread_if_lagging, runtime, wait_for_amqp,
};
use crate::state::BindingKey;
use crate::topology::FileSource;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Topology file (default: $TOPO_FILE, else ./topo.yaml; `-`: standard input). or a plan saved by
    /// `topo plan -o PATH`, applied exactly as saved.
    pub file: Option<PathBuf>,

    /// Delete what the broker has and the file lacks, in the file's vhosts only (never
    /// amq.* exchanges, the default exchange, server-named or exclusive queues, users).
    #[arg(long)]
    pub prune: bool,

    /// Allow deleting and re-declaring queues and exchanges whose type, durability or
    /// arguments changed (their bindings are re-created).
    #[arg(long)]
    pub allow_replace: bool,

    /// Allow deleting or replacing queues that hold messages (the messages are lost).
    #[arg(long)]
    pub allow_data_loss: bool,

    /// Print the plan and change nothing (same exit codes as `topo plan`).
    #[arg(long)]
    pub dry_run: bool,

    /// Apply a plan that deletes or replaces entities without asking (on a terminal topo
    /// asks; elsewhere such a plan is refused without this flag).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    pub yes: bool,

    /// Output format of the plan printed before applying.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Wait up to this long for a broker that is still starting (e.g. 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,

    /// How to create exchanges, queues and bindings: pipelined AMQP declares or the
    /// broker's definitions import (for benchmarks; see docs/plan-apply.md).
    #[arg(long, value_enum, default_value_t = Via::Amqp, hide = true)]
    pub via: Via,

    /// Put the file's default vhost here instead (a vhost per developer or pull request).
    #[arg(long, value_name = "NAME")]
    pub vhost: Option<String>,

    /// How long to wait for another apply's lock on the same vhosts (e.g. 2m); 0s: fail
    /// at once, naming the holder.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_timeout: Duration,

    /// Do not take the apply lock (an exclusive queue in each vhost of the file).
    #[arg(long)]
    pub no_lock: bool,

    #[command(flatten)]
    pub connect: ConnectFlags,
}

pub fn run(args: ApplyArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let path = super::resolve_file(args.file.clone())?;
    let saved = read_saved(&path)?;
    let (file, prune, vhost) = match &saved {
        Some(s) => {
            if args.prune || args.vhost.is_some() {
                return Err(Hinted::new(
                    format!(
                        "{} is a saved plan: its --prune and --vhost were fixed by topo plan",
                        path.display()
                    ),
                    "drop them here, or run topo plan -o again with the ones you want",
                )
                .into());
            }
            saved_plan::check_version(s).map_err(|e| stale(&path, e))?;
            (s.file.clone(), s.options.prune, s.options.vhost.clone())
        }
        None => (path.clone(), args.prune, args.vhost.clone()),
    };
    let prepared = match prepare(Some(file), vhost.as_deref(), color)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let endpoints = Endpoints::resolve(&args.connect.args(), Some(&prepared.topology), &env)?;
    let clustered = describes_cluster(&prepared.topology, &endpoints);
    if let Some(s) = &saved {
        saved_plan::check_files(&s.files, &prepared.files).map_err(|e| stale(&path, e))?;
        saved_plan::check_broker(&s.broker, &saved_plan::broker_of(&endpoints))
            .map_err(|e| stale(&path, e))?;
    }
    // From here on the desired state is all that is needed; the parsed file goes (memory).
    let entry = prepared.entry.clone();
    let pending = prepared.pending.clone();
    let mut desired = prepared.desired;
    // The vhosts this run covers: the pending bindings of others are not its to settle.
    let vhosts = desired.vhost_names();
    drop(prepared.topology);
    let opts = PlanOptions { prune };
    let rt = runtime()?;
    rt.block_on(async {
        let started = Instant::now();
        let mgmt = Management::new(&endpoints)?;
        let mut live = read_live(&mgmt, &mut desired, args.wait).await?;
        if let Some(s) = &saved
            && saved_plan::fingerprint(&live, &desired) != s.live_fingerprint
        {
            return Err(stale(&path, Stale::Live));
        }
        wait_for_amqp(&endpoints, args.wait).await?;
        let mut plan = make_plan(&mgmt, &endpoints, &desired, &mut live, &opts).await?;
        if let Some(s) = &saved
            && saved_plan::plan_digest(&plan) != s.plan_digest
        {
            return Err(stale(&path, Stale::Changes));
        }
        let nodes = cluster_size(&mgmt).await;
        let mut warnings = quorum_advice(&desired, &live, nodes, clustered);
        warnings.extend(policy_advice(&mgmt, &desired, &live, &plan).await);
        {
            let mut out = std::io::stdout().lock();
            report::render(&mut out, &plan, &warnings, args.format, color.stdout())?;
        }
        print_warnings(&warnings);
        if let Some(line) = super::plan::drift(&desired, &live, &opts) {
            eprintln!("topo: note: {line}");
        }
        if args.dry_run {
            return Ok(if plan.is_empty() {
                ExitStatus::Success
            } else {
                ExitStatus::Changes
            });
        }
        if plan.is_empty() {
            eprintln!("topo: nothing to do: the broker matches the file");
            return Ok(ExitStatus::Success);
        }
        // Both connections, topo's permissions and the broker's version, before any change.
        crate::broker::preflight::check(&mgmt, &endpoints, &desired, &live).await?;
        // The plugins the file's shovels and upstreams need (their state is plan's to show).
        crate::broker::links::check(&mgmt, &desired).await?;
        // Held from here until after the verification; the broker drops it if this process
        // dies. An apply that had to wait for it reads and plans again: the holder has
        // changed the broker meanwhile.
        let lock = if args.no_lock {
            None
        } else {
            let vhosts: Vec<String> = desired.vhost_names().into_iter().collect();
            let l = lock::acquire(&endpoints, &mgmt, &vhosts, args.lock_timeout)
                .await
                .map_err(lock_error)?;
            if l.waited() {
                if saved.is_some() {
                    return Err(stale(&path, Stale::Live));
                }
                eprintln!("topo: took the lock after waiting; reading the broker again");
                live = read_live(&mgmt, &mut desired, None).await?;
                plan = make_plan(&mgmt, &endpoints, &desired, &mut live, &opts).await?;
                let mut out = std::io::stdout().lock();
                report::render(&mut out, &plan, &warnings, args.format, color.stdout())?;
                if plan.is_empty() {
                    eprintln!("topo: nothing to do: the broker matches the file");
                    return Ok(ExitStatus::Success);
                }
            }
            Some(l)
        };
        let replaces: Vec<String> = plan.replaces().map(|c| c.target().to_string()).collect();
        if !replaces.is_empty() && !args.allow_replace {
            return Err(Hinted::new(
                format!(
                    "refusing to replace {} (RabbitMQ cannot change them in place): {}; nothing was changed",
                    plural(replaces.len(), "entity", "entities"),
                    replaces.join(", ")
                ),
                "pass --allow-replace to delete and re-declare them (their bindings are re-created), or change the file back",
            )
            .into());
        }
        let losses: Vec<String> = plan
            .data_loss()
            .map(|c| match c.messages() {
                Some(n) => format!("{} ({n} messages)", c.target()),
                None => format!("{} (message count unknown)", c.target()),
            })
            .collect();
        if !losses.is_empty() && !args.allow_data_loss {
            return Err(Hinted::new(
                format!(
                    "refusing to delete messages: {}; nothing was changed",
                    losses.join(", ")
                ),
                "drain the queues first, or pass --allow-data-loss",
            )
            .into());
        }

        // Taking the administrator tag from topo's own user locks it out halfway: the
        // verification, and every later plan, needs the tag. Refused, like a replace
        // without --allow-replace, before any change.
        let me = mgmt.user();
        let demoted = plan.changes.iter().any(|c| {
            matches!(&c.entity, crate::plan::EntityChange::User(name, crate::plan::UserChange::Update(d))
                if name == me && !d.user.tags.iter().any(|t| t == "administrator"))
        });
        if demoted {
            return Err(Hinted::new(
                format!(
                    "refusing to take the `administrator` tag from `{me}`, the user topo applies \
                     as: topo could not read the broker after it; nothing was changed"
                ),
                format!(
                    "apply this file as another administrator (user:password in \
                     --management-url and --amqp-url), or keep `administrator` in the tags of \
                     `{me}`"
                ),
            )
            .into());
        }

        // A saved plan was reviewed when it was made: applying it is the approval
        // (terraform's contract), so only a plan computed here is asked about.
        if saved.is_none() {
            super::confirm::confirm(&plan, args.yes, "apply")?;
        }

        let progress = Progress::new(plan.changes.len());
        let mut amqp = Amqp::new(&endpoints);
        amqp.delete_only_empty_queues(!args.allow_data_loss);
        if let Some(l) = &lock {
            amqp.hold_lock(l.watch());
        }
        let result = apply(&plan, &mgmt, &mut amqp, args.via, &progress).await;
        progress.finish();
        amqp.close().await;
        // The last stages may be HTTP calls, which move to another node unchecked.
        if result.is_ok()
            && let Some(Err(lost)) = lock.as_ref().map(|l| l.watch().check())
        {
            return Err(Hinted::new(
                format!("apply stopped after its last change: {lost}"),
                "another apply may have run meanwhile: run topo plan (or topo apply) again once the lock's node is back",
            )
            .into());
        }
        if let Err(f) = result {
            let mut msg = format!("apply stopped: {}", f);
            let mut hint = f.hint.clone();
            // Bindings the file does not name that a replace deleted: kept beside the file,
            // so that the re-run (which only knows the file) re-creates them.
            let mut keep: Vec<BindingKey> = f
                .unbound
                .iter()
                .chain(&pending)
                .filter(|b| !desired.bindings.contains_key(*b) || pending.contains(*b))
                .cloned()
                .collect();
            keep.sort();
            keep.dedup();
            if !keep.is_empty() {
                let listed: Vec<String> = keep.iter().map(|b| format!("  {b}")).collect();
                match crate::apply::pending::settle(&entry, &vhosts, &keep) {
                    Ok((saved, _)) => {
                        msg.push_str(&format!(
                            "\nbindings the file does not name that a replaced entity had, not \
                             re-created yet (kept in {}):\n{}",
                            saved.display(),
                            listed.join("\n")
                        ));
                        hint = Some(format!(
                            "run `topo apply {}{}` again: it re-creates these bindings too, \
                             then removes them from {}{}",
                            entry.display(),
                            vhost.as_deref().map(|v| format!(" --vhost {v}")).unwrap_or_default(),
                            saved.display(),
                            hint.map(|h| format!("; {h}")).unwrap_or_default()
                        ));
                    }
                    Err(e) => {
                        msg.push_str(&format!(
                            "\nbindings the file does not name that a replaced entity had, not \
                             re-created yet ({e:#}; declare them by hand):\n{}",
                            listed.join("\n")
                        ));
                    }
                }
            }
            return Err(match hint {
                Some(h) => Hinted::new(msg, h).into(),
                None => anyhow::anyhow!(msg),
            });
        }

        // Verify: read back and plan again (with the first reading gone: memory at scale).
        let applied = plan.changes.len();
        drop(plan);
        drop(live);
        eprintln!("topo: verifying: reading the broker back");
        // Through the node that took the writes when the node lists pair up (see
        // broker::failover); re-read within a bound if the cluster still lags.
        let mut after = read_live(&mgmt, &mut desired, None).await?;
        let left = make_plan(&mgmt, &endpoints, &desired, &mut after, &opts).await?;
        let (left, _) = reread_if_lagging(
            &mgmt,
            &endpoints,
            &mut desired,
            &opts,
            (left, after),
            nodes,
            Lag::Verify,
        )
        .await?;
        if !left.is_empty() {
            let mut text = Vec::new();
            report::render(&mut text, &left, &[], Format::Text, false)?;
            return Err(Hinted::new(
                format!(
                    "after apply the broker still differs from the file:\n{}",
                    String::from_utf8_lossy(&text).trim_end()
                ),
                "another client may have changed the broker meanwhile; run topo apply again",
            )
            .into());
        }
        if let Some(l) = lock {
            l.release(endpoints.timeout).await;
        }
        if !pending.is_empty() {
            let (path, others) = crate::apply::pending::settle(&entry, &vhosts, &[])?;
            if others == 0 {
                eprintln!(
                    "topo: the pending bindings are on the broker again; removed {}",
                    path.display()
                );
            } else {
                eprintln!(
                    "topo: the pending bindings of this run's vhosts are on the broker again; \
                     {} keeps {} for other vhosts",
                    path.display(),
                    plural(others, "binding", "bindings")
                );
            }
        }
        eprintln!(
            "topo: applied {} in {:.1}s; the broker matches the file",
            plural(applied, "change", "changes"),
            started.elapsed().as_secs_f64()
        );
        Ok(ExitStatus::Success)
    })
}

/// The saved plan at `path`, when it is one (rather than a topology file).
fn read_saved(path: &std::path::Path) -> anyhow::Result<Option<SavedPlan>> {
    // A topology file is read again by the loader, with its own errors; only a readable
    // file that looks like a saved plan is one.
    // Through the loader's file source: `-` (standard input) is read once and kept, so the
    // loader sees the same bytes when it is a topology after all.
    let Ok(text) = crate::topology::Disk
        .read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
    else {
        return Ok(None);
    };
    if !saved_plan::sniff(&text) {
        return Ok(None);
    }
    saved_plan::read(path, &text).map(Some)
}

fn lock_error(e: lock::LockError) -> anyhow::Error {
    let hint = lock_hint(&e);
    Hinted::new(format!("{e}; nothing was changed"), hint).into()
}

/// What to do about a lock that was not taken: a timeout is not a refusal, so only a
/// refusal of topo's user points at its permissions.
fn lock_hint(e: &lock::LockError) -> &'static str {
    match e {
        lock::LockError::Held { .. } => {
            "wait for it to finish, or pass --lock-timeout 5m to wait; a crashed apply's lock goes with its connection"
        }
        lock::LockError::HeldByDeadNode { .. } => {
            "start that node again (the broker drops the lock once the node is back), or wait for it with --lock-timeout 5m; then run topo apply again"
        }
        lock::LockError::TimedOut { .. } => {
            "the broker did not answer in time: check that it is up and not overloaded, raise --timeout, or pass --no-lock to apply without the lock"
        }
        lock::LockError::Broker { .. } if e.is_access_refused() => {
            "topo's user needs configure permission on the queue topo.apply-lock in the vhost; grant it, or pass --no-lock to apply without the lock"
        }
        lock::LockError::Broker { .. } => {
            "see the broker's reason above; run topo apply again, or pass --no-lock to apply without the lock"
        }
    }
}

fn stale(path: &std::path::Path, why: Stale) -> anyhow::Error {
    Hinted::new(
        format!("stale plan: {why}; nothing was changed"),
        format!(
            "re-run topo plan -o {} and review it, then apply that",
            path.display()
        ),
    )
    .into()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::lock::LockError;

    /// A lock declare that timed out must not blame permissions; a refusal must.
    #[test]
    fn lock_hints_tell_a_timeout_from_a_refusal() {
        let timed_out = LockError::TimedOut {
            vhost: "v".into(),
            detail: "the lock declare got no answer within 30s".into(),
        };
        assert!(!lock_hint(&timed_out).contains("permission"));
        assert!(lock_hint(&timed_out).contains("--timeout"));
        let refused = LockError::Broker {
            vhost: "v".into(),
            detail: "ACCESS_REFUSED - configure access to queue 'topo.apply-lock' refused".into(),
        };
        assert!(lock_hint(&refused).contains("configure permission"));
        let closed = LockError::Broker {
            vhost: "v".into(),
            detail: "connection closed by the broker".into(),
        };
        assert!(!lock_hint(&closed).contains("permission"));
        let held = LockError::Held {
            vhost: "v".into(),
            holder: "h".into(),
            waited: "0s".into(),
        };
        assert!(lock_hint(&held).contains("--lock-timeout"));
    }
}
