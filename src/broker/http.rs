//! A small management HTTP API client (reqwest): JSON in and out, every call under a
//! timeout, errors that say what to do (wrong password, plugin off, no permission) and
//! never carry the credentials.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::endpoint::Endpoints;
use super::failover::{Nodes, Proto};
use crate::state::Secret;

/// What went wrong talking to the management API.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach the management API at {url}: {detail}")]
    Unreachable {
        url: String,
        detail: String,
        /// What answered at the management URL's address, and whether AMQP did: tells a
        /// wrong port from a plugin that is off from something else listening there.
        reach: Reach,
    },
    /// An HTTP server answered, but not RabbitMQ's management API (its answers are JSON).
    #[error("{what}: {url} answers, but not as RabbitMQ's management API: {detail}")]
    NotManagement {
        what: String,
        url: String,
        detail: String,
    },
    #[error(
        "the broker refused the credentials of user `{user}` (HTTP 401); they came from {from}"
    )]
    Unauthorized { user: String, from: String },
    #[error("user `{user}` is not allowed: {what} was refused{reason}")]
    Forbidden {
        user: String,
        what: String,
        reason: String,
    },
    #[error("{what} timed out after {secs}s")]
    Timeout { what: String, secs: u64 },
    #[error("{what} failed: HTTP {status}{reason}")]
    Status {
        what: String,
        status: u16,
        reason: String,
    },
    #[error("{what}: the answer is not the JSON expected: {detail}")]
    Body { what: String, detail: String },
}

impl HttpError {
    /// The error as a user sees it: the message and, where topo knows one, what to do.
    pub fn into_user_error(self) -> anyhow::Error {
        match self.hint() {
            Some(h) => crate::error::Hinted::new(self.to_string(), h).into(),
            None => self.into(),
        }
    }

    /// Worth retrying while waiting for a broker that is starting.
    pub fn is_transient(&self) -> bool {
        match self {
            // A certificate problem does not go away by waiting.
            HttpError::Unreachable { detail, .. } => super::tls::explain(detail).is_none(),
            HttpError::Timeout { .. } => true,
            HttpError::Status { status, .. } => *status == 503,
            _ => false,
        }
    }

