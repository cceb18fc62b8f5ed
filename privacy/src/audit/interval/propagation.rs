//! Whole-number bound propagation over a block's relations: sound outer
//! bounds for every unknown (the attack on blocks too large for integer
//! programming), and the greedy whole-number points the witnesses start from.
#![allow(
    clippy::indexing_slicing,
    reason = "unknowns are local to one block (checked when the rows are built) and bounds have the block's length; this is the propagation's inner loop"
)]

use std::collections::{HashMap, VecDeque};

use crate::audit::witness::LocalRow;
use crate::policy::ProtectError;

/// A relation on quantities: coefficients on unknowns and a right-hand side.
pub(crate) type Row = (Vec<(usize, i64)>, i64);

/// Bounds in propagation are kept within this magnitude (a lower bound is
/// lowered to it, a larger upper bound is dropped): both only loosen, and
/// sums of many such terms stay far inside `i128`.
const BOUND_CAP: i128 = 1 << 96;

fn div_ceil(a: i128, b: i128) -> i128 {
    let (q, r) = (a.div_euclid(b), a.rem_euclid(b));
    if r != 0 && b > 0 { q + 1 } else { q }
}

/// `floor(a / b)` for `b != 0`.
fn div_floor(a: i128, b: i128) -> i128 {
    let (q, r) = (a.div_euclid(b), a.rem_euclid(b));
    if r != 0 && b < 0 { q - 1 } else { q }
}

fn inconsistent() -> ProtectError {
    ProtectError::Unsafe("published cells are inconsistent with whole, non-negative counts".into())
}

/// Range of the term `c * x` for `x` in `[l, h]` (`None`: unbounded).
fn term(c: i128, l: i128, h: Option<i128>) -> (Option<i128>, Option<i128>) {
    let (a, b) = (h.map(|h| c.saturating_mul(h)), c.saturating_mul(l));
    if c > 0 { (Some(b), a) } else { (a, Some(b)) }
}

/// Tightens the bounds of every unknown of one relation
/// `sum c_u x_u = rhs` from the others' bounds, rounding inwards to whole
/// numbers; `changed` hears of each unknown whose bounds moved. `Err` when
/// an unknown's bounds cross: no whole-number solution.
fn tighten(
    coef: &[(usize, i128)],
    rhs: i128,
    lo: &mut [i128],
    hi: &mut [Option<i128>],
    changed: impl FnMut(usize),
) -> Result<(), ()> {
    match relation_sums(coef, lo, hi) {
        Some(sums) => tighten_from_sums(coef, rhs, lo, hi, sums, changed),
        None => tighten_term_by_term(coef, rhs, lo, hi, changed),
    }
}

/// Limit on the size of one term for [`relation_sums`]: with at most
/// 2^20 terms below it, no sum of terms comes near `i128`'s range.
const TERM_LIMIT: i128 = 1 << 100;

/// Bounds of the whole left-hand side of a relation, each as the sum of the
/// bounded terms and the number of unbounded ones; `None` when a term or
/// the relation is too large for exact sums (then the term-by-term way,
/// which saturates, is used).
fn relation_sums(
    coef: &[(usize, i128)],
    lo: &[i128],
    hi: &[Option<i128>],
) -> Option<[(i128, usize); 2]> {
    // Each unknown once (as the relations are built): its own term is then
    // the one to take out of the sums.
    if coef.len() >= 1 << 20 || coef.windows(2).any(|w| w[0].0 >= w[1].0) {
        return None;
    }
    let mut sums = [(0i128, 0usize); 2];
    for &(u, cu) in coef {
        let (tmin, tmax) = term(cu, lo[u], hi[u]);
        for (sum, t) in sums.iter_mut().zip([tmin, tmax]) {
            match t {
                Some(t) if t.abs() < TERM_LIMIT => sum.0 += t,
                Some(_) => return None,
                None => sum.1 += 1,
            }
        }
    }
    Some(sums)
}

