//! Distribution tests of every sampler layer against closed-form or
//! numerically normalised mass functions, and tests of the mechanism layer
//! on the real report definition.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::stats::{chi_square_p, mean_var, pmf_bins};
use super::*;
use crate::definition::Definition;
use crate::table::{Dimension, Measure, Table, TableShape};

/// p-values below this fail a test; with fixed seeds the outcome is
/// deterministic, and a wrong distribution at these sample sizes gives
/// p-values many orders of magnitude smaller.
const P_MIN: f64 = 1e-4;

fn bits(seed: u64) -> BitSource<ChaCha20Rng> {
    BitSource::new(ChaCha20Rng::seed_from_u64(seed))
}

fn q(s: &str) -> Rational {
    Rational::parse_decimal(s).unwrap()
}

#[test]
fn bernoulli_exp_has_probability_e_to_the_minus_x() {
    let mut b = bits(10);
    let n = 200_000u64;
    assert!((0..1000).all(|_| bernoulli_exp(&mut b, Rational::ZERO).unwrap()));
    for x in ["0.5", "1", "3", "2.5", "1/3"] {
        let g = q(x);
        let hits: u64 = (0..n)
            .map(|_| u64::from(bernoulli_exp(&mut b, g).unwrap()))
            .sum();
        let p = (-g.to_f64()).exp();
        let pv = chi_square_p(&[(hits, n as f64 * p), (n - hits, n as f64 * (1.0 - p))]);
        assert!(
            pv > P_MIN,
            "x = {x}: {hits} of {n} (expected {}), p-value {pv}",
            n as f64 * p
        );
    }
    // A large exponent is practically never true, and does not overflow.
    assert!(!(0..100).any(|_| bernoulli_exp(&mut b, Rational::integer(u64::MAX)).unwrap()));
}

#[test]
fn geometric_matches_its_mass_function() {
    let mut b = bits(11);
    for scale in ["1", "2", "0.5", "10/3", "1/7"] {
        let s = q(scale);
        let a = (-1.0 / s.to_f64()).exp();
        let samples: Vec<i64> = (0..100_000)
            .map(|_| geometric(&mut b, s).unwrap() as i64)
            .collect();
        let hi = (30.0 * s.to_f64()).ceil() as i64 + 10;
        let pmf = |y: i64| {
            if y < 0 {
                0.0
            } else {
                (1.0 - a) * a.powi(y as i32)
            }
        };
        let p = chi_square_p(&pmf_bins(&samples, pmf, 0, hi));
        assert!(p > P_MIN, "scale {scale}: p-value {p}");
        let (mean, _) = mean_var(&samples);
        let expected = a / (1.0 - a);
        let sd = a.sqrt() / (1.0 - a);
        assert!(
            (mean - expected).abs() < 5.0 * sd / (samples.len() as f64).sqrt(),
            "scale {scale}: mean {mean}, expected {expected}"
        );
    }
}

fn laplace_pmf(t: f64) -> impl Fn(i64) -> f64 {
    let a = (-1.0 / t).exp();
    move |x: i64| (1.0 - a) / (1.0 + a) * a.powi(x.unsigned_abs() as i32)
}

#[test]
fn discrete_laplace_matches_its_mass_function_mean_and_variance() {
    let mut b = bits(12);
    let n = 200_000usize;
    for scale in ["0.5", "1", "1.25", "2", "7.5", "1/3"] {
        let t = q(scale).to_f64();
        let sampler = DiscreteLaplace::new(q(scale)).unwrap();
        let samples: Vec<i64> = (0..n).map(|_| sampler.sample(&mut b).unwrap()).collect();
        let hi = (40.0 * t).ceil() as i64 + 10;
        let p = chi_square_p(&pmf_bins(&samples, laplace_pmf(t), -hi, hi));
        assert!(p > P_MIN, "scale {scale}: p-value {p}");

        let a = (-1.0 / t).exp();
        let var_expected = 2.0 * a / ((1.0 - a) * (1.0 - a));
        let (mean, var) = mean_var(&samples);
        let se_mean = (var_expected / n as f64).sqrt();
        assert!(mean.abs() < 5.0 * se_mean, "scale {scale}: mean {mean}");
        assert!(
            (var / var_expected - 1.0).abs() < 0.03,
            "scale {scale}: variance {var}, expected {var_expected}"
        );

        let p0 = (1.0 - a) / (1.0 + a);
        let zeros = samples.iter().filter(|&&x| x == 0).count() as f64;
        let se0 = (p0 * (1.0 - p0) / n as f64).sqrt();
        assert!(
            (zeros / n as f64 - p0).abs() < 5.0 * se0,
            "scale {scale}: P(0) {} vs {p0}",
            zeros / n as f64
        );
    }
}

