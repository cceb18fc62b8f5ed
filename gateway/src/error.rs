//! Why a submission was refused or failed, and the one place where those
//! errors become gRPC statuses.

use tonic::{Code, Status};

use crate::store::{IntakeError, StoreError};

/// A reason to refuse a report. Each has its own metric label and status;
/// the message never echoes report content beyond ids and codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The signed payload is larger than the configured limit.
    #[error("report is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Payload size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The envelope lacks a key id or has a signature of the wrong length.
    #[error("malformed envelope: {0}")]
    Envelope(&'static str),
    /// No registered key has this id.
    #[error("key {0} is not registered")]
    UnknownKey(String),
    /// The key was revoked.
    #[error("key {0} is revoked")]
    RevokedKey(String),
    /// The signature does not verify over the exact payload bytes.
    #[error("signature does not verify")]
    BadSignature,
    /// The signed bytes are not a report, or carry trailing bytes.
    #[error("signed payload is not a well-formed report")]
    MalformedReport,
    /// The report was built with a definition the gateway does not collect.
    #[error("definition {id} version {version} is not collected here")]
    UnknownDefinition {
        /// Definition id in the report.
        id: String,
        /// Version in the report.
        version: u32,
    },
    /// The tables do not match the definition.
    #[error("tables do not match the definition: {0}")]
    Tables(String),
    /// A published cell is not protected.
    #[error("report is not protected: {0}")]
    Unprotected(String),
    /// The report's policy is weaker than the gateway's minimum.
    #[error("report policy is weaker than required: {0}")]
    WeakPolicy(String),
    /// The key belongs to another project than the report names.
    #[error("key of project {key_project} cannot sign for project {report_project}")]
    WrongProject {
        /// Project the key is registered to.
        key_project: String,
        /// Project the report names.
        report_project: String,
    },
    /// The period is not valid syntax.
    #[error("{0}")]
    InvalidPeriod(String),
    /// The period is valid but of a kind the directorate does not collect.
    #[error("period {0} is not of a kind collected here")]
    PeriodNotCollected(String),
    /// A different report with this id is already stored.
    #[error("report {0} is already stored with different content")]
    Conflict(String),
    /// The report's secret shares are malformed or not signed by its key.
    #[error("secret shares: {0}")]
    Shares(String),
    /// A correction publishes a cell an earlier revision suppressed.
    #[error("{0}")]
    Revision(String),
}

impl Refusal {
    /// Every metric label, in `label_index` order.
    pub const LABELS: [&'static str; 16] = [
        "too_large",
        "envelope",
        "unknown_key",
        "revoked_key",
        "bad_signature",
        "malformed_report",
        "unknown_definition",
        "table_mismatch",
        "unprotected",
        "weak_policy",
        "wrong_project",
        "invalid_period",
        "period_not_collected",
        "conflict",
        "shares",
        "revision_pattern",
    ];

    /// Position of this refusal's label in [`Refusal::LABELS`].
    pub fn label_index(&self) -> usize {
        match self {
            Refusal::TooLarge { .. } => 0,
            Refusal::Envelope(_) => 1,
            Refusal::UnknownKey(_) => 2,
            Refusal::RevokedKey(_) => 3,
            Refusal::BadSignature => 4,
            Refusal::MalformedReport => 5,
            Refusal::UnknownDefinition { .. } => 6,
            Refusal::Tables(_) => 7,
            Refusal::Unprotected(_) => 8,
            Refusal::WeakPolicy(_) => 9,
            Refusal::WrongProject { .. } => 10,
            Refusal::InvalidPeriod(_) => 11,
            Refusal::PeriodNotCollected(_) => 12,
            Refusal::Conflict(_) => 13,
            Refusal::Shares(_) => 14,
            Refusal::Revision(_) => 15,
        }
    }

    /// The metric label (also sent to the client in the `prikk-refusal` header).
    #[allow(
        clippy::indexing_slicing,
        reason = "`label_index` returns 0..=15, one position per entry of the 16 `LABELS`"
    )]
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.label_index()]
    }

    /// The refusal of a correction that publishes `cell` (named for the
    /// reader), which revision `earlier_revision` suppressed.
    pub fn uncovered(cell: &str, earlier_revision: u32) -> Self {
        Refusal::Revision(format!(
            "table {cell} was suppressed in revision {earlier_revision} and is published in \
             this correction; a correction must keep every cell an earlier revision suppressed hidden"
        ))
    }

    /// The gRPC code for this refusal.
    pub fn code(&self) -> Code {
        match self {
            Refusal::TooLarge { .. } => Code::ResourceExhausted,
            Refusal::Envelope(_)
            | Refusal::MalformedReport
            | Refusal::Tables(_)
            | Refusal::Shares(_)
            | Refusal::InvalidPeriod(_) => Code::InvalidArgument,
            Refusal::UnknownKey(_) => Code::NotFound,
            Refusal::RevokedKey(_) | Refusal::WrongProject { .. } => Code::PermissionDenied,
            Refusal::BadSignature => Code::Unauthenticated,
            Refusal::UnknownDefinition { .. } => Code::Unimplemented,
            Refusal::Unprotected(_) | Refusal::WeakPolicy(_) | Refusal::Revision(_) => {
                Code::FailedPrecondition
            }
            Refusal::PeriodNotCollected(_) => Code::OutOfRange,
            Refusal::Conflict(_) => Code::AlreadyExists,
        }
    }
}

/// Why an RPC did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The client asked for a definition the gateway does not collect.
    #[error("definition `{0}` is not collected here")]
    NoSuchDefinition(String),
    /// The report was refused; nothing was stored.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The gateway failed; clients see only "internal".
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IntakeError> for RpcError {
    /// The intake writer's outcomes as the service answers them; the
    /// writer names a cell by its table and index.
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Conflict(id) => Refusal::Conflict(id).into(),
            IntakeError::Uncovered(u) => {
                Refusal::uncovered(&format!("{} cell {}", u.table, u.cell), u.earlier_revision)
                    .into()
            }
            IntakeError::Store(e) => e.into(),
        }
    }
}

/// Metadata key carrying the refusal label.
pub const REFUSAL_HEADER: &str = "prikk-refusal";

impl From<RpcError> for Status {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Refused(r) => {
                let mut s = Status::new(r.code(), format!("{}: {r}", r.label()));
                if let Ok(v) = r.label().parse() {
                    s.metadata_mut().insert(REFUSAL_HEADER, v);
                }
                s
            }
            RpcError::NoSuchDefinition(id) => {
                Status::not_found(format!("definition `{id}` is not collected here"))
            }
            RpcError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                Status::internal("internal")
            }
        }
    }
}

/// Errors from starting or running the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Storage problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TLS material problem.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The report definition file could not be loaded.
    #[error(transparent)]
    Definition(#[from] prikk_privacy::DefinitionError),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The gRPC transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}
