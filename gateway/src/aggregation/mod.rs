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
pub mod helper;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prikk_proto::pb::helper_aggregation_server::HelperAggregationServer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::{Gateway, GatewayError, Transport};

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
