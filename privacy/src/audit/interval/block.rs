//! Independent blocks of suppressed quantities (connected through
//! relations) and what is computed per block: witnesses, and exact
//! intervals as far as the block's size allows.
#![allow(
    clippy::indexing_slicing,
    reason = "union-find parents and local unknowns are indexed by quantities of the system and positions in the block that `split` built"
)]

use std::collections::{BTreeMap, HashMap};

use microlp::OptimizationDirection;

use super::programme::{EPS, solve, solve_once};
use super::propagation::{Relations, Row, greedy_point, propagate};
use crate::audit::witness::{LocalRow, Seen, explore, is_solution, kernel};
use crate::policy::ProtectError;
use crate::system::System;

/// Blocks up to this many unknowns are solved as integer programs.
const INTEGER_BLOCK_LIMIT: usize = 40;
/// Passes of the walk along the kernel directions.
const WALK_ROUNDS: usize = 3;

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// The unknowns of one independent block and its relations.
pub(super) struct Block<'a> {
    pub(super) vars: &'a [usize],
    pub(super) rows: Vec<&'a Row>,
    local: HashMap<usize, usize>,
}

/// Suppressed quantities in independent blocks (sorted by their first
/// quantity), with the relations on unknowns.
pub(super) type Blocks = (Vec<Vec<usize>>, Vec<Row>, Vec<Vec<usize>>);

pub(super) fn split(sys: &System, value: &[Option<i64>]) -> Result<Blocks, ProtectError> {
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
    pub(super) fn new(vars: &'a [usize], rows: &'a [Row], ix: &[usize]) -> Self {
        Block {
            vars,
            rows: ix.iter().map(|&i| &rows[i]).collect(),
            local: vars.iter().enumerate().map(|(i, &q)| (q, i)).collect(),
        }
    }

    /// Feasible whole-number solutions of the block from one LP point and
    /// the integer directions that keep every relation. `Ok(None)` when no
    /// whole-number point was found cheaply (the caller then solves exactly).
    pub(super) fn witnesses(&self, lower_bound: i64) -> Result<Option<Seen>, ProtectError> {
        let local_rows = self.local_rows();
        let dirs = kernel(&local_rows, self.vars.len());
        self.witnesses_along(&local_rows, dirs.as_deref(), lower_bound)
    }

    /// Whole-number solutions from one first point along the kernel
    /// directions `dirs` of `local_rows` (`None`: none are known).
    pub(super) fn witnesses_along(
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
    pub(super) fn local_rows(&self) -> Vec<LocalRow> {
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
    pub(super) fn widen(&self, seen: &mut Seen, targets: &[usize], lower_bound: i64, width: i64) {
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
    pub(super) fn exact(
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
