//! The gateway's SQLite datastore. Every method is one named transaction;
//! the schema comes from numbered migrations checked at start-up.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a commit is on disk
//! before the gateway acknowledges a report.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

mod aggregation;
pub mod corrections;
mod intake;

pub use aggregation::{BatchOutcome, Collection, HelperBatch, Leader};
pub use intake::{Intake, IntakeError, NewReport, NormalTable, Stored};

/// Errors from the datastore. Their text may name files and SQL; clients
/// never see it (they get a bare "internal").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database's schema is newer than this gateway.
    #[error("database {path} has schema version {found}, this gateway knows up to {known}")]
    TooNew {
        /// Database file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Highest version this build knows.
        known: u32,
    },
    /// A stored row could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A project or key the operation names does not exist, or already exists.
    #[error("{0}")]
    Registry(String),
    /// The background writer stopped.
    #[error("the storage writer has stopped")]
    WriterGone,
}

/// Numbered schema migrations; applied in order, each in its own transaction.
const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        "CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        region TEXT NOT NULL,
        registered_unix INTEGER NOT NULL
     );
     CREATE TABLE project_keys (
        key_id TEXT PRIMARY KEY,
        project TEXT NOT NULL REFERENCES projects(id),
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        added_unix INTEGER NOT NULL,
        revoked_unix INTEGER
     );
     CREATE INDEX project_keys_project ON project_keys(project);
     CREATE TABLE reports (
        id INTEGER PRIMARY KEY,
        report_id TEXT NOT NULL UNIQUE,
        project TEXT NOT NULL REFERENCES projects(id),
        period TEXT NOT NULL,
        revision INTEGER NOT NULL,
        payload_sha256 BLOB NOT NULL,
        envelope BLOB NOT NULL,
        key_id TEXT NOT NULL REFERENCES project_keys(key_id),
        definition_id TEXT NOT NULL,
        definition_version INTEGER NOT NULL,
        accepted_unix INTEGER NOT NULL,
        receipt BLOB NOT NULL,
        UNIQUE (project, period, revision)
     );
     -- Cells normalised into the definition's cell order: one row per report
     -- table, values as a JSON array (null = suppressed), queryable with json_each.
     CREATE TABLE report_tables (
        report INTEGER NOT NULL REFERENCES reports(id),
        table_id TEXT NOT NULL,
        cell_values TEXT NOT NULL,
        contributors TEXT,
        PRIMARY KEY (report, table_id)
     ) WITHOUT ROWID;",
    ),
    // Resubmissions are recognised by payload hash before the expensive checks.
    (
        2,
        "CREATE INDEX reports_payload_sha256 ON reports(payload_sha256);",
    ),
    // Secure aggregation. Leader: collected aggregates, stored only after the
    // national policy protected them (the exact aggregate is never stored).
    // Helper: the leaders it serves and every report it has counted, each
    // project at most once per period.
    (
        3,
        "CREATE TABLE collections (
        batch_id TEXT PRIMARY KEY,
        period TEXT NOT NULL,
        scope TEXT NOT NULL,
        report_ids TEXT NOT NULL,
        projects INTEGER NOT NULL,
        collected_unix INTEGER NOT NULL,
        helper_key_id TEXT NOT NULL,
        helper_signature BLOB NOT NULL,
        suppressed_cells INTEGER NOT NULL,
        UNIQUE (period, scope)
     );
     CREATE TABLE collection_tables (
        batch_id TEXT NOT NULL REFERENCES collections(batch_id),
        table_id TEXT NOT NULL,
        cell_values TEXT NOT NULL,
        contributors TEXT,
        PRIMARY KEY (batch_id, table_id)
     ) WITHOUT ROWID;
     CREATE TABLE leaders (
        key_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        added_unix INTEGER NOT NULL,
        revoked_unix INTEGER
     );
     CREATE TABLE helper_batches (
        batch_id TEXT PRIMARY KEY,
        period TEXT NOT NULL,
        scope TEXT NOT NULL,
        leader_key_id TEXT NOT NULL REFERENCES leaders(key_id),
        report_ids_sha256 BLOB NOT NULL,
        projects INTEGER NOT NULL,
        collected_unix INTEGER NOT NULL
     );
     CREATE TABLE helper_batch_reports (
        period TEXT NOT NULL,
        project TEXT NOT NULL,
        report_id TEXT NOT NULL UNIQUE,
        batch_id TEXT NOT NULL REFERENCES helper_batches(batch_id),
        PRIMARY KEY (period, project)
     ) WITHOUT ROWID;",
    ),
];

/// A registered project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Project id, as reports name it.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Region, for regional tables.
    pub region: String,
    /// When it was registered.
    pub registered_unix: i64,
}

/// A registered agent key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredKey {
    /// Key id (hex of the first 8 bytes of SHA-256 of the public key).
    pub key_id: String,
    /// Project the key signs for.
    pub project: String,
    /// Raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// When it was added.
    pub added_unix: i64,
    /// When it was revoked, if it was.
    pub revoked_unix: Option<i64>,
}

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

/// Opens a connection with the gateway's pragmas.
pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Intake, key lookups and the revision checks each keep a few
    // statements; exports add their own.
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

