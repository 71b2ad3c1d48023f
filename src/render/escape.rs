//! Auto-escaping per target, so that a template cannot forget to quote a value.
//!
//! Which escape applies is decided by the template's name (`NAME.EXT.j2`):
//!
//! | extension | every `{{ value }}` becomes |
//! | --- | --- |
//! | `sh`, `bash` | one shell word (`shlex::try_quote`); NUL, none, lists and maps are errors |
//! | `yaml`, `yml` | a JSON scalar (valid YAML); for `compose*` templates `$` is doubled to `$$` so compose does not interpolate it |
//! | `json` | JSON (minijinja's own) |
//! | `env` | the text as it is when it is a plain word (letters, digits, `_./:@,+-`), else an error |
//! | anything else | the text as it is |
//!
//! A value marked safe (the `|safe` filter, or the helper filters below) is written as it
//! is: that is how templates write `${VAR}` references on purpose.

use std::borrow::Cow;

use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Error, ErrorKind, Output, State};

use crate::source::yaml::json_raw_not_yaml;
use crate::topology::names::is_env_name;

pub const SHELL: &str = "shell";
pub const YAML: &str = "yaml";
pub const COMPOSE_YAML: &str = "compose-yaml";
pub const DOTENV: &str = "dotenv";

/// The escape of a template, from its name.
pub fn for_template(name: &str) -> AutoEscape {
    let base = name.strip_suffix(".j2").unwrap_or(name);
    let file = base.rsplit('/').next().unwrap_or(base);
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("sh" | "bash") => AutoEscape::Custom(Cow::Borrowed(SHELL)),
        Some("yaml" | "yml") if file.starts_with("compose") => {
            AutoEscape::Custom(Cow::Borrowed(COMPOSE_YAML))
        }
        Some("yaml" | "yml") => AutoEscape::Custom(Cow::Borrowed(YAML)),
        Some("json") => AutoEscape::Json,
        Some("env") => AutoEscape::Custom(Cow::Borrowed(DOTENV)),
        _ => AutoEscape::None,
    }
}

/// The environment's formatter: our escapes for our custom modes, minijinja's otherwise.
pub fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let mode = match state.auto_escape() {
        AutoEscape::Custom(name) => name.clone(),
        _ => return minijinja::escape_formatter(out, state, value),
    };
    if value.is_safe() {
        return out
            .write_str(value.as_str().unwrap_or_default())
            .map_err(Error::from);
    }
    let text = match mode.as_ref() {
        SHELL => shell_word(value)?,
        YAML => yaml_scalar(value, false)?,
        COMPOSE_YAML => yaml_scalar(value, true)?,
        DOTENV => dotenv_word(value)?,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("unknown escape mode `{other}`"),
            ));
        }
    };
    out.write_str(&text).map_err(Error::from)
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The text of a scalar, or an error for what has no single text.
fn scalar_text(value: &Value, what: &str) -> Result<String, Error> {
    match value.kind() {
        ValueKind::String | ValueKind::Number | ValueKind::Bool => Ok(value.to_string()),
        ValueKind::Undefined => Err(bad(format!("an undefined value cannot go into {what}"))),
        ValueKind::None => Err(bad(format!(
            "a none value cannot go into {what}; guard it with {{% if ... is not none %}}"
        ))),
        other => Err(bad(format!(
            "a {other} cannot go into {what} as one value; loop over its items"
        ))),
    }
}

/// One shell word that the shell reads back as exactly `value`.
pub fn shell_word(value: &Value) -> Result<String, Error> {
    let text = scalar_text(value, "a shell script")?;
    shlex::try_quote(&text)
        .map(Cow::into_owned)
        .map_err(|_| bad("a value containing a NUL character cannot be passed to a shell"))
}

/// A JSON scalar or collection, which YAML reads back as the same value; with `compose`,
/// `$` doubled so that compose does not interpolate it.
pub fn yaml_scalar(value: &Value, compose: bool) -> Result<String, Error> {
    if value.is_undefined() {
        return Err(bad("an undefined value cannot go into YAML"));
    }
    let mut json = super::value::to_json(value)?;
    if compose {
        escape_dollars(&mut json);
    }
    let text = serde_json::to_string(&json)
        .map_err(|e| bad(format!("cannot write the value as YAML: {e}")))?;
    Ok(yaml_printable(&text))
}

/// JSON leaves some characters raw that YAML forbids or reads as line breaks
/// ([`json_raw_not_yaml`]). They can only occur inside strings here, where `\uXXXX` means
/// the same to both.
pub fn yaml_printable(json: &str) -> String {
    let needs = json_raw_not_yaml;
    if !json.chars().any(needs) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn escape_dollars(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        serde_json::Value::Array(items) => items.iter_mut().for_each(escape_dollars),
        serde_json::Value::Object(map) => map.values_mut().for_each(escape_dollars),
        _ => {}
    }
}

