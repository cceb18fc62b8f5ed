//! Merging project reports into regional and national tables.
//!
//! A merged cell whose contributions were all published is exact. One with
//! suppressed contributions is only a lower bound: the sum of the published
//! parts, with the number of suppressed contributions beside it. The
//! national (or regional) policy is then applied to exact merged cells.
//!
//! Cells of reports made in a differential-privacy mode are noisy signed
//! counts; they are summed as they are (never clamped). Each merged cell with
//! noisy contributions gets a standard deviation from the public noise
//! parameters the reports carry ([`attach_noise`]): the noise of different
//! reports and cells is independent, so the variance is the sum of the
//! contributions' variances, and a margin (the sum of `n` noisy inner cells
//! of one report) contributes `n` times its mechanism's variance.
//!
//! Exact regional and national cells come only from secure-aggregation
//! collections, which the leader protected jointly with the published
//! project cells (`prikk_privacy::levels`) before storing them; [`view`]
//! lays them over the merged tables and brings them up to date with
//! reports that arrived or were corrected after the collection, using only
//! published cells.
//!
//! This module sums the latest revisions and applies the policy; its parts
//! are [`noise`] (standard deviations of differentially private cells),
//! [`collection`] (laying a secure-aggregation collection over the merged
//! tables) and [`view`] (what exports and the dashboard show).

mod collection;
mod noise;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use prikk_privacy::{Definition, Measure, TableShape};
use serde::Serialize;

use crate::store::StoredReport;

pub use collection::{Change, apply_collection, changes, sum_regions};
pub use noise::{ReportNoise, add_sd, attach_noise};
pub use view::{Source, View, heading, view};

/// One cell of a merged (or project) table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MergedCell {
    /// Every contribution was published: the exact value.
    Exact(i64),
    /// At least `value`: the sum of the published parts; `suppressed`
    /// contributions were not published.
    LowerBound {
        /// Sum of the published contributions.
        value: i64,
        /// Number of suppressed contributions.
        suppressed: u32,
    },
    /// Not shown for confidentiality.
    Suppressed,
}

impl MergedCell {
    /// The sum of the published contributions, exact when none of them
    /// was hidden and a lower bound otherwise.
    pub fn of_sum(value: i64, hidden: u32) -> Self {
        if hidden == 0 {
            MergedCell::Exact(value)
        } else {
            MergedCell::LowerBound {
                value,
                suppressed: hidden,
            }
        }
    }
}

/// A merged table in the definition's cell order.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedTable {
    /// Shape.
    pub shape: Arc<TableShape>,
    /// Human title.
    pub title: String,
    /// Cells.
    pub cells: Vec<MergedCell>,
    /// Contributors per cell for sum tables (exact cells only).
    pub contributors: Option<Vec<Option<i64>>>,
    /// Standard deviation of the noise per cell, for cells with contributions
    /// from differentially private reports (`None` when no report was noisy).
    pub sd: Option<Vec<Option<f64>>>,
}

/// z of the two-sided 90 % normal interval.
pub const Z90: f64 = 1.644_853_626_951_472_2;

impl MergedTable {
    /// The 90 % interval `value ± 1.645 sd` of a noisy published cell
    /// (normal approximation of the summed noise), unclamped.
    pub fn ci90(&self, cell: usize) -> Option<(f64, f64)> {
        let sd = self.sd.as_ref()?.get(cell).copied().flatten()?;
        let v = match self.cells.get(cell)? {
            MergedCell::Exact(v) => *v,
            MergedCell::LowerBound { value, .. } => *value,
            MergedCell::Suppressed => return None,
        };
        let v = v as f64;
        Some((v - Z90 * sd, v + Z90 * sd))
    }
}

/// Which reports a merge covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One project's latest report, as it published it.
    Project(String),
    /// Every project in a region.
    Region(String),
    /// Every project.
    National,
}

/// Reports whose definition is not `definition` are left out; the caller
/// can compare counts to tell the user.
fn matching<'a>(definition: &Definition, reports: &'a [StoredReport]) -> Vec<&'a StoredReport> {
    reports
        .iter()
        .filter(|r| r.definition_id == definition.id && r.definition_version == definition.version)
        .collect()
}

