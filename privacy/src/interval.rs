//! The integer-interval attack: for each suppressed quantity, the smallest
//! and largest value consistent with the published cells, the relations, and
//! the facts that counts are whole numbers, never negative, and at least 1
//! when the policy publishes zeros (so anything suppressed is not zero).
//!
//! Suppressed quantities split into independent blocks (connected through
//! relations); each block is solved on its own with microlp, as an integer
//! program when small and as a linear program rounded inwards otherwise.
//!
//! Before any per-cell solve, each block gets cheap witnesses
//! ([`crate::witness`]): whole-number solutions reached from one LP point
//! along the integer directions that keep every relation. They seed the
//! exact intervals (a value seen at a propagated bound is that bound), and
//! [`narrow_intervals`] skips every cell they already prove wide enough.

use std::collections::{BTreeMap, HashMap};

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use crate::gauss::System;
use crate::protect::{Policy, ProtectError};
use crate::witness::{LocalRow, Seen, explore, is_solution, kernel};

/// One suppressed quantity's interval: `(quantity, lower, upper)`.
type Found = (usize, i64, Option<i64>);

/// Blocks up to this many unknowns are solved as integer programs.
const INTEGER_BLOCK_LIMIT: usize = 40;
const EPS: f64 = 1e-6;
/// Passes of the walk along the kernel directions.
const WALK_ROUNDS: usize = 3;

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// A relation on quantities: coefficients on unknowns and a right-hand side.
type Row = (Vec<(usize, i64)>, i64);

/// The unknowns of one independent block and its relations.
struct Block<'a> {
    vars: &'a [usize],
    rows: Vec<&'a Row>,
    local: HashMap<usize, usize>,
}

/// Suppressed quantities in independent blocks (sorted by their first
/// quantity), with the relations on unknowns.
type Blocks = (Vec<Vec<usize>>, Vec<Row>, Vec<Vec<usize>>);

fn split(sys: &System, value: &[Option<i64>]) -> Result<Blocks, ProtectError> {
    let n = value.len();
    let mut parent: Vec<usize> = (0..n).collect();
    let mut rows: Vec<Row> = Vec::new();
    let mut unknown: Vec<(usize, i64)> = Vec::new();
    for (total, parts) in &sys.relations {
        unknown.clear();
        // In i128: published values are untrusted and their sum may not fit.
        let mut rhs: i128 = 0;
        for (q, sign) in parts
            .iter()
            .map(|&p| (p, 1i64))
            .chain(std::iter::once((*total, -1i64)))
        {
            match value[q] {
                Some(v) => rhs -= i128::from(sign) * i128::from(v),
                None => unknown.push((q, sign)),
            }
        }
        // Coefficients per unknown, summed over repeats, zeros dropped.
        unknown.sort_unstable_by_key(|&(q, _)| q);
        let mut coef: Vec<(usize, i64)> = Vec::with_capacity(unknown.len());
        for &(q, c) in &unknown {
            match coef.last_mut() {
                Some((last, sum)) if *last == q => *sum += c,
                _ => coef.push((q, c)),
            }
        }
        coef.retain(|&(_, c)| c != 0);
        if coef.is_empty() {
            if rhs != 0 {
                let (t, k) = (
                    sys.shapes[sys.quantities[*total].cells[0].0].id.clone(),
                    *total,
                );
                return Err(ProtectError::Unsafe(format!(
                    "table {t}: published cells do not add up (quantity {k})"
                )));
            }
            continue;
        }
        for w in coef.windows(2) {
            let (a, b) = (find(&mut parent, w[0].0), find(&mut parent, w[1].0));
            parent[a] = b;
        }
        let rhs = i64::try_from(rhs).map_err(|_| {
            ProtectError::Unsafe(format!(
                "table {}: published cells are too large to add up (quantity {total})",
                sys.shapes[sys.quantities[*total].cells[0].0].id
            ))
        })?;
        rows.push((coef, rhs));
    }
    let mut blocks: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for q in (0..n).filter(|&q| value[q].is_none()) {
        let r = find(&mut parent, q);
        blocks.entry(r).or_default().push(q);
    }
    let mut block_rows: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (coef, _)) in rows.iter().enumerate() {
        let r = find(&mut parent, coef[0].0);
        block_rows.entry(r).or_default().push(i);
    }
    let mut vars = Vec::with_capacity(blocks.len());
    let mut row_ix = Vec::with_capacity(blocks.len());
    for (root, v) in blocks {
        vars.push(v);
        row_ix.push(block_rows.remove(&root).unwrap_or_default());
    }
    Ok((vars, rows, row_ix))
}

