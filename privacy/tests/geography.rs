//! National and regional tables from exact sums per region group, and the
//! leader's knowledge of single projects, on a small generated population:
//! three region groups of five to seven projects of 10 to 60 people each.

use std::sync::Arc;

use prikk_privacy::{
    Definition, Dimension, GeographyError, Measure, Policy, PublishedTable, RegionGroup, Table,
    TableShape, audit, leader_knowledge_audit, protect, protect_geography,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Status leaves with their weights (per 540): births and exits for absence
/// are rare, so the nation has small cells too.
const STATUS: &[(&str, &str, u32)] = &[
    ("admitted", "total", 0),
    ("admitted.active", "admitted", 300),
    ("admitted.terminated", "admitted", 0),
    ("admitted.terminated.birth", "admitted.terminated", 2),
    ("admitted.terminated.absence", "admitted.terminated", 8),
    ("admitted.work", "admitted", 100),
    ("assessing", "total", 50),
    ("not_admitted", "total", 80),
];
const INTAKE: [&str; 3] = ["admitted", "assessing", "not_admitted"];
const GROUPS: [&str; 3] = ["oslo", "vestland", "agder+rogaland"];

/// Status x gender; intake (the status hierarchy's first level) x age; and
/// months on assistance of the admitted by gender, a sum table.
fn shapes() -> Vec<Arc<TableShape>> {
    let nodes: Vec<(&str, &str)> = STATUS.iter().map(|&(c, p, _)| (c, p)).collect();
    let status = Arc::new(Dimension::hierarchy("status", &nodes));
    let gender = Arc::new(Dimension::flat("gender", &["female", "male"]));
    let mut intake = Dimension::flat("intake", &INTAKE);
    intake.variable = "status".into();
    let age = Arc::new(Dimension::flat("age", &["16-24", "25-39", "40+"]));
    vec![
        Arc::new(TableShape::new(
            "status".into(),
            vec![status, gender.clone()],
            Measure::Count,
            "total".into(),
        )),
        Arc::new(TableShape::new(
            "intake".into(),
            vec![Arc::new(intake), age],
            Measure::Count,
            "total".into(),
        )),
        Arc::new(TableShape::new(
            "months".into(),
            vec![gender],
            Measure::Sum("assistance_months".into()),
            "admitted".into(),
        )),
    ]
}

/// One project's tables for `people` generated people. With `no_births`,
/// nobody leaves the programme for a birth.
fn project(
    shapes: &[Arc<TableShape>],
    rng: &mut ChaCha8Rng,
    people: usize,
    no_births: bool,
) -> Vec<Table> {
    let mut tables: Vec<Table> = shapes.iter().map(|s| Table::zeros(s.clone())).collect();
    let status = &shapes[0].dimensions[0];
    let weight = |c: &str| {
        let w = STATUS.iter().find(|s| s.0 == c).map_or(0, |s| s.2);
        if no_births && c.ends_with("birth") {
            0
        } else {
            w
        }
    };
    let total: u32 = STATUS.iter().map(|s| weight(s.0)).sum();
    for _ in 0..people {
        let mut pick = rng.random_range(0..total);
        let leaf = STATUS
            .iter()
            .find(|s| {
                let w = weight(s.0);
                if pick < w {
                    return true;
                }
                pick -= w;
                false
            })
            .map_or("assessing", |s| s.0);
        let gender = rng.random_range(1..=2);
        let age = rng.random_range(1..=3);
        let first = leaf.split('.').next().unwrap_or(leaf);
        let s = status.index_of(leaf).unwrap();
        let i = INTAKE.iter().position(|&c| c == first).unwrap() + 1;
        tables[0].add_inner(&[s, gender], 1);
        tables[1].add_inner(&[i, age], 1);
        if first == "admitted" {
            let months = if rng.random_bool(0.3) {
                0
            } else {
                rng.random_range(1..=36)
            };
            tables[2].add_inner(&[gender], months);
        }
    }
    tables
}

/// A project: its group code and its exact tables.
type Project = (String, Vec<Table>);

/// Projects: five to seven per group. The first group
/// has no births when `no_births` is set.
fn population(seed: u64, no_births: bool) -> (Vec<Arc<TableShape>>, Vec<Project>) {
    let shapes = shapes();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut projects = Vec::new();
    for (g, code) in GROUPS.iter().enumerate() {
        for _ in 0..rng.random_range(5..=7) {
            let people = rng.random_range(10..=60);
            let tables = project(&shapes, &mut rng, people, no_births && g == 0);
            projects.push(((*code).to_string(), tables));
        }
    }
    (shapes, projects)
}

/// Exact sum of table sets (test data is small: plain arithmetic).
fn sum<'a>(shapes: &[Arc<TableShape>], sets: impl Iterator<Item = &'a Vec<Table>>) -> Vec<Table> {
    let mut out: Vec<Table> = shapes.iter().map(|s| Table::zeros(s.clone())).collect();
    for set in sets {
        for (acc, t) in out.iter_mut().zip(set) {
            acc.values
                .iter_mut()
                .zip(&t.values)
                .for_each(|(a, b)| *a += b);
            acc.contributors
                .iter_mut()
                .zip(&t.contributors)
                .for_each(|(a, b)| *a += b);
        }
    }
    out
}

