//! The `prikk-demo` binary: refuses a folder with foreign files, runs the
//! whole system with `--force`, and reuses its own folder on a second run.

use std::process::Command;

use crate::world::SEED;

#[test]
fn demo_refuses_a_non_empty_folder_then_runs_end_to_end_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let demo = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_prikk-demo"));
        c.arg("--out").arg(&out).args(["--seed", &SEED.to_string()]);
        c
    };

    let refused = demo().output().unwrap();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "nothing written into a refused folder"
    );

    let run = demo().arg("--force").output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let failed = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("FAILED"))
        .count();
    assert_eq!(
        run.status.success(),
        failed == 0,
        "exit status must say whether a project failed:\n{stdout}"
    );
    let reported = 21 - failed;
    assert!(
        stdout.contains(&format!(
            "period 2006: {reported} of 21 registered projects reported"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("Deltakerstatus / participant status, Norway, 2006"),
        "{stdout}"
    );
    assert!(stdout.contains("Fortsatt aktive i program"), "{stdout}");
    assert!(stdout.contains("≥"), "lower bounds are marked:\n{stdout}");
    assert!(
        stdout.contains(&format!(
            "summary: {reported} of 21 projects reported, {reported} reports stored"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("0 problems"), "{stdout}");
    for f in [
        "notes.txt",
        "pki/ca.pem",
        "gateway/gateway.db",
        "agents/bergen/outbox.sqlite",
        "national-2006.xlsx",
        "national-2006.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "keep me"
    );

    // A folder holding only an earlier demo's files is reused without --force,
    // so running the README's command twice works.
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    let again = demo().output().unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(out.join("gateway/gateway.db").is_file());
}
