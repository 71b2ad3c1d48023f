//! `topo validate`: the JSON Schema layer ([`schema`]) and the semantic rules ([`rules`]),
//! and the loading pipeline that runs them after [`crate::topology::read`], before every
//! command.

pub mod azure_names;
pub mod links;
pub mod message_schema;
pub mod rules;
pub mod schema;
pub mod service_users;

use std::path::Path;

use crate::diag::{Code, Diagnostic};
use crate::topology::{self, Disk, EnvSource, FileSource, Loaded, Topology};

/// Load and check a topology file from disk with the process environment.
pub fn load(path: &Path) -> Loaded {
    load_with(path, &Disk, &EnvSource::Process)
}

/// Load and check a topology through any file source and environment.
pub fn load_with(path: &Path, files: &dyn FileSource, env: &EnvSource) -> Loaded {
    load_with_hook(path, files, env, &mut |_| {})
}

/// [`load_with`], handing the parsed tree (extends merged, interpolated) to `parsed`
/// before it is checked: a broker command starts reading the broker there, while the
/// checks run (they are half of the loading time of a large file).
pub fn load_with_hook(
    path: &Path,
    files: &dyn FileSource,
    env: &EnvSource,
    parsed: &mut dyn FnMut(&crate::source::node::Node),
) -> Loaded {
    schema::prepare();
    let t = std::time::Instant::now();
    let mut loaded = topology::read(path, files, env);
    crate::trace::done(t, || "  parsing the file".into());
    let Some(tree) = &loaded.tree else {
        return loaded;
    };
    parsed(tree);
    // A value that could not be interpolated still holds its `${...}` text: what the
    // schema and the rules would say about that text is a knock-on, not news.
    let failed: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::Interpolation)
        .filter_map(|d| d.path.clone())
        .collect();
    let knock_on = |d: &Diagnostic| {
        d.path.as_deref().is_some_and(|p| {
            failed.iter().any(|f| {
                p == f
                    || p.strip_prefix(f.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
        })
    };

    let t = std::time::Instant::now();
    let value = tree.to_json();
    let mut schema_diags = schema::check(tree, &value);
    crate::trace::done(t, || "  the schema check".into());
    schema_diags.retain(|d| !knock_on(d));
    let schema_ok = schema_diags.is_empty();
    loaded.diagnostics.extend(schema_diags);
    if schema_ok {
        // By value: strings move out of the JSON tree instead of being copied.
        let t = std::time::Instant::now();
        match serde_json::from_value::<Topology>(value) {
            Ok(topology) => {
                crate::trace::done(t, || "  the file's model".into());
                let t = std::time::Instant::now();
                let mut rules = rules::check(&topology, tree, &loaded.sources);
                rules.retain(|d| !knock_on(d));
                loaded.diagnostics.extend(rules);
                // Reads files, so through the same source as the topology (a git revision
                // for `topo diff --git`).
                let schemas = message_schema::check(&topology, tree, &loaded.sources, files);
                loaded.diagnostics.extend(schemas);
                crate::trace::done(t, || "  the rules".into());
                loaded.topology = Some(topology);
            }
            // The text of an uninterpolated value does not fit its field: already reported.
            Err(_) if !failed.is_empty() => {}
            Err(e) => loaded.diagnostics.push(
                Diagnostic::error(
                    Code::SchemaType,
                    format!("the file does not fit the topology format: {e}"),
                )
                .at(tree.span),
            ),
        }
    }
    hide_password_lines(&mut loaded);
    loaded
}

/// Marks sensitive every diagnostic whose snippet would show a line holding a URL with a
/// literal password (a shovel's or upstream's `uri`, which TOPO025 refuses, or a URL the
/// schema stage reports on before the rules run): it then shows where, never the line.
fn hide_password_lines(loaded: &mut Loaded) {
    let sources = &loaded.sources;
    let shows_password = |span: crate::source::Span| {
        sources.get(span.file).is_some_and(|f| {
            let (a, b) = (f.byte_offset(span.start), f.byte_offset(span.end));
            let start = f.text[..a].rfind('\n').map_or(0, |p| p + 1);
            let end = f.text[b..].find('\n').map_or(f.text.len(), |p| b + p);
            f.text[start..end]
                .split(|c: char| c.is_whitespace() || "\"'{}[],".contains(c))
                .filter(|w| w.contains("://") && !w.contains("${"))
                .any(|w| {
                    // A URI that does not parse (a bad port, say) can still carry a password.
                    rules::has_userinfo_password(w)
                        || (url::Url::parse(w).is_err() && crate::state::links::shown_uri(w) != w)
                })
        })
    };
    for d in &mut loaded.diagnostics {
        let spans = d.span.into_iter().chain(d.labels.iter().map(|(s, _)| *s));
        if spans.into_iter().any(&shows_password) {
            d.sensitive = true;
        }
    }
}
