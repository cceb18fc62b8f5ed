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

use std::sync::Arc;

use serde::Serialize;

use crate::protect::Policy;
use crate::table::{Table, TableShape};

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

/// Published cells that break the primary rule (a count of 1..k-1, a sum with
/// fewer than k contributors is only checkable by the agent): (table, key, value).
pub fn unprotected_small_cells(
    tables: &[PublishedTable],
    policy: &Policy,
) -> Vec<(String, Vec<String>, i64)> {
    let mut out = Vec::new();
    for t in tables {
        if !matches!(t.shape.measure, crate::table::Measure::Count) {
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
    crate::gauss::audit_published(tables, policy, exact, intervals)
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

/// [`audit_verdict`] for reports of one fixed set of tables: what depends
/// only on the shapes (quantities, links, relations) is worked out once.
pub struct Auditor {
    sys: crate::gauss::System,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("tables", &self.sys.shapes.len())
            .field("quantities", &self.sys.quantities.len())
            .finish()
    }
}

impl Auditor {
    /// An auditor for reports made of tables of these shapes.
    pub fn new(shapes: Vec<Arc<TableShape>>) -> Self {
        Self {
            sys: crate::gauss::System::new(shapes),
        }
    }

    /// Where each of the auditor's tables is in `tables`, when `tables` has
    /// exactly the auditor's shapes (in any order).
    fn positions(&self, tables: &[PublishedTable]) -> Option<Vec<usize>> {
        if tables.len() != self.sys.shapes.len() {
            return None;
        }
        let mut pos = vec![usize::MAX; tables.len()];
        for (i, t) in tables.iter().enumerate() {
            let k = self.sys.shapes.iter().position(|s| s.id == t.shape.id)?;
            let same = Arc::ptr_eq(&self.sys.shapes[k], &t.shape) || self.sys.shapes[k] == t.shape;
            if !same || pos[k] != usize::MAX {
                return None;
            }
            pos[k] = i;
        }
        Some(pos)
    }

    /// The verdict of [`audit_verdict`] on `tables`. Tables of other shapes
    /// than the auditor's are audited all the same, without the saved work.
    pub fn verdict(&self, tables: &[PublishedTable], policy: &Policy) -> AuditReport {
        match self.positions(tables) {
            Some(pos) => verdict(&self.sys, &pos, tables, policy),
            None => {
                let sys =
                    crate::gauss::System::new(tables.iter().map(|t| t.shape.clone()).collect());
                let pos: Vec<usize> = (0..tables.len()).collect();
                verdict(&sys, &pos, tables, policy)
            }
        }
    }
}

/// The verdict over `sys`, whose table `k` is `tables[pos[k]]`.
fn verdict(
    sys: &crate::gauss::System,
    pos: &[usize],
    tables: &[PublishedTable],
    policy: &Policy,
) -> AuditReport {
    let fail = |why: String| AuditReport {
        failures: vec![why],
        intervals_computed: true,
        ..AuditReport::default()
    };
    let any_suppressed = tables.iter().any(|t| t.cells.iter().any(Option::is_none));
    let cell = |t: usize, c: usize| pos.get(t).and_then(|&i| tables.get(i)?.cells.get(c));
    let label = |q: usize| {
        let (t, c) = sys.quantities[q].cells[0];
        let s = &sys.shapes[t];
        (
            s.id.clone(),
            s.key_codes(c)
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<String>>(),
        )
    };
    let mut value: Vec<Option<i64>> = vec![None; sys.quantities.len()];
    for (q, quantity) in sys.quantities.iter().enumerate() {
        let (t0, c0) = quantity.cells[0];
        let Some(&v) = cell(t0, c0) else {
            return fail("a table has fewer cells than its shape".into());
        };
        value[q] = v;
        for &(t, c) in &quantity.cells[1..] {
            if cell(t, c) != Some(&v) {
                let (table, key) = label(q);
                return fail(format!(
                    "{table}[{}] is published differently in tables {} and {}",
                    key.join(", "),
                    sys.shapes[t0].id,
                    sys.shapes[t].id
                ));
            }
        }
    }
    let narrow = match crate::interval::narrow_intervals(sys, &value, policy) {
        Ok(x) => x,
        Err(e) => return fail(e.to_string()),
    };
    // The rank test. A quantity no direction keeping the relations can move
    // is derivable; when every block's kernel is known and the relations
    // span every dependency of the quantities, no other one is, and the
    // elimination over the published cells' vectors is not needed.
    let mut report = AuditReport::default();
    if any_suppressed && !(narrow.every_kernel && sys.relations_span_dependencies()) {
        let in_order = pos.iter().enumerate().all(|(k, &i)| k == i);
        let ordered: std::borrow::Cow<'_, [PublishedTable]> = if in_order {
            std::borrow::Cow::Borrowed(tables)
        } else {
            pos.iter().map(|&i| tables[i].clone()).collect()
        };
        report = crate::gauss::audit_in(sys, &ordered, policy, None, false);
        if !report.passed {
            return report;
        }
    }
    if !narrow.derivable.is_empty() {
        let mut derivable = narrow.derivable;
        derivable.sort_unstable();
        return AuditReport {
            suppressed_quantities: value.iter().filter(|v| v.is_none()).count(),
            failures: derivable.into_iter().map(|q| sys.derivable(q)).collect(),
            ..AuditReport::default()
        };
    }
    let skipped = narrow.skipped;
    let narrow = narrow.found;
    let mut failures = Vec::new();
    for (q, lower, upper) in narrow {
        let Some(u) = upper else { continue };
        let (table, key) = label(q);
        let name = format!("{table}[{}]", key.join(", "));
        let w = u - lower;
        report.narrowest_width = Some(report.narrowest_width.map_or(w, |m: i64| m.min(w)));
        failures.push(if u == lower {
            format!("{name} is pinned to {lower} by whole-number bounds")
        } else {
            format!("{name} is pinned to [{lower}, {u}], narrower than the policy allows")
        });
        report.intervals.push(CellInterval {
            table,
            key,
            lower,
            upper,
            exact: u == lower,
        });
    }
    report.suppressed_quantities = value.iter().filter(|v| v.is_none()).count();
    report.intervals_computed = true;
    report.interval_skipped = skipped;
    report.passed = failures.is_empty();
    report.failures = failures;
    report
}
