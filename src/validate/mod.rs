//! `topo validate`: the JSON Schema layer ([`schema`]) and the semantic rules ([`rules`]),
//! and the loading pipeline that runs them after [`crate::topology::read`], before every
//! command.

pub mod azure_names;
pub mod rules;
pub mod schema;

use std::path::Path;

use crate::diag::{Diagnostic, codes};
use crate::topology::{self, Disk, EnvSource, FileSource, Loaded, Topology};

/// Load and check a topology file from disk with the process environment.
pub fn load(path: &Path) -> Loaded {
    load_with(path, &Disk, &EnvSource::Process)
}

/// Load and check a topology through any file source and environment.
pub fn load_with(path: &Path, files: &dyn FileSource, env: &EnvSource) -> Loaded {
    let mut loaded = topology::read(path, files, env);
    let Some(tree) = &loaded.tree else {
        return loaded;
    };
    let value = tree.to_json();
    let schema_diags = schema::check(tree, &value);
    let schema_ok = schema_diags.is_empty();
    loaded.diagnostics.extend(schema_diags);
    if schema_ok {
        // By value: strings move out of the JSON tree instead of being copied.
        match serde_json::from_value::<Topology>(value) {
            Ok(topology) => {
                loaded
                    .diagnostics
                    .extend(rules::check(&topology, tree, &loaded.sources));
                loaded.topology = Some(topology);
            }
            Err(e) => loaded.diagnostics.push(
                Diagnostic::error(
                    codes::SCHEMA_TYPE,
                    format!("the file does not fit the topology format: {e}"),
                )
                .at(tree.span),
            ),
        }
    }
    loaded
}
