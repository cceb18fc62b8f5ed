//! Exact non-negative fractions with 64-bit numerator and denominator.
//!
//! Noise scales and privacy parameters are written by people as decimals
//! (`2`, `0.5`, `1.25`) or fractions (`1/3`) and kept exact: every operation
//! is done in 128-bit integers, reduced, and refused with an error when the
//! result no longer fits 64 bits. Nothing here rounds.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::DpError;

/// Most decimal places a written number may have (10^38 still fits 128 bits;
/// the reduced fraction must still fit 64 bits).
const MAX_DECIMALS: usize = 38;

/// An exact non-negative fraction `numer / denom`, always in lowest terms
/// with `denom >= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: u64,
    den: u64,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Rational {
    /// Zero.
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    /// One.
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// `num / den` in lowest terms; a zero denominator is an error.
    pub fn new(num: u64, den: u64) -> Result<Self, DpError> {
        Self::from_wide(u128::from(num), u128::from(den), "a fraction")
    }

    /// A whole number.
    pub const fn integer(n: u64) -> Self {
        Rational { num: n, den: 1 }
    }

    /// Reduces a 128-bit fraction and checks that it fits 64 bits.
    fn from_wide(num: u128, den: u128, what: &str) -> Result<Self, DpError> {
        if den == 0 {
            return Err(DpError::InvalidNumber {
                input: format!("{num}/0"),
                expected: "a non-zero denominator".into(),
            });
        }
        let g = gcd(num, den).max(1);
        let (n, d) = (num / g, den / g);
        match (u64::try_from(n), u64::try_from(d)) {
            (Ok(num), Ok(den)) => Ok(Rational { num, den }),
            _ => Err(DpError::TooLarge {
                what: format!("{what} ({n}/{d}) does not fit an exact 64-bit fraction"),
            }),
        }
    }

    /// Numerator in lowest terms.
    pub const fn numer(self) -> u64 {
        self.num
    }

    /// Denominator in lowest terms (at least 1).
    pub const fn denom(self) -> u64 {
        self.den
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.num == 0
    }

    /// The largest whole number not above this one.
    pub const fn floor(self) -> u64 {
        self.num / self.den
    }

    /// Exact sum, or an error when it does not fit.
    pub fn checked_add(self, other: Rational) -> Result<Rational, DpError> {
        let num = u128::from(self.num) * u128::from(other.den);
        let num = num
            .checked_add(u128::from(other.num) * u128::from(self.den))
            .ok_or_else(|| DpError::TooLarge {
                what: format!("the sum {self} + {other}"),
            })?;
        let den = u128::from(self.den) * u128::from(other.den);
        Self::from_wide(num, den, "a sum")
    }

    /// Exact difference; an error when `other > self` or it does not fit.
    pub fn checked_sub(self, other: Rational) -> Result<Rational, DpError> {
        let a = u128::from(self.num) * u128::from(other.den);
        let b = u128::from(other.num) * u128::from(self.den);
        let num = a.checked_sub(b).ok_or_else(|| DpError::NotPositive {
            what: format!("the difference {self} - {other}"),
        })?;
        Self::from_wide(
            num,
            u128::from(self.den) * u128::from(other.den),
            "a difference",
        )
    }

    /// Exact product, or an error when it does not fit.
    pub fn checked_mul(self, other: Rational) -> Result<Rational, DpError> {
        // Cross-reduce first so that products of reduced fractions stay small.
        let g1 = gcd(u128::from(self.num), u128::from(other.den)).max(1);
        let g2 = gcd(u128::from(other.num), u128::from(self.den)).max(1);
        let num = (u128::from(self.num) / g1) * (u128::from(other.num) / g2);
        let den = (u128::from(self.den) / g2) * (u128::from(other.den) / g1);
        Self::from_wide(num, den, "a product")
    }

    /// Exact quotient; dividing by zero is an error.
    pub fn checked_div(self, other: Rational) -> Result<Rational, DpError> {
        if other.is_zero() {
            return Err(DpError::NotPositive {
                what: format!("the divisor in {self} / {other}"),
            });
        }
        self.checked_mul(Rational {
            num: other.den,
            den: other.num,
        })
    }

    /// Approximate value, for display and statistics only; never used to sample.
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Parses a non-negative decimal (`2`, `0.5`, `1.25`) or a fraction of
    /// whole numbers (`1/3`) into an exact value. Anything else, including
    /// signs, exponents and surrounding spaces, is refused with a message
    /// saying what was expected.
    pub fn parse_decimal(text: &str) -> Result<Rational, DpError> {
        let bad = |why: &str| DpError::InvalidNumber {
            input: text.to_string(),
            expected: format!(
                "{why}; expected a non-negative decimal such as 2, 0.5 or 1.25, or a fraction such as 1/3"
            ),
        };
        if text.is_empty() {
            return Err(bad("empty"));
        }
        if let Some(pos) = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '/')) {
            let c = text[pos..].chars().next().unwrap_or(' ');
            return Err(bad(&format!(
                "unexpected character {c:?} at position {}",
                pos + 1
            )));
        }
        if let Some((p, q)) = text.split_once('/') {
            let num = parse_whole(p).ok_or_else(|| bad("the numerator is not a whole number"))?;
            let den = parse_whole(q).ok_or_else(|| bad("the denominator is not a whole number"))?;
            if den == 0 {
                return Err(bad("the denominator is zero"));
            }
            return Self::from_wide(num, den, &format!("`{text}`"));
        }
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        if int.is_empty() || (text.contains('.') && frac.is_empty()) {
            return Err(bad(
                "digits are required on both sides of the decimal point",
            ));
        }
        if frac.contains('.') {
            return Err(bad("more than one decimal point"));
        }
        if frac.len() > MAX_DECIMALS {
            return Err(DpError::TooLarge {
                what: format!("`{text}` has more than {MAX_DECIMALS} decimal places"),
            });
        }
        let too_large = || DpError::TooLarge {
            what: format!("`{text}` does not fit an exact 64-bit fraction"),
        };
        let whole = parse_whole(int).ok_or_else(too_large)?;
        let scale = 10u128.pow(frac.len() as u32);
        let frac_value = if frac.is_empty() {
            0
        } else {
            parse_whole(frac).ok_or_else(too_large)?
        };
        let num = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_value))
            .ok_or_else(too_large)?;
        Self::from_wide(num, scale, &format!("`{text}`"))
    }
}

