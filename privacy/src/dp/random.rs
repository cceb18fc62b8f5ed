//! Random bits: unbiased uniform integers and rational coin flips by
//! rejection over raw bits, and the operating system's generator.
//!
//! Uniform integers are drawn here rather than with `rand`'s range sampling,
//! so that their exactness does not depend on how a `rand` version maps bits
//! to ranges: draw just enough bits to cover the range and retry when the
//! value falls outside it. Every value in range is then equally likely.

use rand::TryRngCore;
use rand::rngs::OsRng;

use super::DpError;

/// A source of random bits over any generator: the operating system's in
/// production ([`OsRandom`]), a seeded one in tests.
///
/// Bits are taken from 64-bit words a few at a time; unused bits of a word
/// are kept for the next draw and never reused.
#[derive(Debug)]
pub struct BitSource<R> {
    rng: R,
    pool: u64,
    left: u32,
}

impl<R: TryRngCore> BitSource<R> {
    /// Bits from `rng`.
    pub fn new(rng: R) -> Self {
        Self {
            rng,
            pool: 0,
            left: 0,
        }
    }

    /// The generator back.
    pub fn into_inner(self) -> R {
        self.rng
    }

    fn word(&mut self) -> Result<u64, DpError> {
        self.rng
            .try_next_u64()
            .map_err(|e| DpError::Rng(e.to_string()))
    }

    /// `k` uniform random bits (1 ≤ k ≤ 64) in the low bits of the result.
    fn bits(&mut self, k: u32) -> Result<u64, DpError> {
        debug_assert!((1..=64).contains(&k));
        if k == 64 {
            return self.word();
        }
        if self.left < k {
            self.pool = self.word()?;
            self.left = 64;
        }
        let out = self.pool & ((1u64 << k) - 1);
        self.pool >>= k;
        self.left -= k;
        Ok(out)
    }

    /// A uniform integer in `0..n` by rejection: draw as many bits as `n - 1`
    /// needs and retry when the value is `n` or more (fewer than two draws
    /// on average). `n` must be at least 1.
    pub fn uniform_below(&mut self, n: u128) -> Result<u128, DpError> {
        if n == 0 {
            return Err(DpError::NotPositive {
                what: "the size of a uniform range".into(),
            });
        }
        if n == 1 {
            return Ok(0);
        }
        let k = 128 - (n - 1).leading_zeros();
        loop {
            let x = if k <= 64 {
                u128::from(self.bits(k)?)
            } else {
                (u128::from(self.bits(k - 64)?) << 64) | u128::from(self.bits(64)?)
            };
            if x < n {
                return Ok(x);
            }
        }
    }

    /// One fair coin flip.
    pub fn coin(&mut self) -> Result<bool, DpError> {
        Ok(self.bits(1)? == 1)
    }

    /// True with probability exactly `num / den` (certainly when `num >= den`).
    pub fn bernoulli(&mut self, num: u128, den: u128) -> Result<bool, DpError> {
        if num == 0 {
            return Ok(false);
        }
        if num >= den {
            return Ok(true);
        }
        Ok(self.uniform_below(den)? < num)
    }

    /// True with probability exactly `num / (den * k)`, without forming the
    /// product: `x * k + z` for uniform `x < den` and `z < k` is uniform
    /// below `den * k`, and comparing it with `num` needs only `num / k` and
    /// `num % k`. Requires `k >= 1`.
    pub(super) fn bernoulli_over(
        &mut self,
        num: u128,
        den: u128,
        k: u128,
    ) -> Result<bool, DpError> {
        if num == 0 {
            return Ok(false);
        }
        let (q, r) = (num / k, num % k);
        if q >= den {
            return Ok(true);
        }
        let x = self.uniform_below(den)?;
        if x != q {
            return Ok(x < q);
        }
        Ok(self.uniform_below(k)? < r)
    }
}

