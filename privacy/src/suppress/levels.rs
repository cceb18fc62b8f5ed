//! Protection across levels: publishing an exact aggregate (regional or
//! national) of projects whose own protected tables are already published.
//!
//! An exact aggregate cell tells an attacker the sum of the suppressed
//! project cells under it (the aggregate minus the published project cells).
//! If exactly one project suppressed its births and the others published
//! theirs, the national births cell gives that project's births away. So the
//! aggregate is audited as one table with a project dimension: every
//! project's published cells, the aggregate cells to publish, all the
//! tables' relations and the quantities they share. Aggregate cells are
//! suppressed (primary by the policy, then complementary) until no
//! suppressed cell at either level can be derived and every interval is as
//! wide as the policy asks.
//!
//! Suppressing every aggregate cell that has a suppressed contribution
//! always passes (what remains published is a sum of published project
//! cells), so the search ends; the audit has the last word either way.

use std::collections::HashMap;
use std::sync::Arc;

use crate::audit::{AuditReport, PublishedTable, audit};
use crate::policy::Policy;
use crate::table::{Dimension, Measure, Table, TableShape};

/// One project's published tables: per table of the definition, per cell,
/// the published value or `None` where suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedProject {
    /// Project id.
    pub project: String,
    /// Per table, per cell.
    pub cells: Vec<Vec<Option<i64>>>,
}

/// The aggregate's protection.
#[derive(Debug, Clone)]
pub struct LevelProtection {
    /// Per table, per cell: suppressed in the aggregate.
    pub suppressed: Vec<Vec<bool>>,
    /// Aggregate cells suppressed by the policy's primary rule.
    pub primary: usize,
    /// Aggregate cells suppressed to protect project or aggregate cells.
    pub secondary: usize,
    /// Aggregate cells whose every contribution was published (sums of
    /// published cells, which add nothing an attacker did not know).
    pub fully_published: usize,
    /// The joint audit of the final pattern (projects and aggregate).
    pub audit: AuditReport,
    /// Audit rounds it took.
    pub rounds: usize,
}

/// Errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LevelError {
    /// Shapes, project tables and aggregate tables do not line up.
    #[error("the project and aggregate tables do not match the definition's shapes")]
    Shape,
    /// Even the fallback pattern fails the audit (a project's own published
    /// tables already reveal a suppressed cell).
    #[error("the aggregate cannot be protected: {0}")]
    Unprotectable(String),
}

const PROJECT_DIMENSION: &str = "project";
/// Code of the row that stands for every project with nothing suppressed.
const FULLY_PUBLISHED: &str = "*fully-published";
const MAX_ROUNDS: usize = 40;

struct Stack {
    /// Per table, stacked shape (project dimension first).
    shapes: Vec<Arc<TableShape>>,
    /// Per table, per project row (0 = aggregate), per cell: published value.
    rows: Vec<Vec<Vec<Option<i64>>>>,
}

impl Stack {
    fn published(&self, aggregate: &[Table], suppressed: &[Vec<bool>]) -> Vec<PublishedTable> {
        self.shapes
            .iter()
            .enumerate()
            .map(|(t, shape)| {
                let mut cells = Vec::with_capacity(shape.len());
                cells.extend(
                    aggregate[t]
                        .values
                        .iter()
                        .zip(&suppressed[t])
                        .map(|(&v, &hidden)| (!hidden).then_some(v)),
                );
                for row in &self.rows[t] {
                    cells.extend_from_slice(row);
                }
                PublishedTable {
                    shape: shape.clone(),
                    cells,
                }
            })
            .collect()
    }
}