/// Digits only, into a u128 (`None` on anything else or overflow).
fn parse_whole(s: &str) -> Option<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
    })
}

impl FromStr for Rational {
    type Err = DpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_decimal(s)
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl fmt::Display for Rational {
    /// A terminating decimal when the value has one (`1.25`), else `p/q`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            return write!(f, "{}", self.num);
        }
        let (mut d, mut twos, mut fives) = (self.den, 0u32, 0u32);
        while d % 2 == 0 {
            d /= 2;
            twos += 1;
        }
        while d % 5 == 0 {
            d /= 5;
            fives += 1;
        }
        let places = twos.max(fives);
        if d == 1
            && let Some(pow) = 10u128.checked_pow(places)
            && let Some(scaled) = u128::from(self.num).checked_mul(pow / u128::from(self.den))
        {
            let p = 10u128.pow(places);
            return write!(
                f,
                "{}.{:0width$}",
                scaled / p,
                scaled % p,
                width = places as usize
            );
        }
        write!(f, "{}/{}", self.num, self.den)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u64, d: u64) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn parses_decimals_and_fractions_exactly() {
        assert_eq!(Rational::parse_decimal("2").unwrap(), r(2, 1));
        assert_eq!(Rational::parse_decimal("0.5").unwrap(), r(1, 2));
        assert_eq!(Rational::parse_decimal("1.25").unwrap(), r(5, 4));
        assert_eq!(Rational::parse_decimal("007.50").unwrap(), r(15, 2));
        assert_eq!(Rational::parse_decimal("0.1").unwrap(), r(1, 10));
        assert_eq!(Rational::parse_decimal("1/3").unwrap(), r(1, 3));
        assert_eq!(Rational::parse_decimal("6/4").unwrap(), r(3, 2));
        assert_eq!(Rational::parse_decimal("0").unwrap(), Rational::ZERO);
        assert_eq!(
            Rational::parse_decimal("0.0000000000000000001").unwrap(),
            r(1, 10_000_000_000_000_000_000)
        );
        assert_eq!(
            Rational::parse_decimal("18446744073709551615").unwrap(),
            Rational::integer(u64::MAX)
        );
    }

    #[test]
    fn refuses_malformed_numbers_with_a_reason() {
        for bad in [
            "", "-1", "+2", "1e3", "abc", "1.2.3", ".5", "2.", " 2", "2 ", "1/0", "1/", "/2",
            "1/2/3", "0x10", "½",
        ] {
            let e = Rational::parse_decimal(bad).expect_err(bad);
            let msg = e.to_string();
            assert!(matches!(e, DpError::InvalidNumber { .. }), "{bad}: {msg}");
            assert!(msg.contains("expected"), "{bad}: {msg}");
        }
        let e = Rational::parse_decimal("1e3").unwrap_err().to_string();
        assert!(e.contains("'e'") && e.contains("position 2"), "{e}");
    }

    #[test]
    fn refuses_numbers_too_large_for_exact_fractions() {
        for big in [
            "18446744073709551616",
            "99999999999999999999999999999999999999999999",
            "0.00000000000000000001",
            "1/18446744073709551616",
        ] {
            let e = Rational::parse_decimal(big).expect_err(big);
            assert!(matches!(e, DpError::TooLarge { .. }), "{big}: {e}");
        }
        // Reducible fractions are reduced before the size check.
        assert_eq!(
            Rational::parse_decimal("36893488147419103230/2").unwrap(),
            Rational::integer(u64::MAX)
        );
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        let a = r(5, 4);
        let b = r(1, 3);
        assert_eq!(a.checked_add(b).unwrap(), r(19, 12));
        assert_eq!(a.checked_sub(b).unwrap(), r(11, 12));
        assert_eq!(a.checked_mul(b).unwrap(), r(5, 12));
        assert_eq!(a.checked_div(b).unwrap(), r(15, 4));
        assert!(b.checked_sub(a).is_err());
        assert!(a.checked_div(Rational::ZERO).is_err());
        let huge = Rational::integer(u64::MAX);
        assert!(matches!(
            huge.checked_add(Rational::ONE),
            Err(DpError::TooLarge { .. })
        ));
        assert!(matches!(
            huge.checked_mul(Rational::integer(2)),
            Err(DpError::TooLarge { .. })
        ));
        assert!(matches!(
            r(1, u64::MAX).checked_mul(r(1, 2)),
            Err(DpError::TooLarge { .. })
        ));
        // Cross-reduction keeps products that cancel in range.
        assert_eq!(huge.checked_mul(r(1, u64::MAX)).unwrap(), Rational::ONE);
        assert!(r(1, 3) < r(1, 2) && r(2, 4) == r(1, 2));
        assert_eq!(r(7, 2).floor(), 3);
    }

    #[test]
    fn displays_terminating_decimals_and_round_trips() {
        assert_eq!(r(5, 4).to_string(), "1.25");
        assert_eq!(r(1, 20).to_string(), "0.05");
        assert_eq!(r(3, 1).to_string(), "3");
        assert_eq!(r(1, 3).to_string(), "1/3");
        for x in [
            r(5, 4),
            r(1, 20),
            r(1, 3),
            r(123_456_789, 1 << 20),
            r(1, 10_000_000_000_000_000_000),
        ] {
            assert_eq!(Rational::parse_decimal(&x.to_string()).unwrap(), x, "{x}");
        }
    }
}
