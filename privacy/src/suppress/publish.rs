//! The publishing pass: from a pattern of hidden cells, publish candidates
//! largest first while every guarded cell stays underivable and no wider
//! than propagation allows.
#![allow(
    clippy::indexing_slicing,
    reason = "per-quantity vectors are all sized to the system's quantities, and candidates are quantities of that system"
)]

use std::collections::{BTreeSet, HashMap};

use super::bounds::{Bounds, Fixed};
use super::cost::{Standing, candidate_key};
use super::guard::Guard;
use crate::policy::ProtectError;
use crate::system::{System, published_basis};
use crate::table::Table;

/// Publishes hidden cells one by one, largest first, as long as every
/// guarded cell stays underivable (rank, and singletons: the member of a
/// hidden 1 may subtract it)
/// and no guarded cell becomes narrower than the policy allows under
/// whole-number bound propagation (every hidden cell at least the lower
/// bound, relations propagated to their fixed point).
///
/// `guarded` marks the hidden cells protected from the start: the primary
/// cells when starting from everything hidden, or every hidden cell when
/// thinning a pattern that already passed the audit. A candidate that
/// cannot be published joins them. A candidate that has become derivable
/// meanwhile is published, as it tells nothing new.
///
/// Also returns the grand totals and one-way margins that could not be
/// published, each with the protected quantity it would have exposed.
pub(super) fn publish_pass(
    sys: &System,
    tables: &[Table],
    values: &[i64],
    start: &[bool],
    guarded: &[bool],
    ctx: &Greedy<'_>,
) -> Result<(Vec<bool>, Vec<Refused>), ProtectError> {
    let n = sys.quantities.len();
    let basis = published_basis(sys, (0..n).filter(|&q| !start[q]))?;
    let mut watched: Vec<bool> = (0..n).map(|q| start[q] && guarded[q]).collect();
    let guarded_list: Vec<usize> = (0..n).filter(|&q| watched[q]).collect();
    let singles = ctx.singletons.then_some((sys, tables, values));
    let mut guard = Guard::new(basis, sys, guarded_list, singles)?;
    let mut slot: HashMap<usize, usize> = guard
        .protected
        .iter()
        .enumerate()
        .map(|(i, &q)| (q, i))
        .collect();
    let mut hidden = start.to_vec();
    let mut bounds = Bounds::new(
        n,
        &sys.relations,
        ctx.relations_of,
        ctx.lower,
        ctx.min_width,
    );
    for q in 0..n {
        if hidden[q] {
            bounds.hide(q, &watched);
        } else {
            bounds.fix(q, values[q], &watched, true);
            bounds.commit();
        }
    }
    if bounds.narrow_count(&watched) > 0 {
        // Not clean under propagation to begin with: nothing to build on.
        return Ok((start.to_vec(), Vec::new()));
    }
    let mut refused = Vec::new();
    let mut candidates: Vec<usize> = (0..n)
        .filter(|&q| start[q] && !ctx.primary[q] && !ctx.forced.contains(&q))
        .collect();
    candidates.sort_by_key(|&q| candidate_key(ctx.costs, ctx.size, q));
    for q in candidates {
        let own = slot.get(&q).copied();
        let r = match own {
            // The guard keeps its vectors reduced against the published span.
            Some(i) => guard.reduced[i].clone(),
            None => guard.basis.reduce(sys.vector_ref(q))?,
        };
        if r.is_zero() {
            if own.is_none() {
                bounds.fix(q, values[q], &watched, true);
                bounds.commit();
                hidden[q] = false;
            }
            continue;
        }
        if let Some(i) = own {
            guard.retired[i] = true;
            watched[q] = false;
        }
        let bounded = bounds.fix(q, values[q], &watched, false) == Fixed::Safe;
        let publish = bounded && {
            // Pivot where the fewest guarded vectors need updating and the
            // fewest published vectors hold the column (each would drag this
            // one into later reductions). The guard's verdicts depend on the
            // span alone, not on the pivots.
            let col = r
                .0
                .iter()
                .map(|&(c, _)| c)
                .min_by_key(|&c| {
                    let updates = guard.by_col.get(&c).map_or(0, Vec::len) + guard.basis.holding(c);
                    (updates, c)
                })
                .unwrap_or(0);
            guard.try_publish(r.clone(), col, false)?
        };
        if publish {
            bounds.commit();
            hidden[q] = false;
            continue;
        }
        if ctx.costs[q].0 != Standing::Ordinary {
            let why = if bounded {
                guard.exposed.map(Why::Derivable)
            } else {
                bounds.narrowed.map(Why::Narrow)
            };
            refused.push((q, why));
        }
        bounds.undo();
        watched[q] = true;
        match own {
            Some(i) => guard.retired[i] = false,
            None => {
                slot.insert(q, guard.protected.len());
                guard.protect(q, r);
            }
        }
    }
    Ok((hidden, refused))
}

/// A margin the publishing pass kept hidden, with why when known.
pub(super) type Refused = (usize, Option<Why>);

/// Why a margin stayed hidden in the publishing pass: publishing it would
/// have exposed this protected quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// Computable exactly from what is published (directly, or by the
    /// member of a hidden 1).
    Derivable(usize),
    /// Confined by whole-number bounds to a range narrower than allowed.
    Narrow(usize),
}

/// What a publishing pass needs besides the system.
pub(super) struct Greedy<'a> {
    /// Per quantity: its standing and cost of hiding.
    pub(super) costs: &'a [(Standing, i64)],
    pub(super) size: &'a [usize],
    pub(super) primary: &'a [bool],
    pub(super) forced: &'a BTreeSet<usize>,
    pub(super) singletons: bool,
    /// Per quantity, the relations it is a member of.
    pub(super) relations_of: &'a [Vec<usize>],
    /// Smallest value of a hidden quantity an attacker may assume.
    pub(super) lower: i64,
    /// Narrowest interval the policy allows (at least 1).
    pub(super) min_width: i64,
}
