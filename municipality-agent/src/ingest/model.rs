//! The typed result of reading an export: participants, background values,
//! and the summary shown to the data protection officer.

use time::Date;

use super::columns::{Codes, GENDER, INTAKE, NOT_ADMITTED_REASON, OUTCOME, Reason};

/// How the file's bytes were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Decoding {
    /// UTF-8 without a byte-order mark.
    Utf8,
    /// UTF-8 with a byte-order mark.
    Utf8Bom,
    /// Not UTF-8; decoded as Windows-1252.
    Windows1252,
}

impl std::fmt::Display for Decoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decoding::Utf8 => "UTF-8",
            Decoding::Utf8Bom => "UTF-8 with byte-order mark",
            Decoding::Windows1252 => "Windows-1252 (the file is not UTF-8)",
        })
    }
}

/// One rejected row's problem: where, and why. Never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Physical line in the file where the row starts (the header is line 1).
    pub line: u64,
    /// Column (allowlisted name), or `None` for the row as a whole.
    pub column: Option<String>,
    /// Why.
    pub reason: Reason,
}

/// What reading the file did, for the data protection officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    /// The file.
    pub origin: String,
    /// How its bytes were decoded.
    pub decoding: Decoding,
    /// The delimiter found in the header.
    pub delimiter: char,
    /// Names of columns dropped on read, sorted.
    pub dropped_columns: Vec<String>,
    /// Allowlisted optional columns the file does not have (their values count as unknown).
    pub absent_columns: Vec<String>,
    /// Data rows in the file.
    pub rows_read: usize,
    /// Rows for other projects, skipped.
    pub rows_other_projects: usize,
    /// Rows rejected.
    pub rows_rejected: usize,
    /// Rows accepted.
    pub rows_accepted: usize,
    /// Every problem of every rejected row, in file order.
    pub rejections: Vec<Rejection>,
}

/// Who was referred, and what happened, as typed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Participant {
    /// Date referred.
    pub referred_on: Date,
    /// Intake decision.
    pub intake: Intake,
    /// Why not admitted (set when `intake` is `NotAdmitted`).
    pub not_admitted_reason: Option<NotAdmittedReason>,
    /// Programme start.
    pub started_on: Option<Date>,
    /// Programme end.
    pub ended_on: Option<Date>,
    /// How it ended (only with `ended_on`).
    pub outcome: Option<Outcome>,
    /// Gender.
    pub gender: Gender,
}

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident, $codes:expr, [$($(#[$vdoc:meta])* $v:ident),* $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $v),* }
        impl $name {
            /// Every value, in code-list order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The canonical code.
            pub fn code(self) -> &'static str { $codes.name(self as u16) }
            pub(crate) fn from_index(i: u16) -> Option<Self> { Self::ALL.get(usize::from(i)).copied() }
        }
    };
}

code_enum!(
    /// Intake decision.
    Intake, INTAKE, [
    /// Admitted to the programme.
    Admitted,
    /// Not admitted.
    NotAdmitted,
    /// Still being assessed.
    Assessing]);
code_enum!(
    /// Gender.
    Gender, GENDER, [
    /// Female.
    Female,
    /// Male.
    Male]);
code_enum!(
    /// Why a person was not admitted.
    NotAdmittedReason, NOT_ADMITTED_REASON, [
    /// Another measure.
    OtherMeasure,
    /// Work or education.
    WorkOrEducation,
    /// Self-supporting.
    SelfSupporting,
    /// Did not show up.
    NoShow,
    /// Moved.
    Moved,
    /// No childcare.
    NoChildcare,
    /// Disability pension.
    DisabilityPension,
    /// Residence under two years.
    ResidenceUnder2y,
    /// Social assistance under six months.
    AssistanceUnder6m,
    /// No need.
    NoNeed,
    /// Other.
    Other]);
code_enum!(
    /// How a programme ended.
    Outcome, OUTCOME, [
    /// Left for work or education.
    WorkOrEducation,
    /// Discharged to something else.
    OtherDischarge,
    /// Birth.
    Birth,
    /// Invalid absence.
    InvalidAbsence,
    /// Moved.
    Moved,
    /// Referred elsewhere.
    ReferredElsewhere,
    /// Full-time programme not feasible.
    FullTimeNotFeasible,
    /// Other termination.
    OtherTermination]);

/// How a background column's values are typed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ColumnKind {
    /// A code of the export contract.
    Code(&'static Codes),
    /// A code from the definition's categories (a column the contract does not list).
    DefCode(Vec<String>),
    /// A whole number in a range.
    Int {
        /// Smallest.
        lo: i64,
        /// Largest.
        hi: i64,
    },
    /// Yes or no.
    Bool,
    /// ISO 3166-1 alpha-2, upper case.
    Country,
    /// A `|`-separated list of contract codes.
    List(&'static Codes),
    /// A `|`-separated list of definition categories.
    DefList(Vec<String>),
}

impl ColumnKind {
    /// Canonical code name of a code index.
    pub fn code_name(&self, index: u16) -> &str {
        match self {
            ColumnKind::Code(c) | ColumnKind::List(c) => c.name(index),
            ColumnKind::DefCode(v) | ColumnKind::DefList(v) => {
                v.get(usize::from(index)).map_or("", String::as_str)
            }
            _ => "",
        }
    }

    /// Number of codes (for code and list columns).
    pub fn code_count(&self) -> usize {
        match self {
            ColumnKind::Code(c) | ColumnKind::List(c) => c.entries.len(),
            ColumnKind::DefCode(v) | ColumnKind::DefList(v) => v.len(),
            _ => 0,
        }
    }
}

/// A background column the definition's tables read.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueColumn {
    /// Column name.
    pub name: String,
    /// Value type.
    pub kind: ColumnKind,
    /// A dimension reads it without an `unknown` category, so a row must have it.
    pub required: bool,
}

/// A typed background value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// Empty: counts as the dimension's `unknown` category.
    Missing,
    /// Index into the column's code list.
    Code(u16),
    /// A whole number.
    Int(i64),
    /// Yes or no.
    Bool(bool),
    /// Two upper-case ASCII letters.
    Country([u8; 2]),
    /// Bit set over the column's code list.
    List(u32),
}

