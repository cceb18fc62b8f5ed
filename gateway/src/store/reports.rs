//! Stored reports read back: receipts, envelopes, revisions, the latest
//! revision of every project, and who reported for a period.

use rusqlite::{Connection, OptionalExtension, params};

use super::{NormalTable, Project, Store, StoreError, Stored};

/// A stored report's tables, as the latest revision for its project and period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// Report id.
    pub report_id: String,
    /// Project.
    pub project: String,
    /// The project's region.
    pub region: String,
    /// Period.
    pub period: String,
    /// Revision (1, 2, ...).
    pub revision: u32,
    /// When it was accepted.
    pub accepted_unix: i64,
    /// Definition id.
    pub definition_id: String,
    /// Definition version.
    pub definition_version: u32,
    /// Tables in the definition's cell order.
    pub tables: Vec<NormalTable>,
}

/// A stored report's receipt bytes and payload hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The serialized signed receipt, exactly as returned to the agent.
    pub receipt: Vec<u8>,
    /// SHA-256 of the signed payload.
    pub payload_sha256: Vec<u8>,
}

/// One project's reporting state for a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completeness {
    /// The project.
    pub project: Project,
    /// Latest revision, if any report arrived.
    pub latest: Option<ReportSummary>,
    /// The secure-aggregation collection that summed one of the project's
    /// reports for the period, if any.
    pub collected: Option<Collected>,
}

/// Which collection summed a project's report, and which revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// `national` or `region:<name>`.
    pub scope: String,
    /// Batch id.
    pub batch: String,
    /// The revision the collection summed (the latest may be newer).
    pub revision: u32,
}

/// Where a project's latest report for a period stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// Report id.
    pub report_id: String,
    /// Latest revision.
    pub revision: u32,
    /// When the latest revision was accepted.
    pub accepted_unix: i64,
}