/// [`tighten`] in one pass over the relation: each unknown's bounds come
/// from the sums over all terms less its own term. Bounds change as the
/// pass goes, so the sums follow each change.
fn tighten_from_sums(
    coef: &[(usize, i128)],
    rhs: i128,
    lo: &mut [i128],
    hi: &mut [Option<i128>],
    mut sums: [(i128, usize); 2],
    mut changed: impl FnMut(usize),
) -> Result<(), ()> {
    let rest = |sum: (i128, usize), own: Option<i128>| match own {
        Some(t) => (sum.1 == 0).then_some(sum.0 - t),
        None => (sum.1 == 1).then_some(sum.0),
    };
    for &(v, cv) in coef {
        // Each unknown is in the relation once, so its bounds are still the
        // ones summed (each below `TERM_LIMIT`).
        let (own_min, own_max) = term(cv, lo[v], hi[v]);
        let rest_min = rest(sums[0], own_min);
        let rest_max = rest(sums[1], own_max);
        // cv * x_v lies in [rhs - rest_max, rhs - rest_min].
        let a = rest_max.map(|m| rhs.saturating_sub(m));
        let b = rest_min.map(|m| rhs.saturating_sub(m));
        let moved = narrow(v, cv, a, b, lo, hi)?;
        if moved {
            let (new_min, new_max) = term(cv, lo[v], hi[v]);
            for (sum, (old, new)) in sums
                .iter_mut()
                .zip([(own_min, new_min), (own_max, new_max)])
            {
                match old {
                    Some(t) => sum.0 -= t,
                    None => sum.1 -= 1,
                }
                match new {
                    Some(t) if t.abs() < TERM_LIMIT => sum.0 += t,
                    Some(_) => {
                        changed(v);
                        return tighten_term_by_term(coef, rhs, lo, hi, changed);
                    }
                    None => sum.1 += 1,
                }
            }
            changed(v);
        }
    }
    Ok(())
}

/// Sets unknown `v`'s bounds from `cv * x_v` in `[a, b]` (`None`:
/// unbounded), rounded inwards; whether they moved. `Err` when they cross.
fn narrow(
    v: usize,
    cv: i128,
    a: Option<i128>,
    b: Option<i128>,
    lo: &mut [i128],
    hi: &mut [Option<i128>],
) -> Result<bool, ()> {
    let (new_lo, new_hi) = if cv > 0 {
        (a.map(|a| div_ceil(a, cv)), b.map(|b| div_floor(b, cv)))
    } else {
        (b.map(|b| div_ceil(b, cv)), a.map(|a| div_floor(a, cv)))
    };
    let mut moved = false;
    if let Some(l) = new_lo.map(|l| l.min(BOUND_CAP))
        && l > lo[v]
    {
        lo[v] = l;
        moved = true;
    }
    if let Some(h) = new_hi.filter(|&h| h <= BOUND_CAP)
        && hi[v].is_none_or(|old| h < old)
    {
        hi[v] = Some(h);
        moved = true;
    }
    if hi[v].is_some_and(|h| h < lo[v]) {
        return Err(());
    }
    Ok(moved)
}

/// [`tighten`] with each unknown's rest summed anew (saturating), for
/// relations whose terms are too large for exact sums.
fn tighten_term_by_term(
    coef: &[(usize, i128)],
    rhs: i128,
    lo: &mut [i128],
    hi: &mut [Option<i128>],
    mut changed: impl FnMut(usize),
) -> Result<(), ()> {
    for &(v, cv) in coef {
        // cv * x_v = rhs - sum_{u != v} cu * x_u
        let (mut rest_min, mut rest_max) = (Some(0i128), Some(0i128));
        for &(u, cu) in coef {
            if u == v {
                continue;
            }
            let (tmin, tmax) = term(cu, lo[u], hi[u]);
            rest_min = rest_min.zip(tmin).map(|(m, t)| m.saturating_add(t));
            rest_max = rest_max.zip(tmax).map(|(m, t)| m.saturating_add(t));
        }
        // cv * x_v lies in [rhs - rest_max, rhs - rest_min].
        let a = rest_max.map(|m| rhs.saturating_sub(m));
        let b = rest_min.map(|m| rhs.saturating_sub(m));
        if narrow(v, cv, a, b, lo, hi)? {
            changed(v);
        }
    }
    Ok(())
}

/// Bound propagation driven by a queue of relations whose unknowns moved.
struct Propagation<'a> {
    rows: &'a [(Vec<(usize, i128)>, i128)],
    by_var: &'a [Vec<usize>],
    queue: VecDeque<usize>,
    queued: Vec<bool>,
    lo: Vec<i128>,
    hi: Vec<Option<i128>>,
    /// Relations still allowed to be visited.
    budget: usize,
}

impl Propagation<'_> {
    /// Queues every relation of unknown `v`.
    fn touched(&mut self, v: usize) {
        for &r in &self.by_var[v] {
            if !self.queued[r] {
                self.queued[r] = true;
                self.queue.push_back(r);
            }
        }
    }

    /// Propagates until nothing moves; `None` on a contradiction or when
    /// the budget runs out.
    fn run(&mut self) -> Option<()> {
        while let Some(r) = self.queue.pop_front() {
            self.queued[r] = false;
            self.budget = self.budget.checked_sub(1)?;
            let (coef, rhs) = &self.rows[r];
            let (by_var, queued, queue) = (self.by_var, &mut self.queued, &mut self.queue);
            tighten(coef, *rhs, &mut self.lo, &mut self.hi, |v| {
                for &r2 in &by_var[v] {
                    if !queued[r2] {
                        queued[r2] = true;
                        queue.push_back(r2);
                    }
                }
            })
            .ok()?;
        }
        Some(())
    }
}