/// Sums the latest reports cell by cell, without any policy.
pub fn merge(definition: &Definition, reports: &[&StoredReport]) -> Vec<MergedTable> {
    definition
        .tables
        .iter()
        .map(|spec| {
            let shape = spec.shape.clone();
            let n = shape.len();
            let mut sum = vec![0i64; n];
            let mut suppressed = vec![0u32; n];
            let is_sum = matches!(shape.measure, Measure::Sum(_));
            let mut contributors = vec![0i64; n];
            for r in reports {
                // A table the report does not publish (one sent only as
                // secret shares) is an unknown contribution to every cell.
                let Some(t) = r.tables.iter().find(|t| t.id == shape.id) else {
                    suppressed.iter_mut().for_each(|s| *s += 1);
                    continue;
                };
                if t.values.len() != n {
                    suppressed.iter_mut().for_each(|s| *s += 1);
                    continue;
                }
                for (v, (s, h)) in t
                    .values
                    .iter()
                    .zip(sum.iter_mut().zip(suppressed.iter_mut()))
                {
                    match v {
                        Some(v) => *s += v,
                        None => *h += 1,
                    }
                }
                if let Some(c) = &t.contributors {
                    for (c, total) in c.iter().zip(contributors.iter_mut()) {
                        *total += c.unwrap_or(0);
                    }
                }
            }
            let cells = sum
                .iter()
                .zip(&suppressed)
                .map(|(&value, &s)| MergedCell::of_sum(value, s))
                .collect::<Vec<_>>();
            let contributors = is_sum.then(|| {
                cells
                    .iter()
                    .zip(&contributors)
                    .map(|(c, &n)| matches!(c, MergedCell::Exact(_)).then_some(n))
                    .collect()
            });
            MergedTable {
                shape,
                title: spec.title.clone(),
                cells,
                contributors,
                sd: None,
            }
        })
        .collect()
}

/// Applies the primary rule to exact merged cells: a count of 1..k-1, or a
/// sum with fewer than k contributors, becomes `:`.
#[allow(
    clippy::indexing_slicing,
    reason = "`i` is a cell of the table, and a merged table's contributors have one entry per cell"
)]
pub fn apply_policy(tables: &mut [MergedTable], min_count: u32) {
    let k = i64::from(min_count);
    for t in tables {
        let is_sum = matches!(t.shape.measure, Measure::Sum(_));
        for i in 0..t.cells.len() {
            if let MergedCell::Exact(v) = t.cells[i] {
                let n = if is_sum {
                    t.contributors.as_ref().and_then(|c| c[i]).unwrap_or(0)
                } else {
                    v
                };
                if n >= 1 && n < k {
                    t.cells[i] = MergedCell::Suppressed;
                    if let Some(c) = t.contributors.as_mut() {
                        c[i] = None;
                    }
                }
            }
        }
    }
}

/// The national tables for a period: every project's latest report merged,
/// then the national policy applied.
pub fn national(
    definition: &Definition,
    reports: &[StoredReport],
    min_count: u32,
) -> Vec<MergedTable> {
    let mut t = merge(definition, &matching(definition, reports));
    apply_policy(&mut t, min_count);
    t
}

/// The tables of one region, merged like the national ones.
pub fn regional(
    definition: &Definition,
    reports: &[StoredReport],
    region: &str,
    min_count: u32,
) -> Vec<MergedTable> {
    for_group(definition, reports, &[region], min_count)
}

/// The latest reports of several regions merged (a region group), with the
/// policy applied.
pub fn for_group(
    definition: &Definition,
    reports: &[StoredReport],
    regions: &[&str],
    min_count: u32,
) -> Vec<MergedTable> {
    let rs: Vec<&StoredReport> = matching(definition, reports)
        .into_iter()
        .filter(|r| regions.contains(&r.region.as_str()))
        .collect();
    let mut t = merge(definition, &rs);
    apply_policy(&mut t, min_count);
    t
}

/// One project's latest report as it was published (`:` where it suppressed).
pub fn project(definition: &Definition, report: &StoredReport) -> Vec<MergedTable> {
    let by_id: HashMap<&str, _> = report.tables.iter().map(|t| (t.id.as_str(), t)).collect();
    definition
        .tables
        .iter()
        .filter_map(|spec| {
            let t = by_id.get(spec.shape.id.as_str())?;
            let cells = t
                .values
                .iter()
                .map(|v| v.map_or(MergedCell::Suppressed, MergedCell::Exact))
                .collect();
            Some(MergedTable {
                shape: spec.shape.clone(),
                title: spec.title.clone(),
                cells,
                contributors: t.contributors.clone(),
                sd: None,
            })
        })
        .collect()
}

