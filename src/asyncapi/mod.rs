//! `topo render asyncapi`: the topology as an AsyncAPI 3.0 document (docs/asyncapi.md).
//!
//! Built in code from the typed topology ([`build`]) into serde types ([`doc`]) rather
//! than from a template: the document is structured data that documentation and
//! code generators parse, so every name must land as a value, never as syntax.

pub mod build;
pub mod doc;

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::source::Sources;
use crate::source::node::Node;
use crate::topology::message_schema;
use crate::topology::model::Topology;
pub use build::{BuildError, LoadedSchema, Options};
pub use doc::Document;

/// How the document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Yaml,
    Json,
}

/// Read the topology's `message_schema` files (already checked by validation, so a
/// failure here means the file changed in between).
pub fn read_schemas(
    topo: &Topology,
    tree: &Node,
    sources: &Sources,
) -> anyhow::Result<BTreeMap<message_schema::Owner, LoadedSchema>> {
    let mut out = BTreeMap::new();
    for f in message_schema::locate(topo, tree, sources) {
        let schema = message_schema::read(&crate::topology::Disk, &f.path).with_context(|| {
            format!(
                "message schema `{}` ({})",
                f.written,
                crate::source::display_path(&f.path)
            )
        })?;
        out.insert(
            f.owner,
            LoadedSchema {
                path: f.path,
                schema,
            },
        );
    }
    Ok(out)
}

/// The document as text.
pub fn to_text(doc: &Document, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Yaml => {
            serde_yaml_ng::to_string(doc).context("cannot write the AsyncAPI document as YAML")?
        }
        Format::Json => {
            let mut s = serde_json::to_string_pretty(doc)
                .context("cannot write the AsyncAPI document as JSON")?;
            s.push('\n');
            s
        }
    })
}
