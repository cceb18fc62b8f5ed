//! The harness's error type.

use std::path::PathBuf;

/// Anything that can go wrong while setting up or driving a world.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Creating the local CA or a certificate failed.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The gateway library refused or failed.
    #[error("gateway: {0}")]
    Gateway(#[from] prikk_gateway::GatewayError),
    /// The gateway's registry refused a project or key.
    #[error("registry: {0}")]
    Registry(#[from] prikk_gateway::registry::RegistryError),
    /// The gateway's datastore failed.
    #[error("gateway store: {0}")]
    Store(#[from] prikk_gateway::store::StoreError),
    /// The gateway's configuration is inconsistent.
    #[error("gateway config: {0}")]
    Config(#[from] prikk_gateway::config::ConfigError),
    /// An agent key could not be created or loaded.
    #[error("agent key: {0}")]
    Key(#[from] municipality_agent::keys::KeyError),
    /// No report could be prepared from an export.
    #[error("report: {0}")]
    Report(#[from] municipality_agent::report::ReportError),
    /// An agent's outbox failed.
    #[error("outbox: {0}")]
    Outbox(#[from] municipality_agent::outbox::OutboxError),
    /// The agent's TLS endpoint could not be built.
    #[error("agent TLS: {0}")]
    Tls(#[from] municipality_agent::tls::TlsError),
    /// An export could not be read for the exact (unprotected) truth.
    #[error("ingest: {0}")]
    Ingest(#[from] municipality_agent::ingest::IngestError),
    /// Exact tables could not be tabulated.
    #[error("tabulate: {0}")]
    Tabulate(#[from] municipality_agent::tabulate::TabulateError),
    /// A period does not parse.
    #[error("period: {0}")]
    Period(#[from] municipality_agent::period::PeriodError),
    /// A child process (gateway or agent binary) misbehaved.
    #[error("process: {0}")]
    Process(String),
    /// A delivery did not end with a verified receipt.
    #[error("delivery of {project}: {message}")]
    Delivery {
        /// The project.
        project: String,
        /// What happened instead.
        message: String,
    },
}

impl HarnessError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
