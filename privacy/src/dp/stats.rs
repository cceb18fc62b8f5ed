//! Goodness-of-fit helpers for the sampler tests: Pearson's chi-square with
//! its p-value from the regularised incomplete gamma function, and binning
//! of integer samples against a probability mass function so that every bin
//! expects at least five draws. Floating point is fine here: it only judges
//! samples, it never makes them.

use std::collections::BTreeMap;

/// ln Γ(a) for a half-integer or whole `a > 0`, by Γ(a+1) = a·Γ(a) from
/// Γ(1) = 1 and Γ(1/2) = √π.
fn ln_gamma_half(a: f64) -> f64 {
    let twice = (2.0 * a).round() as i64;
    assert!(
        twice >= 1 && (2.0 * a - twice as f64).abs() < 1e-9,
        "a = {a}"
    );
    let (mut x, mut acc) = if twice % 2 == 0 {
        (1.0, 0.0)
    } else {
        (0.5, 0.5 * std::f64::consts::PI.ln())
    };
    while x < a - 1e-9 {
        acc += x.ln();
        x += 1.0;
    }
    acc
}

/// Q(a, x) = Γ(a, x)/Γ(a), the upper regularised incomplete gamma function,
/// by its power series below a + 1 and its continued fraction above.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let prefactor = (-x + a * x.ln() - ln_gamma_half(a)).exp();
    if x < a + 1.0 {
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut n = 1.0;
        while term > sum * 1e-16 {
            term *= x / (a + n);
            sum += term;
            n += 1.0;
        }
        (1.0 - prefactor * sum).max(0.0)
    } else {
        // Modified Lentz evaluation of the continued fraction.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let i = i as f64;
            let an = -i * (i - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        prefactor * h
    }
}

/// The p-value of Pearson's chi-square statistic over `(observed, expected)`
/// bins, with one degree of freedom fewer than bins (nothing is estimated).
pub(super) fn chi_square_p(bins: &[(u64, f64)]) -> f64 {
    assert!(bins.len() >= 2, "need at least two bins");
    let stat: f64 = bins.iter().map(|&(o, e)| (o as f64 - e).powi(2) / e).sum();
    let df = (bins.len() - 1) as f64;
    gamma_q(df / 2.0, stat / 2.0)
}

/// Equal expectations for counts of a uniform draw.
pub(super) fn uniform_bins(counts: &[u64]) -> Vec<(u64, f64)> {
    let n: u64 = counts.iter().sum();
    let e = n as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c, e)).collect()
}

/// Bins integer samples against `pmf` over `lo..=hi` (which must hold all but
/// a negligible part of the mass): consecutive values are pooled until their
/// expected count reaches 5, samples below `lo` or above `hi` fall into the
/// first or last bin, and a short last bin joins the one before it.
pub(super) fn pmf_bins(
    samples: &[i64],
    pmf: impl Fn(i64) -> f64,
    lo: i64,
    hi: i64,
) -> Vec<(u64, f64)> {
    let n = samples.len() as f64;
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for &s in samples {
        *counts.entry(s.clamp(lo, hi)).or_default() += 1;
    }
    let mass: f64 = (lo..=hi).map(&pmf).sum();
    assert!(
        (mass - 1.0).abs() < 1e-9,
        "the range {lo}..={hi} holds only {mass} of the mass"
    );
    let mut bins: Vec<(u64, f64)> = Vec::new();
    let (mut obs, mut exp) = (0u64, 0.0f64);
    for x in lo..=hi {
        obs += counts.get(&x).copied().unwrap_or(0);
        exp += n * pmf(x);
        if exp >= 5.0 {
            bins.push((obs, exp));
            (obs, exp) = (0, 0.0);
        }
    }
    if let Some(last) = bins.last_mut() {
        last.0 += obs;
        last.1 += exp;
    }
    bins
}

/// Mean and (population) variance of samples.
pub(super) fn mean_var(samples: &[i64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_values_match_tables() {
        // Two degrees of freedom: p = e^(-x/2) exactly.
        for x in [0.5, 2.0, 7.3, 30.0] {
            let p = gamma_q(1.0, x / 2.0);
            assert!((p - (-x / 2.0f64).exp()).abs() < 1e-12, "{x}: {p}");
        }
        // 5 % critical values from statistical tables.
        for (df, crit) in [
            (1.0, 3.841_459),
            (3.0, 7.814_728),
            (10.0, 18.307_04),
            (25.0, 37.652_48),
            (100.0, 124.342_1),
        ] {
            let p = gamma_q(df / 2.0, crit / 2.0);
            assert!((p - 0.05).abs() < 1e-5, "df {df}: {p}");
        }
        // 0.1 % for 20 degrees of freedom.
        assert!((gamma_q(10.0, 45.314_75 / 2.0) - 1e-3).abs() < 1e-8);
        assert!((ln_gamma_half(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma_half(1.5) - (std::f64::consts::PI.sqrt() / 2.0).ln()).abs() < 1e-12);
    }

    #[test]
    fn chi_square_rejects_a_wrong_distribution() {
        // 1,000 draws of a fair die that lands on six twice as often.
        let counts = [143, 143, 143, 143, 142, 286];
        assert!(chi_square_p(&uniform_bins(&counts)) < 1e-10);
        let fair = [170, 165, 168, 163, 167, 167];
        assert!(chi_square_p(&uniform_bins(&fair)) > 0.5);
    }

    #[test]
    fn bins_pool_small_expectations() {
        let samples = vec![0i64; 100];
        // pmf: 0 with 0.97, 1 and 2 with 0.01 each, 3 with 0.01.
        let pmf = |x: i64| match x {
            0 => 0.97,
            1..=3 => 0.01,
            _ => 0.0,
        };
        let bins = pmf_bins(&samples, pmf, 0, 3);
        assert_eq!(bins.len(), 1);
        assert_eq!(bins[0].0, 100);
        assert!((bins[0].1 - 100.0).abs() < 1e-9);
    }
}
