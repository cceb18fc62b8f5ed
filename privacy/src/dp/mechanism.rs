//! Mechanisms and the policy around them: which protection mode, how much
//! privacy loss per report, the sensitivity of each table, the noise scale
//! that follows, and adding the noise to a table's inner cells.

use std::fmt;
use std::str::FromStr;

use rand::TryRngCore;

use super::sample::{DiscreteGaussian, DiscreteLaplace};
use super::{BitSource, DpError, Rational};
use crate::definition::integer_range;
use crate::table::{Measure, Table, TableShape};

/// How a report is protected; the data protection officer chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProtectionMode {
    /// Small cells are suppressed; no noise (the default).
    #[default]
    Suppression,
    /// Noise from a differentially private mechanism; nothing suppressed.
    Dp,
    /// Noise first, then suppression of the noisy table (post-processing,
    /// which costs no privacy budget).
    DpAndSuppression,
}

impl ProtectionMode {
    /// Whether noise is added.
    pub fn adds_noise(self) -> bool {
        matches!(self, Self::Dp | Self::DpAndSuppression)
    }

    /// Whether small cells are suppressed.
    pub fn suppresses(self) -> bool {
        matches!(self, Self::Suppression | Self::DpAndSuppression)
    }
}

impl FromStr for ProtectionMode {
    type Err = DpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "suppression" => Ok(Self::Suppression),
            "dp" => Ok(Self::Dp),
            "dp+suppression" => Ok(Self::DpAndSuppression),
            _ => Err(DpError::InvalidNumber {
                input: s.to_string(),
                expected: "a protection mode: suppression, dp or dp+suppression".into(),
            }),
        }
    }
}

impl fmt::Display for ProtectionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Suppression => "suppression",
            Self::Dp => "dp",
            Self::DpAndSuppression => "dp+suppression",
        })
    }
}

/// The unit privacy loss is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossUnit {
    /// ε of pure differential privacy (discrete Laplace).
    Epsilon,
    /// ρ of zero-concentrated differential privacy (discrete Gaussian).
    Rho,
}

impl fmt::Display for LossUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Epsilon => "epsilon",
            Self::Rho => "rho",
        })
    }
}

impl FromStr for LossUnit {
    type Err = DpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "epsilon" | "ε" => Ok(Self::Epsilon),
            "rho" | "ρ" => Ok(Self::Rho),
            _ => Err(DpError::InvalidNumber {
                input: s.to_string(),
                expected: "a loss unit: epsilon or rho".into(),
            }),
        }
    }
}

/// An amount of privacy loss: ε (pure DP, spent by the discrete Laplace
/// mechanism) or ρ (zCDP, spent by the discrete Gaussian mechanism).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivacyLoss {
    /// ε-differential privacy.
    Epsilon(Rational),
    /// ρ-zero-concentrated differential privacy.
    Rho(Rational),
}

impl PrivacyLoss {
    /// A loss from its unit and a decimal amount such as `0.5`.
    pub fn parse(unit: LossUnit, amount: &str) -> Result<Self, DpError> {
        let a = Rational::parse_decimal(amount)?;
        Ok(match unit {
            LossUnit::Epsilon => Self::Epsilon(a),
            LossUnit::Rho => Self::Rho(a),
        })
    }

    /// The unit.
    pub fn unit(self) -> LossUnit {
        match self {
            Self::Epsilon(_) => LossUnit::Epsilon,
            Self::Rho(_) => LossUnit::Rho,
        }
    }

    /// The amount.
    pub fn amount(self) -> Rational {
        match self {
            Self::Epsilon(a) | Self::Rho(a) => a,
        }
    }

    fn with_amount(self, amount: Rational) -> Self {
        match self {
            Self::Epsilon(_) => Self::Epsilon(amount),
            Self::Rho(_) => Self::Rho(amount),
        }
    }
}

