//! The municipality's Ed25519 signing key on disk, and public keys in hex files.
//!
//! The private key is a PKCS#8 document readable by its owner only (mode
//! 0600). A key file that the group or others may read is refused: whoever
//! can read it can sign reports in the municipality's name. A new key is
//! never written over an existing file.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use prikk_proto::{KeyId, Signer, key_id_of};

/// Errors creating or loading keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Refused to replace an existing key.
    #[error(
        "{0} already exists; refusing to overwrite a key (move it away first if you really mean to replace it)"
    )]
    Exists(PathBuf),
    /// The private key file may be read by the group or by others.
    #[error(
        "key file {path} has mode {mode:04o}, which lets other users read it; \
         only its owner may (run `chmod 600 {path}`)"
    )]
    Permissive {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not hold an Ed25519 PKCS#8 key.
    #[error("{0}: not an Ed25519 PKCS#8 private key")]
    BadPrivateKey(PathBuf),
    /// The public key file does not hold 64 hex characters.
    #[error("{path}: expected an Ed25519 public key as 64 hex characters on one line, {problem}")]
    BadPublicKey {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        problem: String,
    },
    /// Key generation failed in the cryptographic library.
    #[error("could not generate a key: {0}")]
    Generate(prikk_proto::SignError),
}

/// What `generate` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The private key file.
    pub key_path: PathBuf,
    /// The public key file (`<key>.pub`).
    pub public_path: PathBuf,
    /// Hex of the raw 32-byte public key.
    pub public_hex: String,
    /// The key id the directorate registers.
    pub key_id: KeyId,
}

/// The public key file that belongs to a private key file: `PATH.pub`.
pub fn public_path_for(key_path: &Path) -> PathBuf {
    let mut s = key_path.as_os_str().to_os_string();
    s.push(".pub");
    PathBuf::from(s)
}

/// Generates a fresh key, writes it to `key_path` (mode 0600, never over an
/// existing file) and its public key to `key_path.pub`.
pub fn generate(key_path: &Path) -> Result<NewKey, KeyError> {
    let public_path = public_path_for(key_path);
    for p in [key_path, public_path.as_path()] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyError::Exists(p.to_path_buf()));
        }
    }
    let pkcs8 = Signer::generate_pkcs8().map_err(KeyError::Generate)?;
    let signer =
        Signer::from_pkcs8(&pkcs8).map_err(|_| KeyError::BadPrivateKey(key_path.to_path_buf()))?;
    let public_hex = hex::encode(signer.public_key());

    write_new(key_path, &pkcs8, 0o600)?;
    if let Err(e) = write_new(&public_path, format!("{public_hex}\n").as_bytes(), 0o644) {
        // Leave no half-made pair behind: without its .pub the key is useless
        // to register, and a retry would refuse to overwrite it.
        let _ = std::fs::remove_file(key_path);
        return Err(e);
    }
    Ok(NewKey {
        key_path: key_path.to_path_buf(),
        public_path,
        public_hex,
        key_id: signer.key_id().to_string(),
    })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |source: std::io::Error| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    // The umask may have narrowed the mode; make it exactly what we asked for.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

/// Loads the signing key, refusing a file that group or others may access.
pub fn load_signer(key_path: &Path) -> Result<Signer, KeyError> {
    let io = |source: std::io::Error| KeyError::Io {
        path: key_path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(key_path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissive {
                path: key_path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let bytes = std::fs::read(key_path).map_err(io)?;
    Signer::from_pkcs8(&bytes).map_err(|_| KeyError::BadPrivateKey(key_path.to_path_buf()))
}

/// Parses a public key written as hex (as `keygen` and the gateway write it).
pub fn parse_public_hex(text: &str, path: &Path) -> Result<[u8; 32], KeyError> {
    let bad = |problem: String| KeyError::BadPublicKey {
        path: path.to_path_buf(),
        problem,
    };
    let trimmed = text.trim();
    if trimmed.len() != 64 {
        return Err(bad(format!("found {} characters", trimmed.chars().count())));
    }
    let bytes = hex::decode(trimmed).map_err(|e| bad(format!("found {e}")))?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Reads a public key hex file.
pub fn load_public_key(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_public_hex(&text, path)
}

/// The key id of a raw public key (re-exported for the CLI).
pub fn key_id(public_key: &[u8]) -> KeyId {
    key_id_of(public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_hex_is_strict() {
        let p = Path::new("gw.pub");
        assert!(parse_public_hex(&"ab".repeat(32), p).is_ok());
        assert!(parse_public_hex(&format!("{}\n", "AB".repeat(32)), p).is_ok());
        assert!(parse_public_hex(&"ab".repeat(31), p).is_err());
        assert!(parse_public_hex(&"zz".repeat(32), p).is_err());
    }

    #[test]
    fn pub_path_appends_suffix() {
        assert_eq!(
            public_path_for(Path::new("/k/agent.key")),
            PathBuf::from("/k/agent.key.pub")
        );
    }
}
