//! The protection rules the data protection officer sets, and why
//! protection can fail. Every other part of the crate reads these; this
//! module reads nothing of the crate.

use serde::{Deserialize, Serialize};

/// The protection rules, as the data protection officer sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// k: a count of 1..k-1 people is never published; a sum needs k contributors.
    pub min_count: u32,
    /// Suppress zero counts too (a zero in a line can reveal that everybody
    /// else shares one category).
    pub protect_zeros: bool,
    /// The narrowest interval an attacker may compute for a suppressed cell:
    /// 1 means "not exact", 2 rules out "either 1 or 2" as well.
    pub min_interval_width: u32,
    /// Treat a suppressed cell of 1 as known to its member when protecting the others.
    pub singletons: bool,
    /// Blocks of connected suppressed cells up to this size get the integer
    /// interval attack; larger blocks (only in very large tables) get the rank
    /// and singleton tests and are reported as not interval-checked.
    pub interval_block_limit: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_count: 5,
            protect_zeros: false,
            min_interval_width: 1,
            singletons: true,
            interval_block_limit: 400,
        }
    }
}

impl Policy {
    /// Whether a published value with this many contributors breaks the primary rule.
    pub fn is_primary(&self, value: i64, contributors: i64, is_sum: bool) -> bool {
        let n = if is_sum { contributors } else { value };
        let k = i64::from(self.min_count);
        (n >= 1 && n < k) || (n == 0 && self.protect_zeros)
    }
}

/// Why protection could not produce a safe report.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtectError {
    /// Two cells for the same quantity carry different values: an aggregation bug.
    #[error("quantity {quantity} has different values in tables {first} and {second}")]
    Inconsistent {
        /// Canonical quantity.
        quantity: String,
        /// One table.
        first: String,
        /// Another table.
        second: String,
    },
    /// A table's margins do not add up.
    #[error("table {0}: margins do not add up")]
    Margins(String),
    /// The tables could not be made safe.
    #[error("no safe suppression pattern found: {0}")]
    Unsafe(String),
    /// Exact arithmetic left the 128-bit range.
    #[error("arithmetic overflow in exact elimination")]
    Overflow,
}