impl fmt::Display for PrivacyLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Epsilon(a) => write!(f, "ε = {a}"),
            Self::Rho(a) => write!(f, "ρ = {a}"),
        }
    }
}

/// A noise mechanism with its public parameter. Both are published with
/// the report, so that a receiver can give each cell its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DpMechanism {
    /// Discrete Laplace: P(x) ∝ e^(-|x|/scale).
    DiscreteLaplace {
        /// The scale t.
        scale: Rational,
    },
    /// Discrete Gaussian: P(x) ∝ e^(-x²/(2σ²)).
    DiscreteGaussian {
        /// The variance parameter σ² (the actual variance is slightly below).
        sigma2: Rational,
    },
}

impl DpMechanism {
    /// The mechanism's name on the wire and the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DiscreteLaplace { .. } => "discrete-laplace",
            Self::DiscreteGaussian { .. } => "discrete-gaussian",
        }
    }

    /// The public parameter: the scale (Laplace) or σ² (Gaussian).
    pub fn parameter(&self) -> Rational {
        match self {
            Self::DiscreteLaplace { scale } => *scale,
            Self::DiscreteGaussian { sigma2 } => *sigma2,
        }
    }

    /// A mechanism from its name and its parameter as written (the scale for
    /// `discrete-laplace`, σ² for `discrete-gaussian`), as a receiver reads
    /// them from a report.
    pub fn parse(name: &str, parameter: &str) -> Result<Self, DpError> {
        let p = Rational::parse_decimal(parameter)?;
        let m = match name {
            "discrete-laplace" => Self::DiscreteLaplace { scale: p },
            "discrete-gaussian" => Self::DiscreteGaussian { sigma2: p },
            _ => {
                return Err(DpError::InvalidNumber {
                    input: name.to_string(),
                    expected: "a mechanism: discrete-laplace or discrete-gaussian".into(),
                });
            }
        };
        m.sampler()?;
        Ok(m)
    }

    /// An exact sampler; fails for parameters it cannot sample exactly.
    pub fn sampler(&self) -> Result<NoiseSampler, DpError> {
        Ok(match self {
            Self::DiscreteLaplace { scale } => NoiseSampler::Laplace(DiscreteLaplace::new(*scale)?),
            Self::DiscreteGaussian { sigma2 } => {
                NoiseSampler::Gaussian(DiscreteGaussian::new(*sigma2)?)
            }
        })
    }

    /// The variance of one noise draw, for display and confidence intervals
    /// only (floating point; never used to sample). Discrete Laplace:
    /// 2a/(1-a)² with a = e^(-1/t). Discrete Gaussian: summed from the mass
    /// function for σ² < 4, else σ² (the difference is below 10^-60 there).
    pub fn variance(&self) -> f64 {
        match self {
            Self::DiscreteLaplace { scale } => {
                let a = (-1.0 / scale.to_f64()).exp();
                2.0 * a / ((1.0 - a) * (1.0 - a))
            }
            Self::DiscreteGaussian { sigma2 } => {
                let s2 = sigma2.to_f64();
                if s2 >= 4.0 {
                    return s2;
                }
                let (mut z, mut m2) = (1.0, 0.0);
                for x in 1..200 {
                    let w = (-((x * x) as f64) / (2.0 * s2)).exp();
                    z += 2.0 * w;
                    m2 += 2.0 * ((x * x) as f64) * w;
                }
                m2 / z
            }
        }
    }
}

impl fmt::Display for DpMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DiscreteLaplace { scale } => write!(f, "discrete Laplace, scale {scale}"),
            Self::DiscreteGaussian { sigma2 } => write!(f, "discrete Gaussian, σ² {sigma2}"),
        }
    }
}

/// A ready sampler for a [`DpMechanism`].
#[derive(Debug, Clone, Copy)]
pub enum NoiseSampler {
    /// Discrete Laplace.
    Laplace(DiscreteLaplace),
    /// Discrete Gaussian.
    Gaussian(DiscreteGaussian),
}

