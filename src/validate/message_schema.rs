//! TOPO032: every `message_schema` names a readable JSON file that is a JSON Schema.
//!
//! `topo render asyncapi` embeds these files as message payloads; checking them at
//! validate time means a typo in a path or a broken schema shows up in review, located at
//! the `message_schema` value, rather than as a document the AsyncAPI tools reject.

use crate::diag::{Code, Diagnostic};
use crate::source::Sources;
use crate::source::node::Node;
use crate::topology::FileSource;
use crate::topology::message_schema::{self, ReadError};
use crate::topology::model::Topology;

/// Every problem with the topology's `message_schema` files.
/// Files are read through `files`, as the topology was.
pub fn check(
    topo: &Topology,
    tree: &Node,
    sources: &Sources,
    files: &dyn FileSource,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for file in message_schema::locate(topo, tree, sources) {
        let shown = crate::source::display_path(&file.path);
        let problem = match message_schema::read(files, &file.path) {
            Err(e @ ReadError::Io(_)) => Some((
                format!("message schema `{}` ({shown}): {e}", file.written),
                "the path is relative to the topology file that names it".to_string(),
            )),
            Err(e @ ReadError::TooLarge(_)) => Some((
                format!("message schema `{}` ({shown}): {e}", file.written),
                "point message_schema at a JSON Schema file".to_string(),
            )),
            Err(ReadError::Json(e)) => Some((
                format!(
                    "message schema `{}` ({shown}) is not JSON: {e}",
                    file.written
                ),
                "write the schema as JSON (YAML schemas are not read)".to_string(),
            )),
            Ok(schema) => schema_problem(&schema).map(|why| {
                (
                    format!(
                        "message schema `{}` ({shown}) is not a usable JSON Schema: {why}",
                        file.written
                    ),
                    "fix the schema file; `$ref`s must point inside it (`#/$defs/...`), since the AsyncAPI document embeds it".to_string(),
                )
            }),
        };
        if let Some((message, hint)) = problem {
            out.push(
                Diagnostic::error(Code::MessageSchema, message)
                    .at(file.span)
                    .path(file.pointer)
                    .hint(hint),
            );
        }
    }
    out
}

/// Why a parsed JSON value is not a schema topo can embed, if it is not.
fn schema_problem(schema: &serde_json::Value) -> Option<String> {
    if !(schema.is_object() || schema.is_boolean()) {
        return Some("a JSON Schema is an object (or `true` / `false`)".into());
    }
    if let Some(r) = message_schema::external_refs(schema).first() {
        return Some(format!("`$ref` `{r}` points outside the file"));
    }
    // Compiling checks the schema against its draft's meta-schema (by `$schema`, else
    // 2020-12) and that its references resolve.
    match jsonschema::validator_for(schema) {
        Ok(_) => None,
        Err(e) => {
            let at = e.instance_path().to_string();
            Some(if at.is_empty() {
                e.to_string()
            } else {
                format!("at `{at}`: {e}")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_topo_can_embed() {
        assert_eq!(schema_problem(&json!({"type": "object"})), None);
        assert_eq!(schema_problem(&json!(true)), None);
        assert_eq!(
            schema_problem(&json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "definitions": {"t": {"type": "string"}},
                "properties": {"a": {"$ref": "#/definitions/t"}}
            })),
            None
        );
        let bad_type = schema_problem(&json!({"type": "strin"})).expect("bad type");
        assert!(bad_type.contains("/type"), "{bad_type}");
        assert!(schema_problem(&json!([1])).is_some());
        assert!(schema_problem(&json!({"$ref": "other.json"})).is_some());
    }
}
