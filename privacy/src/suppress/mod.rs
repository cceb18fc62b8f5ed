//! Primary and secondary suppression over all tables of a report at once.
//!
//! Cells that stand for the same quantity in different tables (admitted women
//! are a margin of most tables) are one quantity here, so they get one status
//! everywhere. Secondary suppression follows the idea of Statistics Norway's
//! GaussSuppression: candidates are considered largest first, and one is
//! published only if, after exact Gaussian elimination over the tables'
//! relations, no primary cell becomes a linear combination of published
//! cells. The result is then audited (rank test, singletons, integer
//! intervals); cells the audit flags get more complementary suppressions.
//!
//! Read in this order: `publish` is the publishing pass, kept honest by
//! the guard of the protected cells' vectors and by the whole-number
//! `bounds`; `repair` adds complementary suppressions where the audit
//! still objects; [`levels`] protects what is published at several
//! aggregation levels at once.
#![allow(
    clippy::indexing_slicing,
    reason = "per-quantity vectors are all sized to the system's quantities; cells index the shapes the system was built from"
)]

mod bounds;
pub mod cost;
pub mod geography;
mod guard;
#[allow(
    clippy::indexing_slicing,
    reason = "table and cell positions of the aggregate's shapes: the aggregate's and every project's tables are checked to have those shapes' lengths first"
)]
pub mod levels;
pub mod loss;
mod publish;
mod repair;

use std::collections::BTreeSet;

use publish::{Greedy, Why, publish_pass};
use repair::{Repair, repair};

use crate::audit::AuditReport;
use crate::policy::{Policy, ProtectError};
use crate::system::{System, quantity_values};
use crate::table::Table;
use cost::Standing;
use loss::Loss;

/// A protected report: per table and cell, whether it is suppressed.
#[derive(Debug, Clone)]
pub struct Protected {
    /// The exact tables (never leave the municipality).
    pub tables: Vec<Table>,
    /// Per table, per cell: suppressed.
    pub suppressed: Vec<Vec<bool>>,
    /// Per table, per cell: suppressed by the primary rule. Local knowledge
    /// for the preview; never serialized into a payload.
    pub primary: Vec<Vec<bool>>,
    /// Number of distinct quantities suppressed by the primary rule.
    pub primary_count: usize,
    /// Number of distinct quantities suppressed to protect them.
    pub secondary_count: usize,
    /// The audit of the final pattern, with the exact values known.
    pub audit: AuditReport,
    /// Grand totals and one-way margins hidden although not small
    /// themselves, each with the reason. Local knowledge for the preview:
    /// a reason names a protected cell.
    pub hidden_margins: Vec<HiddenMargin>,
}

/// A grand total or one-way margin that protection had to hide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenMargin {
    /// Table index and cell.
    pub table: usize,
    /// Cell within the table.
    pub cell: usize,
    /// Grand total or one-way margin.
    pub standing: Standing,
    /// Why, in words for a data protection officer.
    pub reason: String,
}

impl Protected {
    /// The information loss of the pattern, with the exact values.
    pub fn loss(&self) -> Loss {
        Loss::measure(&self.tables, &self.suppressed, &self.primary)
    }
}

/// Protects all tables of a report with one suppression pattern.
pub fn protect(tables: &[Table], policy: &Policy) -> Result<Protected, ProtectError> {
    protect_keeping(tables, policy, &[])
}

