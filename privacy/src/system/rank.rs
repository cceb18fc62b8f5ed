//! The rank test on one pattern of suppressed quantities: which are
//! derivable, and which are multiples of one another up to published
//! vectors (what the member of a singleton can exploit).
//!
//! When the relations span every dependency of the quantities' vectors
//! ([`System::relations_span_dependencies`]), the test runs over the
//! suppressed quantities alone. A combination of published vectors (and
//! links) equals quantity `q`'s vector exactly when some dependency has
//! coefficient 1 at `q` and 0 at every other suppressed quantity; the
//! dependencies being the relations' span, that is exactly when the unit
//! vector `e_q` lies in the span `R` of the relations restricted to the
//! suppressed quantities (published members move to the right-hand side).
//! Likewise `q`'s vector is `c` times `s`'s plus published vectors exactly
//! when `e_q - c e_s` lies in `R`. Equivalently, through the kernel `K` of
//! `R` (the directions keeping every relation on the suppressed
//! quantities): `q` is derivable exactly when every `d` in `K` has
//! `d_q = 0`, and `q` is such a multiple of `s` exactly when every `d` in
//! `K` has `d_q = c d_s`.
//!
//! So a few exact points of `K` (back-substitution through an echelon basis
//! of `R`, on pseudo-random free values) prove most suppressed quantities
//! underivable and most pairs unrelated at the cost of one pass over the
//! basis each. What they leave open (a quantity zero at every point, a pair
//! proportional at every point) is decided exactly by reducing unit
//! vectors against the basis. Relation rows are short, so this is far
//! cheaper than reducing margin vectors, which span every inner cell
//! under them, against the published basis.
#![allow(
    clippy::indexing_slicing,
    reason = "kernel points are dense over the system's quantities, and every quantity asked about is one of them"
)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::basis::Basis;
use super::sparse::{Coef, SVec, gcd};
use super::{System, published_basis};
use crate::policy::ProtectError;

/// How many kernel points the test over suppressed quantities draws.
const POINTS: u64 = 2;

/// The rank test on one pattern of suppressed quantities.
pub(crate) enum RankTest {
    /// Per suppressed quantity, its vector reduced against the published
    /// basis: zero when derivable, equal for multiples of one another.
    Published(HashMap<usize, SVec>),
    /// Over the suppressed quantities alone.
    Suppressed(Box<Suppressed>),
}

/// The rank test over the suppressed quantities alone.
pub(crate) struct Suppressed {
    /// Echelon basis of the relations restricted to the suppressed quantities.
    basis: Basis,
    /// Exact points of the kernel, dense over quantities.
    points: Vec<Vec<Coef>>,
    /// Unit vectors reduced against `basis`, as far as needed.
    reduced: HashMap<usize, SVec>,
    /// Per quantity: derivable (decided exactly).
    derivable: Vec<bool>,
}