impl<'a> Block<'a> {
    fn new(vars: &'a [usize], rows: &'a [Row], ix: &[usize]) -> Self {
        Block {
            vars,
            rows: ix.iter().map(|&i| &rows[i]).collect(),
            local: vars.iter().enumerate().map(|(i, &q)| (q, i)).collect(),
        }
    }

    /// Feasible whole-number solutions of the block from one LP point and
    /// the integer directions that keep every relation. `Ok(None)` when no
    /// whole-number point was found cheaply (the caller then solves exactly).
    fn witnesses(&self, lower_bound: i64) -> Result<Option<Seen>, ProtectError> {
        let local_rows = self.local_rows();
        let dirs = kernel(&local_rows, self.vars.len());
        self.witnesses_along(&local_rows, dirs.as_deref(), lower_bound)
    }

    /// Whole-number solutions from one first point along the kernel
    /// directions `dirs` of `local_rows` (`None`: none are known).
    fn witnesses_along(
        &self,
        local_rows: &[LocalRow],
        dirs: Option<&[Vec<(usize, i64)>]>,
        lower_bound: i64,
    ) -> Result<Option<Seen>, ProtectError> {
        let m = self.vars.len();
        let Some(dirs) = dirs else {
            return Ok(None);
        };
        let mut x0 = greedy_point(local_rows, m, lower_bound, None)
            .filter(|x| is_solution(local_rows, x, lower_bound));
        for integer in [false, true] {
            if x0.is_some() {
                break;
            }
            if integer && m > INTEGER_BLOCK_LIMIT {
                break;
            }
            let (_, values) = solve_once(
                m,
                None,
                &self.rows,
                &self.local,
                lower_bound,
                integer,
                OptimizationDirection::Minimize,
            )?;
            if values.len() == m && values.iter().all(|x| x.is_finite() && x.abs() < 1e15) {
                let x: Vec<i64> = values.iter().map(|x| x.round() as i64).collect();
                if is_solution(local_rows, &x, lower_bound) {
                    x0 = Some(x);
                    break;
                }
            }
        }
        let Some(x0) = x0 else {
            return Ok(None);
        };
        Ok(explore(local_rows, x0, lower_bound, dirs, WALK_ROUNDS))
    }

    /// The block's relations over local unknown indices.
    fn local_rows(&self) -> Vec<LocalRow> {
        self.rows
            .iter()
            .map(|(coef, rhs)| {
                (
                    coef.iter().map(|&(q, c)| (self.local[&q], c)).collect(),
                    *rhs,
                )
            })
            .collect()
    }

    /// More solutions for the local unknowns `targets` that the solutions
    /// seen do not yet prove `width` wide: for each, one solution that sets
    /// it first as high and one as low as propagation allows. Every
    /// solution is checked exactly before it counts.
    fn widen(&self, seen: &mut Seen, targets: &[usize], lower_bound: i64, width: i64) {
        let rows = self.local_rows();
        let relations = Relations::new(&rows, self.vars.len());
        for &j in targets {
            for high in [true, false] {
                if seen.covers(j, width) {
                    break;
                }
                if let Some(x) = relations.greedy_point(lower_bound, Some((j, high)))
                    && is_solution(&rows, &x, lower_bound)
                {
                    seen.record(&x);
                }
            }
        }
    }

