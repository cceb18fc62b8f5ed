//! Secure aggregation on the agent's side: besides the protected tables, the
//! report carries the *exact* tables split into two additive shares, so the
//! directorate can learn exact national totals without any single party
//! seeing one project's small cells.
//!
//! The helper's share is a fresh 32-byte seed (expanded with ChaCha20),
//! sealed to the helper's X25519 public key and bound to this report's id,
//! project, period and definition; the leader's share is the exact values
//! minus the helper's, modulo 2^64. The agent signs a statement over the
//! context and the sealed seed so the helper can check where it came from.

use std::path::Path;

use prikk_privacy::Table;
use prikk_privacy::layout;
use prikk_proto::Signer;
use prikk_proto::pb;
use prikk_proto::share::{self, ShareContext, ShareError};

/// The helper's public encryption key, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperKey {
    /// Raw X25519 public key.
    pub public: [u8; 32],
}

impl HelperKey {
    /// Reads a key file: 64 hex digits (as `gateway public-key --role helper` prints).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("reading the helper's public key {}: {e}", path.display())
        })?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let public = share::parse_public_key(line).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; expected the helper's X25519 public key as 64 hex digits",
                path.display()
            )
        })?;
        Ok(Self { public })
    }

    /// The key id reports name.
    pub fn key_id(&self) -> String {
        prikk_proto::key_id_of(&self.public)
    }
}

/// Adds the secret shares of `exact` to `report` (whose id is already set).
/// `min_projects` is the agent's floor on distinct projects per group; it
/// is signed with the statement.
pub fn attach_shares(
    report: &mut pb::Report,
    exact: &[Table],
    helper: &HelperKey,
    signer: &Signer,
    min_projects: u32,
) -> Result<(), ShareError> {
    let values = layout::flatten(exact);
    let cells = u32::try_from(values.len()).map_err(|_| ShareError::Malformed)?;
    let mut shares = pb::SecretShares {
        helper_key_id: helper.key_id(),
        cells,
        min_projects,
        ..Default::default()
    };
    let seed = share::random_seed()?;
    let ctx = ShareContext::of_report(report, &shares);
    let sealed = share::seal_seed(&helper.public, &seed, &ctx)?;
    shares.statement_signature = share::sign_statement(signer, &ctx, &sealed);
    shares.leader_share = share::leader_share(&values, &seed)?;
    shares.sealed_seed = sealed;
    report.shares = Some(shares);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prikk_privacy::Definition;
    use prikk_proto::share::HelperSecret;

    #[test]
    fn the_helper_and_the_leader_recombine_the_exact_tables() {
        let def = Definition::embedded();
        let mut exact: Vec<Table> = def
            .tables
            .iter()
            .map(|t| Table::zeros(t.shape.clone()))
            .collect();
        exact[0].values[1] = 3;
        let helper = HelperSecret::generate().unwrap();
        let key = HelperKey {
            public: helper.public_key(),
        };
        let signer = Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap();
        let mut report = pb::Report {
            report_id: "r1".into(),
            project: "p".into(),
            period: "2026".into(),
            definition_id: def.id.clone(),
            definition_version: def.version,
            ..Default::default()
        };
        attach_shares(&mut report, &exact, &key, &signer, 7).unwrap();
        let s = report.shares.as_ref().unwrap();
        assert_eq!(s.min_projects, 7);
        let ctx = ShareContext::of_report(&report, s);
        share::verify_statement(
            signer.public_key(),
            &ctx,
            &s.sealed_seed,
            &s.statement_signature,
        )
        .unwrap();
        let seed = share::open_seed(&helper, &s.sealed_seed, &ctx).unwrap();
        let helper_share = share::expand_seed(&seed, s.cells as usize);
        let sum = share::recombine(&s.leader_share, &helper_share).unwrap();
        assert_eq!(sum, layout::flatten(&exact));
        assert_eq!(sum[1], 3);
        // The leader's share on its own does not show the 3.
        assert_ne!(s.leader_share[1], 3);
    }
}
