//! `dp-sample`: draws noise from the exact samplers and prints one integer
//! per line, so that a data protection officer can check the distribution
//! with their own statistics tools.

use std::io::{self, BufWriter, Write};

use anyhow::Context;
use prikk_privacy::dp::{BitSource, DpMechanism, NoiseSampler, OsRandom, Rational};
use rand::SeedableRng;
use rand::TryRngCore;
use rand::rngs::StdRng;

use crate::exit::{self, CodedError};

/// Which distribution to draw from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mechanism {
    /// Discrete Laplace: P(x) ∝ e^(-|x|/t) with t the scale.
    DiscreteLaplace,
    /// Discrete Gaussian: P(x) ∝ e^(-x²/(2σ²)) with σ the scale.
    DiscreteGaussian,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distribution to sample.
    #[arg(long, value_enum)]
    pub mechanism: Mechanism,
    /// Scale as a decimal or fraction (`2`, `0.5`, `1/3`): t for the discrete
    /// Laplace, σ for the discrete Gaussian (σ² = scale²).
    #[arg(long, value_name = "S", allow_hyphen_values = true)]
    pub scale: String,
    /// Number of samples to print.
    #[arg(long, value_name = "N")]
    pub count: u64,
    /// For tests only: a seeded, reproducible generator instead of the
    /// operating system's. Never use seeded noise for a real report.
    #[arg(long, value_name = "X")]
    pub seed: Option<u64>,
}

fn usage(message: String) -> anyhow::Error {
    CodedError {
        code: exit::USAGE,
        message,
    }
    .into()
}

/// The mechanism the arguments ask for, with exact parameters.
pub fn mechanism(kind: Mechanism, scale: &str) -> anyhow::Result<DpMechanism> {
    let s = Rational::parse_decimal(scale).map_err(|e| usage(format!("--scale: {e}")))?;
    let m = match kind {
        Mechanism::DiscreteLaplace => DpMechanism::DiscreteLaplace { scale: s },
        Mechanism::DiscreteGaussian => DpMechanism::DiscreteGaussian {
            sigma2: s
                .checked_mul(s)
                .map_err(|e| usage(format!("--scale {scale}: σ² {e}")))?,
        },
    };
    m.sampler()
        .map_err(|e| usage(format!("--scale {scale}: {e}")))?;
    Ok(m)
}

/// Writes `count` samples, one per line. A closed pipe (`| head`) ends the
/// output early without an error.
pub fn write_samples<R: TryRngCore, W: Write>(
    sampler: &NoiseSampler,
    bits: &mut BitSource<R>,
    count: u64,
    out: &mut W,
) -> anyhow::Result<()> {
    let result = (|| -> anyhow::Result<()> {
        for _ in 0..count {
            let x = sampler.sample(bits)?;
            writeln!(out, "{x}")?;
        }
        out.flush()?;
        Ok(())
    })();
    match result {
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let m = mechanism(args.mechanism, &args.scale)?;
    let sampler = m.sampler()?;
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    match args.seed {
        Some(seed) => {
            let mut bits = BitSource::new(StdRng::seed_from_u64(seed));
            write_samples(&sampler, &mut bits, args.count, &mut out)
        }
        None => {
            let mut bits = BitSource::new(OsRandom::new());
            write_samples(&sampler, &mut bits, args.count, &mut out)
        }
    }
    .context("writing samples")?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(kind: Mechanism, scale: &str, count: u64, seed: u64) -> Vec<i64> {
        let m = mechanism(kind, scale).unwrap();
        let mut bits = BitSource::new(StdRng::seed_from_u64(seed));
        let mut buf = Vec::new();
        write_samples(&m.sampler().unwrap(), &mut bits, count, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        text.lines().map(|l| l.parse().unwrap()).collect()
    }

    #[test]
    fn prints_one_integer_per_line_reproducibly_with_a_seed() {
        let a = draw(Mechanism::DiscreteLaplace, "2", 5000, 9);
        assert_eq!(a.len(), 5000);
        assert_eq!(a, draw(Mechanism::DiscreteLaplace, "2", 5000, 9));
        assert_ne!(a, draw(Mechanism::DiscreteLaplace, "2", 5000, 10));
        // Variance of the discrete Laplace with scale 2: 2a/(1-a)², a = e^(-1/2).
        let v = a.iter().map(|&x| (x * x) as f64).sum::<f64>() / a.len() as f64;
        let e = (-0.5f64).exp();
        let expected = 2.0 * e / ((1.0 - e) * (1.0 - e));
        assert!((v / expected - 1.0).abs() < 0.15, "{v} vs {expected}");
    }

    #[test]
    fn gaussian_scale_is_sigma() {
        assert_eq!(
            mechanism(Mechanism::DiscreteGaussian, "1.5").unwrap(),
            DpMechanism::DiscreteGaussian {
                sigma2: Rational::new(9, 4).unwrap()
            }
        );
        let g = draw(Mechanism::DiscreteGaussian, "3", 5000, 1);
        let v = g.iter().map(|&x| (x * x) as f64).sum::<f64>() / g.len() as f64;
        assert!((v / 9.0 - 1.0).abs() < 0.15, "{v}");
    }

    #[test]
    fn bad_scales_are_usage_errors() {
        for bad in [
            "",
            "-2",
            "abc",
            "0",
            "1e3",
            "99999999999999999999999",
            "1099511627777",
        ] {
            let e = mechanism(Mechanism::DiscreteLaplace, bad).expect_err(bad);
            assert_eq!(exit::code_for(&e), exit::USAGE, "{bad}: {e}");
            assert!(e.to_string().contains("--scale"), "{e}");
        }
        // σ² = 2^64 does not fit exact 64-bit fractions.
        let e = mechanism(Mechanism::DiscreteGaussian, "4294967296").unwrap_err();
        assert_eq!(exit::code_for(&e), exit::USAGE);
    }

    #[test]
    fn a_closed_pipe_ends_quietly() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let m = mechanism(Mechanism::DiscreteLaplace, "1").unwrap();
        let mut bits = BitSource::new(StdRng::seed_from_u64(1));
        assert!(write_samples(&m.sampler().unwrap(), &mut bits, 10, &mut Closed).is_ok());
    }
}