/// The discrete Gaussian's mass function, normalised numerically.
fn gaussian_pmf(sigma2: f64) -> (impl Fn(i64) -> f64, f64) {
    let w = move |x: i64| (-((x * x) as f64) / (2.0 * sigma2)).exp();
    let range = (40.0 * sigma2.sqrt()).ceil() as i64 + 10;
    let z: f64 = (-range..=range).map(w).sum();
    let var: f64 = (-range..=range).map(|x| (x * x) as f64 * w(x)).sum::<f64>() / z;
    (move |x: i64| w(x) / z, var)
}

#[test]
fn discrete_gaussian_matches_its_mass_function_mean_and_variance() {
    let mut b = bits(13);
    let n = 200_000usize;
    for sigma2 in ["0.5", "2/3", "1", "4", "12.25", "30"] {
        let s2 = q(sigma2).to_f64();
        let sampler = DiscreteGaussian::new(q(sigma2)).unwrap();
        let samples: Vec<i64> = (0..n).map(|_| sampler.sample(&mut b).unwrap()).collect();
        let (pmf, var_expected) = gaussian_pmf(s2);
        let hi = (12.0 * s2.sqrt()).ceil() as i64 + 5;
        let p = chi_square_p(&pmf_bins(&samples, pmf, -hi, hi));
        assert!(p > P_MIN, "σ² {sigma2}: p-value {p}");
        let (mean, var) = mean_var(&samples);
        assert!(
            mean.abs() < 5.0 * (var_expected / n as f64).sqrt(),
            "σ² {sigma2}: mean {mean}"
        );
        assert!(
            (var / var_expected - 1.0).abs() < 0.03,
            "σ² {sigma2}: variance {var}, expected {var_expected}"
        );
        // The mechanism's display variance agrees with the mass function.
        let shown = DpMechanism::DiscreteGaussian { sigma2: q(sigma2) }.variance();
        assert!(
            (shown / var_expected - 1.0).abs() < 1e-9,
            "σ² {sigma2}: {shown} vs {var_expected}"
        );
    }
}

