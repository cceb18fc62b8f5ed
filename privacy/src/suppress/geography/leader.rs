//! The leader-knowledge attack: what the directorate's gateway can work out
//! about one project's cells of aggregate-level tables from what it knows,
//! which is nothing per project and the exact sum of every region group.

use std::collections::HashMap;
use std::sync::Arc;

use super::{GeographyError, TOTAL, check_tables, fresh_code, stacked_shape, sum_tables};
use crate::audit::{PublishedTable, audit};
use crate::policy::Policy;
use crate::table::{Category, Dimension, Measure, Relation, Table, TableShape};

/// Dimension and variable of the projects in the leader's view.
const PROJECT: &str = "project";

/// What the leader can work out about single projects of aggregate-level tables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderKnowledge {
    /// Hidden project cells (project, table, key codes of the table) that
    /// the leader derives exactly or bounds more narrowly than the policy's
    /// `min_interval_width`, except cells pinned to 0. Empty when the
    /// leader learns no project's cell.
    pub derived_nonzero: Vec<(String, String, Vec<String>)>,
    /// Hidden project cells pinned to 0 because their group's sum there is
    /// 0: "nobody", which the policy only protects with `protect_zeros`.
    pub zero_pinned: usize,
    /// Hidden project cells examined, a sum table's contributor counts included.
    pub hidden_cells: usize,
}

/// The leader-knowledge attack on aggregate-level tables: what the leader
/// can derive about one project's cells from everything it knows.
///
/// `projects` holds each project's group code and exact tables (of
/// `shapes`); a project is named `group/i` in the result, `i` its position
/// in `projects`. The leader knows nothing per project (no project cell of
/// these tables is published, so a hidden cell may be 0) and every group's
/// exact sum, contributors of sum tables included. This is audited as one
/// stacked table set with a `project` dimension `total -> group -> project`:
/// total and group rows published, project rows hidden, and an interval
/// computed for every hidden cell (no block is too large to be attacked),
/// with 0 as the lower bound of every hidden cell.
///
/// Why it must come out empty: a person can be moved from one project of a
/// group to another without changing any group sum, so with at least two
/// projects per group every hidden cell with somebody in it can take at
/// least two values: its interval is 0 to the group's sum. Only a cell whose
/// group has nobody there is pinned (to 0), and that is reported apart in
/// `zero_pinned`; a group sum below `min_interval_width` leaves intervals
/// narrower than the policy allows, and those cells are reported. Cells and quantities:
/// every count here is of cells, a quantity shared by several tables
/// counting once per table.
pub fn leader_knowledge_audit(
    shapes: &[Arc<TableShape>],
    projects: &[(String, Vec<Table>)],
    policy: &Policy,
) -> Result<LeaderKnowledge, GeographyError> {
    let relations: Vec<Vec<Relation>> = shapes.iter().map(|s| s.relations()).collect();
    // Groups in order of first appearance, with their projects.
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    let mut members: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, (group, tables)) in projects.iter().enumerate() {
        check_tables(shapes, &relations, tables)?;
        let g = *group_of.entry(group.as_str()).or_insert_with(|| {
            members.push((group.as_str(), Vec::new()));
            members.len() - 1
        });
        members[g].1.push(i);
    }
    // Categories: total, then each group followed by its projects.
    let mut seen = HashMap::new();
    let mut categories = vec![category(TOTAL, None)];
    // Per category: the tables summed there (all projects, a group's, one project's).
    let mut exact: Vec<Vec<Table>> = vec![sum_tables(
        shapes,
        projects.iter().map(|(_, t)| t.as_slice()),
    )?];
    let mut project_at: Vec<Option<usize>> = vec![None];
    for (group, list) in &members {
        if !fresh_code(group, &mut seen) {
            return Err(GeographyError::Shape);
        }
        let g = categories.len();
        categories.push(category(group, Some(0)));
        categories[0].children.push(g);
        exact.push(sum_tables(
            shapes,
            list.iter().map(|&p| projects[p].1.as_slice()),
        )?);
        project_at.push(None);
        for &p in list {
            let code = format!("{group}/{p}");
            if !fresh_code(&code, &mut seen) {
                return Err(GeographyError::Shape);
            }
            let c = categories.len();
            categories.push(category(&code, Some(g)));
            categories[g].children.push(c);
            exact.push(projects[p].1.clone());
            project_at.push(Some(p));
        }
    }
    let dim = Arc::new(Dimension::new(
        PROJECT.into(),
        PROJECT.into(),
        categories,
        true,
    ));
    // Per published table: its shape, the cells the leader sees, and the truth.
    let mut published = Vec::new();
    let mut truth: Vec<Vec<i64>> = Vec::new();
    for (t, s) in shapes.iter().enumerate() {
        let mut add = |shape: Arc<TableShape>, column: fn(&Table) -> &[i64]| {
            let mut cells = Vec::with_capacity(shape.len());
            let mut values = Vec::with_capacity(shape.len());
            for (row, at) in exact.iter().zip(&project_at) {
                let v = column(&row[t]);
                values.extend_from_slice(v);
                cells.extend(v.iter().map(|&x| at.is_none().then_some(x)));
            }
            published.push(PublishedTable { shape, cells });
            truth.push(values);
        };
        add(stacked_shape(&dim, s), |x| x.values.as_slice());
        if let Measure::Sum(column) = &s.measure {
            // The helper sums contributors too: the leader knows them per group.
            let counted = TableShape::new(
                format!("{}.contributors", s.id),
                s.dimensions.clone(),
                Measure::Sum(format!("{column}.contributors")),
                s.population.clone(),
            );
            add(stacked_shape(&dim, &counted), |x| x.contributors.as_slice());
        }
    }
    let hidden_cells = published
        .iter()
        .map(|t| t.cells.iter().filter(|c| c.is_none()).count())
        .sum();
    let attacker = Policy {
        protect_zeros: true,
        // One block may hold every hidden cell: none is skipped.
        interval_block_limit: policy
            .interval_block_limit
            .max(u32::try_from(hidden_cells).unwrap_or(u32::MAX)),
        ..policy.clone()
    };
    let report = audit(&published, &attacker, None, true);
    let quantities = cells_of_quantities(&published);
    // An attack that did not reach every hidden cell proves nothing.
    if report.interval_skipped > 0 || report.intervals.len() != quantities.len() {
        return Err(GeographyError::Incomplete);
    }
    let index: HashMap<&str, usize> = published
        .iter()
        .enumerate()
        .map(|(t, p)| (p.shape.id.as_str(), t))
        .collect();
    let width = i64::from(policy.min_interval_width.max(1));
    let mut out = LeaderKnowledge {
        hidden_cells,
        ..LeaderKnowledge::default()
    };
    for iv in &report.intervals {
        if !(iv.exact || iv.upper.is_some_and(|u| u - iv.lower < width)) {
            continue;
        }
        let t = *index
            .get(iv.table.as_str())
            .ok_or(GeographyError::Incomplete)?;
        let cell = published[t]
            .shape
            .cell_by_codes(&iv.key)
            .ok_or(GeographyError::Incomplete)?;
        let cells = quantities
            .get(&published[t].shape.quantity(cell))
            .map_or(&[][..], Vec::as_slice);
        if iv.exact && truth[t][cell] == 0 {
            out.zero_pinned += cells.len();
            continue;
        }
        for &(t2, c2) in cells {
            let shape = &published[t2].shape;
            let mut key = shape.key_codes(c2).into_iter().map(str::to_string);
            let project = key.next().unwrap_or_default();
            out.derived_nonzero
                .push((project, shape.id.clone(), key.collect()));
        }
    }
    out.derived_nonzero.sort();
    Ok(out)
}

