//! The outbox and its journal on real SQLite files: idempotent enqueue,
//! durability across reopen, back-off, receipts, and tamper detection.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use municipality_agent::outbox::{
    Backoff, Enqueued, ManualClock, Outbox, ReceiptError, State, VerifiedReceipt,
};
use prikk_proto::{Signer, pb};

const T0: i64 = 1_150_000_000;

fn signer() -> Signer {
    Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap()
}

fn report(id: &str, project: &str, period: &str, created: i64) -> pb::Report {
    pb::Report {
        report_id: id.into(),
        project: project.into(),
        period: period.into(),
        definition_id: "ny-sjanse".into(),
        definition_version: 1,
        created_unix: created,
        ..Default::default()
    }
}

fn open(path: &Path, clock: &Arc<ManualClock>) -> Outbox {
    Outbox::open_with(
        path,
        clock.clone(),
        Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(600),
        },
    )
    .unwrap()
}

fn receipt_for(gw: &Signer, sent: &pb::SignedReport, revision: u32) -> pb::Receipt {
    let r: pb::Report = prikk_proto::decode_exact(&sent.report, "report").unwrap();
    prikk_proto::sign_receipt(
        gw,
        &pb::ReceiptBody {
            report_id: r.report_id,
            payload_sha256: prikk_proto::payload_sha256(&sent.report).to_vec(),
            accepted_unix: T0 + 5,
            revision,
            project: r.project,
            period: r.period,
        },
    )
}

#[test]
fn enqueue_is_idempotent_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.sqlite");
    let clock = Arc::new(ManualClock::new(T0));
    let s = signer();
    let first = prikk_proto::sign_report(&s, &report("r1", "bergen", "2006", T0));
    {
        let o = open(&db, &clock);
        assert!(matches!(o.enqueue(&first).unwrap(), Enqueued::New(_)));
        // Same report id, signed again later: the stored bytes are kept.
        let again = prikk_proto::sign_report(&s, &report("r1", "bergen", "2006", T0 + 99));
        assert_ne!(again.report, first.report);
        match o.enqueue(&again).unwrap() {
            Enqueued::Existing(r) => assert_eq!(r.envelope, first),
            other => panic!("expected Existing, got {other:?}"),
        }
    }
    // Reopen (a new process would do the same).
    let o = open(&db, &clock);
    let got = o.get("r1").unwrap().unwrap();
    assert_eq!(got.envelope, first);
    assert_eq!(got.state, State::Queued);
    assert_eq!(
        got.payload_sha256,
        prikk_proto::payload_sha256(&first.report)
    );
    assert_eq!(o.list().unwrap().len(), 1);
    // One "queued" entry in the journal, not two.
    let entries = o.journal_entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kind, "queued");

    // The database really is in WAL mode with full sync.
    let c = rusqlite::Connection::open(&db).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = c
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2); // 1: outbox, receipts, journal; 2: privacy ledger
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.sqlite");
    let clock = Arc::new(ManualClock::new(T0));
    drop(open(&db, &clock));
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "INSERT INTO schema_version (version, applied_unix) VALUES (99, 0)",
        [],
    )
    .unwrap();
    drop(c);
    let e = Outbox::open(&db).unwrap_err().to_string();
    assert!(e.contains("schema version 99"), "{e}");
}