impl NoiseSampler {
    /// One noise value.
    pub fn sample<R: TryRngCore>(&self, bits: &mut BitSource<R>) -> Result<i64, DpError> {
        match self {
            Self::Laplace(l) => l.sample(bits),
            Self::Gaussian(g) => g.sample(bits),
        }
    }
}

/// The per-report privacy policy of the DP modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpPolicy {
    /// Loss per report: ε selects the discrete Laplace mechanism, ρ the
    /// discrete Gaussian.
    pub loss: PrivacyLoss,
    /// Most cells one person may count in per multi-response table (`None`:
    /// all its categories). Aggregation must enforce it with
    /// [`bound_contributions`].
    pub max_contributions: Option<u32>,
}

/// How much one person can change a table's inner cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sensitivity {
    /// Inner cells one person can count in.
    pub cells_per_person: u64,
    /// Largest absolute amount one person adds to a cell (1 for counts, the
    /// bound of the clamped column for sums).
    pub value_bound: u64,
    /// ℓ1 sensitivity: cells × bound.
    pub l1: u64,
    /// Squared ℓ2 sensitivity: cells × bound².
    pub l2_squared: u64,
}

impl Sensitivity {
    fn new(cells: u64, bound: u64, table: &str) -> Result<Self, DpError> {
        let too_large = || DpError::TooLarge {
            what: format!("the sensitivity of table {table}"),
        };
        let l1 = cells.checked_mul(bound).ok_or_else(too_large)?;
        let l2_squared = l1.checked_mul(bound).ok_or_else(too_large)?;
        if l1 == 0 {
            return Err(DpError::NotPositive {
                what: format!("the sensitivity of table {table}"),
            });
        }
        Ok(Self {
            cells_per_person: cells,
            value_bound: bound,
            l1,
            l2_squared,
        })
    }
}

/// The sensitivity of a table's values and, for sum tables, of its
/// contributor counts.
///
/// One person is in one inner cell of a table whose dimensions are all
/// additive. A non-additive (multi-response or flag) dimension lets one
/// person count in each of its categories, so the bound is the product of
/// those dimensions' category counts, or `max_contributions` when smaller.
/// A sum adds one person's value, clamped to the column's range from the
/// definition, so the bound is the larger absolute end of that range.
pub fn sensitivity(
    shape: &TableShape,
    max_contributions: Option<u32>,
) -> Result<(Sensitivity, Option<Sensitivity>), DpError> {
    let mut cells: u64 = 1;
    for d in shape.dimensions.iter().filter(|d| !d.additive) {
        cells = cells
            .checked_mul(d.categories.len() as u64)
            .ok_or_else(|| DpError::TooLarge {
                what: format!("the cells per person of table {}", shape.id),
            })?;
    }
    if let Some(k) = max_contributions {
        if k == 0 {
            return Err(DpError::NotPositive {
                what: "max_contributions".into(),
            });
        }
        cells = cells.min(u64::from(k));
    }
    match &shape.measure {
        Measure::Count => Ok((Sensitivity::new(cells, 1, &shape.id)?, None)),
        Measure::Sum(column) => {
            let (lo, hi) = integer_range(column).ok_or_else(|| DpError::UnknownRange {
                table: shape.id.clone(),
                column: column.clone(),
            })?;
            let bound = lo.unsigned_abs().max(hi.unsigned_abs());
            Ok((
                Sensitivity::new(cells, bound, &shape.id)?,
                Some(Sensitivity::new(cells, 1, &shape.id)?),
            ))
        }
    }
}

/// Keeps at most `max` categories of one person's multi-response answer:
/// the categories are put in definition order, duplicates dropped, and the
/// first `max` kept. Aggregation calls this before counting, which is what
/// makes the sensitivity bound hold.
pub fn bound_contributions(categories: &mut Vec<usize>, max: Option<u32>) {
    categories.sort_unstable();
    categories.dedup();
    if let Some(k) = max {
        categories.truncate(k as usize);
    }
}