/// Protects `aggregate` (exact tables over exactly these projects) for
/// publication beside the projects' published tables.
pub fn protect_aggregate(
    shapes: &[Arc<TableShape>],
    projects: &[PublishedProject],
    aggregate: &[Table],
    policy: &Policy,
) -> Result<LevelProtection, LevelError> {
    if aggregate.len() != shapes.len()
        || aggregate
            .iter()
            .zip(shapes)
            .any(|(a, s)| a.values.len() != s.len() || a.contributors.len() != s.len())
        || projects.iter().any(|p| {
            p.cells.len() != shapes.len()
                || p.cells.iter().zip(shapes).any(|(c, s)| c.len() != s.len())
        })
    {
        return Err(LevelError::Shape);
    }
    // Projects with nothing suppressed are known exactly: one row holds their sum.
    let (open, closed): (Vec<&PublishedProject>, Vec<&PublishedProject>) = projects
        .iter()
        .partition(|p| p.cells.iter().all(|t| t.iter().all(Option::is_some)));
    let mut codes: Vec<&str> = closed.iter().map(|p| p.project.as_str()).collect();
    if !open.is_empty() {
        codes.push(FULLY_PUBLISHED);
    }
    let dim = Arc::new(Dimension::flat(PROJECT_DIMENSION, &codes));
    let mut stack = Stack {
        shapes: Vec::with_capacity(shapes.len()),
        rows: Vec::with_capacity(shapes.len()),
    };
    // Per table, per cell: how many projects suppressed it.
    let mut hidden_below: Vec<Vec<usize>> = Vec::with_capacity(shapes.len());
    for (t, s) in shapes.iter().enumerate() {
        let mut dims = vec![dim.clone()];
        dims.extend(s.dimensions.iter().cloned());
        stack.shapes.push(Arc::new(TableShape::new(
            s.id.clone(),
            dims,
            s.measure.clone(),
            s.population.clone(),
        )));
        let mut rows: Vec<Vec<Option<i64>>> = closed.iter().map(|p| p.cells[t].clone()).collect();
        if !open.is_empty() {
            let mut sum = vec![0i64; s.len()];
            for p in &open {
                for (acc, v) in sum.iter_mut().zip(&p.cells[t]) {
                    *acc += v.unwrap_or(0);
                }
            }
            rows.push(sum.into_iter().map(Some).collect());
        }
        hidden_below.push(
            (0..s.len())
                .map(|c| closed.iter().filter(|p| p.cells[t][c].is_none()).count())
                .collect(),
        );
        stack.rows.push(rows);
    }
    // Per table, per cell: the aggregate minus every published project
    // cell, i.e. the sum of the hidden contributions.
    let residual: Vec<Vec<i64>> = shapes
        .iter()
        .enumerate()
        .map(|(t, s)| {
            (0..s.len())
                .map(|c| {
                    let published: i64 = projects.iter().filter_map(|p| p.cells[t][c]).sum();
                    aggregate[t].values[c] - published
                })
                .collect()
        })
        .collect();
    // The same quantity in several tables gets one status.
    let mut groups: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    for (t, s) in shapes.iter().enumerate() {
        for c in 0..s.len() {
            groups.entry(s.quantity(c)).or_default().push((t, c));
        }
    }
    let group_of = |t: usize, c: usize| -> &Vec<(usize, usize)> { &groups[&shapes[t].quantity(c)] };

    let mut suppressed: Vec<Vec<bool>> = shapes.iter().map(|s| vec![false; s.len()]).collect();
    let mut primary = 0usize;
    let mut fully_published = 0usize;
    for (t, a) in aggregate.iter().enumerate() {
        let is_sum = matches!(shapes[t].measure, Measure::Sum(_));
        for c in 0..a.values.len() {
            if hidden_below[t][c] == 0 {
                fully_published += 1;
            }
            let hidden = hidden_below[t][c];
            if hidden == 0 {
                // A sum of published cells: public already, and no
                // suppression could hide it.
                continue;
            }
            if policy.is_primary(a.values[c], a.contributors[c], is_sum) {
                primary += 1;
                suppressed[t][c] = true;
            } else if hidden == 1 || residual[t][c] <= hidden as i64 {
                // Aggregate minus the published rest is that one project's
                // cell; or the hidden cells (each at least 1 where zeros are
                // published) are pinned by their small sum.
                suppressed[t][c] = true;
            }
        }
    }
    let spread = |suppressed: &mut Vec<Vec<bool>>| {
        for t in 0..shapes.len() {
            for c in 0..shapes[t].len() {
                if suppressed[t][c] {
                    for &(t2, c2) in group_of(t, c) {
                        suppressed[t2][c2] = true;
                    }
                }
            }
        }
    };
    spread(&mut suppressed);

    let index: HashMap<&str, usize> = shapes
        .iter()
        .enumerate()
        .map(|(t, s)| (s.id.as_str(), t))
        .collect();
    let relations: Vec<_> = shapes.iter().map(|s| s.relations()).collect();
    let mut rounds = 0;
    let mut fell_back = false;
    loop {
        rounds += 1;
        let report = audit(&stack.published(aggregate, &suppressed), policy, None, true);
        if report.passed {
            let secondary = suppressed.iter().flatten().filter(|&&s| s).count() - primary;
            return Ok(LevelProtection {
                suppressed,
                primary,
                secondary,
                fully_published,
                audit: report,
                rounds,
            });
        }
        if fell_back {
            return Err(LevelError::Unprotectable(report.failures.join("; ")));
        }
        let mut changed = false;
        if rounds < MAX_ROUNDS {
            for (table, key) in failing_cells(&report, policy) {
                let Some(&t) = index.get(table.as_str()) else {
                    continue;
                };
                let Some(cell) = stack.shapes[t].cell_by_codes(&key) else {
                    continue;
                };
                let n = shapes[t].len();
                let (row, c) = (cell / n, cell % n);
                if row > 0 && !suppressed[t][c] && hidden_below[t][c] > 0 {
                    for &(t2, c2) in group_of(t, c) {
                        suppressed[t2][c2] = true;
                    }
                    changed = true;
                    continue;
                }
                // Hide a neighbour: the smallest published aggregate cell
                // with hidden contributions that shares a relation with this
                // quantity in any table.
                let mut best: Option<(i64, usize, usize)> = None;
                for &(t2, c2) in group_of(t, c) {
                    for r in relations[t2]
                        .iter()
                        .filter(|r| r.total == c2 || r.parts.contains(&c2))
                    {
                        for x in std::iter::once(r.total).chain(r.parts.iter().copied()) {
                            if x != c2 && !suppressed[t2][x] && hidden_below[t2][x] > 0 {
                                let cand = (aggregate[t2].values[x], t2, x);
                                if best.is_none_or(|b| cand < b) {
                                    best = Some(cand);
                                }
                            }
                        }
                    }
                }
                if let Some((_, t2, x)) = best {
                    for &(t3, c3) in group_of(t2, x) {
                        suppressed[t3][c3] = true;
                    }
                    changed = true;
                }
            }
        }
        if !changed {
            // Everything with a hidden contribution: always safe.
            fell_back = true;
            for t in 0..shapes.len() {
                for c in 0..shapes[t].len() {
                    if hidden_below[t][c] > 0 {
                        suppressed[t][c] = true;
                    }
                }
            }
            spread(&mut suppressed);
        }
    }
}

