//! Diagnostics: what is wrong, where (file, line, column of the offending value), and what
//! to do about it. One type for YAML, schema, interpolation and semantic problems, so every
//! command reports them the same way: rustc-style snippets on a terminal, plain when piped
//! or `NO_COLOR` is set, JSON with `--format json`.

use std::fmt;
use std::io::Write;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term::{self, Config};
use serde::Serialize;

use super::{FileId, Sources, Span};

/// Declares [`Code`] from one list, so that [`Code::ALL`] (which the corpus test walks) and
/// the spelling of every code cannot drift apart.
macro_rules! diagnostic_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// Stable diagnostic codes. Documented in README.md; never renumber.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in number order.
            pub const ALL: &[Code] = &[$(Code::$variant,)*];

            /// The code as users see it (`TOPO010`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

diagnostic_codes! {
    YamlSyntax = "TOPO001",
    YamlStructure = "TOPO002",
    SchemaType = "TOPO003",
    UnknownKey = "TOPO004",
    MissingKey = "TOPO005",
    Version = "TOPO006",
    Interpolation = "TOPO007",
    Extends = "TOPO008",
    Dotenv = "TOPO009",
    Duplicate = "TOPO010",
    UndeclaredExchange = "TOPO011",
    UndeclaredQueue = "TOPO012",
    UndeclaredUser = "TOPO013",
    UndeclaredVhost = "TOPO014",
    UndeclaredService = "TOPO015",
    DefaultExchange = "TOPO016",
    TopicKey = "TOPO017",
    HeadersMatch = "TOPO018",
    ExclusiveQueue = "TOPO019",
    QueueTypeDurability = "TOPO020",
    QueueTypeArgument = "TOPO021",
    NamedAndRaw = "TOPO022",
    TcpNoPort = "TOPO023",
    ClientQueueMismatch = "TOPO024",
    LiteralSecret = "TOPO025",
    ReservedName = "TOPO026",
    ConflictingFields = "TOPO027",
    TransportFields = "TOPO028",
    File = "TOPO029",
    /// Names and values render targets cannot pass intact (see `validate::azure_names`).
    AzureName = "TOPO030",
    /// A feature RabbitMQ 4.x deprecates or removes (a warning: 3.x still takes it).
    DeprecatedFeature = "TOPO031",
    /// A `message_schema` file that is missing, not JSON, or not a JSON Schema.
    MessageSchema = "TOPO032",
    /// A service's broker user and its permissions (see `validate::service_users`).
    ServiceUser = "TOPO033",
    /// A permission, topic permission or policy pattern that is not a regular expression
    /// the broker compiles.
    InvalidRegex = "TOPO034",
    /// A topic permission on an exchange that is not a topic exchange.
    NotTopicExchange = "TOPO035",
    /// A vhost's `max-queues` below the queues the file declares there (a warning).
    LimitBelowFile = "TOPO036",
    /// An operator policy the broker refuses: a key it does not take there, a value it
    /// refuses, or `apply_to` exchanges.
    OperatorPolicy = "TOPO037",
    /// A shovel end that names no queue or exchange, both, or a routing key without an
    /// exchange.
    ShovelEnd = "TOPO040",
    /// A shovel or federation upstream URI that is not an AMQP URI.
    LinkUri = "TOPO041",
    /// A kind whose plugin `broker.plugins` does not list (a warning).
    PluginNotNamed = "TOPO042",
    /// A federation policy naming an upstream the vhost does not declare.
    UndeclaredUpstream = "TOPO043",
    /// A `broker.plugins` name the official RabbitMQ image does not ship (a warning: a
    /// custom image may carry it).
    UnknownPlugin = "TOPO044",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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
    pub code: Code,
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
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
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

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
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
            .with_code(d.code.as_str())
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
        code: d.code.as_str(),
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
