//! `keygen` and key loading: owner-only permissions, never overwrite, refuse
//! a key others can read.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use municipality_agent::keys::{self, KeyError};

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_municipality-agent"))
}

#[test]
fn keygen_writes_owner_only_key_and_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("agent.key");
    let out = agent()
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let pub_text = std::fs::read_to_string(dir.path().join("agent.key.pub")).unwrap();
    assert!(pub_text.ends_with('\n'));
    let public = keys::parse_public_hex(&pub_text, &key).unwrap();

    // The key loads, and its public key and id are the ones printed.
    let signer = keys::load_signer(&key).unwrap();
    assert_eq!(signer.public_key(), public.as_slice());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&hex::encode(public)), "{stdout}");
    assert!(stdout.contains(signer.key_id()), "{stdout}");
    assert_eq!(signer.key_id(), prikk_proto::key_id_of(&public));
}

#[test]
fn keygen_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("agent.key");
    assert_eq!(
        agent()
            .args(["keygen", "--out"])
            .arg(&key)
            .status()
            .unwrap()
            .code(),
        Some(0)
    );
    let before = std::fs::read(&key).unwrap();
    let before_pub = std::fs::read(dir.path().join("agent.key.pub")).unwrap();

    let out = agent()
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&key).unwrap(), before);
    assert_eq!(
        std::fs::read(dir.path().join("agent.key.pub")).unwrap(),
        before_pub
    );

    // A stray .pub alone also blocks a new key, and no private key is left behind.
    let other = dir.path().join("other.key");
    std::fs::write(dir.path().join("other.key.pub"), "x").unwrap();
    assert!(matches!(keys::generate(&other), Err(KeyError::Exists(_))));
    assert!(!other.exists());
}

#[test]
fn permissive_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("agent.key");
    keys::generate(&key).unwrap();
    for mode in [0o640, 0o604, 0o644, 0o660] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        match keys::load_signer(&key) {
            Err(KeyError::Permissive { mode: m, .. }) => assert_eq!(m, mode),
            other => panic!("mode {mode:o}: expected refusal, got {other:?}"),
        }
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(keys::load_signer(&key).is_ok());

    // Through the binary: a clear message naming the file, exit 1, before anything else happens.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let gw_key = dir.path().join("gw.pub");
    std::fs::write(&gw_key, "11".repeat(32)).unwrap();
    let input = dir.path().join("export.csv");
    std::fs::write(&input, "person_ref\n1\n").unwrap();
    let out = agent()
        .args([
            "submit",
            "--period",
            "2006",
            "--gateway",
            "http://127.0.0.1:9",
            "--insecure-plaintext",
        ])
        .arg("--key")
        .arg(&key)
        .arg("--gateway-key")
        .arg(&gw_key)
        .arg("--input")
        .arg(&input)
        .arg("--outbox")
        .arg(dir.path().join("outbox.sqlite"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chmod 600") && err.contains("agent.key"),
        "{err}"
    );
    assert!(
        !dir.path().join("outbox.sqlite").exists(),
        "nothing may be queued with a refused key"
    );
}

#[test]
fn garbage_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("agent.key");
    std::fs::write(&key, b"not a key").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        keys::load_signer(&key),
        Err(KeyError::BadPrivateKey(_))
    ));
}
