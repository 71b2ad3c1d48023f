//! Saved plans: `topo plan -o plan.json`, then `topo apply plan.json`.
//!
//! A saved plan records what it was computed from, so that apply can refuse a plan the
//! world has moved past (terraform's contract): the digest of every file read (the entry
//! file and its `extends` chain), the broker (URLs without userinfo), a fingerprint of the
//! live state that was read, and a digest of the changes themselves. It also carries the
//! changes in the documented JSON shape of `topo plan --format json`, for people and bots
//! to review.
//!
//! Apply loads the same files again (they must still hash the same), reads the broker
//! (it must still fingerprint the same), plans again and checks that the plan is the saved
//! one, change for change, before carrying it out. The planner is a pure function of the
//! files and the live state, so with both unchanged the check cannot fail; when it does,
//! something else changed (an environment variable the file interpolates) and the plan is
//! stale as well. Nothing secret is written: passwords come from the environment again at
//! apply, the JSON changes show secrets as `***`, and the digests are one-way.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::broker::endpoint::Endpoints;
use crate::plan::Plan;
use crate::source::Sources;
use crate::state::State;

/// The format version written as `topo_plan`.
pub const FORMAT: u32 = 1;

/// A plan as written by `topo plan -o`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    /// Always [`FORMAT`]; also how `topo apply FILE` tells a saved plan from a topology.
    pub topo_plan: u32,
    /// The topo version that made it: another version may plan differently.
    pub topo_version: String,
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    /// The topology file named on the command line.
    pub file: PathBuf,
    /// Every file read to make the desired state, with its digest.
    pub files: Vec<FileDigest>,
    pub options: SavedOptions,
    pub broker: SavedBroker,
    /// `sha256:` of the live state that was read (see [`fingerprint`]).
    pub live_fingerprint: String,
    /// `sha256:` of the changes, definitions included (see [`plan_digest`]).
    pub plan_digest: String,
    /// The plan, as `topo plan --format json` prints it.
    pub plan: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub path: PathBuf,
    pub sha256: String,
}

/// The planning options that shaped the plan; apply takes them from here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedOptions {
    pub prune: bool,
    /// `--vhost`: where the file's default vhost was put.
    pub vhost: Option<String>,
}

/// Which broker the plan was made against (no userinfo, ever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedBroker {
    pub management_url: String,
    pub amqp_url: String,
}

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("it was made by topo {0}, this is topo {1}")]
    Version(String, String),
    #[error("{0} changed since the plan was made")]
    File(String),
    #[error("it reads {0}, this run reads {1}")]
    Files(String, String),
    #[error("it was made against {0}, this run targets {1}")]
    Broker(String, String),
    #[error("the broker's state changed since the plan was made")]
    Live,
    #[error(
        "planning again gives different changes (an environment variable the file uses may have changed)"
    )]
    Changes,
}

/// The digest of every source file that made the desired state, in reading order.
pub fn file_digests(sources: &Sources) -> Vec<FileDigest> {
    sources
        .files()
        .map(|(_, f)| FileDigest {
            path: f.path.clone(),
            sha256: hex(&Sha256::digest(f.text.as_bytes())),
        })
        .collect()
}

/// Check the files read now against the saved ones.
pub fn check_files(saved: &[FileDigest], now: &[FileDigest]) -> Result<(), Stale> {
    for s in saved {
        match now.iter().find(|n| n.path == s.path) {
            Some(n) if n.sha256 == s.sha256 => {}
            Some(_) => return Err(Stale::File(s.path.display().to_string())),
            None => return Err(Stale::Files(names(saved), names(now))),
        }
    }
    if now.len() != saved.len() {
        return Err(Stale::Files(names(saved), names(now)));
    }
    Ok(())
}

