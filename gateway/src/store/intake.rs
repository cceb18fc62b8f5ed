//! The intake writer: one thread owns a write connection and commits
//! verified reports in groups, so many concurrent submissions share one
//! fsync. A report is acknowledged only after the commit that holds it.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use prikk_proto::{Signer, pb, sign_receipt};
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::corrections::{self, Uncovered};
use super::{StoreError, connect};
use crate::clock::Clock;

/// Largest number of reports committed together.
const MAX_GROUP: usize = 256;

/// One table of a verified report, normalised into the definition's cell
/// order (row-major over the dimensions' categories, margins included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalTable {
    /// Table id.
    pub id: String,
    /// Value per cell; `None` where suppressed.
    pub values: Vec<Option<i64>>,
    /// Contributors per cell, for sum tables.
    pub contributors: Option<Vec<Option<i64>>>,
}

/// A verified report ready to be stored.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// Report id.
    pub report_id: String,
    /// Project (already checked against the signing key).
    pub project: String,
    /// Period.
    pub period: String,
    /// SHA-256 of the signed payload bytes.
    pub payload_sha256: [u8; 32],
    /// The envelope exactly as received.
    pub envelope: pb::SignedReport,
    /// Definition id.
    pub definition_id: String,
    /// Definition version.
    pub definition_version: u32,
    /// Normalised tables.
    pub tables: Vec<NormalTable>,
    /// The revision whose suppression this report was checked to keep
    /// before it reached the writer (0: there was none). When another
    /// revision was stored in between, the writer checks against that one
    /// inside its transaction, so two revisions in flight at once cannot
    /// skip the check.
    pub checked_revision: u32,
}

/// Why the intake writer did not store a report. The first two are the
/// report's problem (the service refuses it); the last is the gateway's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntakeError {
    /// A different report with this id is already stored.
    #[error("report {0} is already stored with different content")]
    Conflict(String),
    /// The correction publishes a cell the revision stored before it
    /// suppressed.
    #[error("cell {} of table {} was suppressed in revision {}", .0.cell, .0.table, .0.earlier_revision)]
    Uncovered(Uncovered),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored (or previously stored) report's receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The signed receipt.
    pub receipt: pb::Receipt,
    /// Revision number.
    pub revision: u32,
    /// Whether this was a resubmission of an already stored report.
    pub replayed: bool,
}

struct Job {
    report: NewReport,
    reply: oneshot::Sender<Result<Stored, IntakeError>>,
}

/// Handle to the intake writer thread.
#[derive(Debug, Clone)]
pub struct Intake {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("report_id", &self.report.report_id)
            .finish()
    }
}

impl Intake {
    /// Starts the writer on its own connection to `path` (already migrated).
    /// The thread ends when every handle is dropped, after finishing its queue.
    pub fn start(
        path: &Path,
        signer: Arc<Signer>,
        clock: Arc<dyn Clock>,
    ) -> Result<(Self, JoinHandle<()>), StoreError> {
        let conn = connect(path)?;
        let (tx, rx) = mpsc::channel(4 * MAX_GROUP);
        let handle = std::thread::Builder::new()
            .name("prikk-intake".into())
            .spawn(move || writer(conn, rx, &signer, clock.as_ref()))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok((Self { tx }, handle))
    }

    /// Stores a verified report (or finds it already stored) and returns its
    /// receipt once the commit is durable.
    pub async fn submit(&self, report: NewReport) -> Result<Stored, IntakeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { report, reply })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }
}

fn writer(mut conn: Connection, mut rx: mpsc::Receiver<Job>, signer: &Signer, clock: &dyn Clock) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let _span = tracing::debug_span!("commit_group", size = group.len()).entered();
        match commit_group(&mut conn, &group, signer, clock) {
            Ok(results) => {
                for (job, result) in group.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; {} submissions not stored", group.len());
                for job in group {
                    let _ = job.reply.send(Err(IntakeError::Store(StoreError::Corrupt(
                        "commit failed".into(),
                    ))));
                }
            }
        }
    }
}

