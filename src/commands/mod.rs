//! One module per command. Shared here: loading a topology for a command (printing its
//! diagnostics when it is not valid), and scrubbing secrets from anything printed.

pub mod apply;
pub mod confirm;
pub mod diff;
pub mod export;
pub mod graph;
pub mod plan;
pub mod render;
pub mod route;
pub mod schema;
pub mod validate;

use std::io::Write;
use std::path::Path;

use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::topology::{self, Valid};

/// An error with advice for the user, shown as `hint:` under it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// A command that stopped after printing its own diagnostics: exit 1, print nothing more.
#[derive(Debug, thiserror::Error)]
#[error("the topology is not valid")]
pub struct AlreadyReported;

/// Load a topology for a command that needs a valid one; diagnostics go to stderr.
pub fn load_valid(path: &Path, color: ColorChoice) -> Result<Valid, ExitStatus> {
    let loaded = topology::load(path);
    match loaded.into_valid() {
        Ok(valid) => {
            if !valid.diagnostics.is_empty() {
                let mut err = std::io::stderr().lock();
                let _ = crate::diag::render_text(
                    &mut err,
                    &valid.sources,
                    &valid.diagnostics,
                    color.stderr(),
                );
            }
            Ok(valid)
        }
        Err(loaded) => {
            let mut err = std::io::stderr().lock();
            let _ = crate::diag::render_text(
                &mut err,
                &loaded.sources,
                &loaded.diagnostics,
                color.stderr(),
            );
            let n = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
            let _ = writeln!(
                err,
                "error: {} is not valid ({n} problem{})",
                loaded.entry.display(),
                if n == 1 { "" } else { "s" }
            );
            Err(ExitStatus::Failure)
        }
    }
}

/// Replace the password of any `scheme://user:password@` URL in a text by `***`.
///
/// Errors from HTTP and AMQP libraries may quote the URL they were given; everything topo
/// prints passes through here first.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'' || c == '`')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(
            redact("connect amqp://bob:s3cret@host:5672/vh failed"),
            "connect amqp://bob:***@host:5672/vh failed"
        );
        assert_eq!(redact("http://host:15672/api"), "http://host:15672/api");
        assert_eq!(redact("a https://u@h b"), "a https://u@h b");
    }
}
