//! Each test is an attack on a small table whose answer is worked out by hand;
//! the audit must see through it, and `protect` must produce patterns it can't break.

use std::sync::Arc;

use prikk_privacy::{
    Dimension, Measure, Policy, PublishedTable, Table, TableShape, audit, protect,
};

mod common;
use common::flat;

fn one_way(values: &[i64]) -> Table {
    let codes: Vec<String> = (0..values.len()).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    let shape = Arc::new(TableShape::new(
        "t".into(),
        vec![flat("d", &refs)],
        Measure::Count,
        "total".into(),
    ));
    let mut t = Table::zeros(shape);
    for (i, &v) in values.iter().enumerate() {
        t.add_inner(&[i + 1], v);
    }
    t
}

fn publish(t: &Table, hidden: &[usize]) -> PublishedTable {
    common::publish(t, |i| hidden.contains(&i))
}

#[test]
fn a_lone_suppressed_cell_in_a_line_is_derivable() {
    // total 20 = 3 + 8 + 9: hiding only the 3 leaves 20 - 8 - 9.
    let t = one_way(&[3, 8, 9]);
    let r = audit(&[publish(&t, &[1])], &Policy::default(), None, false);
    assert!(!r.passed);
    assert!(
        r.failures[0].contains("can be computed"),
        "{:?}",
        r.failures
    );
}

#[test]
fn two_cells_that_must_sum_to_two_are_both_one_when_zeros_are_published() {
    // total 12 = 1 + 1 + 10; the two 1s hidden. Rank says "not derivable",
    // but zeros are published, so each hidden cell is at least 1: both are 1.
    let t = one_way(&[1, 1, 10]);
    let published = publish(&t, &[1, 2]);
    let rank_only = audit(
        std::slice::from_ref(&published),
        &Policy {
            singletons: false,
            ..Policy::default()
        },
        None,
        false,
    );
    assert!(
        rank_only.passed,
        "the rank test alone cannot see this: {:?}",
        rank_only.failures
    );
    let full = audit(
        std::slice::from_ref(&published),
        &Policy {
            singletons: false,
            ..Policy::default()
        },
        None,
        true,
    );
    assert!(!full.passed);
    assert!(
        full.intervals
            .iter()
            .all(|i| i.exact && i.lower == 1 && i.upper == Some(1)),
        "{:?}",
        full.intervals
    );
    // With zeros protected the same pattern leaves [0, 2] for each.
    let zeros = Policy {
        protect_zeros: true,
        singletons: false,
        ..Policy::default()
    };
    let r = audit(&[published], &zeros, None, true);
    assert!(r.passed, "{:?}", r.failures);
    assert!(
        r.intervals
            .iter()
            .all(|i| i.lower == 0 && i.upper == Some(2))
    );
}

#[test]
fn protect_hides_a_third_cell_when_a_pair_sums_to_two() {
    let t = one_way(&[1, 1, 10, 7]);
    let p = protect(std::slice::from_ref(&t), &Policy::default()).unwrap();
    assert!(p.audit.passed, "{:?}", p.audit.failures);
    let hidden = p.suppressed[0].iter().filter(|&&s| s).count();
    assert!(
        hidden >= 3,
        "a pair of ones needs a third cell, got {hidden}"
    );
    let published: Vec<usize> = (0..t.values.len())
        .filter(|&i| p.suppressed[0][i])
        .collect();
    let again = audit(
        &[publish(&t, &published)],
        &Policy::default(),
        Some(&[t]),
        true,
    );
    assert!(again.passed, "{:?}", again.failures);
}

#[test]
fn a_singleton_subtracting_itself() {
    // total 40 = 1 + 3 + 16 + 20. Hiding {1, 3} is safe by rank and by
    // integer bounds (1 + 3 = 4 leaves [1, 3] for each), but the one person in
    // the 1 knows it and computes 4 - 1 = 3.
    let t = one_way(&[1, 3, 16, 20]);
    let published = publish(&t, &[1, 2]);
    let no_singletons = Policy {
        singletons: false,
        ..Policy::default()
    };
    assert!(
        audit(
            std::slice::from_ref(&published),
            &no_singletons,
            Some(std::slice::from_ref(&t)),
            true
        )
        .passed
    );
    let r = audit(
        &[published],
        &Policy::default(),
        Some(std::slice::from_ref(&t)),
        true,
    );
    assert!(!r.passed);
    assert!(
        r.failures.iter().any(|f| f.contains("one person")),
        "{:?}",
        r.failures
    );
    let p = protect(&[t], &Policy::default()).unwrap();
    assert!(p.audit.passed);
    assert_eq!(p.secondary_count, 1, "one more cell is enough");
}

