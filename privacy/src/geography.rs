//! Regional and national tables released at aggregate level.
//!
//! For a table released as an aggregate only, a project's exact cells leave
//! the municipality as secret shares, and the directorate (the leader)
//! learns nothing but exact sums over region groups, each of at least
//! `min_projects` projects. The nation is the sum of the groups. This module
//! protects those sums for publication ([`protect_geography`]) and checks
//! what the leader's own knowledge tells it about single projects
//! ([`leader_knowledge_audit`]).
//!
//! Regions are protected as one stacked table per table of the definition,
//! with a `region` dimension in front (`total` is the nation, the children
//! are the group codes). The dimension's variable is `region`, so a quantity
//! that several tables share stays one quantity on every region row, and
//! the engine links it across tables as it does within one report.

use std::collections::HashMap;
use std::sync::Arc;

use crate::audit::{AuditReport, PublishedTable, audit};
use crate::protect::{Policy, ProtectError, protect, protect_keeping};
use crate::table::{Category, Dimension, Measure, Relation, Table, TableShape};

/// Dimension and variable of the geography in stacked tables.
const REGION: &str = "region";
/// Dimension and variable of the projects in the leader's view.
const PROJECT: &str = "project";
/// The root category of an additive dimension; no group may take its code.
const TOTAL: &str = "total";

/// One region group's exact tables, as the helper's sum over its projects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionGroup {
    /// Group code: one region (`oslo`) or merged regions (`agder+rogaland`).
    pub code: String,
    /// Every aggregate-level table of the definition, in definition order.
    pub tables: Vec<Table>,
}

/// Suppressions, counted in cells: a quantity that several tables share
/// counts once per table it appears in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Cells hidden by the primary rule.
    pub primary: usize,
    /// Cells hidden to protect other cells.
    pub secondary: usize,
    /// All hidden cells (`primary + secondary`).
    pub suppressed_cells: usize,
}

impl Counts {
    /// Counts over `(suppressed, primary)` flags, one pair per cell.
    fn of<'a>(cells: impl Iterator<Item = (&'a bool, &'a bool)>) -> Self {
        let mut out = Self::default();
        for (&hidden, &primary) in cells {
            if primary {
                out.primary += 1;
            } else if hidden {
                out.secondary += 1;
            }
        }
        out.suppressed_cells = out.primary + out.secondary;
        out
    }

    fn plus(self, other: Self) -> Self {
        Self {
            primary: self.primary + other.primary,
            secondary: self.secondary + other.secondary,
            suppressed_cells: self.suppressed_cells + other.suppressed_cells,
        }
    }
}

/// The national and regional publication of one collection.
#[derive(Debug, Clone)]
pub struct GeographyProtection {
    /// The exact national tables (the sum of the groups). In memory only:
    /// publish them through `nation_suppressed`.
    pub nation: Vec<Table>,
    /// Per table, per cell: hidden in the national tables.
    pub nation_suppressed: Vec<Vec<bool>>,
    /// Per group (in input order), per table, per cell: hidden in that group's tables.
    pub groups_suppressed: Vec<Vec<Vec<bool>>>,
    /// Every region row is hidden: publishing regions would have cost
    /// national cells, so only the nation is published.
    pub regions_withheld: bool,
    /// Suppressions of the nation protected on its own.
    pub national_alone: Counts,
    /// Suppressions of everything published, nation and group rows; the
    /// nation's alone when there is one group (it is the nation).
    pub joint: Counts,
    /// The audit of the pattern chosen.
    pub audit: AuditReport,
}

/// Why regional and national tables could not be protected. Messages name
/// tables and cells, never values or bounds.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GeographyError {
    /// Groups, projects and shapes do not line up, or a group or project
    /// code is missing, repeated or `total`.
    #[error("the tables do not match the definition's shapes, or a group code is invalid")]
    Shape,
    /// A table's margins do not add up.
    #[error("table {0}: margins do not add up")]
    Margins(String),
    /// A sum over groups or a margin leaves the 64-bit range.
    #[error("a sum leaves the 64-bit range")]
    Overflow,
    /// The suppression engine failed; its findings have their bounds removed.
    #[error("protection failed: {0}")]
    Protect(ProtectError),
}

