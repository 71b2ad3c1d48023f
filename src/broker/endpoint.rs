//! Where the broker is and who topo is there: URLs from flags, the environment or the
//! file's `broker` section; credentials from URL userinfo, else `RABBITMQ_USER` /
//! `RABBITMQ_PASSWORD`, else RabbitMQ's `guest`/`guest`. Credentials never go back into
//! anything printed: [`Endpoints`] shows URLs without userinfo.
//!
//! Each URL may be a comma-separated list (the nodes of a cluster): [`Endpoints::nodes`]
//! holds them all and [`super::failover`] picks the one in use.
//!
//! TLS settings come the same way (flags, then `broker.tls`) and become one rustls
//! configuration ([`super::tls`]) that both connections use.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use url::Url;

use super::failover::{Nodes, split_list};
use super::tls::{self, TlsSettings};
use crate::error::Hinted;
use crate::state::Secret;
use crate::topology::Topology;
use crate::topology::model::AuthMechanism;

pub const DEFAULT_AMQP_URL: &str = "amqp://localhost:5672";
pub const DEFAULT_MANAGEMENT_URL: &str = "http://localhost:15672";

/// Where to connect and how, as the user asked (the CLI's flags map onto this; see
/// `commands::args::ConnectFlags`). Unset values fall back to the file, then the defaults.
#[derive(Debug, Clone)]
pub struct ConnectArgs {
    /// AMQP URL (amqp:// or amqps://; userinfo gives the credentials), or a comma-separated
    /// list of a cluster's nodes, tried in turn.
    pub amqp_url: Option<String>,
    /// Management API URL (http:// or https://; userinfo gives the credentials), or a
    /// comma-separated list of a cluster's nodes, in the order of the AMQP list.
    pub management_url: Option<String>,
    /// Time limit of each broker call, per node.
    pub timeout: Duration,
    /// PEM file of the CA that signed the broker's certificate; only it is trusted then.
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Name the broker's certificate must hold, when the URLs use an address or another name.
    pub tls_server_name: Option<String>,
    /// AMQP login mechanism; `None`: the file's, else plain.
    pub auth_mechanism: Option<AuthMechanism>,
}

impl Default for ConnectArgs {
    fn default() -> Self {
        ConnectArgs {
            amqp_url: None,
            management_url: None,
            timeout: Duration::from_secs(30),
            ca_cert: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            auth_mechanism: None,
        }
    }
}

