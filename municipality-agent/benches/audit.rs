//! The disclosure audit's cost on a whole report: the largest of the 21
//! generated projects (seed 2006), protected as the agent protects it, then
//! audited three ways: the agent's full audit (rank test, singletons, exact
//! integer intervals for every suppressed cell, as shown to the data
//! protection officer), the gateway's verdict with the definition's auditor
//! kept (rank test and witnesses), and the rank test alone. Results are
//! recorded in docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use municipality_agent::report::prepare;
use municipality_agent::synthetic::{PROJECTS, SyntheticOptions, project_size, write_export};
use prikk_privacy::audit::Auditor;
use prikk_privacy::definition::Definition;
use prikk_privacy::policy::Policy;
use prikk_privacy::{PublishedTable, audit};

const SEED: u64 = 2006;

fn bench(c: &mut Criterion) {
    let def = Definition::embedded();
    let policy = Policy::default();
    let largest = PROJECTS
        .iter()
        .max_by_key(|p| project_size(p.id, SEED))
        .expect("21 projects");
    let rows = project_size(largest.id, SEED);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("export.csv");
    write_export(&path, largest.id, rows, SEED, &SyntheticOptions::default())
        .expect("generate the export");
    let prepared = prepare(&def, &path, "2006", Some(largest.id), &policy).expect("prepare");
    let p = &prepared.protected;
    let published: Vec<PublishedTable> = p
        .tables
        .iter()
        .zip(&p.suppressed)
        .map(|(t, s)| PublishedTable {
            shape: t.shape.clone(),
            cells: t
                .values
                .iter()
                .zip(s)
                .map(|(&v, &hidden)| (!hidden).then_some(v))
                .collect(),
        })
        .collect();
    let hidden = p.suppressed.iter().flatten().filter(|&&h| h).count();
    let cells: usize = p.suppressed.iter().map(Vec::len).sum();
    eprintln!(
        "{}: {rows} people, {} tables, {cells} cells, {hidden} suppressed ({} primary, {} secondary quantities)",
        largest.id,
        published.len(),
        p.primary_count,
        p.secondary_count
    );
    let full = audit(&published, &policy, Some(&p.tables), true);
    assert!(full.passed, "{:?}", full.failures);
    let auditor = Auditor::new(def.shapes());

    let mut g = c.benchmark_group(format!("audit_{}", largest.id));
    g.sample_size(20)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("agent_full_audit_exact_intervals", |b| {
        b.iter(|| black_box(audit(&published, &policy, Some(&p.tables), true)).passed)
    });
    g.bench_function("gateway_verdict_kept_auditor", |b| {
        b.iter(|| black_box(auditor.verdict(&published, &policy)).passed)
    });
    g.bench_function("rank_test_only", |b| {
        b.iter(|| black_box(audit(&published, &policy, None, false)).passed)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
