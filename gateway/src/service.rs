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
    /// Bounds concurrent verifications to the number of cores, so a burst
    /// queues instead of thrashing (the disclosure audit is CPU-bound).
    cpu: Arc<tokio::sync::Semaphore>,
}

impl GatewayService {
    /// A service over a store (for key lookups), a verifier and an intake writer.
    pub fn new(
        store: Arc<Store>,
        verifier: Verifier,
        intake: Intake,
        metrics: Arc<Metrics>,
    ) -> Self {
        let definition_sha256 =
            prikk_proto::payload_sha256(verifier.definition().source_text.as_bytes()).to_vec();
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let cpu = Arc::new(tokio::sync::Semaphore::new(cores));
        Self {
            inner: Arc::new(Inner {
                store,
                verifier,
                intake,
                metrics,
                definition_sha256,
                cpu,
            }),
        }
    }

    /// Verifies and stores one envelope; returns the receipt.
    pub async fn submit(&self, env: pb::SignedReport) -> Result<Stored, RpcError> {
        let inner = self.inner.clone();
        let permit = inner
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::WriterGone)?;
        let verified = tokio::task::spawn_blocking(move || -> Result<_, RpcError> {
            let _permit = permit;
            inner.verifier.check_envelope(&env)?;
            let key = inner.store.key(&env.key_id)?;
            let (report, key) = inner.verifier.verify_signed(&env, key.as_ref())?;
            // A resubmission of stored bytes (signature already checked) gets its receipt back
            // without paying for the audit again, but only from the report's own project:
            // another project's key gets the ordinary refusal from `check_report`.
            if report.project == key.project
                && let Some(stored) = inner
                    .store
                    .stored_payload(&prikk_proto::payload_sha256(&env.report))?
            {
                return Ok(Err(stored));
            }
            let mut new = inner.verifier.check_report(&env, report, key)?;
            if let Some((revision, earlier)) =
                inner.store.latest_tables(&new.project, &new.period)?
            {
                crate::verify::check_revision(
                    inner.verifier.definition(),
                    revision,
                    &earlier,
                    &new.tables,
                )?;
                new.checked_revision = revision;
            }
            Ok(Ok(new))
        })
        .await
        .map_err(|_| StoreError::WriterGone)??;
        match verified {
            Ok(new) => Ok(self.inner.intake.submit(new).await?),
            Err(replayed) => Ok(replayed),
        }
    }
}

#[tonic::async_trait]
impl ReportGateway for GatewayService {
    async fn submit_report(
        &self,
        request: Request<pb::SignedReport>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let start = Instant::now();
        let env = request.into_inner();
        let span = tracing::info_span!("submit_report", key_id = %env.key_id.chars().take(16).collect::<String>(), bytes = env.report.len());
        let result = self.submit(env).instrument(span.clone()).await;
        let elapsed = start.elapsed();
        let _e = span.enter();
        match &result {
            Ok(s) => {
                let outcome = if s.replayed {
                    Outcome::Replayed
                } else {
                    Outcome::Accepted
                };
                self.inner.metrics.record(outcome, elapsed);
                tracing::info!(
                    revision = s.revision,
                    replayed = s.replayed,
                    micros = elapsed.as_micros() as u64,
                    "accepted"
                );
            }
            Err(RpcError::Refused(r)) => {
                self.inner.metrics.record(Outcome::Rejected(r), elapsed);
                tracing::info!(reason = r.label(), "refused: {r}");
            }
            Err(_) => self.inner.metrics.record(Outcome::Internal, elapsed),
        }
        result
            .map(|s| Response::new(s.receipt))
            .map_err(Status::from)
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
