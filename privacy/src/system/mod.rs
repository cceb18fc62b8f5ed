//! The exact elimination engine behind suppression and the audit.
//!
//! Every cell of every table is a sum of the table's inner cells (the leaf
//! combinations), so a cell is a sparse 0/1 vector over all tables' inner
//! cells. Cells that stand for the same quantity in two tables give a link:
//! the difference of their vectors is known to be zero. An attacker who sees
//! the published cells knows the projection of the inner cells onto the span
//! of the published vectors and the links; a suppressed cell is derivable
//! exactly when its vector lies in that span.
//!
//! Arithmetic is exact: fraction-free elimination on 128-bit integers with
//! gcd normalisation; an overflow is an error, never a silent wrap.
//!
//! [`sparse`] holds the vectors, [`basis`] the elimination; this module
//! turns tables into quantities, relations and links.
#![allow(
    clippy::indexing_slicing,
    reason = "quantity, table and cell indices are built together in `System::new` from the shapes, and every quantity has at least one cell"
)]

mod basis;
mod rank;
mod sparse;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

pub(crate) use basis::Basis;
use basis::{PivotChooser, Spanned};
pub(crate) use rank::RankTest;
use sparse::Coef;
pub(crate) use sparse::{SVec, gcd};

use crate::policy::ProtectError;
use crate::table::{Measure, Table, TableShape};

/// One quantity: every cell, in any table, that counts the same people.
#[derive(Debug, Clone)]
pub(crate) struct Quantity {
    pub(crate) cells: Vec<(usize, usize)>,
    pub(crate) is_sum: bool,
}

/// All tables of a report as one system of quantities and relations.
pub(crate) struct System {
    pub(crate) shapes: Vec<Arc<TableShape>>,
    pub(crate) quantities: Vec<Quantity>,
    /// Per table, per cell: quantity index.
    pub(crate) cell_q: Vec<Vec<usize>>,
    /// Relations in quantity indices: (total, parts), deduplicated.
    pub(crate) relations: Vec<(usize, Vec<usize>)>,
    offsets: Vec<u32>,
    /// What depends on the shapes alone, worked out on first use: kept by a
    /// system that audits many reports of one definition (the gateway).
    fixed: OnceLock<ShapeWork>,
    /// Whether the relations span every linear dependency of the
    /// quantities' vectors, worked out on first use.
    complete: OnceLock<bool>,
}

/// The parts of the rank test that are the same for every report of one
/// set of shapes.
struct ShapeWork {
    /// Per quantity, its vector over inner cells.
    vectors: Vec<SVec>,
    /// The basis spanned by the links (cells of one quantity in several
    /// tables differ by zero), or why it could not be built.
    links: Result<Spanned, ProtectError>,
}

impl System {
    pub(crate) fn new(shapes: Vec<Arc<TableShape>>) -> Self {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut quantities: Vec<Quantity> = Vec::new();
        let mut cell_q = Vec::with_capacity(shapes.len());
        let mut offsets = Vec::with_capacity(shapes.len());
        let mut offset = 0u32;
        for (t, s) in shapes.iter().enumerate() {
            offsets.push(offset);
            offset += s.len() as u32;
            let mut qs = Vec::with_capacity(s.len());
            for c in 0..s.len() {
                let name = s.quantity(c);
                let q = *index.entry(name).or_insert_with(|| {
                    quantities.push(Quantity {
                        cells: vec![],
                        is_sum: s.measure != Measure::Count,
                    });
                    quantities.len() - 1
                });
                quantities[q].cells.push((t, c));
                qs.push(q);
            }
            cell_q.push(qs);
        }
        let mut seen = BTreeSet::new();
        let mut relations = Vec::new();
        for (t, s) in shapes.iter().enumerate() {
            for r in s.relations() {
                let total = cell_q[t][r.total];
                let mut parts: Vec<usize> = r.parts.iter().map(|&p| cell_q[t][p]).collect();
                parts.sort_unstable();
                if parts == [total] {
                    continue;
                }
                if seen.insert((total, parts.clone())) {
                    relations.push((total, parts));
                }
            }
        }
        System {
            shapes,
            quantities,
            cell_q,
            relations,
            offsets,
            fixed: OnceLock::new(),
            complete: OnceLock::new(),
        }
    }

    /// Whether every linear dependency among the quantities (modulo the
    /// links) is a combination of the relations. When it is, a suppressed
    /// quantity is derivable by rank exactly when every direction that keeps
    /// the relations on the suppressed quantities leaves it unchanged, so
    /// the kernel the witnesses compute anyway decides the rank test.
    ///
    /// Every relation is a true dependency, so the relations' span lies in
    /// the dependency space; the two are equal exactly when their dimensions
    /// are: rank(relations) = quantities - (inner cells - rank(links)),
    /// since the quantities' vectors and the links together span every
    /// inner cell.
    pub(crate) fn relations_span_dependencies(&self) -> bool {
        *self.complete.get_or_init(|| {
            let Ok(links) = &self.fixed().links else {
                return false;
            };
            let inner: usize = self
                .shapes
                .iter()
                .map(|s| (0..s.len()).filter(|&c| s.is_inner(c)).count())
                .sum();
            let rows = self.relation_rows(|_| true);
            let Ok(basis) = rank::echelon(rows, self.quantities.len()) else {
                return false;
            };
            let dependencies = (self.quantities.len() + links.len()).checked_sub(inner);
            dependencies == Some(basis.len())
        })
    }

