//! Secure aggregation: exact totals over many projects that no single party
//! can take apart.
//!
//! Agents split their exact tables into two additive shares modulo 2^64:
//! the leader (this gateway) keeps one inside the signed report, the other is
//! a seed sealed to an independent helper (the same binary, `--role helper`,
//! run by another organisation). The helper reveals only sums over batches
//! of enough distinct projects, each project counted once per period; the
//! leader adds its own shares, checks the result against what the projects
//! published, protects it jointly with their tables and stores only the
//! protected cells.

pub mod collect;
pub mod groups;
pub mod helper;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prikk_proto::pb::helper_aggregation_server::HelperAggregationServer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use prikk_privacy::{Definition, layout};
use prikk_proto::pb;
use prikk_proto::share::{self, SEALED_SEED_LEN, ShareContext};

use crate::{Gateway, GatewayError, Refusal, Transport};

/// Intake check of a report's secret shares (cheap, no secret involved): the
/// layout has the definition's size, the sealed seed has its fixed length,
/// and the agent's statement verifies with the key that signed the report.
pub fn check_shares(
    report: &pb::Report,
    shares: &pb::SecretShares,
    definition: &Definition,
    agent_public_key: &[u8],
) -> Result<(), Refusal> {
    let shapes: Vec<_> = definition.tables.iter().map(|t| t.shape.clone()).collect();
    let cells = layout::layout_len(&shapes);
    if shares.cells as usize != cells || shares.leader_share.len() != cells {
        return Err(Refusal::Shares(format!(
            "the layout has {} cells ({} shared); the definition has {cells}",
            shares.cells,
            shares.leader_share.len()
        )));
    }
    if shares.sealed_seed.len() != SEALED_SEED_LEN {
        return Err(Refusal::Shares("the sealed seed is malformed".into()));
    }
    if shares.helper_key_id.len() != 16
        || !shares.helper_key_id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(Refusal::Shares("the helper key id is malformed".into()));
    }
    let ctx = ShareContext::of_report(report, shares);
    share::verify_statement(
        agent_public_key,
        &ctx,
        &shares.sealed_seed,
        &shares.statement_signature,
    )
    .map_err(|_| {
        Refusal::Shares("the share statement does not verify with the report's key".into())
    })
}

impl Gateway {
    /// Serves the helper role on `listener` until `shutdown` completes.
    pub async fn run_helper(
        self,
        listener: TcpListener,
        transport: Transport,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), GatewayError> {
        let path = self.config.helper_key_path();
        let secret = helper::load_or_create_helper_key(&path)
            .map_err(|source| GatewayError::Io { path, source })?;
        tracing::info!(key_id = %secret.key_id(), min_projects = self.config.min_projects,
            "helper key loaded");
        let state = Arc::new(helper::HelperState::new(
            self.store.clone(),
            secret,
            self.signer.clone(),
            self.config.min_projects,
            self.clock.clone(),
            self.definition.clone(),
        ));
        let svc = HelperAggregationServer::new(helper::HelperService::new(state))
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let (health, health_svc) = tonic_health::server::health_reporter();
        health
            .set_serving::<HelperAggregationServer<helper::HelperService>>()
            .await;
        let mut builder = Server::builder()
            .concurrency_limit_per_connection(self.config.concurrency_per_connection)
            .timeout(Duration::from_secs(600));
        if let Some(tls) = transport.server_config() {
            builder = builder.tls_config(tls)?;
        }
        tracing::info!(addr = ?listener.local_addr().ok(), "helper listening");
        builder
            .add_service(health_svc)
            .add_service(svc)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prikk_proto::Signer;
    use prikk_proto::share::HelperSecret;

    fn signer() -> Signer {
        Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap()
    }

    fn shared(def: &Definition, agent: &Signer) -> pb::Report {
        let mut report = pb::Report {
            report_id: "r1".into(),
            project: "p".into(),
            period: "2006".into(),
            definition_id: def.id.clone(),
            definition_version: def.version,
            ..Default::default()
        };
        let shapes: Vec<_> = def.tables.iter().map(|t| t.shape.clone()).collect();
        let cells = layout::layout_len(&shapes);
        let helper = HelperSecret::generate().unwrap();
        let kid = helper.key_id();
        let ctx = ShareContext {
            report_id: "r1",
            project: "p",
            period: "2006",
            definition_id: &def.id,
            definition_version: def.version,
            cells: cells as u32,
            helper_key_id: &kid,
            min_projects: 5,
        };
        let seed = share::random_seed().unwrap();
        let sealed = share::seal_seed(&helper.public_key(), &seed, &ctx).unwrap();
        report.shares = Some(pb::SecretShares {
            statement_signature: share::sign_statement(agent, &ctx, &sealed),
            helper_key_id: kid.clone(),
            sealed_seed: sealed,
            leader_share: share::leader_share(&vec![0; cells], &seed).unwrap(),
            cells: cells as u32,
            min_projects: 5,
        });
        report
    }

    #[test]
    fn intake_checks_layout_seal_and_statement() {
        let def = Definition::embedded();
        let agent = signer();
        let report = shared(&def, &agent);
        let s = report.shares.clone().unwrap();
        check_shares(&report, &s, &def, agent.public_key()).unwrap();
        // Signed by somebody else.
        let other = signer();
        assert!(matches!(
            check_shares(&report, &s, &def, other.public_key()),
            Err(Refusal::Shares(_))
        ));
        // A share cut short.
        let mut short = s.clone();
        short.leader_share.pop();
        assert!(check_shares(&report, &short, &def, agent.public_key()).is_err());
        // A seal that does not match the statement.
        let mut swapped = s.clone();
        swapped.sealed_seed[40] ^= 1;
        assert!(check_shares(&report, &swapped, &def, agent.public_key()).is_err());
        // The same shares in a report with another id.
        let mut moved = report.clone();
        moved.report_id = "r2".into();
        assert!(check_shares(&moved, &s, &def, agent.public_key()).is_err());
        assert_eq!(
            Refusal::Shares(String::new()).label(),
            "shares",
            "its own metric label"
        );
    }
}
