//! Bindings an interrupted apply had yet to re-create: a replace deletes a queue or an
//! exchange, and with it every binding from or to it, including the bindings the file does
//! not name (a consumer's own, another team's). Apply re-creates those after the declare;
//! when it stops in between, the re-run converges to the file, which lacks them, and they
//! are lost. So the failure writes them to a file beside the topology
//! (`<file>.pending-bindings.yaml`), the report lists them, and every later plan or apply
//! of that topology takes them as desired until an apply succeeds and removes the file.
//!
//! A run covers some vhosts only (`--vhost` moves the file's default one elsewhere), so it
//! takes as desired, and settles, the entries of its own vhosts: the file keeps the others
//! for the run that covers theirs (see [`settle`]).
//!
//! The file is YAML (serde_yaml_ng, the crate topo already writes exports with), readable
//! and short; it holds binding identities only, never a secret.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Hinted;
use crate::state::BindingKey;
use crate::topology::identity::BindingArgs;
use crate::topology::model::DestinationType;

/// The version of the file's format.
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingFile {
    /// What this is, for whoever opens it.
    about: String,
    pending_bindings_format: u32,
    bindings: Vec<Pending>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    vhost: String,
    source: String,
    destination: String,
    destination_type: String,
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: serde_json::Map<String, serde_json::Value>,
}

/// Where the pending bindings of the topology at `file` are kept.
pub fn path_for(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "topo.yaml".into());
    file.with_file_name(format!("{name}.pending-bindings.yaml"))
}

/// The pending bindings beside `file`; none when there is no such file. A file that does
/// not read is an error naming it: silently dropping it would lose the bindings again.
pub fn read(file: &Path) -> anyhow::Result<Vec<BindingKey>> {
    // A topology read from standard input has no place beside it.
    if crate::source::is_stdin(file) {
        return Ok(Vec::new());
    }
    let path = path_for(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(broken(&path, &e.to_string())),
    };
    let parsed: PendingFile =
        serde_yaml_ng::from_str(&text).map_err(|e| broken(&path, &e.to_string()))?;
    if parsed.pending_bindings_format != FORMAT {
        return Err(broken(
            &path,
            &format!(
                "format {} (this topo reads {FORMAT})",
                parsed.pending_bindings_format
            ),
        ));
    }
    parsed
        .bindings
        .into_iter()
        .map(|b| {
            let destination_type = match b.destination_type.as_str() {
                "queue" => DestinationType::Queue,
                "exchange" => DestinationType::Exchange,
                other => {
                    return Err(broken(
                        &path,
                        &format!("destination_type `{other}` (queue or exchange)"),
                    ));
                }
            };
            Ok(BindingKey {
                vhost: b.vhost,
                source: b.source,
                destination_type,
                destination: b.destination,
                routing_key: b.routing_key,
                arguments: BindingArgs::new(&b.arguments),
            })
        })
        .collect()
}

fn broken(path: &Path, why: &str) -> anyhow::Error {
    Hinted::new(
        format!(
            "cannot read the pending bindings of an interrupted apply, {}: {why}",
            path.display()
        ),
        "it lists bindings an interrupted apply had yet to re-create: fix it, or re-create \
         them by hand and remove it",
    )
    .into()
}

