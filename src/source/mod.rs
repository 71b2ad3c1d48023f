//! Source files and positions.
//!
//! Every value topo reads keeps the file and the character range it came from, so that a
//! diagnostic about `bindings[3].destination` points at that value even after `extends`
//! merged two files and `${VAR}` interpolation rewrote it.

pub mod diag;
pub mod json;
pub mod libyaml;
pub mod node;
pub mod yaml;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file name that stands for standard input wherever topo takes a file (`topo plan -`),
/// as `docker compose -f -` and `kubectl apply -f -` read it. Relative paths in it
/// (`extends`, message schemas) and its `.env` resolve against the current directory.
pub const STDIN: &str = "-";
/// How standard input is named in diagnostics and headers.
pub const STDIN_NAME: &str = "<stdin>";

/// A document's located tree: by [`json`] when the text is plain JSON (the same tree,
/// faster), else by [`yaml`].
pub fn parse(text: &str, file: FileId) -> Result<node::Node, crate::diag::Diagnostic> {
    json::parse(text, file).map_or_else(|| yaml::parse(text, file), Ok)
}

/// Whether `path` is [`STDIN`].
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// Standard input, read to its end once and kept: `topo apply -` looks at its input for a
/// saved plan before loading it as a topology, and both reads must see the same bytes.
/// At most `limit` bytes; a terminal is refused rather than waited on (nobody may be about
/// to type a topology, and a command must not hang).
pub fn read_stdin(limit: u64) -> std::io::Result<Vec<u8>> {
    static READ: OnceLock<Result<Vec<u8>, (std::io::ErrorKind, String)>> = OnceLock::new();
    let read = READ.get_or_init(|| {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err((
                std::io::ErrorKind::InvalidInput,
                "`-` reads the file from standard input, which is a terminal: pipe the file in \
                 (`topo validate - < topo.yaml`)"
                    .into(),
            ));
        }
        let mut bytes = Vec::new();
        stdin
            .lock()
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| (e.kind(), e.to_string()))?;
        if bytes.len() as u64 > limit {
            return Err((
                std::io::ErrorKind::InvalidData,
                format!(
                    "standard input holds more than {} MiB; topo reads topology files up to that",
                    limit / (1024 * 1024)
                ),
            ));
        }
        Ok(bytes)
    });
    match read {
        Ok(b) => Ok(b.clone()),
        Err((kind, msg)) => Err(std::io::Error::new(*kind, msg.clone())),
    }
}

/// Index of a file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A range of bytes in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            file,
            start: clamp(start),
            end: clamp(end.max(start)),
        }
    }
}

/// One loaded file: its name as the user gave it, its text, and line starts for lookups.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    /// A span offset as a byte offset on a character boundary, clamped to the text.
    pub fn byte_offset(&self, offset: u32) -> usize {
        let mut i = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    /// 1-based line and column (the column in characters) of a byte offset.
    pub fn line_col(&self, char_index: u32) -> (usize, usize) {
        let byte = self.byte_offset(char_index);
        let before = &self.text[..byte];
        let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
        let col = self.text[line_start..byte].chars().count() + 1;
        (line, col)
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        let (a, b) = (self.byte_offset(span.start), self.byte_offset(span.end));
        &self.text[a..b.max(a)]
    }
}

/// All files a command read, addressed by [`FileId`].
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, path: &Path, text: String) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile {
            name: display_path(path),
            path: path.to_path_buf(),
            text,
        });
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }
}

/// A path as the user would type it: relative to the current directory when below it.
pub fn display_path(path: &Path) -> String {
    if is_stdin(path) {
        return STDIN_NAME.to_string();
    }
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
    {
        return rel.display().to_string();
    }
    path.display().to_string()
}
