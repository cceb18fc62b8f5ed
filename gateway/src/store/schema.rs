//! The connection's pragmas and the numbered schema migrations, checked at
//! start-up.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

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

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

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
}
