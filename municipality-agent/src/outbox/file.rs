//! The outbox file: opening it (directory, WAL, `synchronous=FULL`) and its
//! numbered schema migrations.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, params};

use super::{Backoff, Clock, Failure, Outbox, OutboxError, SystemClock, immediate};
use crate::journal;

/// Numbered migrations; the position in this list is the schema version.
const MIGRATIONS: &[&str] = &[
    // 1: reports, receipts, the journal, processed export files.
    "
    CREATE TABLE reports (
        report_id         TEXT PRIMARY KEY,
        project           TEXT NOT NULL,
        period            TEXT NOT NULL,
        payload           BLOB NOT NULL,
        signature         BLOB NOT NULL,
        key_id            TEXT NOT NULL,
        payload_sha256    BLOB NOT NULL,
        created_unix      INTEGER NOT NULL,
        state             TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'rejected')),
        attempts          INTEGER NOT NULL DEFAULT 0,
        next_attempt_unix INTEGER NOT NULL,
        last_error        TEXT
    );
    CREATE INDEX reports_due ON reports (state, next_attempt_unix);
    CREATE TABLE receipts (
        report_id     TEXT PRIMARY KEY REFERENCES reports (report_id),
        receipt       BLOB NOT NULL,
        revision      INTEGER NOT NULL,
        accepted_unix INTEGER NOT NULL,
        stored_unix   INTEGER NOT NULL
    );
    CREATE TABLE processed_files (
        path           TEXT NOT NULL,
        size           INTEGER NOT NULL,
        mtime_ns       INTEGER NOT NULL,
        sha256         BLOB NOT NULL,
        processed_unix INTEGER NOT NULL,
        outcome        TEXT NOT NULL,
        PRIMARY KEY (path, size, mtime_ns)
    );
    CREATE INDEX processed_files_sha ON processed_files (sha256);
    ",
    // 2: the privacy-loss ledger: one row per release of a differentially
    // private report, charged once per report id. Amounts are exact decimals
    // or fractions as text.
    "
    CREATE TABLE privacy_ledger (
        report_id     TEXT PRIMARY KEY,
        project       TEXT NOT NULL,
        year          INTEGER NOT NULL,
        period        TEXT NOT NULL,
        loss_unit     TEXT NOT NULL CHECK (loss_unit IN ('epsilon', 'rho')),
        loss          TEXT NOT NULL,
        charged       TEXT NOT NULL,
        recorded_unix INTEGER NOT NULL
    );
    CREATE INDEX privacy_ledger_project_year ON privacy_ledger (project, year);
    CREATE TRIGGER privacy_ledger_no_update BEFORE UPDATE ON privacy_ledger
    BEGIN SELECT RAISE(ABORT, 'the privacy ledger is append-only'); END;
    CREATE TRIGGER privacy_ledger_no_delete BEFORE DELETE ON privacy_ledger
    BEGIN SELECT RAISE(ABORT, 'the privacy ledger is append-only'); END;
    ",
];

impl Outbox {
    /// Opens (creating if needed) the outbox with the system clock and default back-off.
    pub fn open(path: &Path) -> Result<Self, OutboxError> {
        Self::open_with(path, Arc::new(SystemClock), Backoff::default())
    }

    /// Opens the outbox with a given clock and back-off schedule.
    pub fn open_with(
        path: &Path,
        clock: Arc<dyn Clock>,
        backoff: Backoff,
    ) -> Result<Self, OutboxError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|source| OutboxError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = connect(path).map_err(|e| e.at(path))?;
        migrate(&mut conn, path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            clock,
            backoff,
        })
    }
}

/// Opens the connection with the settings a durable outbox needs: wait for
/// other writers, WAL, and `synchronous=FULL` so a stored receipt survives a
/// power cut.
fn connect(path: &Path) -> Result<Connection, Failure> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Applies the migrations the file does not have yet, in one transaction.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OutboxError> {
    immediate(conn, path, |tx| {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_unix INTEGER NOT NULL)")?;
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )?;
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if current > known {
            return Err(OutboxError::TooNew {
                path: path.to_path_buf(),
                found: current,
                known,
            }
            .into());
        }
        let now = SystemClock.now_unix();
        for (i, m) in MIGRATIONS.iter().enumerate() {
            let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
            if version <= current {
                continue;
            }
            tx.execute_batch(m)?;
            if version == 1 {
                tx.execute_batch(journal::SCHEMA)?;
            }
            tx.execute(
                "INSERT INTO schema_version (version, applied_unix) VALUES (?1, ?2)",
                params![version, now],
            )?;
        }
        Ok(())
    })
}