/// The operating system's cryptographically secure generator (`getrandom`),
/// read in blocks so that a sample does not cost a system call per word.
///
/// Each buffered byte is handed out once. A failure of the operating system's
/// generator is reported as an error, never a panic. The buffer is not shared
/// across `fork`; the agent does not fork.
pub struct OsRandom {
    buf: [u8; 512],
    pos: usize,
}

impl std::fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OsRandom")
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl OsRandom {
    /// A generator with an empty buffer; the first draw fills it.
    pub fn new() -> Self {
        Self {
            buf: [0; 512],
            pos: 512,
        }
    }

    #[allow(
        clippy::indexing_slicing,
        reason = "the buffer is refilled whenever fewer than `N` bytes remain, so `pos + N` is within it"
    )]
    fn take<const N: usize>(&mut self) -> Result<[u8; N], rand::rand_core::OsError> {
        if self.pos + N > self.buf.len() {
            OsRng.try_fill_bytes(&mut self.buf)?;
            self.pos = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        // Spent bytes are wiped so they are not kept around in memory.
        self.buf[self.pos..self.pos + N].fill(0);
        self.pos += N;
        Ok(out)
    }
}

impl TryRngCore for OsRandom {
    type Error = rand::rand_core::OsError;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_le_bytes(self.take::<4>()?))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from_le_bytes(self.take::<8>()?))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        OsRng.try_fill_bytes(dst)
    }
}

impl rand::TryCryptoRng for OsRandom {}

#[cfg(test)]
mod tests {
    use super::super::stats::{chi_square_p, uniform_bins};
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn source(seed: u64) -> BitSource<ChaCha20Rng> {
        BitSource::new(ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn uniform_integers_are_in_range_and_uniform() {
        let mut bits = source(1);
        // 3 and 5 need rejection (2 and 3 bits per draw); 2^64 + 3 takes two words.
        for (n, draws) in [
            (3u128, 60_000usize),
            (5, 100_000),
            (12, 120_000),
            (64, 128_000),
        ] {
            let mut counts = vec![0u64; n as usize];
            for _ in 0..draws {
                let x = bits.uniform_below(n).unwrap();
                counts[x as usize] += 1;
            }
            let p = chi_square_p(&uniform_bins(&counts));
            assert!(p > 1e-4, "n = {n}: p = {p}, counts {counts:?}");
        }
        let big = (1u128 << 64) + 3;
        let mut high = 0;
        for _ in 0..10_000 {
            let x = bits.uniform_below(big).unwrap();
            assert!(x < big);
            high += u32::from(x >= 1 << 63);
        }
        // Values at or above 2^63 make up about half the range.
        assert!((4_500..5_500).contains(&high), "{high}");
        assert_eq!(bits.uniform_below(1).unwrap(), 0);
        assert!(bits.uniform_below(0).is_err());
    }

    #[test]
    fn rational_coins_have_their_probability() {
        let mut bits = source(2);
        for (num, den, k) in [(1u128, 3u128, 1u128), (2, 7, 1), (3, 4, 5), (5, 6, 2)] {
            let n = 100_000u64;
            let mut hits = 0u64;
            for _ in 0..n {
                hits += u64::from(bits.bernoulli_over(num, den, k).unwrap());
            }
            let p = num as f64 / (den * k) as f64;
            let expected = [n as f64 * (1.0 - p), n as f64 * p];
            let pv = chi_square_p(&[(n - hits, expected[0]), (hits, expected[1])]);
            assert!(pv > 1e-4, "{num}/({den}*{k}): {hits} of {n}, p-value {pv}");
        }
        assert!(!bits.bernoulli(0, 5).unwrap());
        assert!(bits.bernoulli(5, 5).unwrap());
    }

    #[test]
    fn os_generator_gives_distinct_words() {
        let mut os = OsRandom::new();
        let words: Vec<u64> = (0..200).map(|_| os.try_next_u64().unwrap()).collect();
        let mut sorted = words.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), words.len());
        let mut bits = BitSource::new(OsRandom::new());
        assert!(bits.uniform_below(10).unwrap() < 10);
    }
}
