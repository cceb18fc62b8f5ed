//! Protection and audit cost on a synthetic hierarchical table of about
//! 10,000 cells (region -> county, gender, status, age -> age group, as in
//! the four-way benchmark) and on a full Ny sjanse report.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use prikk_privacy::{
    Definition, Dimension, Measure, Policy, PublishedTable, Table, TableShape, audit, protect,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn hierarchy(id: &str, groups: usize, per_group: usize) -> Arc<Dimension> {
    let mut nodes: Vec<(String, String)> = (0..groups)
        .map(|g| (format!("G{g}"), "total".into()))
        .collect();
    for g in 0..groups {
        for i in 0..per_group {
            nodes.push((format!("L{g}_{i}"), format!("G{g}")));
        }
    }
    let refs: Vec<(&str, &str)> = nodes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    Arc::new(Dimension::hierarchy(id, &refs))
}

/// 19 x 3 x 13 x 14 = 10,374 cells, 8,000 people spread unevenly.
fn ten_thousand_cells() -> Table {
    let statuses: Vec<String> = (0..12).map(|i| format!("S{i}")).collect();
    let shape = Arc::new(TableShape::new(
        "bench".into(),
        vec![
            hierarchy("region", 2, 8),
            Arc::new(Dimension::flat("gender", &["F", "M"])),
            Arc::new(Dimension::flat(
                "status",
                &statuses.iter().map(String::as_str).collect::<Vec<_>>(),
            )),
            hierarchy("age", 3, 3),
        ],
        Measure::Count,
        "total".into(),
    ));
    let mut t = Table::zeros(shape.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let leaves: Vec<Vec<usize>> = shape
        .dimensions
        .iter()
        .map(|d| (0..d.categories.len()).filter(|&c| d.is_leaf(c)).collect())
        .collect();
    for _ in 0..8000 {
        // Skewed choice so that small cells are common, as in real data.
        let key: Vec<usize> = leaves
            .iter()
            .map(|l| {
                let a = rng.random_range(0..l.len());
                let b = rng.random_range(0..l.len());
                l[a.min(b)]
            })
            .collect();
        t.add_inner(&key, 1);
    }
    t
}

fn full_report() -> Vec<Table> {
    let def = Definition::embedded();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    def.tables
        .iter()
        .map(|spec| {
            let mut t = Table::zeros(spec.shape.clone());
            let leaves: Vec<Vec<usize>> = spec
                .shape
                .dimensions
                .iter()
                .map(|d| {
                    (0..d.categories.len())
                        .filter(|&c| !d.additive || d.is_leaf(c))
                        .collect()
                })
                .collect();
            for _ in 0..40 {
                let key: Vec<usize> = leaves
                    .iter()
                    .map(|l| l[rng.random_range(0..l.len())])
                    .collect();
                t.add_inner(&key, 1);
            }
            t
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    let table = ten_thousand_cells();
    let mut g = c.benchmark_group("protect");
    g.sample_size(10);
    g.bench_function("hierarchical_10374_cells", |b| {
        b.iter(|| {
            protect(black_box(std::slice::from_ref(&table)), &policy).map(|p| p.secondary_count)
        })
    });
    let p = protect(std::slice::from_ref(&table), &policy).ok();
    if let Some(p) = p {
        let view = PublishedTable {
            shape: table.shape.clone(),
            cells: table
                .values
                .iter()
                .zip(&p.suppressed[0])
                .map(|(&v, &s)| (!s).then_some(v))
                .collect(),
        };
        g.bench_function("audit_rank_10374_cells", |b| {
            b.iter(|| audit(black_box(std::slice::from_ref(&view)), &policy, None, false).passed)
        });
    }
    // Independent tables (no shared quantities) so random data stays consistent.
    let report = full_report();
    for t in &report {
        let one = std::slice::from_ref(t);
        let _ = black_box(protect(one, &policy));
    }
    g.bench_function("protect_and_audit_each_report_table", |b| {
        b.iter(|| {
            report
                .iter()
                .filter(|t| {
                    protect(std::slice::from_ref(*t), &policy).is_ok_and(|p| p.audit.passed)
                })
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