/// The datastore: one connection for named transactions. The high-rate
/// intake path uses [`Intake`], which owns its own writer connection.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = connect(path)?;
        migrate(&mut conn, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Registers a project with its first key.
    pub fn register_project(
        &self,
        project: &Project,
        public_key: &[u8],
    ) -> Result<String, StoreError> {
        let key_id = prikk_proto::key_id_of(public_key);
        self.with(|c| {
            let tx = c.transaction()?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM projects WHERE id = ?1)",
                [&project.id],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StoreError::Registry(format!(
                    "project {} is already registered",
                    project.id
                )));
            }
            tx.execute(
                "INSERT INTO projects (id, name, region, registered_unix) VALUES (?1, ?2, ?3, ?4)",
                params![
                    project.id,
                    project.name,
                    project.region,
                    project.registered_unix
                ],
            )?;
            insert_key(
                &tx,
                &key_id,
                &project.id,
                public_key,
                project.registered_unix,
            )?;
            tx.commit()?;
            Ok(key_id)
        })
    }

    /// Adds a key to a registered project; earlier keys stay active until revoked.
    pub fn add_key(
        &self,
        project: &str,
        public_key: &[u8],
        now: i64,
    ) -> Result<String, StoreError> {
        let key_id = prikk_proto::key_id_of(public_key);
        self.with(|c| {
            let tx = c.transaction()?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM projects WHERE id = ?1)",
                [project],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::Registry(format!(
                    "project {project} is not registered"
                )));
            }
            insert_key(&tx, &key_id, project, public_key, now)?;
            tx.commit()?;
            Ok(key_id)
        })
    }

    /// Revokes a key; reports signed with it are refused from now on.
    pub fn revoke_key(&self, key_id: &str, now: i64) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE project_keys SET revoked_unix = ?2 WHERE key_id = ?1 AND revoked_unix IS NULL",
                params![key_id, now],
            )?;
            if n == 0 {
                let known: bool =
                    c.query_row("SELECT EXISTS(SELECT 1 FROM project_keys WHERE key_id = ?1)", [key_id], |r| r.get(0))?;
                return Err(StoreError::Registry(if known {
                    format!("key {key_id} is already revoked")
                } else {
                    format!("key {key_id} is not registered")
                }));
            }
            Ok(())
        })
    }

    /// A registered key by id.
    pub fn key(&self, key_id: &str) -> Result<Option<RegisteredKey>, StoreError> {
        self.with(|c| lookup_key(c, key_id))
    }

    /// Every key of a project, oldest first.
    pub fn keys_of(&self, project: &str) -> Result<Vec<RegisteredKey>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT key_id, project, public_key, added_unix, revoked_unix FROM project_keys
                 WHERE project = ?1 ORDER BY added_unix, key_id",
            )?;
            let rows = st
                .query_map([project], key_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Every registered project, by id.
    pub fn projects(&self) -> Result<Vec<Project>, StoreError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT id, name, region, registered_unix FROM projects ORDER BY id")?;
            let rows = st
                .query_map([], |r| {
                    Ok(Project {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        region: r.get(2)?,
                        registered_unix: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

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

fn insert_key(
    tx: &rusqlite::Transaction<'_>,
    key_id: &str,
    project: &str,
    public_key: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    if let Some(k) = lookup_key(tx, key_id)? {
        return Err(StoreError::Registry(format!(
            "key {key_id} is already registered to project {}",
            k.project
        )));
    }
    tx.execute(
        "INSERT INTO project_keys (key_id, project, public_key, added_unix) VALUES (?1, ?2, ?3, ?4)",
        params![key_id, project, public_key, now],
    )?;
    Ok(())
}

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RegisteredKey> {
    Ok(RegisteredKey {
        key_id: r.get(0)?,
        project: r.get(1)?,
        public_key: r.get(2)?,
        added_unix: r.get(3)?,
        revoked_unix: r.get(4)?,
    })
}

pub(crate) fn lookup_key(
    c: &Connection,
    key_id: &str,
) -> Result<Option<RegisteredKey>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT key_id, project, public_key, added_unix, revoked_unix FROM project_keys WHERE key_id = ?1",
    )?
    .query_row([key_id], key_from_row)
    .optional()?)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_unix INTEGER NOT NULL)",
    )?;
    let current: u32 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            known,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let done: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_unix) VALUES (?1, strftime('%s','now'))",
                [version],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent_and_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        drop(Store::open(&path).unwrap());
        let s = Store::open(&path).unwrap();
        s.with(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?;
            assert_eq!(n as usize, MIGRATIONS.len());
            c.execute("INSERT INTO schema_migrations VALUES (999, 0)", [])?;
            Ok(())
        })
        .unwrap();
        drop(s);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 999, .. })
        ));
    }

    #[test]
    fn registry_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("g.db")).unwrap();
        let p = Project {
            id: "bergen".into(),
            name: "Bergen".into(),
            region: "vest".into(),
            registered_unix: 10,
        };
        let k1 = s.register_project(&p, &[1u8; 32]).unwrap();
        assert!(matches!(
            s.register_project(&p, &[2u8; 32]),
            Err(StoreError::Registry(_))
        ));
        let k2 = s.add_key("bergen", &[2u8; 32], 11).unwrap();
        assert!(s.add_key("oslo", &[3u8; 32], 11).is_err());
        assert!(
            s.add_key("bergen", &[2u8; 32], 11).is_err(),
            "same key twice"
        );
        s.revoke_key(&k1, 12).unwrap();
        assert!(s.revoke_key(&k1, 13).is_err());
        assert!(s.revoke_key("0000", 13).is_err());
        assert_eq!(s.key(&k1).unwrap().unwrap().revoked_unix, Some(12));
        assert_eq!(s.key(&k2).unwrap().unwrap().revoked_unix, None);
        assert_eq!(s.keys_of("bergen").unwrap().len(), 2);
        assert_eq!(s.projects().unwrap(), vec![p]);
    }
}
