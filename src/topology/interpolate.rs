//! `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`
//! and `$${` (a literal `${`), as docker compose reads them.
//!
//! Only string values are interpolated, never keys. An unquoted value is re-typed after
//! interpolation (`port: ${PORT:-3000}` is the number 3000), a quoted one stays a string.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::diag::{Diagnostic, codes};
use crate::source::node::{Node, NodeKind};
use crate::source::yaml::resolve_plain;
use crate::source::{Sources, Span};

/// Where variables come from: the process environment over the `.env` file.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    env: HashMap<String, String>,
    dotenv: HashMap<String, String>,
}

impl Vars {
    pub fn new(env: HashMap<String, String>, dotenv: HashMap<String, String>) -> Vars {
        Vars { env, dotenv }
    }

    pub fn from_process(dotenv: HashMap<String, String>) -> Vars {
        Vars::new(std::env::vars().collect(), dotenv)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .or_else(|| self.dotenv.get(name))
            .map(String::as_str)
    }
}

/// Interpolate every string in the tree, collecting every problem.
pub fn interpolate_tree(
    node: &mut Node,
    vars: &Vars,
    sources: &Sources,
    path: &mut String,
    out: &mut Vec<Diagnostic>,
) {
    match &mut node.kind {
        NodeKind::Str { value, plain } => {
            if !value.contains('$') {
                return;
            }
            match interpolate(value, vars) {
                Ok(result) => {
                    // An unquoted `${VAR}` that came out empty stays an empty string: as
                    // null it would silently mean "not set" (`vhost: ${VHOST}` becoming `/`).
                    node.kind = if *plain && !result.is_empty() {
                        resolve_plain(&result)
                    } else {
                        NodeKind::Str {
                            value: result,
                            plain: false,
                        }
                    };
                }
                Err(e) => {
                    let span = sub_span(sources, node.span, value, e.offset, e.len);
                    out.push(
                        Diagnostic::error(codes::INTERPOLATION, e.message)
                            .at(span)
                            .path(path.clone())
                            .hint(e.hint),
                    );
                }
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                let _ = write!(path, "/{i}");
                interpolate_tree(item, vars, sources, path, out);
                path.truncate(len);
            }
        }
        NodeKind::Map(entries) => {
            for e in entries {
                let len = path.len();
                path.push('/');
                path.push_str(&crate::source::node::pointer_segment(&e.key));
                interpolate_tree(&mut e.value, vars, sources, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Narrow a value's span to the `${...}` at `offset..offset+len` (bytes of the value) when
/// the source text holds the value verbatim; otherwise keep the whole span.
fn sub_span(sources: &Sources, span: Span, value: &str, offset: usize, len: usize) -> Span {
    let Some(file) = sources.get(span.file) else {
        return span;
    };
    let text = file.slice(span);
    match text.find(value) {
        Some(at) if !value.contains('\n') => {
            let start = span.start as usize + at + offset.min(value.len());
            Span::new(
                span.file,
                start,
                start + len.min(value.len() - offset.min(value.len())),
            )
        }
        _ => span,
    }
}

#[derive(Debug, PartialEq)]
pub struct InterpolationError {
    pub message: String,
    pub hint: String,
    /// Byte offset and length of the offending `${...}` in the value.
    pub offset: usize,
    pub len: usize,
}

/// Interpolate one string.
pub fn interpolate(input: &str, vars: &Vars) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(input.len());
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && input[i..].starts_with("$${") {
            out.push_str("${");
            i += 3;
            continue;
        }
        if bytes[i] == b'$' && input[i..].starts_with("${") {
            let end = matching_brace(input, i + 2).ok_or_else(|| InterpolationError {
                message: "unterminated `${` in value".into(),
                hint: "close it with `}`, or write `$${` for a literal `${`".into(),
                offset: i,
                len: input.len() - i,
            })?;
            let inner = &input[i + 2..end];
            out.push_str(
                &expand(inner, vars).map_err(|(message, hint)| InterpolationError {
                    message,
                    hint,
                    offset: i,
                    len: end + 1 - i,
                })?,
            );
            i = end + 1;
            continue;
        }
        let ch = input[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts at `from`, counting nested `${`.
fn matching_brace(s: &str, from: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 1;
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

fn expand(inner: &str, vars: &Vars) -> Result<String, (String, String)> {
    let name_len = inner
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit()))
        .map(|(i, _)| i)
        .unwrap_or(inner.len());
    let name = &inner[..name_len];
    let rest = &inner[name_len..];
    if name.is_empty() {
        return Err((
            format!("`${{{inner}}}` is not a valid variable reference"),
            "variable names are letters, digits and `_`, not starting with a digit".into(),
        ));
    }
    let value = vars.get(name);
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err((
            format!("`${{{inner}}}` is not a valid variable reference"),
            "use `${VAR}`, `${VAR:-default}` or `${VAR:?message}`".into(),
        ));
    };
    let unset_or_empty = value.is_none_or(str::is_empty);
    match op {
        "" => value.map(str::to_string).ok_or_else(|| {
            (
                format!("environment variable `{name}` is not set"),
                format!("set `{name}` in the environment or in the .env file beside the topology, or write `${{{name}:-default}}`"),
            )
        }),
        ":-" if unset_or_empty => interpolate(arg, vars).map_err(|e| (e.message, e.hint)),
        "-" if value.is_none() => interpolate(arg, vars).map_err(|e| (e.message, e.hint)),
        ":?" if unset_or_empty => Err(required(name, arg)),
        "?" if value.is_none() => Err(required(name, arg)),
        _ => Ok(value.unwrap_or_default().to_string()),
    }
}

fn required(name: &str, message: &str) -> (String, String) {
    let why = if message.is_empty() {
        "it is required".to_string()
    } else {
        message.to_string()
    };
    (
        format!("environment variable `{name}` is not set: {why}"),
        format!("set `{name}` in the environment or in the .env file beside the topology"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            HashMap::new(),
        )
    }

    #[test]
    fn forms() {
        let v = vars(&[("A", "x"), ("E", "")]);
        let cases = [
            ("${A}", "x"),
            ("pre-${A}-post", "pre-x-post"),
            ("${B:-def}", "def"),
            ("${E:-def}", "def"),
            ("${E-def}", ""),
            ("${B-def}", "def"),
            ("${A:?must}", "x"),
            ("$${A}", "${A}"),
            ("$A", "$A"),
            ("${B:-${A}}", "x"),
            ("cost $5", "cost $5"),
        ];
        for (input, want) in cases {
            assert_eq!(interpolate(input, &v).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let v = vars(&[("E", "")]);
        let e = interpolate("a ${MISSING} b", &v).expect_err("unset");
        assert!(e.message.contains("`MISSING`"));
        assert_eq!((e.offset, e.len), (2, 10));
        let e = interpolate("${E:?give it}", &v).expect_err("empty");
        assert!(e.message.contains("give it"));
        assert!(interpolate("${E?x}", &v).is_ok());
        assert!(interpolate("${unterminated", &v).is_err());
        assert!(interpolate("${1A}", &v).is_err());
    }

    #[test]
    fn dotenv_loses_to_environment() {
        let v = Vars::new(
            [("A".to_string(), "env".to_string())].into(),
            [
                ("A".to_string(), "file".to_string()),
                ("B".to_string(), "file".to_string()),
            ]
            .into(),
        );
        assert_eq!(interpolate("${A}${B}", &v).as_deref(), Ok("envfile"));
    }
}