/// A whole-number solution of a block found without a linear program: each
/// unknown in turn is set to the largest value bound propagation leaves it
/// (its smallest when nothing bounds it above) and the bounds are
/// propagated again, the northwest-corner rule of transportation problems
/// carried over to any relations. `None` when this runs into a
/// contradiction or takes too many steps; the caller then asks the LP.
/// With `first = Some((j, high))`, unknown `j` is set first, to its largest
/// value when `high` (if bounded) or else its smallest, to find a solution
/// where `j` is far from where others put it.
/// The result still has to pass [`is_solution`](crate::audit::witness::is_solution).
pub(super) fn greedy_point(
    rows: &[LocalRow],
    m: usize,
    lower_bound: i64,
    first: Option<(usize, bool)>,
) -> Option<Vec<i64>> {
    Relations::new(rows, m).greedy_point(lower_bound, first)
}

/// A block's relations prepared for propagation: coefficients in `i128`
/// and, per unknown, the relations it is in.
pub(super) struct Relations {
    rows: Vec<(Vec<(usize, i128)>, i128)>,
    by_var: Vec<Vec<usize>>,
}

impl Relations {
    pub(super) fn new(rows: &[LocalRow], m: usize) -> Self {
        let rows: Vec<(Vec<(usize, i128)>, i128)> = rows
            .iter()
            .map(|(coef, rhs)| {
                (
                    coef.iter()
                        .filter(|&&(j, c)| c != 0 && j < m)
                        .map(|&(j, c)| (j, i128::from(c)))
                        .collect(),
                    i128::from(*rhs),
                )
            })
            .collect();
        let mut by_var: Vec<Vec<usize>> = vec![Vec::new(); m];
        for (r, (coef, _)) in rows.iter().enumerate() {
            for &(j, _) in coef {
                by_var[j].push(r);
            }
        }
        Self { rows, by_var }
    }

    /// See [`greedy_point`].
    pub(super) fn greedy_point(
        &self,
        lower_bound: i64,
        first: Option<(usize, bool)>,
    ) -> Option<Vec<i64>> {
        let (rows, by_var, m) = (&self.rows, &self.by_var, self.by_var.len());
        let mut p = Propagation {
            rows,
            by_var,
            queue: (0..rows.len()).collect(),
            queued: vec![true; rows.len()],
            lo: vec![i128::from(lower_bound); m],
            hi: vec![None; m],
            budget: 64 * (rows.len() + m) + 1024,
        };
        p.run()?;
        let order = first
            .filter(|&(j, _)| j < m)
            .into_iter()
            .chain((0..m).map(|j| (j, true)));
        for (j, high) in order {
            if p.hi[j] == Some(p.lo[j]) {
                continue;
            }
            let v = if high {
                p.hi[j].unwrap_or(p.lo[j])
            } else {
                p.lo[j]
            };
            p.lo[j] = v;
            p.hi[j] = Some(v);
            p.touched(j);
            p.run()?;
        }
        p.lo.into_iter().map(|v| i64::try_from(v).ok()).collect()
    }
}

