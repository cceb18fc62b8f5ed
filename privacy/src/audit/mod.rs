//! The disclosure audit: what an attacker can work out about each suppressed
//! cell from the published cells and the tables' additive relations.
//!
//! Three attacks are checked, each as strong as a careful attacker:
//! - exact rank test: a suppressed cell that is a linear combination of
//!   published cells (Gaussian elimination over all tables of the report,
//!   shared margins included) is derivable;
//! - singletons: with the exact values known (agent side), a suppressed cell
//!   of 1 is known to its member, who may subtract it;
//! - integer intervals: counts are whole numbers, never negative, and at
//!   least 1 when zeros are published; the narrowest interval for each cell is
//!   computed by (integer) linear programming per connected block.
//!
//! Read in this order: the findings' types ([`AuditReport`] and the
//! tables it judges); `report` runs the three attacks over one system
//! (the rank test on the linear system, `singletons`, and the integer
//! intervals of `interval`, which draws on `witness`); `verdict` is the
//! gateway's faster check that passes exactly when the full audit does.

mod findings;
mod interval;
mod report;
mod singletons;
mod verdict;
mod witness;

use crate::policy::Policy;
use crate::table::{Measure, Table};

pub use findings::{AuditReport, CellInterval, PublishedTable};
pub(crate) use report::audit_system;
pub(crate) use singletons::holds_singleton;
pub use verdict::Auditor;

/// Published cells that break the primary rule (a count of 1..k-1, a sum with
/// fewer than k contributors is only checkable by the agent): (table, key, value).
pub fn unprotected_small_cells(
    tables: &[PublishedTable],
    policy: &Policy,
) -> Vec<(String, Vec<String>, i64)> {
    let mut out = Vec::new();
    for t in tables {
        if !matches!(t.shape.measure, Measure::Count) {
            continue;
        }
        for (i, v) in t.cells.iter().enumerate() {
            if let Some(v) = *v
                && policy.is_primary(v, v, false)
            {
                out.push((
                    t.shape.id.clone(),
                    t.shape.key_codes(i).iter().map(|s| s.to_string()).collect(),
                    v,
                ));
            }
        }
    }
    out
}

/// Audits published tables. With `exact` (the agent's own exact tables, same
/// order and shapes), singletons are checked too. `intervals` turns the
/// integer-interval attack on; the rank test always runs.
pub fn audit(
    tables: &[PublishedTable],
    policy: &Policy,
    exact: Option<&[Table]>,
    intervals: bool,
) -> AuditReport {
    report::audit_published(tables, policy, exact, intervals)
}

/// The audit's verdict on published tables without the exact values (the
/// gateway's check): passes exactly when `audit(tables, policy, None, true)`
/// passes, but proves wide intervals cheaply instead of computing them.
///
/// - Nothing suppressed: only that every quantity is published alike in all
///   tables and every relation adds up; there is nothing to derive.
/// - Otherwise the rank test as in [`audit`], then the integer-interval
///   attack, where a suppressed cell is accepted only with a proof: two
///   whole-number, non-negative solutions of the published system (checked
///   exactly) whose values of the cell lie at least the policy's minimum
///   width apart, or a ray of solutions. Only cells without such a witness
///   get their interval computed, by the same integer programme as the audit.
///
/// `intervals` holds only the cells found too narrow; `narrowest_width` is
/// only set when one was.
pub fn audit_verdict(tables: &[PublishedTable], policy: &Policy) -> AuditReport {
    Auditor::new(tables.iter().map(|t| t.shape.clone()).collect()).verdict(tables, policy)
}