/// Protects all tables of a report with one suppression pattern that keeps
/// the cells marked in `keep` (per table, per cell; missing entries mean
/// "not kept") hidden, for instance the cells an earlier revision of the
/// same report suppressed. Kept cells are protected like primary cells
/// (they stay underivable), but are counted as secondary suppressions.
pub fn protect_keeping(
    tables: &[Table],
    policy: &Policy,
    keep: &[Vec<bool>],
) -> Result<Protected, ProtectError> {
    for t in tables {
        if !t.margins_add_up() {
            return Err(ProtectError::Margins(t.shape.id.clone()));
        }
    }
    let sys = System::new(tables.iter().map(|t| t.shape.clone()).collect());
    let (values, contributors) = quantity_values(&sys, tables)?;
    let n = sys.quantities.len();
    let weight: Vec<i64> = (0..n)
        .map(|q| {
            if sys.quantities[q].is_sum {
                contributors[q]
            } else {
                values[q]
            }
        })
        .collect();
    let primary: Vec<bool> = (0..n)
        .map(|q| policy.is_primary(values[q], contributors[q], sys.quantities[q].is_sum))
        .collect();
    let zero_published: Vec<bool> = (0..n)
        .map(|q| weight[q] == 0 && !policy.protect_zeros)
        .collect();
    let neighbours = sys.neighbours();
    let size: Vec<usize> = (0..n)
        .map(|q| {
            let (t, c) = sys.quantities[q].cells[0];
            sys.shapes[t].inner_cells_under(c).len()
        })
        .collect();
    let relations_of: Vec<Vec<usize>> = {
        let mut r = vec![Vec::new(); n];
        for (i, (total, parts)) in sys.relations.iter().enumerate() {
            r[*total].push(i);
            for &p in parts {
                r[p].push(i);
            }
        }
        r
    };
    let mut forced: BTreeSet<usize> = BTreeSet::new();
    for (t, flags) in keep.iter().enumerate().take(sys.cell_q.len()) {
        for (c, &k) in flags.iter().enumerate() {
            if let (true, Some(&q)) = (k, sys.cell_q[t].get(c)) {
                forced.insert(q);
            }
        }
    }
    let costs = cost::costs(&sys, &weight);
    let ctx = Greedy {
        costs: &costs,
        size: &size,
        primary: &primary,
        forced: &forced,
        singletons: policy.singletons,
        relations_of: &relations_of,
        lower: if policy.protect_zeros { 0 } else { 1 },
        min_width: i64::from(policy.min_interval_width.max(1)),
    };
    // Start from everything hidden (published zeros aside) and publish
    // cells largest first while nothing hidden becomes derivable, by rank,
    // by a singleton or by whole-number bounds.
    let everything: Vec<bool> = (0..n)
        .map(|q| !zero_published[q] || forced.contains(&q))
        .collect();
    let guarded: Vec<bool> = (0..n).map(|q| primary[q] || forced.contains(&q)).collect();
    let (mut suppressed, refused) =
        publish_pass(&sys, tables, &values, &everything, &guarded, &ctx)?;
    let after_pass = suppressed.clone();
    let report = repair(
        &Repair {
            sys: &sys,
            tables,
            policy,
            weight: &weight,
            zero_published: &zero_published,
            relations_of: &relations_of,
            neighbours: &neighbours,
            guarded: &guarded,
        },
        &mut suppressed,
    )?;
    let mut reasons: Vec<(usize, String)> = refused
        .into_iter()
        .map(|(q, why)| (q, explain(&sys, why)))
        .collect();
    reasons.extend(
        (0..n)
            .filter(|&q| suppressed[q] && !after_pass[q] && costs[q].0 != Standing::Ordinary)
            .map(|q| {
                (
                    q,
                    "hidden by the audit's repair: whole-number bounds over the published cells \
                     pinned a small cell near it, and no cheaper cell could free it"
                        .to_string(),
                )
            }),
    );
    let mut hidden_margins = Vec::new();
    for (q, reason) in reasons {
        if !suppressed[q] || primary[q] || forced.contains(&q) {
            continue;
        }
        for &(t, c) in &sys.quantities[q].cells {
            let (standing, _) = cost::standing(&sys.shapes[t], c);
            if standing != Standing::Ordinary {
                hidden_margins.push(HiddenMargin {
                    table: t,
                    cell: c,
                    standing,
                    reason: reason.clone(),
                });
            }
        }
    }
    let mut protected = finish(tables, &sys, suppressed, &primary, report);
    protected.hidden_margins = hidden_margins;
    Ok(protected)
}

