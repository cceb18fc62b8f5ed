//! The append-only, hash-chained log of everything that left the municipality.
//!
//! It lives in the outbox database and is written in the same transaction as
//! the change it records (a report queued, its receipt stored, a rejection),
//! so the log and the outbox never disagree. Each entry's hash is
//! `SHA-256(prev_hash || canonical entry bytes)`, the first entry's
//! `prev_hash` being 32 zero bytes. Triggers refuse `UPDATE` and `DELETE` on
//! the table; someone who drops them and edits the file anyway is caught by
//! [`verify`], which recomputes the chain and cross-checks it against the
//! outbox.

use ring::digest::{Context, SHA256};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

/// Domain prefix of the canonical entry encoding. It, the table and the
/// trigger names keep the log's first name, `audit log`: they are in every
/// outbox file and in every entry's hash, so renaming them would break both.
const ENTRY_DOMAIN: &[u8] = b"prikk.auditlog.v1\0";

/// The log's table and the triggers that keep it append-only.
pub(crate) const SCHEMA: &str = "
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    time_unix      INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    project        TEXT NOT NULL,
    period         TEXT NOT NULL,
    report_id      TEXT NOT NULL,
    payload_sha256 BLOB NOT NULL,
    revision       INTEGER,
    detail         TEXT NOT NULL,
    prev_hash      BLOB NOT NULL,
    hash           BLOB NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A signed report was written to the outbox.
    Queued,
    /// The gateway's verified receipt for a report was stored.
    Delivered,
    /// The gateway refused a report for good.
    Rejected,
    /// An operator put a rejected report back in the queue.
    Requeued,
}

impl EntryKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Requeued => "requeued",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "delivered" => Self::Delivered,
            "rejected" => Self::Rejected,
            "requeued" => Self::Requeued,
            _ => return None,
        })
    }
}

/// Errors reading or writing the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// SQLite failed.
    #[error("journal database: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// The fields of a new entry; sequence number, time and hashes are added on append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry<'a> {
    /// What happened.
    pub kind: EntryKind,
    /// Project code.
    pub project: &'a str,
    /// Reporting period.
    pub period: &'a str,
    /// Report id.
    pub report_id: &'a str,
    /// SHA-256 of the signed report bytes.
    pub payload_sha256: &'a [u8],
    /// Revision from the receipt, for `Delivered`.
    pub revision: Option<u32>,
    /// Free text: the reason of a rejection, empty otherwise.
    pub detail: &'a str,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// Seconds since the Unix epoch.
    pub time_unix: i64,
    /// What happened (as stored; unknown names are kept verbatim for `verify`).
    pub kind: String,
    /// Project code.
    pub project: String,
    /// Reporting period.
    pub period: String,
    /// Report id.
    pub report_id: String,
    /// Hex SHA-256 of the signed report bytes.
    #[serde(serialize_with = "ser_hex")]
    pub payload_sha256: Vec<u8>,
    /// Revision from the receipt.
    pub revision: Option<u32>,
    /// Reason of a rejection, empty otherwise.
    pub detail: String,
    /// Hash of the previous entry.
    #[serde(serialize_with = "ser_hex")]
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    #[serde(serialize_with = "ser_hex")]
    pub hash: Vec<u8>,
}

fn ser_hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

/// The first problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Sequence number of the entry concerned (0 when the problem is an absent entry).
    pub seq: i64,
    /// What is wrong, for the operator.
    pub message: String,
}

/// Result of checking the whole log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Number of entries checked.
    pub entries: usize,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

fn put_bytes(ctx: &mut Context, b: &[u8]) {
    ctx.update(&(b.len() as u64).to_be_bytes());
    ctx.update(b);
}

/// The entry hash: SHA-256 over the previous hash and a length-prefixed
/// encoding of every field, so no two different entries encode alike.
fn entry_hash(
    prev_hash: &[u8],
    seq: i64,
    time_unix: i64,
    kind: &str,
    e: (&str, &str, &str, &[u8], Option<u32>, &str),
) -> Vec<u8> {
    let (project, period, report_id, sha, revision, detail) = e;
    let mut ctx = Context::new(&SHA256);
    ctx.update(prev_hash);
    ctx.update(ENTRY_DOMAIN);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&time_unix.to_be_bytes());
    for s in [kind, project, period, report_id] {
        put_bytes(&mut ctx, s.as_bytes());
    }
    put_bytes(&mut ctx, sha);
    match revision {
        None => ctx.update(&[0]),
        Some(r) => {
            ctx.update(&[1]);
            ctx.update(&r.to_be_bytes());
        }
    }
    put_bytes(&mut ctx, detail.as_bytes());
    ctx.finish().as_ref().to_vec()
}

/// Appends an entry inside the caller's transaction and returns its sequence number.
pub(crate) fn append(
    tx: &Transaction<'_>,
    time_unix: i64,
    e: &NewEntry<'_>,
) -> Result<i64, JournalError> {
    let last: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, vec![0u8; 32]),
    };
    let hash = entry_hash(
        &prev_hash,
        seq,
        time_unix,
        e.kind.as_str(),
        (
            e.project,
            e.period,
            e.report_id,
            e.payload_sha256,
            e.revision,
            e.detail,
        ),
    );
    tx.execute(
        "INSERT INTO audit_log (seq, time_unix, kind, project, period, report_id, payload_sha256, revision, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            seq,
            time_unix,
            e.kind.as_str(),
            e.project,
            e.period,
            e.report_id,
            e.payload_sha256,
            e.revision,
            e.detail,
            prev_hash,
            hash
        ],
    )?;
    Ok(seq)
}

