//! `${VAR}` references in a service's env values, kept as references in renders.
//!
//! topo interpolates the topology when it loads it, so `env: {API_TOKEN: "${TOKEN}"}`
//! would reach a render as the token itself, and the rendered file (checked into a
//! repository, printed in a pipeline log) would carry the secret. A render instead reads
//! the value's source text and writes the reference again in the target's own syntax:
//! compose's `${TOKEN}` (compose interpolates it when it runs), or in the azure script a
//! shell expansion whose value goes into a Container Apps secret at deploy time.
//!
//! The syntax is topo's (and compose's): `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?message}`, `${VAR?message}`, defaults that hold references of their own, and
//! `$${` for a literal `${`. The loader has already checked it, so parsing cannot fail.

/// A piece of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Lit(String),
    Ref {
        name: String,
        /// `""`, `:-`, `-`, `:?` or `?`.
        op: &'static str,
        arg: Vec<Seg>,
    },
}

/// The pieces of a value's source text.
pub fn parse(raw: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        if rest.starts_with("$${") {
            lit.push_str("${");
            i += 3;
            continue;
        }
        if rest.starts_with("${")
            && let Some(end) = matching_brace(raw, i + 2)
        {
            if !lit.is_empty() {
                out.push(Seg::Lit(std::mem::take(&mut lit)));
            }
            out.push(reference(&raw[i + 2..end]));
            i = end + 1;
            continue;
        }
        let ch = rest.chars().next().unwrap_or('\0');
        lit.push(ch);
        i += ch.len_utf8();
    }
    if !lit.is_empty() {
        out.push(Seg::Lit(lit));
    }
    out
}

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

fn reference(inner: &str) -> Seg {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_len);
    let (op, arg) = [":-", ":?", "-", "?"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|a| (*op, a)))
        .unwrap_or(("", ""));
    Seg::Ref {
        name: name.to_string(),
        op,
        arg: parse(arg),
    }
}

/// Whether any piece is a reference.
pub fn has_reference(segs: &[Seg]) -> bool {
    segs.iter().any(|s| matches!(s, Seg::Ref { .. }))
}

/// Variables that must be set for the value (a reference without a default, outside any
/// default), and whether an empty value is refused too (`:?`).
pub fn required(segs: &[Seg], out: &mut Vec<(String, bool)>) {
    for s in segs {
        if let Seg::Ref { name, op, .. } = s
            && matches!(*op, "" | "?" | ":?")
            && !out.iter().any(|(n, _)| n == name)
        {
            out.push((name.clone(), *op == ":?"));
        }
    }
}

/// The value in compose's syntax: literal `$` doubled, references as references. A bare
/// `${VAR}` becomes `${VAR?...}`, so that compose stops on an unset variable as topo does
/// instead of blanking it.
pub fn compose(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Lit(t) => out.push_str(&t.replace('$', "$$")),
            Seg::Ref { name, op, arg } => {
                out.push_str("${");
                out.push_str(name);
                if op.is_empty() {
                    out.push_str(&format!("?set {name} in .env or the environment"));
                } else {
                    out.push_str(op);
                    out.push_str(&compose(arg));
                }
                out.push('}');
            }
        }
    }
    out
}

/// The value as the right-hand side of a bash assignment (`x=WORD`): literals in single
/// quotes, references as unquoted expansions (an assignment neither splits nor globs).
pub fn bash(segs: &[Seg]) -> String {
    if segs.is_empty() {
        return "''".to_string();
    }
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Lit(t) => {
                out.push('\'');
                out.push_str(&t.replace('\'', "'\\''"));
                out.push('\'');
            }
            Seg::Ref { name, op, arg } => {
                out.push_str("${");
                out.push_str(name);
                out.push_str(op);
                if !op.is_empty() {
                    out.push_str(&bash(arg));
                }
                out.push('}');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        let s = parse("https://u:${PW}@db/$${x} $HOME ${A:-${B:-d}}");
        assert!(has_reference(&s));
        assert_eq!(
            compose(&s),
            "https://u:${PW?set PW in .env or the environment}@db/$${x} $$HOME ${A:-${B:-d}}"
        );
        assert_eq!(
            bash(&s),
            "'https://u:'${PW}'@db/${x} $HOME '${A:-${B:-'d'}}"
        );
        let mut req = Vec::new();
        required(&s, &mut req);
        assert_eq!(req, [("PW".to_string(), false)]);
        assert!(!has_reference(&parse("no $refs here, $${not} either")));
    }

    /// bash reads the word back as the value topo would have interpolated.
    #[test]
    fn bash_words_expand_like_topo() {
        let raw = "a 'q' \"d\" $(id) `x` \\ ${U:-it's ${V:-in}ner} ${W}";
        let word = bash(&parse(raw));
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("unset U V; W='w w*'; x={word}; printf %s \"$x\""))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a 'q' \"d\" $(id) `x` \\ it's inner w w*"
        );
    }
}
