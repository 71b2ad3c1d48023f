//! Shovels and federation upstreams in the normalized model: one kind, [`LinkState`], for
//! both, because the broker keeps both as runtime parameters (a component, a vhost, a
//! name and a JSON value that `PUT /api/parameters/{component}/{vhost}/{name}` replaces
//! whole).
//!
//! The value is normalized the same way from the file and from the broker (see
//! [`normalize`]): RabbitMQ's older key spellings renamed to the current ones, the
//! defaults the plugin applies filled in, numbers canonical. The broker stores a value as
//! given and answers it back, URIs with their passwords included, so every URI is kept
//! twice: its full text as a [`SecretUris`] (compared, sent, never printed) and its
//! userinfo-less form in the value (shown in plans, diffs and exports).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Args, DEFAULT_VHOST, canonical_value};
use crate::topology::model::{
    DeleteAfter, DeleteAfterMode, FederationUpstream, Shovel, ShovelEnd, Topology, Uris,
};

/// Which plugin's parameter a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Shovel,
    FederationUpstream,
}

impl Component {
    pub const ALL: [Component; 2] = [Component::Shovel, Component::FederationUpstream];

    /// The parameter component, as the management API's paths spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Shovel => "shovel",
            Component::FederationUpstream => "federation-upstream",
        }
    }

    /// The kind as the file and JSON reports name it.
    pub fn kind(self) -> &'static str {
        match self {
            Component::Shovel => "shovel",
            Component::FederationUpstream => "federation_upstream",
        }
    }

    /// For sentences.
    pub fn label(self) -> &'static str {
        match self {
            Component::Shovel => "shovel",
            Component::FederationUpstream => "federation upstream",
        }
    }

    /// The plugin that runs it, and the one that gives the management API its status
    /// endpoint.
    pub fn plugins(self) -> [&'static str; 2] {
        match self {
            Component::Shovel => ["rabbitmq_shovel", "rabbitmq_shovel_management"],
            Component::FederationUpstream => {
                ["rabbitmq_federation", "rabbitmq_federation_management"]
            }
        }
    }

    /// The keys of the value that hold URIs.
    pub fn uri_keys(self) -> &'static [&'static str] {
        match self {
            Component::Shovel => &["src-uri", "dest-uri"],
            Component::FederationUpstream => &["uri"],
        }
    }

    /// Older spellings the broker still takes, and the current key of each.
    fn aliases(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Component::Shovel => &[
                ("prefetch-count", "src-prefetch-count"),
                ("add-forward-headers", "dest-add-forward-headers"),
                ("delete-after", "src-delete-after"),
            ],
            Component::FederationUpstream => &[],
        }
    }

    /// What the plugin assumes for a key the value leaves out (amqp091 shovels; the
    /// federation upstream documentation's defaults).
    fn defaults(self) -> Vec<(&'static str, Value)> {
        match self {
            Component::Shovel => vec![
                ("src-protocol", json!("amqp091")),
                ("dest-protocol", json!("amqp091")),
                ("ack-mode", json!("on-confirm")),
                ("src-delete-after", json!("never")),
                ("src-prefetch-count", json!(1000)),
                ("reconnect-delay", json!(1)),
                ("dest-add-forward-headers", json!(false)),
            ],
            Component::FederationUpstream => vec![
                ("max-hops", json!(1)),
                ("ack-mode", json!("on-confirm")),
                ("trust-user-id", json!(false)),
                ("prefetch-count", json!(1000)),
                ("reconnect-delay", json!(5)),
            ],
        }
    }
}

/// Identity of a shovel or federation upstream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LinkKey {
    pub component: Component,
    pub vhost: String,
    pub name: String,
}

impl fmt::Display for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.vhost == DEFAULT_VHOST {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}@{}", self.name, self.vhost)
        }
    }
}

/// The full text of one URI key (one URI, or the list the broker tries in turn). Never
/// printed: Debug and Serialize show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUris(Vec<String>);

impl SecretUris {
    /// The texts, for the two places that need them: the `PUT` body ([`Self::expose`]) and
    /// the saved plan's digest of the live state.
    pub fn texts(&self) -> &[String] {
        &self.0
    }

    /// The value to send: one URI as a string, several as a list.
    pub fn expose(&self) -> Value {
        match self.0.as_slice() {
            [one] => json!(one),
            many => json!(many),
        }
    }
}

impl fmt::Debug for SecretUris {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretUris(***)")
    }
}

