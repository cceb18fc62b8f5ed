//! The durable outbox: signed reports wait here until the gateway's verified
//! receipt is stored next to them.
//!
//! One SQLite file (WAL, `synchronous=FULL`, numbered migrations) holds the
//! signed reports, their receipts, the hash-chained audit log and the list of
//! export files `run` has processed, and the privacy-loss ledger of the
//! differential-privacy modes. Every method is one named transaction.
//! Time comes from an injected [`Clock`], so retry schedules are testable.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prikk_proto::{SignError, decode_exact, payload_sha256, pb};
use prost::Message;
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use prikk_privacy::dp::{Ledger, LedgerError, LossUnit, PrivacyLoss, Rational, Spend};

use crate::auditlog::{self, AuditError, EntryKind, NewEntry};

/// A source of the current time, in seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now_unix(&self) -> i64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that moves only when told to (for tests and simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }
    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Exponential back-off with jitter: attempt `n` waits a random time in
/// `[d/2, d]` where `d = min(cap, base * 2^(n-1))`, so waits never shrink as
/// failures accumulate and many agents do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The delay after `attempts` failed attempts (1 for the first failure).
    pub fn delay(&self, attempts: u32, rng: &mut impl Rng) -> Duration {
        let shift = attempts.saturating_sub(1).min(40);
        let full = self
            .base
            .checked_mul(1u32 << shift.min(31))
            .unwrap_or(self.cap);
        let full = if shift > 31 {
            self.cap
        } else {
            full.min(self.cap)
        };
        let ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
        let lo = ms / 2;
        Duration::from_millis(if lo >= ms {
            ms
        } else {
            rng.random_range(lo..=ms)
        })
    }
}

/// Errors from the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// SQLite failed.
    #[error("outbox {path}: {source}")]
    Sql {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The outbox's directory could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database was written by a newer agent.
    #[error(
        "outbox {path} has schema version {found}, newer than this agent understands ({known}); upgrade the agent"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// The envelope's bytes are not a report.
    #[error("the signed envelope does not hold a valid report: {0}")]
    Envelope(SignError),
    /// No report with this id.
    #[error("no report {0} in the outbox")]
    Unknown(String),
    /// The operation does not apply in the report's current state.
    #[error("report {id} is {state}; {what}")]
    WrongState {
        /// Report id.
        id: String,
        /// Its state.
        state: State,
        /// What was attempted.
        what: &'static str,
    },
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The privacy-loss ledger refused the release (over budget, or charged before).
    #[error(transparent)]
    Budget(#[from] LedgerError),
    /// A ledger row that cannot be read back.
    #[error("outbox {path}: privacy ledger row of report {report_id} is unreadable: {problem}")]
    CorruptLedger {
        /// The database file.
        path: PathBuf,
        /// Report id of the row.
        report_id: String,
        /// What is wrong.
        problem: String,
    },
}

/// A release of a differentially private report to charge to its project's
/// annual budget when it is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Budget year (the year of the reporting period).
    pub year: i32,
    /// The release's loss.
    pub loss: PrivacyLoss,
    /// The project's annual budget.
    pub annual_budget: PrivacyLoss,
}

/// A project's budget for a year, as the ledger stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    /// Budget year.
    pub year: i32,
    /// The annual budget.
    pub budget: PrivacyLoss,
    /// Spent this year, in the budget's unit.
    pub spent: Rational,
    /// Left this year.
    pub remaining: Rational,
    /// Releases charged this year.
    pub releases: usize,
}

/// Where a report is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting to be delivered (or retried).
    Queued,
    /// The gateway's verified receipt is stored.
    Delivered,
    /// The gateway refused it for good; `last_error` says why.
    Rejected,
}

