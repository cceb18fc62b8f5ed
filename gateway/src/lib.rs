//! `prikk-gateway`: the directorate's side of prikk. It verifies signed
//! project reports (key, signature over the exact bytes, definition, tables,
//! protection), stores them durably in SQLite, answers with signed receipts,
//! merges the latest revisions into regional and national tables, and
//! exports them as CSV, JSON, XLSX or text.
//!
//! The binary `gateway` is a thin shell over [`cli`]; end-to-end tests
//! call [`serve`] (or [`Gateway::open`] and [`Gateway::run`]) with a listener
//! bound to `127.0.0.1:0`.
#![forbid(unsafe_code)]
// Library code does not panic on data: a missing value is an error, and an
// index is either checked or in a loop whose bounds are proven (each such
// exception says why). Tests may unwrap.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod aggregation;
pub mod cli;
pub mod clock;
pub mod completeness;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod export;
mod http;
pub mod merge;
pub mod metrics;
pub mod period;
pub mod policy;
pub mod registry;
pub mod service;
pub mod store;
pub mod tls;
pub mod verify;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prikk_privacy::Definition;
use prikk_proto::Signer;
use prikk_proto::pb::report_gateway_server::ReportGatewayServer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

pub use clock::{Clock, FixedClock, SystemClock};
pub use config::Config;
pub use error::{GatewayError, Refusal, RpcError};
pub use store::Store;
pub use tls::Transport;

/// Room for the envelope around the report payload (key id, signature, tags).
const ENVELOPE_SLACK: usize = 4096;

/// Loads the definition the configuration names, or the embedded one.
pub fn load_definition(config: &Config) -> Result<Definition, GatewayError> {
    match &config.definition {
        None => Ok(Definition::embedded()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| GatewayError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(Definition::parse(&text, &path.display().to_string())?)
        }
    }
}

/// An opened gateway: store migrated, receipt key loaded (or created),
/// definition loaded. Nothing listens yet.
#[derive(Debug)]
pub struct Gateway {
    config: Config,
    store: Arc<Store>,
    definition: Arc<Definition>,
    signer: Arc<Signer>,
    metrics: Arc<metrics::Metrics>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Gateway {
    /// Opens the database (applying migrations), loads or creates the
    /// receipt key next to it, and loads the definition.
    pub fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, GatewayError> {
        config.validate()?;
        let store = Arc::new(Store::open(&config.db)?);
        let signer = registry::load_or_create_receipt_key(&config.receipt_key_path()).map_err(
            |e| match e {
                registry::RegistryError::Store(s) => GatewayError::Store(s),
                other => GatewayError::Io {
                    path: config.receipt_key_path(),
                    source: std::io::Error::other(other.to_string()),
                },
            },
        )?;
        let definition = Arc::new(load_definition(config)?);
        Ok(Self {
            config: config.clone(),
            store,
            definition,
            signer: Arc::new(signer),
            metrics: Arc::new(metrics::Metrics::default()),
            clock,
        })
    }

    /// The counters this gateway updates.
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        self.metrics.clone()
    }

    /// The store.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The receipt key's raw public key.
    pub fn receipt_public_key(&self) -> Vec<u8> {
        self.signer.public_key().to_vec()
    }

    /// Serves gRPC on `listener` (and `/metrics` on `metrics_listener`) until
    /// `shutdown` completes; in-flight submissions finish and their commits
    /// land before this returns.
    pub async fn run(
        self,
        listener: TcpListener,
        transport: Transport,
        metrics_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), GatewayError> {
        let (intake, writer) =
            store::Intake::start(self.store.path(), self.signer.clone(), self.clock.clone())?;
        let verifier = verify::Verifier::new(
            self.definition.clone(),
            self.config.min_count,
            self.config.periods.clone(),
            self.config.max_report_bytes,
        )
        .with_dp_minimum(self.config.dp_minimum())
        .with_clock(self.clock.clone());
        let svc = service::GatewayService::new(
            self.store.clone(),
            verifier,
            intake,
            self.metrics.clone(),
        );
        let grpc = ReportGatewayServer::new(svc)
            .max_decoding_message_size(self.config.max_report_bytes + ENVELOPE_SLACK)
            .max_encoding_message_size(self.definition.source_text.len() + ENVELOPE_SLACK);
        let (health, health_svc) = tonic_health::server::health_reporter();
        health
            .set_serving::<ReportGatewayServer<service::GatewayService>>()
            .await;

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let metrics_task = metrics_listener.map(|l| {
            let mut rx = stop_rx.clone();
            tokio::spawn(metrics::serve_metrics(
                l,
                self.metrics.clone(),
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
            ))
        });

        let mut builder = Server::builder()
            .concurrency_limit_per_connection(self.config.concurrency_per_connection)
            .timeout(self.config.request_timeout())
            .http2_keepalive_interval(Some(Duration::from_secs(30)));
        if let Some(tls) = transport.server_config() {
            builder = builder.tls_config(tls)?;
        }
        let addr = listener.local_addr().ok();
        tracing::info!(
            ?addr,
            tls = matches!(transport, Transport::Tls(_)),
            "gateway listening"
        );
        let result = builder
            .add_service(health_svc)
            .add_service(grpc)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight submissions");
                health
                    .set_not_serving::<ReportGatewayServer<service::GatewayService>>()
                    .await;
                let _ = stop_tx.send(true);
            })
            .await;
        let _ = stop_tx.send(true);
        if let Some(t) = metrics_task {
            let _ = t.await;
        }
        // The service (and its intake handle) is gone; the writer drains its queue and stops.
        let joined = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || writer.join()),
        )
        .await;
        if joined.is_err() {
            tracing::warn!("intake writer did not stop within 30 s");
        }
        result?;
        Ok(())
    }
}

/// Opens the gateway described by `config` and serves on `listener` until
/// `shutdown` completes. The metrics endpoint is bound from
/// `config.metrics_listen` when set.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GatewayError> {
    let addr = listener.local_addr().map_err(|source| GatewayError::Io {
        path: "listener".into(),
        source,
    })?;
    let transport = Transport::from_parts(
        config.tls_cert.as_deref(),
        config.tls_key.as_deref(),
        config.insecure_plaintext,
        addr,
    )?;
    let gateway = Gateway::open(&config, Arc::new(SystemClock))?;
    if config.role == config::Role::Helper {
        return gateway.run_helper(listener, transport, shutdown).await;
    }
    let metrics_listener = match config.metrics_listen {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(|source| GatewayError::Io {
                    path: format!("metrics address {a}").into(),
                    source,
                })?,
        ),
        None => None,
    };
    let dashboard = match config.dashboard_listen {
        Some(a) => {
            let l = TcpListener::bind(a)
                .await
                .map_err(|source| GatewayError::Io {
                    path: format!("dashboard address {a}").into(),
                    source,
                })?;
            tracing::info!(addr = %a, "dashboard listening");
            let (stop, mut stopped) = tokio::sync::watch::channel(false);
            let d = Arc::new(dashboard::Dashboard::new(
                gateway.store(),
                gateway.definition.clone(),
                config.min_count,
            ));
            let task = tokio::spawn(dashboard::serve(l, d, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
            Some((stop, task))
        }
        None => None,
    };
    let result = gateway
        .run(listener, transport, metrics_listener, shutdown)
        .await;
    if let Some((stop, task)) = dashboard {
        let _ = stop.send(true);
        let _ = task.await;
    }
    result
}
