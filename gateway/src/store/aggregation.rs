//! Storage for secure aggregation: the leader's collected (and protected)
//! aggregates, and the helper's registry of leaders and counted reports.

use rusqlite::{OptionalExtension, params};

use super::{NormalTable, Store, StoreError};

/// A leader the helper serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// Key id of the leader's Ed25519 key.
    pub key_id: String,
    /// Human name.
    pub name: String,
    /// Raw 32-byte public key.
    pub public_key: Vec<u8>,
    /// Revoked when set.
    pub revoked_unix: Option<i64>,
}

/// A batch as the helper records it before revealing its share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperBatch {
    /// The leader's batch id.
    pub batch_id: String,
    /// Period.
    pub period: String,
    /// The snapshot the period counts (`YYYY-MM` of its last day): a
    /// project is counted at most once per as-of date.
    pub as_of: String,
    /// Scope label.
    pub scope: String,
    /// The leader that asked.
    pub leader_key_id: String,
    /// SHA-256 over the sorted report ids.
    pub report_ids_sha256: Vec<u8>,
    /// (project, report id) per report.
    pub reports: Vec<(String, String)>,
    /// When.
    pub collected_unix: i64,
}

/// What recording a batch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Recorded now.
    Recorded,
    /// The same batch (same id, same reports) was recorded before: a retry.
    Retry,
    /// Refused: a report or project is already counted in another batch of
    /// the period, or the id was used for other reports.
    Overlap(String),
}

