//! The header row: each column's role (a core field, `person_ref`,
//! `project`, a value column of the definition, or dropped because it is not
//! allowlisted), and the file-level checks on it.

use std::collections::{BTreeSet, HashMap};

use super::{IngestError, REQUIRED_COLUMNS, ValueColumn};

/// A core field of the participant export, typed by the row reader itself.
#[derive(Clone, Copy)]
pub(super) enum Core {
    ReferredOn,
    Intake,
    NotAdmittedReason,
    StartedOn,
    EndedOn,
    Outcome,
    Gender,
}

/// What the row reader does with one column of the file.
#[derive(Default, Clone)]
pub(super) struct Slot<'a> {
    pub(super) person_ref: bool,
    pub(super) project: bool,
    pub(super) core: Option<Core>,
    /// Index into the definition's value columns.
    pub(super) value: Option<usize>,
    /// The allowlisted name ("" for a dropped column).
    pub(super) name: &'a str,
}

/// The header mapped onto roles.
pub(super) struct Header<'a> {
    /// One slot per column of the header.
    pub(super) slots: Vec<Slot<'a>>,
    /// The `project` column, when the file has one.
    pub(super) project_slot: Option<usize>,
    /// Names of the columns that are not allowlisted (never read), sorted.
    pub(super) dropped: Vec<String>,
    /// Allowlisted columns the file does not have.
    pub(super) absent: Vec<String>,
}

impl<'a> Header<'a> {
    /// Maps the header record `rec` (at `line`) onto roles. Refuses a column
    /// named twice, missing required columns, and a file without a `project`
    /// column when no project was chosen.
    pub(super) fn map(
        rec: &csv::ByteRecord,
        line: u64,
        allowed: &'a BTreeSet<String>,
        columns: &[ValueColumn],
        project_chosen: bool,
        origin: &str,
    ) -> Result<Self, IngestError> {
        let mut slots: Vec<Slot<'a>> = vec![Slot::default(); rec.len()];
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut dropped: BTreeSet<String> = BTreeSet::new();
        for ((i, field), slot) in rec.iter().enumerate().zip(slots.iter_mut()) {
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
                    line,
                    column: known.into(),
                    first: first + 1,
                    second: i + 1,
                });
            }
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
                line,
                missing,
            });
        }
        let has_project_column = seen.contains_key("project");
        if !has_project_column && !project_chosen {
            return Err(IngestError::NoProject {
                origin: origin.into(),
                message: "the file has no `project` column",
            });
        }
        let absent = allowed
            .iter()
            .filter(|c| !seen.contains_key(c.as_str()) && *c != "project")
            .cloned()
            .collect();
        let project_slot = slots.iter().position(|s| s.project);
        Ok(Self {
            slots,
            project_slot,
            dropped: dropped.into_iter().collect(),
            absent,
        })
    }

    /// Fields a row must have: as many as the header.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}
