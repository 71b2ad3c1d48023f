//! The topology model and reading it: read, parse with positions, resolve `extends`,
//! interpolate. Checking against the JSON Schema, deserializing and the semantic rules
//! follow in [`crate::validate::load`].
//!
//! Every stage collects all its problems before the pipeline stops, so a broken file is
//! reported whole. Later commands only ever see a [`Valid`] topology.

pub mod identity;
pub mod interpolate;
pub mod merge;
pub mod message_schema;
pub mod model;
pub mod names;
pub mod plugins;
pub mod retarget;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic};
use crate::source::node::{Node, NodeKind};
use crate::source::{Sources, Span};
use interpolate::Vars;
pub use model::Topology;

/// Largest topology file read. A generated 10,000-queue file is about 2 MiB.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Longest `extends` chain.
pub const MAX_EXTENDS_DEPTH: usize = 16;

/// How files are read: from disk, or (for `topo diff --git`) from a git revision.
///
/// Sources hand back bytes (at most [`MAX_FILE_BYTES`]); the loader decodes them, so a
/// file that is not UTF-8 is reported at its first bad byte whatever it was read from.
pub trait FileSource {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
}

/// Files on disk, with a size limit checked before reading; `-` is standard input.
pub struct Disk;

impl FileSource for Disk {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if crate::source::is_stdin(path) {
            return crate::source::read_stdin(MAX_FILE_BYTES);
        }
        let meta = std::fs::metadata(path)?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(std::io::Error::other(format!(
                "the file is {} MiB; topo reads topology files up to {} MiB",
                meta.len() / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024)
            )));
        }
        std::fs::read(path)
    }
}

/// Where variables come from when loading.
#[derive(Debug, Clone, Default)]
pub enum EnvSource {
    /// The process environment (over the `.env` file beside the entry file).
    #[default]
    Process,
    /// A fixed set (tests), still over the `.env` file.
    Fixed(HashMap<String, String>),
    /// The process environment, but service `env` values keep their source text: `topo
    /// diff` compares what the file says, so a review never prints a deploy-time secret
    /// and a `${VAR}` without default does not fail where the variable is not set.
    ProcessKeepingServiceEnv,
}