impl Serialize for SecretUris {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// A shovel's or federation upstream's value, normalized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkState {
    /// The value with every URI shown without its userinfo ([`shown_uri`]); sorted keys.
    pub value: Args,
    /// The full URIs, by key, where known (always from the broker; from the file unless
    /// the variable of `uri_env` is unset, e.g. in an offline diff).
    pub uris: BTreeMap<String, SecretUris>,
}

impl LinkState {
    /// The value to `PUT`, full URIs in. `None` when a URI is not known (its variable is
    /// unset): [`crate::session`] refuses such a file before anything is sent.
    pub fn body(&self, component: Component) -> Option<Value> {
        let mut value: Map<String, Value> = self.value.clone().into_iter().collect();
        for key in component.uri_keys() {
            if value.contains_key(*key) {
                value.insert((*key).to_string(), self.uris.get(*key)?.expose());
            }
        }
        Some(json!({ "value": value }))
    }
}

/// A URI as plan, diff and export show it: the userinfo (user and password) as `***`.
///
/// The userinfo ends at the last `@` before the query: a password with an unescaped `/` or
/// `@` is still hidden (at worst more than the userinfo is).
pub fn shown_uri(uri: &str) -> String {
    let Some(start) = uri.find("://").map(|i| i + 3) else {
        return uri.to_string();
    };
    let end = uri[start..]
        .find(['?', '#'])
        .map_or(uri.len(), |i| start + i);
    match uri[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &uri[..start], &uri[start + at..]),
        None => uri.to_string(),
    }
}

/// Keys of either component whose values are numbers.
const NUMERIC_KEYS: &[&str] = &[
    "src-prefetch-count",
    "prefetch-count",
    "reconnect-delay",
    "src-delete-after",
    "max-hops",
    "expires",
    "message-ttl",
];

/// One broker value (or one built from the file) in canonical form.
pub fn normalize(component: Component, raw: &Map<String, Value>) -> LinkState {
    let mut value = Args::new();
    let mut uris = BTreeMap::new();
    for (k, v) in raw {
        let key = component
            .aliases()
            .iter()
            .find(|(old, _)| old == k)
            .map_or(k.as_str(), |(_, new)| new);
        if component.uri_keys().contains(&key) {
            let texts: Vec<String> = match v {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(String::from))
                    .collect(),
                other => vec![other.as_str().unwrap_or_default().to_string()],
            };
            let shown: Vec<Value> = texts.iter().map(|t| json!(shown_uri(t))).collect();
            value.insert(
                key.to_string(),
                match shown.as_slice() {
                    [one] => one.clone(),
                    _ => Value::Array(shown),
                },
            );
            uris.insert(key.to_string(), SecretUris(texts));
            continue;
        }
        // The current spelling wins over an older one that is also there.
        if key != k && raw.contains_key(key) {
            continue;
        }
        let v = match v {
            // The management UI's forms send numbers as text.
            Value::String(t) if NUMERIC_KEYS.contains(&key) => t
                .trim()
                .parse::<i64>()
                .map_or_else(|_| v.clone(), Value::from),
            _ => v.clone(),
        };
        value.insert(key.to_string(), canonical_value(key, &v));
    }
    for (k, v) in component.defaults() {
        value.entry(k.to_string()).or_insert(v);
    }
    LinkState { value, uris }
}

/// The shovels and federation upstreams of a file. `env` resolves `uri_env`.
pub fn from_topology(
    topo: &Topology,
    env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<LinkKey, LinkState> {
    let default_vhost = topo.vhost.as_deref().unwrap_or(DEFAULT_VHOST);
    let vh = |v: &Option<String>| v.as_deref().unwrap_or(default_vhost).to_string();
    let mut out = BTreeMap::new();
    for s in &topo.shovels {
        let key = LinkKey {
            component: Component::Shovel,
            vhost: vh(&s.vhost),
            name: s.name.clone(),
        };
        let state = shovel_state(s, &key.vhost, env);
        out.insert(key, state);
    }
    for u in &topo.federation_upstreams {
        let key = LinkKey {
            component: Component::FederationUpstream,
            vhost: vh(&u.vhost),
            name: u.name.clone(),
        };
        let state = upstream_state(u, &key.vhost, env);
        out.insert(key, state);
    }
    out
}

/// The URI of vhost `vhost` of this broker: no host, the vhost as the path.
pub fn local_uri(vhost: &str) -> String {
    let path = percent_encoding::utf8_percent_encode(vhost, percent_encoding::NON_ALPHANUMERIC);
    format!("amqp:///{path}")
}

/// Where a URI of the file comes from.
pub struct UriSource<'a> {
    pub uri: &'a Option<Uris>,
    pub uri_env: &'a Option<Uris>,
}