#[test]
fn failed_attempts_back_off_and_grow() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let o = open(&dir.path().join("o.sqlite"), &clock);
    let s = signer();
    o.enqueue(&prikk_proto::sign_report(
        &s,
        &report("r1", "bergen", "2006", T0),
    ))
    .unwrap();
    assert_eq!(o.due().unwrap().len(), 1);

    let mut waits = vec![];
    for attempt in 1..=10u32 {
        let now = clock.now();
        let next = o.mark_attempt_failed("r1", "gateway unreachable").unwrap();
        let wait = next - now;
        waits.push(wait);
        let full = (10i64 << (attempt - 1)).min(600);
        assert!(
            wait >= full / 2 && wait <= full,
            "attempt {attempt}: waited {wait}, full {full}"
        );
        // Not due before its time, due after.
        assert!(o.due().unwrap().is_empty());
        assert_eq!(o.queued().unwrap().len(), 1);
        clock.advance(wait);
        assert_eq!(o.due().unwrap().len(), 1);
        let r = o.get("r1").unwrap().unwrap();
        assert_eq!(r.attempts, attempt);
        assert_eq!(r.last_error.as_deref(), Some("gateway unreachable"));
    }
    // Below the cap the jittered waits never shrink: attempt n+1 waits at
    // least base*2^n/2, attempt n at most base*2^(n-1). Base 10 s, cap 600 s:
    // attempts 1..=6 (10..320 s) are uncapped.
    assert!(waits[..6].windows(2).all(|w| w[1] >= w[0]), "{waits:?}");
    assert!(waits[9] > waits[0] * 8, "{waits:?}");
    assert!(*waits.last().unwrap() <= 600, "capped: {waits:?}");
}

trait Now {
    fn now(&self) -> i64;
}
impl Now for ManualClock {
    fn now(&self) -> i64 {
        use municipality_agent::outbox::Clock;
        self.now_unix()
    }
}

#[test]
fn receipts_must_verify_and_match() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let o = open(&dir.path().join("o.sqlite"), &clock);
    let (s, gw, impostor) = (signer(), signer(), signer());
    let env = prikk_proto::sign_report(&s, &report("r1", "bergen", "2006", T0));
    o.enqueue(&env).unwrap();
    let sent = o.get("r1").unwrap().unwrap();

    // Signed by another key.
    let bad = receipt_for(&impostor, &env, 1);
    assert!(matches!(
        VerifiedReceipt::verify(gw.public_key(), &sent, &bad),
        Err(ReceiptError::Signature(_))
    ));
    // Right key, other payload.
    let other = prikk_proto::sign_report(&s, &report("r1", "bergen", "2006", T0 + 1));
    assert!(matches!(
        VerifiedReceipt::verify(gw.public_key(), &sent, &receipt_for(&gw, &other, 1)),
        Err(ReceiptError::WrongPayload { .. })
    ));
    // Right key, other report.
    let r2 = prikk_proto::sign_report(&s, &report("r2", "bergen", "2006", T0));
    assert!(matches!(
        VerifiedReceipt::verify(gw.public_key(), &sent, &receipt_for(&gw, &r2, 1)),
        Err(ReceiptError::WrongReport { .. })
    ));
    assert_eq!(o.get("r1").unwrap().unwrap().state, State::Queued);

    let good = VerifiedReceipt::verify(gw.public_key(), &sent, &receipt_for(&gw, &env, 2)).unwrap();
    assert!(o.store_receipt(&good).unwrap());
    assert!(
        !o.store_receipt(&good).unwrap(),
        "a second receipt is not stored twice"
    );
    let listed = o.list().unwrap();
    assert_eq!(listed[0].state, State::Delivered);
    assert_eq!(listed[0].revision, Some(2));
    let stored = o.receipt("r1").unwrap().unwrap();
    assert_eq!(
        prikk_proto::verify_receipt(gw.public_key(), &stored.receipt)
            .unwrap()
            .revision,
        2
    );
    assert!(o.due().unwrap().is_empty() && o.queued().unwrap().is_empty());
    let kinds: Vec<_> = o
        .journal_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["queued", "delivered"]);
}

#[test]
fn rejected_reports_leave_the_queue_and_can_be_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let o = open(&dir.path().join("o.sqlite"), &clock);
    let s = signer();
    o.enqueue(&prikk_proto::sign_report(
        &s,
        &report("r1", "bergen", "2006", T0),
    ))
    .unwrap();
    o.mark_rejected("r1", "PermissionDenied: unknown key")
        .unwrap();
    assert!(o.queued().unwrap().is_empty());
    let r = o.get("r1").unwrap().unwrap();
    assert_eq!(
        (r.state, r.last_error.as_deref()),
        (State::Rejected, Some("PermissionDenied: unknown key"))
    );
    o.requeue("r1").unwrap();
    assert_eq!(o.due().unwrap().len(), 1);
    assert!(o.verify_journal().unwrap().problem.is_none());
}