/// The tables for a scope, or `None` when a project has no report.
pub fn for_scope(
    definition: &Definition,
    reports: &[StoredReport],
    scope: &Scope,
    min_count: u32,
) -> Option<Vec<MergedTable>> {
    match scope {
        Scope::National => Some(national(definition, reports, min_count)),
        Scope::Region(r) => Some(regional(definition, reports, r, min_count)),
        Scope::Project(p) => reports
            .iter()
            .find(|r| &r.project == p)
            .map(|r| project(definition, r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NormalTable;

    pub(super) fn report(
        project: &str,
        region: &str,
        def: &Definition,
        f: impl Fn(&str, usize) -> Option<i64>,
    ) -> StoredReport {
        StoredReport {
            report_id: format!("r-{project}"),
            project: project.into(),
            region: region.into(),
            period: "2006".into(),
            revision: 1,
            accepted_unix: 0,
            definition_id: def.id.clone(),
            definition_version: def.version,
            tables: def
                .tables
                .iter()
                .map(|t| NormalTable {
                    id: t.shape.id.clone(),
                    values: (0..t.shape.len()).map(|i| f(&t.shape.id, i)).collect(),
                    contributors: matches!(t.shape.measure, Measure::Sum(_))
                        .then(|| (0..t.shape.len()).map(|i| f(&t.shape.id, i)).collect()),
                })
                .collect(),
        }
    }

    /// The status table's cells of women who left for a birth and who moved.
    pub(super) fn births_and_moves(def: &Definition) -> (usize, usize) {
        let status = &def.table("status").unwrap().shape;
        let cell = |code: &str| status.cell_by_codes(&[code, "female"]).unwrap();
        (
            cell("admitted.terminated.birth"),
            cell("admitted.terminated.moved"),
        )
    }

    #[test]
    fn exact_lower_bound_and_national_policy() {
        let def = Definition::embedded();
        let (births, moved) = births_and_moves(&def);
        // Project a suppresses births and publishes 5 moved; b publishes 6 births.
        let a = report("a", "vest", &def, |t, i| {
            if t == "status" && i == births {
                None
            } else if t == "status" && i == moved {
                Some(5)
            } else {
                Some(0)
            }
        });
        let b = report("b", "ost", &def, |t, i| {
            if t == "status" && i == births {
                Some(6)
            } else {
                Some(0)
            }
        });
        let reports = vec![a, b];
        let nat = national(&def, &reports, 5);
        let st = nat.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(
            st.cells[births],
            MergedCell::LowerBound {
                value: 6,
                suppressed: 1
            }
        );
        assert_eq!(st.cells[moved], MergedCell::Exact(5));
        let west = regional(&def, &reports, "vest", 5);
        let st = west.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(
            st.cells[births],
            MergedCell::LowerBound {
                value: 0,
                suppressed: 1
            }
        );
        let mut small = merge(&def, &reports.iter().collect::<Vec<_>>());
        // A merged exact 3 (which no project published alone) is suppressed nationally.
        small[0].cells[moved] = MergedCell::Exact(3);
        apply_policy(&mut small, 5);
        assert_eq!(small[0].cells[moved], MergedCell::Suppressed);
        let proj = for_scope(&def, &reports, &Scope::Project("a".into()), 5).unwrap();
        assert_eq!(proj[0].cells[births], MergedCell::Suppressed);
        assert!(for_scope(&def, &reports, &Scope::Project("zz".into()), 5).is_none());
    }

    #[test]
    fn sums_are_judged_by_contributors() {
        let def = Definition::embedded();
        let a = report("a", "vest", &def, |t, _| {
            if t == "children" { Some(3) } else { Some(0) }
        });
        let nat = national(&def, &[a], 5);
        let ch = nat.iter().find(|t| t.shape.id == "children").unwrap();
        assert!(
            ch.cells.iter().all(|c| *c == MergedCell::Suppressed),
            "3 contributors < k"
        );
    }
}