fn names(files: &[FileDigest]) -> String {
    files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A one-way fingerprint of the live state a plan depends on: what the broker has in the
/// vhosts `desired` names, and the users it names. Message counts are left out (they move
/// with traffic, and apply counts them again for its data-loss guard), and so are other
/// vhosts and users: they are global listings that other tenants change all the time.
pub fn fingerprint(live: &State, desired: &State) -> String {
    let scope = desired.vhost_names();
    let mut h = HashWriter(Sha256::new());
    let State {
        vhosts,
        exchanges,
        queues,
        bindings,
        policies,
        users,
        permissions,
        topic_permissions,
        links,
        vhost_limits,
        user_limits,
        operator_policies,
    } = live;
    // Entity keys are structs, which JSON maps cannot key on: hash (key, value) pairs.
    for (name, v) in vhosts.iter().filter(|(n, _)| scope.contains(*n)) {
        let _ = serde_json::to_writer(&mut h, &(name, v));
    }
    let _ = serde_json::to_writer(&mut h, &exchanges.iter().collect::<Vec<_>>());
    for (k, q) in queues {
        let mut q = q.clone();
        q.messages = None;
        let _ = serde_json::to_writer(&mut h, &(k, q));
    }
    let _ = serde_json::to_writer(&mut h, &bindings.keys().collect::<Vec<_>>());
    let _ = serde_json::to_writer(&mut h, &policies.iter().collect::<Vec<_>>());
    let _ = serde_json::to_writer(&mut h, &operator_policies.iter().collect::<Vec<_>>());
    // Users as the broker has them, hashes included, only as input to the digest.
    for (name, u) in users.iter().filter(|(n, _)| desired.users.contains_key(*n)) {
        let _ = write!(h, "{name}\0{:?}\0", u);
    }
    for (k, p) in permissions.iter().filter(|(k, _)| scope.contains(&k.vhost)) {
        let _ = serde_json::to_writer(&mut h, &(k, p));
    }
    for (k, t) in topic_permissions
        .iter()
        .filter(|(k, _)| scope.contains(&k.vhost))
    {
        let _ = serde_json::to_writer(&mut h, &(k, t));
    }
    // Full URIs too, as digest input only: a changed password makes a saved plan stale.
    for (k, l) in links.iter().filter(|(k, _)| scope.contains(&k.vhost)) {
        let _ = serde_json::to_writer(&mut h, &(k, &l.value));
        for (key, uris) in &l.uris {
            let _ = write!(h, "{key}\0{}\0", uris.texts().join("\0"));
        }
    }
    for (v, l) in vhost_limits.iter().filter(|(v, _)| scope.contains(*v)) {
        let _ = serde_json::to_writer(&mut h, &(v, l));
    }
    for (u, l) in user_limits
        .iter()
        .filter(|(u, _)| desired.users.contains_key(*u))
    {
        let _ = serde_json::to_writer(&mut h, &(u, l));
    }
    format!("sha256:{}", hex(&h.0.finalize()))
}

/// A one-way digest of the changes with their full definitions (message counts left out).
/// Secrets enter it only as input to SHA-256 (`Secret`'s Debug shows `***` anyway).
pub fn plan_digest(plan: &Plan) -> String {
    let mut h = HashWriter(Sha256::new());
    for c in &plan.changes {
        let c = c.without_messages();
        let _ = writeln!(h, "{c:?}");
    }
    format!("sha256:{}", hex(&h.0.finalize()))
}

/// Whether the text is a saved plan rather than a topology file: a JSON object with a
/// `topo_plan` key (topology files are YAML and never have one).
pub fn sniff(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{')
        && serde_json::from_str::<Value>(t)
            .ok()
            .is_some_and(|v| v.get("topo_plan").is_some())
}

/// Read a saved plan.
pub fn read(path: &Path, text: &str) -> anyhow::Result<SavedPlan> {
    let saved: SavedPlan = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not a saved plan topo can read: {e}",
            crate::source::display_path(path),
            e.line(),
            e.column()
        )
    })?;
    if saved.topo_plan != FORMAT {
        anyhow::bail!(
            "{}: saved plan format {} is not supported (this topo reads format {FORMAT}); re-run topo plan -o",
            crate::source::display_path(path),
            saved.topo_plan
        );
    }
    Ok(saved)
}

