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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Definition;

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