/// One person's value of a summed column, clamped to the column's range from
/// the definition (ingest already refuses values outside it; clamping makes
/// the bound hold whatever the input).
pub fn clamp_contribution(column: &str, value: i64) -> Result<i64, DpError> {
    let (lo, hi) = integer_range(column).ok_or_else(|| DpError::UnknownRange {
        table: String::new(),
        column: column.to_string(),
    })?;
    Ok(value.clamp(lo, hi))
}

/// The noise of one table: its public parameters and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNoise {
    /// Table id.
    pub table: String,
    /// Sensitivity of the values.
    pub sensitivity: Sensitivity,
    /// Mechanism for the values.
    pub values: DpMechanism,
    /// Mechanism for the contributor counts of a sum table.
    pub contributors: Option<DpMechanism>,
    /// Privacy loss of this table (values and contributors together).
    pub loss: PrivacyLoss,
}

/// Plans the noise of a report's tables under a policy.
///
/// The per-report loss is split equally over the releases: one per count
/// table, two per sum table (its sums and its contributor counts). A
/// release with share ε' and ℓ1 sensitivity Δ₁ gets discrete Laplace noise of
/// scale Δ₁/ε'; one with share ρ' and ℓ2 sensitivity Δ₂ gets discrete
/// Gaussian noise with σ² = Δ₂²/(2ρ'). The shares add up to the report's loss
/// by composition. Scales are exact fractions; one that cannot be sampled
/// exactly (too large) is an error here, before any noise is drawn.
pub fn plan<'a>(
    shapes: impl IntoIterator<Item = &'a TableShape>,
    policy: &DpPolicy,
) -> Result<Vec<TableNoise>, DpError> {
    let total = policy.loss.amount();
    if total.is_zero() {
        return Err(DpError::NotPositive {
            what: format!("the privacy loss per report ({})", policy.loss),
        });
    }
    let mut sens = Vec::new();
    for shape in shapes {
        let (values, contributors) = sensitivity(shape, policy.max_contributions)?;
        sens.push((shape.id.clone(), values, contributors));
    }
    let releases: u64 = sens
        .iter()
        .map(|(_, _, c)| 1 + u64::from(c.is_some()))
        .sum();
    if releases == 0 {
        return Ok(Vec::new());
    }
    let share = total.checked_div(Rational::integer(releases))?;
    let mechanism = |s: &Sensitivity| -> Result<DpMechanism, DpError> {
        let m = match policy.loss {
            PrivacyLoss::Epsilon(_) => DpMechanism::DiscreteLaplace {
                scale: Rational::integer(s.l1).checked_div(share)?,
            },
            PrivacyLoss::Rho(_) => DpMechanism::DiscreteGaussian {
                sigma2: Rational::integer(s.l2_squared)
                    .checked_div(share.checked_mul(Rational::integer(2))?)?,
            },
        };
        m.sampler()?;
        Ok(m)
    };
    sens.into_iter()
        .map(|(table, values, contributors)| {
            let parts = 1 + u64::from(contributors.is_some());
            Ok(TableNoise {
                values: mechanism(&values)?,
                contributors: contributors.as_ref().map(mechanism).transpose()?,
                sensitivity: values,
                loss: policy
                    .loss
                    .with_amount(share.checked_mul(Rational::integer(parts))?),
                table,
            })
        })
        .collect()
}

