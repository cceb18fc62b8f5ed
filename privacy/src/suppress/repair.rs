//! Repair rounds: cells the audit still flags after the publishing pass
//! (mostly cells pinned by whole-number bounds, which integer programming
//! finds and propagation does not) get complementary suppressions next to
//! them, round by round, until the audit passes.
#![allow(
    clippy::indexing_slicing,
    reason = "per-quantity vectors are all sized to the system's quantities, and relation indices are the system's relations"
)]

use std::cmp::Reverse;
use std::collections::BTreeSet;

use crate::audit::{AuditReport, PublishedTable, audit_system};
use crate::policy::{Policy, ProtectError};
use crate::system::System;
use crate::table::Table;

/// What the repair rounds need to know about the quantities.
pub(super) struct Repair<'a> {
    pub(super) sys: &'a System,
    /// The exact tables.
    pub(super) tables: &'a [Table],
    pub(super) policy: &'a Policy,
    /// Per quantity: its count, or its contributors for a sum.
    pub(super) weight: &'a [i64],
    /// Per quantity: a zero the policy publishes, never hidden.
    pub(super) zero_published: &'a [bool],
    /// Per quantity, the relations it is a member of.
    pub(super) relations_of: &'a [Vec<usize>],
    /// Per quantity, the quantities sharing a relation with it.
    pub(super) neighbours: &'a [Vec<usize>],
    /// Per quantity: protected in its own right (primary, or kept hidden
    /// from an earlier revision).
    pub(super) guarded: &'a [bool],
}

/// Adds complementary suppressions to `suppressed` until the audit (with
/// the exact values) passes; returns that audit.
pub(super) fn repair(r: &Repair<'_>, suppressed: &mut [bool]) -> Result<AuditReport, ProtectError> {
    let Repair {
        sys,
        tables,
        policy,
        weight,
        zero_published,
        relations_of,
        neighbours,
        guarded,
    } = *r;
    // Hiding more never reveals more, so cells the audit still flags (mostly
    // cells pinned by whole-number bounds) are fixed by adding complementary
    // suppressions to this pattern, round by round, without starting over.
    let mut tried: BTreeSet<usize> = BTreeSet::new();
    // The cells the last full audit flagged, while the complements chosen
    // for them are checked by the (cheap) rank test alone.
    let mut pending: Option<Vec<usize>> = None;
    // Complements published again as pointless: not tried again unless
    // nothing else is left.
    let mut rejected: BTreeSet<usize> = BTreeSet::new();
    let picker = Picker {
        sys,
        weight,
        zero_published,
        relations_of,
        neighbours,
    };
    for _ in 0..1000 {
        let full = pending.is_none();
        let published = published_view(sys, tables, suppressed);
        let (report, failing, determined) =
            audit_system(sys, &published, policy, Some(tables), full)?;
        if full && report.passed {
            return Ok(report);
        }
        // A complementary suppression the published cells add up to
        // protects nothing: publish it (that tells nothing new, not even to
        // whole-number bounds), and choose another complement for the cells
        // it was meant to free. One pinned only by whole-number bounds stays
        // hidden: publishing it would hand the rank test a new equation.
        let pointless: Vec<usize> = determined
            .iter()
            .copied()
            .filter(|&q| !guarded[q] && suppressed[q])
            .collect();
        if !pointless.is_empty() {
            for &q in &pointless {
                suppressed[q] = false;
                tried.insert(q);
                rejected.insert(q);
            }
            let targets: Vec<usize> = pending
                .take()
                .unwrap_or(failing)
                .into_iter()
                .filter(|q| !pointless.contains(q) && suppressed[*q])
                .collect();
            picker.pick(&targets, suppressed, &mut tried);
            pending = Some(targets);
            continue;
        }
        if !full {
            // The new complements survive the rank test: audit in full.
            pending = None;
            continue;
        }
        if !picker.pick(&failing, suppressed, &mut tried) {
            // With more cells hidden since, a complement that was pointless
            // then may help now.
            for q in std::mem::take(&mut rejected) {
                tried.remove(&q);
            }
            if !picker.pick(&failing, suppressed, &mut tried) {
                return Err(ProtectError::Unsafe(report.failures.join("; ")));
            }
        }
        pending = Some(failing);
    }
    Err(ProtectError::Unsafe(
        "no safe pattern within 1000 rounds of complementary suppression".into(),
    ))
}

