//! Copies of each vhost's definitions export, kept between runs and revalidated with the
//! broker's `ETag` (RabbitMQ 4.3.5+). A no-op plan of 10,000 queues then costs the broker a
//! 304, a few ms, instead of its export, a quarter to half a second of its CPU
//! (docs/plan-apply.md). kubectl keeps its discovery answers the same way (`~/.kube/cache`).
//!
//! A copy is used only when the broker answers 304 to the copy's `ETag`. RabbitMQ makes
//! that tag from its metadata store's Raft term and index, which every change to any
//! definition anywhere on the broker moves, so an unchanged tag is an unchanged vhost. Two
//! guards cover what the index cannot tell:
//! - a broker wiped or replaced (its `internal_cluster_id` is another);
//! - a data directory restored from a backup, whose index may count up again to the
//!   copy's (the node started after the copy was made).
//!
//! Besides, a copy from another version of topo, or one that cannot be read, is no copy.
//!
//! What is kept: the export's queues, bindings and policies, as the broker sent them. Never
//! the rest: its `parameters` hold shovel URIs, passwords included.
//!
//! Where: `$TOPO_CACHE_DIR`, else `$XDG_CACHE_HOME/topo`, else `~/.cache/topo`, one file per
//! management URL (without userinfo), user and vhost, named by a hash of them (files
//! unused for a week are removed). `TOPO_NO_CACHE=1` turns it off.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use url::Url;

use super::http::{Fresh, HttpError, Incarnation, Management};

/// Copies unused for this long are removed when another is written (a vhost per pull
/// request leaves one behind each).
const UNUSED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// The directory of the copies, or `None` when they are off or there is nowhere to put
/// them.
pub fn dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if std::env::var("TOPO_NO_CACHE").is_ok_and(|v| !v.is_empty() && v != "0") {
        return None;
    }
    if let Some(dir) = set("TOPO_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = set("XDG_CACHE_HOME") {
        return Some(Path::new(&dir).join("topo"));
    }
    set("HOME").map(|home| Path::new(&home).join(".cache").join("topo"))
}

/// The file of one export's copy: a hash of where it came from, so that the name says
/// nothing about the broker, and two brokers, users or vhosts never share one.
pub fn slot(dir: &Path, base: &Url, user: &str, path: &str) -> PathBuf {
    let mut base = base.clone();
    let _ = base.set_username("");
    let _ = base.set_password(None);
    let mut hash = Sha256::new();
    for part in [base.as_str(), user, path] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let hex: String = hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!("definitions-{hex}.json"))
}

/// The first line of a copy: where it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The topo that wrote it (another may keep other fields).
    pub topo: String,
    pub cluster_id: String,
    pub etag: String,
    /// When the export was asked for, in ms since the Unix epoch.
    pub asked_ms: u64,
}

impl Header {
    /// Whether the copy is of this broker as it runs now: the same data directory, and no
    /// start of its node since the copy was asked for.
    pub fn holds_for(&self, now: &Incarnation) -> bool {
        self.topo == env!("CARGO_PKG_VERSION")
            && self.cluster_id == now.cluster_id
            && now.started_ms < self.asked_ms
    }
}

/// A copy in its file: the header read, the rest only if the broker says it still holds.
pub struct Copy {
    pub header: Header,
    path: PathBuf,
}

impl Copy {
    /// The copy in `path`, if there is one: its first line only (a few hundred bytes, read
    /// before the request goes out).
    pub fn open(path: &Path) -> Option<Copy> {
        use std::io::{BufRead, Read};
        let file = std::fs::File::open(path).ok()?;
        let mut line = Vec::new();
        std::io::BufReader::with_capacity(1024, file.take(64 * 1024))
            .read_until(b'\n', &mut line)
            .ok()?;
        let header: Header = serde_json::from_slice(line.strip_suffix(b"\n")?).ok()?;
        Some(Copy {
            header,
            path: path.to_path_buf(),
        })
    }

    /// The rest of the file, parsed; `None` when it is not there whole.
    pub fn body<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        let bytes = std::fs::read(&self.path).ok()?;
        let end = bytes.iter().position(|&b| b == b'\n')?;
        serde_json::from_slice(&bytes[end + 1..]).ok()
    }

    /// Mark the copy as in use: not one of those [`remove_unused`] removes.
    fn touch(&self) {
        let _ = std::fs::File::options()
            .write(true)
            .open(&self.path)
            .and_then(|f| f.set_modified(SystemTime::now()));
    }
}

/// The parts of an export that are kept, borrowed from its raw bytes.
#[derive(Serialize, Deserialize)]
struct Kept<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    queues: Option<&'a RawValue>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    bindings: Option<&'a RawValue>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    policies: Option<&'a RawValue>,
}

