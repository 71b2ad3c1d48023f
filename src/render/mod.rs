//! `topo render`: deploy files from minijinja templates.
//!
//! Templates are embedded in the binary and can be overridden or extended with a
//! directory (`--templates DIR`): `NAME.EXT.j2` there replaces the built-in template of
//! target `NAME`, or adds target `NAME`. Every `{{ value }}` is escaped for the file
//! being written ([`escape`]), so templates cannot forget to quote; the context
//! ([`context`]) is built in a fixed order, so the same topology and environment always
//! render the same bytes.

pub mod azure_spec;
pub mod context;
pub mod escape;
pub mod references;
pub mod value;

use std::path::Path;

use anyhow::{Context as _, bail};
use minijinja::{Environment, UndefinedBehavior};

use crate::error::Hinted;
use crate::source::Sources;
use crate::source::node::{Node, NodeKind};
use crate::topology::model::Topology;
use context::Naming;

/// The built-in templates: (template name, source).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "compose.yaml.j2",
        include_str!("../../templates/compose.yaml.j2"),
    ),
    ("azure.sh.j2", include_str!("../../templates/azure.sh.j2")),
    (
        "env-example.env.j2",
        include_str!("../../templates/env-example.env.j2"),
    ),
];

/// A set of templates: the built-in ones, overlaid by a user's directory.
pub struct Templates {
    /// (name, source), sorted by name; a user's template replaces a built-in one.
    entries: Vec<(String, String)>,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Templates {
        let mut entries: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        entries.sort();
        Templates { entries }
    }

    /// The built-in templates overlaid by every `*.j2` file directly in `dir`.
    pub fn with_dir(dir: &Path) -> anyhow::Result<Templates> {
        let mut t = Templates::builtin();
        let read = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read templates directory `{}`", dir.display()))?;
        let mut names = Vec::new();
        for entry in read {
            let entry = entry
                .with_context(|| format!("cannot read templates directory `{}`", dir.display()))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.ends_with(".j2") && entry.path().is_file() {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read template `{}`", path.display()))?;
            t.entries.retain(|(n, _)| *n != name);
            t.entries.push((name, source));
        }
        t.entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(t)
    }

    /// The targets these templates offer, sorted.
    pub fn targets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter_map(|(n, _)| target_of(n).map(str::to_string))
            .collect();
        out.dedup();
        out
    }

    /// The template that renders `target`: exactly one `TARGET.*.j2`.
    pub fn template_for(&self, target: &str) -> anyhow::Result<&str> {
        let matching: Vec<&str> = self
            .entries
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| target_of(n) == Some(target))
            .collect();
        match matching.as_slice() {
            [one] => Ok(one),
            [] => Err(Hinted::new(
                format!("no template for render target `{target}`"),
                format!(
                    "targets: {}; add `{target}.EXT.j2` to a --templates directory for a new one",
                    self.targets().join(", ")
                ),
            )
            .into()),
            many => Err(Hinted::new(
                format!(
                    "several templates for render target `{target}`: {}",
                    many.join(", ")
                ),
                "keep one `TARGET.EXT.j2` per target in the templates directory",
            )
            .into()),
        }
    }
}

/// `compose.yaml.j2` -> `compose`: the part before the first `.` of a `NAME.EXT.j2` file.
fn target_of(template: &str) -> Option<&str> {
    let base = template.strip_suffix(".j2")?;
    let (target, ext) = base.split_once('.')?;
    (!target.is_empty() && !ext.is_empty()).then_some(target)
}

/// The minijinja environment for a set of templates.
fn environment(templates: &Templates) -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .context("template syntax")?,
    );
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(escape::for_template);
    env.set_formatter(escape::formatter);
    env.add_filter("compose_required", escape::compose_required);
    env.add_filter("shell_ref", escape::shell_ref);
    env.add_filter("shell_single", escape::shell_single);
    env.add_filter("env_prefix", |s: &str| context::env_prefix(s));
    // Loaded on demand: a broken template in the directory only fails the targets that
    // use it.
    let sources: std::collections::BTreeMap<String, String> =
        templates.entries.iter().cloned().collect();
    env.set_loader(move |name| Ok(sources.get(name).cloned()));
    Ok(env)
}