impl GeographyError {
    /// The engine's error without the bounds its findings quote (a bound of
    /// a hidden cell is as sensitive as its value).
    fn engine(e: ProtectError) -> Self {
        Self::Protect(match e {
            ProtectError::Unsafe(findings) => ProtectError::Unsafe(
                findings
                    .split("; ")
                    .map(|f| match f.find(" is pinned to ") {
                        Some(i) => format!("{} is pinned too narrowly", &f[..i]),
                        None => f.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => other,
        })
    }
}

/// Checks that `tables` have exactly `shapes`, and that every margin is the
/// sum of its parts, summed with checked arithmetic (a lying input must not
/// pass by wrapping around).
fn check_tables(
    shapes: &[Arc<TableShape>],
    relations: &[Vec<Relation>],
    tables: &[Table],
) -> Result<(), GeographyError> {
    if tables.len() != shapes.len() {
        return Err(GeographyError::Shape);
    }
    for ((t, s), rels) in tables.iter().zip(shapes).zip(relations) {
        let same = Arc::ptr_eq(&t.shape, s) || *t.shape == **s;
        if !same || t.values.len() != s.len() || t.contributors.len() != s.len() {
            return Err(GeographyError::Shape);
        }
        check_margins(t, rels)?;
    }
    Ok(())
}

/// Every relation holds, in values and contributors. The parts are summed in
/// the order the engine sums them, so the engine's own check cannot overflow
/// once this one passed.
fn check_margins(table: &Table, relations: &[Relation]) -> Result<(), GeographyError> {
    for r in relations {
        for column in [&table.values, &table.contributors] {
            let mut sum = 0i64;
            for &p in &r.parts {
                sum = sum.checked_add(column[p]).ok_or(GeographyError::Overflow)?;
            }
            if sum != column[r.total] {
                return Err(GeographyError::Margins(table.shape.id.clone()));
            }
        }
    }
    Ok(())
}

/// The cell-by-cell sum of table sets of `shapes`, values and contributors,
/// with checked arithmetic.
fn sum_tables<'a>(
    shapes: &[Arc<TableShape>],
    sets: impl Iterator<Item = &'a [Table]>,
) -> Result<Vec<Table>, GeographyError> {
    let mut out: Vec<Table> = shapes.iter().map(|s| Table::zeros(s.clone())).collect();
    for set in sets {
        for (acc, t) in out.iter_mut().zip(set) {
            for (a, b) in [
                (&mut acc.values, &t.values),
                (&mut acc.contributors, &t.contributors),
            ] {
                for (x, &y) in a.iter_mut().zip(b) {
                    *x = x.checked_add(y).ok_or(GeographyError::Overflow)?;
                }
            }
        }
    }
    Ok(out)
}

/// `shape` with `dim` as a new first dimension: one row of the original
/// table per category of `dim`.
fn stacked_shape(dim: &Arc<Dimension>, shape: &TableShape) -> Arc<TableShape> {
    let mut dims = Vec::with_capacity(shape.dimensions.len() + 1);
    dims.push(dim.clone());
    dims.extend(shape.dimensions.iter().cloned());
    Arc::new(TableShape::new(
        shape.id.clone(),
        dims,
        shape.measure.clone(),
        shape.population.clone(),
    ))
}

/// A stacked table whose rows are `rows`, in the stacked dimension's category order.
fn stack_rows<'a>(shape: Arc<TableShape>, rows: impl Iterator<Item = &'a Table>) -> Table {
    let mut t = Table {
        values: Vec::with_capacity(shape.len()),
        contributors: Vec::with_capacity(shape.len()),
        shape,
    };
    for r in rows {
        t.values.extend_from_slice(&r.values);
        t.contributors.extend_from_slice(&r.contributors);
    }
    t
}

/// Whether `code` can be a category beside `seen` in an additive dimension.
fn fresh_code(code: &str, seen: &mut HashMap<String, usize>) -> bool {
    let n = seen.len();
    !code.is_empty() && code != TOTAL && seen.insert(code.to_string(), n).is_none()
}

/// Protects the national and regional tables of one collection.
///
/// `groups` are the helper's exact sums, one per region group, each with
/// every table of `shapes`. The nation is their sum. The nation is first
/// protected on its own (pattern N). With one group, the group is the
/// nation and N is published for both. Otherwise nation and groups are
/// protected as stacked tables with a `region` dimension, keeping N hidden on
/// the nation rows; if that hides no national cell beyond N, it is
/// published, and the nation comes out exactly as it would alone.
///
/// If regional detail would cost national cells, the nation is published
/// with N and every region row is withheld (`regions_withheld`). That is
/// safe: only national figures are published then, the region rows add
/// nothing an attacker can use, and N passed the audit on its own
/// (`audit` is N's audit).
pub fn protect_geography(
    shapes: &[Arc<TableShape>],
    groups: &[RegionGroup],
    policy: &Policy,
) -> Result<GeographyProtection, GeographyError> {
    let mut seen = HashMap::new();
    if groups.is_empty() || !groups.iter().all(|g| fresh_code(&g.code, &mut seen)) {
        return Err(GeographyError::Shape);
    }
    let relations: Vec<Vec<Relation>> = shapes.iter().map(|s| s.relations()).collect();
    for g in groups {
        check_tables(shapes, &relations, &g.tables)?;
    }
    let nation = sum_tables(shapes, groups.iter().map(|g| g.tables.as_slice()))?;
    check_tables(shapes, &relations, &nation)?;
    let alone = protect(&nation, policy).map_err(GeographyError::engine)?;
    let national_alone = Counts::of(
        alone
            .suppressed
            .iter()
            .flatten()
            .zip(alone.primary.iter().flatten()),
    );
    if groups.len() == 1 {
        return Ok(GeographyProtection {
            nation,
            nation_suppressed: alone.suppressed.clone(),
            groups_suppressed: vec![alone.suppressed],
            regions_withheld: false,
            national_alone,
            joint: national_alone,
            audit: alone.audit,
        });
    }
    let codes: Vec<&str> = groups.iter().map(|g| g.code.as_str()).collect();
    let region = Arc::new(Dimension::flat(REGION, &codes));
    let rows = groups.len() + 1;
    let stacked: Vec<Table> = shapes
        .iter()
        .enumerate()
        .map(|(t, s)| {
            let tables = std::iter::once(&nation[t]).chain(groups.iter().map(|g| &g.tables[t]));
            stack_rows(stacked_shape(&region, s), tables)
        })
        .collect();
    // The nation row first, in the nation's own cell order.
    let keep: Vec<Vec<bool>> = alone
        .suppressed
        .iter()
        .map(|n| {
            let mut k = n.clone();
            k.resize(n.len() * rows, false);
            k
        })
        .collect();
    let joint = protect_keeping(&stacked, policy, &keep).map_err(GeographyError::engine)?;
    let costs_national = joint
        .suppressed
        .iter()
        .zip(&alone.suppressed)
        .any(|(j, n)| j[..n.len()] != n[..]);
    // Group rows of a stacked per-table vector, per group, per table.
    let split = |flags: &[Vec<bool>]| -> Vec<Vec<Vec<bool>>> {
        (1..rows)
            .map(|g| {
                flags
                    .iter()
                    .zip(shapes)
                    .map(|(f, s)| f[g * s.len()..(g + 1) * s.len()].to_vec())
                    .collect()
            })
            .collect()
    };
    let group_primary = split(&joint.primary);
    if costs_national {
        let groups_suppressed: Vec<Vec<Vec<bool>>> = group_primary
            .iter()
            .map(|g| g.iter().map(|t| vec![true; t.len()]).collect())
            .collect();
        let regions = Counts::of(
            groups_suppressed
                .iter()
                .flatten()
                .flatten()
                .zip(group_primary.iter().flatten().flatten()),
        );
        return Ok(GeographyProtection {
            nation,
            nation_suppressed: alone.suppressed,
            groups_suppressed,
            regions_withheld: true,
            national_alone,
            joint: national_alone.plus(regions),
            audit: alone.audit,
        });
    }
    let joint_counts = Counts::of(
        joint
            .suppressed
            .iter()
            .flatten()
            .zip(joint.primary.iter().flatten()),
    );
    Ok(GeographyProtection {
        nation,
        nation_suppressed: alone.suppressed,
        groups_suppressed: split(&joint.suppressed),
        regions_withheld: false,
        national_alone,
        joint: joint_counts,
        audit: joint.audit,
    })
}

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
    /// Hidden project cells examined.
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
/// total and group rows published, project rows hidden, intervals computed
/// exactly with 0 as the lower bound of every hidden cell.
///
/// Why it must come out empty: a person can be moved from one project of a
/// group to another without changing any group sum, so with at least two
/// projects per group every hidden cell with somebody in it can take at
/// least two values. Only a cell whose group has nobody there is pinned (to
/// 0), and that is reported apart in `zero_pinned`. Cells and quantities:
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
        // One block may hold every hidden cell: all get exact intervals.
        interval_block_limit: policy
            .interval_block_limit
            .max(u32::try_from(hidden_cells).unwrap_or(u32::MAX)),
        ..policy.clone()
    };
    let report = audit(&published, &attacker, None, true);
    // Every hidden cell of each quantity: the audit names one cell per quantity.
    let mut cells_of: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    for (t, p) in published.iter().enumerate() {
        for (c, v) in p.cells.iter().enumerate() {
            if v.is_none() {
                cells_of
                    .entry(p.shape.quantity(c))
                    .or_default()
                    .push((t, c));
            }
        }
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
        let narrow = iv.exact || iv.upper.is_some_and(|u| u - iv.lower < width);
        let Some(&t) = index.get(iv.table.as_str()) else {
            continue;
        };
        let Some(cell) = published[t].shape.cell_by_codes(&iv.key) else {
            continue;
        };
        if !narrow {
            continue;
        }
        let cells = cells_of
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

fn category(code: &str, parent: Option<usize>) -> Category {
    Category {
        code: code.into(),
        parent,
        children: Vec::new(),
    }
}
