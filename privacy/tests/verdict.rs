//! The gateway's verdict (`audit_verdict`) proves wide intervals with
//! whole-number solutions instead of computing them. It must agree with the
//! full audit on every published view: never "protected" where the full
//! audit finds a derivable or too narrow cell.

use std::sync::Arc;

use prikk_privacy::audit::Auditor;
use prikk_privacy::{
    Dimension, Measure, Policy, PublishedTable, Table, TableShape, audit, audit_verdict, protect,
};
use proptest::prelude::*;

mod common;
use common::{fill, flat, grid, publish};

/// Two linked tables: status x gender and, for the admitted, country x
/// gender (its margins are the admitted row of the first).
fn linked(values: &[i64]) -> Vec<Table> {
    let gender = flat("gender", &["female", "male"]);
    let status = Arc::new(Dimension::hierarchy(
        "status",
        &[("admitted", "total"), ("assessing", "total")],
    ));
    let country = flat("country", &["IQ", "SO", "AF"]);
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
    let mut st = Table::zeros(s);
    let mut ct = Table::zeros(c);
    let mut it = values.iter().cycle();
    for g in 1..=2 {
        for k in 1..=3 {
            let v = *it.next().unwrap_or(&0);
            ct.add_inner(&[k, g], v);
            st.add_inner(&[1, g], v);
        }
        st.add_inner(&[2, g], *it.next().unwrap_or(&0));
    }
    vec![st, ct]
}

fn agree(published: &[PublishedTable], policy: &Policy) -> Result<(), TestCaseError> {
    let full = audit(published, policy, None, true);
    let verdict = audit_verdict(published, policy);
    prop_assert_eq!(
        verdict.passed,
        full.passed,
        "verdict {:?} / full audit {:?}",
        verdict.failures,
        full.failures
    );
    Ok(())
}

/// The findings "can be computed from the published cells", sorted.
fn derivable(failures: &[String]) -> Vec<String> {
    let mut d: Vec<String> = failures
        .iter()
        .filter(|f| f.contains("can be computed from the published cells"))
        .cloned()
        .collect();
    d.sort();
    d
}

/// The verdict reads the rank test from the kernel of the relations; it
/// must name exactly the cells the elimination over the published cells'
/// vectors finds derivable.
fn same_derivable(published: &[PublishedTable], policy: &Policy) -> Result<(), TestCaseError> {
    let rank = audit(published, policy, None, false);
    let verdict = audit_verdict(published, policy);
    prop_assert_eq!(derivable(&verdict.failures), derivable(&rank.failures));
    Ok(())
}

/// Hides every cell of a quantity or none (a quantity has one status in
/// every table), by a hash of its name.
fn hide_by_quantity(t: &Table, hide: &[bool]) -> PublishedTable {
    publish(t, |i| {
        let q = t.shape.quantity(i);
        let h = q
            .bytes()
            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
        hide[h % hide.len()]
    })
}