    /// The relations restricted to the quantities `keep` marks (the other
    /// members move to the right-hand side), as vectors over quantity
    /// indices: each is `parts - total`, repeats summed, zeros dropped.
    pub(super) fn relation_rows(&self, keep: impl Fn(usize) -> bool) -> Vec<SVec> {
        let mut rows = Vec::with_capacity(self.relations.len());
        for (total, parts) in &self.relations {
            let mut entries: Vec<(u32, Coef)> = std::iter::once((*total, -1))
                .chain(parts.iter().map(|&p| (p, 1)))
                .filter(|&(q, _)| keep(q))
                .map(|(q, x)| (q as u32, x))
                .collect();
            entries.sort_unstable_by_key(|e| e.0);
            let mut merged: Vec<(u32, Coef)> = Vec::with_capacity(entries.len());
            for (c, x) in entries {
                match merged.last_mut() {
                    Some(last) if last.0 == c => last.1 += x,
                    _ => merged.push((c, x)),
                }
            }
            merged.retain(|e| e.1 != 0);
            if merged.is_empty() {
                continue;
            }
            let mut v = SVec(merged);
            v.normalize();
            rows.push(v);
        }
        rows
    }

    fn fixed(&self) -> &ShapeWork {
        self.fixed.get_or_init(|| {
            let vectors = (0..self.quantities.len())
                .map(|q| {
                    let (t, c) = self.quantities[q].cells[0];
                    self.cell_vector(t, c)
                })
                .collect();
            let links = self.links().and_then(|links| {
                let mut basis = Basis::default();
                for l in links {
                    let r = basis.reduce(&l)?;
                    if !r.is_zero() {
                        basis.insert(r);
                    }
                }
                Ok(basis.freeze())
            });
            ShapeWork { vectors, links }
        })
    }

    /// A basis of the links, to add a report's published vectors to.
    fn link_basis(&self) -> Result<Basis, ProtectError> {
        let links = self.fixed().links.as_ref().map_err(Clone::clone)?;
        Ok(links.basis())
    }

    /// Quantity `q`'s vector over inner cells.
    pub(crate) fn vector_ref(&self, q: usize) -> &SVec {
        &self.fixed().vectors[q]
    }

    fn cell_vector(&self, t: usize, c: usize) -> SVec {
        let off = self.offsets[t];
        SVec::ones(
            self.shapes[t]
                .inner_cells_under(c)
                .into_iter()
                .map(|i| off + i as u32),
        )
    }

