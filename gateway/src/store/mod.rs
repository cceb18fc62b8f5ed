//! The gateway's SQLite datastore. Every method is one named transaction;
//! the schema comes from numbered migrations checked at start-up.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a commit is on disk
//! before the gateway acknowledges a report.
//!
//! Its parts: `schema` (the connection's pragmas and the migrations),
//! `registry` (projects and their keys), `reports` (stored reports and
//! revisions, read back), `intake` (the writer that stores verified
//! reports), [`corrections`] (the rule every stored revision keeps) and
//! `aggregation` (the secure-aggregation tables).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

mod aggregation;
pub mod corrections;
mod intake;
mod registry;
mod reports;
mod schema;

pub use aggregation::{BatchOutcome, Collection, HelperBatch, Leader};
pub use intake::{Intake, IntakeError, NewReport, NormalTable, Stored};
pub use registry::{Project, RegisteredKey};
pub use reports::{Collected, Completeness, ReportSummary, StoredReceipt, StoredReport};
pub(crate) use reports::{latest_revision, read_tables, revision_tables};
pub(crate) use schema::connect;
use schema::migrate;

/// Errors from the datastore. Their text may name files and SQL; clients
/// never see it (they get a bare "internal").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database's schema is newer than this gateway.
    #[error("database {path} has schema version {found}, this gateway knows up to {known}")]
    TooNew {
        /// Database file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Highest version this build knows.
        known: u32,
    },
    /// A stored row could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A project or key the operation names does not exist, or already exists.
    #[error("{0}")]
    Registry(String),
    /// The background writer stopped.
    #[error("the storage writer has stopped")]
    WriterGone,
}

/// The datastore: one connection for named transactions. The high-rate
/// intake path uses [`Intake`], which owns its own writer connection.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = connect(path)?;
        migrate(&mut conn, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}
