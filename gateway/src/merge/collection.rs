//! The collection overlay: a secure-aggregation collection laid over the
//! merged tables of its scope and brought up to date with the reports that
//! arrived or were corrected after it, using only published cells; and
//! national tables summed from disjoint regional ones.

use prikk_privacy::Definition;

use super::{MergedCell, MergedTable};
use crate::store::{Collection, StoredReport};

/// A project whose latest report in a scope is not the report a collection
/// summed: corrected since, reported after it, or moved out of the scope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change<'a> {
    /// The report the collection summed, `None` when it had none.
    pub collected: Option<&'a StoredReport>,
    /// The project's latest report in the scope, `None` when it has left it.
    pub latest: Option<&'a StoredReport>,
}

impl Change<'_> {
    /// The project.
    pub fn project(&self) -> &str {
        self.latest
            .or(self.collected)
            .map_or("", |r| r.project.as_str())
    }

    /// What changed, for a reader: `bergen: revision 2 (collected: 1)`.
    pub fn describe(&self) -> String {
        match (self.collected, self.latest) {
            (Some(c), Some(l)) => format!(
                "{}: revision {} (collected: {})",
                l.project, l.revision, c.revision
            ),
            (None, Some(l)) => format!("{}: reported after the collection", l.project),
            (Some(c), None) => format!("{}: no longer in this scope", c.project),
            (None, None) => String::new(),
        }
    }
}