    /// Advice for the user.
    pub fn hint(&self) -> Option<String> {
        match self {
            // `PUT /api/parameters/{component}/..` on a broker without the plugin.
            HttpError::Status { reason, .. } if reason.contains("component shovel not found") => {
                Some(
                    "the broker does not run the shovel plugin: enable it with \
                     `rabbitmq-plugins enable rabbitmq_shovel rabbitmq_shovel_management`"
                        .into(),
                )
            }
            HttpError::Status { reason, .. }
                if reason.contains("component federation-upstream not found") =>
            {
                Some(
                    "the broker does not run the federation plugin: enable it with \
                     `rabbitmq-plugins enable rabbitmq_federation rabbitmq_federation_management`"
                        .into(),
                )
            }
            HttpError::Unreachable { detail, .. } if super::tls::explain(detail).is_some() => {
                super::tls::explain(detail).map(String::from)
            }
            HttpError::Unreachable {
                reach:
                    Reach::Refused {
                        addr,
                        amqp_up: true,
                        usual_port: true,
                    },
                ..
            } => Some(format!(
                "nothing listens at {addr}, while the broker's AMQP port answers: the \
                 management plugin is off; enable it with `rabbitmq-plugins enable \
                 rabbitmq_management` (or, if the API listens elsewhere, fix the port of \
                 --management-url)"
            )),
            HttpError::Unreachable {
                reach:
                    Reach::Refused {
                        addr,
                        amqp_up: true,
                        ..
                    },
                ..
            } => Some(format!(
                "nothing listens at {addr}, while the broker's AMQP port answers: check the port \
                 of --management-url (or TOPO_MANAGEMENT_URL, or the file's \
                 broker.management_url); the management API listens on 15672 by default, 15671 \
                 with TLS"
            )),
            HttpError::Unreachable {
                reach: Reach::Refused { addr, .. },
                ..
            } => Some(format!(
                "nothing listens at {addr}, nor at the AMQP port: is the broker running? check \
                 the host and port of --management-url (or TOPO_MANAGEMENT_URL, or the file's \
                 broker.management_url), or pass --wait 60s to wait for a broker that is \
                 starting"
            )),
            HttpError::Unreachable {
                reach: Reach::Answered { addr, amqp: true },
                ..
            } => Some(format!(
                "{addr} is an AMQP port, not the management API: give the management API's port \
                 in --management-url (15672 by default, 15671 with TLS) and the AMQP port in \
                 --amqp-url"
            )),
            HttpError::Unreachable {
                reach: Reach::Answered { addr, amqp: false },
                ..
            } => Some(format!(
                "something listens at {addr} but does not speak HTTP: it is not RabbitMQ's \
                 management API; check the port of --management-url (15672 by default, 15671 \
                 with TLS), and use https:// for a TLS port"
            )),
            HttpError::NotManagement { .. } => Some(
                "check the host, port and path of --management-url (or TOPO_MANAGEMENT_URL): it \
                 must point at RabbitMQ's management API, e.g. http://host:15672 (a path only \
                 when the API is served under one, as behind a proxy)"
                    .into(),
            ),
            HttpError::Unreachable { .. } => Some(
                "is the broker running? check --management-url (or TOPO_MANAGEMENT_URL), or \
                 pass --wait 60s to wait for a broker that is starting"
                    .into(),
            ),
            HttpError::Unauthorized { from, .. } if from.contains("default guest") => Some(
                "give topo's credentials: RABBITMQ_USER and RABBITMQ_PASSWORD, or user:password \
                 in --management-url (RabbitMQ lets `guest` log in from localhost only)"
                    .into(),
            ),
            HttpError::Unauthorized { .. } => Some(
                "fix the user or password there (in a URL, `/`, `?`, `#`, `@` and `:` must be \
                 percent-encoded), or give other credentials: user:password in \
                 --management-url, or RABBITMQ_USER and RABBITMQ_PASSWORD"
                    .into(),
            ),
            HttpError::Forbidden { .. } => Some(
                "topo needs a user with the `administrator` tag and permissions on the \
                 vhosts of the file"
                    .into(),
            ),
            HttpError::Timeout { .. } => {
                Some("raise --timeout, or check the broker's load and file-handle limit".into())
            }
            _ => None,
        }
    }
}

/// The management API of one broker, or of the nodes of a cluster tried in turn.
#[derive(Clone)]
pub struct Management {
    client: reqwest::Client,
    nodes: Arc<Nodes>,
    user: String,
    password: Secret,
    credentials_from: String,
    timeout: Duration,
    memo: Arc<Memo>,
}

/// What the broker says about itself that does not change while one command runs: read on
/// first use and shared by every clone, so that the state read, the refusal check, the
/// preflight and the quorum advice of one run ask once (each was its own `GET /api/overview`
/// or `GET /api/nodes`, and on 3.10 with 10,000 queues each of those costs tens of ms).
/// A failed read is not kept: the next use asks again.
#[derive(Default)]
pub struct Memo {
    /// `rabbitmq_version` of `GET /api/overview` (`None`: the answer has none).
    pub(crate) version: tokio::sync::OnceCell<Option<String>>,
    /// How many nodes `GET /api/nodes` lists, and when the only one started
    /// (`crate::broker::cluster::single_node_start`).
    pub(crate) nodes: tokio::sync::OnceCell<(usize, Option<u64>)>,
    /// Which broker this is and since when it runs (`None`: it does not say), for the copies
    /// of its exports kept between runs (`crate::broker::cache`).
    pub(crate) incarnation: tokio::sync::OnceCell<Option<Incarnation>>,
}

/// A broker's identity across restarts, and its latest start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incarnation {
    /// The global parameter `internal_cluster_id`: made once, when the broker's data
    /// directory is new, so a broker that is wiped or replaced has another.
    pub cluster_id: String,
    /// When its node started, in ms since the Unix epoch on this machine's clock (now minus
    /// the node's uptime: never earlier than the true start).
    pub started_ms: u64,
}

