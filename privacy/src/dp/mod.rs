//! Differential privacy: exact noise samplers, the mechanisms built on them,
//! noising of tables and the privacy-loss ledger.
//!
//! # Guarantee
//!
//! **Neighbouring datasets** differ by adding or removing one person: one row
//! of the participant export, with everything about that person. A report
//! made with loss ε (or ρ) changes the probability of any output by at most a
//! factor e^ε (or, for ρ, keeps every Rényi divergence of order α at most
//! ρ·α) between two such datasets. The guarantee is per project and per
//! report; the [`Ledger`] adds the losses of all releases of a year. A person
//! who appears in the exports of several projects is protected separately by
//! each project's budget; the losses add up.
//!
//! # Sensitivity, from the report definition
//!
//! - A table whose dimensions are all additive counts a person in exactly one
//!   inner cell: ℓ1 = ℓ2² = 1.
//! - A multi-response or flag dimension (`Dimension::additive == false`) lets
//!   one person count in several of its categories. The bound is the number
//!   of its categories, or the policy's `max_contributions` when smaller, in
//!   which case aggregation keeps each person's first `max_contributions`
//!   categories in definition order ([`bound_contributions`]). With `m`
//!   cells: ℓ1 = m, ℓ2² = m.
//! - A sum table (children under 18) adds one person's value, clamped to the
//!   column's range in [`crate::definition::integer_range`] (ingest refuses
//!   values outside it; [`clamp_contribution`] clamps anyway). With bound
//!   `B = max(|low|, |high|)`: ℓ1 = m·B and ℓ2² = m·B². Its contributor
//!   counts are a second release with ℓ1 = ℓ2² = m.
//!
//! # Budget split and margins
//!
//! The per-report loss is split equally over the releases of the report (one
//! per count table, two per sum table). Each release adds discrete Laplace
//! noise of scale ℓ1/ε' (ε'-DP) or discrete Gaussian noise with σ² = ℓ2²/(2ρ')
//! (ρ'-zCDP: for an integer shift Δ the discrete Gaussian's Rényi divergence
//! of order α is at most αΔ²/(2σ²), and divergences add over independent
//! coordinates, giving ρ' = ℓ2²/(2σ²)). Sequential composition makes the report
//! ε- or ρ-private. Only inner cells are noised; every margin is then the sum
//! of noisy inner cells, so margins add up and are free (post-processing).
//! Noisy counts are signed; nothing is clamped before summing.
//!
//! # Exactness
//!
//! The samplers follow Canonne, Kamath and Steinke (2020), algorithms 1–3,
//! with integer and rational arithmetic only; uniform integers come from
//! rejection over raw bits ([`BitSource`]); production randomness is the
//! operating system's generator ([`OsRandom`]). Scales are exact fractions
//! parsed from decimals ([`Rational::parse_decimal`]); arithmetic is checked
//! and too-large parameters are refused before any draw.

mod ledger;
mod mechanism;
mod random;
mod rational;
mod sample;
#[cfg(test)]
mod stats;
#[cfg(test)]
mod tests;

pub use ledger::{Ledger, LedgerError, Spend};
pub use mechanism::{
    DpMechanism, DpPolicy, LossUnit, NoiseSampler, NoisedReport, PrivacyLoss, ProtectionMode,
    Sensitivity, TableNoise, bound_contributions, clamp_contribution, noise_report, noise_table,
    plan, sensitivity,
};
pub use random::{BitSource, OsRandom};
pub use rational::Rational;
pub use sample::{DiscreteGaussian, DiscreteLaplace, MAX_SCALE, bernoulli_exp, geometric};

/// Why a parameter was refused or noise could not be drawn.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpError {
    /// Text that is not a valid number or name.
    #[error("`{input}`: {expected}")]
    InvalidNumber {
        /// The text as given.
        input: String,
        /// What was expected instead.
        expected: String,
    },
    /// A value that must be positive is zero or negative.
    #[error("{what} must be positive")]
    NotPositive {
        /// The value, described.
        what: String,
    },
    /// A value too large for exact arithmetic or for exact sampling.
    #[error("too large: {what}")]
    TooLarge {
        /// The value, described.
        what: String,
    },
    /// The operating system's random generator failed.
    #[error("the random number generator failed: {0}")]
    Rng(String),
    /// A summed column without a declared range, so its sensitivity is unbounded.
    #[error(
        "table {table}: column {column} has no declared range, so its sum cannot be given a sensitivity"
    )]
    UnknownRange {
        /// Table id.
        table: String,
        /// Column.
        column: String,
    },
    /// Noise parameters for another table.
    #[error("noise parameters for {expected} applied to table {found}")]
    TableMismatch {
        /// The table the parameters are for.
        expected: String,
        /// The table given.
        found: String,
    },
    /// A table whose margin is not the sum of its inner cells.
    #[error("table {table}: the {what} of cell ({cell}) is not the sum of its inner cells")]
    InconsistentTable {
        /// Table id.
        table: String,
        /// Category codes of the cell.
        cell: String,
        /// `values` or `contributors`.
        what: String,
    },
}