pub(crate) const MISSING: u32 = u32::MAX;

/// The accepted participants of one project, with their background values.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// The project the rows belong to.
    pub project: String,
    /// Accepted participants.
    pub participants: Vec<Participant>,
    /// Background columns, in value order.
    pub columns: Vec<ValueColumn>,
    /// `participants.len() * columns.len()` packed values.
    pub(crate) values: Vec<u32>,
    /// What happened on the way.
    pub summary: IngestSummary,
}

impl Ingested {
    /// Index of a background column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// A participant's value in a background column; `None` when there is
    /// no such participant or column.
    pub fn value(&self, person: usize, column: usize) -> Option<Value> {
        let kind = &self.columns.get(column)?.kind;
        let at = person
            .checked_mul(self.columns.len())?
            .checked_add(column)?;
        let raw = *self.values.get(at)?;
        if raw == MISSING {
            return Some(Value::Missing);
        }
        Some(match kind {
            ColumnKind::Code(_) | ColumnKind::DefCode(_) => {
                Value::Code(u16::try_from(raw).unwrap_or(u16::MAX))
            }
            ColumnKind::Int { lo, .. } => Value::Int(lo + i64::from(raw)),
            ColumnKind::Bool => Value::Bool(raw != 0),
            ColumnKind::Country => Value::Country([(raw >> 8) as u8, raw as u8]),
            ColumnKind::List(_) | ColumnKind::DefList(_) => Value::List(raw),
        })
    }

    /// The raw packed value (`u32::MAX` when missing); for fast aggregation.
    #[allow(
        clippy::indexing_slicing,
        reason = "tabulation passes a `person` enumerating `participants` and a `column` from `column_index`, and `values` holds `columns.len()` values per participant"
    )]
    pub(crate) fn raw(&self, person: usize, column: usize) -> u32 {
        self.values[person * self.columns.len() + column]
    }
}
