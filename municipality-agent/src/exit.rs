//! Exit codes, distinct per outcome so scripts and systemd can act on them.

/// Success.
pub const OK: u8 = 0;
/// A problem with the input (file, definition, config) or with the peer.
pub const INPUT: u8 = 1;
/// Wrong command-line usage.
pub const USAGE: u8 = 2;
/// The report is safely queued in the outbox but not yet delivered.
pub const QUEUED: u8 = 3;

/// Error type that carries its own exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CodedError {
    /// Exit code.
    pub code: u8,
    /// Message for the operator.
    pub message: String,
}

/// The exit code for an error: a `CodedError` anywhere in the chain decides, else 1.
pub fn code_for(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<CodedError>())
        .map_or(INPUT, |c| c.code)
}
