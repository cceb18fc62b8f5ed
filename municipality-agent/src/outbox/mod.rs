//! The durable outbox: signed reports wait here until the gateway's verified
//! receipt is stored next to them.
//!
//! One SQLite file (WAL, `synchronous=FULL`, numbered migrations) holds the
//! signed reports, their receipts, the hash-chained journal and the list of
//! export files `run` has processed, and the privacy-loss ledger of the
//! differential-privacy modes. Every method is one named transaction.
//! Time comes from an injected [`Clock`], so retry schedules are testable.

//!
//! The module is split along those lines: [`queue`](self) (reports and their
//! retries), receipts, the privacy budget, processed export files, and the
//! file itself (opening and migrations). Every write goes through one
//! immediate transaction helper, so the lock, `BEGIN IMMEDIATE`, commit and the
//! mapping of SQLite errors to [`OutboxError::Sql`] live in one place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use prikk_proto::SignError;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use prikk_privacy::dp::LedgerError;

use crate::journal::{self, JournalError};

mod budget;
mod clock;
mod file;
mod processed;
mod queue;
mod receipts;

pub use budget::{BudgetStatus, Charge};
pub use clock::{Backoff, Clock, ManualClock, SystemClock};
pub use queue::{Enqueued, Listed, QueuedReport, State};
pub use receipts::{ReceiptError, StoredReceipt, VerifiedReceipt};

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
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
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

/// The outbox database.
#[derive(Debug)]
pub struct Outbox {
    conn: Mutex<Connection>,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
}

/// Why a step inside an outbox transaction failed: SQLite errors are given
/// the database's path by [`Failure::at`] in one place instead of at each call.
#[derive(Debug)]
enum Failure {
    /// SQLite failed.
    Sql(rusqlite::Error),
    /// Any other outbox error, passed through as is.
    Outbox(OutboxError),
}

impl Failure {
    fn at(self, path: &Path) -> OutboxError {
        match self {
            Self::Sql(source) => OutboxError::Sql {
                path: path.to_path_buf(),
                source,
            },
            Self::Outbox(e) => e,
        }
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<OutboxError> for Failure {
    fn from(e: OutboxError) -> Self {
        Self::Outbox(e)
    }
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Self::Outbox(e.into())
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Self::Outbox(e.into())
    }
}

/// Runs `f` in one immediate transaction on `conn` (the write lock is taken
/// at `BEGIN`, so two agents never both read and then both write) and commits
/// when it succeeds; an error rolls everything back.
fn immediate<T>(
    conn: &mut Connection,
    path: &Path,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, Failure>,
) -> Result<T, OutboxError> {
    let run = || {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    };
    run().map_err(|e: Failure| e.at(path))
}

impl Outbox {
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

    /// The one way the outbox writes: `f` runs in an immediate transaction
    /// under the connection's lock and is committed if it succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, OutboxError> {
        immediate(&mut self.lock(), &self.path, f)
    }

    /// Reads under the connection's lock, with the same error mapping as
    /// [`Outbox::write`].
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Failure>) -> Result<T, OutboxError> {
        f(&self.lock()).map_err(|e| e.at(&self.path))
    }

    /// Every journal entry, in order.
    pub fn journal_entries(&self) -> Result<Vec<journal::Entry>, OutboxError> {
        Ok(journal::entries(&self.lock())?)
    }

    /// Recomputes the journal's hash chain and cross-checks it with the outbox.
    pub fn verify_journal(&self) -> Result<journal::Verification, OutboxError> {
        Ok(journal::verify(&self.lock())?)
    }
}
