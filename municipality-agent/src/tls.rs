//! The gRPC endpoint to the gateway: TLS (rustls) anchored in the configured
//! CA certificate, with timeouts. Plaintext only when explicitly allowed and
//! only to a loopback address, for development on one machine.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// Default seconds to wait for a TCP and TLS connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default seconds to wait for a receipt.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors building the endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The URL does not parse or has no host.
    #[error("gateway URL {url:?} is not valid: {problem}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// `http://` without permission, or to a host that is not loopback.
    #[error("{0}")]
    PlaintextRefused(String),
    /// TLS needs a CA certificate and none is configured.
    #[error(
        "no CA certificate for the gateway's TLS: set gateway.ca_certificate in the config or pass --ca FILE"
    )]
    NoCa,
    /// The CA certificate file cannot be read or holds no certificate.
    #[error("CA certificate {path}: {problem}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// tonic refused the TLS settings.
    #[error("TLS settings refused: {0}")]
    Tonic(String),
}

/// How to reach the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// `https://host:port`, or `http://127.0.0.1:port` with `insecure_plaintext`.
    pub url: String,
    /// PEM file with the CA certificate(s) for the gateway's certificate.
    pub ca_certificate: Option<PathBuf>,
    /// Name to verify in the certificate when it differs from the URL's host.
    pub server_name: Option<String>,
    /// Allow `http://` to a loopback host.
    pub insecure_plaintext: bool,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

/// Whether a URL host (as in a URI, IPv6 in brackets) is a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn read_ca(path: &Path) -> Result<Certificate, TlsError> {
    let pem = std::fs::read(path).map_err(|e| TlsError::BadCa {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(TlsError::BadCa {
            path: path.to_path_buf(),
            problem: "expected a PEM file with at least one \"-----BEGIN CERTIFICATE-----\" block"
                .into(),
        });
    }
    Ok(Certificate::from_pem(pem))
}

impl Transport {
    /// Validates the settings and builds the tonic endpoint.
    pub fn endpoint(&self) -> Result<Endpoint, TlsError> {
        let bad = |problem: &str| TlsError::BadUrl {
            url: self.url.clone(),
            problem: problem.into(),
        };
        let endpoint = Endpoint::from_shared(self.url.clone()).map_err(|e| bad(&e.to_string()))?;
        let uri = endpoint.uri().clone();
        let host = uri.host().ok_or_else(|| bad("it has no host"))?.to_string();
        let endpoint = endpoint
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .tcp_nodelay(true);
        match uri.scheme_str() {
            Some("https") => {
                let ca = read_ca(self.ca_certificate.as_deref().ok_or(TlsError::NoCa)?)?;
                let mut tls = ClientTlsConfig::new().ca_certificate(ca);
                let name = self.server_name.clone().unwrap_or_else(|| {
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string()
                });
                tls = tls.domain_name(name);
                endpoint
                    .tls_config(tls)
                    .map_err(|e| TlsError::Tonic(e.to_string()))
            }
            Some("http") => {
                if !self.insecure_plaintext {
                    return Err(TlsError::PlaintextRefused(format!(
                        "refusing plaintext gRPC to {}: use an https:// URL, or pass --insecure-plaintext \
                         (loopback development only)",
                        self.url
                    )));
                }
                if !is_loopback_host(&host) {
                    return Err(TlsError::PlaintextRefused(format!(
                        "refusing plaintext gRPC to {host}: --insecure-plaintext is only for a gateway on this \
                         machine (127.0.0.1, ::1 or localhost)"
                    )));
                }
                Ok(endpoint)
            }
            _ => Err(bad("expected an https:// URL")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(url: &str, insecure: bool) -> Transport {
        Transport {
            url: url.into(),
            ca_certificate: None,
            server_name: None,
            insecure_plaintext: insecure,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "127.9.9.9", "[::1]", "localhost", "LOCALHOST"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "gateway.example.no",
            "[::2]",
            "localhost.example.no",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn plaintext_needs_flag_and_loopback() {
        assert!(matches!(
            t("http://127.0.0.1:1", false).endpoint(),
            Err(TlsError::PlaintextRefused(_))
        ));
        assert!(matches!(
            t("http://10.1.1.1:1", true).endpoint(),
            Err(TlsError::PlaintextRefused(_))
        ));
        assert!(t("http://127.0.0.1:1", true).endpoint().is_ok());
        assert!(t("http://[::1]:1", true).endpoint().is_ok());
    }

    #[test]
    fn tls_needs_a_ca() {
        assert!(matches!(
            t("https://gw.example.no:443", false).endpoint(),
            Err(TlsError::NoCa)
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a cert").unwrap();
        let mut x = t("https://gw.example.no:443", false);
        x.ca_certificate = Some(p);
        assert!(matches!(x.endpoint(), Err(TlsError::BadCa { .. })));
        assert!(matches!(
            t("ftp://x", true).endpoint(),
            Err(TlsError::BadUrl { .. })
        ));
    }
}