impl State {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "delivered" => Self::Delivered,
            "rejected" => Self::Rejected,
            _ => Self::Queued,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed report as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedReport {
    /// Content-derived report id.
    pub report_id: String,
    /// Project code.
    pub project: String,
    /// Reporting period.
    pub period: String,
    /// The envelope exactly as signed.
    pub envelope: pb::SignedReport,
    /// SHA-256 of `envelope.report`.
    pub payload_sha256: [u8; 32],
    /// When it was queued.
    pub created_unix: i64,
    /// Its state.
    pub state: State,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// Not retried before this time.
    pub next_attempt_unix: i64,
    /// Why the last attempt failed, or why it was rejected.
    pub last_error: Option<String>,
}

/// One line of `outbox` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// Report id.
    pub report_id: String,
    /// Project code.
    pub project: String,
    /// Reporting period.
    pub period: String,
    /// Hex SHA-256 of the signed bytes.
    pub payload_sha256: String,
    /// Signing key id.
    pub key_id: String,
    /// When it was queued.
    pub created_unix: i64,
    /// Its state.
    pub state: State,
    /// Failed attempts.
    pub attempts: u32,
    /// Next retry (queued reports).
    pub next_attempt_unix: i64,
    /// Last error or rejection reason.
    pub last_error: Option<String>,
    /// Revision from the receipt (delivered reports).
    pub revision: Option<u32>,
    /// Acceptance time from the receipt.
    pub accepted_unix: Option<i64>,
}

/// Whether `enqueue` stored a new report or found it already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Newly stored.
    New(QueuedReport),
    /// The same report id was already in the outbox; its signed bytes are kept.
    Existing(QueuedReport),
}

impl Enqueued {
    /// The stored report either way.
    pub fn report(&self) -> &QueuedReport {
        match self {
            Self::New(r) | Self::Existing(r) => r,
        }
    }
}

/// Why a receipt is not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Not signed by the configured gateway key.
    #[error("receipt signature invalid: {0}")]
    Signature(SignError),
    /// The receipt is for another report.
    #[error("receipt is for report {got}, expected {expected}")]
    WrongReport {
        /// What was sent.
        expected: String,
        /// What the receipt names.
        got: String,
    },
    /// The receipt attests other bytes than were sent.
    #[error("receipt attests payload SHA-256 {got}, but {expected} was sent")]
    WrongPayload {
        /// Hex of what was sent.
        expected: String,
        /// Hex of what the receipt names.
        got: String,
    },
    /// The receipt names another project or period.
    #[error("receipt is for {got}, the report is for {expected}")]
    WrongScope {
        /// Project/period sent.
        expected: String,
        /// Project/period in the receipt.
        got: String,
    },
    /// Revisions start at 1.
    #[error("receipt has revision 0")]
    NoRevision,
}

/// A receipt that verified against the gateway's key and matches the report
/// it acknowledges. Only [`VerifiedReceipt::verify`] makes one, so the outbox
/// cannot mark a report delivered on an unchecked receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    raw: Vec<u8>,
    body: pb::ReceiptBody,
}

impl VerifiedReceipt {
    /// Checks the gateway's signature and that the receipt names the report
    /// id, payload hash, project and period that were sent.
    pub fn verify(
        gateway_key: &[u8],
        sent: &QueuedReport,
        receipt: &pb::Receipt,
    ) -> Result<Self, ReceiptError> {
        let body =
            prikk_proto::verify_receipt(gateway_key, receipt).map_err(ReceiptError::Signature)?;
        if body.report_id != sent.report_id {
            return Err(ReceiptError::WrongReport {
                expected: sent.report_id.clone(),
                got: body.report_id,
            });
        }
        if body.payload_sha256 != sent.payload_sha256 {
            return Err(ReceiptError::WrongPayload {
                expected: hex::encode(sent.payload_sha256),
                got: hex::encode(&body.payload_sha256),
            });
        }
        if body.project != sent.project || body.period != sent.period {
            return Err(ReceiptError::WrongScope {
                expected: format!("{} {}", sent.project, sent.period),
                got: format!("{} {}", body.project, body.period),
            });
        }
        if body.revision == 0 {
            return Err(ReceiptError::NoRevision);
        }
        Ok(Self {
            raw: receipt.encode_to_vec(),
            body,
        })
    }

    /// The attested content.
    pub fn body(&self) -> &pb::ReceiptBody {
        &self.body
    }
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The receipt exactly as received (serialized `pb::Receipt`).
    pub receipt: pb::Receipt,
    /// Revision number the gateway assigned.
    pub revision: u32,
    /// When the gateway accepted the report.
    pub accepted_unix: i64,
    /// When the agent stored the receipt.
    pub stored_unix: i64,
}