/// Stores each report under its own savepoint inside one transaction, so a
/// refused or failed report leaves nothing behind while the others commit.
fn commit_group(
    conn: &mut Connection,
    group: &[Job],
    signer: &Signer,
    clock: &dyn Clock,
) -> Result<Vec<Result<Stored, IntakeError>>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = clock.now_unix();
    let mut results = Vec::with_capacity(group.len());
    // Savepoints by cached statements: rusqlite's own parse their SQL on
    // every use, a cost at this rate.
    let run = |tx: &Connection, sql: &str| -> Result<(), StoreError> {
        tx.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    for job in group {
        run(&tx, "SAVEPOINT report")?;
        match accept_one(&tx, &job.report, signer, now) {
            Ok(stored) => {
                run(&tx, "RELEASE report")?;
                results.push(Ok(stored));
            }
            Err(e) => {
                // Undoes this report only.
                run(&tx, "ROLLBACK TO report")?;
                run(&tx, "RELEASE report")?;
                results.push(Err(e));
            }
        }
    }
    tx.commit()?;
    Ok(results)
}

fn accept_one(
    tx: &Connection,
    r: &NewReport,
    signer: &Signer,
    now: i64,
) -> Result<Stored, IntakeError> {
    let existing: Option<(Vec<u8>, Vec<u8>, u32)> = tx
        .prepare_cached(
            "SELECT payload_sha256, receipt, revision FROM reports WHERE report_id = ?1",
        )
        .and_then(|mut st| {
            st.query_row([&r.report_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
        })
        .map_err(StoreError::from)?;
    if let Some((sha, receipt, revision)) = existing {
        if sha != r.payload_sha256 {
            return Err(IntakeError::Conflict(r.report_id.clone()));
        }
        let receipt = pb::Receipt::decode(receipt.as_slice())
            .map_err(|e| StoreError::Corrupt(format!("receipt of {}: {e}", r.report_id)))?;
        return Ok(Stored {
            receipt,
            revision,
            replayed: true,
        });
    }
    let revision = super::latest_revision(tx, &r.project, &r.period)?.unwrap_or(0) + 1;
    if revision > 1 && r.checked_revision != revision - 1 {
        let earlier = super::revision_tables(tx, &r.project, &r.period, revision - 1)?;
        corrections::check(revision - 1, &earlier, &r.tables).map_err(IntakeError::Uncovered)?;
    }
    let body = pb::ReceiptBody {
        report_id: r.report_id.clone(),
        payload_sha256: r.payload_sha256.to_vec(),
        accepted_unix: now,
        revision,
        project: r.project.clone(),
        period: r.period.clone(),
    };
    let receipt = sign_receipt(signer, &body);
    tx.prepare_cached(
        "INSERT INTO reports (report_id, project, period, revision, payload_sha256, envelope, key_id,
                              definition_id, definition_version, accepted_unix, receipt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut st| {
        st.execute(params![
            r.report_id,
            r.project,
            r.period,
            revision,
            r.payload_sha256.as_slice(),
            r.envelope.encode_to_vec(),
            r.envelope.key_id,
            r.definition_id,
            r.definition_version,
            now,
            receipt.encode_to_vec(),
        ])
    })
    .map_err(StoreError::from)?;
    let row = tx.last_insert_rowid();
    let mut st = tx
        .prepare_cached("INSERT INTO report_tables (report, table_id, cell_values, contributors) VALUES (?1, ?2, ?3, ?4)")
        .map_err(StoreError::from)?;
    for t in &r.tables {
        let values =
            serde_json::to_string(&t.values).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let contributors = t
            .contributors
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        st.execute(params![row, t.id, values, contributors])
            .map_err(StoreError::from)?;
    }
    Ok(Stored {
        receipt,
        revision,
        replayed: false,
    })
}