/// Render `target` for a topology. `tree` is the resolved topology as JSON (what the apply
/// step applies); `file` is the topology file as the user named it (for headers).
pub fn render(
    templates: &Templates,
    target: &str,
    topo: &Topology,
    tree: &serde_json::Value,
    raw_env: &context::RawEnv,
    file: &str,
) -> anyhow::Result<String> {
    let name = templates.template_for(target)?.to_string();
    if target == "azure"
        && let Some(n) = crate::topology::names::cluster_size(topo)
    {
        return Err(azure_cluster_refused(n).into());
    }
    let naming = if target == "azure" {
        Naming::Azure
    } else {
        Naming::Compose
    };
    let ctx = context::build(topo, tree, raw_env, target, file, naming)?;
    let env = environment(templates)?;
    let tmpl = env
        .get_template(&name)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("template `{name}` does not parse"))?;
    let ctx = serde_json::to_value(&ctx).context("cannot build the template context")?;
    match tmpl.render(value::from_json(&ctx)) {
        Ok(text) => Ok(text),
        Err(e) => bail!("cannot render template `{name}`: {e}"),
    }
}

/// Why `topo render azure` does not render `broker.nodes` above 1. Replicas of one Container
/// App do not form a RabbitMQ cluster: each replica gets a changing hostname and its own
/// Erlang node, nothing joins them, and the broker's storage (one Azure Files share) cannot
/// hold several nodes' data. Rendering a single broker instead would deploy something other
/// than the file asks for, with no sign of it in a pipeline but a line on stderr: a file
/// that asks for a cluster gets a refusal that says what to do, as a Terraform provider
/// refuses an argument it cannot honour.
fn azure_cluster_refused(n: u32) -> Hinted {
    Hinted::new(
        format!(
            "broker.nodes is {n}, and `topo render azure` cannot deploy a RabbitMQ cluster: replicas of one Container App do not form a cluster"
        ),
        "run the cluster outside Container Apps (a managed RabbitMQ, or VMs or AKS with the RabbitMQ Cluster Operator) and apply to it with `topo apply --amqp-url URL1,URL2,URL3`; or render this target from a file that `extends` this one with `broker: {nodes: 1}` to deploy a single broker (see docs/render.md)",
    )
}

/// The source text of every service env value written with a `${...}` reference (before
/// the loader interpolated it), so renders can keep the reference instead of writing the
/// value it had on the machine that rendered.
pub fn raw_env(tree: &Node, sources: &Sources) -> context::RawEnv {
    let mut out = context::RawEnv::new();
    let Some(NodeKind::Seq(services)) = tree.get("services").map(|n| &n.kind) else {
        return out;
    };
    for (i, service) in services.iter().enumerate() {
        let Some(NodeKind::Map(entries)) = service.get("env").map(|n| &n.kind) else {
            continue;
        };
        for e in entries {
            let Some(file) = sources.get(e.value.span.file) else {
                continue;
            };
            let text = file.slice(e.value.span);
            if !text.contains("${") {
                continue;
            }
            // The scalar as written (quoted, plain or block), decoded but not interpolated.
            if let Ok(node) = crate::source::yaml::parse(text, e.value.span.file)
                && let Some(raw) = node.as_str()
            {
                out.insert((i, e.key.clone()), raw.to_string());
            }
        }
    }
    out
}

/// What a render changes or leaves out of the topology, for stderr: things a user should
/// not learn about from the deployed system.
pub fn notes(topo: &Topology, target: &str) -> Vec<String> {
    let mut out = Vec::new();
    if target == "azure" {
        let consumers: std::collections::BTreeSet<&str> = topo
            .transports
            .iter()
            .filter(|t| t.kind == crate::topology::model::TransportKind::Rmq)
            .map(|t| t.to.as_str())
            .collect();
        for s in &topo.services {
            let min = s.replicas.as_ref().and_then(|r| r.min);
            if min == Some(0) && consumers.contains(s.name.as_str()) {
                out.push(format!(
                    "service `{}` consumes a queue: min replicas raised from 0 to 1 so messages are taken",
                    s.name
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_of_templates() {
        assert_eq!(target_of("compose.yaml.j2"), Some("compose"));
        assert_eq!(target_of("env-example.env.j2"), Some("env-example"));
        assert_eq!(target_of("x.j2"), None);
        assert_eq!(target_of(".env.j2"), None);
        assert_eq!(
            Templates::builtin().targets(),
            vec!["azure", "compose", "env-example"]
        );
    }
}
