//! The full audit over one linear system: the rank test (a suppressed
//! quantity in the span of the published vectors and the links), the
//! singleton attack when the exact values are known, and the integer
//! intervals, gathered into one report.
#![allow(
    clippy::indexing_slicing,
    reason = "the tables are checked to be the system's before the audit reads them; quantity indices are the system's"
)]

use std::collections::{BTreeSet, HashMap};

use super::findings::{AuditReport, CellInterval, PublishedTable};
use super::interval;
use super::singletons::holds_singleton;
use crate::policy::{Policy, ProtectError};
use crate::system::{RankTest, SVec, System, quantity_values};
use crate::table::Table;

/// Audits published tables (the public entry point).
pub(crate) fn audit_published(
    tables: &[PublishedTable],
    policy: &Policy,
    exact: Option<&[Table]>,
    intervals: bool,
) -> AuditReport {
    let sys = System::new(tables.iter().map(|t| t.shape.clone()).collect());
    audit_in(&sys, tables, policy, exact, intervals)
}

/// [`audit_published`] over a system built before, whose table `k` is
/// `tables[k]`.
pub(crate) fn audit_in(
    sys: &System,
    tables: &[PublishedTable],
    policy: &Policy,
    exact: Option<&[Table]>,
    intervals: bool,
) -> AuditReport {
    if tables.len() != sys.shapes.len() {
        return AuditReport {
            failures: vec!["the tables are not the system's".into()],
            ..AuditReport::default()
        };
    }
    if let Some(e) = exact {
        let same = e.len() == tables.len() && e.iter().zip(tables).all(|(a, b)| a.shape == b.shape);
        if !same {
            return AuditReport {
                failures: vec!["exact tables do not match the published tables".into()],
                ..AuditReport::default()
            };
        }
    }
    match audit_system(sys, tables, policy, exact, intervals) {
        Ok((r, _, _)) => r,
        Err(e) => AuditReport {
            failures: vec![e.to_string()],
            ..AuditReport::default()
        },
    }
}

/// The audit. Returns the report, the failing quantities, and of those the
/// ones derivable by rank (a linear combination of published cells).
pub(crate) fn audit_system(
    sys: &System,
    tables: &[PublishedTable],
    policy: &Policy,
    exact: Option<&[Table]>,
    intervals: bool,
) -> Result<(AuditReport, Vec<usize>, BTreeSet<usize>), ProtectError> {
    let n = sys.quantities.len();
    let mut determined = BTreeSet::new();
    let mut failures = Vec::new();
    let mut failing = BTreeSet::new();
    // Published value per quantity; the same quantity must have one status and value everywhere.
    let mut value: Vec<Option<i64>> = vec![None; n];
    for (q, quantity) in sys.quantities.iter().enumerate() {
        let (t0, c0) = quantity.cells[0];
        value[q] = tables[t0].cells[c0];
        for &(t, c) in &quantity.cells[1..] {
            if tables[t].cells[c] != value[q] {
                failures.push(format!(
                    "{} is published differently in tables {} and {}",
                    sys.label(q),
                    sys.shapes[t0].id,
                    sys.shapes[t].id
                ));
                failing.insert(q);
            }
        }
    }
    let suppressed: Vec<usize> = (0..n).filter(|&q| value[q].is_none()).collect();
    let hidden: Vec<bool> = value.iter().map(Option::is_none).collect();
    let mut rank = RankTest::new(sys, &hidden)?;
    for &q in &suppressed {
        if rank.derivable(q) {
            failures.push(derivable_finding(sys, q));
            failing.insert(q);
            determined.insert(q);
        }
    }
    // Singletons: the member of a suppressed 1 knows it and may subtract it.
    if let (Some(exact), true) = (exact, policy.singletons) {
        let (values, exact_contributors) = quantity_values(sys, exact)?;
        let keys: HashMap<usize, SVec> = suppressed.iter().map(|&q| (q, rank.key(q))).collect();
        let mut by_key: HashMap<&SVec, Vec<usize>> = HashMap::new();
        for &q in &suppressed {
            by_key.entry(&keys[&q]).or_default().push(q);
        }
        for &s in &suppressed {
            if sys.quantities[s].is_sum || values[s] != 1 || rank.derivable(s) {
                continue;
            }
            for &q in by_key.get(&keys[&s]).into_iter().flatten() {
                // A cell of 1 nested with the singleton's own cell is that same person.
                let sensitive =
                    policy.is_primary(values[q], exact_contributors[q], sys.quantities[q].is_sum);
                if q == s
                    || !sensitive
                    || rank.derivable(q)
                    || failing.contains(&q)
                    || (values[q] == 1 && holds_singleton(sys, q, s, exact))
                    || !rank.multiple(q, s)?
                {
                    continue;
                }
                if failing.insert(q) {
                    failures.push(format!(
                        "{} can be computed by the one person in {}",
                        sys.label(q),
                        sys.label(s)
                    ));
                }
            }
        }
    }
    let mut report = AuditReport {
        passed: false,
        suppressed_quantities: suppressed.len(),
        intervals: vec![],
        failures: vec![],
        narrowest_width: None,
        intervals_computed: intervals,
        interval_skipped: 0,
        interval_largest_block: 0,
    };
    if intervals && !suppressed.is_empty() {
        let (found, skipped, largest) = interval::intervals(sys, &value, policy)?;
        report.interval_skipped = skipped;
        report.interval_largest_block = largest;
        let truth = exact.map(|e| quantity_values(sys, e)).transpose()?;
        for (q, lower, upper) in found {
            let (table, key) = sys.describe(q);
            let exact_cell = upper == Some(lower);
            if let (Some((vals, _)), Some(u)) = (&truth, upper) {
                debug_assert!(
                    vals[q] >= lower && vals[q] <= u,
                    "interval misses the true value"
                );
            }
            if let Some(u) = upper {
                let w = u - lower;
                report.narrowest_width = Some(report.narrowest_width.map_or(w, |m: i64| m.min(w)));
                if w < i64::from(policy.min_interval_width) && failing.insert(q) {
                    failures.push(if exact_cell {
                        format!(
                            "{} is pinned exactly by whole-number bounds",
                            sys.label(q)
                        )
                    } else {
                        format!(
                            "{} is pinned too narrowly by whole-number bounds, narrower than the policy allows",
                            sys.label(q)
                        )
                    });
                }
            }
            report.intervals.push(CellInterval {
                table,
                key,
                lower,
                upper,
                exact: exact_cell,
            });
        }
    }
    report.passed = failures.is_empty();
    report.failures = failures;
    Ok((report, failing.into_iter().collect(), determined))
}

/// The audit's finding for a suppressed quantity derivable by rank.
pub(crate) fn derivable_finding(sys: &System, q: usize) -> String {
    format!("{} can be computed from the published cells", sys.label(q))
}