/// Interval propagation: each relation bounds each of its unknowns by the
/// others' bounds, repeated until nothing tightens (or a round limit).
/// Sound for any whole coefficients (bounds are rounded inwards only to
/// whole numbers); computed in `i128` so nothing wraps. A lower bound above
/// an upper bound means no whole-number table fits the published cells,
/// which is an error, as it is for integer programming.
pub(super) fn propagate(
    vars: &[usize],
    rows: &[&Row],
    lower_bound: i64,
) -> Result<Vec<(usize, i64, Option<i64>)>, ProtectError> {
    let local: HashMap<usize, usize> = vars.iter().enumerate().map(|(i, &q)| (q, i)).collect();
    let mut lo: Vec<i128> = vec![i128::from(lower_bound); vars.len()];
    let mut hi: Vec<Option<i128>> = vec![None; vars.len()];
    let rows: Vec<(Vec<(usize, i128)>, i128)> = rows
        .iter()
        .map(|(coef, rhs)| {
            let coef = coef
                .iter()
                .filter(|&&(_, c)| c != 0)
                .map(|&(q, c)| local.get(&q).map(|&j| (j, i128::from(c))))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ProtectError::Unsafe("a relation names a cell outside its block".into())
                })?;
            Ok((coef, i128::from(*rhs)))
        })
        .collect::<Result<_, ProtectError>>()?;
    for _round in 0..50 {
        let mut changed = false;
        for (coef, rhs) in &rows {
            tighten(coef, *rhs, &mut lo, &mut hi, |_| changed = true)
                .map_err(|()| inconsistent())?;
        }
        if !changed {
            break;
        }
    }
    vars.iter()
        .enumerate()
        .map(|(j, &q)| {
            // No i64 count lies above i64::MAX: such a lower bound is a
            // contradiction, and an upper bound beyond it bounds nothing.
            let l = i64::try_from(lo[j]).map_err(|_| inconsistent())?;
            let h = hi[j].and_then(|h| i64::try_from(h).ok());
            Ok((q, l, h))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::witness::is_solution;

    /// Rows of a hidden `r x c` grid whose row and column sums are known.
    fn grid(rows: &[i64], cols: &[i64]) -> Vec<LocalRow> {
        let c = cols.len();
        let mut out: Vec<LocalRow> = rows
            .iter()
            .enumerate()
            .map(|(i, &s)| ((0..c).map(|j| (i * c + j, 1)).collect(), s))
            .collect();
        out.extend(
            cols.iter()
                .enumerate()
                .map(|(j, &s)| ((0..rows.len()).map(|i| (i * c + j, 1)).collect(), s)),
        );
        out
    }

    #[test]
    fn one_pass_tightening_equals_the_term_by_term_one() {
        // A small deterministic generator: relations of 1-6 unknowns with
        // coefficients -3..=3, bounds partly unbounded, some huge.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for case in 0..5_000 {
            let m = 1 + next(6) as usize;
            let coef: Vec<(usize, i128)> = (0..m)
                .map(|j| (j, [-3, -2, -1, 1, 1, 1, 2, 3][next(8) as usize]))
                .collect();
            let rhs = next(40) as i128 - 10;
            let lo: Vec<i128> = (0..m)
                .map(|_| match next(10) {
                    0 => BOUND_CAP - 5,
                    _ => next(6) as i128,
                })
                .collect();
            let hi: Vec<Option<i128>> = lo
                .iter()
                .map(|&l| match next(3) {
                    0 => None,
                    _ => Some(l + next(20) as i128),
                })
                .collect();
            let (mut lo_a, mut hi_a, mut moved_a) = (lo.clone(), hi.clone(), Vec::new());
            let a = tighten(&coef, rhs, &mut lo_a, &mut hi_a, |v| moved_a.push(v));
            let (mut lo_b, mut hi_b, mut moved_b) = (lo.clone(), hi.clone(), Vec::new());
            let b = tighten_term_by_term(&coef, rhs, &mut lo_b, &mut hi_b, |v| moved_b.push(v));
            assert_eq!(a, b, "case {case}: {coef:?} = {rhs}, {lo:?} {hi:?}");
            if a.is_ok() {
                assert_eq!((lo_a, hi_a), (lo_b, hi_b), "case {case}");
                moved_a.dedup();
                moved_b.dedup();
                assert_eq!(moved_a, moved_b, "case {case}");
            }
        }
    }

    #[test]
    fn greedy_point_solves_transportation_blocks_with_lower_bounds() {
        for (rows, cols, lower) in [
            (vec![7, 3, 5], vec![4, 6, 5], 1),
            (vec![3, 3, 3], vec![3, 3, 3], 1),
            (vec![10, 0], vec![4, 6], 0),
            (vec![12, 2, 9, 4], vec![6, 6, 15], 0),
        ] {
            let r = grid(&rows, &cols);
            let m = rows.len() * cols.len();
            let x = greedy_point(&r, m, lower, None).expect("a feasible block");
            assert!(is_solution(&r, &x, lower), "{rows:?} {cols:?}: {x:?}");
        }
    }

    #[test]
    fn greedy_point_finds_nothing_where_nothing_fits() {
        // Two cells of at least 1 cannot add up to 1.
        let r: Vec<LocalRow> = vec![(vec![(0, 1), (1, 1)], 1)];
        assert_eq!(greedy_point(&r, 2, 1, None), None);
        // Rows and columns with different grand totals.
        let r = grid(&[4, 4], &[4, 5]);
        assert_eq!(greedy_point(&r, 4, 0, None), None);
    }

    #[test]
    fn greedy_point_leaves_unbounded_cells_at_their_lower_bound() {
        // x0 - x1 = 2 (a total and its part); nothing bounds them above.
        let r: Vec<LocalRow> = vec![(vec![(0, 1), (1, -1)], 2)];
        let x = greedy_point(&r, 2, 1, None).unwrap();
        assert_eq!(x, vec![3, 1]);
        // Set first and low: the smallest the block allows.
        let r = grid(&[7, 3], &[4, 6]);
        for high in [true, false] {
            let x = greedy_point(&r, 4, 1, Some((3, high))).unwrap();
            assert!(is_solution(&r, &x, 1));
            // Cell (1, 1) lies in [1, 2]: row 1 sums to 3 with another cell >= 1.
            assert_eq!(x[3], if high { 2 } else { 1 }, "{x:?}");
        }
    }
}