impl Store {
    /// Number of stored reports (all revisions).
    pub fn report_count(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM reports", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// The stored receipt and payload hash of a report id.
    pub fn receipt(&self, report_id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT receipt, payload_sha256 FROM reports WHERE report_id = ?1",
                [report_id],
                |r| {
                    Ok(StoredReceipt {
                        receipt: r.get(0)?,
                        payload_sha256: r.get(1)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// The receipt of an already stored report with exactly these payload
    /// bytes (by SHA-256), if any.
    pub fn stored_payload(&self, payload_sha256: &[u8; 32]) -> Result<Option<Stored>, StoreError> {
        self.with(|c| {
            let row: Option<(Vec<u8>, u32)> = c
                .prepare_cached("SELECT receipt, revision FROM reports WHERE payload_sha256 = ?1")?
                .query_row([payload_sha256.as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(receipt, revision)| {
                let receipt =
                    <prikk_proto::pb::Receipt as prost::Message>::decode(receipt.as_slice())
                        .map_err(|e| StoreError::Corrupt(format!("stored receipt: {e}")))?;
                Ok(Stored {
                    receipt,
                    revision,
                    replayed: true,
                })
            })
            .transpose()
        })
    }

    /// The raw signed envelope of a report id, exactly as received.
    pub fn envelope(&self, report_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT envelope FROM reports WHERE report_id = ?1",
                [report_id],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Every revision's (report id, revision) for a project and period, oldest first.
    pub fn revisions(&self, project: &str, period: &str) -> Result<Vec<(String, u32)>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT report_id, revision FROM reports WHERE project = ?1 AND period = ?2 ORDER BY revision",
            )?;
            let rows = st.query_map([project, period], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// The latest revision of every project's report for a period, with tables.
    pub fn latest_reports(&self, period: &str) -> Result<Vec<StoredReport>, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let out = load_reports(
                &tx,
                "r.period = ?1 AND r.revision =
                    (SELECT MAX(r2.revision) FROM reports r2 WHERE r2.project = r.project AND r2.period = r.period)",
                &[period],
            )?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// The stored reports with these report ids (any revision), with tables,
    /// ordered by project; ids not stored are left out.
    pub fn reports_by_id(&self, report_ids: &[String]) -> Result<Vec<StoredReport>, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut out = Vec::with_capacity(report_ids.len());
            for id in report_ids {
                out.extend(load_reports(&tx, "r.report_id = ?1", &[id.as_str()])?);
            }
            tx.commit()?;
            out.sort_by(|a, b| a.project.cmp(&b.project));
            Ok(out)
        })
    }

    /// Every period with stored reports, newest first, with how many
    /// projects reported for it.
    pub fn periods(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT period, COUNT(DISTINCT project) FROM reports GROUP BY period ORDER BY period DESC",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Every registered project and its latest report for a period, if any.
    pub fn completeness(&self, period: &str) -> Result<Vec<Completeness>, StoreError> {
        let projects = self.projects()?;
        let collections = self.collections(period)?;
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT report_id, revision, accepted_unix FROM reports
                 WHERE project = ?1 AND period = ?2 ORDER BY revision DESC",
            )?;
            let mut out = Vec::new();
            for p in projects {
                let revisions = st
                    .query_map([&p.id, period], |r| {
                        Ok(ReportSummary {
                            report_id: r.get(0)?,
                            revision: r.get(1)?,
                            accepted_unix: r.get(2)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let collected = revisions.iter().find_map(|r| {
                    collections
                        .iter()
                        .find(|c| c.report_ids.contains(&r.report_id))
                        .map(|c| Collected {
                            scope: c.scope.clone(),
                            batch: c.batch_id.clone(),
                            revision: r.revision,
                        })
                });
                out.push(Completeness {
                    project: p,
                    latest: revisions.into_iter().next(),
                    collected,
                });
            }
            Ok(out)
        })
    }
}

/// Reports matching `filter` (over `reports r`) with their project's region
/// and their tables, ordered by project.
fn load_reports(
    tx: &rusqlite::Transaction<'_>,
    filter: &str,
    params: &[&str],
) -> Result<Vec<StoredReport>, StoreError> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT r.id, r.report_id, r.project, p.region, r.period, r.revision, r.accepted_unix,
                r.definition_id, r.definition_version
         FROM reports r JOIN projects p ON p.id = r.project
         WHERE {filter}
         ORDER BY r.project"
    ))?;
    let mut tables = tx.prepare_cached(
        "SELECT table_id, cell_values, contributors FROM report_tables WHERE report = ?1",
    )?;
    let heads = st
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                StoredReport {
                    report_id: r.get(1)?,
                    project: r.get(2)?,
                    region: r.get(3)?,
                    period: r.get(4)?,
                    revision: r.get(5)?,
                    accepted_unix: r.get(6)?,
                    definition_id: r.get(7)?,
                    definition_version: r.get(8)?,
                    tables: Vec::new(),
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(heads.len());
    for (row, mut rep) in heads {
        rep.tables = read_tables(&mut tables, [row], &format!("report {}", rep.report_id))?;
        out.push(rep);
    }
    Ok(out)
}

/// The latest stored revision of a project's report for a period.
///
/// The statements on the intake path are written so that SQLite keeps
/// them prepared: with the bundled library's STAT4 planner, a `MAX(...)` or
/// a join over the `(project, period, revision)` index is prepared again on
/// every new binding, which cost more than the query itself.
pub(crate) fn latest_revision(
    c: &Connection,
    project: &str,
    period: &str,
) -> Result<Option<u32>, StoreError> {
    let mut st =
        c.prepare_cached("SELECT revision FROM reports WHERE project = ?1 AND period = ?2")?;
    let revisions = st.query_map([project, period], |r| r.get::<_, u32>(0))?;
    let mut latest = None;
    for r in revisions {
        latest = latest.max(Some(r?));
    }
    Ok(latest)
}

/// One stored revision's tables.
pub(crate) fn revision_tables(
    c: &Connection,
    project: &str,
    period: &str,
    revision: u32,
) -> Result<Vec<NormalTable>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT table_id, cell_values, contributors FROM report_tables
         WHERE report = (SELECT id FROM reports WHERE project = ?1 AND period = ?2 AND revision = ?3)",
    )?;
    read_tables(
        &mut st,
        params![project, period, revision],
        &format!("{project} {period} revision {revision}"),
    )
}

/// The tables a statement `SELECT table_id, cell_values, contributors ...`
/// returns for `params`; `context` names what they belong to when stored
/// JSON does not parse.
pub(crate) fn read_tables(
    st: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    context: &str,
) -> Result<Vec<NormalTable>, StoreError> {
    let rows = st
        .query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, values, contributors)| {
            let bad =
                |e: serde_json::Error| StoreError::Corrupt(format!("{context} table {id}: {e}"));
            Ok(NormalTable {
                values: serde_json::from_str(&values).map_err(bad)?,
                contributors: contributors
                    .map(|c| serde_json::from_str(&c))
                    .transpose()
                    .map_err(bad)?,
                id,
            })
        })
        .collect()
}
