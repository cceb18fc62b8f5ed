//! Exact samplers after Canonne, Kamath and Steinke (2020), "The Discrete
//! Gaussian for Differential Privacy", algorithms 1 to 3.
//!
//! Every probability below is a ratio of integers and every coin is flipped
//! by comparing a uniform integer with an integer: there is no floating
//! point anywhere, so the output distribution is exactly the one stated
//! (Mironov 2012 showed how rounding in floating-point noise leaks the data).
//! Arithmetic is checked or done in 256 bits; parameters that could overflow
//! are refused when a sampler is made, and the only errors a draw can return
//! are a failing random source and events of probability below e^-(2^64).

use rand::TryRngCore;

use super::{BitSource, DpError, Rational};

/// The largest scale (Laplace) or standard deviation bound (Gaussian) a
/// sampler accepts: 2^40, about 1.1·10^12. Samples then stay far inside
/// 64-bit integers (exceeding 2^63 has probability below e^-(2^23)).
pub const MAX_SCALE: u64 = 1 << 40;

/// The exponent `γ = whole + num/den` of a coin with probability e^-γ.
/// `saturated` marks a whole part of 2^128 or more, counted as 2^128 - 1.
#[derive(Debug, Clone, Copy)]
struct Exponent {
    whole: u128,
    saturated: bool,
    num: u128,
    den: u128,
}

/// Algorithm 1 for γ = num/den in [0, 1]: count coins of probability γ/k
/// until one fails; the count is odd with probability e^-γ.
fn bernoulli_exp_fraction<R: TryRngCore>(
    bits: &mut BitSource<R>,
    num: u128,
    den: u128,
) -> Result<bool, DpError> {
    let mut k: u128 = 1;
    while bits.bernoulli_over(num, den, k)? {
        // k grows by one per success; reaching 2^128 would take e^-(2^128) luck.
        k = k.checked_add(1).ok_or_else(|| DpError::TooLarge {
            what: "a coin counter".into(),
        })?;
    }
    Ok(k % 2 == 1)
}

/// Algorithm 1 for any γ ≥ 0: e^-γ = (e^-1)^⌊γ⌋ · e^-(γ - ⌊γ⌋).
fn bernoulli_exp_parts<R: TryRngCore>(
    bits: &mut BitSource<R>,
    g: Exponent,
) -> Result<bool, DpError> {
    let mut i: u128 = 0;
    while i < g.whole {
        if !bernoulli_exp_fraction(bits, 1, 1)? {
            return Ok(false);
        }
        i += 1;
    }
    if g.saturated {
        return Err(DpError::TooLarge {
            what: "an exponent of 2^128 or more survived 2^128 coins".into(),
        });
    }
    bernoulli_exp_fraction(bits, g.num, g.den)
}

/// A coin that is true with probability exactly e^-γ, for a rational γ ≥ 0.
pub fn bernoulli_exp<R: TryRngCore>(
    bits: &mut BitSource<R>,
    gamma: Rational,
) -> Result<bool, DpError> {
    let (n, d) = (u128::from(gamma.numer()), u128::from(gamma.denom()));
    bernoulli_exp_parts(
        bits,
        Exponent {
            whole: n / d,
            saturated: false,
            num: n % d,
            den: d,
        },
    )
}

/// Checks a scale against [`MAX_SCALE`] and positivity.
fn check_scale(what: &str, scale: Rational, limit: u64) -> Result<(), DpError> {
    if scale.is_zero() {
        return Err(DpError::NotPositive {
            what: format!("{what} {scale}"),
        });
    }
    if scale > Rational::integer(limit) {
        return Err(DpError::TooLarge {
            what: format!("{what} {scale} is above the limit of {limit}"),
        });
    }
    Ok(())
}

/// A geometric draw: `y ≥ 0` with probability `(1 - a)·a^y`, `a = e^(-1/scale)`.
///
/// With `scale = t/s`: draw `u < t` uniformly and keep it with probability
/// e^(-u/t), add `t·v` for `v` counted by e^-1 coins, so that `x = u + t·v`
/// is geometric with ratio e^(-1/t); then `⌊x/s⌋` has ratio e^(-s/t).
pub fn geometric<R: TryRngCore>(bits: &mut BitSource<R>, scale: Rational) -> Result<u128, DpError> {
    check_scale("the geometric scale", scale, MAX_SCALE)?;
    geometric_unchecked(bits, u128::from(scale.numer()), u128::from(scale.denom()))
}

fn geometric_unchecked<R: TryRngCore>(
    bits: &mut BitSource<R>,
    t: u128,
    s: u128,
) -> Result<u128, DpError> {
    let overflow = || DpError::TooLarge {
        what: "a geometric draw beyond 2^128".into(),
    };
    loop {
        let u = bits.uniform_below(t)?;
        if !bernoulli_exp_fraction(bits, u, t)? {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp_fraction(bits, 1, 1)? {
            v = v.checked_add(1).ok_or_else(overflow)?;
        }
        let x = t
            .checked_mul(v)
            .and_then(|tv| tv.checked_add(u))
            .ok_or_else(overflow)?;
        return Ok(x / s);
    }
}

/// The discrete Laplace distribution with scale `t`: an integer `x` with
/// probability proportional to e^(-|x|/t), that is `(1-a)/(1+a)·a^|x|` with
/// `a = e^(-1/t)` (algorithm 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteLaplace {
    t: u128,
    s: u128,
    scale: Rational,
}