/// A log with three delivered reports: six entries.
fn populated(db: &Path) -> Outbox {
    let clock = Arc::new(ManualClock::new(T0));
    let o = open(db, &clock);
    let (s, gw) = (signer(), signer());
    for (i, period) in ["2006-Q1", "2006-Q2", "2006-Q3"].iter().enumerate() {
        let env = prikk_proto::sign_report(&s, &report(&format!("r{i}"), "bergen", period, T0));
        o.enqueue(&env).unwrap();
        clock.advance(60);
        let sent = o.get(&format!("r{i}")).unwrap().unwrap();
        let rc =
            VerifiedReceipt::verify(gw.public_key(), &sent, &receipt_for(&gw, &env, 1)).unwrap();
        o.store_receipt(&rc).unwrap();
        clock.advance(60);
    }
    let v = o.verify_journal().unwrap();
    assert_eq!((v.entries, v.problem), (6, None));
    o
}

fn tamper(db: &Path, sql: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    c.execute_batch(sql).unwrap();
}

#[test]
fn journal_refuses_plain_edits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    drop(populated(&db));
    let c = rusqlite::Connection::open(&db).unwrap();
    let e = c
        .execute("UPDATE audit_log SET period = '2007' WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(
        c.execute("DELETE FROM audit_log WHERE seq = 1", [])
            .is_err()
    );
}

#[test]
fn journal_verify_detects_an_edited_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    drop(populated(&db));
    tamper(&db, "UPDATE audit_log SET period = '2007-Q1' WHERE seq = 3");
    let p = Outbox::open(&db)
        .unwrap()
        .verify_journal()
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(p.seq, 3);
    assert!(p.message.contains("edited"), "{}", p.message);
}

#[test]
fn journal_verify_detects_an_edit_with_recomputed_hash() {
    // Editing a row and giving it a fresh hash breaks the link to the next one.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    drop(populated(&db));
    tamper(
        &db,
        "UPDATE audit_log SET hash = zeroblob(32) WHERE seq = 2",
    );
    let p = Outbox::open(&db)
        .unwrap()
        .verify_journal()
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(p.seq, 2);
}

#[test]
fn journal_verify_detects_a_deleted_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    drop(populated(&db));
    tamper(&db, "DELETE FROM audit_log WHERE seq = 4");
    let p = Outbox::open(&db)
        .unwrap()
        .verify_journal()
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(p.seq, 4);
    assert!(p.message.contains("deleted"), "{}", p.message);
}

#[test]
fn journal_verify_detects_a_deleted_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    drop(populated(&db));
    tamper(&db, "DELETE FROM audit_log WHERE seq = 6");
    let p = Outbox::open(&db)
        .unwrap()
        .verify_journal()
        .unwrap()
        .problem
        .unwrap();
    assert!(
        p.message.contains("r2") && p.message.contains("deleted"),
        "{}",
        p.message
    );
}

#[test]
fn journal_verify_detects_reordered_entries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    drop(populated(&db));
    tamper(
        &db,
        "UPDATE audit_log SET seq = 100 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 100;",
    );
    let p = Outbox::open(&db)
        .unwrap()
        .verify_journal()
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(p.seq, 2);
}

#[test]
fn journal_command_verifies_and_exits_1_on_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    drop(populated(&db));
    let bin = env!("CARGO_BIN_EXE_municipality-agent");
    let ok = std::process::Command::new(bin)
        .args(["journal", "--verify", "--outbox"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let list = std::process::Command::new(bin)
        .args(["journal", "--outbox"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8(list.stdout).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        text.contains("delivered") && text.contains("revision 1"),
        "{text}"
    );

    tamper(
        &db,
        "UPDATE audit_log SET report_id = 'forged' WHERE seq = 5",
    );
    // `audit`, the subcommand's old name, still works.
    let bad = std::process::Command::new(bin)
        .args(["audit", "--verify", "--outbox"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("entry 5"), "{err}");

    let outbox = std::process::Command::new(bin)
        .args(["outbox", "--outbox"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(outbox.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(outbox.stdout)
            .unwrap()
            .matches("delivered")
            .count(),
        3
    );
}