/// The changes between the reports a collection summed (`collected`) and
/// the scope's latest reports, by project.
pub fn changes<'a>(collected: &'a [StoredReport], latest: &[&'a StoredReport]) -> Vec<Change<'a>> {
    let mut by_project: std::collections::BTreeMap<&str, Change<'a>> = Default::default();
    for r in collected {
        by_project
            .entry(&r.project)
            .or_insert(Change {
                collected: None,
                latest: None,
            })
            .collected = Some(r);
    }
    for &r in latest {
        by_project
            .entry(&r.project)
            .or_insert(Change {
                collected: None,
                latest: None,
            })
            .latest = Some(r);
    }
    by_project
        .into_values()
        .filter(|c| match (c.collected, c.latest) {
            (Some(a), Some(b)) => a.report_id != b.report_id,
            _ => true,
        })
        .collect()
}

/// One table's cell `i` in a report: `None` when the report is absent
/// (contributes nothing), `Some(None)` when suppressed or unreadable.
fn report_cell(r: Option<&StoredReport>, id: &str, i: usize) -> Option<Option<(i64, Option<i64>)>> {
    let r = r?;
    let t = r.tables.iter().find(|t| t.id == id);
    Some(t.and_then(|t| {
        let v = (*t.values.get(i)?)?;
        let c = t
            .contributors
            .as_ref()
            .and_then(|c| c.get(i).copied().flatten());
        Some((v, c))
    }))
}

/// Puts a collected (secure-aggregation) aggregate over the merged tables of
/// the same scope.
///
/// Where the collection published a cell, the cell is the collected value
/// brought up to date with `changes` (the projects whose latest report is
/// not the one summed): a change both of whose sides are published is
/// applied exactly; a latest report that suppressed the cell leaves a lower
/// bound with one more suppressed contribution; a collected report that
/// suppressed it leaves the difference unknown, and the cell keeps the lower
/// bound from the published project cells. Where the joint protection
/// suppressed a cell, the lower bound from the published project cells
/// stays, and an exact sum of published cells becomes `:` (it would tell
/// the suppressed aggregate cell). Nothing shown is more than the
/// collection and the published project cells already tell.
#[allow(
    clippy::indexing_slicing,
    reason = "`i` enumerates the collection's values, checked to be as many as the table's cells; a merged table's contributors have one entry per cell"
)]
pub fn apply_collection(
    tables: &mut [MergedTable],
    collection: &Collection,
    changes: &[Change<'_>],
) {
    for t in tables {
        let Some(c) = collection.tables.iter().find(|c| c.id == t.shape.id) else {
            continue;
        };
        if c.values.len() != t.cells.len() {
            continue;
        }
        let id = t.shape.id.clone();
        for (i, v) in c.values.iter().enumerate() {
            let Some(a) = *v else {
                // Hidden by the collection's protection: shown as `:`,
                // unless published project cells give a bound above 0.
                if matches!(
                    t.cells[i],
                    MergedCell::Exact(_) | MergedCell::LowerBound { value: 0, .. }
                ) {
                    t.cells[i] = MergedCell::Suppressed;
                    if let Some(out) = t.contributors.as_mut() {
                        out[i] = None;
                    }
                }
                continue;
            };
            let mut value = a;
            let mut contributors = c
                .contributors
                .as_ref()
                .and_then(|cc| cc.get(i).copied().flatten());
            let mut hidden = 0u32;
            let mut known = true;
            for ch in changes {
                match report_cell(ch.collected, &id, i) {
                    None => {}
                    Some(Some((o, oc))) => {
                        value -= o;
                        contributors = contributors.zip(oc).map(|(a, b)| a - b);
                    }
                    Some(None) => known = false,
                }
                match report_cell(ch.latest, &id, i) {
                    None => {}
                    Some(Some((n, nc))) => {
                        value += n;
                        contributors = contributors.zip(nc).map(|(a, b)| a + b);
                    }
                    Some(None) => hidden += 1,
                }
            }
            if !known {
                continue;
            }
            t.cells[i] = if hidden == 0 {
                MergedCell::Exact(value)
            } else {
                MergedCell::LowerBound {
                    value,
                    suppressed: hidden,
                }
            };
            if let Some(out) = t.contributors.as_mut() {
                out[i] = if hidden == 0 { contributors } else { None };
            }
        }
    }
}

/// Sums regional tables into national ones: a cell is exact where every
/// region's cell is exact, otherwise the sum of the known parts is a lower
/// bound, with the regions' suppressed contributions added up (a region's
/// `:` counts as one). Nothing here is more than the regional tables
/// already tell.
pub fn sum_regions(definition: &Definition, regions: &[Vec<MergedTable>]) -> Vec<MergedTable> {
    definition
        .tables
        .iter()
        .map(|spec| {
            let shape = spec.shape.clone();
            let n = shape.len();
            let mut sum = vec![0i64; n];
            let mut hidden = vec![0u32; n];
            for region in regions {
                match region.iter().find(|t| t.shape.id == shape.id) {
                    Some(t) if t.cells.len() == n => {
                        let totals = sum.iter_mut().zip(hidden.iter_mut());
                        for (cell, (s, h)) in t.cells.iter().zip(totals) {
                            match *cell {
                                MergedCell::Exact(v) => *s += v,
                                MergedCell::LowerBound { value, suppressed } => {
                                    *s += value;
                                    *h += suppressed;
                                }
                                MergedCell::Suppressed => *h += 1,
                            }
                        }
                    }
                    _ => hidden.iter_mut().for_each(|h| *h += 1),
                }
            }
            let cells = sum
                .iter()
                .zip(&hidden)
                .map(|(&value, &h)| MergedCell::of_sum(value, h))
                .collect();
            MergedTable {
                shape,
                title: spec.title.clone(),
                cells,
                contributors: None,
                sd: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{births_and_moves, report};
    use super::super::{merge, national, regional};
    use super::*;
    use crate::store::NormalTable;

    fn collection(
        def: &Definition,
        scope: &str,
        reports: &[&StoredReport],
        hide: &[usize],
    ) -> Collection {
        let status = def.table("status").unwrap().shape.clone();
        let summed = merge(def, reports);
        let st = summed.iter().find(|t| t.shape.id == "status").unwrap();
        Collection {
            batch_id: scope.into(),
            period: "2006".into(),
            scope: scope.into(),
            report_ids: reports.iter().map(|r| r.report_id.clone()).collect(),
            projects: reports.len() as u32,
            collected_unix: 0,
            helper_key_id: String::new(),
            helper_signature: Vec::new(),
            suppressed_cells: hide.len() as u32,
            tables: vec![NormalTable {
                id: "status".into(),
                // The collection's exact values stand in for the true sums.
                values: (0..status.len())
                    .map(|i| match st.cells[i] {
                        _ if hide.contains(&i) => None,
                        MergedCell::Exact(v) | MergedCell::LowerBound { value: v, .. } => {
                            Some(v + 100)
                        }
                        MergedCell::Suppressed => None,
                    })
                    .collect(),
                contributors: None,
            }],
        }
    }

    #[test]
    fn national_from_disjoint_regional_collections() {
        let def = Definition::embedded();
        let a = report("a", "vest", &def, |_, _| Some(1));
        let b = report("b", "ost", &def, |_, _| Some(2));
        let region = |r: &StoredReport, col: &Collection| {
            let mut t = regional(&def, std::slice::from_ref(r), &r.region, 1);
            apply_collection(&mut t, col, &[]);
            t
        };
        let ca = collection(&def, "region:vest", &[&a], &[]);
        let cb = collection(&def, "region:ost", &[&b], &[0]);
        let cb_all = collection(&def, "region:ost", &[&b], &[]);
        let both = sum_regions(&def, &[region(&a, &ca), region(&b, &cb_all)]);
        let st = both.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(st.cells[0], MergedCell::Exact(101 + 102));
        let one_hidden = sum_regions(&def, &[region(&a, &ca), region(&b, &cb)]);
        let st = one_hidden.iter().find(|t| t.shape.id == "status").unwrap();
        // Region ost's total is hidden by its collection; its published
        // project cell would tell it, so it counts as one suppressed part.
        assert_eq!(
            st.cells[0],
            MergedCell::LowerBound {
                value: 101,
                suppressed: 1
            }
        );
        assert_eq!(st.cells[1], MergedCell::Exact(203));
        // A table no collection carries sums the published project cells.
        let other = one_hidden.iter().find(|t| t.shape.id != "status").unwrap();
        assert_eq!(other.cells[0], MergedCell::Exact(3));
    }

    #[test]
    fn a_collection_is_brought_up_to_date_with_later_reports() {
        let def = Definition::embedded();
        let (births, moved) = births_and_moves(&def);
        let total = 0;
        let cell = |b: Option<i64>, m: Option<i64>, t: i64| {
            move |id: &str, i: usize| match (id, i) {
                ("status", i) if i == births => b,
                ("status", i) if i == moved => m,
                ("status", 0) => Some(t),
                _ => Some(0),
            }
        };
        let a1 = report("a", "vest", &def, cell(None, Some(7), 50));
        let b1 = report("b", "vest", &def, cell(Some(6), Some(5), 40));
        let col = collection(&def, "national", &[&a1, &b1], &[]);
        // a corrects (one more move, births still hidden), c reports late.
        let mut a2 = report("a", "vest", &def, cell(None, Some(8), 51));
        a2.report_id = "r-a-2".into();
        a2.revision = 2;
        let c = report("c", "ost", &def, cell(Some(9), None, 30));
        let latest = vec![a2, b1.clone(), c];
        let refs: Vec<&StoredReport> = latest.iter().collect();
        let collected = vec![a1.clone(), b1.clone()];
        let ch = changes(&collected, &refs);
        assert_eq!(
            ch.iter().map(Change::describe).collect::<Vec<_>>(),
            [
                "a: revision 2 (collected: 1)",
                "c: reported after the collection"
            ]
        );
        let mut t = national(&def, &latest, 5);
        apply_collection(&mut t, &col, &ch);
        let st = t.iter().find(|t| t.shape.id == "status").unwrap();
        // Total: collected 90 (+100 in this fake), a +1, c +30: exact.
        assert_eq!(st.cells[total], MergedCell::Exact(190 + 1 + 30));
        // Moves: collected 12 (+100), a +1, c suppressed: a lower bound.
        assert_eq!(
            st.cells[moved],
            MergedCell::LowerBound {
                value: 112 + 1,
                suppressed: 1
            }
        );
        // Births: a suppressed them in the collected revision, so the change
        // is unknown: the lower bound from the published cells stays.
        assert_eq!(
            st.cells[births],
            MergedCell::LowerBound {
                value: 6 + 9,
                suppressed: 1
            }
        );
        // Nothing changed: the collection as it is.
        let mut t = national(&def, &[a1.clone(), b1.clone()], 5);
        let none = changes(&collected, &[&a1, &b1]);
        assert!(none.is_empty());
        apply_collection(&mut t, &col, &none);
        let st = t.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(st.cells[total], MergedCell::Exact(190));
        assert_eq!(st.cells[moved], MergedCell::Exact(112));
        // A cell the collection hid stays hidden although both projects
        // published it: their sum would tell it.
        let hid = collection(&def, "national", &[&a1, &b1], &[moved]);
        let mut t = national(&def, &[a1.clone(), b1.clone()], 5);
        apply_collection(&mut t, &hid, &none);
        let st = t.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(st.cells[moved], MergedCell::Suppressed);
    }
}