    /// Links: for a quantity in several tables, its vectors differ by zero.
    pub(crate) fn links(&self) -> Result<Vec<SVec>, ProtectError> {
        let mut out = Vec::new();
        for q in &self.quantities {
            let Some(&(t0, c0)) = q.cells.first() else {
                continue;
            };
            let first = self.cell_vector(t0, c0);
            for &(t, c) in &q.cells[1..] {
                let d = first.combine(1, &self.cell_vector(t, c), 1)?;
                if !d.is_zero() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// The first cell of quantity `q`: its table id and category codes.
    pub(crate) fn describe(&self, q: usize) -> (String, Vec<String>) {
        let (t, c) = self.quantities[q].cells[0];
        let s = &self.shapes[t];
        (
            s.id.clone(),
            s.key_codes(c).iter().map(|x| x.to_string()).collect(),
        )
    }

    /// The audit's finding for a suppressed quantity derivable by rank.
    pub(crate) fn label(&self, q: usize) -> String {
        let (t, k) = self.describe(q);
        format!("{t}[{}]", k.join(", "))
    }

    /// Quantities sharing a relation with `q`.
    pub(crate) fn neighbours(&self) -> Vec<Vec<usize>> {
        let mut n: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); self.quantities.len()];
        for (total, parts) in &self.relations {
            let all: Vec<usize> = std::iter::once(*total)
                .chain(parts.iter().copied())
                .collect();
            for &a in &all {
                for &b in &all {
                    if a != b {
                        n[a].insert(b);
                    }
                }
            }
        }
        n.into_iter().map(|s| s.into_iter().collect()).collect()
    }
}

/// The basis spanned by the links and the vectors of the `published`
/// quantities: sparse vectors first (margins then shrink to their
/// unpublished parts), with fill-reducing pivots.
pub(crate) fn published_basis(
    sys: &System,
    published: impl Iterator<Item = usize>,
) -> Result<Basis, ProtectError> {
    let mut basis = sys.link_basis()?;
    let mut vectors: Vec<&SVec> = published.map(|q| sys.vector_ref(q)).collect();
    vectors.sort_by_key(|v| v.0.len());
    let mut pivots = PivotChooser::new(vectors.iter().copied());
    for v in vectors {
        pivots.done(v);
        let r = basis.reduce(v)?;
        if !r.is_zero() {
            let col = pivots.pick(&r);
            basis.insert_at(r, col);
        }
    }
    Ok(basis)
}

/// Exact values per quantity, checked to agree across tables.
pub(crate) fn quantity_values(
    sys: &System,
    tables: &[Table],
) -> Result<(Vec<i64>, Vec<i64>), ProtectError> {
    let mut values = vec![0; sys.quantities.len()];
    let mut contributors = vec![0; sys.quantities.len()];
    for (q, quantity) in sys.quantities.iter().enumerate() {
        let (t0, c0) = quantity.cells[0];
        values[q] = tables[t0].values[c0];
        contributors[q] = tables[t0].contributors[c0];
        for &(t, c) in &quantity.cells[1..] {
            if tables[t].values[c] != values[q] || tables[t].contributors[c] != contributors[q] {
                return Err(ProtectError::Inconsistent {
                    quantity: sys.label(q),
                    first: sys.shapes[t0].id.clone(),
                    second: sys.shapes[t].id.clone(),
                });
            }
        }
    }
    Ok((values, contributors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Dimension;

    #[test]
    fn combine_and_normalize() {
        let a = SVec(vec![(0, 2), (3, 4)]);
        let b = SVec(vec![(0, 1), (1, 1)]);
        let c = a.combine(1, &b, 2).unwrap();
        assert_eq!(
            c,
            SVec(vec![(1, -1), (3, 2)])
                .combine(-1, &SVec::default(), 0)
                .unwrap()
        );
        let mut n = SVec(vec![(2, -6), (5, 9)]);
        n.normalize();
        assert_eq!(n, SVec(vec![(2, 2), (5, -3)]));
    }

    #[test]
    fn basis_detects_span() {
        let mut b = Basis::default();
        for v in [SVec::ones([0, 1]), SVec::ones([1, 2])] {
            let r = b.reduce(&v).unwrap();
            b.insert(r);
        }
        assert!(b.reduce(&SVec(vec![(0, 1), (2, -1)])).unwrap().is_zero());
        assert!(!b.reduce(&SVec::ones([0, 2])).unwrap().is_zero());
    }

    #[test]
    fn the_relations_span_every_dependency_of_the_embedded_definition() {
        let sys = System::new(crate::Definition::embedded().shapes());
        assert!(sys.relations_span_dependencies());
        // Without one relation, a dependency of the vectors is missing: the
        // check must notice, or the verdict would skip the rank test on
        // too little.
        let mut short = System::new(crate::Definition::embedded().shapes());
        let total = short.relations[0].0;
        short.relations.retain(|(t, _)| *t != total);
        assert!(!short.relations_span_dependencies());
    }

    #[test]
    fn the_relations_span_every_dependency_of_hierarchical_linked_tables() {
        // Status (with a hierarchy) x gender, and country x gender for the
        // admitted only: the second table's margins are cells of the first.
        let gender = Arc::new(Dimension::flat("gender", &["f", "m"]));
        let status = Arc::new(Dimension::hierarchy(
            "status",
            &[
                ("admitted", "total"),
                ("assessing", "total"),
                ("a.x", "admitted"),
                ("a.y", "admitted"),
            ],
        ));
        let country = Arc::new(Dimension::flat("country", &["IQ", "SO"]));
        let shapes = vec![
            Arc::new(TableShape::new(
                "s".into(),
                vec![status, gender.clone()],
                Measure::Count,
                "total".into(),
            )),
            Arc::new(TableShape::new(
                "c".into(),
                vec![country, gender],
                Measure::Count,
                "admitted".into(),
            )),
        ];
        let sys = System::new(shapes);
        assert!(
            sys.quantities.iter().any(|q| q.cells.len() > 1),
            "tables are linked"
        );
        assert!(sys.relations_span_dependencies());
    }

    #[test]
    fn linked_quantities_are_one() {
        let g = Arc::new(Dimension::flat("gender", &["female", "male"]));
        let s = Arc::new(Dimension::hierarchy(
            "status",
            &[("a", "total"), ("b", "total")],
        ));
        let t1 = Arc::new(TableShape::new(
            "s".into(),
            vec![s, g.clone()],
            Measure::Count,
            "total".into(),
        ));
        let t2 = Arc::new(TableShape::new(
            "c".into(),
            vec![g],
            Measure::Count,
            "a".into(),
        ));
        let sys = System::new(vec![t1, t2]);
        // 9 cells in s, 3 in c; the 3 cells of c are the `a` row of s.
        assert_eq!(sys.quantities.len(), 9);
        assert_eq!(sys.links().unwrap().len(), 3);
    }
}