fn groups(shapes: &[Arc<TableShape>], projects: &[(String, Vec<Table>)]) -> Vec<RegionGroup> {
    GROUPS
        .iter()
        .map(|code| RegionGroup {
            code: (*code).into(),
            tables: sum(
                shapes,
                projects.iter().filter(|p| p.0 == *code).map(|p| &p.1),
            ),
        })
        .collect()
}

fn is_sum(t: &Table) -> bool {
    matches!(t.shape.measure, Measure::Sum(_))
}

#[test]
fn published_cells_are_true_sums_and_never_small() {
    let policy = Policy::default();
    let (shapes, projects) = population(1, false);
    let groups = groups(&shapes, &projects);
    let nation = sum(&shapes, projects.iter().map(|p| &p.1));
    let g = protect_geography(&shapes, &groups, &policy).unwrap();
    assert!(g.audit.passed, "{:?}", g.audit.failures);
    assert!(
        !g.regions_withheld,
        "regional detail costs no national cell here"
    );
    assert_eq!(g.nation, nation);
    let k = i64::from(policy.min_count);
    // Every published cell, the nation's first: (truth, hidden).
    let rows = std::iter::once((&nation, &g.nation_suppressed))
        .chain(groups.iter().map(|x| &x.tables).zip(&g.groups_suppressed));
    let mut published = 0;
    for (truth, hidden) in rows.clone() {
        for (t, table) in truth.iter().enumerate() {
            for c in (0..table.values.len()).filter(|&c| !hidden[t][c]) {
                let people = if is_sum(table) {
                    table.contributors[c]
                } else {
                    table.values[c]
                };
                assert!(
                    people == 0 || people >= k,
                    "{} cell {c} is small",
                    table.shape.id
                );
                published += 1;
            }
        }
    }
    assert!(published > 0);
    // The joint pattern audited as the stacked table a reader sees.
    let codes: Vec<&str> = GROUPS.to_vec();
    let region = Arc::new(Dimension::flat("region", &codes));
    let mut view = Vec::new();
    let mut exact = Vec::new();
    for (t, s) in shapes.iter().enumerate() {
        let mut dims = vec![region.clone()];
        dims.extend(s.dimensions.iter().cloned());
        let shape = Arc::new(TableShape::new(
            s.id.clone(),
            dims,
            s.measure.clone(),
            s.population.clone(),
        ));
        let mut stacked = Table::zeros(shape.clone());
        stacked.values.clear();
        stacked.contributors.clear();
        let mut cells = Vec::new();
        for (truth, hidden) in rows.clone() {
            stacked.values.extend_from_slice(&truth[t].values);
            stacked
                .contributors
                .extend_from_slice(&truth[t].contributors);
            cells.extend(
                truth[t]
                    .values
                    .iter()
                    .zip(&hidden[t])
                    .map(|(&v, &h)| (!h).then_some(v)),
            );
        }
        view.push(PublishedTable { shape, cells });
        exact.push(stacked);
    }
    let report = audit(&view, &policy, Some(&exact), true);
    assert!(report.passed, "{:?}", report.failures);
}

#[test]
fn the_nation_comes_out_as_if_protected_alone() {
    let policy = Policy::default();
    // Seed 6 is one where regional detail would cost national cells.
    let mut withheld = 0;
    for seed in [1, 2, 3, 6] {
        let (shapes, projects) = population(seed, false);
        let groups = groups(&shapes, &projects);
        let nation = sum(&shapes, projects.iter().map(|p| &p.1));
        let alone = protect(&nation, &policy).unwrap();
        let g = protect_geography(&shapes, &groups, &policy).unwrap();
        assert!(g.audit.passed, "seed {seed}: {:?}", g.audit.failures);
        assert_eq!(g.nation_suppressed, alone.suppressed, "seed {seed}");
        let hidden = alone.suppressed.iter().flatten().filter(|&&h| h).count();
        assert_eq!(g.national_alone.suppressed_cells, hidden);
        assert_eq!(
            g.national_alone.primary,
            alone.primary.iter().flatten().filter(|&&p| p).count()
        );
        assert!(
            g.national_alone.primary > 0,
            "the data has national small cells"
        );
        assert!(g.joint.suppressed_cells >= hidden);
        if g.regions_withheld {
            withheld += 1;
            assert!(g.groups_suppressed.iter().flatten().flatten().all(|&h| h));
        }
    }
    assert!(
        withheld < 4,
        "regional detail is published for most populations"
    );
}

