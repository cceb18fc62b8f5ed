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

pub mod columns;
mod error;
mod model;
mod plan;

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use prikk_privacy::definition::{Definition, Derive};
use time::Date;

pub use columns::{Codes, Reason};
use columns::{GENDER, INTAKE, NOT_ADMITTED_REASON, OUTCOME, parse_code, parse_date, trim};

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

pub use error::IngestError;
use model::MISSING;
pub use model::*;
use plan::{minimum_checks, parse_value, value_columns};

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

fn line_of(bytes: &[u8], offset: usize) -> u64 {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
        + 1
}

/// Decodes the file's bytes into text.
fn decode<'a>(bytes: &'a [u8], origin: &str) -> Result<(Cow<'a, str>, Decoding), IngestError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(IngestError::Utf16 {
            origin: origin.into(),
        });
    }
    // `contains` on bytes is a fast memchr; the position is needed only for the message.
    if bytes.contains(&0) {
        let pos = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(IngestError::Binary {
            origin: origin.into(),
            line: line_of(bytes, pos),
        });
    }
    let (body, bom) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    match std::str::from_utf8(body) {
        Ok(s) => Ok((
            Cow::Borrowed(s),
            if bom {
                Decoding::Utf8Bom
            } else {
                Decoding::Utf8
            },
        )),
        Err(e) => {
            let first_bad = e.valid_up_to() + usize::from(bom) * 3;
            let mixed = bom || body.utf8_chunks().any(|c| !c.valid().is_ascii());
            if mixed {
                return Err(IngestError::MixedEncoding {
                    origin: origin.into(),
                    line: line_of(bytes, first_bad),
                });
            }
            // Bytes Windows-1252 leaves undefined mean the file is something else.
            if let Some(pos) = body
                .iter()
                .position(|b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D))
            {
                return Err(IngestError::UnknownEncoding {
                    origin: origin.into(),
                    line: line_of(body, pos),
                });
            }
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(body);
            Ok((Cow::Owned(text.into_owned()), Decoding::Windows1252))
        }
    }
}

/// `;` when the header line has more semicolons than commas outside quotes, else `,`.
fn detect_delimiter(text: &str) -> u8 {
    let header = text
        .split('\n')
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let (mut quoted, mut commas, mut semis) = (false, 0usize, 0usize);
    for b in header.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semis += 1,
            _ => {}
        }
    }
    if semis > commas { b';' } else { b',' }
}

/// Derives the bucketed quantity from a column value.
pub fn derive_value(derive: Derive, value: i64, as_of_year: i32) -> i64 {
    match derive {
        Derive::MonthsAsYears => value.div_euclid(12),
        Derive::YearsSince => i64::from(as_of_year) - value,
        _ => value,
    }
}

/// Exports at least this large are read with CSV parsing on a second thread.
const THREADED_MIN_BYTES: usize = 4 << 20;

/// Records handed between the CSV thread and the row thread at a time.
const BATCH: usize = 1024;

struct Batch {
    records: Vec<csv::ByteRecord>,
    len: usize,
}

/// Feeds every record to `process` in file order. When `threaded`, the CSV
/// structure is parsed on a second thread while this one types the fields;
/// batches of records are recycled, so neither side allocates per row.
fn read_records(
    rdr: &mut csv::Reader<&[u8]>,
    threaded: bool,
    process: &mut dyn FnMut(&csv::ByteRecord),
) -> Result<(), csv::Error> {
    if !threaded {
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec)? {
            process(&rec);
        }
        return Ok(());
    }
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<Batch, csv::Error>>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        s.spawn(move || {
            loop {
                let mut batch = empty_rx.try_recv().unwrap_or_else(|_| Batch {
                    records: Vec::new(),
                    len: 0,
                });
                batch.len = 0;
                let mut done = false;
                while batch.len < BATCH {
                    if batch.records.len() == batch.len {
                        batch.records.push(csv::ByteRecord::new());
                    }
                    match rdr.read_byte_record(&mut batch.records[batch.len]) {
                        Ok(true) => batch.len += 1,
                        Ok(false) => {
                            done = true;
                            break;
                        }
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            return;
                        }
                    }
                }
                // A closed channel means the reader stopped: nothing more to do.
                if full_tx.send(Ok(batch)).is_err() || done {
                    return;
                }
            }
        });
        // Owned here, so it is dropped (and the CSV thread released) before the scope joins.
        let full_rx = full_rx;
        for batch in full_rx.iter() {
            let batch = batch?;
            for rec in &batch.records[..batch.len] {
                process(rec);
            }
            let _ = empty_tx.send(batch);
        }
        Ok(())
    })
}