/// Resolved URLs (no userinfo) and credentials.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The first node of each list.
    pub amqp: Url,
    pub management: Url,
    /// Every node, and the one in use (shared by the clones of one command).
    pub nodes: Arc<Nodes>,
    pub user: String,
    pub password: Secret,
    /// Where the user and password were taken from (a flag, a variable, the file's key, the
    /// default), for errors about them. Never the values.
    pub credentials_from: String,
    pub timeout: Duration,
    pub auth_mechanism: AuthMechanism,
    /// The TLS settings as given (for messages), and the configuration both clients use
    /// (`None` when neither URL is TLS).
    pub tls_settings: TlsSettings,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Endpoints {
    /// Resolve from flags, the topology's `broker` section and an environment lookup.
    pub fn resolve(
        args: &ConnectArgs,
        topo: Option<&Topology>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Endpoints> {
        let broker = topo.and_then(|t| t.broker.as_ref());
        let pick = |flag: &Option<String>,
                    file: Option<&crate::topology::model::UrlList>,
                    default: &str|
         -> Vec<String> {
            match flag.as_deref().map(split_list).filter(|l| !l.is_empty()) {
                Some(list) => list.into_iter().map(String::from).collect(),
                None => match file.map(|f| f.urls()).filter(|l| !l.is_empty()) {
                    Some(list) => list.into_iter().map(String::from).collect(),
                    None => vec![default.to_string()],
                },
            }
        };
        let amqp_texts = pick(
            &args.amqp_url,
            broker.and_then(|b| b.amqp_url.as_ref()),
            DEFAULT_AMQP_URL,
        );
        let mgmt_texts = pick(
            &args.management_url,
            broker.and_then(|b| b.management_url.as_ref()),
            DEFAULT_MANAGEMENT_URL,
        );
        // In a list, an entry that does not parse is named by its place (never by its text).
        let nth = |what: &str, i: usize, of: usize| {
            if of == 1 {
                what.to_string()
            } else {
                format!("{what} (node {} of {of})", i + 1)
            }
        };
        let mut amqp_nodes = amqp_texts
            .iter()
            .enumerate()
            .map(|(i, t)| parse_url(t, &nth("AMQP", i, amqp_texts.len()), &["amqp", "amqps"]))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut mgmt_nodes = mgmt_texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                parse_url(
                    t,
                    &nth("management", i, mgmt_texts.len()),
                    &["http", "https"],
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Credentials: the first URL that carries them, management list first.
        let mut amqp = amqp_nodes[0].clone();
        let mut management = mgmt_nodes
            .iter()
            .find(|u| !u.username().is_empty())
            .unwrap_or(&mgmt_nodes[0])
            .clone();
        if let Some(u) = amqp_nodes.iter().find(|u| !u.username().is_empty()) {
            amqp = u.clone();
        }

        let from_url = |u: &Url| -> Option<(String, String)> {
            if u.username().is_empty() {
                return None;
            }
            let user = percent_decode_str(u.username())
                .decode_utf8_lossy()
                .into_owned();
            let pw = u
                .password()
                .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned())
                .unwrap_or_default();
            Some((user, pw))
        };
        // Where a URL list came from, for "the credentials came from ..." (never its text).
        let origin = |flag: &Option<String>, var: &str, flag_name: &str, key: &str| match flag {
            Some(text) if env(var).as_deref() == Some(text.as_str()) => {
                format!("the user:password of the URL in {var}")
            }
            Some(_) => format!("the user:password of the URL given with {flag_name}"),
            None => format!("the user:password of the URL in the file's `broker.{key}`"),
        };
        let (user, password, credentials_from) = match from_url(&management) {
            Some((u, p)) => (
                u,
                p,
                origin(
                    &args.management_url,
                    "TOPO_MANAGEMENT_URL",
                    "--management-url",
                    "management_url",
                ),
            ),
            None => match from_url(&amqp) {
                Some((u, p)) => (
                    u,
                    p,
                    origin(&args.amqp_url, "TOPO_AMQP_URL", "--amqp-url", "amqp_url"),
                ),
                None => match (env("RABBITMQ_USER"), env("RABBITMQ_PASSWORD")) {
                    (Some(u), Some(p)) if !u.is_empty() => (
                        u,
                        p,
                        "the variables RABBITMQ_USER and RABBITMQ_PASSWORD".to_string(),
                    ),
                    (Some(u), None) if !u.is_empty() => (
                        u,
                        String::new(),
                        "the variable RABBITMQ_USER (RABBITMQ_PASSWORD is not set: an empty \
                         password)"
                            .to_string(),
                    ),
                    _ => (
                        "guest".into(),
                        "guest".into(),
                        "RabbitMQ's default guest/guest: no URL carries a user and \
                         RABBITMQ_USER is not set"
                            .to_string(),
                    ),
                },
            },
        };
        for u in amqp_nodes.iter_mut().chain(mgmt_nodes.iter_mut()) {
            let _ = u.set_username("");
            let _ = u.set_password(None);
        }
        for u in mgmt_nodes.iter_mut() {
            if u.path() == "/" || u.path().is_empty() {
                u.set_path("/");
            }
        }
        amqp = amqp_nodes[0].clone();
        management = mgmt_nodes[0].clone();
        let nodes = Arc::new(Nodes::new(amqp_nodes, mgmt_nodes));
        let file_tls = broker.and_then(|b| b.tls.as_ref());
        let tls_settings = TlsSettings {
            ca_file: args
                .ca_cert
                .clone()
                .or_else(|| file_tls.and_then(|t| t.ca_file.as_ref().map(PathBuf::from))),
            client_cert: args
                .client_cert
                .clone()
                .or_else(|| file_tls.and_then(|t| t.client_cert.as_ref().map(PathBuf::from))),
            client_key: args
                .client_key
                .clone()
                .or_else(|| file_tls.and_then(|t| t.client_key.as_ref().map(PathBuf::from))),
            server_name: args
                .tls_server_name
                .clone()
                .or_else(|| file_tls.and_then(|t| t.server_name.clone())),
        };
        let auth_mechanism = args
            .auth_mechanism
            .or_else(|| broker.and_then(|b| b.auth_mechanism))
            .unwrap_or(AuthMechanism::Plain);
        use super::failover::Proto;
        let amqp_list = nodes.list(Proto::Amqp);
        let uses_tls = amqp_list.iter().any(|u| u.scheme() == "amqps")
            || nodes
                .list(Proto::Management)
                .iter()
                .any(|u| u.scheme() == "https");
        if auth_mechanism == AuthMechanism::External
            && (amqp_list.iter().any(|u| u.scheme() != "amqps") || !tls_settings.has_client_cert())
        {
            return Err(Hinted::new(
                "auth_mechanism external logs in with the client certificate, which needs an \
                 amqps:// URL and a client certificate",
                "use an amqps:// URL and give --client-cert and --client-key (or broker.tls), \
                 or use auth_mechanism plain",
            )
            .into());
        }
        let tls = if uses_tls {
            Some(anyhow::Context::context(
                tls::client_config(&tls_settings),
                "setting up TLS",
            )?)
        } else {
            None
        };
        Ok(Endpoints {
            amqp,
            management,
            nodes,
            user,
            password: Secret::new(password),
            credentials_from,
            timeout: args.timeout,
            auth_mechanism,
            tls_settings,
            tls,
        })
    }

    /// The AMQP URI of the first node for one vhost, with credentials (never print it).
    pub fn amqp_uri(&self, vhost: &str) -> String {
        self.amqp_uri_at(&self.amqp, vhost)
    }

    /// The AMQP URI of one node for one vhost, with credentials (never print it).
    pub fn amqp_uri_at(&self, node: &Url, vhost: &str) -> String {
        let mut u = node.clone();
        // A vhost in the URL's path is replaced by each entity's own vhost.
        u.set_path("");
        u.set_query(None);
        let _ = u.set_username(&encode(&self.user));
        let _ = u.set_password(Some(&encode(self.password.expose())));
        let mut text = u.to_string();
        // lapin reads the vhost from the path; `/` must be sent as `%2f`.
        while text.ends_with('/') {
            text.pop();
        }
        text.push('/');
        text.push_str(&encode(vhost));
        if self.auth_mechanism == AuthMechanism::External {
            text.push_str("?auth_mechanism=external");
        }
        text
    }

    /// The host name the AMQP TLS handshake verifies (the override, else the URL's host).
    pub fn amqp_server_name(&self) -> String {
        self.amqp_server_name_for(&self.amqp)
    }

    /// The longest an AMQP connect may take: the timeout once for every node it may try.
    pub fn amqp_connect_limit(&self) -> Duration {
        let n = self.nodes.list(super::failover::Proto::Amqp).len();
        self.timeout * u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The host name the TLS handshake with one AMQP node verifies.
    pub fn amqp_server_name_for(&self, node: &Url) -> String {
        self.tls_settings
            .server_name
            .clone()
            .unwrap_or_else(|| node.host_str().unwrap_or("localhost").to_string())
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Parse a broker URL without ever echoing it: a URL that failed to parse may hold a
/// password that the parser split in the wrong place, so errors name the part that is
/// wrong, never the text.
fn parse_url(text: &str, what: &str, schemes: &[&str]) -> anyhow::Result<Url> {
    let encode_hint = "a user name or password with `/`, `?`, `#`, `@` or `:` must be \
                       percent-encoded (`%2F`, `%3F`, `%23`, `%40`, `%3A`)";
    let has_userinfo = text.contains('@');
    let url = Url::parse(text).map_err(|e| {
        let part = match e {
            url::ParseError::InvalidPort => "the port",
            url::ParseError::EmptyHost
            | url::ParseError::IdnaError
            | url::ParseError::InvalidDomainCharacter
            | url::ParseError::InvalidIpv4Address
            | url::ParseError::InvalidIpv6Address => "the host",
            url::ParseError::RelativeUrlWithoutBase => "the scheme (none given)",
            _ => "its syntax",
        };
        let hint = if has_userinfo {
            format!("{encode_hint}; write it as {}://user:password@host:port", schemes[0])
        } else {
            format!("write it as {}://host:port", schemes[0])
        };
        Hinted::new(
            format!("the {what} URL is not valid: {part} is wrong ({e}); the URL is not shown, it may hold a password"),
            hint,
        )
    })?;
    // `amqp://user:pa/ss@host` parses, with the password's tail as the path: refuse
    // rather than connect somewhere else and print that path.
    let tail_has_at = url.path().contains('@')
        || url.query().is_some_and(|q| q.contains('@'))
        || url.fragment().is_some_and(|f| f.contains('@'));
    if tail_has_at {
        return Err(Hinted::new(
            format!("the {what} URL is not valid: its path, query or fragment holds an `@`; the URL is not shown, it may hold a password"),
            encode_hint,
        )
        .into());
    }
    if !schemes.contains(&url.scheme()) {
        return Err(Hinted::new(
            format!("the {what} URL has scheme `{}`", url.scheme()),
            format!("use {}", schemes.join(" or ")),
        )
        .into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(amqp: Option<&str>, mgmt: Option<&str>) -> ConnectArgs {
        ConnectArgs {
            amqp_url: amqp.map(String::from),
            management_url: mgmt.map(String::from),
            timeout: Duration::from_secs(1),
            ..ConnectArgs::default()
        }
    }

    #[test]
    fn userinfo_wins_then_env_then_guest() {
        let env = |k: &str| match k {
            "RABBITMQ_USER" => Some("envuser".to_string()),
            "RABBITMQ_PASSWORD" => Some("envpw".to_string()),
            _ => None,
        };
        let e =
            Endpoints::resolve(&args(Some("amqp://bob:p%40ss@h:5672"), None), None, &env).unwrap();
        assert_eq!((e.user.as_str(), e.password.expose()), ("bob", "p@ss"));
        assert_eq!(e.amqp.as_str(), "amqp://h:5672");
        assert!(!format!("{e:?}").contains("p@ss"));
        let e = Endpoints::resolve(&args(None, None), None, &env).unwrap();
        assert_eq!(e.user, "envuser");
        let e = Endpoints::resolve(&args(None, None), None, &|_| None).unwrap();
        assert_eq!((e.user.as_str(), e.password.expose()), ("guest", "guest"));
        assert_eq!(e.management.as_str(), "http://localhost:15672/");
    }

    #[test]
    fn amqp_uri_escapes_the_vhost() {
        let e = Endpoints::resolve(&args(None, None), None, &|_| None).unwrap();
        assert_eq!(e.amqp_uri("/"), "amqp://guest:guest@localhost:5672/%2F");
        assert_eq!(e.amqp_uri("a b"), "amqp://guest:guest@localhost:5672/a%20b");
        let e = Endpoints::resolve(
            &args(Some("amqps://h:5671/some-vhost"), None),
            None,
            &|_| None,
        )
        .unwrap();
        assert_eq!(e.amqp_uri("x"), "amqps://guest:guest@h:5671/x");
    }

    #[test]
    fn lists_of_nodes_from_flags_or_the_file() {
        let e = Endpoints::resolve(
            &args(
                Some("amqp://u:pw@a:5701, amqp://b:5702"),
                Some("http://a:15701,http://b:15702"),
            ),
            None,
            &|_| None,
        )
        .unwrap();
        let amqp: Vec<_> = e.nodes.list(super::super::failover::Proto::Amqp).to_vec();
        assert_eq!(amqp[1].as_str(), "amqp://b:5702");
        assert!(e.nodes.paired());
        assert_eq!((e.user.as_str(), e.password.expose()), ("u", "pw"));
        assert!(!format!("{e:?}").contains("pw@"));
        let b = Endpoints::amqp_uri_at(&e, &amqp[1], "v");
        assert_eq!(b, "amqp://u:pw@b:5702/v");

        let topo: crate::topology::Topology = serde_json::from_value(serde_json::json!({
            "version": 1,
            "broker": {"amqp_url": ["amqp://a:1", "amqp://b:2", "amqp://c:3"],
                       "management_url": "http://lb:15672"}
        }))
        .unwrap();
        let e = Endpoints::resolve(&args(None, None), Some(&topo), &|_| None).unwrap();
        assert_eq!(e.nodes.list(super::super::failover::Proto::Amqp).len(), 3);
        assert!(!e.nodes.paired());
        assert_eq!(e.management.as_str(), "http://lb:15672/");
        // A bad entry anywhere in a list is an error naming that entry.
        let err = Endpoints::resolve(&args(Some("amqp://a:1,amqp://b:x"), None), None, &|_| None)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("the AMQP (node 2 of 2) URL is not valid: the port"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_scheme_is_an_error() {
        let err = Endpoints::resolve(&args(Some("http://x"), None), None, &|_| None).unwrap_err();
        assert!(format!("{err:#}").contains("scheme"));
    }
}
