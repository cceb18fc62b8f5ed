//! Reading, aggregating and protecting a large participant export.
//!
//! The export is generated once (1,000,000 rows by default, with every
//! allowlisted column and the eight forbidden columns filled); set
//! `PRIKK_BENCH_ROWS` to use another size. Results are recorded in
//! docs/BENCHMARKS-agent.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use municipality_agent::ingest::{IngestOptions, ingest_file};
use municipality_agent::report::prepare;
use municipality_agent::synthetic::{STATUS_DAY, SyntheticOptions, write_export};
use municipality_agent::tabulate::tabulate;
use prikk_privacy::definition::Definition;
use prikk_privacy::policy::Policy;

fn rows() -> usize {
    std::env::var("PRIKK_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn bench(c: &mut Criterion) {
    let n = rows();
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("export.csv");
    write_export(&path, "bench", n, 2006, &SyntheticOptions::default())
        .expect("generate the export");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!("export: {n} rows, {:.1} MB", size as f64 / 1e6);
    let def = Definition::embedded();
    let opts = IngestOptions {
        project: None,
        as_of: Some(STATUS_DAY),
    };

    let mut g = c.benchmark_group(format!("export_{n}_rows"));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(2));
    g.bench_function("ingest", |b| {
        b.iter(|| black_box(ingest_file(&path, &def, &opts).expect("ingest")))
    });
    g.bench_function("ingest_aggregate", |b| {
        b.iter(|| {
            let data = ingest_file(&path, &def, &opts).expect("ingest");
            black_box(tabulate(&def, &data, STATUS_DAY).expect("aggregate"))
        })
    });
    g.bench_function("prepare_ingest_aggregate_protect_report", |b| {
        b.iter(|| {
            black_box(prepare(&def, &path, "2006", None, &Policy::default()).expect("prepare"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
