//! The queue: signed reports waiting for delivery, their retry state and
//! their listing.

use prikk_proto::{decode_exact, payload_sha256, pb};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::budget::charge_release;
use super::{Charge, Failure, Outbox, OutboxError};
use crate::journal::{self, EntryKind, NewEntry};

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

fn get_in(conn: &Connection, report_id: &str) -> rusqlite::Result<Option<QueuedReport>> {
    conn.query_row(
        &format!("SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = ?1"),
        [report_id],
        report_from_row,
    )
    .optional()
}

impl Outbox {
    /// The stored report `report_id`, read inside `tx`, which must be in a
    /// state `allowed` accepts; `what` says why not otherwise.
    pub(super) fn report_in(
        tx: &Connection,
        report_id: &str,
        allowed: impl Fn(State) -> bool,
        what: &'static str,
    ) -> Result<QueuedReport, Failure> {
        let r = get_in(tx, report_id)?.ok_or_else(|| OutboxError::Unknown(report_id.into()))?;
        if !allowed(r.state) {
            return Err(OutboxError::WrongState {
                id: r.report_id,
                state: r.state,
                what,
            }
            .into());
        }
        Ok(r)
    }

    /// Stores a signed report, durably, and logs it. Idempotent on the report
    /// id: if that id is already in the outbox, the stored signed bytes are
    /// kept and returned, never replaced.
    pub fn enqueue(&self, envelope: &pb::SignedReport) -> Result<Enqueued, OutboxError> {
        self.enqueue_charged(envelope, None)
    }

    /// Like [`Outbox::enqueue`], and charges a differentially private release
    /// to its project's annual budget in the same transaction: the ledger row,
    /// the report and the journal entry (which records the spend) are written
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
        self.write(|tx| {
            if let Some(existing) = get_in(tx, &report.report_id)? {
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
            )?;
            let detail = match charge {
                None => String::new(),
                Some(c) => charge_release(tx, &self.path, &report, c, now)?,
            };
            journal::append(
                tx,
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
            let stored = get_in(tx, &report.report_id)?;
            Ok(stored
                .map(Enqueued::New)
                .ok_or_else(|| OutboxError::Unknown(report.report_id.clone()))?)
        })
    }

    /// One report by id.
    pub fn get(&self, report_id: &str) -> Result<Option<QueuedReport>, OutboxError> {
        self.read(|conn| Ok(get_in(conn, report_id)?))
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
        self.read(|conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {REPORT_COLUMNS} FROM reports WHERE state = 'queued' AND next_attempt_unix <= ?1
                 ORDER BY next_attempt_unix, created_unix, rowid"
            ))?;
            let rows = st
                .query_map([due_at.unwrap_or(i64::MAX)], report_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The earliest next attempt among queued reports.
    pub fn next_due_unix(&self) -> Result<Option<i64>, OutboxError> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT MIN(next_attempt_unix) FROM reports WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// Records a failed delivery attempt and schedules the next one with
    /// back-off and jitter. Returns the time of the next attempt.
    pub fn mark_attempt_failed(&self, report_id: &str, error: &str) -> Result<i64, OutboxError> {
        let now = self.clock.now_unix();
        self.write(|tx| {
            let r = Self::report_in(
                tx,
                report_id,
                |s| s == State::Queued,
                "it is not waiting for delivery",
            )?;
            let attempts = r.attempts.saturating_add(1);
            let delay = self.backoff.delay(attempts, &mut rand::rng());
            let next =
                now.saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX).max(1));
            tx.execute(
                "UPDATE reports SET attempts = ?2, next_attempt_unix = ?3, last_error = ?4 WHERE report_id = ?1",
                params![report_id, attempts, next, error],
            )?;
            Ok(next)
        })
    }

    /// Marks a report as refused for good by the gateway, with the reason.
    pub fn mark_rejected(&self, report_id: &str, reason: &str) -> Result<(), OutboxError> {
        let now = self.clock.now_unix();
        self.write(|tx| {
            let r = Self::report_in(
                tx,
                report_id,
                |s| s != State::Delivered,
                "it cannot be rejected",
            )?;
            tx.execute(
                "UPDATE reports SET state = 'rejected', attempts = attempts + 1, last_error = ?2 WHERE report_id = ?1",
                params![report_id, reason],
            )?;
            journal_change(tx, now, EntryKind::Rejected, &r, reason)
        })
    }

    /// Puts a rejected report back in the queue (for example after the
    /// directorate registered the key it was refused for).
    pub fn requeue(&self, report_id: &str) -> Result<(), OutboxError> {
        let now = self.clock.now_unix();
        self.write(|tx| {
            let r = Self::report_in(
                tx,
                report_id,
                |s| s == State::Rejected,
                "only rejected reports can be requeued",
            )?;
            tx.execute(
                "UPDATE reports SET state = 'queued', attempts = 0, next_attempt_unix = ?2 WHERE report_id = ?1",
                params![report_id, now],
            )?;
            journal_change(tx, now, EntryKind::Requeued, &r, "")
        })
    }

    /// Every report, oldest first, with receipt details where delivered.
    pub fn list(&self) -> Result<Vec<Listed>, OutboxError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT r.report_id, r.project, r.period, r.payload_sha256, r.key_id, r.created_unix, r.state,
                        r.attempts, r.next_attempt_unix, r.last_error, c.revision, c.accepted_unix
                 FROM reports r LEFT JOIN receipts c ON c.report_id = r.report_id
                 ORDER BY r.created_unix, r.rowid",
            )?;
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
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

/// Logs a change of state of a stored report (rejected, requeued) that has
/// no revision.
fn journal_change(
    tx: &Transaction<'_>,
    now: i64,
    kind: EntryKind,
    r: &QueuedReport,
    detail: &str,
) -> Result<(), Failure> {
    journal::append(
        tx,
        now,
        &NewEntry {
            kind,
            project: &r.project,
            period: &r.period,
            report_id: &r.report_id,
            payload_sha256: &r.payload_sha256,
            revision: None,
            detail,
        },
    )?;
    Ok(())
}
