//! Receipts: the gateway's signed acknowledgement of a report, checked before
//! it is stored, and storing it marks the report delivered.

use prikk_proto::{SignError, pb};
use prost::Message;
use rusqlite::{OptionalExtension, params};

use super::{Outbox, OutboxError, QueuedReport};
use crate::journal::{self, EntryKind, NewEntry};

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

impl Outbox {
    /// Stores a verified receipt and marks its report delivered, in one
    /// transaction with the journal entry. Returns `false` when a receipt was
    /// already stored for the report (the first one is kept).
    pub fn store_receipt(&self, receipt: &VerifiedReceipt) -> Result<bool, OutboxError> {
        let now = self.clock.now_unix();
        let body = receipt.body();
        self.write(|tx| {
            let r = Self::report_in(tx, &body.report_id, |_| true, "")?;
            // Defence in depth: `VerifiedReceipt::verify` checked this against the
            // report it was given; make sure that was the stored one.
            if body.payload_sha256 != r.payload_sha256 {
                return Err(OutboxError::WrongState {
                    id: r.report_id,
                    state: r.state,
                    what: "the receipt attests other bytes than the stored report",
                }
                .into());
            }
            let have: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM receipts WHERE report_id = ?1",
                    [&body.report_id],
                    |x| x.get(0),
                )
                .optional()?;
            if have.is_some() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO receipts (report_id, receipt, revision, accepted_unix, stored_unix) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![body.report_id, receipt.raw, body.revision, body.accepted_unix, now],
            )?;
            tx.execute(
                "UPDATE reports SET state = 'delivered', last_error = NULL WHERE report_id = ?1",
                [&body.report_id],
            )?;
            journal::append(
                tx,
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
            Ok(true)
        })
    }

    /// The stored receipt of a report.
    pub fn receipt(&self, report_id: &str) -> Result<Option<StoredReceipt>, OutboxError> {
        let row: Option<(Vec<u8>, u32, i64, i64)> = self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT receipt, revision, accepted_unix, stored_unix FROM receipts WHERE report_id = ?1",
                    [report_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?)
        })?;
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
}
