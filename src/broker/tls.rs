//! One TLS client configuration (rustls) for both connections to a broker: the AMQP one
//! (lapin) and the management API one (reqwest). Built once from the CA, client certificate
//! and server name the user gave, so the two cannot disagree about whom they trust — the
//! failure the issue met was reqwest trusting `SSL_CERT_FILE` while lapin did not, after a
//! change had already been made.
//!
//! Trust: a CA file (`--ca-cert`, `broker.tls.ca_file`) replaces the system's roots, as
//! `curl --cacert` does, so a private CA is the only one that can vouch for the broker.
//! Without one, the system's trust store (which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`).
//! There is no switch that turns verification off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Hinted;

/// What the user said about TLS (flags, environment, the file's `broker.tls`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsSettings {
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate must hold, when the URL's host is not it (an
    /// address, a load balancer's name).
    pub server_name: Option<String>,
}

impl TlsSettings {
    pub fn has_client_cert(&self) -> bool {
        self.client_cert.is_some()
    }
}

/// The shared client configuration.
pub fn client_config(s: &TlsSettings) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(roots(s)?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up certificate verification: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match &s.server_name {
        Some(name) => Arc::new(NamedVerifier {
            inner: webpki,
            name: ServerName::try_from(name.clone()).map_err(|_| {
                Hinted::new(
                    format!("the TLS server name `{name}` is not a DNS name or an IP address"),
                    "give the name the broker's certificate holds, e.g. --tls-server-name rabbit.example.com",
                )
            })?,
        }),
        None => webpki,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&s.client_cert, &s.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "client certificate")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Hinted::new(
                    format!("cannot read the client key {}: {e}", key.display()),
                    "give a PEM private key (PKCS#8, PKCS#1 or SEC1) that belongs to --client-cert",
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Hinted::new(
                    format!("the client certificate and key do not go together: {e}"),
                    "give the key the client certificate was issued for",
                )
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(Hinted::new(
                "a client certificate needs its key, and a key its certificate",
                "give both --client-cert and --client-key (or broker.tls.client_cert and client_key)",
            )
            .into());
        }
    };
    Ok(Arc::new(config))
}

fn roots(s: &TlsSettings) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    if let Some(ca) = &s.ca_file {
        let (added, _) = store.add_parsable_certificates(certs(ca, "CA file")?);
        if added == 0 {
            return Err(Hinted::new(
                format!("the CA file {} holds no usable certificate", ca.display()),
                "give the PEM certificate of the CA that signed the broker's certificate",
            )
            .into());
        }
        return Ok(store);
    }
    let found = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        return Err(Hinted::new(
            "no trusted CA certificates found on this system for amqps:// or https://",
            "pass --ca-cert FILE (or broker.tls.ca_file), set SSL_CERT_FILE, or install the \
             system's CA certificates (ca-certificates)",
        )
        .into());
    }
    Ok(store)
}

fn certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let read = CertificateDer::pem_file_iter(path).and_then(|it| it.collect::<Result<Vec<_>, _>>());
    match read {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(Hinted::new(
            format!("the {what} {} holds no PEM certificate", path.display()),
            "give a file with -----BEGIN CERTIFICATE----- blocks",
        )
        .into()),
        Err(e) => Err(Hinted::new(
            format!("cannot read the {what} {}: {e}", path.display()),
            "check the path (relative paths are from the directory topo runs in)",
        )
        .into()),
    }
}

/// Verifies the server's certificate against a given name instead of the URL's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What to do about a TLS failure, from the error text both clients pass on from rustls
/// (or the broker's alert). `None` when the text is not a TLS failure topo knows.
pub fn explain(detail: &str) -> Option<&'static str> {
    let d = detail;
    Some(
        if d.contains("UnknownIssuer") || d.contains("unknown issuer") {
            "the broker's certificate is not signed by a CA topo trusts: pass --ca-cert FILE (or \
         broker.tls.ca_file) with the CA that signed it, or set SSL_CERT_FILE"
        } else if !d.contains("alert")
            && !d.contains("revocation list")
            && [
                "Expired",
                "certificate expired",
                "NotValidYet",
                "certificate not valid yet",
            ]
            .iter()
            .any(|w| d.contains(w))
        {
            // rustls 0.23 says `certificate expired: verification time ...` (older ones and
            // lapin's debug form `Expired`); the broker's alert about topo's own certificate
            // is `CertificateExpired`, below.
            "the broker's certificate has expired (or is not valid yet): renew it on the broker, \
         or check this machine's clock"
        } else if d.contains("NotValidForName") || d.contains("not valid for name") {
            "the broker's certificate does not hold the host name of the URL: connect by a name it \
         holds, or pass --tls-server-name NAME (broker.tls.server_name) with that name"
        } else if d.contains("CertificateRequired")
            || (d.contains("HandshakeFailure") && d.contains("alert"))
        {
            "the broker asks for a client certificate: pass --client-cert FILE and --client-key FILE \
         (or broker.tls.client_cert and client_key)"
        } else if d.contains("CertificateExpired") {
            "the broker refused the client certificate: it has expired; issue a new one"
        } else if d.contains("UnknownCA") || d.contains("BadCertificate") {
            "the broker refused the client certificate: it is not signed by a CA the broker trusts"
        } else if d.contains("InvalidContentType") || d.contains("corrupt message") {
            "the port does not speak TLS: use amqp:// or http:// for a plain port, or the broker's \
         TLS port"
        } else {
            return None;
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_without_a_certificate_is_refused() {
        let s = TlsSettings {
            client_key: Some("k.pem".into()),
            ..TlsSettings::default()
        };
        let err = client_config(&s).unwrap_err();
        assert!(format!("{err:#}").contains("needs its key"), "{err:#}");
    }

    #[test]
    fn an_unreadable_ca_file_is_named() {
        let s = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let err = client_config(&s).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.pem"),
            "{err:#}"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let s = TlsSettings {
            ca_file: Some(p),
            ..TlsSettings::default()
        };
        let err = client_config(&s).unwrap_err();
        assert!(format!("{err:#}").contains("no PEM certificate"), "{err:#}");
    }

    #[test]
    fn failures_are_explained_by_cause() {
        let cases = [
            ("invalid peer certificate: UnknownIssuer", "--ca-cert"),
            ("invalid peer certificate: Expired", "has expired"),
            // rustls 0.23.46 as the expired-server-certificate test in tests/tls_broker.rs
            // meets it.
            (
                "invalid peer certificate: certificate expired: verification time 1796127327 \
                 (UNIX), but certificate is not valid after 1609459200 (186668127 seconds ago)",
                "the broker's certificate has expired",
            ),
            (
                "invalid peer certificate: certificate not valid yet: verification time 1 (UNIX)",
                "the broker's certificate has expired (or is not valid yet)",
            ),
            (
                "invalid peer certificate: certificate not valid for name \"127.0.0.1\"",
                "--tls-server-name",
            ),
            ("received fatal alert: CertificateRequired", "--client-cert"),
            (
                "received fatal alert: CertificateExpired",
                "client certificate: it has expired",
            ),
        ];
        for (text, want) in cases {
            let got = explain(text).unwrap_or_default();
            assert!(got.contains(want), "{text}: {got}");
        }
        assert_eq!(explain("connection refused"), None);
    }
}