/// The `person_ref`s seen so far, kept exactly (bytes in one arena, found by
/// a fast hash), so duplicate detection costs no allocation per row. The
/// arena is dropped when reading ends: references never leave ingest.
#[derive(Default)]
struct RefSet {
    arena: Vec<u8>,
    by_hash: HashMap<u64, (usize, usize, u64), BuildHasherDefault<Prehashed>>,
    /// Distinct references whose hash collided with an earlier one.
    collided: HashMap<Box<[u8]>, u64>,
}

impl RefSet {
    /// The line a reference was first seen on, or `None` (and remember it at `line`).
    fn first_line_or_insert(&mut self, r: &[u8], line: u64) -> Option<u64> {
        match self.by_hash.entry(fx_hash(r)) {
            Entry::Occupied(e) => {
                let (start, len, first) = *e.get();
                if &self.arena[start..start + len] == r {
                    return Some(first);
                }
                if let Some(&first) = self.collided.get(r) {
                    return Some(first);
                }
                self.collided.insert(r.into(), line);
                None
            }
            Entry::Vacant(v) => {
                v.insert((self.arena.len(), r.len(), line));
                self.arena.extend_from_slice(r);
                None
            }
        }
    }
}

/// A multiply-rotate hash (as in rustc's FxHash) over 8-byte words.
fn fx_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut w = [0u8; 8];
    w[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Clone, Copy)]
enum Core {
    ReferredOn,
    Intake,
    NotAdmittedReason,
    StartedOn,
    EndedOn,
    Outcome,
    Gender,
}

#[derive(Default, Clone)]
struct Slot<'a> {
    person_ref: bool,
    project: bool,
    core: Option<Core>,
    value: Option<usize>,
    name: &'a str,
}

struct Projects {
    names: Vec<String>,
}