fn values() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(prop_oneof![Just(0i64), 1i64..4, 4i64..30], 1..30)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn verdict_agrees_with_the_full_audit_on_any_pattern(
        rows in 2usize..6, cols in 2usize..5, hierarchical in any::<bool>(),
        protect_zeros in any::<bool>(), width in 1u32..4,
        values in values(),
        hide in proptest::collection::vec(any::<bool>(), 60),
    ) {
        let rows = if hierarchical { rows.max(4) } else { rows };
        let t = fill(grid("t", rows, cols, hierarchical), &values);
        let policy = Policy { protect_zeros, min_interval_width: width, ..Policy::default() };
        agree(&[publish(&t, |i| hide[i % hide.len()])], &policy)?;
    }

    #[test]
    fn verdict_agrees_on_hidden_subgrids_of_small_counts(
        rows in 2usize..7, cols in 2usize..6, hierarchical in any::<bool>(),
        protect_zeros in any::<bool>(), width in 1u32..4,
        values in proptest::collection::vec(0i64..4, 1..40),
        hide_rows in proptest::collection::vec(any::<bool>(), 6),
        hide_cols in proptest::collection::vec(any::<bool>(), 5),
    ) {
        // Inner cells in chosen rows and columns: never derivable by rank
        // alone when two rows and two columns are chosen, often pinned by
        // whole-number bounds with counts this small.
        let rows = if hierarchical { rows.max(4) } else { rows };
        let t = fill(grid("t", rows, cols, hierarchical), &values);
        let policy = Policy { protect_zeros, min_interval_width: width, ..Policy::default() };
        let view = publish(&t, |i| {
            let k = t.shape.key_codes(i);
            let pick = |code: &str, flags: &[bool]| {
                code.rsplit('.').next().and_then(|c| c[1..].parse::<usize>().ok())
                    .is_some_and(|n| code.contains(['r', 'c']) && flags[n % flags.len()])
            };
            k[0].contains('r') && k[1].starts_with('c') && pick(k[0], &hide_rows) && pick(k[1], &hide_cols)
        });
        agree(&[view], &policy)?;
    }

    #[test]
    fn verdict_names_the_derivable_cells_of_any_pattern(
        rows in 2usize..6, cols in 2usize..5, hierarchical in any::<bool>(),
        values in values(),
        hide in proptest::collection::vec(any::<bool>(), 60),
        linked_values in values(),
        linked_hide in proptest::collection::vec(any::<bool>(), 27),
    ) {
        let rows = if hierarchical { rows.max(4) } else { rows };
        let t = fill(grid("t", rows, cols, hierarchical), &values);
        let policy = Policy { protect_zeros: true, ..Policy::default() };
        same_derivable(&[publish(&t, |i| hide[i % hide.len()])], &policy)?;
        let tables = linked(&linked_values);
        let published: Vec<PublishedTable> =
            tables.iter().map(|t| hide_by_quantity(t, &linked_hide)).collect();
        same_derivable(&published, &policy)?;
    }

    #[test]
    fn verdict_names_the_derivable_cells_of_the_embedded_definition(
        hide in proptest::collection::vec(prop_oneof![3 => Just(false), 1 => Just(true)], 97),
    ) {
        // Derivability by rank depends on the pattern alone, so zero tables
        // serve; zeros are protected so the hidden cells may stay zero.
        let tables: Vec<Table> = prikk_privacy::Definition::embedded()
            .shapes()
            .into_iter()
            .map(Table::zeros)
            .collect();
        let published: Vec<PublishedTable> =
            tables.iter().map(|t| hide_by_quantity(t, &hide)).collect();
        let policy = Policy { protect_zeros: true, ..Policy::default() };
        same_derivable(&published, &policy)?;
    }

    #[test]
    fn verdict_agrees_on_linked_tables(
        protect_zeros in any::<bool>(), width in 1u32..3,
        values in values(),
        hide in proptest::collection::vec(any::<bool>(), 27),
    ) {
        let tables = linked(&values);
        let policy = Policy { protect_zeros, min_interval_width: width, ..Policy::default() };
        // A quantity has one status everywhere, so hide by quantity name.
        let published: Vec<PublishedTable> = tables
            .iter()
            .map(|t| {
                publish(t, |i| {
                    let q = t.shape.quantity(i);
                    let h = q.bytes().fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
                    hide[h % hide.len()]
                })
            })
            .collect();
        agree(&published, &policy)?;
        // An auditor kept for the definition gives the same verdict, with
        // the tables in any order.
        let auditor = Auditor::new(tables.iter().map(|t| t.shape.clone()).collect());
        let mut reversed = published.clone();
        reversed.reverse();
        prop_assert_eq!(
            auditor.verdict(&reversed, &policy).passed,
            audit(&published, &policy, None, true).passed
        );
        // Tables of other shapes are audited all the same.
        prop_assert_eq!(
            auditor.verdict(&published[..1], &policy).passed,
            audit(&published[..1], &policy, None, true).passed
        );
    }

    #[test]
    fn protected_tables_pass_the_verdict(
        rows in 2usize..6, cols in 2usize..5, hierarchical in any::<bool>(),
        protect_zeros in any::<bool>(),
        values in values(),
    ) {
        let rows = if hierarchical { rows.max(4) } else { rows };
        let t = fill(grid("t", rows, cols, hierarchical), &values);
        let policy = Policy { protect_zeros, ..Policy::default() };
        let p = protect(std::slice::from_ref(&t), &policy).unwrap();
        let view = publish(&t, |i| p.suppressed[0][i]);
        let v = audit_verdict(std::slice::from_ref(&view), &policy);
        prop_assert!(v.passed, "{:?}", v.failures);
    }
}