/// Write `bindings` beside `file` (replacing what was there), or remove the file when
/// there are none. Written to a temporary file and renamed, so a crash leaves the old one.
pub fn write(file: &Path, bindings: &[BindingKey]) -> anyhow::Result<PathBuf> {
    let path = path_for(file);
    if crate::source::is_stdin(file) {
        return Err(anyhow::anyhow!(
            "the topology came from standard input: there is no place beside it to keep them"
        ));
    }
    if bindings.is_empty() {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path),
            Err(e) => Err(anyhow::anyhow!("cannot remove {}: {e}", path.display())),
        };
    }
    let doc = PendingFile {
        about: format!(
            "bindings an interrupted `topo apply` had yet to re-create on replaced queues or \
             exchanges; `topo apply {}` re-creates them and removes this file",
            file.display()
        ),
        pending_bindings_format: FORMAT,
        bindings: bindings
            .iter()
            .map(|b| Pending {
                vhost: b.vhost.clone(),
                source: b.source.clone(),
                destination: b.destination.clone(),
                destination_type: b.destination_type.as_str().to_string(),
                routing_key: b.routing_key.clone(),
                arguments: b
                    .arguments
                    .map()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
            .collect(),
    };
    let text = serde_yaml_ng::to_string(&doc)
        .map_err(|e| anyhow::anyhow!("cannot write the pending bindings: {e}"))?;
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Settle the pending bindings of the run that covered `vhosts`: the file keeps what it
/// holds for other vhosts (a run with `--vhost` elsewhere must not lose the original
/// vhost's entries), and `bindings` (what this run left) replace the rest; it goes when
/// nothing is left.
/// Returns the file's path and how many entries it still holds for other vhosts.
pub fn settle(
    file: &Path,
    vhosts: &BTreeSet<String>,
    bindings: &[BindingKey],
) -> anyhow::Result<(PathBuf, usize)> {
    let elsewhere: Vec<BindingKey> = read(file)?
        .into_iter()
        .filter(|b| !vhosts.contains(&b.vhost))
        .collect();
    let others = elsewhere.len();
    let mut all: Vec<BindingKey> = elsewhere
        .into_iter()
        .chain(bindings.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    Ok((write(file, &all)?, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_bindings_read_back_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("topo.yaml");
        let b = vec![
            BindingKey {
                vhost: "v".into(),
                source: "hub".into(),
                destination_type: DestinationType::Queue,
                destination: "q".into(),
                routing_key: "a.#".into(),
                arguments: BindingArgs::default(),
            },
            BindingKey {
                vhost: "/".into(),
                source: "h".into(),
                destination_type: DestinationType::Exchange,
                destination: "x".into(),
                routing_key: String::new(),
                arguments: BindingArgs::new(&serde_json::Map::from_iter([
                    ("x-match".to_string(), serde_json::json!("all")),
                    ("a".to_string(), serde_json::json!(1)),
                ])),
            },
        ];
        assert!(read(&file).expect("none").is_empty());
        let path = write(&file, &b).expect("write");
        assert!(path.ends_with("topo.yaml.pending-bindings.yaml"));
        assert_eq!(read(&file).expect("read"), b);
        write(&file, &[]).expect("remove");
        assert!(!path.exists());
        std::fs::write(&path, "bindings: [1]\n").expect("write");
        let err = format!("{:#}", read(&file).unwrap_err());
        assert!(err.contains("pending-bindings.yaml"), "{err}");
    }

    fn key(vhost: &str, routing_key: &str) -> BindingKey {
        BindingKey {
            vhost: vhost.into(),
            source: "hub".into(),
            destination_type: DestinationType::Queue,
            destination: "q".into(),
            routing_key: routing_key.into(),
            arguments: BindingArgs::default(),
        }
    }

    /// A run over vhost `b` (say `--vhost b`) rewrites and clears its own entries only.
    #[test]
    fn settling_one_run_keeps_other_vhosts_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("topo.yaml");
        write(&file, &[key("a", "1"), key("b", "2")]).expect("write");
        let run = BTreeSet::from(["b".to_string()]);

        // A stopped run: its own entries are replaced by what it left; `a`'s stay.
        let (_, others) = settle(&file, &run, &[key("b", "3")]).expect("settle");
        assert_eq!(others, 1);
        assert_eq!(
            read(&file).expect("read"),
            vec![key("a", "1"), key("b", "3")]
        );

        // A run that succeeded: its entries go, `a`'s stay, so the file does too.
        let (path, others) = settle(&file, &run, &[]).expect("settle");
        assert_eq!(others, 1);
        assert_eq!(read(&file).expect("read"), vec![key("a", "1")]);

        // The run over `a` clears the rest, and the file goes.
        let run = BTreeSet::from(["a".to_string()]);
        assert_eq!(settle(&file, &run, &[]).expect("settle").1, 0);
        assert!(!path.exists());
    }
}
