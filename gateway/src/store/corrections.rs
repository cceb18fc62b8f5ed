//! The rule every stored revision keeps: a correction keeps the earlier
//! revision's suppression. Every cell the latest stored revision suppressed
//! stays suppressed, so the two revisions can never be differenced to work
//! out a cell either of them hid. A correction may hide more, and may show
//! a zero where the cell is now empty.
//!
//! The store checks it inside the transaction that stores a correction (two
//! revisions in flight at once cannot skip it); verification checks it
//! earlier against the revision stored then.

use super::NormalTable;

/// A cell a correction publishes although an earlier revision suppressed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncovered {
    /// Table id.
    pub table: String,
    /// Cell index in the definition's cell order.
    pub cell: usize,
    /// The revision that suppressed it.
    pub earlier_revision: u32,
}

/// The first cell `new` publishes that `earlier` (revision
/// `earlier_revision`) suppressed, if any.
pub fn check(
    earlier_revision: u32,
    earlier: &[NormalTable],
    new: &[NormalTable],
) -> Result<(), Uncovered> {
    for e in earlier {
        let Some(n) = new.iter().find(|t| t.id == e.id) else {
            continue;
        };
        for (cell, (before, now)) in e.values.iter().zip(&n.values).enumerate() {
            // A cell that is now empty may show its zero (zeros are never
            // small counts); the earlier value stays unknown.
            if before.is_none() && now.is_some_and(|v| v != 0) {
                return Err(Uncovered {
                    table: e.id.clone(),
                    cell,
                    earlier_revision,
                });
            }
        }
    }
    Ok(())
}
