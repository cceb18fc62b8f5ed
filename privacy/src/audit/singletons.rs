//! Singletons: the one person counted in a suppressed cell of 1 knows that
//! cell, and may subtract it from anything it is combined with. Whether a
//! derived cell of 1 is that same person decides whether it tells them
//! anything new.
#![allow(
    clippy::indexing_slicing,
    reason = "quantities, tables and inner cells are the system's own, and the exact tables have the system's shapes"
)]

use crate::system::System;
use crate::table::Table;

/// Whether the one person of singleton `s` is inside cell `q` (so a
/// derived `q` of 1 is that same person, not somebody else).
pub(crate) fn holds_singleton(sys: &System, q: usize, s: usize, exact: &[Table]) -> bool {
    let common_table = sys.quantities[q]
        .cells
        .iter()
        .any(|&(tq, _)| sys.quantities[s].cells.iter().any(|&(ts, _)| ts == tq));
    if !common_table {
        // Different tables: the one person of `s` can be the one of `q`
        // when the two describe compatible people (each shared variable
        // in the same or a nested category).
        return compatible(sys, q, s);
    }
    for &(tq, cq) in &sys.quantities[q].cells {
        for &(ts, cs) in &sys.quantities[s].cells {
            if tq != ts {
                continue;
            }
            let shape = &sys.shapes[ts];
            let member = shape
                .inner_cells_under(cs)
                .into_iter()
                .find(|&i| exact[ts].values[i] > 0);
            if let Some(i) = member {
                return shape.inner_cells_under(cq).contains(&i);
            }
        }
    }
    false
}

/// Whether some person could be counted in both quantities.
fn compatible(sys: &System, a: usize, b: usize) -> bool {
    let name = |q: usize| {
        let (t, c) = sys.quantities[q].cells[0];
        sys.shapes[t].quantity(c)
    };
    let (na, nb) = (name(a), name(b));
    let parts = |n: &str| -> Vec<(String, String)> {
        n.split('|')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .map(|(v, c)| (v.into(), c.into()))
            .collect()
    };
    let (pa, pb) = (parts(&na), parts(&nb));
    pa.iter().all(|(v, c)| {
        pb.iter().filter(|(w, _)| w == v).all(|(_, d)| {
            c == d
                || (v == "status"
                    && (c.starts_with(&format!("{d}.")) || d.starts_with(&format!("{c}."))))
        })
    })
}