/// Why a margin stays hidden, naming the small cell it protects.
fn explain(sys: &System, why: Option<Why>) -> String {
    let name = |q: usize| {
        let (t, c) = sys.quantities[q].cells[0];
        let shape = &sys.shapes[t];
        format!("{}[{}]", shape.id, shape.key_codes(c).join(", "))
    };
    match why {
        Some(Why::Derivable(q)) => format!(
            "publishing it would let a reader compute the small cell {} from the published cells",
            name(q)
        ),
        Some(Why::Narrow(q)) => format!(
            "publishing it would pin the small cell {} by whole-number bounds, or leave it too narrow a range",
            name(q)
        ),
        None => "publishing it would let a reader work out a small cell".to_string(),
    }
}

fn finish(
    tables: &[Table],
    sys: &System,
    suppressed: Vec<bool>,
    primary: &[bool],
    audit: AuditReport,
) -> Protected {
    let per_table = |flags: &[bool]| -> Vec<Vec<bool>> {
        sys.cell_q
            .iter()
            .map(|qs| qs.iter().map(|&q| flags[q]).collect())
            .collect()
    };
    let primary_count = primary.iter().filter(|&&p| p).count();
    let secondary_count = suppressed
        .iter()
        .zip(primary)
        .filter(|&(&s, &p)| s && !p)
        .count();
    Protected {
        tables: tables.to_vec(),
        suppressed: per_table(&suppressed),
        primary: per_table(primary),
        primary_count,
        secondary_count,
        audit,
        hidden_margins: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::table::{Dimension, Measure, TableShape};

    #[test]
    fn two_hidden_ones_get_room_to_move() {
        // total 7 = a 1 + b 1 + c 5: publishing c and the total would pin
        // a and b to 1 (they must sum to 2 and each is at least 1).
        let d = Arc::new(Dimension::flat("d", &["a", "b", "c"]));
        let shape = Arc::new(TableShape::new(
            "t".into(),
            vec![d.clone()],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(shape.clone());
        for (code, n) in [("a", 1), ("b", 1), ("c", 5)] {
            let i = d.index_of(code).unwrap();
            t.add_inner(&[i], n);
        }
        let policy = Policy::default();
        let p = protect(std::slice::from_ref(&t), &policy).unwrap();
        assert!(p.audit.passed, "{:?}", p.audit.failures);
        let c = shape.cell_by_codes(&["c"]).unwrap();
        let total = shape.cell_by_codes(&["total"]).unwrap();
        assert!(p.suppressed[0][c] || p.suppressed[0][total]);
        for i in p.audit.intervals {
            assert!(i.upper.is_none_or(|u| u > i.lower), "{i:?}");
        }
    }

    #[test]
    fn kept_cells_stay_hidden_and_protected() {
        let d = Arc::new(Dimension::flat("d", &["a", "b", "c", "e"]));
        let shape = Arc::new(TableShape::new(
            "t".into(),
            vec![d.clone()],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(shape.clone());
        for (code, n) in [("a", 9), ("b", 8), ("c", 20), ("e", 30)] {
            let i = d.index_of(code).unwrap();
            t.add_inner(&[i], n);
        }
        let policy = Policy::default();
        let free = protect(std::slice::from_ref(&t), &policy).unwrap();
        assert_eq!(free.secondary_count, 0);
        let b = shape.cell_by_codes(&["b"]).unwrap();
        let mut keep = vec![vec![false; shape.len()]];
        keep[0][b] = true;
        let p = protect_keeping(std::slice::from_ref(&t), &policy, &keep).unwrap();
        assert!(p.audit.passed, "{:?}", p.audit.failures);
        assert!(p.suppressed[0][b]);
        // b alone hidden would follow from the total: a complement is needed.
        assert!(p.secondary_count >= 2);
    }
}
