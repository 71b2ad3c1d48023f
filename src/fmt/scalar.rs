//! One quoting rule: a string is written plain unless YAML needs quotes, and then in double
//! quotes. "Needs" is read widely: a string any common YAML reader could take for something
//! else (`yes`, `off`, `~`, `1.0`, `0x1F`, a date) is quoted, and so is every string with a
//! `#` in it, so a routing key such as `order.#` never reads as a comment.

use crate::source::node::NodeKind;
use crate::source::yaml;

/// Where a scalar is written: block context, or inside `{...}`/`[...]` (where `,[]{}` end a
/// plain scalar).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    Block,
    Flow,
}

/// `s` as a plain scalar when that reads back as the same string in `ctx`, else `None`.
pub(super) fn plain(s: &str, ctx: Context) -> Option<&str> {
    let first = s.chars().next()?;
    let last = s.chars().next_back()?;
    let bad_char = |c: char| {
        c.is_control() || matches!(c, '#' | '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{85}')
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || first.is_whitespace()
        || last.is_whitespace()
        || last == ':'
        || s.chars().any(bad_char)
        || s.contains(": ")
        || s == "<<"
        || s == "="
        || (ctx == Context::Flow && s.contains([',', '[', ']', '{', '}', ':']))
        || retyped(s)
    {
        return None;
    }
    Some(s)
}

/// Whether a reader could take plain `s` for something other than a string: by the YAML
/// 1.2 core schema topo reads (`null`, `true`, `12`, `.inf`) or by YAML 1.1 (`yes`, `on`,
/// `y`, `1_000`, `1:30`, dates), which many other tools still read.
fn retyped(s: &str) -> bool {
    if !matches!(yaml::resolve_plain(s), NodeKind::Str { .. }) {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
    ) {
        return true;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut chars = unsigned.chars();
    let starts_numeric = match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('.') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    starts_numeric
        && unsigned
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "_.:+-xXoO".contains(c))
}

/// `s` in double quotes, escaped so that it reads back exactly.
pub(super) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}') => {
                let n = c as u32;
                if n <= 0xFFFF {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string in one line: plain when it can be, else double-quoted.
pub(super) fn string(s: &str, ctx: Context) -> String {
    plain(s, ctx).map_or_else(|| quoted(s), str::to_string)
}

/// The header and content lines of `s` as a literal block scalar (`|`, `|-` or `|+`), when
/// one writes it exactly and without trailing spaces; `None` for a one-line string or one
/// a literal block cannot hold (leading spaces on its first line, control characters).
pub(super) fn literal(s: &str) -> Option<(&'static str, Vec<&str>)> {
    if !s.contains('\n') || s.trim().is_empty() {
        return None;
    }
    let body = s.trim_end_matches('\n');
    let newlines = s.len() - body.len();
    let header = match newlines {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    let mut lines: Vec<&str> = body.split('\n').collect();
    let first = lines.iter().find(|l| !l.is_empty())?;
    let unsafe_char = |c: char| (c.is_control() && c != '\t' && c != '\n') || c == '\u{feff}';
    if first.starts_with([' ', '\t'])
        || s.chars().any(unsafe_char)
        || lines.iter().any(|l| l.ends_with([' ', '\t']))
        || body.split('\n').next().is_some_and(str::is_empty)
    {
        return None;
    }
    // `|+` keeps the blank lines after the content: one per newline past the first.
    lines.extend(std::iter::repeat_n("", newlines.saturating_sub(1)));
    Some((header, lines))
}