#[test]
fn a_margin_suppressed_in_one_table_but_published_in_another() {
    // status x gender, and a country table for the admitted: the country
    // table's margins are the `admitted` row of the status table.
    let gender = flat("gender", &["female", "male"]);
    let status = Arc::new(Dimension::hierarchy(
        "status",
        &[("admitted", "total"), ("assessing", "total")],
    ));
    let country = flat("country", &["IQ", "SO"]);
    let s = Arc::new(TableShape::new(
        "status".into(),
        vec![status, gender.clone()],
        Measure::Count,
        "total".into(),
    ));
    let c = Arc::new(TableShape::new(
        "country".into(),
        vec![country, gender],
        Measure::Count,
        "admitted".into(),
    ));
    let mut st = Table::zeros(s.clone());
    let mut ct = Table::zeros(c.clone());
    {
        let (iq_f, so_f, iq_m, so_m) = (6, 2, 7, 9);
        ct.add_inner(&[1, 1], iq_f);
        ct.add_inner(&[2, 1], so_f);
        ct.add_inner(&[1, 2], iq_m);
        ct.add_inner(&[2, 2], so_m);
        st.add_inner(&[1, 1], iq_f + so_f);
        st.add_inner(&[1, 2], iq_m + so_m);
    }
    st.add_inner(&[2, 1], 12);
    st.add_inner(&[2, 2], 11);
    // Hide admitted women (8) in the status table, but publish it in the country table.
    let admitted_women = s.cell_by_codes(&["admitted", "female"]).unwrap();
    let r = audit(
        &[publish(&st, &[admitted_women]), publish(&ct, &[])],
        &Policy::default(),
        None,
        false,
    );
    assert!(!r.passed);
    assert!(
        r.failures
            .iter()
            .any(|f| f.contains("published differently")),
        "{:?}",
        r.failures
    );
    // protect treats the two cells as one quantity.
    let p = protect(&[st.clone(), ct.clone()], &Policy::default()).unwrap();
    assert!(p.audit.passed, "{:?}", p.audit.failures);
    let in_country = c.cell_by_codes(&["total", "female"]).unwrap();
    assert_eq!(p.suppressed[0][admitted_women], p.suppressed[1][in_country]);
    // SO women = 2 is primary; the country table alone would hide a rectangle, and
    // whatever is hidden, no cell of either table can be computed from both.
    let view: Vec<PublishedTable> = [&st, &ct]
        .iter()
        .enumerate()
        .map(|(i, t)| PublishedTable {
            shape: t.shape.clone(),
            cells: t
                .values
                .iter()
                .enumerate()
                .map(|(c, &v)| (!p.suppressed[i][c]).then_some(v))
                .collect(),
        })
        .collect();
    let r = audit(&view, &Policy::default(), Some(&[st, ct]), true);
    assert!(r.passed, "{:?}", r.failures);
}

#[test]
fn no_small_count_is_published_and_totals_stay_when_possible() {
    let t = one_way(&[30, 40, 50]);
    let p = protect(&[t], &Policy::default()).unwrap();
    assert_eq!(p.primary_count, 0);
    assert!(p.suppressed[0].iter().all(|&s| !s));
}

#[test]
fn bound_propagation_catches_a_pair_summing_to_two_in_a_large_block() {
    // Same attack as above with integer programming switched off for the block.
    let t = one_way(&[1, 1, 10]);
    let policy = Policy {
        singletons: false,
        interval_block_limit: 0,
        ..Policy::default()
    };
    let r = audit(&[publish(&t, &[1, 2])], &policy, None, true);
    assert_eq!(r.interval_skipped, 2);
    assert!(!r.passed);
    assert!(
        r.intervals.iter().all(|i| i.exact && i.lower == 1),
        "{:?}",
        r.intervals
    );
    // With a third hidden cell the pair is no longer pinned.
    let t = one_way(&[1, 1, 10, 9]);
    let r = audit(&[publish(&t, &[1, 2, 4])], &policy, None, true);
    assert!(r.passed, "{:?}", r.failures);
}

