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

impl PublishedTable {
    /// `table` as published with the cells marked in `hidden` suppressed
    /// (a missing flag counts as published).
    pub fn hiding(table: &crate::table::Table, hidden: &[bool]) -> Self {
        PublishedTable {
            shape: table.shape.clone(),
            cells: table
                .values
                .iter()
                .enumerate()
                .map(|(c, &v)| (!hidden.get(c).copied().unwrap_or(false)).then_some(v))
                .collect(),
        }
    }

    /// Every table of a report as published under one pattern.
    pub fn all_hiding(tables: &[crate::table::Table], hidden: &[Vec<bool>]) -> Vec<Self> {
        tables
            .iter()
            .zip(hidden)
            .map(|(t, h)| PublishedTable::hiding(t, h))
            .collect()
    }
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
    /// The largest such block (suppressed cells tied together by the
    /// relations), 0 when every block was solved exactly.
    pub interval_largest_block: usize,
}

impl AuditReport {
    /// In words a data protection officer understands: where the audit
    /// fell back from exact integer programming to bound propagation.
    pub fn engine_note(&self) -> Option<String> {
        (self.interval_skipped > 0).then(|| {
            format!(
                "{} hidden cells sit in groups too large to solve exactly (the largest ties {} \
                 hidden cells together through the tables' sums). For those, the audit bounded \
                 each cell by following the sums one at a time, which is sound but weaker: it \
                 proves no cell can be computed or pinned that way, not that no cleverer \
                 combination narrows one. Coarsening the tables makes the groups smaller.",
                self.interval_skipped, self.interval_largest_block
            )
        })
    }
}
