//! Diagnostics: what is wrong, where (file, line, column of the offending value), and what
//! to do about it. One type for YAML, schema, interpolation and semantic problems, so every
//! command reports them the same way: rustc-style snippets on a terminal, plain when piped
//! or `NO_COLOR` is set, JSON with `--format json`.

use std::io::Write;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term::{self, Config};
use serde::Serialize;

use super::{FileId, Sources, Span};

/// Stable diagnostic codes. Documented in README.md; never renumber.
pub mod codes {
    pub const YAML_SYNTAX: &str = "TOPO001";
    pub const YAML_STRUCTURE: &str = "TOPO002";
    pub const SCHEMA_TYPE: &str = "TOPO003";
    pub const UNKNOWN_KEY: &str = "TOPO004";
    pub const MISSING_KEY: &str = "TOPO005";
    pub const VERSION: &str = "TOPO006";
    pub const INTERPOLATION: &str = "TOPO007";
    pub const EXTENDS: &str = "TOPO008";
    pub const DOTENV: &str = "TOPO009";
    pub const DUPLICATE: &str = "TOPO010";
    pub const UNDECLARED_EXCHANGE: &str = "TOPO011";
    pub const UNDECLARED_QUEUE: &str = "TOPO012";
    pub const UNDECLARED_USER: &str = "TOPO013";
    pub const UNDECLARED_VHOST: &str = "TOPO014";
    pub const UNDECLARED_SERVICE: &str = "TOPO015";
    pub const DEFAULT_EXCHANGE: &str = "TOPO016";
    pub const TOPIC_KEY: &str = "TOPO017";
    pub const HEADERS_MATCH: &str = "TOPO018";
    pub const EXCLUSIVE_QUEUE: &str = "TOPO019";
    pub const QUEUE_TYPE_DURABILITY: &str = "TOPO020";
    pub const QUEUE_TYPE_ARGUMENT: &str = "TOPO021";
    pub const NAMED_AND_RAW: &str = "TOPO022";
    pub const TCP_NO_PORT: &str = "TOPO023";
    pub const CLIENT_QUEUE_MISMATCH: &str = "TOPO024";
    pub const LITERAL_SECRET: &str = "TOPO025";
    pub const RESERVED_NAME: &str = "TOPO026";
    pub const CONFLICTING_FIELDS: &str = "TOPO027";
    pub const TRANSPORT_FIELDS: &str = "TOPO028";
    pub const FILE: &str = "TOPO029";
    /// A feature RabbitMQ 4.x deprecates or removes (a warning: 3.x still takes it).
    pub const DEPRECATED_FEATURE: &str = "TOPO031";
    /// Names and values render targets cannot pass intact (see `validate::azure_names`).
    pub const AZURE_NAME: &str = "TOPO030";
    /// A `message_schema` file that is missing, not JSON, or not a JSON Schema.
    pub const MESSAGE_SCHEMA: &str = "TOPO032";
    /// A service's broker user and its permissions (see `validate::service_users`).
    pub const SERVICE_USER: &str = "TOPO033";
    /// A permission, topic permission or policy pattern that is not a regular expression
    /// the broker compiles.
    pub const INVALID_REGEX: &str = "TOPO034";
    /// A topic permission on an exchange that is not a topic exchange.
    pub const NOT_TOPIC_EXCHANGE: &str = "TOPO035";