/// A `.env` value: only plain words, since `.env` dialects disagree on quoting.
pub fn dotenv_word(value: &Value) -> Result<String, Error> {
    let text = scalar_text(value, "a .env file")?;
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./:@,+-".contains(c))
    {
        Ok(text)
    } else {
        Err(bad(format!(
            "{text:?} cannot be written safely into a .env file"
        )))
    }
}

fn env_name(value: &Value) -> Result<String, Error> {
    let name = value.as_str().unwrap_or_default();
    if is_env_name(name) {
        Ok(name.to_string())
    } else {
        Err(bad(format!("{value} is not an environment variable name")))
    }
}

/// `{{ "VAR" | compose_required }}`: the compose reference `"${VAR:?...}"`, which makes
/// compose stop with a message when VAR is unset or empty.
pub fn compose_required(value: &Value) -> Result<Value, Error> {
    let name = env_name(value)?;
    let reference = format!("${{{name}:?set {name} in .env or the environment}}");
    let quoted = serde_json::to_string(&reference).map_err(|e| bad(e.to_string()))?;
    Ok(Value::from_safe_string(quoted))
}

/// `{{ text | shell_single }}`: one single-quoted shell word (`'` written as `'\''`), which
/// keeps long JSON text readable where `shlex` would switch between quoting styles.
pub fn shell_single(value: &Value) -> Result<Value, Error> {
    let text = scalar_text(value, "a shell script")?;
    if text.contains('\0') {
        return Err(bad(
            "a value containing a NUL character cannot be passed to a shell",
        ));
    }
    Ok(Value::from_safe_string(format!(
        "'{}'",
        text.replace('\'', "'\\''")
    )))
}

/// `{{ "VAR" | shell_ref }}`: `"${VAR}"`, the variable's value at run time as one word.
pub fn shell_ref(value: &Value) -> Result<Value, Error> {
    let name = env_name(value)?;
    Ok(Value::from_safe_string(format!("\"${{{name}}}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_modes() {
        assert_eq!(
            for_template("azure.sh.j2"),
            AutoEscape::Custom(SHELL.into())
        );
        assert_eq!(
            for_template("compose.yaml.j2"),
            AutoEscape::Custom(COMPOSE_YAML.into())
        );
        assert_eq!(for_template("k8s.yaml.j2"), AutoEscape::Custom(YAML.into()));
        assert_eq!(for_template("x.json.j2"), AutoEscape::Json);
        assert_eq!(
            for_template("env-example.env.j2"),
            AutoEscape::Custom(DOTENV.into())
        );
        assert_eq!(for_template("notes.md.j2"), AutoEscape::None);
    }

    #[test]
    fn shell_words_round_trip() {
        for s in [
            "plain",
            "",
            "a b",
            "it's",
            "\"q\"",
            "$(touch /tmp/x)",
            "`id`",
            "a\nb",
            "${X}",
            "~root",
            "*",
            "-rf",
            "!x",
        ] {
            let word = shell_word(&Value::from(s)).unwrap();
            assert_eq!(
                shlex::split(&word),
                Some(vec![s.to_string()]),
                "{s:?} -> {word}"
            );
        }
        assert!(shell_word(&Value::from("a\0b")).is_err());
        assert!(shell_word(&Value::from(())).is_err());
        assert!(shell_word(&Value::from(vec![1, 2])).is_err());
        assert_eq!(shell_word(&Value::from(3000)).unwrap(), "3000");
    }

    #[test]
    fn compose_scalars() {
        assert_eq!(
            yaml_scalar(&Value::from("a$b\n"), true).unwrap(),
            r#""a$$b\n""#
        );
        assert_eq!(yaml_scalar(&Value::from("a$b"), false).unwrap(), r#""a$b""#);
        assert_eq!(yaml_scalar(&Value::from(2), true).unwrap(), "2");
        assert_eq!(
            yaml_scalar(&Value::from("a\u{2028}b\u{85}\u{7f}é"), false).unwrap(),
            r#""a\u2028b\u0085\u007fé""#
        );
        assert_eq!(
            compose_required(&Value::from("DB_PASS")).unwrap().as_str(),
            Some(r#""${DB_PASS:?set DB_PASS in .env or the environment}""#)
        );
        assert!(compose_required(&Value::from("a b")).is_err());
        assert!(shell_ref(&Value::from("$(x)")).is_err());
        for s in ["{\"a\":\"it's\"}", "", "$(x) `y` \\ \n"] {
            let word = shell_single(&Value::from(s)).unwrap();
            assert_eq!(
                shlex::split(word.as_str().unwrap()),
                Some(vec![s.to_string()])
            );
        }
    }

    #[test]
    fn dotenv_words() {
        assert_eq!(
            dotenv_word(&Value::from("RABBITMQ_USER")).unwrap(),
            "RABBITMQ_USER"
        );
        assert!(dotenv_word(&Value::from("a b")).is_err());
        assert!(dotenv_word(&Value::from("a\nb")).is_err());
    }
}