#[test]
fn bound_propagation_is_never_tighter_than_integer_programming() {
    // Propagation is a weaker attack than integer programming: its intervals
    // must contain the integer program's on every suppressed cell.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for round in 0..20 {
        let rows: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
        let cols: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
        let shape = Arc::new(TableShape::new(
            "t".into(),
            vec![
                flat("rows", &rows.iter().map(String::as_str).collect::<Vec<_>>()),
                flat("cols", &cols.iter().map(String::as_str).collect::<Vec<_>>()),
                flat("g", &["f", "m"]),
            ],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(shape.clone());
        for r in 1..=5 {
            for c in 1..=4 {
                for g in 1..=2 {
                    let v = if rng.random_bool(0.4) {
                        rng.random_range(1..5)
                    } else {
                        rng.random_range(0..15)
                    };
                    t.add_inner(&[r, c, g], v);
                }
            }
        }
        let hidden: Vec<usize> = (0..shape.len())
            .filter(|&c| t.values[c] > 0 && rng.random_bool(0.35))
            .collect();
        let view = publish(&t, &hidden);
        let weak = Policy {
            singletons: false,
            interval_block_limit: 0,
            ..Policy::default()
        };
        let strong = Policy {
            singletons: false,
            interval_block_limit: 10_000,
            ..Policy::default()
        };
        let a = audit(std::slice::from_ref(&view), &weak, None, true);
        let b = audit(&[view], &strong, None, true);
        for (x, y) in a.intervals.iter().zip(&b.intervals) {
            assert_eq!(x.key, y.key);
            let cell = shape.cell_by_codes(&x.key).unwrap();
            let truth = t.values[cell];
            assert!(
                x.lower <= truth && x.upper.is_none_or(|u| u >= truth),
                "round {round}: propagation {x:?} excludes {truth}"
            );
            assert!(
                x.lower <= y.lower,
                "round {round}: propagation {x:?} tighter than {y:?}"
            );
            assert!(
                x.upper.is_none() || y.upper.is_some_and(|u| x.upper.unwrap() >= u),
                "round {round}: {x:?} vs {y:?}"
            );
        }
    }
}

#[test]
fn a_fully_hidden_table_is_unbounded_above() {
    // Nothing published: every hidden cell is at least 1 and has no upper bound.
    let t = one_way(&[1, 2, 1]);
    let r = audit(
        &[publish(&t, &[0, 1, 2, 3])],
        &Policy {
            singletons: false,
            ..Policy::default()
        },
        None,
        true,
    );
    assert!(r.passed, "{:?}", r.failures);
    assert_eq!(r.intervals.len(), 4);
    assert!(
        r.intervals
            .iter()
            .all(|i| i.upper.is_none() && i.lower >= 1),
        "{:?}",
        r.intervals
    );
    assert_eq!(r.narrowest_width, None);
}

#[test]
fn audit_findings_name_cells_never_their_values_or_bounds() {
    // A finding travels: into refusals, logs and the outbox's last error.
    // It names the cell; the bounds stay in the officer's intervals.
    let d = flat("d", &["a", "b", "c"]);
    let shape = Arc::new(TableShape::new(
        "t".into(),
        vec![d],
        Measure::Count,
        "total".into(),
    ));
    for (values, width) in [([1, 1, 7], 1), ([2, 2, 7], 3)] {
        let mut t = Table::zeros(shape.clone());
        for (i, v) in values.into_iter().enumerate() {
            t.add_inner(&[i + 1], v);
        }
        let published = publish(&t, &[1, 2]);
        let policy = Policy {
            singletons: false,
            min_interval_width: width,
            ..Policy::default()
        };
        let r = audit(std::slice::from_ref(&published), &policy, Some(&[t]), true);
        assert!(!r.passed);
        for f in &r.failures {
            assert!(f.contains("t[a]") || f.contains("t[b]"), "{f}");
            assert!(!f.chars().any(|c| c.is_ascii_digit()), "{f}");
        }
        let verdict = prikk_privacy::audit_verdict(std::slice::from_ref(&published), &policy);
        assert!(!verdict.passed);
        for f in &verdict.failures {
            assert!(!f.chars().any(|c| c.is_ascii_digit()), "{f}");
        }
    }
}
