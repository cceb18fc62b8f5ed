//! The `ReportGateway` gRPC service: verification off the async runtime,
//! then the intake writer, then the signed receipt.

use std::sync::Arc;
use std::time::Instant;

use prikk_proto::pb;
use prikk_proto::pb::report_gateway_server::ReportGateway;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::error::RpcError;
use crate::metrics::{Metrics, Outcome};
use crate::store::{Intake, Store, StoreError, Stored};
use crate::verify::Verifier;

/// The service implementation; cheap to clone.
#[derive(Debug, Clone)]
pub struct GatewayService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<Store>,
    verifier: Verifier,
    intake: Intake,
    metrics: Arc<Metrics>,
    definition_sha256: Vec<u8>,
}

impl GatewayService {
    /// A service over a store (for key lookups), a verifier and an intake writer.
    pub fn new(store: Arc<Store>, verifier: Verifier, intake: Intake, metrics: Arc<Metrics>) -> Self {
        let definition_sha256 = prikk_proto::payload_sha256(verifier.definition().source_text.as_bytes()).to_vec();
        Self { inner: Arc::new(Inner { store, verifier, intake, metrics, definition_sha256 }) }
    }

    /// Verifies and stores one envelope; returns the receipt.
    pub async fn submit(&self, env: pb::SignedReport) -> Result<Stored, RpcError> {
        let inner = self.inner.clone();
        let verified = tokio::task::spawn_blocking(move || -> Result<_, RpcError> {
            inner.verifier.check_envelope(&env)?;
            let key = inner.store.key(&env.key_id)?;
            Ok(inner.verifier.verify(&env, key.as_ref())?)
        })
        .await
        .map_err(|_| StoreError::WriterGone)??;
        self.inner.intake.submit(verified).await
    }
}

#[tonic::async_trait]
impl ReportGateway for GatewayService {
    async fn submit_report(&self, request: Request<pb::SignedReport>) -> Result<Response<pb::Receipt>, Status> {
        let start = Instant::now();
        let env = request.into_inner();
        let span = tracing::info_span!("submit_report", key_id = %env.key_id.chars().take(16).collect::<String>(), bytes = env.report.len());
        let result = self.submit(env).instrument(span.clone()).await;
        let elapsed = start.elapsed();
        let _e = span.enter();
        match &result {
            Ok(s) => {
                let outcome = if s.replayed { Outcome::Replayed } else { Outcome::Accepted };
                self.inner.metrics.record(outcome, elapsed);
                tracing::info!(revision = s.revision, replayed = s.replayed, micros = elapsed.as_micros() as u64, "accepted");
            }
            Err(RpcError::Refused(r)) => {
                self.inner.metrics.record(Outcome::Rejected(r), elapsed);
                tracing::info!(reason = r.label(), "refused: {r}");
            }
            Err(_) => self.inner.metrics.record(Outcome::Internal, elapsed),
        }
        result.map(|s| Response::new(s.receipt)).map_err(Status::from)
    }

    async fn get_report_definition(
        &self,
        request: Request<pb::GetReportDefinitionRequest>,
    ) -> Result<Response<pb::ReportDefinition>, Status> {
        let def = self.inner.verifier.definition();
        let asked = request.into_inner().definition_id;
        if !asked.is_empty() && asked != def.id {
            return Err(RpcError::NoSuchDefinition(asked.chars().take(128).collect()).into());
        }
        Ok(Response::new(pb::ReportDefinition {
            definition_id: def.id.clone(),
            version: def.version,
            toml: def.source_text.clone(),
            sha256: self.inner.definition_sha256.clone(),
        }))
    }
}
