//! The registry tables: projects and the agent keys that sign for them.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};

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

impl Store {
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

#[cfg(test)]
mod tests {
    use super::*;

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
