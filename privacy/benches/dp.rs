//! Samples per second of the exact discrete Laplace and discrete Gaussian
//! samplers at scale 2 (Laplace scale t = 2; Gaussian σ = 2, σ² = 4), with
//! the operating system's generator as in production and with a seeded
//! ChaCha20 generator for comparison. Results: docs/BENCHMARKS-dp.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prikk_privacy::dp::{BitSource, DiscreteGaussian, DiscreteLaplace, OsRandom, Rational};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const BATCH: u64 = 10_000;

fn samplers(c: &mut Criterion) {
    let laplace = DiscreteLaplace::new(Rational::integer(2)).expect("scale 2 is valid");
    let gaussian = DiscreteGaussian::new(Rational::integer(4)).expect("σ² 4 is valid");

    let mut group = c.benchmark_group("dp_samples");
    group.throughput(Throughput::Elements(BATCH));

    let mut os = BitSource::new(OsRandom::new());
    group.bench_function("discrete_laplace_scale2_os", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(laplace.sample(&mut os).expect("os random"));
            }
        })
    });
    group.bench_function("discrete_gaussian_sigma2_os", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(gaussian.sample(&mut os).expect("os random"));
            }
        })
    });

    let mut seeded = BitSource::new(ChaCha20Rng::seed_from_u64(7));
    group.bench_function("discrete_laplace_scale2_chacha20", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(laplace.sample(&mut seeded).expect("infallible"));
            }
        })
    });
    group.bench_function("discrete_gaussian_sigma2_chacha20", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(gaussian.sample(&mut seeded).expect("infallible"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, samplers);
criterion_main!(benches);