/// Write the copy of an export (its raw bytes, as they arrived) into `path`: whole or not at
/// all (a new file renamed over the old), readable by its owner only.
pub fn store(path: &Path, header: &Header, raw: &[bytes::Bytes]) -> std::io::Result<()> {
    let whole: Vec<u8> = raw.concat();
    let kept: Kept = serde_json::from_slice(&whole).map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    make_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.{:08x}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("copy"),
        std::process::id(),
        rand::random::<u32>()
    ));
    let written = (|| {
        let mut out = std::io::BufWriter::new(private_file(&tmp)?);
        serde_json::to_writer(&mut out, header).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut out, &kept).map_err(std::io::Error::other)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    remove_unused(dir);
    Ok(())
}

fn make_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Remove the copies nobody has written for [`UNUSED_FOR`] (and temporary files left by a
/// run that was killed while it wrote).
fn remove_unused(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("definitions-") || name.starts_with(".definitions-");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > UNUSED_FOR || (name.starts_with('.') && age.as_secs() > 3600));
        if ours && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The broker's [`Incarnation`], asked once per run; `None` when it does not say (before
/// 3.8, or a user who may not read global parameters) or is a cluster (one node's start
/// would not tell another's).
pub async fn incarnation(mgmt: &Management) -> Option<Incarnation> {
    mgmt.memo()
        .incarnation
        .get_or_init(|| async {
            let (id, started_ms) = tokio::join!(
                mgmt.get_opt(
                    &["global-parameters", "internal_cluster_id"],
                    "reading the broker's cluster id"
                ),
                super::cluster::single_node_start(mgmt),
            );
            let cluster_id = id.ok()??.get("value")?.as_str()?.to_string();
            Some(Incarnation {
                cluster_id,
                started_ms: started_ms?,
            })
        })
        .await
        .clone()
}

/// `GET /api/<segments>`, answered from the copy kept by an earlier run when the broker
/// says it still holds, and kept for the next when the broker gives an `ETag`. Without a
/// cache directory, the plain GET.
pub async fn get_kept<T: serde::de::DeserializeOwned + Send + 'static>(
    mgmt: &Management,
    segments: &[&str],
    what: &str,
) -> Result<T, HttpError> {
    let Some(dir) = dir() else {
        return mgmt.get_typed_query(segments, &[], what).await;
    };
    let path = slot(&dir, &mgmt.base(), mgmt.user(), &segments.join("/"));
    let opened = tokio::task::spawn_blocking({
        let path = path.clone();
        move || Copy::open(&path)
    })
    .await
    .ok()
    .flatten();
    let etag = opened
        .as_ref()
        .filter(|c| c.header.topo == env!("CARGO_PKG_VERSION"))
        .map(|c| c.header.etag.clone());
    let asked_ms = now_ms();
    let started = Instant::now();
    // The copy's tag goes out at once; whether the copy is of the broker's present run is
    // asked beside it (two small reads, once per run), not before it.
    let (answer, now) = tokio::join!(
        mgmt.get_fresh::<T>(segments, etag.as_deref(), what),
        incarnation(mgmt)
    );
    let answer = match answer? {
        Fresh::Unchanged => {
            let holds = opened.filter(|c| now.as_ref().is_some_and(|n| c.header.holds_for(n)));
            let body = match holds {
                Some(copy) => tokio::task::spawn_blocking(move || {
                    copy.touch();
                    copy.body::<T>()
                })
                .await
                .ok()
                .flatten(),
                None => None,
            };
            if let Some(body) = body {
                crate::trace::done(started, || format!("  {what}: {FROM_COPY}"));
                return Ok(body);
            }
            // Of another run of the broker, or unreadable: the whole answer, kept in its
            // place.
            mgmt.get_fresh::<T>(segments, None, what).await?
        }
        changed => changed,
    };
    match answer {
        Fresh::Changed { value, etag, raw } => {
            if let (Some(etag), Some(now)) = (etag, now) {
                keep(
                    path,
                    Header {
                        topo: env!("CARGO_PKG_VERSION").into(),
                        cluster_id: now.cluster_id,
                        etag,
                        asked_ms,
                    },
                    raw,
                    what,
                );
            }
            Ok(value)
        }
        Fresh::Unchanged => Err(HttpError::Body {
            what: what.into(),
            detail: "HTTP 304 to a request without If-None-Match".into(),
        }),
    }
}

/// What the trace says when a copy answered (the broker tests look for it).
const FROM_COPY: &str = "unchanged (304), from the kept copy";

