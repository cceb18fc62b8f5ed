//! Properties that must hold for every table: a protected table passes an
//! independent audit of what is published, and no count of 1..k-1 is shown.

use std::sync::Arc;

use prikk_privacy::{
    Dimension, Measure, Policy, PublishedTable, TableShape, audit, protect, unprotected_small_cells,
};
use proptest::prelude::*;

mod common;
use common::fill;

fn shape(rows: usize, cols: usize, hierarchical: bool) -> Arc<TableShape> {
    let row_codes: Vec<String> = (0..rows).map(|i| format!("r{i}")).collect();
    let rows_dim = if hierarchical {
        // Two groups: g0 holds the first half, g1 the rest.
        let mut nodes: Vec<(String, String)> =
            vec![("g0".into(), "total".into()), ("g1".into(), "total".into())];
        for (i, c) in row_codes.iter().enumerate() {
            nodes.push((
                format!("{}.{c}", if i < rows / 2 { "g0" } else { "g1" }),
                if i < rows / 2 {
                    "g0".into()
                } else {
                    "g1".into()
                },
            ));
        }
        let refs: Vec<(&str, &str)> = nodes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        Dimension::hierarchy("rows", &refs)
    } else {
        let refs: Vec<&str> = row_codes.iter().map(String::as_str).collect();
        Dimension::flat("rows", &refs)
    };
    let col_codes: Vec<String> = (0..cols).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = col_codes.iter().map(String::as_str).collect();
    Arc::new(TableShape::new(
        "t".into(),
        vec![Arc::new(rows_dim), Arc::new(Dimension::flat("cols", &refs))],
        Measure::Count,
        "total".into(),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn protected_tables_pass_an_independent_audit(
        rows in 2usize..6, cols in 2usize..5, hierarchical in any::<bool>(),
        protect_zeros in any::<bool>(),
        values in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..5, 5i64..40], 1..30),
    ) {
        let rows = if hierarchical { rows.max(4) } else { rows };
        let t = fill(shape(rows, cols, hierarchical), &values);
        prop_assert!(t.margins_add_up());
        let policy = Policy { protect_zeros, ..Policy::default() };
        let p = protect(std::slice::from_ref(&t), &policy);
        prop_assert!(p.is_ok(), "{:?}", p.err());
        let p = p.unwrap();
        prop_assert!(p.audit.passed);
        let view = PublishedTable {
            shape: t.shape.clone(),
            cells: t.values.iter().zip(&p.suppressed[0]).map(|(&v, &s)| (!s).then_some(v)).collect(),
        };
        prop_assert!(unprotected_small_cells(std::slice::from_ref(&view), &policy).is_empty());
        let r = audit(&[view], &policy, Some(std::slice::from_ref(&t)), true);
        prop_assert!(r.passed, "{:?}", r.failures);
        for i in &r.intervals {
            let cell = t.shape.cell_by_codes(&i.key).unwrap();
            prop_assert!(i.lower <= t.values[cell]);
            prop_assert!(i.upper.is_none_or(|u| u >= t.values[cell]));
        }
    }
}
