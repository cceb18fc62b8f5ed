//! Reading the case system's participant export (DOMAIN.md, "Participant
//! export").
//!
//! - The header row is required; `,` or `;` is detected from it.
//! - UTF-8 with or without a byte-order mark is read as is. A file that is
//!   not valid UTF-8 is decoded explicitly as Windows-1252 (what Norwegian
//!   spreadsheet tools write), so æ, ø and å survive, and the summary says
//!   so. A file that mixes valid UTF-8 letters with invalid bytes is refused,
//!   because no single decoding would read it without garbling.
//! - Binary files (NUL bytes, UTF-16) and files without the required columns
//!   are refused as a whole.
//! - Only columns allowlisted by the report definition are read. Every other
//!   column is dropped on read; its *name* is recorded for the data
//!   protection officer.
//! - Each value becomes a typed code, date, number or flag. A row with an
//!   invalid value, a missing required field, an impossible date order or a
//!   repeated `person_ref` is rejected with its line, column and reason
//!   (never the value) and kept out of every count.
//!
//! `person_ref` is used only to find duplicates and is not kept.

//!
//! The steps live in their own files: `decode` (bytes to text, delimiter),
//! `header` (the header's columns against the allowlist), `plan` (the
//! definition's value columns), `records` (CSV records, threaded for large
//! files), `rows` (typing and checking each row), `refs` (duplicate
//! `person_ref`s) and `collect` (the results and the file's project).

mod collect;
pub mod columns;
mod decode;
mod error;
mod header;
mod model;
mod plan;
mod records;
mod refs;
mod rows;

use std::path::Path;

use prikk_privacy::definition::{Definition, Derive};
use time::Date;

use collect::Collected;
pub use columns::{Codes, Reason};
use decode::{decode, detect_delimiter};
pub use error::IngestError;
use header::Header;
use model::MISSING;
pub use model::*;
use plan::{minimum_checks, value_columns};
use records::{THREADED_MIN_BYTES, read_records, unreadable};
use rows::RowReader;

/// Columns a participant export must have.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "person_ref",
    "referred_on",
    "intake",
    "not_admitted_reason",
    "started_on",
    "ended_on",
    "outcome",
    "gender",
];

/// Choices for reading.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The project to read (rows of other projects are skipped). Required when
    /// the file has no `project` column or holds several projects.
    pub project: Option<String>,
    /// The day status is evaluated as of; needed to check quantities derived
    /// from it (years in Norway must not be negative).
    pub as_of: Option<Date>,
}

/// Reads an export file.
pub fn ingest_file(
    path: &Path,
    def: &Definition,
    opts: &IngestOptions,
) -> Result<Ingested, IngestError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| IngestError::Io {
        origin: origin.clone(),
        source,
    })?;
    ingest_bytes(&bytes, &origin, def, opts)
}

/// Derives the bucketed quantity from a column value.
pub fn derive_value(derive: Derive, value: i64, as_of_year: i32) -> i64 {
    match derive {
        Derive::MonthsAsYears => value.div_euclid(12),
        Derive::YearsSince => i64::from(as_of_year) - value,
        _ => value,
    }
}

/// Reads an export held in memory. `origin` names the file in messages.
pub fn ingest_bytes(
    bytes: &[u8],
    origin: &str,
    def: &Definition,
    opts: &IngestOptions,
) -> Result<Ingested, IngestError> {
    ingest_with(bytes, origin, def, opts, None)
}

/// `threaded`: `None` decides by size.
fn ingest_with(
    bytes: &[u8],
    origin: &str,
    def: &Definition,
    opts: &IngestOptions,
    threaded: Option<bool>,
) -> Result<Ingested, IngestError> {
    let selected = match &opts.project {
        Some(p) => Some(
            columns::parse_project(p.trim().as_bytes())
                .map_err(|_| IngestError::BadProject(p.clone()))?,
        ),
        None => None,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::Empty {
            origin: origin.into(),
        });
    }
    let (text, decoding) = decode(bytes, origin)?;
    let delimiter = detect_delimiter(&text);
    let columns = value_columns(def)?;
    let minimums = minimum_checks(def, &columns);
    let allowed = def.allowed_columns();

    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rec = csv::ByteRecord::new();
    if !rdr
        .read_byte_record(&mut rec)
        .map_err(|e| unreadable(origin, &e))?
    {
        return Err(IngestError::Empty {
            origin: origin.into(),
        });
    }
    let header_line = rec.position().map_or(1, csv::Position::line);
    let header = Header::map(
        &rec,
        header_line,
        &allowed,
        &columns,
        selected.is_some(),
        origin,
    )?;

    let summary = IngestSummary {
        origin: origin.into(),
        decoding,
        delimiter: char::from(delimiter),
        dropped_columns: header.dropped.clone(),
        absent_columns: header.absent.clone(),
        rows_read: 0,
        rows_other_projects: 0,
        rows_rejected: 0,
        rows_accepted: 0,
        rejections: Vec::new(),
    };
    let collected = Collected::with_capacity(summary, estimated_rows(&text), columns.len());
    let mut rows = RowReader::new(
        &header,
        &columns,
        &minimums,
        opts.as_of,
        selected.as_deref(),
        collected,
    );
    read_records(
        &mut rdr,
        threaded.unwrap_or(text.len() >= THREADED_MIN_BYTES),
        &mut |rec| rows.read(rec),
    )
    .map_err(|e| unreadable(origin, &e))?;
    let collected = rows.into_collected();
    collected.finish(origin, selected, header.project_slot.is_some(), columns)
}

/// The rows the first megabyte of the text suggests, to reserve for, so large files do
/// not reallocate.
fn estimated_rows(text: &str) -> usize {
    let head = text
        .as_bytes()
        .get(..text.len().min(1 << 20))
        .unwrap_or_default();
    let lines = head.iter().filter(|&&b| b == b'\n').count().max(1);
    (text.len() / (head.len() / lines).max(1)).min(50_000_000)
}

#[cfg(test)]
mod tests {
    use super::records::BATCH;
    use super::*;
    use crate::synthetic::{SyntheticOptions, write_export_to};

    #[test]
    fn threaded_reading_equals_sequential_reading() {
        let mut bytes = Vec::new();
        write_export_to(
            &mut bytes,
            "moss",
            3 * BATCH + 17,
            9,
            &SyntheticOptions::default(),
        )
        .unwrap();
        // Damage some rows so rejections are compared too, and end without a newline.
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace(",female,", ",robot,")
            .replacen(",male,", ",,", 40);
        let text = text.trim_end().to_string();
        let def = Definition::embedded();
        let opts = IngestOptions {
            project: None,
            as_of: Some(time::macros::date!(2006 - 12 - 31)),
        };
        let a = ingest_with(text.as_bytes(), "t.csv", &def, &opts, Some(true)).unwrap();
        let b = ingest_with(text.as_bytes(), "t.csv", &def, &opts, Some(false)).unwrap();
        assert!(
            a.summary.rows_rejected > 40 && a.summary.rows_accepted > 100,
            "{:?}",
            a.summary.rows_rejected
        );
        assert_eq!(a.summary, b.summary);
        assert_eq!(a.participants, b.participants);
        assert_eq!(a.values, b.values);
        assert_eq!(a.summary.rows_read, 3 * BATCH + 17);
    }
}