impl DiscreteLaplace {
    /// A sampler for a positive scale of at most [`MAX_SCALE`].
    pub fn new(scale: Rational) -> Result<Self, DpError> {
        check_scale("the discrete Laplace scale", scale, MAX_SCALE)?;
        Ok(Self {
            t: u128::from(scale.numer()),
            s: u128::from(scale.denom()),
            scale,
        })
    }

    /// The scale.
    pub fn scale(&self) -> Rational {
        self.scale
    }

    /// One sample: a geometric magnitude with a fair sign, rejecting a
    /// negative zero so that zero is not counted twice.
    pub fn sample<R: TryRngCore>(&self, bits: &mut BitSource<R>) -> Result<i64, DpError> {
        loop {
            let y = geometric_unchecked(bits, self.t, self.s)?;
            let negative = bits.coin()?;
            if negative && y == 0 {
                continue;
            }
            let y = i64::try_from(y).map_err(|_| DpError::TooLarge {
                what: "a Laplace draw beyond 2^63".into(),
            })?;
            return Ok(if negative { -y } else { y });
        }
    }
}

/// The discrete Gaussian distribution with variance parameter σ²: an
/// integer `x` with probability proportional to e^(-x²/(2σ²)) (algorithm 3).
///
/// Draws discrete Laplace proposals with scale `t = ⌊σ⌋ + 1` and keeps `y`
/// with probability e^-γ, `γ = (|y| - σ²/t)² / (2σ²)`. With σ² = n/d this is
/// `γ = (|y|·d·t - n)² / (2·n·d·t²)`, computed exactly in 256 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteGaussian {
    sigma2: Rational,
    laplace: DiscreteLaplace,
    /// d·t
    dt: u128,
    /// n
    n: u128,
    /// 2·n·d·t², the denominator of γ.
    den: u128,
}

impl DiscreteGaussian {
    /// A sampler for a positive σ² with σ at most [`MAX_SCALE`]. A σ² whose
    /// numerator and denominator are both large (so that 2·n·d·t² exceeds
    /// 128 bits) is refused.
    pub fn new(sigma2: Rational) -> Result<Self, DpError> {
        if sigma2.is_zero() {
            return Err(DpError::NotPositive {
                what: format!("the discrete Gaussian σ² {sigma2}"),
            });
        }
        // ⌊σ⌋ = ⌊√⌊σ²⌋⌋ exactly.
        let t = sigma2.floor().isqrt() + 1;
        check_scale(
            "the discrete Gaussian σ bound ⌊σ⌋+1",
            Rational::integer(t),
            MAX_SCALE,
        )?;
        let laplace = DiscreteLaplace::new(Rational::integer(t))?;
        let (n, d, t) = (
            u128::from(sigma2.numer()),
            u128::from(sigma2.denom()),
            u128::from(t),
        );
        let too_large = || DpError::TooLarge {
            what: format!(
                "the discrete Gaussian σ² {sigma2}: 2·numerator·denominator·t² exceeds 128 bits"
            ),
        };
        let dt = d * t;
        let den = n
            .checked_mul(2)
            .and_then(|x| x.checked_mul(d))
            .and_then(|x| x.checked_mul(t))
            .and_then(|x| x.checked_mul(t))
            .ok_or_else(too_large)?;
        Ok(Self {
            sigma2,
            laplace,
            dt,
            n,
            den,
        })
    }

    /// σ².
    pub fn sigma2(&self) -> Rational {
        self.sigma2
    }

    /// The acceptance exponent γ for a proposal of magnitude `y`.
    fn exponent(&self, y: u128) -> Result<Exponent, DpError> {
        let ydt = y.checked_mul(self.dt).ok_or_else(|| DpError::TooLarge {
            what: "a Gaussian proposal".into(),
        })?;
        let a = ydt.abs_diff(self.n);
        let (hi, lo) = mul_wide(a, a);
        Ok(match div_wide(hi, lo, self.den) {
            Some((q, r)) => Exponent {
                whole: q,
                saturated: false,
                num: r,
                den: self.den,
            },
            None => Exponent {
                whole: u128::MAX,
                saturated: true,
                num: 0,
                den: 1,
            },
        })
    }

    /// One sample.
    pub fn sample<R: TryRngCore>(&self, bits: &mut BitSource<R>) -> Result<i64, DpError> {
        loop {
            let y = self.laplace.sample(bits)?;
            let g = self.exponent(u128::from(y.unsigned_abs()))?;
            if bernoulli_exp_parts(bits, g)? {
                return Ok(y);
            }
        }
    }
}

/// The full 256-bit product of two 128-bit numbers as (high, low) halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & MASK);
    let (b1, b0) = (b >> 64, b & MASK);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & MASK) + (p10 & MASK);
    let lo = (p00 & MASK) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `(hi·2^128 + lo) / d` and the remainder, or `None` when the quotient