/// A collected aggregate as the leader stores it: protected cells only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// Batch id.
    pub batch_id: String,
    /// Period.
    pub period: String,
    /// `national` or `region:<name>`.
    pub scope: String,
    /// Report ids summed.
    pub report_ids: Vec<String>,
    /// Distinct projects.
    pub projects: u32,
    /// When.
    pub collected_unix: i64,
    /// The helper's key id.
    pub helper_key_id: String,
    /// The helper's signature over its answer (kept for audit).
    pub helper_signature: Vec<u8>,
    /// Cells suppressed by the national policy and the joint audit.
    pub suppressed_cells: u32,
    /// Tables in definition order; `None` where suppressed.
    pub tables: Vec<NormalTable>,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Registers a leader (helper role).
    pub fn add_leader(
        &self,
        name: &str,
        public_key: &[u8],
        now: i64,
    ) -> Result<String, StoreError> {
        let key_id = prikk_proto::key_id_of(public_key);
        self.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO leaders (key_id, name, public_key, added_unix) VALUES (?1, ?2, ?3, ?4)",
                params![key_id, name, public_key, now],
            )?;
            if n == 0 {
                return Err(StoreError::Registry(format!(
                    "leader key {key_id} is already registered"
                )));
            }
            Ok(key_id.clone())
        })
    }

    /// A registered leader by key id.
    pub fn leader(&self, key_id: &str) -> Result<Option<Leader>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT key_id, name, public_key, revoked_unix FROM leaders WHERE key_id = ?1",
                [key_id],
                |r| {
                    Ok(Leader {
                        key_id: r.get(0)?,
                        name: r.get(1)?,
                        public_key: r.get(2)?,
                        revoked_unix: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Records a batch on the helper's side, in one transaction, before its
    /// share is revealed: every report at most once, every project at most
    /// once per as-of date (the `period` column of `helper_batch_reports`
    /// holds the as-of date). A retry of the same batch is recognised.
    pub fn record_helper_batch(&self, b: &HelperBatch) -> Result<BatchOutcome, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let existing: Option<(Vec<u8>, String)> = tx
                .query_row(
                    "SELECT report_ids_sha256, period FROM helper_batches WHERE batch_id = ?1",
                    [&b.batch_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((sha, period)) = existing {
                return Ok(if sha == b.report_ids_sha256 && period == b.period {
                    BatchOutcome::Retry
                } else {
                    BatchOutcome::Overlap(format!(
                        "batch id {} was already used for other reports",
                        b.batch_id
                    ))
                });
            }
            {
                let mut by_project = tx.prepare(
                    "SELECT batch_id, report_id FROM helper_batch_reports WHERE period = ?1 AND project = ?2",
                )?;
                let mut by_report =
                    tx.prepare("SELECT batch_id FROM helper_batch_reports WHERE report_id = ?1")?;
                for (project, report_id) in &b.reports {
                    if let Some((batch, rid)) = by_project
                        .query_row([&b.as_of, project], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                        })
                        .optional()?
                    {
                        return Ok(BatchOutcome::Overlap(format!(
                            "project {project} is already counted for the snapshot as of {} in batch {batch} (report {rid})",
                            b.as_of
                        )));
                    }
                    if let Some(batch) = by_report
                        .query_row([report_id], |r| r.get::<_, String>(0))
                        .optional()?
                    {
                        return Ok(BatchOutcome::Overlap(format!(
                            "report {report_id} is already counted in batch {batch}"
                        )));
                    }
                }
            }
            tx.execute(
                "INSERT INTO helper_batches (batch_id, period, scope, leader_key_id, report_ids_sha256, projects, collected_unix)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    b.batch_id,
                    b.period,
                    b.scope,
                    b.leader_key_id,
                    b.report_ids_sha256,
                    b.reports.len() as i64,
                    b.collected_unix
                ],
            )?;
            {
                let mut ins = tx.prepare(
                    "INSERT INTO helper_batch_reports (period, project, report_id, batch_id) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (project, report_id) in &b.reports {
                    ins.execute(params![b.as_of, project, report_id, b.batch_id])?;
                }
            }
            tx.commit()?;
            Ok(BatchOutcome::Recorded)
        })
    }

    /// The latest stored revision's tables for a project and period:
    /// (revision, tables), `None` when nothing is stored yet.
    pub fn latest_tables(
        &self,
        project: &str,
        period: &str,
    ) -> Result<Option<(u32, Vec<NormalTable>)>, StoreError> {
        self.with(|c| {
            // No transaction needed: a stored revision never changes, and a
            // newer one stored in between is caught by the writer's re-check.
            let Some(revision) = super::latest_revision(c, project, period)? else {
                return Ok(None);
            };
            let tables = super::revision_tables(c, project, period, revision)?;
            Ok(Some((revision, tables)))
        })
    }

    /// Stores the protected aggregates of one collection (leader role: the
    /// nation and its region groups) in one transaction. A second
    /// collection for the same period and scope is refused.
    pub fn store_collections(&self, cols: &[Collection]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for col in cols {
                let exists: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM collections WHERE period = ?1 AND scope = ?2)",
                    params![col.period, col.scope],
                    |r| r.get(0),
                )?;
                if exists {
                    return Err(StoreError::Registry(format!(
                        "period {} already has a collected {} aggregate",
                        col.period, col.scope
                    )));
                }
                tx.execute(
                    "INSERT INTO collections (batch_id, period, scope, report_ids, projects, collected_unix,
                         helper_key_id, helper_signature, suppressed_cells)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        col.batch_id,
                        col.period,
                        col.scope,
                        json(&col.report_ids)?,
                        col.projects,
                        col.collected_unix,
                        col.helper_key_id,
                        col.helper_signature,
                        col.suppressed_cells
                    ],
                )?;
                let mut ins = tx.prepare(
                    "INSERT INTO collection_tables (batch_id, table_id, cell_values, contributors)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for t in &col.tables {
                    let contributors = t.contributors.as_ref().map(json).transpose()?;
                    ins.execute(params![col.batch_id, t.id, json(&t.values)?, contributors])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Stores one protected collected aggregate (see [`Store::store_collections`]).
    pub fn store_collection(&self, col: &Collection) -> Result<(), StoreError> {
        self.store_collections(std::slice::from_ref(col))
    }

    /// Every collected aggregate of a period, by scope.
    pub fn collections(&self, period: &str) -> Result<Vec<Collection>, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut out = Vec::new();
            {
                let mut st = tx.prepare(
                    "SELECT batch_id, period, scope, report_ids, projects, collected_unix, helper_key_id,
                            helper_signature, suppressed_cells
                     FROM collections WHERE period = ?1 ORDER BY scope",
                )?;
                let mut tables = tx.prepare(
                    "SELECT table_id, cell_values, contributors FROM collection_tables WHERE batch_id = ?1",
                )?;
                let heads = st
                    .query_map([period], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, u32>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, Vec<u8>>(7)?,
                            r.get::<_, u32>(8)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                for (batch_id, period, scope, ids, projects, at, hk, hs, supp) in heads {
                    let bad = |e: serde_json::Error| {
                        StoreError::Corrupt(format!("collection {batch_id}: {e}"))
                    };
                    let report_ids: Vec<String> = serde_json::from_str(&ids).map_err(bad)?;
                    let ts = super::read_tables(
                        &mut tables,
                        [&batch_id],
                        &format!("collection {batch_id}"),
                    )?;
                    out.push(Collection {
                        batch_id,
                        period,
                        scope,
                        report_ids,
                        projects,
                        collected_unix: at,
                        helper_key_id: hk,
                        helper_signature: hs,
                        suppressed_cells: supp,
                        tables: ts,
                    });
                }
            }
            tx.commit()?;
            Ok(out)
        })
    }
}
