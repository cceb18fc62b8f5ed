//! The integer-interval attack: for each suppressed quantity, the smallest
//! and largest value consistent with the published cells, the relations, and
//! the facts that counts are whole numbers, never negative, and at least 1
//! when the policy publishes zeros (so anything suppressed is not zero).
//!
//! Suppressed quantities split into independent blocks (connected through
//! relations); each block is solved on its own with microlp, as an integer
//! program when small and as a linear program rounded inwards otherwise.

use std::collections::{BTreeMap, HashMap};

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use crate::gauss::System;
use crate::protect::{Policy, ProtectError};

/// One suppressed quantity's interval: `(quantity, lower, upper)`.
type Found = (usize, i64, Option<i64>);

/// Blocks up to this many unknowns are solved as integer programs.
const INTEGER_BLOCK_LIMIT: usize = 40;
const EPS: f64 = 1e-6;

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// `(quantity, lower, upper)` for every suppressed quantity in a block no
/// larger than the policy's limit; `upper` is `None` when nothing published
/// bounds it from above. Also returns how many were skipped.
pub(crate) fn intervals(
    sys: &System,
    value: &[Option<i64>],
    policy: &Policy,
) -> Result<(Vec<Found>, usize), ProtectError> {
    let n = value.len();
    let mut parent: Vec<usize> = (0..n).collect();
    // Each relation as coefficients on unknowns and a right-hand side.
    let mut rows: Vec<(Vec<(usize, f64)>, f64)> = Vec::new();
    for (total, parts) in &sys.relations {
        let mut coef: BTreeMap<usize, i64> = BTreeMap::new();
        let mut rhs: i64 = 0;
        for (q, sign) in parts
            .iter()
            .map(|&p| (p, 1i64))
            .chain(std::iter::once((*total, -1i64)))
        {
            match value[q] {
                Some(v) => rhs -= sign * v,
                None => *coef.entry(q).or_default() += sign,
            }
        }
        coef.retain(|_, c| *c != 0);
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
        let vars: Vec<usize> = coef.keys().copied().collect();
        for w in vars.windows(2) {
            let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
            parent[a] = b;
        }
        rows.push((
            coef.into_iter().map(|(q, c)| (q, c as f64)).collect(),
            rhs as f64,
        ));
    }
    let lower_bound = if policy.protect_zeros { 0 } else { 1 };
    let mut blocks: HashMap<usize, Vec<usize>> = HashMap::new();
    for q in (0..n).filter(|&q| value[q].is_none()) {
        let r = find(&mut parent, q);
        blocks.entry(r).or_default().push(q);
    }
    let mut block_rows: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (coef, _)) in rows.iter().enumerate() {
        let r = find(&mut parent, coef[0].0);
        block_rows.entry(r).or_default().push(i);
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    let mut roots: Vec<usize> = blocks.keys().copied().collect();
    roots.sort_unstable();
    for root in roots {
        let vars = &blocks[&root];
        if vars.len() > policy.interval_block_limit as usize {
            // Too large for integer programming: bound propagation relation by
            // relation, a sound but weaker attack, still catches cells pinned
            // by whole-number bounds such as two hidden cells that sum to 2.
            skipped += vars.len();
            let my_rows: Vec<&(Vec<(usize, f64)>, f64)> = block_rows
                .get(&root)
                .map(|ix| ix.iter().map(|&i| &rows[i]).collect())
                .unwrap_or_default();
            out.extend(propagate(vars, &my_rows, lower_bound));
            continue;
        }
        let local: HashMap<usize, usize> = vars.iter().enumerate().map(|(i, &q)| (q, i)).collect();
        let integer = vars.len() <= INTEGER_BLOCK_LIMIT;
        let my_rows: Vec<&(Vec<(usize, f64)>, f64)> = block_rows
            .get(&root)
            .map(|ix| ix.iter().map(|&i| &rows[i]).collect())
            .unwrap_or_default();
        // Propagation gives valid outer bounds. Every solution found along
        // the way is feasible, so a value it reaches at an outer bound is that
        // bound; only the remaining ends need a solve of their own.
        let outer = propagate(vars, &my_rows, lower_bound);
        let mut seen_lo: Vec<Option<i64>> = vec![None; vars.len()];
        let mut seen_hi: Vec<Option<i64>> = vec![None; vars.len()];
        let mut known_lo: Vec<Option<i64>> = vec![None; vars.len()];
        let mut known_hi: Vec<Option<Option<i64>>> = vec![None; vars.len()];
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
        for (i, &(_, plo, phi)) in outer.iter().enumerate() {
            if known_lo[i].is_none() && seen_lo[i] == Some(plo) {
                known_lo[i] = Some(plo);
            }
            if known_lo[i].is_none() {
                let (v, values) = solve(
                    vars.len(),
                    i,
                    &my_rows,
                    &local,
                    lower_bound,
                    integer,
                    OptimizationDirection::Minimize,
                )?;
                record(&values, &mut seen_lo, &mut seen_hi);
                known_lo[i] = Some(
                    v.map_or(lower_bound, |v| (v - EPS).ceil() as i64)
                        .max(lower_bound),
                );
            }
            if known_hi[i].is_none() && phi.is_some() && seen_hi[i] == phi {
                known_hi[i] = Some(phi);
            }
            if known_hi[i].is_none() {
                let (v, values) = solve(
                    vars.len(),
                    i,
                    &my_rows,
                    &local,
                    lower_bound,
                    integer,
                    OptimizationDirection::Maximize,
                )?;
                record(&values, &mut seen_lo, &mut seen_hi);
                known_hi[i] = Some(v.map(|v| (v + EPS).floor() as i64));
            }
        }
        for (i, &q) in vars.iter().enumerate() {
            out.push((q, known_lo[i].unwrap_or(lower_bound), known_hi[i].flatten()));
        }
    }
    Ok((out, skipped))
}

