//! The gateway's verdict: the same decision as the full audit without the
//! exact values, proving wide intervals cheaply (witnesses) instead of
//! computing them, and reusing what depends only on the shapes.
#![allow(
    clippy::indexing_slicing,
    reason = "positions are checked against the auditor's shapes, and cells are read through `get`; quantity indices are the system's"
)]

use std::borrow::Cow;
use std::sync::Arc;

use super::findings::{AuditReport, CellInterval, PublishedTable};
use super::interval::narrow_intervals;
use super::report::{audit_in, derivable_finding};
use crate::policy::Policy;
use crate::system::System;
use crate::table::TableShape;

/// [`audit_verdict`] for reports of one fixed set of tables: what depends
/// only on the shapes (quantities, links, relations) is worked out once.
pub struct Auditor {
    sys: System,
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
            sys: System::new(shapes),
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
                let sys = System::new(tables.iter().map(|t| t.shape.clone()).collect());
                let pos: Vec<usize> = (0..tables.len()).collect();
                verdict(&sys, &pos, tables, policy)
            }
        }
    }
}

/// The verdict over `sys`, whose table `k` is `tables[pos[k]]`.
fn verdict(sys: &System, pos: &[usize], tables: &[PublishedTable], policy: &Policy) -> AuditReport {
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
    let narrow = match narrow_intervals(sys, &value, policy) {
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
        let ordered: Cow<'_, [PublishedTable]> = if in_order {
            Cow::Borrowed(tables)
        } else {
            pos.iter().map(|&i| tables[i].clone()).collect()
        };
        report = audit_in(sys, &ordered, policy, None, false);
        if !report.passed {
            return report;
        }
    }
    if !narrow.derivable.is_empty() {
        let mut derivable = narrow.derivable;
        derivable.sort_unstable();
        return AuditReport {
            suppressed_quantities: value.iter().filter(|v| v.is_none()).count(),
            failures: derivable
                .into_iter()
                .map(|q| derivable_finding(sys, q))
                .collect(),
            ..AuditReport::default()
        };
    }
    let skipped = narrow.skipped;
    let largest = narrow.largest;
    let narrow = narrow.found;
    let mut failures = Vec::new();
    for (q, lower, upper) in narrow {
        let Some(u) = upper else { continue };
        let (table, key) = label(q);
        let name = format!("{table}[{}]", key.join(", "));
        let w = u - lower;
        report.narrowest_width = Some(report.narrowest_width.map_or(w, |m: i64| m.min(w)));
        failures.push(if u == lower {
            format!("{name} is pinned exactly by whole-number bounds")
        } else {
            format!("{name} is pinned too narrowly by whole-number bounds, narrower than the policy allows")
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
    report.interval_largest_block = largest;
    report.passed = failures.is_empty();
    report.failures = failures;
    report
}