impl Projects {
    fn index(&mut self, raw: &[u8]) -> Result<usize, Reason> {
        if let Some(i) = self
            .names
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(raw))
        {
            return Ok(i);
        }
        let p = columns::parse_project(raw)?;
        self.names.push(p);
        Ok(self.names.len() - 1)
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
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, csv::Position::line);
        IngestError::Csv {
            origin: origin.into(),
            line,
            message: "the file is not readable as CSV".into(),
        }
    };
    if !rdr.read_byte_record(&mut rec).map_err(csv_err)? {
        return Err(IngestError::Empty {
            origin: origin.into(),
        });
    }
    let header_line = rec.position().map_or(1, csv::Position::line);

    // Map the header onto roles.
    let mut slots: Vec<Slot> = vec![Slot::default(); rec.len()];
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    for (i, field) in rec.iter().enumerate() {
        let raw = String::from_utf8_lossy(field);
        let name = raw.trim().trim_start_matches('\u{feff}');
        let lower = name.to_ascii_lowercase();
        let Some(known) = allowed.get(lower.as_str()).map(String::as_str) else {
            dropped.insert(if name.is_empty() {
                format!("(column {} has no name)", i + 1)
            } else {
                name.to_string()
            });
            continue;
        };
        if let Some(first) = seen.insert(known, i) {
            return Err(IngestError::DuplicateColumn {
                origin: origin.into(),
                line: header_line,
                column: known.into(),
                first: first + 1,
                second: i + 1,
            });
        }
        let slot = &mut slots[i];
        slot.name = known;
        match known {
            "person_ref" => slot.person_ref = true,
            "project" => slot.project = true,
            "referred_on" => slot.core = Some(Core::ReferredOn),
            "intake" => slot.core = Some(Core::Intake),
            "not_admitted_reason" => slot.core = Some(Core::NotAdmittedReason),
            "started_on" => slot.core = Some(Core::StartedOn),
            "ended_on" => slot.core = Some(Core::EndedOn),
            "outcome" => slot.core = Some(Core::Outcome),
            "gender" => slot.core = Some(Core::Gender),
            _ => {}
        }
        slot.value = columns.iter().position(|c| c.name == known);
    }
    let missing: Vec<String> = REQUIRED_COLUMNS
        .iter()
        .copied()
        .chain(
            columns
                .iter()
                .filter(|c| c.required)
                .map(|c| c.name.as_str()),
        )
        .filter(|c| !seen.contains_key(*c))
        .map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        return Err(IngestError::MissingColumns {
            origin: origin.into(),
            line: header_line,
            missing,
        });
    }
    let has_project_column = seen.contains_key("project");
    if !has_project_column && selected.is_none() {
        return Err(IngestError::NoProject {
            origin: origin.into(),
            message: "the file has no `project` column",
        });
    }
    let absent_columns: Vec<String> = allowed
        .iter()
        .filter(|c| !seen.contains_key(c.as_str()) && *c != "project")
        .cloned()
        .collect();
    let header_len = rec.len();
    let project_slot = slots.iter().position(|s| s.project).unwrap_or(0);

    let mut summary = IngestSummary {
        origin: origin.into(),
        decoding,
        delimiter: char::from(delimiter),
        dropped_columns: dropped.into_iter().collect(),
        absent_columns,
        rows_read: 0,
        rows_other_projects: 0,
        rows_rejected: 0,
        rows_accepted: 0,
        rejections: Vec::new(),
    };
    let ncols = columns.len();
    let as_of_year = opts.as_of.map(Date::year);
    // Reserve for the rows a sample of the text suggests, so large files do not reallocate.
    let sample = &text.as_bytes()[..text.len().min(1 << 20)];
    let lines = sample.iter().filter(|&&b| b == b'\n').count().max(1);
    let estimate = (text.len() / (sample.len() / lines).max(1)).min(50_000_000);
    let mut participants: Vec<Participant> = Vec::with_capacity(estimate);
    let mut values: Vec<u32> = Vec::with_capacity(estimate.saturating_mul(ncols));
    let mut refs = RefSet::default();
    let mut projects = Projects { names: Vec::new() };
    let mut in_file: BTreeSet<usize> = BTreeSet::new();
    let mut others: BTreeSet<usize> = BTreeSet::new();
    let mut problems: Vec<(Option<&str>, Reason)> = Vec::new();
    let mut row_values: Vec<u32> = vec![MISSING; ncols];

    let mut process = |rec: &csv::ByteRecord| {
        summary.rows_read += 1;
        let line = rec.position().map_or(0, csv::Position::line);
        problems.clear();
        row_values.fill(MISSING);
        if rec.len() < header_len || rec.iter().skip(header_len).any(|f| !trim(f).is_empty()) {
            summary.rows_rejected += 1;
            summary.rejections.push(Rejection {
                line,
                column: None,
                reason: Reason::FieldCount {
                    expected: header_len,
                    found: rec.len(),
                },
            });
            return;
        }
        // Project first: rows of other projects are none of this report's business.
        if has_project_column {
            let raw = trim(&rec[project_slot]);
            if raw.is_empty() {
                problems.push((Some("project"), Reason::Missing));
            } else {
                match projects.index(raw) {
                    Ok(p) => {
                        if let Some(sel) = &selected
                            && projects.names[p] != *sel
                        {
                            others.insert(p);
                            summary.rows_other_projects += 1;
                            return;
                        }
                        in_file.insert(p);
                    }
                    Err(r) => problems.push((Some("project"), r)),
                }
            }
        }
        let mut person_ref: &[u8] = &[];
        let (
            mut referred_on,
            mut intake,
            mut reason,
            mut started_on,
            mut ended_on,
            mut outcome,
            mut gender,
        ) = (None, None, None, None, None, None, None);
        for (slot, field) in slots.iter().zip(rec.iter()) {
            let raw = trim(field);
            if slot.person_ref {
                person_ref = raw;
                if raw.is_empty() {
                    problems.push((Some("person_ref"), Reason::Missing));
                }
                continue;
            }
            if let Some(core) = slot.core
                && !raw.is_empty()
            {
                let parsed = match core {
                    Core::ReferredOn => parse_date(raw).map(|d| referred_on = Some(d)),
                    Core::StartedOn => parse_date(raw).map(|d| started_on = Some(d)),
                    Core::EndedOn => parse_date(raw).map(|d| ended_on = Some(d)),
                    Core::Intake => {
                        parse_code(raw, &INTAKE).map(|c| intake = Intake::from_index(c))
                    }
                    Core::NotAdmittedReason => parse_code(raw, &NOT_ADMITTED_REASON)
                        .map(|c| reason = NotAdmittedReason::from_index(c)),
                    Core::Outcome => {
                        parse_code(raw, &OUTCOME).map(|c| outcome = Outcome::from_index(c))
                    }
                    Core::Gender => {
                        parse_code(raw, &GENDER).map(|c| gender = Gender::from_index(c))
                    }
                };
                if let Err(r) = parsed {
                    problems.push((Some(slot.name), r));
                    continue;
                }
            }
            if let Some(ci) = slot.value {
                if raw.is_empty() {
                    if columns[ci].required && slot.core.is_none() {
                        problems.push((Some(slot.name), Reason::Missing));
                    }
                    continue;
                }
                match parse_value(raw, &columns[ci].kind) {
                    Ok(v) => row_values[ci] = v,
                    Err(r) => {
                        if slot.core.is_none() {
                            problems.push((Some(slot.name), r));
                        }
                    }
                }
            }
        }
        // Required fields and cross-field rules, reported only for fields that parsed.
        let bad = |col: &str, p: &[(Option<&str>, Reason)]| p.iter().any(|(c, _)| *c == Some(col));
        if referred_on.is_none() && !bad("referred_on", &problems) {
            problems.push((Some("referred_on"), Reason::Missing));
        }
        if intake.is_none() && !bad("intake", &problems) {
            problems.push((Some("intake"), Reason::Missing));
        }
        if gender.is_none() && !bad("gender", &problems) {
            problems.push((Some("gender"), Reason::Missing));
        }
        match intake {
            Some(Intake::Admitted) if started_on.is_none() && !bad("started_on", &problems) => {
                problems.push((
                    Some("started_on"),
                    Reason::RequiredWhen("intake is admitted"),
                ));
            }
            Some(Intake::NotAdmitted)
                if reason.is_none() && !bad("not_admitted_reason", &problems) =>
            {
                problems.push((
                    Some("not_admitted_reason"),
                    Reason::RequiredWhen("intake is not_admitted"),
                ));
            }
            _ => {}
        }
        if let (Some(s), Some(e)) = (started_on, ended_on)
            && e < s
        {
            problems.push((Some("ended_on"), Reason::EndedBeforeStarted));
        }
        if outcome.is_some() && ended_on.is_none() && !bad("ended_on", &problems) {
            problems.push((Some("outcome"), Reason::OutcomeWithoutEnd));
        }
        if let Some(year) = as_of_year {
            for &(ci, derive, minimum) in &minimums {
                let raw = row_values[ci];
                if raw == MISSING {
                    continue;
                }
                if let ColumnKind::Int { lo, .. } = columns[ci].kind
                    && derive_value(derive, lo + i64::from(raw), year) < minimum
                {
                    let what = match derive {
                        Derive::YearsSince => "the number of years up to the period",
                        Derive::MonthsAsYears => "the number of years",
                        _ => "the value",
                    };
                    problems.push((
                        Some(columns[ci].name.as_str()),
                        Reason::BelowMinimum { what, minimum },
                    ));
                }
            }
        }
        if !person_ref.is_empty()
            && let Some(first_line) = refs.first_line_or_insert(person_ref, line)
        {
            problems.push((Some("person_ref"), Reason::Duplicate { first_line }));
        }
        match (problems.is_empty(), referred_on, intake, gender) {
            (true, Some(referred_on), Some(intake), Some(gender)) => {
                participants.push(Participant {
                    referred_on,
                    intake,
                    not_admitted_reason: reason,
                    started_on,
                    ended_on,
                    outcome,
                    gender,
                });
                values.extend_from_slice(&row_values);
            }
            _ => {
                summary.rows_rejected += 1;
                for (col, reason) in problems.drain(..) {
                    summary.rejections.push(Rejection {
                        line,
                        column: col.map(str::to_string),
                        reason,
                    });
                }
            }
        }
    };
    read_records(
        &mut rdr,
        threaded.unwrap_or(text.len() >= THREADED_MIN_BYTES),
        &mut process,
    )
    .map_err(csv_err)?;
    drop(refs);
    summary.rows_accepted = participants.len();

    let project = if has_project_column {
        match &selected {
            Some(sel) => {
                if in_file.is_empty() && !others.is_empty() {
                    let found = others.iter().map(|&i| projects.names[i].clone()).collect();
                    return Err(IngestError::ProjectNotInFile {
                        origin: origin.into(),
                        project: sel.clone(),
                        found,
                    });
                }
                sel.clone()
            }
            None => {
                let names: Vec<String> =
                    in_file.iter().map(|&i| projects.names[i].clone()).collect();
                match names.len() {
                    0 => {
                        return Err(IngestError::NoProject {
                            origin: origin.into(),
                            message: "no row names a project",
                        });
                    }
                    1 => names[0].clone(),
                    _ => {
                        return Err(IngestError::SeveralProjects {
                            origin: origin.into(),
                            projects: names,
                        });
                    }
                }
            }
        }
    } else {
        selected.unwrap_or_default()
    };
    Ok(Ingested {
        project,
        participants,
        columns,
        values,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{SampleOptions, write_export_to};

    #[test]
    fn threaded_reading_equals_sequential_reading() {
        let mut bytes = Vec::new();
        write_export_to(
            &mut bytes,
            "moss",
            3 * BATCH + 17,
            9,
            &SampleOptions::default(),
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

    #[test]
    fn reference_set_is_exact() {
        let mut refs = RefSet::default();
        assert_eq!(refs.first_line_or_insert(b"12345678901", 2), None);
        assert_eq!(refs.first_line_or_insert(b"12345678902", 3), None);
        assert_eq!(refs.first_line_or_insert(b"12345678901", 4), Some(2));
        assert_eq!(refs.first_line_or_insert(b"", 5), None);
        assert_eq!(refs.first_line_or_insert(b"", 6), Some(5));
        // Force a hash collision: a distinct reference must still be told apart.
        let h = fx_hash(b"x");
        refs.by_hash.insert(h, (0, 3, 9));
        assert_eq!(refs.first_line_or_insert(b"x", 10), None);
        assert_eq!(refs.first_line_or_insert(b"x", 11), Some(10));
    }
}
