//! Exact elimination engine (being written).
use crate::audit::{AuditReport, PublishedTable};
use crate::protect::{Policy, ProtectError, Protected};
use crate::table::Table;

/// Protects a report's tables.
pub fn protect(_tables: &[Table], _policy: &Policy) -> Result<Protected, ProtectError> {
    Err(ProtectError::Unsafe("engine not built yet".into()))
}

pub(crate) fn audit_published(_t: &[PublishedTable], _p: &Policy, _e: Option<&[Table]>, _i: bool) -> AuditReport {
    AuditReport::default()
}
