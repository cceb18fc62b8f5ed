//! The registry of projects and their agents' keys, and the gateway's own
//! receipt key.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use prikk_proto::Signer;

use crate::store::{Project, RegisteredKey, Store, StoreError};

/// Errors from registry operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A public key file does not hold an Ed25519 public key.
    #[error(
        "{path}: expected a 32-byte Ed25519 public key as raw bytes, hex (64 characters) or base64; {problem}"
    )]
    BadPublicKey {
        /// File.
        path: std::path::PathBuf,
        /// What was found.
        problem: String,
    },
    /// The receipt key file is not an Ed25519 PKCS#8 key.
    #[error("{0}: not an Ed25519 PKCS#8 private key")]
    BadReceiptKey(std::path::PathBuf),
    /// A private key file that group or others may read or write.
    #[error(
        "key file {path} has mode {mode:04o}, which lets other users read or change it; \
         make it owner-only: chmod 600 {path}"
    )]
    Permissive {
        /// File.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An id, name or region is empty or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid {what} `{value}`: use 1-64 characters from A-Z a-z 0-9 . _ -")]
    BadId {
        /// Which field.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The datastore refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads an agent's public key: the raw 32 bytes, or their hex or base64
/// text (surrounding whitespace ignored). `municipality-agent keygen` writes
/// hex followed by a newline to `KEY.pub`.
pub fn read_public_key(path: &Path) -> Result<Vec<u8>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_public_key(&bytes).map_err(|problem| RegistryError::BadPublicKey {
        path: path.to_path_buf(),
        problem,
    })
}

/// Parses a public key from raw bytes, hex or base64.
pub fn parse_public_key(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() == 32 {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| format!("{} bytes of binary data", bytes.len()))?
        .trim();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(text).map_err(|e| e.to_string());
    }
    if let Ok(k) = base64::engine::general_purpose::STANDARD.decode(text)
        && k.len() == 32
    {
        return Ok(k);
    }
    Err(format!(
        "found {} characters that are neither",
        text.chars().count()
    ))
}

fn check_id(what: &'static str, value: &str) -> Result<(), RegistryError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadId {
            what,
            value: value.chars().take(80).collect(),
        })
    }
}

/// Registers a project with its agent's key; returns the key id.
pub fn register(
    store: &Store,
    id: &str,
    name: &str,
    region: &str,
    public_key: &[u8],
    now: i64,
) -> Result<String, RegistryError> {
    check_id("project id", id)?;
    check_id("region", region)?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(RegistryError::BadId {
            what: "name",
            value: name.chars().take(80).collect(),
        });
    }
    let p = Project {
        id: id.into(),
        name: name.into(),
        region: region.into(),
        registered_unix: now,
    };
    Ok(store.register_project(&p, public_key)?)
}

/// Adds a new key for a project; returns the new key id and the ids of the
/// project's other keys that are still active (revoke them once the agent
/// has switched and its outbox is empty).
pub fn rotate_key(
    store: &Store,
    project: &str,
    public_key: &[u8],
    now: i64,
) -> Result<(String, Vec<String>), RegistryError> {
    let key_id = store.add_key(project, public_key, now)?;
    let still_active = store
        .keys_of(project)?
        .into_iter()
        .filter(|k| k.revoked_unix.is_none() && k.key_id != key_id)
        .map(|k| k.key_id)
        .collect();
    Ok((key_id, still_active))
}

/// Revokes a key.
pub fn revoke_key(store: &Store, key_id: &str, now: i64) -> Result<RegisteredKey, RegistryError> {
    store.revoke_key(key_id, now)?;
    store
        .key(key_id)?
        .ok_or_else(|| StoreError::Registry(format!("key {key_id} vanished")).into())
}

/// Refuses a private key file that group or others may access (on Unix).
pub fn check_owner_only(path: &Path) -> Result<(), RegistryError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(RegistryError::Permissive {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Loads the gateway's receipt key, creating it (owner-only permissions) if
/// the file does not exist yet. An existing file must be owner-only.
pub fn load_or_create_receipt_key(path: &Path) -> Result<Signer, RegistryError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            check_owner_only(path)?;
            Signer::from_pkcs8(&bytes).map_err(|_| RegistryError::BadReceiptKey(path.to_path_buf()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pkcs8 = Signer::generate_pkcs8()
                .map_err(|_| RegistryError::BadReceiptKey(path.to_path_buf()))?;
            let io = |source| RegistryError::Io {
                path: path.to_path_buf(),
                source,
            };
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path).map_err(io)?;
            f.write_all(&pkcs8).map_err(io)?;
            f.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), "created receipt key");
            Signer::from_pkcs8(&pkcs8).map_err(|_| RegistryError::BadReceiptKey(path.to_path_buf()))
        }
        Err(source) => Err(RegistryError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Loads an existing receipt key without creating one; it must be owner-only.
pub fn read_receipt_key(path: &Path) -> Result<Signer, RegistryError> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check_owner_only(path)?;
    Signer::from_pkcs8(&bytes).map_err(|_| RegistryError::BadReceiptKey(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_formats() {
        let raw = [7u8; 32];
        assert_eq!(parse_public_key(&raw).unwrap(), raw);
        let hexed = format!("{}\n", hex::encode(raw));
        assert_eq!(parse_public_key(hexed.as_bytes()).unwrap(), raw);
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(parse_public_key(b64.as_bytes()).unwrap(), raw);
        assert!(parse_public_key(b"abc").is_err());
        assert!(parse_public_key(&[0xff; 33]).is_err());
    }

    #[test]
    fn receipt_key_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = load_or_create_receipt_key(&path).unwrap();
        let b = load_or_create_receipt_key(&path).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::write(&path, b"junk").unwrap();
        assert!(matches!(
            load_or_create_receipt_key(&path),
            Err(RegistryError::BadReceiptKey(_))
        ));
    }

    #[test]
    fn ids_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("g.db")).unwrap();
        assert!(register(&s, "bad id", "X", "vest", &[1; 32], 0).is_err());
        assert!(register(&s, "ok", "X", "", &[1; 32], 0).is_err());
        let k = register(&s, "ok", "X", "vest", &[1; 32], 0).unwrap();
        let (k2, active) = rotate_key(&s, "ok", &[2; 32], 1).unwrap();
        assert_eq!(active, vec![k.clone()]);
        assert_ne!(k, k2);
        assert!(revoke_key(&s, &k, 2).unwrap().revoked_unix.is_some());
    }
}