/// needs more than 128 bits. `d` must be non-zero.
fn div_wide(hi: u128, lo: u128, d: u128) -> Option<(u128, u128)> {
    if hi == 0 {
        return Some((lo / d, lo % d));
    }
    if hi >= d {
        return None;
    }
    // Long division, one bit at a time; the running remainder stays below
    // 2d, and a bit shifted out of the top is carried into the comparison.
    let mut rem = hi;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    Some((q, rem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn wide_arithmetic_is_exact() {
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(mul_wide(1 << 64, 1 << 64), (1, 0));
        assert_eq!(mul_wide(12345, 67890), (0, 12345 * 67890));
        let cases = [
            (u128::MAX / 3, u128::MAX / 7),
            (1u128 << 100, (1u128 << 90) + 12345),
            (987_654_321_987_654_321, 1 << 70),
        ];
        for (a, b) in cases {
            let (hi, lo) = mul_wide(a, b);
            // Divide the product back by each factor.
            assert_eq!(div_wide(hi, lo, a), Some((b, 0)), "{a} * {b}");
            assert_eq!(div_wide(hi, lo, b), Some((a, 0)), "{a} * {b}");
            // Off by one leaves a remainder.
            let (lo1, carry) = lo.overflowing_add(5);
            let hi1 = hi + u128::from(carry);
            let (q, r) = div_wide(hi1, lo1, a).unwrap();
            assert_eq!((q, r), (b, 5));
        }
        assert_eq!(div_wide(0, 100, 7), Some((14, 2)));
        assert_eq!(div_wide(5, 0, 5), None);
        // 4·2^128 / 5: q·5 + r must give back 4·2^128.
        let (q, r) = div_wide(4, 0, 5).unwrap();
        let (h, l) = mul_wide(q, 5);
        let (l2, c) = l.overflowing_add(r);
        assert_eq!((h + u128::from(c), l2), (4, 0));
        assert!(r < 5);
    }

    #[test]
    fn gaussian_exponent_matches_the_formula() {
        // σ² = 5/4: t = 2, γ(y) = (y - 5/8)² / (5/2) = (8y - 5)² / 160.
        let g = DiscreteGaussian::new(Rational::new(5, 4).unwrap()).unwrap();
        for y in 0..20u128 {
            let e = g.exponent(y).unwrap();
            let num = (8 * y).abs_diff(5).pow(2);
            // The exponent is kept over 2·n·d·t² = 2·5·4·4 = 160.
            assert_eq!(e.den, 160);
            assert_eq!((e.whole, e.num), (num / 160, num % 160), "y = {y}");
        }
        // A proposal far in the tail takes the 256-bit path.
        let big =
            DiscreteGaussian::new(Rational::new(4_000_000_000_000_000_001, 4_000_000_000).unwrap())
                .unwrap();
        let e = big.exponent(u128::from(u64::MAX)).unwrap();
        assert!(!e.saturated && e.whole > 1 << 60 && e.num < e.den);
        // And one whose exponent needs more than 128 bits saturates instead of overflowing.
        let unit = DiscreteGaussian::new(Rational::ONE).unwrap();
        assert!(unit.exponent(1 << 100).unwrap().saturated);
    }

    #[test]
    fn samplers_refuse_bad_and_huge_parameters() {
        assert!(matches!(
            DiscreteLaplace::new(Rational::ZERO),
            Err(DpError::NotPositive { .. })
        ));
        assert!(matches!(
            DiscreteLaplace::new(Rational::integer(u64::MAX)),
            Err(DpError::TooLarge { .. })
        ));
        assert!(DiscreteLaplace::new(Rational::integer(MAX_SCALE)).is_ok());
        assert!(matches!(
            DiscreteGaussian::new(Rational::ZERO),
            Err(DpError::NotPositive { .. })
        ));
        assert!(matches!(
            DiscreteGaussian::new(Rational::integer(u64::MAX)),
            Err(DpError::TooLarge { .. })
        ));
        // Large numerator and denominator together overflow 2·n·d·t².
        let dense = Rational::new(u64::MAX - 2, u64::MAX / 1000).unwrap();
        assert!(matches!(
            DiscreteGaussian::new(dense),
            Err(DpError::TooLarge { .. })
        ));
        let mut bits = BitSource::new(ChaCha20Rng::seed_from_u64(3));
        assert!(geometric(&mut bits, Rational::ZERO).is_err());
        assert!(geometric(&mut bits, Rational::integer(u64::MAX)).is_err());
        // The largest accepted Laplace scale still samples without error.
        let wide = DiscreteLaplace::new(Rational::integer(MAX_SCALE)).unwrap();
        for _ in 0..1000 {
            wide.sample(&mut bits).unwrap();
        }
        let wide = DiscreteGaussian::new(Rational::new(u64::MAX / 8, 3).unwrap()).unwrap();
        for _ in 0..1000 {
            wide.sample(&mut bits).unwrap();
        }
    }
}
