//! `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`
//! and `$${` (a literal `${`), as docker compose reads them.
//!
//! Only string values are interpolated, never keys. An unquoted value is re-typed after
//! interpolation (`port: ${PORT:-3000}` is the number 3000), a quoted one stays a string.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::diag::{Code, Diagnostic};
use crate::source::node::{Node, NodeKind};
use crate::source::yaml::resolve_plain;
use crate::source::{Sources, Span};

/// Where variables come from: the process environment over the `.env` file.
///
/// The process environment is read one variable at a time, only for the names the file
/// uses: an unrelated variable that is not UTF-8 must not matter (`std::env::vars()` would
/// panic on it), and a used one that is not UTF-8 is an error at its reference.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    env: Option<HashMap<String, String>>,
    dotenv: HashMap<String, String>,
    keep_service_env: bool,
}

impl Vars {
    /// A fixed environment (tests, `topo diff`) over the `.env` variables.
    pub fn new(env: HashMap<String, String>, dotenv: HashMap<String, String>) -> Vars {
        Vars {
            env: Some(env),
            dotenv,
            keep_service_env: false,
        }
    }

    /// The process environment over the `.env` variables.
    pub fn from_process(dotenv: HashMap<String, String>) -> Vars {
        Vars {
            env: None,
            dotenv,
            keep_service_env: false,
        }
    }

    /// Leave the values of services' `env` as written (see `EnvSource`).
    pub fn keeping_service_env(mut self) -> Vars {
        self.keep_service_env = true;
        self
    }

    /// The value of `name`, `None` when unset, or why it cannot be used.
    pub fn get(&self, name: &str) -> Result<Option<String>, String> {
        let from_env = match &self.env {
            Some(map) => map.get(name).cloned(),
            None => match std::env::var_os(name) {
                None => None,
                Some(os) => Some(
                    os.into_string()
                        .map_err(|_| format!("environment variable `{name}` is not valid UTF-8"))?,
                ),
            },
        };
        Ok(from_env.or_else(|| self.dotenv.get(name).cloned()))
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
            if !value.contains('$') || (vars.keep_service_env && is_service_env(path)) {
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
                Err(errors) => {
                    for e in errors {
                        let span = sub_span(sources, node.span, value, e.offset, e.len);
                        out.push(
                            Diagnostic::error(Code::Interpolation, e.message)
                                .at(span)
                                .path(path.clone())
                                .hint(e.hint),
                        );
                    }
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

/// `/services/N/env/KEY`: the value of a service's environment entry.
fn is_service_env(path: &str) -> bool {
    let mut parts = path.split('/').skip(1);
    parts.next() == Some("services")
        && parts.next().is_some_and(|n| n.parse::<usize>().is_ok())
        && parts.next() == Some("env")
        && parts.next().is_some()
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

/// Interpolate one string; every problem in it, not just the first.
pub fn interpolate(input: &str, vars: &Vars) -> Result<String, Vec<InterpolationError>> {
    let mut out = String::with_capacity(input.len());
    let mut errors = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && input[i..].starts_with("$${") {
            out.push_str("${");
            i += 3;
            continue;
        }
        if bytes[i] == b'$' && input[i..].starts_with("${") {
            let Some(end) = matching_brace(input, i + 2) else {
                errors.push(InterpolationError {
                    message: "unterminated `${` in value".into(),
                    hint: "close it with `}`, or write `$${` for a literal `${`".into(),
                    offset: i,
                    len: input.len() - i,
                });
                break;
            };
            let inner = &input[i + 2..end];
            match expand(inner, vars) {
                Ok(v) => out.push_str(&v),
                Err(problems) => {
                    errors.extend(
                        problems
                            .into_iter()
                            .map(|(message, hint)| InterpolationError {
                                message,
                                hint,
                                offset: i,
                                len: end + 1 - i,
                            }),
                    )
                }
            }
            i = end + 1;
            continue;
        }
        let ch = input[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
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

type Problem = (String, String);

fn expand(inner: &str, vars: &Vars) -> Result<String, Vec<Problem>> {
    let name_len = inner
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit()))
        .map(|(i, _)| i)
        .unwrap_or(inner.len());
    let name = &inner[..name_len];
    let rest = &inner[name_len..];
    if name.is_empty() {
        return Err(vec![(
            format!("`${{{inner}}}` is not a valid variable reference"),
            "variable names are letters, digits and `_`, not starting with a digit".into(),
        )]);
    }
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
        return Err(vec![(
            format!("`${{{inner}}}` is not a valid variable reference"),
            "use `${VAR}`, `${VAR:-default}` or `${VAR:?message}`".into(),
        )]);
    };
    let value = vars.get(name).map_err(|why| {
        vec![(
            why,
            format!("set `{name}` to UTF-8 text, or unset it and give a default with `${{{name}:-default}}`"),
        )]
    })?;
    let unset_or_empty = value.as_deref().is_none_or(str::is_empty);
    let default = |arg: &str| {
        interpolate(arg, vars).map_err(|es| es.into_iter().map(|e| (e.message, e.hint)).collect())
    };
    match op {
        "" => value.ok_or_else(|| {
            vec![(
                format!("environment variable `{name}` is not set"),
                format!("set `{name}` in the environment or in the .env file beside the topology, or write `${{{name}:-default}}`"),
            )]
        }),
        ":-" if unset_or_empty => default(arg),
        "-" if value.is_none() => default(arg),
        ":?" if unset_or_empty => Err(vec![required(name, arg)]),
        "?" if value.is_none() => Err(vec![required(name, arg)]),
        _ => Ok(value.unwrap_or_default()),
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
        assert!(e[0].message.contains("`MISSING`"));
        assert_eq!((e[0].offset, e[0].len), (2, 10));
        let e = interpolate("${E:?give it}", &v).expect_err("empty");
        assert!(e[0].message.contains("give it"));
        assert!(interpolate("${E?x}", &v).is_ok());
        assert!(interpolate("${unterminated", &v).is_err());
        assert!(interpolate("${1A}", &v).is_err());
    }

    #[test]
    fn every_unset_variable_of_a_value_is_reported() {
        let e = interpolate("${REGISTRY}/api:${TAG:?set TAG}", &vars(&[])).expect_err("unset");
        let names: Vec<&str> = e.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(e.len(), 2, "{names:?}");
        assert!(names[0].contains("`REGISTRY`"), "{names:?}");
        assert!(names[1].contains("`TAG`") && names[1].contains("set TAG"));
        assert_eq!((e[1].offset, e[1].len), (16, 15));
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