    /// Every code above, for the test that each has a failing and a passing case.
    pub const ALL: &[&str] = &[
        YAML_SYNTAX,
        YAML_STRUCTURE,
        SCHEMA_TYPE,
        UNKNOWN_KEY,
        MISSING_KEY,
        VERSION,
        INTERPOLATION,
        EXTENDS,
        DOTENV,
        DUPLICATE,
        UNDECLARED_EXCHANGE,
        UNDECLARED_QUEUE,
        UNDECLARED_USER,
        UNDECLARED_VHOST,
        UNDECLARED_SERVICE,
        DEFAULT_EXCHANGE,
        TOPIC_KEY,
        HEADERS_MATCH,
        EXCLUSIVE_QUEUE,
        QUEUE_TYPE_DURABILITY,
        QUEUE_TYPE_ARGUMENT,
        NAMED_AND_RAW,
        TCP_NO_PORT,
        CLIENT_QUEUE_MISMATCH,
        LITERAL_SECRET,
        RESERVED_NAME,
        CONFLICTING_FIELDS,
        TRANSPORT_FIELDS,
        FILE,
        AZURE_NAME,
        DEPRECATED_FEATURE,
        MESSAGE_SCHEMA,
        SERVICE_USER,
        INVALID_REGEX,
        NOT_TOPIC_EXCHANGE,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem. `span` is the offending value; `labels` point at related places.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    pub labels: Vec<(Span, String)>,
    pub hint: Option<String>,
    /// JSON pointer of the value in the (merged) document, where known.
    pub path: Option<String>,
    /// The offending text is a secret: show where it is, never the source line.
    pub sensitive: bool,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span: None,
            labels: vec![],
            hint: None,
            path: None,
            sensitive: false,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn path(mut self, pointer: impl Into<String>) -> Diagnostic {
        self.path = Some(pointer.into());
        self
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push((span, text.into()));
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(self, hint: Option<String>) -> Diagnostic {
        match hint {
            Some(h) => self.hint(h),
            None => self,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// "did you mean `x`?" for the candidate closest to `word`, if any is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate closest to `word` by Jaro-Winkler similarity, if similar enough.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let score = strsim::jaro_winkler(word, c);
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Adapter so codespan-reporting reads our character-indexed spans.
struct CsFiles<'a>(&'a Sources);

impl<'a> Files<'a> for CsFiles<'a> {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        self.0
            .get(id)
            .map(|f| f.name.as_str())
            .ok_or(FilesError::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        self.0
            .get(id)
            .map(|f| f.text.as_str())
            .ok_or(FilesError::FileMissing)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        let text = self.source(id)?;
        let clamped = byte_index.min(text.len());
        Ok(text.as_bytes()[..clamped]
            .iter()
            .filter(|b| **b == b'\n')
            .count())
    }

    fn line_range(
        &'a self,
        id: FileId,
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, FilesError> {
        let text = self.source(id)?;
        let mut start = 0usize;
        for _ in 0..line_index {
            match text[start..].find('\n') {
                Some(p) => start += p + 1,
                None => {
                    return Err(FilesError::LineTooLarge {
                        given: line_index,
                        max: line_index.saturating_sub(1),
                    });
                }
            }
        }
        let end = text[start..]
            .find('\n')
            .map(|p| start + p + 1)
            .unwrap_or(text.len());
        Ok(start..end)
    }
}

fn byte_range(sources: &Sources, span: Span) -> Option<std::ops::Range<usize>> {
    let f = sources.get(span.file)?;
    Some(f.byte_offset(span.start)..f.byte_offset(span.end))
}

/// Lines longer than this are not quoted (a minified or generated file would flood the
/// terminal); the location is printed instead.
const MAX_SNIPPET_LINE: usize = 400;

/// Write diagnostics rustc-style. `color` is decided by the caller (terminal, NO_COLOR).
pub fn render_text(
    out: &mut dyn Write,
    sources: &Sources,
    diags: &[Diagnostic],
    color: bool,
) -> std::io::Result<()> {
    let config = Config::default();
    let files = CsFiles(sources);
    for d in diags {
        let severity = match d.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
        };
        let mut labels = Vec::new();
        let mut notes = Vec::new();
        let long_line = d
            .span
            .and_then(|s| sources.get(s.file).map(|f| (f, s)))
            .is_some_and(|(f, s)| {
                let b = f.byte_offset(s.start);
                let line_start = f.text[..b].rfind('\n').map_or(0, |p| p + 1);
                let line_end = f.text[b..].find('\n').map_or(f.text.len(), |p| b + p);
                line_end - line_start > MAX_SNIPPET_LINE
            });
        if d.sensitive || long_line {
            if let Some((f, span)) = d.span.and_then(|s| sources.get(s.file).map(|f| (f, s))) {
                let (line, col) = f.line_col(span.start);
                let why = if d.sensitive {
                    "it holds a secret"
                } else {
                    "it is too long"
                };
                notes.push(format!(
                    "at {}:{line}:{col} (source line not shown: {why})",
                    f.name
                ));
            }
        } else if let Some((span, range)) =
            d.span.and_then(|s| byte_range(sources, s).map(|r| (s, r)))
        {
            labels.push(Label::primary(span.file, range));
        }
        for (span, text) in d.labels.iter().filter(|_| !d.sensitive) {
            if let Some(range) = byte_range(sources, *span) {
                labels.push(Label::secondary(span.file, range).with_message(text));
            }
        }
        let mut cs = CsDiagnostic::new(severity)
            .with_code(d.code)
            .with_message(&d.message)
            .with_labels(labels);
        if let Some(h) = &d.hint {
            notes.push(format!("hint: {h}"));
        }
        cs = cs.with_notes(notes);
        let mut buf = Vec::new();
        let emitted = if color {
            term::emit_to_write_style(
                &mut term::termcolor::Ansi::new(&mut buf),
                &config,
                &files,
                &cs,
            )
        } else {
            term::emit_to_write_style(
                &mut term::termcolor::NoColor::new(&mut buf),
                &config,
                &files,
                &cs,
            )
        };
        if emitted.is_err() {
            // A span past the end of its file: fall back to a plain line rather than lose it.
            buf.clear();
            writeln!(buf, "error[{}]: {}", d.code, d.message)?;
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// The JSON form of one diagnostic (a documented contract for editors and bots).
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub path: Option<String>,
    pub hint: Option<String>,
}

pub fn to_json(sources: &Sources, d: &Diagnostic) -> JsonDiagnostic {
    let located = d.span.and_then(|s| sources.get(s.file).map(|f| (f, s)));
    let (file, start, end) = match located {
        Some((f, s)) => (
            Some(f.name.clone()),
            Some(f.line_col(s.start)),
            Some(f.line_col(s.end)),
        ),
        None => (None, None, None),
    };
    JsonDiagnostic {
        code: d.code,
        severity: d.severity,
        message: d.message.clone(),
        file,
        line: start.map(|p| p.0),
        column: start.map(|p| p.1),
        end_line: end.map(|p| p.0),
        end_column: end.map(|p| p.1),
        path: d.path.clone(),
        hint: d.hint.clone(),
    }
}
