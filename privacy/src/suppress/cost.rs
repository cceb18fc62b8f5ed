//! What hiding a cell costs a reader, and so the order in which the
//! publishing pass tries to keep cells visible.
//!
//! A reader of a suppressed table reads the margins first. Hiding the grand
//! total, or a one-way margin (one dimension's categories summed over all
//! the others), costs more than any number of small inner cells, so those
//! cells are tried first, before anything else is published: they are
//! hidden only when they alone, with what is already certain to be
//! published, would expose a small cell. Every other cell costs what it
//! counts, scaled by how high it sits in the hierarchies: a subtotal of 40
//! people over three levels is dearer than an inner cell of 40.
//!
//! GaussSuppression orders its candidates by count (or count times a
//! weight), ties going to cells that sum many inner cells. This keeps that
//! order within a tier and adds the tiers and the height factor, so a
//! margin never loses to a slightly larger inner cell.
#![allow(
    clippy::indexing_slicing,
    reason = "category positions of the shape's own dimensions, and quantities of the system built from those shapes"
)]

use std::cmp::Reverse;

use crate::system::System;
use crate::table::{Dimension, TableShape};

/// Where a cell sits in its table, as far as a reader cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Inner cells and margins over two or more dimensions.
    Ordinary,
    /// One dimension's category (a subtotal included) summed over all the
    /// other dimensions.
    OneWayMargin,
    /// Every dimension at its total.
    GrandTotal,
}

/// Per category of one dimension: its levels below (0 for a leaf, and for
/// every category of a dimension that does not add up) and above (0 for the
/// total). Worked out once per dimension, not per cell.
pub(crate) struct Levels {
    pub(crate) height: Vec<u32>,
    pub(crate) depth: Vec<u32>,
}

impl Levels {
    pub(crate) fn of(d: &Dimension) -> Self {
        let n = d.categories.len();
        let depth: Vec<u32> = (0..n)
            .map(|cat| {
                let (mut k, mut c) = (0, cat);
                while let Some(p) = d.categories[c].parent {
                    k += 1;
                    c = p;
                }
                k
            })
            .collect();
        let mut height = vec![0u32; n];
        if d.additive {
            // Children before parents: deepest first.
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&c| Reverse(depth[c]));
            for c in order {
                if let Some(p) = d.categories[c].parent {
                    height[p] = height[p].max(height[c] + 1);
                }
            }
        }
        Levels { height, depth }
    }

    /// Every dimension's levels of a shape.
    pub(crate) fn of_shape(shape: &TableShape) -> Vec<Levels> {
        shape.dimensions.iter().map(|d| Levels::of(d)).collect()
    }
}

/// The standing of a cell and the sum of its categories' heights.
pub fn standing(shape: &TableShape, cell: usize) -> (Standing, u32) {
    standing_in(shape, &Levels::of_shape(shape), cell)
}

/// [`standing`] with the shape's levels worked out already.
pub(crate) fn standing_in(shape: &TableShape, levels: &[Levels], cell: usize) -> (Standing, u32) {
    let key = shape.key(cell);
    let mut off_total = 0;
    let mut heights = 0;
    for ((d, &k), l) in shape.dimensions.iter().zip(&key).zip(levels) {
        if d.additive && d.categories[k].parent.is_some() {
            off_total += 1;
        }
        heights += l.height[k];
    }
    let standing = match off_total {
        0 => Standing::GrandTotal,
        1 => Standing::OneWayMargin,
        _ => Standing::Ordinary,
    };
    (standing, heights)
}

/// Per quantity: its standing (the highest of its cells') and its cost of
/// hiding, from `weight` (its count, or its contributors for a sum).
pub(crate) fn costs(sys: &System, weight: &[i64]) -> Vec<(Standing, i64)> {
    let levels: Vec<Vec<Levels>> = sys.shapes.iter().map(|s| Levels::of_shape(s)).collect();
    sys.quantities
        .iter()
        .enumerate()
        .map(|(q, quantity)| {
            let (standing, height) = quantity
                .cells
                .iter()
                .map(|&(t, c)| standing_in(&sys.shapes[t], &levels[t], c))
                .max()
                .unwrap_or((Standing::Ordinary, 0));
            let cost = weight[q]
                .saturating_add(1)
                .saturating_mul(i64::from(height) + 1);
            (standing, cost)
        })
        .collect()
}

/// The order in which candidates are tried for publication: dearest first.
pub(crate) fn candidate_key(
    costs: &[(Standing, i64)],
    size: &[usize],
    q: usize,
) -> (Reverse<Standing>, Reverse<i64>, Reverse<usize>, usize) {
    let (standing, cost) = costs[q];
    (Reverse(standing), Reverse(cost), Reverse(size[q]), q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::table::{Measure, Table};

    #[test]
    fn margins_come_first_and_height_makes_cells_dearer() {
        let region = Arc::new(Dimension::hierarchy(
            "region",
            &[("C1", "total"), ("a", "C1"), ("b", "C1")],
        ));
        let sex = Arc::new(Dimension::flat("sex", &["f", "m"]));
        let shape = Arc::new(TableShape::new(
            "t".into(),
            vec![region.clone(), sex.clone()],
            Measure::Count,
            "total".into(),
        ));
        let cell = |codes: [&str; 2]| shape.cell_by_codes(&codes).unwrap();
        assert_eq!(
            standing(&shape, cell(["total", "total"])).0,
            Standing::GrandTotal
        );
        assert_eq!(
            standing(&shape, cell(["a", "total"])).0,
            Standing::OneWayMargin
        );
        assert_eq!(
            standing(&shape, cell(["C1", "total"])),
            (Standing::OneWayMargin, 2)
        );
        assert_eq!(
            standing(&shape, cell(["total", "m"])),
            (Standing::OneWayMargin, 2)
        );
        assert_eq!(standing(&shape, cell(["a", "f"])), (Standing::Ordinary, 0));
        assert_eq!(standing(&shape, cell(["C1", "f"])), (Standing::Ordinary, 1));

        let sys = System::new(vec![shape.clone()]);
        let mut t = Table::zeros(shape.clone());
        t.add_inner(&[region.index_of("a").unwrap(), 1], 100);
        t.add_inner(&[region.index_of("b").unwrap(), 2], 3);
        let weight: Vec<i64> = (0..sys.quantities.len())
            .map(|q| t.values[sys.quantities[q].cells[0].1])
            .collect();
        let costs = costs(&sys, &weight);
        let size = vec![1; costs.len()];
        let q = |codes: [&str; 2]| sys.cell_q[0][cell(codes)];
        let mut order: Vec<usize> = (0..costs.len()).collect();
        order.sort_by_key(|&x| candidate_key(&costs, &size, x));
        let rank = |codes: [&str; 2]| order.iter().position(|&x| x == q(codes)).unwrap();
        // The region b margin of 3 is tried before the inner cell of 100.
        assert!(rank(["b", "total"]) < rank(["a", "f"]));
        assert_eq!(rank(["total", "total"]), 0);
        // A subtotal is dearer than an inner cell of the same count:
        // C1 x f counts 100, as does a x f.
        assert!(costs[q(["C1", "f"])].1 > costs[q(["a", "f"])].1);
    }
}
