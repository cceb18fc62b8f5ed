//! Key files compose: every key file one command writes is read as-is by
//! the command on the other side, through the real binaries, and every key
//! can be made before the first start.

use std::path::Path;
use std::process::{Command, Output};

use prikk_e2e::bins;

fn run(bin: &Path, args: &[&str], dir: &Path) -> Output {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn every_key_file_a_command_writes_is_read_as_is_by_the_other_side() {
    let gateway = bins::binary(bins::GATEWAY).unwrap();
    let agent = bins::binary(bins::AGENT).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // The directorate's gateway: its signing key before any `serve`.
    let first = text(&run(&gateway, &["keygen", "--db", "leader.db"], dir).stdout);
    assert!(first.contains("created"), "{first}");
    let again = text(&run(&gateway, &["keygen", "--db", "leader.db"], dir).stdout);
    assert!(again.contains("kept"), "{again}");
    let id = |s: &str| s.rsplit("key id ").next().unwrap().trim().to_string();
    assert_eq!(id(&first), id(&again), "keygen never replaces a key");

    // `public-key --out` writes exactly the key; without it stdout is the key alone.
    let out = run(
        &gateway,
        &[
            "public-key",
            "--db",
            "leader.db",
            "--out",
            "gateway-receipt.pub",
        ],
        dir,
    );
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains(&id(&first)));
    let file = std::fs::read_to_string(dir.join("gateway-receipt.pub")).unwrap();
    let printed = run(&gateway, &["public-key", "--db", "leader.db"], dir);
    assert_eq!(text(&printed.stdout), file);
    assert_eq!(file.lines().count(), 1);
    assert!(text(&printed.stderr).contains(&id(&first)));
    // The agent's `receipt_key` reader takes it as it is.
    let receipt =
        municipality_agent::keys::load_public_key(&dir.join("gateway-receipt.pub")).unwrap();
    assert_eq!(prikk_proto::key_id_of(&receipt), id(&first));

    // The helper: its signing and encryption keys, before any `serve`.
    let made = text(
        &run(
            &gateway,
            &["keygen", "--role", "helper", "--db", "helper.db"],
            dir,
        )
        .stdout,
    );
    assert!(
        made.contains("signing key") && made.contains("encryption key"),
        "{made}"
    );
    run(
        &gateway,
        &[
            "public-key",
            "--role",
            "helper",
            "--db",
            "helper.db",
            "--out",
            "helper-encryption.pub",
        ],
        dir,
    );
    run(
        &gateway,
        &[
            "public-key",
            "--db",
            "helper.db",
            "--out",
            "helper-signing.pub",
        ],
        dir,
    );
    // The agent's `[secure_aggregation] helper_key` file, as it is.
    let sealed_to =
        municipality_agent::share::HelperKey::load(&dir.join("helper-encryption.pub")).unwrap();
    // The leader's config names the helper's keys by their text, as printed.
    let signing = std::fs::read_to_string(dir.join("helper-signing.pub")).unwrap();
    let encryption = std::fs::read_to_string(dir.join("helper-encryption.pub")).unwrap();
    assert_eq!(
        prikk_proto::share::parse_public_key(encryption.trim()).unwrap(),
        sealed_to.public
    );
    let config = format!(
        "db = \"leader.db\"\n[helper]\nurl = \"https://helper.example:50052\"\nsigning_key = \"{}\"\nencryption_key = \"{}\"\n",
        signing.trim(),
        encryption.trim()
    );
    std::fs::write(dir.join("gateway.toml"), config).unwrap();
    let parsed = prikk_gateway::Config::load(&dir.join("gateway.toml")).unwrap();
    assert!(parsed.helper.is_some());

    // The helper registers the leader from the leader's file, as it is.
    let reg = text(
        &run(
            &gateway,
            &[
                "register-leader",
                "--db",
                "helper.db",
                "--name",
                "directorate",
                "--public-key",
                "gateway-receipt.pub",
            ],
            dir,
        )
        .stdout,
    );
    assert!(reg.contains(&id(&first)), "{reg}");

    // The agent's public key file, as `keygen` writes it, registers as it is.
    let kg = text(&run(&agent, &["keygen", "--out", "bergen.key"], dir).stdout);
    let agent_id = kg
        .lines()
        .find_map(|l| l.strip_prefix("key id: "))
        .unwrap()
        .trim()
        .to_string();
    let reg = text(
        &run(
            &gateway,
            &[
                "register",
                "--db",
                "leader.db",
                "--project",
                "bergen",
                "--name",
                "Bergen",
                "--region",
                "vestland",
                "--public-key",
                "bergen.key.pub",
            ],
            dir,
        )
        .stdout,
    );
    assert!(reg.contains(&agent_id), "{reg}");
}

#[test]
fn public_key_before_keygen_says_how_to_make_one() {
    let gateway = bins::binary(bins::GATEWAY).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for role in ["leader", "helper"] {
        let out = Command::new(&gateway)
            .args(["public-key", "--role", role, "--db", "none.db"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("gateway keygen"), "{err}");
        assert!(
            !tmp.path().join("none.db.helper-key").exists(),
            "reading never creates a key"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_private_key_others_can_read_is_refused_on_load() {
    use std::os::unix::fs::PermissionsExt;
    let gateway = bins::binary(bins::GATEWAY).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run(
        &gateway,
        &["keygen", "--role", "helper", "--db", "helper.db"],
        dir,
    );
    for (file, role) in [
        ("helper.db.receipt-key", "leader"),
        ("helper.db.helper-key", "helper"),
    ] {
        let path = dir.join(file);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new(&gateway)
            .args(["public-key", "--role", role, "--db", "helper.db"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{file} with mode 0644 was used");
        let err = text(&out.stderr);
        assert!(err.contains("chmod 600"), "{err}");
        // keygen keeps the key but does not accept it either.
        let out = Command::new(&gateway)
            .args(["keygen", "--role", "helper", "--db", "helper.db"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(!out.status.success());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        run(
            &gateway,
            &["public-key", "--role", role, "--db", "helper.db"],
            dir,
        );
    }
}
