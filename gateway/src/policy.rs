//! What the directorate requires of a report beyond the definition's own
//! rules: the weakest differential-privacy noise it accepts.

use prikk_privacy::dp::{DpMechanism, Rational};

/// The weakest noise the gateway accepts from a report made in a
/// differential-privacy mode, per mechanism: the discrete Laplace's scale t
/// and the discrete Gaussian's σ² must each be at least this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpMinimum {
    /// Smallest accepted discrete Laplace scale.
    pub laplace_scale: Rational,
    /// Smallest accepted discrete Gaussian σ².
    pub gaussian_sigma2: Rational,
}

impl Default for DpMinimum {
    /// Scale 1 and σ² 1: the noise of ε = 1 or ρ = 1/2 per table for a
    /// count table where one person counts once.
    fn default() -> Self {
        Self {
            laplace_scale: Rational::ONE,
            gaussian_sigma2: Rational::ONE,
        }
    }
}

impl DpMinimum {
    /// The minimum parameter for a mechanism's kind.
    pub(crate) fn for_mechanism(&self, m: &DpMechanism) -> Rational {
        match m {
            DpMechanism::DiscreteLaplace { .. } => self.laplace_scale,
            DpMechanism::DiscreteGaussian { .. } => self.gaussian_sigma2,
        }
    }
}