#[test]
fn one_group_is_the_nation() {
    let policy = Policy::default();
    let (shapes, projects) = population(4, false);
    let all = vec![RegionGroup {
        code: "norway".into(),
        tables: sum(&shapes, projects.iter().map(|p| &p.1)),
    }];
    let g = protect_geography(&shapes, &all, &policy).unwrap();
    assert_eq!(g.groups_suppressed, vec![g.nation_suppressed.clone()]);
    assert_eq!(g.joint, g.national_alone);
}

#[test]
fn overflowing_sums_and_mismatched_shapes_are_refused() {
    let policy = Policy::default();
    let (shapes, projects) = population(5, false);
    let mut groups = groups(&shapes, &projects);
    // Two groups whose months add past i64::MAX (margins add up in each).
    let mut big = groups.clone();
    for g in &mut big[..2] {
        let t = &mut g.tables[2];
        t.values = vec![i64::MAX - 1, i64::MAX - 1, 0];
    }
    assert_eq!(
        protect_geography(&shapes, &big, &policy).unwrap_err(),
        GeographyError::Overflow
    );
    // A group's margin that only adds up by wrapping around.
    let mut wrapped = groups.clone();
    wrapped[0].tables[2].values = vec![i64::MIN, i64::MAX, 1];
    assert_eq!(
        protect_geography(&shapes, &wrapped, &policy).unwrap_err(),
        GeographyError::Overflow
    );
    let mut broken = groups.clone();
    broken[1].tables[1].values[0] += 1;
    assert_eq!(
        protect_geography(&shapes, &broken, &policy).unwrap_err(),
        GeographyError::Margins("intake".into())
    );
    let mut short = groups.clone();
    short[2].tables.pop();
    assert_eq!(
        protect_geography(&shapes, &short, &policy).unwrap_err(),
        GeographyError::Shape
    );
    assert_eq!(
        protect_geography(&shapes[..2], &groups, &policy).unwrap_err(),
        GeographyError::Shape
    );
    groups[1].code = groups[0].code.clone();
    assert_eq!(
        protect_geography(&shapes, &groups, &policy).unwrap_err(),
        GeographyError::Shape
    );
    assert_eq!(
        protect_geography(&shapes, &[], &policy).unwrap_err(),
        GeographyError::Shape
    );
}

/// Hidden project cells (values, and contributors of sum tables) whose group sum is 0.
fn cells_with_empty_groups(projects: &[(String, Vec<Table>)], shapes: &[Arc<TableShape>]) -> usize {
    let mut n = 0;
    for (code, tables) in projects {
        let group = sum(
            shapes,
            projects.iter().filter(|p| &p.0 == code).map(|p| &p.1),
        );
        for (t, g) in tables.iter().zip(&group) {
            n += g.values.iter().filter(|&&v| v == 0).count();
            if is_sum(t) {
                n += g.contributors.iter().filter(|&&v| v == 0).count();
            }
        }
    }
    n
}

#[test]
fn the_leader_alone_derives_no_project_cell() {
    let policy = Policy::default();
    let (shapes, projects) = population(1, false);
    let k = leader_knowledge_audit(&shapes, &projects, &policy).unwrap();
    assert!(k.derived_nonzero.is_empty(), "{:?}", k.derived_nonzero);
    let per_project: usize = shapes
        .iter()
        .map(|s| {
            if matches!(s.measure, Measure::Sum(_)) {
                2 * s.len()
            } else {
                s.len()
            }
        })
        .sum();
    assert_eq!(k.hidden_cells, projects.len() * per_project);
    assert_eq!(k.zero_pinned, cells_with_empty_groups(&projects, &shapes));
}

#[test]
fn a_group_of_one_project_gives_its_cells_away() {
    let policy = Policy::default();
    let (shapes, mut projects) = population(2, false);
    projects[0].0 = "alone".into();
    let k = leader_knowledge_audit(&shapes, &projects, &policy).unwrap();
    assert!(
        k.derived_nonzero.iter().all(|(p, _, _)| p == "alone/0"),
        "{:?}",
        k.derived_nonzero
    );
    let nonzero: usize = projects[0]
        .1
        .iter()
        .map(|t| {
            let own = t.values.iter().filter(|&&v| v != 0).count();
            own + if is_sum(t) {
                t.contributors.iter().filter(|&&v| v != 0).count()
            } else {
                0
            }
        })
        .sum();
    assert_eq!(k.derived_nonzero.len(), nonzero);
    let birth = ["admitted.terminated.birth".to_string(), "total".to_string()];
    let has_birth = projects[0].1[0].values[shapes[0].cell_by_codes(&birth).unwrap()] > 0;
    let derived_birth = k
        .derived_nonzero
        .iter()
        .any(|(_, t, key)| t == "status" && key[..] == birth);
    assert_eq!(has_birth, derived_birth);
}

