//! The results of reading: the accepted participants and their values, the
//! summary for the data protection officer, and which project the file is
//! for.

use std::collections::BTreeSet;

use super::columns::{self, Reason};
use super::{IngestError, IngestSummary, Ingested, Participant, ValueColumn};

/// The project names met in the file, each once, in order of appearance.
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

    fn names_of(&self, indices: &BTreeSet<usize>) -> Vec<String> {
        indices
            .iter()
            .filter_map(|&i| self.names.get(i).cloned())
            .collect()
    }
}

/// What has been read so far.
pub(super) struct Collected {
    pub(super) summary: IngestSummary,
    pub(super) participants: Vec<Participant>,
    /// The value columns of each accepted participant, row after row.
    pub(super) values: Vec<u32>,
    projects: Projects,
    /// Projects of the rows read.
    in_file: BTreeSet<usize>,
    /// Projects of the rows skipped because another project was chosen.
    others: BTreeSet<usize>,
}

impl Collected {
    /// Room for about `rows` participants of `ncols` value columns each.
    pub(super) fn with_capacity(summary: IngestSummary, rows: usize, ncols: usize) -> Self {
        Self {
            summary,
            participants: Vec::with_capacity(rows),
            values: Vec::with_capacity(rows.saturating_mul(ncols)),
            projects: Projects { names: Vec::new() },
            in_file: BTreeSet::new(),
            others: BTreeSet::new(),
        }
    }

    /// Notes the project a row names. Returns `true` when the row belongs to
    /// another project than the `selected` one and is to be skipped; a name
    /// that is not a project code is added to `problems`.
    pub(super) fn skip_other_project(
        &mut self,
        raw: &[u8],
        selected: Option<&str>,
        problems: &mut Vec<(Option<&str>, Reason)>,
    ) -> bool {
        match self.projects.index(raw) {
            Ok(p) => {
                if let Some(sel) = selected
                    && self.projects.names.get(p).map(String::as_str) != Some(sel)
                {
                    self.others.insert(p);
                    self.summary.rows_other_projects += 1;
                    return true;
                }
                self.in_file.insert(p);
            }
            Err(r) => problems.push((Some("project"), r)),
        }
        false
    }

    /// The result, once every row is read: the project is the chosen one
    /// (which must occur in the file if the file names projects), or the one
    /// project the file names.
    pub(super) fn finish(
        mut self,
        origin: &str,
        selected: Option<String>,
        has_project_column: bool,
        columns: Vec<ValueColumn>,
    ) -> Result<Ingested, IngestError> {
        self.summary.rows_accepted = self.participants.len();
        let project = if has_project_column {
            match selected {
                Some(sel) => {
                    if self.in_file.is_empty() && !self.others.is_empty() {
                        return Err(IngestError::ProjectNotInFile {
                            origin: origin.into(),
                            project: sel,
                            found: self.projects.names_of(&self.others),
                        });
                    }
                    sel
                }
                None => {
                    let mut names = self.projects.names_of(&self.in_file);
                    match names.len() {
                        0 => {
                            return Err(IngestError::NoProject {
                                origin: origin.into(),
                                message: "no row names a project",
                            });
                        }
                        1 => names.swap_remove(0),
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
            participants: self.participants,
            columns,
            values: self.values,
            summary: self.summary,
        })
    }
}