/// Every hidden cell (table, cell) of each hidden quantity: the audit names
/// one cell per quantity, and counts here are of cells.
fn cells_of_quantities(published: &[PublishedTable]) -> HashMap<String, Vec<(usize, usize)>> {
    let mut out: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    for (t, p) in published.iter().enumerate() {
        for (c, v) in p.cells.iter().enumerate() {
            if v.is_none() {
                out.entry(p.shape.quantity(c)).or_default().push((t, c));
            }
        }
    }
    out
}

/// A category of the project dimension, its children added as they come.
fn category(code: &str, parent: Option<usize>) -> Category {
    Category {
        code: code.into(),
        parent,
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One project's tables: births by gender.
    fn births(values: [i64; 2]) -> Vec<Table> {
        vec![crate::geography::tests::births(values)]
    }

    #[test]
    fn two_projects_of_a_group_keep_their_cells() {
        let projects = vec![
            ("oslo".to_string(), births([2, 3])),
            ("oslo".to_string(), births([4, 0])),
        ];
        let shapes = vec![projects[0].1[0].shape.clone()];
        let k = leader_knowledge_audit(&shapes, &projects, &Policy::default()).unwrap();
        assert!(k.derived_nonzero.is_empty(), "{:?}", k.derived_nonzero);
        assert_eq!((k.hidden_cells, k.zero_pinned), (6, 0));
    }

    #[test]
    fn a_project_alone_in_its_group_is_known() {
        let projects = vec![
            ("oslo".to_string(), births([2, 3])),
            ("oslo".to_string(), births([4, 1])),
            ("bergen".to_string(), births([1, 0])),
        ];
        let shapes = vec![projects[0].1[0].shape.clone()];
        let k = leader_knowledge_audit(&shapes, &projects, &Policy::default()).unwrap();
        let key = |c: &str| vec![c.to_string()];
        assert_eq!(
            k.derived_nonzero,
            vec![
                ("bergen/2".into(), "births".into(), key("female")),
                ("bergen/2".into(), "births".into(), key("total")),
            ]
        );
        assert_eq!(k.zero_pinned, 1);
    }

    #[test]
    fn colliding_codes_are_refused() {
        let projects = vec![
            ("a".to_string(), births([2, 3])),
            ("a/0".to_string(), births([4, 1])),
        ];
        let shapes = vec![projects[0].1[0].shape.clone()];
        let r = leader_knowledge_audit(&shapes, &projects, &Policy::default());
        assert_eq!(r.unwrap_err(), GeographyError::Shape);
    }
}
