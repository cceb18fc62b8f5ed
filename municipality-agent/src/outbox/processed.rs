//! The export files `run` has processed, so a file seen again (under its own
//! name or another) is not reported twice.

use rusqlite::{OptionalExtension, params};

use super::{Outbox, OutboxError};

impl Outbox {
    /// Whether an export file was already processed: same path, size and
    /// modification time, or the same content under any name.
    pub fn file_processed(
        &self,
        path: &str,
        size: i64,
        mtime_ns: i64,
        sha256: Option<&[u8]>,
    ) -> Result<bool, OutboxError> {
        self.read(|conn| {
            let by_name: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM processed_files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                    params![path, size, mtime_ns],
                    |r| r.get(0),
                )
                .optional()?;
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
                .optional()?;
            Ok(by_content.is_some())
        })
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
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO processed_files (path, size, mtime_ns, sha256, processed_unix, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![path, size, mtime_ns, sha256, now, outcome],
            )?;
            Ok(())
        })
    }
}