#[test]
fn a_group_with_nobody_in_a_cell_pins_it_to_zero_only() {
    let policy = Policy::default();
    let (shapes, projects) = population(3, true);
    let k = leader_knowledge_audit(&shapes, &projects, &policy).unwrap();
    assert!(k.derived_nonzero.is_empty(), "{:?}", k.derived_nonzero);
    // Births by gender and in total, in every project of the first group.
    let first = projects.iter().filter(|p| p.0 == GROUPS[0]).count();
    assert!(k.zero_pinned >= 3 * first);
    assert_eq!(k.zero_pinned, cells_with_empty_groups(&projects, &shapes));
}

/// The real definition's tables for `people` people, from one record each
/// so that quantities shared by tables agree.
fn full_size_project(def: &Definition, rng: &mut ChaCha8Rng, people: usize) -> Vec<Table> {
    let shapes = def.shapes();
    let status = &def.table("status").unwrap().shape.dimensions[0];
    let leaves: Vec<&str> = (0..status.categories.len())
        .filter(|&c| status.is_leaf(c))
        .map(|c| status.categories[c].code.as_str())
        .collect();
    let mut tables: Vec<Table> = shapes.iter().map(|s| Table::zeros(s.clone())).collect();
    for _ in 0..people {
        let leaf = leaves[rng
            .random_range(0..leaves.len())
            .min(rng.random_range(0..leaves.len()))];
        let mut choice: std::collections::HashMap<String, usize> = Default::default();
        let mut draw = |d: &Dimension, rng: &mut ChaCha8Rng| -> Vec<usize> {
            if d.variable == "status" {
                let at = (0..d.categories.len())
                    .filter(|&c| {
                        let code = &d.categories[c].code;
                        leaf == code || leaf.starts_with(&format!("{code}."))
                    })
                    .max_by_key(|&c| d.categories[c].code.len());
                return at.into_iter().collect();
            }
            if !d.additive {
                return (0..d.categories.len())
                    .filter(|_| rng.random_bool(0.3))
                    .collect();
            }
            let inner: Vec<usize> = (0..d.categories.len()).filter(|&c| d.is_leaf(c)).collect();
            let c = *choice.entry(d.variable.clone()).or_insert_with(|| {
                inner[rng
                    .random_range(0..inner.len())
                    .min(rng.random_range(0..inner.len()))]
            });
            vec![c]
        };
        for t in &mut tables {
            let pop = t.shape.population.clone();
            if pop != "total" && leaf != pop && !leaf.starts_with(&format!("{pop}.")) {
                continue;
            }
            let mut keys = vec![Vec::new()];
            for d in t.shape.dimensions.clone() {
                let cats = draw(&d, rng);
                keys = keys
                    .into_iter()
                    .flat_map(|k| cats.iter().map(move |&c| [k.clone(), vec![c]].concat()))
                    .collect();
            }
            let value = if is_sum(t) { rng.random_range(0..4) } else { 1 };
            for key in keys {
                t.add_inner(&key, value);
            }
        }
    }
    tables
}

/// The real definition's tables for 21 projects in 8 small region groups:
/// the nation keeps its own pattern (or the regions are withheld), and the
/// leader-knowledge attack derives no non-zero project cell. (Its cost is a
/// benchmark's business: `cargo bench -p prikk-e2e --bench collect`.)
#[test]
fn full_size_definition_in_small_groups() {
    let def = Definition::embedded();
    let shapes = def.shapes();
    let policy = Policy::default();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let projects: Vec<(String, Vec<Table>)> = (0..21)
        .map(|i| {
            let people = rng.random_range(20..=80);
            (
                format!("g{}", i % 8),
                full_size_project(&def, &mut rng, people),
            )
        })
        .collect();
    let codes: Vec<String> = (0..8).map(|g| format!("g{g}")).collect();
    let groups: Vec<RegionGroup> = codes
        .iter()
        .map(|c| RegionGroup {
            code: c.clone(),
            tables: sum(&shapes, projects.iter().filter(|p| &p.0 == c).map(|p| &p.1)),
        })
        .collect();
    let g = protect_geography(&shapes, &groups, &policy).unwrap();
    let national: usize = g.nation_suppressed.iter().flatten().filter(|&&h| h).count();
    assert_eq!(national, g.national_alone.suppressed_cells);
    let k = leader_knowledge_audit(&shapes, &projects, &policy).unwrap();
    assert!(k.hidden_cells > 0);
    assert!(k.derived_nonzero.is_empty(), "{:?}", k.derived_nonzero);
}
