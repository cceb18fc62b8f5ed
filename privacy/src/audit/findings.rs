//! What the audit judges and what it finds: published tables, each
//! suppressed cell's interval, and the report.

use std::sync::Arc;

use serde::Serialize;

use crate::table::TableShape;

/// A table as published: `None` marks a suppressed cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTable {
    /// Shape.
    pub shape: Arc<TableShape>,
    /// Published value per cell, `None` when suppressed.
    pub cells: Vec<Option<i64>>,
}

/// What an attacker can compute about one suppressed cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellInterval {
    /// Table id (the first table the quantity appears in).
    pub table: String,
    /// Category codes of the cell.
    pub key: Vec<String>,
    /// Smallest value consistent with everything published.
    pub lower: i64,
    /// Largest value, `None` when unbounded.
    pub upper: Option<i64>,
    /// Derivable exactly (by rank, by a singleton, or by integer bounds).
    pub exact: bool,
}

/// The audit's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct AuditReport {
    /// No suppressed cell is derivable and every interval is at least as wide as the policy asks.
    pub passed: bool,
    /// Distinct suppressed quantities examined.
    pub suppressed_quantities: usize,
    /// Per suppressed quantity, the attacker's interval (when intervals were computed).
    pub intervals: Vec<CellInterval>,
    /// Human-readable findings: each derivable or too-narrow cell and how.
    pub failures: Vec<String>,
    /// Narrowest interval width over all suppressed cells (upper - lower), if any bounded.
    pub narrowest_width: Option<i64>,
    /// Whether integer intervals were computed (skipped only when asked to).
    pub intervals_computed: bool,
    /// Suppressed cells in blocks too large for integer programming
    /// (`Policy::interval_block_limit`); their intervals come from bound
    /// propagation along single relations, a weaker attack.
    pub interval_skipped: usize,
}