/// The result of loading: always the sources (for rendering diagnostics), the topology
/// when it could be built, and every diagnostic found.
pub struct Loaded {
    pub sources: Sources,
    pub entry: PathBuf,
    pub tree: Option<Node>,
    pub topology: Option<Topology>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A topology that passed every check.
pub struct Valid {
    pub sources: Sources,
    pub entry: PathBuf,
    pub tree: Node,
    pub topology: Topology,
    /// Warnings (never errors).
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The valid topology, or `self` back when any error was found.
    pub fn into_valid(self) -> Result<Valid, Box<Loaded>> {
        if self.has_errors() {
            return Err(Box::new(self));
        }
        match (self.tree, self.topology) {
            (Some(tree), Some(topology)) => Ok(Valid {
                sources: self.sources,
                entry: self.entry,
                tree,
                topology,
                diagnostics: self.diagnostics,
            }),
            (tree, topology) => Err(Box::new(Loaded {
                tree,
                topology,
                ..self
            })),
        }
    }
}

/// Read a topology through any file source: parse with positions, resolve `extends`,
/// read the `.env` beside it and interpolate. The result has a tree but no topology yet:
/// checking the tree and building the model is [`crate::validate::load_with`]'s job.
pub fn read(path: &Path, files: &dyn FileSource, env: &EnvSource) -> Loaded {
    let mut loaded = Loaded {
        sources: Sources::default(),
        entry: path.to_path_buf(),
        tree: None,
        topology: None,
        diagnostics: Vec::new(),
    };
    let mut chain = Vec::new();
    let Some(mut tree) = load_tree(path, None, files, &mut loaded, &mut chain) else {
        return loaded;
    };

    let dotenv = read_dotenv(path, files, &mut loaded);
    let vars = match env {
        EnvSource::Process => Vars::from_process(dotenv),
        EnvSource::ProcessKeepingServiceEnv => Vars::from_process(dotenv).keeping_service_env(),
        EnvSource::Fixed(map) => Vars::new(map.clone(), dotenv),
    };
    let mut path_buf = String::new();
    interpolate::interpolate_tree(
        &mut tree,
        &vars,
        &loaded.sources,
        &mut path_buf,
        &mut loaded.diagnostics,
    );
    loaded.tree = Some(tree);
    loaded
}

/// Read and parse one file and, recursively, the files it extends; merged.
fn load_tree(
    path: &Path,
    from: Option<Span>,
    files: &dyn FileSource,
    loaded: &mut Loaded,
    chain: &mut Vec<PathBuf>,
) -> Option<Node> {
    let bytes = match files.read(path) {
        Ok(b) => b,
        Err(e) => {
            let (code, what) = if from.is_some() {
                (Code::Extends, "base topology")
            } else {
                (Code::File, "topology file")
            };
            let d = Diagnostic::error(
                code,
                format!(
                    "cannot read {what} `{}`: {e}",
                    crate::source::display_path(path)
                ),
            );
            loaded.diagnostics.push(match from {
                Some(span) => d
                    .at(span)
                    .hint("`extends` is a path relative to the file that names it"),
                None => d.hint("pass the path of a topology file, or set TOPO_FILE"),
            });
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // Lossy decoding keeps every byte before the first invalid one in place.
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let file = loaded.sources.add(path, lossy);
            loaded.diagnostics.push(
                Diagnostic::error(
                    if from.is_some() {
                        Code::Extends
                    } else {
                        Code::File
                    },
                    format!(
                        "`{}` is not UTF-8 text (invalid byte at offset {at})",
                        crate::source::display_path(path)
                    ),
                )
                .at(Span::new(file, at, at + 1))
                .hint("save the file as UTF-8"),
            );
            return None;
        }
    };
    let file = loaded.sources.add(path, text);
    let text = loaded
        .sources
        .get(file)
        .map(|f| f.text.as_str())
        .unwrap_or_default();
    let tree = match crate::source::parse(text, file) {
        Ok(t) => t,
        Err(d) => {
            loaded.diagnostics.push(d);
            return None;
        }
    };
    if matches!(tree.kind, NodeKind::Null) && is_blank_yaml(text) {
        // Said plainly: "expected a mapping, found nothing" reads as a parser bug when the
        // file is simply empty (a redirect that failed, a wrong path in CI).
        loaded.diagnostics.push(
            Diagnostic::error(
                if from.is_some() {
                    Code::Extends
                } else {
                    Code::File
                },
                format!(
                    "`{}` is empty{}",
                    crate::source::display_path(path),
                    if text.trim().is_empty() {
                        ""
                    } else {
                        " (only comments)"
                    }
                ),
            )
            .at(Span::new(file, 0, 0))
            .hint(
                "a topology starts with `version: 1`; `topo init` writes an example to start from",
            ),
        );
        return None;
    }

    let Some(extends) = tree.get("extends") else {
        return Some(tree);
    };
    let Some(rel) = extends.as_str() else {
        // Not a string: the schema check reports it with its position.
        return Some(tree);
    };
    let base_path = path.parent().unwrap_or(Path::new(".")).join(rel);
    let canonical = std::fs::canonicalize(&base_path).unwrap_or_else(|_| base_path.clone());
    chain.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    if chain.contains(&canonical) {
        loaded.diagnostics.push(
            Diagnostic::error(
                Code::Extends,
                format!("`extends` cycle: `{rel}` extends this file again"),
            )
            .at(extends.span)
            .hint("remove `extends` from one of the files in the cycle"),
        );
        return None;
    }
    if chain.len() >= MAX_EXTENDS_DEPTH {
        loaded.diagnostics.push(
            Diagnostic::error(
                Code::Extends,
                format!("`extends` chain longer than {MAX_EXTENDS_DEPTH} files"),
            )
            .at(extends.span),
        );
        return None;
    }
    let span = extends.span;
    let base = load_tree(&base_path, Some(span), files, loaded, chain)?;
    chain.pop();
    Some(merge::merge_documents(base, tree))
}

/// Variables of the `.env` file beside the entry file, if there is one.
fn read_dotenv(
    entry: &Path,
    files: &dyn FileSource,
    loaded: &mut Loaded,
) -> HashMap<String, String> {
    let path = entry.parent().unwrap_or(Path::new(".")).join(".env");
    let Ok(text) = files
        .read(&path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
    else {
        return HashMap::new();
    };
    let mut vars = HashMap::new();
    let file = loaded.sources.add(&path, text.clone());
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((k, v)) => {
                vars.insert(k, v);
            }
            Err(e) => {
                // dotenvy's message quotes the whole line, value included: say where and
                // why, never what.
                let mut d = match &e {
                    dotenvy::Error::LineParse(line, index) => {
                        let pos = text.find(line.trim_end());
                        let line_no = pos.map(|p| text[..p].matches('\n').count() + 1);
                        let col = line[..(*index).min(line.len())].chars().count() + 1;
                        let which = match line_no {
                            Some(n) => format!("line {n}"),
                            None => "a line".to_string(),
                        };
                        let mut d = Diagnostic::error(
                            Code::Dotenv,
                            format!(
                                "cannot parse {which} of `.env` at column {col}"
                            ),
                        );
                        if let Some(pos) = pos {
                            let at = pos + (*index).min(line.len());
                            d = d.at(Span::new(file, at, at + 1));
                        }
                        d
                    }
                    dotenvy::Error::Io(io) => Diagnostic::error(
                        Code::Dotenv,
                        format!("cannot read `.env`: {}", io.kind()),
                    ),
                    _ => Diagnostic::error(Code::Dotenv, "cannot read `.env`"),
                }
                .hint("each line of .env is `NAME=value`; quote a value with spaces, `#` or quotes in it (`NAME='a value'`)");
                d.sensitive = true;
                loaded.diagnostics.push(d);
                break;
            }
        }
    }
    vars
}

/// Whether a YAML text holds nothing but blank lines, comments and document markers.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}