/// Every entry, in log order.
pub fn entries(conn: &Connection) -> Result<Vec<Entry>, JournalError> {
    let mut st = conn.prepare(
        "SELECT seq, time_unix, kind, project, period, report_id, payload_sha256, revision, detail, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Entry {
            seq: r.get(0)?,
            time_unix: r.get(1)?,
            kind: r.get(2)?,
            project: r.get(3)?,
            period: r.get(4)?,
            report_id: r.get(5)?,
            payload_sha256: r.get(6)?,
            revision: r.get(7)?,
            detail: r.get(8)?,
            prev_hash: r.get(9)?,
            hash: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Recomputes the chain and cross-checks it against the outbox's reports and
/// receipts; returns the first edited, deleted or reordered entry.
pub fn verify(conn: &Connection) -> Result<Verification, JournalError> {
    let all = entries(conn)?;
    let n = all.len();
    let fail = |seq: i64, message: String| {
        Ok(Verification {
            entries: n,
            problem: Some(Problem { seq, message }),
        })
    };

    let mut prev = vec![0u8; 32];
    for (e, expected_seq) in all.iter().zip(1i64..) {
        if e.seq != expected_seq {
            return fail(
                expected_seq,
                format!(
                    "entry {expected_seq} is missing (the log jumps from {} to {}): deleted",
                    expected_seq - 1,
                    e.seq
                ),
            );
        }
        if EntryKind::parse(&e.kind).is_none() {
            return fail(
                e.seq,
                format!("entry {} has an unknown kind {:?}: edited", e.seq, e.kind),
            );
        }
        let recomputed = entry_hash(
            &e.prev_hash,
            e.seq,
            e.time_unix,
            &e.kind,
            (
                &e.project,
                &e.period,
                &e.report_id,
                &e.payload_sha256,
                e.revision,
                &e.detail,
            ),
        );
        if recomputed != e.hash {
            return fail(
                e.seq,
                format!("entry {} does not match its hash: edited or moved", e.seq),
            );
        }
        if e.prev_hash != prev {
            return fail(
                e.seq,
                format!(
                    "entry {} does not follow entry {}: an entry before it was edited, deleted or reordered",
                    e.seq,
                    e.seq - 1
                ),
            );
        }
        prev = e.hash.clone();
    }

    // The chain alone cannot show that its newest entries were cut off, or
    // that one was re-hashed after an edit; the outbox can.
    let mut st = conn.prepare(
        "SELECT r.report_id, r.payload_sha256, r.state, c.revision
         FROM reports r LEFT JOIN receipts c ON c.report_id = r.report_id ORDER BY r.rowid",
    )?;
    let reports = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<u32>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, sha, state, revision) in reports {
        let queued = all.iter().find(|e| e.report_id == id && e.kind == "queued");
        match queued {
            None => {
                return fail(
                    0,
                    format!(
                        "report {id} is in the outbox but its \"queued\" entry is missing: deleted"
                    ),
                );
            }
            Some(e) if e.payload_sha256 != sha => {
                return fail(
                    e.seq,
                    format!(
                        "entry {} names another payload than report {id} in the outbox: edited",
                        e.seq
                    ),
                );
            }
            Some(_) => {}
        }
        if let Some(rev) = revision {
            let delivered = all
                .iter()
                .find(|e| e.report_id == id && e.kind == "delivered");
            match delivered {
                None => {
                    return fail(
                        0,
                        format!(
                            "report {id} has a stored receipt but its \"delivered\" entry is missing: deleted"
                        ),
                    );
                }
                Some(e) if e.revision != Some(rev) || e.payload_sha256 != sha => {
                    return fail(
                        e.seq,
                        format!(
                            "entry {} disagrees with the stored receipt of report {id}: edited",
                            e.seq
                        ),
                    );
                }
                Some(_) => {}
            }
        } else if state == "delivered" {
            return fail(
                0,
                format!("report {id} is marked delivered but has no stored receipt"),
            );
        }
    }
    Ok(Verification {
        entries: n,
        problem: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_every_field() {
        let base = entry_hash(
            &[0; 32],
            1,
            10,
            "queued",
            ("p", "2006", "r", &[1; 32], None, ""),
        );
        let variants = [
            entry_hash(
                &[1; 32],
                1,
                10,
                "queued",
                ("p", "2006", "r", &[1; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                2,
                10,
                "queued",
                ("p", "2006", "r", &[1; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                11,
                "queued",
                ("p", "2006", "r", &[1; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                10,
                "delivered",
                ("p", "2006", "r", &[1; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                10,
                "queued",
                ("q", "2006", "r", &[1; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                10,
                "queued",
                ("p", "2007", "r", &[1; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                10,
                "queued",
                ("p", "2006", "s", &[1; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                10,
                "queued",
                ("p", "2006", "r", &[2; 32], None, ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                10,
                "queued",
                ("p", "2006", "r", &[1; 32], Some(0), ""),
            ),
            entry_hash(
                &[0; 32],
                1,
                10,
                "queued",
                ("p", "2006", "r", &[1; 32], None, "x"),
            ),
            // Shifting a byte between adjacent fields changes the hash too.
            entry_hash(
                &[0; 32],
                1,
                10,
                "queued",
                ("p2", "006", "r", &[1; 32], None, ""),
            ),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }
}
