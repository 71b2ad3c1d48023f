//! clap's view of library types. The layers below the commands take plain values
//! ([`ConnectArgs`], [`Format`], [`Via`], ...) and know nothing of argument parsing; the
//! flags that fill them, and the `ValueEnum` impls that name their variants on the command
//! line, are kept here, beside the commands that parse them.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};

use crate::apply::Via;
use crate::broker::endpoint::ConnectArgs;
use crate::output::{ColorChoice, TextOrJson};
use crate::report::Format;
use crate::topology::model::AuthMechanism;

/// Connection flags shared by plan, apply and export.
#[derive(Debug, Clone, Args)]
pub struct ConnectFlags {
    /// AMQP URL of the broker (amqp:// or amqps://; userinfo gives the credentials), or a
    /// comma-separated list of a cluster's nodes, tried in turn.
    /// Default: the file's broker.amqp_url, else amqp://localhost:5672.
    #[arg(long, env = "TOPO_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<String>,

    /// Management API URL (http:// or https://; userinfo gives the credentials), or a
    /// comma-separated list of a cluster's nodes, in the order of --amqp-url.
    /// Default: the file's broker.management_url, else http://localhost:15672.
    #[arg(long, env = "TOPO_MANAGEMENT_URL", hide_env_values = true)]
    pub management_url: Option<String>,

    /// Time limit of each broker call, per node (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// PEM file of the CA that signed the broker's certificate (amqps://, https://); only it
    /// is trusted then. Default: the file's broker.tls.ca_file, else the system's roots
    /// (which honour SSL_CERT_FILE).
    #[arg(long, env = "TOPO_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// PEM client certificate for brokers that require mutual TLS (with --client-key).
    #[arg(long, env = "TOPO_CLIENT_CERT", value_name = "FILE")]
    pub client_cert: Option<PathBuf>,

    /// PEM private key of --client-cert.
    #[arg(long, env = "TOPO_CLIENT_KEY", value_name = "FILE")]
    pub client_key: Option<PathBuf>,

    /// Name the broker's certificate must hold, when the URLs use an address or another name.
    #[arg(long, env = "TOPO_TLS_SERVER_NAME", value_name = "NAME")]
    pub tls_server_name: Option<String>,

    /// AMQP login: plain (user and password) or external (the client certificate's name).
    /// Default: the file's broker.auth_mechanism, else plain.
    #[arg(long, value_enum, value_name = "MECHANISM")]
    pub auth_mechanism: Option<AuthMechanism>,
}

impl ConnectFlags {
    /// The flags as the broker layer takes them.
    pub fn args(&self) -> ConnectArgs {
        // Destructured in full: a new flag that is not passed on fails to compile here.
        let ConnectFlags {
            amqp_url,
            management_url,
            timeout,
            ca_cert,
            client_cert,
            client_key,
            tls_server_name,
            auth_mechanism,
        } = self;
        ConnectArgs {
            amqp_url: amqp_url.clone(),
            management_url: management_url.clone(),
            timeout: *timeout,
            ca_cert: ca_cert.clone(),
            client_cert: client_cert.clone(),
            client_key: client_key.clone(),
            tls_server_name: tls_server_name.clone(),
            auth_mechanism: *auth_mechanism,
        }
    }
}

impl ValueEnum for ColorChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &[ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            ColorChoice::Auto => PossibleValue::new("auto")
                .help("Colour when writing to a terminal and NO_COLOR is not set"),
            ColorChoice::Always => PossibleValue::new("always"),
            ColorChoice::Never => PossibleValue::new("never"),
        })
    }
}

impl ValueEnum for TextOrJson {
    fn value_variants<'a>() -> &'a [Self] {
        &[TextOrJson::Text, TextOrJson::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            TextOrJson::Text => PossibleValue::new("text"),
            TextOrJson::Json => PossibleValue::new("json"),
        })
    }
}

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Text, Format::Json, Format::Markdown]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Format::Text => PossibleValue::new("text"),
            Format::Json => PossibleValue::new("json"),
            Format::Markdown => PossibleValue::new("markdown"),
        })
    }
}

impl ValueEnum for Via {
    fn value_variants<'a>() -> &'a [Self] {
        &[Via::Amqp, Via::Definitions]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Via::Amqp => PossibleValue::new("amqp").help("Pipelined AMQP declares"),
            Via::Definitions => PossibleValue::new("definitions")
                .help("The broker's definitions import of just the missing entities, chunked"),
        })
    }
}

impl ValueEnum for AuthMechanism {
    fn value_variants<'a>() -> &'a [Self] {
        &[AuthMechanism::Plain, AuthMechanism::External]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            AuthMechanism::Plain => PossibleValue::new("plain"),
            AuthMechanism::External => PossibleValue::new("external"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each variant's command-line name parses back to the variant (the names are the
    /// documented contract of `--color`, `--format` and `--via`).
    fn round_trips<T: ValueEnum + PartialEq + std::fmt::Debug>() {
        for v in T::value_variants() {
            let name = v.to_possible_value().map(|p| p.get_name().to_string());
            let name = name.unwrap_or_default();
            assert_eq!(T::from_str(&name, false).as_ref(), Ok(v), "{name}");
        }
    }

    #[test]
    fn value_names_round_trip() {
        round_trips::<ColorChoice>();
        round_trips::<TextOrJson>();
        round_trips::<Format>();
        round_trips::<Via>();
        round_trips::<AuthMechanism>();
    }
}