    /// Exact intervals (as exact as the block size allows) for the local
    /// unknowns `targets`, starting from solutions already seen.
    fn exact(
        &self,
        targets: &[usize],
        lower_bound: i64,
        seen: Option<&Seen>,
    ) -> Result<Vec<(i64, Option<i64>)>, ProtectError> {
        let vars = self.vars;
        let integer = vars.len() <= INTEGER_BLOCK_LIMIT;
        // Propagation gives valid outer bounds. Every solution found along
        // the way is feasible, so a value it reaches at an outer bound is that
        // bound; only the remaining ends need a solve of their own.
        let outer = propagate(vars, &self.rows, lower_bound)?;
        let (mut seen_lo, mut seen_hi): (Vec<Option<i64>>, Vec<Option<i64>>) = match seen {
            Some(s) => (
                s.lo.iter().copied().map(Some).collect(),
                s.hi.iter().copied().map(Some).collect(),
            ),
            None => (vec![None; vars.len()], vec![None; vars.len()]),
        };
        let record =
            |values: &[f64], seen_lo: &mut Vec<Option<i64>>, seen_hi: &mut Vec<Option<i64>>| {
                // Only whole-number solutions are points an attacker must allow.
                if values.iter().any(|x| (x - x.round()).abs() >= EPS) {
                    return;
                }
                for (j, &v) in values.iter().enumerate() {
                    let v = v.round() as i64;
                    seen_lo[j] = Some(seen_lo[j].map_or(v, |m: i64| m.min(v)));
                    seen_hi[j] = Some(seen_hi[j].map_or(v, |m: i64| m.max(v)));
                }
            };
        let mut out = Vec::with_capacity(targets.len());
        for &i in targets {
            let (_, plo, phi) = outer[i];
            let lo = if seen_lo[i] == Some(plo) {
                plo
            } else {
                let (v, values) = solve(
                    vars.len(),
                    i,
                    &self.rows,
                    &self.local,
                    lower_bound,
                    integer,
                    OptimizationDirection::Minimize,
                )?;
                record(&values, &mut seen_lo, &mut seen_hi);
                v.map_or(lower_bound, |v| (v - EPS).ceil() as i64)
                    .max(lower_bound)
            };
            let unbounded = seen.is_some_and(|s| s.unbounded[i]);
            let hi = if unbounded {
                None
            } else if phi.is_some() && seen_hi[i] == phi {
                phi
            } else {
                let (v, values) = solve(
                    vars.len(),
                    i,
                    &self.rows,
                    &self.local,
                    lower_bound,
                    integer,
                    OptimizationDirection::Maximize,
                )?;
                record(&values, &mut seen_lo, &mut seen_hi);
                v.map(|v| (v + EPS).floor() as i64)
            };
            out.push((lo, hi));
        }
        Ok(out)
    }
}

/// `(quantity, lower, upper)` for every suppressed quantity in a block no
/// larger than the policy's limit; `upper` is `None` when nothing published
/// bounds it from above. Also returns how many were skipped.
pub(crate) fn intervals(
    sys: &System,
    value: &[Option<i64>],
    policy: &Policy,
) -> Result<(Vec<Found>, usize), ProtectError> {
    let (blocks, rows, row_ix) = split(sys, value)?;
    let lower_bound = if policy.protect_zeros { 0 } else { 1 };
    let mut out = Vec::new();
    let mut skipped = 0;
    for (vars, ix) in blocks.iter().zip(&row_ix) {
        let block = Block::new(vars, &rows, ix);
        if vars.len() > policy.interval_block_limit as usize {
            // Too large for integer programming: bound propagation relation by
            // relation, a sound but weaker attack, still catches cells pinned
            // by whole-number bounds such as two hidden cells that sum to 2.
            skipped += vars.len();
            out.extend(propagate(vars, &block.rows, lower_bound)?);
            continue;
        }
        // Solutions from the cheap witnesses save solves: a value seen at a
        // propagated bound is that bound.
        let seen = block.witnesses(lower_bound)?;
        let all: Vec<usize> = (0..vars.len()).collect();
        let found = block.exact(&all, lower_bound, seen.as_ref())?;
        out.extend(vars.iter().zip(found).map(|(&q, (lo, hi))| (q, lo, hi)));
    }
    Ok((out, skipped))
}