#[test]
fn samplers_are_reproducible_with_a_seed_and_differ_across_seeds() {
    let l = DiscreteLaplace::new(q("2")).unwrap();
    let draw = |seed| {
        let mut b = bits(seed);
        (0..50)
            .map(|_| l.sample(&mut b).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
}

fn definition() -> Definition {
    Definition::embedded()
}

/// A consistent table with pseudo-random inner counts.
fn filled(shape: &Arc<TableShape>, seed: u64, max: u64) -> Table {
    let mut b = bits(seed);
    let mut t = Table::zeros(shape.clone());
    for cell in (0..shape.len()).filter(|&c| shape.is_inner(c)) {
        let v = b.uniform_below(u128::from(max) + 1).unwrap() as i64;
        if shape.measure == Measure::Count {
            t.add_inner(&shape.key(cell), v);
        } else {
            // A sum: `v` people with one child each, added one person at a time.
            for _ in 0..v {
                t.add_inner(&shape.key(cell), 1);
            }
        }
    }
    t
}

#[test]
fn sensitivity_follows_the_definition() {
    let def = definition();
    let shape = |id: &str| def.table(id).unwrap().shape.clone();
    let (s, c) = sensitivity(&shape("status"), None).unwrap();
    assert_eq!((s.l1, s.l2_squared, c), (1, 1, None));
    // Multi-response: one person in up to all 16 programme measures, or the policy's bound.
    let programme = shape("programme_measures");
    let cats = programme
        .dimensions
        .iter()
        .find(|d| !d.additive)
        .unwrap()
        .categories
        .len() as u64;
    assert_eq!(sensitivity(&programme, None).unwrap().0.l1, cats);
    let (s3, _) = sensitivity(&programme, Some(3)).unwrap();
    assert_eq!((s3.cells_per_person, s3.l1, s3.l2_squared), (3, 3, 3));
    assert_eq!(sensitivity(&shape("incentive"), None).unwrap().0.l1, 3);
    // Sums: the clamped column range bounds one person's value.
    let (sum, contributors) = sensitivity(&shape("children"), None).unwrap();
    let (lo, hi) = crate::definition::integer_range("children_under_18").unwrap();
    let bound = lo.unsigned_abs().max(hi.unsigned_abs());
    assert_eq!((sum.l1, sum.l2_squared), (bound, bound * bound));
    assert_eq!(contributors.unwrap().l1, 1);
    assert!(sensitivity(&programme, Some(0)).is_err());
    let odd = TableShape::new(
        "odd".into(),
        vec![],
        Measure::Sum("no_such_column".into()),
        "total".into(),
    );
    assert!(matches!(
        sensitivity(&odd, None),
        Err(DpError::UnknownRange { .. })
    ));
}

#[test]
fn contribution_bounds_keep_the_first_categories() {
    let mut cats = vec![7, 2, 9, 2, 0];
    bound_contributions(&mut cats, Some(3));
    assert_eq!(cats, vec![0, 2, 7]);
    let mut all = vec![3, 1];
    bound_contributions(&mut all, None);
    assert_eq!(all, vec![1, 3]);
    assert_eq!(clamp_contribution("children_under_18", 45).unwrap(), 20);
    assert_eq!(clamp_contribution("children_under_18", -3).unwrap(), 0);
    assert!(clamp_contribution("name", 1).is_err());
}

#[test]
fn the_report_loss_is_split_over_every_release() {
    let def = definition();
    let shapes: Vec<&TableShape> = def.tables.iter().map(|t| t.shape.as_ref()).collect();
    let releases = shapes
        .iter()
        .map(|s| {
            if matches!(s.measure, Measure::Sum(_)) {
                2
            } else {
                1
            }
        })
        .sum::<u64>();
    for policy in [
        DpPolicy {
            loss: PrivacyLoss::Epsilon(q("1")),
            max_contributions: None,
        },
        DpPolicy {
            loss: PrivacyLoss::Rho(q("0.5")),
            max_contributions: Some(4),
        },
    ] {
        let noise = plan(shapes.iter().copied(), &policy).unwrap();
        assert_eq!(noise.len(), shapes.len());
        let total = noise
            .iter()
            .try_fold(Rational::ZERO, |acc, n| acc.checked_add(n.loss.amount()))
            .unwrap();
        assert_eq!(total, policy.loss.amount());
        let share = policy
            .loss
            .amount()
            .checked_div(Rational::integer(releases))
            .unwrap();
        for n in &noise {
            let s = n.sensitivity;
            match (policy.loss, n.values) {
                (PrivacyLoss::Epsilon(_), DpMechanism::DiscreteLaplace { scale }) => {
                    // scale · ε' = ℓ1
                    assert_eq!(
                        scale.checked_mul(share).unwrap(),
                        Rational::integer(s.l1),
                        "{}",
                        n.table
                    );
                }
                (PrivacyLoss::Rho(_), DpMechanism::DiscreteGaussian { sigma2 }) => {
                    // 2ρ'σ² = ℓ2²
                    let lhs = sigma2
                        .checked_mul(share)
                        .unwrap()
                        .checked_mul(Rational::integer(2))
                        .unwrap();
                    assert_eq!(lhs, Rational::integer(s.l2_squared), "{}", n.table);
                }
                other => panic!("wrong mechanism {other:?}"),
            }
            assert_eq!(n.contributors.is_some(), n.table == "children");
        }
    }
}

#[test]
fn tiny_losses_and_huge_scales_are_errors_not_panics() {
    let def = definition();
    let shapes: Vec<&TableShape> = def.tables.iter().map(|t| t.shape.as_ref()).collect();
    let tiny = DpPolicy {
        loss: PrivacyLoss::Epsilon(q("0.0000000001")),
        max_contributions: None,
    };
    assert!(matches!(
        plan(shapes.iter().copied(), &tiny),
        Err(DpError::TooLarge { .. })
    ));
    let tiny_rho = DpPolicy {
        loss: PrivacyLoss::Rho(q("1/18446744073709551615")),
        max_contributions: None,
    };
    assert!(matches!(
        plan(shapes.iter().copied(), &tiny_rho),
        Err(DpError::TooLarge { .. })
    ));
    let zero = DpPolicy {
        loss: PrivacyLoss::Epsilon(Rational::ZERO),
        max_contributions: None,
    };
    assert!(matches!(
        plan(shapes.iter().copied(), &zero),
        Err(DpError::NotPositive { .. })
    ));
    assert!(DpMechanism::parse("discrete-laplace", "18446744073709551615").is_err());
    assert!(DpMechanism::parse("discrete-gaussian", "99999999999999999999999").is_err());
    assert!(DpMechanism::parse("discrete-laplace", "0").is_err());
    assert!(DpMechanism::parse("laplace", "2").is_err());
    assert_eq!(
        DpMechanism::parse("discrete-gaussian", "2.25").unwrap(),
        DpMechanism::DiscreteGaussian { sigma2: q("9/4") }
    );

    // Counts at the edge of 64 bits overflow into an error, not a wrap.
    let shape = Arc::new(TableShape::new(
        "edge".into(),
        vec![Arc::new(Dimension::flat("gender", &["female", "male"]))],
        Measure::Count,
        "total".into(),
    ));
    let mut t = Table::zeros(shape.clone());
    t.add_inner(&[1], i64::MAX / 2);
    t.add_inner(&[2], i64::MAX / 2);
    let noise = plan(
        [shape.as_ref()],
        &DpPolicy {
            loss: PrivacyLoss::Epsilon(q("0.001")),
            max_contributions: None,
        },
    )
    .unwrap();
    let mut b = bits(5);
    let mut errors = 0;
    for _ in 0..50 {
        match noise_table(&t, &noise[0], &mut b) {
            Ok(n) => assert!(n.margins_add_up()),
            Err(e) => {
                assert!(matches!(e, DpError::TooLarge { .. }), "{e}");
                errors += 1;
            }
        }
    }
    // The total is i64::MAX - 1: positive noise on both cells overflows it about a quarter of the time.
    assert!(errors > 0);
}

#[test]
fn margins_add_up_after_noise_and_noise_is_signed() {
    let def = definition();
    let mut b = bits(21);
    let tables: Vec<Table> = def
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| filled(&t.shape, i as u64, 6))
        .collect();
    for policy in [
        DpPolicy {
            loss: PrivacyLoss::Epsilon(q("0.5")),
            max_contributions: None,
        },
        DpPolicy {
            loss: PrivacyLoss::Rho(q("0.125")),
            max_contributions: Some(5),
        },
    ] {
        let report = noise_report(&tables, &policy, &mut b).unwrap();
        assert_eq!(report.tables.len(), tables.len());
        assert_eq!(report.loss, policy.loss);
        let mut negative = 0;
        let mut changed = 0;
        for (exact, noisy) in tables.iter().zip(&report.tables) {
            assert!(noisy.margins_add_up(), "table {}", exact.shape.id);
            let shape = &exact.shape;
            for cell in 0..shape.len() {
                // Every cell, non-additive dimensions included, is the sum of its noisy inner cells.
                let sum: i64 = shape
                    .inner_cells_under(cell)
                    .iter()
                    .map(|&i| noisy.values[i])
                    .sum();
                assert_eq!(
                    noisy.values[cell],
                    sum,
                    "{} {:?}",
                    shape.id,
                    shape.key_codes(cell)
                );
                let csum: i64 = shape
                    .inner_cells_under(cell)
                    .iter()
                    .map(|&i| noisy.contributors[i])
                    .sum();
                assert_eq!(noisy.contributors[cell], csum);
            }
            negative += noisy.values.iter().filter(|&&v| v < 0).count();
            changed += noisy
                .values
                .iter()
                .zip(&exact.values)
                .filter(|(a, b)| a != b)
                .count();
            if shape.measure == Measure::Count {
                assert_eq!(noisy.values, noisy.contributors);
            } else {
                assert_ne!(
                    noisy.values, noisy.contributors,
                    "sum and contributor noise are independent"
                );
            }
        }
        // Small counts with noise of this scale go below zero, and stay there.
        assert!(negative > 0);
        assert!(changed > tables.iter().map(|t| t.values.len()).sum::<usize>() / 2);
    }
}

#[test]
fn noise_is_centred_on_the_exact_counts() {
    // Many draws of one small table: the average noisy cell approaches the
    // exact one, and the noise variance of an inner cell is the mechanism's.
    let def = definition();
    let shape = def.table("status").unwrap().shape.clone();
    let exact = filled(&shape, 3, 9);
    let noise = plan(
        [shape.as_ref()],
        &DpPolicy {
            loss: PrivacyLoss::Epsilon(q("0.5")),
            max_contributions: None,
        },
    )
    .unwrap();
    let mut b = bits(22);
    let rounds = 4000;
    let mut sums = vec![0f64; shape.len()];
    let mut inner_noise = Vec::new();
    for _ in 0..rounds {
        let n = noise_table(&exact, &noise[0], &mut b).unwrap();
        for (c, v) in n.values.iter().enumerate() {
            sums[c] += *v as f64;
            if shape.is_inner(c) {
                inner_noise.push(v - exact.values[c]);
            }
        }
    }
    let var = noise[0].values.variance();
    for (c, sum) in sums.iter().enumerate() {
        let k = shape.inner_cells_under(c).len() as f64;
        let se = (k * var / rounds as f64).sqrt();
        let mean = sum / rounds as f64;
        assert!(
            (mean - exact.values[c] as f64).abs() < 5.0 * se,
            "{:?}: {mean} vs {}",
            shape.key_codes(c),
            exact.values[c]
        );
    }
    let (m, v) = mean_var(&inner_noise);
    assert!(m.abs() < 5.0 * (var / inner_noise.len() as f64).sqrt());
    assert!((v / var - 1.0).abs() < 0.05, "{v} vs {var}");
}

#[test]
fn inconsistent_or_mismatched_tables_are_refused() {
    let def = definition();
    let shape = def.table("country").unwrap().shape.clone();
    let policy = DpPolicy {
        loss: PrivacyLoss::Epsilon(q("1")),
        max_contributions: None,
    };
    let noise = plan([shape.as_ref()], &policy).unwrap();
    let mut t = filled(&shape, 4, 5);
    let mut b = bits(23);
    assert!(noise_table(&t, &noise[0], &mut b).is_ok());
    // A person counted in a margin but in no inner cell would vanish.
    t.values[0] += 1;
    let e = noise_table(&t, &noise[0], &mut b).unwrap_err();
    assert!(matches!(e, DpError::InconsistentTable { .. }), "{e}");
    assert!(e.to_string().contains("country"));
    assert!(noise_report(std::slice::from_ref(&t), &policy, &mut b).is_err());
    let other = filled(&def.table("status").unwrap().shape, 1, 3);
    assert!(matches!(
        noise_table(&other, &noise[0], &mut b),
        Err(DpError::TableMismatch { .. })
    ));
}

#[test]
fn protection_modes_parse_and_print() {
    for (text, mode) in [
        ("suppression", ProtectionMode::Suppression),
        ("dp", ProtectionMode::Dp),
        ("dp+suppression", ProtectionMode::DpAndSuppression),
    ] {
        let parsed: ProtectionMode = text.parse().unwrap();
        assert_eq!(parsed, mode);
        assert_eq!(parsed.to_string(), text);
    }
    assert_eq!(ProtectionMode::default(), ProtectionMode::Suppression);
    assert!(
        ProtectionMode::DpAndSuppression.adds_noise()
            && ProtectionMode::DpAndSuppression.suppresses()
    );
    assert!(!ProtectionMode::Suppression.adds_noise() && !ProtectionMode::Dp.suppresses());
    assert!("DP".parse::<ProtectionMode>().is_err());
    assert_eq!(
        PrivacyLoss::parse(LossUnit::Rho, "0.25")
            .unwrap()
            .to_string(),
        "ρ = 0.25"
    );
    assert!(PrivacyLoss::parse(LossUnit::Epsilon, "-1").is_err());
}
