//! Sparse integer vectors over the inner cells of all tables, kept
//! normalised so that parallel vectors compare equal.
#![allow(
    clippy::indexing_slicing,
    reason = "the merge of two sorted vectors reads `x[i]` and `y[j]` only after checking `i < x.len()` or `j < y.len()` in the same condition"
)]

use crate::policy::ProtectError;

/// An exact coefficient of an elimination.
pub(crate) type Coef = i128;

/// A sparse vector sorted by column, normalised so that its entries have gcd 1
/// and its first entry is positive (so parallel vectors compare equal).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct SVec(pub(crate) Vec<(u32, Coef)>);

/// Greatest common divisor of the magnitudes (0 when both are 0).
pub(crate) fn gcd(mut a: Coef, mut b: Coef) -> Coef {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl SVec {
    /// A cheap fingerprint for finding equal (parallel, once normalised) vectors.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.0.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &(c, x)| {
            (h.rotate_left(5) ^ u64::from(c) ^ ((x as u64) << 32))
                .wrapping_mul(0x517c_c1b7_2722_0a95)
        })
    }

    pub(crate) fn ones(cols: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<(u32, Coef)> = cols.into_iter().map(|c| (c, 1)).collect();
        v.sort_unstable_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        SVec(v)
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn get(&self, col: u32) -> Coef {
        self.0
            .binary_search_by_key(&col, |e| e.0)
            .map_or(0, |i| self.0[i].1)
    }

    pub(crate) fn normalize(&mut self) {
        let Some(&(_, first)) = self.0.first() else {
            return;
        };
        // Most entries are 1 or -1: stop as soon as the gcd is 1.
        let mut g: Coef = 0;
        for &(_, c) in &self.0 {
            g = if c == 1 || c == -1 { 1 } else { gcd(g, c) };
            if g == 1 {
                break;
            }
        }
        let g = if first < 0 { -g } else { g };
        if g != 1 {
            for e in &mut self.0 {
                e.1 /= g;
            }
        }
    }

    /// `a * self - b * other`, normalised.
    pub(crate) fn combine(&self, a: Coef, other: &SVec, b: Coef) -> Result<SVec, ProtectError> {
        let (x, y) = (&self.0, &other.0);
        let mut out = Vec::with_capacity(x.len() + y.len());
        let (mut i, mut j) = (0, 0);
        let mul = |c: Coef, k: Coef| c.checked_mul(k).ok_or(ProtectError::Overflow);
        while i < x.len() || j < y.len() {
            let (col, v) = if j >= y.len() || (i < x.len() && x[i].0 < y[j].0) {
                i += 1;
                (x[i - 1].0, mul(x[i - 1].1, a)?)
            } else if i >= x.len() || y[j].0 < x[i].0 {
                j += 1;
                (y[j - 1].0, -mul(y[j - 1].1, b)?)
            } else {
                i += 1;
                j += 1;
                let v = mul(x[i - 1].1, a)?
                    .checked_sub(mul(y[j - 1].1, b)?)
                    .ok_or(ProtectError::Overflow)?;
                (x[i - 1].0, v)
            };
            if v != 0 {
                out.push((col, v));
            }
        }
        let mut s = SVec(out);
        s.normalize();
        Ok(s)
    }
}