/// What [`narrow_intervals`] found.
pub(crate) struct Narrow {
    /// `(quantity, lower, upper)` of every suppressed quantity whose
    /// interval may be narrower than the policy's minimum width.
    pub(crate) found: Vec<Found>,
    /// Quantities the witnesses proved wide enough.
    pub(crate) covered: usize,
    /// Quantities in blocks above the policy's limit.
    pub(crate) skipped: usize,
    /// Suppressed quantities that no direction keeping the relations can
    /// move: derivable by rank. They are not in `found`.
    pub(crate) derivable: Vec<usize>,
    /// Whether every block's kernel was worked out, so `derivable` lists
    /// every quantity the relations determine.
    pub(crate) every_kernel: bool,
}

/// The verdict of the interval attack without computing every interval:
/// returns `(quantity, lower, upper)` only for the suppressed quantities
/// whose interval may be narrower than `policy.min_interval_width`, computed
/// as [`intervals`] would; every other quantity has a proof (two whole-number
/// solutions of the published system far enough apart, or a ray of them)
/// that its interval is wide enough. Quantities the relations determine are
/// listed apart, as derivable.
pub(crate) fn narrow_intervals(
    sys: &System,
    value: &[Option<i64>],
    policy: &Policy,
) -> Result<Narrow, ProtectError> {
    let (blocks, rows, row_ix) = split(sys, value)?;
    let lower_bound = if policy.protect_zeros { 0 } else { 1 };
    let width = i64::from(policy.min_interval_width.max(1));
    let mut out = Narrow {
        found: Vec::new(),
        covered: 0,
        skipped: 0,
        derivable: Vec::new(),
        every_kernel: true,
    };
    for (vars, ix) in blocks.iter().zip(&row_ix) {
        let block = Block::new(vars, &rows, ix);
        if vars.len() > policy.interval_block_limit as usize {
            out.skipped += vars.len();
            out.every_kernel = false;
            out.found.extend(
                propagate(vars, &block.rows, lower_bound)?
                    .into_iter()
                    .filter(|&(_, lo, hi)| hi.is_some_and(|h| h - lo < width)),
            );
            continue;
        }
        let local_rows = block.local_rows();
        let dirs = kernel(&local_rows, vars.len());
        let mut fixed = vec![false; vars.len()];
        match &dirs {
            Some(dirs) => {
                let mut moves = vec![false; vars.len()];
                for &(j, _) in dirs.iter().flatten() {
                    moves[j] = true;
                }
                for (j, m) in moves.into_iter().enumerate() {
                    if !m {
                        fixed[j] = true;
                        out.derivable.push(vars[j]);
                    }
                }
            }
            None => out.every_kernel = false,
        }
        let mut seen = block.witnesses_along(&local_rows, dirs.as_deref(), lower_bound)?;
        let mut open: Vec<usize> = (0..vars.len())
            .filter(|&j| !fixed[j] && !seen.as_ref().is_some_and(|s| s.covers(j, width)))
            .collect();
        if let Some(s) = seen.as_mut()
            && !open.is_empty()
        {
            block.widen(s, &open, lower_bound, width);
            open.retain(|&j| !s.covers(j, width));
        }
        out.covered += vars.len() - open.len();
        if open.is_empty() {
            continue;
        }
        let found = block.exact(&open, lower_bound, seen.as_ref())?;
        out.found.extend(
            open.iter()
                .zip(found)
                .map(|(&j, (lo, hi))| (vars[j], lo, hi))
                .filter(|&(_, lo, hi)| hi.is_some_and(|h| h - lo < width)),
        );
    }
    Ok(out)
}