/// The cells an audit found derivable or too narrow: from the intervals,
/// and from the findings' leading `table[code, code, ...]` labels (the rank
/// test's findings, also where a block was too large for intervals).
fn failing_cells(report: &AuditReport, policy: &Policy) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = report
        .intervals
        .iter()
        .filter(|iv| {
            iv.exact
                || iv
                    .upper
                    .is_some_and(|u| u - iv.lower < i64::from(policy.min_interval_width))
        })
        .map(|iv| (iv.table.clone(), iv.key.clone()))
        .collect();
    for f in &report.failures {
        let Some(open) = f.find('[') else { continue };
        let Some(close) = f[open..].find(']') else {
            continue;
        };
        let table = f[..open].to_string();
        let key = f[open + 1..open + close]
            .split(", ")
            .map(str::to_string)
            .collect();
        out.push((table, key));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One table: births by gender (female, male) with a total.
    fn shape() -> Arc<TableShape> {
        Arc::new(TableShape::new(
            "births".into(),
            vec![Arc::new(Dimension::flat("gender", &["female", "male"]))],
            Measure::Count,
            "total".into(),
        ))
    }

    fn table(values: [i64; 3]) -> Table {
        let mut t = Table::zeros(shape());
        t.values = values.to_vec();
        t.contributors = values.to_vec();
        t
    }

    fn project(id: &str, cells: [Option<i64>; 3]) -> PublishedProject {
        PublishedProject {
            project: id.into(),
            cells: vec![cells.to_vec()],
        }
    }

    #[test]
    fn one_project_hiding_a_cell_keeps_the_national_cell_hidden() {
        // Project a hides its 2 births to women (and, to protect it, its 3
        // to men); b and c publish theirs. National births to women = 2 + 6
        // + 7 = 15 would give a's 2 away; so would the national total.
        let projects = vec![
            project("a", [Some(5), None, None]),
            project("b", [Some(11), Some(6), Some(5)]),
            project("c", [Some(12), Some(7), Some(5)]),
        ];
        let aggregate = vec![table([28, 15, 13])];
        let p = protect_aggregate(&[shape()], &projects, &aggregate, &Policy::default()).unwrap();
        assert!(p.audit.passed);
        // female and male must both be hidden; the total (a sum of published
        // project totals) may stay.
        assert_eq!(p.suppressed[0], vec![false, true, true]);
        assert_eq!(p.fully_published, 1);
    }

    #[test]
    fn two_hidden_contributions_are_published_when_underivable() {
        // a and b both hide female/male; their sums stay unknown, so the
        // national cells (sums over two projects' hidden pairs) may show.
        let projects = vec![
            project("a", [Some(6), None, None]),
            project("b", [Some(7), None, None]),
            project("c", [Some(12), Some(7), Some(5)]),
        ];
        let aggregate = vec![table([25, 12, 13])];
        let p = protect_aggregate(&[shape()], &projects, &aggregate, &Policy::default()).unwrap();
        assert!(p.audit.passed, "{:?}", p.audit.failures);
        // Publishing national female gives a.female + b.female = 5 with
        // a.female + a.male = 6 and b.female + b.male = 7: the hidden cells
        // stay intervals, not values.
        assert_eq!(p.suppressed[0], vec![false, false, false]);
    }

    #[test]
    fn small_national_cells_are_primary() {
        let projects = vec![
            project("a", [Some(6), Some(0), Some(6)]),
            project("b", [Some(5), None, None]),
        ];
        // National female is 2 (< 5): suppressed, and male with it.
        let aggregate = vec![table([11, 2, 9])];
        let p = protect_aggregate(&[shape()], &projects, &aggregate, &Policy::default()).unwrap();
        assert!(p.audit.passed);
        assert_eq!(p.primary, 1);
        assert!(p.suppressed[0][1] && p.suppressed[0][2]);
    }

    #[test]
    fn mismatched_shapes_are_refused() {
        let projects = vec![project("a", [Some(1), None, None])];
        let r = protect_aggregate(&[shape()], &projects, &[], &Policy::default());
        assert_eq!(r.err(), Some(LevelError::Shape));
    }
}
