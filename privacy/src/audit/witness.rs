//! Cheap proofs that suppressed cells are not pinned: feasible whole-number
//! solutions of a block's published system that differ in a cell.
//!
//! An attacker's interval for a cell contains the cell's value in every
//! non-negative whole-number solution of the relations. So two such
//! solutions whose values of the cell lie `w` apart prove the interval is at
//! least `w` wide, without computing it. From one solution `x` and an integer
//! vector `d` with `A d = 0` (a direction that keeps every relation, such as
//! +1/-1 around a rectangle of suppressed cells), every `x + t d` that stays
//! above the lower bounds is another solution. Every point used here is
//! checked exactly in integer arithmetic; floating point only proposes the
//! first point.
//!
//! A cell the witnesses do not cover is not a failure: the caller computes
//! its interval exactly.
#![allow(
    clippy::indexing_slicing,
    reason = "unknowns are local to one block, filtered to `j < m` when the rows are built, and every point has the block's length"
)]

/// A relation of a block on local unknowns: `sum coef * x = rhs`.
pub(crate) type LocalRow = (Vec<(usize, i64)>, i64);

/// The values a cell takes over the solutions seen.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Smallest value seen per unknown.
    pub(crate) lo: Vec<i64>,
    /// Largest value seen per unknown.
    pub(crate) hi: Vec<i64>,
    /// A ray of solutions makes the unknown unbounded above.
    pub(crate) unbounded: Vec<bool>,
}

impl Seen {
    fn new(x: &[i64]) -> Self {
        Self {
            lo: x.to_vec(),
            hi: x.to_vec(),
            unbounded: vec![false; x.len()],
        }
    }

    pub(crate) fn record(&mut self, x: &[i64]) {
        for (j, &v) in x.iter().enumerate() {
            self.lo[j] = self.lo[j].min(v);
            self.hi[j] = self.hi[j].max(v);
        }
    }

    /// Whether the solutions seen prove unknown `j`'s interval at least `width` wide.
    pub(crate) fn covers(&self, j: usize, width: i64) -> bool {
        self.unbounded[j] || self.hi[j].saturating_sub(self.lo[j]) >= width
    }
}

/// Whether `x` is a whole-number solution: every relation holds exactly and
/// every unknown is at least `lower`.
pub(crate) fn is_solution(rows: &[LocalRow], x: &[i64], lower: i64) -> bool {
    if x.iter().any(|&v| v < lower) {
        return false;
    }
    rows.iter().all(|(coef, rhs)| {
        let sum: Option<i128> = coef.iter().try_fold(0i128, |s, &(j, c)| {
            x.get(j)
                .and_then(|&v| s.checked_add(i128::from(c) * i128::from(v)))
        });
        sum == Some(i128::from(*rhs))
    })
}

/// An integer basis of the directions that keep every relation (`A d = 0`),
/// by fraction-free sparse elimination; `None` if a coefficient grows too
/// large.
pub(crate) fn kernel(rows: &[LocalRow], m: usize) -> Option<Vec<Vec<(usize, i64)>>> {
    let mut a: Vec<SRow> = rows
        .iter()
        .map(|(coef, _)| {
            let mut r: SRow = coef
                .iter()
                .filter(|&&(j, _)| j < m)
                .map(|&(j, c)| (j, i128::from(c)))
                .collect();
            r.sort_unstable_by_key(|e| e.0);
            r.dedup_by(|b, a| {
                if a.0 == b.0 {
                    a.1 += b.1;
                    true
                } else {
                    false
                }
            });
            r.retain(|e| e.1 != 0);
            r
        })
        .collect();
    let mut pivots: Vec<(usize, usize)> = Vec::new(); // (row, column)
    let mut used = vec![false; a.len()];
    for col in 0..m {
        // The shortest unused row holding the column: least fill-in.
        let Some(p) = (0..a.len())
            .filter(|&r| !used[r] && get(&a[r], col) != 0)
            .min_by_key(|&r| a[r].len())
        else {
            continue;
        };
        used[p] = true;
        let pivot_row = a[p].clone();
        let pv = get(&pivot_row, col);
        for (r, row) in a.iter_mut().enumerate() {
            let f = get(row, col);
            if r == p || f == 0 {
                continue;
            }
            *row = combine(pv, row, -f, &pivot_row)?;
        }
        pivots.push((p, col));
    }
    let mut is_pivot = vec![false; m];
    for &(_, c) in &pivots {
        is_pivot[c] = true;
    }
    let mut out = Vec::new();
    for f in (0..m).filter(|&c| !is_pivot[c]) {
        // d_f = l; each pivot row r: a_r * d_{p_r} + a[r][f] * l = 0.
        let mut l: i128 = 1;
        let holding: Vec<(i128, i128, usize)> = pivots
            .iter()
            .map(|&(r, c)| (get(&a[r], f), get(&a[r], c), c))
            .filter(|e| e.0 != 0)
            .collect();
        for &(_, pv, _) in &holding {
            let pv = pv.abs();
            l = l.checked_mul(pv / gcd(l, pv))?;
        }
        let mut d: Vec<(usize, i128)> = vec![(f, l)];
        for &(af, pv, c) in &holding {
            d.push((c, -(af.checked_mul(l)? / pv)));
        }
        let g = d.iter().fold(0, |g, &(_, v)| gcd(g, v));
        let d: Option<Vec<(usize, i64)>> = d
            .into_iter()
            .map(|(j, v)| i64::try_from(v / g.max(1)).ok().map(|v| (j, v)))
            .collect();
        let mut d = d?;
        d.sort_unstable();
        out.push(d);
    }
    Some(out)
}

