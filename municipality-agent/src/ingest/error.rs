//! Errors for files that cannot be read as a participant export at all.

use super::REQUIRED_COLUMNS;

/// A file that cannot be read as a participant export at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file could not be read.
    #[error("cannot read {origin}: {source}")]
    Io {
        /// File name.
        origin: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Nothing in the file.
    #[error("{origin}: the file is empty; expected a participant export with a header row")]
    Empty {
        /// File name.
        origin: String,
    },
    /// NUL bytes: a binary file, not a CSV text export.
    #[error(
        "{origin}, line {line}: the file contains NUL bytes, so it is not a CSV text export \
         (a spreadsheet or other binary file?); export it as CSV (UTF-8 or Windows-1252)"
    )]
    Binary {
        /// File name.
        origin: String,
        /// Line of the first NUL byte.
        line: u64,
    },
    /// UTF-16 text.
    #[error("{origin}: the file is UTF-16 text; export it as CSV in UTF-8 (or Windows-1252)")]
    Utf16 {
        /// File name.
        origin: String,
    },
    /// Valid UTF-8 letters and invalid bytes in one file.
    #[error(
        "{origin}, line {line}: the file mixes UTF-8 and another encoding, so it cannot be decoded without \
         garbling letters such as æ, ø, å; export it again as UTF-8"
    )]
    MixedEncoding {
        /// File name.
        origin: String,
        /// Line of the first byte that is not UTF-8.
        line: u64,
    },
    /// Not UTF-8, and holds bytes Windows-1252 does not define either.
    #[error(
        "{origin}, line {line}: the file is neither UTF-8 nor Windows-1252 (it holds bytes that are not \
         characters in either); export it again as UTF-8"
    )]
    UnknownEncoding {
        /// File name.
        origin: String,
        /// Line of the first undefined byte.
        line: u64,
    },
    /// The header lacks required columns.
    #[error(
        "{origin}, line {line}: not a participant export: the header row lacks the required column(s) {}; \
         expected a header row naming at least {}",
        .missing.join(", "), REQUIRED_COLUMNS.join(", ")
    )]
    MissingColumns {
        /// File name.
        origin: String,
        /// Line of the header.
        line: u64,
        /// Required columns not found.
        missing: Vec<String>,
    },
    /// An allowlisted column appears twice in the header.
    #[error(
        "{origin}, line {line}: column `{column}` appears twice in the header (columns {first} and {second})"
    )]
    DuplicateColumn {
        /// File name.
        origin: String,
        /// Line of the header.
        line: u64,
        /// Column name.
        column: String,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// The CSV structure could not be read.
    #[error("{origin}, line {line}: {message}")]
    Csv {
        /// File name.
        origin: String,
        /// Line.
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// No project is named anywhere.
    #[error("{origin}: {message}; name the project with --project")]
    NoProject {
        /// File name.
        origin: String,
        /// Why none is known.
        message: &'static str,
    },
    /// Several projects and none chosen.
    #[error("{origin}: the file holds rows for several projects ({}); choose one with --project", .projects.join(", "))]
    SeveralProjects {
        /// File name.
        origin: String,
        /// Projects found.
        projects: Vec<String>,
    },
    /// The chosen project has no rows in the file.
    #[error("{origin}: no row belongs to project `{project}`; the file holds: {}", .found.join(", "))]
    ProjectNotInFile {
        /// File name.
        origin: String,
        /// Project asked for.
        project: String,
        /// Projects in the file.
        found: Vec<String>,
    },
    /// `--project` is not a valid project code.
    #[error("`{0}` is not a project code; expected 1-64 letters a-z, digits, `-` or `_`")]
    BadProject(String),
    /// The definition names a column the export contract gives no type.
    #[error(
        "the report definition reads column `{column}`, which the export contract does not type: {message}"
    )]
    UnsupportedColumn {
        /// Column.
        column: String,
        /// Why.
        message: String,
    },
}