/// Adds noise to a table's inner cells and recomputes every margin as the
/// sum of the noisy inner cells, so the margins add up and cost nothing
/// extra. Noisy values are signed and never clamped. For a sum table the
/// contributor counts get their own noise the same way; for a count table
/// they equal the values.
///
/// The input must be consistent (each margin the sum of its inner cells),
/// otherwise people counted only in a margin would silently vanish; an
/// inconsistent table is an error.
pub fn noise_table<R: TryRngCore>(
    table: &Table,
    noise: &TableNoise,
    bits: &mut BitSource<R>,
) -> Result<Table, DpError> {
    let shape = &table.shape;
    if noise.table != shape.id {
        return Err(DpError::TableMismatch {
            expected: noise.table.clone(),
            found: shape.id.clone(),
        });
    }
    let is_sum = matches!(shape.measure, Measure::Sum(_));
    check_consistent(shape, &table.values, "values")?;
    if is_sum {
        check_consistent(shape, &table.contributors, "contributors")?;
    }
    let values = noisy(shape, &table.values, &noise.values, bits)?;
    let contributors = if is_sum {
        let m = noise.contributors.ok_or_else(|| DpError::TableMismatch {
            expected: format!("contributor noise for sum table {}", shape.id),
            found: "none".into(),
        })?;
        noisy(shape, &table.contributors, &m, bits)?
    } else {
        values.clone()
    };
    Ok(Table {
        shape: shape.clone(),
        values,
        contributors,
    })
}

fn check_consistent(shape: &TableShape, values: &[i64], what: &str) -> Result<(), DpError> {
    for cell in (0..shape.len()).filter(|&c| !shape.is_inner(c)) {
        let sum = shape
            .inner_cells_under(cell)
            .iter()
            .try_fold(0i64, |acc, &i| acc.checked_add(*values.get(i)?));
        if sum.is_none() || sum != values.get(cell).copied() {
            return Err(DpError::InconsistentTable {
                table: shape.id.clone(),
                cell: shape.key_codes(cell).join(","),
                what: what.to_string(),
            });
        }
    }
    Ok(())
}

#[allow(
    clippy::indexing_slicing,
    reason = "`out` and `inner` have the shape's length, `exact` is the table's values of that shape, and inner cells are cells of it"
)]
fn noisy<R: TryRngCore>(
    shape: &TableShape,
    exact: &[i64],
    m: &DpMechanism,
    bits: &mut BitSource<R>,
) -> Result<Vec<i64>, DpError> {
    let sampler = m.sampler()?;
    let overflow = |cell: usize| DpError::TooLarge {
        what: format!(
            "the noisy cell {} of table {}",
            shape.key_codes(cell).join(","),
            shape.id
        ),
    };
    let mut out = vec![0i64; shape.len()];
    let inner: Vec<bool> = (0..shape.len()).map(|c| shape.is_inner(c)).collect();
    for cell in (0..shape.len()).filter(|&c| inner[c]) {
        out[cell] = exact[cell]
            .checked_add(sampler.sample(bits)?)
            .ok_or_else(|| overflow(cell))?;
    }
    for cell in (0..shape.len()).filter(|&c| !inner[c]) {
        out[cell] = shape
            .inner_cells_under(cell)
            .iter()
            .try_fold(0i64, |acc, &i| acc.checked_add(out[i]))
            .ok_or_else(|| overflow(cell))?;
    }
    Ok(out)
}

/// A report's tables after noise, with each table's public parameters.
#[derive(Debug, Clone)]
pub struct NoisedReport {
    /// Noisy tables, margins recomputed.
    pub tables: Vec<Table>,
    /// Per table: mechanism, scale and loss, in table order.
    pub noise: Vec<TableNoise>,
    /// What the report costs: the policy's loss per report.
    pub loss: PrivacyLoss,
}

/// Plans and adds the noise of a whole report (see [`plan`] and
/// [`noise_table`]). Nothing is drawn unless every table can be noised.
pub fn noise_report<R: TryRngCore>(
    tables: &[Table],
    policy: &DpPolicy,
    bits: &mut BitSource<R>,
) -> Result<NoisedReport, DpError> {
    let noise = plan(tables.iter().map(|t| t.shape.as_ref()), policy)?;
    for t in tables {
        check_consistent(&t.shape, &t.values, "values")?;
    }
    let noisy = tables
        .iter()
        .zip(&noise)
        .map(|(t, n)| noise_table(t, n, bits))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NoisedReport {
        tables: noisy,
        noise,
        loss: policy.loss,
    })
}
