//! The share layout: a report's exact cells as one vector of counts, so they
//! can be split into additive shares and summed over projects.
//!
//! Order: every table in definition order, every cell in the table's cell
//! order (margins included); a sum table's contributor counts follow its
//! values. Margins are shared as they are, so the recombined aggregate can
//! be checked for adding up.

use std::sync::Arc;

use crate::table::{Measure, Table, TableShape};

/// Number of values in the layout of these shapes.
pub fn layout_len(shapes: &[Arc<TableShape>]) -> usize {
    shapes
        .iter()
        .map(|s| match s.measure {
            Measure::Count => s.len(),
            Measure::Sum(_) => 2 * s.len(),
        })
        .sum()
}

/// The tables' exact values (and contributor counts of sums) in layout order.
pub fn flatten(tables: &[Table]) -> Vec<i64> {
    let mut out = Vec::new();
    for t in tables {
        out.extend_from_slice(&t.values);
        if matches!(t.shape.measure, Measure::Sum(_)) {
            out.extend_from_slice(&t.contributors);
        }
    }
    out
}

/// Tables from a vector in layout order; `None` when the length does not match.
pub fn unflatten(shapes: &[Arc<TableShape>], values: &[i64]) -> Option<Vec<Table>> {
    if values.len() != layout_len(shapes) {
        return None;
    }
    let mut rest = values;
    let mut out = Vec::with_capacity(shapes.len());
    for s in shapes {
        let mut t = Table::zeros(s.clone());
        let (v, r) = rest.split_at(s.len());
        t.values.copy_from_slice(v);
        rest = r;
        if matches!(s.measure, Measure::Sum(_)) {
            let (c, r) = rest.split_at(s.len());
            t.contributors.copy_from_slice(c);
            rest = r;
        } else {
            t.contributors.copy_from_slice(v);
        }
        out.push(t);
    }
    Some(out)
}

/// One linear check on a layout vector: `total` minus the sum of `parts`
/// is zero for every honest report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationRow {
    /// Layout index of the sum.
    pub total: usize,
    /// Layout indices of its parts.
    pub parts: Vec<usize>,
}

/// Every linear relation an honest layout vector satisfies, in a fixed
/// order: each table's margins (values, and contributor counts of sums),
/// then every cell that stands for the same quantity as a cell of an
/// earlier table (the two are equal).
pub fn relation_rows(shapes: &[Arc<TableShape>]) -> Vec<RelationRow> {
    let mut rows = Vec::new();
    let mut first_seen: std::collections::HashMap<String, usize> = Default::default();
    let mut links = Vec::new();
    let mut offset = 0usize;
    for s in shapes {
        let blocks = match s.measure {
            Measure::Count => 1,
            Measure::Sum(_) => 2,
        };
        let relations = s.relations();
        for b in 0..blocks {
            let base = offset + b * s.len();
            rows.extend(relations.iter().map(|r| RelationRow {
                total: base + r.total,
                parts: r.parts.iter().map(|&p| base + p).collect(),
            }));
        }
        for cell in 0..s.len() {
            let at = offset + cell;
            match first_seen.entry(s.quantity(cell)) {
                std::collections::hash_map::Entry::Occupied(e) => links.push(RelationRow {
                    total: *e.get(),
                    parts: vec![at],
                }),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(at);
                }
            }
        }
        offset += blocks * s.len();
    }
    rows.extend(links);
    rows
}

/// Each row's residual over `values` modulo 2^64 (so it works on one
/// party's additive share as well as on the recombined counts; the two
/// parties' residuals add up to the true residual). An index outside
/// `values` counts as 0.
pub fn residuals(rows: &[RelationRow], values: &[u64]) -> Vec<u64> {
    let at = |i: usize| values.get(i).copied().unwrap_or(0);
    rows.iter()
        .map(|r| {
            r.parts
                .iter()
                .fold(at(r.total), |acc, &p| acc.wrapping_sub(at(p)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Definition;

    #[test]
    fn honest_layouts_have_zero_residuals_and_a_changed_cell_does_not() {
        let def = Definition::embedded();
        let shapes = def.shapes();
        let rows = relation_rows(&shapes);
        let mut tables: Vec<Table> = shapes.iter().map(|s| Table::zeros(s.clone())).collect();
        // One person in every table's first inner cell (the first leaf of
        // each additive dimension).
        for t in &mut tables {
            let key: Vec<usize> = t
                .shape
                .dimensions
                .iter()
                .map(|d| {
                    if d.additive {
                        (1..d.categories.len()).find(|&c| d.is_leaf(c)).unwrap_or(0)
                    } else {
                        0
                    }
                })
                .collect();
            t.add_inner(&key, 1);
        }
        let honest: Vec<u64> = flatten(&tables).iter().map(|&v| v as u64).collect();
        let links = rows.iter().filter(|r| r.parts.len() == 1).count();
        assert!(links > 0, "tables share quantities");
        // Margins of one table hold by construction; the links need the
        // tables to agree, which one person in different categories does
        // not: only the margin rows are checked on this vector.
        let margins = &rows[..rows.len() - links];
        assert!(residuals(margins, &honest).iter().all(|&r| r == 0));
        let mut lying = honest.clone();
        lying[0] = lying[0].wrapping_add(1);
        assert!(residuals(margins, &lying).iter().any(|&r| r != 0));
        // Shares: the two parties' residuals add up to the true one.
        let noise: Vec<u64> = (0..honest.len() as u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let leader: Vec<u64> = honest
            .iter()
            .zip(&noise)
            .map(|(v, n)| v.wrapping_sub(*n))
            .collect();
        let sum: Vec<u64> = residuals(&rows, &leader)
            .iter()
            .zip(residuals(&rows, &noise))
            .map(|(a, b)| a.wrapping_add(b))
            .collect();
        assert_eq!(sum, residuals(&rows, &honest));
    }

    #[test]
    fn flatten_and_unflatten_round_trip_on_the_embedded_definition() {
        let def = Definition::embedded();
        let shapes: Vec<_> = def.tables.iter().map(|t| t.shape.clone()).collect();
        let mut tables: Vec<Table> = shapes.iter().map(|s| Table::zeros(s.clone())).collect();
        let mut n = 0i64;
        for t in &mut tables {
            for v in &mut t.values {
                n += 1;
                *v = n;
            }
            for c in &mut t.contributors {
                n += 1;
                *c = n;
            }
        }
        let flat = flatten(&tables);
        assert_eq!(flat.len(), layout_len(&shapes));
        let back = unflatten(&shapes, &flat).unwrap();
        for (a, b) in tables.iter().zip(&back) {
            assert_eq!(a.values, b.values);
            if matches!(a.shape.measure, Measure::Sum(_)) {
                assert_eq!(a.contributors, b.contributors);
            }
        }
        assert!(unflatten(&shapes, &flat[1..]).is_none());
    }
}
