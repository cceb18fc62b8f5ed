//! Information loss: margins are published unless no safe pattern keeps
//! them, every hidden margin says why, and linked tables (two tables that
//! share margins) get one safe pattern without hiding their totals.

use std::sync::Arc;

use prikk_privacy::suppress::cost::{Standing, standing};
use prikk_privacy::suppress::loss::Loss;
use prikk_privacy::{
    Dimension, Measure, Policy, PublishedTable, Table, TableShape, audit, protect,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// People spread as in the benchmark: a few large regions, many small;
/// status falling off; age uniform.
struct People {
    region: Arc<Dimension>,
    sex: Arc<Dimension>,
    status: Arc<Dimension>,
    age: Arc<Dimension>,
    rows: Vec<[usize; 4]>,
}

fn people(seed: u64, regions: usize, n: usize) -> People {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut nodes: Vec<(String, String)> =
        vec![("C1".into(), "total".into()), ("C2".into(), "total".into())];
    for r in 0..regions {
        nodes.push((format!("r{r}"), format!("C{}", r % 2 + 1)));
    }
    let refs: Vec<(&str, &str)> = nodes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let region = Arc::new(Dimension::hierarchy("region", &refs));
    let sex = Arc::new(Dimension::flat("sex", &["f", "m"]));
    let status = Arc::new(Dimension::flat("status", &["s1", "s2", "s3", "s4", "s5"]));
    let age = Arc::new(Dimension::hierarchy(
        "age",
        &[
            ("young", "total"),
            ("old", "total"),
            ("a1", "young"),
            ("a2", "young"),
            ("a3", "old"),
            ("a4", "old"),
        ],
    ));
    let weights: Vec<f64> = (0..regions).map(|i| 1.6f64.powi(i as i32 % 7)).collect();
    let total: f64 = weights.iter().sum();
    let mut rows = Vec::new();
    for i in 0..n {
        let r = if i < regions {
            i
        } else {
            let mut x = rng.random::<f64>() * total;
            weights
                .iter()
                .position(|&w| {
                    x -= w;
                    x < 0.0
                })
                .unwrap_or(regions - 1)
        };
        let s = (0..5).find(|_| rng.random::<f64>() < 0.45).unwrap_or(4);
        rows.push([
            region.index_of(&format!("r{r}")).unwrap(),
            1 + rng.random_range(0..2usize),
            1 + s,
            age.index_of(["a1", "a2", "a3", "a4"][rng.random_range(0..4usize)])
                .unwrap(),
        ]);
    }
    People {
        region,
        sex,
        status,
        age,
        rows,
    }
}

fn table(id: &str, p: &People, dims: &[usize]) -> Table {
    let all = [&p.region, &p.sex, &p.status, &p.age];
    let shape = Arc::new(TableShape::new(
        id.into(),
        dims.iter().map(|&d| all[d].clone()).collect(),
        Measure::Count,
        "total".into(),
    ));
    let mut t = Table::zeros(shape);
    for r in &p.rows {
        let key: Vec<usize> = dims.iter().map(|&d| r[d]).collect();
        t.add_inner(&key, 1);
    }
    t
}

fn policy() -> Policy {
    Policy {
        singletons: true,
        ..Policy::default()
    }
}

fn view(tables: &[Table], hidden: &[Vec<bool>]) -> Vec<PublishedTable> {
    PublishedTable::all_hiding(tables, hidden)
}

/// Protects, audits independently, and checks that every hidden grand
/// total or one-way margin is small itself or comes with a reason.
fn check(tables: &[Table]) -> Loss {
    let p = protect(tables, &policy()).unwrap();
    let r = audit(&view(tables, &p.suppressed), &policy(), Some(tables), true);
    assert!(r.passed, "{:?}", r.failures);
    for (t, table) in tables.iter().enumerate() {
        for c in 0..table.shape.len() {
            let (place, _) = standing(&table.shape, c);
            if place == Standing::Ordinary || !p.suppressed[t][c] || p.primary[t][c] {
                continue;
            }
            let explained = p
                .hidden_margins
                .iter()
                .any(|m| m.table == t && m.cell == c && !m.reason.is_empty());
            assert!(
                explained,
                "{}[{}] hidden without a reason",
                table.shape.id,
                table.shape.key_codes(c).join(", ")
            );
        }
    }
    let loss = p.loss();
    assert_eq!(
        loss.suppressed_cells,
        p.suppressed.iter().flatten().filter(|&&h| h).count()
    );
    loss
}

#[test]
fn the_grand_total_and_one_way_margins_stay_published() {
    for seed in 0..3 {
        let p = people(seed, 12, 900);
        let t = table("four", &p, &[0, 1, 2, 3]);
        let loss = check(std::slice::from_ref(&t));
        assert_eq!(loss.grand_totals_hidden, 0, "seed {seed}: {loss}");
        // Every region has people, and the large ones are far above k:
        // hidden one-way margins are the small regions and their complements.
        assert!(
            loss.one_way_hidden * 4 < loss.one_way_cells,
            "seed {seed}: {loss}"
        );
        // No complementary suppression near the size of a county.
        let county = t.values[t
            .shape
            .cell_by_codes(&["C1", "total", "total", "total"])
            .unwrap()];
        assert!(
            loss.largest_secondary.unwrap_or(0) * 4 < county,
            "seed {seed}: {loss}"
        );
    }
}

#[test]
fn linked_tables_share_one_pattern_and_keep_their_totals() {
    let p = people(7, 10, 700);
    let a = table("status", &p, &[0, 1, 2]);
    let b = table("age", &p, &[0, 1, 3]);
    let tables = [a, b];
    let loss = check(&tables);
    assert_eq!(loss.grand_totals_hidden, 0, "{loss}");
    let prot = protect(&tables, &policy()).unwrap();
    // The shared region x sex margins have one status in both tables.
    for (c, codes) in (0..tables[0].shape.len()).map(|c| (c, tables[0].shape.key_codes(c))) {
        if codes[2] != "total" {
            continue;
        }
        let other = tables[1]
            .shape
            .cell_by_codes(&[codes[0], codes[1], "total"])
            .unwrap();
        assert_eq!(
            prot.suppressed[0][c], prot.suppressed[1][other],
            "{codes:?}"
        );
    }
}

#[test]
fn a_county_with_one_small_region_hides_the_smallest_neighbour_and_says_why() {
    // County C1's regions: r0 = 2 (small), r1 = 30, r2 = 60. Publishing all
    // but r0 with C1 would give r0 away, so one more region is hidden: the
    // smallest, r1, and the preview is told which small cell it protects.
    let region = Arc::new(Dimension::hierarchy(
        "region",
        &[("C1", "total"), ("r0", "C1"), ("r1", "C1"), ("r2", "C1")],
    ));
    let sex = Arc::new(Dimension::flat("sex", &["f", "m"]));
    let shape = Arc::new(TableShape::new(
        "t".into(),
        vec![region.clone(), sex.clone()],
        Measure::Count,
        "total".into(),
    ));
    let mut t = Table::zeros(shape.clone());
    for (r, f, m) in [("r0", 1, 1), ("r1", 14, 16), ("r2", 29, 31)] {
        let ri = region.index_of(r).unwrap();
        t.add_inner(&[ri, 1], f);
        t.add_inner(&[ri, 2], m);
    }
    let p = protect(std::slice::from_ref(&t), &policy()).unwrap();
    assert!(p.audit.passed, "{:?}", p.audit.failures);
    let cell = |codes: [&str; 2]| shape.cell_by_codes(&codes).unwrap();
    assert!(!p.suppressed[0][cell(["total", "total"])]);
    assert!(!p.suppressed[0][cell(["C1", "total"])]);
    assert!(p.suppressed[0][cell(["r1", "total"])]);
    assert!(!p.suppressed[0][cell(["r2", "total"])]);
    let m = p
        .hidden_margins
        .iter()
        .find(|m| m.cell == cell(["r1", "total"]))
        .expect("the hidden region margin is explained");
    assert!(m.reason.contains("t[r0, "), "{}", m.reason);
    let loss = p.loss();
    assert_eq!(loss.grand_totals_hidden, 0);
    assert!(
        loss.to_string().contains("one-way margins hidden"),
        "{loss}"
    );
}

#[test]
fn the_engine_says_where_it_bounded_instead_of_solving() {
    let p = people(3, 12, 900);
    let t = table("four", &p, &[0, 1, 2, 3]);
    let tight = Policy {
        interval_block_limit: 4,
        ..policy()
    };
    let prot = protect(std::slice::from_ref(&t), &tight).unwrap();
    let r = audit(
        &view(std::slice::from_ref(&t), &prot.suppressed),
        &tight,
        Some(std::slice::from_ref(&t)),
        true,
    );
    assert!(r.passed);
    assert!(r.interval_skipped > 0);
    assert!(r.interval_largest_block > 4);
    let note = r.engine_note().unwrap();
    assert!(
        note.contains(&r.interval_largest_block.to_string()),
        "{note}"
    );
    assert!(note.contains("too large to solve exactly"), "{note}");
    let roomy = Policy {
        interval_block_limit: 1_000_000,
        ..policy()
    };
    let small = one_block_table();
    let p = protect(std::slice::from_ref(&small), &roomy).unwrap();
    assert_eq!(p.audit.interval_skipped, 0);
    assert_eq!(p.audit.engine_note(), None);
}

fn one_block_table() -> Table {
    let d = Arc::new(Dimension::flat("d", &["a", "b", "c"]));
    let shape = Arc::new(TableShape::new(
        "t".into(),
        vec![d.clone()],
        Measure::Count,
        "total".into(),
    ));
    let mut t = Table::zeros(shape);
    for (i, n) in [(1, 2), (2, 3), (3, 9)] {
        t.add_inner(&[i], n);
    }
    t
}