/// Write the copy beside the rest of the run (the runtime waits for it at its end). A copy
/// that cannot be written is only a slower next run.
fn keep(path: PathBuf, header: Header, raw: Vec<bytes::Bytes>, what: &str) {
    let what = what.to_string();
    drop(tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let stored = store(&path, &header, &raw);
        crate::trace::done(t, || match stored {
            Ok(()) => format!("  {what}: kept for the next run"),
            Err(e) => format!("  {what}: not kept: {e}"),
        });
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(asked_ms: u64) -> Header {
        Header {
            topo: env!("CARGO_PKG_VERSION").into(),
            cluster_id: "rabbitmq-cluster-id-a".into(),
            etag: "\"1-2-3\"".into(),
            asked_ms,
        }
    }

    fn now(cluster_id: &str, started_ms: u64) -> Incarnation {
        Incarnation {
            cluster_id: cluster_id.into(),
            started_ms,
        }
    }

    #[test]
    fn a_copy_holds_only_for_the_same_broker_not_restarted_since() {
        let h = header(1_000);
        assert!(h.holds_for(&now("rabbitmq-cluster-id-a", 999)));
        // Restarted since the copy was asked for (a restored backup starts so).
        assert!(!h.holds_for(&now("rabbitmq-cluster-id-a", 1_000)));
        assert!(!h.holds_for(&now("rabbitmq-cluster-id-a", 5_000)));
        // Wiped or replaced.
        assert!(!h.holds_for(&now("rabbitmq-cluster-id-b", 1)));
        // Written by another topo.
        let other = Header {
            topo: "0.0.0-other".into(),
            ..h
        };
        assert!(!other.holds_for(&now("rabbitmq-cluster-id-a", 1)));
    }

    #[test]
    fn the_file_name_hides_the_broker_and_tells_user_and_vhost_apart() {
        let dir = Path::new("/c");
        let base = Url::parse("http://admin:s3cret@rabbit.internal:15672/").unwrap();
        let plain = Url::parse("http://rabbit.internal:15672/").unwrap();
        let a = slot(dir, &base, "admin", "definitions/v");
        let name = a.to_string_lossy().to_string();
        assert!(
            !name.contains("rabbit") && !name.contains("s3cret"),
            "{name}"
        );
        // The userinfo of the URL is not part of where the copy came from.
        assert_eq!(a, slot(dir, &plain, "admin", "definitions/v"));
        assert_ne!(a, slot(dir, &base, "other", "definitions/v"));
        assert_ne!(a, slot(dir, &base, "admin", "definitions/w"));
        // The parts are separated: ("ab", "c") is not ("a", "bc").
        assert_ne!(slot(dir, &base, "ab", "c"), slot(dir, &base, "a", "bc"));
    }

    #[test]
    fn a_stored_copy_keeps_queues_bindings_and_policies_and_never_the_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("definitions-x.json");
        let export = br#"{"rabbit_version":"4.3.6","queues":[{"name":"q","arguments":{}}],
            "exchanges":[{"name":"e"}],"bindings":[],"policies":[{"name":"p"}],
            "parameters":[{"component":"shovel","value":{"src-uri":"amqp://u:hunter2@h"}}]}"#;
        // In chunks that cut through a string, as they arrive.
        let raw: Vec<bytes::Bytes> = export
            .chunks(7)
            .map(bytes::Bytes::copy_from_slice)
            .collect();
        store(&path, &header(10), &raw).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("parameters"),
            "{text}"
        );
        let copy = Copy::open(&path).unwrap();
        assert_eq!(copy.header, header(10));
        let body: serde_json::Value = copy.body().unwrap();
        assert_eq!(
            body,
            serde_json::json!({"queues":[{"name":"q","arguments":{}}],"bindings":[],
                               "policies":[{"name":"p"}]})
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Nothing else is left in the directory (the temporary file was renamed).
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_damaged_copy_is_no_copy_and_an_answer_that_is_not_json_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("definitions-x.json");
        for damaged in [
            &b""[..],
            b"not json\n{}",
            b"{\"topo\":1}\n{}",
            b"no newline",
        ] {
            std::fs::write(&path, damaged).unwrap();
            assert!(Copy::open(&path).is_none());
        }
        std::fs::write(
            &path,
            format!(
                "{}\n{{\"queues\":[",
                serde_json::to_string(&header(1)).unwrap()
            ),
        )
        .unwrap();
        let copy = Copy::open(&path).unwrap();
        assert!(copy.body::<serde_json::Value>().is_none());
        let raw = [bytes::Bytes::from_static(b"<html>")];
        assert!(store(&dir.path().join("definitions-y.json"), &header(1), &raw).is_err());
        assert!(!dir.path().join("definitions-y.json").exists());
    }
}
