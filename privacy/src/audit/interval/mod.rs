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
//! ([`crate::audit::witness`]): whole-number solutions reached from one LP point
//! along the integer directions that keep every relation. They seed the
//! exact intervals (a value seen at a propagated bound is that bound), and
//! [`narrow_intervals`] skips every cell they already prove wide enough.

//!
//! [`block`] splits the unknowns and works per block, with bounds from
//! [`propagation`] and optima from [`programme`].

mod block;
mod programme;
mod propagation;

use block::{Block, split};
use propagation::propagate;

use crate::audit::witness::kernel;
use crate::policy::{Policy, ProtectError};
use crate::system::System;

/// One suppressed quantity's interval: `(quantity, lower, upper)`.
type Found = (usize, i64, Option<i64>);

/// `(quantity, lower, upper)` for every suppressed quantity in a block no
/// larger than the policy's limit; `upper` is `None` when nothing published
/// bounds it from above. Also returns how many were skipped, and the
/// largest skipped block.
pub(crate) fn intervals(
    sys: &System,
    value: &[Option<i64>],
    policy: &Policy,
) -> Result<(Vec<Found>, usize, usize), ProtectError> {
    let (blocks, rows, row_ix) = split(sys, value)?;
    let lower_bound = if policy.protect_zeros { 0 } else { 1 };
    let mut out = Vec::new();
    let mut skipped = 0;
    let mut largest = 0;
    for (vars, ix) in blocks.iter().zip(&row_ix) {
        let block = Block::new(vars, &rows, ix);
        if vars.len() > policy.interval_block_limit as usize {
            // Too large for integer programming: bound propagation relation by
            // relation, a sound but weaker attack, still catches cells pinned
            // by whole-number bounds such as two hidden cells that sum to 2.
            skipped += vars.len();
            largest = largest.max(vars.len());
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
    Ok((out, skipped, largest))
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
    /// The largest such block.
    pub(crate) largest: usize,
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
        largest: 0,
        derivable: Vec::new(),
        every_kernel: true,
    };
    for (vars, ix) in blocks.iter().zip(&row_ix) {
        let block = Block::new(vars, &rows, ix);
        if vars.len() > policy.interval_block_limit as usize {
            out.skipped += vars.len();
            out.largest = out.largest.max(vars.len());
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
                    if let Some(m) = moves.get_mut(j) {
                        *m = true;
                    }
                }
                for ((m, f), &q) in moves.into_iter().zip(fixed.iter_mut()).zip(vars) {
                    if !m {
                        *f = true;
                        out.derivable.push(q);
                    }
                }
            }
            None => out.every_kernel = false,
        }
        let mut seen = block.witnesses_along(&local_rows, dirs.as_deref(), lower_bound)?;
        let mut open: Vec<usize> = fixed
            .iter()
            .enumerate()
            .filter(|&(j, &f)| !f && !seen.as_ref().is_some_and(|s| s.covers(j, width)))
            .map(|(j, _)| j)
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
                .filter_map(|(&j, (lo, hi))| Some((*vars.get(j)?, lo, hi)))
                .filter(|&(_, lo, hi)| hi.is_some_and(|h| h - lo < width)),
        );
    }
    Ok(out)
}