/// Optimum of one unknown, `None` when unbounded in that direction.
fn solve(
    nvars: usize,
    target: usize,
    rows: &[&Row],
    local: &HashMap<usize, usize>,
    lower_bound: i64,
    integer: bool,
    direction: OptimizationDirection,
) -> Result<(Option<f64>, Vec<f64>), ProtectError> {
    if integer {
        // The linear relaxation first: when its optimum is a whole-number
        // point (as it usually is for table relations) it is the integer
        // optimum too, and branch and bound is not needed.
        let (v, values) = solve_once(
            nvars,
            Some(target),
            rows,
            local,
            lower_bound,
            false,
            direction,
        )?;
        if v.is_none() {
            // Unbounded relaxation: with rational data and a feasible integer
            // point (the true table), the integer programme is unbounded too.
            return Ok((None, Vec::new()));
        }
        let whole = values.iter().all(|x| (x - x.round()).abs() < EPS);
        if v.is_some() && whole && !values.is_empty() {
            return Ok((v, values));
        }
    }
    solve_once(
        nvars,
        Some(target),
        rows,
        local,
        lower_bound,
        integer,
        direction,
    )
}

fn solve_once(
    nvars: usize,
    target: Option<usize>,
    rows: &[&Row],
    local: &HashMap<usize, usize>,
    lower_bound: i64,
    integer: bool,
    direction: OptimizationDirection,
) -> Result<(Option<f64>, Vec<f64>), ProtectError> {
    let mut p = Problem::new(direction);
    let vars: Vec<_> = (0..nvars)
        .map(|i| {
            let obj = if Some(i) == target { 1.0 } else { 0.0 };
            if integer {
                p.add_integer_var(obj, (lower_bound as i32, i32::MAX / 4))
            } else {
                p.add_var(obj, (lower_bound as f64, f64::INFINITY))
            }
        })
        .collect();
    for (coef, rhs) in rows {
        let expr: Vec<_> = coef
            .iter()
            .map(|&(q, c)| (vars[local[&q]], c as f64))
            .collect();
        p.add_constraint(expr, ComparisonOp::Eq, *rhs as f64);
    }
    match p.solve() {
        Ok(microlp::SolveOutcome::Solution(s)) => {
            let v = s.objective();
            let values: Vec<f64> = vars.iter().map(|&x| s.var_value(x)).collect();
            // Integer variables are capped far above any count; hitting the cap means unbounded.
            if integer && v >= f64::from(i32::MAX / 8) {
                return Ok((None, Vec::new()));
            }
            Ok((Some(v), values))
        }
        Ok(microlp::SolveOutcome::Interrupted(_)) => {
            if integer {
                // Fall back to the linear relaxation: a valid, if weaker, attacker bound.
                solve_once(nvars, target, rows, local, lower_bound, false, direction)
            } else {
                Err(ProtectError::Unsafe(
                    "interval computation was interrupted".into(),
                ))
            }
        }
        Err(microlp::Error::Unbounded) => Ok((None, Vec::new())),
        Err(microlp::Error::Infeasible) => Err(ProtectError::Unsafe(
            "published cells are inconsistent with whole, non-negative counts".into(),
        )),
        Err(e) => Err(ProtectError::Unsafe(format!(
            "interval computation failed: {e}"
        ))),
    }
}

/// Bounds in propagation are kept within this magnitude (a lower bound is
/// lowered to it, a larger upper bound is dropped): both only loosen, and
/// sums of many such terms stay far inside `i128`.
const BOUND_CAP: i128 = 1 << 96;

/// `ceil(a / b)` for `b != 0`.
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
    queue: std::collections::VecDeque<usize>,
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
/// The result still has to pass [`is_solution`].
fn greedy_point(
    rows: &[LocalRow],
    m: usize,
    lower_bound: i64,
    first: Option<(usize, bool)>,
) -> Option<Vec<i64>> {
    Relations::new(rows, m).greedy_point(lower_bound, first)
}

/// A block's relations prepared for propagation: coefficients in `i128`
/// and, per unknown, the relations it is in.
struct Relations {
    rows: Vec<(Vec<(usize, i128)>, i128)>,
    by_var: Vec<Vec<usize>>,
}

impl Relations {
    fn new(rows: &[LocalRow], m: usize) -> Self {
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
    fn greedy_point(&self, lower_bound: i64, first: Option<(usize, bool)>) -> Option<Vec<i64>> {
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
fn propagate(
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