/// Chooses complementary suppressions next to flagged cells.
struct Picker<'a> {
    sys: &'a System,
    weight: &'a [i64],
    zero_published: &'a [bool],
    relations_of: &'a [Vec<usize>],
    neighbours: &'a [Vec<usize>],
}

impl Picker<'_> {
    /// Hides complements for some of the `failing` cells (about an eighth
    /// of them, as one new hidden cell often frees a whole chain); returns
    /// whether anything remains to be tried.
    fn pick(
        &self,
        failing: &[usize],
        suppressed: &mut [bool],
        tried: &mut BTreeSet<usize>,
    ) -> bool {
        let Picker {
            sys,
            weight,
            zero_published,
            relations_of,
            neighbours,
        } = *self;
        let failing_set: BTreeSet<usize> = failing.iter().copied().collect();
        let mut added = false;
        let mut added_now: BTreeSet<usize> = BTreeSet::new();
        let budget = (failing.len() / 8).max(1);
        for &q in failing {
            if added_now.len() >= budget {
                break;
            }
            // One new hidden cell often frees a whole chain of pinned cells:
            // leave cells next to this round's additions for the next audit.
            if relations_of[q].iter().any(|&ri| {
                let (t, p) = &sys.relations[ri];
                added_now.contains(t) || p.iter().any(|m| added_now.contains(m))
            }) {
                added = true;
                continue;
            }
            // Prefer a relation whose hidden members are all flagged: that is
            // the one pinning them, and one more hidden cell there frees them.
            let members = |ri: usize| {
                let (t, p) = &sys.relations[ri];
                std::iter::once(*t).chain(p.iter().copied())
            };
            let pinning = relations_of[q]
                .iter()
                .copied()
                .filter(|&ri| members(ri).all(|m| !suppressed[m] || failing_set.contains(&m)));
            let open = |c: &usize| !suppressed[*c] && !zero_published[*c] && !tried.contains(c);
            let pick = pinning
                .flat_map(members)
                .filter(open)
                .min_by_key(|&c| (weight[c], Reverse(c)))
                .or_else(|| {
                    neighbours[q]
                        .iter()
                        .copied()
                        .filter(open)
                        .min_by_key(|&c| (weight[c], Reverse(c)))
                });
            // Everything next to it already hidden: look further out, through
            // hidden cells, for the nearest cells that can still be hidden
            // (in a very small project this reaches the grand totals).
            let pick = pick.or_else(|| {
                let mut seen: BTreeSet<usize> = BTreeSet::from([q]);
                let mut layer = vec![q];
                while !layer.is_empty() {
                    let mut next = Vec::new();
                    for &x in &layer {
                        for &y in &neighbours[x] {
                            if seen.insert(y) {
                                next.push(y);
                            }
                        }
                    }
                    if let Some(c) = next
                        .iter()
                        .copied()
                        .filter(open)
                        .min_by_key(|&c| (weight[c], Reverse(c)))
                    {
                        return Some(c);
                    }
                    layer = next.into_iter().filter(|&y| suppressed[y]).collect();
                }
                None
            });
            if let Some(c) = pick {
                suppressed[c] = true;
                tried.insert(c);
                added_now.insert(c);
                added = true;
            }
        }
        added
    }
}

/// The tables as published with the quantities in `suppressed` hidden.
fn published_view(sys: &System, tables: &[Table], suppressed: &[bool]) -> Vec<PublishedTable> {
    tables
        .iter()
        .enumerate()
        .map(|(t, table)| PublishedTable {
            shape: table.shape.clone(),
            cells: table
                .values
                .iter()
                .enumerate()
                .map(|(c, &v)| (!suppressed[sys.cell_q[t][c]]).then_some(v))
                .collect(),
        })
        .collect()
}
