//! Errors every layer may raise, and the one scrubber of secrets from printed text.
//!
//! This sits at the bottom of the crate so that the broker adapters, the renderers and the
//! git reader can give advice (`hint:`) without importing the command layer that prints it.

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