/// A pseudo-random free value in `1..=2^20` for column `c` of point `k`.
fn free_value(k: u64, c: u32) -> Coef {
    let mut z = (k << 32 | u64::from(c)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    Coef::from(z & 0xf_ffff) + 1
}

impl RankTest {
    /// The rank test for the quantities `suppressed` marks (one flag per
    /// quantity).
    pub(crate) fn new(sys: &System, suppressed: &[bool]) -> Result<Self, ProtectError> {
        if sys.relations_span_dependencies() {
            match Suppressed::new(sys, suppressed) {
                Ok(Some(s)) => return Ok(RankTest::Suppressed(Box::new(s))),
                // A point's coefficients left the 128-bit range: the
                // elimination over published vectors decides instead.
                Ok(None) | Err(ProtectError::Overflow) => {}
                Err(e) => return Err(e),
            }
        }
        Self::published(sys, suppressed)
    }

    /// The rank test by elimination over the published cells' vectors.
    fn published(sys: &System, suppressed: &[bool]) -> Result<Self, ProtectError> {
        let n = sys.quantities.len();
        let hidden = |q: usize| suppressed.get(q).copied().unwrap_or(false);
        let basis = published_basis(sys, (0..n).filter(|&q| !hidden(q)))?;
        let mut reduced = HashMap::new();
        for q in (0..n).filter(|&q| hidden(q)) {
            reduced.insert(q, basis.reduce(sys.vector_ref(q))?);
        }
        Ok(RankTest::Published(reduced))
    }

    /// Whether suppressed quantity `q` is a combination of published cells.
    pub(crate) fn derivable(&self, q: usize) -> bool {
        match self {
            RankTest::Published(r) => r.get(&q).is_none_or(SVec::is_zero),
            RankTest::Suppressed(s) => s.derivable.get(q).copied().unwrap_or(true),
        }
    }

    /// A key that is equal for suppressed quantities that are multiples of
    /// one another up to published vectors (and may be equal for others:
    /// [`RankTest::multiple`] decides).
    pub(crate) fn key(&self, q: usize) -> SVec {
        match self {
            RankTest::Published(r) => r.get(&q).cloned().unwrap_or_default(),
            RankTest::Suppressed(s) => {
                let mut v = SVec(
                    s.points
                        .iter()
                        .enumerate()
                        .map(|(k, p)| (k as u32, p.get(q).copied().unwrap_or(0)))
                        .filter(|e| e.1 != 0)
                        .collect(),
                );
                v.normalize();
                v
            }
        }
    }

    /// Whether suppressed, underivable `q` and `s`, of equal keys, are
    /// multiples of one another up to published vectors.
    pub(crate) fn multiple(&mut self, q: usize, s: usize) -> Result<bool, ProtectError> {
        match self {
            RankTest::Published(r) => Ok(r.get(&q) == r.get(&s)),
            RankTest::Suppressed(x) => Ok(x.reduced(q)? == x.reduced(s)?),
        }
    }
}

impl Suppressed {
    /// The test, or `None` if a kernel point does not check out.
    fn new(sys: &System, suppressed: &[bool]) -> Result<Option<Self>, ProtectError> {
        let n = sys.quantities.len();
        let hidden = |q: usize| suppressed.get(q).copied().unwrap_or(false);
        let rows = sys.relation_rows(hidden);
        let basis = echelon(rows.clone(), n)?;
        let mut points = Vec::new();
        for k in 0..POINTS {
            let d = basis.kernel_point(n, |c| {
                if hidden(c as usize) {
                    free_value(k, c)
                } else {
                    0
                }
            })?;
            // Every relation on the suppressed quantities holds exactly.
            let holds = rows.iter().all(|r| {
                r.0.iter().try_fold(0 as Coef, |s, &(c, x)| {
                    x.checked_mul(*d.get(c as usize)?)
                        .and_then(|p| s.checked_add(p))
                }) == Some(0)
            });
            if !holds {
                return Ok(None);
            }
            points.push(d);
        }
        let mut test = Suppressed {
            basis,
            points,
            reduced: HashMap::new(),
            derivable: vec![false; n],
        };
        for q in (0..n).filter(|&q| hidden(q)) {
            // A point moving `q` proves it underivable; otherwise decide.
            if test.points.iter().all(|p| p[q] == 0) {
                test.derivable[q] = test.reduced(q)?.is_zero();
            }
        }
        Ok(Some(test))
    }

    /// `e_q` reduced against the basis (zero exactly when `q` is derivable).
    fn reduced(&mut self, q: usize) -> Result<SVec, ProtectError> {
        if let Some(r) = self.reduced.get(&q) {
            return Ok(r.clone());
        }
        let r = self.basis.reduce(&SVec(vec![(q as u32, 1)]))?;
        self.reduced.insert(q, r.clone());
        Ok(r)
    }
}

/// An echelon basis of the span of `rows` (over columns `0..n`) by
/// right-looking elimination: the shortest remaining row pivots on its
/// column in the fewest remaining rows, and that column is eliminated from
/// every other remaining row at once, so each pivot row is zero at every
/// earlier pivot (the order [`Basis`] keeps) and fill-in stays local.
pub(super) fn echelon(mut rows: Vec<SVec>, n: usize) -> Result<Basis, ProtectError> {
    let mut in_col: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, r) in rows.iter().enumerate() {
        for &(c, _) in &r.0 {
            if let Some(list) = in_col.get_mut(c as usize) {
                list.push(i);
            }
        }
    }
    let mut done = vec![false; rows.len()];
    let mut heap: BinaryHeap<Reverse<(usize, usize)>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Reverse((r.0.len(), i)))
        .collect();
    let mut basis = Basis::default();
    while let Some(Reverse((len, p))) = heap.pop() {
        if done[p] || rows[p].0.len() != len {
            continue;
        }
        done[p] = true;
        if rows[p].is_zero() {
            continue;
        }
        let pivot = std::mem::take(&mut rows[p]);
        let count = |c: u32| in_col.get(c as usize).map_or(0, Vec::len);
        let Some(col) = pivot.0.iter().map(|e| e.0).min_by_key(|&c| (count(c), c)) else {
            continue;
        };
        let pv = pivot.get(col);
        let mut listed = in_col
            .get_mut(col as usize)
            .map(std::mem::take)
            .unwrap_or_default();
        listed.sort_unstable();
        listed.dedup();
        for &i in &listed {
            if done[i] {
                continue;
            }
            let x = rows[i].get(col);
            if x == 0 {
                continue;
            }
            let g = gcd(pv, x);
            let next = rows[i].combine(pv / g, &pivot, x / g)?;
            for &(c, _) in &next.0 {
                if rows[i].get(c) == 0
                    && let Some(list) = in_col.get_mut(c as usize)
                {
                    list.push(i);
                }
            }
            rows[i] = next;
            heap.push(Reverse((rows[i].0.len(), i)));
        }
        basis.insert_at(pivot, col);
    }
    Ok(basis)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::table::{Dimension, Measure, TableShape};

    /// Status (a hierarchy) x gender, and country x gender for the admitted
    /// only, linked through the admitted margins.
    fn linked() -> System {
        let gender = Arc::new(Dimension::flat("gender", &["f", "m"]));
        let status = Arc::new(Dimension::hierarchy(
            "status",
            &[
                ("admitted", "total"),
                ("assessing", "total"),
                ("a.x", "admitted"),
                ("a.y", "admitted"),
                ("a.z", "admitted"),
            ],
        ));
        let country = Arc::new(Dimension::flat("country", &["IQ", "SO", "SY"]));
        System::new(vec![
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
        ])
    }

    #[test]
    fn the_test_over_suppressed_quantities_agrees_with_the_published_basis() {
        let sys = linked();
        assert!(sys.relations_span_dependencies());
        let n = sys.quantities.len();
        let mut seed = 7u64;
        let (mut derivable, mut parallel) = (0, 0);
        for round in 0..300 {
            // Patterns from sparse to dense.
            let suppressed: Vec<bool> = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (seed >> 33) % 10 < 1 + round % 9
                })
                .collect();
            let mut fast = RankTest::new(&sys, &suppressed).unwrap();
            assert!(matches!(fast, RankTest::Suppressed(_)));
            let mut slow = RankTest::published(&sys, &suppressed).unwrap();
            let hidden: Vec<usize> = (0..n).filter(|&q| suppressed[q]).collect();
            for &q in &hidden {
                assert_eq!(fast.derivable(q), slow.derivable(q), "round {round}, {q}");
                derivable += usize::from(slow.derivable(q));
            }
            for &q in &hidden {
                for &s in &hidden {
                    if q == s || slow.derivable(q) || slow.derivable(s) {
                        continue;
                    }
                    let expected = slow.key(q) == slow.key(s) && slow.multiple(q, s).unwrap();
                    let got = fast.key(q) == fast.key(s) && fast.multiple(q, s).unwrap();
                    assert_eq!(got, expected, "round {round}, {q} and {s}");
                    if expected {
                        parallel += 1;
                        assert_eq!(fast.key(q), fast.key(s), "parallel pairs share a key");
                    }
                }
            }
        }
        assert!(
            derivable > 0 && parallel > 0,
            "{derivable} derivable, {parallel} parallel"
        );
    }
}
