//! TLS material for the gRPC server, and the rule that plaintext is only
//! for loopback development.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tonic::transport::{Identity, ServerTlsConfig};

/// Problems with the TLS set-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{path}: expected {expected}")]
    Pem {
        /// File.
        path: PathBuf,
        /// What was expected.
        expected: &'static str,
    },
    /// Neither TLS material nor the plaintext flag was given.
    #[error(
        "TLS needs --tls-cert and --tls-key (or tls_cert/tls_key in the config); --insecure-plaintext is for loopback development only"
    )]
    Missing,
    /// Plaintext was asked for on a non-loopback address.
    #[error("--insecure-plaintext is only allowed on a loopback address, not {0}")]
    PlaintextNotLoopback(SocketAddr),
}

/// How the gRPC listener is secured.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS with this server identity.
    Tls(Identity),
    /// No TLS (loopback only).
    Plaintext,
}

fn read_pem(path: &Path, marker: &str, expected: &'static str) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !String::from_utf8_lossy(&bytes).contains(marker) {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            expected,
        });
    }
    Ok(bytes)
}

impl Transport {
    /// Decides the transport from the configuration.
    pub fn from_parts(
        cert: Option<&Path>,
        key: Option<&Path>,
        insecure_plaintext: bool,
        listen: SocketAddr,
    ) -> Result<Self, TlsError> {
        match (cert, key) {
            (Some(c), Some(k)) => {
                let cert = read_pem(c, "-----BEGIN CERTIFICATE-----", "a PEM certificate chain")?;
                let key = read_pem(k, "PRIVATE KEY-----", "a PEM private key")?;
                Ok(Transport::Tls(Identity::from_pem(cert, key)))
            }
            _ if insecure_plaintext => {
                if listen.ip().is_loopback() {
                    Ok(Transport::Plaintext)
                } else {
                    Err(TlsError::PlaintextNotLoopback(listen))
                }
            }
            _ => Err(TlsError::Missing),
        }
    }

    /// The tonic server TLS configuration, if any.
    pub fn server_config(&self) -> Option<ServerTlsConfig> {
        match self {
            Transport::Tls(id) => Some(ServerTlsConfig::new().identity(id.clone())),
            Transport::Plaintext => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_on_loopback() {
        let lo: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:1".parse().unwrap();
        assert!(matches!(
            Transport::from_parts(None, None, true, lo),
            Ok(Transport::Plaintext)
        ));
        assert!(matches!(
            Transport::from_parts(None, None, true, any),
            Err(TlsError::PlaintextNotLoopback(_))
        ));
        assert!(matches!(
            Transport::from_parts(None, None, false, lo),
            Err(TlsError::Missing)
        ));
    }

    #[test]
    fn non_pem_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("c.pem");
        std::fs::write(&c, "hello").unwrap();
        let e = Transport::from_parts(Some(&c), Some(&c), false, "127.0.0.1:1".parse().unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("c.pem"), "{e}");
    }
}