/// Optimum of one unknown, `None` when unbounded in that direction.
fn solve(
    nvars: usize,
    target: usize,
    rows: &[&(Vec<(usize, f64)>, f64)],
    local: &HashMap<usize, usize>,
    lower_bound: i64,
    integer: bool,
    direction: OptimizationDirection,
) -> Result<(Option<f64>, Vec<f64>), ProtectError> {
    if integer {
        // The linear relaxation first: when its optimum is a whole-number
        // point (as it usually is for table relations) it is the integer
        // optimum too, and branch and bound is not needed.
        let (v, values) = solve_once(nvars, target, rows, local, lower_bound, false, direction)?;
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
    solve_once(nvars, target, rows, local, lower_bound, integer, direction)
}

fn solve_once(
    nvars: usize,
    target: usize,
    rows: &[&(Vec<(usize, f64)>, f64)],
    local: &HashMap<usize, usize>,
    lower_bound: i64,
    integer: bool,
    direction: OptimizationDirection,
) -> Result<(Option<f64>, Vec<f64>), ProtectError> {
    let mut p = Problem::new(direction);
    let vars: Vec<_> = (0..nvars)
        .map(|i| {
            let obj = if i == target { 1.0 } else { 0.0 };
            if integer {
                p.add_integer_var(obj, (lower_bound as i32, i32::MAX / 4))
            } else {
                p.add_var(obj, (lower_bound as f64, f64::INFINITY))
            }
        })
        .collect();
    for (coef, rhs) in rows {
        let expr: Vec<_> = coef.iter().map(|&(q, c)| (vars[local[&q]], c)).collect();
        p.add_constraint(expr, ComparisonOp::Eq, *rhs);
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

/// Interval propagation: each relation bounds each of its unknowns by the
/// others' bounds, repeated until nothing tightens (or a round limit).
/// Coefficients are +1 or -1 (a part or a total).
fn propagate(
    vars: &[usize],
    rows: &[&(Vec<(usize, f64)>, f64)],
    lower_bound: i64,
) -> Vec<(usize, i64, Option<i64>)> {
    let mut lo: HashMap<usize, i64> = vars.iter().map(|&q| (q, lower_bound)).collect();
    let mut hi: HashMap<usize, Option<i64>> = vars.iter().map(|&q| (q, None)).collect();
    for _round in 0..50 {
        let mut changed = false;
        for (coef, rhs) in rows {
            let rhs = *rhs as i64;
            for &(v, cv) in coef.iter() {
                // cv * x_v = rhs - sum_{u != v} cu * x_u
                let (mut rest_min, mut rest_max) = (Some(0i64), Some(0i64));
                for &(u, cu) in coef.iter() {
                    if u == v {
                        continue;
                    }
                    let (l, h) = (lo[&u], hi[&u]);
                    if cu > 0.0 {
                        rest_min = rest_min.map(|m| m + l);
                        rest_max = rest_max.zip(h).map(|(m, h)| m + h);
                    } else {
                        rest_min = rest_min.zip(h).map(|(m, h)| m - h);
                        rest_max = rest_max.map(|m| m - l);
                    }
                }
                // cv * x_v lies in [rhs - rest_max, rhs - rest_min].
                let (a, b) = (rest_max.map(|m| rhs - m), rest_min.map(|m| rhs - m));
                let (new_lo, new_hi) = if cv > 0.0 {
                    (a, b)
                } else {
                    (b.map(|x| -x), a.map(|x| -x))
                };
                if let Some(l) = new_lo
                    && l > lo[&v]
                {
                    lo.insert(v, l);
                    changed = true;
                }
                if let Some(h) = new_hi
                    && hi[&v].is_none_or(|old| h < old)
                {
                    hi.insert(v, Some(h));
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    vars.iter().map(|&q| (q, lo[&q], hi[&q])).collect()
}