impl UriSource<'_> {
    /// The URI text (a string, or a list as the file gives one), and whether every URI is
    /// the real one (not the placeholder of an unset variable).
    fn resolve(&self, env: &dyn Fn(&str) -> Option<String>, vhost: &str) -> (Value, bool) {
        let mut known = true;
        let texts: Vec<String> = match (self.uri_env, self.uri) {
            (Some(vars), _) => vars
                .items()
                .into_iter()
                .map(|var| {
                    env(var).unwrap_or_else(|| {
                        known = false;
                        format!("*** (from ${var})")
                    })
                })
                .collect(),
            (None, Some(uris)) => uris.items().into_iter().map(String::from).collect(),
            // This broker, the link's own vhost (`amqp://` alone would be `/`).
            (None, None) => vec![local_uri(vhost)],
        };
        // One URI is a string, as the broker keeps it (a list of one reads the same).
        let value = match texts.as_slice() {
            [one] => json!(one),
            _ => json!(texts),
        };
        (value, known)
    }
}

fn shovel_state(s: &Shovel, vhost: &str, env: &dyn Fn(&str) -> Option<String>) -> LinkState {
    let Shovel {
        name: _,
        vhost: _,
        source,
        destination,
        ack_mode,
        src_delete_after,
        prefetch_count,
        reconnect_delay,
        add_forward_headers,
    } = s;
    let mut raw = Map::new();
    let mut known = true;
    for (prefix, end) in [("src", source), ("dest", destination)] {
        let ShovelEnd {
            uri_env,
            uri,
            queue,
            exchange,
            routing_key,
        } = end;
        let (text, k) = UriSource { uri, uri_env }.resolve(env, vhost);
        known &= k;
        raw.insert(format!("{prefix}-uri"), text);
        if let Some(q) = queue {
            raw.insert(format!("{prefix}-queue"), json!(q));
        }
        if let Some(x) = exchange {
            raw.insert(format!("{prefix}-exchange"), json!(x));
        }
        if let Some(rk) = routing_key {
            raw.insert(format!("{prefix}-exchange-key"), json!(rk));
        }
    }
    if let Some(a) = ack_mode {
        raw.insert("ack-mode".into(), json!(a.as_str()));
    }
    if let Some(d) = src_delete_after {
        let v = match d {
            DeleteAfter::Mode(DeleteAfterMode::Never) => json!("never"),
            DeleteAfter::Mode(DeleteAfterMode::QueueLength) => json!("queue-length"),
            DeleteAfter::Count(n) => json!(n),
        };
        raw.insert("src-delete-after".into(), v);
    }
    if let Some(n) = prefetch_count {
        raw.insert("src-prefetch-count".into(), json!(n));
    }
    if let Some(n) = reconnect_delay {
        raw.insert("reconnect-delay".into(), json!(n));
    }
    if let Some(b) = add_forward_headers {
        raw.insert("dest-add-forward-headers".into(), json!(b));
    }
    known_or_not(Component::Shovel, &raw, known)
}

fn upstream_state(
    u: &FederationUpstream,
    vhost: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> LinkState {
    let FederationUpstream {
        name: _,
        vhost: _,
        uri_env,
        uri,
        exchange,
        queue,
        max_hops,
        expires,
        message_ttl,
        ack_mode,
        trust_user_id,
        prefetch_count,
        reconnect_delay,
    } = u;
    let mut raw = Map::new();
    let (text, known) = UriSource { uri, uri_env }.resolve(env, vhost);
    raw.insert("uri".into(), text);
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            raw.insert(k.to_string(), v);
        }
    };
    put("exchange", exchange.as_ref().map(|x| json!(x)));
    put("queue", queue.as_ref().map(|x| json!(x)));
    put("max-hops", max_hops.map(|x| json!(x)));
    put("expires", expires.map(|x| json!(x)));
    put("message-ttl", message_ttl.map(|x| json!(x)));
    put("ack-mode", ack_mode.map(|x| json!(x.as_str())));
    put("trust-user-id", trust_user_id.map(|x| json!(x)));
    put("prefetch-count", prefetch_count.map(|x| json!(x)));
    put("reconnect-delay", reconnect_delay.map(|x| json!(x)));
    known_or_not(Component::FederationUpstream, &raw, known)
}

