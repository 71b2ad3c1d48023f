//! `message_schema` files of queues and transports: where they are and how they are read.
//!
//! A path is relative to the file that writes it (as `extends` is), so an overlay in
//! another directory can name its own schemas and still inherit its base's. Validation
//! (`topo validate`) and `topo render asyncapi` both go through here, so they cannot
//! disagree on which file a `message_schema` means.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::source::node::Node;
use crate::source::{Sources, Span};
use crate::topology::FileSource;
use crate::topology::model::Topology;

/// Largest message schema read. Schemas are small; this only stops a wrong path (a log, a
/// disk image) from being slurped.
pub const MAX_SCHEMA_BYTES: u64 = 8 * 1024 * 1024;

/// What a `message_schema` belongs to: the index of a queue or a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    Queue(usize),
    Transport(usize),
}

/// One `message_schema` of the topology.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    pub owner: Owner,
    /// JSON pointer of the value, e.g. `/transports/2/message_schema`.
    pub pointer: String,
    /// Where the value is written.
    pub span: Span,
    /// The path as written.
    pub written: String,
    /// The path resolved against the directory of the file that writes it.
    pub path: PathBuf,
}

/// Why a schema file could not be read as JSON.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("it is {0} bytes; topo reads message schemas up to {MAX_SCHEMA_BYTES} bytes")]
    TooLarge(u64),
    #[error("it is not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Every `message_schema` of queues, then of transports, in file order.
pub fn locate(topo: &Topology, tree: &Node, sources: &Sources) -> Vec<SchemaFile> {
    let queues = topo.queues.iter().enumerate().filter_map(|(i, q)| {
        let written = q.message_schema.as_deref()?;
        Some((
            Owner::Queue(i),
            format!("/queues/{i}/message_schema"),
            written,
        ))
    });
    let transports = topo.transports.iter().enumerate().filter_map(|(i, t)| {
        let written = t.message_schema.as_deref()?;
        Some((
            Owner::Transport(i),
            format!("/transports/{i}/message_schema"),
            written,
        ))
    });
    queues
        .chain(transports)
        .map(|(owner, pointer, written)| {
            let span = tree.locate(&pointer);
            let dir = sources
                .get(span.file)
                .and_then(|f| f.path.parent())
                .unwrap_or(Path::new("."));
            SchemaFile {
                owner,
                path: dir.join(written),
                pointer,
                span,
                written: written.to_string(),
            }
        })
        .collect()
}

/// Read a schema file through `files` (the disk, or a git revision for `topo diff --git`,
/// so a schema is read from the same place as the topology that names it) and parse it.
pub fn read(files: &dyn FileSource, path: &Path) -> Result<Value, ReadError> {
    let bytes = files.read(path)?;
    if bytes.len() as u64 > MAX_SCHEMA_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// The `$ref` values of a schema that point outside it (anything but `#...`): the
/// AsyncAPI document embeds the schema, so such a reference would dangle there.
pub fn external_refs(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if k == "$ref"
                        && let Value::String(r) = child
                        && !r.starts_with('#')
                    {
                        out.push(r.clone());
                    }
                    stack.push(child);
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn external_refs_are_found_at_any_depth_and_local_ones_ignored() {
        let s = json!({
            "$ref": "#/$defs/a",
            "$defs": {"a": {"items": [{"$ref": "common.json#/x"}], "b": {"$ref": "#"}}},
            "properties": {"p": {"$ref": "https://example.com/s.json"}}
        });
        assert_eq!(
            external_refs(&s),
            vec![
                "common.json#/x".to_string(),
                "https://example.com/s.json".to_string()
            ]
        );
        assert!(external_refs(&json!({"properties": {"$ref": {"type": "string"}}})).is_empty());
    }
}