/// What a GET sends and keeps for a copy of its answer ([`Management::get_fresh`]).
#[derive(Debug, Default, Clone, Copy)]
struct Cond<'a> {
    /// The `ETag` of the copy: a 304 then means the copy still holds.
    if_none_match: Option<&'a str>,
    /// Keep the `ETag` and raw bytes of a full answer.
    keep: bool,
}

/// One call's outcome.
enum Reply<T> {
    /// 304 to `If-None-Match`.
    Unchanged,
    Body {
        value: Option<T>,
        etag: Option<String>,
        raw: Vec<bytes::Bytes>,
    },
}

/// The answer to [`Management::get_fresh`].
#[derive(Debug)]
pub enum Fresh<T> {
    /// The copy whose `ETag` was sent still holds.
    Unchanged,
    /// A full answer: parsed, its `ETag` (when the broker sent one), and its raw bytes
    /// (only with an `ETag`).
    Changed {
        value: T,
        etag: Option<String>,
        raw: Vec<bytes::Bytes>,
    },
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Management({} as {})", self.base(), self.user)
    }
}

/// Install the `ring` rustls provider once (reqwest and lapin both need one).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Management {
    pub fn new(ep: &Endpoints) -> anyhow::Result<Management> {
        install_crypto();
        let mut builder = reqwest::Client::builder();
        builder = match &ep.tls {
            // The same configuration lapin gets: one set of roots, one client certificate.
            Some(tls) => builder.tls_backend_preconfigured(rustls::ClientConfig::clone(tls)),
            None => builder.tls_backend_rustls(),
        };
        let client = builder
            .connect_timeout(ep.timeout.min(Duration::from_secs(10)))
            .timeout(ep.timeout)
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(Management {
            client,
            nodes: ep.nodes.clone(),
            user: ep.user.clone(),
            password: ep.password.clone(),
            credentials_from: ep.credentials_from.clone(),
            timeout: ep.timeout,
            memo: Arc::default(),
        })
    }

    /// The answers read once per run ([`Memo`]).
    pub fn memo(&self) -> &Memo {
        &self.memo
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// The base URL of the node in use.
    pub fn base(&self) -> Url {
        self.nodes.current(Proto::Management).1.clone()
    }

    /// The nodes this client tries.
    pub fn nodes(&self) -> &Nodes {
        &self.nodes
    }

    /// `base/api/<segments...>`, each segment percent-encoded (`/` becomes `%2F`).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.base();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().push("api");
            for s in segments {
                p.push(s);
            }
        }
        u
    }

    pub async fn get(&self, segments: &[&str], what: &str) -> Result<Value, HttpError> {
        self.call::<Value>(Method::GET, self.url(segments), None, what)
            .await
            .map(|v| v.unwrap_or(Value::Null))
    }

    /// GET that answers `None` for 404.
    pub async fn get_opt(&self, segments: &[&str], what: &str) -> Result<Option<Value>, HttpError> {
        match self
            .call::<Value>(Method::GET, self.url(segments), None, what)
            .await
        {
            Ok(v) => Ok(Some(v.unwrap_or(Value::Null))),
            Err(HttpError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn put(&self, segments: &[&str], body: &Value, what: &str) -> Result<(), HttpError> {
        self.call::<Value>(Method::PUT, self.url(segments), Some(body), what)
            .await
            .map(|_| ())
    }

    pub async fn post(&self, segments: &[&str], body: &Value, what: &str) -> Result<(), HttpError> {
        self.call::<Value>(Method::POST, self.url(segments), Some(body), what)
            .await
            .map(|_| ())
    }

    /// DELETE; an entity already gone counts as deleted.
    pub async fn delete(&self, segments: &[&str], what: &str) -> Result<(), HttpError> {
        match self
            .call::<Value>(Method::DELETE, self.url(segments), None, what)
            .await
        {
            Ok(_) | Err(HttpError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GET with a query string, parsed straight into a typed answer. The URL is built
    /// before the future starts, so the arguments need not outlive it.
    pub fn get_typed_query<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        what: &str,
    ) -> impl std::future::Future<Output = Result<T, HttpError>> + '_ {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let what = what.to_string();
        async move {
            match self.call::<T>(Method::GET, url, None, &what).await? {
                Some(t) => Ok(t),
                None => Err(HttpError::Body {
                    what,
                    detail: "empty answer".into(),
                }),
            }
        }
    }

    /// GET that revalidates a copy kept from an earlier run: with the copy's `ETag` it sends
    /// `If-None-Match`, and a 304 answers [`Fresh::Unchanged`] without a body (RabbitMQ
    /// 4.3.5+ on its definitions exports; the broker then does none of the export's work).
    /// A full answer comes with its `ETag` and, when it has one, its raw bytes (the chunks as
    /// they arrived, not copied), so that the caller can keep them.
    pub async fn get_fresh<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        segments: &[&str],
        etag: Option<&str>,
        what: &str,
    ) -> Result<Fresh<T>, HttpError> {
        let cond = Cond {
            if_none_match: etag,
            keep: true,
        };
        match self
            .call_with::<T>(Method::GET, self.url(segments), None, what, cond)
            .await?
        {
            Reply::Unchanged => Ok(Fresh::Unchanged),
            Reply::Body {
                value: Some(value),
                etag,
                raw,
            } => Ok(Fresh::Changed { value, etag, raw }),
            Reply::Body { value: None, .. } => Err(HttpError::Body {
                what: what.into(),
                detail: "empty answer".into(),
            }),
        }
    }

    /// [`Self::call_with`] for a request that revalidates no copy.
    async fn call<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Option<T>, HttpError> {
        match self
            .call_with(method, url, body, what, Cond::default())
            .await?
        {
            Reply::Body { value, .. } => Ok(value),
            // Only sent with `If-None-Match`, which `Cond::default` has not.
            Reply::Unchanged => Ok(None),
        }
    }

    /// One call, through the node in use; when that node cannot be reached (or drops the
    /// connection before answering), through the next, each node once. GET, PUT and DELETE
    /// are safe to repeat; a POST moves on only when it never left. A node
    /// that takes the request and does not answer in time is not skipped: a timeout is an
    /// error, so that a cut-off node ends in a clear error rather than a doubled wait.
    async fn call_with<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
        cond: Cond<'_>,
    ) -> Result<Reply<T>, HttpError> {
        let list = self.nodes.list(Proto::Management);
        let mut at = list
            .iter()
            .position(|b| url.as_str().starts_with(b.as_str()))
            .unwrap_or(0);
        let mut url = url;
        let mut tried = 0;
        loop {
            match self
                .call_node(method.clone(), url.clone(), body, what, cond)
                .await
            {
                Err(HttpError::Unreachable { detail, .. })
                    if self.nodes.several(Proto::Management)
                        && tried + 1 < list.len()
                        && (method != Method::POST || never_sent(&detail)) =>
                {
                    tried += 1;
                    let next = self.nodes.advance(Proto::Management, at);
                    self.nodes
                        .report_failure(Proto::Management, at, &detail, next);
                    url = self.nodes.rebase(&url, at, next);
                    at = next;
                }
                Err(HttpError::Unreachable { detail, reach, .. }) if tried > 0 => {
                    return Err(HttpError::Unreachable {
                        url: format!("any node ({})", self.nodes.describe(Proto::Management)),
                        detail,
                        reach,
                    });
                }
                Ok(v) => {
                    self.nodes.announce(Proto::Management, at);
                    return Ok(v);
                }
                Err(e) => {
                    // An answer (even a refusal) means the node is up: stay with it.
                    if !matches!(e, HttpError::Unreachable { .. } | HttpError::Timeout { .. }) {
                        self.nodes.announce(Proto::Management, at);
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn call_node<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
        cond: Cond<'_>,
    ) -> Result<Reply<T>, HttpError> {
        let base = self
            .nodes
            .list(Proto::Management)
            .iter()
            .find(|b| url.as_str().starts_with(b.as_str()))
            .map(Url::to_string)
            .unwrap_or_else(|| self.base().to_string());
        let request = || {
            let req = self
                .client
                .request(method.clone(), url.clone())
                .basic_auth(&self.user, Some(self.password.expose()));
            let req = match cond.if_none_match {
                Some(tag) => req.header(reqwest::header::IF_NONE_MATCH, tag),
                None => req,
            };
            match body {
                Some(b) => req.json(b),
                None => req,
            }
        };
        let started = std::time::Instant::now();
        let mut send = tokio::time::timeout(self.timeout, request().send()).await;
        // A pooled connection the broker closed while it sat idle (RabbitMQ 4.x closes idle
        // HTTP connections while topo runs a long AMQP stage): one retry on a fresh one,
        // for requests that are safe to send twice.
        if method != Method::POST
            && matches!(&send, Ok(Err(e)) if error_chain(e).contains("connection closed before message completed"))
        {
            send = tokio::time::timeout(self.timeout, request().send()).await;
        }
        let resp = match send {
            Err(_) => return Err(self.timeout_err(what)),
            // A connect that timed out is a node that is not there: the next may be.
            Ok(Err(e)) if e.is_timeout() && !e.is_connect() => return Err(self.timeout_err(what)),
            Ok(Err(e)) => {
                let detail = error_chain(&e);
                let reach = self.reach(&url, &detail).await;
                return Err(HttpError::Unreachable {
                    url: base,
                    detail,
                    reach,
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED && cond.if_none_match.is_some() {
            crate::trace::done(started, || {
                trace_line(&method, &url, status, 0, started.elapsed())
            });
            return Ok(Reply::Unchanged);
        }
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .filter(|_| cond.keep && status.is_success())
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        if status.is_success() && resp.content_length().is_none_or(|n| n > STREAM_ABOVE) {
            let keep = etag.is_some();
            return self
                .parse_streamed(resp, what, &base, started, (&method, &url), keep)
                .await
                .map(|(value, raw)| Reply::Body { value, etag, raw });
        }
        let bytes = match tokio::time::timeout(self.timeout, resp.bytes()).await {
            Err(_) => return Err(self.timeout_err(what)),
            Ok(Err(e)) => {
                return Err(HttpError::Body {
                    what: what.into(),
                    detail: error_chain(&e),
                });
            }
            Ok(Ok(b)) => b,
        };
        let fetched = started.elapsed();
        // RabbitMQ's API answers JSON, errors included (`{"error": ..., "reason": ...}`): a
        // 404 or a success that is not JSON comes from some other server, and must not read
        // as "that vhost does not exist" or as a broken broker. A success is parsed once, into
        // its type; only when that fails is it asked whether it was JSON at all (a second
        // pass over a 4 MB export costs tens of ms on every plan).
        let json = || serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok();
        let not_management = || HttpError::NotManagement {
            what: what.into(),
            url: base.clone(),
            detail: format!(
                "HTTP {} with {} that is not JSON",
                status.as_u16(),
                if bytes.is_empty() {
                    "an empty body"
                } else {
                    "a body"
                }
            ),
        };
        if status == StatusCode::NOT_FOUND && !json() {
            return Err(not_management());
        }
        if status.is_success() {
            if bytes.is_empty() {
                crate::trace::done(started, || trace_line(&method, &url, status, 0, fetched));
                return Ok(Reply::Body {
                    value: None,
                    etag: None,
                    raw: Vec::new(),
                });
            }
            let parsed = match serde_json::from_slice(&bytes) {
                Ok(v) => Ok(Reply::Body {
                    value: Some(v),
                    raw: if etag.is_some() {
                        vec![bytes.clone()]
                    } else {
                        Vec::new()
                    },
                    etag,
                }),
                Err(_) if !json() => Err(not_management()),
                Err(e) => Err(HttpError::Body {
                    what: what.into(),
                    detail: e.to_string(),
                }),
            };
            crate::trace::done(started, || {
                trace_line(&method, &url, status, bytes.len(), fetched)
            });
            return parsed;
        }
        crate::trace::done(started, || {
            trace_line(&method, &url, status, bytes.len(), fetched)
        });
        let reason = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(String::from))
            // A refused shovel or upstream value can quote its URIs, passwords included.
            .map(|r| format!(": {}", crate::error::redact(&r)))
            .unwrap_or_default();
        Err(match status {
            // 401 is also "Not administrator user": a login that worked but lacks a tag.
            // A failed login says "Login failed" up to 3.x and "Not_Authorized" on 4.x.
            StatusCode::UNAUTHORIZED
                if !reason.is_empty()
                    && !reason.contains("Login failed")
                    && !reason.contains("Not_Authorized") =>
            {
                HttpError::Forbidden {
                    user: self.user.clone(),
                    what: what.into(),
                    reason,
                }
            }
            StatusCode::UNAUTHORIZED => HttpError::Unauthorized {
                user: self.user.clone(),
                from: self.credentials_from.clone(),
            },
            StatusCode::FORBIDDEN => HttpError::Forbidden {
                user: self.user.clone(),
                what: what.into(),
                reason,
            },
            s => HttpError::Status {
                what: what.into(),
                status: s.as_u16(),
                reason,
            },
        })
    }

    /// A large successful answer (a vhost's definitions export: 4 MB at 10,000 queues),
    /// parsed on a blocking thread while its chunks arrive. RabbitMQ 4.2.9+ streams that
    /// export as it reads its metadata store, so the parse now ends with the last chunk
    /// instead of starting after it (it took 30 ms there, on the plan's critical path).
    /// The whole body shares one deadline, as a buffered read does. An answer that is not
    /// JSON (a syntax error or a cut-off document) is some other server's, as in
    /// [`Self::call_node`].
    async fn parse_streamed<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        mut resp: reqwest::Response,
        what: &str,
        base: &str,
        started: std::time::Instant,
        (method, url): (&Method, &Url),
        keep: bool,
    ) -> Result<(Option<T>, Vec<bytes::Bytes>), HttpError> {
        let status = resp.status();
        let mut raw = Vec::new();
        let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
        let parse = tokio::task::spawn_blocking(move || {
            let chunks = Chunks {
                rx,
                current: bytes::Bytes::new(),
            };
            serde_json::from_reader::<_, T>(std::io::BufReader::with_capacity(64 * 1024, chunks))
        });
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut size = 0usize;
        let failed = loop {
            match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Err(_) => break Some(self.timeout_err(what)),
                Ok(Err(e)) => {
                    break Some(HttpError::Body {
                        what: what.into(),
                        detail: error_chain(&e),
                    });
                }
                Ok(Ok(None)) => break None,
                Ok(Ok(Some(chunk))) => {
                    size += chunk.len();
                    if keep {
                        // A second handle on the same bytes, not a copy.
                        raw.push(chunk.clone());
                    }
                    // The parser stopped early (the answer does not fit): its error tells.
                    if tx.send(chunk).await.is_err() {
                        break None;
                    }
                }
            }
        };
        // The end of the body for the parser: it finishes (or fails) on what it has.
        drop(tx);
        let fetched = started.elapsed();
        let parsed = parse.await;
        crate::trace::done(started, || trace_line(method, url, status, size, fetched));
        if let Some(e) = failed {
            return Err(e);
        }
        match parsed {
            Ok(Ok(v)) => Ok((Some(v), raw)),
            Ok(Err(_)) if size == 0 => Ok((None, Vec::new())),
            Ok(Err(e))
                if matches!(
                    e.classify(),
                    serde_json::error::Category::Syntax | serde_json::error::Category::Eof
                ) =>
            {
                Err(HttpError::NotManagement {
                    what: what.into(),
                    url: base.to_string(),
                    detail: format!("HTTP {} with a body that is not JSON", status.as_u16()),
                })
            }
            Ok(Err(e)) => Err(HttpError::Body {
                what: what.into(),
                detail: e.to_string(),
            }),
            Err(e) => Err(HttpError::Body {
                what: what.into(),
                detail: format!("parsing the answer stopped: {e} (a bug in topo)"),
            }),
        }
    }

    fn timeout_err(&self, what: &str) -> HttpError {
        HttpError::Timeout {
            what: what.into(),
            secs: self.timeout.as_secs(),
        }
    }

    /// What answered at the address of a request that failed below HTTP: nothing (and
    /// whether AMQP did, to tell a plugin that is off from a wrong port), something that is
    /// not HTTP (and whether it speaks AMQP), or a TLS failure.
    async fn reach(&self, url: &Url, detail: &str) -> Reach {
        let addr = url
            .host_str()
            .map(|h| format!("{h}:{}", url.port_or_known_default().unwrap_or(15672)))
            .unwrap_or_default();
        if super::tls::explain(detail).is_some() {
            return Reach::Tls;
        }
        if detail.contains("Connection refused") || detail.contains("os error 111") {
            let amqp = self.nodes.current(Proto::Amqp).1;
            let amqp_port = amqp.port_or_known_default().unwrap_or(5672);
            let port = url.port_or_known_default().unwrap_or(15672);
            // The management port that goes with the AMQP one: 15672 (15671 with TLS), or
            // the +10000 rule that test and container setups follow (5682 and 15682).
            let usual_port =
                port == amqp_port.saturating_add(10000) || port == 15672 || port == 15671;
            return Reach::Refused {
                addr,
                amqp_up: self.amqp_answers().await,
                usual_port,
            };
        }
        if never_sent(detail) {
            return Reach::Other;
        }
        Reach::Answered {
            amqp: speaks_amqp(&addr, self.timeout.min(Duration::from_secs(2))).await,
            addr,
        }
    }

    /// Whether something listens on the AMQP port (to tell "plugin off" from "broker down").
    async fn amqp_answers(&self) -> bool {
        // The AMQP node in use: with paired lists, the same node as the failing HTTP one.
        let amqp = self.nodes.current(Proto::Amqp).1;
        let Some(addr) = amqp
            .host_str()
            .map(|h| format!("{h}:{}", amqp.port_or_known_default().unwrap_or(5672)))
        else {
            return false;
        };
        matches!(
            tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(addr.as_str())
            )
            .await,
            Ok(Ok(_))
        )
    }
}

/// What a request that got no HTTP answer met at its address (see [`Management::reach`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Nothing listens there.
    Refused {
        addr: String,
        /// Whether the AMQP port of the broker answers.
        amqp_up: bool,
        /// Whether the port is the one the management API has beside that AMQP port.
        usual_port: bool,
    },
    /// Something took the connection but answered no HTTP; `amqp`: it is an AMQP listener.
    Answered { addr: String, amqp: bool },
    /// The TLS handshake failed ([`super::tls::explain`] names why).
    Tls,
    /// A name that does not resolve, a host that cannot be reached, ...
    Other,
}

/// Whether the server at `addr` speaks AMQP: an AMQP listener answers anything that is not
/// its protocol header with its own header (`AMQP` then the version it speaks) and closes.
async fn speaks_amqp(addr: &str, limit: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.ok()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.ok()?;
        Some(&buf == b"AMQP")
    };
    matches!(tokio::time::timeout(limit, probe).await, Ok(Some(true)))
}

/// Answers above this size, or of no stated size (a chunked, streamed answer), are parsed
/// as they arrive ([`Management::parse_streamed`]); smaller ones are read whole first,
/// which costs less than a thread.
const STREAM_ABOVE: u64 = 256 * 1024;

/// The chunks of a body, read by the parsing thread as they come.
struct Chunks {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl std::io::Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// One call as `TOPO_TRACE` shows it: the total time is the line's own; `fetched` is the
/// part until the last byte arrived (the rest is parsing).
fn trace_line(
    method: &Method,
    url: &Url,
    status: StatusCode,
    bytes: usize,
    fetched: Duration,
) -> String {
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!(
        "{method} {}{query} -> {} {} bytes (last byte at {:.1} ms)",
        url.path(),
        status.as_u16(),
        bytes,
        fetched.as_secs_f64() * 1000.0
    )
}

/// Whether a transport error happened before the request left (the connection was never
/// made), from hyper's error chain: only then is a POST (which may not be safe to repeat)
/// sent to another node.
fn never_sent(detail: &str) -> bool {
    detail.contains("client error (Connect)")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    crate::error::redact(&s)
}