/// [`normalize`], keeping the real URIs only when every one of them is known.
fn known_or_not(component: Component, raw: &Map<String, Value>, known: bool) -> LinkState {
    let mut s = normalize(component, raw);
    if !known {
        // A placeholder is no URI: keep the texts of none (the value shows the variable).
        s.uris
            .retain(|_, u| !u.0.iter().any(|t| t.starts_with("*** (from $")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_hidden() {
        assert_eq!(
            shown_uri("amqp://bob:s3cret@host:5672/vh"),
            "amqp://***@host:5672/vh"
        );
        assert_eq!(
            shown_uri("amqp://bob:a/b@c@host/vh?x=1"),
            "amqp://***@host/vh?x=1"
        );
        assert_eq!(shown_uri("amqp://"), "amqp://");
        assert_eq!(shown_uri("amqp:///other"), "amqp:///other");
        assert_eq!(
            shown_uri("amqps://host?cacertfile=/a@b"),
            "amqps://host?cacertfile=/a@b"
        );
    }

    #[test]
    fn broker_and_file_values_meet() {
        // What the management UI of 3.10 sends, with older spellings and some defaults.
        let live = json!({"src-uri": "amqp://u:p@h/a", "src-queue": "q", "dest-uri": "amqp://",
            "dest-queue": "r", "prefetch-count": "1000", "add-forward-headers": false,
            "src-protocol": "amqp091"});
        let live = normalize(Component::Shovel, live.as_object().unwrap());
        let file = json!({"src-uri": "amqp://u:p@h/a", "src-queue": "q", "dest-uri": "amqp://",
            "dest-queue": "r"});
        let file = normalize(Component::Shovel, file.as_object().unwrap());
        assert_eq!(live, file);
        assert_eq!(live.value["src-uri"], json!("amqp://***@h/a"));
        let body = live.body(Component::Shovel).unwrap().to_string();
        assert!(body.contains("amqp://u:p@h/a"), "{body}");
        assert!(!format!("{live:?}").contains(":p@"));
        assert!(!serde_json::to_string(&live).unwrap().contains(":p@"));
    }

    #[test]
    fn a_list_of_uris_is_kept_whole_from_the_file_and_the_broker() {
        let u = FederationUpstream {
            name: "origin".into(),
            vhost: None,
            uri_env: Some(Uris::List(vec!["A".into(), "B".into()])),
            uri: None,
            exchange: None,
            queue: None,
            max_hops: None,
            expires: None,
            message_ttl: None,
            ack_mode: None,
            trust_user_id: None,
            prefetch_count: None,
            reconnect_delay: None,
        };
        let env = |v: &str| Some(format!("amqp://u:{v}-pw@{v}-host/x"));
        let file = upstream_state(&u, "/", &env);
        assert_eq!(
            file.value["uri"],
            json!(["amqp://***@A-host/x", "amqp://***@B-host/x"])
        );
        let live = json!({"uri": ["amqp://u:A-pw@A-host/x", "amqp://u:B-pw@B-host/x"]});
        let live = normalize(Component::FederationUpstream, live.as_object().unwrap());
        assert_eq!(live, file);
        let body = file.body(Component::FederationUpstream).unwrap();
        assert_eq!(
            body["value"]["uri"],
            json!(["amqp://u:A-pw@A-host/x", "amqp://u:B-pw@B-host/x"])
        );
        // One unset variable of the list: no real URIs are kept.
        let partial = upstream_state(&u, "/", &|v: &str| (v == "A").then(|| env(v).unwrap()));
        assert_eq!(
            partial.value["uri"],
            json!(["amqp://***@A-host/x", "*** (from $B)"])
        );
        assert_eq!(partial.body(Component::FederationUpstream), None);
    }

    #[test]
    fn an_unset_variable_is_a_placeholder_without_a_secret() {
        let s = Shovel {
            name: "s".into(),
            vhost: None,
            source: ShovelEnd {
                uri_env: Some(Uris::One("SRC".into())),
                queue: Some("q".into()),
                ..Default::default()
            },
            destination: ShovelEnd {
                queue: Some("r".into()),
                ..Default::default()
            },
            ack_mode: None,
            src_delete_after: None,
            prefetch_count: None,
            reconnect_delay: None,
            add_forward_headers: None,
        };
        let st = shovel_state(&s, "/", &|_| None);
        assert_eq!(st.value["dest-uri"], json!("amqp:///%2F"));
        assert_eq!(st.value["src-uri"], json!("*** (from $SRC)"));
        assert!(!st.uris.contains_key("src-uri"));
        assert!(st.uris.contains_key("dest-uri"));
        assert_eq!(st.body(Component::Shovel), None);
    }
}
