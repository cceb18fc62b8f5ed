//! A local certificate authority and a gateway server certificate for
//! `127.0.0.1` and `localhost`, made with rcgen and written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::error::HarnessError;

/// PEM files of a local CA and of the gateway certificate it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCa {
    /// The CA certificate agents trust (`ca.pem`).
    pub ca_cert: PathBuf,
    /// The gateway's certificate chain (`gateway.crt`).
    pub server_cert: PathBuf,
    /// The gateway's private key (`gateway.key`, owner-only).
    pub server_key: PathBuf,
}

impl LocalCa {
    /// Creates a fresh CA and a server certificate for `127.0.0.1` and
    /// `localhost` in `dir`. The CA's own key is never written: nothing
    /// else can be signed by it once this returns.
    pub fn create(dir: &Path) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(dir).map_err(HarnessError::io(dir))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "prikk local CA");
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, "prikk demonstration");
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "prikk gateway (loopback)");
        let leaf_key = KeyPair::generate()?;
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

        let ca = Self {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("gateway.crt"),
            server_key: dir.join("gateway.key"),
        };
        write(&ca.ca_cert, ca_cert.pem().as_bytes(), 0o644)?;
        write(&ca.server_cert, leaf.pem().as_bytes(), 0o644)?;
        write(&ca.server_key, leaf_key.serialize_pem().as_bytes(), 0o600)?;
        Ok(ca)
    }
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HarnessError> {
    std::fs::write(path, bytes).map_err(HarnessError::io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(HarnessError::io(path))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}
