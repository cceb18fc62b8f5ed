//! The integer (or linear) programme for one end of one cell's interval,
//! solved with microlp.

use std::collections::HashMap;

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use super::propagation::Row;
use crate::policy::ProtectError;

/// Tolerance for reading a floating-point optimum as a whole number.
pub(super) const EPS: f64 = 1e-6;

/// Optimum of one unknown, `None` when unbounded in that direction.
pub(super) fn solve(
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

/// One solve of the block's programme: optimising unknown `target` (or
/// just finding a feasible point when `None`) in `direction`.
pub(super) fn solve_once(
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
            .map(|&(q, c)| Some((*vars.get(*local.get(&q)?)?, c as f64)))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ProtectError::Unsafe("a relation names a cell outside its block".into())
            })?;
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