/// A sparse row: (column, coefficient), sorted by column, no zeros.
type SRow = Vec<(usize, i128)>;

fn get(r: &SRow, col: usize) -> i128 {
    r.binary_search_by_key(&col, |e| e.0).map_or(0, |i| r[i].1)
}

/// `a * x + b * y`, divided by the gcd of its entries.
fn combine(a: i128, x: &SRow, b: i128, y: &SRow) -> Option<SRow> {
    let mut out = Vec::with_capacity(x.len() + y.len());
    let (mut i, mut j) = (0, 0);
    while i < x.len() || j < y.len() {
        let (col, v) = match (x.get(i), y.get(j)) {
            (Some(&(cx, vx)), Some(&(cy, _))) if cx < cy => {
                i += 1;
                (cx, a.checked_mul(vx)?)
            }
            (Some(&(cx, _)), Some(&(cy, vy))) if cy < cx => {
                j += 1;
                (cy, b.checked_mul(vy)?)
            }
            (Some(&(cx, vx)), Some(&(_, vy))) => {
                i += 1;
                j += 1;
                (cx, a.checked_mul(vx)?.checked_add(b.checked_mul(vy)?)?)
            }
            (Some(&(cx, vx)), None) => {
                i += 1;
                (cx, a.checked_mul(vx)?)
            }
            (None, Some(&(cy, vy))) => {
                j += 1;
                (cy, b.checked_mul(vy)?)
            }
            (None, None) => break,
        };
        if v != 0 {
            out.push((col, v));
        }
    }
    let g = out.iter().fold(0, |g, &(_, v)| gcd(g, v));
    if g > 1 {
        for e in &mut out {
            e.1 /= g;
        }
    }
    Some(out)
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The range of `t` keeping `x + t d` at or above `lower`: `(min, max)`,
/// `None` for an unbounded end.
fn step_range(x: &[i64], d: &[(usize, i64)], lower: i64) -> (Option<i64>, Option<i64>) {
    let (mut t_lo, mut t_hi): (Option<i64>, Option<i64>) = (None, None);
    for &(j, c) in d {
        let slack = x[j] - lower; // >= 0
        if c > 0 {
            let b = -(slack / c);
            t_lo = Some(t_lo.map_or(b, |t| t.max(b)));
        } else if c < 0 {
            let b = slack / -c;
            t_hi = Some(t_hi.map_or(b, |t| t.min(b)));
        }
    }
    (t_lo, t_hi)
}

fn moved(x: &[i64], d: &[(usize, i64)], t: i64) -> Option<Vec<i64>> {
    let mut y = x.to_vec();
    for &(j, c) in d {
        y[j] = y[j].checked_add(c.checked_mul(t)?)?;
    }
    Some(y)
}

/// Solutions reachable from the solution `x0` along the kernel directions
/// `dirs`, walking towards the middle of each direction's range so that the
/// next directions have room. `None` if `x0` is not a solution.
pub(crate) fn explore(
    rows: &[LocalRow],
    x0: Vec<i64>,
    lower: i64,
    dirs: &[Vec<(usize, i64)>],
    rounds: usize,
) -> Option<Seen> {
    if !is_solution(rows, &x0, lower) {
        return None;
    }
    // Only directions that provably keep every relation.
    let zero_x = vec![0i64; x0.len()];
    let dirs: Vec<&Vec<(usize, i64)>> = dirs
        .iter()
        .filter(|d| {
            !d.is_empty()
                && d.iter().all(|&(j, _)| j < x0.len())
                && moved(&zero_x, d, 1).is_some_and(|v| is_solution_homogeneous(rows, &v))
        })
        .collect();
    let mut seen = Seen::new(&x0);
    let mut x = x0;
    for _ in 0..rounds {
        for d in &dirs {
            let (t_lo, t_hi) = step_range(&x, d, lower);
            match (t_lo, t_hi) {
                (_, None) => {
                    // Every coefficient is >= 0: a ray of solutions.
                    for &(j, c) in d.iter() {
                        if c > 0 {
                            seen.unbounded[j] = true;
                        }
                    }
                }
                (None, _) => {
                    for &(j, c) in d.iter() {
                        if c < 0 {
                            seen.unbounded[j] = true;
                        }
                    }
                }
                _ => {}
            }
            for t in [t_lo, t_hi].into_iter().flatten() {
                if let Some(y) = moved(&x, d, t) {
                    seen.record(&y);
                }
            }
            if let (Some(a), Some(b)) = (t_lo, t_hi) {
                let mid = (a + b).div_euclid(2);
                if mid != 0
                    && let Some(y) = moved(&x, d, mid)
                {
                    x = y;
                }
            }
        }
    }
    debug_assert!(is_solution(rows, &x, lower));
    Some(seen)
}

/// `A d = 0`.
fn is_solution_homogeneous(rows: &[LocalRow], d: &[i64]) -> bool {
    rows.iter().all(|(coef, _)| {
        coef.iter().try_fold(0i128, |s, &(j, c)| {
            s.checked_add(i128::from(c) * i128::from(d[j]))
        }) == Some(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2 x 2 table with published margins: one rectangle direction.
    fn square() -> Vec<LocalRow> {
        // x0 + x1 = 4, x2 + x3 = 6, x0 + x2 = 5, x1 + x3 = 5
        vec![
            (vec![(0, 1), (1, 1)], 4),
            (vec![(2, 1), (3, 1)], 6),
            (vec![(0, 1), (2, 1)], 5),
            (vec![(1, 1), (3, 1)], 5),
        ]
    }

    #[test]
    fn rectangle_is_the_kernel() {
        let k = kernel(&square(), 4).unwrap();
        assert_eq!(k.len(), 1);
        let d: Vec<i64> = (0..4)
            .map(|j| k[0].iter().find(|e| e.0 == j).map_or(0, |e| e.1))
            .collect();
        assert!(is_solution_homogeneous(&square(), &d));
        assert!(d.iter().all(|v| v.abs() == 1));
    }

    #[test]
    fn walk_finds_the_full_range() {
        let rows = square();
        let k = kernel(&rows, 4).unwrap();
        let seen = explore(&rows, vec![2, 2, 3, 3], 0, &k, 2).unwrap();
        // x0 ranges over 0..=4.
        assert_eq!((seen.lo[0], seen.hi[0]), (0, 4));
        assert!(seen.covers(0, 4) && !seen.covers(0, 5));
        // With zeros published, cells are at least 1: x0 in 1..=3.
        let seen = explore(&rows, vec![2, 2, 3, 3], 1, &k, 2).unwrap();
        assert_eq!((seen.lo[0], seen.hi[0]), (1, 3));
    }

    #[test]
    fn pinned_cells_are_not_covered() {
        // x0 + x1 = 2 with both at least 1: pinned.
        let rows = vec![(vec![(0, 1), (1, 1)], 2)];
        let k = kernel(&rows, 2).unwrap();
        let seen = explore(&rows, vec![1, 1], 1, &k, 2).unwrap();
        assert!(!seen.covers(0, 1) && !seen.covers(1, 1));
    }

    #[test]
    fn a_non_solution_is_refused() {
        assert!(explore(&square(), vec![2, 2, 3, 4], 0, &[], 1).is_none());
        assert!(explore(&square(), vec![-1, 5, 6, 0], 0, &[], 1).is_none());
    }

    #[test]
    fn rays_are_unbounded() {
        // x0 - x1 = 0: both grow together.
        let rows = vec![(vec![(0, 1), (1, -1)], 0)];
        let k = kernel(&rows, 2).unwrap();
        let seen = explore(&rows, vec![3, 3], 0, &k, 1).unwrap();
        assert!(seen.unbounded[0] && seen.unbounded[1]);
    }
}
