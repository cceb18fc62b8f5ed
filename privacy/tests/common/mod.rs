//! Table builders shared by the privacy crate's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use prikk_privacy::{Dimension, Measure, PublishedTable, Table, TableShape};

pub(crate) fn flat(id: &str, codes: &[&str]) -> Arc<Dimension> {
    Arc::new(Dimension::flat(id, codes))
}

pub(crate) fn codes(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

pub(crate) fn grid(id: &str, rows: usize, cols: usize, hierarchical: bool) -> Arc<TableShape> {
    let r = codes("r", rows);
    let rows_dim = if hierarchical {
        let mut nodes: Vec<(String, String)> =
            vec![("g0".into(), "total".into()), ("g1".into(), "total".into())];
        for (i, c) in r.iter().enumerate() {
            let g = if i < rows / 2 { "g0" } else { "g1" };
            nodes.push((format!("{g}.{c}"), g.into()));
        }
        let refs: Vec<(&str, &str)> = nodes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        Arc::new(Dimension::hierarchy("rows", &refs))
    } else {
        let refs: Vec<&str> = r.iter().map(String::as_str).collect();
        flat("rows", &refs)
    };
    let c = codes("c", cols);
    let refs: Vec<&str> = c.iter().map(String::as_str).collect();
    Arc::new(TableShape::new(
        id.into(),
        vec![rows_dim, flat("cols", &refs)],
        Measure::Count,
        "total".into(),
    ))
}

/// Fills the inner cells of a two-way table from `values` (cycled).
pub(crate) fn fill(shape: Arc<TableShape>, values: &[i64]) -> Table {
    let mut t = Table::zeros(shape.clone());
    let leaves: Vec<usize> = (1..shape.dimensions[0].categories.len())
        .filter(|&i| shape.dimensions[0].is_leaf(i))
        .collect();
    let cols = shape.dimensions[1].categories.len() - 1;
    let mut it = values.iter().cycle();
    for &r in &leaves {
        for c in 1..=cols {
            t.add_inner(&[r, c], *it.next().unwrap_or(&0));
        }
    }
    t
}

pub(crate) fn publish(t: &Table, hide: impl Fn(usize) -> bool) -> PublishedTable {
    PublishedTable {
        shape: t.shape.clone(),
        cells: t
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| (!hide(i)).then_some(v))
            .collect(),
    }
}