/// Numbered migrations; the position in this list is the schema version.
const MIGRATIONS: &[&str] = &[
    // 1: reports, receipts, the audit log, processed export files.
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

/// The outbox database.
#[derive(Debug)]
pub struct Outbox {
    conn: Mutex<Connection>,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
}

const REPORT_COLUMNS: &str = "report_id, project, period, payload, signature, key_id, payload_sha256, created_unix, \
                              state, attempts, next_attempt_unix, last_error";

fn report_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueuedReport> {
    let sha: Vec<u8> = r.get(6)?;
    let mut payload_sha256 = [0u8; 32];
    if sha.len() == 32 {
        payload_sha256.copy_from_slice(&sha);
    }
    Ok(QueuedReport {
        report_id: r.get(0)?,
        project: r.get(1)?,
        period: r.get(2)?,
        envelope: pb::SignedReport {
            report: r.get(3)?,
            signature: r.get(4)?,
            key_id: r.get(5)?,
        },
        payload_sha256,
        created_unix: r.get(7)?,
        state: State::parse(&r.get::<_, String>(8)?),
        attempts: r.get(9)?,
        next_attempt_unix: r.get(10)?,
        last_error: r.get(11)?,
    })
}

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
        let sql = |source| OutboxError::Sql {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|source| OutboxError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        migrate(&mut conn, path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            clock,
            backoff,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The outbox's clock.
    pub fn now_unix(&self) -> i64 {
        self.clock.now_unix()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored report `report_id`, read inside `tx`, which must be in a
    /// state `allowed` accepts; `what` says why not otherwise.
    fn report_in(
        &self,
        tx: &Connection,
        report_id: &str,
        allowed: impl Fn(State) -> bool,
        what: &'static str,
    ) -> Result<QueuedReport, OutboxError> {
        let r = get_in(tx, report_id)
            .map_err(|e| self.sql(e))?
            .ok_or_else(|| OutboxError::Unknown(report_id.into()))?;
        if !allowed(r.state) {
            return Err(OutboxError::WrongState {
                id: r.report_id,
                state: r.state,
                what,
            });
        }
        Ok(r)
    }

    fn sql(&self, source: rusqlite::Error) -> OutboxError {
        OutboxError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores a signed report, durably, and logs it. Idempotent on the report
    /// id: if that id is already in the outbox, the stored signed bytes are
    /// kept and returned, never replaced.
    pub fn enqueue(&self, envelope: &pb::SignedReport) -> Result<Enqueued, OutboxError> {
        self.enqueue_charged(envelope, None)
    }

    /// Like [`Outbox::enqueue`], and charges a differentially private release
    /// to its project's annual budget in the same transaction: the ledger row,
    /// the report and the audit entry (which records the spend) are written
    /// together or not at all. A report id already in the outbox is not
    /// charged again. A release that would exceed the budget is refused with
    /// [`OutboxError::Budget`] and nothing is written.
    pub fn enqueue_charged(
        &self,
        envelope: &pb::SignedReport,
        charge: Option<&Charge>,
    ) -> Result<Enqueued, OutboxError> {
        let report: pb::Report =
            decode_exact(&envelope.report, "report").map_err(OutboxError::Envelope)?;
        let sha = payload_sha256(&envelope.report);
        let now = self.clock.now_unix();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let existing = get_in(&tx, &report.report_id).map_err(|e| self.sql(e))?;
        if let Some(existing) = existing {
            return Ok(Enqueued::Existing(existing));
        }
        tx.execute(
            &format!("INSERT INTO reports ({REPORT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', 0, ?8, NULL)"),
            params![
                report.report_id,
                report.project,
                report.period,
                envelope.report,
                envelope.signature,
                envelope.key_id,
                sha.as_slice(),
                now
            ],
        )
        .map_err(|e| self.sql(e))?;
        let detail = match charge {
            None => String::new(),
            Some(c) => {
                let mut ledger = load_ledger(&tx, &self.path, &report.project, c.annual_budget)?;
                let spend = ledger
                    .spend(
                        &report.project,
                        c.year,
                        &report.period,
                        &report.report_id,
                        c.loss,
                    )?
                    .clone();
                tx.execute(
                    "INSERT INTO privacy_ledger (report_id, project, year, period, loss_unit, loss, charged, recorded_unix)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        spend.report_id,
                        spend.project,
                        spend.year,
                        spend.period,
                        spend.loss.unit().to_string(),
                        spend.loss.amount().to_string(),
                        spend.charged.to_string(),
                        now
                    ],
                )
                .map_err(|e| self.sql(e))?;
                let remaining = ledger.remaining(&report.project, c.year)?;
                format!(
                    "privacy loss {} spent; {} {} of {} of the {} budget remains",
                    spend.loss,
                    c.annual_budget.unit(),
                    remaining,
                    c.annual_budget.amount(),
                    c.year
                )
            }
        };
        auditlog::append(
            &tx,
            now,
            &NewEntry {
                kind: EntryKind::Queued,
                project: &report.project,
                period: &report.period,
                report_id: &report.report_id,
                payload_sha256: &sha,
                revision: None,
                detail: &detail,
            },
        )?;
        let stored = get_in(&tx, &report.report_id).map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        stored
            .map(Enqueued::New)
            .ok_or_else(|| OutboxError::Unknown(report.report_id))
    }

    /// A project's ledger under an annual budget: every release recorded for it.
    pub fn ledger(&self, project: &str, annual_budget: PrivacyLoss) -> Result<Ledger, OutboxError> {
        load_ledger(&self.lock(), &self.path, project, annual_budget)
    }

    /// Spent and remaining budget of a project in a year.
    pub fn budget_status(
        &self,
        project: &str,
        year: i32,
        annual_budget: PrivacyLoss,
    ) -> Result<BudgetStatus, OutboxError> {
        let ledger = self.ledger(project, annual_budget)?;
        Ok(BudgetStatus {
            year,
            budget: annual_budget,
            spent: ledger.spent(project, year)?,
            remaining: ledger.remaining(project, year)?,
            releases: ledger.spends().iter().filter(|s| s.year == year).count(),
        })
    }

    /// Checks, without writing, that a release fits the project's budget.
    pub fn check_budget(&self, project: &str, charge: &Charge) -> Result<(), OutboxError> {
        let ledger = self.ledger(project, charge.annual_budget)?;
        ledger.can_spend(project, charge.year, charge.loss)?;
        Ok(())
    }

    /// One report by id.
    pub fn get(&self, report_id: &str) -> Result<Option<QueuedReport>, OutboxError> {
        get_in(&self.lock(), report_id).map_err(|e| self.sql(e))
    }

    /// Queued reports whose next attempt is due now, oldest first.
    pub fn due(&self) -> Result<Vec<QueuedReport>, OutboxError> {
        self.select_queued(Some(self.clock.now_unix()))
    }

    /// Every queued report, due or not, oldest first.
    pub fn queued(&self) -> Result<Vec<QueuedReport>, OutboxError> {
        self.select_queued(None)
    }

    fn select_queued(&self, due_at: Option<i64>) -> Result<Vec<QueuedReport>, OutboxError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(&format!(
                "SELECT {REPORT_COLUMNS} FROM reports WHERE state = 'queued' AND next_attempt_unix <= ?1
                 ORDER BY next_attempt_unix, created_unix, rowid"
            ))
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map([due_at.unwrap_or(i64::MAX)], report_from_row)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// The earliest next attempt among queued reports.
    pub fn next_due_unix(&self) -> Result<Option<i64>, OutboxError> {
        self.lock()
            .query_row(
                "SELECT MIN(next_attempt_unix) FROM reports WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))
    }

    /// Records a failed delivery attempt and schedules the next one with
    /// back-off and jitter. Returns the time of the next attempt.
    pub fn mark_attempt_failed(&self, report_id: &str, error: &str) -> Result<i64, OutboxError> {
        let now = self.clock.now_unix();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let r = self.report_in(
            &tx,
            report_id,
            |s| s == State::Queued,
            "it is not waiting for delivery",
        )?;
        let attempts = r.attempts.saturating_add(1);
        let delay = self.backoff.delay(attempts, &mut rand::rng());
        let next = now.saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX).max(1));
        tx.execute(
            "UPDATE reports SET attempts = ?2, next_attempt_unix = ?3, last_error = ?4 WHERE report_id = ?1",
            params![report_id, attempts, next, error],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(next)
    }

    /// Marks a report as refused for good by the gateway, with the reason.
    pub fn mark_rejected(&self, report_id: &str, reason: &str) -> Result<(), OutboxError> {
        let now = self.clock.now_unix();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let r = self.report_in(
            &tx,
            report_id,
            |s| s != State::Delivered,
            "it cannot be rejected",
        )?;
        tx.execute(
            "UPDATE reports SET state = 'rejected', attempts = attempts + 1, last_error = ?2 WHERE report_id = ?1",
            params![report_id, reason],
        )
        .map_err(|e| self.sql(e))?;
        auditlog::append(
            &tx,
            now,
            &NewEntry {
                kind: EntryKind::Rejected,
                project: &r.project,
                period: &r.period,
                report_id,
                payload_sha256: &r.payload_sha256,
                revision: None,
                detail: reason,
            },
        )?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Puts a rejected report back in the queue (for example after the
    /// directorate registered the key it was refused for).
    pub fn requeue(&self, report_id: &str) -> Result<(), OutboxError> {
        let now = self.clock.now_unix();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let r = self.report_in(
            &tx,
            report_id,
            |s| s == State::Rejected,
            "only rejected reports can be requeued",
        )?;
        tx.execute(
            "UPDATE reports SET state = 'queued', attempts = 0, next_attempt_unix = ?2 WHERE report_id = ?1",
            params![report_id, now],
        )
        .map_err(|e| self.sql(e))?;
        auditlog::append(
            &tx,
            now,
            &NewEntry {
                kind: EntryKind::Requeued,
                project: &r.project,
                period: &r.period,
                report_id,
                payload_sha256: &r.payload_sha256,
                revision: None,
                detail: "",
            },
        )?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Stores a verified receipt and marks its report delivered, in one
    /// transaction with the audit entry. Returns `false` when a receipt was
    /// already stored for the report (the first one is kept).
    pub fn store_receipt(&self, receipt: &VerifiedReceipt) -> Result<bool, OutboxError> {
        let now = self.clock.now_unix();
        let body = receipt.body();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let r = self.report_in(&tx, &body.report_id, |_| true, "")?;
        // Defence in depth: `VerifiedReceipt::verify` checked this against the
        // report it was given; make sure that was the stored one.
        if body.payload_sha256 != r.payload_sha256 {
            return Err(OutboxError::WrongState {
                id: r.report_id,
                state: r.state,
                what: "the receipt attests other bytes than the stored report",
            });
        }
        let have: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM receipts WHERE report_id = ?1",
                [&body.report_id],
                |x| x.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        if have.is_some() {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO receipts (report_id, receipt, revision, accepted_unix, stored_unix) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![body.report_id, receipt.raw, body.revision, body.accepted_unix, now],
        )
        .map_err(|e| self.sql(e))?;
        tx.execute(
            "UPDATE reports SET state = 'delivered', last_error = NULL WHERE report_id = ?1",
            [&body.report_id],
        )
        .map_err(|e| self.sql(e))?;
        auditlog::append(
            &tx,
            now,
            &NewEntry {
                kind: EntryKind::Delivered,
                project: &r.project,
                period: &r.period,
                report_id: &r.report_id,
                payload_sha256: &r.payload_sha256,
                revision: Some(body.revision),
                detail: "",
            },
        )?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(true)
    }

    /// The stored receipt of a report.
    pub fn receipt(&self, report_id: &str) -> Result<Option<StoredReceipt>, OutboxError> {
        let conn = self.lock();
        let row: Option<(Vec<u8>, u32, i64, i64)> = conn
            .query_row(
                "SELECT receipt, revision, accepted_unix, stored_unix FROM receipts WHERE report_id = ?1",
                [report_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(row.and_then(|(raw, revision, accepted_unix, stored_unix)| {
            pb::Receipt::decode(raw.as_slice())
                .ok()
                .map(|receipt| StoredReceipt {
                    receipt,
                    revision,
                    accepted_unix,
                    stored_unix,
                })
        }))
    }

    /// Every report, oldest first, with receipt details where delivered.
    pub fn list(&self) -> Result<Vec<Listed>, OutboxError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT r.report_id, r.project, r.period, r.payload_sha256, r.key_id, r.created_unix, r.state,
                        r.attempts, r.next_attempt_unix, r.last_error, c.revision, c.accepted_unix
                 FROM reports r LEFT JOIN receipts c ON c.report_id = r.report_id
                 ORDER BY r.created_unix, r.rowid",
            )
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(Listed {
                    report_id: r.get(0)?,
                    project: r.get(1)?,
                    period: r.get(2)?,
                    payload_sha256: hex::encode(r.get::<_, Vec<u8>>(3)?),
                    key_id: r.get(4)?,
                    created_unix: r.get(5)?,
                    state: State::parse(&r.get::<_, String>(6)?),
                    attempts: r.get(7)?,
                    next_attempt_unix: r.get(8)?,
                    last_error: r.get(9)?,
                    revision: r.get(10)?,
                    accepted_unix: r.get(11)?,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// Every audit log entry, in order.
    pub fn audit_entries(&self) -> Result<Vec<auditlog::Entry>, OutboxError> {
        Ok(auditlog::entries(&self.lock())?)
    }

    /// Recomputes the audit log's hash chain and cross-checks it with the outbox.
    pub fn verify_audit_log(&self) -> Result<auditlog::Verification, OutboxError> {
        Ok(auditlog::verify(&self.lock())?)
    }

    /// Whether an export file was already processed: same path, size and
    /// modification time, or the same content under any name.
    pub fn file_processed(
        &self,
        path: &str,
        size: i64,
        mtime_ns: i64,
        sha256: Option<&[u8]>,
    ) -> Result<bool, OutboxError> {
        let conn = self.lock();
        let by_name: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM processed_files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![path, size, mtime_ns],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        if by_name.is_some() {
            return Ok(true);
        }
        let Some(sha) = sha256 else { return Ok(false) };
        let by_content: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM processed_files WHERE sha256 = ?1 LIMIT 1",
                [sha],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(by_content.is_some())
    }

    /// Records that an export file was processed, and how it went.
    pub fn record_file(
        &self,
        path: &str,
        size: i64,
        mtime_ns: i64,
        sha256: &[u8],
        outcome: &str,
    ) -> Result<(), OutboxError> {
        let now = self.clock.now_unix();
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO processed_files (path, size, mtime_ns, sha256, processed_unix, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![path, size, mtime_ns, sha256, now, outcome],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }
}

fn get_in(conn: &Connection, report_id: &str) -> rusqlite::Result<Option<QueuedReport>> {
    conn.query_row(
        &format!("SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = ?1"),
        [report_id],
        report_from_row,
    )
    .optional()
}

/// Reads a project's ledger rows into a [`Ledger`] with the given budget.
fn load_ledger(
    conn: &Connection,
    path: &Path,
    project: &str,
    annual_budget: PrivacyLoss,
) -> Result<Ledger, OutboxError> {
    let sql = |source| OutboxError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut st = conn
        .prepare(
            "SELECT report_id, year, period, loss_unit, loss, charged FROM privacy_ledger
             WHERE project = ?1 ORDER BY recorded_unix, rowid",
        )
        .map_err(sql)?;
    let rows = st
        .query_map([project], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i32>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut ledger = Ledger::new();
    ledger.set_budget(project, annual_budget)?;
    for (report_id, year, period, unit, loss, charged) in rows {
        let corrupt = |problem: String| OutboxError::CorruptLedger {
            path: path.to_path_buf(),
            report_id: report_id.clone(),
            problem,
        };
        let unit: LossUnit = unit
            .parse()
            .map_err(|e: prikk_privacy::dp::DpError| corrupt(e.to_string()))?;
        let loss = PrivacyLoss::parse(unit, &loss).map_err(|e| corrupt(e.to_string()))?;
        let charged = Rational::parse_decimal(&charged).map_err(|e| corrupt(e.to_string()))?;
        // A release charged under another budget unit is re-priced in this one
        // (ε→ρ as ε²/2); one that cannot be is refused rather than ignored.
        let charged = if unit == annual_budget.unit() {
            charged
        } else {
            ledger.charge(project, loss)?
        };
        ledger.restore(Spend {
            project: project.to_string(),
            year,
            period,
            report_id: report_id.clone(),
            loss,
            charged,
        })?;
    }
    Ok(ledger)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OutboxError> {
    let sql = |source| OutboxError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_unix INTEGER NOT NULL)")
        .map_err(sql)?;
    let current: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if current > known {
        return Err(OutboxError::TooNew {
            path: path.to_path_buf(),
            found: current,
            known,
        });
    }
    let now = SystemClock.now_unix();
    for (i, m) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        if version <= current {
            continue;
        }
        tx.execute_batch(m).map_err(sql)?;
        if version == 1 {
            tx.execute_batch(auditlog::SCHEMA).map_err(sql)?;
        }
        tx.execute(
            "INSERT INTO schema_version (version, applied_unix) VALUES (?1, ?2)",
            params![version, now],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_is_within_bounds_and_capped() {
        let b = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(300),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempts in 1..100u32 {
            let full = (10u64 << (attempts - 1).min(20)).min(300);
            let d = b.delay(attempts, &mut rng).as_millis() as u64;
            assert!(
                d >= full * 500 && d <= full * 1000,
                "attempt {attempts}: {d} ms for {full} s"
            );
        }
    }
}