/// 2 x 2 inner cells with margins; hides the four inner cells.
fn rectangle(a: [i64; 4]) -> (Table, Vec<usize>) {
    let t = fill(grid("t", 2, 2, false), &a);
    let inner: Vec<usize> = [["r0", "c0"], ["r0", "c1"], ["r1", "c0"], ["r1", "c1"]]
        .iter()
        .map(|k| t.shape.cell_by_codes(k).unwrap())
        .collect();
    (t, inner)
}

#[test]
fn a_derivable_cell_is_refused() {
    let (t, inner) = rectangle([3, 6, 7, 9]);
    let view = publish(&t, |i| i == inner[0]);
    let v = audit_verdict(&[view], &Policy::default());
    assert!(!v.passed);
    assert!(v.failures[0].contains("computed"), "{:?}", v.failures);
}

#[test]
fn cells_pinned_by_whole_number_bounds_are_refused() {
    // Zeros published, so each hidden cell is at least 1: all four are 1.
    let (t, inner) = rectangle([1, 1, 1, 1]);
    let view = publish(&t, |i| inner.contains(&i));
    let v = audit_verdict(&[view], &Policy::default());
    assert!(!v.passed);
    assert!(
        v.failures.iter().any(|f| f.contains("pinned")),
        "{:?}",
        v.failures
    );
    // With zeros protected each ranges over 0..=2 and passes.
    let policy = Policy {
        protect_zeros: true,
        ..Policy::default()
    };
    let view = publish(&t, |i| inner.contains(&i));
    assert!(audit_verdict(&[view], &policy).passed);
}

#[test]
fn the_minimum_width_is_met_by_the_witness_or_refused() {
    // a, 5-a, 6-a, 3+a with every cell at least 1: a in 1..=4, width 3.
    let (t, inner) = rectangle([2, 3, 4, 5]);
    let view = publish(&t, |i| inner.contains(&i));
    for (width, passes) in [(1, true), (3, true), (4, false)] {
        let policy = Policy {
            min_interval_width: width,
            ..Policy::default()
        };
        let v = audit_verdict(std::slice::from_ref(&view), &policy);
        assert_eq!(v.passed, passes, "width {width}: {:?}", v.failures);
        assert_eq!(
            audit(std::slice::from_ref(&view), &policy, None, true).passed,
            passes
        );
    }
}

#[test]
fn nothing_suppressed_passes_only_when_consistent() {
    let (t, _) = rectangle([2, 3, 4, 5]);
    let view = publish(&t, |_| false);
    assert!(audit_verdict(std::slice::from_ref(&view), &Policy::default()).passed);
    let mut bad = view.clone();
    bad.cells[0] = bad.cells[0].map(|v| v + 1);
    assert!(!audit_verdict(&[bad], &Policy::default()).passed);
    // Linked tables publishing one quantity differently.
    let tables = linked(&[3, 4, 5, 6, 7, 8, 9, 10]);
    let mut views: Vec<PublishedTable> = tables.iter().map(|t| publish(t, |_| false)).collect();
    assert!(audit_verdict(&views, &Policy::default()).passed);
    let admitted_women = tables[0]
        .shape
        .cell_by_codes(&["admitted", "female"])
        .unwrap();
    views[0].cells[admitted_women] = Some(1000);
    assert!(!audit_verdict(&views, &Policy::default()).passed);
}