/// The broker as a saved plan names it: URLs without userinfo or query.
pub fn broker_of(endpoints: &Endpoints) -> SavedBroker {
    let bare = |u: &url::Url| {
        let mut u = u.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.set_fragment(None);
        u.to_string()
    };
    SavedBroker {
        management_url: bare(&endpoints.management),
        amqp_url: bare(&endpoints.amqp),
    }
}

/// Check that this run targets the broker the plan was made against.
pub fn check_broker(saved: &SavedBroker, now: &SavedBroker) -> Result<(), Stale> {
    if saved == now {
        Ok(())
    } else {
        Err(Stale::Broker(
            format!("{} ({})", saved.management_url, saved.amqp_url),
            format!("{} ({})", now.management_url, now.amqp_url),
        ))
    }
}

/// Write a saved plan to `path` (replacing an older one: plans are build artefacts).
pub fn write(path: &Path, saved: &SavedPlan) -> anyhow::Result<()> {
    let fail = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!("cannot write the plan to {}: {e}", path.display())
    };
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, saved).map_err(|e| fail(&e))?;
    writeln!(w).map_err(|e| fail(&e))?;
    w.flush().map_err(|e| fail(&e))
}

/// The saved plan's check of the topo version.
pub fn check_version(saved: &SavedPlan) -> Result<(), Stale> {
    let me = env!("CARGO_PKG_VERSION");
    if saved.topo_version == me {
        Ok(())
    } else {
        Err(Stale::Version(saved.topo_version.clone(), me.to_string()))
    }
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EntityKey, QueueState};
    use crate::topology::model::QueueType;

    fn queue(messages: Option<u64>, ttl: i64) -> QueueState {
        QueueState {
            kind: QueueType::Classic,
            durable: true,
            auto_delete: false,
            arguments: [("x-message-ttl".to_string(), Value::from(ttl))].into(),
            messages,
            members: None,
        }
    }

    #[test]
    fn the_fingerprint_follows_definitions_not_message_counts() {
        let mut a = State::default();
        a.queues.insert(EntityKey::new("v", "q"), queue(None, 1));
        let mut b = a.clone();
        b.queues.insert(EntityKey::new("v", "q"), queue(Some(7), 1));
        let desired = a.clone();
        let fp = |s: &State| fingerprint(s, &desired);
        assert_eq!(fp(&a), fp(&b));
        let mut c = a.clone();
        c.queues.insert(EntityKey::new("v", "q"), queue(None, 2));
        assert_ne!(fp(&a), fp(&c));
        let mut d = a.clone();
        d.queues.insert(EntityKey::new("v", "r"), queue(None, 1));
        assert_ne!(fp(&a), fp(&d));
        // Another tenant's vhost or user does not make the plan stale.
        let mut e = a.clone();
        e.vhosts.insert("someone-else".into(), Default::default());
        e.users.insert(
            "someone".into(),
            crate::state::UserState {
                tags: vec![],
                credential: crate::state::Credential::None,
            },
        );
        assert_eq!(fp(&a), fp(&e));
    }

    #[test]
    fn files_must_be_the_same_set_with_the_same_digests() {
        let f = |p: &str, h: &str| FileDigest {
            path: p.into(),
            sha256: h.into(),
        };
        let saved = vec![f("a.yaml", "1"), f("base.yaml", "2")];
        assert_eq!(check_files(&saved, &saved.clone()), Ok(()));
        assert_eq!(
            check_files(&saved, &[f("a.yaml", "1"), f("base.yaml", "3")]),
            Err(Stale::File("base.yaml".into()))
        );
        assert!(matches!(
            check_files(&saved, &[f("a.yaml", "1")]),
            Err(Stale::Files(..))
        ));
        assert!(matches!(
            check_files(
                &saved,
                &[f("a.yaml", "1"), f("base.yaml", "2"), f("c", "4")]
            ),
            Err(Stale::Files(..))
        ));
    }

    #[test]
    fn a_saved_plan_is_told_from_a_topology() {
        assert!(sniff("  {\"topo_plan\": 1, \"x\": 2}"));
        assert!(!sniff("version: 1\nqueues: []\n"));
        assert!(!sniff("{\"version\": 1}"));
        assert!(!sniff("{ not json"));
    }
}
