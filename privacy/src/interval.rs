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
) -> Result<(Vec<(usize, i64, Option<i64>)>, usize), ProtectError> {
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
            skipped += vars.len();
            continue;
        }
        let local: HashMap<usize, usize> = vars.iter().enumerate().map(|(i, &q)| (q, i)).collect();
        let integer = vars.len() <= INTEGER_BLOCK_LIMIT;
        let my_rows: Vec<&(Vec<(usize, f64)>, f64)> = block_rows
            .get(&root)
            .map(|ix| ix.iter().map(|&i| &rows[i]).collect())
            .unwrap_or_default();
        for (i, &q) in vars.iter().enumerate() {
            let lo = solve(
                vars.len(),
                i,
                &my_rows,
                &local,
                lower_bound,
                integer,
                OptimizationDirection::Minimize,
            )?;
            let hi = solve(
                vars.len(),
                i,
                &my_rows,
                &local,
                lower_bound,
                integer,
                OptimizationDirection::Maximize,
            )?;
            let lower = lo
                .map_or(lower_bound, |v| (v - EPS).ceil() as i64)
                .max(lower_bound);
            let upper = hi.map(|v| (v + EPS).floor() as i64);
            out.push((q, lower, upper));
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
) -> Result<Option<f64>, ProtectError> {
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
            // Integer variables are capped far above any count; hitting the cap means unbounded.
            if integer && v >= f64::from(i32::MAX / 4) - 1.0 {
                return Ok(None);
            }
            Ok(Some(v))
        }
        Ok(microlp::SolveOutcome::Interrupted(_)) => {
            if integer {
                // Fall back to the linear relaxation: a valid, if weaker, attacker bound.
                solve(nvars, target, rows, local, lower_bound, false, direction)
            } else {
                Err(ProtectError::Unsafe(
                    "interval computation was interrupted".into(),
                ))
            }
        }
        Err(microlp::Error::Unbounded) => Ok(None),
        Err(microlp::Error::Infeasible) => Err(ProtectError::Unsafe(
            "published cells are inconsistent with whole, non-negative counts".into(),
        )),
        Err(e) => Err(ProtectError::Unsafe(format!(
            "interval computation failed: {e}"
        ))),
    }
}
